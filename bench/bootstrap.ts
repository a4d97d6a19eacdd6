/**
 * The paper's data-scarcity experiment in miniature on the built-in world: can AAD turn
 * unlabelled prompts into preference data that helps when labelled data is scarce?
 *
 *   real 10 %   the forge's DPO split of models/preferences.jsonl.gz (the built-in dpo.gguf was
 *               trained on it)
 *   round 1     for unlabelled training prompts (prompt texts of the "unused" split, their
 *               labels ignored): chosen = AAD over (sft, built-in dpo), rejected = a DPO sample;
 *               DPO from the SFT model on real 10 % + these pairs
 *   round 2     the same prompts, pairs regenerated with the round-1 model in place of the
 *               built-in DPO model; DPO from the SFT model again on real 10 % + the new pairs
 *   real 100 %  DPO on the "dpo" + "unused" splits: every oracle-labelled pair there is
 *
 * Every DPO run is the forge's own: its settings (DEFAULT_FORGE_CONFIG.dpo, LoRA over the frozen
 * SFT weights read back from sft.gguf), its seed and its LoRA initialisation, so the rows differ
 * in their training pairs only. As a check, the 10 % split is retrained too: it must give
 * dpo.gguf byte for byte (if it does not, that model is evaluated as a row of its own). Each
 * model is scored by the oracle reward of its greedy and its AAD responses to the same
 * held-out prompts. Whatever comes out is reported.
 *
 * Each DPO run trains in a worker thread (tfjs is single-threaded and synchronous), so the
 * 100 % run and the round trainings overlap with generation and evaluation on the other core.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parentPort, Worker, workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { readGgufFileInfo, type LlamaModel } from "node-llama-cpp";
import { createRng, type Rng } from "../server/src/decoding/rng.ts";
import type { RuleSpec } from "../server/src/decoding/index.ts";
import { DEFAULT_FORGE_CONFIG, encodeExample, forgeFiles, loadLlama, readPreferences, shuffled, type ForgeConfig } from "../server/src/forge/forge.ts";
import { dpoCheckpointFile } from "../server/src/forge/checkpoint-file.ts";
import { readLlamaGguf } from "../server/src/forge/gguf-reader.ts";
import { buildLlamaGguf, type LlamaHyperparameters } from "../server/src/forge/llama-gguf.ts";
import { initialLora, mergeLora, type ModelConfig, type ModelWeights } from "../server/src/forge/model.ts";
import { trainDpo, type PreferencePair } from "../server/src/forge/train.ts";
import type { Vocabulary } from "../server/src/forge/vocabulary.ts";
import { CHAT_TEMPLATE, heldoutPrompts, oracleReward, oracleRewardBreakdown, type OracleFeature } from "../server/src/forge/world.ts";
import { generatePreferencePairs, type PreferenceRow } from "../server/src/pairs/index.ts";
import { builtinPair } from "../server/src/runtime/builtin-pair.ts";
import { generate, ModelPair } from "../server/src/runtime/index.ts";
import { type Summary, summarize, writeResults } from "./results.ts";

export interface BootstrapOptions {
  readonly log: (line: string) => void;
  /**
   * Unlabelled prompts turned into synthetic pairs in each round. Default 0: as many as the real
   * 10 % split has pairs (the paper's setting: as much synthetic data as real). On the built-in
   * pair that is a long run (the "100 %" DPO run alone trains on ~20k pairs); it keeps
   * everything in .cache/bootstrap and resumes when rerun.
   */
  readonly syntheticPrompts?: number;
  /** Held-out prompts each model is scored on. Default 200. */
  readonly heldoutPrompts?: number;
  /** Token limit of the evaluated responses. Default 128 (as the quality bench; every corpus answer fits). */
  readonly maxTokens?: number;
  /** Token limit of the synthetic responses. Default: the forge's, for its preference samples. */
  readonly pairMaxTokens?: number;
  readonly seed?: number;
  /** Check the pipeline end to end in minutes: a few prompts per stage, 40 pairs for "10 %" and for "100 %", no result files. */
  readonly smoke?: boolean;
  /**
   * Leave out the "real 100 %" row, whose DPO run (10× the pairs) is most of the cost: a partial
   * report, which says so, when a session runs out of time. Not part of the work folder's key.
   */
  readonly withoutFull?: boolean;
}

