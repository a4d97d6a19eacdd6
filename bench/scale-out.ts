/**
 * `npm run bench -- scale-out`: rows per second of `aad pairs` on the built-in pair, decoded by the
 * local path (`generatePreferencePairs`, what `aad pairs --out` runs) and through the Redis queue
 * by 1 and by 2 `aad worker` processes, every pair loaded with --threads 1, measured side by side
 * in interleaved rounds (the order rotates per round). Results in bench/results/scale-out.{md,json}.
 *
 * Both setups are measured the same way. Each run is decoded by fresh processes that have loaded
 * their pair and are then told to start: the local run by bench/scale-out-local.ts, which waits
 * for a line on stdin; a queued run by workers that have taken the run, enqueued paused, until
 * the queue is resumed. Time runs from that start to each row's completion (the local run's
 * progress callback, after the row is written and synced; a queued row's `finishedOn`), on the
 * same clock (Date.now()). While rows run this process only waits, reading the children's
 * output: it does not poll Redis. The headline rate is the steady one, from the `warmRows`-th
 * completion to the last, leaving out the first rows of a fresh process (V8 compiling the
 * decoding loop, the pair's pages touched for the first time), which a long run pays once; the
 * whole-run rate is reported too. Every queued run is collected and compared with the local
 * run's file.
 *
 * Where a queued row's time goes is measured alongside: the CPU of redis-server, of the workers
 * (and of the local run's process) and of this process, the Redis commands per row (INFO
 * commandstats, which counts the commands BullMQ's scripts run as well), and the time a worker
 * spends on a row outside decoding it (the row's finishedOn − processedOn in BullMQ, minus the
 * decode time the worker logs): the previous row's result stored and this row fetched (one
 * script call, with the append-only file synced), the slot handed over and the log lines.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { heldoutPrompts } from "../server/src/forge/world.ts";
import { modelProvenance, parsePrompts, resolveSettings } from "../server/src/pairs/index.ts";
import { collectRun, connectOnce, enqueueRun, parseQueueUrl } from "../server/src/queue/index.ts";
import { rowQueue } from "../server/src/queue/run.ts";
import { QueueCli } from "../test/queue/cli.ts";
import { AadProcess, RedisServer } from "../test/queue/support.ts";
import { builtInPair } from "../test/runtime/support.ts";
import { markdownTable, summarize, writeResults, type Summary } from "./results.ts";
import type { LocalRunReport } from "./scale-out-local.ts";

export interface ScaleOutOptions {
  readonly prompts?: number;
  readonly maxTokens?: number;
  readonly rounds?: number;
  /** Completions left out of the steady rate (start-up of fresh worker processes). Default 20. */
  readonly warmRows?: number;
  readonly log: (line: string) => void;
}

type Setup = "local" | "1 worker" | "2 workers";
const SETUPS: readonly Setup[] = ["local", "1 worker", "2 workers"];

interface Measurement {
  readonly round: number;
  readonly setup: Setup;
  readonly rows: number;
  /** Whole run: from the call (local) or the resume (queued) to the last row's completion. */
  readonly seconds: number;
  readonly rowsPerSecond: number;
  /** From the warmRows-th completion to the last. */
  readonly steadySeconds: number;
  readonly steadyRowsPerSecond: number;
  /** The queued run's collected file equals the local run's (always true for "local"). */
  readonly sameBytes: boolean;
  /** CPU seconds over the whole run: this process, redis-server, the workers (0 for local). */
  readonly cpuSeconds: CpuSeconds;
  /** The same from the warmRows-th completion to the last. */
  readonly steadyCpuSeconds: CpuSeconds;
  readonly queue?: QueueCosts;
}

interface CpuSeconds {
  readonly bench: number;
  readonly redis: number;
  readonly workers: number;
}

interface QueueCosts {
  /** Every command Redis executed during the run (scripts' inner commands included), per row. */
  readonly commandsPerRow: number;
  /** EVALSHA/EVAL calls (BullMQ's scripts) per row. */
  readonly scriptCallsPerRow: number;
  /** The three busiest commands with their calls per row. */
  readonly topCommands: readonly { readonly command: string; readonly perRow: number }[];
  /** Mean over the steady rows of finishedOn − processedOn − the worker's logged decode time, ms. */
  readonly outsideDecodeMs: number;
  /** Mean logged decode time of the steady rows, ms. */
  readonly decodeMs: number;
}

