/**
 * The advantage view as an instrument, in headless Chromium: a colour scale that adapts to the
 * answer, the point where compared answers start to differ, special and control tokens as named
 * chips, the hover table naming the alternatives and always holding the picked token, one reward
 * scale across compared columns, chart tooltips, the run's facts in the header and the controls
 * that ask the host to decode again.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { HostMessage, RunInfo, TraceEntry } from "../../media/messages.ts";
import { prerequisite } from "../ci.ts";
import { launchChromium, loadFixture, missingPrerequisite, openView, parseColor, serveView, type LaunchedBrowser, type ViewPage, type ViewServer } from "./browser.ts";

const skip = prerequisite("Chromium for the advantage view tests", missingPrerequisite());

const fixture = loadFixture();
const aad = fixture.responses[0]!;
const base = aad.entries[0]!;
const single: HostMessage = { type: "reset", title: fixture.prompt, method: "aad", mode: "single" };
const tokenSelector = (position: number, column = "response"): string => `[data-column="${column}"] .tok[data-position="${position}"]`;

/** An entry like the fixture's first, with its own token, text and advantage. */
function entry(token: number, piece: string, advantage: number | null, fields: Partial<TraceEntry> = {}): TraceEntry {
  return { ...base, token, piece, bytes: Buffer.from(piece).toString("hex"), advantage, ...fields };
}

