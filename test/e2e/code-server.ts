/**
 * The e2e suites' shared harness: a code-server 4.100.3 of one's own (its own user data,
 * extensions, workspace, XDG folders and daemon socket, under one temporary folder), the
 * extension packaged with vsce and installed into it, Debian's Chromium driven by playwright-core,
 * the command palette and quick open, and the clean-up (code-server's process group, the daemon
 * on the run's socket, daemons left running). test/e2e/README.md says how it is set up; the
 * measured facts behind the flags are in its notes.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from "vscode-jsonrpc/node";
import type { StatusResult } from "../../server/src/protocol/protocol.ts";

export const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, "..", "..");
export const codeServerEntry = join(here, "vscode", "node_modules", "code-server", "out", "node", "entry.js");
const setupStamp = join(here, "vscode", "node_modules", ".aad-setup-stamp");
export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const EXTENSION_ID = "aad-tools.aad";

/** What the harness itself needs and this machine lacks (each suite adds its own models and builds). */
export function missingHarness(): string[] {
  const missing: string[] = [];
  if (!existsSync(chromiumPath)) missing.push(`Chromium at ${chromiumPath} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  if (!existsSync(codeServerEntry) || !existsSync(setupStamp)) missing.push("code-server 4.100.3 (node test/e2e/setup.mjs; needs apt-get install -y libkrb5-dev)");
  return missing;
}

/** Screenshots are kept in test-artifacts/e2e (git-ignored) for a person to look at. */
export function artifact(name: string): string {
  const artifacts = join(root, "test-artifacts", "e2e");
  mkdirSync(artifacts, { recursive: true });
  return join(artifacts, name);
}

/** Polls `probe` until it gives a value; the timeout only bounds a wait that went wrong. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolvePort(address.port) : reject(new Error("no port"))));
    });
  });
}

/** One code-server instance and everything it owns. */
export interface CodeServer {
  readonly dir: string;
  readonly userData: string;
  readonly extensions: string;
  readonly workspace: string;
  /** The daemon socket the extension is told to use (aad.daemon.socketPath, machine settings). */
  readonly socket: string;
  readonly port: number;
  /** Extra environment for code-server (and so for the extension host and the daemon it starts). */
  readonly env: Readonly<Record<string, string>>;
  server?: ChildProcess;
  /** code-server's last output lines, for a failure's report. */
  serverLog: string[];
  browser?: Browser;
}

export interface CodeServerOptions {
  /** The run's folder. A short path: Unix socket paths are limited to 107 bytes. */
  readonly dir: string;
  /** Another instance's extensions folder, to reuse an installed .vsix. Default: `dir`/ext. */
  readonly extensions?: string;
  /** Machine settings besides the socket path (model paths are machine-scoped). */
  readonly machineSettings?: Record<string, unknown>;
  readonly userSettings: Record<string, unknown>;
  readonly env?: Record<string, string>;
}

/**
 * Lays out an instance's folders and settings. code-server is a remote window: machine-scoped
 * settings come from the machine's settings file, so the daemon socket (and model paths) go there.
 */
export async function prepareCodeServer(options: CodeServerOptions): Promise<CodeServer> {
  const { dir } = options;
  const cs: CodeServer = {
    dir,
    userData: join(dir, "ud"),
    extensions: options.extensions ?? join(dir, "ext"),
    workspace: join(dir, "ws"),
    socket: join(dir, "d", "aad.sock"),
    port: await freePort(),
    env: options.env ?? {},
    serverLog: [],
  };
  for (const folder of [cs.extensions, cs.workspace, join(cs.userData, "User"), join(cs.userData, "Machine"), join(dir, "xdg")]) mkdirSync(folder, { recursive: true, mode: 0o700 });
  writeFileSync(join(cs.userData, "Machine", "settings.json"), JSON.stringify({ "aad.daemon.socketPath": cs.socket, ...options.machineSettings }, null, 2));
  writeFileSync(join(cs.userData, "User", "settings.json"), JSON.stringify(options.userSettings, null, 2));
  return cs;
}

function codeServerDirs(cs: CodeServer): string[] {
  return ["--user-data-dir", cs.userData, "--extensions-dir", cs.extensions];
}

export function codeServerEnv(cs: CodeServer): NodeJS.ProcessEnv {
  return {
    ...process.env,
    XDG_CONFIG_HOME: join(cs.dir, "cfg"),
    XDG_DATA_HOME: join(cs.dir, "data"),
    // The daemon's default socket then lies in this run's folder, never a user's.
    XDG_RUNTIME_DIR: join(cs.dir, "xdg"),
    // The host modules (host/*.ts) talk to the daemon on the same socket.
    AAD_E2E_SOCKET: cs.socket,
    ...cs.env,
  };
}

/** `npm run package`'s .vsix (linux-x64, the users' Details page), written to `vsix`. */
export function packageExtension(vsix: string): void {
  const result = spawnSync(
    process.execPath,
    [join(root, "node_modules", "@vscode", "vsce", "vsce"), "package", "--target", "linux-x64", "--readme-path", "docs/MARKETPLACE.md", "--no-rewrite-relative-links", "--skip-license", "--out", vsix],
    { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  if (result.status !== 0) throw new Error(`vsce package failed:\n${result.stdout}\n${result.stderr}`);
}

/** Installs `vsix` with code-server's --install-extension; returns the installed extension's folder. */
export function installExtension(cs: CodeServer, vsix: string): string {
  const result = spawnSync(process.execPath, [codeServerEntry, ...codeServerDirs(cs), "--install-extension", vsix], { env: codeServerEnv(cs), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (result.status !== 0) throw new Error(`code-server --install-extension failed:\n${result.stdout}\n${result.stderr}`);
  const installed = readdirSync(cs.extensions).find((name) => name.startsWith(`${EXTENSION_ID}-`));
  if (installed === undefined) throw new Error(`the extension is not in ${cs.extensions}: ${readdirSync(cs.extensions).join(", ")}`);
  return join(cs.extensions, installed);
}

/** Starts code-server on the instance's workspace and waits for /healthz. `trust`: workspace trust on (restricted mode for a folder nobody trusted), as a user's VS Code has it. */
export async function startCodeServer(cs: CodeServer, { trust = false }: { trust?: boolean } = {}): Promise<void> {
  const server = spawn(
    process.execPath,
    [codeServerEntry, "--auth", "none", "--bind-addr", `127.0.0.1:${cs.port}`, ...codeServerDirs(cs), "--disable-telemetry", "--disable-update-check", ...(trust ? [] : ["--disable-workspace-trust"]), "--disable-getting-started-override", cs.workspace],
    { env: codeServerEnv(cs), stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  cs.server = server;
  const keep = (chunk: Buffer): void => {
    cs.serverLog.push(...chunk.toString("utf8").split("\n").filter((line) => line.trim() !== ""));
    cs.serverLog.splice(0, Math.max(0, cs.serverLog.length - 400));
  };
  server.stdout.on("data", keep);
  server.stderr.on("data", keep);
  await waitFor("code-server /healthz", 60_000, async () => {
    if (server.exitCode !== null) throw new Error(`code-server exited with ${server.exitCode}:\n${cs.serverLog.slice(-20).join("\n")}`);
    try {
      const response = await fetch(`http://127.0.0.1:${cs.port}/healthz`);
      return response.ok ? true : undefined;
    } catch {
      return undefined;
    }
  });
}