export async function runScaleOut(options: ScaleOutOptions): Promise<void> {
  const promptCount = options.prompts ?? 80;
  const maxTokens = options.maxTokens ?? 64;
  const rounds = options.rounds ?? 5;
  const warmRows = options.warmRows ?? Math.min(20, Math.floor(promptCount / 4));
  const seed = 5;
  const files = builtInPair();
  const pairFlags = ["--sft", files.sft, "--dpo", files.dpo, "--threads", "1"];
  const dir = await mkdtemp(join(tmpdir(), "aad-scale-out-"));
  const promptsFile = join(dir, "prompts.txt");
  await writeFile(promptsFile, heldoutPrompts().slice(0, promptCount).map((p) => p.text).join("\n") + "\n");
  const prompts = parsePrompts(await readFile(promptsFile, "utf8"), "txt", promptsFile);
  if (prompts.length !== promptCount) throw new Error(`only ${prompts.length} held-out prompts, ${promptCount} asked for`);
  const settings = resolveSettings({ seed, maxTokens });
  const redis = await RedisServer.start(dir);
  const location = parseQueueUrl(redis.url);
  const aad = new QueueCli(redis.url, { pairFlags, settings: ["--seed", String(seed), "--max-tokens", String(maxTokens)] });
  const models = await modelProvenance({ sft: files.sft, dpo: files.dpo });
  const measurements: Measurement[] = [];
  const loadBefore = loadavg()[0]!;
  let localBytes: Buffer | undefined;
  try {
    for (let round = 0; round < rounds; round++) {
      const order = SETUPS.map((_, k) => SETUPS[(k + round) % SETUPS.length]!);
      for (const setup of order) {
        const out = join(dir, `${round}-${setup.replace(" ", "-")}.jsonl`);
        const timed = setup === "local" ? await local(out) : await queued(setup === "1 worker" ? 1 : 2, `r${round}-${setup.replace(" ", "-")}`, out);
        const bytes = await readFile(out);
        localBytes ??= setup === "local" ? bytes : undefined;
        const sameBytes = localBytes === undefined || bytes.equals(localBytes);
        const measurement: Measurement = { round, setup, ...timed, sameBytes };
        measurements.push(measurement);
        options.log(
          `round ${round + 1}/${rounds} ${setup}: ${promptCount} rows in ${timed.seconds.toFixed(2)} s = ${timed.rowsPerSecond.toFixed(2)} rows/s, steady ${timed.steadyRowsPerSecond.toFixed(2)} rows/s` +
            (timed.queue === undefined ? "" : `, ${timed.queue.outsideDecodeMs.toFixed(1)} ms/row outside decoding, ${timed.queue.commandsPerRow.toFixed(1)} Redis commands/row, redis-server ${timed.cpuSeconds.redis.toFixed(2)} s CPU`) +
            (sameBytes ? "" : " (BYTES DIFFER from the local run)"),
        );
      }
      if (localBytes === undefined) throw new Error("no local run in the first round");
    }
  } finally {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const pick = (setup: Setup, value: (m: Measurement) => number) => summarize(measurements.filter((m) => m.setup === setup).map(value));
  const summaries = Object.fromEntries(SETUPS.map((setup) => [setup, { steady: pick(setup, (m) => m.steadyRowsPerSecond), whole: pick(setup, (m) => m.rowsPerSecond) }])) as Record<Setup, SetupSummary>;
  const perRound = (setup: Setup, value: (m: Measurement) => number) =>
    summarize(
      Array.from({ length: rounds }, (_, round) => {
        const of = (s: Setup) => value(measurements.find((m) => m.round === round && m.setup === s)!);
        return (of("local") / of(setup) - 1) * 100;
      }),
    );
  const roundOverheads = (value: (m: Measurement) => number) =>
    Array.from({ length: rounds }, (_, round) => {
      const of = (s: Setup) => value(measurements.find((m) => m.round === round && m.setup === s)!);
      return (of("local") / of("1 worker") - 1) * 100;
    });
  const overhead = { steady: perRound("1 worker", (m) => m.steadyRowsPerSecond), whole: perRound("1 worker", (m) => m.rowsPerSecond), steadyRounds: roundOverheads((m) => m.steadyRowsPerSecond) };
  const queuedRuns = measurements.filter((m) => m.queue !== undefined);
  const oneWorker = measurements.filter((m) => m.setup === "1 worker");
  const costs = {
    outsideDecodeMs: summarize(oneWorker.map((m) => m.queue!.outsideDecodeMs)),
    decodeMs: summarize(oneWorker.map((m) => m.queue!.decodeMs)),
    commandsPerRow: summarize(queuedRuns.map((m) => m.queue!.commandsPerRow)),
    scriptCallsPerRow: summarize(queuedRuns.map((m) => m.queue!.scriptCallsPerRow)),
    redisCpuMsPerRow: summarize(queuedRuns.map((m) => (m.steadyCpuSeconds.redis * 1000) / (m.rows - warmRows))),
    benchCpuMsPerRowQueued: summarize(queuedRuns.map((m) => (m.steadyCpuSeconds.bench * 1000) / (m.rows - warmRows))),
    workerCpuMsPerRow: summarize(oneWorker.map((m) => (m.steadyCpuSeconds.workers * 1000) / (m.rows - warmRows))),
    queuedCpuMsPerRow: summarize(oneWorker.map((m) => ((m.steadyCpuSeconds.workers + m.steadyCpuSeconds.redis + m.steadyCpuSeconds.bench) * 1000) / (m.rows - warmRows))),
    localCpuMsPerRow: summarize(measurements.filter((m) => m.setup === "local").map((m) => (m.steadyCpuSeconds.workers * 1000) / (m.rows - warmRows))),
  };
  const data = { prompts: promptCount, maxTokens, rounds, warmRows, seed, threadsPerContext: 1, loadAverage: { before: loadBefore, after: loadavg()[0]! }, measurements, summaries, overhead, costs };
  await writeResults("scale-out", data, markdown(data));
  options.log("scale-out: bench/results/scale-out.md");

  /** The local path in a fresh process that has loaded its pair (bench/scale-out-local.ts); completions from its progress callback. */
  async function local(out: string): Promise<Omit<Measurement, "round" | "setup" | "sameBytes">> {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/scale-out-local.ts", promptsFile, out, files.sft, files.dpo, String(seed), String(maxTokens), String(warmRows)], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      const next = async (what: string) => {
        const line = await lines.next();
        if (line.done === true) throw new Error(`the local run's process ended before ${what}`);
        return line.value;
      };
      if ((await next("it was ready")) !== "ready") throw new Error("the local run's process did not say ready");
      const cpu = cpuMeter(redis.pid, []);
      child.stdin.write("go\n");
      const report = JSON.parse(await next("its report")) as LocalRunReport;
      const used = cpu();
      return {
        ...rates(report.started, report.completions),
        cpuSeconds: { bench: used.bench, redis: used.redis, workers: report.cpuSeconds },
        // The redis-server and bench figures are whole-run here: both only wait during a local run.
        steadyCpuSeconds: { bench: used.bench, redis: used.redis, workers: report.steadyCpuSeconds },
      };
    } finally {
      if (child.exitCode === null) await once(child, "exit");
    }
  }

  /** Enqueues the run paused, starts `count` workers, and times it from resume to each row's finishedOn. */
  async function queued(count: number, job: string, out: string): Promise<Omit<Measurement, "round" | "setup" | "sameBytes">> {
    await enqueueRun({ location, job, promptsFile, prompts, settings, models });
    const client = await connectOnce(location);
    const queue = rowQueue(job, client);
    const workers: AadProcess[] = [];
    try {
      await queue.pause();
      for (let k = 0; k < count; k++) workers.push(aad.worker(["--job", job]));
      await Promise.all(workers.map((worker) => worker.until((w) => w.stderr.includes(`taking rows of job "${job}"`), "it took the run")));
      // The workers' log lines, read as they come (each line once): row index → logged decode time, and failures.
      const decodeMs = new Map<number, number>();
      const failures: string[] = [];
      const scanned = workers.map(() => 0);
      const prefix = `aad worker: row ${job}.`;
      const scan = () => {
        workers.forEach((worker, k) => {
          const end = worker.stderr.lastIndexOf("\n") + 1;
          for (const line of worker.stderr.slice(scanned[k], end).split("\n")) {
            if (!line.startsWith(prefix)) continue;
            const done = / done on pair \d+ in ([\d.]+) s/.exec(line);
            if (done !== null) decodeMs.set(Number.parseInt(line.slice(prefix.length), 10), Number(done[1]) * 1000);
            else if (/^\d+ failed/.test(line.slice(prefix.length))) failures.push(line);
          }
          scanned[k] = end;
        });
        if (atWarm === undefined && decodeMs.size >= warmRows) atWarm = cpu();
        return failures.length > 0 || decodeMs.size >= prompts.length;
      };
      await client.config("RESETSTAT");
      const cpu = cpuMeter(redis.pid, workers.map((worker) => worker.child.pid!));
      let atWarm: CpuSeconds | undefined;
      const resumed = Date.now();
      await queue.resume();
      // Wait on the workers' log lines, which this process receives anyway: no polling of Redis while the rows run.
      await Promise.race(workers.map((worker) => worker.until(scan, "every row was done")));
      if (failures.length > 0) throw new Error(`rows of ${job} failed:\n${failures.join("\n")}`);
      // A worker logs a row as done just before it stores the result: wait for the last store (the decoding is over).
      while ((await queue.getJobCountByTypes("completed")) < prompts.length) await sleep(2);
      const cpuSeconds = cpu();
      const stats = parseCommandStats(await client.info("commandstats"));
      const completed = (await queue.getCompleted(0, -1)).map((row) => ({ index: row.data.index, processedOn: row.processedOn ?? 0, finishedOn: row.finishedOn ?? 0 })).sort((a, b) => a.finishedOn - b.finishedOn);
      if (completed.length !== prompts.length) throw new Error(`${completed.length} of ${prompts.length} rows of ${job} completed`);
      const collected = await collectRun({ location, job, out });
      if (collected.done !== collected.total) throw new Error(`collect of ${job} stopped at ${collected.done}/${collected.total}`);
      const steady = completed.slice(warmRows);
      const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;
      const rows = prompts.length;
      const calls = [...stats.entries()].sort((a, b) => b[1] - a[1]);
      const total = calls.reduce((sum, [, n]) => sum + n, 0);
      const queueCosts: QueueCosts = {
        commandsPerRow: total / rows,
        scriptCallsPerRow: ((stats.get("evalsha") ?? 0) + (stats.get("eval") ?? 0)) / rows,
        topCommands: calls.slice(0, 3).map(([command, n]) => ({ command, perRow: n / rows })),
        outsideDecodeMs: mean(steady.map((row) => row.finishedOn - row.processedOn - decodeMs.get(row.index)!)),
        decodeMs: mean(steady.map((row) => decodeMs.get(row.index)!)),
      };
      return {
        ...rates(
          resumed,
          completed.map((row) => row.finishedOn),
        ),
        cpuSeconds,
        steadyCpuSeconds: minus(cpuSeconds, atWarm!),
        queue: queueCosts,
      };
    } finally {
      await Promise.all(workers.map((worker) => worker.stop()));
      await queue.close();
      client.disconnect();
    }
  }

  /** Whole-run and steady rates from the start and the completion times (ms, ascending). */
  function rates(started: number, completions: readonly number[]) {
    if (completions.length !== promptCount) throw new Error(`${completions.length} completions of ${promptCount} rows`);
    const last = completions.at(-1)!;
    const seconds = (last - started) / 1000;
    const steadySeconds = (last - completions[warmRows - 1]!) / 1000;
    return { rows: promptCount, seconds, rowsPerSecond: promptCount / seconds, steadySeconds, steadyRowsPerSecond: (promptCount - warmRows) / steadySeconds };
  }
}

