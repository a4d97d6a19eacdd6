import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama, LlamaLogLevel, readGgufFileInfo, type Llama, type LlamaModel, type Token, type ControlledEvaluateInputItem } from "node-llama-cpp";
import { createRng, type Rng } from "../../server/src/decoding/rng.ts";
import { float32ToFloat16Bits, writeGguf } from "../../server/src/forge/gguf-writer.ts";
import {
  buildLlamaGguf, buildLoraAdapterGguf, kvEmbeddingLength,
  type LlamaHyperparameters, type LlamaLayerWeights, type LlamaWeights, type LoraTensorPair,
} from "../../server/src/forge/llama-gguf.ts";
import {
  buildVocabulary, escapeForSpm, segmentEscaped, tokenizeSpm, RESERVED_TOKEN_COUNT, SPACE_MARK, TokenType, type Vocabulary,
} from "../../server/src/forge/vocabulary.ts";

// ---------------------------------------------------------------------------------------------
// Fixtures: a small English + code corpus, a vocabulary from it, and a random llama model.

function buildCorpus(rng: Rng, count: number): string[] {
  const subjects = ["the model", "a student", "the server", "my friend", "the teacher", "this function", "the robot", "our team"];
  const verbs = ["reads", "writes", "returns", "explains", "builds", "tests", "answers", "prints"];
  const objects = ["the answer", "a short story", "the result", "every question", "a new test", "the value", "some code", "the list"];
  const tails = ["today.", "quickly.", "with care.", "again and again.", "before lunch.", "in the morning.", "for everyone.", "without errors."];
  const names = ["value", "count", "result", "items", "total", "index"];
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = rng.pick(names);
    switch (i % 4) {
      case 0:
      case 1:
        lines.push(`${rng.pick(subjects)} ${rng.pick(verbs)} ${rng.pick(objects)} ${rng.pick(tails)}`);
        break;
      case 2:
        lines.push(`const ${name} = compute(${rng.pick(names)}, ${rng.int(100)});\nreturn ${name};`);
        break;
      default:
        lines.push(`function ${rng.pick(verbs)}(${name}) {\n  return ${name} + ${rng.int(10)};\n}`);
    }
  }
  return lines;
}

const hp: LlamaHyperparameters = {
  vocabSize: 0, // set from the vocabulary
  contextLength: 64,
  embeddingLength: 32,
  blockCount: 2,
  feedForwardLength: 64,
  headCount: 4,
  headCountKv: 2,
  rmsEpsilon: 1e-5,
  ropeFreqBase: 10000,
};

function randomMatrix(rng: Rng, rows: number, cols: number, scale: number): Float32Array {
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = (rng.next() * 2 - 1) * scale;
  return data;
}

function randomNorm(rng: Rng, size: number): Float32Array {
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = 0.8 + 0.4 * rng.next();
  return data;
}

function randomWeights(rng: Rng, p: LlamaHyperparameters): LlamaWeights {
  const e = p.embeddingLength;
  const ekv = kvEmbeddingLength(p);
  const f = p.feedForwardLength;
  const layers: LlamaLayerWeights[] = [];
  for (let l = 0; l < p.blockCount; l++) {
    layers.push({
      attnNorm: randomNorm(rng, e),
      attnQ: randomMatrix(rng, e, e, 0.6),
      attnK: randomMatrix(rng, ekv, e, 0.6),
      attnV: randomMatrix(rng, ekv, e, 0.6),
      attnOutput: randomMatrix(rng, e, e, 0.3),
      ffnNorm: randomNorm(rng, e),
      ffnGate: randomMatrix(rng, f, e, 0.5),
      ffnUp: randomMatrix(rng, f, e, 0.5),
      ffnDown: randomMatrix(rng, e, f, 0.3),
    });
  }
  return {
    tokenEmbedding: randomMatrix(rng, p.vocabSize, e, 1),
    outputNorm: randomNorm(rng, e),
    output: randomMatrix(rng, p.vocabSize, e, 0.8),
    layers,
  };
}

// ---------------------------------------------------------------------------------------------
// A plain reference forward pass over [out][in] row-major matrices. If llama.cpp agrees with it,
// the layout convention (row-major [out][in] = ggml ne [in, out]) holds for every tensor.

