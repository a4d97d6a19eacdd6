/**
 * Masked next-token cross-entropy gradients of the forge model for one (half-)batch, and a
 * worker thread that computes them in parallel with the main thread. tfjs's WASM backend uses a
 * single core, so SFT splits each batch in two — one half here, one in the worker — and adds
 * the gradients in a fixed order: twice the speed on two cores, same bytes on every run. DPO
 * does the same with its LoRA gradients (each pair's chosen and rejected on one side), and
 * splits its reference log-likelihoods by batch.
 */
import { Worker } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { type LoraWeights, type ModelConfig, type ModelWeights, PROJECTIONS, targetLogprobs } from "./model.ts";
import { padBatch } from "./batches.ts";

export interface GradientRequest {
  sequences: number[][];
  lossStarts: number[];
  padToken: number;
}

export interface GradientResult {
  /** Σ −log p over counted positions. */
  lossSum: number;
  /** Number of counted positions. */
  count: number;
  /** Gradients of lossSum, in flattenWeights order. */
  gradients: Float32Array[];
}

export function flattenWeights<T>(w: ModelWeights<T>): T[] {
  return [w.tokenEmbedding, w.outputNorm, w.output, ...w.layers.flatMap((l) => [l.attnNorm, l.attnQ, l.attnK, l.attnV, l.attnOutput, l.ffnNorm, l.ffnGate, l.ffnUp, l.ffnDown])];
}

/** The inverse of flattenWeights. */
export function unflattenWeights<T>(config: ModelConfig, data: readonly T[]): ModelWeights<T> {
  const [tokenEmbedding, outputNorm, output, ...rest] = data;
  const layers = [];
  for (let l = 0; l < config.blockCount; l++) {
    const [attnNorm, attnQ, attnK, attnV, attnOutput, ffnNorm, ffnGate, ffnUp, ffnDown] = rest.slice(l * 9, l * 9 + 9);
    layers.push({ attnNorm: attnNorm!, attnQ: attnQ!, attnK: attnK!, attnV: attnV!, attnOutput: attnOutput!, ffnNorm: ffnNorm!, ffnGate: ffnGate!, ffnUp: ffnUp!, ffnDown: ffnDown! });
  }
  return { tokenEmbedding: tokenEmbedding!, outputNorm: outputNorm!, output: output!, layers };
}

export async function computeGradients(config: ModelConfig, weights: ModelWeights<tf.Variable>, request: GradientRequest): Promise<GradientResult> {
  if (request.sequences.length === 0) return { lossSum: 0, count: 0, gradients: flattenWeights(weights).map((v) => new Float32Array(v.size)) };
  const { tokens, mask } = padBatch(request.sequences, request.padToken, request.lossStarts);
  const variables = flattenWeights(weights);
  const { value, grads } = tf.variableGrads(() => tf.neg(tf.sum(tf.mul(targetLogprobs(config, weights, tokens), mask))) as tf.Scalar, variables);
  const lossSum = (await value.data())[0]!;
  const count = (await tf.sum(mask).data())[0]!;
  const gradients = await Promise.all(variables.map(async (v) => new Float32Array(await grads[v.name]!.data())));
  tf.dispose([value, tokens, mask, ...Object.values(grads)]);
  return { lossSum, count, gradients };
}

/** One side's share of a DPO batch: whole pairs, chosen and rejected together. */
export interface DpoGradientRequest {
  chosen: number[][];
  chosenStarts: number[];
  rejected: number[][];
  rejectedStarts: number[];
  /** Per pair, log π_ref(chosen) − log π_ref(rejected). */
  refMargins: number[];
  beta: number;
  padToken: number;
}

export interface DpoGradientResult {
  /** Σ over the pairs of −log σ(margin). */
  lossSum: number;
  /** Per pair, β[(log π(c) − log π(r)) − (log π_ref(c) − log π_ref(r))]. */
  margins: Float32Array;
  /** Per pair, log π of the chosen and of the rejected response. */
  chosen: Float32Array;
  rejected: Float32Array;
  /** Gradients of lossSum, in flattenLora order. */
  gradients: Float32Array[];
}

/** A LoRA's matrices, layer by layer in PROJECTIONS order, A before B. */
export function flattenLora<T>(lora: LoraWeights<T>): T[] {
  return lora.layers.flatMap((layer) =>
    PROJECTIONS.flatMap((p) => {
      const pair = layer[p];
      return pair ? [pair.a, pair.b] : [];
    }),
  );
}

/** Variables of a LoRA take the values of another with the same layout. */
export function assignLora(target: LoraWeights<tf.Variable>, values: LoraWeights<Float32Array>): void {
  const data = flattenLora(values);
  flattenLora(target).forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(data[i]!, v.shape))));
}

