/**
 * llama.cpp failures, and requests the pair cannot serve (a prompt longer than the context),
 * become ModelRuntimeError with a code a caller can switch on.
 */
import assert from "node:assert/strict";
import { totalmem } from "node:os";
import { after, test } from "node:test";
import { InsufficientMemoryError } from "node-llama-cpp";
import { generate, ModelPair, ModelRuntimeError, score } from "../../server/src/runtime/index.ts";
import { runtimeErrorFrom } from "../../server/src/runtime/errors.ts";
import { MAX_CONTEXT_SIZE } from "../../server/src/runtime/pair.ts";
import { skipOrFail } from "../ci.ts";
import { benchPair, builtInPair, disposeTestLlama, testLlama } from "./support.ts";

after(disposeTestLlama);

test("memory failures from node-llama-cpp or llama.cpp map to OutOfMemory with advice", () => {
  for (const error of [new InsufficientMemoryError("A context size of 9 is too large for the available RAM"), new Error("ggml: failed to allocate buffer"), new Error("std::bad_alloc")]) {
    const mapped = runtimeErrorFrom(error, "LoadFailed", "load the model m.gguf");
    assert.ok(mapped instanceof ModelRuntimeError);
    assert.equal(mapped.code, "OutOfMemory");
    assert.match(mapped.message, /contextSize/);
    assert.equal(mapped.cause, error);
  }
});

test("other failures keep the fallback code; our errors and abort reasons pass through unchanged", () => {
  const other = runtimeErrorFrom(new Error("Failed to load model"), "LoadFailed", "load the model m.gguf");
  assert.ok(other instanceof ModelRuntimeError);
  assert.equal(other.code, "LoadFailed");
  assert.match(other.message, /m\.gguf.*Failed to load model/);
  const ours = new ModelRuntimeError("PromptTooLong", "x");
  assert.equal(runtimeErrorFrom(ours, "LoadFailed", "x"), ours);
  const controller = new AbortController();
  controller.abort();
  assert.equal(runtimeErrorFrom(controller.signal.reason, "LoadFailed", "x", controller.signal), controller.signal.reason);
});

test("a context too large for the machine's memory is refused with OutOfMemory, not a crash", async (t) => {
  const files = benchPair();
  if (skipOrFail(t, "missing" in files ? files.missing : undefined) || "missing" in files) return;
  // 32 KB of F32 KV cache per token on the bench pair: 4M tokens is 128 GB, and a machine with
  // more memory than a quarter of that gets a context four times its memory.
  const contextSize = Math.max(4_000_000, Math.ceil((4 * totalmem()) / (32 * 1024)));
  if (contextSize > MAX_CONTEXT_SIZE) return t.skip(`this machine has more memory than the largest context (${MAX_CONTEXT_SIZE} tokens) takes`);
  await assert.rejects(ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama: await testLlama(), contextSize }), { code: "OutOfMemory" });
});

test("contextSize and threads are checked before anything loads", async () => {
  await assert.rejects(ModelPair.load({ sft: "nowhere/sft.gguf", dpo: "nowhere/dpo.gguf" }, { contextSize: 1 << 25 }), RangeError);
  await assert.rejects(ModelPair.load({ sft: "nowhere/sft.gguf", dpo: "nowhere/dpo.gguf" }, { threads: 0 }), RangeError);
});

test("a prompt longer than the context is PromptTooLong, saying both lengths, and the pair decodes on", async () => {
  const files = builtInPair();
  const pair = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama: await testLlama(), contextSize: 64 });
  try {
    const prompt = Array.from({ length: 40 }, () => "How do I reverse a list in Python?").join(" ");
    for (const raw of [false, true]) {
      for (const method of [{ method: "aad" as const }, { method: "greedy-dpo" as const }, { method: "best-of-n" as const, n: 2 }]) {
        await assert.rejects(generate(pair, { prompt, raw, method, maxTokens: 4 }), (error: unknown) => {
          assert.ok(error instanceof ModelRuntimeError, String(error));
          assert.equal(error.code, "PromptTooLong");
          assert.match(error.message, /The prompt is \d+ tokens, but the context holds 64: shorten it or load the pair with a larger contextSize\./);
          return true;
        });
      }
    }
    await assert.rejects(score(pair, { prompt, response: "Use reversed(xs)." }), { code: "PromptTooLong", message: /Prompt and response are \d+ tokens, but the context holds 64/ });
    // The prompt alone fits, with room for the response: decoding stops at the context's end.
    const fits = await generate(pair, { prompt: "How do I reverse a list in Python?", method: { method: "greedy-dpo" }, maxTokens: 200 });
    assert.ok(fits.tokens.length > 0);
  } finally {
    await pair.dispose();
  }
});
