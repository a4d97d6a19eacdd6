/**
 * The extension in a real VS Code: code-server 4.100.3 (test/e2e/vscode, installed by
 * test/e2e/setup.mjs) driven by Debian's Chromium through playwright-core, offline.
 *
 * 1. Package the extension with vsce (linux-x64) and install the .vsix into a fresh code-server.
 * 2. UI: run "AAD: Generate" from the command palette on the built-in pair, wait for the
 *    advantage view's webview and check what it shows, re-run it at a new α, reload the window
 *    and find the view restored; type in an editor and accept an inline
 *    completion (ghost text, Tab); generate preference pairs through the file dialogs and
 *    cancel from the progress notification.
 * 3. Extension host: VS Code's extensionTestsPath runs host/suite.ts against the installed
 *    extension and a real daemon.
 *
 * Outside CI a missing prerequisite (Chromium, the code-server install, the built-in models)
 * skips the suite and says what is missing; under CI (test/ci.ts: CI set, and not "false" or
 * "0") that is a failure.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { build } from "esbuild";
import type { FrameLocator, Locator, Page } from "playwright-core";
import { heldoutPrompts } from "../../server/src/forge/world.ts";
import { prerequisite } from "../ci.ts";
import {
  artifact,
  here,
  installExtension,
  launchBrowser,
  missingHarness,
  openWorkbench,
  packageExtension,
  prepareCodeServer,
  quickOpen,
  root,
  runCommand,
  startCodeServer,
  stopCodeServer,
  stopDaemon,
  stopStrayDaemons,
  waitFor,
  workbenchUrl,
  type CodeServer,
} from "./code-server.ts";

const PROMPT = "Beginner here. How do I reverse a list in Python?";

const timings: Record<string, number> = {};
async function timed<T>(phase: string, work: () => Promise<T> | T): Promise<T> {
  const started = performance.now();
  try {
    return await work();
  } finally {
    timings[phase] = Math.round(performance.now() - started);
    console.log(`# e2e ${phase}: ${(timings[phase] / 1000).toFixed(1)} s`);
  }
}

function missingPrerequisites(): string[] {
  const missing = missingHarness();
  for (const model of ["models/sft.gguf", "models/dpo.gguf"]) if (!existsSync(join(root, model))) missing.push(`the built-in pair: ${model} (npm run forge)`);
  for (const built of ["dist/client/extension.cjs", "dist/server/aad.js", "dist/media/advantage-view.js"]) if (!existsSync(join(root, built))) missing.push(`${built} (npm run build)`);
  return missing;
}

const missing = missingPrerequisites();
const skip = prerequisite("the e2e suite's prerequisites", missing.length > 0 ? `missing prerequisites: ${missing.join("; ")}` : undefined);

interface Run extends CodeServer {
  /** Where host/*.ts write their outcomes (AAD_E2E_HOST_RESULTS). */
  readonly hostResults: string;
  /** The UI tests' page, shared: the inline test continues in the workbench the first opened. */
  page?: Page | undefined;
  extensionDir?: string;
}

let run: Run | undefined;

function advantageView(page: Page): FrameLocator {
  return page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");
}

/** An instance for this suite: the host modules write their outcomes where AAD_E2E_HOST_RESULTS says. */
async function prepareRun(dir: string, options: { extensions?: string; userSettings: Record<string, unknown> }): Promise<Run> {
  const hostResults = join(dir, "host-results.json");
  const cs = await prepareCodeServer({ dir, ...options, env: { AAD_E2E_HOST_RESULTS: hostResults } });
  return Object.assign(cs, { hostResults });
}

before(async () => {
  if (skip !== false) return;
  // A short path: Unix socket paths are limited to 107 bytes.
  const dir = mkdtempSync(join(tmpdir(), "aad-e2e-"));
  const r = (run = await prepareRun(dir, {
    userSettings: {
      "aad.inline.enabled": true,
      "aad.inline.debounceMs": 50,
      "editor.inlineSuggest.enabled": true,
      "security.workspace.trust.enabled": false,
      "workbench.startupEditor": "none",
      "workbench.tips.enabled": false,
      "workbench.welcomePage.walkthroughs.openOnInstall": false,
      "extensions.autoUpdate": false,
      "extensions.autoCheckUpdates": false,
      "telemetry.telemetryLevel": "off",
      "update.mode": "none",
    },
  }));
  writeFileSync(join(r.workspace, "notes.md"), "# Notes\n\n");

  const vsix = join(dir, "aad-linux-x64.vsix");
  await timed("package (vsce)", () => packageExtension(vsix));
  timings.vsixBytes = statSync(vsix).size;
  console.log(`# e2e vsix: ${(statSync(vsix).size / 1e6).toFixed(1)} MB`);
  r.extensionDir = await timed("install the vsix", () => installExtension(r, vsix));

  await timed("start code-server", () => startCodeServer(r));
  await timed("launch Chromium", () => launchBrowser(r));
});

