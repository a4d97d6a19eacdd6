/**
 * The forge: the paper's experimental protocol in miniature, deterministic, on CPU.
 *
 *   toy world → SentencePiece-style vocabulary → SFT (next-token CE) → sft.gguf
 *   → four samples per training prompt from sft.gguf at temperature 1, labelled by the oracle:
 *     the best against a clearly worse one (UltraFeedback-style), groups without one dropped
 *   → DPO (β = 0.1, 2 epochs, LoRA over the frozen SFT weights) on a 10 % split
 *   → dpo.gguf (merged), dpo-lora.gguf (adapter over sft.gguf)
 *   → the recipe criteria (faithful SFT, enough pairs, informative DPO), manifest.json
 *
 * Every long stage checkpoints into a work folder (`.cache/forge` by default), keyed by a hash of
 * the settings it depends on: SFT every few hundred steps (weights, Adam moments, losses), the
 * preference samples after every few rounds. An interrupted run picks up where it stopped and
 * writes the same bytes as one that never stopped (test/forge/forge.test.ts).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel, type Token } from "node-llama-cpp";
import { createRng, type Rng } from "../decoding/rng.ts";
import { packArrays, unpackArrays, writeAtomic } from "./checkpoint-file.ts";
import { readLlamaGguf } from "./gguf-reader.ts";
import { buildLlamaGguf, buildLoraAdapterGguf, type LlamaHyperparameters, type LlamaWeights } from "./llama-gguf.ts";
import { type LoraWeights, type ModelConfig, type ModelWeights, PROJECTIONS, initialLora, initialWeights, mergeLora, projectionShape } from "./model.ts";
import { sampleContinuations, type SampleJob } from "./sample.ts";
import { sampleToFile, type ShardSpec } from "./sample-shard.ts";
import { pairedBootstrap } from "./stats.ts";
import { type PreferencePair, type ScoredSequence, type SftCheckpoint, responseLogprobs, trainDpo, trainSft } from "./train.ts";
import { buildVocabulary, type Vocabulary } from "./vocabulary.ts";
import { faithfulnessSummary, FAITHFULNESS_FEATURES, type FaithfulnessSummary } from "./world-faithfulness.ts";
import { CHAT_TEMPLATE, formatExample, heldoutPrompts, novelPrompts, oracleReward, sampleResponse, trainPrompts, WORLD_PHRASINGS, type Phrasings, type WorldPrompt } from "./world.ts";

export interface ForgeConfig {
  seed: number;
  /** How the world's questions are worded (world-prompts.ts); the training, held-out and evaluation prompts all follow it. */
  phrasings: Phrasings;
  model: Omit<ModelConfig, "vocabSize">;
  maxPieces: number;
  /** SFT on `responsesPerPrompt` corpus answers to each of the first `prompts` shuffled training prompts (0: all). */
  sft: { prompts: number; responsesPerPrompt: number; steps: number; batchSize: number; learningRate: number; warmupSteps: number };
  preferences: {
    /** Samples per prompt group; the best is chosen, one clearly worse is rejected. */
    samplesPerPrompt: number;
    /** Prompt groups drawn from the (shuffled) training prompts, cycling when there are more groups than prompts. */
    trainGroups: number;
    heldoutPrompts: number;
    /** The rejected sample's oracle reward is at least this much below the chosen one's. */
    minMargin: number;
    maxTokens: number;
    /** Sampling over the top-k tokens; 0: the whole vocabulary (exact temperature 1). */
    topK: number;
    parallel: number;
  };
  dpo: { split: number; beta: number; epochs: number; batchSize: number; learningRate: number; rank: number; alpha: number };
  /** Greedy SFT against greedy DPO, for the criteria: held-out prompts and prompts in unseen phrasings. */
  evaluation: { prompts: number; novelPrompts: number; maxTokens: number };
}

export const DEFAULT_FORGE_CONFIG: ForgeConfig = {
  seed: 20261202,
  phrasings: WORLD_PHRASINGS,
  // 1,200 pieces (vocabulary 1,459): the longest corpus answer is 117 tokens and the longest
  // training example 137, so the context and the sampling budget hold every answer whole. (With
  // 400 pieces and a 128-token context, 8 % of examples were cut in training and 26 % of answers
  // exceeded the 80-token sampling budget: the first candidate's samples were cut off mid-example.)
  model: { contextLength: 160, embeddingLength: 128, blockCount: 4, feedForwardLength: 384, headCount: 4, rmsEpsilon: 1e-5, ropeFreqBase: 10000 },
  maxPieces: 1200,
  // 2,400 steps and DPO at lr 2e-4: candidate 9 in bench/results/forge-recipe.md, the first to meet
  // criteria 1–3 (at 1,200 steps the SFT garbled 5.8 % of its examples and caveats; at 2,400 steps
  // DPO at 1e-4 no longer moved greedy decoding).
  sft: { prompts: 0, responsesPerPrompt: 1, steps: 2400, batchSize: 32, learningRate: 3e-3, warmupSteps: 50 },
  preferences: { samplesPerPrompt: 4, trainGroups: 24000, heldoutPrompts: 600, minMargin: 0.5, maxTokens: 128, topK: 64, parallel: 16 },
  dpo: { split: 0.1, beta: 0.1, epochs: 2, batchSize: 16, learningRate: 2e-4, rank: 8, alpha: 16 },
  evaluation: { prompts: 300, novelPrompts: 300, maxTokens: 128 },
};

