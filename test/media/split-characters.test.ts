/**
 * The advantage view in Chromium on a response whose characters are split across tokens: 🎉 over
 * three byte-level BPE tokens, 渋 over two, 👨‍💻 over five (Llama 3.1's real tokenization,
 * test/decoding/split-characters.ts), and a combining accent whose own bytes are split. Each
 * character is one cell coloured by its tokens' summed advantage; hovering it lists every token
 * with its own bytes and numbers, and each token's alternatives.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { formatAdvantage, formatLogprob, formatProbability, spacedHex } from "../../media/format.ts";
import type { HostMessage, TraceEntry, ViewCandidate } from "../../media/messages.ts";
import { shadeOf } from "../../media/scale.ts";
import { prerequisite } from "../ci.ts";
import { SPLIT_CELLS, SPLIT_TEXT, SPLIT_TOKENS } from "../decoding/split-characters.ts";
import { launchChromium, missingPrerequisite, openView, serveView, type LaunchedBrowser, type ViewPage, type ViewServer } from "./browser.ts";

const skip = prerequisite("Chromium for the advantage view tests", missingPrerequisite());

const entry = (token: { token: number; piece: string; bytes: string; special?: string; advantage: number; candidateSetSize: number }, i: number): TraceEntry => ({
  token: token.token,
  piece: token.piece,
  bytes: token.bytes,
  ...(token.special === undefined ? {} : { special: token.special }),
  logprobDpo: -0.25 - i / 10,
  logprobSft: -0.25 - i / 10 - token.advantage,
  advantage: token.advantage,
  inCandidateSet: true,
  candidateSetSize: token.candidateSetSize,
  dpoRank: 1,
  top: [],
  sftSkipped: false,
});

// The real trace up to "!", then " a" with U+0301 split into its two bytes (as SentencePiece's
// byte fallback writes it; ids made up), then the real <|eot_id|>.
const real = SPLIT_TOKENS.slice(0, -1);
const combining = [
  { token: 264, piece: " a", bytes: "2061", advantage: 0.5, candidateSetSize: 2 },
  { token: 9001, piece: "", bytes: "cc", advantage: -2, candidateSetSize: 1 },
  { token: 9002, piece: "\u0301", bytes: "81", advantage: 0.25, candidateSetSize: 1 },
];
const tokens = [...real, ...combining, SPLIT_TOKENS.at(-1)!];
const entries = tokens.map(entry);
const TEXT = SPLIT_TEXT + " a\u0301";
/** [start, end, text] of every cell. */
const CELLS: readonly (readonly [number, number, string])[] = [...SPLIT_CELLS.slice(0, -1), [real.length, real.length + 3, " a\u0301"], [tokens.length - 1, tokens.length, ""]];
const SCALE = 3;
const reset: HostMessage = { type: "reset", title: "Say hi", method: "aad", mode: "single", scale: SCALE };

const cellSelector = (start: number): string => `.tokens .tok[data-position="${start}"]`;

