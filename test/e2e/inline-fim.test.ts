/**
 * Fill-in-the-middle inline completion in a real VS Code (code-server 4.100.3, Debian's Chromium
 * through playwright-core; test/e2e/README.md), on a pair with FIM tokens: the Qwen3 fixture
 * (Qwen's real tokenizer, random weights; .cache/fixtures/qwen3). A Python function is typed into
 * in its middle; ghost text must appear, and the prompt the daemon's models evaluated for it must
 * be `<|fim_prefix|>` prefix `<|fim_suffix|>` suffix `<|fim_middle|>` with the code after the
 * cursor in the suffix — read from the daemon itself (aad/status `inline.last`) on the socket the
 * extension uses. The fixture's text is meaningless, so the check is structural.
 *
 * Separate from vscode.test.ts (its own code-server, workspace and settings: the pair is set in
 * the machine settings); both use the harness in code-server.ts. Outside CI a missing prerequisite skips it; under CI it fails (test/ci.ts).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Page } from "playwright-core";
import { fixturePaths, readFixture } from "../../server/src/forge/fixtures.ts";
import { prerequisite } from "../ci.ts";
import {
  artifact,
  daemonStatus,
  installExtension,
  launchBrowser,
  missingHarness,
  openWorkbench,
  packageExtension,
  prepareCodeServer,
  quickOpen,
  root,
  startCodeServer,
  stopCodeServer,
  stopDaemon,
  waitFor,
  type CodeServer,
} from "./code-server.ts";

const SOURCE = ["def mean(xs):", "    total = 0", "    for x in xs:", "        total += x", "    return total / len(xs)", "", "", "print(mean([1, 2, 3]))", ""].join("\n");

function missingPrerequisites(): string[] {
  const missing = missingHarness();
  if (readFixture("qwen3") === undefined) missing.push("the qwen3 fixture (npm run forge -- --fixtures)");
  for (const built of ["dist/client/extension.cjs", "dist/server/aad.js"]) if (!existsSync(join(root, built))) missing.push(`${built} (npm run build)`);
  return missing;
}

const missing = missingPrerequisites();
const skip = prerequisite("the FIM e2e test's prerequisites", missing.length > 0 ? `missing prerequisites: ${missing.join("; ")}` : undefined);

let run: CodeServer | undefined;

before(async () => {
  if (skip !== false) return;
  const dir = mkdtempSync(join(tmpdir(), "aad-fim-"));
  const qwen = fixturePaths("qwen3");
  const r = (run = await prepareCodeServer({
    dir,
    machineSettings: { "aad.models.sft": resolve(root, qwen.sft), "aad.models.dpo": resolve(root, qwen.dpo) },
    userSettings: {
      "aad.inline.enabled": true,
      "aad.inline.debounceMs": 50,
      "aad.inline.languages": ["python"],
      "editor.inlineSuggest.enabled": true,
      "security.workspace.trust.enabled": false,
      "workbench.startupEditor": "none",
      "extensions.autoUpdate": false,
      "extensions.autoCheckUpdates": false,
      "telemetry.telemetryLevel": "off",
      "update.mode": "none",
    },
  }));
  writeFileSync(join(r.workspace, "stats.py"), SOURCE);
  const vsix = join(dir, "aad.vsix");
  packageExtension(vsix);
  installExtension(r, vsix);
  await startCodeServer(r);
  await launchBrowser(r);
});

after(async () => {
  const r = run;
  if (r === undefined) return;
  await r.browser?.close();
  await stopDaemon(r.socket, 10_000);
  await stopCodeServer(r);
  if (process.env.AAD_E2E_KEEP !== "1") rmSync(r.dir, { recursive: true, force: true });
});

test("typing in the middle of a function on a FIM pair gives ghost text from a <|fim_prefix|>…<|fim_suffix|>…<|fim_middle|> prompt", { skip, timeout: 400_000 }, async () => {
  const r = run!;
  const page: Page = await r.browser!.newPage({ viewport: { width: 1400, height: 900 } });
  await openWorkbench(page, r, 120_000);
  await quickOpen(page, "stats.py", 60_000);
  const editor = page.locator(".monaco-editor .view-lines").first();
  await editor.waitFor();
  await editor.click();
  // The end of "        total += x" (line 4): inside the loop, the return and the call after the cursor.
  await page.keyboard.press("Control+G");
  await page.keyboard.type("4:27");
  await page.keyboard.press("Enter");
  await page.keyboard.press("End");
  await page.keyboard.press("Enter");
  // The new line keeps the loop body's indentation.
  await page.keyboard.type("count = ", { delay: 20 });
  const ghost = page.locator(".monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text");
  // The pair loads (a 151,936-token vocabulary) after the first keystrokes: pause and re-type until a suggestion shows.
  await waitFor("ghost text", 240_000, async () => {
    if ((await ghost.count()) > 0 && (await ghost.first().isVisible())) return true;
    await page.keyboard.press("Backspace");
    await page.keyboard.type(" ", { delay: 20 });
    await page.waitForTimeout(2000);
    return undefined;
  });
  const suggestion = (await ghost.first().textContent()) ?? "";
  await page.screenshot({ path: artifact("inline-fim.png") });

  const status = await daemonStatus(r.socket);
  assert.equal(status.pair?.fim, true, "the fixture's pair declares FIM tokens");
  assert.ok(status.inline !== null && status.inline.fim, JSON.stringify(status.inline));
  const last = status.inline.last;
  assert.ok(last !== null, "the daemon answered an inline completion");
  assert.equal(last.layout, "fim");
  assert.deepEqual(last.specialTokens.map((t) => t.text), ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]);
  // The code after the cursor is in the prompt: between <|fim_suffix|> and <|fim_middle|>.
  const [, suffixMarker, middleMarker] = last.specialTokens;
  assert.ok(last.suffixTokens > 10, `the suffix holds the rest of the function and the call after it: ${JSON.stringify(last)}`);
  assert.equal(middleMarker!.index - suffixMarker!.index - 1, last.suffixTokens);
  assert.equal(middleMarker!.index, last.promptTokens - 1);
  console.log(`# e2e FIM ghost text ${JSON.stringify(suggestion)}; prompt ${last.promptTokens} tokens (prefix ${last.prefixTokens}, suffix ${last.suffixTokens}), evaluated ${JSON.stringify(last.evaluatedPromptTokens)}`);
  await page.close();
});
