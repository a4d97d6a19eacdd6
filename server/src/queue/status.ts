/**
 * `aad pairs status`: where a queued run stands, from BullMQ's own bookkeeping — rows done,
 * running, failed and waiting, the rate of the latest completions and the time left at that rate,
 * and the workers that took the run's rows (as they registered, and whether they are connected).
 */
import type { Redis } from "ioredis";
import type { FailedRow } from "./errors.ts";
import { connectOnce, type QueueLocation } from "./connection.ts";
import { readManifest, rowQueue, workersKey, type RowQueue, type WorkerRecord } from "./run.ts";

export interface RunStatus {
  readonly job: string;
  readonly promptsFile: string;
  readonly total: number;
  /** Rows decoded (including those whose responses were equal, which give no line). */
  readonly done: number;
  readonly running: number;
  readonly failed: number;
  /** Rows in the queue not yet taken (including ones waiting for a retry). */
  readonly waiting: number;
  /** Rows of the run the queue does not hold (Redis lost them); enqueueing again adds them back. */
  readonly missing: number;
  /** Over the latest completions (up to RATE_WINDOW); undefined before two rows are done. */
  readonly rowsPerSecond: number | undefined;
  readonly etaSeconds: number | undefined;
  readonly failedRows: readonly FailedRow[];
  /** Every worker that took the run, by id; `connected` when it holds a connection to the run's queue now. */
  readonly workers: readonly RunWorker[];
}

export interface RunWorker extends WorkerRecord {
  readonly connected: boolean;
}

/** Completions the rate is measured over. */
export const RATE_WINDOW = 200;

export async function runStatus(location: QueueLocation, job: string): Promise<RunStatus> {
  const client = await connectOnce(location);
  try {
    return await statusOf(client, location, job);
  } finally {
    client.disconnect();
  }
}

export async function statusOf(client: Redis, location: QueueLocation, job: string): Promise<RunStatus> {
  const manifest = await readManifest(client, job, location.display);
  const queue = rowQueue(job, client);
  try {
    const counts = await queue.getJobCounts("completed", "failed", "active", "wait", "delayed", "prioritized", "paused", "waiting-children");
    const done = counts.completed ?? 0;
    const running = counts.active ?? 0;
    const failed = counts.failed ?? 0;
    const waiting = (counts.wait ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0) + (counts.paused ?? 0) + (counts["waiting-children"] ?? 0);
    const rowsPerSecond = await recentRate(client, queue);
    const left = manifest.total - done - failed;
    return {
      job,
      promptsFile: manifest.promptsFile,
      total: manifest.total,
      done,
      running,
      failed,
      waiting,
      missing: Math.max(0, manifest.total - done - running - failed - waiting),
      rowsPerSecond,
      etaSeconds: rowsPerSecond !== undefined && rowsPerSecond > 0 ? left / rowsPerSecond : undefined,
      failedRows: failed === 0 ? [] : await failedRows(queue),
      workers: await runWorkers(client, queue, job),
    };
  } finally {
    await queue.close();
  }
}

/**
 * From the completed set's scores, which are the rows' finishedOn: reading the jobs themselves
 * would fetch up to RATE_WINDOW rows' data and results on every look (`status --watch` looks every
 * second, on the machines the workers decode on).
 */
async function recentRate(client: Redis, queue: RowQueue): Promise<number | undefined> {
  const latest = await client.zrevrange(queue.toKey("completed"), 0, RATE_WINDOW - 1, "WITHSCORES");
  const finished = latest.filter((_, k) => k % 2 === 1).map(Number);
  if (finished.length < 2) return undefined;
  const span = (Math.max(...finished) - Math.min(...finished)) / 1000;
  return span > 0 ? (finished.length - 1) / span : undefined;
}

/** Every row that failed for good, in prompt order. */
export async function failedRows(queue: RowQueue): Promise<FailedRow[]> {
  const jobs = await queue.getFailed(0, -1);
  return jobs.map((row) => ({ index: row.data.index, line: row.data.record.line, attempts: row.attemptsMade, reason: row.failedReason })).sort((a, b) => a.index - b.index);
}

async function runWorkers(client: Redis, queue: RowQueue, job: string): Promise<RunWorker[]> {
  const registered = Object.values(await client.hgetall(workersKey(job))).map((json) => JSON.parse(json) as WorkerRecord);
  // A BullMQ worker's connections are named "<queue's client name>:w:<worker name>".
  const names = (await queue.getWorkers()).map((entry) => (entry as { rawname?: string }).rawname ?? "");
  const connected = new Set(names.filter((raw) => raw.includes(":w:")).map((raw) => raw.slice(raw.indexOf(":w:") + 3)));
  return registered.map((worker) => ({ ...worker, connected: connected.has(worker.id) })).sort((a, b) => a.since.localeCompare(b.since) || a.id.localeCompare(b.id));
}