function matVec(w: Float32Array, x: ArrayLike<number>, outDim: number, inDim: number): Float64Array {
  const y = new Float64Array(outDim);
  for (let o = 0; o < outDim; o++) {
    let sum = 0;
    for (let i = 0; i < inDim; i++) sum += w[o * inDim + i]! * x[i]!;
    y[o] = sum;
  }
  return y;
}

function rmsNorm(x: Float64Array, weight: Float32Array, eps: number): Float64Array {
  let meanSquare = 0;
  for (const v of x) meanSquare += v * v;
  const scale = 1 / Math.sqrt(meanSquare / x.length + eps);
  return x.map((v, i) => v * scale * weight[i]!);
}

function rope(x: Float64Array, headCount: number, headDim: number, position: number, base: number): void {
  for (let h = 0; h < headCount; h++) {
    for (let i = 0; i < headDim / 2; i++) {
      const angle = position * Math.pow(base, (-2 * i) / headDim);
      const a = h * headDim + 2 * i;
      const x0 = x[a]!;
      const x1 = x[a + 1]!;
      x[a] = x0 * Math.cos(angle) - x1 * Math.sin(angle);
      x[a + 1] = x0 * Math.sin(angle) + x1 * Math.cos(angle);
    }
  }
}

function softmax(logits: Float64Array): Float64Array {
  const max = Math.max(...logits);
  const exps = logits.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}

/** Next-token probabilities after the last of `tokens`. */
function referenceNextTokenProbabilities(p: LlamaHyperparameters, w: LlamaWeights, tokens: readonly number[]): Float64Array {
  const e = p.embeddingLength;
  const headDim = e / p.headCount;
  const ekv = kvEmbeddingLength(p);
  const groups = p.headCount / p.headCountKv;
  let states = tokens.map((t) => Float64Array.from(w.tokenEmbedding.subarray(t * e, (t + 1) * e)));
  for (const layer of w.layers) {
    const normed = states.map((x) => rmsNorm(x, layer.attnNorm, p.rmsEpsilon));
    const qs = normed.map((x, pos) => { const q = matVec(layer.attnQ, x, e, e); rope(q, p.headCount, headDim, pos, p.ropeFreqBase); return q; });
    const ks = normed.map((x, pos) => { const k = matVec(layer.attnK, x, ekv, e); rope(k, p.headCountKv, headDim, pos, p.ropeFreqBase); return k; });
    const vs = normed.map((x) => matVec(layer.attnV, x, ekv, e));
    states = states.map((x, pos) => {
      const attended = new Float64Array(e);
      for (let h = 0; h < p.headCount; h++) {
        const kvHead = Math.floor(h / groups);
        const scores = new Float64Array(pos + 1);
        for (let j = 0; j <= pos; j++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += qs[pos]![h * headDim + d]! * ks[j]![kvHead * headDim + d]!;
          scores[j] = dot / Math.sqrt(headDim);
        }
        const weights = softmax(scores);
        for (let j = 0; j <= pos; j++) {
          for (let d = 0; d < headDim; d++) attended[h * headDim + d]! += weights[j]! * vs[j]![kvHead * headDim + d]!;
        }
      }
      const afterAttention = matVec(layer.attnOutput, attended, e, e).map((v, i) => v + x[i]!);
      const h2 = rmsNorm(afterAttention, layer.ffnNorm, p.rmsEpsilon);
      const gate = matVec(layer.ffnGate, h2, p.feedForwardLength, e);
      const up = matVec(layer.ffnUp, h2, p.feedForwardLength, e);
      const hidden = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      return matVec(layer.ffnDown, hidden, e, p.feedForwardLength).map((v, i) => v + afterAttention[i]!);
    });
  }
  const last = rmsNorm(states[states.length - 1]!, w.outputNorm, p.rmsEpsilon);
  return softmax(matVec(w.output, last, p.vocabSize, e));
}

