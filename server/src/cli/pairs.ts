/**
 * `aad pairs`: synthetic preference data (AAD chosen, DPO rejected) for DPO training, from a
 * prompts file into a resumable JSON Lines file. The work is server/src/pairs; this file is the
 * flags, the progress display and the summary.
 *
 * main.ts hands in its own helpers (pair flags, pair loading, Ctrl-C, number parsing, usage
 * errors) so that every command loads pairs and reports errors the same way.
 */
import cliProgress from "cli-progress";
import { Option, type Command } from "commander";
import { generatePreferencePairs, PAIRS_DEFAULTS, readPrompts, type PairsProgress, type PairsResult, type RejectedMethod } from "../pairs/index.ts";
import type { ModelPair } from "../runtime/index.ts";
import { enqueueCommand } from "./queue.ts";

export interface PairsFlags {
  sft?: string;
  dpo?: string;
  dpoLora?: string;
  reference?: string;
  threads?: number;
  contextSize?: number;
  gpu?: "auto" | "cuda" | "vulkan" | "metal" | "off";
  gpuLayers?: number | "auto" | "max";
  prompts?: string;
  out?: string;
  /** With --queue, the run is enqueued there as job --job instead of decoded here (cli/queue.ts). */
  queue?: string;
  job?: string;
  rejected: RejectedMethod;
  topP: number;
  temperature: number;
  alpha: number;
  maxTokens: number;
  limit?: number;
  seed: number;
}

/** The helpers of main.ts this command shares. */
export interface CommandKit {
  readonly pairOptions: (command: Command) => Command;
  readonly withPair: <T>(flags: PairsFlags, run: (pair: ModelPair, builtin: boolean) => Promise<T>) => Promise<T>;
  readonly interruptSignal: () => AbortSignal;
  readonly number: (name: string, check: (x: number) => boolean, what: string) => (value: string) => number;
  readonly UsageError: new (message: string) => Error;
}

export function registerPairsCommand(program: Command, kit: CommandKit): Command {
  const { number } = kit;
  const probability = (name: string) => number(name, (x) => x > 0 && x <= 1, "in (0, 1]");
  return kit
    .pairOptions(
      program
        .command("pairs")
        .description("synthetic preference pairs for DPO: the AAD response as chosen, a DPO response as rejected; resumable JSON Lines (TRL's prompt/chosen/rejected + meta)")
        .option("--prompts <file>", ".jsonl with {\"prompt\"} or {\"messages\"} per line, or .txt with one prompt per line (required)")
        .option("--out <file>", "output .jsonl; an existing file is resumed after its last complete row (required without --queue)")
        .option("--queue <url>", "enqueue the run in Redis (redis://HOST:PORT/DB) for `aad worker`s instead of decoding here; see `aad pairs collect`")
        .option("--job <name>", "with --queue: the run's name there (letters, digits, . _ -)")
        .addOption(new Option("--rejected <method>", "how the rejected response is decoded from the DPO model").choices(["sample", "greedy-dpo"]).default(PAIRS_DEFAULTS.rejected))
        .option("--top-p <p>", "nucleus threshold of the rejected sample", probability("--top-p"), PAIRS_DEFAULTS.topP)
        .option("--temperature <t>", "temperature of the rejected sample", number("--temperature", (x) => x >= 0, "≥ 0"), PAIRS_DEFAULTS.temperature)
        .option("--alpha <a>", "AAD candidate threshold of the chosen response", probability("--alpha"), PAIRS_DEFAULTS.alpha)
        .option("--max-tokens <n>", "most tokens per response", number("--max-tokens", (x) => Number.isInteger(x) && x > 0, "a positive integer"), PAIRS_DEFAULTS.maxTokens)
        .option("--limit <n>", "use only the first n prompts", number("--limit", (x) => Number.isInteger(x) && x >= 0, "a non-negative integer"))
        .option("--seed <n>", "seed; prompt i samples with seed \"<seed>:<i>\", so a resumed run writes what an uninterrupted one would", number("--seed", Number.isSafeInteger, "an integer"), PAIRS_DEFAULTS.seed),
    )
    .enablePositionalOptions()
    .action(async (flags: PairsFlags) => {
      if (flags.prompts === undefined) throw new kit.UsageError("required option '--prompts <file>' not specified");
      if (flags.queue !== undefined) return enqueueCommand(flags, kit);
      if (flags.job !== undefined) throw new kit.UsageError("--job names a run in a queue: give --queue URL too, or drop --job for a local run");
      if (flags.out === undefined) throw new kit.UsageError("required option '--out <file>' not specified");
      if (!flags.out.endsWith(".jsonl")) throw new kit.UsageError(`--out must name a .jsonl file, got "${flags.out}"`);
      const { prompts: promptsFile, out } = flags;
      const prompts = await readPrompts(promptsFile); // malformed lines fail before any model loads
      const signal = kit.interruptSignal();
      const result = await kit.withPair(flags, async (pair) => {
        const display = progressDisplay(process.stderr);
        try {
          return await generatePreferencePairs({
            pair,
            promptsFile,
            prompts,
            out,
            rejected: flags.rejected,
            topP: flags.topP,
            temperature: flags.temperature,
            alpha: flags.alpha,
            maxTokens: flags.maxTokens,
            seed: flags.seed,
            signal,
            onProgress: display.update,
            ...(flags.limit !== undefined ? { limit: flags.limit } : {}),
          });
        } finally {
          display.stop();
        }
      });
      process.stdout.write(summary(result));
      if (result.interrupted) process.exitCode = 130;
    });
}

