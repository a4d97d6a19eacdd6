/**
 * The forge: the paper's experimental protocol in miniature, deterministic, on CPU.
 *
 *   toy world → SentencePiece-style vocabulary → SFT (next-token CE) → sft.gguf
 *   → two samples per training prompt from sft.gguf, labelled by the oracle (ties dropped)
 *   → DPO (β = 0.1, 2 epochs, LoRA over the frozen SFT weights) on a 10 % split
 *   → dpo.gguf (merged), dpo-lora.gguf (adapter over sft.gguf), manifest.json
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel, type Token } from "node-llama-cpp";
import { createRng, type Rng } from "../decoding/rng.ts";
import { readLlamaGguf } from "./gguf-reader.ts";
import { buildLlamaGguf, buildLoraAdapterGguf, type LlamaHyperparameters, type LlamaWeights } from "./llama-gguf.ts";
import { type LoraWeights, type ModelConfig, type ModelWeights, PROJECTIONS, initialLora, initialWeights, mergeLora, projectionShape } from "./model.ts";
import { sampleContinuations } from "./sample.ts";
import { type PreferencePair, type ScoredSequence, responseLogprobs, trainDpo, trainSft } from "./train.ts";
import { buildVocabulary, type Vocabulary } from "./vocabulary.ts";
import { CHAT_TEMPLATE, formatExample, heldoutPrompts, oracleReward, sampleResponse, trainPrompts, type WorldPrompt } from "./world.ts";

export interface ForgeConfig {
  seed: number;
  model: Omit<ModelConfig, "vocabSize">;
  maxPieces: number;
  sft: { responsesPerPrompt: number; steps: number; batchSize: number; learningRate: number; warmupSteps: number };
  preferences: { maxTokens: number; topK: number; parallel: number; heldoutPrompts: number; trainPrompts?: number };
  dpo: { split: number; beta: number; epochs: number; batchSize: number; learningRate: number; rank: number; alpha: number };
}

export const DEFAULT_FORGE_CONFIG: ForgeConfig = {
  seed: 20261126,
  model: { contextLength: 128, embeddingLength: 64, blockCount: 2, feedForwardLength: 192, headCount: 4, rmsEpsilon: 1e-5, ropeFreqBase: 10000 },
  maxPieces: 400,
  sft: { responsesPerPrompt: 2, steps: 300, batchSize: 32, learningRate: 5e-3, warmupSteps: 20 },
  preferences: { maxTokens: 80, topK: 64, parallel: 16, heldoutPrompts: 300, trainPrompts: 2400 },
  dpo: { split: 0.1, beta: 0.1, epochs: 2, batchSize: 8, learningRate: 5e-4, rank: 8, alpha: 16 },
};

/**
 * A scaled-down forge for tests: a few steps of each stage, same code path. Its preference
 * samples run one sequence at a time: with several, node-llama-cpp batches whatever the
 * sequences have queued by the next event-loop turn, and under load that make-up (and so the
 * float rounding, now and then a sample) changes from run to run. One sequence keeps the quick
 * run byte-reproducible; the full run's 16 are not, under load (see the README).
 */
