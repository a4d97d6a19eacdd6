import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { advantageColor, colorToken, renderTrace, sideBySide, TraceWriter, wrap } from "../../server/src/cli/render.ts";
import { SPLIT_CELLS, SPLIT_TEXT, SPLIT_TOKENS } from "../decoding/split-characters.ts";

const RESET = "\u001b[0m";

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

describe("terminal cells of split characters", () => {
  // SPLIT_TOKENS as trace entries: the numbers renderTrace reads, on Llama 3.1's real tokenization.
  const entries = SPLIT_TOKENS.map((token) => ({ ...token, logprobDpo: 0, logprobSft: -token.advantage, inCandidateSet: true, dpoRank: 1, top: [], sftSkipped: false }));
  const ESC = "\u001b";
  const BACKGROUND = new RegExp(`${ESC}\\[48;2;(\\d+);(\\d+);(\\d+)m`);
  const ANSI = new RegExp(`${ESC}\\[[0-9;]*m`, "g");
  /** The coloured runs of the output: [text, background] per run. */
  const runs = (out: string): [string, string][] =>
    out.split(RESET).filter((run) => run !== "").map((run) => {
      const background = BACKGROUND.exec(run);
      return [run.replace(ANSI, ""), background === null ? "none" : background.slice(1).join(",")];
    });

  test("a character split across tokens is one run, coloured by the sum of its tokens' advantages", () => {
    const out = renderTrace(entries, { color: true });
    assert.equal(out.replace(ANSI, ""), SPLIT_TEXT);
    const texts = runs(out).map(([text]) => text);
    assert.deepEqual(texts, SPLIT_CELLS.map(([, , text]) => text).filter((text) => text !== ""));
    for (const [start, end, text] of SPLIT_CELLS) {
      if (text === "") continue;
      const sum = SPLIT_TOKENS.slice(start, end).reduce((total, token) => total + token.advantage, 0);
      const rgb = advantageColor(sum);
      const run = runs(out).find(([shown]) => shown === text)!;
      assert.equal(run[1], rgb === null ? "none" : rgb.join(","), `${JSON.stringify(text)}: Σ advantage ${sum}`);
    }
    assert.ok(!out.includes("\ufffd"));
  });

  test("the cell of 渋 takes the summed advantage of its two tokens, not either token's own", () => {
    const [start, end] = SPLIT_CELLS.find(([, , text]) => text === " 渋")!;
    const [first, second] = SPLIT_TOKENS.slice(start, end);
    const shown = runs(renderTrace(entries, { color: true })).find(([text]) => text === " 渋")![1];
    assert.equal(shown, advantageColor(first!.advantage + second!.advantage)!.join(","));
    assert.notEqual(shown, advantageColor(second!.advantage)!.join(","));
  });

  test("streamed, a token that ends inside a character writes nothing until its cell can no longer grow", () => {
    const writer = new TraceWriter({ color: true });
    const written = entries.map((entry) => writer.push(entry));
    // " Party" waits: the next token could still be an accent of its last letter.
    assert.equal(written[0], "");
    // The tokens of 🎉 write nothing; " Party" is written once a new cell starts after it.
    assert.equal(written[1]!.replace(ANSI, ""), " Party");
    assert.equal(written[2], "");
    const all = written.join("") + writer.flush();
    assert.equal(all, renderTrace(entries, { color: true }));
  });
});
