/**
 * Errors of the Redis-backed pairs queue, one code per thing a user must act on differently.
 * Model and decoding failures of a row pass through as the pairs module's and runtime's errors.
 */

export type QueueErrorCode =
  /** The --queue value is not a redis:// URL this queue can use. */
  | "BadUrl"
  /** The job name cannot be a queue name (see JOB_NAME_PATTERN). */
  | "BadJobName"
  /** Nothing answers at the URL, or it is not a Redis server. */
  | "Unreachable"
  /** No job of that name was enqueued in this Redis database. */
  | "NoSuchJob"
  /** A job of that name exists with other settings, models or prompts. */
  | "JobMismatch"
  /** A worker's model pair is not the one the job was enqueued for. */
  | "PairMismatch"
  /** Rows the queue should hold are gone (Redis lost data). */
  | "RowsMissing"
  /** `clean` without --force while rows of the run are being decoded. */
  | "RowsRunning"
  /** `clean` without --force before a collect wrote every row. */
  | "NotCollected";

export class QueueError extends Error {
  override readonly name = "QueueError";
  readonly code: QueueErrorCode;

  constructor(code: QueueErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** One row that failed for good: its prompt's position, where it is in the prompts file, and why. */
export interface FailedRow {
  readonly index: number;
  readonly line: number | undefined;
  readonly attempts: number;
  readonly reason: string;
}

/** The lines that name failed rows and say how to go on, for `collect` and `status`. */
export function describeFailedRows(job: string, promptsFile: string, rows: readonly FailedRow[]): string {
  const shown = rows.slice(0, 20).map((row) => `  prompt ${row.index + 1}${row.line === undefined ? "" : ` (${promptsFile}:${row.line})`}, ${row.attempts} attempt${row.attempts === 1 ? "" : "s"}: ${row.reason}`);
  const more = rows.length > shown.length ? [`  … and ${rows.length - shown.length} more`] : [];
  return (
    `${rows.length} row${rows.length === 1 ? "" : "s"} of job "${job}" failed:\n${[...shown, ...more].join("\n")}\n` +
    `Fix the cause (for a prompt longer than the context: workers with a larger --context-size), run the same \`aad pairs --queue … --job ${job}\` command again to retry the failed rows, then collect again.\n`
  );
}
