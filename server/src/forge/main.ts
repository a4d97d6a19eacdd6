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
  .option("--quick", "a scaled-down run (a few steps of each stage), for tests")
  .option("--bench", "write the large random-weight pair for speed benchmarks instead")
  .parse();

// The tfjs WASM module rethrows uncaught errors with its whole minified source; print just the error.
process.on("uncaughtException", (error) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});

const options = program.opts<{ out: string; seed: string; reuse?: string; quick?: boolean; bench?: boolean }>();
if (options.bench) {
  const { writeBenchPair } = await import("./bench-pair.ts");
  await writeBenchPair(options.out === "models" ? ".cache/bench-pair" : options.out, (m) => console.log(m));
} else {
  const base = options.quick ? QUICK_FORGE_CONFIG : DEFAULT_FORGE_CONFIG;
  const report = await runForge(options.out, { ...base, seed: Number(options.seed) }, (m) => console.log(m), options.reuse === undefined ? {} : { reuseFrom: options.reuse });
  console.log(JSON.stringify({ files: report.files, seconds: report.seconds }, null, 2));
}
