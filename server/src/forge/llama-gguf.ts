/**
 * Metadata and tensor lists for llama-architecture GGUF files: a full model and a LoRA adapter.
 *
 * Memory layout convention (the one thing to get right): every weight matrix W that acts as
 * y = W x, with W of shape [out][in] stored row-major in a Float32Array (W[o][i] at o·in + i),
 * is written to GGUF with ggml dims ne = [in, out] and exactly the same bytes. ggml's ne0 is the
 * contiguous dimension, and llama.cpp computes ggml_mul_mat(W, x), which contracts over ne0, so
 * a row of the row-major matrix is a ggml row. The token embedding is [V][E] row-major (one row
 * per token) = ne [E, V]; the output projection maps E → V, so it is also [V][E] = ne [E, V].
 * Vectors (norm weights) are ne = [E].
 *
 * Shapes (E = embedding, Ekv = E / headCount · headCountKv, F = feed-forward, V = vocabulary):
 *   token_embd [V][E]; output_norm [E]; output [V][E];
 *   attn_norm [E]; attn_q [E][E]; attn_k [Ekv][E]; attn_v [Ekv][E]; attn_output [E][E];
 *   ffn_norm [E]; ffn_gate [F][E]; ffn_up [F][E]; ffn_down [E][F]   (all [out][in]).
 *
 * Attention heads: the Q/K/V rows for head h are rows h·headDim … (h+1)·headDim − 1; query head h
 * reads key/value head ⌊h / (headCount / headCountKv)⌋, and llama.cpp applies "normal"
 * (adjacent-pair) rotary embeddings within each head.
 *
 * test/forge/gguf.test.ts checks all of this against a plain reference forward pass over these
 * arrays: llama.cpp's next-token probabilities agree to ~5e-7 (flash attention off, f32 KV cache).
 */

import { writeGguf, type GgufTensor, type GgufValue } from "./gguf-writer.ts";
import type { Vocabulary } from "./vocabulary.ts";

export interface LlamaHyperparameters {
  vocabSize: number;
  contextLength: number;
  embeddingLength: number;
  blockCount: number;
  feedForwardLength: number;
  headCount: number;
  headCountKv: number;
  rmsEpsilon: number;
  ropeFreqBase: number;
}

/** One transformer block; matrices are [out][in] row-major (see the file comment). */
export interface LlamaLayerWeights {
  attnNorm: Float32Array;
  attnQ: Float32Array;
  attnK: Float32Array;
  attnV: Float32Array;
  attnOutput: Float32Array;
  ffnNorm: Float32Array;
  ffnGate: Float32Array;
  ffnUp: Float32Array;
  ffnDown: Float32Array;
}

export interface LlamaWeights {
  /** [V][E] row-major = ggml [E, V]. */
  tokenEmbedding: Float32Array;
  /** [E]. */
  outputNorm: Float32Array;
  /** [V][E] row-major = ggml [E, V]; always written explicitly (a LoRA may adapt it). */
  output: Float32Array;
  layers: LlamaLayerWeights[];
}

export interface BuildLlamaGgufOptions {
  hp: LlamaHyperparameters;
  weights: LlamaWeights;
  vocabulary: Vocabulary;
  name: string;
  chatTemplate: string;
  /** Appended after the standard keys, in order; a key that is already present is an error. */
  extraMetadata?: readonly (readonly [string, GgufValue])[];
  /** Storage type for matrices (norm vectors stay f32). Defaults to "f32". */
  matrixType?: "f32" | "f16";
}

/** The ggml dims of every tensor of a llama model, by GGUF tensor name. */
export function llamaTensorShapes(hp: LlamaHyperparameters): Map<string, [number, number] | [number]> {
  const { embeddingLength: e, feedForwardLength: f, vocabSize: v } = hp;
  const ekv = kvEmbeddingLength(hp);
  const shapes = new Map<string, [number, number] | [number]>();
  shapes.set("token_embd.weight", [e, v]);
  for (let layer = 0; layer < hp.blockCount; layer++) {
    const prefix = `blk.${layer}.`;
    shapes.set(`${prefix}attn_norm.weight`, [e]);
    shapes.set(`${prefix}attn_q.weight`, [e, e]);
    shapes.set(`${prefix}attn_k.weight`, [e, ekv]);
    shapes.set(`${prefix}attn_v.weight`, [e, ekv]);
    shapes.set(`${prefix}attn_output.weight`, [e, e]);
    shapes.set(`${prefix}ffn_norm.weight`, [e]);
    shapes.set(`${prefix}ffn_gate.weight`, [e, f]);
    shapes.set(`${prefix}ffn_up.weight`, [e, f]);
    shapes.set(`${prefix}ffn_down.weight`, [f, e]);
  }
  shapes.set("output_norm.weight", [e]);
  shapes.set("output.weight", [e, v]);
  return shapes;
}

