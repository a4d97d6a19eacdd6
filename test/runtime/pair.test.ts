/**
 * Loading model pairs: the two forms agree, mismatched or malformed files are refused before
 * llama.cpp sees them, and the pair reports what it loaded.
 */
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { formatExample, heldoutPrompts } from "../../server/src/forge/world.ts";
import { generate, ModelFileError, ModelPair, ModelRuntimeError } from "../../server/src/runtime/index.ts";
import { inspectModelFile } from "../../server/src/runtime/model-files.ts";
import { builtInPair, disposeTestLlama, measureAlong, testLlama } from "./support.ts";

const files = builtInPair();
let scratch: string;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "aad-pair-test-"));
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
  await disposeTestLlama();
});

describe("the two forms of a pair", () => {
  let twoModels: ModelPair;
  let withLora: ModelPair;
  before(async () => {
    const llama = await testLlama();
    twoModels = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama });
    withLora = await ModelPair.load({ sft: files.sft, dpoLora: files.dpoLora }, { llama });
  });
  after(async () => {
    await twoModels.dispose();
    await withLora.dispose();
  });

  test("base + LoRA gives the DPO distributions of the merged DPO file: |Δp| ≤ 1e-5", async (t) => {
    let worstP = 0;
    let worstLogp = 0;
    for (const prompt of heldoutPrompts().slice(0, 4)) {
      const tokens = [twoModels.model.tokens.bos!, ...twoModels.model.tokenize(formatExample(prompt.text, "You can use a loop to do it."))];
      const measured = tokens.length - 1;
      const merged = await measureAlong(twoModels.lane("dpo"), tokens, measured, () => []);
      const adapted = await measureAlong(withLora.lane("dpo"), tokens, measured, () => []);
      for (const [i, { full }] of merged.entries()) {
        const other = adapted[i]!.full;
        for (let v = 0; v < full.logprobs.length; v++) {
          worstP = Math.max(worstP, Math.abs(Math.exp(full.logprobs[v]!) - Math.exp(other.logprobs[v]!)));
          if (full.logprobs[v]! > -30) worstLogp = Math.max(worstLogp, Math.abs(full.logprobs[v]! - other.logprobs[v]!));
        }
      }
    }
    // The merged file holds W + BA rounded once; the adapter computes W·x + B(A·x) at run time. The
    // two differ by float32 rounding of the logits: ~1e-6 in p, up to ~1e-5 in log p at any p.
    t.diagnostic(`max |Δp| ${worstP.toExponential(2)}, max |Δ log p| (log p > −30) ${worstLogp.toExponential(2)}`);
    assert.ok(worstP <= 1e-5, `|Δp| ${worstP}`);
    assert.ok(worstLogp <= 5e-5, `|Δ log p| ${worstLogp}`);
  });

  test("base + LoRA gives the same responses as the two-file pair", async () => {
    for (const prompt of heldoutPrompts().slice(0, 8)) {
      const a = await generate(twoModels, { prompt: prompt.text, maxTokens: 40 });
      const b = await generate(withLora, { prompt: prompt.text, maxTokens: 40 });
      assert.deepEqual(b.tokens.map((e) => e.token), a.tokens.map((e) => e.token), prompt.text);
    }
  });

  test("info says what was loaded; the LoRA form holds one model in memory", () => {
    assert.equal(twoModels.info.form, "two-models");
    assert.equal(withLora.info.form, "base-plus-lora");
    assert.equal(withLora.info.files.dpoLora, files.dpoLora);
    assert.equal(twoModels.info.architecture, "llama");
    assert.ok(twoModels.info.vocabSize > 100);
    // By default a context as long as the model was trained for (the forge records it).
    const trained = (JSON.parse(readFileSync("models/manifest.json", "utf8")) as { model: { contextLength: number } }).model.contextLength;
    assert.equal(twoModels.info.contextSize, trained);
    assert.equal(twoModels.info.kvCache, "f32");
    assert.equal(twoModels.info.flashAttention, false);
    assert.equal(twoModels.info.gpu, false);
    assert.equal(twoModels.info.threads, Math.max(1, Math.floor(availableParallelism() / 2)));
    assert.ok(withLora.info.memory.models < twoModels.info.memory.models);
    assert.ok(twoModels.info.memory.total >= twoModels.info.memory.models);
  });
});

