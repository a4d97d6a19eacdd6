/**
 * Extension-host tests for restricted mode: run by vscode.test.ts in a code-server started with
 * workspace trust on, in a folder nobody trusted, whose .vscode/settings.json names model files
 * inside the workspace. The extension must ignore those (the user's settings still apply) and
 * load only the pair the user's settings name: here none, so the built-in pair.
 *
 * Same contract as suite.ts: VS Code calls `run()`; outcomes go to $AAD_E2E_HOST_RESULTS.
 */
import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import * as vscode from "vscode";
import type { GenerateResult, StatusResult } from "../../../server/src/protocol/protocol.ts";

const EXTENSION_ID = "aad-tools.aad";
const PROMPT = "Beginner here. How do I reverse a list in Python?";

const cases: { name: string; run: () => Promise<void> }[] = [];
function test(name: string, run: () => Promise<void>): void {
  cases.push({ name, run });
}

async function status(): Promise<StatusResult> {
  const result = await vscode.commands.executeCommand<StatusResult | undefined>("aad.showStatus", { quiet: true });
  assert.ok(result, "aad.showStatus returned nothing");
  return result;
}

test("the workspace is not trusted, and its settings name model files inside it", async () => {
  assert.equal(vscode.workspace.isTrusted, false, "code-server trusted the workspace: the test proves nothing");
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  assert.ok(folder, "no workspace folder");
  const settings = await vscode.workspace.openTextDocument(vscode.Uri.file(`${folder}/.vscode/settings.json`));
  assert.match(settings.getText(), /aad\.models\.sft/);
  await vscode.extensions.getExtension(EXTENSION_ID)?.activate();
});

test("Generate in restricted mode loads the user's pair (the built-in one), not the workspace's model files", async () => {
  const result = await vscode.commands.executeCommand<GenerateResult | undefined>("aad.generate", { prompt: PROMPT, maxTokens: 4 });
  assert.ok(result && result.tokens.length > 0, "Generate produced nothing in restricted mode (see the AAD output channel)");
  const held = (await status()).pair;
  assert.ok(held !== null, "the daemon holds no pair");
  const folder = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
  for (const file of [held.sft.path, held.dpo.path]) assert.ok(!file.startsWith(folder), `a model file from the workspace's settings was loaded: ${file}`);
  assert.match(held.sft.path, /models[\\/]sft\.gguf$/);
});

test("the user's machine settings still apply in restricted mode (the daemon's socket)", async () => {
  assert.equal((await status()).socketPath, process.env.AAD_E2E_SOCKET);
});

export async function run(): Promise<void> {
  const outcomes: { name: string; ok: boolean; ms: number; error?: string }[] = [];
  for (const { name, run: body } of cases) {
    const started = Date.now();
    try {
      await body();
      outcomes.push({ name, ok: true, ms: Date.now() - started });
    } catch (error) {
      outcomes.push({ name, ok: false, ms: Date.now() - started, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  }
  const resultsFile = process.env.AAD_E2E_HOST_RESULTS;
  if (resultsFile !== undefined && resultsFile !== "") writeFileSync(resultsFile, JSON.stringify(outcomes, null, 2));
  const failed = outcomes.filter((outcome) => !outcome.ok).length;
  if (failed > 0) throw new Error(`${failed} of ${outcomes.length} restricted-mode tests failed`);
}