after(async () => {
  const r = run;
  if (r === undefined) return;
  await timed("teardown", async () => {
    await r.browser?.close().catch(() => undefined);
    await stopCodeServer(r);
    await stopDaemon(r.socket);
    stopStrayDaemons(r.dir);
  });
  console.log(`# e2e timings (ms): ${JSON.stringify(timings)}`);
  if (process.env.AAD_E2E_KEEP === undefined) rmSync(r.dir, { recursive: true, force: true });
  else console.log(`# e2e kept ${r.dir}`);
});

/** Runs a UI step; on failure keeps a screenshot and the server's last words. */
async function uiStep(r: Run, name: string, step: (page: Page) => Promise<void>): Promise<void> {
  let page = r.page;
  if (page === undefined) {
    const opened = await r.browser!.newPage({ viewport: { width: 1400, height: 900 } });
    page = r.page = opened;
    await timed("UI: open the workbench", async () => {
      await openWorkbench(opened, r, 60_000);
    });
  }
  try {
    await step(page);
  } catch (error) {
    await page.screenshot({ path: artifact(`failure-${name}.png`) }).catch(() => undefined);
    console.log(`# e2e code-server log tail:\n${r.serverLog.slice(-30).join("\n")}`);
    throw error;
  }
}

test("AAD: Generate from the command palette streams the built-in pair's response into the advantage view", { skip, timeout: 300_000 }, async () => {
  const r = run!;
  await uiStep(r, "generate", async (page) => {
    await timed("UI: AAD: Generate → advantage view", async () => {
      await runCommand(page, "AAD: Generate");
      const input = page.locator(".quick-input-widget .quick-input-box input");
      await input.waitFor({ state: "visible" });
      await input.fill(PROMPT);
      await page.keyboard.press("Enter");
      const view = advantageView(page);
      await view.locator('.column .status[data-state="done"]').first().waitFor({ timeout: 120_000 });
      const tokens = view.locator(".column .tokens .tok");
      const count = await tokens.count();
      assert.ok(count > 0, "the advantage view shows no tokens");
      const label = await tokens.first().getAttribute("aria-label");
      assert.match(label ?? "", /^1: .*advantage/);
      const reward = await view.locator('.column dd[data-field="implicitReward"]').first().textContent();
      assert.match(reward ?? "", /-?\d/);
      const title = await view.locator("h1").first().textContent();
      assert.match(title ?? "", /reverse a list/);
      await page.screenshot({ path: artifact("advantage-view.png") });
      console.log(`# e2e advantage view: ${count} tokens, implicit reward ${reward ?? "?"}`);
    });
  });
});

