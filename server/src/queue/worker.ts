/**
 * `aad worker`: takes rows of every queued run whose model pair is this worker's and decodes them
 * with the local run's own `preferenceRow`, so a row's bytes do not depend on the worker.
 *
 * Runs are found in the manifest hash (checked again every few seconds, so a worker started
 * before `aad pairs --queue` picks the run up). A run enqueued for other model files is refused by
 * name, once, and none of its rows are touched: other workers finish it. Each loaded pair is one
 * slot that decodes one row at a time: a pair's requests never interleave (`ModelPair.exclusive`),
 * so `--concurrency N` loads N copies and lends each to one row at a time; the log names the copy.
 * A worker registers itself with each run it takes (its id, host and model hashes, `workersKey`)
 * and BullMQ records its id on every row it finishes, which is what `collect`'s provenance reads.
 * A run removed by `aad pairs clean` is let go of (with --job, the worker then stops).
 *
 * Failures are BullMQ's to keep track of: a row whose worker dies keeps its lock until the lock
 * expires (`lockSeconds`), then another worker's stalled-job check puts it back in the queue; a
 * row that throws is retried (ROW_ATTEMPTS), except a prompt longer than the context, which can
 * only fail again and goes to the failed list at once. While Redis is away, ioredis keeps
 * reconnecting and BullMQ keeps its commands, so the worker waits instead of exiting.
 */
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { UnrecoverableError, Worker, type Job } from "bullmq";
import { Redis } from "ioredis";
import { preferenceRow, PromptFileError, type PairMeta, type RunSettings } from "../pairs/index.ts";
import type { ModelPair } from "../runtime/index.ts";
import { connectOnce, workerConnection, type QueueLocation } from "./connection.ts";
import { QueueError } from "./errors.ts";
import { findManifest, KEY_PREFIX, modelDifferences, readManifest, RUNS_KEY, workersKey, type RowJobData, type RowJobResult, type RunManifest, type WorkerRecord } from "./run.ts";

export interface PairsWorkerOptions {
  readonly location: QueueLocation;
  /** One loaded pair per slot (all of the same files); a slot decodes one row at a time. */
  readonly pairs: readonly ModelPair[];
  /** The pair's files as rows record them (modelProvenance): runs for other files are refused. */
  readonly models: PairMeta["models"];
  /** How long a row stays claimed by a worker that stopped answering before another may redo it. Default 30. */
  readonly lockSeconds?: number;
  /** How often the list of runs is read again. Default 2. */
  readonly discoverSeconds?: number;
  /** Only this run (its mismatch is then an error); default: every run in the database. */
  readonly job?: string;
  /** Progress lines: runs taken or refused, rows started, done and failed, Redis going and coming back. */
  readonly log: (line: string) => void;
  /** Stops taking rows; the returned promise settles once the rows in progress are finished. */
  readonly signal: AbortSignal;
}

export const DEFAULT_LOCK_SECONDS = 30;