type Settings = typeof DEFAULTS;

const DEFAULTS = { syntheticPrompts: 0, heldoutPrompts: 200, maxTokens: 128, pairMaxTokens: DEFAULT_FORGE_CONFIG.preferences.maxTokens, seed: 1 };
const SMOKE = { syntheticPrompts: 6, heldoutPrompts: 6, maxTokens: 16, pairMaxTokens: 16 };
const AAD: RuleSpec = { method: "aad", alpha: 0.1 };
const GREEDY: RuleSpec = { method: "greedy-dpo" };

interface TextPair {
  readonly prompt: string;
  readonly chosen: string;
  readonly rejected: string;
}

interface Scores extends Summary {
  readonly meanTokens: number;
  /** Per prompt, in the order of the held-out prompts (for paired comparisons). */
  readonly rewards: readonly number[];
}

interface ModelRow {
  readonly name: string;
  readonly trainingPairs: { readonly real: number; readonly synthetic: number };
  readonly training?: { readonly finalLoss: number; readonly rewardAccuracy: number; readonly seconds: number };
  readonly greedy: Scores;
  readonly aad?: Scores;
}

interface SyntheticRound {
  readonly round: number;
  readonly generator: string;
  readonly prompts: number;
  readonly pairs: number;
  readonly skippedEqual: number;
  /** How the oracle ranks the synthetic chosen against the synthetic rejected. */
  readonly oracleAgrees: number;
  readonly oracleTies: number;
  readonly oracleDisagrees: number;
  readonly meanOracleChosen: number;
  readonly meanOracleRejected: number;
  /** Shares of chosen and of rejected answers with a repetition, and with the caveat (the features AAD moves most on the built-in pair). */
  readonly repetition: { readonly chosen: number; readonly rejected: number };
  readonly caveat: { readonly chosen: number; readonly rejected: number };
  readonly seconds: number;
}

