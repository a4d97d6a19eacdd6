/**
 * How greedy DPO and AAD move with the DPO model's strength and with the amount of DPO data.
 *
 * The forge's DPO is fixed by issue 10 in β (0.1), epochs (2) and form (a LoRA over the frozen
 * SFT weights). This sweep trains DPO models exactly as the forge would (same SFT weights read
 * back from models/sft.gguf, same seed, same LoRA initialisation) with one thing changed per
 * row: the learning rate, the LoRA rank, or how many labelled pairs it sees (a seeded subset of
 * the real 10 % split, or that split plus a seeded draw from the held-back 90 %). Each model is
 * paired with the SFT model and scored by the oracle reward of its greedy and AAD (α 0.1)
 * responses to held-out prompts. The rows are fixed here, before any of them was measured; none
 * is chosen by its result, and whatever comes out is reported.
 *
 * Every trained model and every row's scores are kept in .cache/dpo-recipe/<key>: an
 * interrupted run resumes where it stopped.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Worker } from "node:worker_threads";
import { createRng } from "../server/src/decoding/rng.ts";
import type { RuleSpec } from "../server/src/decoding/index.ts";
import { DEFAULT_FORGE_CONFIG, encodeExample, forgeFiles, loadLlama, readPreferences, shuffled, type ForgeConfig } from "../server/src/forge/forge.ts";
import { readLlamaGguf } from "../server/src/forge/gguf-reader.ts";
import { pairedBootstrap, type Interval } from "../server/src/forge/stats.ts";
import { heldoutPrompts, oracleRewardBreakdown, type OracleFeature } from "../server/src/forge/world.ts";
import { builtinPair } from "../server/src/runtime/builtin-pair.ts";
import { generate, ModelPair } from "../server/src/runtime/index.ts";
import { readVocabulary, trainInWorker, type TrainedModel } from "./bootstrap.ts";
import { type Summary, summarize, writeResults } from "./results.ts";

export interface DpoRecipeOptions {
  readonly log: (line: string) => void;
  /** Held-out prompts each model is scored on. Default 200. */
  readonly heldoutPrompts?: number;
  /** Token limit per response. Default 128 (the quality bench's). */
  readonly maxTokens?: number;
  /** Trainings run at once (each in its own worker thread). Default 2. */
  readonly parallel?: number;
  readonly recipes?: readonly Recipe[];
  /** bench/results/<name>.json and .md. Default "dpo-recipe". */
  readonly resultsName?: string;
}

export interface Recipe {
  readonly learningRate: number;
  readonly rank: number;
  readonly alpha: number;
  /**
   * Labelled pairs trained on, as a multiple of the real 10 % split: below 1 a seeded subset of
   * it, above 1 all of it plus a seeded draw from the held-back 90 %.
   */
  readonly data: number;
}

const FORGE_DPO = DEFAULT_FORGE_CONFIG.dpo;
const forge = (change: Partial<Recipe>): Recipe => ({ learningRate: FORGE_DPO.learningRate, rank: FORGE_DPO.rank, alpha: FORGE_DPO.alpha, data: 1, ...change });

/**
 * Fixed before any row was measured (session 8): the amount of DPO data at the forge's recipe
 * (a quarter, half, all and twice the 10 % split; bench/results/bootstrap.md has the 100 %),
 * then the learning rate halved and 2.5-fold at the 10 % split.
 */
export const DEFAULT_RECIPES: readonly Recipe[] = [
  forge({ data: 0.25 }),
  forge({ data: 0.5 }),
  forge({ data: 1 }),
  forge({ data: 2 }),
  forge({ learningRate: 1e-4 }),
  forge({ learningRate: 5e-4 }),
];

/** The oracle features whose rates the report shows: AAD's gain and its loss on the built-in pair. */
const SHOWN_FEATURES = ["caveat", "repetition", "example"] as const satisfies readonly OracleFeature[];

interface Scores extends Summary {
  readonly rewards: readonly number[];
  /** Share of responses with each shown feature. */
  readonly rates: Readonly<Record<(typeof SHOWN_FEATURES)[number], number>>;
}

