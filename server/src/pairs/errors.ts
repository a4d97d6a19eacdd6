/**
 * Errors of preference-pair generation, one class per thing a caller may want to catch. Model
 * and decoding failures pass through as the runtime's own errors; cancellation is not an error
 * (the run stops after the current row and says so in its result).
 */

/** A prompts file that cannot be read as prompts: which line, and what is wrong with it. */
export class PromptFileError extends Error {
  override readonly name = "PromptFileError";
  readonly file: string;
  /** 1-based; undefined when the problem is the file as a whole. */
  readonly line: number | undefined;

  constructor(file: string, line: number | undefined, problem: string) {
    super(line === undefined ? `${file}: ${problem}` : `${file}:${line}: ${problem}`);
    this.file = file;
    this.line = line;
  }
}

export type PairsOutputErrorCode =
  /** The output (or its lock file, or its folder) cannot be created, opened or written. */
  | "Unwritable"
  /** The output file holds lines that `aad pairs` did not write. */
  | "NotPairsFile"
  /** The output was written with other settings or models; resuming would mix two datasets. */
  | "SettingsMismatch"
  /** The output's last row is for a prompt the prompts file no longer has at that position. */
  | "PromptMismatch"
  /** Another live process is appending to the output. */
  | "Busy";

/** An output file that cannot be resumed or appended to safely. */
export class PairsOutputError extends Error {
  override readonly name = "PairsOutputError";
  readonly code: PairsOutputErrorCode;
  readonly file: string;

  constructor(code: PairsOutputErrorCode, file: string, message: string, options?: ErrorOptions) {
    super(`${file}: ${message}`, options);
    this.code = code;
    this.file = file;
  }
}
