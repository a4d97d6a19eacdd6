/**
 * Prompt formatting on the built-in pair: chat mode renders the GGUF's own template exactly as the
 * models were trained (`Q: {prompt}\nA:`), raw mode continues the text, BOS as the model wants.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { LlamaModel } from "node-llama-cpp";
import { formatExample, heldoutPrompts } from "../../server/src/forge/world.ts";
import { formatPrompt, ModelRuntimeError } from "../../server/src/runtime/index.ts";
import { builtInPair, disposeTestLlama, testLlama } from "./support.ts";

let model: LlamaModel;
before(async () => {
  model = await (await testLlama()).loadModel({ modelPath: builtInPair().sft, gpuLayers: 0 });
});
after(async () => {
  await model.dispose();
  await disposeTestLlama();
});

test("chat mode renders the model's template as `Q: {prompt}\\nA:` and tokenizes it as the training text", () => {
  for (const { text } of heldoutPrompts().slice(0, 20)) {
    const formatted = formatPrompt(model, { prompt: text });
    assert.equal(formatted.format, "jinja");
    assert.equal(formatted.text, formatExample(text));
    assert.deepEqual(formatted.tokens, [model.tokens.bos!, ...model.tokenize(formatExample(text))]);
  }
});

test("a conversation renders every turn, the assistant's ending with EOS", () => {
  const formatted = formatPrompt(model, {
    messages: [
      { role: "user", content: "How do I sort a list in Python?" },
      { role: "assistant", content: "Use sorted(xs)." },
      { role: "user", content: "And in Rust?" },
    ],
  });
  assert.equal(formatted.text, `Q: How do I sort a list in Python?\nA: Use sorted(xs).${model.tokens.eosString}Q: And in Rust?\nA:`);
  assert.ok(formatted.tokens.includes(model.tokens.eos!), "the EOS text became the EOS token");
  assert.equal(formatted.tokens[0], model.tokens.bos);
});

test("raw mode continues the text as it is, after BOS", () => {
  const formatted = formatPrompt(model, { prompt: "def reverse(xs):", raw: true });
  assert.equal(formatted.format, "raw");
  assert.deepEqual(formatted.tokens, [model.tokens.bos!, ...model.tokenize("def reverse(xs):")]);
  // Special-token text in a raw prompt stays text.
  assert.ok(!formatPrompt(model, { prompt: "a </s> b", raw: true }).tokens.slice(1).includes(model.tokens.eos!));
});

test("a prompt must be exactly one of `prompt` and `messages`, and raw mode needs `prompt`", () => {
  const code = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (error) {
      return error instanceof ModelRuntimeError ? error.code : "other";
    }
    return undefined;
  };
  assert.equal(code(() => formatPrompt(model, {})), "UnsupportedRequest");
  assert.equal(code(() => formatPrompt(model, { prompt: "a", messages: [{ role: "user", content: "b" }] })), "UnsupportedRequest");
  assert.equal(code(() => formatPrompt(model, { messages: [{ role: "user", content: "b" }], raw: true })), "UnsupportedRequest");
});
