/**
 * Extension-host tests: run inside a real VS Code (code-server) by its extensionTestsPath hook,
 * with the full `vscode` API, against the installed extension and a real daemon on the built-in
 * pair. vscode.test.ts bundles this file (CommonJS, `vscode` external) and starts it.
 *
 * VS Code calls `run()` and exits with 0 when it resolves, 1 when it rejects. Each test's outcome
 * is also written as JSON to $AAD_E2E_HOST_RESULTS, which the outer test reads.
 */
import { strict as assert } from "node:assert";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as vscode from "vscode";
import type { CompareResult, GenerateResult, PairInfo, PairsResult, ScoreResult, StatusResult } from "../../../server/src/protocol/protocol.ts";

const EXTENSION_ID = "aad-tools.aad";
const PROMPT = "Beginner here. How do I reverse a list in Python?";
const COMMANDS = [
  "aad.generate",
  "aad.compare",
  "aad.explainSelection",
  "aad.selectModelPair",
  "aad.generatePreferencePairs",
  "aad.showStatus",
  "aad.restartDaemon",
  "aad.toggleInlineCompletions",
  "aad.showAdvantageView",
];

interface Outcome {
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly error?: string;
}

const cases: { name: string; run: () => Promise<void> }[] = [];
function test(name: string, run: () => Promise<void>): void {
  cases.push({ name, run });
}

async function command<T>(id: string, ...args: unknown[]): Promise<T> {
  return vscode.commands.executeCommand<T>(id, ...args);
}

async function status(): Promise<StatusResult> {
  const result = await command<StatusResult | undefined>("aad.showStatus", { quiet: true });
  assert.ok(result, "aad.showStatus returned nothing");
  return result;
}

async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last === undefined ? "" : ` (last error: ${last})`}`);
}

function extensionPath(): string {
  const extension = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not installed`);
  return extension.extensionPath;
}

test("the extension activates and registers every command", async () => {
  await vscode.extensions.getExtension(EXTENSION_ID)?.activate();
  const registered = new Set(await vscode.commands.getCommands(true));
  for (const id of COMMANDS) assert.ok(registered.has(id), `${id} is not registered`);
});

test("the built-in pair ships in the extension folder", () => {
  for (const file of ["sft.gguf", "dpo.gguf"]) assert.ok(existsSync(join(extensionPath(), "models", file)), `models/${file} is missing`);
  assert.ok(existsSync(join(extensionPath(), "dist", "server", "aad.js")), "the bundled daemon is missing");
  return Promise.resolve();
});

test("Show Daemon Status reaches a daemon on the shared socket", async () => {
  const result = await status();
  assert.equal(result.protocolVersion, 1);
  assert.equal(result.transport, "socket");
  assert.equal(result.socketPath, process.env.AAD_E2E_SOCKET);
  assert.ok(result.pid > 0);
});

test("Generate streams a response from the built-in pair", async () => {
  const result = await command<GenerateResult | undefined>("aad.generate", { prompt: PROMPT, maxTokens: 12 });
  assert.ok(result, "aad.generate returned nothing (see the AAD output channel)");
  assert.equal(result.method, "aad");
  assert.ok(result.tokens.length > 0, "no tokens");
  assert.equal(result.stats.tokens, result.tokens.length);
  assert.equal(result.text, result.tokens.map((token) => token.piece).join(""));
  assert.ok(result.tokens.some((token) => token.advantage !== null), "no token has an advantage");
  const after = await status();
  assert.ok(after.pair !== null, "the daemon holds no pair after generating");
  assert.match(after.pair.sft.path, /models[\\/]sft\.gguf$/);
});

test("Generate with another method returns that method's response", async () => {
  const result = await command<GenerateResult | undefined>("aad.generate", { prompt: PROMPT, method: "greedy-dpo", maxTokens: 8 });
  assert.ok(result);
  assert.equal(result.method, "greedy-dpo");
  assert.ok(result.tokens.every((token) => token.dpoRank === 1), "greedy-dpo picked a token that is not the DPO argmax");
});

test("Compare Decoders returns one response per method", async () => {
  const result = await command<CompareResult | undefined>("aad.compare", { prompt: PROMPT, methods: ["aad", "greedy-dpo", "greedy-sft"], maxTokens: 8 });
  assert.ok(result);
  assert.deepEqual(
    result.results.map((entry) => entry.method),
    ["aad", "greedy-dpo", "greedy-sft"],
  );
  for (const entry of result.results) assert.ok(entry.result !== undefined && entry.result.tokens.length > 0, `${entry.method} gave no tokens`);
});

