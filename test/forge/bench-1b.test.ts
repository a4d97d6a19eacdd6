/**
 * The 1B-shaped speed pair's file format (`npm run forge -- --bench-1b`), on a narrow variant with
 * the same 128k vocabulary and tensor layout: streamed Q8_0 tensors, tied embeddings, the merged
 * and requantised DPO model and the adapter all load in llama.cpp, the vocabularies match, and
 * AAD decodes on both forms with the DPO update visible in the advantages.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeBench1bPair, BENCH_1B_DIMS } from "../../server/src/forge/bench-1b.ts";
import { generate, ModelPair } from "../../server/src/runtime/index.ts";

test("a narrow 1B-shaped pair loads as two files and as base + LoRA, and AAD decodes on both", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aad-bench-1b-"));
  try {
    const dims = { ...BENCH_1B_DIMS, embedding: 128, layers: 2, feedForward: 256, heads: 4, kvHeads: 2, headDim: 32 };
    const files = await writeBench1bPair(dir, () => undefined, dims);
    // Q8_0: 34 bytes per 32 weights; the embedding alone is 128,256 × 128 weights.
    assert.ok(statSync(files.sft).size > (128256 * 128 * 34) / 32);
    assert.equal(statSync(files.sft).size, statSync(files.dpo).size);
    const prompt = "Hello, how are you?";
    for (const pairFiles of [{ sft: files.sft, dpo: files.dpo }, { sft: files.sft, dpoLora: files.dpoLora }]) {
      const pair = await ModelPair.load(pairFiles, { threads: 1 });
      try {
        assert.equal(pair.info.vocabSize, 128256);
        assert.equal(pair.info.architecture, "llama");
        const result = await generate(pair, { prompt, method: { method: "aad" }, maxTokens: 8, stop: [] });
        assert.equal(result.tokens.length, 8);
        for (const t of result.tokens) assert.ok(Number.isFinite(t.advantage), "every AAD step has both models' log-probs");
        // The DPO update is real: the two models disagree somewhere along the answer.
        assert.ok(result.tokens.some((t) => Math.abs(t.advantage!) > 1e-3));
      } finally {
        await pair.dispose();
      }
    }
    // A second call with the same recipe keeps the files.
    const before = statSync(files.sft).mtimeMs;
    await writeBench1bPair(dir, () => undefined, dims);
    assert.equal(statSync(files.sft).mtimeMs, before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
