/**
 * The .vsix ships node-llama-cpp and what it needs, for linux-x64, and nothing else from
 * node_modules: .vscodeignore's generated block must match package-lock.json.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

test(".vscodeignore's runtime node_modules block is the one package-lock.json gives", () => {
  const result = spawnSync(process.execPath, [join(root, "scripts", "vscodeignore.mjs"), "--check"], { cwd: root, encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
});

test("the block ships node-llama-cpp's linux-x64 build and no other platform's, nor its llama.cpp source bundle", () => {
  const ignore = readFileSync(join(root, ".vscodeignore"), "utf8");
  assert.match(ignore, /^!node_modules\/@node-llama-cpp\/linux-x64\/\*\*/m);
  assert.doesNotMatch(ignore, /^!node_modules\/@node-llama-cpp\/(?!linux-x64\/)/m);
  assert.doesNotMatch(ignore, /^!node_modules\/node-llama-cpp\/\*\*$/m, "a blanket re-inclusion would ship gitRelease.bundle (35 MB)");
});