test("Explain Selection scores the selected text token by token", async () => {
  const response = "Use reversed(items) or items[::-1].";
  const document = await vscode.workspace.openTextDocument({ language: "markdown", content: `${response}\n` });
  const editor = await vscode.window.showTextDocument(document);
  editor.selection = new vscode.Selection(0, 0, 0, response.length);
  const result = await command<ScoreResult | undefined>("aad.explainSelection", { prompt: PROMPT });
  assert.ok(result);
  // Exactly the selection: no word-start space that was not selected.
  assert.equal(result.text, response);
  assert.equal(result.tokens.map((token) => token.piece).join(""), response);
  assert.ok(result.tokens.length > 1);
  assert.ok(result.tokens.every((token) => token.logprobDpo !== null && token.logprobSft !== null), "teacher-forced tokens lack log-probabilities");
  await vscode.commands.executeCommand("workbench.action.closeActiveEditor");
});

test("AAD: Show Advantage View opens the view again after it was closed", async () => {
  const viewTabs = (): vscode.Tab[] =>
    vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => tab.input instanceof vscode.TabInputWebview && tab.input.viewType.endsWith("aad.advantageView"));
  await vscode.commands.executeCommand("workbench.action.closeAllEditors");
  await eventually("the view to close", 10_000, () => Promise.resolve(viewTabs().length === 0 ? true : undefined));
  assert.equal(await command<boolean>("aad.showAdvantageView"), true);
  await eventually("the view to open", 10_000, () => Promise.resolve(viewTabs().length === 1 ? true : undefined));
  assert.equal(viewTabs()[0]!.label, "AAD Advantage");
});

test("Select Model Pair validates a pair through the daemon", async () => {
  const models = join(extensionPath(), "models");
  const info = await command<PairInfo | undefined>("aad.selectModelPair", { sft: join(models, "sft.gguf"), dpo: join(models, "dpo.gguf") });
  assert.ok(info, "a valid pair was refused");
  assert.ok(info.vocabularySize > 0);
  const settings = vscode.workspace.getConfiguration("aad");
  assert.equal(settings.get("models.sft"), join(models, "sft.gguf"));
  const refused = await command<PairInfo | undefined>("aad.selectModelPair", { sft: join(models, "sft.gguf"), dpo: join(models, "missing.gguf") });
  assert.equal(refused, undefined, "a missing file was accepted");
  assert.equal(settings.get("models.dpo"), join(models, "dpo.gguf"), "a refused pair replaced the settings");
  // Back to the built-in pair (no settings), as a user without a pair of their own has it.
  await settings.update("models.sft", undefined, vscode.ConfigurationTarget.Global);
  await settings.update("models.dpo", undefined, vscode.ConfigurationTarget.Global);
});

test("Toggle Inline Completions flips the setting", async () => {
  const before = vscode.workspace.getConfiguration("aad").get<boolean>("inline.enabled");
  const after = await command<boolean>("aad.toggleInlineCompletions");
  assert.equal(after, !before);
  assert.equal(vscode.workspace.getConfiguration("aad").get<boolean>("inline.enabled"), after);
  assert.equal(await command<boolean>("aad.toggleInlineCompletions"), before);
});

