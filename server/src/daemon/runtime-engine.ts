/**
 * The Engine the daemon serves, over server/src/runtime's ModelPair and its generate / score /
 * compare. The runtime's results already have the protocol's shape (test/daemon/wire-types.test.ts
 * keeps it so); this file maps requests, file facts and the FIM capability.
 *
 * The runtime (and node-llama-cpp with it, a second of startup) is imported with the first
 * aad/loadPair, so a daemon starts serving at once.
 */
import { existsSync } from "node:fs";
import type { GenerateRequest, ModelPair, ModelPairFiles } from "../runtime/index.ts";
import { builtinPair } from "../runtime/builtin-pair.ts";
import type { ModelFileSummary } from "../runtime/model-files.ts";
import type { CompareEntry, DecodingParams, GenerateResult, InlineMode, LoadBuiltinPairParams, LoadPairParams, MethodName, ModelFileInfo, ScoreResult } from "../protocol/protocol.ts";
import { DaemonError } from "./errors.ts";
import type { PairsResult as PairsRunResult } from "../pairs/generate-pairs.ts";
import type { CallOptions, Engine, EngineCompareRequest, EngineGenerateRequest, EngineInfillRequest, EngineLoader, EnginePairsRequest, EngineScoreRequest, PairsCallOptions } from "./engine.ts";

type RuleSpec = NonNullable<GenerateRequest["method"]>;

export function createRuntimeLoader(): EngineLoader {
  return { check: checkPairFiles, load: loadRuntimeEngine };
}

type Runtime = typeof import("../runtime/index.ts");

const runtimeModules = async (): Promise<{ runtime: Runtime; files: typeof import("../runtime/model-files.ts") }> => ({
  runtime: await import("../runtime/index.ts"),
  files: await import("../runtime/model-files.ts"),
});

/** The file checks ModelPair.load starts with, on their own: header reads only, no weights. */
async function checkPairFiles(params: LoadPairParams, signal: AbortSignal): Promise<void> {
  await inspectPairFiles(params, signal);
}

async function inspectPairFiles(params: LoadPairParams, signal: AbortSignal): Promise<{ sft: ModelFileSummary; dpo: ModelFileSummary; reference: ModelFileSummary | undefined }> {
  const { inspectModelFile, compareVocabularies, ModelFileError } = (await runtimeModules()).files;
  const sft = await inspectModelFile(params.sft, { expect: "model", signal });
  let dpo: ModelFileSummary;
  if (params.dpoLora !== undefined) {
    dpo = await inspectModelFile(params.dpoLora, { expect: "lora", signal });
    if (dpo.architecture !== sft.architecture) {
      throw new ModelFileError("InvalidModel", dpo.path, `The LoRA adapter ${dpo.path} is for the "${dpo.architecture}" architecture, but the base model ${sft.path} is "${sft.architecture}": use the adapter trained on this base model.`);
    }
  } else {
    dpo = await inspectModelFile(params.dpo ?? "", { expect: "model", signal });
    compareVocabularies(sft, dpo);
  }
  const reference = params.reference === undefined ? undefined : await inspectModelFile(params.reference, { expect: "model", signal });
  if (reference !== undefined) compareVocabularies(sft, reference);
  return { sft, dpo, reference };
}

function fileInfo(summary: ModelFileSummary): ModelFileInfo {
  return { path: summary.path, kind: summary.kind, name: summary.name ?? null, sizeBytes: summary.fileSize, parameterCount: summary.parameterCount };
}

async function loadRuntimeEngine(params: LoadPairParams, signal: AbortSignal): Promise<Engine> {
  const started = Date.now();
  const summaries = await inspectPairFiles(params, signal);
  const { runtime } = await runtimeModules();
  const files: ModelPairFiles = params.dpoLora !== undefined ? { sft: params.sft, dpoLora: params.dpoLora } : { sft: params.sft, dpo: params.dpo ?? "" };
  // As the CLI: the CPU unless asked; "auto" when only layers are given.
  const gpu = params.gpu === "off" ? false : (params.gpu ?? (params.gpuLayers !== undefined && params.gpuLayers !== 0 ? "auto" : undefined));
  const pair = await runtime.ModelPair.load(files, {
    signal,
    ...(params.contextSize === undefined ? {} : { contextSize: params.contextSize }),
    ...(params.reference === undefined ? {} : { reference: params.reference }),
    ...(gpu === undefined ? {} : { gpu }),
    ...(gpu && params.gpuLayers !== undefined ? { gpuLayers: params.gpuLayers } : {}),
  });
  const fim = runtime.infillTokens(pair.model);
  const info: Engine["info"] = {
    sft: fileInfo(summaries.sft),
    dpo: fileInfo(summaries.dpo),
    reference: summaries.reference === undefined ? null : fileInfo(summaries.reference),
    architecture: pair.info.architecture,
    vocabularySize: pair.info.vocabSize,
    contextSize: pair.info.contextSize,
    memoryBytes: pair.info.memory.total,
    fim: !("missing" in fim),
    compute: {
      backend: pair.info.gpu === false ? "cpu" : pair.info.gpu,
      requested: pair.info.gpuRequested === false ? "off" : pair.info.gpuRequested,
      gpuLayers: pair.info.gpuLayers,
      ...(pair.info.gpuNote === undefined ? {} : { note: pair.info.gpuNote }),
    },
    loadMs: Date.now() - started,
  };
  const inlineMode: InlineMode = "missing" in fim ? { fim: false, reason: `${fim.missing}: inline completion continues the text before the cursor only` } : { fim: true, reason: "the model declares fill-in-the-middle tokens: inline completion sends the text before and after the cursor" };
  return new RuntimeEngine(runtime, pair, params, info, inlineMode);
}

