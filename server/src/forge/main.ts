/**
 * `npm run forge` — regenerate the built-in model pair in models/ (byte for byte for the same
 * seed on the same machine). `--reuse models` keeps the SFT models and labelled pairs of the
 * committed run and retrains DPO only (minutes instead of the SFT stage's quarter hour). `npm run forge -- --bench` writes the large random pair used only
 * for speed measurements into .cache/bench-pair/.
 */
import { Command } from "commander";
import { DEFAULT_FORGE_CONFIG, QUICK_FORGE_CONFIG, runForge } from "./forge.ts";

const program = new Command()
  .name("forge")
  .description("Train the built-in tiny SFT/DPO pair on the toy world and write it as GGUF")
  .option("--out <dir>", "output folder", "models")
  .option("--seed <n>", "random seed", String(DEFAULT_FORGE_CONFIG.seed))
  .option("--reuse <dir>", "reuse the SFT models and labelled pairs of an earlier run with the same settings (e.g. models): retrain DPO only")
  .option("--dpo-learning-rate <lr>", "DPO peak learning rate (default: the forge's)")
  .option("--dpo-rank <r>", "DPO LoRA rank; its alpha stays 2 × rank (default: the forge's)")
  .option("--quick", "a scaled-down run (a few steps of each stage), for tests")
  .option("--bench", "write the large random-weight pair for speed benchmarks instead")
  .parse();

// The tfjs WASM module rethrows uncaught errors with its whole minified source; print just the error.
process.on("uncaughtException", (error) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});

const options = program.opts<{ out: string; seed: string; reuse?: string; dpoLearningRate?: string; dpoRank?: string; quick?: boolean; bench?: boolean }>();
if (options.bench) {
  const { writeBenchPair } = await import("./bench-pair.ts");
  await writeBenchPair(options.out === "models" ? ".cache/bench-pair" : options.out, (m) => console.log(m));
} else {
  const base = options.quick ? QUICK_FORGE_CONFIG : DEFAULT_FORGE_CONFIG;
  const dpo = { ...base.dpo };
  if (options.dpoLearningRate !== undefined) dpo.learningRate = positive("--dpo-learning-rate", options.dpoLearningRate);
  if (options.dpoRank !== undefined) {
    dpo.rank = Math.round(positive("--dpo-rank", options.dpoRank));
    dpo.alpha = 2 * dpo.rank;
  }
  const report = await runForge(options.out, { ...base, seed: Number(options.seed), dpo }, (m) => console.log(m), options.reuse === undefined ? {} : { reuseFrom: options.reuse });
  console.log(JSON.stringify({ files: report.files, seconds: report.seconds }, null, 2));
}

function positive(flag: string, value: string): number {
  const x = Number(value);
  if (!Number.isFinite(x) || x <= 0) {
    console.error(`${flag} must be a positive number, not ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return x;
}
