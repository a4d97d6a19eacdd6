/**
 * The aad daemon's JSON-RPC vocabulary: every `aad/*` request and notification as a typed
 * constant next to its params and result, readable top to bottom. The daemon and the VS Code
 * client both import this module; docs/PROTOCOL.md describes the same methods for everyone else.
 *
 * It imports nothing but vscode-jsonrpc (the version vscode-languageclient speaks), so the client
 * bundle never pulls in the runtime. The trace and result types repeat server/src/decoding's and
 * server/src/runtime's on purpose: test/daemon/wire-types.test.ts keeps them structurally
 * identical, so the daemon passes the runtime's results on as they are.
 *
 * Besides these, the daemon serves the standard LSP `initialize`/`shutdown`/`exit`,
 * `textDocument/didOpen|didChange|didClose` and `textDocument/inlineCompletion` (LSP 3.18).
 */
import { NotificationType, ProgressType, RequestType, RequestType0, type ProgressToken } from "vscode-jsonrpc";

/** Bumped when a method changes incompatibly; announced in `initialize`. */
export const PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * Error codes of aad responses. The aad-specific ones lie in JSON-RPC's server-error range
 * (clear of vscode-jsonrpc's own -32001/-32002 and -32096…-32099); three reuse the standard codes
 * generic clients already understand: InvalidParams is JSON-RPC's, and Cancelled / Superseded are
 * LSP's RequestCancelled / ServerCancelled, which vscode-languageclient treats as a quiet
 * cancellation instead of an error to show.
 */
export const ErrorCodes = {
  FileNotFound: -32010,
  InvalidModel: -32011,
  VocabularyMismatch: -32012,
  OutOfMemory: -32013,
  Busy: -32014,
  NoModelLoaded: -32015,
  /** The runtime failed for another reason; the daemon is still up. */
  RuntimeError: -32016,
  ShuttingDown: -32017,
  /** aad/pairs: the prompts file is not .jsonl/.txt, holds no prompts, has a malformed line, or a prompt does not fit the context. */
  InvalidPrompts: -32018,
  /** aad/pairs: the output file cannot be written, or cannot be resumed safely (`data.reason`). */
  InvalidOutput: -32019,
  InvalidParams: -32602,
  /** The client cancelled the request (`$/cancelRequest`) or disconnected. */
  Cancelled: -32800,
  /** A newer inline completion request for the same document replaced this one. */
  Superseded: -32802,
} as const;

export type ErrorName = keyof typeof ErrorCodes;
export type ErrorCode = (typeof ErrorCodes)[ErrorName];

/** The `data` of every aad error response: `name` names the code, the rest depends on it. */
export interface ErrorData {
  readonly name: ErrorName;
  /** FileNotFound, InvalidModel, VocabularyMismatch: the file at fault. */
  readonly path?: string;
  /** InvalidParams: the parameter at fault, as a path (`messages[2].content`). */
  readonly field?: string;
  /** Busy: how many jobs were waiting. */
  readonly queueDepth?: number;
  /** InvalidPrompts: the 1-based line of the prompts file at fault, when one is. */
  readonly line?: number;
  /** InvalidOutput: what is wrong with the output file. */
  readonly reason?: OutputProblem;
}

/**
 * Why aad/pairs refuses an output file: it cannot be created or appended to ("Unwritable"), holds
 * lines `aad pairs` did not write ("NotPairsFile"), was written with other settings or models
 * ("SettingsMismatch"), its last row is for a prompt the prompts file no longer has at that
 * position ("PromptMismatch"), or another job or process is writing it ("Busy").
 */
export type OutputProblem = "Unwritable" | "NotPairsFile" | "SettingsMismatch" | "PromptMismatch" | "Busy";

// ---------------------------------------------------------------------------------------------
// Shared shapes

export type MethodName = "aad" | "greedy-dpo" | "greedy-sft" | "sample" | "eft" | "cd" | "best-of-n";
export const METHOD_NAMES: readonly MethodName[] = ["aad", "greedy-dpo", "greedy-sft", "sample", "eft", "cd", "best-of-n"];

export interface ChatMessage {
  readonly role: "system" | "user" | "assistant";
  readonly content: string;
}

/** Either a prompt string or chat messages (formatted with the model's chat template). */
export type PromptParams =
  | { readonly prompt: string; readonly messages?: undefined }
  | { readonly messages: readonly ChatMessage[]; readonly prompt?: undefined };

/** A decoding method and its options; each method reads the options it names in docs/PROTOCOL.md. */
export interface DecodingParams {
  /** Default "aad". */
  readonly method?: MethodName;
  /** Candidate-set threshold p_dpo(v) ≥ alpha · max p_dpo, in [0, 1]. Default 0.1. */
  readonly alpha?: number;
  /** eft: extrapolation strength. */
  readonly lambda?: number;
  /** sample, eft, best-of-n. */
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  /** sample: which model to sample. Default "dpo". */
  readonly from?: "dpo" | "sft";
  /** best-of-n: how many responses to draw. */
  readonly n?: number;
  /** best-of-n and the reported implicit reward: the DPO beta. Default 0.1. */
  readonly beta?: number;
}

export interface GenerationLimits {
  /** Default 256, at most 4096 (and what the context leaves after the prompt). */
  readonly maxTokens?: number;
  /** Stop strings; the response ends before the first one. At most 16. */
  readonly stop?: readonly string[];
  /** Seed of the sampling methods (an unsigned 32-bit integer). */
  readonly seed?: number;
  /** Continue `prompt` as plain text instead of applying the chat template. */
  readonly raw?: boolean;
  /** How many of the DPO model's top tokens each trace entry lists, 1 to 64. Default 8. */
  readonly traceTopK?: number;
}

/** The LSP convention for streaming: `$/progress` notifications carry this token. */
export interface PartialResultParams {
  readonly partialResultToken?: ProgressToken;
}

/** One of the DPO model's most probable tokens at a step (server/src/decoding CandidateInfo). */
export interface CandidateInfo {
  readonly token: number;
  readonly logprobDpo: number;
  readonly logprobSft: number | null;
  readonly advantage: number | null;
  readonly inCandidateSet: boolean;
  readonly picked: boolean;
  /** The token's own text out of context ("" when its bytes are part of a character: see `bytes`). */
  readonly piece?: string;
  /** The token's bytes, lower-case hex ("" for a special token). */
  readonly bytes?: string;
  /** The name of a token that renders as no text, e.g. "<|eot_id|>". */
  readonly special?: string;
}

/** One generated token and the numbers behind it (server/src/decoding TraceEntry). */
export interface TraceEntry {
  readonly token: number;
  /** The characters this token completes ("" for a token that ends inside a character); pieces join to the text. */
  readonly piece: string;
  /** The token's own bytes, lower-case hex ("" for a special token). */
  readonly bytes?: string;
  /** The name of a token that renders as no text (control, end-of-generation), e.g. "<|eot_id|>". */
  readonly special?: string;
  readonly logprobDpo: number | null;
  readonly logprobSft: number | null;
  readonly advantage: number | null;
  readonly inCandidateSet: boolean;
  readonly candidateSetSize: number;
  readonly dpoRank: number | null;
  readonly top: readonly CandidateInfo[];
  readonly sftSkipped: boolean;
}

/** A response's summary (server/src/decoding ResponseStats). */
export interface ResponseStats {
  readonly implicitReward: number;
  readonly beta: number;
  readonly tokens: number;
  readonly unscoredTokens: number;
  readonly meanAdvantage: number | null;
  readonly meanCandidateSetSize: number | null;
  readonly dpoArgmaxPicks: number;
  readonly sftStepsSkipped: number;
  readonly sftStepsBatched: number;
  readonly elapsedMs?: number;
  readonly tokensPerSecond?: number;
}

/** Why a response ended: end-of-sequence, a stop string, the token limit, or a full context. */
export type StopReason = "eos" | "stop" | "max-tokens" | "context";

/** When the SFT model is evaluated: every step, only when a pick needs it (batched), or also when idle. */
export type Schedule = "eager" | "lazy" | "background";

/** "exact": every trace number; "picks": the picks only, entries without numbers (see aad/generate). */
export type TraceMode = "exact" | "picks";

export type ModelRole = "dpo" | "sft" | "reference";

/** What one model did for a response. */
export interface LaneCounters {
  readonly evaluatedTokens: number;
  readonly flushes: number;
  readonly sampledPositions: number;
  readonly batchedPositions: number;
  readonly nativeCalls: number;
  readonly fullDistributions: number;
}

/** How the runtime produced a response: prompt size and format, KV-cache reuse, work per model. */
export interface RuntimeStats {
  readonly promptTokens: number;
  readonly promptFormat: string;
  /** Prompt tokens each model took from its KV cache instead of evaluating them. */
  readonly reusedPromptTokens: { readonly [R in ModelRole]?: number };
  readonly work: { readonly [R in ModelRole]?: LaneCounters };
  readonly schedule: Schedule;
  readonly trace: TraceMode;
}

// ---------------------------------------------------------------------------------------------
// aad/loadPair

export interface LoadPairParams {
  /** Path of the SFT model (the base model when `dpoLora` is given). */
  readonly sft: string;
  /** Path of the DPO model. Exactly one of `dpo` and `dpoLora`. */
  readonly dpo?: string;
  /** Path of the DPO LoRA adapter over `sft`. */
  readonly dpoLora?: string;
  /** Reference model of contrastive decoding (`cd`); same vocabulary required. */
  readonly reference?: string;
  /** Tokens of context per sequence. Default: the runtime's. */
  readonly contextSize?: number;
  /**
   * GPU backend: "auto" (the first that works here, else the CPU, said in `PairInfo.compute.note`),
   * a named one ("cuda", "vulkan", "metal"; an error when it cannot run here) or "off" (the CPU).
   * Default: "off", or "auto" when `gpuLayers` is a non-zero count or "auto"/"max".
   */
  readonly gpu?: GpuChoice;
  /** Layers to offload to the GPU: a count, "auto" or "max". Default: the runtime's. */
  readonly gpuLayers?: number | "auto" | "max";
}

export type GpuChoice = "auto" | "cuda" | "vulkan" | "metal" | "off";
export const GPU_CHOICES: readonly GpuChoice[] = ["auto", "cuda", "vulkan", "metal", "off"];

/** Where llama.cpp runs the pair. */
export interface ComputeInfo {
  /** "cpu", or the GPU backend in use ("cuda", "vulkan", "metal"). */
  readonly backend: string;
  /** What aad/loadPair asked for. */
  readonly requested: GpuChoice;
  /** Layers of the SFT model offloaded to the GPU. */
  readonly gpuLayers: number;
  /** Why the backend differs from the request ("auto" found no usable GPU, say). */
  readonly note?: string;
}

export interface ModelFileInfo {
  readonly path: string;
  readonly kind: "model" | "lora";
  readonly name: string | null;
  readonly sizeBytes: number;
  readonly parameterCount: number;
}

export interface PairInfo {
  readonly sft: ModelFileInfo;
  readonly dpo: ModelFileInfo;
  readonly reference: ModelFileInfo | null;
  readonly architecture: string;
  readonly vocabularySize: number;
  readonly contextSize: number;
  /** Memory the pair holds (weights, contexts), as the runtime reports it. */
  readonly memoryBytes: number;
  /** The model declares fill-in-the-middle tokens: inline completion uses them. */
  readonly fim: boolean;
  /** Where the pair runs: CPU or GPU backend, and why it is not the one asked for. */
  readonly compute: ComputeInfo;
  readonly loadMs: number;
  /** True when this exact pair was already loaded and nothing was reloaded. */
  readonly reused: boolean;
}

export const loadPair = new RequestType<LoadPairParams, PairInfo, ErrorData>("aad/loadPair");

// ---------------------------------------------------------------------------------------------
// aad/loadBuiltinPair

/** The tiny pair shipped in the daemon's models/ folder, wherever the daemon is installed. */
export interface LoadBuiltinPairParams {
  /** "two-models": sft.gguf + dpo.gguf; "lora": sft.gguf + dpo-lora.gguf (one model in memory). Default "two-models". */
  readonly form?: "two-models" | "lora";
  /** Load the early SFT checkpoint as the reference model of `cd` (a mismatched reference). Default true. */
  readonly reference?: boolean;
  readonly contextSize?: number;
}

export const loadBuiltinPair = new RequestType<LoadBuiltinPairParams, PairInfo, ErrorData>("aad/loadBuiltinPair");

// ---------------------------------------------------------------------------------------------
// aad/status

export type JobClass = "interactive" | "inline" | "batch";

export interface RunningJob {
  readonly class: JobClass | "load";
  readonly method: string;
  readonly elapsedMs: number;
}

export interface StatusResult {
  readonly protocolVersion: number;
  readonly pid: number;
  readonly uptimeMs: number;
  readonly transport: "stdio" | "socket";
  readonly socketPath: string | null;
  readonly pair: PairInfo | null;
  /** The pair being loaded right now, if any. */
  readonly loading: LoadPairParams | null;
  readonly queue: {
    readonly depth: number;
    readonly capacity: number;
    readonly byClass: { readonly [C in JobClass]: number };
    readonly running: RunningJob | null;
  };
  /** Tokens per second over the last minute of decoding; null when nothing was decoded. */
  readonly recentTokensPerSecond: number | null;
  readonly tokensGenerated: number;
  readonly clients: number;
  readonly idleTimeoutSeconds: number | null;
  readonly rssBytes: number;
  /** How inline completion prompts the loaded pair (null: no pair), and its latest request's prompt. */
  readonly inline: (InlineMode & { readonly last: InlineCompletionStats | null }) | null;
}

/** Whether inline completion fills in the middle on the loaded pair, and why (or why not) in words. */
export interface InlineMode {
  readonly fim: boolean;
  readonly reason: string;
}

/**
 * One inline completion's prompt: sent as `aad` next to `items` in the textDocument/inlineCompletion
 * result (clients that do not know it ignore it) and as `inline.last` in aad/status.
 */
export interface InlineCompletionStats {
  /** "fim" (prefix, suffix and middle around the model's FIM tokens) or "prefix" (the text before the cursor, continued). */
  readonly layout: "fim" | "prefix";
  /** Why the prompt is not FIM, when it is not. */
  readonly fallbackReason: string | null;
  /** The token budgets of this request and what each part took. */
  readonly budget: { readonly prefixTokens: number; readonly suffixTokens: number; readonly chunkTokens: number };
  readonly prefixTokens: number;
  readonly suffixTokens: number;
  readonly chunkTokens: number;
  /** Ring-buffer chunks of other files in the prompt. */
  readonly chunks: number;
  readonly promptTokens: number;
  /** Prompt tokens each model evaluated; the rest came from its KV cache (kept from the previous request). */
  readonly evaluatedPromptTokens: Readonly<Partial<Record<"dpo" | "sft" | "reference", number>>>;
  /** The special tokens in the evaluated prompt, with their positions: the FIM layout, checkable. */
  readonly specialTokens: readonly { readonly index: number; readonly text: string }[];
  /** Tokens decoded, and the completion's length once cut by the stop rule and the suffix overlap. */
  readonly decodedTokens: number;
  readonly stoppedBy: "stop-rule" | "max-tokens" | "time-budget" | "end";
  readonly elapsedMs: number;
}

export const status = new RequestType0<StatusResult, ErrorData>("aad/status");

// ---------------------------------------------------------------------------------------------
// aad/generate

export type GenerateParams = PromptParams &
  DecodingParams &
  GenerationLimits &
  PartialResultParams & {
    /** "batch" jobs yield to interactive ones and to inline completions. Default "interactive". */
    readonly priority?: "interactive" | "batch";
    /** When the SFT model is evaluated. Default "eager" (deterministic, fastest measured). */
    readonly schedule?: Schedule;
    /**
     * "picks": compute only what the picks need (about the cost of greedy decoding from both
     * models); entries then carry no log-probabilities, advantages or top tokens. Default "exact".
     */
    readonly trace?: TraceMode;
  };

/** best-of-n: one drawn response. */
export interface CandidateSummary {
  readonly text: string;
  readonly tokens: number;
  readonly score: number;
  readonly implicitReward: number;
  readonly stoppedBy: StopReason;
}

/** The end-of-generation token a response stopped on (any of the model's set, not only its EOS). */
export interface StopToken {
  readonly token: number;
  readonly text: string;
}

export interface GenerateResult {
  readonly method: MethodName;
  readonly text: string;
  /** Every token's trace entry, complete (with its SFT numbers). */
  readonly tokens: readonly TraceEntry[];
  readonly stats: ResponseStats;
  readonly stoppedBy: StopReason;
  /** Set when stoppedBy is "eos": which end-of-generation token stopped it. */
  readonly stopToken?: StopToken;
  readonly runtime: RuntimeStats;
  /** best-of-n: every candidate in the order drawn, and the index of the one chosen. */
  readonly candidates?: readonly CandidateSummary[];
  readonly chosen?: number;
}

/**
 * Streamed while decoding. `tokens` are the entries decided since the last progress, the first
 * at index `start` of the response; `text` is their text. Under the lazy schedule an entry may
 * arrive with `logprobSft` null and `sftSkipped` true (the pick did not need the SFT model); the
 * complete entry follows in a later progress's `updates`.
 */
export interface GenerateProgress {
  readonly start: number;
  readonly text: string;
  readonly tokens: readonly TraceEntry[];
  readonly updates: readonly { readonly index: number; readonly entry: TraceEntry }[];
}

export const generate = new RequestType<GenerateParams, GenerateResult, ErrorData>("aad/generate");
/** `$/progress` values for a generate request's `partialResultToken`. */
export const generateProgress = new ProgressType<GenerateProgress>();

// ---------------------------------------------------------------------------------------------
// aad/compare

export type CompareParams = PromptParams &
  Omit<DecodingParams, "method"> &
  GenerationLimits &
  PartialResultParams & {
    /** Default: every method the loaded pair can run (cd only with a reference model). */
    readonly methods?: readonly MethodName[];
  };

/** One method's outcome: its response, or why it was skipped (cd without a reference model). */
export type CompareEntry =
  | { readonly method: MethodName; readonly result: GenerateResult; readonly skipped?: undefined }
  | { readonly method: MethodName; readonly skipped: string; readonly result?: undefined };

export interface CompareResult {
  readonly results: readonly CompareEntry[];
}

export const compare = new RequestType<CompareParams, CompareResult, ErrorData>("aad/compare");
/** `$/progress` values for a compare request: each method's entry as soon as it is done. */
export const compareProgress = new ProgressType<CompareEntry>();

// ---------------------------------------------------------------------------------------------
// aad/score

export type ScoreParams = PromptParams & {
  /** The response to score, teacher-forced after the prompt. */
  readonly response: string;
  readonly raw?: boolean;
  readonly alpha?: number;
  readonly beta?: number;
  readonly traceTopK?: number;
};

export interface ScoreResult {
  readonly text: string;
  readonly tokens: readonly TraceEntry[];
  readonly stats: ResponseStats;
  readonly runtime: RuntimeStats;
}

export const score = new RequestType<ScoreParams, ScoreResult, ErrorData>("aad/score");

// ---------------------------------------------------------------------------------------------
// aad/pairs

/**
 * Synthetic preference pairs into a resumable JSON Lines file, as `aad pairs` writes them: for
 * each prompt the AAD response is `chosen` and a response of the DPO model alone is `rejected`
 * (TRL's `{"prompt", "chosen", "rejected"}` plus `meta`). Same names and defaults as the CLI.
 */
export interface PairsParams {
  /** `.jsonl` (`{"prompt"}` or `{"messages"}` per line) or `.txt` (one prompt per line). Absolute path. */
  readonly promptsFile: string;
  /** The output, a `.jsonl` file; an existing one is resumed after its last complete row. Absolute path. */
  readonly out: string;
  /** How the rejected response is decoded from the DPO model. Default "sample". */
  readonly rejected?: "sample" | "greedy-dpo";
  /** Nucleus threshold of the rejected sample, in (0, 1]. Default 0.9. */
  readonly topP?: number;
  /** Temperature of the rejected sample, ≥ 0. Default 1. */
  readonly temperature?: number;
  /** AAD's candidate-set threshold for the chosen response, in (0, 1]. Default 0.1. */
  readonly alpha?: number;
  /** Most tokens per response, 1–4096. Default 128. */
  readonly maxTokens?: number;
  /** Use only the first `limit` prompts of the file. Default: all. */
  readonly limit?: number;
  /** The run's seed (a safe integer); prompt i samples with `"<seed>:<i>"`. Default 0. */
  readonly seed?: number;
  /** LSP work-done progress: `$/progress` notifications (PairsProgress) carry this token. */
  readonly workDoneToken?: ProgressToken;
}

/** The defaults of PairsParams (those of `aad pairs`). */
export const DEFAULT_PAIRS_SETTINGS = { rejected: "sample", topP: 0.9, temperature: 1, alpha: 0.1, maxTokens: 128, seed: 0 } as const;

export interface PairsCounts {
  /** Prompts finished, including those earlier runs finished. */
  readonly done: number;
  /** Prompts this run is to cover: the file's, or `limit` of them. */
  readonly total: number;
  /** Rows this run wrote. */
  readonly written: number;
  /** Prompts this run skipped because the chosen and rejected responses were the same text. */
  readonly skippedEqual: number;
  /** Prompts earlier runs had finished when this one started (it resumed at this index). */
  readonly resumedAt: number;
}

export interface PairsResult extends PairsCounts {
  /** The output file, absolute. */
  readonly out: string;
  /** Rows the output held when this run started. */
  readonly resumedRows: number;
  /** Rows the output holds now: resumedRows + written. */
  readonly rows: number;
  /** Bytes of a torn last line (a killed run's unfinished row) that were dropped on resuming. */
  readonly droppedBytes: number;
  /**
   * True when `$/cancelRequest` stopped the job before its last prompt. The row in progress was
   * finished and written; every row is complete; the same request again resumes at prompt `done`.
   */
  readonly cancelled: boolean;
}

/**
 * LSP work-done progress values of an aad/pairs job, for its `workDoneToken`: one "begin" (before
 * the first row, with the resume point), a "report" after each prompt, one "end" (also when the
 * job fails or is cancelled). `counts` carries the numbers behind the message.
 */
export type PairsProgress =
  | { readonly kind: "begin"; readonly title: string; readonly cancellable: true; readonly message: string; readonly percentage: number; readonly counts: PairsCounts }
  | { readonly kind: "report"; readonly cancellable: true; readonly message: string; readonly percentage: number; readonly counts: PairsCounts }
  | { readonly kind: "end"; readonly message: string; readonly counts: PairsCounts };

export const pairs = new RequestType<PairsParams, PairsResult, ErrorData>("aad/pairs");
/** `$/progress` values for a pairs request's `workDoneToken`. */
export const pairsProgress = new ProgressType<PairsProgress>();

// ---------------------------------------------------------------------------------------------
// aad/configure and inline completion settings

/** How `textDocument/inlineCompletion` decodes; per connection. */
export interface InlineCompletionSettings {
  /** Default "aad". best-of-n is not offered inline. */
  readonly method?: Exclude<MethodName, "best-of-n">;
  readonly alpha?: number;
  /** Default 48, at most 256. */
  readonly maxTokens?: number;
  /** Wall-time budget per completion; what is decoded by then is returned. Default 1500, at most 30000. */
  readonly timeBudgetMs?: number;
  /**
   * "line": end at the end of the line; "block": go on past the line only when the model has begun
   * a block there (the line ends in an opener such as `{` `(` `[` `:`, or its next line is indented
   * deeper than the cursor's), and then end at a blank line or a dedent; "none": token budget only.
   * Default "line".
   */
  readonly stopAt?: "line" | "block" | "none";
  /** Use fill-in-the-middle when the model declares FIM tokens. Default true. */
  readonly fim?: boolean;
  /** Characters of document before the cursor considered (then cut to prefixTokens). Default 8000. */
  readonly maxPrefixChars?: number;
  /** Characters after the cursor considered (FIM only; then cut to suffixTokens). Default 2000. */
  readonly maxSuffixChars?: number;
  /** Token budget of the text before the cursor: whole lines, the farthest dropped first. Default 1024. */
  readonly prefixTokens?: number;
  /** Token budget of the text after the cursor (FIM only): whole lines, the farthest dropped first. Default 256. */
  readonly suffixTokens?: number;
  /** Chunks of other files recently completed in (llama.vscode's ring buffer) placed before the prefix; 0: off. FIM only. Default 0. */
  readonly contextChunks?: number;
  /** Lines per ring-buffer chunk. Default 32. */
  readonly contextChunkLines?: number;
  /** Token budget of all ring-buffer chunks together. Default 1024. */
  readonly chunkTokens?: number;
}

export const DEFAULT_INLINE_COMPLETION_SETTINGS: Required<InlineCompletionSettings> = {
  method: "aad",
  alpha: 0.1,
  maxTokens: 48,
  timeBudgetMs: 1500,
  stopAt: "line",
  fim: true,
  maxPrefixChars: 8000,
  maxSuffixChars: 2000,
  prefixTokens: 1024,
  suffixTokens: 256,
  contextChunks: 0,
  contextChunkLines: 32,
  chunkTokens: 1024,
};

export interface ConfigureParams {
  readonly inlineCompletion?: InlineCompletionSettings;
}

export interface ConfigureResult {
  readonly inlineCompletion: Required<InlineCompletionSettings>;
}

export const configure = new RequestType<ConfigureParams, ConfigureResult, ErrorData>("aad/configure");

/** `initializationOptions` of `initialize`. */
export interface InitializationOptions {
  readonly inlineCompletion?: InlineCompletionSettings;
}

// ---------------------------------------------------------------------------------------------
// Notifications (daemon → client)

/** Sent to every client when the shared pair is loaded or replaced. */
export interface PairChangedParams {
  readonly pair: PairInfo | null;
}

export const pairChanged = new NotificationType<PairChangedParams>("aad/pairChanged");

// ---------------------------------------------------------------------------------------------
// initialize

/** `capabilities.experimental.aad` in the `initialize` result. */
export interface ExperimentalCapabilities {
  readonly protocolVersion: number;
  readonly requests: readonly string[];
  readonly notifications: readonly string[];
  /** Progress streams, by the request whose `partialResultToken` they use. */
  readonly partialResults: readonly string[];
  /** Requests that report LSP work-done progress for their `workDoneToken` and stop cleanly on `$/cancelRequest`. */
  readonly workDoneProgress: readonly string[];
}

export const REQUESTS: readonly string[] = [loadPair.method, loadBuiltinPair.method, status.method, generate.method, compare.method, score.method, pairs.method, configure.method];
export const NOTIFICATIONS: readonly string[] = [pairChanged.method];
