/** Explain Selection's tokens join to exactly the selected text, and each lies where the editor paints it. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { alignToSelection, tokenOffsets } from "../../client/src/explain-text.ts";
import type { TraceEntry } from "../../server/src/protocol/protocol.ts";

const entry = (piece: string): TraceEntry =>
  ({ token: 0, piece, logprobDpo: 0, logprobSft: 0, advantage: 0, inCandidateSet: true, candidateSetSize: 1, dpoRank: 1, top: [], sftSkipped: false });
const scored = (...pieces: string[]) => ({ text: pieces.join(""), tokens: pieces.map(entry) });

void describe("Explain Selection's text", () => {
  void it("drops the word-start space the tokenizer added before the selected text", () => {
    const aligned = alignToSelection(scored(" Use", " reversed", "(xs)", ""), "Use reversed(xs)");
    assert.equal(aligned.text, "Use reversed(xs)");
    assert.deepEqual(aligned.tokens.map((t) => t.piece), ["Use", " reversed", "(xs)", ""]);
  });

  void it("keeps a space that was selected, and a scoring that already matches", () => {
    const selected = scored(" Use", " it");
    assert.equal(alignToSelection(selected, " Use it"), selected);
    const different = scored("Us", "e");
    assert.equal(alignToSelection(different, "Use"), different);
  });

  void it("places each token in the selection; an end-of-sequence token is empty", () => {
    assert.deepEqual(tokenOffsets(scored("Use", " reversed", "").tokens, 12), [
      { start: 0, end: 3 },
      { start: 3, end: 12 },
      { start: 12, end: 12 },
    ]);
  });
});
