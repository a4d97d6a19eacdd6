/**
 * Masked next-token cross-entropy gradients of the forge model for one (half-)batch, and a
 * worker thread that computes them in parallel with the main thread. tfjs's WASM backend uses a
 * single core, so SFT splits each batch in two — one half here, one in the worker — and adds
 * the gradients in a fixed order: twice the speed on two cores, same bytes on every run.
 */
import { Worker } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { type ModelConfig, type ModelWeights, targetLogprobs } from "./model.ts";
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

type WorkerMessage = { type: "weights"; data: Float32Array[] } | { type: "gradients"; request: GradientRequest };

/** The other half of each batch, on a second thread with its own tfjs instance. */
export class GradientWorker {
  private readonly worker: Worker;
  private pending: { resolve: (r: GradientResult) => void; reject: (e: Error) => void } | undefined;

  constructor(config: ModelConfig) {
    // Node 20 does not pass tsx's loader to workers: the worker registers it before importing.
    const entry = new URL("./gradient-worker.ts", import.meta.url).href;
    const bootstrap = `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
    this.worker = new Worker(bootstrap, { eval: true, workerData: { config } });
    this.worker.on("message", (result: GradientResult) => {
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
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage({ type: "gradients", request } satisfies WorkerMessage);
    });
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}
