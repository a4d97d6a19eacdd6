/**
 * The alternatives in a trace carry their text: each of an entry's top tokens names its own piece,
 * bytes and (for a special token) its name, on the real built-in pair, so that the advantage view
 * and an exported trace can say what the DPO model preferred instead of a bare id. A picks-only
 * trace has no alternatives and so no text work.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { heldoutPrompts } from "../../server/src/forge/world.ts";
import { generate, ModelPair, score } from "../../server/src/runtime/index.ts";
import { TokenText } from "../../server/src/runtime/token-text.ts";
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

void describe("alternatives with their text", () => {
  void test("every top token of an exact trace carries its own piece and bytes; the picked one's bytes are the entry's", async () => {
    let alternatives = 0;
    for (const method of [{ method: "aad" }, { method: "greedy-sft" }] as const) {
      const result = await generate(pair, { prompt: prompts[0]!, method, maxTokens: 24 });
      for (const entry of result.tokens) {
        assert.ok(entry.top.length > 0);
        for (const candidate of entry.top) {
          assert.equal(typeof candidate.piece, "string", `token ${candidate.token} has no piece`);
          assert.match(candidate.bytes ?? "?", /^(?:[0-9a-f]{2})*$/);
          // The piece is the bytes read as UTF-8 when they are whole characters.
          const bytes = Buffer.from(candidate.bytes!, "hex");
          if (candidate.piece !== "") assert.equal(Buffer.from(candidate.piece!, "utf8").toString("hex"), candidate.bytes);
          else assert.ok(bytes.length === 0 || bytes.toString("utf8").includes("\ufffd"), `token ${candidate.token}: an empty piece for whole characters`);
          if (candidate.picked) assert.equal(candidate.bytes, entry.bytes);
          if (!candidate.picked) alternatives++;
        }
      }
    }
    assert.ok(alternatives > 20, `only ${alternatives} alternatives seen`);
  });

  void test("an end-of-generation alternative is named, with no bytes", async () => {
    const result = await generate(pair, { prompt: prompts[1]!, maxTokens: 200 });
    assert.equal(result.stoppedBy, "eos", "the response must end on its own for this test");
    const eos = result.tokens.at(-1)!;
    const named = eos.top.find((candidate) => candidate.token === eos.token);
    assert.ok(named !== undefined);
    assert.equal(named.special, eos.special);
    assert.ok(named.special !== undefined && named.special !== "");
    assert.equal(named.bytes, "");
    assert.equal(named.piece, "");
  });

  void test("a scored response's alternatives carry their text too", async () => {
    const result = await score(pair, { prompt: prompts[2]!, response: "Use reversed(items) or items[::-1]." });
    assert.ok(result.tokens.every((entry) => entry.top.every((candidate) => candidate.bytes !== undefined && candidate.piece !== undefined)));
  });

  void test("a picks-only trace has no alternatives, so no text is computed for any", async () => {
    const result = await generate(pair, { prompt: prompts[3]!, maxTokens: 24, trace: "picks" });
    assert.ok(result.tokens.every((entry) => entry.top.length === 0 && entry.bytes !== undefined));
  });

  void test("a token's text alone: whole characters as text, a byte of a character as its byte, a control token by name", () => {
    const text = new TokenText(
      { tokenizerModel: "gpt2", tokens: ["Ġhi", "ðŁ", "<|eot_id|>", "\u0115"], tokenTypes: [1, 1, 3, 1] },
      () => false,
    );
    assert.deepEqual(text.alone(0), { piece: " hi", bytes: "206869" });
    assert.deepEqual(text.alone(1), { piece: "", bytes: "f09f" });
    assert.deepEqual(text.alone(2), { piece: "", bytes: "", special: "<|eot_id|>" });
    // GPT-2's byte alphabet maps U+0115 to the control byte 0x15 (NAK): a real, if invisible, character.
    assert.deepEqual(text.alone(3), { piece: "\u0015", bytes: "15" });
  });
});
