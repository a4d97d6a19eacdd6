/**
 * The advantage view's message protocol: what the extension posts to the webview
 * (`webview.postMessage`) and what the webview posts back (`acquireVsCodeApi().postMessage`).
 * Both sides import these types; the webview also validates what it receives, because a message
 * carries model output and a malformed one must not break the page.
 *
 * Host → view
 *   reset   {type, title, method, mode: "single" | "compare", columns?: ColumnSpec[], beta?}
 *           Clears the view. In "single" mode there is one column (id SINGLE_COLUMN, unless
 *           `columns` names it); in "compare" mode one column per ColumnSpec, side by side.
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
 *
 * Only type imports from the server: the webview bundle must not pull in decoding code.
 */
import type { CandidateInfo, ResponseStats, TraceEntry as ServerTraceEntry } from "../server/src/decoding/trace.ts";

export type { ResponseStats };

/** A candidate as the view shows it; `piece` lets the host name tokens the response never picked. */
export interface ViewCandidate extends CandidateInfo {
  readonly piece?: string;
}

/** A server TraceEntry is one of these; the view reads an optional `piece` on candidates. */
export interface TraceEntry extends Omit<ServerTraceEntry, "top"> {
  readonly top: readonly ViewCandidate[];
}

export type DecodingMode = "single" | "compare";

export interface ColumnSpec {
  readonly id: string;
  readonly method: string;
  readonly label: string;
}

export interface ResetMessage {
  readonly type: "reset";
  readonly title: string;
  readonly method: string;
  readonly mode: DecodingMode;
  readonly columns?: readonly ColumnSpec[];
  /** For the running implicit reward before `done` brings the response's own beta. Default DEFAULT_BETA. */
  readonly beta?: number;
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

export type HostMessage = ResetMessage | TokensMessage | DoneMessage | ErrorMessage;

export interface ReadyMessage {
  readonly type: "ready";
}

export interface ExportMessage {
  readonly type: "export";
  readonly json: string;
}

export type ViewMessage = ReadyMessage | ExportMessage;

/** The JSON the view exports: everything it was sent, per column. */
export interface ExportedTrace {
  readonly version: 1;
  readonly title: string;
  readonly method: string;
  readonly mode: DecodingMode;
  readonly beta: number;
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
    isOptional(value.piece, isString)
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
  return isObject(value) && isString(value.id) && isString(value.method) && isString(value.label);
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
        isOptional(data.beta, isNumber)
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
    default:
      return undefined;
  }
}
