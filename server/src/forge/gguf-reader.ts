/**
 * Reads an F32 llama GGUF written by the forge back into trainer weights, so tests can run the
 * trainer's own forward pass on exactly the weights llama.cpp loads.
 */
import { open } from "node:fs/promises";
import { GgmlType, readGgufFileInfo } from "node-llama-cpp";
import type { LayerWeights, ModelConfig, ModelWeights } from "./model.ts";

const LAYER_TENSORS: Record<keyof LayerWeights<unknown>, string> = {
  attnNorm: "attn_norm",
  attnQ: "attn_q",
  attnK: "attn_k",
  attnV: "attn_v",
  attnOutput: "attn_output",
  ffnNorm: "ffn_norm",
  ffnGate: "ffn_gate",
  ffnUp: "ffn_up",
  ffnDown: "ffn_down",
};

export async function readLlamaGguf(path: string): Promise<{ config: ModelConfig; weights: ModelWeights<Float32Array> }> {
  const info = await readGgufFileInfo(path, { logWarnings: false });
  const meta = info.metadata as unknown as Record<string, Record<string, unknown>>;
  const llama = meta.llama as { context_length: number; embedding_length: number; block_count: number; feed_forward_length: number; attention: { head_count: number; layer_norm_rms_epsilon: number }; rope?: { freq_base?: number } };
  const tokens = (meta.tokenizer as { ggml: { tokens: string[] } }).ggml.tokens;
  const config: ModelConfig = {
    vocabSize: tokens.length,
    contextLength: llama.context_length,
    embeddingLength: llama.embedding_length,
    blockCount: llama.block_count,
    feedForwardLength: llama.feed_forward_length,
    headCount: llama.attention.head_count,
    rmsEpsilon: llama.attention.layer_norm_rms_epsilon,
    ropeFreqBase: llama.rope?.freq_base ?? 10000,
  };
  const file = await open(path, "r");
  try {
    const tensors = new Map<string, Float32Array>();
    for (const t of info.tensorInfo ?? []) {
      if (t.ggmlType !== GgmlType.F32) throw new Error(`${path}: tensor ${t.name} is not F32`);
      const count = t.dimensions.reduce<number>((a, d) => a * Number(d), 1);
      const buffer = Buffer.alloc(count * 4);
      await file.read(buffer, 0, buffer.length, Number(t.fileOffset));
      tensors.set(t.name, new Float32Array(buffer.buffer, buffer.byteOffset, count));
    }
    const get = (name: string) => {
      const t = tensors.get(name);
      if (!t) throw new Error(`${path}: tensor ${name} is missing`);
      return t;
    };
    const layers = Array.from({ length: config.blockCount }, (_, l) => {
      const entries = Object.entries(LAYER_TENSORS).map(([key, name]) => [key, get(`blk.${l}.${name}.weight`)] as const);
      return Object.fromEntries(entries) as unknown as LayerWeights<Float32Array>;
    });
    return { config, weights: { tokenEmbedding: get("token_embd.weight"), outputNorm: get("output_norm.weight"), output: get("output.weight"), layers } };
  } finally {
    await file.close();
  }
}
