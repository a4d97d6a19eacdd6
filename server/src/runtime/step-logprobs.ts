/**
 * Exact next-token log-probabilities of a chosen token set, at about the cost of a few native
 * samplings instead of a full-vocabulary distribution (which costs +20 ms per step at a 32k
 * vocabulary: a sort, a 2×vocabulary JS array and a Map; see ../shared notes
 * "exact-without-the-sort").
 *
 * Every node-llama-cpp sampler output is renormalised over the survivors of its chain. The addon
 * computes those probabilities as expf(logit − max) summed in float32 in descending order. A
 * token below 2^-25 of the most probable one adds less than half an ulp to a float32 sum that
 * starts at 1, so it cannot change it: the survivors of min-p 2^-25 (the "head") get probabilities
 * bit-identical to the full distribution's. The head pass sorts only the head (8–15 % of a 32k
 * vocabulary on the bench pair) and is every exact measurement's first pass.
 *
 * Tokens outside the head are reached through ratios, which renormalising keeps: for a
 * distribution q over a survivor set T, log p(v) − log p(w) = log q(v) − log q(w) for v, w in T.
 * So one token with a known true probability — the anchor, the argmax from the head — fixes every
 * other token of T: log p(v) = log p(anchor) + log q(v) − log q(anchor).
 *
 * A request for a model's own view needs its top (k + 1) tokens and {v : p(v) ≥ minP · max p}
 * (AAD's candidate set for minP = alpha): both are in the head unless k + 1 exceeds it or minP is
 * below 2^-25, when a "top" or "min-p" pass adds them. A request to score given tokens outside the
 * head adds "within": temperature 1 over exactly those tokens plus the anchor, the rest masked.
 *
 * **Picks only.** A rule's pick never needs a normaliser: the argmax over V of
 * log p_dpo − log p_sft (and greedy, EFT, a softmax sample) does not move when a model's
 * log-probabilities shift by a constant. A `picksOnly` request returns log q over one chain's
 * survivors — min-p for a view, "within" for scored tokens — with no head pass: about the cost
 * of one greedy sampling. Those numbers are exact up to a per-position constant (`exact: false`)
 * and must not be reported as log-probabilities.
 *
 * Anything unexpected (the anchor missing from a chain's survivors, probabilities that sum past
 * 1) falls back to the full distribution, which is exact by construction.
 */
import type { TokenLogprobs } from "../decoding/index.ts";
import type { NativeChain, NativeSample, SampleAt } from "./native-sampling.ts";

export interface ViewRequest {
  /**
   * Keep every token with p ≥ minP · max p (a prefix of the model's ranking). 1 keeps the argmax
   * (and its ties); 0 or less asks for the whole vocabulary.
   */
  readonly minP: number;
  /** Keep at least the `topK` most probable tokens (the trace's top candidates). */
  readonly topK: number;
}

export interface StepRequest {
  /** The model's own ranking: a prefix of it covering `view.minP` and `view.topK`. */
  readonly view?: ViewRequest;
  /**
   * Tokens whose log-probabilities are needed as well. With a view, the view is extended down to
   * the least probable of them, so that it stays a prefix of the ranking (ranks stay exact).
   */
  readonly score?: readonly number[];
  /**
   * Only what a pick needs: log-probabilities up to a per-position constant (see the module
   * comment), from one native pass. A view then holds exactly the min-p set (`topK` is ignored).
   */
  readonly picksOnly?: boolean;
}

export interface StepLogprobs extends TokenLogprobs {
  readonly tokens: ArrayLike<number>;
  readonly logprobs: ArrayLike<number>;
  /** The tokens are the most probable ones (a prefix of the ranking, ties aside). */
  readonly prefix: boolean;
  /** Native samplings this step took. */
  readonly nativeCalls: number;
  /** The step fell back to the full distribution (requested, or a check failed). */
  readonly full: boolean;
  /** False for a picks-only measurement: the log-probabilities are shifted by an unknown constant. */
  readonly exact: boolean;
}

export interface StepLogprobsOptions {
  readonly vocabSize: number;
}

/** The head pass's min-p: every token that can change the addon's float32 normaliser survives it. */
export const HEAD_MIN_P = 2 ** -25;
/** A min-p threshold is loosened by this factor so float32 rounding can never drop a candidate. */
const THRESHOLD_SLACK = Math.exp(-1e-4);
/** Above this share of the vocabulary, "within" costs as much as the full distribution. */
const WITHIN_LIMIT_SHARE = 0.25;

/**
 * Log-probabilities at one position, measured in as many rounds as a caller needs while the
 * position's logits are valid (a second round — the other model's top tokens, say — reuses the
 * anchor and everything found so far). Each `measure` resolves to every token known so far.
 */
export class PositionLogprobs {
  readonly #sampleAt: SampleAt;
  readonly #options: StepLogprobsOptions;
  #anchoring: Promise<KnownLogprobs | undefined> | undefined;
  #full: StepLogprobs | undefined;
  #prefix = false;
  #calls = 0;

  constructor(sampleAt: SampleAt, options: StepLogprobsOptions) {
    this.#sampleAt = sampleAt;
    this.#options = options;
  }