interface Row {
  readonly recipe: Recipe;
  readonly pairs: number;
  /** Null for the built-in dpo.gguf, which this bench does not retrain. */
  readonly training: TrainedModel["training"] | null;
  readonly greedy: Scores;
  readonly aad: Scores;
  readonly greedyDpoMinusSft: Interval;
  readonly aadMinusGreedyDpo: Interval;
}

export async function runDpoRecipe(options: DpoRecipeOptions): Promise<void> {
  const { log } = options;
  const heldoutCount = options.heldoutPrompts ?? 200;
  const maxTokens = options.maxTokens ?? 128;
  const recipes = options.recipes ?? DEFAULT_RECIPES;
  const resultsName = options.resultsName ?? "dpo-recipe";
  const started = Date.now();
  const files = builtinPair();
  const manifest = JSON.parse(await readFile(join(files.dir, "manifest.json"), "utf8")) as { seed: number; config: { dpo: ForgeConfig["dpo"] } };
  const labelled = await readPreferences(forgeFiles(files.dir).preferences);
  const real10 = labelled.filter((p) => p.split === "dpo");
  const rng = createRng("dpo-recipe");
  const real10Shuffled = shuffled(real10, rng.fork("subset"));
  const rest = shuffled(labelled.filter((p) => p.split === "unused"), rng.fork("more"));
  const heldout = shuffled(heldoutPrompts().map((p) => p.text), rng.fork("heldout")).slice(0, heldoutCount);
  const pairsOf = (r: Recipe) => {
    const n = Math.round(real10.length * r.data);
    if (n <= real10.length) return r.data === 1 ? real10 : real10Shuffled.slice(0, n);
    if (n - real10.length > rest.length) throw new RangeError(`data ${r.data} asks for ${n} pairs; only ${real10.length + rest.length} are labelled`);
    return [...real10, ...rest.slice(0, n - real10.length)];
  };
  const isBuiltin = (r: Recipe) => r.data === 1 && r.learningRate === manifest.config.dpo.learningRate && r.rank === manifest.config.dpo.rank && r.alpha === manifest.config.dpo.alpha;

  const pairHash = createHash("sha256").update(await readFile(files.sft)).update(await readFile(files.dpo)).digest("hex");
  const scratch = join(".cache", "dpo-recipe", createHash("sha256").update(JSON.stringify({ pairHash, heldoutCount, maxTokens })).digest("hex").slice(0, 16));
  await mkdir(scratch, { recursive: true });
  log(`dpo-recipe: ${recipes.length} rows, ${heldout.length} held-out prompts, work folder ${scratch} (rerun to resume)`);
  const key = (r: Recipe) => `lr${r.learningRate}-r${r.rank}-a${r.alpha}-d${r.data}`;
  const name = (r: Recipe) => `lr ${r.learningRate.toExponential(0)}, rank ${r.rank}, ${pairsOf(r).length} pairs`;

  const llama = await loadLlama();
  const workers = new Set<Worker>();
  try {
    const { config } = await readLlamaGguf(files.sft);
    const vocabulary = await readVocabulary(files.sft);
    const tokenizer = await llama.loadModel({ modelPath: files.sft, vocabOnly: true });
    const encode = (pairs: typeof real10) =>
      pairs.map((p) => ({
        chosen: encodeExample(tokenizer, vocabulary, p.prompt, p.chosen, config.contextLength),
        rejected: encodeExample(tokenizer, vocabulary, p.prompt, p.rejected, config.contextLength),
      }));

    const score = async (pair: ModelPair, method: RuleSpec): Promise<Scores> => {
      const rewards: number[] = [];
      const counts = Object.fromEntries(SHOWN_FEATURES.map((f) => [f, 0])) as Record<(typeof SHOWN_FEATURES)[number], number>;
      for (const [i, prompt] of heldout.entries()) {
        const breakdown = oracleRewardBreakdown(prompt, (await generate(pair, { prompt, method, maxTokens, seed: i })).text);
        rewards.push(breakdown.total);
        for (const f of SHOWN_FEATURES) if (breakdown.features[f] !== 0) counts[f]++;
      }
      const rates = Object.fromEntries(SHOWN_FEATURES.map((f) => [f, counts[f] / heldout.length])) as Scores["rates"];
      return { ...summarize(rewards), rewards, rates };
    };
    const withPair = async <T>(dpo: string, run: (pair: ModelPair) => Promise<T>): Promise<T> => {
      const pair = await ModelPair.load({ sft: files.sft, dpo }, { llama });
      try {
        return await run(pair);
      } finally {
        await pair.dispose();
      }
    };
    /** Scores of one DPO model, kept in the work folder (as are the SFT model's, below). */
    const scored = (label: string, dpo: string) =>
      kept(join(scratch, `${label}.scores.json`), () => withPair(dpo, async (pair) => ({ greedy: await score(pair, { method: "greedy-dpo" }), aad: await score(pair, { method: "aad", alpha: 0.1 }) })));
    const sft = await kept(join(scratch, "sft.scores.json"), () => withPair(files.dpo, (pair) => score(pair, { method: "greedy-sft" })));
    log(`SFT greedy: ${sft.mean.toFixed(3)} ± ${sft.halfWidth95.toFixed(3)} on ${heldout.length} held-out prompts`);

    // Train what is not trained yet, `parallel` at a time (a finished model has its .json beside it).
    const trained = new Map<string, TrainedModel>();
    const toTrain: Recipe[] = [];
    for (const recipe of recipes) {
      if (isBuiltin(recipe)) continue;
      const out = join(scratch, `${key(recipe)}.gguf`);
      const done = await readJson<TrainedModel>(`${out}.json`);
      if (done !== undefined) trained.set(key(recipe), done);
      else toTrain.push(recipe);
    }
    const parallel = Math.max(1, options.parallel ?? 2);
    for (let start = 0; start < toTrain.length; start += parallel) {
      const batch = toTrain.slice(start, start + parallel);
      const models = await Promise.all(
        batch.map((recipe) => {
          const dpo: ForgeConfig["dpo"] = { ...FORGE_DPO, learningRate: recipe.learningRate, rank: recipe.rank, alpha: recipe.alpha };
          return trainInWorker({ name: name(recipe), modelName: "aad-tiny-dpo", sft: files.sft, pairs: encode(pairsOf(recipe)), seed: manifest.seed, dpo, out: join(scratch, `${key(recipe)}.gguf`) }, workers, log);
        }),
      );
      for (const [k, model] of models.entries()) trained.set(key(batch[k]!), model);
    }

    const rows: Row[] = [];
    for (const recipe of recipes) {
      const model = trained.get(key(recipe));
      const { greedy, aad } = await scored(key(recipe), model?.path ?? files.dpo);
      rows.push({
        recipe,
        pairs: pairsOf(recipe).length,
        training: model?.training ?? null,
        greedy,
        aad,
        greedyDpoMinusSft: pairedBootstrap(greedy.rewards, sft.rewards, 2000, `dpo-recipe/${key(recipe)}/sft`),
        aadMinusGreedyDpo: pairedBootstrap(aad.rewards, greedy.rewards, 2000, `dpo-recipe/${key(recipe)}`),
      });
      log(`${name(recipe)}: greedy DPO ${greedy.mean.toFixed(3)} ± ${greedy.halfWidth95.toFixed(3)}, AAD ${aad.mean.toFixed(3)} ± ${aad.halfWidth95.toFixed(3)}`);
    }
    await tokenizer.dispose();

    const minutes = (Date.now() - started) / 60000;
    const markdown = report(rows, sft, { heldout: heldout.length, maxTokens, real10: real10.length, minutes, isBuiltin });
    await writeResults(
      resultsName,
      {
        heldoutPrompts: heldout.length,
        maxTokens,
        real10Pairs: real10.length,
        sftGreedy: strip(sft),
        rows: rows.map((r) => ({
          recipe: r.recipe,
          pairs: r.pairs,
          builtin: isBuiltin(r.recipe),
          training: r.training,
          greedy: strip(r.greedy),
          aad: strip(r.aad),
          featureRates: { greedy: r.greedy.rates, aad: r.aad.rates },
          greedyDpoMinusSft: r.greedyDpoMinusSft,
          aadMinusGreedyDpo: r.aadMinusGreedyDpo,
        })),
        minutes,
      },
      markdown,
    );
    log(markdown);
  } finally {
    await Promise.all([...workers].map((worker) => worker.terminate()));
    await llama.dispose();
  }
}

