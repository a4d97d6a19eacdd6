/**
 * Which DPO recipe makes the built-in DPO model better than its SFT model?
 *
 * The forge's DPO is fixed by its issue in β (0.1), epochs (2), data (the 10 % split) and form
 * (a LoRA over the frozen SFT weights). What is left to choose is the optimiser's learning rate
 * and the LoRA's rank; this sweep trains each candidate exactly as the forge would (same SFT
 * weights read back from models/sft.gguf, same seed, same LoRA initialisation, same pairs) and
 * scores it by the oracle reward of its greedy and AAD responses to held-out prompts, beside
 * the SFT model's greedy responses to the same prompts. Whatever comes out is reported.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Worker } from "node:worker_threads";
import { createRng } from "../server/src/decoding/rng.ts";
import type { RuleSpec } from "../server/src/decoding/index.ts";
import { DEFAULT_FORGE_CONFIG, encodeExample, forgeFiles, loadLlama, readPreferences, shuffled, type ForgeConfig } from "../server/src/forge/forge.ts";
import { readLlamaGguf } from "../server/src/forge/gguf-reader.ts";
import { heldoutPrompts, oracleReward } from "../server/src/forge/world.ts";
import { builtinPair } from "../server/src/runtime/builtin-pair.ts";
import { generate, ModelPair } from "../server/src/runtime/index.ts";
import { readVocabulary, trainInWorker, type TrainedModel } from "./bootstrap.ts";
import { type Summary, summarize, writeResults } from "./results.ts";

export interface DpoRecipeOptions {
  readonly log: (line: string) => void;
  /** Held-out prompts each model is scored on. Default 200. */
  readonly heldoutPrompts?: number;
  readonly maxTokens?: number;
  /** Trainings run at once (each in its own worker thread). Default 2. */
  readonly parallel?: number;
  readonly recipes?: readonly Recipe[];
}

export interface Recipe {
  readonly learningRate: number;
  readonly rank: number;
  readonly alpha: number;
}

const DEFAULT_RECIPES: readonly Recipe[] = [
  { learningRate: 3e-3, rank: 8, alpha: 16 },
  { learningRate: 1e-3, rank: 8, alpha: 16 },
  { learningRate: 5e-4, rank: 8, alpha: 16 },
  { learningRate: 2e-4, rank: 8, alpha: 16 },
  { learningRate: 1e-4, rank: 8, alpha: 16 },
  { learningRate: 1e-3, rank: 4, alpha: 8 },
];

interface Row {
  readonly recipe: Recipe;
  readonly training: TrainedModel["training"];
  readonly greedy: Summary & { rewards: number[] };
  readonly aad: Summary & { rewards: number[] };
}

