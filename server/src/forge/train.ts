/**
 * SFT (next-token cross-entropy) and DPO (LoRA over the frozen SFT weights) training loops for
 * the forge's tiny llama model. Deterministic for a given seed on a given machine: batches are
 * drawn with the project's seeded RNG and tfjs runs single-threaded on the WASM backend.
 */
import * as tf from "@tensorflow/tfjs";
import { createRng } from "../decoding/rng.ts";
import { padBatch } from "./batches.ts";
import { GradientWorker, computeGradients, flattenWeights, unflattenWeights } from "./gradients.ts";
import {
  type LoraWeights,
  type ModelConfig,
  type ModelWeights,
  loraToVariables,
  readLora,
  readWeights,
  targetLogprobs,
  toVariables,
} from "./model.ts";

/** An Adam whose learning rate follows a schedule (tfjs reads the field on every step). */
class ScheduledAdam extends tf.AdamOptimizer {
  setLearningRate(rate: number): void {
    this.learningRate = rate;
  }

  /** Moments and bias-correction powers, bit for bit (tfjs's own setWeights recomputes the powers with pow, which can differ in the last bit). */
  async exportState(): Promise<AdamState> {
    const self = this as unknown as AdamInternals;
    const read = async (t: tf.Tensor) => new Float32Array(await t.data());
    return {
      iterations: this.iterations,
      accBeta1: (await read(self.accBeta1))[0]!,
      accBeta2: (await read(self.accBeta2))[0]!,
      m: await Promise.all(self.accumulatedFirstMoment.map((v) => read(v.variable))),
      v: await Promise.all(self.accumulatedSecondMoment.map((v) => read(v.variable))),
    };
  }

  importState(state: AdamState, variables: readonly tf.Variable[]): void {
    const self = this as unknown as AdamInternals;
    this.iterations_ = state.iterations;
    self.accBeta1.assign(tf.scalar(state.accBeta1));
    self.accBeta2.assign(tf.scalar(state.accBeta2));
    const moments = (data: Float32Array[], suffix: string) => data.map((d, i) => ({ originalName: `${variables[i]!.name}/${suffix}`, variable: tf.variable(tf.tensor(d, variables[i]!.shape), false) }));
    self.accumulatedFirstMoment = moments(state.m, "m");
    self.accumulatedSecondMoment = moments(state.v, "v");
  }
}

/** tfjs's AdamOptimizer fields that are private in its typings. */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
}

export interface AdamState {
  iterations: number;
  accBeta1: number;
  accBeta2: number;
  m: Float32Array[];
  v: Float32Array[];
}

/** Everything SFT needs to go on after `step` steps exactly as if it had never stopped. */
export interface SftCheckpoint {
  step: number;
  weights: Float32Array[];
  adam: AdamState;
  lossCurve: number[];
  window: number[];
  snapshot?: Float32Array[];
}

export interface SftCheckpointStore {
  /** Save every this many steps. */
  every: number;
  load(): Promise<SftCheckpoint | undefined>;
  save(checkpoint: SftCheckpoint): Promise<void>;
}