/** W + (alpha / rank) · B A for each adapted tensor, applied to a copy of the weights. */
function mergeLora(w: LlamaWeights, pairs: readonly LoraTensorPair[], alpha: number): LlamaWeights {
  const merged: LlamaWeights = structuredClone(w);
  const tensorByName = (name: string): Float32Array => {
    if (name === "output.weight") return merged.output;
    const match = /^blk\.(\d+)\.(\w+)\.weight$/.exec(name);
    const fields: Record<string, keyof LlamaLayerWeights> = {
      attn_q: "attnQ", attn_k: "attnK", attn_v: "attnV", attn_output: "attnOutput", ffn_gate: "ffnGate", ffn_up: "ffnUp", ffn_down: "ffnDown",
    };
    if (match === null) throw new Error(`unsupported ${name}`);
    return merged.layers[Number(match[1])]![fields[match[2]!]!];
  };
  for (const pair of pairs) {
    const target = tensorByName(pair.baseName);
    const scale = alpha / pair.rank;
    for (let o = 0; o < pair.outDim; o++) {
      for (let i = 0; i < pair.inDim; i++) {
        let sum = 0;
        for (let r = 0; r < pair.rank; r++) sum += pair.b[o * pair.rank + r]! * pair.a[r * pair.inDim + i]!;
        target[o * pair.inDim + i]! += scale * sum;
      }
    }
  }
  return merged;
}

// ---------------------------------------------------------------------------------------------

const corpus = buildCorpus(createRng("gguf-test-corpus"), 200);
const vocabulary: Vocabulary = buildVocabulary(corpus, { maxPieces: 1000 });
const modelHp: LlamaHyperparameters = { ...hp, vocabSize: vocabulary.tokens.length };
const weights = randomWeights(createRng("gguf-test-weights"), modelHp);
const chatTemplate = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";
const loraAlpha = 8;
const loraPairs: LoraTensorPair[] = (() => {
  const rng = createRng("gguf-test-lora");
  const e = modelHp.embeddingLength;
  const pair = (baseName: string, inDim: number, outDim: number, rank: number): LoraTensorPair => ({
    baseName, inDim, outDim, rank, a: randomMatrix(rng, rank, inDim, 0.5), b: randomMatrix(rng, outDim, rank, 0.5),
  });
  return [
    pair("blk.0.attn_q.weight", e, e, 4),
    pair("blk.1.attn_k.weight", e, kvEmbeddingLength(modelHp), 4),
    pair("blk.1.ffn_down.weight", modelHp.feedForwardLength, e, 2),
    pair("output.weight", e, modelHp.vocabSize, 4),
  ];
})();

function buildModelFile(): Uint8Array {
  return buildLlamaGguf({
    hp: modelHp, weights, vocabulary, name: "gguf-test", chatTemplate,
    extraMetadata: [["aad.forge.seed", { type: "string", value: "gguf-test-weights" }]],
  });
}

/** Words that follow a space (or start a text), i.e. segments that begin with "▁". */
function wordFrequencies(texts: readonly string[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const segment of segmentEscaped(escapeForSpm(text))) {
      if (segment.length > 1 && segment.startsWith(SPACE_MARK)) counts.set(segment.slice(1), (counts.get(segment.slice(1)) ?? 0) + 1);
    }
  }
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