/** A scaled-down forge for tests: a few steps of each stage, same code path. */
export const QUICK_FORGE_CONFIG: ForgeConfig = {
  ...DEFAULT_FORGE_CONFIG,
  model: { ...DEFAULT_FORGE_CONFIG.model, embeddingLength: 64, blockCount: 2, feedForwardLength: 192 },
  maxPieces: 300,
  sft: { ...DEFAULT_FORGE_CONFIG.sft, prompts: 200, steps: 6, batchSize: 8, warmupSteps: 2 },
  preferences: { ...DEFAULT_FORGE_CONFIG.preferences, maxTokens: 12, trainGroups: 40, heldoutPrompts: 8, parallel: 8 },
  dpo: { ...DEFAULT_FORGE_CONFIG.dpo, epochs: 1, batchSize: 4, split: 0.25 },
  evaluation: { prompts: 8, novelPrompts: 8, maxTokens: 12 },
};

export interface ForgeFiles {
  sft: string;
  dpo: string;
  dpoLora: string;
  manifest: string;
  preferences: string;
  /** An early SFT checkpoint: same vocabulary, weaker model — the mismatched reference for contrastive decoding. */
  earlyReference: string;
}

export function forgeFiles(dir: string): ForgeFiles {
  return {
    sft: join(dir, "sft.gguf"),
    dpo: join(dir, "dpo.gguf"),
    dpoLora: join(dir, "dpo-lora.gguf"),
    manifest: join(dir, "manifest.json"),
    preferences: join(dir, "preferences.jsonl.gz"),
    earlyReference: join(dir, "sft-early.gguf"),
  };
}