/** Ends code-server's process group: SIGTERM, then SIGKILL if it is still there after 5 s. */
export async function stopCodeServer(cs: CodeServer): Promise<void> {
  const server = cs.server;
  if (server?.pid === undefined || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolveExit) => server.once("exit", resolveExit));
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(-server.pid!, name);
    } catch {
      // Already gone.
    }
  };
  signal("SIGTERM");
  const stopped = await Promise.race([exited.then(() => true), new Promise((r2) => setTimeout(() => r2(false), 5000).unref())]);
  if (!stopped) signal("SIGKILL");
  server.stdout?.destroy();
  server.stderr?.destroy();
}

/** Headless Chromium with a home of its own in the instance's folder. */
export async function launchBrowser(cs: CodeServer): Promise<Browser> {
  const home = join(cs.dir, "browser-home");
  mkdirSync(home, { recursive: true });
  cs.browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, ".config") },
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  return cs.browser;
}

/** The workbench URL of the instance's folder (`payload`: VS Code's extension-test parameters). */
export function workbenchUrl(cs: CodeServer, payload?: readonly (readonly [string, string])[]): string {
  const url = `http://127.0.0.1:${cs.port}/?folder=${encodeURIComponent(cs.workspace)}`;
  return payload === undefined ? url : `${url}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

/** Opens the instance's workspace in `page` and waits for the workbench. */
export async function openWorkbench(page: Page, cs: CodeServer, timeoutMs: number): Promise<void> {
  await page.goto(workbenchUrl(cs));
  await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: timeoutMs });
}

/** Runs a command from the palette. The palette snapshots commands when it opens: retry until ours is listed. */
export async function runCommand(page: Page, title: string): Promise<void> {
  const input = page.locator(".quick-input-widget .quick-input-box input");
  const row = page.locator(".quick-input-widget .quick-input-list .monaco-list-row", { hasText: title }).first();
  await waitFor(`the palette to list "${title}"`, 60_000, async () => {
    await page.keyboard.press("Escape");
    await page.keyboard.press("F1");
    await input.waitFor({ state: "visible", timeout: 5000 });
    await input.fill(`>${title}`);
    try {
      await row.waitFor({ state: "visible", timeout: 3000 });
      return true;
    } catch {
      return undefined;
    }
  });
  await page.keyboard.press("Enter");
}

/** Opens a workspace file by name through quick open (Ctrl+P). `timeoutMs`: for the file to be listed (Playwright's default otherwise). */
export async function quickOpen(page: Page, name: string, timeoutMs?: number): Promise<void> {
  await page.keyboard.press("Control+P");
  await page.locator(".quick-input-widget .quick-input-box input").fill(name);
  await page.locator(".quick-input-widget .quick-input-list .monaco-list-row", { hasText: name }).first().waitFor(timeoutMs === undefined ? {} : { timeout: timeoutMs });
  await page.keyboard.press("Enter");
}

/** aad/status from the daemon on `socketPath`; with `timeoutMs`, rejects when none answers within it. */
export async function daemonStatus(socketPath: string, timeoutMs?: number): Promise<StatusResult> {
  const socket = connect(socketPath);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const answer = (async (): Promise<StatusResult> => {
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
      }
    })();
    if (timeoutMs === undefined) return await answer;
    // Given up on: its later failure (the socket is destroyed below) is not an unhandled rejection.
    answer.catch(() => undefined);
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no aad/status answer on ${socketPath} within ${timeoutMs} ms`)), timeoutMs)));
    return await Promise.race([answer, timeout]);
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

