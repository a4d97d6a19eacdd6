/**
 * `aad pairs --queue`: a run becomes a manifest plus one job per prompt. Enqueueing is
 * idempotent: the same job name with the same prompts, settings and models adds no row twice
 * (the job ids say which rows exist); the same name with anything else is refused. Enqueueing
 * again also sends rows that failed for good back to the workers, for after the cause is fixed.
 */
import type { PairMeta, PromptRecord, Settings } from "../pairs/index.ts";
import { QueueError } from "./errors.ts";
import { connectOnce, type QueueLocation } from "./connection.ts";
import { checkJobName, findManifest, MANIFEST_FORMAT, promptsSha256, rowJobId, rowQueue, RUNS_KEY, type RunManifest } from "./run.ts";

/** Tries per row before it counts as failed; a prompt longer than the context fails at once. */
export const ROW_ATTEMPTS = 3;
const ADD_BATCH = 500;

export interface EnqueueOptions {
  readonly location: QueueLocation;
  readonly job: string;
  readonly promptsFile: string;
  /** The run's prompts, already cut to --limit. */
  readonly prompts: readonly PromptRecord[];
  readonly settings: Settings;
  readonly models: PairMeta["models"];
  readonly onProgress?: (added: number, total: number) => void;
}

export interface EnqueueResult {
  readonly job: string;
  readonly total: number;
  /** Rows this call added (0 when the run was enqueued before). */
  readonly added: number;
  /** Failed rows this call sent back to the workers. */
  readonly retried: number;
  /** True when the job existed already. */
  readonly existed: boolean;
}

export async function enqueueRun(options: EnqueueOptions): Promise<EnqueueResult> {
  const job = checkJobName(options.job);
  const manifest: RunManifest = {
    format: MANIFEST_FORMAT,
    job,
    promptsFile: options.promptsFile,
    total: options.prompts.length,
    promptsSha256: promptsSha256(options.prompts),
    settings: options.settings,
    models: options.models,
  };
  const client = await connectOnce(options.location);
  const queue = rowQueue(job, client);
  try {
    const created = (await client.hsetnx(RUNS_KEY, job, JSON.stringify(manifest))) === 1;
    if (!created) refuseIfDifferent((await findManifest(client, job))!, manifest, options.location.display);
    const before = await rowsHeld(queue);
    for (let start = 0; start < options.prompts.length; start += ADD_BATCH) {
      const batch = options.prompts.slice(start, start + ADD_BATCH).map((record, offset) => {
        const index = start + offset;
        return { name: "row" as const, data: { index, record }, opts: { jobId: rowJobId(job, index), attempts: ROW_ATTEMPTS, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: false, removeOnFail: false } };
      });
      await queue.addBulk(batch);
      options.onProgress?.(Math.min(start + ADD_BATCH, options.prompts.length), options.prompts.length);
    }
    const added = (await rowsHeld(queue)) - before;
    let retried = 0;
    if (!created) {
      for (const failed of await queue.getFailed()) {
        await failed.retry("failed", { resetAttemptsMade: true });
        retried++;
      }
    }
    return { job, total: manifest.total, added, retried, existed: !created };
  } finally {
    await queue.close();
    client.disconnect();
  }
}

async function rowsHeld(queue: ReturnType<typeof rowQueue>): Promise<number> {
  const counts = await queue.getJobCounts("completed", "failed", "active", "wait", "delayed", "prioritized", "paused", "waiting-children");
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

function refuseIfDifferent(existing: RunManifest, wanted: RunManifest, display: string): void {
  const differing = (["total", "promptsSha256", "settings", "models"] as const).filter((key) => JSON.stringify(existing[key]) !== JSON.stringify(wanted[key]));
  if (differing.length === 0) return;
  const shown = differing.map((key) => (key === "promptsSha256" ? "the prompts differ" : `${key}: ${JSON.stringify(existing[key])} in the queue, ${JSON.stringify(wanted[key])} now`)).join("; ");
  throw new QueueError("JobMismatch", `job "${existing.job}" in ${display} was enqueued with other settings (${shown}); one job holds one dataset. Use the same settings, or another --job name`);
}
