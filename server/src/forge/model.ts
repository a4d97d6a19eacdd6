/**
 * A llama-architecture transformer in tfjs whose forward pass matches llama.cpp's "llama"
 * graph, so that weights trained here and written to GGUF give the same log-probabilities in
 * node-llama-cpp (test/forge/pair.test.ts checks this to 1e-3).
 *
 * What llama.cpp does and this file mirrors:
 * - RMSNorm: x / sqrt(mean(x²) + eps), then times the weight.
 * - Rotary embeddings of the "normal" kind: adjacent pairs (x[2i], x[2i+1]) rotated by
 *   pos · base^(−2i/headDim).
 * - Attention scaled by 1/sqrt(headDim) with a causal mask; FFN = down(silu(gate·x) ⊙ up·x);
 *   residual adds around attention and FFN; final RMSNorm, then the output projection.
 *
 * Matrix convention: a projection y = W x is held as W with shape [out, in] (row-major), the
 * byte layout GGUF stores as ne = [in, out].
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../decoding/rng.ts";

export interface ModelConfig {
  vocabSize: number;
  contextLength: number;
  embeddingLength: number;
  blockCount: number;
  feedForwardLength: number;
  headCount: number;
  rmsEpsilon: number;
  ropeFreqBase: number;
}

export const PROJECTIONS = ["attnQ", "attnK", "attnV", "attnOutput", "ffnGate", "ffnUp", "ffnDown"] as const;
export type Projection = (typeof PROJECTIONS)[number];

export interface LayerWeights<T> {
  attnNorm: T;
  attnQ: T;
  attnK: T;
  attnV: T;
  attnOutput: T;
  ffnNorm: T;
  ffnGate: T;
  ffnUp: T;
  ffnDown: T;
}

export interface ModelWeights<T> {
  tokenEmbedding: T; // [V, E]
  outputNorm: T; // [E]
  output: T; // [V, E]
  layers: LayerWeights<T>[];
}

/** A low-rank update W' = W + (alpha / rank) · B·A for one projection: A is [rank, in], B is [out, rank]. */
export interface LoraPair<T> {
  a: T;
  b: T;
}
export interface LoraWeights<T> {
  rank: number;
  alpha: number;
  layers: Partial<Record<Projection, LoraPair<T>>>[];
}

export function projectionShape(config: ModelConfig, projection: Projection): [number, number] {
  const e = config.embeddingLength;
  const f = config.feedForwardLength;
  switch (projection) {
    case "attnQ":
    case "attnK":
    case "attnV":
    case "attnOutput":
      return [e, e];
    case "ffnGate":
    case "ffnUp":
      return [f, e];
    case "ffnDown":
      return [e, f];
  }
}

