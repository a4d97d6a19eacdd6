/**
 * The state every client shares: the loaded pair, the job queue that serialises work on it, the
 * connected sessions, and the numbers `aad/status` reports. Sessions (session.ts) turn requests
 * into jobs here; transports (transport.ts) create sessions.
 */
import { resolve } from "node:path";
import type { CancellationToken } from "vscode-languageserver/node";
import {
  pairChanged,
  PROTOCOL_VERSION,
  type InlineCompletionStats,
  type JobClass,
  type LoadPairParams,
  type PairInfo,
  type StatusResult,
} from "../protocol/protocol.ts";
import type { Engine, EngineLoader } from "./engine.ts";
import { cancelledByClient, clientDisconnected, DaemonError, shuttingDown, superseded } from "./errors.ts";
import { Scheduler, type SchedulerClass, type SchedulerOptions } from "./scheduler.ts";

export interface DaemonOptions {
  readonly transport: "stdio" | "socket";
  readonly socketPath: string | null;
  readonly idleTimeoutSeconds: number | null;
  readonly loader: EngineLoader;
  readonly scheduler?: Partial<SchedulerOptions>;
  readonly log: (line: string) => void;
}

/** What a session exposes to the daemon. */
export interface SessionHandle {
  readonly id: number;
  notify(method: string, params: unknown): void;
  close(): void;
  /** Waits until every request the client sent has been answered and the answers written, then closes. */
  closeWhenAnswered(): Promise<void>;
}

interface Job {
  readonly method: string;
  readonly controller: AbortController;
  startedAt: number | undefined;
  /** Runs the work; never rejects. */
  start(): Promise<void>;
  /** Rejects the request without running it (superseded or cancelled while queued). */
  fail(error: unknown): void;
}

interface JobSpec {
  readonly class: SchedulerClass;
  readonly client: number;
  readonly method: string;
  readonly document?: string;
  /**
   * A cancellation while the job runs does not abort it: the work finishes its step (aad/pairs:
   * the row in progress is written). A queued job is still removed at once.
   */
  readonly finishOnCancel?: boolean;
}

const RATE_WINDOW_MS = 60_000;
/**
 * How long a shutdown waits for the requests in flight to be answered (the running job stops
 * within a decoding step of its abort) before it closes the connections regardless.
 */
const SHUTDOWN_GRACE_MS = 5_000;

export class Daemon {
  private engineValue: Engine | undefined;
  private loadingParams: LoadPairParams | undefined;
  /** aad/loadPair requests being checked, queued or run. */
  private pendingLoads = 0;
  private readonly scheduler: Scheduler<Job>;
  private readonly sessions = new Map<number, SessionHandle>();
  private readonly recent: { at: number; tokens: number; elapsedMs: number }[] = [];
  private tokensGenerated = 0;
  private lastInline: { readonly engine: Engine | undefined; readonly stats: InlineCompletionStats } | undefined;
  private readonly startedAt = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;
  /** The running job's work, settled once the scheduler has been told it finished. */
  private runningJob: Promise<void> = Promise.resolve();
  private closing = false;
  private nextSessionId = 1;
  /** Called as a shutdown begins, before the pair is freed: stop accepting new clients here. */
  onClosing: () => void = () => undefined;
  /** Called once the daemon has shut down (idle, exit, signal). */
  onShutdown: (code: number) => void = () => undefined;

  constructor(readonly options: DaemonOptions) {
    this.scheduler = new Scheduler<Job>(options.scheduler);
    this.armIdleTimer();
  }

