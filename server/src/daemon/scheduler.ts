/**
 * Who decodes next on the one shared model pair: a bounded priority queue with aging, inline
 * supersession and document affinity. Pure bookkeeping — it never runs or aborts a job itself;
 * the daemon's job runner asks it what to run and aborts what it reports as superseded.
 *
 * - Priority: a pair load first, then interactive generation, then inline completion, then batch
 *   jobs. A queued job gains one level per `agingMs` waited, so a steady stream of interactive
 *   requests cannot starve a batch job forever.
 * - Supersession: an inline request replaces the same client's queued and running inline requests
 *   for the same document — only the newest cursor position is worth decoding.
 * - Affinity: among equally urgent jobs, an inline request for the document decoded last goes
 *   first, so the runtime can reuse that document's KV-cache prefix.
 * - Bounded: a full queue refuses new jobs (the daemon answers Busy) instead of growing.
 */
import type { JobClass } from "../protocol/protocol.ts";

export type SchedulerClass = JobClass | "load";

const BASE_PRIORITY: { readonly [C in SchedulerClass]: number } = { load: 1000, interactive: 2, inline: 1, batch: 0 };

export interface SchedulerOptions {
  /** Jobs that may wait at once (the running job not counted). */
  readonly capacity: number;
  /** A waiting job gains one priority level per this many milliseconds. */
  readonly agingMs: number;
}

export const DEFAULT_SCHEDULER_OPTIONS: SchedulerOptions = { capacity: 64, agingMs: 2000 };

export interface JobRequest<T> {
  readonly class: SchedulerClass;
  /** The connection the job belongs to. */
  readonly client: number;
  /** Inline jobs: the document, so newer requests supersede older ones and affinity applies. */
  readonly document?: string;
  readonly payload: T;
}

export interface Ticket<T> extends JobRequest<T> {
  readonly id: number;
  readonly enqueuedAt: number;
}

export type SubmitOutcome<T> =
  | {
      readonly accepted: true;
      readonly ticket: Ticket<T>;
      /** Queued jobs this one replaced: they are no longer in the queue. */
      readonly supersededQueued: readonly Ticket<T>[];
      /** The running job, when this one supersedes it: abort it. */
      readonly supersededRunning: Ticket<T> | undefined;
    }
  | { readonly accepted: false; readonly queueDepth: number };

export class Scheduler<T> {
  private readonly queue: Ticket<T>[] = [];
  private current: Ticket<T> | undefined;
  private lastDocumentKey: string | undefined;
  private nextId = 1;
  readonly options: SchedulerOptions;

  constructor(options: Partial<SchedulerOptions> = {}) {
    this.options = { ...DEFAULT_SCHEDULER_OPTIONS, ...options };
    if (!(Number.isInteger(this.options.capacity) && this.options.capacity >= 1)) throw new RangeError(`capacity must be an integer ≥ 1, got ${this.options.capacity}`);
    if (!(this.options.agingMs > 0)) throw new RangeError(`agingMs must be > 0, got ${this.options.agingMs}`);
  }

  get running(): Ticket<T> | undefined {
    return this.current;
  }

  get depth(): number {
    return this.queue.length;
  }

  get queued(): readonly Ticket<T>[] {
    return this.queue;
  }

  depthOf(jobClass: SchedulerClass): number {
    return this.queue.filter((ticket) => ticket.class === jobClass).length;
  }

  submit(request: JobRequest<T>, now: number): SubmitOutcome<T> {
    const key = supersessionKey(request);
    const supersededQueued = key === undefined ? [] : this.removeWhere((ticket) => supersessionKey(ticket) === key);
    if (this.queue.length >= this.options.capacity) {
      // The superseded jobs stay removed: the client asked for something newer anyway.
      return { accepted: false, queueDepth: this.queue.length };
    }
    const ticket: Ticket<T> = { ...request, id: this.nextId++, enqueuedAt: now };
    this.queue.push(ticket);
    const supersededRunning = key !== undefined && this.current !== undefined && supersessionKey(this.current) === key ? this.current : undefined;
    return { accepted: true, ticket, supersededQueued, supersededRunning };
  }

  /** The job to run next, now marked running; undefined when one is running or none waits. */
  take(now: number): Ticket<T> | undefined {
    if (this.current !== undefined || this.queue.length === 0) return undefined;
    let best = 0;
    for (let i = 1; i < this.queue.length; i++) {
      if (this.runsBefore(this.queue[i]!, this.queue[best]!, now)) best = i;
    }
    const [ticket] = this.queue.splice(best, 1);
    this.current = ticket;
    return ticket;
  }

  /** The running job ended (whatever the outcome). */
  finish(ticket: Ticket<T>): void {
    if (this.current?.id !== ticket.id) throw new Error(`job ${ticket.id} is not the running job`);
    this.current = undefined;
    if (ticket.class === "inline") this.lastDocumentKey = supersessionKey(ticket);
    else if (ticket.class === "load") this.lastDocumentKey = undefined;
  }

  /** Removes a queued job (a cancelled request); undefined when it is not queued. */
  remove(id: number): Ticket<T> | undefined {
    return this.removeWhere((ticket) => ticket.id === id)[0];
  }

  /** Removes every queued job of a client (it disconnected). */
  removeClient(client: number): Ticket<T>[] {
    return this.removeWhere((ticket) => ticket.client === client);
  }

  /** Removes every queued job (shutdown). */
  drain(): Ticket<T>[] {
    return this.queue.splice(0, this.queue.length);
  }

  effectivePriority(ticket: Ticket<T>, now: number): number {
    return BASE_PRIORITY[ticket.class] + Math.floor(Math.max(0, now - ticket.enqueuedAt) / this.options.agingMs);
  }

  private runsBefore(a: Ticket<T>, b: Ticket<T>, now: number): boolean {
    const pa = this.effectivePriority(a, now);
    const pb = this.effectivePriority(b, now);
    if (pa !== pb) return pa > pb;
    const affineA = this.isAffine(a);
    const affineB = this.isAffine(b);
    if (affineA !== affineB) return affineA;
    return a.enqueuedAt !== b.enqueuedAt ? a.enqueuedAt < b.enqueuedAt : a.id < b.id;
  }

  private isAffine(ticket: Ticket<T>): boolean {
    return this.lastDocumentKey !== undefined && supersessionKey(ticket) === this.lastDocumentKey;
  }

  private removeWhere(predicate: (ticket: Ticket<T>) => boolean): Ticket<T>[] {
    const removed: Ticket<T>[] = [];
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (predicate(this.queue[i]!)) removed.unshift(...this.queue.splice(i, 1));
    }
    return removed;
  }
}

function supersessionKey(request: JobRequest<unknown>): string | undefined {
  return request.class === "inline" && request.document !== undefined ? `${request.client}\u0000${request.document}` : undefined;
}