void describe("vocabulary", () => {
  void test("starts with <unk>, <s>, </s> and the 256 upper-case byte tokens, then normal pieces ranked by score", () => {
    assert.deepEqual(vocabulary.tokens.slice(0, 3), ["<unk>", "<s>", "</s>"]);
    assert.deepEqual([vocabulary.unk, vocabulary.bos, vocabulary.eos], [0, 1, 2]);
    assert.deepEqual(vocabulary.tokenTypes.slice(0, 3), [TokenType.unknown, TokenType.control, TokenType.control]);
    assert.equal(vocabulary.tokens[3], "<0x00>");
    assert.equal(vocabulary.tokens[3 + 0xab], "<0xAB>");
    assert.equal(vocabulary.tokens[RESERVED_TOKEN_COUNT - 1], "<0xFF>");
    assert.ok(vocabulary.tokenTypes.slice(3, RESERVED_TOKEN_COUNT).every((t) => t === TokenType.byte));
    const normalScores = vocabulary.scores.slice(RESERVED_TOKEN_COUNT);
    assert.ok(vocabulary.tokenTypes.slice(RESERVED_TOKEN_COUNT).every((t) => t === TokenType.normal));
    assert.deepEqual(normalScores, normalScores.map((_, rank) => 0 - rank));
    assert.equal(new Set(vocabulary.tokens).size, vocabulary.tokens.length);
  });

  void test("contains every prefix of each multi-character piece and no piece with an inner ▁ or a newline", () => {
    const pieces = new Set(vocabulary.tokens.slice(RESERVED_TOKEN_COUNT));
    for (const piece of pieces) {
      const chars = Array.from(piece);
      for (let end = 1; end < chars.length; end++) assert.ok(pieces.has(chars.slice(0, end).join("")), `prefix of ${piece}`);
      assert.ok(!chars.slice(1).includes(SPACE_MARK), piece);
      assert.ok(piece === "\n" || !piece.includes("\n"), piece);
    }
  });

  void test("respects maxPieces and is deterministic", () => {
    const small = buildVocabulary(corpus, { maxPieces: 50 });
    assert.ok(small.tokens.length <= RESERVED_TOKEN_COUNT + 50);
    assert.deepEqual(buildVocabulary(corpus, { maxPieces: 1000 }), vocabulary);
    assert.deepEqual(buildVocabulary([...corpus].reverse(), { maxPieces: 1000 }), vocabulary, "independent of the corpus order");
  });

  void test("segments escaped text at every ▁ and around every newline", () => {
    assert.equal(escapeForSpm("a  b"), `${SPACE_MARK}a${SPACE_MARK}${SPACE_MARK}b`);
    assert.deepEqual(segmentEscaped(escapeForSpm("foo bar\n  baz\n\nx")), ["▁foo", "▁bar", "\n", "▁", "▁baz", "\n", "\n", "x"]);
  });

  void test("never keeps a piece that could merge into <s>, </s>, <unk> or a byte token", () => {
    const tricky = buildVocabulary(["<s>\n</s>\n<unk>\n<0x41>\n<s>\n</s>\n<unk>\n<0x41>", "x <s> y"], { maxPieces: 200 });
    const normal = tricky.tokens.slice(RESERVED_TOKEN_COUNT);
    for (const bad of ["<s", "s>", "</", "/s>", "<u", "unk>", "<0", "<0x", "0x41>", "41>"]) assert.ok(!normal.includes(bad), bad);
    assert.ok(normal.includes("▁<s>"), "a ▁-led piece cannot be a right operand, so it is allowed");
    const tokens = tokenizeSpm(tricky, "x\n<s>\n</s>\n<unk>\n<0x41>");
    assert.ok(tokens.every((t) => tricky.tokenTypes[t] === TokenType.normal), tokens.map((t) => tricky.tokens[t]).join(" "));
  });
});