test("the advantage view's hover table names the DPO model's other top tokens by their text, not by id", { skip, timeout: 300_000 }, async () => {
  const r = run!;
  await uiStep(r, "hover-table", async (page) => {
    await timed("UI: hover table with the alternatives' text", async () => {
      const view = advantageView(page);
      await view.locator('.column .status[data-state="done"]').first().waitFor({ timeout: 120_000 });
      const count = Math.min(6, await view.locator(".column .tokens .tok").count());
      const alternatives: string[] = [];
      for (let position = 0; position < count; position++) {
        await view.locator(`.column .tokens .tok[data-position="${position}"]`).hover();
        await view.locator(`#aad-detail .detail-where`, { hasText: new RegExp(`token ${position + 1}$`) }).waitFor();
        const rows = view.locator("#aad-detail tbody tr:not(.picked):not(.gap)");
        for (let i = 0; i < (await rows.count()); i++) {
          const cell = rows.nth(i).locator("td.piece");
          const chip = (await cell.locator(".chip").count()) > 0 ? await cell.locator(".chip").getAttribute("data-name") : null;
          alternatives.push(chip ?? (await cell.textContent()) ?? "");
        }
      }
      assert.ok(alternatives.length >= 8, `only ${alternatives.length} alternatives in ${count} hover tables`);
      const byId = alternatives.filter((text) => /^#\d+$/.test(text));
      assert.deepEqual(byId, [], "alternatives shown by id instead of text");
      assert.ok(alternatives.some((text) => /\w/.test(text)), `no alternative has text: ${JSON.stringify(alternatives)}`);
      // The top row is the DPO model's first choice, by its text.
      await view.locator('.column .tokens .tok[data-position="0"]').hover();
      const top = (await view.locator('#aad-detail tbody tr[data-rank="1"] td.piece').textContent()) ?? "";
      assert.ok(top !== "" && !/^#\d+$/.test(top), `the top choice reads ${JSON.stringify(top)}`);
      await page.screenshot({ path: artifact("hover-table.png") });
      console.log(`# e2e hover table: ${alternatives.length} alternatives, e.g. ${JSON.stringify(alternatives.slice(0, 4))}`);
    });
  });
});

test("Re-run in the advantage view at a new α decodes again and shows the new answer against the previous one", { skip, timeout: 300_000 }, async () => {
  const r = run!;
  await uiStep(r, "rerun", async (page) => {
    await timed("UI: Re-run at α 0.5", async () => {
      const view = advantageView(page);
      const rerun = view.locator("button.rerun");
      await rerun.waitFor({ state: "visible", timeout: 60_000 });
      await waitFor("Re-run to be enabled", 60_000, async () => ((await rerun.isEnabled()) ? true : undefined));
      assert.equal(await view.locator('.run-info [data-field="alpha"] .fact-value').textContent(), "0.1");
      const previous = (await view.locator(".column .tokens").first().textContent()) ?? "";
      // The slider, moved as a keyboard user moves it: 0.1 + 40 steps of 0.01.
      await view.locator("input.alpha").focus();
      for (let i = 0; i < 40; i++) await page.keyboard.press("ArrowRight");
      assert.equal(await view.locator(".alpha-value").textContent(), "0.50");
      await rerun.click();
      const current = view.locator('.column[data-column="current"]');
      await current.locator('.status[data-state="done"]').waitFor({ timeout: 120_000 });
      const before = view.locator('.column[data-column="previous"]');
      assert.equal(await before.locator("h2").textContent(), "before: aad · α 0.1");
      assert.equal(await current.locator("h2").textContent(), "aad · α 0.5");
      assert.equal(await before.locator(".tokens").textContent(), previous, "the previous answer is kept as it was");
      assert.equal(await view.locator('.run-info [data-field="alpha"] .fact-value').textContent(), "0.5");
      for (const column of [before, current]) assert.match((await column.locator('dd[data-field="implicitReward"]').textContent()) ?? "", /\d/);
      const now = (await current.locator(".tokens").textContent()) ?? "";
      assert.ok(now.length > 0, "the new answer is empty");
      const tokensOf = async (column: typeof current) => column.locator(".tok").evaluateAll((els) => els.map((el) => el.textContent));
      const [a, b] = [await tokensOf(before), await tokensOf(current)];
      const differ = a.findIndex((token, i) => token !== b[i]);
      const marked = await view.locator(".tok.diverge").evaluateAll((els) => els.map((el) => el.getAttribute("data-position")));
      if (differ >= 0 || a.length !== b.length) {
        const expected = String(differ >= 0 ? differ : Math.min(a.length, b.length));
        assert.deepEqual([...new Set(marked)], [expected], "the first divergent token is marked in both answers");
      } else assert.deepEqual(marked, [], "identical answers have no divergence mark");
      await page.screenshot({ path: artifact("rerun.png") });
      console.log(`# e2e re-run: α 0.1 → 0.5, answers ${differ >= 0 ? `differ from token ${differ + 1}` : "agree"}`);
    });
  });
});

test("the advantage view comes back after Reload Window with the same answers, and its restored controls re-run from them", { skip, timeout: 300_000 }, async () => {
  const r = run!;
  await uiStep(r, "reload", async (page) => {
    await timed("UI: Reload Window → the advantage view restored", async () => {
      const view = advantageView(page);
      const current = view.locator('.column[data-column="current"]');
      await current.locator('.status[data-state="done"]').waitFor({ timeout: 60_000 });
      const shown = async (): Promise<Record<string, unknown>> => ({
        title: await view.locator("h1").first().textContent(),
        headings: await view.locator(".column h2").allTextContents(),
        answers: await view.locator(".column .tokens").allTextContents(),
        rewards: await view.locator('.column dd[data-field="implicitReward"]').allTextContents(),
        alpha: await view.locator('.run-info [data-field="alpha"] .fact-value').textContent(),
        prompt: await view.locator(".run-info .prompt-text").textContent(),
      });
      const before = await shown();
      // The re-run's two answers are on show (the previous test); VS Code's reload must bring back both.
      assert.equal((before.answers as string[]).length, 2, JSON.stringify(before));
      const reloaded = page.waitForEvent("load", { timeout: 60_000 });
      await runCommand(page, "Developer: Reload Window");
      await reloaded;
      await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: 60_000 });
      // No command runs after the reload: only the panel serializer can put the answers back.
      await current.locator('.status[data-state="done"]').waitFor({ timeout: 60_000 });
      assert.deepEqual(await shown(), before, "the restored view shows what was shown before the reload");
      // The controls come back set to the run on show, and work: Re-run compares against the restored answer.
      const rerun = view.locator("button.rerun");
      await waitFor("Re-run to be enabled after the reload", 60_000, async () => ((await rerun.isEnabled()) ? true : undefined));
      assert.equal(await view.locator(".alpha-value").textContent(), "0.50");
      assert.equal(await view.locator(".method-select").inputValue(), "aad");
      await view.locator("input.alpha").focus();
      for (let i = 0; i < 40; i++) await page.keyboard.press("ArrowLeft");
      assert.equal(await view.locator(".alpha-value").textContent(), "0.10");
      await page.screenshot({ path: artifact("reload-restored.png") });
      await rerun.click();
      await waitFor("the re-run from the restored view", 120_000, async () =>
        (await view.locator('.column[data-column="previous"] h2').textContent()) === "before: aad · α 0.5" && (await current.locator('.status[data-state="done"]').count()) > 0 ? true : undefined,
      );
      assert.equal(await view.locator('.column[data-column="previous"] .tokens').textContent(), (before.answers as string[])[1], "the restored answer is the one compared against");
      assert.equal(await current.locator("h2").textContent(), "aad · α 0.1");
      console.log(`# e2e reload: ${(before.answers as string[]).map((answer) => answer.length).join(" + ")} characters of answers restored; re-run from the restored view at α 0.1`);
    });
  });
});