/** DPO loss summed over the request's pairs (not averaged: the caller divides by the batch size), its LoRA gradients and the per-pair numbers trainDpo reports. */
export async function computeDpoGradients(config: ModelConfig, base: ModelWeights<tf.Tensor>, lora: LoraWeights<tf.Variable>, request: DpoGradientRequest): Promise<DpoGradientResult> {
  const variables = flattenLora(lora);
  const n = request.chosen.length;
  if (n === 0) return { lossSum: 0, margins: new Float32Array(0), chosen: new Float32Array(0), rejected: new Float32Array(0), gradients: variables.map((v) => new Float32Array(v.size)) };
  const { tokens, mask } = padBatch([...request.chosen, ...request.rejected], request.padToken, [...request.chosenStarts, ...request.rejectedStarts]);
  const refMargin = tf.tensor1d(request.refMargins);
  let sums: tf.Tensor | undefined;
  let margins: tf.Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const policy = tf.sum(tf.mul(targetLogprobs(config, base, tokens, lora), mask), -1);
    sums = tf.keep(policy);
    const policyMargin = tf.sub(tf.slice(policy, [0], [n]), tf.slice(policy, [n], [n]));
    const logits = tf.mul(tf.sub(policyMargin, refMargin), request.beta);
    // Kept past the forward pass, which tfjs's logSigmoid gradient also needs (it reads its input).
    margins = tf.keep(logits);
    return tf.neg(tf.sum(tf.logSigmoid(logits))) as tf.Scalar;
  }, variables);
  const lossSum = (await value.data())[0]!;
  const policySums = new Float32Array(await sums!.data());
  const gradients = await Promise.all(variables.map(async (v) => new Float32Array(await grads[v.name]!.data())));
  const result = { lossSum, margins: new Float32Array(await margins!.data()), chosen: policySums.slice(0, n), rejected: policySums.slice(n), gradients };
  tf.dispose([value, sums!, margins!, tokens, mask, refMargin, ...Object.values(grads)]);
  return result;
}

/** Sequences to score, in batches. */
export interface LogprobRequest {
  batches: { sequences: number[][]; starts: number[] }[];
  padToken: number;
}

/** Σ log p(response) per sequence of each batch, under weights without LoRA (the batches as given: the same numbers on any thread). */
export async function computeLogprobs(config: ModelConfig, weights: ModelWeights<tf.Tensor>, request: LogprobRequest): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const batch of request.batches) {
    const { tokens, mask } = padBatch(batch.sequences, request.padToken, batch.starts);
    const sums = tf.tidy(() => tf.sum(tf.mul(targetLogprobs(config, weights, tokens), mask), -1));
    out.push(new Float32Array(await sums.data()));
    tf.dispose([sums, tokens, mask]);
  }
  return out;
}

export type WorkerMessage =
  | { type: "weights"; data: Float32Array[] }
  | { type: "gradients"; request: GradientRequest }
  | { type: "frozen"; data: Float32Array[] }
  | { type: "lora"; lora: LoraWeights<Float32Array> }
  | { type: "dpoGradients"; request: DpoGradientRequest }
  | { type: "logprobs"; request: LogprobRequest };

/** The other half of each batch, on a second thread with its own tfjs instance. */
export class GradientWorker {
  private readonly worker: Worker;
  private pending: { resolve: (r: unknown) => void; reject: (e: Error) => void } | undefined;

  constructor(config: ModelConfig) {
    // Node 20 does not pass tsx's loader to workers: the worker registers it before importing.
    const entry = new URL("./gradient-worker.ts", import.meta.url).href;
    const bootstrap = `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
    this.worker = new Worker(bootstrap, { eval: true, workerData: { config } });
    this.worker.on("message", (result: unknown) => {
      this.pending?.resolve(result);
      this.pending = undefined;
    });
    this.worker.on("error", (error) => {
      this.pending?.reject(error);
      this.pending = undefined;
    });
  }

  setWeights(data: Float32Array[]): void {
    this.worker.postMessage({ type: "weights", data } satisfies WorkerMessage);
  }

  gradients(request: GradientRequest): Promise<GradientResult> {
    return this.request({ type: "gradients", request });
  }

  /** The frozen weights DPO's LoRA adapts (and its reference model), in flattenWeights order: sent once. */
  setFrozenWeights(data: Float32Array[]): void {
    this.worker.postMessage({ type: "frozen", data } satisfies WorkerMessage);
  }

  /** The current LoRA: sent after every step. */
  setLora(lora: LoraWeights<Float32Array>): void {
    this.worker.postMessage({ type: "lora", lora } satisfies WorkerMessage);
  }

  dpoGradients(request: DpoGradientRequest): Promise<DpoGradientResult> {
    return this.request({ type: "dpoGradients", request });
  }

  /** Response log-likelihoods under the frozen weights. */
  logprobs(request: LogprobRequest): Promise<Float32Array[]> {
    return this.request({ type: "logprobs", request });
  }

  private request<T>(message: WorkerMessage): Promise<T> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve: resolve as (r: unknown) => void, reject };
      this.worker.postMessage(message);
    });
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}