function gaussian(rng: Rng): number {
  const u = Math.max(rng.next(), 1e-12);
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export function randomMatrix(rng: Rng, rows: number, cols: number, std: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = gaussian(rng) * std;
  return out;
}

/** Initial weights (GPT-2-style scaled normal init), as plain arrays so the init is seeded and portable. */
export function initialWeights(config: ModelConfig, rng: Rng): ModelWeights<Float32Array> {
  const e = config.embeddingLength;
  const std = 0.02;
  const residualStd = std / Math.sqrt(2 * config.blockCount);
  const ones = (n: number) => new Float32Array(n).fill(1);
  const layers: LayerWeights<Float32Array>[] = [];
  for (let l = 0; l < config.blockCount; l++) {
    const m = (p: Projection, s: number) => {
      const [rows, cols] = projectionShape(config, p);
      return randomMatrix(rng, rows, cols, s);
    };
    layers.push({
      attnNorm: ones(e),
      attnQ: m("attnQ", std),
      attnK: m("attnK", std),
      attnV: m("attnV", std),
      attnOutput: m("attnOutput", residualStd),
      ffnNorm: ones(e),
      ffnGate: m("ffnGate", std),
      ffnUp: m("ffnUp", std),
      ffnDown: m("ffnDown", residualStd),
    });
  }
  return {
    tokenEmbedding: randomMatrix(rng, config.vocabSize, e, std),
    outputNorm: ones(e),
    output: randomMatrix(rng, config.vocabSize, e, std),
    layers,
  };
}

/** A LoRA with A random and B zero, so that training starts exactly at the base model. */
export function initialLora(config: ModelConfig, rank: number, alpha: number, rng: Rng, targets: readonly Projection[] = PROJECTIONS): LoraWeights<Float32Array> {
  const layers: Partial<Record<Projection, LoraPair<Float32Array>>>[] = [];
  for (let l = 0; l < config.blockCount; l++) {
    const layer: Partial<Record<Projection, LoraPair<Float32Array>>> = {};
    for (const p of targets) {
      const [out, inp] = projectionShape(config, p);
      layer[p] = { a: randomMatrix(rng, rank, inp, 1 / Math.sqrt(inp)), b: new Float32Array(out * rank) };
    }
    layers.push(layer);
  }
  return { rank, alpha, layers };
}

export function toVariables(config: ModelConfig, w: ModelWeights<Float32Array>, trainable: boolean): ModelWeights<tf.Variable> {
  const e = config.embeddingLength;
  // Unnamed: tfjs names must be unique, and several copies of a model may be alive at once.
  const v = (data: Float32Array, shape: number[]) => tf.variable(tf.tensor(data, shape, "float32"), trainable);
  return {
    tokenEmbedding: v(w.tokenEmbedding, [config.vocabSize, e]),
    outputNorm: v(w.outputNorm, [e]),
    output: v(w.output, [config.vocabSize, e]),
    layers: w.layers.map((layer) => ({
      attnNorm: v(layer.attnNorm, [e]),
      attnQ: v(layer.attnQ, projectionShape(config, "attnQ")),
      attnK: v(layer.attnK, projectionShape(config, "attnK")),
      attnV: v(layer.attnV, projectionShape(config, "attnV")),
      attnOutput: v(layer.attnOutput, projectionShape(config, "attnOutput")),
      ffnNorm: v(layer.ffnNorm, [e]),
      ffnGate: v(layer.ffnGate, projectionShape(config, "ffnGate")),
      ffnUp: v(layer.ffnUp, projectionShape(config, "ffnUp")),
      ffnDown: v(layer.ffnDown, projectionShape(config, "ffnDown")),
    })),
  };
}

export function loraToVariables(config: ModelConfig, lora: LoraWeights<Float32Array>): LoraWeights<tf.Variable> {
  return {
    rank: lora.rank,
    alpha: lora.alpha,
    layers: lora.layers.map((layer) => {
      const out: Partial<Record<Projection, LoraPair<tf.Variable>>> = {};
      for (const p of PROJECTIONS) {
        const pair = layer[p];
        if (!pair) continue;
        const [rows, cols] = projectionShape(config, p);
        out[p] = {
          a: tf.variable(tf.tensor(pair.a, [lora.rank, cols]), true),
          b: tf.variable(tf.tensor(pair.b, [rows, lora.rank]), true),
        };
      }
      return out;
    }),
  };
}

export async function readWeights(w: ModelWeights<tf.Variable>): Promise<ModelWeights<Float32Array>> {
  const r = async (t: tf.Tensor) => new Float32Array(await t.data());
  return {
    tokenEmbedding: await r(w.tokenEmbedding),
    outputNorm: await r(w.outputNorm),
    output: await r(w.output),
    layers: await Promise.all(
      w.layers.map(async (layer) => ({
        attnNorm: await r(layer.attnNorm),
        attnQ: await r(layer.attnQ),
        attnK: await r(layer.attnK),
        attnV: await r(layer.attnV),
        attnOutput: await r(layer.attnOutput),
        ffnNorm: await r(layer.ffnNorm),
        ffnGate: await r(layer.ffnGate),
        ffnUp: await r(layer.ffnUp),
        ffnDown: await r(layer.ffnDown),
      })),
    ),
  };
}

export async function readLora(lora: LoraWeights<tf.Variable>): Promise<LoraWeights<Float32Array>> {
  const layers: Partial<Record<Projection, LoraPair<Float32Array>>>[] = [];
  for (const layer of lora.layers) {
    const out: Partial<Record<Projection, LoraPair<Float32Array>>> = {};
    for (const p of PROJECTIONS) {
      const pair = layer[p];
      if (pair) out[p] = { a: new Float32Array(await pair.a.data()), b: new Float32Array(await pair.b.data()) };
    }
    layers.push(out);
  }
  return { rank: lora.rank, alpha: lora.alpha, layers };
}

/** W + (alpha/rank)·B·A for every adapted projection, computed in float64 then rounded once. */
export function mergeLora(config: ModelConfig, base: ModelWeights<Float32Array>, lora: LoraWeights<Float32Array>): ModelWeights<Float32Array> {
  const scale = lora.alpha / lora.rank;
  const layers = base.layers.map((layer, l) => {
    const merged: LayerWeights<Float32Array> = { ...layer };
    const adapted = lora.layers[l] ?? {};
    for (const p of PROJECTIONS) {
      const pair = adapted[p];
      if (!pair) continue;
      const [rows, cols] = projectionShape(config, p);
      const w = new Float32Array(layer[p]);
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) {
          let s = 0;
          for (let k = 0; k < lora.rank; k++) s += pair.b[i * lora.rank + k]! * pair.a[k * cols + j]!;
          w[i * cols + j] = w[i * cols + j]! + scale * s;
        }
      }
      merged[p] = w;
    }
    return merged;
  });
  return { ...base, layers };
}

