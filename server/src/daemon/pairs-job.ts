/**
 * aad/pairs: synthetic preference pairs into a resumable file, as a daemon job that can run for
 * hours without holding the shared pair for hours.
 *
 * - **Row by row through the scheduler.** Each prompt's two decodings are one batch job: between
 *   rows, queued loads, interactive requests and inline completions go first (under a steady
 *   stream of new interactive requests, aging lets a waiting row go first after about 4 s). A
 *   full queue makes the next row wait and retry, not fail.
 * - **Cancellation.** `$/cancelRequest` stops the job after the row in progress, which is written;
 *   the request then answers with its result, `cancelled: true` and the counts, so the client
 *   knows exactly what the file holds. Only a job cancelled before it started (still queued
 *   behind other work, nothing opened) answers -32800 Cancelled. A client that disconnects stops
 *   its job the same way. Only a shutdown abandons the row in progress (it is not written).
 *   Finishing rather than abandoning also keeps a resumed file byte-identical to an uninterrupted
 *   run's: a row decoded again right after an abandoned attempt would find its prompt in the KV
 *   cache, evaluate only the last prompt token, and get log-probs (and so `meta`'s rewards) that
 *   differ in the seventh digit.
 * - **Progress.** LSP work-done progress for the request's `workDoneToken`: begin, a report per
 *   prompt, end.
 * - **The pair.** Rows run on the pair loaded when the job started; if another client loads a
 *   different pair meanwhile, the job stops with an error before its next row (the rows written
 *   so far are kept, and the same request on the same pair resumes).
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { CancellationToken } from "vscode-languageserver/node";
import type { PairsProgress as PairsRunProgress } from "../pairs/generate-pairs.ts";
import { readPrompts, type PromptRecord } from "../pairs/prompts.ts";
import { pairs, type PairsCounts, type PairsParams, type PairsProgress, type PairsResult } from "../protocol/protocol.ts";
import type { Daemon } from "./daemon.ts";
import type { Engine } from "./engine.ts";
import { cancelledByClient, clientDisconnected, DaemonError } from "./errors.ts";
import { ParamsError } from "./validate.ts";

export interface PairsJobContext {
  readonly daemon: Daemon;
  /** The session the job belongs to. */
  readonly client: number;
  /** Fires when the client's connection closes. */
  readonly closed: AbortSignal;
  /** Sends one `$/progress` value for the request's work-done token. */
  readonly progress: (token: string | number, value: PairsProgress) => void;
}

const PROGRESS_TITLE = "Generating preference pairs";
/** How long a row waits before asking again when the queue is full. */
const BUSY_RETRY_MS = 250;

