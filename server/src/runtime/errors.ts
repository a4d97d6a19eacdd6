/**
 * Errors the runtime throws, as one class with a `code` a caller can switch on. File problems
 * (missing, malformed, mismatched vocabularies) are ModelFileError from model-files.ts; this
 * class covers what happens once llama.cpp is involved. Cancellation is not an error class of
 * ours: an aborted call rejects with the signal's reason, as every AbortSignal API does.
 */
import { InsufficientMemoryError } from "node-llama-cpp";

export type ModelRuntimeErrorCode =
  /** llama.cpp or node-llama-cpp could not allocate the model, a context or a batch. */
  | "OutOfMemory"
  /** llama.cpp refused a file that passed validation, or another load step failed. */
  | "LoadFailed"
  /** The prompt alone does not fit the context. */
  | "PromptTooLong"
  /** The request names something the pair cannot serve (cd without a reference model, say). */
  | "UnsupportedRequest"
  /** A named GPU backend (cuda, vulkan, metal) was asked for and has no working binary here. */
  | "GpuUnavailable"
  /** The pair was disposed. */
  | "Disposed"
  /**
   * The node-llama-cpp internals that exact per-step sampling relies on are not the ones this
   * code was written against (only 3.21.1 is supported; see native-sampling.ts).
   */
  | "UnsupportedRuntime"
  /** A native sampling or decoding call failed. */
  | "EvaluationFailed";

export class ModelRuntimeError extends Error {
  override readonly name = "ModelRuntimeError";
  readonly code: ModelRuntimeErrorCode;

  constructor(code: ModelRuntimeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

const OUT_OF_MEMORY_PATTERN = /out of memory|insufficient memory|failed to allocate|cannot allocate|alloc(ate|ation)? failed|bad_alloc|ENOMEM/i;

/**
 * Wraps an error from node-llama-cpp or llama.cpp in a ModelRuntimeError. Memory failures become
 * "OutOfMemory" whatever their origin; everything else gets `fallback`. Abort reasons and our own
 * errors pass through unchanged.
 */
export function runtimeErrorFrom(error: unknown, fallback: ModelRuntimeErrorCode, what: string, signal?: AbortSignal): unknown {
  if (signal?.aborted === true && error === signal.reason) return error;
  if (error instanceof ModelRuntimeError) return error;
  if (error instanceof Error && error.name === "AbortError") return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof InsufficientMemoryError || OUT_OF_MEMORY_PATTERN.test(message)) {
    return new ModelRuntimeError(
      "OutOfMemory",
      `Not enough memory to ${what} (${message}). Use a smaller context (contextSize), a smaller or more quantised model, or the LoRA form of the pair (one base model in memory).`,
      { cause: error },
    );
  }
  return new ModelRuntimeError(fallback, `Could not ${what}: ${message}`, { cause: error });
}