test("Explain Selection paints the selected text by advantage, with a hover per token, and the view shows the prompt and mode", { skip, timeout: 300_000 }, async () => {
  const r = run!;
  const selected = "Use reversed(items) or items[::-1] to reverse a list.";
  writeFileSync(join(r.workspace, "explain.md"), `${selected}\n`);
  await uiStep(r, "explain", async (page) => {
    await timed("UI: Explain Selection → editor decorations", async () => {
      await runCommand(page, "View: Close All Editors");
      await quickOpen(page, "explain.md");
      const input = page.locator(".quick-input-widget .quick-input-box input");
      const editor = page.locator(".monaco-editor .view-lines").first();
      await editor.waitFor();
      await editor.click();
      await page.keyboard.press("Control+Home");
      await page.keyboard.press("Shift+End");
      // Not runCommand: its Escape would cancel the selection, and the command needs one.
      await page.keyboard.press("F1");
      await input.fill(">AAD: Explain Selection");
      await page.locator(".quick-input-widget .quick-input-list .monaco-list-row", { hasText: "AAD: Explain Selection" }).first().waitFor({ timeout: 30_000 });
      await page.keyboard.press("Enter");
      await page.locator(".quick-input-widget", { hasText: "The prompt the selected text answers" }).waitFor({ state: "visible", timeout: 30_000 });
      await input.fill(PROMPT);
      await page.keyboard.press("Enter");
      // The decorations: one per token, coloured backgrounds (VS Code's ced-* decoration classes).
      const painted = page.locator('.monaco-editor [class*="ced-"]');
      await waitFor("decorations on the selected text", 120_000, async () => ((await painted.count()) >= 5 ? true : undefined));
      const backgrounds = await painted.evaluateAll((els) => els.map((el) => getComputedStyle(el).backgroundColor));
      assert.ok(backgrounds.some((colour) => /rgba\(\d+, \d+, \d+, 0\.[1-9]/.test(colour)), `no coloured token: ${backgrounds.join(", ")}`);
      // A token's hover: its advantage and the DPO model's alternatives.
      const box = await painted.first().boundingBox();
      assert.ok(box !== null);
      await page.mouse.move(box.x + Math.max(2, box.width / 2), box.y + box.height / 2);
      const hover = page.locator(".monaco-hover", { hasText: "advantage" }).first();
      await hover.waitFor({ state: "visible", timeout: 15_000 });
      assert.match((await hover.textContent()) ?? "", /AAD · token \d+: .*advantage [+\u2212−]?[\d.]+ nats/s);
      await page.screenshot({ path: artifact("explain-decorations.png") });
      // The view: the selected text exactly (no word-start space), the prompt and its mode, no tokens/s.
      const view = advantageView(page);
      await view.locator('.column .status[data-state="done"]').first().waitFor({ timeout: 60_000 });
      assert.equal(await view.locator(".column .tokens").first().textContent(), selected);
      assert.equal(await view.locator('.run-info [data-field="promptMode"] .fact-value').textContent(), "chat template");
      assert.equal(await view.locator(".run-info .prompt-text").textContent(), PROMPT);
      assert.equal(await view.locator('dd[data-field="tokensPerSecond"]').count(), 0, "a scoring reports no speed");
      console.log(`# e2e explain: ${await painted.count()} decorated tokens`);
    });
  });
});

test("an inline completion shows as ghost text while the status bar says busy, and a word of it then the rest are accepted", { skip, timeout: 300_000 }, async () => {
  const r = run!;
  await uiStep(r, "inline", async (page) => {
    await timed("UI: inline completion accepted with Tab", async () => {
      await runCommand(page, "View: Close All Editors");
      await quickOpen(page, "notes.md");
      const editor = page.locator(".monaco-editor .view-lines").first();
      await editor.waitFor();
      await editor.click();
      await page.keyboard.press("Control+End");
      const ghost = page.locator(".monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text");
      // Every text the AAD status bar item shows from here on, to see it say "busy" while a completion computes.
      // (A string: tsx would wrap a named function for the page in a helper the page does not have.)
      await page.evaluate(`(() => {
        const seen = (window.aadStatusTexts = []);
        const bar = document.querySelector(".part.statusbar") ?? document.body;
        const record = () => {
          for (const item of bar.querySelectorAll(".statusbar-item")) {
            const text = item.textContent;
            if (text.includes("AAD: ") && seen.at(-1) !== text) seen.push(text);
          }
        };
        record();
        new MutationObserver(record).observe(bar, { subtree: true, childList: true, characterData: true, attributes: true });
      })()`);
      const typed = "How do I reverse a list in Python? ";
      // Type, pause, and re-type a space until a suggestion shows (the pair may still be loading).
      await page.keyboard.type(typed, { delay: 20 });
      await waitFor("ghost text", 90_000, async () => {
        if ((await ghost.count()) > 0 && (await ghost.first().isVisible())) return true;
        await page.keyboard.press("Backspace");
        await page.keyboard.type(" ", { delay: 20 });
        await page.waitForTimeout(1500);
        return undefined;
      });
      const suggestion = (await ghost.first().textContent()) ?? "";
      const statusTexts = await page.evaluate(() => (window as unknown as { aadStatusTexts: string[] }).aadStatusTexts);
      assert.ok(
        statusTexts.some((text) => /AAD: .* · busy/.test(text)),
        `the status bar never said busy while the completion was computed: ${JSON.stringify(statusTexts)}`,
      );
      // Ghost text is rendered inside the editor's lines, so the document's growth is read off
      // the cursor position in the status bar ("Ln 3, Col 37") instead.
      const selection = page.locator("#status\\.editor\\.selection");
      const cursor = async (): Promise<number> => {
        const match = /Ln (\d+), Col (\d+)/.exec((await selection.textContent()) ?? "");
        assert.ok(match, "no cursor position in the status bar");
        return Number(match[1]) * 100_000 + Number(match[2]);
      };
      const before = await cursor();
      // Partial accept: the next word of the suggestion goes in and the rest stays offered.
      await page.keyboard.press("Control+ArrowRight");
      const afterWord = await waitFor("a word of the suggestion in the document", 10_000, async () => {
        const now = await cursor();
        return now > before ? now : undefined;
      });
      // Tab accepts what is offered now (the rest, or a new suggestion after the word).
      await waitFor("ghost text after the partial accept", 30_000, async () => ((await ghost.count()) > 0 && (await ghost.first().isVisible()) ? true : undefined));
      await page.keyboard.press("Tab");
      await waitFor(`Tab to insert the suggestion (ghost text ${JSON.stringify(suggestion)})`, 10_000, async () => ((await cursor()) > afterWord ? true : undefined));
      await page.screenshot({ path: artifact("inline-accepted.png") });
      console.log(`# e2e inline completion accepted: ${JSON.stringify(suggestion)}`);
    });
  });
  await r.page?.close();
  r.page = undefined;
});

test("AAD: Generate Preference Pairs picks both files through the dialogs, shows progress with Cancel, and opens what was written", { skip, timeout: 300_000 }, async () => {
  const r = run!;
  // Enough prompts that the job is still running when Cancel is clicked (the built-in pair does a few per second).
  const promptsFile = join(r.workspace, "pair-prompts.txt");
  const out = join(r.workspace, "pair-prompts.pairs.jsonl");
  const prompts = heldoutPrompts().slice(0, 400).map((p) => p.text);
  writeFileSync(promptsFile, prompts.join("\n") + "\n");
  await uiStep(r, "pairs", async (page) => {
    await timed("UI: Generate Preference Pairs → Cancel", async () => {
      await runCommand(page, "AAD: Generate Preference Pairs");
      // code-server's dialogs are VS Code's simple file dialog: a quick input that takes a path.
      const input = page.locator(".quick-input-widget .quick-input-box input");
      const openDialog = page.locator(".quick-input-widget", { hasText: "choose the prompts file" });
      const saveDialog = page.locator(".quick-input-widget", { hasText: "where to write the preference pairs" });
      await openDialog.waitFor({ state: "visible", timeout: 30_000 });
      // The dialog sets its own value (the workspace folder) once it has listed it; a path typed
      // before that is overwritten, and Enter on a folder only says "Please select a file". So:
      // type the path, give the dialog a moment, Enter — again until the save dialog replaces it.
      await waitFor("the save dialog", 60_000, async () => {
        if ((await saveDialog.count()) > 0) return true;
        if ((await openDialog.count()) > 0 && (await input.inputValue()) !== promptsFile) {
          await input.fill(promptsFile);
          await page.waitForTimeout(500);
          if ((await input.inputValue()) === promptsFile) await page.keyboard.press("Enter");
        }
        await page.waitForTimeout(500);
        return undefined;
      });
      // It proposes <name>.pairs.jsonl next to the prompts (once it has filled itself in).
      await waitFor(`the save dialog to propose ${out}`, 15_000, async () => ((await input.inputValue()) === out ? true : undefined));
      await page.keyboard.press("Enter");
      const rejected = page.locator(".quick-input-widget .quick-input-list .monaco-list-row", { hasText: "greedy-dpo" }).first();
      await rejected.waitFor({ state: "visible", timeout: 30_000 });
      await rejected.click();
      const toast = page.locator(".notification-toast", { hasText: "generating preference pairs" }).first();
      // Cancel once a few rows are on disk.
      await waitFor("progress past 3 prompts", 120_000, async () => {
        const text = (await toast.textContent().catch(() => "")) ?? "";
        const match = /(\d+)\/400 prompts/.exec(text);
        return match && Number(match[1]) >= 3 ? true : undefined;
      });
      await page.screenshot({ path: artifact("pairs-progress.png") });
      await toast.hover();
      await toast.locator(".monaco-button, .action-label", { hasText: "Cancel" }).first().click();
      const summary = page.locator(".notification-toast", { hasText: "Stopped after" }).first();
      await summary.waitFor({ state: "visible", timeout: 60_000 });
      const said = (await summary.textContent()) ?? "";
      const match = /Stopped after (\d+)\/400 prompts: pair-prompts\.pairs\.jsonl holds (\d+) complete pair/.exec(said);
      assert.ok(match, `unexpected summary: ${said}`);
      const rows = readFileSync(out, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line) as { prompt: string; chosen: string; rejected: string });
      assert.equal(rows.length, Number(match[2]), "the summary counts the rows in the file");
      assert.ok(rows.length >= 1 && Number(match[1]) < 400, `cancel must stop the job early (${match[1]}/400 done, ${rows.length} rows)`);
      for (const row of rows) assert.ok(prompts.includes(row.prompt) && row.chosen !== row.rejected);
      // The result is opened in an editor.
      await page.locator(".tabs-container .tab", { hasText: "pair-prompts.pairs.jsonl" }).first().waitFor({ state: "visible", timeout: 30_000 });
      await page.screenshot({ path: artifact("pairs-cancelled.png") });
      console.log(`# e2e pairs: cancelled at ${match[1]}/400 prompts with ${rows.length} rows`);
    });
  });
  await r.page?.close();
  r.page = undefined;
});

