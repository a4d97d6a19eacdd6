/**
 * The ONE module that reaches into node-llama-cpp internals. node-llama-cpp is pinned to exactly
 * 3.21.1 (package.json); test/runtime/native-sampling.test.ts fails loudly when any of the
 * members used here changes shape.
 *
 * Why: exact per-step log-probabilities at a 32k+ vocabulary need several samplings of ONE
 * position's logits with different sampler chains (see step-logprobs.ts). The public API samples
 * each position once (`controlledEvaluate`), and a second decode to get the same logits again
 * would double the cost. So this module replicates what `LlamaContextSequence.controlledEvaluate`
 * does (dist/evaluator/LlamaContext/LlamaContext.js, `controlledEvaluate`): it calls the
 * sequence's `_decodeTokens` with a per-position callback that runs while that batch's logits are
 * still valid (node-llama-cpp awaits every callback before it decodes the next batch), and in that
 * callback calls the addon's `sampleToken(batchLogitIndex, sampler, probabilities, confidence)`
 * as many times as it likes, each time with a sampler configured through the addon's own
 * `applyConfig` keys.
 *
 * Going to the addon config directly also fixes a correctness trap: the public `TokenBias.set()`
 * silently skips EOS/EOT tokens, so a restriction to a token set built with it would drop EOS.
 * Here the bias keys are plain token ids, EOS included.
 *
 * Not used, on purpose: the sequence's evaluation lock and token predictor. A `ModelLane` owns its
 * sequence exclusively and serialises every evaluation itself, and no predictor is ever attached.
 */
