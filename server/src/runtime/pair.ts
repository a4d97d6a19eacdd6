/**
 * A model pair: the SFT model and its DPO fine-tune, loaded for decoding side by side.
 *
 * Two forms: two GGUF files (two models in memory), or one base GGUF plus a DPO LoRA adapter (ONE
 * model in memory and two contexts on it: one without the adapter — SFT — and one with it — DPO).
 * An optional third model, the reference for contrastive decoding, must share the vocabulary too.
 *
 * Every file is validated by model-files.ts before llama.cpp sees it (a malformed file can abort
 * the whole process inside llama.cpp), and the vocabularies are compared token by token.
 */
import { availableParallelism } from "node:os";
import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaModel, type Token } from "node-llama-cpp";
import { compareVocabularies, inspectModelFile, ModelFileError, type LoraAdapterSummary, type ModelSummary } from "./model-files.ts";
import { ModelRuntimeError, runtimeErrorFrom } from "./errors.ts";
import { ModelLane } from "./lane.ts";
import { TokenText } from "./token-text.ts";

export type ModelPairFiles =
  | { readonly sft: string; readonly dpo: string }
  | { readonly sft: string; readonly dpoLora: string; /** Multiplies the adapter's alpha / rank. Default 1. */ readonly loraScale?: number };

/** The GPU backends a caller can ask for; false is the CPU. */
export type GpuBackendChoice = "auto" | "cuda" | "vulkan" | "metal" | false;

export interface ModelPairOptions {
  /** Tokens per context. Default: the SFT model's training context, at most DEFAULT_MAX_CONTEXT_SIZE. */
  readonly contextSize?: number;
  /**
   * GPU backend for node-llama-cpp, opt-in. Default false (CPU). Nothing is ever downloaded or
   * compiled (`build: "never"`): "auto" uses the first prebuilt GPU binary that works on this
   * machine and falls back to the CPU (saying so in `info.gpuNote`); a named backend ("cuda",
   * "vulkan", "metal") that has no usable binary is a "GpuUnavailable" error.
   */
  readonly gpu?: GpuBackendChoice;
  /** Layers to offload when `gpu` is set. Default "auto". */
  readonly gpuLayers?: number | "auto" | "max";
  /**
   * Threads per context. Default: half the available cores (at least 1), because the SFT and the
   * DPO context decode at the same time; node-llama-cpp's own default (4 per context) oversubscribes
   * small machines catastrophically (2 cores: ~100× slower).
   */
  readonly threads?: number;
  /** A reference model for contrastive decoding (`cd`); must share the pair's vocabulary. */
  readonly reference?: string;
  /**
   * KV cache precision. "f32" makes log-probabilities reproducible to float32 rounding across
   * batch shapes and runs; "f16" halves the cache's memory. Default: "f32" for models up to
   * SMALL_MODEL_PARAMETERS parameters, "f16" above.
   */
  readonly kvCache?: "f32" | "f16";
  /**
   * llama.cpp flash attention. On CPU it changes log-probabilities at the 1e-2 level between batch
   * shapes, so the default is off for small models (as for kvCache) and node-llama-cpp's "auto" above.
   */
  readonly flashAttention?: boolean;
  /** Share a node-llama-cpp instance (it is then not disposed with the pair). */
  readonly llama?: Llama;
  readonly signal?: AbortSignal;
}

export const DEFAULT_MAX_CONTEXT_SIZE = 4096;
export const MAX_CONTEXT_SIZE = 1 << 24;
/** Up to this many parameters, the exact (F32 KV, no flash attention) settings are the default. */
export const SMALL_MODEL_PARAMETERS = 1_000_000_000;

export interface ModelPairInfo {
  /** "two-models": SFT and DPO files; "base-plus-lora": one model, the DPO adapter on one context. */
  readonly form: "two-models" | "base-plus-lora";
  readonly files: { readonly sft: string; readonly dpo?: string; readonly dpoLora?: string; readonly reference?: string };
  readonly architecture: string;
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  readonly contextSize: number;
  /** Threads each context decodes with, and the cores they were chosen from. */
  readonly threads: number;
  readonly cores: number;
  readonly kvCache: "f32" | "f16";
  readonly flashAttention: boolean | "auto";
  /** The backend llama.cpp runs on: false is the CPU, whatever was asked for. */
  readonly gpu: string | false;
  /** What was asked for (`options.gpu`). */
  readonly gpuRequested: GpuBackendChoice;
  /** Layers of the SFT model offloaded to the GPU (0 on the CPU). */
  readonly gpuLayers: number;
  /** Set when the backend differs from the request: why ("auto" found no usable GPU binary, say). */
  readonly gpuNote?: string;
  /** Parameters of the SFT model (= the base of a LoRA pair). */
  readonly parameters: number;
  /**
   * Memory as node-llama-cpp reports it, in bytes: weights of the distinct models loaded, the
   * contexts' KV caches and buffers (node-llama-cpp's estimate), and their sum.
   */
  readonly memory: { readonly models: number; readonly contexts: number; readonly total: number };
}

