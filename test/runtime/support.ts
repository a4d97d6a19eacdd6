/**
 * Shared set-up for the runtime tests: where the model files are, one llama.cpp instance per test
 * file, and small helpers to read one position's log-probabilities through a lane.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";
import type { ModelLane } from "../../server/src/runtime/lane.ts";
import type { StepLogprobs, StepRequest } from "../../server/src/runtime/step-logprobs.ts";

const PAIR_FILES = ["sft.gguf", "dpo.gguf", "dpo-lora.gguf"];

function complete(dir: string): boolean {
  return PAIR_FILES.every((file) => existsSync(join(dir, file)));
}

/**
 * The built-in pair: models/ once `npm run forge` has written it; until then a forge run's output
 * in .cache (the full run, else the scaled-down quick run).
 */
export function builtInPairDir(): string {
  const dir = ["models", ".cache/full1", ".cache/quick1"].find(complete);
  if (dir === undefined) throw new Error("No built-in model pair: run `npm run forge` (writes models/).");
  return dir;
}

export function builtInPair(): { sft: string; dpo: string; dpoLora: string } {
  const dir = builtInPairDir();
  return { sft: join(dir, "sft.gguf"), dpo: join(dir, "dpo.gguf"), dpoLora: join(dir, "dpo-lora.gguf") };
}

export const BENCH_PAIR_DIR = ".cache/bench-pair";

/**
 * The 32k-vocabulary bench pair, or what is missing. Tests that need it skip without it outside CI
 * and fail under CI (test/ci.ts); .ci/run generates it.
 */
export function benchPair(): { sft: string; dpo: string; dpoLora: string } | { missing: string } {
  if (!complete(BENCH_PAIR_DIR)) return { missing: `the 32k bench pair is absent: generate it with \`npx tsx server/src/forge/main.ts --bench\` (writes ${BENCH_PAIR_DIR}/)` };
  return { sft: join(BENCH_PAIR_DIR, "sft.gguf"), dpo: join(BENCH_PAIR_DIR, "dpo.gguf"), dpoLora: join(BENCH_PAIR_DIR, "dpo-lora.gguf") };
}

let llama: Promise<Llama> | undefined;

/** One CPU llama.cpp instance for the whole test file (never downloads or builds). */
export function testLlama(): Promise<Llama> {
  llama ??= getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: 0 });
  return llama;
}

export async function disposeTestLlama(): Promise<void> {
  if (llama !== undefined) await (await llama).dispose();
  llama = undefined;
}

/**
 * Teacher-forces `tokens` through a lane and measures the positions after each of the last
 * `measured` tokens: for each, the shortcut measurement(s) `requests(i)` and then the full
 * distribution, in one batch.
 */
export async function measureAlong(
  lane: ModelLane,
  tokens: readonly number[],
  measured: number,
  requests: (index: number) => readonly StepRequest[],
): Promise<{ shortcut: StepLogprobs[]; full: StepLogprobs }[]> {
  const prefixLength = tokens.length - measured;
  await lane.prepare(tokens.slice(0, prefixLength + 1));
  const results = tokens.slice(prefixLength).map((token, i) =>
    lane.push(token, async (position) => {
      const shortcut: StepLogprobs[] = [];
      for (const request of requests(i)) shortcut.push(await position.measure(request));
      const full = await position.measure({ view: { minP: 0, topK: 1 } });
      return { shortcut, full };
    }),
  );
  await lane.flush();
  const out: { shortcut: StepLogprobs[]; full: StepLogprobs }[] = [];
  for (const result of results) out.push((await result)!);
  return out;
}

/** Largest |Δ log p| between a shortcut measurement and the full distribution, over its tokens above `floor`. */
export function maxLogprobError(shortcut: StepLogprobs, full: StepLogprobs, floor = -80): number {
  let worst = 0;
  for (let i = 0; i < shortcut.tokens.length; i++) {
    const exact = full.logprobs[shortcut.tokens[i]!]!;
    const value = shortcut.logprobs[i]!;
    if (exact < floor && value < floor) continue;
    worst = Math.max(worst, Math.abs(value - exact));
  }
  return worst;
}
