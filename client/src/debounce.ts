/**
 * Waiting for the typist to pause. Inline completion waits this long after a keystroke before it
 * asks the model; VS Code cancels the request at the next keystroke, which ends the wait early.
 * No `vscode` import: inline.ts turns a CancellationToken into an AbortSignal.
 */

/** Resolves true after `ms` milliseconds, or false as soon as `signal` aborts (at once if it already has). */
export function quietFor(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Calls `run` once calls to `trigger` have paused for `ms`; a trigger during the wait restarts it.
 * Used for settings changes, which arrive as a burst while a settings.json is being edited.
 */
export class Debouncer {
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly ms: number,
    private readonly run: () => void,
  ) {}

  trigger(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.run();
    }, this.ms);
  }

  get pending(): boolean {
    return this.#timer !== undefined;
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
