import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { createRng } from "../../server/src/decoding/rng.ts";
import { writeGguf, type GgufValue } from "../../server/src/forge/gguf-writer.ts";
import {
  buildLoraAdapterGguf, kvEmbeddingLength, llamaGgufContents, type BuildLlamaGgufOptions, type LlamaHyperparameters, type LlamaWeights,
} from "../../server/src/forge/llama-gguf.ts";
import { buildVocabulary, type Vocabulary } from "../../server/src/forge/vocabulary.ts";
import {
  compareVocabularies, GGML_TYPE_SIZES, inspectModelFile, ModelFileError, type ModelFileErrorCode,
} from "../../server/src/runtime/model-files.ts";

function tinyModelOptions(vocabulary: Vocabulary, seed: string): BuildLlamaGgufOptions {
  const hp: LlamaHyperparameters = {
    vocabSize: vocabulary.tokens.length, contextLength: 32, embeddingLength: 8, blockCount: 1,
    feedForwardLength: 16, headCount: 2, headCountKv: 1, rmsEpsilon: 1e-5, ropeFreqBase: 10000,
  };
  const rng = createRng(seed);
  const matrix = (rows: number, cols: number): Float32Array => Float32Array.from({ length: rows * cols }, () => rng.next() - 0.5);
  const e = hp.embeddingLength;
  const ekv = kvEmbeddingLength(hp);
  const weights: LlamaWeights = {
    tokenEmbedding: matrix(hp.vocabSize, e),
    outputNorm: new Float32Array(e).fill(1),
    output: matrix(hp.vocabSize, e),
    layers: [{
      attnNorm: new Float32Array(e).fill(1), attnQ: matrix(e, e), attnK: matrix(ekv, e), attnV: matrix(ekv, e), attnOutput: matrix(e, e),
      ffnNorm: new Float32Array(e).fill(1), ffnGate: matrix(16, e), ffnUp: matrix(16, e), ffnDown: matrix(e, 16),
    }],
  };
  return { hp, weights, vocabulary, name: `tiny-${seed}`, chatTemplate: "{{ messages }}" };
}

function writeModel(options: BuildLlamaGgufOptions, dropKeys: readonly string[] = []): Uint8Array {
  const { metadata, tensors } = llamaGgufContents(options);
  return writeGguf(metadata.filter(([key]) => !dropKeys.includes(key)), tensors);
}

