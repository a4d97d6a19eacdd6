/**
 * `npm run test:desktop`: the extension-host suite (host/suite.ts, the file the code-server
 * runner in vscode.test.ts loads) in a desktop VS Code, through @vscode/test-electron's
 * `runTests`: the ecosystem's convention for contributors whose machines can download VS Code.
 *
 * VS Code is downloaded first (cached in .cache/vscode-test). When it cannot be, because the
 * machine is offline or update.code.visualstudio.com is unreachable, this says so in one line and
 * exits 1 at once, instead of hanging on the download: CI runs the code-server runner instead.
 *
 * Environment: AAD_DESKTOP_VSCODE_VERSION (default 1.100.3, the VS Code of the code-server runner);
 * AAD_DESKTOP_UPDATE_URL (default https://update.code.visualstudio.com), the server asked first.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { downloadAndUnzipVSCode, runTests } from "@vscode/test-electron";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const version = process.env.AAD_DESKTOP_VSCODE_VERSION ?? "1.100.3";
const updateUrl = process.env.AAD_DESKTOP_UPDATE_URL ?? "https://update.code.visualstudio.com";
const cachePath = join(root, ".cache", "vscode-test");
/** How long the update server may take to answer at all. */
const REACH_TIMEOUT_MS = 10_000;

function fail(line: string): never {
  console.error(`test:desktop: ${line}`);
  process.exit(1);
}

/** A desktop VS Code: the cached one, else a download (after checking the server answers at all). */
async function vscodeExecutable(): Promise<string> {
  const cached = join(cachePath, `vscode-linux-x64-${version}`);
  if (!existsSync(cached)) {
    try {
      await fetch(`${updateUrl}/api/releases/stable`, { method: "HEAD", signal: AbortSignal.timeout(REACH_TIMEOUT_MS) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      fail(`cannot download VS Code ${version}: ${updateUrl} is unreachable (${cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error))}); run the code-server runner instead: node --import tsx --test test/e2e/vscode.test.ts`);
    }
  }
  try {
    return await downloadAndUnzipVSCode({ version, cachePath, timeout: REACH_TIMEOUT_MS, extensionDevelopmentPath: root });
  } catch (error) {
    fail(`cannot download VS Code ${version}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function main(): Promise<void> {
  const executable = await vscodeExecutable();
  const built = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { cwd: root, stdio: "inherit" });
  if (built.status !== 0) fail("npm run build failed");

  const dir = mkdtempSync(join(tmpdir(), "aad-desktop-"));
  const hostDir = join(dir, "host");
  const workspace = join(dir, "ws");
  const userData = join(dir, "ud");
  const socket = join(dir, "d", "aad.sock");
  for (const folder of [hostDir, workspace, join(userData, "User")]) mkdirSync(folder, { recursive: true });
  writeFileSync(join(hostDir, "package.json"), JSON.stringify({ type: "commonjs" }));
  await build({ entryPoints: [join(here, "host", "suite.ts")], outfile: join(hostDir, "index.js"), bundle: true, platform: "node", format: "cjs", target: "node20", external: ["vscode"], logLevel: "warning" });
  writeFileSync(join(userData, "User", "settings.json"), JSON.stringify({ "aad.daemon.socketPath": socket, "workbench.startupEditor": "none", "update.mode": "none", "telemetry.telemetryLevel": "off" }, null, 2));

  const exitCode = await runTests({
    vscodeExecutablePath: executable,
    extensionDevelopmentPath: root,
    extensionTestsPath: join(hostDir, "index.js"),
    launchArgs: [workspace, "--user-data-dir", userData, "--extensions-dir", join(dir, "ext"), "--disable-workspace-trust", "--disable-extensions"],
    extensionTestsEnv: { AAD_E2E_SOCKET: socket, AAD_E2E_HOST_RESULTS: join(dir, "host-results.json"), XDG_RUNTIME_DIR: join(dir, "xdg") },
  });
  process.exit(exitCode);
}

await main();
