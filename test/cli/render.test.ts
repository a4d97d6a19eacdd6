import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { advantageColor, colorToken, sideBySide, wrap } from "../../server/src/cli/render.ts";

describe("terminal advantage colouring", () => {
  test("DPO-preferred and SFT-preferred tokens get opposite hues, and near-zero gets none", () => {
    const dpo = advantageColor(2)!;
    const sft = advantageColor(-2)!;
    assert.ok(dpo[0] > dpo[2], "DPO-preferred is warm (red > blue)");
    assert.ok(sft[2] > sft[0], "SFT-preferred is cool (blue > red)");
    assert.equal(advantageColor(0.01), null);
    assert.equal(advantageColor(null), null);
  });

  test("the colour saturates at the clamp", () => {
    assert.deepEqual(advantageColor(3), advantageColor(30));
  });

  test("without colour a token renders as its plain text", () => {
    assert.equal(colorToken({ piece: " x<y", advantage: 5, candidateSetSize: 1 }, { color: false }), " x<y");
  });

  test("single-candidate tokens are dimmed and newlines stay uncoloured", () => {
    const out = colorToken({ piece: "a\nb", advantage: 0, candidateSetSize: 1 }, { color: true });
    assert.ok(out.includes("\u001b[2ma\u001b[0m\n\u001b[2mb"));
  });

  test("side-by-side columns wrap text to their width", () => {
    assert.deepEqual(wrap("one two three four", 9), ["one two", "three", "four"]);
    const lines = sideBySide([{ title: "aad", body: "alpha beta" }, { title: "dpo", body: "gamma" }], 6).split("\n");
    assert.equal(lines[0], "aad     │  dpo");
  });
});
