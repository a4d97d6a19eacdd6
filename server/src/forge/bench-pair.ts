/**
 * The speed-benchmark pair (`npm run forge -- --bench`): realistic *cost*, meaningless text.
 * A 32,000-token vocabulary and ~60 M parameters with random weights (F16 matrices); the DPO
 * model is the SFT model plus a small rank-8 update, written both merged (dpo.gguf) and as an
 * adapter (dpo-lora.gguf). The output layer is scaled so next-token distributions are peaked
 * like a trained model's, which keeps AAD's candidate sets small and realistic in size.
 * Nothing may claim anything about its text.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createRng, type Rng } from "../decoding/rng.ts";
import { adapterGguf } from "./forge.ts";
import { buildLlamaGguf, type LlamaHyperparameters } from "./llama-gguf.ts";
import { type ModelConfig, type ModelWeights, PROJECTIONS, mergeLora, projectionShape, randomMatrix } from "./model.ts";
import { BYTE_TOKEN_BASE, RESERVED_TOKEN_COUNT, SPACE_MARK, TokenType, byteTokenText, type Vocabulary } from "./vocabulary.ts";

export const BENCH_CONFIG: ModelConfig = {
  vocabSize: 32000,
  contextLength: 2048,
  embeddingLength: 512,
  blockCount: 8,
  feedForwardLength: 1536,
  headCount: 8,
  rmsEpsilon: 1e-5,
  ropeFreqBase: 10000,
};


/** Synthetic pieces: "▁a".."▁zzz" and "a".."zzz", enough to fill the vocabulary. */
export function syntheticVocabulary(size: number): Vocabulary {
  const tokens = ["<unk>", "<s>", "</s>"];
  for (let b = 0; b < 256; b++) tokens.push(byteTokenText(b));
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const words: string[] = [];
  for (const a of letters) words.push(a);
  for (const a of letters) for (const b of letters) words.push(a + b);
  for (const a of letters) for (const b of letters) for (const c of letters) words.push(a + b + c);
  for (const w of words) {
    if (tokens.length >= size) break;
    tokens.push(SPACE_MARK + w);
    if (tokens.length < size) tokens.push(w);
  }
  const tokenTypes = tokens.map((_, i) => (i === 0 ? TokenType.unknown : i < BYTE_TOKEN_BASE ? TokenType.control : i < RESERVED_TOKEN_COUNT ? TokenType.byte : TokenType.normal));
  const scores = tokens.map((_, i) => (i < RESERVED_TOKEN_COUNT ? 0 : -(i - RESERVED_TOKEN_COUNT)));
  return { tokens, scores, tokenTypes, bos: 1, eos: 2, unk: 0 };
}

function randomWeights(config: ModelConfig, rng: Rng): ModelWeights<Float32Array> {
  const e = config.embeddingLength;
  const ones = (n: number) => new Float32Array(n).fill(1);
  const matrix = (p: (typeof PROJECTIONS)[number]) => {
    const [rows, cols] = projectionShape(config, p);
    return randomMatrix(rng, rows, cols, 1 / Math.sqrt(cols));
  };
  return {
    tokenEmbedding: randomMatrix(rng, config.vocabSize, e, 1),
    outputNorm: ones(e),
    // Logit standard deviation ≈ 0.25·sqrt(512) ≈ 5.7: peaked distributions, as a trained model has.
    output: randomMatrix(rng, config.vocabSize, e, 0.25),
    layers: Array.from({ length: config.blockCount }, () => ({
      attnNorm: ones(e),
      attnQ: matrix("attnQ"),
      attnK: matrix("attnK"),
      attnV: matrix("attnV"),
      attnOutput: matrix("attnOutput"),
      ffnNorm: ones(e),
      ffnGate: matrix("ffnGate"),
      ffnUp: matrix("ffnUp"),
      ffnDown: matrix("ffnDown"),
    })),
  };
}

export async function writeBenchPair(dir: string, log: (message: string) => void = () => undefined, config: ModelConfig = BENCH_CONFIG): Promise<{ sft: string; dpo: string; dpoLora: string }> {
  await mkdir(dir, { recursive: true });
  const rng = createRng("aad-bench-pair");
  const vocabulary = syntheticVocabulary(config.vocabSize);
  const hp: LlamaHyperparameters = { ...config, headCountKv: config.headCount };
  const sft = randomWeights(config, rng.fork("sft"));
  const rank = 8;
  const alpha = 16;
  const lora = {
    rank,
    alpha,
    layers: Array.from({ length: config.blockCount }, () => {
      const layer: Partial<Record<(typeof PROJECTIONS)[number], { a: Float32Array; b: Float32Array }>> = {};
      for (const p of ["attnQ", "attnV", "ffnUp", "ffnDown"] as const) {
        const [out, inp] = projectionShape(config, p);
        layer[p] = { a: randomMatrix(rng, rank, inp, 1 / Math.sqrt(inp)), b: randomMatrix(rng, out, rank, 0.05 / Math.sqrt(rank)) };
      }
      return layer;
    }),
  };
  const files = { sft: join(dir, "sft.gguf"), dpo: join(dir, "dpo.gguf"), dpoLora: join(dir, "dpo-lora.gguf") };
  const common = { hp, vocabulary, chatTemplate: "{% for m in messages %}{{ m['content'] }}\n{% endfor %}", matrixType: "f16" as const };
  await writeFile(files.sft, buildLlamaGguf({ ...common, weights: sft, name: "aad-bench-sft (random weights)" }));
  log(`wrote ${files.sft}`);
  await writeFile(files.dpo, buildLlamaGguf({ ...common, weights: mergeLora(config, sft, lora), name: "aad-bench-dpo (random weights)" }));
  log(`wrote ${files.dpo}`);
  await writeFile(files.dpoLora, adapterGguf(config, lora));
  log(`wrote ${files.dpoLora}`);
  return files;
}
