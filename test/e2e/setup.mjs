// Installs the real VS Code the end-to-end tests drive: code-server, pinned in test/e2e/vscode,
// offline apart from the npm registry. Idempotent: a finished install is recorded by a stamp that
// holds the lockfile's hash, and a second run with the same lockfile does nothing.
//
// Why each environment variable (see shared notes on code-server):
// - npm_config_unsafe_perm: code-server's postinstall refuses to run as root without it.
// - npm_config_yes: node-pty's install runs npx, which would otherwise wait for a prompt.
// - TMPDIR + a pre-seeded ripgrep tarball: @vscode/ripgrep@1.15.11 downloads rg from GitHub
//   unless its cache under os.tmpdir() already holds the archive; the rg binary is taken from
//   the npm package @vscode/ripgrep-linux-x64 instead.
// - npm 11 runs dependency install scripts only when allowed. The package's allowScripts covers
//   code-server and argon2, but code-server's postinstall runs two nested `npm install`s
//   (lib/vscode, lib/vscode/extensions, both locked by npm-shrinkwrap.json) whose native modules
//   (node-pty, kerberos, spdlog, @parcel/watcher, ...) no file of ours can approve: npm refuses
//   `allow-scripts` from the environment in project installs, ignores an .npmrc `allow-scripts`
//   when package.json has allowScripts, and passes its config to the nested npm as environment.
//   So this one install runs with npm_config_dangerously_allow_all_scripts, over a locked tree.
//
// Usage: node test/e2e/setup.mjs [--check]   (--check: only report what is missing, exit 1 if anything)
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync, chmodSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";

const here = dirname(fileURLToPath(import.meta.url));
const vscodeDir = join(here, "vscode");
const tmpDir = join(here, ".cache", "tmp");
const stampPath = join(vscodeDir, "node_modules", ".aad-setup-stamp");
const RIPGREP_CACHE = "vscode-ripgrep-cache-1.15.11";
const RIPGREP_ARCHIVE = "ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz";
const RIPGREP_NPM = "@vscode/ripgrep-linux-x64@1.18.0";

export const codeServerBin = join(vscodeDir, "node_modules", "code-server", "out", "node", "entry.js");

function lockHash() {
  return createHash("sha256").update(readFileSync(join(vscodeDir, "package-lock.json"))).digest("hex");
}

export function isInstalled() {
  return existsSync(stampPath) && existsSync(codeServerBin) && readFileSync(stampPath, "utf8").trim() === lockHash();
}

function has(command, args = ["--version"]) {
  return spawnSync(command, args, { stdio: "ignore" }).status === 0;
}

/** What the install needs from the machine (Debian packages), as human-readable lines. */
export function missingBuildPrerequisites() {
  const missing = [];
  if (Number(process.versions.node.split(".")[0]) !== 20) missing.push(`Node 20 (code-server 4.100.3 requires it; this is ${process.version})`);
  if (!has("krb5-config")) missing.push("libkrb5-dev (apt-get install -y libkrb5-dev): kerberos compiles against it");
  for (const tool of ["make", "g++", "python3"]) if (!has(tool)) missing.push(`${tool} (native modules compile from source)`);
  return missing;
}

function run(command, args, options) {
  console.log(`$ ${command} ${args.join(" ")}${options.cwd ? `   (in ${options.cwd})` : ""}`);
  const result = spawnSync(command, args, { stdio: "inherit", ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${result.status ?? result.signal}`);
}

function seedRipgrep(env) {
  const target = join(tmpDir, RIPGREP_CACHE, RIPGREP_ARCHIVE);
  if (existsSync(target)) return;
  const work = join(tmpDir, "ripgrep-seed");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  run("npm", ["pack", RIPGREP_NPM, "--pack-destination", work, "--silent"], { cwd: work, env });
  const tarball = readdirSync(work).find((name) => name.endsWith(".tgz"));
  if (!tarball) throw new Error(`npm pack ${RIPGREP_NPM} produced no tarball`);
  run("tar", ["xzf", tarball, "package/bin/rg"], { cwd: work });
  copyFileSync(join(work, "package", "bin", "rg"), join(work, "rg"));
  chmodSync(join(work, "rg"), 0o755);
  mkdirSync(dirname(target), { recursive: true });
  run("tar", ["czf", target, "rg"], { cwd: work });
  rmSync(work, { recursive: true, force: true });
}

function install() {
  const missing = missingBuildPrerequisites();
  if (missing.length > 0) throw new Error(`cannot install code-server, missing:\n  - ${missing.join("\n  - ")}`);
  mkdirSync(tmpDir, { recursive: true });
  const env = {
    ...process.env,
    TMPDIR: tmpDir,
    npm_config_unsafe_perm: "true",
    npm_config_yes: "true",
    npm_config_dangerously_allow_all_scripts: "true",
    npm_config_audit: "false",
    npm_config_fund: "false",
  };
  seedRipgrep(env);
  const started = Date.now();
  rmSync(stampPath, { force: true });
  run("npm", ["ci", "--no-audit", "--no-fund"], { cwd: vscodeDir, env });
  if (!existsSync(codeServerBin)) throw new Error(`code-server installed but ${codeServerBin} is missing`);
  writeFileSync(stampPath, `${lockHash()}\n`);
  console.log(`code-server installed in ${Math.round((Date.now() - started) / 1000)} s`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--check")) {
    const missing = [...missingBuildPrerequisites(), ...(isInstalled() ? [] : ["code-server (node test/e2e/setup.mjs)"])];
    for (const line of missing) console.log(`missing: ${line}`);
    process.exit(missing.length === 0 ? 0 : 1);
  }
  if (isInstalled()) console.log("code-server already installed (stamp matches the lockfile)");
  else install();
}