/** "AAD: Generate" from the palette on `prompt`. */
async function generateFromPalette(page: Page, prompt: string): Promise<void> {
  await runCommand(page, "AAD: Generate");
  await page.locator(".quick-input-widget", { hasText: "Prompt to generate from" }).waitFor({ state: "visible", timeout: 30_000 });
  await page.locator(".quick-input-widget .quick-input-box input").fill(prompt);
  await page.keyboard.press("Enter");
}

/**
 * Runs `work` with the machine settings naming a DPO model file that does not exist (the daemon
 * refuses the pair with FileNotFound), as a user's mistyped path does; then puts the settings back.
 */
async function withMissingModelFile(r: Run, page: Page, work: (missing: string) => Promise<void>): Promise<void> {
  const settingsFile = join(r.userData, "Machine", "settings.json");
  const saved = readFileSync(settingsFile, "utf8");
  const missing = join(r.dir, "missing.gguf");
  const bar = (text: string) => page.locator(".statusbar-item", { hasText: text }).first();
  writeFileSync(settingsFile, JSON.stringify({ ...(JSON.parse(saved) as object), "aad.models.sft": join(r.extensionDir!, "models", "sft.gguf"), "aad.models.dpo": missing }, null, 2));
  try {
    // The status bar names the pair the settings name once the extension has read them.
    await bar("AAD: missing.gguf").waitFor({ state: "visible", timeout: 30_000 });
    await work(missing);
  } finally {
    writeFileSync(settingsFile, saved);
    await bar("AAD: built-in").waitFor({ state: "visible", timeout: 30_000 });
  }
}

