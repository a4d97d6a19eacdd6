/**
 * The queue suite's `aad` command lines in one place: enqueue, worker, status, collect and clean
 * against one Redis URL, with the suite's model flags and decoding settings, and the worker's log
 * lines parsed into row events.
 */
import { AadProcess } from "./support.ts";

export interface QueueCliOptions {
  /** --sft/--dpo (or --dpo-lora) and --threads, as every model-loading command takes them. */
  readonly pairFlags: readonly string[];
  /** The run's decoding settings (--max-tokens, --seed …), for `aad pairs` local and queued. */
  readonly settings: readonly string[];
  /** Workers' --lock-seconds. Default 3: a killed worker's row comes back quickly. */
  readonly lockSeconds?: number;
}

export class QueueCli {
  constructor(
    readonly url: string,
    readonly options: QueueCliOptions,
  ) {}

  /** The same commands against another URL (a bad one, say). */
  at(url: string): QueueCli {
    return new QueueCli(url, this.options);
  }

  /** `aad pairs` run here, without a queue: the reference bytes. */
  local(prompts: string, out: string, extra: readonly string[] = []) {
    return AadProcess.run(["pairs", "--prompts", prompts, "--out", out, ...this.options.pairFlags, ...this.options.settings, ...extra]);
  }

  enqueue(job: string, prompts: string, extra: readonly string[] = []) {
    return AadProcess.run(["pairs", "--queue", this.url, "--job", job, "--prompts", prompts, ...this.options.pairFlags, ...this.options.settings, ...extra]);
  }

  /** Starts a worker; `pairFlags` replaces the suite's pair (a mismatched worker). */
  worker(extra: readonly string[] = [], pairFlags: readonly string[] = this.options.pairFlags): AadProcess {
    return new AadProcess(["worker", "--queue", this.url, ...pairFlags, "--lock-seconds", String(this.options.lockSeconds ?? 3), ...extra]);
  }

  /** Runs a worker to its exit (one that is refused, or stops when its job is removed). */
  workerRun(extra: readonly string[] = [], pairFlags: readonly string[] = this.options.pairFlags) {
    return AadProcess.run(["worker", "--queue", this.url, ...pairFlags, "--lock-seconds", String(this.options.lockSeconds ?? 3), ...extra]);
  }

  status(job: string, extra: readonly string[] = []) {
    return AadProcess.run(["pairs", "status", "--queue", this.url, "--job", job, ...extra]);
  }

  collect(job: string, out: string, extra: readonly string[] = []) {
    return AadProcess.run(["pairs", "collect", "--queue", this.url, "--job", job, "--out", out, ...extra]);
  }

  clean(job: string, extra: readonly string[] = []) {
    return AadProcess.run(["pairs", "clean", "--queue", this.url, "--job", job, ...extra]);
  }
}

/** One "row … started/done on pair N" line of a worker's log. */
export interface RowEvent {
  readonly event: "started" | "done";
  /** The row's job id, `<job>.<prompt index>`. */
  readonly row: string;
  /** Which of the worker's loaded pairs (from 1). */
  readonly pair: number;
}

export function rowEvents(worker: AadProcess, job?: string): RowEvent[] {
  const events: RowEvent[] = [];
  for (const match of worker.stderr.matchAll(/^aad worker: row (\S+) (started|done) on pair (\d+)/gm)) {
    const row = match[1]!;
    if (job === undefined || row.startsWith(`${job}.`)) events.push({ event: match[2] as RowEvent["event"], row, pair: Number(match[3]) });
  }
  return events;
}

export const doneLines = (worker: AadProcess, job?: string) => rowEvents(worker, job).filter((event) => event.event === "done").length;
