/**
 * From whatever a handler threw to the JSON-RPC error the client reads: one code per failure a
 * client can act on (docs/PROTOCOL.md lists them), `data.name` spelling the code out, and the
 * original message, which already says what to do.
 */
import { ResponseError } from "vscode-languageserver/node";
import { ErrorCodes, type ErrorData, type ErrorName } from "../protocol/protocol.ts";
import { PairsOutputError, PromptFileError } from "../pairs/errors.ts";
import type { ModelFileError, ModelRuntimeError } from "../runtime/index.ts";
import { ParamsError } from "./validate.ts";

/** An error the daemon raises itself, already carrying its protocol code. */
export class DaemonError extends Error {
  override readonly name = "DaemonError";
  constructor(
    readonly code: ErrorName,
    message: string,
    readonly data: Omit<ErrorData, "name"> = {},
  ) {
    super(message);
  }
}

/** Abort reasons: why a running job's AbortSignal fired. */
export const cancelledByClient = (): DaemonError => new DaemonError("Cancelled", "The request was cancelled.");
export const clientDisconnected = (): DaemonError => new DaemonError("Cancelled", "The client disconnected.");
export const superseded = (): DaemonError => new DaemonError("Superseded", "A newer inline completion request for the same document replaced this one.");
export const shuttingDown = (): DaemonError => new DaemonError("ShuttingDown", "The daemon is shutting down.");

const RUNTIME_CODES: { readonly [C in ModelRuntimeError["code"]]?: ErrorName } = {
  OutOfMemory: "OutOfMemory",
  LoadFailed: "InvalidModel",
  PromptTooLong: "InvalidParams",
  UnsupportedRequest: "InvalidParams",
  Disposed: "NoModelLoaded",
  UnsupportedRuntime: "RuntimeError",
  EvaluationFailed: "RuntimeError",
};

/**
 * The runtime's errors are recognised by name, not instanceof: importing their classes would load
 * node-llama-cpp when the daemon starts, and the daemon loads the runtime only with the first pair.
 */
function isNamed<E extends Error>(error: unknown, name: E["name"]): error is E {
  return error instanceof Error && error.name === name && typeof (error as Error & { code?: unknown }).code === "string";
}

export function toResponseError(error: unknown): ResponseError<ErrorData> {
  if (error instanceof ResponseError) return error as ResponseError<ErrorData>;
  const make = (name: ErrorName, message: string, data: Omit<ErrorData, "name"> = {}): ResponseError<ErrorData> =>
    new ResponseError<ErrorData>(ErrorCodes[name], message, { name, ...data });
  if (error instanceof DaemonError) return make(error.code, error.message, error.data);
  if (error instanceof ParamsError) return make("InvalidParams", `Invalid params: ${error.message}`, { field: error.field });
  if (error instanceof PromptFileError) return make("InvalidPrompts", error.message, { path: error.file, ...(error.line === undefined ? {} : { line: error.line }) });
  if (error instanceof PairsOutputError) return make("InvalidOutput", error.message, { path: error.file, reason: error.code });
  if (isNamed<ModelFileError>(error, "ModelFileError")) return make(error.code, error.message, { path: error.path });
  if (isNamed<ModelRuntimeError>(error, "ModelRuntimeError")) return make(RUNTIME_CODES[error.code] ?? "RuntimeError", error.message);
  // The decoding rules' DecodingOptionError is a RangeError, as are the runtime's option checks.
  if (error instanceof RangeError) return make("InvalidParams", `Invalid params: ${error.message}`);
  if (error instanceof Error && error.name === "AbortError") return make("Cancelled", "The request was cancelled.");
  const message = error instanceof Error ? error.message : String(error);
  return make("RuntimeError", `The runtime failed: ${message}`);
}
