/**
 * One model's side of a decoding run: its context sequence, the tokens queued for it, and the
 * position handlers riding on those tokens.
 *
 * Tokens are pushed when they are known and evaluated when someone flushes — one native batch for
 * everything queued, each handler running while its position's logits are valid. That is how lazy
 * reference evaluation works: a decoding loop pushes the SFT model's tokens without waiting, and
 * the positions are evaluated later in one batch. A handler may await other work (the SFT model's
 * token set at a step depends on the DPO model's result at that same step): the batch starts
 * decoding at once and only that position's sampling waits, which lets the two models decode
 * concurrently.
 *
 * The lane owns its sequence: all evaluation goes through the lane, one flush at a time.
 */
import type { LlamaContextSequence, LlamaModel } from "node-llama-cpp";
import { ModelRuntimeError, runtimeErrorFrom } from "./errors.ts";
import { checkNativeSamplingSupport, decodeWithSampling, NativeSamplers } from "./native-sampling.ts";
import { PositionLogprobs } from "./step-logprobs.ts";

/**
 * Runs while the logits after a token are valid: measures what it needs (in as many rounds as it
 * likes, and it may await other work between them) and returns what the pusher wants.
 */
export type PositionHandler<T> = (position: PositionLogprobs) => Promise<T>;

interface QueuedToken {
  readonly token: number;
  /** null: evaluate the token, sample nothing after it. */
  readonly handler: PositionHandler<unknown> | null;
  readonly outcome?: Settler<unknown>;
  /** Pushed without anyone waiting for it (the lazy path); read when the position is evaluated. */
  readonly deferred: boolean | (() => boolean);
}

export interface LaneCounters {
  /** Tokens decoded (batch entries). */
  evaluatedTokens: number;
  /** Native decode calls (a flush can need several when the batch is larger than the context's batch size). */
  flushes: number;
  /** Positions sampled. */
  sampledPositions: number;
  /** Deferred positions that were evaluated in a batch with other positions. */
  batchedPositions: number;
  nativeCalls: number;
  /** Positions that fell back to the full distribution. */
  fullDistributions: number;
}

/** What a lane did between two snapshots of its counters. */
export function countersSince(after: LaneCounters, before: LaneCounters): LaneCounters {
  return {
    evaluatedTokens: after.evaluatedTokens - before.evaluatedTokens,
    flushes: after.flushes - before.flushes,
    sampledPositions: after.sampledPositions - before.sampledPositions,
    batchedPositions: after.batchedPositions - before.batchedPositions,
    nativeCalls: after.nativeCalls - before.nativeCalls,
    fullDistributions: after.fullDistributions - before.fullDistributions,
  };
}

export class ModelLane {
  readonly role: string;
  readonly sequence: LlamaContextSequence;
  readonly vocabSize: number;
  readonly #samplers: NativeSamplers;
  #queue: QueuedToken[] = [];
  #tail: Promise<void> = Promise.resolve();
  #running = 0;
  /** Start a flush whenever tokens are queued and none is running (background catch-up). */
  autoFlush = false;
  readonly counters: LaneCounters = { evaluatedTokens: 0, flushes: 0, sampledPositions: 0, batchedPositions: 0, nativeCalls: 0, fullDistributions: 0 };

  constructor(role: string, sequence: LlamaContextSequence, model: LlamaModel, vocabSize: number) {
    checkNativeSamplingSupport(sequence);
    this.role = role;
    this.sequence = sequence;
    this.vocabSize = vocabSize;
    this.#samplers = new NativeSamplers(model, vocabSize);
  }

  /**
   * Starts a request on a fresh prefix: keeps the KV cache of the longest common prefix with what
   * the sequence already holds, erases the rest, and queues `tokens` after it — all but the last,
   * which the caller pushes with its first request (the last token must be evaluated to get
   * logits, so it is never taken from the cache). Returns how many tokens were reused.
   */
  async prepare(tokens: readonly number[]): Promise<number> {
    if (tokens.length === 0) throw new RangeError("a prompt needs at least one token");
    await this.idle();
    this.#withdrawQueue();
    const cached = this.sequence.contextTokens;
    let common = 0;
    while (common < cached.length && common < tokens.length - 1 && cached[common] === tokens[common]) common++;
    if (common < this.sequence.nextTokenIndex) {
      try {
        await this.sequence.eraseContextTokenRanges([{ start: common, end: this.sequence.nextTokenIndex }]);
      } catch (error) {
        throw runtimeErrorFrom(error, "EvaluationFailed", `reset the ${this.role} model's context`);
      }
    }
    for (const token of tokens.slice(common, -1)) this.#queue.push({ token, handler: null, deferred: false });
    return common;
  }