export interface LabelledPair {
  prompt: string;
  chosen: string;
  rejected: string;
  chosenReward: number;
  rejectedReward: number;
  split: "dpo" | "unused" | "heldout";
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

function toGgufWeights(w: ModelWeights<Float32Array>): LlamaWeights {
  return { tokenEmbedding: w.tokenEmbedding, outputNorm: w.outputNorm, output: w.output, layers: w.layers };
}

function hyperparameters(config: ModelConfig): LlamaHyperparameters {
  return {
    vocabSize: config.vocabSize,
    contextLength: config.contextLength,
    embeddingLength: config.embeddingLength,
    blockCount: config.blockCount,
    feedForwardLength: config.feedForwardLength,
    headCount: config.headCount,
    headCountKv: config.headCount,
    rmsEpsilon: config.rmsEpsilon,
    ropeFreqBase: config.ropeFreqBase,
  };
}

const GGUF_TENSOR_NAMES: Record<(typeof PROJECTIONS)[number], string> = {
  attnQ: "attn_q",
  attnK: "attn_k",
  attnV: "attn_v",
  attnOutput: "attn_output",
  ffnGate: "ffn_gate",
  ffnUp: "ffn_up",
  ffnDown: "ffn_down",
};

function modelGguf(config: ModelConfig, weights: ModelWeights<Float32Array>, vocabulary: Vocabulary, name: string): Uint8Array {
  return buildLlamaGguf({ hp: hyperparameters(config), weights: toGgufWeights(weights), vocabulary, name, chatTemplate: CHAT_TEMPLATE });
}

/** The LoRA as a llama.cpp adapter GGUF over the base model's tensors. */
export function adapterGguf(config: ModelConfig, lora: LoraWeights<Float32Array>): Uint8Array {
  const tensors = lora.layers.flatMap((layer, l) =>
    PROJECTIONS.flatMap((p) => {
      const pair = layer[p];
      if (!pair) return [];
      const [outDim, inDim] = projectionShape(config, p);
      return [{ baseName: `blk.${l}.${GGUF_TENSOR_NAMES[p]}.weight`, a: pair.a, b: pair.b, rank: lora.rank, inDim, outDim }];
    }),
  );
  return buildLoraAdapterGguf({ baseArchitecture: "llama", alpha: lora.alpha, tensors });
}

export interface ForgeReport {
  files: Record<string, { bytes: number; sha256: string }>;
  seconds: Record<string, number>;
  manifest: Record<string, unknown>;
}

export async function loadLlama(): Promise<Llama> {
  return getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
}

export interface ForgeRunOptions {
  /**
   * A folder with an earlier forge's output (manifest.json, sft.gguf, sft-early.gguf,
   * preferences.jsonl.gz) made with the same seed, model, vocabulary, SFT and preference
   * settings: its SFT models and oracle-labelled pairs are reused instead of retrained and
   * resampled, and only the DPO split, DPO and evaluation run again. The result is byte for byte
   * what a full run with this config writes (test/forge/forge.test.ts); it exists so that DPO can
   * be retuned in minutes.
   */
  readonly reuseFrom?: string;
  /** Where stage checkpoints live (default `.cache/forge`); keyed by the settings each stage depends on. */
  readonly workDir?: string;
  /** SFT checkpoint interval in steps (default 200). Does not change the result. */
  readonly checkpointEvery?: number;
  /** Preference-sampling rounds between checkpoints (default 25). Does not change the result. */
  readonly sampleRoundsPerCheckpoint?: number;
  /** Processes that sample preferences side by side (default 2, one per core). Does not change the result. */
  readonly sampleProcesses?: number;
  /** Called after each checkpoint is safely on disk (tests interrupt the run here). */
  readonly onCheckpoint?: () => void;
}

/** A short hash of the settings a stage's result depends on: its checkpoint folder's name. */
function stageKey(name: string, ...parts: unknown[]): string {
  return `${name}-${createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 16)}`;
}

/** SFT checkpoints as one binary file: a JSON header (shapes, counters, losses) then the float32 arrays. */
function encodeCheckpoint(c: SftCheckpoint): Buffer {
  const header = { step: c.step, iterations: c.adam.iterations, accBeta1: c.adam.accBeta1, accBeta2: c.adam.accBeta2, lossCurve: c.lossCurve, window: c.window, counts: [c.weights.length, c.adam.m.length, c.adam.v.length, c.snapshot?.length ?? 0] };
  return packArrays(header, [...c.weights, ...c.adam.m, ...c.adam.v, ...(c.snapshot ?? [])]);
}

function decodeCheckpoint(bytes: Buffer): SftCheckpoint {
  const { header, arrays } = unpackArrays(bytes, "SFT checkpoint");
  const h = header as { step: number; iterations: number; accBeta1: number; accBeta2: number; lossCurve: number[]; window: number[]; counts: [number, number, number, number] };
  const [w, m, v, snap] = h.counts;
  return {
    step: h.step,
    weights: arrays.slice(0, w),
    adam: { iterations: h.iterations, accBeta1: h.accBeta1, accBeta2: h.accBeta2, m: arrays.slice(w, w + m), v: arrays.slice(w + m, w + m + v) },
    lossCurve: h.lossCurve,
    window: h.window,
    ...(snap > 0 ? { snapshot: arrays.slice(w + m + v) } : {}),
  };
}

export async function runForge(outDir: string, config: ForgeConfig, log: (message: string) => void = () => undefined, options: ForgeRunOptions = {}): Promise<ForgeReport> {
  const started = Date.now();
  const seconds: Record<string, number> = {};
  let lap = Date.now();
  const stage = (name: string) => {
    seconds[name] = Number(((Date.now() - lap) / 1000).toFixed(1));
    lap = Date.now();
    log(`${name} done in ${seconds[name]}s`);
  };
  await tf.setBackend("wasm");
  // Read everything reused before anything is written: outDir may be the same folder.
  const reused = options.reuseFrom === undefined ? undefined : await readReusableStages(options.reuseFrom, config);
  await mkdir(outDir, { recursive: true });
  const files = forgeFiles(outDir);
  const workRoot = options.workDir ?? join(".cache", "forge");
  const rng = createRng(config.seed);
  const scratch = await mkdtemp(join(tmpdir(), "aad-forge-"));
  const llama = await loadLlama();
  try {
    // 1. The SFT corpus from the toy world.
    // The world's prompt lists are ordered by task; a seeded shuffle makes every subset cover all tasks.
    const train = shuffled(trainPrompts(config.phrasings), rng.fork("train-prompts"));
    const heldout = shuffled(heldoutPrompts(config.phrasings), rng.fork("heldout-prompts")).slice(0, config.preferences.heldoutPrompts);
    const corpusRng = rng.fork("corpus");
    const corpus: { prompt: string; response: string }[] = [];
    for (const prompt of config.sft.prompts > 0 ? train.slice(0, config.sft.prompts) : train) {
      for (let k = 0; k < config.sft.responsesPerPrompt; k++) corpus.push({ prompt: prompt.text, response: sampleResponse(prompt, corpusRng) });
    }
    const vocabulary = buildVocabulary(corpus.map((c) => formatExample(c.prompt, c.response)), { maxPieces: config.maxPieces });
    const modelConfig: ModelConfig = { ...config.model, vocabSize: vocabulary.tokens.length };
    log(`corpus: ${corpus.length} examples, vocabulary ${vocabulary.tokens.length} tokens`);

    // 2. Tokenise with llama.cpp itself, so training sees exactly the ids inference will.
    const init = initialWeights(modelConfig, rng.fork("init"));
    const initPath = join(scratch, "init.gguf");
    await writeFile(initPath, modelGguf(modelConfig, init, vocabulary, "aad-tiny-init"));
    const tokenizerModel = await llama.loadModel({ modelPath: initPath, vocabOnly: true });
    const encode = (prompt: string, response: string): ScoredSequence => encodeExample(tokenizerModel, vocabulary, prompt, response, modelConfig.contextLength);
    const sftExamples = corpus.map((c) => encode(c.prompt, c.response));
    await tokenizerModel.dispose();
    stage("corpus");

    // 3. SFT, checkpointed.
    const sftDir = join(workRoot, stageKey("sft", config.seed, config.phrasings, config.model, config.maxPieces, config.sft));
    await mkdir(sftDir, { recursive: true });
    let sft: { weights: ModelWeights<Float32Array>; finalLoss: number; lossCurve: number[] };
    let sftBytes: Uint8Array;
    let earlyBytes: Uint8Array;
    const sftDone = join(sftDir, "sft.json");
    if (reused) {
      sft = { weights: (await readLlamaGguf(reused.sftPath)).weights, finalLoss: reused.sftLoss.final, lossCurve: reused.sftLoss.curve };
      sftBytes = modelGguf(modelConfig, sft.weights, vocabulary, "aad-tiny-sft");
      // Rewriting the reused weights with this run's vocabulary must give the reused file exactly.
      if (!Buffer.from(sftBytes).equals(reused.sftBytes)) throw new ForgeReuseError(`${reused.sftPath} is not what this config's SFT stage writes (its vocabulary or tensors differ); run the forge without --reuse`);
      earlyBytes = reused.earlyBytes;
      log(`sft: reused ${reused.sftPath}`);
    } else if (existsSync(sftDone)) {
      const done = JSON.parse(await readFile(sftDone, "utf8")) as { finalLoss: number; lossCurve: number[] };
      sftBytes = await readFile(join(sftDir, "sft.gguf"));
      earlyBytes = await readFile(join(sftDir, "sft-early.gguf"));
      sft = { weights: (await readLlamaGguf(join(sftDir, "sft.gguf"))).weights, finalLoss: done.finalLoss, lossCurve: done.lossCurve };
      log(`sft: finished earlier (${sftDir})`);
    } else {
      const checkpointPath = join(sftDir, "checkpoint.bin");
      const checkpoints = {
        every: options.checkpointEvery ?? 200,
        load: async () => (existsSync(checkpointPath) ? decodeCheckpoint(await readFile(checkpointPath)) : undefined),
        save: async (c: SftCheckpoint) => {
          await writeAtomic(checkpointPath, encodeCheckpoint(c));
          log(`sft: checkpoint at step ${c.step}`);
          options.onCheckpoint?.();
        },
      };
      const trained = await trainSft(modelConfig, init, sftExamples, { ...config.sft, seed: config.seed, padToken: vocabulary.eos, snapshotStep: Math.floor(config.sft.steps / 4), checkpoints, log });
      sft = trained;
      sftBytes = modelGguf(modelConfig, trained.weights, vocabulary, "aad-tiny-sft");
      earlyBytes = modelGguf(modelConfig, trained.snapshot ?? init, vocabulary, "aad-tiny-sft-early");
      await writeAtomic(join(sftDir, "sft.gguf"), sftBytes);
      await writeAtomic(join(sftDir, "sft-early.gguf"), earlyBytes);
      await writeAtomic(sftDone, JSON.stringify({ finalLoss: trained.finalLoss, lossCurve: trained.lossCurve }));
      await rm(checkpointPath, { force: true });
    }
    await writeFile(files.sft, sftBytes);
    await writeFile(files.earlyReference, earlyBytes);
    stage("sft");

    // 4. Preference data: groups of SFT samples labelled by the oracle, the best against a clearly worse one.
    const samplesDir = join(workRoot, stageKey("samples", config.seed, config.phrasings, config.model, config.maxPieces, config.sft, config.preferences));
    const sampled = reused ? undefined : await sampleGroups(llama, files.sft, vocabulary, train, heldout, config, join(samplesDir, "samples.jsonl"), options.sampleRoundsPerCheckpoint ?? 25, options.sampleProcesses ?? 2, log, options.onCheckpoint);
    const { labelled, dropped } = reused ? { labelled: reused.labelled, dropped: reused.dropped } : labelGroups(sampled!, config);
    const trainPairs = labelled.filter((l) => l.split === "unused");
    const splitRng = rng.fork("dpo-split");
    const dpoCount = Math.round(trainPairs.length * config.dpo.split);
    const picked = new Set<number>();
    while (picked.size < dpoCount) picked.add(splitRng.int(trainPairs.length));
    trainPairs.forEach((pair, i) => {
      if (picked.has(i)) pair.split = "dpo";
    });
    const preferencesBytes = preferencesFile(labelled);
    await writeFile(files.preferences, preferencesBytes);
    stage("preferences");

    // 5. DPO as a LoRA over the frozen SFT weights.
    const reencode = await llama.loadModel({ modelPath: files.sft, vocabOnly: true });
    const toPair = (l: LabelledPair): PreferencePair => ({ chosen: encodeExample(reencode, vocabulary, l.prompt, l.chosen, modelConfig.contextLength), rejected: encodeExample(reencode, vocabulary, l.prompt, l.rejected, modelConfig.contextLength) });
    const dpoPairs = labelled.filter((l) => l.split === "dpo").map(toPair);
    const heldoutPairs = labelled.filter((l) => l.split === "heldout").map(toPair);
    await reencode.dispose();
    const lora = initialLora(modelConfig, config.dpo.rank, config.dpo.alpha, rng.fork("lora"));
    const dpo = await trainDpo(modelConfig, sft.weights, lora, dpoPairs, { ...config.dpo, seed: config.seed, padToken: vocabulary.eos, log });
    const merged = mergeLora(modelConfig, sft.weights, dpo.weights);
    const dpoBytes = modelGguf(modelConfig, merged, vocabulary, "aad-tiny-dpo");
    const loraBytes = adapterGguf(modelConfig, dpo.weights);
    await writeFile(files.dpo, dpoBytes);
    await writeFile(files.dpoLora, loraBytes);
    stage("dpo");

    // 6. Held-out implicit-reward accuracy: β·[(log π − log π_ref)(chosen) − (…)(rejected)] > 0.
    const pad = { padToken: vocabulary.eos };
    const pc = await responseLogprobs(modelConfig, merged, heldoutPairs.map((p) => p.chosen), pad);
    const pr = await responseLogprobs(modelConfig, merged, heldoutPairs.map((p) => p.rejected), pad);
    const rc = await responseLogprobs(modelConfig, sft.weights, heldoutPairs.map((p) => p.chosen), pad);
    const rr = await responseLogprobs(modelConfig, sft.weights, heldoutPairs.map((p) => p.rejected), pad);
    let correct = 0;
    heldoutPairs.forEach((_, i) => {
      if (pc[i]! - rc[i]! > pr[i]! - rr[i]!) correct++;
    });
    const heldoutAccuracy = heldoutPairs.length ? correct / heldoutPairs.length : Number.NaN;
    const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
    const heldoutShift = { chosen: round(mean(pc.map((x, i) => x - rc[i]!))), rejected: round(mean(pr.map((x, i) => x - rr[i]!))) };

    // 7. The recipe criteria, none of which looks at AAD.
    const corpusReference = faithfulnessReference(heldout, config);
    const sftSamples = reused ? reused.sftSamples : faithfulnessSummary(sampled!.heldoutSamples);
    const greedy = await greedyComparison(llama, files, vocabulary, config);
    stage("evaluation");

    const fileInfo = (bytes: Uint8Array) => ({ bytes: bytes.length, sha256: sha256(bytes) });
    const report: ForgeReport = {
      files: {
        "sft.gguf": fileInfo(sftBytes),
        "dpo.gguf": fileInfo(dpoBytes),
        "dpo-lora.gguf": fileInfo(loraBytes),
        "sft-early.gguf": fileInfo(earlyBytes),
        "preferences.jsonl.gz": fileInfo(preferencesBytes),
      },
      seconds,
      manifest: {},
    };
    const criteria = recipeCriteria({ corpus: corpusReference, sft: sftSamples, dpoPairs: dpoPairs.length, heldoutAccuracy, greedy });
    report.manifest = {
      name: "aad built-in tiny pair",
      description: `A small llama-architecture SFT model and its DPO fine-tune (LoRA), trained by \`npm run forge\` on the toy world in server/src/forge/world.ts. About ${Math.round(countParameters(modelConfig) / 1e5) / 10}M parameters.`,
      seed: config.seed,
      files: report.files,
      config,
      model: { ...modelConfig, parameters: countParameters(modelConfig) },
      splits: {
        trainPrompts: train.length,
        sftExamples: corpus.length,
        trainGroups: config.preferences.trainGroups,
        heldoutPrompts: heldout.length,
        preferencePairs: trainPairs.length,
        dpoPairs: dpoPairs.length,
        unusedPairs: trainPairs.length - dpoPairs.length,
        heldoutPairs: heldoutPairs.length,
        groupsDropped: dropped,
      },
      losses: { sftFinal: sft.finalLoss, sftCurve: sft.lossCurve, dpoFinal: dpo.finalLoss, dpoCurve: dpo.lossCurve },
      dpoTrainRewardAccuracy: round(dpo.rewardAccuracy),
      heldoutImplicitRewardAccuracy: round(heldoutAccuracy),
      displacement: { duringTraining: dpo.displacement, heldoutPairs: heldoutShift },
      sftSamples,
      criteria,
    };
    await writeFile(files.manifest, JSON.stringify(report.manifest, null, 2) + "\n");
    seconds.total = Number(((Date.now() - started) / 1000).toFixed(1));
    return report;
  } finally {
    await llama.dispose();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The labelled pairs, one JSON object per line, gzipped (deterministic: no timestamp, fixed level). */
function preferencesFile(labelled: readonly LabelledPair[]): Buffer {
  return gzipSync(labelled.map((l) => JSON.stringify(l)).join("\n") + "\n", { level: 9 });
}

/** Reads a forge's preferences.jsonl.gz. */
export async function readPreferences(path: string): Promise<LabelledPair[]> {
  return gunzipSync(await readFile(path))
    .toString("utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as LabelledPair);
}

interface SampledGroups {
  /** Per training group: its prompt and its samples' texts. */
  readonly train: { prompt: WorldPrompt; samples: string[] }[];
  readonly heldout: { prompt: WorldPrompt; samples: string[] }[];
  /** Every held-out sample, for the faithfulness criterion. */
  readonly heldoutSamples: { prompt: string; response: string }[];
}

/**
 * `samplesPerPrompt` SFT samples for each training group and each held-out prompt, through
 * llama.cpp, appended to `path` a few rounds at a time: a rerun skips the rounds already there.
 * Rounds are fixed slices of the job list, so where a run stopped cannot change any sample.
 */
async function sampleGroups(llama: Llama, sftPath: string, vocabulary: Vocabulary, train: readonly WorldPrompt[], heldout: readonly WorldPrompt[], config: ForgeConfig, path: string, roundsPerCheckpoint: number, processes: number, log: (message: string) => void, onCheckpoint?: () => void): Promise<SampledGroups> {
  const { samplesPerPrompt, trainGroups, parallel } = config.preferences;
  const groups = [
    ...Array.from({ length: trainGroups }, (_, g) => ({ prompt: train[g % train.length]!, label: `train:${Math.floor(g / train.length)}` })),
    ...heldout.map((prompt) => ({ prompt, label: "heldout" })),
  ];
  const sftModel = await llama.loadModel({ modelPath: sftPath });
  const jobs: SampleJob[] = groups.flatMap(({ prompt, label }) =>
    Array.from({ length: samplesPerPrompt }, (_, k) => ({ prompt: [vocabulary.bos as Token, ...sftModel.tokenize(formatExample(prompt.text))], seed: `${config.seed}:${label}:${prompt.text}:${k}` })),
  );
  await mkdir(join(path, ".."), { recursive: true });
  const topK = config.preferences.topK > 0 ? config.preferences.topK : vocabulary.tokens.length;
  // Contiguous shards that start on checkpoint (and so round) boundaries: shard 0 here, the rest in child processes.
  const chunk = parallel * roundsPerCheckpoint;
  const per = Math.ceil(jobs.length / Math.max(1, processes) / chunk) * chunk;
  const shards = Array.from({ length: Math.ceil(jobs.length / per) }, (_, k) => ({
    modelPath: sftPath,
    jobs: jobs.slice(k * per, (k + 1) * per),
    maxTokens: config.preferences.maxTokens,
    topK,
    parallel,
    chunk,
    path: k === 0 ? path : path.replace(/\.jsonl$/, `.${k}.jsonl`),
    label: processes > 1 ? `samples, shard ${k + 1}/${Math.ceil(jobs.length / per)}` : "samples",
  }));
  const children = shards.slice(1).map((spec) => runShardProcess(spec));
  let texts: string[];
  try {
    texts = await sampleToFile(sftModel, shards[0]!, log, onCheckpoint);
    for (const child of children) texts.push(...(await child));
  } finally {
    await Promise.allSettled(children);
  }
  if (texts.length !== jobs.length) throw new Error(`sampling ended with ${texts.length} samples for ${jobs.length} jobs`);
  await sftModel.dispose();
  const withSamples = groups.map((g, i) => ({ prompt: g.prompt, samples: texts.slice(i * samplesPerPrompt, (i + 1) * samplesPerPrompt) }));
  const heldoutGroups = withSamples.slice(trainGroups);
  return {
    train: withSamples.slice(0, trainGroups),
    heldout: heldoutGroups,
    heldoutSamples: heldoutGroups.flatMap((g) => g.samples.map((response) => ({ prompt: g.prompt.text, response }))),
  };
}

/** Samples one shard in a child process (see sample-shard.ts); resolves to its texts. */
function runShardProcess(spec: ShardSpec): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const specPath = `${spec.path}.spec.json`;
    void writeFile(specPath, JSON.stringify(spec)).then(() => {
      const entry = fileURLToPath(new URL("./sample-shard.ts", import.meta.url));
      // stdin stays open while this process lives: the child stops when it closes.
      const child = spawn(process.execPath, ["--import", "tsx", entry, specPath], { stdio: ["pipe", "inherit", "inherit"] });
      child.on("error", reject);
      child.on("exit", (code, signal) => {
        if (code !== 0) return reject(new Error(`${spec.label} failed (exit ${code ?? signal})`));
        readFile(spec.path, "utf8")
          .then((text) => resolve(text.split("\n").slice(0, -1).map((line) => JSON.parse(line) as string)))
          .catch(reject);
      });
    }, reject);
  });
}

/**
 * One pair per group, as UltraFeedback's binarised pairs are made: the best sample (the first of
 * equals) against a uniformly drawn one whose oracle reward is at least `minMargin` lower. A
 * group with no such sample is dropped.
 */
function labelGroups(sampled: SampledGroups, config: ForgeConfig): { labelled: LabelledPair[]; dropped: number } {
  const labelled: LabelledPair[] = [];
  let dropped = 0;
  const groups = [...sampled.train.map((g) => ({ ...g, split: "unused" as const })), ...sampled.heldout.map((g) => ({ ...g, split: "heldout" as const }))];
  groups.forEach(({ prompt, samples, split }, index) => {
    const rewards = samples.map((s) => oracleReward(prompt.text, s));
    const picked = pickPreference(rewards, config.preferences.minMargin, createRng(`${config.seed}:rejected:${index}`));
    if (picked === undefined) {
      dropped++;
      return;
    }
    const { chosen, rejected } = picked;
    labelled.push({ prompt: prompt.text, chosen: samples[chosen]!, rejected: samples[rejected]!, chosenReward: rewards[chosen]!, rejectedReward: rewards[rejected]!, split });
  });
  return { labelled, dropped };
}

/**
 * One group's pair, by index: the best reward (the first of equals) against one drawn by `rng`
 * among those at least `minMargin` lower; undefined when there is none.
 */
export function pickPreference(rewards: readonly number[], minMargin: number, rng: Rng): { chosen: number; rejected: number } | undefined {
  let chosen = 0;
  rewards.forEach((r, i) => {
    if (r > rewards[chosen]!) chosen = i;
  });
  const worse = rewards.flatMap((r, i) => (r <= rewards[chosen]! - minMargin ? [i] : []));
  if (worse.length === 0) return undefined;
  return { chosen, rejected: worse[rng.int(worse.length)]! };
}

/** The corpus's own answers to the held-out prompts (16 each): what a faithful SFT model's samples look like. */
function faithfulnessReference(heldout: readonly WorldPrompt[], config: ForgeConfig): FaithfulnessSummary {
  const rng = createRng(`${config.seed}:faithfulness`);
  return faithfulnessSummary(heldout.flatMap((p) => Array.from({ length: 16 }, () => ({ prompt: p.text, response: sampleResponse(p, rng) }))));
}

export interface GreedyComparison {
  readonly heldout: { prompts: number; sft: number; dpo: number; dpoMinusSft: { mean: number; low: number; high: number } };
  readonly novel: { prompts: number; sft: number; dpo: number; dpoMinusSft: { mean: number; low: number; high: number } };
}

/** Greedy SFT and greedy DPO through llama.cpp on held-out prompts and on prompts in unseen phrasings, scored by the oracle. */
async function greedyComparison(llama: Llama, files: ForgeFiles, vocabulary: Vocabulary, config: ForgeConfig): Promise<GreedyComparison> {
  const rng = createRng(`${config.seed}:evaluation`);
  // The evaluation prompts are drawn apart from the preference stage's held-out prompts' order.
  const heldout = shuffled(heldoutPrompts(config.phrasings), rng.fork("heldout")).slice(0, config.evaluation.prompts);
  const novel = shuffled(novelPrompts(), rng.fork("novel")).slice(0, config.evaluation.novelPrompts);
  const rewards = async (path: string, prompts: readonly WorldPrompt[]): Promise<number[]> => {
    const model = await llama.loadModel({ modelPath: path });
    const jobs = prompts.map((p) => ({ prompt: [vocabulary.bos as Token, ...model.tokenize(formatExample(p.text))], seed: "greedy" }));
    const outputs = await sampleContinuations(model, jobs, { maxTokens: config.evaluation.maxTokens, topK: 1, parallel: config.preferences.parallel });
    const texts = outputs.map((tokens) => model.detokenize(tokens).trim());
    await model.dispose();
    return prompts.map((p, i) => oracleReward(p.text, texts[i]!));
  };
  const compare = async (prompts: readonly WorldPrompt[]) => {
    const sft = await rewards(files.sft, prompts);
    const dpo = await rewards(files.dpo, prompts);
    const diff = pairedBootstrap(dpo, sft);
    const avg = (xs: readonly number[]) => round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length));
    return { prompts: prompts.length, sft: avg(sft), dpo: avg(dpo), dpoMinusSft: { mean: round(diff.mean), low: round(diff.low), high: round(diff.high) } };
  };
  return { heldout: await compare(heldout), novel: await compare(novel) };
}