export type ModelRole = "dpo" | "sft" | "reference";

interface LoadedSide {
  readonly model: LlamaModel;
  readonly context: LlamaContext;
  readonly lane: ModelLane;
}

export class ModelPair {
  readonly info: ModelPairInfo;
  /** Each token's exact bytes and piece, from the vocabulary in the SFT file (token-text.ts). */
  readonly tokenText: TokenText;
  /**
   * The end-of-generation tokens, ascending: llama.cpp's set for the vocabulary (for Llama 3.1
   * <|end_of_text|>, <|eom_id|> and <|eot_id|>), not just tokenizer.ggml.eos_token_id.
   */
  readonly eogTokens: readonly number[];
  readonly #sides: { readonly dpo: LoadedSide; readonly sft: LoadedSide; readonly reference?: LoadedSide };
  readonly #llama: Llama;
  readonly #ownsLlama: boolean;
  readonly #models: readonly LlamaModel[];
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;
  #disposal: Promise<void> | undefined;

  private constructor(
    info: ModelPairInfo,
    vocabulary: ModelSummary["vocabulary"],
    sides: { readonly dpo: LoadedSide; readonly sft: LoadedSide; readonly reference?: LoadedSide },
    llama: Llama,
    ownsLlama: boolean,
    models: readonly LlamaModel[],
  ) {
    this.info = info;
    const model = sides.sft.model;
    const eog: number[] = [];
    for (let token = 0; token < vocabulary.tokens.length; token++) if (model.isEogToken(token as Token)) eog.push(token);
    this.eogTokens = eog;
    const eogSet = new Set(eog);
    this.tokenText = new TokenText(vocabulary, (token) => eogSet.has(token));
    this.#sides = sides;
    this.#llama = llama;
    this.#ownsLlama = ownsLlama;
    this.#models = models;
  }

  static async load(files: ModelPairFiles, options: ModelPairOptions = {}): Promise<ModelPair> {
    options.signal?.throwIfAborted();
    const requested = checkOptions(options);
    const summaries = await inspectPairFiles(files, options);
    const settings = resolveSettings(summaries, options, requested);
    const loader = await Loader.start(options, settings);
    try {
      const sftModel = await loader.model(files.sft);
      let dpo: LoadedSide;
      if ("dpoLora" in files) {
        dpo = await loader.side("dpo", sftModel, { filePath: files.dpoLora, scale: files.loraScale ?? 1 });
      } else {
        dpo = await loader.side("dpo", await loader.model(files.dpo));
      }
      const sft = await loader.side("sft", sftModel);
      const reference = options.reference === undefined ? undefined : await loader.side("reference", await loader.model(options.reference));

      const contexts = [dpo.context, sft.context, ...(reference === undefined ? [] : [reference.context])];
      const modelBytes = loader.models.reduce((sum, model) => sum + model.size, 0);
      const contextBytes = contexts.reduce((sum, context) => sum + context.memoryUsage.ram + context.memoryUsage.vram, 0);
      const { vocabulary } = summaries.sft;
      const info: ModelPairInfo = {
        form: "dpoLora" in files ? "base-plus-lora" : "two-models",
        files: {
          sft: files.sft,
          ...("dpoLora" in files ? { dpoLora: files.dpoLora } : { dpo: files.dpo }),
          ...(options.reference === undefined ? {} : { reference: options.reference }),
        },
        architecture: summaries.sft.architecture,
        vocabSize: vocabulary.tokens.length,
        bos: vocabulary.bos,
        eos: vocabulary.eos,
        contextSize: sft.context.contextSize,
        threads: settings.threads,
        cores: settings.cores,
        kvCache: settings.kvCache,
        flashAttention: sft.context.flashAttention,
        gpu: loader.llama.gpu,
        gpuRequested: settings.gpu,
        gpuLayers: loader.models[0]?.gpuLayers ?? 0,
        ...(settings.gpu === "auto" && loader.llama.gpu === false ? { gpuNote: 'gpu "auto": no usable GPU backend on this machine (node-llama-cpp found no working prebuilt CUDA, Vulkan or Metal binary); running on the CPU' } : {}),
        parameters: summaries.sft.parameterCount,
        memory: { models: modelBytes, contexts: contextBytes, total: modelBytes + contextBytes },
      };
      return new ModelPair(info, vocabulary, { dpo, sft, ...(reference === undefined ? {} : { reference }) }, loader.llama, loader.ownsLlama, loader.models);
    } catch (error) {
      await loader.abort();
      throw error;
    }
  }

