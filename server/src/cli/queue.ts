/**
 * `aad pairs` over a Redis-backed queue (server/src/queue): `aad pairs --queue URL --job NAME`
 * enqueues, `aad worker` decodes rows, `aad pairs status` and `aad pairs collect` report and
 * write the file, `aad pairs clean` removes the run from Redis afterwards. This file is the flags,
 * the displays and the exit codes.
 *
 * Exit codes of `collect`: 0 the file is complete, 1 rows failed (named on stderr), 3 rows are
 * still queued or running (run it again, or with --wait).
 */
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { modelProvenance, readPrompts, resolveSettings } from "../pairs/index.ts";
import { checkJobName, cleanRun, collectRun, connectOnce, DEFAULT_LOCK_SECONDS, describeFailedRows, enqueueRun, parseQueueUrl, provenancePath, runPairsWorker, runStatus, type CleanResult, type CollectResult, type RunStatus } from "../queue/index.ts";
import { builtinPair } from "../runtime/builtin-pair.ts";
import type { ModelPair } from "../runtime/index.ts";
import { progressDisplay, type CommandKit, type PairsFlags } from "./pairs.ts";

export const EXIT_ROWS_PENDING = 3;

/** `aad pairs --queue URL --job NAME --prompts FILE [settings]`: the run becomes one job per prompt. */
export async function enqueueCommand(flags: PairsFlags, kit: CommandKit): Promise<void> {
  if (flags.job === undefined) throw new kit.UsageError("--queue needs --job NAME: the run's name in the queue, which workers, status and collect refer to");
  if (flags.out !== undefined) throw new kit.UsageError(`--out is for a local run; with --queue, write the file with \`aad pairs collect --queue ${flags.queue} --job ${flags.job} --out ${flags.out}\``);
  const location = parseQueueUrl(flags.queue!);
  checkJobName(flags.job); // before the model files are hashed
  const settings = resolveSettings({ ...flags, ...(flags.limit !== undefined ? { limit: flags.limit } : {}) });
  const records = await readPrompts(flags.prompts!);
  const prompts = flags.limit === undefined ? records : records.slice(0, flags.limit);
  const models = await modelProvenance(pairFiles(flags, kit));
  const result = await enqueueRun({ location, job: flags.job, promptsFile: flags.prompts!, prompts, settings, models });
  const lines = [
    `job:      "${result.job}" in ${location.display}`,
    `rows:     ${result.total} (${result.added} added${result.existed ? "; the job was enqueued before" : ""})`,
    ...(result.retried > 0 ? [`retried:  ${result.retried} failed rows sent back to the workers`] : []),
    `next:     aad worker --queue ${location.display} [the same model flags]  (on each machine)`,
    `          aad pairs status --queue ${location.display} --job ${result.job}`,
    `          aad pairs collect --queue ${location.display} --job ${result.job} --out FILE.jsonl`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

/** The model files the flags name, for their hashes; the same rules as loading them, without loading. */
function pairFiles(flags: PairsFlags, kit: CommandKit): { sft: string; dpo?: string; dpoLora?: string } {
  if (flags.dpo !== undefined && flags.dpoLora !== undefined) throw new kit.UsageError("give either --dpo or --dpo-lora, not both");
  if (flags.sft === undefined) {
    if (flags.dpo !== undefined || flags.dpoLora !== undefined) throw new kit.UsageError("--dpo/--dpo-lora need --sft (the model the DPO model was trained from)");
    const builtin = builtinPair();
    return { sft: builtin.sft, dpo: builtin.dpo };
  }
  if (flags.dpo !== undefined) return { sft: flags.sft, dpo: flags.dpo };
  if (flags.dpoLora !== undefined) return { sft: flags.sft, dpoLora: flags.dpoLora };
  throw new kit.UsageError("--sft needs --dpo FILE or --dpo-lora FILE");
}

interface WorkerFlags extends Omit<PairsFlags, "prompts" | "out" | "rejected" | "topP" | "temperature" | "alpha" | "maxTokens" | "seed"> {
  queue: string;
  job?: string;
  concurrency: number;
  lockSeconds: number;
}

interface QueueFlags {
  queue: string;
  job: string;
}

export function registerQueueCommands(program: Command, pairs: Command, kit: CommandKit): void {
  const { number } = kit;
  kit
    .pairOptions(
      program
        .command("worker")
        .description("decode rows of `aad pairs --queue` runs from Redis with this machine's model pair (runs enqueued for another pair are refused by name)")
        .requiredOption("--queue <url>", "the Redis holding the runs: redis://HOST:PORT/DB")
        .option("--job <name>", "take rows of this run only (and fail if it needs another pair); default: every run in the database")
        .option("--concurrency <n>", "rows decoded at once; each loads its own copy of the pair", number("--concurrency", (x) => Number.isInteger(x) && x >= 1 && x <= 64, "an integer from 1 to 64"), 1)
        .option(
          "--lock-seconds <s>",
          "how long a row stays claimed by a worker that stopped answering (killed, cut off) before another worker redoes it",
          number("--lock-seconds", (x) => x >= 1 && x <= 86_400, "from 1 to 86400"),
          DEFAULT_LOCK_SECONDS,
        ),
    )
    .action(async (flags: WorkerFlags) => {
      const location = parseQueueUrl(flags.queue);
      const controller = new AbortController();
      const stop = () => {
        if (controller.signal.aborted) process.exit(130);
        process.stderr.write("aad worker: finishing the rows in progress, then stopping (again to quit at once)\n");
        controller.abort();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
      const log = (line: string) => process.stderr.write(`aad worker: ${line}\n`);
      (await connectOnce(location)).disconnect(); // a wrong or dead URL is an error before any model loads
      await withPairs(kit, flags, flags.concurrency, async (loaded) => {
        const models = await modelProvenance(loaded[0]!.info.files);
        log(`loaded ${loaded.length} × ${Object.values(models).map((model) => model.file).join(" + ")}`);
        await runPairsWorker({ location, pairs: loaded, models, lockSeconds: flags.lockSeconds, log, signal: controller.signal, ...(flags.job !== undefined ? { job: flags.job } : {}) });
      });
    });

  pairs
    .command("status")
    .description("rows of a queued run done, running, failed and waiting, with rows/s and ETA")
    .requiredOption("--queue <url>", "the Redis holding the run: redis://HOST:PORT/DB")
    .requiredOption("--job <name>", "the run's name, as given to `aad pairs --queue`")
    .option("--watch", "keep the display up to date until every row is done or failed")
    .action(async (flags: QueueFlags & { watch?: boolean }) => {
      const location = parseQueueUrl(flags.queue);
      let status = await runStatus(location, flags.job);
      const stream = process.stdout;
      if (stream.isTTY) {
        const bar = new cliProgress.SingleBar(
          { stream, format: "rows {bar} {value}/{total} done | {running} running, {failed} failed, {waiting} waiting | {workers} workers | {rate} rows/s | ETA {timeLeft}", hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
        bar.start(status.total, status.done, barPayload(status));
        const signal = kit.interruptSignal();
        while (flags.watch === true && !finished(status) && !signal.aborted) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
          status = await runStatus(location, flags.job);
          bar.update(status.done, barPayload(status));
        }
        bar.stop();
      } else {
        stream.write(statusText(status, location.display));
        while (flags.watch === true && !finished(status)) {
          await new Promise((resolve) => setTimeout(resolve, 5000));
          status = await runStatus(location, flags.job);
          stream.write(statusText(status, location.display));
        }
      }
      if (status.failedRows.length > 0) process.stderr.write(describeFailedRows(status.job, status.promptsFile, status.failedRows));
    });

  pairs
    .command("collect")
    .description("write a queued run's rows in prompt order: the same resumable JSON Lines a local `aad pairs` run writes, byte for byte")
    .requiredOption("--queue <url>", "the Redis holding the run: redis://HOST:PORT/DB")
    .requiredOption("--job <name>", "the run's name, as given to `aad pairs --queue`")
    .requiredOption("--out <file>", "output .jsonl; an existing file is resumed after its last complete row")
    .option("--wait", "wait for rows still queued or running instead of stopping at the first one")
    .action(async (flags: QueueFlags & { out: string; wait?: boolean }) => {
      if (!flags.out.endsWith(".jsonl")) throw new kit.UsageError(`--out must name a .jsonl file, got "${flags.out}"`);
      const location = parseQueueUrl(flags.queue);
      const display = progressDisplay(process.stderr);
      let result: CollectResult;
      try {
        result = await collectRun({ location, job: flags.job, out: flags.out, wait: flags.wait ?? false, signal: kit.interruptSignal(), onProgress: display.update });
      } finally {
        display.stop();
      }
      process.stdout.write(collectSummary(result));
      if (result.failed.length > 0) {
        process.stderr.write(describeFailedRows(flags.job, result.promptsFile, result.failed));
        process.exitCode = 1;
      } else if (result.done < result.total) process.exitCode = EXIT_ROWS_PENDING;
    });

  pairs
    .command("clean")
    .description("remove a queued run from Redis (its rows, results, manifest and worker records) once `aad pairs collect` has written every row")
    .requiredOption("--queue <url>", "the Redis holding the run: redis://HOST:PORT/DB")
    .requiredOption("--job <name>", "the run's name, as given to `aad pairs --queue`")
    .option("--force", "remove it even while rows are running or before a complete collect (their results are lost)")
    .action(async (flags: QueueFlags & { force?: boolean }) => {
      const location = parseQueueUrl(flags.queue);
      const result = await cleanRun({ location, job: flags.job, force: flags.force === true });
      process.stdout.write(cleanSummary(result, location.display));
    });
}

function cleanSummary(result: CleanResult, display: string): string {
  const { rows } = result;
  const lines = [
    `removed:  job "${result.job}" from ${display}`,
    `rows:     ${rows.done} done, ${rows.failed} failed, ${rows.running} running, ${rows.waiting} waiting (with their results)`,
    `workers:  ${result.workers} record${result.workers === 1 ? "" : "s"}`,
    `collected: ${result.collected === undefined ? "no (removed with --force)" : `to ${result.collected.out} (${result.collected.rows} rows, ${result.collected.at})`}`,
  ];
  return lines.join("\n") + "\n";
}

/** Loads `count` copies of the pair the flags name, disposing of all of them afterwards. */
async function withPairs<T>(kit: CommandKit, flags: WorkerFlags, count: number, run: (pairs: ModelPair[]) => Promise<T>): Promise<T> {
  const flagsForPair = flags as unknown as PairsFlags;
  const load = (left: number, loaded: ModelPair[]): Promise<T> => (left === 0 ? run(loaded) : kit.withPair(flagsForPair, (pair) => load(left - 1, [...loaded, pair])));
  return load(count, []);
}

const finished = (status: RunStatus) => status.done + status.failed >= status.total;

function barPayload(status: RunStatus): Record<string, string | number> {
  return { workers: status.workers.filter((worker) => worker.connected).length, running: status.running, failed: status.failed, waiting: status.waiting, rate: status.rowsPerSecond?.toFixed(2) ?? "–", timeLeft: finished(status) ? "finished" : status.etaSeconds === undefined ? "–" : formatSeconds(status.etaSeconds) };
}

function statusText(status: RunStatus, display: string): string {
  const rate = status.rowsPerSecond === undefined ? "– (fewer than 2 rows done)" : `${status.rowsPerSecond.toFixed(2)} rows/s (latest completions)`;
  const lines = [
    `job:      "${status.job}" in ${display} (${status.total} prompts from ${status.promptsFile})`,
    `done:     ${status.done}/${status.total}`,
    `running:  ${status.running}`,
    `failed:   ${status.failed}`,
    `waiting:  ${status.waiting}`,
    ...(status.missing > 0 ? [`missing:  ${status.missing} (not in the queue: enqueue the run again to add them back)`] : []),
    `rate:     ${rate}`,
    `ETA:      ${finished(status) ? "finished" : status.etaSeconds === undefined ? "–" : formatSeconds(status.etaSeconds)}`,
    `workers:  ${status.workers.filter((worker) => worker.connected).length} connected, ${status.workers.length} took rows of this run`,
    ...status.workers.slice(0, 20).map((worker) => `  ${worker.id}  ${worker.connected ? "connected" : "gone     "}  ${worker.concurrency} × ${Object.values(worker.models).map((model) => `${model.file} ${model.sha256.slice(0, 12)}…`).join(" + ")}  since ${worker.since}`),
    ...(status.workers.length > 20 ? [`  … and ${status.workers.length - 20} more`] : []),
  ];
  return lines.join("\n") + "\n";
}

function collectSummary(result: CollectResult): string {
  const resumed = result.resumedRows === 0 ? "no (new output)" : `yes, after ${result.resumedRows} rows (at prompt ${result.resumedAt + 1})`;
  const end =
    result.done >= result.total
      ? `done: ${result.done}/${result.total} prompts`
      : result.failed.length > 0 && result.failed[0]!.index === result.done
        ? `stopped at prompt ${result.done + 1} of ${result.total}: its row failed (see below)`
        : `stopped at prompt ${result.done + 1} of ${result.total}: ${result.pending} rows are not done yet; run collect again later, or with --wait`;
  const lines = [
    `rows written:   ${result.written}`,
    `skipped-equal:  ${result.skippedEqual} (chosen = rejected)`,
    `resumed from:   ${resumed}`,
    ...(result.droppedBytes > 0 ? [`torn last line: ${result.droppedBytes} bytes dropped (a killed run's unfinished row)`] : []),
    `output:         ${result.out} (${result.resumedRows + result.written} rows)`,
    `provenance:     ${provenancePath(result.out)} (${result.provenance.workers.length} worker${result.provenance.workers.length === 1 ? "" : "s"})`,
    end,
  ];
  return lines.join("\n") + "\n";
}

function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