/** The three criteria, measured values next to their thresholds. */
function recipeCriteria(m: { corpus: FaithfulnessSummary; sft: FaithfulnessSummary; dpoPairs: number; heldoutAccuracy: number; greedy: GreedyComparison }): Record<string, unknown> {
  const sft = m.sft;
  const rates = Object.fromEntries(
    FAITHFULNESS_FEATURES.map((f) => {
      const corpus = m.corpus.rates[f];
      const model = sft.rates[f];
      return [f, { corpus: round(corpus), sft: round(model), relative: round(model / corpus - 1), pass: Math.abs(model / corpus - 1) <= 0.2 }];
    }),
  ) as Record<string, { pass: boolean }>;
  const faithful = {
    samples: sft.answers,
    rates,
    garbledShare: { value: round(sft.garbledShare), max: 0.05, pass: sft.garbledShare <= 0.05, examples: sft.examples, caveats: sft.caveats },
    meanReward: { corpus: round(m.corpus.meanReward), sft: round(sft.meanReward), pass: Math.abs(sft.meanReward - m.corpus.meanReward) <= 0.3 },
  };
  const faithfulPass = Object.values(rates).every((r) => r.pass) && faithful.garbledShare.pass && faithful.meanReward.pass;
  const informative = {
    heldoutImplicitRewardAccuracy: { value: round(m.heldoutAccuracy), min: 0.75, pass: m.heldoutAccuracy >= 0.75 },
    greedyDpoOverSft: { ...m.greedy.heldout, pass: m.greedy.heldout.dpoMinusSft.low > 0 },
    greedyDpoOverSftNovelPhrasings: m.greedy.novel,
  };
  return {
    faithfulSft: { ...faithful, pass: faithfulPass },
    enoughPreferenceData: { dpoPairs: m.dpoPairs, min: 2000, pass: m.dpoPairs >= 2000 },
    informativeDpo: { ...informative, pass: informative.heldoutImplicitRewardAccuracy.pass && informative.greedyDpoOverSft.pass },
  };
}

