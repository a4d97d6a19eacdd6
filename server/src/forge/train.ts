/**
 * SFT (next-token cross-entropy) and DPO (LoRA over the frozen SFT weights) training loops for
 * the forge's tiny llama model. Deterministic for a given seed on a given machine: batches are
 * drawn with the project's seeded RNG and tfjs runs single-threaded on the WASM backend.
 */
import * as tf from "@tensorflow/tfjs";
import { createRng } from "../decoding/rng.ts";
import { padBatch } from "./batches.ts";
import { type DpoGradientRequest, GradientWorker, type LogprobRequest, computeDpoGradients, computeGradients, computeLogprobs, flattenLora, flattenWeights, unflattenWeights } from "./gradients.ts";
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
  // Started only now: a checkpoint that fails to load must not leave a thread (and the process) running.
  const worker = new GradientWorker(config);
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
      applySummedGradients(optimizer, variables, local.gradients, other.gradients, count);
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

/** One optimizer step on (this thread's + the worker's gradients) / divisor, added in that fixed order. */
function applySummedGradients(optimizer: tf.Optimizer, variables: readonly tf.Variable[], local: readonly Float32Array[], other: readonly Float32Array[], divisor: number): void {
  const named: tf.NamedTensorMap = {};
  variables.forEach((v, i) => {
    const sum = local[i]!.map((g, j) => (g + other[i]![j]!) / divisor);
    named[v.name] = tf.tensor(sum, v.shape);
  });
  optimizer.applyGradients(named);
  tf.dispose(Object.values(named));
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
  /** Resume from and save checkpoints here. */
  checkpoints?: DpoCheckpointStore;
  log?: (message: string) => void;
}

/** Everything DPO needs to go on after `step` steps exactly as if it had never stopped. */
export interface DpoCheckpoint {
  /** Steps taken in all; the epoch and the position in it follow from the steps per epoch. */
  step: number;
  lora: Float32Array[];
  adam: AdamState;
  lossCurve: number[];
  displacement: { chosen: number; rejected: number }[];
  /** The running epoch's sums so far. */
  epochLoss: number;
  chosenShift: number;
  rejectedShift: number;
  correct: number;
  seen: number;
  /** The frozen reference's log-probs (a function of the pairs alone; computing them again costs minutes). */
  refChosen: number[];
  refRejected: number[];
}

