/**
 * What an error message offers, without VS Code: an error about the model files leads to the fix
 * (another pair, or the settings that name it); any other error, to the log.
 */
import { ErrorCodes } from "../../server/src/protocol/protocol.ts";

/** A model file the user picked does not exist (checked before the daemon is asked). */
export class ModelFileMissingError extends Error {
  override readonly name = "ModelFileMissingError";
  constructor(readonly file: string) {
    super(`${file} does not exist`);
  }
}

const MODEL_FILE_ERRORS: readonly number[] = [ErrorCodes.FileNotFound, ErrorCodes.InvalidModel, ErrorCodes.VocabularyMismatch];

/** An error about the model files (missing, not a model, mismatched vocabularies): the user's fix is another pair. */
export function isModelFileError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" && MODEL_FILE_ERRORS.includes(code);
}

export type ErrorAction = "Select Model Pair" | "Open Settings" | "Show Log";

/**
 * The buttons of an error message. `fromLoad`: the error is the answer to loading the pair. Only
 * then is a FileNotFound about a model file (aad/pairs answers it for a missing prompts file too).
 */
export function errorActions(error: unknown, fromLoad: boolean): readonly ErrorAction[] {
  return (fromLoad && isModelFileError(error)) || error instanceof ModelFileMissingError ? ["Select Model Pair", "Open Settings", "Show Log"] : ["Show Log"];
}