async function assertRefused(promise: Promise<unknown>, code: ModelFileErrorCode, message: RegExp): Promise<ModelFileError> {
  const error = await promise.then(
    () => assert.fail("expected a ModelFileError"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ModelFileError, `not a ModelFileError: ${String(error)}`);
  assert.equal(error.code, code, error.message);
  assert.match(error.message, message);
  return error;
}

const vocabularyA = buildVocabulary(["the cat sat on the mat", "a dog ran home"], { maxPieces: 60 });
const vocabularyB = buildVocabulary(["the cat sat on the hat", "a dog ran home"], { maxPieces: 60 });

void describe("inspectModelFile", () => {
  let dir: string;
  const file = (name: string): string => join(dir, name);
  let modelBytes: Uint8Array;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "aad-model-files-test-"));
    modelBytes = writeModel(tinyModelOptions(vocabularyA, "a"));
    await writeFile(file("model.gguf"), modelBytes);
    await writeFile(file("lora.gguf"), buildLoraAdapterGguf({
      baseArchitecture: "llama", alpha: 4, name: "tiny-lora",
      tensors: [{ baseName: "blk.0.attn_q.weight", inDim: 8, outDim: 8, rank: 2, a: new Float32Array(16).fill(0.1), b: new Float32Array(16).fill(0.1) }],
    }));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void test("summarises a valid model: architecture, vocabulary, context length, tensors and size", async () => {
    const summary = await inspectModelFile(file("model.gguf"), { expect: "model" });
    assert.equal(summary.kind, "model");
    assert.equal(summary.architecture, "llama");
    assert.equal(summary.name, "tiny-a");
    assert.equal(summary.ggufVersion, 3);
    assert.equal(summary.contextLength, 32);
    assert.equal(summary.embeddingLength, 8);
    assert.equal(summary.blockCount, 1);
    assert.equal(summary.fileSize, modelBytes.length);
    assert.equal(summary.tensorCount, 3 + 9);
    const v = vocabularyA.tokens.length;
    assert.equal(summary.parameterCount, 2 * v * 8 + 8 + (8 + 64 + 32 + 32 + 64 + 8 + 3 * 128));
    assert.deepEqual(summary.vocabulary.tokens, vocabularyA.tokens);
    assert.deepEqual(summary.vocabulary.tokenTypes, vocabularyA.tokenTypes);
    assert.equal(summary.vocabulary.tokenizerModel, "llama");
    assert.equal(summary.vocabulary.bos, 1);
    assert.equal(summary.vocabulary.eos, 2);
  });

  void test("summarises a valid LoRA adapter", async () => {
    const summary = await inspectModelFile(file("lora.gguf"), { expect: "lora" });
    assert.equal(summary.kind, "lora");
    assert.equal(summary.alpha, 4);
    assert.deepEqual(summary.adaptedTensors, ["blk.0.attn_q.weight"]);
    assert.equal(summary.parameterCount, 32);
  });

  void test("a 4 GiB file is inspected from its header alone", async () => {
    await writeFile(file("big.gguf"), modelBytes);
    await truncate(file("big.gguf"), modelBytes.length + 4 * 2 ** 30); // sparse: no disk used
    const started = performance.now();
    const summary = await inspectModelFile(file("big.gguf"), { expect: "model" });
    assert.equal(summary.fileSize, modelBytes.length + 4 * 2 ** 30);
    assert.ok(performance.now() - started < 2000, `took ${performance.now() - started} ms`);
    await rm(file("big.gguf"));
  });

  void test("a missing file is FileNotFound", async () => {
    await assertRefused(inspectModelFile(file("nope.gguf"), { expect: "model" }), "FileNotFound", /nope\.gguf does not exist/);
  });

  void test("a directory is FileNotFound and says to pick the file inside", async () => {
    await mkdir(file("a-directory.gguf"));
    await assertRefused(inspectModelFile(file("a-directory.gguf"), { expect: "model" }), "FileNotFound", /is a directory/);
  });

  void test("an empty file is InvalidModel", async () => {
    await writeFile(file("empty.gguf"), new Uint8Array(0));
    await assertRefused(inspectModelFile(file("empty.gguf"), { expect: "model" }), "InvalidModel", /is empty \(0 bytes\)/);
  });

  void test("random bytes are not a GGUF file", async () => {
    const rng = createRng("random-bytes");
    await writeFile(file("random.gguf"), Uint8Array.from({ length: 4096 }, () => rng.int(256)));
    await assertRefused(inspectModelFile(file("random.gguf"), { expect: "model" }), "InvalidModel", /is not a GGUF file: its first bytes are/);
  });

  void test("a text file is not a GGUF file, and the message says it is text", async () => {
    await writeFile(file("readme.gguf"), "This is not a model.\nJust some notes.\n");
    await assertRefused(inspectModelFile(file("readme.gguf"), { expect: "model" }), "InvalidModel", /text file starting "This is not a model/);
  });

  void test("a Git LFS pointer is recognised as one", async () => {
    await writeFile(file("lfs.gguf"), "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n");
    await assertRefused(inspectModelFile(file("lfs.gguf"), { expect: "model" }), "InvalidModel", /Git LFS pointer/);
  });

  void test("a copy truncated inside the tensor data names the tensor that does not fit", async () => {
    await writeFile(file("truncated.gguf"), modelBytes.subarray(0, modelBytes.length - 100));
    await assertRefused(inspectModelFile(file("truncated.gguf"), { expect: "model" }), "InvalidModel", /is truncated: .* tensor "output\.weight" needs bytes up to/);
  });

  void test("a copy truncated inside the header is refused", async () => {
    await writeFile(file("header-cut.gguf"), modelBytes.subarray(0, 300));
    await assertRefused(inspectModelFile(file("header-cut.gguf"), { expect: "model" }), "InvalidModel", /damaged or truncated GGUF header/);
  });

  void test("a header claiming 2^60 metadata entries is refused at once instead of being read forever", async () => {
    const bytes = new Uint8Array(64);
    const view = new DataView(bytes.buffer);
    bytes.set(new TextEncoder().encode("GGUF"));
    view.setUint32(4, 3, true);
    view.setBigUint64(8, 0n, true);
    view.setBigUint64(16, 1n << 60n, true);
    await writeFile(file("huge-count.gguf"), bytes);
    await assertRefused(inspectModelFile(file("huge-count.gguf"), { expect: "model" }), "InvalidModel", /metadata key count \(1152921504606846976\) cannot fit/);
  });

  void test("an unsupported GGUF version is refused", async () => {
    const bytes = modelBytes.slice();
    new DataView(bytes.buffer).setUint32(4, 1, true);
    await writeFile(file("v1.gguf"), bytes);
    await assertRefused(inspectModelFile(file("v1.gguf"), { expect: "model" }), "InvalidModel", /GGUF version 1/);
  });

  for (const key of ["llama.feed_forward_length", "llama.attention.head_count", "llama.block_count", "llama.context_length", "llama.embedding_length"]) {
    void test(`a llama model without ${key} is refused before llama.cpp could abort on it`, async () => {
      const name = `no-${key}.gguf`;
      await writeFile(file(name), writeModel(tinyModelOptions(vocabularyA, "a"), [key]));
      await assertRefused(inspectModelFile(file(name), { expect: "model" }), "InvalidModel", new RegExp(`lacks ${key.replaceAll(".", "\\.")}`));
    });
  }

  void test("a feed_forward_length of 0 is refused too", async () => {
    const options = tinyModelOptions(vocabularyA, "a");
    const { metadata, tensors } = llamaGgufContents(options);
    const zeroed = metadata.map(([key, value]): [string, GgufValue] => [key, key === "llama.feed_forward_length" ? { type: "u32", value: 0 } : value]);
    await writeFile(file("zero-ff.gguf"), writeGguf(zeroed, tensors));
    await assertRefused(inspectModelFile(file("zero-ff.gguf"), { expect: "model" }), "InvalidModel", /has 0 for llama\.feed_forward_length/);
  });

  void test("a model without a tokenizer is refused", async () => {
    await writeFile(file("no-tokens.gguf"), writeModel(tinyModelOptions(vocabularyA, "a"), ["tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"]));
    await assertRefused(inspectModelFile(file("no-tokens.gguf"), { expect: "model" }), "InvalidModel", /has no tokenizer/);
  });

  void test("a LoRA adapter given as the model is refused, and the message says which is which", async () => {
    await assertRefused(inspectModelFile(file("lora.gguf"), { expect: "model" }), "InvalidModel", /is a LoRA adapter, not a model/);
  });

  void test("a model given as the LoRA adapter is refused", async () => {
    await assertRefused(inspectModelFile(file("model.gguf"), { expect: "lora" }), "InvalidModel", /is a model, not a LoRA adapter/);
  });

  void test("llama.cpp's own ggml type sizes agree with the table used for the truncation check", async () => {
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.warn });
    try {
      const bindings = (llama as unknown as { _bindings: { getBlockSizeForGgmlType(t: number): number | null | undefined; getTypeSizeForGgmlType(t: number): number | null | undefined } })._bindings;
      for (let type = 0; type < 64; type++) {
        const block = bindings.getBlockSizeForGgmlType(type);
        const bytes = bindings.getTypeSizeForGgmlType(type);
        const known = block !== undefined && block !== null && block > 0;
        assert.deepEqual(GGML_TYPE_SIZES.get(type), known ? [block, bytes] : undefined, `ggml type ${type}`);
      }
    } finally {
      await llama.dispose();
    }
  });
});