export function kvEmbeddingLength(hp: LlamaHyperparameters): number {
  return (hp.embeddingLength / hp.headCount) * hp.headCountKv;
}

export function buildLlamaGguf(options: BuildLlamaGgufOptions): Uint8Array {
  const { metadata, tensors } = llamaGgufContents(options);
  return writeGguf(metadata, tensors);
}

/** The metadata and tensors buildLlamaGguf writes, for callers that need to adjust them. */
export function llamaGgufContents(options: BuildLlamaGgufOptions): { metadata: [string, GgufValue][]; tensors: GgufTensor[] } {
  const { hp, weights, vocabulary } = options;
  checkHyperparameters(hp);
  if (vocabulary.tokens.length !== hp.vocabSize) {
    throw new RangeError(`vocabulary has ${vocabulary.tokens.length} tokens but hp.vocabSize is ${hp.vocabSize}`);
  }
  if (weights.layers.length !== hp.blockCount) {
    throw new RangeError(`weights have ${weights.layers.length} layers but hp.blockCount is ${hp.blockCount}`);
  }
  return { metadata: llamaMetadata(options), tensors: llamaTensors(hp, weights, options.matrixType ?? "f32") };
}

function checkHyperparameters(hp: LlamaHyperparameters): void {
  for (const key of ["vocabSize", "contextLength", "embeddingLength", "blockCount", "feedForwardLength", "headCount", "headCountKv"] as const) {
    if (!Number.isSafeInteger(hp[key]) || hp[key] < 1) throw new RangeError(`hp.${key} must be a positive integer, got ${hp[key]}`);
  }
  if (hp.embeddingLength % hp.headCount !== 0) throw new RangeError("hp.embeddingLength must be a multiple of hp.headCount");
  if (hp.headCount % hp.headCountKv !== 0) throw new RangeError("hp.headCount must be a multiple of hp.headCountKv");
  if ((hp.embeddingLength / hp.headCount) % 2 !== 0) throw new RangeError("the head dimension must be even for rotary embeddings");
  if (!(hp.rmsEpsilon > 0) || !(hp.ropeFreqBase > 0)) throw new RangeError("hp.rmsEpsilon and hp.ropeFreqBase must be positive");
}

function llamaMetadata(options: BuildLlamaGgufOptions): [string, GgufValue][] {
  const { hp, vocabulary } = options;
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const metadata: [string, GgufValue][] = [
    ["general.architecture", { type: "string", value: "llama" }],
    ["general.name", { type: "string", value: options.name }],
    // 0 = ALL_F32, 1 = MOSTLY_F16 (llama_ftype); only informative for llama.cpp.
    ["general.file_type", u32(options.matrixType === "f16" ? 1 : 0)],
    ["llama.vocab_size", u32(hp.vocabSize)],
    ["llama.context_length", u32(hp.contextLength)],
    ["llama.embedding_length", u32(hp.embeddingLength)],
    ["llama.block_count", u32(hp.blockCount)],
    ["llama.feed_forward_length", u32(hp.feedForwardLength)],
    ["llama.attention.head_count", u32(hp.headCount)],
    ["llama.attention.head_count_kv", u32(hp.headCountKv)],
    ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: hp.rmsEpsilon }],
    ["llama.rope.freq_base", { type: "f32", value: hp.ropeFreqBase }],
    ["llama.rope.dimension_count", u32(hp.embeddingLength / hp.headCount)],
    ["tokenizer.ggml.model", { type: "string", value: "llama" }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: vocabulary.tokens }],
    ["tokenizer.ggml.scores", { type: "array", itemType: "f32", value: vocabulary.scores }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: vocabulary.tokenTypes }],
    ["tokenizer.ggml.bos_token_id", u32(vocabulary.bos)],
    ["tokenizer.ggml.eos_token_id", u32(vocabulary.eos)],
    ["tokenizer.ggml.unknown_token_id", u32(vocabulary.unk)],
    ["tokenizer.ggml.add_bos_token", { type: "bool", value: true }],
    ["tokenizer.ggml.add_eos_token", { type: "bool", value: false }],
    ["tokenizer.ggml.add_space_prefix", { type: "bool", value: true }],
    ["tokenizer.chat_template", { type: "string", value: options.chatTemplate }],
  ];
  return [...metadata, ...(options.extraMetadata ?? []).map(([key, value]): [string, GgufValue] => [key, value])];
}