export const QUICK_FORGE_CONFIG: ForgeConfig = {
  ...DEFAULT_FORGE_CONFIG,
  maxPieces: 300,
  sft: { ...DEFAULT_FORGE_CONFIG.sft, responsesPerPrompt: 1, steps: 3, batchSize: 8 },
  preferences: { ...DEFAULT_FORGE_CONFIG.preferences, maxTokens: 12, parallel: 1, heldoutPrompts: 8, trainPrompts: 40 },
  dpo: { ...DEFAULT_FORGE_CONFIG.dpo, epochs: 1, batchSize: 4, split: 0.25 },
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
    preferences: join(dir, "preferences.jsonl"),
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
   * preferences.jsonl) made with the same seed, model, vocabulary, SFT and preference settings:
   * its SFT models and oracle-labelled pairs are reused instead of retrained and resampled, and
   * only the DPO split, DPO and evaluation run again. The result is byte for byte what a full
   * run with this config writes (test/forge/forge.test.ts); it exists so that DPO can be retuned
   * in minutes.
   */
  readonly reuseFrom?: string;
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
  const rng = createRng(config.seed);
  const scratch = await mkdtemp(join(tmpdir(), "aad-forge-"));
  const llama = await loadLlama();
  try {
    // 1. The SFT corpus from the toy world.
    // The world's prompt lists are ordered by task; a seeded shuffle makes every subset cover all tasks.
    const train = shuffled(trainPrompts(), rng.fork("train-prompts")).slice(0, config.preferences.trainPrompts);
    const heldout = shuffled(heldoutPrompts(), rng.fork("heldout-prompts")).slice(0, config.preferences.heldoutPrompts);
    const corpusRng = rng.fork("corpus");
    const corpus: { prompt: string; response: string }[] = [];
    for (const prompt of train) {
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

    // 3. SFT.
    let sft: { weights: ModelWeights<Float32Array>; finalLoss: number; lossCurve: number[] };
    let sftBytes: Uint8Array;
    let earlyBytes: Uint8Array;
    if (reused) {
      sft = { weights: (await readLlamaGguf(reused.sftPath)).weights, finalLoss: reused.sftLoss.final, lossCurve: reused.sftLoss.curve };
      sftBytes = modelGguf(modelConfig, sft.weights, vocabulary, "aad-tiny-sft");
      // Rewriting the reused weights with this run's vocabulary must give the reused file exactly.
      if (!Buffer.from(sftBytes).equals(reused.sftBytes)) throw new ForgeReuseError(`${reused.sftPath} is not what this config's SFT stage writes (its vocabulary or tensors differ); run the forge without --reuse`);
      earlyBytes = reused.earlyBytes;
      log(`sft: reused ${reused.sftPath}`);
    } else {
      const trained = await trainSft(modelConfig, init, sftExamples, { ...config.sft, seed: config.seed, padToken: vocabulary.eos, snapshotStep: Math.floor(config.sft.steps / 4), log });
      sft = trained;
      sftBytes = modelGguf(modelConfig, trained.weights, vocabulary, "aad-tiny-sft");
      earlyBytes = modelGguf(modelConfig, trained.snapshot ?? init, vocabulary, "aad-tiny-sft-early");
    }
    await writeFile(files.sft, sftBytes);
    await writeFile(files.earlyReference, earlyBytes);
    stage("sft");

    // 4. Preference data: two SFT samples per prompt, labelled by the oracle, ties dropped.
    const { labelled, ties } = reused ? { labelled: reused.labelled, ties: reused.ties } : await labelPreferences(llama, files.sft, vocabulary, train, heldout, config, log);
    const trainPairs = labelled.filter((l) => l.split === "unused");
    const splitRng = rng.fork("dpo-split");
    const dpoCount = Math.round(trainPairs.length * config.dpo.split);
    const picked = new Set<number>();
    while (picked.size < dpoCount) picked.add(splitRng.int(trainPairs.length));
    trainPairs.forEach((pair, i) => {
      if (picked.has(i)) pair.split = "dpo";
    });
    await writeFile(files.preferences, labelled.map((l) => JSON.stringify(l)).join("\n") + "\n");
    stage("preferences");

    // 5. DPO as a LoRA over the frozen SFT weights.
    const reencode = await llama.loadModel({ modelPath: files.sft, vocabOnly: true });
    const toPair = (l: LabelledPair): PreferencePair => ({ chosen: encodeExampleFrom(reencode, vocabulary, l.prompt, l.chosen, modelConfig.contextLength), rejected: encodeExampleFrom(reencode, vocabulary, l.prompt, l.rejected, modelConfig.contextLength) });
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
    stage("evaluation");

    const fileInfo = (bytes: Uint8Array) => ({ bytes: bytes.length, sha256: sha256(bytes) });
    const preferencesBytes = new TextEncoder().encode(labelled.map((l) => JSON.stringify(l)).join("\n") + "\n");
    const report: ForgeReport = {
      files: {
        "sft.gguf": fileInfo(sftBytes),
        "dpo.gguf": fileInfo(dpoBytes),
        "dpo-lora.gguf": fileInfo(loraBytes),
        "sft-early.gguf": fileInfo(earlyBytes),
        "preferences.jsonl": fileInfo(preferencesBytes),
      },
      seconds,
      manifest: {},
    };
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
    report.manifest = {
      name: "aad built-in tiny pair",
      description: "A tiny llama-architecture SFT model and its DPO fine-tune (LoRA), trained by `npm run forge` on the toy world in server/src/forge/world.ts. Text quality is that of a ~250k-parameter model.",
      seed: config.seed,
      files: report.files,
      config,
      model: { ...modelConfig, parameters: countParameters(modelConfig) },
      splits: {
        trainPrompts: train.length,
        heldoutPrompts: heldout.length,
        sftExamples: corpus.length,
        preferencePairs: trainPairs.length,
        dpoPairs: dpoPairs.length,
        unusedPairs: trainPairs.length - dpoPairs.length,
        heldoutPairs: heldoutPairs.length,
        tiesDropped: ties,
      },
      losses: { sftFinal: sft.finalLoss, sftCurve: sft.lossCurve, dpoFinal: dpo.finalLoss, dpoCurve: dpo.lossCurve },
      dpoTrainRewardAccuracy: round(dpo.rewardAccuracy),
      heldoutImplicitRewardAccuracy: round(heldoutAccuracy),
      meanOracleReward: { sftSamples: round(mean(labelled.flatMap((l) => [l.chosenReward, l.rejectedReward]))) },
    };
    await writeFile(files.manifest, JSON.stringify(report.manifest, null, 2) + "\n");
    seconds.total = Number(((Date.now() - started) / 1000).toFixed(1));
    return report;
  } finally {
    await llama.dispose();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Two SFT samples per prompt through llama.cpp, labelled by the oracle; ties dropped. */
async function labelPreferences(llama: Llama, sftPath: string, vocabulary: Vocabulary, train: readonly WorldPrompt[], heldout: readonly WorldPrompt[], config: ForgeConfig, log: (message: string) => void): Promise<{ labelled: LabelledPair[]; ties: number }> {
  const sftModel = await llama.loadModel({ modelPath: sftPath });
  const promptTokens = (p: WorldPrompt): Token[] => [vocabulary.bos as Token, ...sftModel.tokenize(formatExample(p.text))];
  const allPrompts = [...train.map((p) => ({ p, split: "train" as const })), ...heldout.map((p) => ({ p, split: "heldout" as const }))];
  const jobs = allPrompts.flatMap(({ p }) => [0, 1].map((k) => ({ prompt: promptTokens(p), seed: `${config.seed}:${p.text}:${k}` })));
  const samples = await sampleContinuations(sftModel, jobs, {
    ...config.preferences,
    onProgress: (done, total) => {
      if (done % 400 < config.preferences.parallel || done === total) log(`sampled ${done}/${total}`);
    },
  });
  const decoded = samples.map((tokens) => sftModel.detokenize(tokens).trim());
  await sftModel.dispose();
  const labelled: LabelledPair[] = [];
  let ties = 0;
  allPrompts.forEach(({ p, split }, i) => {
    const a = decoded[2 * i]!;
    const b = decoded[2 * i + 1]!;
    const ra = oracleReward(p.text, a);
    const rb = oracleReward(p.text, b);
    if (ra === rb) {
      ties++;
      return;
    }
    const [chosen, rejected, chosenReward, rejectedReward] = ra > rb ? [a, b, ra, rb] : [b, a, rb, ra];
    labelled.push({ prompt: p.text, chosen, rejected, chosenReward, rejectedReward, split: split === "heldout" ? "heldout" : "unused" });
  });
  return { labelled, ties };
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
  readonly ties: number;
}

/** The SFT and preference stages of an earlier run in `dir`, checked against `config` and against their manifest's hashes. */
async function readReusableStages(dir: string, config: ForgeConfig): Promise<ReusableStages> {
  const files = forgeFiles(dir);
  let manifest: { config?: Partial<ForgeConfig>; files?: Record<string, { sha256: string }>; losses?: { sftFinal: number; sftCurve: number[] }; splits?: { tiesDropped: number } };
  try {
    manifest = JSON.parse(await readFile(files.manifest, "utf8")) as typeof manifest;
  } catch (error) {
    throw new ForgeReuseError(`cannot reuse ${dir}: ${files.manifest} is missing or not JSON (${(error as Error).message})`);
  }
  const earlier = manifest.config ?? {};
  for (const key of ["seed", "model", "maxPieces", "sft", "preferences"] as const) {
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
  const [sftBytes, earlyBytes, preferences] = [await read(files.sft, "sft.gguf"), await read(files.earlyReference, "sft-early.gguf"), await read(files.preferences, "preferences.jsonl")];
  if (!manifest.losses || !manifest.splits) throw new ForgeReuseError(`cannot reuse ${dir}: its manifest.json has no SFT losses or split sizes`);
  const labelled = preferences
    .toString("utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const pair = JSON.parse(line) as LabelledPair;
      return { ...pair, split: pair.split === "heldout" ? "heldout" : "unused" } satisfies LabelledPair;
    });
  return { sftPath: files.sft, sftBytes, earlyBytes, sftLoss: { final: manifest.losses.sftFinal, curve: manifest.losses.sftCurve }, labelled, ties: manifest.splits.tiesDropped };
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

function encodeExampleFrom(model: LlamaModel, vocabulary: Vocabulary, prompt: string, response: string, contextLength: number): ScoredSequence {
  return encodeExample(model, vocabulary, prompt, response, contextLength);
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