void describe("characters split across tokens in the advantage view", { skip }, () => {
  let server: ViewServer;
  let chromium: LaunchedBrowser;
  const views: ViewPage[] = [];
  const open = async (): Promise<ViewPage> => {
    const view = await openView(chromium.browser, server);
    views.push(view);
    return view;
  };

  before(async () => {
    server = await serveView();
    chromium = await launchChromium();
  });

  after(async () => {
    for (const view of views) assert.deepEqual(view.errors, [], "the page threw");
    await chromium.close();
    await server.close();
  });

  void it("shows one cell per character with the whole character, and the response's text exactly", async () => {
    const view = await open();
    await view.post(reset);
    await view.post({ type: "tokens", entries });
    const cells = await view.page.$$eval(".tokens .tok", (els) => els.map((el) => [Number(el.getAttribute("data-position")), Number(el.getAttribute("data-tokens")), el.textContent, el.classList.contains("group")] as const));
    assert.deepEqual(
      cells,
      CELLS.map(([start, end, text]) => [start, end - start, text, end - start > 1]),
    );
    assert.equal(await view.page.$eval(".tokens", (el) => el.textContent), TEXT);
    assert.equal(await view.page.$$eval(".tokens .bytes", (els) => els.length), 0, "no cell shows bytes once its character is complete");
  });

  void it("colours each cell by the sum of its tokens' advantages", async () => {
    const view = await open();
    await view.post(reset);
    await view.post({ type: "tokens", entries });
    for (const [start, end, text] of CELLS) {
      const sum = tokens.slice(start, end).reduce((total, token) => total + token.advantage, 0);
      const shade = shadeOf(sum, SCALE);
      const shown = await view.page.$eval(cellSelector(start), (el) => ({ classes: Array.from(el.classList), strength: (el as HTMLElement).style.getPropertyValue("--strength") }));
      assert.ok(shown.classes.includes(`side-${shade.side}`), `${JSON.stringify(text)}: Σ ${sum} is ${shade.side}, got ${shown.classes.join(" ")}`);
      assert.equal(shown.strength, shade.strength.toFixed(3), `${JSON.stringify(text)}: strength`);
    }
    // 渋: +2.66 and +1.26 sum to +3.92, the scale's end; neither token alone reaches it.
    const [start] = CELLS.find(([, , text]) => text === " 渋")!;
    assert.equal(await view.page.$eval(cellSelector(start), (el) => (el as HTMLElement).style.getPropertyValue("--strength")), "1.000");
  });

  void it("hovering a split character lists each of its tokens with its own bytes, log-probabilities and advantage", async () => {
    const view = await open();
    await view.post(reset);
    await view.post({ type: "tokens", entries });
    for (const text of [" 🎉", " 渋", " a\u0301"]) {
      const [start, end] = CELLS.find(([, , cellText]) => cellText === text)!;
      await view.page.hover(cellSelector(start));
      await view.page.waitForSelector(`#aad-detail:not([hidden]) .group-tokens tr[data-position="${start}"]`);
      assert.equal(await view.page.$eval("#aad-detail .detail-where", (el) => el.textContent), `aad · tokens ${start + 1}–${end}`);
      assert.equal(await view.page.$eval("#aad-detail .detail-piece", (el) => el.textContent), text);
      const sum = tokens.slice(start, end).reduce((total, token) => total + token.advantage, 0);
      assert.equal(await view.page.$eval('#aad-detail dd[data-field="advantage"] .value', (el) => el.textContent), formatAdvantage(sum));
      const rows = await view.page.$$eval("#aad-detail .group-tokens tbody tr", (trs) => trs.map((tr) => Array.from(tr.querySelectorAll("td"), (td) => td.textContent)));
      assert.deepEqual(
        rows,
        entries.slice(start, end).map((e, i) => [String(start + i + 1), spacedHex(e.bytes!), e.piece === "" ? spacedHex(e.bytes!) : e.piece, formatLogprob(e.logprobDpo), formatLogprob(e.logprobSft), formatAdvantage(e.advantage)]),
        `${JSON.stringify(text)}: one row per token`,
      );
    }
  });

  void it("hovering a split character shows each token's alternatives, the DPO model's other top tokens at its step", async () => {
    // 渋's two tokens were each a choice among others: a whole character, a continuation byte and
    // the end of the turn; 🎉's last byte was picked from below the top tokens (rank 12). As the
    // runtime gives alternatives, a token out of context that ends inside a character has piece "".
    const candidate = (token: number, piece: string, bytes: string, logprobDpo: number, fields: Partial<ViewCandidate> = {}): ViewCandidate => ({
      token,
      piece,
      bytes,
      logprobDpo,
      logprobSft: logprobDpo - 0.5,
      advantage: 0.5,
      inCandidateSet: logprobDpo > -2,
      picked: false,
      ...fields,
    });
    const [shibuya] = CELLS.find(([, , text]) => text === " 渋")!;
    const [party] = CELLS.find(([, , text]) => text === " 🎉")!;
    const tops: Record<number, readonly ViewCandidate[]> = {
      [shibuya]: [
        candidate(tokens[shibuya]!.token, "", tokens[shibuya]!.bytes, -0.4, { picked: true }),
        candidate(45737, " 東", "20e69db1", -1.3),
        candidate(949, " ?", "203f", -2.9),
      ],
      [shibuya + 1]: [
        candidate(234, "", "8c", -0.7),
        candidate(tokens[shibuya + 1]!.token, "", tokens[shibuya + 1]!.bytes, -0.9, { picked: true }),
        candidate(128009, "", "", -1.6, { special: "<|eot_id|>" }),
      ],
      [party + 2]: [candidate(232, "", "8a", -0.2), candidate(230, "", "88", -1.1)],
    };
    const withTops = entries.map((e, i) => {
      const top = tops[i];
      if (top === undefined) return e;
      const rank = top.findIndex((c) => c.picked);
      return { ...e, top, dpoRank: rank >= 0 ? rank + 1 : 12 };
    });
    const view = await open();
    await view.post(reset);
    await view.post({ type: "tokens", entries: withTops });

    const tables = async (start: number) => {
      await view.page.hover(cellSelector(start));
      await view.page.waitForSelector(`#aad-detail:not([hidden]) .group-tokens tr[data-position="${start}"]`);
      return view.page.$$eval("#aad-detail table.token-alternatives", (els) =>
        els.map((table) => ({
          position: Number(table.getAttribute("data-position")),
          caption: table.querySelector("caption")?.textContent,
          rows: Array.from(table.querySelectorAll("tbody tr:not(.gap)"), (tr) => {
            const piece = tr.querySelector("td.piece");
            return {
              token: Number(tr.getAttribute("data-token")),
              rank: tr.getAttribute("data-rank"),
              picked: tr.classList.contains("picked"),
              text: piece?.querySelector(".chip")?.getAttribute("data-name") ?? piece?.querySelector(".bytes")?.textContent ?? piece?.textContent,
              pDpo: tr.querySelectorAll("td")[3]?.textContent,
            };
          }),
          gap: table.querySelectorAll("tbody tr.gap").length,
        })),
      );
    };
    const shown = (c: ViewCandidate): string => c.special ?? (c.piece === "" ? spacedHex(c.bytes!) : c.piece!);

    assert.deepEqual(
      await tables(shibuya),
      [shibuya, shibuya + 1].map((position) => ({
        position,
        caption: `Token ${position + 1}: the DPO model's top tokens at its step (dimmed: outside the candidate set)`,
        rows: tops[position]!.map((c, i) => ({ token: c.token, rank: String(i + 1), picked: c.picked, text: shown(c), pDpo: formatProbability(c.logprobDpo) })),
        gap: 0,
      })),
      "one table per token of 渋, each naming its alternatives by their text",
    );

    // A token picked from below the top tokens keeps its own row after them, shown out of context
    // like its alternatives (its byte, not the 🎉 it completes); tokens without alternatives have no table.
    const shownForParty = await tables(party);
    assert.equal(shownForParty.length, 1);
    const [last] = shownForParty;
    assert.equal(last!.position, party + 2);
    assert.equal(last!.gap, 1);
    assert.deepEqual(last!.rows.at(-1), { token: tokens[party + 2]!.token, rank: "12", picked: true, text: "89", pDpo: formatProbability(entries[party + 2]!.logprobDpo) });
    assert.deepEqual(last!.rows.slice(0, -1).map((row) => row.text), ["8a", "88"]);
  });

  void it("while streaming, an open character shows its bytes so far and becomes whole when its last token arrives", async () => {
    const view = await open();
    await view.post(reset);
    await view.post({ type: "tokens", entries: entries.slice(0, 3) });
    assert.equal(await view.page.$$eval(".tokens .tok", (els) => els.length), 2);
    assert.equal(await view.page.$eval(cellSelector(1), (el) => el.querySelector(".bytes")?.textContent), "f0 9f 8e");
    assert.ok(!(await view.page.$eval(".tokens", (el) => el.textContent)).includes("\ufffd"));
    for (let i = 3; i < entries.length; i++) await view.post({ type: "tokens", entries: entries.slice(i, i + 1) });
    assert.deepEqual(
      await view.page.$$eval(".tokens .tok", (els) => els.map((el) => el.textContent)),
      CELLS.map(([, , text]) => text),
    );
    assert.equal(await view.page.$eval(".tokens", (el) => el.textContent), TEXT);
  });

  void it("moves the keyboard from character to character, not into the middle of one", async () => {
    const view = await open();
    await view.post(reset);
    await view.post({ type: "tokens", entries });
    const focused = () => view.page.evaluate(() => Number(document.activeElement?.getAttribute("data-position") ?? "NaN"));
    await view.page.focus(cellSelector(0));
    const starts: number[] = [await focused()];
    for (let i = 1; i < CELLS.length; i++) {
      await view.page.keyboard.press("ArrowRight");
      starts.push(await focused());
    }
    assert.deepEqual(starts, CELLS.map(([start]) => start));
    await view.page.keyboard.press("ArrowLeft");
    await view.page.keyboard.press("ArrowLeft");
    assert.match((await view.page.$eval(cellSelector(CELLS.at(-2)![0]), (el) => el.getAttribute("aria-label"))) ?? "", /^\d+–\d+: " a\u0301" in 3 tokens, advantage −1\.25 \(sum over 3 tokens\)/);
  });
});