export interface ProgressDisplay {
  readonly update: (progress: PairsProgress) => void;
  readonly stop: () => void;
}

/** A bar with rate and ETA on a terminal; a line every few seconds otherwise. */
export function progressDisplay(stream: NodeJS.WriteStream): ProgressDisplay {
  const started = Date.now();
  let first: PairsProgress | undefined;
  const rate = (p: PairsProgress) => (p.done - first!.done) / Math.max(1e-3, (Date.now() - started) / 1000);
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: "pairs {bar} {value}/{total} prompts | {rate} prompts/s | ETA {eta_formatted} | {written} written, {skipped} skipped-equal",
        hideCursor: true,
        etaBuffer: 30,
      },
      cliProgress.Presets.shades_classic,
    );
    return {
      update: (p) => {
        const payload = { written: p.written, skipped: p.skippedEqual, rate: first === undefined ? "–" : rate(p).toFixed(2) };
        if (first === undefined) {
          first = p;
          bar.start(p.total, p.done, payload);
        } else bar.update(p.done, payload);
      },
      stop: () => bar.stop(),
    };
  }
  let lastLine = 0;
  let latest: PairsProgress | undefined;
  let printed: PairsProgress | undefined;
  const line = (p: PairsProgress) => {
    const perSecond = rate(p);
    const eta = perSecond > 0 ? `, ETA ${formatSeconds((p.total - p.done) / perSecond)}` : "";
    stream.write(`pairs: ${p.done}/${p.total} prompts, ${p.written} written, ${p.skippedEqual} skipped (chosen = rejected), ${perSecond.toFixed(2)} prompts/s${eta}\n`);
    lastLine = Date.now();
    printed = p;
  };
  return {
    update: (p) => {
      latest = p;
      if (first === undefined) {
        first = p;
        return;
      }
      if (Date.now() - lastLine >= 2000) line(p);
    },
    stop: () => {
      if (latest !== undefined && latest !== printed && latest.done > first!.done) line(latest);
    },
  };
}

function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function summary(result: PairsResult): string {
  const resumed = result.resumedRows === 0 ? "no (new output)" : `yes, after ${result.resumedRows} rows (at prompt ${result.resumedAt + 1})`;
  const lines = [
    `rows written:   ${result.written}`,
    `skipped-equal:  ${result.skippedEqual} (chosen = rejected)`,
    `resumed from:   ${resumed}`,
    ...(result.droppedBytes > 0 ? [`torn last line: ${result.droppedBytes} bytes dropped (a killed run's unfinished row)`] : []),
    `output:         ${result.out} (${result.resumedRows + result.written} rows)`,
    result.interrupted ? `interrupted at prompt ${result.done + 1} of ${result.total}: run the same command again to resume` : `done: ${result.done}/${result.total} prompts`,
  ];
  return lines.join("\n") + "\n";
}