export class ForgeReuseError extends Error {
  override readonly name = "ForgeReuseError";
}

interface ReusableStages {
  readonly sftPath: string;
  readonly sftBytes: Buffer;
  readonly earlyBytes: Buffer;
  readonly sftLoss: { final: number; curve: number[] };
  /** The oracle-labelled pairs, with the train pairs' split reset to "unused" (the DPO split is drawn again). */
  readonly labelled: LabelledPair[];
  readonly dropped: number;
  /** What the earlier run measured on the SFT model's held-out samples. */
  readonly sftSamples: FaithfulnessSummary;
}

/** The SFT and preference stages of an earlier run in `dir`, checked against `config` and against their manifest's hashes. */
async function readReusableStages(dir: string, config: ForgeConfig): Promise<ReusableStages> {
  const files = forgeFiles(dir);
  let manifest: { config?: Partial<ForgeConfig>; files?: Record<string, { sha256: string }>; losses?: { sftFinal: number; sftCurve: number[] }; splits?: { groupsDropped: number }; sftSamples?: FaithfulnessSummary };
  try {
    manifest = JSON.parse(await readFile(files.manifest, "utf8")) as typeof manifest;
  } catch (error) {
    throw new ForgeReuseError(`cannot reuse ${dir}: ${files.manifest} is missing or not JSON (${(error as Error).message})`);
  }
  // Manifests from before the world had a choice of phrasings used the templates.
  const earlier = { phrasings: "templates", ...manifest.config };
  for (const key of ["seed", "phrasings", "model", "maxPieces", "sft", "preferences"] as const) {
    if (JSON.stringify(earlier[key]) !== JSON.stringify(config[key])) {
      throw new ForgeReuseError(`cannot reuse ${dir}: it was made with ${key} = ${JSON.stringify(earlier[key])}, this run has ${JSON.stringify(config[key])}; run the forge without --reuse`);
    }
  }
  const read = async (path: string, name: string): Promise<Buffer> => {
    const bytes = await readFile(path).catch((error: unknown) => {
      throw new ForgeReuseError(`cannot reuse ${dir}: ${path} cannot be read (${(error as Error).message})`);
    });
    const expected = manifest.files?.[name]?.sha256;
    if (expected !== sha256(bytes)) throw new ForgeReuseError(`cannot reuse ${dir}: ${name} does not match the sha256 in its manifest.json`);
    return bytes;
  };
  const [sftBytes, earlyBytes] = [await read(files.sft, "sft.gguf"), await read(files.earlyReference, "sft-early.gguf")];
  await read(files.preferences, "preferences.jsonl.gz");
  if (!manifest.losses || !manifest.splits || !manifest.sftSamples) throw new ForgeReuseError(`cannot reuse ${dir}: its manifest.json has no SFT losses, split sizes or SFT sample summary`);
  const labelled = (await readPreferences(files.preferences)).map((pair) => ({ ...pair, split: pair.split === "heldout" ? "heldout" : "unused" }) satisfies LabelledPair);
  return { sftPath: files.sft, sftBytes, earlyBytes, sftLoss: { final: manifest.losses.sftFinal, curve: manifest.losses.sftCurve }, labelled, dropped: manifest.splits.groupsDropped, sftSamples: manifest.sftSamples };
}