/**
 * VS Code drops a toast (it goes to the notification center only) when more than 3 were shown in
 * its 800 ms window (NotificationsToasts' rate limit). A failed Generate shows two, its progress
 * and its error, so back-to-back failures 0.76 s apart lost the second error's toast.
 */
const TOAST_WINDOW_MS = 800;
let lastToastAt = 0;

/** The error notification of a Generate that failed on `missing`, once the previous ones are cleared. */
async function failedGenerate(page: Page, missing: string): Promise<Locator> {
  await runCommand(page, "Notifications: Clear All Notifications");
  const wait = lastToastAt + TOAST_WINDOW_MS + 200 - Date.now();
  if (wait > 0) await sleep(wait);
  await generateFromPalette(page, PROMPT);
  const toast = page.locator(".notification-toast", { hasText: `AAD: Generate: ` }).filter({ hasText: missing }).first();
  await toast.waitFor({ state: "visible", timeout: 60_000 });
  lastToastAt = Date.now();
  return toast;
}

test("a Generate the daemon refuses (a missing model file) puts an error note in the advantage view instead of leaving it waiting or showing the last answer", { skip, timeout: 300_000 }, async () => {
  const r = run!;
  await uiStep(r, "error-note", async (page) => {
    await timed("UI: a failed Generate → the view's error note", async () => {
      const view = advantageView(page);
      await generateFromPalette(page, PROMPT);
      await view.locator('.column .status[data-state="done"]').first().waitFor({ timeout: 120_000 });
      assert.ok((await view.locator(".column .tokens .tok").count()) > 0, "the first answer has no tokens");
      assert.equal(await view.locator(".alert").isVisible(), false, "an error note after a generation that worked");
      await withMissingModelFile(r, page, async (missing) => {
        await failedGenerate(page, missing);
        const note = view.locator(".alert");
        await note.waitFor({ state: "visible", timeout: 30_000 });
        const said = (await note.textContent()) ?? "";
        assert.ok(said.startsWith("Generation failed: ") && said.includes(`${missing} does not exist`), `the view's note: ${JSON.stringify(said)}`);
        // The run that failed is shown as failed: no "Loading the pair…" left, and the previous answer is not passed off as this one's.
        const column = view.locator(".column");
        assert.equal(await column.count(), 1);
        assert.equal(await column.locator(".status").getAttribute("data-state"), "failed");
        assert.equal(await column.locator(".placeholder").isVisible(), false, `the column still says: ${await column.locator(".placeholder").textContent()}`);
        assert.equal(await column.locator(".tok").count(), 0, "the previous answer is shown as if it were the failed run's");
        assert.equal(await view.locator('.run-info [data-field="pair"] .fact-value').textContent(), "missing.gguf");
        await page.screenshot({ path: artifact("error-note.png") });
        console.log(`# e2e error note: ${JSON.stringify(said)}`);
      });
    });
  });
});