export interface DpoCheckpointStore {
  /** Save every this many steps. */
  every: number;
  load(): Promise<DpoCheckpoint | undefined>;
  save(checkpoint: DpoCheckpoint): Promise<void>;
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
  const stepsPerEpoch = Math.ceil(pairs.length / options.batchSize);
  const total = stepsPerEpoch * options.epochs;
  // Checked before the worker thread exists: a refused checkpoint must not leave a thread (and the process) running.
  const resumed = await options.checkpoints?.load();
  if (resumed && (resumed.refChosen.length !== pairs.length || resumed.step > total)) throw new Error(`the DPO checkpoint is for another run (${resumed.refChosen.length} pairs, step ${resumed.step}; this run has ${pairs.length} pairs and ${total} steps)`);
  const rng = createRng(options.seed).fork("dpo-batches");
  const frozen = toVariables(config, base, false);
  const lora = loraToVariables(config, init);
  const variables = flattenLora(lora);
  const worker = new GradientWorker(config);
  const optimizer = new ScheduledAdam(options.learningRate, 0.9, 0.98, 1e-8);
  const lossCurve: number[] = [];
  let correct = 0;
  let seen = 0;
  let step = 0;
  const displacement: { chosen: number; rejected: number }[] = [];
  try {
    worker.setFrozenWeights(flattenWeights(base));
    const refChosen = resumed ? resumed.refChosen : await referenceLogprobs(config, frozen, worker, pairs.map((p) => p.chosen), options.padToken);
    const refRejected = resumed ? resumed.refRejected : await referenceLogprobs(config, frozen, worker, pairs.map((p) => p.rejected), options.padToken);
    let firstEpoch = 0;
    let firstStep = 0;
    if (resumed) {
      variables.forEach((v, i) => v.assign(tf.tensor(resumed.lora[i]!, v.shape)));
      optimizer.importState(resumed.adam, variables);
      lossCurve.push(...resumed.lossCurve);
      displacement.push(...resumed.displacement);
      step = resumed.step;
      firstEpoch = Math.floor(step / stepsPerEpoch);
      firstStep = step % stepsPerEpoch;
      // Replay the finished epochs' shuffles: the running epoch draws its own below.
      for (let epoch = 0; epoch < firstEpoch; epoch++) shuffled(pairs.length, rng);
      options.log?.(`dpo: resumed at step ${step}/${total}`);
    }
    worker.setLora(resumed ? await readLora(lora) : init);
    for (let epoch = firstEpoch; epoch < options.epochs; epoch++) {
      const order = shuffled(pairs.length, rng);
      const carried = resumed !== undefined && epoch === firstEpoch;
      let epochLoss = carried ? resumed.epochLoss : 0;
      let chosenShift = carried ? resumed.chosenShift : 0;
      let rejectedShift = carried ? resumed.rejectedShift : 0;
      correct = carried ? resumed.correct : 0;
      seen = carried ? resumed.seen : 0;
      for (let s = epoch === firstEpoch ? firstStep : 0; s < stepsPerEpoch; s++) {
        if (options.checkpoints && step > (resumed?.step ?? 0) && step % options.checkpoints.every === 0) {
          await options.checkpoints.save({
            step,
            lora: await Promise.all(variables.map(async (v) => new Float32Array(await v.data()))),
            adam: await optimizer.exportState(),
            lossCurve: [...lossCurve],
            displacement: [...displacement],
            epochLoss,
            chosenShift,
            rejectedShift,
            correct,
            seen,
            refChosen,
            refRejected,
          });
        }
        const idx = order.slice(s * options.batchSize, (s + 1) * options.batchSize);
        const n = idx.length;
        // Whole pairs on each side, split by length (splitPairs); gradients summed here side first.
        const split = splitPairs(config, idx.map((i) => Math.max(pairs[i]!.chosen.tokens.length, pairs[i]!.rejected.tokens.length)));
        const request = (positions: number[]) => dpoRequest(positions.map((j) => idx[j]!), pairs, refChosen, refRejected, options);
        const remote = worker.dpoGradients(request(split.remote));
        const local = await computeDpoGradients(config, frozen, lora, request(split.local));
        const other = await remote;
        // The loss is the mean over the batch's pairs: the sum of both sides' gradients, over n.
        optimizer.setLearningRate(cosineSchedule(step, total, options.learningRate, Math.min(10, Math.floor(total / 10))));
        applySummedGradients(optimizer, variables, local.gradients, other.gradients, n);
        worker.setLora(await readLora(lora));
        // Per pair, in batch order.
        const margins = new Float32Array(n);
        const chosen = new Float32Array(n);
        const rejected = new Float32Array(n);
        for (const [side, positions] of [[local, split.local], [other, split.remote]] as const) {
          positions.forEach((j, k) => {
            margins[j] = side.margins[k]!;
            chosen[j] = side.chosen[k]!;
            rejected[j] = side.rejected[k]!;
          });
        }
        for (const m of margins) if (m > 0) correct++;
        idx.forEach((pairIndex, j) => {
          chosenShift += chosen[j]! - refChosen[pairIndex]!;
          rejectedShift += rejected[j]! - refRejected[pairIndex]!;
        });
        seen += n;
        epochLoss += local.lossSum + other.lossSum;
        step++;
      }
      const mean = epochLoss / pairs.length;
      lossCurve.push(Number(mean.toFixed(4)));
      displacement.push({ chosen: Number((chosenShift / pairs.length).toFixed(4)), rejected: Number((rejectedShift / pairs.length).toFixed(4)) });
      options.log?.(`dpo epoch ${epoch + 1}/${options.epochs} loss ${mean.toFixed(4)} train reward accuracy ${(correct / Math.max(1, seen)).toFixed(3)} Δlog-lik chosen ${displacement[epoch]!.chosen} rejected ${displacement[epoch]!.rejected}`);
    }
  } finally {
    await worker.terminate();
  }
  const result = await readLora(lora);
  optimizer.dispose();
  disposeModel(frozen);
  disposeLora(lora);
  return { weights: result, finalLoss: lossCurve[lossCurve.length - 1] ?? Number.NaN, lossCurve, rewardAccuracy: correct / Math.max(1, seen), displacement };
}