function llamaTensors(hp: LlamaHyperparameters, weights: LlamaWeights, matrixType: "f32" | "f16"): GgufTensor[] {
  const shapes = llamaTensorShapes(hp);
  const tensor = (name: string, data: Float32Array): GgufTensor => {
    const dims = shapes.get(name)!;
    const expected = dims.reduce((a, b) => a * b, 1);
    if (data.length !== expected) {
      throw new RangeError(`${name}: expected ${expected} values (ggml dims [${dims.join(", ")}]), got ${data.length}`);
    }
    return { name, dims, data, type: dims.length === 2 ? matrixType : "f32" };
  };
  const tensors = [tensor("token_embd.weight", weights.tokenEmbedding)];
  weights.layers.forEach((layer, index) => {
    const prefix = `blk.${index}.`;
    tensors.push(
      tensor(`${prefix}attn_norm.weight`, layer.attnNorm),
      tensor(`${prefix}attn_q.weight`, layer.attnQ),
      tensor(`${prefix}attn_k.weight`, layer.attnK),
      tensor(`${prefix}attn_v.weight`, layer.attnV),
      tensor(`${prefix}attn_output.weight`, layer.attnOutput),
      tensor(`${prefix}ffn_norm.weight`, layer.ffnNorm),
      tensor(`${prefix}ffn_gate.weight`, layer.ffnGate),
      tensor(`${prefix}ffn_up.weight`, layer.ffnUp),
      tensor(`${prefix}ffn_down.weight`, layer.ffnDown),
    );
  });
  tensors.push(tensor("output_norm.weight", weights.outputNorm), tensor("output.weight", weights.output));
  return tensors;
}

/** One adapted matrix: ΔW = (alpha / rank) · B A, with ΔW of shape [outDim][inDim]. */
export interface LoraTensorPair {
  /** The base model tensor this adapts, e.g. "blk.0.attn_q.weight". */
  baseName: string;
  /** A: [rank][inDim] row-major = ggml [inDim, rank] (`<baseName>.lora_a`). */
  a: Float32Array;
  /** B: [outDim][rank] row-major = ggml [rank, outDim] (`<baseName>.lora_b`). */
  b: Float32Array;
  rank: number;
  inDim: number;
  outDim: number;
}

export interface BuildLoraAdapterGgufOptions {
  /** The base model's general.architecture ("llama", "qwen3", …). */
  baseArchitecture: string;
  /** llama.cpp scales B A by alpha / rank (times the per-context scale, default 1). */
  alpha: number;
  tensors: readonly LoraTensorPair[];
  name?: string;
  extraMetadata?: readonly (readonly [string, GgufValue])[];
}

export function buildLoraAdapterGguf(options: BuildLoraAdapterGgufOptions): Uint8Array {
  if (options.tensors.length === 0) throw new RangeError("a LoRA adapter needs at least one tensor pair");
  const metadata: [string, GgufValue][] = [
    ["general.architecture", { type: "string", value: options.baseArchitecture }],
    ["general.type", { type: "string", value: "adapter" }],
    ...(options.name === undefined ? [] : [["general.name", { type: "string", value: options.name }] as [string, GgufValue]]),
    ["adapter.type", { type: "string", value: "lora" }],
    ["adapter.lora.alpha", { type: "f32", value: options.alpha }],
    ...(options.extraMetadata ?? []).map(([key, value]): [string, GgufValue] => [key, value]),
  ];
  const tensors: GgufTensor[] = [];
  for (const pair of options.tensors) {
    const { rank, inDim, outDim } = pair;
    if (pair.a.length !== rank * inDim) throw new RangeError(`${pair.baseName}.lora_a: expected ${rank}×${inDim} values, got ${pair.a.length}`);
    if (pair.b.length !== outDim * rank) throw new RangeError(`${pair.baseName}.lora_b: expected ${outDim}×${rank} values, got ${pair.b.length}`);
    tensors.push(
      { name: `${pair.baseName}.lora_a`, dims: [inDim, rank], data: pair.a },
      { name: `${pair.baseName}.lora_b`, dims: [rank, outDim], data: pair.b },
    );
  }
  return writeGguf(metadata, tensors);
}