function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  const meanSquare = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), weight);
}

// Speed on tfjs-backend-wasm, where training runs: only a plain (un-transposed, un-batched) 2-D
// matMul goes through XNNPACK, and one with a transposed operand (as x·wᵀ and tfjs's own MatMul
// gradient have) runs about 10× slower. The custom-gradient ops below compute the same products
// with plain matmuls and explicit transposes. Likewise gatherND/scatterND are 30–100× faster here
// than gather (whose gradient kernel the backend lacks) or a one-hot matmul.

/** The gradient of y = x·wᵀ with respect to w [out, in], dyᵀ·x, transposing whichever side is smaller. */
function weightGradient(dy: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor2D {
  const [rows, inputs] = x.shape;
  const outputs = dy.shape[1];
  if (rows * inputs + inputs * outputs < rows * outputs) return tf.transpose(tf.matMul<tf.Tensor2D>(tf.transpose(x), dy));
  return tf.matMul(tf.transpose(dy), x);
}

/** y = x·wᵀ for x [N, in] and w [out, in], differentiable in both. */
const projectTrainable = tf.customGrad<tf.Tensor2D>((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.matMul(x, tf.transpose(w)),
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
      const [input, weight] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy, weight), weightGradient(dy, input)];
    },
  };
});

/**
 * y = x·wᵀ differentiable in x only, for a weight no gradient is asked of (a frozen variable, a
 * constant): it spares the weight gradient, which a custom op would otherwise compute eagerly.
 */
function projectConstant(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad<tf.Tensor2D>((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    // A variable outlives the backward pass and is used as is; a tensor made in the forward pass is
    // saved (tfjs saves by copying), as it is disposed before the backward pass runs.
    if (!(w instanceof tf.Variable)) save([w]);
    return { value: tf.matMul(input, tf.transpose(w)), gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => tf.matMul(dy, saved[0] ?? w) };
  });
  return op(x);
}

function isVariable(t: tf.Tensor): boolean {
  return t instanceof tf.Variable;
}

/** A weight no gradient is asked of. */
function isFrozen(w: tf.Tensor): boolean {
  return w instanceof tf.Variable && !w.trainable;
}

