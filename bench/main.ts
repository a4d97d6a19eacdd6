/**
 * `npm run bench [-- quality|speed ...]`: benchmarks, results in bench/results/ (JSON + Markdown).
 * Targets are ratios measured side by side in one run, never absolute times.
 */
import { Command } from "commander";

const program = new Command()
  .name("bench")
  .argument("[suites...]", "quality, speed, bootstrap, dpo-recipe (default: quality and speed)")
  .option("--prompts <n>", "held-out prompts for the quality table", "300")
  .option("--sweep-prompts <n>", "held-out prompts per sweep point", "150")
  .option("--max-tokens <n>", "token limit per response", "64")
  .option("--no-sweeps", "skip the alpha and lambda sweeps")
  .parse();

const suites = program.args.length ? program.args : ["quality", "speed"];
const options = program.opts<{ prompts: string; sweepPrompts: string; maxTokens: string; sweeps: boolean }>();
const log = (line: string) => console.log(line);
for (const suite of suites) {
  if (suite === "quality") {
    const { runQuality } = await import("./quality.ts");
    await runQuality({ prompts: Number(options.prompts), sweepPrompts: Number(options.sweepPrompts), maxTokens: Number(options.maxTokens), sweeps: options.sweeps, log });
  } else if (suite === "speed") {
    const { runSpeed } = await import("./speed.ts");
    await runSpeed({ log });
  } else if (suite === "bootstrap") {
    const { runBootstrap } = await import("./bootstrap.ts");
    await runBootstrap({ log });
  } else if (suite === "dpo-recipe") {
    const { runDpoRecipe } = await import("./dpo-recipe.ts");
    await runDpoRecipe({ log });
  } else {
    console.error(`unknown suite "${suite}" (quality, speed, bootstrap, dpo-recipe)`);
    process.exitCode = 2;
  }
}
