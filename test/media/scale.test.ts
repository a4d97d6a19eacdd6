/** The view's pure rules: the adaptive colour scale, where answers diverge, control characters' names. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { firstDivergence } from "../../media/divergence.ts";
import { controlName, pieceSegments } from "../../media/format.ts";
import type { TraceEntry } from "../../media/messages.ts";
import { advantageScale, niceCeil, shadeOf } from "../../media/scale.ts";

void describe("the adaptive colour scale", () => {
  void it("rounds up to 1, 2 or 5 times a power of ten", () => {
    assert.deepEqual([0.07, 0.1, 0.11, 0.3, 0.8, 1.4, 3, 7].map(niceCeil), [0.1, 0.1, 0.2, 0.5, 1, 2, 5, 10]);
  });

  void it("ends at the answer's robust maximum, not at a single outlier or a clamped log-prob", () => {
    const small = Array.from({ length: 40 }, (_, i) => ((i % 9) - 4) / 50);
    assert.equal(advantageScale(small), 0.1);
    assert.equal(advantageScale([...small, 2.5]), 0.1, "one token in 41 does not stretch the scale");
    assert.equal(advantageScale([...small, 999, -999, null]), 0.1);
    assert.equal(advantageScale([]), 1);
    assert.equal(advantageScale(small, 3), 3, "a fixed setting wins");
  });

  void it("colours a token by its share of the scale", () => {
    assert.deepEqual(shadeOf(0.05, 0.1), { side: "dpo", strength: Math.sqrt(0.5) });
    assert.deepEqual(shadeOf(-0.2, 0.1), { side: "sft", strength: 1 });
    assert.equal(shadeOf(0.05, 3).side, "neutral");
  });
});

void describe("where compared answers start to differ", () => {
  const entries = (...tokens: number[]) => tokens.map((token) => ({ token }) as TraceEntry);
  void it("is the first position whose tokens differ", () => {
    assert.equal(firstDivergence([{ entries: entries(1, 2, 3), finished: true }, { entries: entries(1, 2, 4), finished: true }]), 2);
  });
  void it("is nowhere while one answer is a prefix of another that is still streaming", () => {
    assert.equal(firstDivergence([{ entries: entries(1, 2, 3), finished: false }, { entries: entries(1, 2), finished: false }]), undefined);
  });
  void it("is where a finished answer ended and another went on", () => {
    assert.equal(firstDivergence([{ entries: entries(1, 2, 3), finished: true }, { entries: entries(1, 2), finished: true }]), 2);
  });
  void it("is nowhere for one answer, or for equal ones", () => {
    assert.equal(firstDivergence([{ entries: entries(1, 2), finished: true }]), undefined);
    assert.equal(firstDivergence([{ entries: entries(1, 2), finished: true }, { entries: entries(1, 2), finished: true }]), undefined);
  });
});

void describe("invisible characters", () => {
  void it("are named: C0 by abbreviation, DEL, others by code point; joiners and visible text are not", () => {
    assert.deepEqual(["\u0000", "\u0015", "\u001b", "\u007f", "\u200b", "\ufeff"].map(controlName), ["NUL", "NAK", "ESC", "DEL", "U+200B", "U+FEFF"]);
    assert.deepEqual(["a", " ", "\u200d", "é"].map(controlName), [undefined, undefined, undefined, undefined]);
  });
  void it("are runs of their own in a piece, so the view can show them as chips", () => {
    assert.deepEqual(pieceSegments("a\u0015b"), [{ text: "a" }, { text: "\u0015", control: "NAK" }, { text: "b" }]);
    assert.deepEqual(pieceSegments("👨\u200d💻"), [{ text: "👨\u200d💻" }]);
  });
});
