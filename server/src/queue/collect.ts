/**
 * `aad pairs collect`: the queued run's rows, in prompt order, into the same resumable JSON Lines
 * file a local `aad pairs` run writes (row-log.ts, resumePoint): the bytes equal a single-machine
 * run's with the same seed and settings, and a file a local run started can be finished from the
 * queue and the other way round.
 *
 * Rows are written while they form an unbroken prefix: collection stops at the first row that is
 * not done (or, with `wait`, waits for it) and at the first failed row, which it reports with
 * every other failed row instead of skipping it — a skipped row could never be filled in later.
 *
 * Which workers made the rows goes to a sidecar (provenance.ts), not into the rows. A collect that
 * reaches the end with no failed row is recorded in Redis (COLLECTED_KEY), which is what lets
 * `aad pairs clean` remove the run without --force.
 */
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { isPreferenceRow, openRowLog, resumePoint, type RunSettings } from "../pairs/index.ts";
import { QueueError, type FailedRow } from "./errors.ts";
import { connectOnce, type QueueLocation } from "./connection.ts";
import { writeProvenance, type RunProvenance } from "./provenance.ts";
import { COLLECTED_KEY, readManifest, rowJobId, rowQueue, type CollectRecord } from "./run.ts";
import { failedRows } from "./status.ts";

export interface CollectOptions {
  readonly location: QueueLocation;
  readonly job: string;
  readonly out: string;
  /** Wait for rows still in the queue instead of stopping at the first one. Default false. */
  readonly wait?: boolean;
  /** How often a row being waited for is looked at again. Default 500 ms. */
  readonly pollMs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: CollectProgress) => void;
}

export interface CollectProgress {
  /** Prompts whose row is in the file (or that gave no row), including earlier collections. */
  readonly done: number;
  readonly total: number;
  /** Rows this collection wrote. */
  readonly written: number;
  /** Prompts this collection passed over because chosen equalled rejected. */
  readonly skippedEqual: number;
  /** Prompts the file held rows up to when this collection started. */
  readonly resumedAt: number;
}

export interface CollectResult extends CollectProgress {
  readonly out: string;
  readonly promptsFile: string;
  readonly resumedRows: number;
  readonly droppedBytes: number;
  /** Rows after `done` that are not finished yet (0 when the file is complete or a failure stopped it). */
  readonly pending: number;
  /** Rows that failed for good, in prompt order; the file stops before the first of them. */
  readonly failed: readonly FailedRow[];
  /** What the sidecar `<out>.provenance.json` now says. */
  readonly provenance: RunProvenance;
}

const BATCH = 100;

export async function collectRun(options: CollectOptions): Promise<CollectResult> {
  const client = await connectOnce(options.location);
  const queue = rowQueue(options.job, client);
  try {
    const manifest = await readManifest(client, options.job, options.location.display);
    const run: RunSettings = { ...manifest.settings, models: manifest.models };
    const log = await openRowLog(options.out);
    try {
      const lastIndex = isPreferenceRow(log.lastRow) ? log.lastRow.meta.index : undefined;
      const lastRecord = lastIndex === undefined ? undefined : (await queue.getJob(rowJobId(options.job, lastIndex)))?.data.record;
      const resumedAt = resumePoint(log, (index) => (index === lastIndex ? lastRecord : undefined), run);
      const total = manifest.total;
      let written = 0;
      let skippedEqual = 0;
      const progress = (done: number): CollectProgress => ({ done, total, written, skippedEqual, resumedAt });
      let index = Math.min(resumedAt, total);
      options.onProgress?.(progress(index));
      const madeBy: (string | undefined)[] = [];
      let stop: "failed" | "pending" | undefined;
      while (index < total && stop === undefined && options.signal?.aborted !== true) {
        const ids = Array.from({ length: Math.min(BATCH, total - index) }, (_, k) => rowJobId(options.job, index + k));
        const rows = await Promise.all(ids.map((id) => queue.getJob(id)));
        for (const [k, row] of rows.entries()) {
          if (row === undefined) throw missingRow(options.job, index, options.location.display);
          const result = row.returnvalue as { row: unknown } | null | undefined;
          if (result === null || result === undefined || typeof result !== "object") {
            const state = await row.getState();
            if (state === "failed") stop = "failed";
            else if (options.wait !== true) stop = "pending";
            else if (k === 0) await sleep(options.pollMs ?? 500, undefined, options.signal === undefined ? {} : { signal: options.signal }).catch(() => undefined);
            break; // with `wait`, fetch again from this row
          }
          madeBy.push(row.processedBy);
          if (result.row === null) skippedEqual++;
          else {
            await log.append(result.row);
            written++;
          }
          index++;
          options.onProgress?.(progress(index));
        }
      }
      const failed = await failedRows(queue);
      const provenance = await writeProvenance(client, { out: options.out, queue: options.location.display, manifest, resumedAt: Math.min(resumedAt, total), madeBy });
      if (index >= total && failed.length === 0) {
        const record: CollectRecord = { out: resolve(options.out), rows: log.rows + written, at: new Date().toISOString() };
        await client.hset(COLLECTED_KEY, options.job, JSON.stringify(record));
      }
      return {
        provenance, ...progress(index), out: options.out, promptsFile: manifest.promptsFile, resumedRows: log.rows, droppedBytes: log.droppedBytes, pending: stop === "pending" ? countPending(total, index, failed) : 0, failed };
    } finally {
      await log.close();
    }
  } finally {
    await queue.close();
    client.disconnect();
  }
}

function countPending(total: number, index: number, failed: readonly FailedRow[]): number {
  return total - index - failed.filter((row) => row.index >= index).length;
}

function missingRow(job: string, index: number, display: string): QueueError {
  return new QueueError(
    "RowsMissing",
    `the row of prompt ${index + 1} of job "${job}" is not in ${display} (Redis lost it: was it restarted without persistence?); run the same \`aad pairs --queue … --job ${job}\` command again to add the missing rows back, then collect again`,
  );
}
