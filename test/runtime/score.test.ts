/**
 * Teacher-forced scoring of an existing response, and `compare`, on the built-in pair.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { METHOD_NAMES } from "../../server/src/decoding/index.ts";
import { heldoutPrompts } from "../../server/src/forge/world.ts";
import { compare, generate, ModelPair, score } from "../../server/src/runtime/index.ts";
import { builtInPair, disposeTestLlama, testLlama } from "./support.ts";

const files = builtInPair();
let pair: ModelPair;
before(async () => {
  pair = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama: await testLlama() });
});
after(async () => {
  await pair.dispose();
  await disposeTestLlama();
});

const prompts = heldoutPrompts().map((p) => p.text);

// Scoring evaluates the response in one batch, generation one token at a time: llama.cpp's numbers
// differ between batch shapes by up to ~1e-5 in log p (F32 KV cache), hence 1e-4 here.
const BATCH_SHAPE_TOLERANCE = 1e-4;

test("scoring a generated response reproduces its trace (same tokens and ranks, same numbers) in one batch per model", async () => {
  let canonical = 0;
  for (const prompt of prompts.slice(0, 6)) {
    const generated = await generate(pair, { prompt, maxTokens: 60 });
    const ids = generated.tokens.map((e) => e.token);
    // As text when the tokenizer splits the text as the decoder did; otherwise as the ids themselves.
    const asText = await score(pair, { prompt, response: generated.text, endWithEos: generated.stoppedBy === "eos" });
    const sameSplit = asText.tokens.length === ids.length && asText.tokens.every((e, i) => e.token === ids[i]);
    if (sameSplit) canonical++;
    const scored = sameSplit ? asText : await score(pair, { prompt, response: generated.stoppedBy === "eos" ? ids.slice(0, -1) : ids, endWithEos: generated.stoppedBy === "eos" });
    assert.equal(scored.text, generated.text);
    assert.deepEqual(scored.tokens.map((e) => e.token), generated.tokens.map((e) => e.token), prompt);
    for (const [i, entry] of scored.tokens.entries()) {
      const other = generated.tokens[i]!;
      assert.ok(Math.abs(entry.logprobDpo! - other.logprobDpo!) <= BATCH_SHAPE_TOLERANCE);
      assert.ok(Math.abs(entry.logprobSft! - other.logprobSft!) <= BATCH_SHAPE_TOLERANCE);
      assert.equal(entry.candidateSetSize, other.candidateSetSize);
      assert.equal(entry.dpoRank, other.dpoRank);
      assert.deepEqual(entry.top.map((c) => c.token), other.top.map((c) => c.token));
    }
    assert.ok(Math.abs(scored.stats.implicitReward - generated.stats.implicitReward) <= BATCH_SHAPE_TOLERANCE * scored.tokens.length);
    assert.ok(scored.runtime.work.dpo!.flushes <= 1 && scored.runtime.work.sft!.flushes <= 1, "one batch per model");
  }
  assert.ok(canonical >= 3, `the text path must be exercised: only ${canonical} of 6 responses retokenise to their own ids`);
});

test("a response given as token ids is scored as exactly those ids, and an id outside the vocabulary is refused", async () => {
  const generated = await generate(pair, { prompt: prompts[3]!, maxTokens: 12 });
  const ids = generated.tokens.map((e) => e.token).filter((t) => t !== pair.model.tokens.eos);
  const scored = await score(pair, { prompt: prompts[3]!, response: ids, endWithEos: false });
  assert.deepEqual(scored.tokens.map((e) => e.token), ids);
  await assert.rejects(score(pair, { prompt: prompts[3]!, response: [1, pair.info.vocabSize] }), /not a token id of this pair/);
});

test("a response given without its leading space scores as the continuation of the prompt", async () => {
  const withSpace = await score(pair, { prompt: prompts[0]!, response: " Use a loop." });
  const without = await score(pair, { prompt: prompts[0]!, response: "Use a loop." });
  assert.deepEqual(without.tokens.map((e) => e.token), withSpace.tokens.map((e) => e.token));
  assert.equal(without.tokens.at(-1)!.token, pair.model.tokens.eos);
  const open = await score(pair, { prompt: prompts[0]!, response: "Use a loop.", endWithEos: false });
  assert.equal(open.tokens.length, without.tokens.length - 1);
});

test("a token the DPO model ranks low still gets its exact rank and both log-probabilities", async () => {
  const scored = await score(pair, { prompt: prompts[1]!, response: " zebra zebra zebra" });
  for (const entry of scored.tokens) {
    assert.notEqual(entry.logprobDpo, null);
    assert.notEqual(entry.logprobSft, null);
    assert.notEqual(entry.dpoRank, null);
  }
  assert.ok(scored.tokens.some((e) => e.dpoRank! > 8));
});

test("compare runs every method on one prompt and skips cd without a reference model", async () => {
  const entries = await compare(pair, { prompt: prompts[2]!, maxTokens: 20 });
  assert.deepEqual(entries.map((e) => e.method), [...METHOD_NAMES]);
  for (const entry of entries) {
    if (entry.method === "cd") assert.ok("skipped" in entry);
    else assert.ok("result" in entry && entry.result.tokens.length > 0, entry.method);
  }
});