export async function runPairsJob(ctx: PairsJobContext, params: PairsParams, token: CancellationToken): Promise<PairsResult> {
  const { daemon } = ctx;
  daemon.assertPairAvailable();
  const promptsFile = resolve(params.promptsFile);
  const out = resolve(params.out);
  if (out === promptsFile) throw new ParamsError("out", `"out" is the prompts file itself; choose another .jsonl file for the pairs`);
  // Before the queue: a wrong prompts file fails at once, not after the work ahead of it.
  const prompts = await readPromptsFile(promptsFile);

  // Stops the job after the row in progress: the client cancelled, or went away.
  const stop = new AbortController();
  const cancelListener = token.onCancellationRequested(() => stop.abort(cancelledByClient()));
  const onClose = (): void => stop.abort(clientDisconnected());
  ctx.closed.addEventListener("abort", onClose, { once: true });
  if (ctx.closed.aborted) onClose();
  const workDoneToken = params.workDoneToken;
  const reporter = new ProgressReporter(workDoneToken === undefined ? undefined : (value) => ctx.progress(workDoneToken, value));
  try {
    // The pair the job runs on, taken in the queue: after any load that was asked for first.
    const engine = await daemon.runJob({ class: "batch", client: ctx.client, method: pairs.method }, token, () => Promise.resolve(daemon.requireEngine()));
    if (engine.pairs === undefined) throw new DaemonError("RuntimeError", "This daemon's engine cannot generate preference pairs.");
    const result = await engine.pairs(
      { promptsFile, prompts, out, ...pick(params, ["rejected", "topP", "temperature", "alpha", "maxTokens", "limit", "seed"]) },
      {
        signal: stop.signal,
        onProgress: (progress) => reporter.report(progress),
        runRow: (decode) => runRow(ctx, engine, stop.signal, reporter, decode),
      },
    );
    const answer: PairsResult = {
      out,
      done: result.done,
      total: result.total,
      written: result.written,
      skippedEqual: result.skippedEqual,
      resumedAt: result.resumedAt,
      resumedRows: result.resumedRows,
      rows: result.resumedRows + result.written,
      droppedBytes: result.droppedBytes,
      cancelled: result.interrupted,
    };
    reporter.end(
      answer.cancelled
        ? `cancelled after ${answer.done}/${answer.total} prompts: ${answer.rows} rows in the file; run again to resume`
        : `done: ${answer.done}/${answer.total} prompts, ${answer.written} pairs written, ${answer.rows} rows in the file`,
    );
    return answer;
  } catch (error) {
    reporter.end(`failed: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  } finally {
    cancelListener.dispose();
    ctx.closed.removeEventListener("abort", onClose);
  }
}

async function readPromptsFile(file: string): Promise<PromptRecord[]> {
  let isFile: boolean;
  try {
    isFile = (await stat(file)).isFile();
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : `cannot be read (${error instanceof Error ? error.message : String(error)})`;
    throw new DaemonError("FileNotFound", `The prompts file ${file} ${reason}. Give the absolute path of a .jsonl or .txt file.`, { path: file });
  }
  if (!isFile) throw new DaemonError("FileNotFound", `The prompts file ${file} is not a file. Give the absolute path of a .jsonl or .txt file.`, { path: file });
  return readPrompts(file);
}

/**
 * One row's decoding as a batch job on the shared pair. A row still waiting when the job is
 * stopped is dropped, which generatePreferencePairs reads as the end of the run (`stop.reason`).
 */
async function runRow<T>(ctx: PairsJobContext, engine: Engine, stop: AbortSignal, reporter: ProgressReporter, decode: (rowSignal?: AbortSignal) => Promise<T>): Promise<T> {
  const { daemon } = ctx;
  // Read through a function: TypeScript would keep `aborted` narrowed across the await below.
  const stopped = (): boolean => stop.aborted;
  let told = false;
  for (;;) {
    if (stopped()) throw stop.reason;
    try {
      return await daemon.runJob({ class: "batch", client: ctx.client, method: pairs.method, finishOnCancel: true }, tokenOf(stop), async (rowSignal) => {
        if (daemon.engine !== engine) {
          const counts = reporter.counts;
          const kept = counts === undefined ? "" : ` after ${counts.done}/${counts.total} prompts; the rows written so far are kept`;
          throw new DaemonError("RuntimeError", `The model pair changed while aad/pairs was running (another request loaded another pair), so the job stopped${kept}. Load the same pair again and send the same request to resume.`);
        }
        const started = Date.now();
        const row = await decode(unlessCancelled(rowSignal));
        // The status's token counters include the pairs' responses (a skipped row's are not known).
        const tokens = tokensOf(row);
        if (tokens > 0) daemon.recordTokens(tokens, Date.now() - started);
        return row;
      });
    } catch (error) {
      if (stopped() && error instanceof DaemonError && error.code === "Cancelled") throw stop.reason;
      if (!(error instanceof DaemonError && error.code === "Busy")) throw error;
      if (!told) daemon.log(`client ${ctx.client}: aad/pairs: the queue is full (${error.data.queueDepth ?? "?"} jobs waiting); the next row waits, asking again every ${BUSY_RETRY_MS} ms`);
      told = true;
      await sleep(BUSY_RETRY_MS, stop);
    }
  }
}

/**
 * The row's signal without the client's cancellation or disconnection (the scheduler aborts a
 * running job for both): the row in progress is finished and written; a shutdown still aborts it.
 */
function unlessCancelled(signal: AbortSignal): AbortSignal {
  const controller = new AbortController();
  const forward = (): void => {
    const reason: unknown = signal.reason;
    if (!(reason instanceof DaemonError && reason.code === "Cancelled")) controller.abort(reason);
  };
  if (signal.aborted) forward();
  else signal.addEventListener("abort", forward, { once: true });
  return controller.signal;
}

/** The job's stop signal as the CancellationToken the scheduler's runJob takes. */
function tokenOf(signal: AbortSignal): CancellationToken {
  return {
    get isCancellationRequested() {
      return signal.aborted;
    },
    onCancellationRequested: (listener: (e: unknown) => unknown) => {
      const handler = (): void => void listener(undefined);
      signal.addEventListener("abort", handler, { once: true });
      return { dispose: () => signal.removeEventListener("abort", handler) };
    },
  };
}

function tokensOf(row: unknown): number {
  const counts = (row as { meta?: { tokens?: { chosen?: unknown; rejected?: unknown } } } | undefined)?.meta?.tokens;
  return typeof counts?.chosen === "number" && typeof counts.rejected === "number" ? counts.chosen + counts.rejected : 0;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolvePromise) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolvePromise();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Work-done progress: "begin" at the first count (the resume point), "report" per prompt, "end" once. */
class ProgressReporter {
  #last: PairsCounts | undefined;
  #ended = false;

  constructor(private readonly send: ((value: PairsProgress) => void) | undefined) {}

  get counts(): PairsCounts | undefined {
    return this.#last;
  }

  report(progress: PairsRunProgress): void {
    const counts: PairsCounts = { done: progress.done, total: progress.total, written: progress.written, skippedEqual: progress.skippedEqual, resumedAt: progress.resumedAt };
    const first = this.#last === undefined;
    this.#last = counts;
    const message = describeCounts(counts);
    const percentage = counts.total === 0 ? 100 : Math.floor((100 * counts.done) / counts.total);
    this.send?.(first ? { kind: "begin", title: PROGRESS_TITLE, cancellable: true, message, percentage, counts } : { kind: "report", cancellable: true, message, percentage, counts });
  }

  /** Ends the progress, when it began. */
  end(message: string): void {
    if (this.#last === undefined || this.#ended) return;
    this.#ended = true;
    this.send?.({ kind: "end", message, counts: this.#last });
  }
}

function describeCounts(counts: PairsCounts): string {
  const skipped = counts.skippedEqual > 0 ? `, ${counts.skippedEqual} skipped (chosen = rejected)` : "";
  const resumed = counts.resumedAt > 0 ? `; resumed at prompt ${counts.resumedAt + 1}` : "";
  return `${counts.done}/${counts.total} prompts, ${counts.written} pairs${skipped}${resumed}`;
}

function pick<T extends object, K extends keyof T>(object: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (object[key] !== undefined) picked[key] = object[key];
  return picked;
}
