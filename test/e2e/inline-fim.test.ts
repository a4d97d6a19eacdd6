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
 * the machine settings). Outside CI a missing prerequisite skips it; under CI it fails (test/ci.ts).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from "vscode-jsonrpc/node";
import type { StatusResult } from "../../server/src/protocol/protocol.ts";
import { fixturePaths, readFixture } from "../../server/src/forge/fixtures.ts";
import { prerequisite } from "../ci.ts";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const codeServerEntry = join(here, "vscode", "node_modules", "code-server", "out", "node", "entry.js");
const setupStamp = join(here, "vscode", "node_modules", ".aad-setup-stamp");
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const EXTENSION_ID = "aad-tools.aad";

const SOURCE = ["def mean(xs):", "    total = 0", "    for x in xs:", "        total += x", "    return total / len(xs)", "", "", "print(mean([1, 2, 3]))", ""].join("\n");

function missingPrerequisites(): string[] {
  const missing: string[] = [];
  if (!existsSync(chromiumPath)) missing.push(`Chromium at ${chromiumPath} (apt-get install -y chromium)`);
  if (!existsSync(codeServerEntry) || !existsSync(setupStamp)) missing.push("code-server 4.100.3 (node test/e2e/setup.mjs)");
  if (readFixture("qwen3") === undefined) missing.push("the qwen3 fixture (npm run forge -- --fixtures)");
  for (const built of ["dist/client/extension.cjs", "dist/server/aad.js"]) if (!existsSync(join(root, built))) missing.push(`${built} (npm run build)`);
  return missing;
}

const missing = missingPrerequisites();
const skip = prerequisite("the FIM e2e test's prerequisites", missing.length > 0 ? `missing prerequisites: ${missing.join("; ")}` : undefined);

interface Run {
  readonly dir: string;
  readonly port: number;
  readonly socket: string;
  server?: ChildProcess;
  browser?: Browser;
  readonly log: string[];
}
let run: Run | undefined;

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolvePort(address.port) : reject(new Error("no port"))));
    });
  });
}

/** aad/status from the daemon the extension started on this run's socket. */
async function daemonStatus(socketPath: string): Promise<StatusResult> {
  const socket = connect(socketPath);
  await new Promise<void>((ok, fail) => {
    socket.once("connect", ok);
    socket.once("error", fail);
  });
  const connection = createMessageConnection(new StreamMessageReader(socket), new StreamMessageWriter(socket));
  connection.listen();
  try {
    return await connection.sendRequest<StatusResult>("aad/status");
  } finally {
    connection.dispose();
    socket.destroy();
  }
}

before(async () => {
  if (skip !== false) return;
  const dir = mkdtempSync(join(tmpdir(), "aad-fim-"));
  const r: Run = { dir, port: await freePort(), socket: join(dir, "d", "aad.sock"), log: [] };
  run = r;
  const [userData, extensions, workspace] = [join(dir, "ud"), join(dir, "ext"), join(dir, "ws")];
  for (const folder of [join(userData, "User"), join(userData, "Machine"), extensions, workspace, join(dir, "xdg")]) mkdirSync(folder, { recursive: true, mode: 0o700 });
  const qwen = fixturePaths("qwen3");
  // Machine-scoped settings of a remote window come from the machine's settings file.
  writeFileSync(join(userData, "Machine", "settings.json"), JSON.stringify({ "aad.daemon.socketPath": r.socket, "aad.models.sft": resolve(root, qwen.sft), "aad.models.dpo": resolve(root, qwen.dpo) }, null, 2));
  writeFileSync(
    join(userData, "User", "settings.json"),
    JSON.stringify({
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
    }),
  );
  writeFileSync(join(workspace, "stats.py"), SOURCE);

  const vsix = join(dir, "aad.vsix");
  const packaged = spawnSync(process.execPath, [join(root, "node_modules", "@vscode", "vsce", "vsce"), "package", "--target", "linux-x64", "--no-rewrite-relative-links", "--skip-license", "--out", vsix], { cwd: root, encoding: "utf8" });
  assert.equal(packaged.status, 0, `vsce package failed:\n${packaged.stdout}\n${packaged.stderr}`);
  const env = { ...process.env, XDG_CONFIG_HOME: join(dir, "cfg"), XDG_DATA_HOME: join(dir, "data"), XDG_RUNTIME_DIR: join(dir, "xdg") };
  const dirs = ["--user-data-dir", userData, "--extensions-dir", extensions];
  const installed = spawnSync(process.execPath, [codeServerEntry, ...dirs, "--install-extension", vsix], { env, encoding: "utf8" });
  assert.equal(installed.status, 0, `--install-extension failed:\n${installed.stdout}\n${installed.stderr}`);
  assert.ok(readdirSync(extensions).some((name) => name.startsWith(`${EXTENSION_ID}-`)));

  const server = spawn(process.execPath, [codeServerEntry, "--auth", "none", "--bind-addr", `127.0.0.1:${r.port}`, ...dirs, "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust", "--disable-getting-started-override", workspace], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  r.server = server;
  const keep = (chunk: Buffer): void => {
    r.log.push(chunk.toString("utf8"));
    r.log.splice(0, Math.max(0, r.log.length - 200));
  };
  server.stdout.on("data", keep);
  server.stderr.on("data", keep);
  await waitFor("code-server /healthz", 60_000, async () => {
    if (server.exitCode !== null) throw new Error(`code-server exited with ${server.exitCode}:\n${r.log.join("")}`);
    try {
      return (await fetch(`http://127.0.0.1:${r.port}/healthz`)).ok ? true : undefined;
    } catch {
      return undefined;
    }
  });
  const home = join(dir, "browser-home");
  mkdirSync(home, { recursive: true });
  r.browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, ".config") },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
});

after(async () => {
  const r = run;
  if (r === undefined) return;
  await r.browser?.close();
  if (existsSync(r.socket)) {
    try {
      const { pid } = await daemonStatus(r.socket);
      process.kill(pid, "SIGTERM");
      await waitFor(`daemon ${pid} to exit`, 10_000, () => (existsSync(`/proc/${pid}`) ? undefined : true));
    } catch {
      // No daemon answered: nothing to end.
    }
  }
  const server = r.server;
  if (server?.pid !== undefined && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise<boolean>((ok) => server.once("exit", () => ok(true)));
    process.kill(-server.pid, "SIGTERM");
    const stopped = await Promise.race([exited, new Promise<boolean>((ok) => setTimeout(() => ok(false), 5000).unref())]);
    if (!stopped) process.kill(-server.pid, "SIGKILL");
  }
  if (process.env.AAD_E2E_KEEP !== "1") rmSync(r.dir, { recursive: true, force: true });
});

test("typing in the middle of a function on a FIM pair gives ghost text from a <|fim_prefix|>…<|fim_suffix|>…<|fim_middle|> prompt", { skip, timeout: 400_000 }, async () => {
  const r = run!;
  const page: Page = await r.browser!.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(`http://127.0.0.1:${r.port}/?folder=${encodeURIComponent(join(r.dir, "ws"))}`);
  await page.locator(".monaco-workbench").waitFor({ timeout: 120_000 });
  await page.keyboard.press("Control+P");
  await page.locator(".quick-input-widget .quick-input-box input").fill("stats.py");
  await page.locator(".quick-input-widget .quick-input-list .monaco-list-row", { hasText: "stats.py" }).first().waitFor({ timeout: 60_000 });
  await page.keyboard.press("Enter");
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
  mkdirSync(join(root, "test-artifacts", "e2e"), { recursive: true });
  await page.screenshot({ path: join(root, "test-artifacts", "e2e", "inline-fim.png") });

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