void describe("GGUF writer", () => {
  void test("writes the v3 header, aligned tensor offsets and padding after every tensor", () => {
    const bytes = writeGguf([["general.architecture", { type: "string", value: "x" }]], [
      { name: "a", dims: [3], data: Float32Array.of(1, 2, 3) },
      { name: "b", dims: [2, 2], data: Float32Array.of(4, 5, 6, 7) },
    ]);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), "GGUF");
    assert.equal(view.getUint32(4, true), 3);
    assert.equal(view.getBigUint64(8, true), 2n);
    assert.equal(view.getBigUint64(16, true), 1n);
    assert.equal(bytes.length % 32, 0);
    // data: a at 0 (12 bytes, padded to 32), b at 32 (16 bytes, padded to 32)
    const dataStart = bytes.length - 64;
    assert.equal(dataStart % 32, 0);
    assert.equal(view.getFloat32(dataStart + 8, true), 3);
    assert.equal(view.getFloat32(dataStart + 32, true), 4);
    assert.ok(bytes.subarray(dataStart + 12, dataStart + 32).every((b) => b === 0));
  });

  void test("refuses duplicate keys, duplicate tensor names and dims that do not match the data", () => {
    const s = { type: "string", value: "x" } as const;
    assert.throws(() => writeGguf([["k", s], ["k", s]], []), /duplicate GGUF metadata key/);
    const t = { name: "t", dims: [2], data: new Float32Array(2) };
    assert.throws(() => writeGguf([], [t, t]), /duplicate tensor name/);
    assert.throws(() => writeGguf([], [{ name: "t", dims: [3], data: new Float32Array(2) }]), /hold 3 elements/);
    assert.throws(() => writeGguf([["k", { type: "u32", value: -1 }]], []), /not a u32/);
  });

  void test("converts f32 to f16 with round-to-nearest-even", () => {
    assert.equal(float32ToFloat16Bits(1), 0x3c00);
    assert.equal(float32ToFloat16Bits(-2), 0xc000);
    assert.equal(float32ToFloat16Bits(65504), 0x7bff);
    assert.equal(float32ToFloat16Bits(65520), 0x7c00);
    assert.equal(float32ToFloat16Bits(2 ** -24), 0x0001);
    assert.equal(float32ToFloat16Bits(2 ** -25), 0x0000);
    assert.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00);
    assert.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02);
    assert.equal(float32ToFloat16Bits(Number.NaN) & 0x7e00, 0x7e00);
  });

  void test("writing the same model twice gives identical bytes", () => {
    assert.deepEqual(buildModelFile(), buildModelFile());
    const loraOptions = { baseArchitecture: "llama", alpha: loraAlpha, tensors: loraPairs } as const;
    assert.deepEqual(buildLoraAdapterGguf(loraOptions), buildLoraAdapterGguf(loraOptions));
  });
});