function report(rows: readonly Row[], sft: Scores, at: { heldout: number; maxTokens: number; real10: number; minutes: number; isBuiltin: (r: Recipe) => boolean }): string {
  const cell = (s: Summary) => `${s.mean.toFixed(2)} ± ${s.halfWidth95.toFixed(2)}`;
  const interval = (i: Interval) => `${i.mean >= 0 ? "+" : "−"}${Math.abs(i.mean).toFixed(2)} [${signed(i.low)}, ${signed(i.high)}]`;
  const pct = (x: number) => `${Math.round(x * 100)} %`;
  const rates = (s: Scores) => SHOWN_FEATURES.map((f) => pct(s.rates[f])).join(" / ");
  return [
    "# DPO strength and data: how greedy DPO and AAD move with them",
    "",
    `Each row is one DPO model on the built-in SFT model, trained as the forge trains it (β ${FORGE_DPO.beta}, ${FORGE_DPO.epochs} epochs, batch ${FORGE_DPO.batchSize}, cosine schedule, a LoRA over the frozen SFT weights of models/sft.gguf, the forge's seed and LoRA initialisation) with one change: the learning rate, or the number of labelled pairs ` +
      `(the real 10 % split has ${at.real10}; fewer is a seeded subset of it, more is all of it plus a seeded draw from the held-back 90 %). The rows were fixed in bench/dpo-recipe.ts before any was measured. ` +
      `Scores are mean oracle rewards (best achievable 4.5) over ${at.heldout} held-out prompts, at most ${at.maxTokens} tokens, ± the 95 % half-width; differences are paired bootstrap 95 % intervals. Greedy SFT on the same prompts: ${cell(sft)}. ` +
      "Feature columns are the shares of answers with the caveat (AAD's gain on this pair), with a repetition (its loss) and with a code example.",
    "",
    "| learning rate | rank | DPO pairs | final DPO loss | train reward acc. | greedy DPO | greedy DPO − SFT | AAD α 0.1 | AAD − greedy DPO | caveat / repetition / example: greedy DPO | same: AAD |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map((r) =>
      [
        `${r.recipe.learningRate}`,
        `${r.recipe.rank}`,
        `${r.pairs}${at.isBuiltin(r.recipe) ? " (the built-in dpo.gguf)" : ""}`,
        r.training === null ? "—" : r.training.finalLoss.toFixed(3),
        r.training === null ? "—" : r.training.rewardAccuracy.toFixed(3),
        cell(r.greedy),
        interval(r.greedyDpoMinusSft),
        cell(r.aad),
        interval(r.aadMinusGreedyDpo),
        rates(r.greedy),
        rates(r.aad),
      ].join(" | "),
    ).map((line) => `| ${line} |`),
    "",
    `bench/results/bootstrap.md has the same comparison at ten times the data (the real 100 %). Run time ${at.minutes.toFixed(1)} min (this invocation; rows resumed from the work folder count nothing).`,
    "",
  ].join("\n");
}

/** A JSON file's value, or undefined where there is no file. */
async function readJson<T>(file: string): Promise<T | undefined> {
  const text = await readFile(file, "utf8").catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

/** The value kept in `file`, or `compute`'s, written there first (whole or not at all: a stop mid-write leaves no torn file). */
async function kept<T>(file: string, compute: () => Promise<T>): Promise<T> {
  const value = await readJson<T>(file);
  if (value !== undefined) return value;
  const computed = await compute();
  await writeFile(`${file}.tmp`, JSON.stringify(computed));
  await rename(`${file}.tmp`, file);
  return computed;
}

function signed(x: number): string {
  return `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(2)}`;
}

function strip(s: Summary): Summary {
  return { n: s.n, mean: s.mean, sd: s.sd, halfWidth95: s.halfWidth95 };
}
