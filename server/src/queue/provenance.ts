/**
 * How a collected file's rows were made, in a sidecar next to it (`<out>.provenance.json`): the
 * queue and run, the workers that decoded its prompts (id, host, pid, their own model hashes) and,
 * per prompt, which of them it was.
 *
 * Not in the rows' `meta`: the issue's promise is that a collected file equals a local run's byte
 * for byte, and a local run has no queue or workers to name. The sidecar is rewritten by every
 * collect (atomically), carrying over what an earlier collect of the same run recorded for the
 * prompts before the point it resumes from.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import type { Redis } from "ioredis";
import { workersKey, type RunManifest, type WorkerRecord } from "./run.ts";

export const PROVENANCE_FORMAT = 1;

export interface ProvenanceWorker extends Partial<Omit<WorkerRecord, "id">> {
  readonly id: string;
  /** Prompts of the file it decoded (including those whose two responses were equal: no line). */
  readonly prompts: number;
}

export interface RunProvenance {
  readonly format: typeof PROVENANCE_FORMAT;
  readonly madeBy: "aad pairs --queue";
  /** The Redis URL, without its password. */
  readonly queue: string;
  readonly job: string;
  readonly promptsFile: string;
  readonly total: number;
  readonly settings: RunManifest["settings"];
  readonly models: RunManifest["models"];
  /** Every worker that decoded one of the file's prompts, in order of its first prompt. */
  readonly workers: readonly ProvenanceWorker[];
  /**
   * One entry per prompt the file covers, in prompt order: the index in `workers` of the worker
   * that decoded it, or null when this run's collects did not write it (the file held it already:
   * a local run or another job started the file) or the queue no longer said who made it.
   */
  readonly byPrompt: readonly (number | null)[];
  /** ISO time of the collect that wrote this. */
  readonly collectedAt: string;
}

export const provenancePath = (out: string) => `${out}.provenance.json`;

export interface ProvenanceUpdate {
  readonly out: string;
  readonly queue: string;
  readonly manifest: RunManifest;
  /** The prompt this collect started at: earlier ones come from the previous sidecar, if it is this run's. */
  readonly resumedAt: number;
  /** The worker id (BullMQ's processedBy) of each prompt this collect passed, from `resumedAt` on. */
  readonly madeBy: readonly (string | undefined)[];
}

/** Writes the sidecar for the file as it now stands, and returns what it wrote. */
export async function writeProvenance(client: Redis, update: ProvenanceUpdate): Promise<RunProvenance> {
  const { manifest } = update;
  const path = provenancePath(update.out);
  const earlier = await readProvenance(path);
  const sameRun = earlier !== undefined && earlier.job === manifest.job && earlier.queue === update.queue;
  const earlierIds = Array.from({ length: update.resumedAt }, (_, index) => {
    const worker = sameRun ? earlier.byPrompt[index] : null;
    return worker === null || worker === undefined ? undefined : earlier!.workers[worker]?.id;
  });
  const ids = [...earlierIds, ...update.madeBy];
  const registered = new Map(Object.entries(await client.hgetall(workersKey(manifest.job))).map(([id, json]) => [id, JSON.parse(json) as WorkerRecord]));
  const order: string[] = [];
  const counts = new Map<string, number>();
  for (const id of ids) {
    if (id === undefined) continue;
    if (!counts.has(id)) order.push(id);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const workers = order.map((id): ProvenanceWorker => {
    const record: Partial<WorkerRecord> | undefined = registered.get(id) ?? (sameRun ? earlier.workers.find((worker) => worker.id === id) : undefined);
    const known = record === undefined ? {} : { hostname: record.hostname, pid: record.pid, concurrency: record.concurrency, models: record.models, since: record.since };
    return { id, ...known, prompts: counts.get(id)! };
  });
  const provenance: RunProvenance = {
    format: PROVENANCE_FORMAT,
    madeBy: "aad pairs --queue",
    queue: update.queue,
    job: manifest.job,
    promptsFile: manifest.promptsFile,
    total: manifest.total,
    settings: manifest.settings,
    models: manifest.models,
    workers,
    byPrompt: ids.map((id) => (id === undefined ? null : order.indexOf(id))),
    collectedAt: new Date().toISOString(),
  };
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(provenance, null, 1) + "\n");
  await rename(temporary, path);
  return provenance;
}

async function readProvenance(path: string): Promise<RunProvenance | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as Partial<RunProvenance>;
    return parsed.format === PROVENANCE_FORMAT && Array.isArray(parsed.byPrompt) && Array.isArray(parsed.workers) ? (parsed as RunProvenance) : undefined;
  } catch {
    return undefined; // a damaged sidecar is rewritten from what the queue still knows
  }
}
