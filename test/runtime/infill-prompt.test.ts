/**
 * Fill-in-the-middle prompts (runtime/prompt.ts): on the Qwen3 fixture (Qwen's real tokenizer,
 * which declares <|fim_prefix|>, <|fim_suffix|>, <|fim_middle|>) the tokens are Qwen2.5-Coder's
 * documented layout, `<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>` (and its
 * repository-level form with `<|repo_name|>` / `<|file_sep|>`), as llama.cpp's server builds it
 * (`format_infill`); on the built-in pair, which declares no FIM tokens, FIM is refused with the
 * reason, so inline completion falls back to the prefix.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { LlamaModel } from "node-llama-cpp";
import { formatInfill, formatPrompt, infillTokens } from "../../server/src/runtime/prompt.ts";
import { ModelRuntimeError } from "../../server/src/runtime/errors.ts";
import { prerequisite } from "../ci.ts";
import { realFixture } from "./real-fixtures.ts";
import { builtInPair, disposeTestLlama, testLlama } from "./support.ts";

after(disposeTestLlama);

const PREFIX = "def mean(xs):\n    total = ";
const SUFFIX = "\n    return total / len(xs)\n";

void describe("FIM prompts on the Qwen3 fixture", () => {
  const found = realFixture("qwen3");
  const skip = "missing" in found ? prerequisite("the qwen3 fixture", found.missing) : false;
  let model: LlamaModel;
  before(async () => {
    if (!("missing" in found)) model = await (await testLlama()).loadModel({ modelPath: found.paths.sft, vocabOnly: true });
  });
  after(async () => {
    await (model as LlamaModel | undefined)?.dispose();
  });

  void test("the GGUF declares Qwen's FIM tokens by key, and node-llama-cpp reads them", { skip }, () => {
    const ggml = (model.fileInfo.metadata as unknown as { tokenizer: { ggml: Record<string, unknown> } }).tokenizer.ggml;
    const ids = { pre: 151659, mid: 151660, suf: 151661, pad: 151662, rep: 151663, sep: 151664 };
    for (const [name, id] of Object.entries(ids)) assert.equal(ggml[`fim_${name}_token_id`], id, `tokenizer.ggml.fim_${name}_token_id`);
    assert.deepEqual([model.tokens.infill.prefix, model.tokens.infill.suffix, model.tokens.infill.middle], [151659, 151661, 151660]);
    assert.deepEqual(infillTokens(model), { prefix: 151659, suffix: 151661, middle: 151660, repository: 151663, fileSeparator: 151664 });
  });

  void test("prefix, suffix and middle in Qwen2.5-Coder's documented layout, no BOS", { skip }, () => {
    const formatted = formatPrompt(model, { infill: { prefix: PREFIX, suffix: SUFFIX } });
    const documented = `<|fim_prefix|>${PREFIX}<|fim_suffix|>${SUFFIX}<|fim_middle|>`;
    assert.equal(formatted.format, "fim");
    assert.equal(formatted.text, documented);
    // The documented string, tokenized with its special tokens parsed, is the same token sequence.
    assert.deepEqual(formatted.tokens, model.tokenize(documented, true));
    assert.deepEqual(formatted.tokens, [151659, ...model.tokenize(PREFIX, false), 151661, ...model.tokenize(SUFFIX, false), 151660]);
    assert.equal(formatted.tokens.at(-1), 151660, "the model writes the middle next");
  });

  void test("a FIM marker typed in the document stays text", { skip }, () => {
    const formatted = formatInfill(model, { prefix: "x = '<|fim_suffix|>'", suffix: "" });
    assert.equal(formatted.tokens.filter((t) => t === 151661).length, 1, "only the layout's own <|fim_suffix|>");
  });

  void test("chunks of other files go first, in Qwen2.5-Coder's repository-level layout", { skip }, () => {
    const formatted = formatInfill(model, { prefix: PREFIX, suffix: SUFFIX, chunks: [{ filename: "src/util.py", text: "def total(xs):\n    return sum(xs)" }], filename: "src/stats.py" });
    const documented = `<|repo_name|>aad\n<|file_sep|>src/util.py\ndef total(xs):\n    return sum(xs)<|file_sep|>src/stats.py\n<|fim_prefix|>${PREFIX}<|fim_suffix|>${SUFFIX}<|fim_middle|>`;
    assert.equal(formatted.text, documented);
    assert.deepEqual(formatted.tokens, model.tokenize(documented, true));
  });
});

void describe("FIM on a pair without FIM tokens (the built-in pair)", () => {
  let model: LlamaModel;
  before(async () => {
    model = await (await testLlama()).loadModel({ modelPath: builtInPair().sft, vocabOnly: true });
  });
  after(async () => {
    await model.dispose();
  });

  void test("says which tokens are missing, and an infill prompt is refused with that reason", () => {
    const fim = infillTokens(model);
    assert.ok("missing" in fim);
    assert.match(fim.missing, /declares no fill-in-the-middle prefix\/suffix\/middle token/);
    assert.throws(
      () => formatPrompt(model, { infill: { prefix: PREFIX, suffix: SUFFIX } }),
      (error: unknown) => error instanceof ModelRuntimeError && error.code === "UnsupportedRequest" && /Fill-in-the-middle is not available/.test(error.message),
    );
  });
});