/** A seeded Fisher–Yates shuffle (a copy). */
export function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const round = (x: number) => Number(x.toFixed(4));

function countParameters(c: ModelConfig): number {
  const e = c.embeddingLength;
  const perLayer = 2 * e + 4 * e * e + 3 * e * c.feedForwardLength;
  return 2 * c.vocabSize * e + e + c.blockCount * perLayer;
}

/**
 * [BOS] + tokens(prompt part) + tokens(response) + [EOS], truncated to the context, with the
 * index where the response starts. Tokenising the whole text must extend the prompt's tokens;
 * if it did not, training and inference would disagree at the boundary.
 */
export function encodeExample(model: LlamaModel, vocabulary: Vocabulary, prompt: string, response: string, contextLength: number): ScoredSequence {
  const head = model.tokenize(formatExample(prompt));
  const whole = model.tokenize(formatExample(prompt, response));
  for (let i = 0; i < head.length; i++) {
    if (head[i] !== whole[i]) throw new Error(`tokenisation of the prompt is not a prefix of the full example at ${i}: ${JSON.stringify(prompt)}`);
  }
  const tokens: Token[] = [vocabulary.bos as Token, ...whole, vocabulary.eos as Token].slice(0, contextLength);
  return { tokens, responseStart: head.length + 1 };
}
