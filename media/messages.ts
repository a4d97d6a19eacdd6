/**
 * The advantage view's message protocol: what the extension posts to the webview
 * (`webview.postMessage`) and what the webview posts back (`acquireVsCodeApi().postMessage`).
 * Both sides import these types; the webview also validates what it receives, because a message
 * carries model output and a malformed one must not break the page.
 *
 * Host → view
 *   reset   {type, title, method, mode: "single" | "compare", columns?: ColumnSpec[], beta?,
 *            run?: RunInfo, scale?: "auto" | number, placeholder?}
 *           Clears the view. In "single" mode there is one column (id SINGLE_COLUMN, unless
 *           `columns` names it); in "compare" mode one column per ColumnSpec, side by side.
 *           `run` says how the answer is made (pair, method, α, prompt and its mode) for the
 *           header, and, with `rerun`, offers the controls that decode it again. `scale` is the
 *           colour scale's end in nats ("auto": the answer's own range). `placeholder` shows in
 *           each column until its first token (e.g. while the pair loads).
 *   status  {type, text}   Replaces the placeholder of the columns still waiting for tokens.
 *   tokens  {type, column?, entries: TraceEntry[]}
 *           Appends the entries, in order, to the column (the first one when `column` is absent).
 *           Sent as the daemon streams them: any number of messages, each with one or more entries.
 *   done    {type, column?, stats: ResponseStats, oracleReward?}
 *           The column's response is complete; its totals come from `stats`.
 *   error   {type, message}
 *           Shown as an alert until the next reset.
 *
 * View → host
 *   ready   {type}        The script has loaded and listens; the host may send a reset.
 *   export  {type, json}  The user exported the trace; `json` is an ExportedTrace. The view also
 *                         tries navigator.clipboard, which a webview may refuse.
 *   rerun   {type, method, alpha, maxTokens}
 *                         Decode the run's prompt again with these settings, and show the answer
 *                         against the one shown now.
 *
 * Only type imports from the server: the webview bundle must not pull in decoding code. (The one
 * exception, server/src/decoding/characters.ts, is dependency-free: tokens.ts groups split
 * characters with it, as the CLI does.)
 */
import type { CandidateInfo, ResponseStats, TraceEntry as ServerTraceEntry } from "../server/src/decoding/trace.ts";

export type { ResponseStats };

/** A candidate as the view shows it: the server's, whose `piece`, `bytes` and `special` name tokens the response never picked. */
export type ViewCandidate = CandidateInfo;

/** A server TraceEntry is one of these; the view reads an optional `piece` on candidates. */
export interface TraceEntry extends Omit<ServerTraceEntry, "top"> {
  readonly top: readonly ViewCandidate[];
}

export type DecodingMode = "single" | "compare";

export interface ColumnSpec {
  readonly id: string;
  readonly method: string;
  readonly label: string;
  /** The α this column's answer was decoded with, when it differs between columns. */
  readonly alpha?: number;
}

export type PromptMode = "chat" | "raw";

/** How the answer on show was made. */
export interface RunInfo {
  /** The pair's name, e.g. "built-in (sft.gguf + dpo.gguf)". */
  readonly pair: string;
  readonly method: string;
  readonly alpha: number;
  readonly maxTokens?: number;
  readonly prompt: string;
  readonly promptMode: PromptMode;
  /** Offered by the controls: the methods this pair can run. Absent: no controls (e.g. a scoring of existing text). */
  readonly rerun?: { readonly methods: readonly string[] };
}

export interface ResetMessage {
  readonly type: "reset";
  readonly title: string;
  readonly method: string;
  readonly mode: DecodingMode;
  readonly columns?: readonly ColumnSpec[];
  /** For the running implicit reward before `done` brings the response's own beta. Default DEFAULT_BETA. */
  readonly beta?: number;
  readonly run?: RunInfo;
  /** The colour scale's end, nats; "auto" (default): the answer's own range. */
  readonly scale?: "auto" | number;
  /** Shown in each column until its first token. */
  readonly placeholder?: string;
}

export interface StatusMessage {
  readonly type: "status";
  readonly text: string;
}

export interface TokensMessage {
  readonly type: "tokens";
  readonly column?: string;
  readonly entries: readonly TraceEntry[];
}

export interface DoneMessage {
  readonly type: "done";
  readonly column?: string;
  readonly stats: ResponseStats;
  readonly oracleReward?: number;
}

export interface ErrorMessage {
  readonly type: "error";
  readonly message: string;
}

export type HostMessage = ResetMessage | TokensMessage | DoneMessage | ErrorMessage | StatusMessage;

export interface ReadyMessage {
  readonly type: "ready";
}

export interface ExportMessage {
  readonly type: "export";
  readonly json: string;
}

export interface RerunMessage {
  readonly type: "rerun";
  readonly method: string;
  readonly alpha: number;
  readonly maxTokens: number;
}

export type ViewMessage = ReadyMessage | ExportMessage | RerunMessage;