interface SetupSummary {
  readonly steady: Summary;
  readonly whole: Summary;
}

/** CPU seconds used from now until the returned function is called: by this process, redis-server and the given processes. */
function cpuMeter(redisPid: number | undefined, pids: readonly number[]): () => CpuSeconds {
  const self = process.cpuUsage();
  const redis = redisPid === undefined ? 0 : processCpu(redisPid);
  const others = pids.map(processCpu);
  return () => {
    const used = process.cpuUsage(self);
    return {
      bench: (used.user + used.system) / 1e6,
      redis: redisPid === undefined ? 0 : processCpu(redisPid) - redis,
      workers: pids.reduce((sum, pid, k) => sum + processCpu(pid) - others[k]!, 0),
    };
  };
}

function minus(a: CpuSeconds, b: CpuSeconds): CpuSeconds {
  return { bench: a.bench - b.bench, redis: a.redis - b.redis, workers: a.workers - b.workers };
}

/** User + system CPU seconds of a process (all its threads), from /proc. */
function processCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticksPerSecond = 100; // USER_HZ on Linux
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** INFO commandstats as calls per command (config|resetstat and info themselves left out). */
function parseCommandStats(info: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (match[1] === "config|resetstat" || match[1] === "info") continue;
    calls.set(match[1]!, Number(match[2]));
  }
  return calls;
}

