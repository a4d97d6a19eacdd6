/**
 * The advantage view in headless Chromium, fed a real-shaped trace through the message protocol
 * as the extension will feed it. Outside CI a missing Chromium skips the suite (and says so); under
 * CI (test/ci.ts) it fails.
 */
import assert from "node:assert/strict";
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { formatReward } from "../../media/format.ts";
import type { ExportedTrace, HostMessage, TraceEntry } from "../../media/messages.ts";
import {
  ARTIFACTS,
  launchChromium,
  loadFixture,
  missingPrerequisite,
  openView,
  parseColor,
  serveView,
  type LaunchedBrowser,
  type OpenOptions,
  type ViewPage,
  type ViewServer,
} from "./browser.ts";
import { prerequisite } from "../ci.ts";

const skip = prerequisite("Chromium for the advantage view tests", missingPrerequisite());

const fixture = loadFixture();
const aad = fixture.responses[0]!;
const single: HostMessage = { type: "reset", title: fixture.prompt, method: "aad", mode: "single" };

/** A number as the view writes it: U+2212 minus, a + sign, maybe an exponent. */
const shown = (text: string): number => Number(text.replace("\u2212", "-").replace("+", ""));

/** Index of the first entry that satisfies `test`. */
function positionOf(entries: readonly TraceEntry[], test: (entry: TraceEntry) => boolean): number {
  const position = entries.findIndex(test);
  assert.ok(position >= 0, "the fixture lacks the token this test needs");
  return position;
}

const tokenSelector = (position: number, column = "response"): string => `[data-column="${column}"] .tok[data-position="${position}"]`;

async function streamAll(view: ViewPage, chunk = 5): Promise<void> {
  await view.post(single);
  for (let i = 0; i < aad.entries.length; i += chunk) await view.post({ type: "tokens", entries: aad.entries.slice(i, i + chunk) });
  await view.post({ type: "done", stats: aad.stats, oracleReward: aad.oracleReward });
}

type ViolationLog = Window & { violations?: string[] };

/**
 * Records the page's Content-Security-Policy violations (their effective directives) from now on.
 * `settled()` returns those reported so far without waiting on a clock: it provokes one more
 * violation, an image from a host the policy does not name, and waits for its report; the page
 * reports violations in the order they happen, so every earlier one has been reported by then.
 */
async function recordViolations(page: Page): Promise<{ settled(): Promise<string[]> }> {
  await page.evaluate(() => {
    const log: string[] = [];
    (window as ViolationLog).violations = log;
    document.addEventListener("securitypolicyviolation", (event) => log.push(event.blockedURI.includes("aad-sentinel.invalid") ? "sentinel" : event.effectiveDirective));
  });
  let sentinels = 0;
  return {
    settled: async () => {
      sentinels++;
      await page.evaluate((n) => {
        const image = new Image();
        image.src = `https://aad-sentinel.invalid/${n}.png`;
      }, sentinels);
      await page.waitForFunction((n) => ((window as ViolationLog).violations ?? []).filter((v) => v === "sentinel").length >= n, sentinels);
      const log = await page.evaluate(() => (window as ViolationLog).violations ?? []);
      return log.filter((v) => v !== "sentinel");
    },
  };
}

async function detailField(page: Page, field: string): Promise<string> {
  return page.$eval(`#aad-detail dd[data-field="${field}"] .value`, (element) => element.textContent);
}

