/**
 * `npm run forge` — regenerate the built-in model pair in models/ (byte for byte for the same
 * seed on the same machine). Interrupted, it resumes from its last checkpoint in .cache/forge
 * (or --work) with the same result. `--reuse models` keeps the SFT models and labelled pairs of
 * the committed run and retrains DPO only. `npm run forge -- --bench` writes the large random
 * pair used only for speed measurements into .cache/bench-pair/ (`--bench-1b`: a 1B-shaped Q8_0 one
 * into .cache/bench-1b/); `--fixtures` the random-weight pairs
 * with real tokenizers that the tests use into .cache/fixtures/ (fixtures.ts).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Command } from "commander";
import { DEFAULT_FORGE_CONFIG, QUICK_FORGE_CONFIG, runForge } from "./forge.ts";
import { PHRASINGS, type Phrasings } from "./world-prompts.ts";

const program = new Command()
  .name("forge")
  .description("Train the built-in tiny SFT/DPO pair on the toy world and write it as GGUF")
  .option("--out <dir>", "output folder", "models")
  .option("--seed <n>", "random seed", String(DEFAULT_FORGE_CONFIG.seed))
  .option("--reuse <dir>", "reuse the SFT models and labelled pairs of an earlier run with the same settings (e.g. models): retrain DPO only")
  .option("--phrasings <kind>", `how the world's questions are worded: ${PHRASINGS.join(", ")} (default: the installed world's)`)
  .option("--dpo-learning-rate <lr>", "DPO peak learning rate (default: the forge's)")
  .option("--sft-steps <n>", "SFT optimizer steps; the cosine schedule spans them (default: the forge's)")
  .option("--dpo-rank <r>", "DPO LoRA rank; its alpha stays 2 × rank (default: the forge's)")
  .option("--work <dir>", "checkpoint folder: an interrupted run resumes from it", ".cache/forge")
  .option("--checkpoint-every <steps>", "SFT steps between checkpoints", "200")
  .option("--sample-rounds <n>", "preference-sampling rounds between checkpoints", "25")
  .option("--sample-processes <n>", "processes sampling preferences side by side", "2")
  .option("--quick", "a scaled-down run (a few steps of each stage), for tests")
  .option("--bench", "write the large random-weight pair for speed benchmarks instead")
  .option("--bench-1b", "write a Llama-3.2-1B-shaped random-weight Q8_0 speed pair (128k vocabulary, ~1.3 GB per model) into .cache/bench-1b instead; never in CI")
  .option("--fixtures", "write the random-weight pairs with real tokenizers (Llama 3.1, Tulu 3, Qwen3, 32k SentencePiece) for the tests into .cache/fixtures/, those missing only")
  .parse();

// The tfjs WASM module rethrows uncaught errors with its whole minified source; print just the error.
process.on("uncaughtException", (error) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});

const options = program.opts<{ out: string; seed: string; work: string; checkpointEvery: string; sampleRounds: string; sampleProcesses: string; reuse?: string; phrasings?: string; dpoLearningRate?: string; dpoRank?: string; sftSteps?: string; quick?: boolean; bench?: boolean; bench1b?: boolean; fixtures?: boolean }>();
if (options.fixtures) {
  const { FIXTURES_DIR, writeFixtures } = await import("./fixtures.ts");
  await writeFixtures(options.out === "models" ? FIXTURES_DIR : options.out, (m) => console.log(m));
} else if (options.bench1b) {
  const { writeBench1bPair, BENCH_1B_DIR } = await import("./bench-1b.ts");
  await writeBench1bPair(options.out === "models" ? BENCH_1B_DIR : options.out, (m) => console.log(m));
} else if (options.bench) {
  const { writeBenchPair } = await import("./bench-pair.ts");
  await writeBenchPair(options.out === "models" ? ".cache/bench-pair" : options.out, (m) => console.log(m));
} else {
  const base = options.quick ? QUICK_FORGE_CONFIG : DEFAULT_FORGE_CONFIG;
  const dpo = { ...base.dpo };
  const sft = { ...base.sft };
  if (options.sftSteps !== undefined) sft.steps = Math.round(positive("--sft-steps", options.sftSteps));
  if (options.dpoLearningRate !== undefined) dpo.learningRate = positive("--dpo-learning-rate", options.dpoLearningRate);
  if (options.dpoRank !== undefined) {
    dpo.rank = Math.round(positive("--dpo-rank", options.dpoRank));
    dpo.alpha = 2 * dpo.rank;
  }
  // Tests simulate a crash: AAD_FORGE_KILL_AFTER_CHECKPOINTS=n kills the process (SIGKILL) after its n-th checkpoint.
  const killAfter = Number(process.env.AAD_FORGE_KILL_AFTER_CHECKPOINTS ?? 0);
  let checkpoints = 0;
  const onCheckpoint = () => {
    if (killAfter > 0 && ++checkpoints >= killAfter) process.kill(process.pid, "SIGKILL");
  };
  const run = { workDir: options.work, onCheckpoint, checkpointEvery: Math.round(positive("--checkpoint-every", options.checkpointEvery)), sampleRoundsPerCheckpoint: Math.round(positive("--sample-rounds", options.sampleRounds)), sampleProcesses: Math.round(positive("--sample-processes", options.sampleProcesses)), ...(options.reuse === undefined ? {} : { reuseFrom: options.reuse }) };
  const phrasings = options.phrasings ?? base.phrasings;
  if (!(PHRASINGS as readonly string[]).includes(phrasings)) {
    console.error(`--phrasings must be one of ${PHRASINGS.join(", ")}, not ${JSON.stringify(phrasings)}`);
    process.exit(2);
  }
  const report = await runForge(options.out, { ...base, seed: Number(options.seed), phrasings: phrasings as Phrasings, sft, dpo }, (m) => console.log(`${new Date().toISOString().slice(11, 19)} ${m}`), run);
  console.log(JSON.stringify({ files: report.files, seconds: report.seconds }, null, 2));
  // Stage times vary run to run, so they stay out of the manifest; bench -- forge-recipe reads them from here.
  await writeFile(join(options.work, "last-run-seconds.json"), JSON.stringify(report.seconds) + "\n");
}

function positive(flag: string, value: string): number {
  const x = Number(value);
  if (!Number.isFinite(x) || x <= 0) {
    console.error(`${flag} must be a positive number, not ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return x;
}