function dpoRequest(part: readonly number[], pairs: readonly PreferencePair[], refChosen: readonly number[], refRejected: readonly number[], options: DpoOptions): DpoGradientRequest {
  return {
    chosen: part.map((i) => [...pairs[i]!.chosen.tokens]),
    chosenStarts: part.map((i) => pairs[i]!.chosen.responseStart),
    rejected: part.map((i) => [...pairs[i]!.rejected.tokens]),
    rejectedStarts: part.map((i) => pairs[i]!.rejected.responseStart),
    refMargins: part.map((i) => refChosen[i]! - refRejected[i]!),
    beta: options.beta,
    padToken: options.padToken,
  };
}

/**
 * Which pairs of a DPO batch (by position) this thread takes and which the worker: whole pairs,
 * the longest to the worker, cut where the slower side's estimated cost is least. Each side
 * pads to its own longest sequence, so grouping pairs by length also spares padding. A function
 * of the lengths alone: the same split, hence the same bytes, on every run.
 */
function splitPairs(config: ModelConfig, lengths: readonly number[]): { local: number[]; remote: number[] } {
  const n = lengths.length;
  if (n < 2) return { local: lengths.map((_, j) => j), remote: [] };
  const byLength = lengths.map((_, j) => j).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  // Cost of `count` sequences padded to `length`: the projections' multiply-adds per position, and
  // attention's, which grow with the length and run about 8× slower (batched matmuls, no XNNPACK).
  const e = config.embeddingLength;
  const perPosition = config.blockCount * (4 * e * e + 3 * e * config.feedForwardLength) + e * config.vocabSize;
  const perLength = 8 * 2 * config.blockCount * e;
  const cost = (count: number, length: number) => count * length * (perPosition + perLength * length);
  let cut = 1;
  let bestCost = Number.POSITIVE_INFINITY;
  for (let k = 1; k < n; k++) {
    const c = Math.max(cost(k, lengths[byLength[0]!]!), cost(n - k, lengths[byLength[k]!]!));
    // On a tie, the larger share to the worker: this thread also applies the update.
    if (c <= bestCost) {
      bestCost = c;
      cut = k;
    }
  }
  const ascending = (a: number, b: number) => a - b;
  return { local: byLength.slice(cut).sort(ascending), remote: byLength.slice(0, cut).sort(ascending) };
}

/**
 * responseLogprobs under the frozen weights, in the same batches of 32, the even batches here
 * and the odd ones in the worker: the same numbers, on two cores.
 */
async function referenceLogprobs(config: ModelConfig, frozen: ModelWeights<tf.Variable>, worker: GradientWorker, items: readonly ScoredSequence[], padToken: number): Promise<number[]> {
  const size = 32;
  const batches: LogprobRequest["batches"] = [];
  for (let i = 0; i < items.length; i += size) {
    const chunk = items.slice(i, i + size);
    batches.push({ sequences: chunk.map((c) => [...c.tokens]), starts: chunk.map((c) => c.responseStart) });
  }
  const remote = worker.logprobs({ batches: batches.filter((_, b) => b % 2 === 1), padToken });
  const local = await computeLogprobs(config, frozen, { batches: batches.filter((_, b) => b % 2 === 0), padToken });
  const other = await remote;
  return batches.flatMap((_, b) => [...(b % 2 === 0 ? local[b / 2]! : other[(b - 1) / 2]!)]);
}