void describe("the advantage view in Chromium", { skip }, () => {
  let server: ViewServer;
  let chromium: LaunchedBrowser;
  const views: ViewPage[] = [];
  const open = async (options: OpenOptions = {}): Promise<ViewPage> => {
    const view = await openView(chromium.browser, server, options);
    views.push(view);
    return view;
  };

  before(async () => {
    server = await serveView();
    chromium = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
  });

  after(async () => {
    for (const view of views) {
      assert.deepEqual(view.errors, [], "the page threw");
      assert.deepEqual(view.dialogs, [], "a dialog opened");
    }
    await chromium.close();
    await server.close();
  });

  void it("colours DPO-preferred tokens with the DPO hue, SFT-preferred ones with the SFT hue, and leaves agreement clear", async () => {
    for (const theme of ["light", "dark"] as const) {
      for (const fallbacksOnly of [false, true]) {
        const view = await open({ theme, fallbacksOnly });
        const { page } = view;
        await streamAll(view);
        const dpo = positionOf(aad.entries, (e) => (e.advantage ?? 0) > 1.4);
        const weakDpo = positionOf(aad.entries, (e) => (e.advantage ?? 0) > 0.3 && (e.advantage ?? 0) < 0.7);
        const sft = positionOf(aad.entries, (e) => (e.advantage ?? 0) < -0.1);
        const neutral = positionOf(aad.entries, (e) => e.advantage === 0);
        const colour = async (position: number) => parseColor(await page.$eval(tokenSelector(position), (el) => getComputedStyle(el).backgroundColor));
        const hue = async (name: string) => parseColor(await page.evaluate((n) => getComputedStyle(document.body).getPropertyValue(n), name));
        const [dpoHue, sftHue] = [await hue("--aad-dpo"), await hue("--aad-sft")];
        const near = (a: { r: number; g: number; b: number }, b: { r: number; g: number; b: number }) =>
          Math.abs(a.r - b.r) + Math.abs(a.g - b.g) + Math.abs(a.b - b.b) < 0.02;
        const context = `${theme}${fallbacksOnly ? " (fallback colours)" : ""}`;

        const strong = await colour(dpo);
        assert.ok(near(strong, dpoHue) && strong.b > strong.r && strong.a > 0.1, `${context}: DPO token ${JSON.stringify(strong)}`);
        const against = await colour(sft);
        assert.ok(near(against, sftHue) && against.r > against.b && against.a > 0, `${context}: SFT token ${JSON.stringify(against)}`);
        assert.equal((await colour(neutral)).a, 0, `${context}: a zero advantage is not shaded`);
        assert.ok((await colour(weakDpo)).a < strong.a, `${context}: a weaker advantage is fainter`);
      }
    }
  });

  void it("follows a theme change without re-rendering the tokens", async () => {
    const view = await open({ theme: "light", fallbacksOnly: true });
    await streamAll(view);
    const background = () => view.page.$eval(tokenSelector(0), (el) => getComputedStyle(el).backgroundColor);
    const light = await background();
    await view.page.evaluate(() => document.body.classList.replace("vscode-light", "vscode-dark"));
    assert.notEqual(await background(), light);
    assert.equal(await view.page.$eval("body", (el) => getComputedStyle(el).backgroundColor), "rgb(31, 31, 31)");
  });

  void it("with the scale fixed at ±3, draws every advantage beyond ±3 nats as strongly as ±3", async () => {
    const view = await open();
    const base = aad.entries[0]!;
    await view.post({ ...single, scale: 3 });
    await view.post({
      type: "tokens",
      entries: [3, 5, 40, -3, -40].map((advantage, i) => ({ ...base, token: 900 + i, piece: `a${i}`, advantage })),
    });
    const alpha = async (position: number) =>
      parseColor(await view.page.$eval(tokenSelector(position), (el) => getComputedStyle(el).backgroundColor)).a;
    const [three, five, forty, minusThree, minusForty] = [await alpha(0), await alpha(1), await alpha(2), await alpha(3), await alpha(4)];
    assert.equal(five, three);
    assert.equal(forty, three);
    assert.equal(minusForty, minusThree);
  });

  void it("marks tokens picked from a single candidate with a dotted underline, and only those", async () => {
    const view = await open();
    await streamAll(view);
    const styles = await view.page.$$eval(".tok[data-position]", (elements) => elements.map((el) => getComputedStyle(el).textDecorationStyle));
    const lines = await view.page.$$eval(".tok[data-position]", (elements) => elements.map((el) => getComputedStyle(el).textDecorationLine));
    aad.entries.forEach((entry, i) => {
      if (entry.candidateSetSize === 1) {
        assert.equal(lines[i], "underline", `token ${i}`);
        assert.equal(styles[i], "dotted", `token ${i}`);
      } else assert.equal(lines[i], "none", `token ${i}`);
    });
    assert.match(await view.page.$eval(".legend", (el) => el.textContent), /single candidate/);
  });

  void it("makes spaces and newlines visible while keeping the text exact", async () => {
    const view = await open();
    await streamAll(view);
    const newline = positionOf(aad.entries, (e) => e.piece === "\n");
    const space = positionOf(aad.entries, (e) => e.piece === " ");
    const marker = (position: number, kind: string) =>
      view.page.$eval(`${tokenSelector(position)} .ws-${kind}`, (el) => getComputedStyle(el, "::before").content);
    assert.equal(await marker(newline, "newline"), '"⏎"');
    assert.equal(await marker(space, "space"), '"·"');
    const text = await view.page.$eval('[data-column="response"] .tokens', (el) => el.textContent);
    assert.equal(text, aad.entries.map((e) => e.piece).join(""));
    // The newline breaks the line: the token after it starts further down.
    const top = (position: number) => view.page.$eval(tokenSelector(position), (el) => el.getBoundingClientRect().top);
    assert.ok((await top(newline + 2)) > (await top(newline - 1)));
  });

  void it("shows a token's numbers and its top candidates on hover, matching the trace", async () => {
    const view = await open();
    await streamAll(view);
    const position = positionOf(aad.entries, (e) => e.candidateSetSize >= 3 && e.dpoRank === 2);
    const entry = aad.entries[position]!;
    await view.page.hover(tokenSelector(position));
    await view.page.waitForSelector("#aad-detail:not([hidden])");

    assert.ok(Math.abs(shown(await detailField(view.page, "pDpo")) - Math.exp(entry.logprobDpo!)) <= 0.0005);
    assert.ok(Math.abs(shown(await detailField(view.page, "pSft")) - Math.exp(entry.logprobSft!)) <= 0.0005);
    assert.ok(Math.abs(shown(await detailField(view.page, "advantage")) - entry.advantage!) <= 0.005);
    assert.equal(await detailField(view.page, "candidateSetSize"), String(entry.candidateSetSize));
    assert.equal(await detailField(view.page, "dpoRank"), "2");

    const rows = await view.page.$$eval("#aad-detail tbody tr", (trs) =>
      trs.map((tr) => ({
        token: Number(tr.getAttribute("data-token")),
        picked: tr.classList.contains("picked"),
        cells: Array.from(tr.querySelectorAll("td"), (td) => td.textContent),
      })),
    );
    assert.equal(rows.length, entry.top.length);
    entry.top.forEach((candidate, i) => {
      const row = rows[i]!;
      assert.equal(row.token, candidate.token);
      assert.equal(row.picked, candidate.picked);
      assert.equal(row.cells[1], String(i + 1), `candidate ${i} rank`);
      assert.ok(Math.abs(shown(row.cells[3]!) - Math.exp(candidate.logprobDpo)) <= 0.0005, `candidate ${i} p_dpo`);
      assert.ok(Math.abs(shown(row.cells[4]!) - Math.exp(candidate.logprobSft!)) <= 0.0005, `candidate ${i} p_sft`);
      assert.ok(Math.abs(shown(row.cells[5]!) - candidate.advantage!) <= 0.005, `candidate ${i} advantage`);
    });
    const picked = rows.find((row) => row.picked);
    assert.ok(picked !== undefined);
    assert.deepEqual(picked.cells.slice(0, 3), ["✓", "2", entry.piece]);
  });

  void it("says unknown for a step decided without the SFT model, and 0 for a clamped log-prob", async () => {
    const view = await open();
    await streamAll(view);
    const lazy = positionOf(aad.entries, (e) => e.sftSkipped);
    await view.page.hover(tokenSelector(lazy));
    await view.page.waitForSelector("#aad-detail:not([hidden])");
    assert.equal(await detailField(view.page, "pSft"), "unknown");
    assert.equal(await detailField(view.page, "advantage"), "unknown");
    assert.match(await view.page.$eval("#aad-detail", (el) => el.textContent), /SFT model was not consulted/);

    const clamped = positionOf(aad.entries, (e) => e.top.some((c) => c.logprobSft === -1000));
    await view.page.hover(tokenSelector(clamped));
    await view.page.waitForFunction((p) => document.querySelector("#aad-detail .detail-where")?.textContent.endsWith(`token ${p + 1}`), clamped);
    const token = aad.entries[clamped]!.top.find((c) => c.logprobSft === -1000)!.token;
    const cells = await view.page.$$eval(`#aad-detail tr[data-token="${token}"] td`, (tds) => tds.map((td) => td.textContent));
    assert.equal(cells[4], "0");
    assert.equal(cells[5], "+∞");
  });

  void it("renders hostile token text as text: no element, no script, no dialog", async () => {
    const view = await open();
    const violations = await recordViolations(view.page);
    const hostile = [
      "<img src=x onerror=alert(1)>",
      "</script><script>alert(1)</script>",
      '"><svg onload=alert(1)>',
      "&lt;b&gt;not bold&lt;/b&gt;",
      "<style>*{display:none}</style>",
    ];
    const base = aad.entries[0]!;
    const entries = hostile.map((piece, i) => ({
      ...base,
      token: 1000 + i,
      piece,
      top: base.top.map((c, j) => (j === 1 ? { ...c, piece: "<img src=y onerror=alert(2)>" } : c)),
    }));
    await view.post({ type: "reset", title: "<img src=t onerror=alert(3)>", method: "<b>aad</b>", mode: "single" });
    await view.post({ type: "tokens", entries });
    await view.post({ type: "error", message: "<script>alert(4)</script> daemon died" });
    for (let i = 0; i < hostile.length; i++) await view.page.hover(tokenSelector(i));
    // Nothing of it even tried to load or run (the policy would have reported it).
    assert.deepEqual(await violations.settled(), []);

    const page = view.page;
    assert.equal(await page.$eval('[data-column="response"] .tokens', (el) => el.textContent), hostile.join(""));
    assert.equal(await page.$eval("h1", (el) => el.textContent), "<img src=t onerror=alert(3)>");
    assert.equal(await page.$eval(".alert", (el) => el.textContent), "<script>alert(4)</script> daemon died");
    assert.match(await page.$eval("#aad-detail", (el) => el.textContent), /<img src=y onerror=alert\(2\)>/);
    assert.equal(await page.$$eval("img, style, svg svg, main script", (els) => els.length), 0);
    assert.equal(await page.$$eval("script", (els) => els.length), 1);
    const handlers = await page.evaluate(() =>
      Array.from(document.querySelectorAll("*")).flatMap((el) => Array.from(el.attributes, (a) => a.name).filter((n) => n.startsWith("on"))),
    );
    assert.deepEqual(handlers, []);
    assert.deepEqual(view.dialogs, []);
  });

  void it("appends streamed tokens to the page without re-rendering those already shown", async () => {
    const view = await open();
    await view.post(single);
    await view.post({ type: "tokens", entries: aad.entries.slice(0, 1) });
    await view.page.$eval(tokenSelector(0), (el) => ((el as HTMLElement & { firstSeen?: boolean }).firstSeen = true));
    const sizes = [1, 2, 3, 7, 11];
    let sent = 1;
    for (let i = 0; sent < aad.entries.length; i++) {
      const size = sizes[i % sizes.length]!;
      await view.post({ type: "tokens", entries: aad.entries.slice(sent, sent + size) });
      sent = Math.min(aad.entries.length, sent + size);
      assert.equal(await view.page.$$eval(".tok[data-position]", (els) => els.length), sent);
    }
    assert.equal(await view.page.$eval(".status", (el) => el.textContent), "generating…");
    assert.equal(await view.page.$eval(tokenSelector(0), (el) => (el as HTMLElement & { firstSeen?: boolean }).firstSeen), true);
    // The running implicit reward agrees with the daemon's summary before the summary arrives.
    assert.equal(await view.page.$eval('dd[data-field="implicitReward"]', (el) => el.textContent), formatReward(aad.stats.implicitReward));

    await view.post({ type: "done", stats: aad.stats, oracleReward: aad.oracleReward });
    assert.equal(await view.page.$eval(".status", (el) => el.textContent), "done");
    assert.equal(await view.page.$eval('dd[data-field="oracleReward"]', (el) => el.textContent), formatReward(aad.oracleReward));
  });

  void it("charts each token's advantage and the running implicit reward", async () => {
    const view = await open();
    await streamAll(view);
    await view.page.waitForFunction((n) => document.querySelector(".chart-svg")?.getAttribute("aria-label")?.includes(`of ${n} tokens`), aad.entries.length);
    const paths = new Map(await view.page.$$eval(".chart-svg path", (els) => els.map((el) => [el.getAttribute("class"), el.getAttribute("d")] as const)));
    const bars = (kind: string) => (paths.get(`bars bars-${kind}`) ?? "").split("M").length - 1;
    assert.equal(bars("dpo"), aad.entries.filter((e) => e.advantage !== null && e.advantage >= 0).length);
    assert.equal(bars("sft"), aad.entries.filter((e) => e.advantage !== null && e.advantage < 0).length);
    assert.equal(bars("unknown"), aad.entries.filter((e) => e.advantage === null).length);
    assert.equal(await view.page.$eval(".chart .reward-last", (el) => el.textContent), formatReward(aad.stats.implicitReward));

    // A click on the chart moves the keyboard focus to that token.
    const box = await view.page.$eval(".chart-svg", (el) => {
      const { left, top, width } = el.getBoundingClientRect();
      return { left, top, width };
    });
    await view.page.mouse.click(box.left + box.width - 60, box.top + 40);
    assert.equal(await view.page.evaluate(() => document.activeElement?.getAttribute("data-position")), String(aad.entries.length - 1));
  });

  void it("shows one column per method in compare mode, with its implicit and oracle reward", async () => {
    const view = await open({ width: 1200 });
    await view.post({
      type: "reset",
      title: fixture.prompt,
      method: "aad",
      mode: "compare",
      columns: fixture.responses.map((r) => ({ id: r.method, method: r.method, label: r.label })),
    });
    // The daemon streams the methods concurrently: interleave their tokens.
    const longest = Math.max(...fixture.responses.map((r) => r.entries.length));
    for (let i = 0; i < longest; i += 4)
      for (const r of fixture.responses) if (i < r.entries.length) await view.post({ type: "tokens", column: r.method, entries: r.entries.slice(i, i + 4) });
    for (const r of fixture.responses) await view.post({ type: "done", column: r.method, stats: r.stats, oracleReward: r.oracleReward });

    const columns = await view.page.$$eval(".column", (sections) =>
      sections.map((section) => ({
        id: section.getAttribute("data-column"),
        label: section.querySelector("h2")?.textContent,
        text: section.querySelector(".tokens")?.textContent,
        reward: section.querySelector('dd[data-field="implicitReward"]')?.textContent,
        oracle: section.querySelector('dd[data-field="oracleReward"]')?.textContent,
        left: section.getBoundingClientRect().left,
      })),
    );
    assert.deepEqual(
      columns.map(({ id, label, text, reward, oracle }) => ({ id, label, text, reward, oracle })),
      fixture.responses.map((r) => ({
        id: r.method,
        label: r.label,
        text: r.entries.map((e) => e.piece).join(""),
        reward: formatReward(r.stats.implicitReward),
        oracle: formatReward(r.oracleReward),
      })),
    );
    assert.ok(columns[0]!.left < columns[1]!.left && columns[1]!.left < columns[2]!.left, "side by side");
  });

  void it("moves between tokens with the keyboard and opens and closes the details", async () => {
    const view = await open();
    await streamAll(view);
    const { page } = view;
    const focused = () => page.evaluate(() => Number(document.activeElement?.getAttribute("data-position") ?? "NaN"));
    const where = () => page.$eval("#aad-detail .detail-where", (el) => el.textContent);

    await page.keyboard.press("Tab"); // the export button
    await page.keyboard.press("Tab"); // the response: one tab stop
    assert.equal(await focused(), 0);
    assert.equal(await page.$eval("#aad-detail", (el) => el.hasAttribute("hidden")), false);
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    assert.equal(await focused(), 2);
    assert.match(await where(), /token 3$/);
    await page.keyboard.press("ArrowLeft");
    assert.equal(await focused(), 1);
    assert.deepEqual(await page.$$eval(".tokens [tabindex=\"0\"]", (els) => els.map((el) => el.getAttribute("data-position"))), ["1"]);
    assert.equal(await page.$eval(tokenSelector(1), (el) => el.getAttribute("aria-selected")), "true");

    await page.keyboard.press("ArrowDown");
    const below = await focused();
    const top = (position: number) => page.$eval(tokenSelector(position), (el) => el.getBoundingClientRect().top);
    assert.ok((await top(below)) > (await top(1)), "ArrowDown goes to the next line");
    await page.keyboard.press("ArrowUp");
    assert.equal(await top(await focused()), await top(1));

    await page.keyboard.press("Enter");
    assert.equal(await page.$eval("#aad-detail", (el) => el.classList.contains("pinned")), true);
    await page.keyboard.press("End");
    assert.equal(await focused(), aad.entries.length - 1);
    assert.match(await where(), new RegExp(`token ${aad.entries.length}$`), "a pinned panel follows the focus");
    await page.keyboard.press("Escape");
    assert.equal(await page.$eval("#aad-detail", (el) => el.hasAttribute("hidden")), true);
    await page.keyboard.press("Home");
    assert.equal(await focused(), 0);

    const label = await page.$eval(tokenSelector(0), (el) => el.getAttribute("aria-label"));
    assert.match(label ?? "", /^1: "Use", advantage \+1\.34, DPO preferred$/);
    assert.equal(await page.$eval(".tokens", (el) => el.getAttribute("role")), "listbox");
  });

  void it("runs under its CSP: nonced script only, no inline script or style, no handler attributes", async () => {
    const view = await open();
    const { page } = view;
    const violations = await recordViolations(page);
    await streamAll(view);
    await page.hover(tokenSelector(3));
    const rendering = await violations.settled();
    assert.equal(rendering.length, 0, `rendering needs nothing the policy forbids, yet: ${rendering.join(", ")}`);

    const policy = await page.$eval('meta[http-equiv="Content-Security-Policy"]', (el) => el.getAttribute("content"));
    assert.match(policy ?? "", new RegExp(`^default-src 'none'; script-src 'nonce-${server.nonce}'; style-src ${new URL(server.url).origin} 'nonce-${server.nonce}';`));
    assert.equal(await page.$eval("script[src]", (el) => (el as HTMLScriptElement).nonce), server.nonce);
    assert.doesNotMatch(server.html, /\son[a-z]+\s*=/i);

    await page.evaluate(() => {
      const script = document.createElement("script");
      script.textContent = "window.pwned = true";
      document.body.append(script);
      document.body.querySelector("h1")?.setAttribute("style", "color: red");
    });
    const injected = await violations.settled();
    assert.equal(await page.evaluate(() => (window as unknown as { pwned?: boolean }).pwned), undefined);
    assert.ok(injected.includes("script-src-elem"), `violations: ${injected.join(", ")}`);
    assert.ok(injected.includes("style-src-attr"), `violations: ${injected.join(", ")}`);
  });

  void it("exports the trace as JSON that round-trips, to the host and the clipboard", async () => {
    const view = await open();
    await streamAll(view, 9);
    await view.page.click("button.export");
    await view.page.waitForFunction(() => document.querySelector(".announce")?.textContent !== "");
    const message = (await view.posted()).find((m) => m.type === "export");
    assert.ok(message?.type === "export");
    const exported = JSON.parse(message.json) as ExportedTrace;
    assert.equal(exported.title, fixture.prompt);
    assert.equal(exported.columns.length, 1);
    assert.deepEqual(exported.columns[0]!.entries, aad.entries);
    assert.deepEqual(exported.columns[0]!.stats, aad.stats);
    assert.equal(exported.columns[0]!.oracleReward, aad.oracleReward);
    assert.equal(await view.page.evaluate(() => navigator.clipboard.readText()), message.json);
  });

  void it("ignores a malformed message and keeps going", async () => {
    const view = await open();
    await view.post(single);
    await view.page.evaluate(() => window.postMessage({ type: "tokens", entries: [{ piece: "<b>x</b>" }] }, "*"));
    await view.post({ type: "tokens", entries: aad.entries.slice(0, 3) });
    await view.page.waitForFunction(() => document.querySelectorAll(".tok[data-position]").length === 3);
    assert.equal(await view.page.$$eval("b", (els) => els.length), 0);
  });

  void it("takes screenshots in light and dark themes into test-artifacts/", async () => {
    const paths: string[] = [];
    const shoot = async (page: Page, name: string) => {
      paths.push(join(ARTIFACTS, `${name}.png`));
      await page.screenshot({ path: paths.at(-1)!, fullPage: true });
    };
    for (const theme of ["light", "dark", "high-contrast"] as const) {
      const view = await open({ theme, width: 1000, height: 720 });
      const page = view.page;
      await streamAll(view);
      await page.mouse.move(0, 0);
      await page.waitForTimeout(50);
      await shoot(page, `advantage-view-${theme}`);
      if (theme === "high-contrast") continue;

      // The details of a token where AAD departed from the DPO argmax, pinned from the keyboard.
      await page.focus(tokenSelector(0));
      const position = positionOf(aad.entries, (e) => e.dpoRank === 2);
      for (let i = 0; i < position; i++) await page.keyboard.press("ArrowRight");
      await page.keyboard.press("Enter");
      await page.waitForTimeout(50);
      await shoot(page, `advantage-view-detail-${theme}`);
      await page.keyboard.press("Escape");

      await view.post({
        type: "reset",
        title: fixture.prompt,
        method: "aad",
        mode: "compare",
        columns: fixture.responses.map((r) => ({ id: r.method, method: r.method, label: r.label })),
      });
      for (const r of fixture.responses) {
        await view.post({ type: "tokens", column: r.method, entries: r.entries });
        await view.post({ type: "done", column: r.method, stats: r.stats, oracleReward: r.oracleReward });
      }
      await page.waitForTimeout(50);
      await shoot(page, `advantage-view-compare-${theme}`);
    }
    for (const path of paths) assert.ok(statSync(path).size > 10_000, path);
  });
});