export async function runBootstrap(allOptions: BootstrapOptions): Promise<void> {
  const { withoutFull = false, ...options } = allOptions;
  const settings = { ...DEFAULTS, ...(options.smoke === true ? SMOKE : {}), ...definedOnly(options) };
  const { log } = options;
  const started = Date.now();
  const files = builtinPair();
  const labelled = await readPreferences(forgeFiles(files.dir).preferences);
  const builtinPairs = labelled.filter((p) => p.split === "dpo");
  const real10 = builtinPairs.slice(0, options.smoke === true ? 40 : undefined);
  const real100 = labelled.filter((p) => p.split === "dpo" || p.split === "unused").slice(0, options.smoke === true ? 40 : undefined);
  const forgeSeed = (JSON.parse(await readFile(join(files.dir, "manifest.json"), "utf8")) as { seed: number }).seed;
  const rng = createRng(`bootstrap:${settings.seed}`);
  const unlabelled = shuffled(labelled.filter((p) => p.split === "unused").map((p) => p.prompt), rng.fork("unlabelled")).slice(0, settings.syntheticPrompts > 0 ? settings.syntheticPrompts : real10.length);
  const heldout = shuffled(heldoutPrompts().map((p) => p.text), rng.fork("heldout")).slice(0, settings.heldoutPrompts);
  log(`bootstrap: ${real10.length} real pairs (10 %), ${real100.length} (100 %), ${unlabelled.length} unlabelled prompts per round, ${heldout.length} held-out prompts`);

  // Everything this run trains, generates and scores is kept here, keyed by the pair and the
  // settings: an interrupted run (or a later session) picks up where it stopped.
  const pairHash = createHash("sha256").update(await readFile(files.sft)).update(await readFile(files.dpo)).digest("hex");
  const scratch = join(".cache", "bootstrap", createHash("sha256").update(JSON.stringify({ pairHash, settings, smoke: options.smoke === true })).digest("hex").slice(0, 16));
  await mkdir(scratch, { recursive: true });
  log(`bootstrap: work folder ${scratch} (rerun to resume)`);
  const llama = await loadLlama();
  const workers = new Set<Worker>();
  let tokenizer: LlamaModel | undefined;
  try {
    const { config, weights: sftWeights } = await readLlamaGguf(files.sft);
    const vocabulary = await readVocabulary(files.sft);
    await checkRoundTrip(files.sft, config, sftWeights, vocabulary);
    tokenizer = await llama.loadModel({ modelPath: files.sft, vocabOnly: true });
    const tokens = tokenizer;
    const encode = (p: TextPair): PreferencePair => ({
      chosen: encodeExample(tokens, vocabulary, p.prompt, p.chosen, config.contextLength),
      rejected: encodeExample(tokens, vocabulary, p.prompt, p.rejected, config.contextLength),
    });

    const train = (name: string, pairs: readonly TextPair[], modelName = `aad-tiny-${name}`): Promise<TrainedModel> => {
      const done = join(scratch, `${name}.gguf.json`);
      if (existsSync(done)) {
        log(`${name}: trained earlier (${done})`);
        return readFile(done, "utf8").then((text) => JSON.parse(text) as TrainedModel);
      }
      log(`training ${name} on ${pairs.length} pairs (worker thread)`);
      const trained = trainInWorker({ name, modelName, sft: files.sft, pairs: pairs.map(encode), seed: forgeSeed, out: join(scratch, `${name}.gguf`) }, workers, log);
      trained.catch(() => undefined); // awaited later; an early failure must not count as unhandled meanwhile
      return trained;
    };

    const withPair = async <T>(dpoPath: string, run: (pair: ModelPair) => Promise<T>): Promise<T> => {
      const pair = await ModelPair.load({ sft: files.sft, dpo: dpoPath }, { llama });
      try {
        return await run(pair);
      } finally {
        await pair.dispose();
      }
    };

    const score = (pair: ModelPair, method: RuleSpec, label: string) => async (): Promise<Scores> => {
      // Each label names one model of this work folder, and those models are kept, so the label is the key.
      const cached = join(scratch, `scores-${label.replace(/[^a-z0-9]+/gi, "-")}.json`);
      if (existsSync(cached)) {
        const scores = JSON.parse(await readFile(cached, "utf8")) as Scores;
        log(`  ${label.padEnd(34)} oracle ${scores.mean.toFixed(3)} ± ${scores.halfWidth95.toFixed(3)}  (scored earlier)`);
        return scores;
      }
      const t0 = Date.now();
      const rewards: number[] = [];
      const lengths: number[] = [];
      for (const [i, prompt] of heldout.entries()) {
        const result = await generate(pair, { prompt, method, maxTokens: settings.maxTokens, seed: i });
        rewards.push(oracleReward(prompt, result.text));
        lengths.push(result.stats.tokens);
      }
      const scores = { ...summarize(rewards), meanTokens: mean(lengths), rewards };
      await writeFile(`${cached}.tmp`, JSON.stringify(scores));
      await rename(`${cached}.tmp`, cached);
      log(`  ${label.padEnd(34)} oracle ${scores.mean.toFixed(3)} ± ${scores.halfWidth95.toFixed(3)}  tokens ${scores.meanTokens.toFixed(1)}  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      return scores;
    };

    const evaluate = (name: string, dpoPath: string, trainingPairs: ModelRow["trainingPairs"], training?: ModelRow["training"]): Promise<ModelRow> =>
      withPair(dpoPath, async (pair) => {
        const greedy = await score(pair, GREEDY, `${name}, greedy`)();
        const aad = await score(pair, AAD, `${name}, AAD`)();
        return { name, trainingPairs, ...(training ? { training } : {}), greedy, aad };
      });

    const synthesize = (round: number, generator: string, dpoPath: string): Promise<{ pairs: TextPair[]; stats: SyntheticRound }> =>
      withPair(dpoPath, async (pair) => {
        const t0 = Date.now();
        const out = join(scratch, `synthetic-${round}.jsonl`);
        await generatePreferencePairs({
          pair,
          promptsFile: "(unlabelled training prompts)",
          prompts: unlabelled.map((prompt, i) => ({ kind: "text", prompt, line: i + 1 })),
          out,
          rejected: "sample",
          alpha: 0.1,
          maxTokens: settings.pairMaxTokens,
          seed: settings.seed * 1000 + round,
          onProgress: (p) => {
            if (p.done % 50 === 0 || p.done === p.total) log(`  round ${round}: ${p.done}/${p.total} prompts, ${p.written} pairs, ${p.skippedEqual} equal`);
          },
        });
        const rows = (await readFile(out, "utf8")).split("\n").filter(Boolean).map((line) => JSON.parse(line) as PreferenceRow);
        const pairs = rows.map((row) => ({ prompt: row.prompt as string, chosen: row.chosen as string, rejected: row.rejected as string }));
        const breakdowns = pairs.map((p) => [oracleRewardBreakdown(p.prompt, p.chosen), oracleRewardBreakdown(p.prompt, p.rejected)] as const);
        const margins = breakdowns.map(([c, r]) => [c.total, r.total] as const);
        const share = (feature: OracleFeature) => ({
          chosen: breakdowns.filter(([c]) => c.features[feature] !== 0).length / Math.max(1, pairs.length),
          rejected: breakdowns.filter(([, r]) => r.features[feature] !== 0).length / Math.max(1, pairs.length),
        });
        const stats: SyntheticRound = {
          round,
          generator,
          prompts: unlabelled.length,
          pairs: pairs.length,
          // Counted from the file, not from this call: a resumed run decodes nothing and would say 0.
          skippedEqual: unlabelled.length - pairs.length,
          oracleAgrees: margins.filter(([c, r]) => c > r).length,
          oracleTies: margins.filter(([c, r]) => c === r).length,
          oracleDisagrees: margins.filter(([c, r]) => c < r).length,
          meanOracleChosen: mean(margins.map(([c]) => c)),
          meanOracleRejected: mean(margins.map(([, r]) => r)),
          repetition: share("repetition"),
          caveat: share("caveat"),
          seconds: (Date.now() - t0) / 1000,
        };
        log(`round ${round}: ${stats.pairs} synthetic pairs (${stats.skippedEqual} equal skipped); the oracle agrees with ${stats.oracleAgrees}, ties ${stats.oracleTies}, disagrees with ${stats.oracleDisagrees}; ${stats.seconds.toFixed(0)} s`);
        return { pairs, stats };
      });

    // Ordered so that a training always runs beside generation or evaluation.
    const realPairs = real10.map(({ prompt, chosen, rejected }) => ({ prompt, chosen, rejected }));
    const fullTraining = withoutFull ? undefined : train("real100", real100.map(({ prompt, chosen, rejected }) => ({ prompt, chosen, rejected })));
    const controlTraining = train("real10", realPairs, "aad-tiny-dpo");
    const round1 = await synthesize(1, "sft + built-in dpo.gguf (DPO on real 10 %)", files.dpo);
    const round1Training = train("round1", [...realPairs, ...round1.pairs]);
    const control = await controlTraining;
    const reproducesBuiltin = (await readFile(control.path)).equals(await readFile(files.dpo));
    log(reproducesBuiltin ? "retraining the 10 % split reproduces dpo.gguf byte for byte" : "retraining the 10 % split does NOT reproduce dpo.gguf: it is evaluated as a row of its own");
    const sftRow: ModelRow = await withPair(files.dpo, async (pair) => ({ name: "SFT (no DPO)", trainingPairs: { real: 0, synthetic: 0 }, greedy: await score(pair, { method: "greedy-sft" }, "SFT, greedy")() }));
    const builtinRow = await evaluate("DPO, real 10 % (built-in dpo.gguf)", files.dpo, { real: builtinPairs.length, synthetic: 0 });
    const model1 = await round1Training;
    const round2 = await synthesize(2, "sft + round-1 model", model1.path);
    const round2Training = train("round2", [...realPairs, ...round2.pairs]);
    const round1Row = await evaluate("DPO, real 10 % + synthetic round 1", model1.path, { real: real10.length, synthetic: round1.pairs.length }, model1.training);
    const model2 = await round2Training;
    const round2Row = await evaluate("DPO, real 10 % + synthetic round 2", model2.path, { real: real10.length, synthetic: round2.pairs.length }, model2.training);
    const modelFull = await fullTraining;
    const fullRow = modelFull === undefined ? [] : [await evaluate("DPO, real 100 %", modelFull.path, { real: real100.length, synthetic: 0 }, modelFull.training)];
    const controlRow = reproducesBuiltin ? [] : [await evaluate("DPO, real 10 % (retrained here)", control.path, { real: real10.length, synthetic: 0 }, control.training)];
    const rows: ModelRow[] = [sftRow, builtinRow, ...controlRow, round1Row, round2Row, ...fullRow];
    const minutes = (Date.now() - started) / 60000;
    const baseline = rows[1]!;
    const markdown = report(rows, baseline, [round1.stats, round2.stats], settings, heldout.length, minutes, reproducesBuiltin, withoutFull ? real100.length : undefined);
    if (options.smoke === true) {
      log(markdown);
      return;
    }
    await writeResults(
      "bootstrap",
      {
        settings,
        dpoConfig: DEFAULT_FORGE_CONFIG.dpo,
        forgeSeed,
        retrainedTenPercentReproducesBuiltin: reproducesBuiltin,
        pair: { sft: files.sft, dpo: files.dpo },
        minutes,
        ...(withoutFull ? { realHundredPercent: "not run (--without-full)" } : {}),
        synthetic: [round1.stats, round2.stats],
        models: rows.map(({ greedy, aad, ...row }) => ({
          ...row,
          greedy: withoutRewards(greedy),
          ...(aad ? { aad: withoutRewards(aad) } : {}),
          versusRealTenPercent: row === baseline ? undefined : { greedy: pairedDifference(greedy, baseline.greedy), ...(aad ? { aad: pairedDifference(aad, baseline.aad!) } : {}) },
        })),
      },
      markdown,
    );
    log(markdown);
  } finally {
    await Promise.all([...workers].map((worker) => worker.terminate()));
    await tokenizer?.dispose();
    await llama.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// DPO in a worker thread

/** DPO steps between checkpoints (about three minutes of the 100 % run on two cores). Does not change the result. */
const DPO_CHECKPOINT_EVERY = 100;

export interface TrainJob {
  readonly name: string;
  /** DPO settings; default the forge's (DEFAULT_FORGE_CONFIG.dpo). */
  readonly dpo?: ForgeConfig["dpo"];
  /** general.name of the written GGUF. */
  readonly modelName: string;
  readonly sft: string;
  readonly pairs: readonly PreferencePair[];
  readonly seed: number;
  readonly out: string;
}

export interface TrainedModel {
  readonly path: string;
  readonly training: { readonly finalLoss: number; readonly rewardAccuracy: number; readonly seconds: number };
}

type WorkerMessage = { readonly type: "log"; readonly line: string } | { readonly type: "done"; readonly model: TrainedModel };

export function trainInWorker(job: TrainJob, workers: Set<Worker>, log: (line: string) => void): Promise<TrainedModel> {
  // Node 20 does not pass tsx's loader to workers: the worker registers it before importing this file.
  const source = `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); }).then((bench) => bench.dpoWorkerMain())`;
  const worker = new Worker(source, { eval: true, workerData: job });
  workers.add(worker);
  worker.on("exit", () => workers.delete(worker));
  return new Promise((resolve, reject) => {
    let model: TrainedModel | undefined;
    worker.on("message", (message: WorkerMessage) => {
      if (message.type === "log") log(message.line);
      else model = message.model;
    });
    worker.on("error", reject);
    worker.on("exit", (code) => (model !== undefined ? resolve(model) : reject(new Error(`the DPO worker for ${job.name} exited with code ${code} before finishing`))));
  });
}

/** The worker's side: DPO from the SFT weights in the job's file, the merged model written as GGUF. */
export async function dpoWorkerMain(): Promise<void> {
  const job = workerData as TrainJob;
  const post = (message: WorkerMessage) => parentPort!.postMessage(message);
  const t0 = Date.now();
  await tf.setBackend("wasm");
  const { config, weights } = await readLlamaGguf(job.sft);
  const vocabulary = await readVocabulary(job.sft);
  const dpo = job.dpo ?? DEFAULT_FORGE_CONFIG.dpo;
  const lora = initialLora(config, dpo.rank, dpo.alpha, forgeLoraRng(job.seed));
  const say = (line: string) => post({ type: "log", line: `  ${job.name}: ${line}` });
  // The 100 % run takes over an hour: it checkpoints, and a rerun of the bench resumes it.
  const checkpoint = `${job.out}.checkpoint`;
  const checkpoints = dpoCheckpointFile(checkpoint, DPO_CHECKPOINT_EVERY, (c) => say(`checkpoint at step ${c.step}`));
  const result = await trainDpo(config, weights, lora, job.pairs, { ...dpo, seed: job.seed, padToken: vocabulary.eos, checkpoints, log: say });
  await writeFile(job.out, buildLlamaGguf({ hp: hyperparameters(config), weights: mergeLora(config, weights, result.weights), vocabulary, name: job.modelName, chatTemplate: CHAT_TEMPLATE }));
  await rm(checkpoint, { force: true });
  const seconds = (Date.now() - t0) / 1000;
  post({ type: "log", line: `trained ${job.name} on ${job.pairs.length} pairs in ${seconds.toFixed(0)} s` });
  const model: TrainedModel = { path: job.out, training: { finalLoss: result.finalLoss, rewardAccuracy: result.rewardAccuracy, seconds } };
  // Written after the model: its presence marks the training finished (bootstrap resumes by it).
  await writeFile(`${job.out}.json`, JSON.stringify(model));
  post({ type: "done", model });
}

/**
 * The RNG the forge initialises its DPO LoRA from: runForge forks its seeded RNG for these
 * stages, in this order, before "lora". Retraining the 10 % split (above) checks the replay.
 */
function forgeLoraRng(seed: number): Rng {
  const rng = createRng(seed);
  for (const stage of ["train-prompts", "heldout-prompts", "corpus", "init", "dpo-split"]) rng.fork(stage);
  return rng.fork("lora");
}

// ---------------------------------------------------------------------------------------------

function report(rows: readonly ModelRow[], baseline: ModelRow, rounds: readonly SyntheticRound[], settings: Settings, heldout: number, minutes: number, reproducesBuiltin: boolean, fullLeftOut?: number): string {
  const cell = (s: Scores | undefined) => (s === undefined ? "—" : `${s.mean.toFixed(3)} ± ${s.halfWidth95.toFixed(3)}`);
  const delta = (s: Scores | undefined, b: Scores | undefined, row: ModelRow) => {
    if (s === undefined || b === undefined || row === baseline) return "—";
    const d = pairedDifference(s, b);
    return `${d.mean >= 0 ? "+" : ""}${d.mean.toFixed(3)} ± ${d.halfWidth95.toFixed(3)}`;
  };
  const modelTable = [
    "| model | training pairs (real + synthetic) | greedy: oracle reward | Δ vs real 10 % | AAD: oracle reward | Δ vs real 10 % | mean tokens, greedy / AAD |",
    "|---|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.name} | ${r.trainingPairs.real} + ${r.trainingPairs.synthetic} | ${cell(r.greedy)} | ${delta(r.greedy, baseline.greedy, r)} | ${cell(r.aad)} | ${delta(r.aad, baseline.aad, r)} | ${r.greedy.meanTokens.toFixed(0)} / ${r.aad === undefined ? "—" : r.aad.meanTokens.toFixed(0)} |`),
  ];
  const roundTable = [
    "| round | generator (AAD chosen, DPO sample rejected) | prompts | pairs | skipped (chosen = rejected) | oracle prefers chosen / tie / rejected | mean oracle chosen | mean oracle rejected | repetition: chosen / rejected | caveat: chosen / rejected |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rounds.map((r) => `| ${r.round} | ${r.generator} | ${r.prompts} | ${r.pairs} | ${r.skippedEqual} | ${r.oracleAgrees} / ${r.oracleTies} / ${r.oracleDisagrees} | ${r.meanOracleChosen.toFixed(3)} | ${r.meanOracleRejected.toFixed(3)} | ${pct(r.repetition.chosen)} / ${pct(r.repetition.rejected)} | ${pct(r.caveat.chosen)} / ${pct(r.caveat.rejected)} |`),
  ];
  return [
    "# Bootstrap: AAD-generated preference data when labelled data is scarce",
    "",
    `Mean oracle reward (best achievable 4.5) over ${heldout} held-out prompts, at most ${settings.maxTokens} tokens, greedy DPO and AAD (α = 0.1) decoding of each model paired with the SFT model. ` +
      "Intervals are mean ± 1.96·sd/√n; Δ is the paired difference to the built-in DPO model (same prompts) with its own 95 % interval. " +
      `Synthetic pairs: ${rounds[0]?.prompts ?? 0} unlabelled training prompts per round (the prompt texts of the "unused" split, their labels ignored), responses of at most ${settings.pairMaxTokens} tokens; ` +
      "round 2 regenerates them with the round-1 model. Every DPO run is the forge's (LoRA rank 8 over the frozen SFT weights, β = 0.1, 2 epochs, its seed and LoRA initialisation), from the SFT model; " +
      (reproducesBuiltin ? "retraining the real 10 % split this way reproduces the built-in dpo.gguf byte for byte, so the rows differ in their training pairs only." : "retraining the real 10 % split this way did NOT reproduce the built-in dpo.gguf; the retrained model has its own row."),
    "",
    ...modelTable,
    "",
    ...(fullLeftOut === undefined
      ? []
      : [`**Partial report:** the "DPO, real 100 %" row (DPO on all ${fullLeftOut} labelled pairs, about ten times the 10 % run) was left out of this run (\`--without-full\`); the rows above are complete.`, ""]),
    "## Synthetic pairs",
    "",
    ...roundTable,
    "",
    `Run time ${minutes.toFixed(1)} min (this invocation; stages resumed from the work folder count nothing).`,
    "",
  ].join("\n");
}

