/**
 * Temperature / top-k / top-p sampling over a view's log-weights, in the order HF transformers
 * applies them (temperature, then top-k, then top-p). Over a sparse view this samples from the
 * softmax renormalised over the view's tokens: exact only when the view holds every token the
 * filters would keep.
 */
import { DecodingOptionError } from "./errors.ts";
import { ranksAbove, rankValue, topTokens, type TokenLogprobs } from "./logprobs.ts";
import type { Rng } from "./rng.ts";

export interface SamplingOptions {
  /** Divides the log-weights; 0 means greedy (the argmax, ties to the lower id). Default 1. */
  readonly temperature?: number;
  /** Keep the smallest most-probable prefix whose mass reaches topP; 1 turns it off. Default 1. */
  readonly topP?: number;
  /** Keep only the k most probable tokens; 0 turns it off. Default 0. */
  readonly topK?: number;
}

export const DEFAULT_SAMPLING: Required<SamplingOptions> = { temperature: 1, topP: 1, topK: 0 };

/** Fills in defaults and rejects meaningless values, so a rule fails when built, not mid-response. */
export function samplingOptions(options: SamplingOptions = {}): Required<SamplingOptions> {
  const resolved = { ...DEFAULT_SAMPLING, ...options };
  const { temperature, topP, topK } = resolved;
  if (!(temperature >= 0 && Number.isFinite(temperature))) throw new DecodingOptionError(`temperature must be finite and ≥ 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new DecodingOptionError(`topP must lie in (0, 1], got ${topP}`);
  if (!(Number.isInteger(topK) && topK >= 0)) throw new DecodingOptionError(`topK must be an integer ≥ 0, got ${topK}`);
  return resolved;
}

/** What a sampler draws from: the surviving tokens, most probable first, and their renormalised probabilities. */
export interface SamplingDistribution {
  readonly tokens: readonly number[];
  readonly probs: readonly number[];
}

/**
 * The distribution `sampleFrom` draws from, after temperature, top-k and top-p. `logprobs` are
 * treated as unnormalised log-weights (an EFT score works as well as a log-probability). Tokens of
 * zero weight never make the support. Degenerate weights stay well-defined: +Infinity tokens share
 * the mass uniformly, and a view where every weight is −Infinity (or NaN) falls back to the argmax.
 */
export function samplingDistribution(logprobs: TokenLogprobs, options: SamplingOptions = {}): SamplingDistribution {
  const { temperature, topP, topK } = samplingOptions(options);
  if (logprobs.tokens.length === 0) throw new RangeError("sampling from a view with no tokens");
  const ranked = topK > 0 ? topTokens(logprobs, topK) : sortedView(logprobs);
  const max = rankValue(ranked.logprobs[0]!);
  if (temperature === 0 || max === -Infinity) return { tokens: [ranked.tokens[0]!], probs: [1] };

  const tokens: number[] = [];
  const weights: number[] = [];
  for (let i = 0; i < ranked.tokens.length; i++) {
    const logprob = rankValue(ranked.logprobs[i]!);
    const weight = max === Infinity ? (logprob === Infinity ? 1 : 0) : Math.exp((logprob - max) / temperature);
    if (weight > 0) {
      tokens.push(ranked.tokens[i]!);
      weights.push(weight);
    }
  }
  const total = weights.reduce((a, b) => a + b, 0);
  let probs = weights.map((w) => w / total);
  if (topP < 1) {
    let mass = 0;
    let keep = 0;
    while (keep < probs.length && mass < topP) mass += probs[keep++]!;
    tokens.length = keep;
    probs = probs.slice(0, keep).map((p) => p / mass);
  }
  return { tokens, probs };
}

/**
 * One token drawn from `samplingDistribution(logprobs, options)`. Draws exactly one number from
 * `rng`, even at temperature 0, so changing the temperature never shifts later draws.
 */
export function sampleFrom(logprobs: TokenLogprobs, options: SamplingOptions, rng: Rng): number {
  const { tokens, probs } = samplingDistribution(logprobs, options);
  let u = rng.next();
  for (let i = 0; i < tokens.length; i++) {
    u -= probs[i]!;
    if (u < 0) return tokens[i]!;
  }
  return tokens[tokens.length - 1]!; // rounding left u a hair above the total
}

function sortedView(view: TokenLogprobs): TokenLogprobs {
  const order = Array.from({ length: view.tokens.length }, (_, i) => i);
  order.sort((a, b) => (ranksAbove(view.logprobs[a]!, view.tokens[a]!, view.logprobs[b]!, view.tokens[b]!) ? -1 : 1));
  return { tokens: order.map((i) => view.tokens[i]!), logprobs: order.map((i) => view.logprobs[i]!) };
}