test("each button of a model-file error runs its command: Select Model Pair, Open Settings (aad.models) and Show Log", { skip, timeout: 300_000 }, async () => {
  const r = run!;
  await uiStep(r, "error-actions", async (page) => {
    await timed("UI: a model-file error's buttons", async () => {
      const quickInput = page.locator(".quick-input-widget");
      const effects: Record<string, () => Promise<void>> = {
        // The pair picker of aad.selectModelPair.
        "Select Model Pair": async () => {
          await quickInput.locator(".quick-input-list .monaco-list-row", { hasText: "SFT model + DPO model" }).first().waitFor({ state: "visible", timeout: 30_000 });
          assert.match((await quickInput.locator(".quick-input-title").textContent()) ?? "", /AAD: Select Model Pair/);
          await page.keyboard.press("Escape");
        },
        // The Settings editor, searched for aad.models.
        "Open Settings": async () => {
          const settings = page.locator(".settings-editor");
          await settings.locator(".setting-item-contents", { hasText: "Models: Sft" }).first().waitFor({ state: "visible", timeout: 30_000 });
          const titles = await settings.locator(".setting-item-contents .setting-item-title").allTextContents();
          // All four model paths, on the tab that can show them (a remote window's User tab cannot: they are machine-scoped).
          for (const setting of ["Models: Sft", "Models: Dpo", "Models: Dpo Lora", "Models: Reference"]) {
            assert.ok(titles.some((title) => title.endsWith(setting)), `the Settings editor lists ${JSON.stringify(titles)}, not ${setting}`);
          }
          await runCommand(page, "View: Close All Editors");
        },
        // The AAD output channel, which logged the error.
        "Show Log": async () => {
          const output = page.locator(".part.panel", { hasText: "missing.gguf" });
          await output.waitFor({ state: "visible", timeout: 30_000 });
        },
      };
      await withMissingModelFile(r, page, async (missing) => {
        for (const [button, effect] of Object.entries(effects)) {
          const toast = await failedGenerate(page, missing);
          const buttons = await toast.locator(".monaco-button").allTextContents();
          assert.deepEqual(buttons, ["Select Model Pair", "Open Settings", "Show Log"]);
          await toast.hover();
          await toast.locator(".monaco-button", { hasText: button }).click();
          await effect();
          console.log(`# e2e error action: ${button} did its work`);
        }
      });
      await page.screenshot({ path: artifact("error-actions.png") });
    });
  });
  await r.page?.close();
  r.page = undefined;
});

type HostOutcome = { name: string; ok: boolean; ms: number; error?: string };

/**
 * Bundles a host module (host/*.ts) and runs it through VS Code's extensionTestsPath in the
 * code-server of `r`; returns its outcomes (each case's name, ok, error).
 */