export function cosineSchedule(step: number, total: number, peak: number, warmup: number): number {
  if (step < warmup) return (peak * (step + 1)) / warmup;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  return peak * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

export interface SftOptions {
  steps: number;
  batchSize: number;
  learningRate: number;
  warmupSteps: number;
  seed: number;
  padToken: number;
  /** Keep a copy of the weights after this many steps (a weaker model with the same vocabulary). */
  snapshotStep?: number;
  /** Resume from and save checkpoints here. */
  checkpoints?: SftCheckpointStore;
  log?: (message: string) => void;
}

export interface TrainResult<T> {
  weights: T;
  finalLoss: number;
  lossCurve: number[];
}

/**
 * Next-token cross-entropy on the response tokens (the prompt is context, as in standard SFT),
 * each batch split between this thread and a worker thread.
 */
export async function trainSft(config: ModelConfig, init: ModelWeights<Float32Array>, examples: readonly ScoredSequence[], options: SftOptions): Promise<TrainResult<ModelWeights<Float32Array>> & { snapshot?: ModelWeights<Float32Array> }> {
  const rng = createRng(options.seed).fork("sft-batches");
  const weights = toVariables(config, init, true);
  const variables = flattenWeights(weights);
  const worker = new GradientWorker(config);
  const optimizer = new ScheduledAdam(options.learningRate, 0.9, 0.98, 1e-8);
  const lossCurve: number[] = [];
  let order: number[] = [];
  let window: number[] = [];
  let snapshot: ModelWeights<Float32Array> | undefined;
  let first = 0;
  const resumed = await options.checkpoints?.load();
  if (resumed) {
    // Replay the batch draws of the steps already taken, then restore weights and optimizer.
    for (let step = 0; step < resumed.step; step++) {
      if (order.length < options.batchSize) order = order.concat(shuffled(examples.length, rng));
      order.splice(0, options.batchSize);
    }
    variables.forEach((v, i) => v.assign(tf.tensor(resumed.weights[i]!, v.shape)));
    optimizer.importState(resumed.adam, variables);
    lossCurve.push(...resumed.lossCurve);
    window = [...resumed.window];
    if (resumed.snapshot) snapshot = unflattenWeights(config, resumed.snapshot);
    first = resumed.step;
    options.log?.(`sft: resumed at step ${first}/${options.steps}`);
  }
  try {
    worker.setWeights(resumed ? resumed.weights : flattenWeights(init));
    for (let step = first; step < options.steps; step++) {
      if (step === options.snapshotStep) snapshot = await readWeights(weights);
      if (options.checkpoints && step > first && step % options.checkpoints.every === 0) {
        await options.checkpoints.save({
          step,
          weights: await Promise.all(variables.map(async (v) => new Float32Array(await v.data()))),
          adam: await optimizer.exportState(),
          lossCurve: [...lossCurve],
          window: [...window],
          ...(snapshot ? { snapshot: flattenWeights(snapshot) } : {}),
        });
      }
      if (order.length < options.batchSize) order = order.concat(shuffled(examples.length, rng));
      const batch = order.splice(0, options.batchSize).map((i) => examples[i]!);
      const half = Math.ceil(batch.length / 2);
      const request = (part: ScoredSequence[]) => ({ sequences: part.map((e) => [...e.tokens]), lossStarts: part.map((e) => e.responseStart), padToken: options.padToken });
      const remote = worker.gradients(request(batch.slice(half)));
      const local = await computeGradients(config, weights, request(batch.slice(0, half)));
      const other = await remote;
      const count = local.count + other.count;
      optimizer.setLearningRate(cosineSchedule(step, options.steps, options.learningRate, options.warmupSteps));
      const named: tf.NamedTensorMap = {};
      variables.forEach((v, i) => {
        const sum = local.gradients[i]!.map((g, j) => (g + other.gradients[i]![j]!) / count);
        named[v.name] = tf.tensor(sum, v.shape);
      });
      optimizer.applyGradients(named as Parameters<typeof optimizer.applyGradients>[0]);
      tf.dispose(Object.values(named));
      worker.setWeights(await Promise.all(variables.map(async (v) => new Float32Array(await v.data()))));
      window.push((local.lossSum + other.lossSum) / count);
      if ((step + 1) % 25 === 0 || step === options.steps - 1) {
        const mean = window.reduce((a, b) => a + b, 0) / window.length;
        lossCurve.push(Number(mean.toFixed(4)));
        options.log?.(`sft step ${step + 1}/${options.steps} loss ${mean.toFixed(4)}`);
        window = [];
      }
    }
  } finally {
    await worker.terminate();
  }
  const result = await readWeights(weights);
  optimizer.dispose();
  disposeModel(weights);
  return { weights: result, finalLoss: lossCurve[lossCurve.length - 1] ?? Number.NaN, lossCurve, ...(snapshot ? { snapshot } : {}) };
}

function shuffled(n: number, rng: ReturnType<typeof createRng>): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function disposeModel(w: ModelWeights<tf.Variable>): void {
  tf.dispose(flattenWeights(w));
}

function disposeLora(lora: LoraWeights<tf.Variable>): void {
  tf.dispose(lora.layers.flatMap((l) => Object.values(l).flatMap((p) => [p.a, p.b])));
}

/** A sequence and where its response starts (index of the first response token). */
export interface ScoredSequence {
  tokens: readonly number[];
  responseStart: number;
}

/** Σ log p(response tokens | prompt) for each sequence, in batches. */
export async function responseLogprobs(config: ModelConfig, weights: ModelWeights<Float32Array>, items: readonly ScoredSequence[], options: { padToken: number; batchSize?: number; lora?: LoraWeights<Float32Array> }): Promise<number[]> {
  const w = toVariables(config, weights, false);
  const lora = options.lora ? loraToVariables(config, options.lora) : undefined;
  const out: number[] = [];
  const size = options.batchSize ?? 32;
  for (let i = 0; i < items.length; i += size) {
    const chunk = items.slice(i, i + size);
    const { tokens, mask } = padBatch(chunk.map((c) => c.tokens), options.padToken, chunk.map((c) => c.responseStart));
    const sums = tf.tidy(() => tf.sum(tf.mul(targetLogprobs(config, w, tokens, lora), mask), -1));
    out.push(...(await sums.data()));
    tf.dispose([sums, tokens, mask]);
  }
  disposeModel(w);
  if (lora) disposeLora(lora);
  return out;
}

export interface PreferencePair {
  chosen: ScoredSequence;
  rejected: ScoredSequence;
}

export interface DpoOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  beta: number;
  seed: number;
  padToken: number;
  log?: (message: string) => void;
}

