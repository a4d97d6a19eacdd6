/**
 * Next-token log-probabilities as every decoding rule sees them. One representation covers the
 * dense case (the whole vocabulary, as tests and toy models have it) and the sparse case (the
 * runtime's view of a 32k–150k vocabulary: a candidate set plus a few top tokens, with true,
 * unrenormalised log-probabilities). A rule never renormalises a sparse view unless it says so.
 */
import { DecodingOptionError, MissingLogprobsError } from "./errors.ts";

/**
 * True, unrenormalised next-token log-probabilities of one model over a set of tokens: the whole
 * vocabulary or a subset known to hold every token a rule may pick. `logprobs[i]` belongs to
 * `tokens[i]`; token ids are distinct; order carries no meaning.
 */
export interface TokenLogprobs {
  readonly tokens: ArrayLike<number>;
  readonly logprobs: ArrayLike<number>;
}

/**
 * The lowest log-probability a trace or an implicit reward reports: −Infinity (and NaN) become
 * this. `Math.exp(LOGPROB_FLOOR) === 0` in double precision, so nothing a probability could say
 * is lost, and every number handed to JSON stays finite.
 */
export const LOGPROB_FLOOR = -1000;

/** A log-probability fit for JSON: clamped to [LOGPROB_FLOOR, 0]; NaN and −Infinity become LOGPROB_FLOOR. */
export function finiteLogprob(logprob: number): number {
  return logprob > LOGPROB_FLOOR ? Math.min(logprob, 0) : LOGPROB_FLOOR;
}

/** A dense view: `logprobs[v]` is the log-probability of token v, over the whole vocabulary. */
export function dense(logprobs: ArrayLike<number>): TokenLogprobs {
  const tokens = new Uint32Array(logprobs.length);
  for (let v = 0; v < tokens.length; v++) tokens[v] = v;
  return { tokens, logprobs };
}

/** A sparse view over the given tokens, checked: equal lengths, distinct non-negative integer ids. */
export function sparse(tokens: ArrayLike<number>, logprobs: ArrayLike<number>): TokenLogprobs {
  if (tokens.length !== logprobs.length) {
    throw new DecodingOptionError(`sparse view has ${tokens.length} tokens but ${logprobs.length} log-probabilities`);
  }
  const seen = new Set<number>();
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (!Number.isInteger(token) || token < 0) throw new DecodingOptionError(`token id ${token} is not a non-negative integer`);
    if (seen.has(token)) throw new DecodingOptionError(`token ${token} appears twice in a sparse view`);
    seen.add(token);
  }
  return { tokens, logprobs };
}

/**
 * Log-probabilities from logits, computed as `x − max − log Σ exp(x − max)`, so that adding an
 * integer constant to integer logits gives bit-identical output. −Infinity logits (masked tokens)
 * give −Infinity; at least one logit must be finite, none may be NaN or +Infinity.
 */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const logit = logits[i]!;
    if (Number.isNaN(logit) || logit === Infinity) throw new DecodingOptionError(`logit ${logit} at token ${i}`);
    if (logit > max) max = logit;
  }
  if (max === -Infinity) throw new DecodingOptionError("logSoftmax needs at least one finite logit");
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const logSum = Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - max - logSum;
  return out;
}

/** NaN sorts as −Infinity everywhere a rule ranks tokens, so garbage never wins. */
export function rankValue(value: number): number {
  return Number.isNaN(value) ? -Infinity : value;
}

/** The order every rule uses: higher value first, then lower token id. */
export function ranksAbove(value: number, token: number, otherValue: number, otherToken: number): boolean {
  const a = rankValue(value);
  const b = rankValue(otherValue);
  return a > b || (a === b && token < otherToken);
}

/** The log-probability of one token, or undefined when the view does not hold it. */
export function logprobOf(view: TokenLogprobs, token: number): number | undefined {
  // A dense view holds token v at index v; checking that first makes dense look-ups O(1) and is
  // still correct for any sparse view that happens to agree.
  if (view.tokens[token] === token) return view.logprobs[token];
  for (let i = 0; i < view.tokens.length; i++) if (view.tokens[i] === token) return view.logprobs[i];
  return undefined;
}

/**
 * The view's log-probabilities at the given tokens, in their order.
 * @throws MissingLogprobsError naming `model` and every token the view lacks.
 */
export function logprobsAt(view: TokenLogprobs, tokens: ArrayLike<number>, model: string): Float64Array {
  const out = new Float64Array(tokens.length);
  // Where each wanted token goes (a token may be asked for twice); dense hits need no search.
  let wanted: Map<number, number[]> | undefined;
  for (let j = 0; j < tokens.length; j++) {
    const token = tokens[j]!;
    if (view.tokens[token] === token) {
      out[j] = view.logprobs[token]!;
      continue;
    }
    wanted ??= new Map();
    const slots = wanted.get(token);
    if (slots === undefined) wanted.set(token, [j]);
    else slots.push(j);
  }
  if (wanted === undefined) return out;
  // One pass over the view, however large it is, with a look-up only in the few wanted tokens.
  for (let i = 0; i < view.tokens.length && wanted.size > 0; i++) {
    const slots = wanted.get(view.tokens[i]!);
    if (slots === undefined) continue;
    for (const j of slots) out[j] = view.logprobs[i]!;
    wanted.delete(view.tokens[i]!);
  }
  if (wanted.size > 0) throw new MissingLogprobsError(model, [...wanted.keys()]);
  return out;
}

/** The highest log-probability in a non-empty view (NaN ignored). */
export function maxLogprob(view: TokenLogprobs): number {
  if (view.tokens.length === 0) throw new DecodingOptionError("a view must hold at least one token");
  let max = -Infinity;
  for (let i = 0; i < view.logprobs.length; i++) max = Math.max(max, rankValue(view.logprobs[i]!));
  return max;
}

/** The k most probable tokens of a view, most probable first (ties: lower id first). */
export function topTokens(view: TokenLogprobs, k: number): TokenLogprobs {
  const keep = Math.min(Math.max(0, Math.floor(k)), view.tokens.length);
  const tokens: number[] = [];
  const logprobs: number[] = [];
  for (let i = 0; i < view.tokens.length; i++) {
    const token = view.tokens[i]!;
    const logprob = view.logprobs[i]!;
    let at = tokens.length;
    while (at > 0 && ranksAbove(logprob, token, logprobs[at - 1]!, tokens[at - 1]!)) at--;
    if (at >= keep) continue;
    tokens.splice(at, 0, token);
    logprobs.splice(at, 0, logprob);
    if (tokens.length > keep) {
      tokens.pop();
      logprobs.pop();
    }
  }
  return { tokens, logprobs };
}

/**
 * A token's 1-based rank in the view by log-probability (1 = the argmax; ties: lower id ranks
 * higher), or undefined when the view does not hold it. Exact for a sparse view that, like the
 * runtime's, is a prefix of the model's ranking.
 */
export function rankOf(view: TokenLogprobs, token: number): number | undefined {
  const logprob = logprobOf(view, token);
  if (logprob === undefined) return undefined;
  let rank = 1;
  for (let i = 0; i < view.tokens.length; i++) {
    if (ranksAbove(view.logprobs[i]!, view.tokens[i]!, logprob, token)) rank++;
  }
  return rank;
}