  /**
   * Queues a token. With a handler, resolves to the handler's result once a flush has evaluated the
   * token and run it (null when the queue was withdrawn first). `deferred` marks a position nobody
   * waits for (counted as batched when it is evaluated together with others); a function is asked
   * when the position is evaluated, for callers that learn it later.
   */
  push<T>(token: number, handler: PositionHandler<T>, deferred?: boolean | (() => boolean)): Promise<T | null>;
  push(token: number): void;
  push<T>(token: number, handler?: PositionHandler<T>, deferred: boolean | (() => boolean) = false): Promise<T | null> | undefined {
    const outcome = handler === undefined ? undefined : settler<T | null>();
    this.#queue.push({ token, handler: handler ?? null, ...(outcome === undefined ? {} : { outcome }), deferred });
    if (this.autoFlush && this.#running === 0) this.flush().catch(() => undefined);
    return outcome?.promise;
  }

  /**
   * Evaluates everything queued when the flush starts (after any flush already running), in one
   * batch. Rejects if the evaluation failed; the positions' promises reject too.
   */
  flush(): Promise<void> {
    this.#running++;
    const run = this.#tail
      .then(() => this.#flushQueue())
      .finally(() => {
        this.#running--;
        if (this.autoFlush && this.#running === 0 && this.#queue.length > 0) this.flush().catch(() => undefined);
      });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Resolves when no flush is running (never rejects). */
  idle(): Promise<void> {
    return this.#tail;
  }

  /**
   * Drops the queue (an aborted or failed request): its tokens were never evaluated, so the
   * sequence stays consistent; pending positions resolve to null.
   */
  async abandon(): Promise<void> {
    this.autoFlush = false;
    this.#withdrawQueue();
    await this.idle();
    this.#withdrawQueue();
  }

  dispose(): void {
    this.#withdrawQueue();
    this.#samplers.dispose();
  }

  #withdrawQueue(): void {
    for (const item of this.#queue.splice(0)) item.outcome?.resolve(null);
  }

  async #flushQueue(): Promise<void> {
    const items = this.#queue.splice(0);
    if (items.length === 0) return;
    const free = this.sequence.contextSize - 1 - this.sequence.nextTokenIndex;
    if (items.length > free) {
      const error = new ModelRuntimeError(
        "PromptTooLong",
        `The ${this.role} model's context (${this.sequence.contextSize} tokens) cannot take ${items.length} more tokens after ${this.sequence.nextTokenIndex}: use a shorter prompt, fewer tokens, or a larger contextSize.`,
      );
      for (const item of items) item.outcome?.reject(error);
      throw error;
    }
    const sampled = items.filter((item) => item.handler !== null).length;
    try {
      await decodeWithSampling(
        this.sequence,
        this.#samplers,
        items.map((item) => item.token),
        items.map((item) => item.handler !== null),
        async (index, sampleAt) => {
          const item = items[index]!;
          try {
            const position = new PositionLogprobs(sampleAt, { vocabSize: this.vocabSize });
            const result = await item.handler!(position).finally(() => position.idle());
            if (position.nativeCalls > 0) this.counters.sampledPositions++;
            this.counters.nativeCalls += position.nativeCalls;
            if (position.full) this.counters.fullDistributions++;
            const deferred = typeof item.deferred === "function" ? item.deferred() : item.deferred;
            if (deferred && sampled > 1) this.counters.batchedPositions++;
            item.outcome?.resolve(result);
          } catch (error) {
            item.outcome?.reject(error);
            throw error;
          }
        },
      );
    } catch (error) {
      const wrapped = runtimeErrorFrom(error, "EvaluationFailed", `evaluate ${items.length} token(s) on the ${this.role} model`);
      for (const item of items) item.outcome?.reject(wrapped);
      throw wrapped;
    }
    this.counters.evaluatedTokens += items.length;
    this.counters.flushes++;
  }
}

interface Settler<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** A promise with its settle functions; never reported as an unhandled rejection. */
export function settler<T>(): Settler<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