describe("refusing files", () => {
  test("a DPO model whose vocabulary differs in one token is refused, naming that token", async () => {
    const { vocabulary } = await inspectModelFile(files.sft, { expect: "model" });
    const index = vocabulary.tokens.findIndex((token, i) => i > 300 && /^▁[a-z]{4,}$/.test(token));
    const original = vocabulary.tokens[index]!;
    const changed = original.slice(0, -1) + (original.endsWith("q") ? "z" : "q");
    const patched = join(scratch, "dpo-one-token-changed.gguf");
    await writeFile(patched, patchString(await readFile(files.dpo), original, changed));

    const error = await ModelPair.load({ sft: files.sft, dpo: patched }, { llama: await testLlama() }).then(
      () => assert.fail("loaded"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ModelFileError);
    assert.equal(error.code, "VocabularyMismatch");
    assert.match(error.message, new RegExp(`token ${index} is ${JSON.stringify(original)} in the first and ${JSON.stringify(changed)} in the second`));
  });

  test("a mismatched reference model is refused too", async () => {
    const { vocabulary } = await inspectModelFile(files.sft, { expect: "model" });
    const index = vocabulary.tokens.findIndex((token, i) => i > 300 && /^▁[a-z]{4,}$/.test(token));
    const original = vocabulary.tokens[index]!;
    const patched = join(scratch, "reference-one-token-changed.gguf");
    await writeFile(patched, patchString(await readFile(files.sft), original, original.slice(0, -1) + "Q"));
    await assert.rejects(ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama: await testLlama(), reference: patched }), { code: "VocabularyMismatch" });
  });

  test("truncated and garbage files are refused with a clear error, and the process carries on", async () => {
    const bytes = await readFile(files.dpo);
    const truncated = join(scratch, "truncated.gguf");
    await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const garbage = join(scratch, "garbage.gguf");
    await writeFile(garbage, Buffer.from("GGUF this is not really a model file at all".repeat(40)));
    for (const path of [truncated, garbage]) {
      await assert.rejects(ModelPair.load({ sft: files.sft, dpo: path }, { llama: await testLlama() }), (error: unknown) => {
        assert.ok(error instanceof ModelFileError, String(error));
        assert.equal(error.code, "InvalidModel");
        assert.equal(error.path, path);
        return true;
      });
    }
    await assert.rejects(ModelPair.load({ sft: files.sft, dpo: join(scratch, "missing.gguf") }, { llama: await testLlama() }), { code: "FileNotFound" });
    await assert.rejects(ModelPair.load({ sft: files.sft, dpoLora: files.dpo }, { llama: await testLlama() }), ModelFileError);
    // Still alive, and a good pair still loads.
    const pair = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama: await testLlama() });
    await pair.dispose();
  });
});

describe("lifecycle", () => {
  test("a disposed pair refuses requests with code Disposed; dispose twice is fine", async () => {
    const pair = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama: await testLlama(), threads: 1 });
    assert.equal(pair.info.threads, 1);
    await pair.dispose();
    await pair.dispose();
    await assert.rejects(generate(pair, { prompt: "Hi" }), (error: unknown) => error instanceof ModelRuntimeError && error.code === "Disposed");
  });

  test("await using disposes the pair", async () => {
    let escaped: ModelPair;
    {
      await using pair = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama: await testLlama() });
      escaped = pair;
      assert.equal(pair.disposed, false);
    }
    assert.equal(escaped.disposed, true);
  });

  test("cd without a reference model is refused with a message that says what to load", async () => {
    const pair = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama: await testLlama() });
    try {
      await assert.rejects(generate(pair, { prompt: "Hi", method: { method: "cd" } }), { code: "UnsupportedRequest", message: /reference/ });
    } finally {
      await pair.dispose();
    }
  });
});

/** Replaces a GGUF string (u64 length + bytes) with another of the same byte length. */
function patchString(file: Buffer, from: string, to: string): Buffer {
  const encode = (text: string): Buffer => {
    const bytes = Buffer.from(text, "utf8");
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(bytes.length));
    return Buffer.concat([length, bytes]);
  };
  const needle = encode(from);
  const replacement = encode(to);
  assert.equal(replacement.length, needle.length);
  const at = file.indexOf(needle);
  assert.ok(at >= 0, `token ${from} not found in the file`);
  const out = Buffer.from(file);
  replacement.copy(out, at);
  return out;
}