  /** The lane (model, context sequence and sampling state) of one role. */
  lane(role: ModelRole): ModelLane {
    this.#checkNotDisposed();
    const side = this.#sides[role];
    if (side === undefined) {
      throw new ModelRuntimeError("UnsupportedRequest", "This pair has no reference model: contrastive decoding (cd) needs one (the `reference` load option).");
    }
    return side.lane;
  }

  get hasReference(): boolean {
    return this.#sides.reference !== undefined;
  }

  /** The model whose tokenizer and metadata the pair uses (the SFT model; vocabularies are equal). */
  get model(): LlamaModel {
    this.#checkNotDisposed();
    return this.#sides.sft.model;
  }

  /**
   * Runs `task` when every earlier task has finished: the lanes hold per-request state, so
   * requests on one pair never interleave.
   */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      this.#checkNotDisposed();
      return task();
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Waits for the running request, then frees contexts, models and (if the pair created it) llama.cpp. */
  dispose(): Promise<void> {
    this.#disposal ??= this.#dispose();
    return this.#disposal;
  }

  async #dispose(): Promise<void> {
    await this.#queue;
    this.#disposed = true;
    const sides = [this.#sides.dpo, this.#sides.sft, ...(this.#sides.reference === undefined ? [] : [this.#sides.reference])];
    for (const side of sides) side.lane.dispose();
    for (const side of sides) await side.context.dispose();
    for (const model of this.#models) await model.dispose();
    if (this.#ownsLlama) await this.#llama.dispose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  #checkNotDisposed(): void {
    if (this.#disposed) throw new ModelRuntimeError("Disposed", "This model pair was disposed; load it again.");
  }
}

/** Explicit options, checked before anything is read. */
function checkOptions(options: ModelPairOptions): { threads: number; cores: number } {
  const cores = availableParallelism();
  const threads = options.threads ?? Math.max(1, Math.floor(cores / 2));
  if (!(Number.isInteger(threads) && threads >= 1)) throw new RangeError(`threads must be an integer ≥ 1, got ${threads}`);
  // Above 2^24 tokens node-llama-cpp's memory estimate alone takes minutes before it refuses.
  const { contextSize } = options;
  if (contextSize !== undefined && !(Number.isInteger(contextSize) && contextSize >= 2 && contextSize <= MAX_CONTEXT_SIZE)) {
    throw new RangeError(`contextSize must be an integer from 2 to ${MAX_CONTEXT_SIZE}, got ${contextSize}`);
  }
  return { threads, cores };
}

interface PairSummaries {
  readonly sft: ModelSummary;
  readonly dpo?: ModelSummary;
}

/** Every file validated, and the vocabularies compared, before llama.cpp sees any of them. */
async function inspectPairFiles(files: ModelPairFiles, options: ModelPairOptions): Promise<PairSummaries> {
  const { signal } = options;
  const sft = await inspectModelFile(files.sft, { expect: "model", signal });
  let dpo: ModelSummary | undefined;
  if ("dpoLora" in files) {
    checkAdapterFits(await inspectModelFile(files.dpoLora, { expect: "lora", signal }), sft);
  } else {
    dpo = await inspectModelFile(files.dpo, { expect: "model", signal });
    compareVocabularies(sft, dpo);
  }
  if (options.reference !== undefined) compareVocabularies(sft, await inspectModelFile(options.reference, { expect: "model", signal }));
  return { sft, ...(dpo === undefined ? {} : { dpo }) };
}

interface LoadSettings {
  readonly vocabSize: number;
  readonly threads: number;
  readonly cores: number;
  readonly contextSize: number;
  readonly kvCache: "f32" | "f16";
  readonly flashAttention: boolean | "auto";
  readonly gpu: GpuBackendChoice;
}

function resolveSettings(summaries: PairSummaries, options: ModelPairOptions, requested: { threads: number; cores: number }): LoadSettings {
  const small = Math.max(summaries.sft.parameterCount, summaries.dpo?.parameterCount ?? 0) <= SMALL_MODEL_PARAMETERS;
  return {
    ...requested,
    vocabSize: summaries.sft.vocabulary.tokens.length,
    contextSize: options.contextSize ?? Math.min(summaries.sft.contextLength, DEFAULT_MAX_CONTEXT_SIZE),
    kvCache: options.kvCache ?? (small ? "f32" : "f16"),
    flashAttention: options.flashAttention ?? (small ? false : "auto"),
    gpu: options.gpu ?? false,
  };
}

/** Loads models and contexts with the pair's settings, and frees all of it if loading fails. */
class Loader {
  readonly models: LlamaModel[] = [];
  readonly #created: { dispose(): Promise<void> | void }[] = [];

  private constructor(
    readonly llama: Llama,
    readonly ownsLlama: boolean,
    readonly options: ModelPairOptions,
    readonly settings: LoadSettings,
  ) {
    if (ownsLlama) this.#created.push(llama);
  }

  static async start(options: ModelPairOptions, settings: LoadSettings): Promise<Loader> {
    if (options.llama !== undefined) return new Loader(options.llama, false, options, settings);
    try {
      const llama = await getLlama({ gpu: settings.gpu, build: "never", logLevel: LlamaLogLevel.error, maxThreads: 0 });
      return new Loader(llama, true, options, settings);
    } catch (error) {
      if (typeof settings.gpu === "string" && settings.gpu !== "auto") {
        const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        throw new ModelRuntimeError(
          "GpuUnavailable",
          `The GPU backend "${settings.gpu}" was asked for, but node-llama-cpp has no prebuilt ${settings.gpu} binary that works on this machine (${reason}; a missing driver or an unsupported platform). Use gpu "auto" (the first GPU backend that works, else the CPU) or "off".`,
          { cause: error },
        );
      }
      throw runtimeErrorFrom(error, "LoadFailed", "start llama.cpp (node-llama-cpp found no usable prebuilt binary)", options.signal);
    }
  }

  async model(path: string): Promise<LlamaModel> {
    const { signal, gpuLayers } = this.options;
    try {
      const model = await this.llama.loadModel({
        modelPath: path,
        gpuLayers: this.settings.gpu === false ? 0 : (gpuLayers ?? "auto"),
        ...(signal === undefined ? {} : { loadSignal: signal }),
      });
      this.#created.push(model);
      this.models.push(model);
      return model;
    } catch (error) {
      signal?.throwIfAborted();
      throw runtimeErrorFrom(error, "LoadFailed", `load the model ${path}`, signal);
    }
  }

  /** A context (with the adapter, if any) on the model, and the lane that drives its one sequence. */
  async side(role: ModelRole, model: LlamaModel, adapter?: { filePath: string; scale: number }): Promise<LoadedSide> {
    const { signal } = this.options;
    const { contextSize, threads, flashAttention, kvCache } = this.settings;
    let context: LlamaContext;
    try {
      context = await model.createContext({
        contextSize,
        sequences: 1,
        threads,
        flashAttention: flashAttention === "auto" ? undefined : flashAttention,
        // "Experimental" in node-llama-cpp's types; measured here: F32 is what keeps
        // log-probabilities equal across batch shapes, and F16 is llama.cpp's own default.
        // eslint-disable-next-line @typescript-eslint/no-deprecated
        experimentalKvCacheKeyType: kvCache === "f32" ? "F32" : "F16",
        // eslint-disable-next-line @typescript-eslint/no-deprecated
        experimentalKvCacheValueType: kvCache === "f32" ? "F32" : "F16",
        ...(adapter === undefined ? {} : { lora: { adapters: [adapter] } }),
        ...(signal === undefined ? {} : { createSignal: signal }),
      });
    } catch (error) {
      signal?.throwIfAborted();
      throw runtimeErrorFrom(error, "LoadFailed", `create a ${contextSize}-token context for ${model.filename ?? "the model"}`, signal);
    }
    this.#created.push(context);
    const lane = new ModelLane(role, context.getSequence(), model, this.settings.vocabSize);
    this.#created.push(lane);
    return { model, context, lane };
  }

  /** Frees everything loaded so far, newest first. */
  async abort(): Promise<void> {
    for (const resource of this.#created.reverse()) await Promise.resolve(resource.dispose()).catch(() => undefined);
  }
}

function checkAdapterFits(adapter: LoraAdapterSummary, base: ModelSummary): void {
  if (adapter.architecture !== base.architecture) {
    throw new ModelFileError(
      "InvalidModel",
      adapter.path,
      `The LoRA adapter ${adapter.path} is for the "${adapter.architecture}" architecture, but the base model ${base.path} is "${base.architecture}": use the adapter trained on this base model.`,
    );
  }
}