interface MarkdownData {
  prompts: number;
  maxTokens: number;
  rounds: number;
  warmRows: number;
  seed: number;
  loadAverage: { before: number; after: number };
  measurements: readonly Measurement[];
  summaries: Record<Setup, SetupSummary>;
  overhead: { steady: Summary; whole: Summary; steadyRounds: readonly number[] };
  costs: Record<"outsideDecodeMs" | "decodeMs" | "commandsPerRow" | "scriptCallsPerRow" | "redisCpuMsPerRow" | "benchCpuMsPerRowQueued" | "workerCpuMsPerRow" | "queuedCpuMsPerRow" | "localCpuMsPerRow", Summary>;
}

function markdown(data: MarkdownData): string {
  const { summaries, overhead, costs } = data;
  const rate = (s: Summary) => `${s.mean.toFixed(2)} ± ${s.halfWidth95.toFixed(2)}`;
  const pm = (s: Summary, digits = 1) => `${s.mean.toFixed(digits)} ± ${s.halfWidth95.toFixed(digits)}`;
  const local = summaries.local.steady.mean;
  const one = summaries["1 worker"].steady.mean;
  const two = summaries["2 workers"].steady.mean;
  const msPerRow = (rowsPerSecond: number) => 1000 / rowsPerSecond;
  const allSame = data.measurements.every((m) => m.sameBytes);
  const top = data.measurements.find((m) => m.setup === "1 worker")?.queue?.topCommands ?? [];
  const cores = cpus().length;
  return [
    "# Scale-out: `aad pairs` through the Redis queue, 1 and 2 workers",
    "",
    `${data.prompts} held-out prompts on the built-in pair, --max-tokens ${data.maxTokens}, seed ${data.seed}, ${data.rounds} interleaved round${data.rounds === 1 ? "" : "s"} (the order of the three setups rotates per round). ` +
      "Local is `generatePreferencePairs` (what `aad pairs --out` runs) in a fresh process (bench/scale-out-local.ts) that has loaded the pair with --threads 1 and is then told to start; a queued run is enqueued paused, its fresh `aad worker --threads 1` processes have loaded their pair and taken the run, then the queue is resumed. Model loading and process start-up are not counted in either.",
    "",
    "Both setups are measured the same way: fresh processes with their pair loaded, timed from the start signal to each row's completion (local: the progress callback after the row is written and synced; queued: the row's finishedOn in BullMQ), on the same clock, while the bench process only waits and reads their output (it does not poll Redis). " +
      `The headline rate is steady: from the ${data.warmRows}th completion to the last, leaving out the first rows of a fresh process, which are slower (V8 compiles the decoding loop, the pair's pages are touched for the first time) and which a long run pays once; the whole-run rate is in the second table. ` +
      "Until 2026-12-03 this bench compared unequal things and measured a 6.3 % overhead: the local run decoded in the bench process on a pair warm from the earlier rounds while every queued run had fresh workers, and the bench polled `aad pairs status` (which read every completed row back) every 200 ms during queued runs only, 0.3–0.4 s of CPU per run on the cores the worker decodes on.",
    "",
    markdownTable(
      ["setup", `steady rows/s (rows ${data.warmRows + 1}–${data.prompts}, mean ± 95 % half-width)`, "ms per row", "vs local"],
      SETUPS.map((setup) => [setup, rate(summaries[setup].steady), msPerRow(summaries[setup].steady.mean).toFixed(1), `${(summaries[setup].steady.mean / local).toFixed(3)}×`]),
    ),
    "",
    `- Queue overhead per row, 1 worker against local, steady: ${pm(overhead.steady)} % (mean of the rounds' paired ratios; by round: ${overhead.steadyRounds.map((x) => x.toFixed(1)).join(", ")} %), ${(msPerRow(one) - msPerRow(local)).toFixed(1)} ms of ${msPerRow(local).toFixed(1)} ms (target: under 5 %).`,
    `- CPU per steady row, which other processes on the machine do not shift: queued ${pm(costs.queuedCpuMsPerRow)} ms (worker, redis-server and the waiting bench process) against local ${pm(costs.localCpuMsPerRow)} ms, ${((costs.queuedCpuMsPerRow.mean / costs.localCpuMsPerRow.mean - 1) * 100).toFixed(1)} %.`,
    `- Over whole runs (worker start-up included): ${pm(overhead.whole)} %.`,
    `- 2 workers against 1: ${(two / one).toFixed(2)}×.`,
    `- Every collected file equals the local run's byte for byte: ${allSame ? "yes" : "NO (see the JSON)"}.`,
    "",
    markdownTable(
      ["setup", "whole-run rows/s", "vs local"],
      SETUPS.map((setup) => [setup, rate(summaries[setup].whole), `${(summaries[setup].whole.mean / summaries.local.whole.mean).toFixed(3)}×`]),
    ),
    "",
    "## Where a queued row's time goes (1 worker, steady rows)",
    "",
    `- Decoding (the worker's own timing of \`preferenceRow\`, the function the local run calls): ${pm(costs.decodeMs)} ms per row.`,
    `- In the worker outside decoding: ${pm(costs.outsideDecodeMs, 2)} ms per row (finishedOn − processedOn − the decode time the worker logs): the previous row's result stored and this row fetched in one BullMQ script call, the append-only file synced (the test harness's Redis runs \`appendfsync always\`), the loaded pair handed to the row, two log lines. The local run spends its own time per row outside decoding: the row appended to the file and synced.`,
    `- Redis commands per row: ${pm(costs.commandsPerRow)} in all (the commands BullMQ's scripts run included), of them ${pm(costs.scriptCallsPerRow, 2)} script calls${top.length === 0 ? "" : `; the busiest: ${top.map((entry) => `${entry.command} ${entry.perRow.toFixed(1)}`).join(", ")}`}. No per-row reads of files, settings or model hashes: the worker reads the manifest once per run and hashes its model files once.`,
    `- CPU per steady row while a queued run runs: redis-server ${pm(costs.redisCpuMsPerRow, 2)} ms, the bench process (waiting, reading the workers' output) ${pm(costs.benchCpuMsPerRowQueued, 2)} ms; the worker ${pm(costs.workerCpuMsPerRow)} ms against the local run's ${pm(costs.localCpuMsPerRow)} ms (both threads of the pair, so more CPU time than wall time).`,
    "",
    `This machine has ${cores} cores (1-minute load average ${data.loadAverage.before.toFixed(1)} before the run, ${data.loadAverage.after.toFixed(1)} after). A pair decodes its SFT and DPO contexts side by side, each with --threads 1, so one worker can already keep two threads busy; the two workers share the same ${cores} cores, so whatever 2 workers gain over 1 here comes from time one worker leaves a core idle, not from added hardware. ` +
      "The 2-worker figure says what the queue costs and that rows do not collide, not how a fleet scales: there each worker has its own GPU or machine, and rows per second should grow with the workers for as long as Redis and `collect` keep up (a row is a few kB); that was not measured here.",
    "",
    "## Rounds",
    "",
    markdownTable(
      ["round", "setup", "whole run s", "rows/s", "steady rows/s", "outside decoding ms/row", "redis-server CPU s", "same bytes"],
      data.measurements.map((m) => [String(m.round + 1), m.setup, m.seconds.toFixed(2), m.rowsPerSecond.toFixed(2), m.steadyRowsPerSecond.toFixed(2), m.queue === undefined ? "–" : m.queue.outsideDecodeMs.toFixed(2), m.cpuSeconds.redis.toFixed(2), m.sameBytes ? "yes" : "no"]),
    ),
    "",
  ].join("\n");
}