/**
 * y = x·wᵀ + s·(x·aᵀ)·bᵀ for a frozen w and LoRA variables a [rank, in], b [out, rank], as one op
 * differentiable in x, a and b. As separate ops, the backward pass would save copies of x twice,
 * of both addends, of x·aᵀ and of the weights, and run the scale and sum as full-size elementwise
 * ops; here it saves x and s·x·aᵀ only, scales the [N, rank] side, and skips the input gradient
 * dy·w + s·(dy·b)·a where no gradient flows into x (`inputGradient` false).
 */
function projectLora(x: tf.Tensor2D, w: tf.Tensor2D, a: tf.Tensor2D, b: tf.Tensor2D, scale: number, inputGradient: boolean): tf.Tensor2D {
  const op = tf.customGrad<tf.Tensor2D>((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, , , save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    const low = tf.mul<tf.Tensor2D>(tf.matMul(input, tf.transpose(a)), scale);
    save([input, low]);
    return {
      value: tf.add<tf.Tensor2D>(tf.matMul(input, tf.transpose(w)), tf.matMul(low, tf.transpose(b))),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [xSaved, lowSaved] = saved as [tf.Tensor2D, tf.Tensor2D];
        const dLow = tf.mul<tf.Tensor2D>(tf.matMul(dy, b), scale);
        const dx = inputGradient ? tf.add(tf.matMul(dy, w), tf.matMul(dLow, a)) : tf.zerosLike(xSaved);
        // The [N, rank] factor goes on the right: XNNPACK repacks the right operand on every call
        // (it caches the packing by tensor), which for an [N, in] right side costs more than the product.
        const da = tf.transpose(tf.matMul<tf.Tensor2D>(tf.transpose(xSaved), dLow));
        const db = tf.matMul<tf.Tensor2D>(tf.transpose(dy), lowSaved);
        return [dx, da, db];
      },
    };
  });
  return op(x, a, b);
}

/** y = x·wᵀ. Frozen variables get no gradient from tf.variableGrads or minimize, so none is computed. */
function matMulTransposed(x: tf.Tensor2D, w: tf.Tensor): tf.Tensor2D {
  const weight = w as tf.Tensor2D;
  if (w instanceof tf.Variable && !w.trainable) return projectConstant(x, weight);
  return projectTrainable(x, weight);
}

/** Rows of table [V, E] for ids [N]; the gradient scatter-adds dy into the rows (as the one-hot matmul it replaces would). */
function embed(table: tf.Tensor, ids: tf.Tensor1D): tf.Tensor2D {
  const indices = tf.reshape(ids, [-1, 1]);
  const [vocab, width] = table.shape as [number, number];
  const op = tf.customGrad<tf.Tensor2D>((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [rows, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    save([indices]);
    return { value: tf.gatherND(rows, indices) as tf.Tensor2D, gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => tf.scatterND(saved[0]!, dy, [vocab, width]) };
  });
  return op(table);
}

/**
 * RoPE as x⊙cos + (x·P)⊙sin over the head dimension: P maps each pair (x[2i], x[2i+1]) to
 * (−x[2i+1], x[2i]), and cos, sin [1, T, 1, headDim] repeat each pair's angle twice.
 */
function ropeTables(config: ModelConfig, length: number): { cos: tf.Tensor; sin: tf.Tensor; pairSwapT: tf.Tensor2D } {
  const headDim = config.embeddingLength / config.headCount;
  const half = headDim / 2;
  const cos = new Float32Array(length * headDim);
  const sin = new Float32Array(length * headDim);
  for (let pos = 0; pos < length; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = pos * Math.pow(config.ropeFreqBase, (-2 * i) / headDim);
      cos[pos * headDim + 2 * i] = cos[pos * headDim + 2 * i + 1] = Math.cos(angle);
      sin[pos * headDim + 2 * i] = sin[pos * headDim + 2 * i + 1] = Math.sin(angle);
    }
  }
  // Held transposed ([out, in]) for projectConstant: row 2i picks −x[2i+1], row 2i+1 picks x[2i].
  const swap = new Float32Array(headDim * headDim);
  for (let i = 0; i < half; i++) {
    swap[2 * i * headDim + 2 * i + 1] = -1;
    swap[(2 * i + 1) * headDim + 2 * i] = 1;
  }
  return { cos: tf.tensor(cos, [1, length, 1, headDim]), sin: tf.tensor(sin, [1, length, 1, headDim]), pairSwapT: tf.tensor2d(swap, [headDim, headDim]) };
}