export async function runPairsWorker(options: PairsWorkerOptions): Promise<void> {
  if (options.pairs.length === 0) throw new RangeError("a worker needs at least one loaded pair");
  (await connectOnce(options.location)).disconnect(); // a wrong URL is an error now, not a silent wait
  const log = options.log;
  const lockMs = Math.round((options.lockSeconds ?? DEFAULT_LOCK_SECONDS) * 1000);
  const slots = new PairSlots(options.pairs);
  const outage = new OutageLog(options.location.display, log);
  const registry = new Redis(workerConnection(options.location));
  registry.on("error", outage.error);
  registry.on("ready", outage.ready);
  const workers = new Map<string, Worker<RowJobData, RowJobResult, "row">>();
  const refused = new Set<string>();
  const name = `${hostname()}:${process.pid}`;

  const take = async (manifest: RunManifest) => {
    const record: WorkerRecord = { id: name, hostname: hostname(), pid: process.pid, concurrency: options.pairs.length, models: options.models, since: new Date().toISOString() };
    await registry.hset(workersKey(manifest.job), name, JSON.stringify(record));
    const run: RunSettings = { ...manifest.settings, models: manifest.models };
    const worker = new Worker<RowJobData, RowJobResult, "row">(`pairs.${manifest.job}`, (job) => decodeRow(job, run, manifest.promptsFile), {
      connection: workerConnection(options.location),
      prefix: KEY_PREFIX,
      concurrency: options.pairs.length,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      // Stalls are deaths of workers (or long Redis outages), not faults of the row.
      maxStalledCount: 10,
      name,
    });
    worker.on("error", outage.error);
    worker.on("failed", (job, error) => {
      if (job !== undefined) log(`row ${job.id} failed (attempt ${job.attemptsMade} of ${job.opts.attempts ?? 1}): ${error.message}`);
    });
    workers.set(manifest.job, worker);
    log(`taking rows of job "${manifest.job}" (${manifest.total} prompts, prompts file ${manifest.promptsFile})`);
  };

  const decodeRow = async (job: Job<RowJobData, RowJobResult, "row">, run: RunSettings, promptsFile: string): Promise<RowJobResult> => {
    const { pair, number } = await slots.acquire();
    const started = performance.now();
    log(`row ${job.id} started on pair ${number}`);
    try {
      const row = await preferenceRow(pair, job.data.record, job.data.index, run, promptsFile);
      // Milliseconds: the scale-out bench subtracts this from the row's time in BullMQ to find what the queue adds.
      log(`row ${job.id} done on pair ${number} in ${((performance.now() - started) / 1000).toFixed(3)} s${row === undefined ? " (chosen = rejected: no row)" : ""}`);
      return { row: row ?? null };
    } catch (error) {
      // The prompt does not fit the context: every attempt would fail the same way.
      if (error instanceof PromptFileError) throw new UnrecoverableError(error.message);
      throw error;
    } finally {
      slots.release(number);
    }
  };

  /** Reads the runs again; "removed" when the run named by --job was removed after it was taken. */
  const discover = async (): Promise<"removed" | undefined> => {
    const listed = await registry.hkeys(RUNS_KEY);
    for (const [job, worker] of workers) {
      if (listed.includes(job)) continue;
      workers.delete(job);
      await worker.close();
      log(`job "${job}" was removed from ${options.location.display} (aad pairs clean); no longer taking its rows`);
      if (job === options.job) return "removed";
    }
    const names = options.job !== undefined ? [options.job] : listed;
    for (const job of names.sort()) {
      if (workers.has(job) || refused.has(job)) continue;
      const manifest = options.job !== undefined ? await readManifest(registry, job, options.location.display) : await findManifest(registry, job);
      if (manifest === undefined) continue; // removed since it was listed
      const differences = modelDifferences(manifest.models, options.models);
      if (differences.length > 0 && options.job !== undefined) {
        throw new QueueError("PairMismatch", `refusing job "${job}": it was enqueued for another model pair (${differences.join("; ")}); start this worker with that pair`);
      }
      if (differences.length > 0) {
        refused.add(job);
        log(`refusing job "${job}": it was enqueued for another model pair (${differences.join("; ")}); its rows are left to workers with that pair`);
        continue;
      }
      await take(manifest);
    }
    return undefined;
  };

  try {
    if (options.job === undefined) log(`waiting for jobs in ${options.location.display}`);
    while (!options.signal.aborted) {
      if ((await discover()) === "removed") break;
      await sleep((options.discoverSeconds ?? 2) * 1000, undefined, { signal: options.signal }).catch(() => undefined);
    }
  } finally {
    await Promise.all([...workers.values()].map((worker) => worker.close()));
    registry.disconnect();
  }
}

/** A loaded pair lent to one row, and its number among the worker's copies (from 1). */
interface LentPair {
  readonly pair: ModelPair;
  readonly number: number;
}

/** The worker's loaded pairs, each lent to one row at a time. */
class PairSlots {
  readonly #pairs: readonly ModelPair[];
  /** Numbers of the pairs not lent out, lowest last (so a lone row always gets pair 1). */
  readonly #free: number[];
  readonly #waiting: ((lent: LentPair) => void)[] = [];

  constructor(pairs: readonly ModelPair[]) {
    this.#pairs = pairs;
    this.#free = pairs.map((_, k) => pairs.length - k);
  }

  acquire(): Promise<LentPair> {
    const number = this.#free.pop();
    return number !== undefined ? Promise.resolve(this.#lend(number)) : new Promise((resolve) => this.#waiting.push(resolve));
  }

  release(number: number): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next(this.#lend(number));
    else {
      this.#free.push(number);
      this.#free.sort((a, b) => b - a);
    }
  }

  #lend(number: number): LentPair {
    return { pair: this.#pairs[number - 1]!, number };
  }
}

/** One line when Redis goes away and one when it is back, however many connections notice. */
class OutageLog {
  #down = false;
  constructor(
    readonly display: string,
    readonly log: (line: string) => void,
  ) {}

  readonly error = (error: Error) => {
    if (!isConnectionError(error)) {
      this.log(`error: ${error.message}`);
      return;
    }
    if (this.#down) return;
    this.#down = true;
    this.log(`Redis at ${this.display} is unreachable (${error.message}); waiting for it to come back`);
  };

  readonly ready = () => {
    if (!this.#down) return;
    this.#down = false;
    this.log(`Redis at ${this.display} is back`);
  };
}

/** Errors of the connection itself (Redis down, restarting, cut off), as opposed to a command's. */
function isConnectionError(error: Error): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return (code !== undefined && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/.test(code)) || /connection is closed|LOADING|socket closed|Stream isn't writeable/i.test(error.message);
}
