/**
 * When to restart a daemon that died, and when to stop trying: exponential back-off that starts
 * over once a daemon has stayed up for a while, and a limit on deaths within a time window so a
 * daemon that cannot start (a broken install, a model that crashes it) does not loop forever.
 * No `vscode` import; the clock is injectable for tests.
 */

export interface RestartPolicyOptions {
  /** Default 1000. */
  readonly initialDelayMs?: number;
  /** Default 30000. */
  readonly maxDelayMs?: number;
  /** Default 2. */
  readonly factor?: number;
  /** Deaths within `windowMs` after which the policy gives up. Default 5. */
  readonly maxDeaths?: number;
  /** Default 300000 (5 minutes). */
  readonly windowMs?: number;
  /** A daemon that ran this long resets the back-off. Default 60000. */
  readonly stableAfterMs?: number;
}

export type RestartDecision =
  | { readonly restart: true; readonly delayMs: number; readonly attempt: number }
  | { readonly restart: false; readonly deaths: number; readonly windowMs: number };

export class RestartPolicy {
  readonly #options: Required<RestartPolicyOptions>;
  readonly #now: () => number;
  #deaths: number[] = [];
  #consecutive = 0;
  #startedAt: number | undefined;

  constructor(options: RestartPolicyOptions = {}, now: () => number = Date.now) {
    this.#options = {
      initialDelayMs: options.initialDelayMs ?? 1000,
      maxDelayMs: options.maxDelayMs ?? 30_000,
      factor: options.factor ?? 2,
      maxDeaths: options.maxDeaths ?? 5,
      windowMs: options.windowMs ?? 300_000,
      stableAfterMs: options.stableAfterMs ?? 60_000,
    };
    this.#now = now;
  }

  /** A daemon is up and connected. */
  started(): void {
    this.#startedAt = this.#now();
  }

  /** The daemon died (or could not be started): restart after a delay, or give up. */
  died(): RestartDecision {
    const now = this.#now();
    const { initialDelayMs, maxDelayMs, factor, maxDeaths, windowMs, stableAfterMs } = this.#options;
    if (this.#startedAt !== undefined && now - this.#startedAt >= stableAfterMs) this.#consecutive = 0;
    this.#startedAt = undefined;
    this.#deaths = [...this.#deaths.filter((t) => now - t < windowMs), now];
    if (this.#deaths.length >= maxDeaths) return { restart: false, deaths: this.#deaths.length, windowMs };
    const delayMs = Math.min(maxDelayMs, initialDelayMs * factor ** this.#consecutive);
    this.#consecutive++;
    return { restart: true, delayMs, attempt: this.#consecutive };
  }

  /** The user restarted by hand: forget past deaths. */
  reset(): void {
    this.#deaths = [];
    this.#consecutive = 0;
    this.#startedAt = undefined;
  }
}