void describe("the advantage view as an instrument", { skip }, () => {
  let server: ViewServer;
  let chromium: LaunchedBrowser;
  const views: ViewPage[] = [];
  const open = async (width = 1000): Promise<ViewPage> => {
    const view = await openView(chromium.browser, server, { width });
    views.push(view);
    return view;
  };
  const frameSettled = (view: ViewPage) => view.page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  const alphaOf = async (view: ViewPage, position: number, column = "response") =>
    parseColor(await view.page.$eval(tokenSelector(position, column), (el) => getComputedStyle(el).backgroundColor)).a;

  before(async () => {
    server = await serveView();
    chromium = await launchChromium();
  });

  after(async () => {
    for (const view of views) {
      assert.deepEqual(view.errors, [], "the page threw");
      assert.deepEqual(view.dialogs, [], "a dialog opened");
    }
    await chromium.close();
    await server.close();
  });

  void it("adapts the colour scale to an answer whose advantages are all small, and says its end and unit in the legend", async () => {
    const small = [0.08, 0.05, -0.06, 0.02, 0.07, -0.03].map((advantage, i) => entry(2000 + i, `w${i}`, advantage));
    const view = await open();
    await view.post(single);
    await view.post({ type: "tokens", entries: small });
    await frameSettled(view);
    const adaptive = await alphaOf(view, 0);
    assert.equal(await view.page.$eval("body", (el) => el.dataset.scale), "0.1");
    const legend = await view.page.$eval(".legend", (el) => el.textContent);
    assert.match(legend, /−0\.1.*0.*\+0\.1/);
    assert.match(legend, /log p_dpo − log p_sft, in nats/);
    assert.match(legend, /∅a token that adds no text/);

    // The same answer on the old fixed ±3 scale is close to invisible.
    await view.post({ ...single, scale: 3 });
    await view.post({ type: "tokens", entries: small });
    await frameSettled(view);
    const fixed = await alphaOf(view, 0);
    assert.ok(adaptive > 0.3, `adaptive: ${adaptive}`);
    assert.ok(fixed < adaptive / 3, `fixed ±3: ${fixed} against adaptive ${adaptive}`);
    assert.match(await view.page.$eval(".legend", (el) => el.textContent), /scale fixed at ±3/);
  });

  void it("marks the first token where compared answers differ, in every column and chart", async () => {
    const shared = [entry(3000, "Use", 0.4), entry(3001, " slicing", 0.2), entry(3002, ":", 0.1)];
    const left = [...shared, entry(3003, " xs", 0.3), entry(3004, "[::-1]", 0.5)];
    const right = [...shared, entry(3010, " reversed", -0.2), entry(3011, "(xs)", 0.1)];
    const view = await open(1200);
    await view.post({
      type: "reset",
      title: fixture.prompt,
      method: "aad",
      mode: "compare",
      columns: [
        { id: "previous", method: "aad", label: "aad · α 0.1", alpha: 0.1 },
        { id: "current", method: "aad", label: "aad · α 0.3", alpha: 0.3 },
      ],
    });
    await view.post({ type: "tokens", column: "previous", entries: left });
    await view.post({ type: "tokens", column: "current", entries: right.slice(0, 3) });
    await frameSettled(view);
    assert.equal(await view.page.$$eval(".tok.diverge", (els) => els.length), 0, "identical so far: nothing marked");
    await view.post({ type: "tokens", column: "current", entries: right.slice(3) });
    await frameSettled(view);
    const marked = await view.page.$$eval(".tok.diverge", (els) => els.map((el) => `${el.closest("[data-column]")?.getAttribute("data-column")}:${el.getAttribute("data-position")}`));
    assert.deepEqual(marked.sort(), ["current:3", "previous:3"]);
    assert.equal(await view.page.$eval("body", (el) => el.dataset.diverge), "3");
    assert.equal(await view.page.$$eval(".chart path.diverge", (els) => els.length), 2);
    // The heading says the method once.
    assert.equal(await view.page.$$eval(".column-head .method", (els) => els.length), 0);
  });

  void it("draws a special token and an invisible control character as named chips, explained on hover", async () => {
    const view = await open();
    await view.post(single);
    await view.post({
      type: "tokens",
      entries: [
        entry(4000, "Hi", 0.2),
        entry(4001, "\u0015", 0.1, { candidateSetSize: 1, inCandidateSet: false }),
        entry(4002, "", null, { bytes: "", special: "<|eot_id|>" }),
      ],
    });
    assert.equal(await view.page.$eval(`${tokenSelector(2)} .chip`, (el) => getComputedStyle(el, "::before").content), '"<|eot_id|>"');
    assert.equal(await view.page.$eval(`${tokenSelector(1)} .ctl`, (el) => el.getAttribute("data-name")), "NAK");
    assert.equal(await view.page.$eval(`${tokenSelector(1)} .ctl`, (el) => getComputedStyle(el, "::before").content), '"NAK"');
    // The text stays exact.
    assert.equal(await view.page.$eval('[data-column="response"] .tokens', (el) => el.textContent), "Hi\u0015");

    await view.page.hover(tokenSelector(1));
    await view.page.waitForSelector("#aad-detail:not([hidden])");
    const notes = await view.page.$$eval("#aad-detail .detail-note", (els) => els.map((el) => el.textContent));
    assert.ok(notes.some((note) => /control character NAK/.test(note)), notes.join(" | "));
    assert.ok(notes.some((note) => /Outside the DPO candidate set/.test(note)), notes.join(" | "));
    assert.ok(!notes.some((note) => /Single candidate/.test(note)), `a token outside the set is no single candidate: ${notes.join(" | ")}`);
    assert.equal(await view.page.$eval(tokenSelector(1), (el) => el.classList.contains("single")), false);

    await view.page.hover(tokenSelector(2));
    await view.page.waitForFunction(() => document.querySelector("#aad-detail .detail-where")?.textContent.endsWith("token 3"));
    assert.match(await view.page.$eval("#aad-detail", (el) => el.textContent), /<\|eot_id\|> is a special token/);
  });

  void it("names the DPO model's top choice by its text in the hover table, special tokens as chips", async () => {
    const view = await open();
    await view.post(single);
    const position = aad.entries.findIndex((e) => e.dpoRank === 2);
    const picked = aad.entries[position]!;
    const withEos = { ...picked, top: picked.top.map((c, i) => (i === picked.top.length - 1 ? { ...c, piece: "", bytes: "", special: "</s>" } : c)) };
    await view.post({ type: "tokens", entries: [...aad.entries.slice(0, position), withEos] });
    await view.page.hover(tokenSelector(position));
    await view.page.waitForSelector("#aad-detail:not([hidden])");
    const top = await view.page.$eval('#aad-detail tbody tr[data-rank="1"] td.piece', (el) => el.textContent);
    assert.equal(top, picked.top[0]!.piece);
    assert.doesNotMatch(top, /^#\d+$/);
    const last = await view.page.$eval(`#aad-detail tbody tr[data-rank="${picked.top.length}"] td.piece .chip`, (el) => el.getAttribute("data-name"));
    assert.equal(last, "</s>");
  });

  void it("keeps the picked token's row, with its rank, when the DPO model ranked it below the top tokens", async () => {
    const view = await open();
    await view.post(single);
    const top = base.top.map((c) => ({ ...c, picked: false }));
    await view.post({ type: "tokens", entries: [entry(5000, " zebra", -1.2, { dpoRank: 23, logprobDpo: -6.1, logprobSft: -4.9, inCandidateSet: false, top })] });
    await view.page.hover(tokenSelector(0));
    await view.page.waitForSelector("#aad-detail:not([hidden])");
    const rows = await view.page.$$eval("#aad-detail tbody tr", (trs) => trs.map((tr) => ({ rank: tr.getAttribute("data-rank"), picked: tr.classList.contains("picked"), piece: tr.querySelector("td.piece")?.textContent })));
    assert.equal(rows.length, top.length + 2, "the top tokens, a gap, the picked token");
    assert.deepEqual(rows.at(-1), { rank: "23", picked: true, piece: " zebra" });
    assert.equal(rows.filter((row) => row.picked).length, 1);
  });

  void it("gives compared answers one reward scale, and each chart position a tooltip", async () => {
    const view = await open(1200);
    await view.post({ type: "reset", title: fixture.prompt, method: "aad", mode: "compare", columns: fixture.responses.map((r) => ({ id: r.method, method: r.method, label: r.label })) });
    for (const r of fixture.responses) {
      await view.post({ type: "tokens", column: r.method, entries: r.entries });
      await view.post({ type: "done", column: r.method, stats: r.stats });
    }
    await frameSettled(view);
    await frameSettled(view);
    const ticks = await view.page.$$eval(".chart-svg", (charts) =>
      charts.map((chart) => Array.from(chart.querySelectorAll("text.tick:not(.reward-last)"), (t) => t.textContent).join(" ")),
    );
    assert.equal(new Set(ticks).size, 1, `every column's axes read the same: ${ticks.join(" / ")}`);
    const titles = await view.page.$$eval(`[data-column="${aad.method}"] .chart .hit title`, (els) => els.map((el) => el.textContent));
    assert.equal(titles.length, aad.entries.length);
    assert.match(titles[0]!, /^token 1: "Use"\nadvantage \+1\.34 nats\nimplicit reward so far \+0\.134$/);
  });

  void it("shows the run's pair, method, α and prompt mode, and asks the host to re-run at the α the slider sets", async () => {
    const run: RunInfo = { pair: "built-in (sft.gguf + dpo.gguf)", method: "aad", alpha: 0.1, maxTokens: 64, prompt: fixture.prompt, promptMode: "chat", rerun: { methods: ["aad", "greedy-dpo", "greedy-sft"] } };
    const view = await open();
    await view.post({ ...single, run, placeholder: "Loading the built-in pair…" });
    assert.equal(await view.page.$eval(".column .placeholder", (el) => el.textContent), "Loading the built-in pair…");
    await view.post({ type: "status", text: "Waiting for the first tokens…" });
    assert.equal(await view.page.$eval(".column .placeholder", (el) => el.textContent), "Waiting for the first tokens…");
    const facts = await view.page.$$eval(".run-info .fact", (els) => els.map((el) => el.textContent));
    assert.deepEqual(facts, ["pair built-in (sft.gguf + dpo.gguf)", "method aad", "α 0.1", "prompt chat template"]);
    assert.equal(await view.page.$eval(".run-info .prompt-text", (el) => el.textContent), fixture.prompt);
    assert.match(await view.page.$eval(".paper-mark", (el) => el.textContent), /0\.1 \(paper\)/);
    assert.equal(await view.page.$eval(".alpha", (el) => (el as HTMLInputElement).value), "0.1");

    await view.post({ type: "tokens", entries: aad.entries.slice(0, 3) });
    assert.equal(await view.page.$eval(".column .placeholder", (el) => (el as HTMLElement).hidden), true);
    assert.equal(await view.page.$eval("button.rerun", (el) => (el as HTMLButtonElement).disabled), true, "Re-run waits while the answer streams");
    await view.post({ type: "done", stats: aad.stats });
    await view.page.$eval(".alpha", (el) => {
      const input = el as HTMLInputElement;
      input.value = "0.3";
      input.dispatchEvent(new Event("input", { bubbles: true }));
    });
    assert.equal(await view.page.$eval(".alpha-value", (el) => el.textContent), "0.30");
    await view.page.selectOption(".method-select", "greedy-dpo");
    await view.page.fill(".max-tokens", "32");
    await view.page.click("button.rerun");
    const rerun = (await view.posted()).find((m) => m.type === "rerun");
    assert.deepEqual(rerun, { type: "rerun", method: "greedy-dpo", alpha: 0.3, maxTokens: 32 });
  });

  void it("shows a failed run's error note, stops the unfinished column saying it loads, and keeps a finished answer as it was", async () => {
    const run: RunInfo = { pair: "p", method: "aad", alpha: 0.1, maxTokens: 64, prompt: fixture.prompt, promptMode: "chat", rerun: { methods: ["aad"] } };
    const view = await open();
    // A re-run's view: the previous answer finished, the new one still loading the pair when it fails.
    const columns = [
      { id: "previous", method: "aad", label: "before: aad · α 0.1", alpha: 0.1 },
      { id: "current", method: "aad", label: "aad · α 0.5", alpha: 0.5 },
    ];
    await view.post({ type: "reset", title: fixture.prompt, method: "aad", mode: "compare", columns, run, placeholder: "Loading the missing.gguf pair…" });
    await view.post({ type: "tokens", column: "previous", entries: aad.entries.slice(0, 4) });
    await view.post({ type: "done", column: "previous", stats: aad.stats });
    const previous = await view.page.$eval('[data-column="previous"] .tokens', (el) => el.textContent);
    assert.equal(await view.page.$eval(".alert", (el) => (el as HTMLElement).hidden), true, "an error note before any error");
    await view.post({ type: "error", message: "Generation failed: /m/missing.gguf does not exist" });
    assert.equal(await view.page.$eval(".alert", (el) => (el as HTMLElement).hidden), false);
    assert.equal(await view.page.$eval(".alert", (el) => el.textContent), "Generation failed: /m/missing.gguf does not exist");
    const state = (column: string) =>
      view.page.$eval(`[data-column="${column}"]`, (el) => ({
        status: el.querySelector(".status")?.getAttribute("data-state"),
        placeholderHidden: (el.querySelector(".placeholder") as HTMLElement).hidden,
      }));
    assert.deepEqual(await state("current"), { status: "failed", placeholderHidden: true }, "the failed column still says it waits");
    assert.deepEqual(await state("previous"), { status: "done", placeholderHidden: true });
    assert.equal(await view.page.$eval('[data-column="previous"] .tokens', (el) => el.textContent), previous);
    assert.equal(await view.page.$eval("button.rerun", (el) => (el as HTMLButtonElement).disabled), false, "the controls stay busy after the failure");
    // The next run's reset clears the note.
    await view.post({ ...single, run });
    assert.equal(await view.page.$eval(".alert", (el) => (el as HTMLElement).hidden), true);
  });

  void it("offers no controls for a run that cannot be repeated (a scoring of existing text)", async () => {
    const view = await open();
    await view.post({ ...single, run: { pair: "p", method: "teacher-forced", alpha: 0.1, prompt: "q", promptMode: "raw" } });
    assert.equal(await view.page.$eval(".controls", (el) => (el as HTMLElement).hidden), true);
    assert.equal(await view.page.$eval('.run-info [data-field="promptMode"] .fact-value', (el) => el.textContent), "raw text, continued");
  });
});