void describe("GGUF files through node-llama-cpp", () => {
  let dir: string;
  let modelPath: string;
  let loraPath: string;
  let llama: Llama;
  let model: LlamaModel;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "aad-gguf-test-"));
    modelPath = join(dir, "model.gguf");
    loraPath = join(dir, "lora.gguf");
    await writeFile(modelPath, buildModelFile());
    await writeFile(loraPath, buildLoraAdapterGguf({ baseArchitecture: "llama", alpha: loraAlpha, tensors: loraPairs, name: "gguf-test-lora" }));
    llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.warn });
    model = await llama.loadModel({ modelPath });
  });

  after(async () => {
    await model.dispose();
    await llama.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  async function nextTokenProbabilities(tokens: readonly Token[], lora?: string): Promise<Map<Token, number>> {
    // Flash attention off and an f32 KV cache, so that llama.cpp computes in f32 throughout like the
    // reference: the defaults (flash attention "auto" = on for CPU, f16 KV cache) move p by ~5e-4.
    const context = await model.createContext({
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- needed for an f32-exact comparison, on this fixed tiny model only
      contextSize: modelHp.contextLength, threads: 1, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32", flashAttention: false,
      ...(lora === undefined ? {} : { lora: { adapters: [{ filePath: lora }] } }),
    });
    try {
      const sequence = context.getSequence();
      const input: ControlledEvaluateInputItem[] = [...tokens.slice(0, -1), [tokens[tokens.length - 1]!, { generateNext: { probabilities: true, options: { temperature: 0 } } }]];
      const output = await sequence.controlledEvaluate(input);
      return output[tokens.length - 1]!.next.probabilities!;
    } finally {
      await context.dispose();
    }
  }

  function maxDifference(actual: Map<Token, number>, expected: Float64Array): number {
    let max = 0;
    for (let t = 0; t < expected.length; t++) max = Math.max(max, Math.abs((actual.get(t as Token) ?? 0) - expected[t]!));
    return max;
  }

  void test("readGgufFileInfo reads back the metadata and the tensor shapes in ggml order", async () => {
    const info = await readGgufFileInfo(modelPath, { logWarnings: false });
    assert.equal(info.version, 3);
    const m = info.metadata as unknown as Record<string, Record<string, unknown>>;
    assert.equal(m.general!.architecture, "llama");
    assert.equal(m.general!.name, "gguf-test");
    assert.equal(m.general!.file_type, 0);
    const llamaKeys = m.llama as { context_length: number; embedding_length: number; block_count: number; feed_forward_length: number; attention: Record<string, number>; rope: Record<string, number> };
    assert.deepEqual(
      [llamaKeys.context_length, llamaKeys.embedding_length, llamaKeys.block_count, llamaKeys.feed_forward_length],
      [64, 32, 2, 64],
    );
    assert.equal(llamaKeys.attention.head_count, 4);
    assert.equal(llamaKeys.attention.head_count_kv, 2);
    assert.ok(Math.abs(llamaKeys.attention.layer_norm_rms_epsilon! - 1e-5) < 1e-10);
    assert.equal(llamaKeys.rope.dimension_count, 8);
    const tokenizer = (m.tokenizer as { ggml: Record<string, unknown>; chat_template: string });
    assert.equal(tokenizer.ggml.model, "llama");
    assert.deepEqual(tokenizer.ggml.tokens, vocabulary.tokens);
    assert.deepEqual(tokenizer.ggml.token_type, vocabulary.tokenTypes);
    assert.equal(tokenizer.ggml.add_bos_token, true);
    assert.equal(tokenizer.ggml.add_eos_token, false);
    assert.equal(tokenizer.ggml.add_space_prefix, true);
    assert.equal(tokenizer.chat_template, chatTemplate);
    const shapes = new Map(info.tensorInfo!.map((t) => [t.name, t.dimensions.map(Number)]));
    assert.deepEqual(shapes.get("token_embd.weight"), [32, vocabulary.tokens.length]);
    assert.deepEqual(shapes.get("output.weight"), [32, vocabulary.tokens.length]);
    assert.deepEqual(shapes.get("blk.1.attn_k.weight"), [32, 16]);
    assert.deepEqual(shapes.get("blk.0.ffn_down.weight"), [64, 32]);
    assert.equal(info.tensorInfo!.length, 3 + 9 * 2);
    for (const tensor of info.tensorInfo!) assert.equal(Number(tensor.offset) % 32, 0);
  });

  void test("the model loads with the vocabulary's special tokens", () => {
    assert.equal(model.tokens.bos, vocabulary.bos);
    assert.equal(model.tokens.eos, vocabulary.eos);
    assert.equal(model.fileInfo.metadata.tokenizer.ggml.tokens.length, vocabulary.tokens.length);
  });

  void test("llama.cpp's next-token distribution equals a reference forward pass over [out][in] row-major weights", async () => {
    const tokens = [vocabulary.bos, ...model.tokenize("the model returns the answer")].map(Number);
    const actual = await nextTokenProbabilities(tokens as Token[]);
    const expected = referenceNextTokenProbabilities(modelHp, weights, tokens);
    assert.ok(maxDifference(actual, expected) < 1e-5, `max |Δp| = ${maxDifference(actual, expected)}`);
  });

  void test("tokenize does not add BOS and detokenize(tokenize(text)) returns the text exactly", () => {
    for (const text of corpus) {
      const tokens = model.tokenize(text);
      assert.notEqual(tokens[0], vocabulary.bos);
      assert.equal(model.detokenize(tokens), text);
    }
  });

  void test("the leading space llama.cpp adds is stripped again by detokenize, and a real leading space survives", () => {
    const [first] = model.tokenize("the");
    assert.equal(vocabulary.tokens[first!], `${SPACE_MARK}the`);
    assert.equal(model.detokenize([first!]), "the");
    assert.deepEqual(model.tokenize(" the").map((t) => vocabulary.tokens[t]), [SPACE_MARK, `${SPACE_MARK}the`]);
    assert.equal(model.detokenize(model.tokenize(" the")), " the");
    assert.equal(model.detokenize(model.tokenize("  two  spaces  ")), "  two  spaces  ");
    assert.deepEqual(model.tokenize(""), []);
    // Streaming: with the preceding tokens as context, a piece keeps its leading space.
    const tokens = model.tokenize("the model");
    assert.equal(model.detokenize(tokens.slice(1), false, tokens.slice(0, 1)), " model");
    assert.equal(model.detokenize(tokens.slice(1)), "model");
  });

  void test("text outside the vocabulary round-trips through byte fallback", () => {
    for (const text of ["naïve café — déjà vu", "日本語のテキスト", "emoji 🤖🎉 and ZWJ 👩‍💻", "tabs\tand\r\nCRLF", "Ω≈ç√∫˜µ≤≥÷", "\u0000nul"]) {
      const tokens = model.tokenize(text);
      assert.equal(model.detokenize(tokens), text, text);
    }
    const robot = model.tokenize("🤖").map((t) => vocabulary.tokens[t]);
    assert.deepEqual(robot, [SPACE_MARK, "<0xF0>", "<0x9F>", "<0xA4>", "<0x96>"]);
  });

  void test("literal <s>, </s>, <unk> and <0x41> text is tokenised as text, never as a control token", () => {
    const text = "<s> </s> <unk> <0x41>\n<s>";
    const tokens = model.tokenize(text);
    assert.ok(tokens.every((t) => vocabulary.tokenTypes[t] !== TokenType.control && t !== vocabulary.unk), tokens.map((t) => vocabulary.tokens[t]).join(" "));
    assert.equal(model.detokenize(tokens), text);
  });

  void test("each of the 40 most frequent words is one token, alone and inside a sentence", () => {
    const frequent = wordFrequencies(corpus).slice(0, 40).map(([word]) => word);
    for (const word of frequent) {
      assert.deepEqual(model.tokenize(word).map((t) => vocabulary.tokens[t]), [`${SPACE_MARK}${word}`], word);
    }
    const sentence = frequent.slice(0, 12).join(" ");
    assert.equal(model.tokenize(sentence).length, 12);
  });

  void test("the JS tokenizer gives exactly llama.cpp's tokens", () => {
    const extra = ["", " ", "  leading", "x\n\ny", "unknownword zzz", "naïve 日本 🤖", "<s> </s> <0x41>", "return value;}\n"];
    for (const text of [...corpus, ...extra]) assert.deepEqual(tokenizeSpm(vocabulary, text), model.tokenize(text).map(Number), JSON.stringify(text));
  });

  void test("a LoRA adapter loads, changes the distribution, and matches the merged weights W + (alpha/r)·B·A", async () => {
    const tokens = [vocabulary.bos, ...model.tokenize("const value = compute(")].map(Number) as Token[];
    const base = await nextTokenProbabilities(tokens);
    const adapted = await nextTokenProbabilities(tokens, loraPath);
    const expectedBase = referenceNextTokenProbabilities(modelHp, weights, tokens);
    const expectedAdapted = referenceNextTokenProbabilities(modelHp, mergeLora(weights, loraPairs, loraAlpha), tokens);
    const adaptedDense = Float64Array.from({ length: modelHp.vocabSize }, (_, t) => adapted.get(t as Token) ?? 0);
    assert.ok(maxDifference(base, adaptedDense) > 1e-2, "the adapter must change the distribution");
    assert.ok(maxDifference(base, expectedBase) < 1e-5);
    assert.ok(maxDifference(adapted, expectedAdapted) < 1e-5, `max |Δp| = ${maxDifference(adapted, expectedAdapted)}`);
  });

  void test("an f16 model loads and stays close to the f32 one", async () => {
    const f16Path = join(dir, "model-f16.gguf");
    await writeFile(f16Path, buildLlamaGguf({ hp: modelHp, weights, vocabulary, name: "gguf-test-f16", chatTemplate, matrixType: "f16" }));
    const f16 = await llama.loadModel({ modelPath: f16Path });
    try {
      const context = await f16.createContext({ contextSize: modelHp.contextLength, threads: 1 });
      const tokens = [vocabulary.bos as Token, ...f16.tokenize("the robot prints")];
      const input: ControlledEvaluateInputItem[] = [...tokens.slice(0, -1), [tokens[tokens.length - 1]!, { generateNext: { probabilities: true, options: { temperature: 0 } } }]];
      const output = await context.getSequence().controlledEvaluate(input);
      const probabilities = output[tokens.length - 1]!.next.probabilities!;
      const expected = referenceNextTokenProbabilities(modelHp, weights, tokens.map(Number));
      assert.ok(maxDifference(probabilities, expected) < 2e-2, `max |Δp| = ${maxDifference(probabilities, expected)}`);
      await context.dispose();
    } finally {
      await f16.dispose();
    }
  });
});