/**
 * Standard DPO: −log σ(β[(log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))]), with the frozen
 * SFT weights as π_ref and only the LoRA trainable.
 */
export interface DpoResult extends TrainResult<LoraWeights<Float32Array>> {
  rewardAccuracy: number;
  /**
   * Per epoch, the mean change of the chosen and of the rejected responses' log-likelihood from
   * the reference (log π − log π_ref, summed over the response), measured on each batch as it
   * was trained: likelihood displacement shows as both falling.
   */
  displacement: { chosen: number; rejected: number }[];
}

export async function trainDpo(config: ModelConfig, base: ModelWeights<Float32Array>, init: LoraWeights<Float32Array>, pairs: readonly PreferencePair[], options: DpoOptions): Promise<DpoResult> {
  const rng = createRng(options.seed).fork("dpo-batches");
  const refChosen = await responseLogprobs(config, base, pairs.map((p) => p.chosen), { padToken: options.padToken });
  const refRejected = await responseLogprobs(config, base, pairs.map((p) => p.rejected), { padToken: options.padToken });
  const frozen = toVariables(config, base, false);
  const lora = loraToVariables(config, init);
  const optimizer = new ScheduledAdam(options.learningRate, 0.9, 0.98, 1e-8);
  const stepsPerEpoch = Math.ceil(pairs.length / options.batchSize);
  const total = stepsPerEpoch * options.epochs;
  const lossCurve: number[] = [];
  let correct = 0;
  let seen = 0;
  let step = 0;
  const displacement: { chosen: number; rejected: number }[] = [];
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const order = shuffled(pairs.length, rng);
    let epochLoss = 0;
    let chosenShift = 0;
    let rejectedShift = 0;
    correct = 0;
    seen = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const idx = order.slice(s * options.batchSize, (s + 1) * options.batchSize);
      const batch = idx.map((i) => pairs[i]!);
      const n = batch.length;
      const { tokens, mask } = padBatch(
        [...batch.map((p) => p.chosen.tokens), ...batch.map((p) => p.rejected.tokens)],
        options.padToken,
        [...batch.map((p) => p.chosen.responseStart), ...batch.map((p) => p.rejected.responseStart)],
      );
      const refMargin = tf.tensor1d(idx.map((i) => refChosen[i]! - refRejected[i]!));
      optimizer.setLearningRate(cosineSchedule(step, total, options.learningRate, Math.min(10, Math.floor(total / 10))));
      let margins: tf.Tensor | undefined;
      let policySums: tf.Tensor | undefined;
      const loss = optimizer.minimize(() => {
        const sums = tf.sum(tf.mul(targetLogprobs(config, frozen, tokens, lora), mask), -1);
        policySums = tf.keep(sums);
        const policyMargin = tf.sub(tf.slice(sums, [0], [n]), tf.slice(sums, [n], [n]));
        const logits = tf.mul(tf.sub(policyMargin, refMargin), options.beta);
        margins = tf.keep(logits);
        return tf.neg(tf.mean(tf.logSigmoid(logits))) as tf.Scalar;
      }, true);
      const lossValue = (await loss!.data())[0]!;
      const marginValues = await margins!.data();
      for (const m of marginValues) if (m > 0) correct++;
      const policy = await policySums!.data();
      idx.forEach((pairIndex, j) => {
        chosenShift += policy[j]! - refChosen[pairIndex]!;
        rejectedShift += policy[n + j]! - refRejected[pairIndex]!;
      });
      seen += n;
      epochLoss += lossValue * n;
      tf.dispose([loss!, margins!, policySums!, tokens, mask, refMargin]);
      step++;
    }
    const mean = epochLoss / pairs.length;
    lossCurve.push(Number(mean.toFixed(4)));
    displacement.push({ chosen: Number((chosenShift / pairs.length).toFixed(4)), rejected: Number((rejectedShift / pairs.length).toFixed(4)) });
    options.log?.(`dpo epoch ${epoch + 1}/${options.epochs} loss ${mean.toFixed(4)} train reward accuracy ${(correct / Math.max(1, seen)).toFixed(3)} Δlog-lik chosen ${displacement[epoch]!.chosen} rejected ${displacement[epoch]!.rejected}`);
  }
  const result = await readLora(lora);
  optimizer.dispose();
  disposeModel(frozen);
  disposeLora(lora);
  return { weights: result, finalLoss: lossCurve[lossCurve.length - 1] ?? Number.NaN, lossCurve, rewardAccuracy: correct / Math.max(1, seen), displacement };
}
