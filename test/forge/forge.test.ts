import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { forgeFiles } from "../../server/src/forge/forge.ts";

/** Runs a scaled-down forge in its own process (tfjs and llama.cpp state stay out of the test runner), with its own checkpoint folder. */
function quickForge(out: string, seed: number, ...extra: string[]): void {
  const result = forgeProcess(out, seed, ...extra);
  assert.equal(result.status, 0, `forge failed:\n${result.stdout}\n${result.stderr.slice(-2000)}`);
}

function forgeProcess(out: string, seed: number, ...extra: string[]) {
  return forgeProcessWith({}, out, seed, ...extra);
}

function forgeProcessWith(env: Record<string, string>, out: string, seed: number, ...extra: string[]) {
  const args = ["--import", "tsx", "server/src/forge/main.ts", "--quick", "--out", out, "--work", `${out}.work`, "--seed", String(seed), ...extra];
  return spawnSync(process.execPath, args, { encoding: "utf8", env: { ...process.env, ...env } });
}

const OUTPUTS = ["sft", "dpo", "dpoLora", "earlyReference", "preferences", "manifest"] as const;

test("the same seed gives byte-identical model files, preferences and manifest, also under CPU load; another seed does not", async () => {
  const root = await mkdtemp(join(tmpdir(), "aad-forge-test-"));
  try {
    const [a, b, c] = ["a", "b", "c"].map((name) => join(root, name)) as [string, string, string];
    quickForge(a, 7);
    // The second run competes with a busy-looping process on every core: nothing may depend on timing.
    const load = Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
    try {
      quickForge(b, 7);
    } finally {
      for (const child of load) child.kill("SIGKILL");
    }
    quickForge(c, 8);
    for (const key of OUTPUTS) {
      const [x, y] = await Promise.all([readFile(forgeFiles(a)[key]), readFile(forgeFiles(b)[key])]);
      assert.ok(x.length > 0, `${key} is empty`);
      assert.ok(x.equals(y), `${key} differs between two runs with the same seed`);
    }
    const [s7, s8] = await Promise.all([readFile(forgeFiles(a).sft), readFile(forgeFiles(c).sft)]);
    assert.ok(!s7.equals(s8), "a different seed must give different weights");

    // --reuse: the SFT and preference stages of run a, DPO again — the same bytes as a full run.
    const reused = join(root, "reused");
    const result = forgeProcess(reused, 7, "--reuse", a);
    assert.equal(result.status, 0, `forge --reuse failed:\n${result.stdout}\n${result.stderr.slice(-2000)}`);
    assert.match(result.stdout, /sft: reused/);
    assert.doesNotMatch(result.stdout, /sampled \d+/, "--reuse must not sample preferences again");
    for (const key of OUTPUTS) {
      const [x, y] = await Promise.all([readFile(forgeFiles(a)[key]), readFile(forgeFiles(reused)[key])]);
      assert.ok(x.equals(y), `${key} differs between a full run and a run reusing its SFT stage`);
    }
    // Reusing stages made with other settings is refused, by name, before anything is written.
    const refused = forgeProcess(join(root, "refused"), 8, "--reuse", a);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /cannot reuse .*seed = 7, this run has 8/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("a run killed mid-SFT and again mid-sampling resumes from its checkpoints and writes what an uninterrupted one-process run writes", async () => {
  const root = await mkdtemp(join(tmpdir(), "aad-forge-resume-"));
  try {
    const whole = join(root, "whole");
    const broken = join(root, "broken");
    const cadence = ["--checkpoint-every", "2", "--sample-rounds", "2"];
    // One sampling process here, two (the default) in the broken runs: sharding must not change a byte either.
    quickForge(whole, 7, ...cadence, "--sample-processes", "1");
    // 1st checkpoint: SFT step 2. The second run resumes there; its 3rd checkpoint is the 2nd sample chunk.
    for (const [kill, expected] of [
      ["1", /sft: checkpoint at step 2/],
      ["3", /sampled 32\//],
    ] as const) {
      const run = forgeProcessWith({ AAD_FORGE_KILL_AFTER_CHECKPOINTS: kill }, broken, 7, ...cadence);
      assert.equal(run.signal, "SIGKILL", `the run was to be killed after checkpoint ${kill}:\n${run.stdout}\n${run.stderr.slice(-2000)}`);
      assert.match(run.stdout, expected);
    }
    const resumed = forgeProcess(broken, 7, ...cadence);
    assert.equal(resumed.status, 0, `the resumed run failed:\n${resumed.stdout}\n${resumed.stderr.slice(-2000)}`);
    assert.match(resumed.stdout, /sft: finished earlier/);
    assert.match(resumed.stdout, /shard 1\/2: resuming after 32\//);
    for (const key of OUTPUTS) {
      const [x, y] = await Promise.all([readFile(forgeFiles(whole)[key]), readFile(forgeFiles(broken)[key])]);
      assert.ok(x.equals(y), `${key} differs between an uninterrupted run and one killed twice and resumed`);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("the committed manifest records the hash of every committed file", async () => {
  const { createHash } = await import("node:crypto");
  const manifest = JSON.parse(await readFile("models/manifest.json", "utf8")) as { files: Record<string, { sha256: string; bytes: number }> };
  for (const [name, info] of Object.entries(manifest.files)) {
    const bytes = await readFile(join("models", name));
    assert.equal(bytes.length, info.bytes, name);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), info.sha256, name);
  }
});