  /** Native samplings so far. */
  get nativeCalls(): number {
    return this.#calls;
  }

  /** The position fell back to (or asked for) the full distribution. */
  get full(): boolean {
    return this.#full !== undefined;
  }

  async measure(request: StepRequest): Promise<StepLogprobs> {
    if (this.#full !== undefined) return this.#full;
    if (request.picksOnly === true) return this.#measurePicks(request);
    const { view } = request;
    const score = request.score ?? [];
    if ((view !== undefined && !(view.minP > 0)) || score.length > WITHIN_LIMIT_SHARE * this.#options.vocabSize) return this.#fullDistribution();
    const known = await this.#anchor();
    if (known === undefined) return this.#fullDistribution();

    if (view !== undefined) {
      const fetched = Math.max(1, Math.floor(view.topK)) + 1;
      // The head is a prefix of the ranking down to HEAD_MIN_P: it holds the view unless the view
      // reaches further (more top tokens than the head has, or a smaller minP).
      if (known.headSize < fetched) {
        const top = await this.#sample({ kind: "top", topK: fetched, minP: 0 });
        if (!known.addAnchored(top)) return this.#fullDistribution();
      }
      if (view.minP < HEAD_MIN_P) {
        if (!known.addAnchored(await this.#sample({ kind: "top", topK: 0, minP: view.minP * THRESHOLD_SLACK }))) return this.#fullDistribution();
      }
      this.#prefix = true;
    }

    const missing = known.unknown(score);
    if (missing.length > 0) {
      if (!known.addAnchored(await this.#sample({ kind: "within", tokens: [...missing, known.anchor] }))) return this.#fullDistribution();
      if (view === undefined) {
        this.#prefix = false;
      } else {
        // Extend the view down to the least probable scored token, so it stays a ranking prefix.
        const lowest = Math.min(...missing.map((token) => known.extra(token)!));
        const minP = Math.exp(lowest - known.anchorLogprob) * THRESHOLD_SLACK;
        if (minP > 0) {
          if (!known.addAnchored(await this.#sample({ kind: "top", topK: 0, minP }))) return this.#fullDistribution();
        } else {
          this.#prefix = false; // a token of probability 0 has no meaningful rank
        }
      }
    }

    if (!known.plausible()) return this.#fullDistribution();
    return { ...known.toArrays(), prefix: this.#prefix, nativeCalls: this.#calls, full: false, exact: true };
  }

  /**
   * Starts the head pass (every exact measurement's first) before the request is known, so that
   * it runs while the caller waits for that request — the SFT model's head then overlaps the DPO
   * model's sampling instead of following it. Never rejects; `measure` reports any failure.
   */
  prime(): void {
    if (this.#full === undefined) this.#anchor().catch(() => undefined);
  }

  /** Resolves when no native sampling started here is still running (never rejects). */
  async idle(): Promise<void> {
    await this.#anchoring?.catch(() => undefined);
  }

  /** One pass, no normaliser: the min-p set for a view, exactly the given tokens for a score. */
  async #measurePicks(request: StepRequest): Promise<StepLogprobs> {
    const { view } = request;
    if (view !== undefined && request.score !== undefined) throw new RangeError("a picks-only request measures a view or scores tokens, not both");
    if (view === undefined && request.score === undefined) throw new RangeError("a picks-only request needs a view or tokens to score");
    if (view !== undefined && !(view.minP > 0)) return this.#fullDistribution();
    const tokens = view === undefined ? [...new Set(request.score)] : [];
    if (tokens.length > WITHIN_LIMIT_SHARE * this.#options.vocabSize) return this.#fullDistribution();
    const sample = await this.#sample(view === undefined ? { kind: "within", tokens } : { kind: "top", topK: 0, minP: Math.min(1, view.minP) * THRESHOLD_SLACK });
    const survivors = sample.survivors;
    if (survivors === undefined || survivors.tokens.length === 0) return this.#fullDistribution();
    const logprobs = new Float64Array(survivors.tokens.length);
    for (let i = 0; i < logprobs.length; i++) logprobs[i] = Math.log(survivors.probs[i]!);
    return { tokens: survivors.tokens, logprobs, prefix: view !== undefined, nativeCalls: this.#calls, full: false, exact: false };
  }

  async #sample(chain: NativeChain): Promise<NativeSample> {
    this.#calls++;
    return this.#sampleAt(chain);
  }

  #anchor(): Promise<KnownLogprobs | undefined> {
    this.#anchoring ??= this.#findHead();
    return this.#anchoring;
  }

  async #findHead(): Promise<KnownLogprobs | undefined> {
    const head = await this.#sample({ kind: "top", topK: 0, minP: HEAD_MIN_P });
    const survivors = head.survivors;
    if (survivors === undefined || survivors.tokens.length === 0 || !(survivors.probs[0]! > 0)) return undefined;
    return KnownLogprobs.fromHead(survivors);
  }

  async #fullDistribution(): Promise<StepLogprobs> {
    const result = await fullDistribution(this.#sampleAt, this.#calls);
    this.#calls = result.nativeCalls;
    this.#full = result;
    return result;
  }
}

/** One position's log-probabilities for one request (a PositionLogprobs measured once). */
export async function stepLogprobs(sampleAt: SampleAt, request: StepRequest, options: StepLogprobsOptions): Promise<StepLogprobs> {
  return new PositionLogprobs(sampleAt, options).measure(request);
}

/** The whole vocabulary's log-probabilities (the exact, slow reference path), indexed by token id. */
export async function fullDistribution(sampleAt: SampleAt, callsSoFar = 0): Promise<StepLogprobs> {
  const { survivors } = await sampleAt({ kind: "full" });
  const size = survivors?.tokens.length ?? 0;
  const tokens = new Uint32Array(size);
  const logprobs = new Float64Array(size).fill(-Infinity);
  for (let t = 0; t < size; t++) tokens[t] = t;
  for (let i = 0; i < size; i++) logprobs[survivors!.tokens[i]!] = Math.log(survivors!.probs[i]!);
  return { tokens, logprobs, prefix: true, nativeCalls: callsSoFar + 1, full: true, exact: true };
}

/**
 * Log-probabilities found so far: the head's as they are (typed arrays, most probable first), the
 * tokens found later anchored to the argmax. The head can hold thousands of tokens, so it is never
 * copied into a Map: look-ups scan it once per request.
 */
class KnownLogprobs {
  /** Tokens outside the head (anchored); may repeat a head token, whose head value then wins. */
  readonly #extra = new Map<number, number>();
  #merged: { tokens: Int32Array; logprobs: Float64Array } | undefined;

  private constructor(
    readonly anchor: number,
    readonly anchorLogprob: number,
    readonly headTokens: Int32Array,
    readonly headLogprobs: Float64Array,
    /** Σ p over the head (the addon's float32 probabilities). */
    readonly headProbSum: number,
  ) {}

  /** How many of the most probable tokens the head holds. */
  get headSize(): number {
    return this.headTokens.length;
  }

  /** The head pass's survivors, most probable first, with the full distribution's probabilities. */
  static fromHead(head: { readonly tokens: Int32Array; readonly probs: Float64Array }): KnownLogprobs {
    const n = head.tokens.length;
    const logprobs = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const p = head.probs[i]!;
      logprobs[i] = Math.log(p);
      sum += p;
    }
    return new KnownLogprobs(head.tokens[0]!, logprobs[0]!, head.tokens, logprobs, sum);
  }

  /** The distinct tokens of `tokens` whose log-probabilities are not known yet. */
  unknown(tokens: readonly number[]): number[] {
    const wanted = new Set(tokens);
    for (const token of this.#extra.keys()) wanted.delete(token);
    for (let i = 0; i < this.headTokens.length && wanted.size > 0; i++) wanted.delete(this.headTokens[i]!);
    return [...wanted];
  }

  /** A token found after the head (anchored). */
  extra(token: number): number | undefined {
    return this.#extra.get(token);
  }

  /** Adds a chain's survivors, anchored; false when the anchor is not among them. */
  addAnchored(sample: NativeSample): boolean {
    const survivors = sample.survivors;
    if (survivors === undefined) return false;
    let anchorProb = -1;
    for (let i = 0; i < survivors.tokens.length; i++) if (survivors.tokens[i] === this.anchor) anchorProb = survivors.probs[i]!;
    if (!(anchorProb > 0)) return false;
    const offset = this.anchorLogprob - Math.log(anchorProb);
    for (let i = 0; i < survivors.tokens.length; i++) {
      const token = survivors.tokens[i]!;
      if (token !== this.anchor) this.#extra.set(token, Math.log(survivors.probs[i]!) + offset);
    }
    this.#merged = undefined;
    return true;
  }

  /** Probabilities of distinct tokens cannot sum past 1 (beyond float32 rounding). */
  plausible(): boolean {
    const { tokens, logprobs } = this.toArrays();
    let total = this.headProbSum;
    for (let i = this.headTokens.length; i < tokens.length; i++) total += Math.exp(logprobs[i]!);
    return total <= 1 + 1e-3 && this.anchorLogprob <= 1e-6;
  }

  /** Every known token once: the head first, then the tokens found after it. */
  toArrays(): { tokens: Int32Array; logprobs: Float64Array } {
    if (this.#merged !== undefined) return this.#merged;
    if (this.#extra.size === 0) return (this.#merged = { tokens: this.headTokens, logprobs: this.headLogprobs });
    const outside = new Map(this.#extra);
    for (let i = 0; i < this.headTokens.length && outside.size > 0; i++) outside.delete(this.headTokens[i]!);
    const n = this.headTokens.length + outside.size;
    const tokens = new Int32Array(n);
    const logprobs = new Float64Array(n);
    tokens.set(this.headTokens);
    logprobs.set(this.headLogprobs);
    let at = this.headTokens.length;
    for (const [token, logprob] of outside) {
      tokens[at] = token;
      logprobs[at++] = logprob;
    }
    return (this.#merged = { tokens, logprobs });
  }
}