void describe("compareVocabularies", () => {
  let dir: string;
  const file = (name: string): string => join(dir, name);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "aad-vocab-compare-test-"));
    await writeFile(file("a.gguf"), writeModel(tinyModelOptions(vocabularyA, "a")));
    await writeFile(file("a-other-weights.gguf"), writeModel(tinyModelOptions(vocabularyA, "a2")));
    await writeFile(file("b.gguf"), writeModel(tinyModelOptions(vocabularyB, "b")));
    const longer: Vocabulary = { ...vocabularyA, tokens: [...vocabularyA.tokens, "▁extra"], scores: [...vocabularyA.scores, -1000], tokenTypes: [...vocabularyA.tokenTypes, 1] };
    await writeFile(file("longer.gguf"), writeModel(tinyModelOptions(longer, "l")));
    await writeFile(file("other-eos.gguf"), writeModel(tinyModelOptions({ ...vocabularyA, eos: 0 }, "e")));
    await writeFile(file("lora.gguf"), buildLoraAdapterGguf({
      baseArchitecture: "llama", alpha: 1,
      tensors: [{ baseName: "blk.0.attn_q.weight", inDim: 8, outDim: 8, rank: 1, a: new Float32Array(8), b: new Float32Array(8) }],
    }));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const model = (name: string) => inspectModelFile(file(name), { expect: "model" });

  void test("accepts two models with the same vocabulary and different weights", async () => {
    compareVocabularies(await model("a.gguf"), await model("a-other-weights.gguf"));
  });

  void test("names the first differing token index and both token strings", async () => {
    const [a, b] = [await model("a.gguf"), await model("b.gguf")];
    const index = a.vocabulary.tokens.findIndex((token, i) => token !== b.vocabulary.tokens[i]);
    assert.ok(index > 0);
    const expected = `token ${index} is ${JSON.stringify(a.vocabulary.tokens[index])} in the first and ${JSON.stringify(b.vocabulary.tokens[index])} in the second`;
    assert.throws(() => compareVocabularies(a, b), (e: unknown) =>
      e instanceof ModelFileError && e.code === "VocabularyMismatch" && e.path === b.path && e.message.includes(expected) && /same tokenizer/.test(e.message));
  });

  void test("reports different vocabulary sizes when one is a prefix of the other", async () => {
    const [a, longer] = [await model("a.gguf"), await model("longer.gguf")];
    const size = a.vocabulary.tokens.length;
    assert.throws(() => compareVocabularies(a, longer), (e: unknown) =>
      e instanceof ModelFileError && e.code === "VocabularyMismatch" && e.message.includes(`the first has ${size} tokens, the second ${size + 1}`));
  });

  void test("reports a different EOS token", async () => {
    const [a, otherEos] = [await model("a.gguf"), await model("other-eos.gguf")];
    assert.throws(() => compareVocabularies(a, otherEos), (e: unknown) =>
      e instanceof ModelFileError && e.code === "VocabularyMismatch" && e.message.includes(`the EOS token is 2 ("</s>") in the first and 0 ("<unk>") in the second`));
  });

  void test("refuses to compare a LoRA adapter's vocabulary", async () => {
    const [a, lora] = [await model("a.gguf"), await inspectModelFile(file("lora.gguf"), { expect: "lora" })];
    assert.throws(() => compareVocabularies(a, lora), (e: unknown) => e instanceof ModelFileError && e.code === "InvalidModel" && /has no vocabulary of its own/.test(e.message));
  });
});
