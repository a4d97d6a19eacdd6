/**
 * The scale-out bench's local run, in a process of its own like an `aad worker`: loads the pair
 * (--threads 1), says "ready" on stdout, waits for a line on stdin, then runs
 * `generatePreferencePairs` (what `aad pairs --out` runs) and prints one JSON line: when it began,
 * each row's completion (Date.now(), the clock BullMQ's finishedOn uses) and its CPU seconds,
 * in all and from the `warmRows`-th completion on.
 *
 * Usage: tsx bench/scale-out-local.ts PROMPTS_FILE OUT SFT DPO SEED MAX_TOKENS WARM_ROWS
 */
import { createInterface } from "node:readline";
import { generatePreferencePairs, modelProvenance, readPrompts } from "../server/src/pairs/index.ts";
import { ModelPair } from "../server/src/runtime/index.ts";

export interface LocalRunReport {
  readonly started: number;
  readonly completions: readonly number[];
  readonly cpuSeconds: number;
  readonly steadyCpuSeconds: number;
}

const [promptsFile, out, sft, dpo, seed, maxTokens, warmRows] = process.argv.slice(2);
if (warmRows === undefined) throw new Error("usage: scale-out-local.ts PROMPTS_FILE OUT SFT DPO SEED MAX_TOKENS WARM_ROWS");
const prompts = await readPrompts(promptsFile!);
const pair = await ModelPair.load({ sft: sft!, dpo: dpo! }, { threads: 1 });
try {
  await modelProvenance(pair.info.files); // hashed once per process, before the clock starts, as a worker does at start-up
  process.stdout.write("ready\n");
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  await lines.next();
  const seconds = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1e6;
  const cpu = process.cpuUsage();
  let atWarm: NodeJS.CpuUsage | undefined;
  const completions: number[] = [];
  const started = Date.now();
  await generatePreferencePairs({
    pair,
    promptsFile: promptsFile!,
    prompts,
    out: out!,
    seed: Number(seed),
    maxTokens: Number(maxTokens),
    onProgress: (progress) => {
      if (progress.done <= completions.length) return;
      completions.push(Date.now());
      if (completions.length === Number(warmRows)) atWarm = process.cpuUsage();
    },
  });
  const total = process.cpuUsage(cpu);
  const report: LocalRunReport = { started, completions, cpuSeconds: seconds(total), steadyCpuSeconds: atWarm === undefined ? 0 : seconds(process.cpuUsage(atWarm)) };
  process.stdout.write(JSON.stringify(report) + "\n");
} finally {
  await pair.dispose();
}
process.exit(0);