/** x: [B, T, H, D] → rotated pairs (x[2i], x[2i+1]). */
function applyRope(x: tf.Tensor, rope: { cos: tf.Tensor; sin: tf.Tensor; pairSwapT: tf.Tensor2D }): tf.Tensor {
  const d = x.shape[3]!;
  const swapped = tf.reshape(projectConstant(tf.reshape(x, [-1, d]), rope.pairSwapT), x.shape);
  return tf.add(tf.mul(x, rope.cos), tf.mul(swapped, rope.sin));
}

/** x·wᵀ, plus the LoRA update if any; `inputGradient`: whether a gradient flows into x at all. */
function project(x2d: tf.Tensor2D, w: tf.Tensor, lora: LoraPair<tf.Tensor> | undefined, loraScale: number, inputGradient = true): tf.Tensor2D {
  // The fused op closes over w, a and b, which only variables (never disposed mid-step) allow.
  if (lora && isFrozen(w) && isVariable(lora.a) && isVariable(lora.b)) return projectLora(x2d, w as tf.Tensor2D, lora.a as tf.Tensor2D, lora.b as tf.Tensor2D, loraScale, inputGradient);
  const y = matMulTransposed(x2d, w);
  if (!lora) return y;
  const low = matMulTransposed(matMulTransposed(x2d, lora.a), lora.b);
  return tf.add(y, tf.mul(low, loraScale));
}

/** Logits [B, T, V] for token ids [B, T] (causal). Call inside tf.tidy or a gradient function. */
export function forward(config: ModelConfig, w: ModelWeights<tf.Tensor>, tokens: tf.Tensor2D, lora?: LoraWeights<tf.Tensor>): tf.Tensor3D {
  const [batch, length] = tokens.shape;
  const e = config.embeddingLength;
  const heads = config.headCount;
  const headDim = e / heads;
  const loraScale = lora ? lora.alpha / lora.rank : 0;
  const rope = ropeTables(config, length);
  const mask = tf.linalg.bandPart(tf.ones([length, length]), -1, 0);
  const maskBias = tf.mul(tf.sub(1, mask), -1e9);

  let x: tf.Tensor = embed(w.tokenEmbedding, tf.reshape(tokens, [-1]));
  // Whether a gradient can flow into x (false while x depends on frozen weights only: with a LoRA
  // over a frozen model, before the first adapted projection).
  let flowing = !isFrozen(w.tokenEmbedding);
  const trains = (layer: LayerWeights<tf.Tensor>, adapt: Partial<Record<Projection, LoraPair<tf.Tensor>>> | undefined, p: Projection) => adapt?.[p] !== undefined || !isFrozen(layer[p]);
  for (let l = 0; l < config.blockCount; l++) {
    const layer = w.layers[l]!;
    const adapt = lora?.layers[l];
    const h = rmsNorm(x, layer.attnNorm, config.rmsEpsilon) as tf.Tensor2D;
    const intoH = flowing || !isFrozen(layer.attnNorm);
    const split = (t: tf.Tensor) => tf.reshape(t, [batch, length, heads, headDim]);
    const q = applyRope(split(project(h, layer.attnQ, adapt?.attnQ, loraScale, intoH)), rope);
    const k = applyRope(split(project(h, layer.attnK, adapt?.attnK, loraScale, intoH)), rope);
    const v = split(project(h, layer.attnV, adapt?.attnV, loraScale, intoH));
    const intoMerged = intoH || trains(layer, adapt, "attnQ") || trains(layer, adapt, "attnK") || trains(layer, adapt, "attnV");
    const qh = tf.transpose(q, [0, 2, 1, 3]);
    const kh = tf.transpose(k, [0, 2, 1, 3]);
    const vh = tf.transpose(v, [0, 2, 1, 3]);
    const scores = tf.add(tf.mul(tf.matMul(qh, kh, false, true), 1 / Math.sqrt(headDim)), maskBias);
    const attended = tf.matMul(tf.softmax(scores, -1), vh);
    const merged = tf.reshape<tf.Rank.R2>(tf.transpose(attended, [0, 2, 1, 3]), [batch * length, e]);
    x = tf.add(x, project(merged, layer.attnOutput, adapt?.attnOutput, loraScale, intoMerged));
    flowing = intoMerged || trains(layer, adapt, "attnOutput");

    const g = rmsNorm(x, layer.ffnNorm, config.rmsEpsilon) as tf.Tensor2D;
    const intoG = flowing || !isFrozen(layer.ffnNorm);
    const gate = project(g, layer.ffnGate, adapt?.ffnGate, loraScale, intoG);
    const up = project(g, layer.ffnUp, adapt?.ffnUp, loraScale, intoG);
    const act = tf.mul<tf.Tensor2D>(tf.mul(gate, tf.sigmoid(gate)), up);
    const intoAct = intoG || trains(layer, adapt, "ffnGate") || trains(layer, adapt, "ffnUp");
    x = tf.add(x, project(act, layer.ffnDown, adapt?.ffnDown, loraScale, intoAct));
    flowing = intoAct || trains(layer, adapt, "ffnDown");
  }
  const final = rmsNorm(x, w.outputNorm, config.rmsEpsilon) as tf.Tensor2D;
  const logits = matMulTransposed(final, w.output);
  return tf.reshape(logits, [batch, length, config.vocabSize]);
}

