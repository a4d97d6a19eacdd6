/**
 * Malformed files that abort llama.cpp (the whole process, SIGABRT) are refused before llama.cpp
 * sees them, on real 128k/152k vocabularies: a duplicate token string and a missing
 * feed_forward_length. A child process that hands the same files to node-llama-cpp directly shows
 * that the refusal is what keeps the daemon alive.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeMalformedModel, type FixtureFamily, type MalformedVariant } from "../../server/src/forge/fixtures.ts";
import { inspectModelFile, ModelFileError } from "../../server/src/runtime/model-files.ts";
import { ModelPair } from "../../server/src/runtime/index.ts";
import { prerequisite } from "../ci.ts";
import { realFixture } from "./real-fixtures.ts";
import { disposeTestLlama, testLlama } from "./support.ts";

const CASES: readonly { family: FixtureFamily; variant: MalformedVariant; message: RegExp }[] = [
  { family: "tulu-3", variant: "duplicate-token", message: /tokens 999 and 1000 are both .*llama\.cpp aborts/ },
  { family: "qwen3", variant: "no-feed-forward-length", message: /lacks qwen3\.feed_forward_length/ },
];

/** Loads a file with node-llama-cpp directly, no validation, in a child process: its exit status. */
async function loadUnchecked(dir: string, path: string): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  // A script file, not `node -e`: node-llama-cpp tests its binary in a child with the same arguments.
  const script = join(dir, "load-unchecked.mjs");
  await writeFile(script, `import { getLlama, LlamaLogLevel } from ${JSON.stringify(import.meta.resolve("node-llama-cpp"))};
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.disabled });
await llama.loadModel({ modelPath: process.argv[2] });
process.exit(0);
`);
  const child = spawnSync(process.execPath, [script, path], { encoding: "utf8", timeout: 120_000 });
  return { status: child.status, signal: child.signal, stderr: child.stderr };
}

after(disposeTestLlama);

for (const { family, variant, message } of CASES) {
  void describe(`${family} with ${variant}`, () => {
    const found = realFixture(family);
    const skip = "missing" in found ? prerequisite(`the ${family} fixture`, found.missing) : false;
    let dir: string;
    let path: string;
    before(async () => {
      if ("missing" in found) return;
      dir = await mkdtemp(join(tmpdir(), "aad-malformed-"));
      path = join(dir, `${variant}.gguf`);
      await writeMalformedModel(family, variant, path);
    });
    after(async () => {
      if (!("missing" in found)) await rm(dir, { recursive: true, force: true });
    });

    void test("is refused by name before llama.cpp sees it, as a model and as the base of a LoRA pair", { skip }, async () => {
      if ("missing" in found) return;
      await assert.rejects(inspectModelFile(path, { expect: "model" }), (error: unknown) => error instanceof ModelFileError && error.code === "InvalidModel" && message.test(error.message));
      await assert.rejects(ModelPair.load({ sft: path, dpo: found.paths.dpo }, { llama: await testLlama() }), { name: "ModelFileError", code: "InvalidModel", message });
      await assert.rejects(ModelPair.load({ sft: path, dpoLora: found.paths.dpoLora }, { llama: await testLlama() }), { name: "ModelFileError", code: "InvalidModel", message });
    });

    void test("loaded by node-llama-cpp without the check, it aborts the process (GGML_ASSERT)", { skip }, async () => {
      const result = await loadUnchecked(dir, path);
      assert.ok(result.status === 134 || result.signal === "SIGABRT", `exit ${result.status}, signal ${result.signal}: ${result.stderr.slice(-400)}`);
      assert.match(result.stderr, /GGML_ASSERT/);
    });
  });
}
