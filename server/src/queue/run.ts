/**
 * A queued run of `aad pairs`, as Redis holds it: a manifest (the run's settings, model hashes,
 * prompt count and a hash of the prompts) in one hash of all runs, and one BullMQ queue per run
 * whose jobs are its rows. A row's job id is the run's name and the prompt's index, so adding a
 * row twice is one row, and a row's result (`{row}`, null when chosen equalled rejected) is kept
 * on its job.
 */
import { createHash } from "node:crypto";
import { Queue, type ConnectionOptions } from "bullmq";
import type { Redis } from "ioredis";
import type { PairMeta, PreferenceRow, PromptRecord, Settings } from "../pairs/index.ts";
import { QueueError } from "./errors.ts";

/** Redis key prefix of every queue key (BullMQ's own keys are `aad:pairs.<job>:…`). */
export const KEY_PREFIX = "aad";
/** The hash of run manifests, field = job name. */
export const RUNS_KEY = `${KEY_PREFIX}:pairs-runs`;
/** The hash of runs whose every row a `collect` wrote, field = job name, value a CollectRecord. */
export const COLLECTED_KEY = `${KEY_PREFIX}:pairs-collected`;
/** The hash of the workers that took a run's rows, field = worker id, value a WorkerRecord. */
export const workersKey = (job: string) => `${KEY_PREFIX}:pairs-workers:${job}`;

/** Letters, digits, `.`, `_`, `-`; BullMQ reserves `:` in queue names. */
export const JOB_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export function checkJobName(name: string): string {
  if (!JOB_NAME_PATTERN.test(name)) throw new QueueError("BadJobName", `--job ${JSON.stringify(name)}: a job name is 1 to 100 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  return name;
}

export const MANIFEST_FORMAT = 1;

export interface RunManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly job: string;
  /** The prompts file as given to `aad pairs`; rows' errors name lines in it. */
  readonly promptsFile: string;
  /** Rows (prompts) in the run. */
  readonly total: number;
  /** SHA-256 of the run's prompts (as JSON), so the same name cannot be reused for other prompts. */
  readonly promptsSha256: string;
  readonly settings: Settings;
  readonly models: PairMeta["models"];
}

/** A row's job: which prompt, and the prompt itself (workers do not need the prompts file). */
export interface RowJobData {
  readonly index: number;
  readonly record: PromptRecord;
}

/** A row's result; `row` is null when the two responses were the same text (the local run skips those too). */
export interface RowJobResult {
  readonly row: PreferenceRow | null;
}

export type RowQueue = Queue<RowJobData, RowJobResult, "row">;

/** A worker that took a run's rows, as it registered itself: who it is and the model files it decodes with. */
export interface WorkerRecord {
  /** `<hostname>:<pid>`, BullMQ's worker name: each row's job records it as `processedBy`. */
  readonly id: string;
  readonly hostname: string;
  readonly pid: number;
  /** Rows it decodes at once (loaded copies of the pair). */
  readonly concurrency: number;
  /** Its own model files' names and SHA-256 (equal to the run's, or it would have refused the run). */
  readonly models: PairMeta["models"];
  /** ISO time it took the run. */
  readonly since: string;
}

/** A run collected completely: where to, when, and how many lines the file holds. */
export interface CollectRecord {
  readonly out: string;
  readonly rows: number;
  readonly at: string;
}

export const rowJobId = (job: string, index: number) => `${job}.${index}`;

export function rowQueue(job: string, connection: ConnectionOptions): RowQueue {
  return new Queue<RowJobData, RowJobResult, "row">(`pairs.${job}`, { connection, prefix: KEY_PREFIX });
}

export function promptsSha256(records: readonly PromptRecord[]): string {
  return createHash("sha256").update(JSON.stringify(records)).digest("hex");
}

/** The run's manifest, or a QueueError("NoSuchJob") naming what to do. */
export async function readManifest(client: Redis, job: string, display: string): Promise<RunManifest> {
  const manifest = await findManifest(client, job);
  if (manifest === undefined) {
    const known = await client.hkeys(RUNS_KEY);
    const listed = known.length === 0 ? "it holds no jobs" : `its jobs: ${known.sort().slice(0, 20).join(", ")}${known.length > 20 ? ", …" : ""}`;
    throw new QueueError("NoSuchJob", `no job "${job}" in ${display} (${listed}); enqueue it with \`aad pairs --queue ${display} --job ${job} --prompts FILE\``);
  }
  return manifest;
}

export async function findManifest(client: Redis, job: string): Promise<RunManifest | undefined> {
  const text = await client.hget(RUNS_KEY, job);
  return text === null ? undefined : (JSON.parse(text) as RunManifest);
}

/**
 * What differs between the models a run was enqueued for and a worker's, one phrase per model
 * role ("dpo model: the job's is dpo.gguf (sha256 1a2b3c4d…), this worker's is …"); empty when
 * they are the same files.
 */
export function modelDifferences(job: PairMeta["models"], worker: PairMeta["models"]): string[] {
  const describe = (model: { file: string; sha256: string } | undefined) => (model === undefined ? "none" : `${model.file} (sha256 ${model.sha256.slice(0, 12)}…)`);
  const roles = (["sft", "dpo", "dpoLora"] as const).filter((role) => job[role]?.sha256 !== worker[role]?.sha256);
  return roles.map((role) => `${role === "dpoLora" ? "DPO LoRA adapter" : `${role.toUpperCase()} model`}: the job's is ${describe(job[role])}, this worker's is ${describe(worker[role])}`);
}