export async function runDpoRecipe(options: DpoRecipeOptions): Promise<void> {
  const { log } = options;
  const heldoutCount = options.heldoutPrompts ?? 200;
  const maxTokens = options.maxTokens ?? 64;
  const recipes = options.recipes ?? DEFAULT_RECIPES;
  const started = Date.now();
  const files = builtinPair();
  const labelled = await readPreferences(forgeFiles(files.dir).preferences);
  const real10 = labelled.filter((p) => p.split === "dpo");
  const heldout = shuffled(heldoutPrompts().map((p) => p.text), createRng("dpo-recipe").fork("heldout")).slice(0, heldoutCount);
  const scratch = await mkdtemp(join(tmpdir(), "aad-dpo-recipe-"));
  const llama = await loadLlama();
  const workers = new Set<Worker>();
  try {
    const forgeSeed = await readSeed(files.dir);
    const { config } = await readLlamaGguf(files.sft);
    const vocabulary = await readVocabulary(files.sft);
    const tokenizer = await llama.loadModel({ modelPath: files.sft, vocabOnly: true });
    const pairs = real10.map((p) => ({
      chosen: encodeExample(tokenizer, vocabulary, p.prompt, p.chosen, config.contextLength),
      rejected: encodeExample(tokenizer, vocabulary, p.prompt, p.rejected, config.contextLength),
    }));
    await tokenizer.dispose();

    const score = async (pair: ModelPair, method: RuleSpec) => {
      const rewards: number[] = [];
      for (const [i, prompt] of heldout.entries()) rewards.push(oracleReward(prompt, (await generate(pair, { prompt, method, maxTokens, seed: i })).text));
      return { ...summarize(rewards), rewards };
    };
    const sftPair = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama });
    const sft = await score(sftPair, { method: "greedy-sft" });
    await sftPair.dispose();
    log(`SFT greedy: ${sft.mean.toFixed(3)} ± ${sft.halfWidth95.toFixed(3)} on ${heldout.length} held-out prompts`);

    const name = (r: Recipe) => `lr ${r.learningRate.toExponential(0)}, rank ${r.rank}, α ${r.alpha}`;
    const rows: Row[] = [];
    const parallel = Math.max(1, options.parallel ?? 2);
    for (let start = 0; start < recipes.length; start += parallel) {
      const batch = recipes.slice(start, start + parallel);
      const trained = await Promise.all(
        batch.map((recipe, k) => {
          const dpo: ForgeConfig["dpo"] = { ...DEFAULT_FORGE_CONFIG.dpo, learningRate: recipe.learningRate, rank: recipe.rank, alpha: recipe.alpha };
          return trainInWorker({ name: name(recipe), modelName: "aad-tiny-dpo", sft: files.sft, pairs, seed: forgeSeed, dpo, out: join(scratch, `recipe-${start + k}.gguf`) }, workers, log);
        }),
      );
      for (const [k, model] of trained.entries()) {
        const recipe = batch[k]!;
        const pair = await ModelPair.load({ sft: files.sft, dpo: model.path }, { llama });
        try {
          const greedy = await score(pair, { method: "greedy-dpo" });
          const aad = await score(pair, { method: "aad", alpha: 0.1 });
          rows.push({ recipe, training: model.training, greedy, aad });
          log(`${name(recipe)}: loss ${model.training.finalLoss.toFixed(3)}, train acc ${model.training.rewardAccuracy.toFixed(3)}; greedy ${greedy.mean.toFixed(3)} ± ${greedy.halfWidth95.toFixed(3)}, AAD ${aad.mean.toFixed(3)} ± ${aad.halfWidth95.toFixed(3)}`);
        } finally {
          await pair.dispose();
        }
      }
    }
    const minutes = (Date.now() - started) / 60000;
    const cell = (s: Summary) => `${s.mean.toFixed(3)} ± ${s.halfWidth95.toFixed(3)}`;
    const delta = (s: { rewards: number[] }) => cell(summarize(s.rewards.map((x, i) => x - sft.rewards[i]!)));
    const markdown = [
      "# DPO recipe sweep for the built-in pair",
      "",
      `Each row is the forge's DPO (β ${DEFAULT_FORGE_CONFIG.dpo.beta}, ${DEFAULT_FORGE_CONFIG.dpo.epochs} epochs, batch ${DEFAULT_FORGE_CONFIG.dpo.batchSize}, cosine schedule, a LoRA over the frozen SFT weights of models/sft.gguf, the forge's seed and LoRA initialisation) on the ${pairs.length} pairs of the real 10 % split, with its learning rate and LoRA rank changed. ` +
        `Scores are mean oracle rewards over ${heldout.length} held-out prompts, at most ${maxTokens} tokens, ± the 95 % half-width; Δ is the paired difference to greedy SFT on the same prompts (${cell(sft)}).`,
      "",
      "| learning rate | rank (α) | final DPO loss | train reward acc. | greedy DPO | Δ vs greedy SFT | AAD α 0.1 | Δ vs greedy SFT |",
      "|---|---|---|---|---|---|---|---|",
      ...rows.map((r) => `| ${r.recipe.learningRate}${isForgeDefault(r.recipe) ? " (the forge's)" : ""} | ${r.recipe.rank} (${r.recipe.alpha}) | ${r.training.finalLoss.toFixed(3)} | ${r.training.rewardAccuracy.toFixed(3)} | ${cell(r.greedy)} | ${delta(r.greedy)} | ${cell(r.aad)} | ${delta(r.aad)} |`),
      "",
      `Run time ${minutes.toFixed(1)} min.`,
      "",
    ].join("\n");
    await writeResults(
      "dpo-recipe",
      { heldoutPrompts: heldout.length, maxTokens, dpoPairs: pairs.length, sftGreedy: strip(sft), rows: rows.map((r) => ({ recipe: r.recipe, training: r.training, greedy: strip(r.greedy), aad: strip(r.aad) })), minutes },
      markdown,
    );
    log(markdown);
  } finally {
    await Promise.all([...workers].map((worker) => worker.terminate()));
    await llama.dispose();
    await rm(scratch, { recursive: true, force: true });
  }
}

function strip(s: Summary): Summary {
  return { n: s.n, mean: s.mean, sd: s.sd, halfWidth95: s.halfWidth95 };
}

function isForgeDefault(r: Recipe): boolean {
  const { learningRate, rank, alpha } = DEFAULT_FORGE_CONFIG.dpo;
  return r.learningRate === learningRate && r.rank === rank && r.alpha === alpha;
}

async function readSeed(dir: string): Promise<number> {
  return (JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as { seed: number }).seed;
}