/** The daemon on the instance's socket: ask the live one for its pid, then end it and wait up to `exitTimeoutMs` for it to go. */
export async function stopDaemon(socketPath: string, exitTimeoutMs = 5000): Promise<void> {
  if (!existsSync(socketPath)) return;
  let pid: number;
  try {
    ({ pid } = await daemonStatus(socketPath, 5000));
  } catch {
    return; // No daemon answered: nothing to end.
  }
  try {
    process.kill(pid, "SIGTERM");
    await waitFor(`daemon ${pid} to exit`, exitTimeoutMs, () => (existsSync(`/proc/${pid}`) ? undefined : true));
  } catch {
    // Gone already, or stopStrayDaemons gets it.
  }
}

/** Daemons of this run that are still alive (one the tests orphaned): found by the run's folder in their command line, ended by pid. */
export function stopStrayDaemons(runDir: string): void {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let commandLine: string;
    try {
      commandLine = readFileSync(join("/proc", entry, "cmdline"), "utf8");
    } catch {
      continue;
    }
    const args = commandLine.split("\0");
    if (args.some((arg) => arg.startsWith(`${runDir}/`) && arg.endsWith("aad.js")) && args.includes("serve")) {
      console.log(`# e2e: ending a daemon left running (pid ${entry})`);
      try {
        process.kill(Number(entry), "SIGTERM");
      } catch {
        // Gone meanwhile.
      }
    }
  }
}