async function runHostModule(r: Run, entry: string): Promise<{ exitCode: number; outcomes: HostOutcome[]; lines: string[] }> {
  const hostDir = join(r.dir, `host-${entry.replace(/\W/g, "-")}`);
  await timed(`host: bundle ${entry}`, async () => {
    mkdirSync(hostDir, { recursive: true });
    writeFileSync(join(hostDir, "package.json"), JSON.stringify({ type: "commonjs" }));
    await build({ entryPoints: [join(here, "host", entry)], outfile: join(hostDir, "index.js"), bundle: true, platform: "node", format: "cjs", target: "node20", external: ["vscode"], logLevel: "warning" });
  });
  const page = await r.browser!.newPage();
  const lines: string[] = [];
  try {
    let resolveExit: (code: number) => void = () => undefined;
    const exited = new Promise<number>((resolvePromise) => (resolveExit = resolvePromise));
    await page.exposeFunction("codeAutomationExit", (code: number) => resolveExit(code));
    await page.exposeFunction("codeAutomationLog", (type: string, args: unknown[]) => lines.push(`${type}: ${args.map(String).join(" ")}`));
    page.on("console", (message) => lines.push(`console.${message.type()}: ${message.text()}`));
    const remote = (path: string): string => `vscode-remote://127.0.0.1:${r.port}${path}`;
    await page.goto(
      workbenchUrl(r, [
        ["extensionDevelopmentPath", remote(r.extensionDir!)],
        ["extensionTestsPath", remote(join(hostDir, "index.js"))],
      ]),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<number>((_, reject) => (timer = setTimeout(() => reject(new Error(`${entry} did not exit within 240 s:\n${lines.slice(-40).join("\n")}`)), 240_000)));
    // The timer is cleared either way: a pending one would hold the test process open.
    const exitCode = await timed(`host: run ${entry}`, () => Promise.race([exited, timeout]).finally(() => clearTimeout(timer)));
    const outcomes = existsSync(r.hostResults) ? (JSON.parse(readFileSync(r.hostResults, "utf8")) as HostOutcome[]) : [];
    for (const outcome of outcomes) console.log(`# host ${outcome.ok ? "ok" : "FAILED"} - ${outcome.name} (${outcome.ms} ms)${outcome.error === undefined ? "" : `\n${outcome.error}`}`);
    return { exitCode, outcomes, lines };
  } finally {
    await page.close();
  }
}

/** A host module's run passed: it wrote outcomes, none failed, and it exited 0. */
function assertHostPassed(what: string, { exitCode, outcomes, lines }: { exitCode: number; outcomes: HostOutcome[]; lines: string[] }): void {
  const failures = outcomes.filter((outcome) => !outcome.ok);
  assert.ok(outcomes.length > 0, `${what} wrote no results (exit code ${exitCode}):\n${lines.slice(-40).join("\n")}`);
  assert.deepEqual(failures.map((f) => f.name), [], failures.map((f) => f.error).join("\n\n"));
  assert.equal(exitCode, 0, lines.slice(-40).join("\n"));
}

test("the extension-host suite passes against the installed extension and a real daemon", { skip, timeout: 300_000 }, async () => {
  const r = run!;
  try {
    assertHostPassed("the suite", await runHostModule(r, "suite.ts"));
  } catch (error) {
    console.log(`# e2e code-server log tail:\n${r.serverLog.slice(-30).join("\n")}`);
    throw error;
  }
});

test("in an untrusted workspace (code-server with workspace trust on) no model path from the workspace's settings is loaded", { skip, timeout: 300_000 }, async () => {
  const main = run!;
  const t = await prepareRun(join(main.dir, "t"), {
    extensions: main.extensions,
    userSettings: { "security.workspace.trust.enabled": true, "security.workspace.trust.startupPrompt": "never", "workbench.startupEditor": "none", "extensions.autoUpdate": false, "extensions.autoCheckUpdates": false, "telemetry.telemetryLevel": "off", "update.mode": "none" },
  });
  t.extensionDir = main.extensionDir!;
  if (main.browser !== undefined) t.browser = main.browser;
  for (const folder of [join(t.workspace, ".vscode"), join(t.workspace, "models")]) mkdirSync(folder, { recursive: true, mode: 0o700 });
  // Real model files inside the workspace, named by its settings: loading them would work, so only the trust rule keeps them out.
  const workspaceModels = { sft: join(t.workspace, "models", "ws-sft.gguf"), dpo: join(t.workspace, "models", "ws-dpo.gguf") };
  copyFileSync(join(root, "models", "sft.gguf"), workspaceModels.sft);
  copyFileSync(join(root, "models", "dpo.gguf"), workspaceModels.dpo);
  writeFileSync(join(t.workspace, ".vscode", "settings.json"), JSON.stringify({ "aad.models.sft": workspaceModels.sft, "aad.models.dpo": workspaceModels.dpo, "aad.daemon.connection": "private" }, null, 2));
  try {
    await timed("trust: start code-server with workspace trust on", () => startCodeServer(t, { trust: true }));
    assertHostPassed("the restricted-mode suite", await timed("trust: run the restricted-mode suite", () => runHostModule(t, "trust.ts")));
  } catch (error) {
    console.log(`# e2e trust code-server log tail:\n${t.serverLog.slice(-30).join("\n")}`);
    throw error;
  } finally {
    await stopCodeServer(t);
    await stopDaemon(t.socket);
  }
});