/** The JSON the view exports: everything it was sent, per column. */
export interface ExportedTrace {
  readonly version: 1;
  readonly title: string;
  readonly method: string;
  readonly mode: DecodingMode;
  readonly beta: number;
  /** How the answer was made, when the host said. */
  readonly run?: RunInfo;
  readonly columns: readonly {
    readonly id: string;
    readonly method: string;
    readonly label: string;
    readonly entries: readonly TraceEntry[];
    readonly stats: ResponseStats | null;
    readonly oracleReward: number | null;
  }[];
}

/** The column of a single-mode view that names none. */
export const SINGLE_COLUMN = "response";

/** The DPO β of the implicit reward β·Σ advantage; the server's DEFAULT_BETA. */
export const DEFAULT_BETA = 0.1;

type Fields = Readonly<Record<string, unknown>>;

const isObject = (value: unknown): value is Fields => typeof value === "object" && value !== null && !Array.isArray(value);
const isNumber = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);
const isNumberOrNull = (value: unknown): value is number | null => value === null || isNumber(value);
const isOptional = <T>(value: unknown, check: (v: unknown) => v is T): value is T | undefined => value === undefined || check(value);
const isString = (value: unknown): value is string => typeof value === "string";

function isCandidate(value: unknown): value is ViewCandidate {
  return (
    isObject(value) &&
    isNumber(value.token) &&
    isNumber(value.logprobDpo) &&
    isNumberOrNull(value.logprobSft) &&
    isNumberOrNull(value.advantage) &&
    typeof value.inCandidateSet === "boolean" &&
    typeof value.picked === "boolean" &&
    isOptional(value.piece, isString) &&
    isOptional(value.bytes, isString) &&
    isOptional(value.special, isString)
  );
}

export function isTraceEntry(value: unknown): value is TraceEntry {
  return (
    isObject(value) &&
    isNumber(value.token) &&
    isString(value.piece) &&
    isNumberOrNull(value.logprobDpo) &&
    isNumberOrNull(value.logprobSft) &&
    isNumberOrNull(value.advantage) &&
    typeof value.inCandidateSet === "boolean" &&
    isNumber(value.candidateSetSize) &&
    isNumberOrNull(value.dpoRank) &&
    Array.isArray(value.top) &&
    value.top.every(isCandidate) &&
    typeof value.sftSkipped === "boolean"
  );
}

function isStats(value: unknown): value is ResponseStats {
  return (
    isObject(value) &&
    isNumber(value.implicitReward) &&
    isNumber(value.beta) &&
    isNumber(value.tokens) &&
    isNumber(value.unscoredTokens) &&
    isNumberOrNull(value.meanAdvantage) &&
    isNumberOrNull(value.meanCandidateSetSize) &&
    isNumber(value.dpoArgmaxPicks) &&
    isNumber(value.sftStepsSkipped) &&
    isNumber(value.sftStepsBatched) &&
    isOptional(value.elapsedMs, isNumber) &&
    isOptional(value.tokensPerSecond, isNumber)
  );
}

function isColumnSpec(value: unknown): value is ColumnSpec {
  return isObject(value) && isString(value.id) && isString(value.method) && isString(value.label) && isOptional(value.alpha, isNumber);
}

function isRunInfo(value: unknown): value is RunInfo {
  return (
    isObject(value) &&
    isString(value.pair) &&
    isString(value.method) &&
    isNumber(value.alpha) &&
    isOptional(value.maxTokens, isNumber) &&
    isString(value.prompt) &&
    (value.promptMode === "chat" || value.promptMode === "raw") &&
    isOptional(value.rerun, (v): v is RunInfo["rerun"] => isObject(v) && Array.isArray(v.methods) && v.methods.every(isString))
  );
}

/** The message `data` holds, or undefined when it is not one of the host's messages. */
export function parseHostMessage(data: unknown): HostMessage | undefined {
  if (!isObject(data)) return undefined;
  switch (data.type) {
    case "reset":
      return isString(data.title) &&
        isString(data.method) &&
        (data.mode === "single" || data.mode === "compare") &&
        isOptional(data.columns, (v): v is ColumnSpec[] => Array.isArray(v) && v.every(isColumnSpec)) &&
        isOptional(data.beta, isNumber) &&
        isOptional(data.run, isRunInfo) &&
        isOptional(data.scale, (v): v is "auto" | number => v === "auto" || (isNumber(v) && v > 0)) &&
        isOptional(data.placeholder, isString)
        ? (data as unknown as ResetMessage)
        : undefined;
    case "tokens":
      return isOptional(data.column, isString) && Array.isArray(data.entries) && data.entries.every(isTraceEntry)
        ? (data as unknown as TokensMessage)
        : undefined;
    case "done":
      return isOptional(data.column, isString) && isStats(data.stats) && isOptional(data.oracleReward, isNumber)
        ? (data as unknown as DoneMessage)
        : undefined;
    case "error":
      return isString(data.message) ? (data as unknown as ErrorMessage) : undefined;
    case "status":
      return isString(data.text) ? (data as unknown as StatusMessage) : undefined;
    default:
      return undefined;
  }
}
