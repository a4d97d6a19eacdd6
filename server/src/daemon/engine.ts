/**
 * What the daemon needs from a loaded model pair, in protocol terms. runtime-engine.ts implements
 * it over server/src/runtime; the rest of the daemon never touches node-llama-cpp.
 *
 * Every long call takes an AbortSignal and must return (rejecting with the signal's reason)
 * within one decoding step of its firing: that is what makes `$/cancelRequest`, supersession and
 * the inline time budget work.
 */
import type { PairsOptions, PairsProgress as PairsRunProgress, PairsResult as PairsRunResult } from "../pairs/generate-pairs.ts";
import type { PromptRecord } from "../pairs/prompts.ts";
import type {
  CompareEntry,
  DecodingParams,
  InlineMode,
  GenerateResult,
  LoadPairParams,
  MethodName,
  PairInfo,
  PromptParams,
  Schedule,
  TraceMode,
  ScoreResult,
  TraceEntry,
} from "../protocol/protocol.ts";

/** Unset fields take the runtime's defaults. */
export interface EngineGenerateRequest {
  readonly prompt: PromptParams;
  readonly raw?: boolean;
  readonly decoding: DecodingParams & { readonly method: MethodName };
  readonly maxTokens?: number;
  readonly stop?: readonly string[];
  readonly seed?: number;
  readonly traceTopK?: number;
  readonly schedule?: Schedule;
  readonly trace?: TraceMode;
}

export interface EngineInfillRequest {
  /** Text before the cursor and after it. */
  readonly prefix: string;
  readonly suffix: string;
  /** Chunks of other files placed before the prefix (runtime/prompt.ts has the layout). */
  readonly chunks?: readonly { readonly filename: string; readonly text: string }[];
  /** The current file's name in the repository-level layout. */
  readonly filename?: string;
  readonly decoding: DecodingParams & { readonly method: MethodName };
  readonly maxTokens: number;
}

export interface EngineScoreRequest {
  readonly prompt: PromptParams;
  readonly raw?: boolean;
  readonly response: string;
  readonly alpha?: number;
  readonly beta?: number;
  readonly traceTopK?: number;
}

export interface EngineCompareRequest extends Omit<EngineGenerateRequest, "decoding"> {
  readonly decoding: Omit<DecodingParams, "method">;
  /** Default: every method (cd is skipped without a reference model). */
  readonly methods?: readonly MethodName[];
}

export interface CallOptions {
  readonly signal: AbortSignal;
  /** Each token as it is decided (its SFT numbers may still be null under the lazy schedule). */
  readonly onToken?: (entry: TraceEntry, index: number) => void;
  /** A token delivered earlier, now complete. */
  readonly onTraceUpdate?: (entry: TraceEntry, index: number) => void;
  /** The prompt as evaluated, before the first token (how much each model took from its KV cache). */
  readonly onPrompt?: (prompt: EnginePromptReport) => void;
}

export interface EnginePromptReport {
  readonly format: string;
  readonly promptTokens: number;
  readonly reusedPromptTokens: Readonly<Partial<Record<"dpo" | "sft" | "reference", number>>>;
  readonly specialTokens: readonly { readonly index: number; readonly text: string }[];
}

/** aad/pairs on this pair: the params, validated and with absolute paths, and the prompts already read. */
export type EnginePairsRequest = Pick<PairsOptions, "promptsFile" | "out" | "rejected" | "topP" | "temperature" | "alpha" | "maxTokens" | "limit" | "seed"> & {
  readonly prompts: readonly PromptRecord[];
};

export interface PairsCallOptions {
  /** Stops the run after the row in progress; see server/src/pairs (generatePreferencePairs). */
  readonly signal: AbortSignal;
  readonly onProgress: (progress: PairsRunProgress) => void;
  /** Runs each row's decoding when the scheduler gives it the pair. */
  readonly runRow: <T>(decode: (rowSignal?: AbortSignal) => Promise<T>) => Promise<T>;
}

export interface Engine {
  readonly info: Omit<PairInfo, "reused">;
  /** The load options, to tell whether a loadPair asks for this very pair again. */
  readonly loadedWith: LoadPairParams;
  generate(request: EngineGenerateRequest, options: CallOptions): Promise<GenerateResult>;
  /**
   * Fill-in-the-middle, asked only when `info.fim` (the model declares FIM tokens). Absent when
   * the engine cannot place FIM tokens: inline completion then continues the prefix.
   */
  readonly infill?: (request: EngineInfillRequest, options: CallOptions) => Promise<GenerateResult>;
  score(request: EngineScoreRequest, options: { readonly signal: AbortSignal }): Promise<ScoreResult>;
  /** Runs the methods one after another, reporting each entry as it is done. */
  compare(request: EngineCompareRequest, options: { readonly signal: AbortSignal; readonly onEntry?: (entry: CompareEntry) => void }): Promise<CompareEntry[]>;
  /** Preference pairs into a resumable file (aad/pairs); absent when the engine cannot write them. */
  readonly pairs?: (request: EnginePairsRequest, options: PairsCallOptions) => Promise<PairsRunResult>;
  /** Tokens `text` takes in a prompt (no BOS, special tokens as text). */
  countTokens(text: string): number;
  /** Whether inline completion fills in the middle on this pair, and why not when it does not. */
  readonly inlineMode: InlineMode;
  dispose(): Promise<void>;
}

export interface EngineLoader {
  /** Checks the files (ModelFileError) without loading weights: cheap, and safe to run while another pair serves. */
  check(params: LoadPairParams, signal: AbortSignal): Promise<void>;
  load(params: LoadPairParams, signal: AbortSignal): Promise<Engine>;
}
