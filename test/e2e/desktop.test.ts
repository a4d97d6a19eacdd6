/**
 * The desktop runner (npm run test:desktop) where VS Code cannot be downloaded: one line that
 * says so, exit code 1, no hang. The update server is pointed at a name that never resolves
 * (.invalid, RFC 6761) and the version at one no cache holds, so this holds on any machine.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("without a reachable download the desktop runner says so in one line and exits 1", { timeout: 60_000 }, async () => {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "test", "e2e", "desktop.ts")], {
    cwd: root,
    env: { ...process.env, AAD_DESKTOP_UPDATE_URL: "https://update.aad-test.invalid", AAD_DESKTOP_VSCODE_VERSION: "0.0.0-not-cached" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const code = await new Promise<number | null>((resolveExit) => child.once("exit", resolveExit));
  assert.equal(code, 1);
  assert.equal(stdout, "");
  const lines = stderr.split("\n").filter((line) => line.trim() !== "");
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, /^test:desktop: cannot download VS Code 0\.0\.0-not-cached: https:\/\/update\.aad-test\.invalid is unreachable .*code-server runner/);
});