test("Generate Preference Pairs writes TRL rows through the daemon, opens the file, and resumes it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aad-host-pairs-"));
  const promptsFile = join(dir, "prompts.jsonl");
  const questions = [PROMPT, "How do I read a file line by line in Python?", "What is the difference between a list and a tuple?", "How do I sort a dictionary by value?"];
  writeFileSync(promptsFile, questions.map((prompt) => JSON.stringify({ prompt })).join("\n") + "\n");
  const out = join(dir, "prompts.pairs.jsonl");
  const args = { promptsFile, out, limit: 3, maxTokens: 16 };
  const result = await command<PairsResult | undefined>("aad.generatePreferencePairs", args);
  assert.ok(result, "aad.generatePreferencePairs returned nothing (see the AAD output channel)");
  assert.equal(result.out, out);
  assert.deepEqual([result.done, result.total, result.cancelled, result.resumedRows], [3, 3, false, 0]);
  assert.equal(result.written + result.skippedEqual, 3);
  assert.ok(result.rows > 0, "every pair was skipped: nothing to open");
  const rows = readFileSync(out, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as { prompt: unknown; chosen: unknown; rejected: unknown; meta: { index: number; maxTokens: number } });
  assert.equal(rows.length, result.rows);
  for (const row of rows) {
    assert.equal(row.prompt, questions[row.meta.index]);
    assert.ok(typeof row.chosen === "string" && typeof row.rejected === "string" && row.chosen !== row.rejected);
    assert.equal(row.meta.maxTokens, 16);
  }
  const editor = vscode.window.activeTextEditor;
  assert.equal(editor?.document.uri.fsPath, out, "the pairs file was not opened");
  assert.equal(editor.document.lineCount, rows.length + 1);
  await vscode.commands.executeCommand("workbench.action.closeActiveEditor");
  // The same command again resumes the finished file: nothing written, nothing duplicated.
  const again = await command<PairsResult | undefined>("aad.generatePreferencePairs", { ...args, open: false });
  assert.ok(again);
  assert.deepEqual([again.written, again.resumedRows, again.rows, again.cancelled], [0, result.rows, result.rows, false]);
  // A missing prompts file is refused (the error is shown), and the window carries on.
  assert.equal(await command("aad.generatePreferencePairs", { promptsFile: join(dir, "missing.jsonl"), out }), undefined);
});

interface StatusApi {
  readonly status: { readonly shown: { text: string; tooltip: string; phase: string } };
}

/** What the AAD status bar item shows, through the extension's exports. */
function statusBar(): { text: string; tooltip: string; phase: string } {
  const api = vscode.extensions.getExtension<StatusApi>(EXTENSION_ID)?.exports;
  assert.ok(api?.status !== undefined, "the extension exports no status API");
  return api.status.shown;
}

test("status bar: after Select Model Pair succeeds it reads ready, not loading", async () => {
  const models = join(extensionPath(), "models");
  const settings = vscode.workspace.getConfiguration("aad");
  try {
    const info = await command<PairInfo | undefined>("aad.selectModelPair", { sft: join(models, "sft.gguf"), dpo: join(models, "dpo.gguf") });
    assert.ok(info, "a valid pair was refused");
    const shown = statusBar();
    assert.equal(shown.phase, "ready", `the status bar shows: ${shown.text}`);
    assert.match(shown.text, /AAD: dpo\.gguf · ready/);
    // The backend is where the daemon runs the pair (aad.gpu is off here: the CPU); the daemon line is the connection.
    assert.match(shown.tooltip, /^backend: cpu$/m);
    assert.match(shown.tooltip, /^daemon: shared daemon on /m);
    assert.match(shown.tooltip, /α: 0\.1/);
  } finally {
    await settings.update("models.sft", undefined, vscode.ConfigurationTarget.Global);
    await settings.update("models.dpo", undefined, vscode.ConfigurationTarget.Global);
  }
  // Back on the built-in pair: the next command loads it, and the bar follows.
  assert.ok(await command<GenerateResult | undefined>("aad.generate", { prompt: PROMPT, maxTokens: 2 }));
  assert.match(statusBar().text, /AAD: built-in · ready/);
  // The generation's speed is the tooltip's last tokens/s.
  assert.match(statusBar().tooltip, /^last response: [\d.]+ tok\/s$/m);
});

test("status bar: a failure shows error, and the next success clears it", async () => {
  assert.ok(await command<GenerateResult | undefined>("aad.generate", { prompt: PROMPT, maxTokens: 2 }), "the first generation failed");
  // The daemon refuses maxTokens 0 (InvalidParams); the pair stays loaded.
  assert.equal(await command("aad.generate", { prompt: PROMPT, maxTokens: 0 }), undefined, "maxTokens 0 was accepted");
  assert.equal(statusBar().phase, "error", `after the failure the status bar shows: ${statusBar().text}`);
  assert.ok(await command<GenerateResult | undefined>("aad.generate", { prompt: PROMPT, maxTokens: 2 }), "the generation after the failure failed");
  const shown = statusBar();
  assert.equal(shown.phase, "ready", `after the success the status bar shows: ${shown.text}`);
});