import type { LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";
import { ModelRuntimeError } from "./errors.ts";

/** What one native sampling of a position returns. */
export interface NativeSample {
  /** The token the chain selected; null when the chain selected nothing. */
  readonly token: number | null;
  /** Softmax probability of `token` over every token that survived the chain (when asked). */
  readonly confidence?: number;
  /**
   * The survivors of the chain and their probabilities, softmax over the survivors' logits,
   * most probable first (when asked). Float32 values, as the addon computes them.
   */
  readonly survivors?: { readonly tokens: Int32Array; readonly probs: Float64Array };
}

/**
 * One sampler chain, as the addon builds it. Every chain starts from the position's raw logits.
 * - "argmax": greedy over the whole vocabulary; with `confidence`, the addon also returns the
 *   argmax's softmax probability over the WHOLE vocabulary (a full-vocabulary normaliser, which no
 *   truncating chain can give). The addon sorts the array to compute it; `presort` lets llama.cpp's
 *   XTC sampler do that sort instead (threshold 0.5 never removes anything unless two tokens
 *   tie at exactly p = 0.5; step-logprobs.ts checks for that), which is faster at 32k tokens.
 * - "top": temperature 1, top-k `topK` (0: off), min-p `minP` (0: off); survivors returned.
 * - "within": temperature 1 over exactly `tokens` (every other token masked to −Infinity, then
 *   top-k = |tokens|); survivors returned. Ratios of the returned probabilities are exact.
 * - "full": greedy chain, survivors = the whole vocabulary (the slow, exact reference path).
 */
export type NativeChain =
  | { readonly kind: "argmax"; readonly presort: boolean }
  | { readonly kind: "top"; readonly topK: number; readonly minP: number }
  | { readonly kind: "within"; readonly tokens: readonly number[] }
  | { readonly kind: "full" };

/** Samples the current position's logits with one chain. */
export type SampleAt = (chain: NativeChain) => Promise<NativeSample>;

// ---------------------------------------------------------------------------------------------
// The internals, typed as narrowly as this module uses them.

interface AddonSampler {
  applyConfig(config: Record<string, unknown>): void;
  dispose(): void;
}
interface AddonContext {
  sampleToken(batchLogitIndex: number, sampler: AddonSampler, probabilities: boolean, confidence: boolean): Promise<[number, number[] | undefined, number | undefined]>;
}
type LogitDataMapper = (batchLogitIndex: number, tokenIndex: number) => Promise<unknown>;
interface SequenceInternals {
  _decodeTokens(
    tokens: Token[],
    logits: boolean[],
    evaluationPriority: number,
    tokenMeter: unknown,
    contextShiftOptions: unknown,
    logitDataMapper: LogitDataMapper,
    afterBatchAction?: (sequenceStateLength: number) => unknown,
  ): Promise<unknown[]>;
  _contextShift: unknown;
  _tokenMeter: unknown;
  _takeIntervalCheckpointIfNeededAfterBatch?: (sequenceStateLength: number) => unknown;
  _tokenPredictor?: unknown;
  _context: { _ctx: AddonContext };
}
interface ModelInternals {
  _model: unknown;
  _llama: { _bindings: { AddonSampler: new (model: unknown) => AddonSampler } };
}

/** node-llama-cpp's default evaluation priority (LlamaContext.js `defaultEvaluationPriority`). */
const EVALUATION_PRIORITY = 5;

/** The version every internal access here was checked against. */
export const SUPPORTED_NODE_LLAMA_CPP = "3.21.1";

function unsupported(what: string): ModelRuntimeError {
  return new ModelRuntimeError(
    "UnsupportedRuntime",
    `node-llama-cpp internals changed: ${what}. server/src/runtime/native-sampling.ts supports node-llama-cpp ${SUPPORTED_NODE_LLAMA_CPP} exactly; reinstall that version (npm ci) or port the module.`,
  );
}

function sequenceInternals(sequence: LlamaContextSequence): SequenceInternals {
  const internals = sequence as unknown as Partial<SequenceInternals>;
  if (typeof internals._decodeTokens !== "function") throw unsupported("LlamaContextSequence._decodeTokens is missing");
  if (internals._decodeTokens.length !== 7) throw unsupported(`LlamaContextSequence._decodeTokens takes ${internals._decodeTokens.length} parameters, not 7`);
  if (!("_contextShift" in internals) || !("_tokenMeter" in internals)) throw unsupported("LlamaContextSequence._contextShift/_tokenMeter are missing");
  if (typeof internals._context?._ctx.sampleToken !== "function") throw unsupported("LlamaContext._ctx.sampleToken is missing");
  if (internals._tokenPredictor != null) throw unsupported("the sequence has a token predictor, which this module cannot drive");
  return internals as SequenceInternals;
}

/**
 * Throws ModelRuntimeError "UnsupportedRuntime" unless every internal this module uses is where
 * node-llama-cpp 3.21.1 keeps it. Cheap; ModelLane calls it once per sequence.
 */
export function checkNativeSamplingSupport(sequence: LlamaContextSequence): void {
  sequenceInternals(sequence);
  const model = sequence.model as unknown as Partial<ModelInternals>;
  if (typeof model._llama?._bindings.AddonSampler !== "function" || model._model == null) {
    throw unsupported("LlamaModel._llama._bindings.AddonSampler or LlamaModel._model is missing");
  }
}

/**
 * The samplers of one model, reused across positions (the addon rebuilds a chain only when its
 * config changes). One sampler per chain kind, so switching kinds does not rebuild chains.
 */
export class NativeSamplers {
  readonly #samplers = new Map<NativeChain["kind"], AddonSampler>();
  readonly #model: ModelInternals;
  readonly #vocabSize: number;
  /** A permutation of all token ids; `#slot[t]` is where token t sits in it. */
  readonly #order: Uint32Array;
  readonly #slot: Uint32Array;
  readonly #masked: Float32Array;
  #disposed = false;

  constructor(model: LlamaModel, vocabSize: number) {
    this.#model = model as unknown as ModelInternals;
    this.#vocabSize = vocabSize;
    this.#order = new Uint32Array(vocabSize);
    this.#slot = new Uint32Array(vocabSize);
    for (let t = 0; t < vocabSize; t++) this.#order[t] = this.#slot[t] = t;
    this.#masked = new Float32Array(vocabSize).fill(-Infinity);
  }

  get vocabSize(): number {
    return this.#vocabSize;
  }

  /** The addon sampler for a chain, configured for it. */
  configure(chain: NativeChain): AddonSampler {
    if (this.#disposed) throw new ModelRuntimeError("Disposed", "the model's samplers were disposed");
    let sampler = this.#samplers.get(chain.kind);
    if (sampler === undefined) {
      sampler = new this.#model._llama._bindings.AddonSampler(this.#model._model);
      this.#samplers.set(chain.kind, sampler);
    }
    sampler.applyConfig(this.#config(chain));
    return sampler;
  }

  #config(chain: NativeChain): Record<string, unknown> {
    switch (chain.kind) {
      case "argmax":
        // No "temperature" key: the addon builds the greedy chain (logit bias → … → greedy).
        return chain.presort ? { xtcProbability: 1, xtcThreshold: 0.5, seed: 0 } : {};
      case "full":
        return {};
      case "top":
        // Without a "topK" key the addon adds no top-k sampler at all; topK 0 would mean "the whole
        // vocabulary", a full sort (1.5 ms at 32k) before min-p.
        return { temperature: 1, ...(chain.topK > 0 ? { topK: chain.topK } : {}), topP: 1, minP: chain.minP, seed: 0 };
      case "within": {
        const keys = this.#complement(chain.tokens);
        return {
          temperature: 1,
          topK: chain.tokens.length,
          topP: 1,
          minP: 0,
          seed: 0,
          tokenBiasKeys: keys,
          tokenBiasValues: this.#masked.subarray(0, keys.length),
        };
      }
    }
  }

  /**
   * Every token id except `tokens` (which must be distinct), as a view into a permutation kept
   * between calls: moving the wanted tokens to the tail costs O(|tokens|), not O(vocabulary).
   */
  #complement(tokens: readonly number[]): Uint32Array {
    let tail = this.#vocabSize;
    for (const token of tokens) {
      if (!(Number.isInteger(token) && token >= 0 && token < this.#vocabSize)) throw new RangeError(`token ${token} is outside the vocabulary`);
      tail--;
      const from = this.#slot[token]!;
      const displaced = this.#order[tail]!;
      this.#order[from] = displaced;
      this.#slot[displaced] = from;
      this.#order[tail] = token;
      this.#slot[token] = tail;
    }
    return this.#order.subarray(0, tail);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const sampler of this.#samplers.values()) sampler.dispose();
    this.#samplers.clear();
  }
}

/**
 * Evaluates `tokens` at the end of `sequence` in as few batches as the context allows, and for each
 * index i with `sampleAfter[i]` calls `onLogits(i, sampleAt)` while the logits after token i are
 * valid. `onLogits` may sample any number of times and may await other work (another model's
 * result) — but must not throw: an exception inside node-llama-cpp's batch callback would leave
 * the batch unresolved, so errors are caught here and rethrown after the batch completes.
 * Returns each index's `onLogits` result.
 */
export async function decodeWithSampling<T>(
  sequence: LlamaContextSequence,
  samplers: NativeSamplers,
  tokens: readonly number[],
  sampleAfter: readonly boolean[],
  onLogits: (index: number, sampleAt: SampleAt) => Promise<T>,
): Promise<(T | undefined)[]> {
  const internals = sequenceInternals(sequence);
  const addon = internals._context._ctx;
  const results: (T | undefined)[] = new Array<T | undefined>(tokens.length);
  let failure: { error: unknown } | undefined;

  await internals._decodeTokens(
    tokens as Token[],
    tokens.map((_, i) => sampleAfter[i] === true),
    EVALUATION_PRIORITY,
    internals._tokenMeter,
    internals._contextShift,
    async (batchLogitIndex, index) => {
      const sampleAt: SampleAt = async (chain) => {
        const wantSurvivors = chain.kind !== "argmax";
        const wantConfidence = chain.kind === "argmax";
        const [token, flat, confidence] = await addon.sampleToken(batchLogitIndex, samplers.configure(chain), wantSurvivors, wantConfidence);
        return {
          token: token === -1 ? null : token,
          ...(confidence === undefined ? {} : { confidence }),
          ...(flat === undefined ? {} : { survivors: unflatten(flat) }),
        };
      };
      try {
        results[index] = await onLogits(index, sampleAt);
      } catch (error) {
        failure ??= { error };
      }
      return undefined;
    },
    internals._takeIntervalCheckpointIfNeededAfterBatch,
  );
  if (failure !== undefined) throw failure.error;
  return results;
}

/** The addon's `[token, prob, token, prob, …]` array as two typed arrays. */
function unflatten(flat: readonly number[]): { tokens: Int32Array; probs: Float64Array } {
  const n = flat.length >> 1;
  const tokens = new Int32Array(n);
  const probs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    tokens[i] = flat[2 * i]!;
    probs[i] = flat[2 * i + 1]!;
  }
  return { tokens, probs };
}