  get engine(): Engine | undefined {
    return this.engineValue;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  log(line: string): void {
    this.options.log(line);
  }

  requireEngine(): Engine {
    const engine = this.engineValue;
    if (engine === undefined) {
      const loading = this.loadingParams === undefined ? "" : " (one is loading; try again when aad/loadPair returns)";
      throw new DaemonError("NoModelLoaded", `No model pair is loaded${loading}. Send aad/loadPair with the SFT and DPO model paths first.`);
    }
    return engine;
  }

  /** Fails a request at once when no pair is loaded and none is on its way. */
  assertPairAvailable(): void {
    if (this.pendingLoads === 0) this.requireEngine();
  }

  // -------------------------------------------------------------------------------------------
  // Sessions

  allocateSessionId(): number {
    return this.nextSessionId++;
  }

  addSession(session: SessionHandle): void {
    this.sessions.set(session.id, session);
    this.disarmIdleTimer();
  }

  /** A client went away: its queued jobs are dropped and its running job aborted. */
  removeSession(id: number): void {
    if (!this.sessions.delete(id)) return;
    for (const ticket of this.scheduler.removeClient(id)) ticket.payload.fail(clientDisconnected());
    const running = this.scheduler.running;
    if (running?.client === id) running.payload.controller.abort(clientDisconnected());
    this.armIdleTimer();
  }

  broadcast(method: string, params: unknown): void {
    for (const session of this.sessions.values()) session.notify(method, params);
  }

  private armIdleTimer(): void {
    const seconds = this.options.idleTimeoutSeconds;
    if (seconds === null || this.sessions.size > 0 || this.closing) return;
    this.disarmIdleTimer();
    this.idleTimer = setTimeout(() => {
      this.log(`no clients for ${seconds} s: shutting down`);
      void this.shutdown(0);
    }, seconds * 1000);
    this.idleTimer.unref();
  }

  private disarmIdleTimer(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Jobs

  /**
   * Queues `work` on the shared pair and settles with its result. The work's signal fires when the
   * client cancels, disconnects, a newer inline request supersedes it, or the daemon shuts down;
   * the request then rejects with that reason.
   */
  runJob<R>(spec: JobSpec, token: CancellationToken | undefined, work: (signal: AbortSignal) => Promise<R>): Promise<R> {
    if (this.closing) return Promise.reject(shuttingDown());
    if (token?.isCancellationRequested === true) return Promise.reject(cancelledByClient());
    return new Promise<R>((resolvePromise, rejectPromise) => {
      const controller = new AbortController();
      // Read through a function: TypeScript would keep `aborted` narrowed across the await below.
      const aborted = (): boolean => controller.signal.aborted;
      let settled = false;
      const cleanup: (() => void)[] = [];
      const settle = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        for (const dispose of cleanup) dispose();
        outcome();
      };
      const job: Job = {
        method: spec.method,
        controller,
        startedAt: undefined,
        fail: (error) => settle(() => rejectPromise(error instanceof Error ? error : new Error(String(error)))),
        start: async () => {
          job.startedAt = Date.now();
          if (aborted()) return job.fail(controller.signal.reason);
          try {
            const result = await work(controller.signal);
            settle(() => resolvePromise(result));
          } catch (error) {
            job.fail(aborted() ? controller.signal.reason : error);
          }
        },
      };
      const outcome = this.scheduler.submit({ class: spec.class, client: spec.client, payload: job, ...(spec.document === undefined ? {} : { document: spec.document }) }, Date.now());
      if (!outcome.accepted) {
        job.fail(new DaemonError("Busy", `The daemon is busy: ${outcome.queueDepth} jobs are waiting for the model pair. Try again shortly.`, { queueDepth: outcome.queueDepth }));
        return;
      }
      for (const old of outcome.supersededQueued) old.payload.fail(superseded());
      outcome.supersededRunning?.payload.controller.abort(superseded());
      const ticketId = outcome.ticket.id;
      const listener = token?.onCancellationRequested(() => {
        if (this.scheduler.remove(ticketId) !== undefined) job.fail(cancelledByClient());
        else if (spec.finishOnCancel !== true) controller.abort(cancelledByClient());
      });
      if (listener !== undefined) cleanup.push(() => listener.dispose());
      this.pump();
    });
  }

  private pump(): void {
    const ticket = this.scheduler.take(Date.now());
    if (ticket === undefined) return;
    this.runningJob = ticket.payload.start().finally(() => {
      this.scheduler.finish(ticket);
      this.pump();
    });
  }

  /** Records decoded tokens and the decoding time they took, for the status's tokens/s. */
  /** The latest inline completion's prompt, for aad/status (forgotten when the pair changes). */
  recordInline(stats: InlineCompletionStats): void {
    this.lastInline = { engine: this.engineValue, stats };
  }

  recordTokens(tokens: number, elapsedMs: number): void {
    const now = Date.now();
    this.tokensGenerated += tokens;
    this.recent.push({ at: now, tokens, elapsedMs });
    while (this.recent.length > 0 && this.recent[0]!.at < now - RATE_WINDOW_MS) this.recent.shift();
  }

  // -------------------------------------------------------------------------------------------
  // The pair

  async loadPair(params: LoadPairParams, client: number, token: CancellationToken | undefined): Promise<PairInfo> {
    const wanted = normalizeLoad(params);
    const current = this.engineValue;
    if (current !== undefined && sameLoad(current.loadedWith, wanted)) return { ...current.info, reused: true };
    this.pendingLoads++;
    try {
      // Header checks first, outside the queue: a wrong path must not unload the pair others use.
      const check = new AbortController();
      const listener = token?.onCancellationRequested(() => check.abort(cancelledByClient()));
      try {
        await this.options.loader.check(wanted, check.signal);
      } finally {
        listener?.dispose();
      }
      return await this.loadInQueue(wanted, client, token);
    } finally {
      this.pendingLoads--;
    }
  }

  private loadInQueue(wanted: LoadPairParams, client: number, token: CancellationToken | undefined): Promise<PairInfo> {
    return this.runJob({ class: "load", client, method: "aad/loadPair" }, token, async (signal) => {
      const now = this.engineValue;
      if (now !== undefined && sameLoad(now.loadedWith, wanted)) return { ...now.info, reused: true };
      this.loadingParams = wanted;
      try {
        if (now !== undefined) {
          // One pair in memory at a time: two 7B pairs at once is how a machine runs out of memory.
          this.engineValue = undefined;
          await now.dispose();
          this.broadcast(pairChanged.method, { pair: null });
        }
        const engine = await this.options.loader.load(wanted, signal);
        if (signal.aborted) {
          await engine.dispose();
          throw signal.reason;
        }
        this.engineValue = engine;
        const info: PairInfo = { ...engine.info, reused: false };
        this.log(`loaded pair: sft ${info.sft.path}, dpo ${info.dpo.path} (${info.loadMs} ms)`);
        this.broadcast(pairChanged.method, { pair: info });
        return info;
      } finally {
        this.loadingParams = undefined;
      }
    });
  }

  status(): StatusResult {
    const now = Date.now();
    const running = this.scheduler.running;
    const windowed = this.recent.filter((r) => r.at >= now - RATE_WINDOW_MS);
    const tokens = windowed.reduce((sum, r) => sum + r.tokens, 0);
    const elapsed = windowed.reduce((sum, r) => sum + r.elapsedMs, 0);
    const classes: JobClass[] = ["interactive", "inline", "batch"];
    return {
      protocolVersion: PROTOCOL_VERSION,
      pid: process.pid,
      uptimeMs: now - this.startedAt,
      transport: this.options.transport,
      socketPath: this.options.socketPath,
      pair: this.engineValue === undefined ? null : { ...this.engineValue.info, reused: false },
      loading: this.loadingParams ?? null,
      queue: {
        depth: this.scheduler.depth,
        capacity: this.scheduler.options.capacity,
        byClass: Object.fromEntries(classes.map((c) => [c, this.scheduler.depthOf(c)])) as Record<JobClass, number>,
        running: running === undefined ? null : { class: running.class, method: running.payload.method, elapsedMs: now - (running.payload.startedAt ?? now) },
      },
      recentTokensPerSecond: elapsed > 0 ? (tokens * 1000) / elapsed : null,
      tokensGenerated: this.tokensGenerated,
      clients: this.sessions.size,
      idleTimeoutSeconds: this.options.idleTimeoutSeconds,
      rssBytes: process.memoryUsage.rss(),
      inline: this.engineValue === undefined ? null : { ...this.engineValue.inlineMode, last: this.lastInline?.engine === this.engineValue ? this.lastInline.stats : null },
    };
  }

  // -------------------------------------------------------------------------------------------

  /**
   * Stops everything: queued jobs fail, the running one is aborted, every request is answered
   * (ShuttingDown, for those that were waiting or running), clients are closed, the pair freed.
   */
  async shutdown(code: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    // A client that connects now would reach a daemon about to exit (a restart would find the old
    // process still answering while its pair is freed): refuse new connections first.
    this.onClosing();
    this.disarmIdleTimer();
    for (const ticket of this.scheduler.drain()) ticket.payload.fail(shuttingDown());
    this.scheduler.running?.payload.controller.abort(shuttingDown());
    // Closing a connection at once would drop the answers still to be written, and a client would
    // wait forever for them; freeing the pair under the running job would pull it from under a
    // native decode. Both wait, a bounded while, for the requests to be answered.
    const sessions = [...this.sessions.values()];
    await withinGrace(Promise.all([this.runningJob, ...sessions.map((session) => session.closeWhenAnswered())]), SHUTDOWN_GRACE_MS, (pending) => this.log(`shutting down: requests still unanswered after ${pending} ms; closing their connections`));
    for (const session of sessions) session.close();
    const engine = this.engineValue;
    this.engineValue = undefined;
    try {
      await engine?.dispose();
    } catch (error) {
      this.log(`disposing the pair failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.onShutdown(code);
  }
}

/** Waits for `promise`, or `ms` at most (then calls `late`). */
async function withinGrace(promise: Promise<unknown>, ms: number, late: (ms: number) => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<"expired">((resolve) => {
    timer = setTimeout(() => resolve("expired"), ms);
  });
  try {
    if ((await Promise.race([promise.then(() => "settled" as const, () => "settled" as const), expired])) === "expired") late(ms);
  } finally {
    clearTimeout(timer);
  }
}

function normalizeLoad(params: LoadPairParams): LoadPairParams {
  const path = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(p));
  return Object.fromEntries(
    Object.entries({ ...params, sft: path(params.sft), dpo: path(params.dpo), dpoLora: path(params.dpoLora), reference: path(params.reference) }).filter(([, v]) => v !== undefined),
  ) as unknown as LoadPairParams;
}

function sameLoad(a: LoadPairParams, b: LoadPairParams): boolean {
  const keys: (keyof LoadPairParams)[] = ["sft", "dpo", "dpoLora", "reference", "contextSize", "gpu", "gpuLayers"];
  return keys.every((key) => a[key] === b[key]);
}