test("status bar: a refused pair is the error's name, not the pair that works", async () => {
  const models = join(extensionPath(), "models");
  const refused = await command<PairInfo | undefined>("aad.selectModelPair", { sft: join(models, "sft.gguf"), dpo: join(models, "missing.gguf") });
  assert.equal(refused, undefined, "a missing file was accepted");
  const shown = statusBar();
  assert.equal(shown.phase, "error");
  assert.doesNotMatch(shown.text, /built-in/, `the error is shown against the working pair: ${shown.text}`);
  assert.match(shown.tooltip, /missing\.gguf/);
  assert.ok(await command<StatusResult | undefined>("aad.restartDaemon"), "Restart Daemon failed");
  assert.notEqual(statusBar().phase, "error", `a successful Restart Daemon left: ${statusBar().text}`);
});

async function setMachineSetting(key: string, value: unknown): Promise<void> {
  // Machine-scoped: in code-server (a remote window) Global writes the machine's settings.
  await vscode.workspace.getConfiguration("aad").update(key, value, vscode.ConfigurationTarget.Global);
}

test("a private daemon over stdio serves the window when asked for one", async () => {
  await setMachineSetting("daemon.connection", "private");
  try {
    const result = await eventually("a private daemon", 30_000, async () => {
      const current = await status();
      return current.transport === "stdio" ? current : undefined;
    });
    assert.equal(result.socketPath, null);
    const generated = await command<GenerateResult | undefined>("aad.generate", { prompt: PROMPT, maxTokens: 4 });
    assert.ok(generated && generated.tokens.length > 0, "the private daemon generated nothing");
  } finally {
    await setMachineSetting("daemon.connection", undefined);
  }
  await eventually("the shared daemon again", 30_000, async () => ((await status()).transport === "socket" ? true : undefined));
});

test("when the shared daemon cannot be started, a private one takes over", async () => {
  // A socket path under a file: no daemon can listen there.
  await setMachineSetting("daemon.socketPath", join(extensionPath(), "package.json", "aad.sock"));
  try {
    const result = await eventually("the fallback daemon", 30_000, async () => {
      const current = await status();
      return current.transport === "stdio" ? current : undefined;
    });
    assert.equal(result.transport, "stdio");
  } finally {
    await setMachineSetting("daemon.socketPath", process.env.AAD_E2E_SOCKET);
  }
  await eventually("the shared daemon again", 30_000, async () => ((await status()).socketPath === process.env.AAD_E2E_SOCKET ? true : undefined));
});

test("Restart Daemon replaces the daemon process", async () => {
  const before = await status();
  const restarted = await command<StatusResult | undefined>("aad.restartDaemon");
  assert.ok(restarted, "aad.restartDaemon returned nothing");
  assert.notEqual(restarted.pid, before.pid);
  const result = await command<GenerateResult | undefined>("aad.generate", { prompt: PROMPT, maxTokens: 4 });
  assert.ok(result && result.tokens.length > 0, "no generation after the restart");
});

test("a daemon that dies is restarted and the next command works", async () => {
  const before = await status();
  process.kill(before.pid, "SIGKILL");
  const after = await eventually("a new daemon", 30_000, async () => {
    const current = await status().catch(() => undefined);
    return current !== undefined && current.pid !== before.pid ? current : undefined;
  });
  assert.notEqual(after.pid, before.pid);
  const result = await command<GenerateResult | undefined>("aad.generate", { prompt: PROMPT, maxTokens: 4 });
  assert.ok(result && result.tokens.length > 0, "no generation after the daemon died");
});

export async function run(): Promise<void> {
  const outcomes: Outcome[] = [];
  // AAD_E2E_HOST_ONLY: run only the cases whose names contain it (a quicker loop while working on one).
  const only = process.env.AAD_E2E_HOST_ONLY;
  for (const { name, run: body } of cases) {
    if (only !== undefined && only !== "" && !name.includes(only)) continue;
    const started = Date.now();
    try {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        body(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("timed out after 120 s")), 120_000))),
      ]).finally(() => clearTimeout(timer));
      outcomes.push({ name, ok: true, ms: Date.now() - started });
      console.log(`ok - ${name} (${Date.now() - started} ms)`);
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      outcomes.push({ name, ok: false, ms: Date.now() - started, error: message });
      console.log(`not ok - ${name}\n${message}`);
    }
  }
  const resultsFile = process.env.AAD_E2E_HOST_RESULTS;
  if (resultsFile !== undefined && resultsFile !== "") writeFileSync(resultsFile, JSON.stringify(outcomes, null, 2));
  const failed = outcomes.filter((outcome) => !outcome.ok).length;
  if (failed > 0) throw new Error(`${failed} of ${outcomes.length} extension-host tests failed`);
}
