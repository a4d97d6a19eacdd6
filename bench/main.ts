/**
 * `npm run bench [-- quality|speed ...]`: benchmarks, results in bench/results/ (JSON + Markdown).
 * Targets are ratios measured side by side in one run, never absolute times.
 */
import { Command } from "commander";

const program = new Command()
  .name("bench")
  .argument("[suites...]", "quality, speed, inline, bootstrap, dpo-recipe, forge-recipe, scale-out, generalization (default: quality and speed)")
  .option("--prompts <n>", "held-out prompts for the quality table", "300")
  .option("--novel-prompts <n>", "prompts in unseen phrasings for the quality table's second set (default: --prompts; 0 skips)")
  .option("--ask-prompts <n>", "prompts with the task named in unseen words for the quality table's third set (default: --prompts; 0 skips)")
  .option("--sweep-prompts <n>", "held-out prompts per sweep point", "150")
  .option("--max-tokens <n>", "token limit per response (the built-in pair's longest corpus answer is 117 tokens)", "128")
  .option("--no-sweeps", "skip the alpha and lambda sweeps")
  .option("--results-name <name>", "quality, speed, inline, dpo-recipe, generalization: write bench/results/<name>.json and .md (default: the suite's name)")
  .option("--pair <dir>", "speed, inline: the pair to measure (sft.gguf, dpo.gguf, dpo-lora.gguf; default .cache/bench-pair, or .cache/bench-1b from forge --bench-1b)")
  .option("--rounds <n>", "speed, scale-out: interleaved rounds (default 5)")
  .option("--scale-out-prompts <n>", "scale-out: prompts per run (default 80)")
  .option("--scale-out-tokens <n>", "scale-out: --max-tokens of the runs (default 64)")
  .option("--speed-tokens <n>", "speed: tokens per response (default 64)")
  .option("--no-inline", "speed: skip the inline time-to-first-token measurement (slow on a 1B pair)")
  .option("--gpu <backend>", "speed: offload the pair to this GPU backend (auto, cuda, vulkan, metal; bench/gpu-check.sh picks it)")
  .option("--models <dir>", "generalization: the pair's folder (sft.gguf, dpo.gguf, manifest.json; default: the built-in pair)")
  .option("--generalization <path>", "forge-recipe: the candidate's generalization results (JSON), for criterion 4")
  .option("--manifest <path>", "forge-recipe: the candidate forge's manifest.json")
  .option("--label <text>", "forge-recipe: the candidate's name")
  .option("--note <text>", "forge-recipe: what was changed and why")
  .option("--forge-seconds <path>", "forge-recipe: a JSON file of the forge's stage times")
  .option("--without-full", "bootstrap: leave out the real 100 % row (its DPO run is most of the cost); the report says so")
  .option("--synthetic-prompts <n>", "bootstrap: unlabelled prompts per synthetic round (default: as many as the real 10 % split has pairs)")
  .parse();

const suites = program.args.length ? program.args : ["quality", "speed"];
const options = program.opts<{ prompts: string; novelPrompts?: string; askPrompts?: string; sweepPrompts: string; maxTokens: string; sweeps: boolean; resultsName?: string; pair?: string; gpu?: string; rounds?: string; speedTokens?: string; inline: boolean; manifest?: string; label?: string; note?: string; forgeSeconds?: string; models?: string; generalization?: string; syntheticPrompts?: string; withoutFull?: boolean; scaleOutPrompts?: string; scaleOutTokens?: string }>();
const log = (line: string) => console.log(line);
for (const suite of suites) {
  if (suite === "quality") {
    const { runQuality } = await import("./quality.ts");
    await runQuality({
      prompts: Number(options.prompts),
      novelPrompts: Number(options.novelPrompts ?? options.prompts),
      askPrompts: Number(options.askPrompts ?? options.prompts),
      sweepPrompts: Number(options.sweepPrompts),
      maxTokens: Number(options.maxTokens),
      sweeps: options.sweeps,
      resultsName: options.resultsName ?? "quality",
      log,
    });
  } else if (suite === "speed") {
    const { runSpeed } = await import("./speed.ts");
    await runSpeed({ log, ...(options.pair === undefined ? {} : { pairDir: options.pair }), ...(options.resultsName === undefined ? {} : { resultsName: options.resultsName }), ...(options.gpu === undefined ? {} : { gpu: options.gpu }), ...(options.rounds === undefined ? {} : { rounds: Number(options.rounds) }), ...(options.speedTokens === undefined ? {} : { maxTokens: Number(options.speedTokens) }), inline: options.inline });
  } else if (suite === "inline") {
    const { runInline } = await import("./inline.ts");
    await runInline({ log, ...(options.pair === undefined ? {} : { pairDir: options.pair }), ...(options.resultsName === undefined ? {} : { resultsName: options.resultsName }), ...(options.rounds === undefined ? {} : { rounds: Number(options.rounds) }) });
  } else if (suite === "bootstrap") {
    const { runBootstrap } = await import("./bootstrap.ts");
    await runBootstrap({ log, ...(options.syntheticPrompts === undefined ? {} : { syntheticPrompts: Number(options.syntheticPrompts) }), ...(options.withoutFull === true ? { withoutFull: true } : {}) });
  } else if (suite === "forge-recipe") {
    const { recordForgeCandidate } = await import("./forge-recipe.ts");
    if (!options.manifest || !options.label) throw new Error("forge-recipe needs --manifest <path> and --label <text>");
    await recordForgeCandidate({ manifest: options.manifest, label: options.label, note: options.note ?? "", ...(options.forgeSeconds ? { seconds: options.forgeSeconds } : {}), ...(options.generalization ? { generalization: options.generalization } : {}), log });
  } else if (suite === "dpo-recipe") {
    const { runDpoRecipe } = await import("./dpo-recipe.ts");
    await runDpoRecipe({ log, maxTokens: Number(options.maxTokens), ...(options.resultsName === undefined ? {} : { resultsName: options.resultsName }) });
  } else if (suite === "scale-out") {
    const { runScaleOut } = await import("./scale-out.ts");
    await runScaleOut({
      log,
      ...(options.rounds === undefined ? {} : { rounds: Number(options.rounds) }),
      ...(options.scaleOutPrompts === undefined ? {} : { prompts: Number(options.scaleOutPrompts) }),
      ...(options.scaleOutTokens === undefined ? {} : { maxTokens: Number(options.scaleOutTokens) }),
    });
  } else if (suite === "generalization") {
    const { runGeneralization } = await import("./generalization.ts");
    await runGeneralization({ log, prompts: Number(options.prompts), ...(options.models === undefined ? {} : { modelsDir: options.models }), ...(options.resultsName === undefined ? {} : { resultsName: options.resultsName }) });
  } else {
    console.error(`unknown suite "${suite}" (quality, speed, inline, bootstrap, dpo-recipe, forge-recipe, scale-out, generalization)`);
    process.exitCode = 2;
  }
}
