/**
 * Exact, unrenormalised next-token log-probabilities of a chosen token set, at about the cost of a
 * few native samplings instead of a full-vocabulary distribution (which costs +20 ms per step at a
 * 32k vocabulary: a sort, a 2×vocabulary JS array and a Map).
 *
 * Every node-llama-cpp sampler output is renormalised over the survivors of its chain, but
 * renormalising keeps ratios: for a distribution q over a survivor set T,
 *   log p(v) − log p(w) = log q(v) − log q(w)   for v, w in T.
 * So one token with a known TRUE probability — the anchor — fixes every other token of T:
 *   log p(v) = log p(anchor) + log q(v) − log q(anchor).
 * The anchor is the argmax: the greedy chain truncates nothing, and with `confidence` the addon
 * returns the argmax's softmax probability over the whole vocabulary. Every chain below keeps the
 * argmax among its survivors (or is made to), so each one's ratios can be anchored.
 *
 * A request for a model's own view adds "top": its top (k + 1) tokens, and, only when the last of
 * those is still a candidate, "min-p": llama.cpp's min-p sampler keeps exactly
 * {v : p(v) ≥ minP · max p} — AAD's candidate set for minP = alpha. A request to score given
 * tokens (the reference model at the other model's candidates) adds "within": temperature 1 over
 * exactly those tokens plus the anchor, every other token masked.
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
}

export interface StepLogprobsOptions {
  readonly vocabSize: number;
  /**
   * Let llama.cpp's XTC sampler sort the array before the anchor's confidence is computed: the
   * same order and the same sums as the addon's own sort, but faster at large vocabularies.
   */
  readonly presortAnchor: boolean;
}

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
    const { view } = request;
    const score = request.score ?? [];
    if ((view !== undefined && !(view.minP > 0)) || score.length > WITHIN_LIMIT_SHARE * this.#options.vocabSize) return this.#fullDistribution();
    const known = await this.#anchor();
    if (known === undefined) return this.#fullDistribution();

    if (view !== undefined) {
      const fetched = Math.max(1, Math.floor(view.topK)) + 1;
      const top = await this.#sample({ kind: "top", topK: fetched, minP: 0 });
      if (!known.addAnchored(top)) return this.#fullDistribution();
      const tokens = top.survivors!.tokens;
      // The candidate set reaches past the fetched tokens only if the last of them is a candidate.
      if (tokens.length === fetched && known.get(tokens[fetched - 1]!)! >= known.anchorLogprob + Math.log(view.minP * THRESHOLD_SLACK)) {
        if (!known.addAnchored(await this.#sample({ kind: "top", topK: 0, minP: view.minP * THRESHOLD_SLACK }))) return this.#fullDistribution();
      }
      this.#prefix = true;
    }

    const missing = [...new Set(score)].filter((token) => !known.has(token));
    if (missing.length > 0) {
      if (!known.addAnchored(await this.#sample({ kind: "within", tokens: [...missing, known.anchor] }))) return this.#fullDistribution();
      if (view === undefined) {
        this.#prefix = false;
      } else {
        // Extend the view down to the least probable scored token, so it stays a ranking prefix.
        const lowest = Math.min(...missing.map((token) => known.get(token)!));
        const minP = Math.exp(lowest - known.anchorLogprob) * THRESHOLD_SLACK;
        if (minP > 0) {
          if (!known.addAnchored(await this.#sample({ kind: "top", topK: 0, minP }))) return this.#fullDistribution();
        } else {
          this.#prefix = false; // a token of probability 0 has no meaningful rank
        }
      }
    }

    if (!known.plausible()) return this.#fullDistribution();
    return { ...known.toArrays(), prefix: this.#prefix, nativeCalls: this.#calls, full: false };
  }

  /**
   * Starts the anchor (the one full-vocabulary pass every measurement needs) before the request is
   * known, so that it runs while the caller waits for that request — the SFT model's anchor then
   * overlaps the DPO model's sampling instead of following it. Never rejects; `measure` reports
   * any failure.
   */
  prime(): void {
    if (this.#full === undefined) this.#anchor().catch(() => undefined);
  }

  /** Resolves when no native sampling started here is still running (never rejects). */
  async idle(): Promise<void> {
    await this.#anchoring?.catch(() => undefined);
  }

  async #sample(chain: NativeChain): Promise<NativeSample> {
    this.#calls++;
    return this.#sampleAt(chain);
  }

  #anchor(): Promise<KnownLogprobs | undefined> {
    this.#anchoring ??= this.#findAnchor();
    return this.#anchoring;
  }

  async #findAnchor(): Promise<KnownLogprobs | undefined> {
    const presort = this.#options.presortAnchor;
    let anchor = await this.#sample({ kind: "argmax", presort });
    // XTC (the presort) would remove the top token only if two tokens both had p ≥ 0.5, i.e. tied
    // at exactly 0.5 with nothing else left; the argmax it then reports has confidence ≈ 1. So a
    // near-certain presorted anchor is confirmed with the plain chain.
    if (presort && (anchor.confidence ?? 0) >= 1 - 1e-6) anchor = await this.#sample({ kind: "argmax", presort: false });
    if (anchor.token === null || anchor.confidence === undefined || !(anchor.confidence > 0)) return undefined;
    return new KnownLogprobs(anchor.token, Math.log(anchor.confidence));
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
  return { tokens, logprobs, prefix: true, nativeCalls: callsSoFar + 1, full: true };
}

/** Log-probabilities found so far, each anchored to the argmax's true probability. */
class KnownLogprobs {
  readonly #values = new Map<number, number>();

  constructor(
    readonly anchor: number,
    readonly anchorLogprob: number,
  ) {
    this.#values.set(anchor, anchorLogprob);
  }

  has(token: number): boolean {
    return this.#values.has(token);
  }

  get(token: number): number | undefined {
    return this.#values.get(token);
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
      if (token === this.anchor) continue;
      this.#values.set(token, Math.log(survivors.probs[i]!) + offset);
    }
    return true;
  }

  /** Probabilities of distinct tokens cannot sum past 1 (beyond float32 rounding). */
  plausible(): boolean {
    let total = 0;
    for (const logprob of this.#values.values()) total += Math.exp(logprob);
    return total <= 1 + 1e-3 && this.anchorLogprob <= 1e-6;
  }

  toArrays(): { tokens: number[]; logprobs: number[] } {
    return { tokens: [...this.#values.keys()], logprobs: [...this.#values.values()] };
  }
}