function withoutRewards(scores: Scores): Summary & { meanTokens: number } {
  return { n: scores.n, mean: scores.mean, sd: scores.sd, halfWidth95: scores.halfWidth95, meanTokens: scores.meanTokens };
}

function pairedDifference(a: Scores, b: Scores): Summary {
  return summarize(a.rewards.map((x, i) => x - b.rewards[i]!));
}

/** The vocabulary a forge GGUF was written with, from its tokenizer metadata. */
export async function readVocabulary(path: string): Promise<Vocabulary> {
  const info = await readGgufFileInfo(path, { logWarnings: false });
  const tokenizer = (info.metadata as unknown as { tokenizer: { ggml: Record<string, unknown> } }).tokenizer.ggml;
  return {
    tokens: tokenizer.tokens as string[],
    scores: tokenizer.scores as number[],
    tokenTypes: tokenizer.token_type as number[],
    bos: tokenizer.bos_token_id as number,
    eos: tokenizer.eos_token_id as number,
    unk: tokenizer.unknown_token_id as number,
  };
}

/** Rewriting the SFT model from what was read back must give its exact bytes, or the trained models would differ in more than their weights. */
async function checkRoundTrip(path: string, config: ModelConfig, weights: ModelWeights<Float32Array>, vocabulary: Vocabulary): Promise<void> {
  const info = await readGgufFileInfo(path, { logWarnings: false });
  const name = (info.metadata as unknown as { general: { name: string } }).general.name;
  const rebuilt = buildLlamaGguf({ hp: hyperparameters(config), weights, vocabulary, name, chatTemplate: CHAT_TEMPLATE });
  if (!Buffer.from(rebuilt).equals(await readFile(path))) throw new Error(`${path} is not a forge GGUF this bench can rewrite (rebuilding it from its own weights and vocabulary changes its bytes)`);
}

function hyperparameters(config: ModelConfig): LlamaHyperparameters {
  return { ...config, headCountKv: config.headCount };
}

function definedOnly(options: BootstrapOptions): Partial<typeof DEFAULTS> {
  const picked: Partial<typeof DEFAULTS> = {};
  for (const key of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    const value = options[key];
    if (value !== undefined) picked[key] = value;
  }
  return picked;
}

const pct = (x: number) => `${Math.round(x * 100)} %`;
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

