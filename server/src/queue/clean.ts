/**
 * `aad pairs clean`: removes a queued run from Redis once its file is written — the BullMQ queue
 * with every row's job and result (`Queue.obliterate`), the manifest, the workers' records and
 * the collect record. Workers holding the run let go of it at their next look at the runs.
 *
 * Refused, unless `force`: while rows are running (their workers would finish into a deleted
 * queue), and before a collect has written every row (the results would be lost for good).
 */
import type { Redis } from "ioredis";
import { connectOnce, type QueueLocation } from "./connection.ts";
import { QueueError } from "./errors.ts";
import { COLLECTED_KEY, readManifest, rowQueue, RUNS_KEY, workersKey, type CollectRecord, type RowQueue } from "./run.ts";

export interface CleanOptions {
  readonly location: QueueLocation;
  readonly job: string;
  /** Remove the run even with rows running or not collected. Default false. */
  readonly force?: boolean;
}

export interface CleanResult {
  readonly job: string;
  /** Rows (jobs) the queue held, by state, when it was removed. */
  readonly rows: { readonly done: number; readonly failed: number; readonly running: number; readonly waiting: number };
  /** Worker records removed. */
  readonly workers: number;
  /** The complete collect it was removed after; undefined when forced before one. */
  readonly collected: CollectRecord | undefined;
}

export async function cleanRun(options: CleanOptions): Promise<CleanResult> {
  const { location, job } = options;
  const client = await connectOnce(location);
  const queue = rowQueue(job, client);
  try {
    const manifest = await readManifest(client, job, location.display);
    // Paused, no worker takes another row, so the counts below stay true until the rows are gone.
    await queue.pause();
    try {
      return await removeRun(client, queue, options, manifest.total);
    } catch (error) {
      await queue.resume().catch(() => undefined);
      throw error;
    }
  } finally {
    await queue.close();
    client.disconnect();
  }
}

async function removeRun(client: Redis, queue: RowQueue, options: CleanOptions, total: number): Promise<CleanResult> {
  const { location, job } = options;
  const counts = await queue.getJobCounts("completed", "failed", "active", "wait", "delayed", "prioritized", "paused", "waiting-children");
  const rows = {
    done: counts.completed ?? 0,
    failed: counts.failed ?? 0,
    running: counts.active ?? 0,
    waiting: (counts.wait ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0) + (counts.paused ?? 0) + (counts["waiting-children"] ?? 0),
  };
  const collectedText = await client.hget(COLLECTED_KEY, job);
  const collected = collectedText === null ? undefined : (JSON.parse(collectedText) as CollectRecord);
  if (options.force !== true) {
    if (rows.running > 0) {
      throw new QueueError("RowsRunning", `job "${job}" in ${location.display} has ${rows.running} row${rows.running === 1 ? "" : "s"} running; stop its workers or wait for them (\`aad pairs status --queue ${location.display} --job ${job}\`), or clean with --force to drop them`);
    }
    if (collected === undefined) {
      const state = `${rows.done} of ${total} rows done, ${rows.failed} failed, ${rows.waiting} waiting`;
      throw new QueueError("NotCollected", `job "${job}" in ${location.display} has not been collected to the end (${state}); its results would be lost. Run \`aad pairs collect --queue ${location.display} --job ${job} --out FILE.jsonl\` first, or clean with --force`);
    }
  }
  // The rows first: if this fails, the manifest still names the run, and the caller resumes it.
  await queue.obliterate({ force: options.force === true });
  const workers = await client.hlen(workersKey(job));
  await client.multi().hdel(RUNS_KEY, job).hdel(COLLECTED_KEY, job).del(workersKey(job)).exec();
  return { job, rows, workers, collected };
}
