/**
 * How the advantage view shows a token (media/format.ts tokenDisplay): exact pieces, special
 * tokens as named chips, and tokens that end inside a character by their bytes — on a response
 * whose 🎉 and 渋 are split across byte-level BPE tokens (Llama 3's ids and bytes).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { describeToken, tokenDisplay } from "../../media/format.ts";

// " Party 🎉 tonight" then <|end_of_text|>, as the runtime traces it on a Llama 3 vocabulary.
const entries = [
  { piece: " Party", bytes: "205061727479" },
  { piece: "", bytes: "20f09f" },
  { piece: "", bytes: "8e" },
  { piece: " 🎉", bytes: "89" },
  { piece: " tonight", bytes: "20746f6e69676874" },
  { piece: "", bytes: "", special: "<|end_of_text|>" },
];

void test("a split character shows whole on the token that completes it; the others show their bytes; nothing is lost", () => {
  const displays = entries.map(tokenDisplay);
  assert.deepEqual(displays.map((d) => d.kind), ["text", "partial", "partial", "text", "text", "special"]);
  assert.deepEqual(displays[1], { kind: "partial", bytes: "20 f0 9f" });
  const shown = displays.flatMap((d) => (d.kind === "text" ? d.segments.map((s) => s.text) : [])).join("");
  assert.equal(shown, " Party 🎉 tonight");
  assert.ok(!shown.includes("\ufffd"));
  const bytes = Buffer.concat(entries.map((e) => Buffer.from(e.bytes, "hex")));
  assert.equal(bytes.toString("utf8"), shown);
});

void test("a special token is a named chip, described as such", () => {
  assert.deepEqual(tokenDisplay(entries[5]!), { kind: "special", name: "<|end_of_text|>" });
  assert.equal(describeToken(entries[5]!), "special token <|end_of_text|>");
  assert.equal(describeToken(entries[2]!), "part of a character, bytes 8e");
  assert.equal(describeToken(entries[0]!), '" Party"');
});

void test("an entry without bytes (an older server) shows its piece as before", () => {
  assert.deepEqual(tokenDisplay({ piece: "" }), { kind: "text", segments: [{ text: "", whitespace: "empty" }] });
});