/** The files of the built-in pair, as aad/loadPair params. */
export function builtinPairParams(params: LoadBuiltinPairParams): LoadPairParams {
  let files;
  try {
    files = builtinPair();
  } catch (error) {
    throw new DaemonError("FileNotFound", error instanceof Error ? error.message : String(error));
  }
  const withReference = params.reference !== false && existsSync(files.earlyReference);
  return {
    sft: files.sft,
    ...(params.form === "lora" ? { dpoLora: files.dpoLora } : { dpo: files.dpo }),
    ...(withReference ? { reference: files.earlyReference } : {}),
    ...(params.contextSize === undefined ? {} : { contextSize: params.contextSize }),
  };
}

/** The runtime's rule spec for a method and the options that method reads. */
export function ruleSpec(decoding: DecodingParams & { readonly method: MethodName }): RuleSpec {
  const { alpha, lambda, temperature, topP, topK, from, n, beta } = decoding;
  switch (decoding.method) {
    case "aad":
    case "cd":
      return { method: decoding.method, ...defined({ alpha }) };
    case "greedy-dpo":
    case "greedy-sft":
      return { method: decoding.method };
    case "sample":
      return { method: "sample", ...defined({ from, temperature, topP, topK }) };
    case "eft":
      return { method: "eft", ...defined({ lambda, alpha, temperature, topP, topK }) };
    case "best-of-n":
      return { method: "best-of-n", ...defined({ n, beta, temperature, topP, topK }) };
  }
}

class RuntimeEngine implements Engine {
  /** Absent without FIM tokens: inline completion then continues the prefix. */
  readonly infill?: Engine["infill"];

  constructor(
    private readonly runtime: Runtime,
    private readonly pair: ModelPair,
    readonly loadedWith: LoadPairParams,
    readonly info: Engine["info"],
    readonly inlineMode: InlineMode,
  ) {
    if (inlineMode.fim) this.infill = (request, options) => this.#infill(request, options);
  }

  #infill(request: EngineInfillRequest, options: CallOptions): Promise<GenerateResult> {
    return this.runtime.generate(this.pair, {
      infill: { prefix: request.prefix, suffix: request.suffix, ...defined({ chunks: request.chunks, filename: request.filename }) },
      maxTokens: request.maxTokens,
      method: ruleSpec(request.decoding),
      // Only the text is shown: the picks need no log-probabilities (about greedy's cost).
      trace: "picks",
      signal: options.signal,
      ...defined({ onToken: options.onToken, onPrompt: options.onPrompt }),
    });
  }

  countTokens(text: string): number {
    return this.pair.model.tokenize(text, false).length;
  }

  generate(request: EngineGenerateRequest, options: CallOptions): Promise<GenerateResult> {
    return this.runtime.generate(this.pair, {
      ...request.prompt,
      ...defined({ raw: request.raw, maxTokens: request.maxTokens, stop: request.stop, seed: request.seed, traceTopK: request.traceTopK, schedule: request.schedule, trace: request.trace, beta: request.decoding.beta }),
      method: ruleSpec(request.decoding),
      signal: options.signal,
      ...defined({ onToken: options.onToken, onTraceUpdate: options.onTraceUpdate, onPrompt: options.onPrompt }),
    });
  }

  score(request: EngineScoreRequest, options: { readonly signal: AbortSignal }): Promise<ScoreResult> {
    return this.runtime.score(this.pair, {
      ...request.prompt,
      response: request.response,
      ...defined({ raw: request.raw, alpha: request.alpha, beta: request.beta, traceTopK: request.traceTopK }),
      signal: options.signal,
    });
  }

  async compare(request: EngineCompareRequest, options: { readonly signal: AbortSignal; readonly onEntry?: (entry: CompareEntry) => void }): Promise<CompareEntry[]> {
    const methods = request.methods ?? (["greedy-sft", "greedy-dpo", "best-of-n", "eft", "aad", "cd"] as const);
    const entries: CompareEntry[] = [];
    for (const method of methods) {
      // One method per call, so each result can be reported as soon as it exists.
      const [entry] = await this.runtime.compare(this.pair, {
        ...request.prompt,
        ...defined({ raw: request.raw, maxTokens: request.maxTokens, stop: request.stop, seed: request.seed, traceTopK: request.traceTopK, schedule: request.schedule, beta: request.decoding.beta }),
        methods: [ruleSpec({ ...request.decoding, method })],
        signal: options.signal,
      });
      const wire: CompareEntry = "skipped" in entry! ? { method, skipped: entry.skipped } : { method, result: entry!.result };
      entries.push(wire);
      options.onEntry?.(wire);
    }
    return entries;
  }

  async pairs(request: EnginePairsRequest, options: PairsCallOptions): Promise<PairsRunResult> {
    // Imported here, like the runtime: generate-pairs loads node-llama-cpp.
    const { generatePreferencePairs } = await import("../pairs/generate-pairs.ts");
    return generatePreferencePairs({
      pair: this.pair,
      ...request,
      signal: options.signal,
      onProgress: options.onProgress,
      runRow: options.runRow,
    });
  }

  dispose(): Promise<void> {
    return this.pair.dispose();
  }
}

function defined<T extends object>(options: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