/**
 * log softmax(logits)[target] per row of logits [N, V], computed as tf.logSoftmax does
 * (shifted by the row max) but picking the target with gatherND and, in the gradient,
 * scatterND: the same numbers as a one-hot multiply-and-sum over the whole row.
 */
function pickLogSoftmax(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  const rows = logits.shape[0];
  const cells = tf.concat([tf.reshape(tf.range(0, rows, 1, "int32"), [-1, 1]), tf.reshape(tf.cast(targets, "int32"), [-1, 1])], 1);
  const op = tf.customGrad<tf.Tensor1D>((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const shifted = tf.sub(input, tf.max(input, -1, true));
    const exps = tf.exp(shifted);
    const normalizer = tf.sum(exps, -1, true);
    save([exps, normalizer, cells]);
    return {
      value: tf.sub<tf.Tensor1D>(tf.gatherND(shifted, cells), tf.reshape(tf.log(normalizer), [-1])),
      gradFunc: (dy: tf.Tensor1D, saved: tf.Tensor[]) => {
        const [expsSaved, normalizerSaved, cellsSaved] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        const softmax = tf.div(expsSaved, normalizerSaved);
        return tf.sub(tf.scatterND(cellsSaved, dy, expsSaved.shape), tf.mul(softmax, tf.reshape(dy, [-1, 1])));
      },
    };
  });
  return op(logits);
}

/**
 * Per-position log p(target) for a batch: logits from tokens[:, :-1], targets tokens[:, 1:].
 * Returns [B, T-1].
 */
export function targetLogprobs(config: ModelConfig, w: ModelWeights<tf.Tensor>, tokens: tf.Tensor2D, lora?: LoraWeights<tf.Tensor>): tf.Tensor2D {
  const [batch, length] = tokens.shape;
  const inputs = tf.slice(tokens, [0, 0], [batch, length - 1]);
  const targets = tf.slice(tokens, [0, 1], [batch, length - 1]);
  const logits = forward(config, w, inputs, lora);
  const picked = pickLogSoftmax(tf.reshape(logits, [-1, config.vocabSize]), tf.reshape(targets, [-1]));
  return tf.reshape(picked, [batch, length - 1]);
}
