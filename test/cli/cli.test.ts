/** The `aad` command as a user runs it: a real process on the built-in pair. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

function aad(args: readonly string[], input?: string) {
  const result = spawnSync(process.execPath, ["--import", "tsx", "server/src/cli/main.ts", ...args], { encoding: "utf8", input, env: { ...process.env, NO_COLOR: "1" }, timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface JsonTrace {
  text: string;
  tokens: { token: number; piece: string; logprobDpo: number | null; logprobSft: number | null; advantage: number | null; candidateSetSize: number; dpoRank: number | null; top: unknown[] }[];
  stats: { implicitReward: number; tokens: number };
}

describe("aad", () => {
  test("generate --json prints the text, a complete trace entry per token, and stats", () => {
    const { status, stdout, stderr } = aad(["generate", "How do I sort a list in Python?", "--json", "--max-tokens", "24"]);
    assert.equal(status, 0, stderr);
    const out = JSON.parse(stdout) as JsonTrace;
    assert.ok(out.tokens.length > 0 && out.tokens.length <= 24);
    assert.equal(out.stats.tokens, out.tokens.length);
    assert.equal(out.tokens.map((t) => t.piece).join("").trim(), out.text.trim());
    for (const t of out.tokens) {
      assert.equal(typeof t.logprobDpo, "number");
      assert.equal(typeof t.logprobSft, "number");
      assert.ok(Math.abs(t.advantage! - (t.logprobDpo! - t.logprobSft!)) < 1e-9);
      assert.ok(t.candidateSetSize >= 1 && t.top.length > 0);
    }
  });

  test("the prompt comes from standard input when not given, and the result is the same", () => {
    const a = aad(["generate", "--json", "--max-tokens", "12", "--method", "greedy-dpo"], "How do I sort a list in Python?");
    const b = aad(["generate", "How do I sort a list in Python?", "--json", "--max-tokens", "12", "--method", "greedy-dpo"]);
    assert.equal(a.status, 0, a.stderr);
    assert.equal((JSON.parse(a.stdout) as JsonTrace).text, (JSON.parse(b.stdout) as JsonTrace).text);
  });

  test("plain output decodes for the picks only, and prints the text --json and --trace exact give", () => {
    const prompt = "How do I reverse a list in Python?";
    const plain = aad(["generate", prompt, "--max-tokens", "32"]);
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stderr, /implicit reward not measured/);
    const json = aad(["generate", prompt, "--max-tokens", "32", "--json"]);
    const exact = JSON.parse(json.stdout) as JsonTrace & { trace: string };
    assert.equal(exact.trace, "exact");
    assert.equal(plain.stdout, exact.text);
    const picks = JSON.parse(aad(["generate", prompt, "--max-tokens", "32", "--json", "--trace", "picks"]).stdout) as JsonTrace & { trace: string };
    assert.equal(picks.trace, "picks");
    assert.equal(picks.text, exact.text);
    assert.ok(picks.tokens.every((t) => t.logprobDpo === null && t.top.length === 0));
    const forced = aad(["generate", prompt, "--max-tokens", "32", "--trace", "exact"]);
    assert.match(forced.stderr, /implicit reward -?\d/);
  });

  test("score gives the teacher-forced trace of an existing response", () => {
    const { status, stdout, stderr } = aad(["score", "How do I sort a list in Python?", "--response", "You can use sorted(xs).", "--json"]);
    assert.equal(status, 0, stderr);
    const out = JSON.parse(stdout) as JsonTrace;
    assert.ok(out.tokens.length >= 5);
    assert.ok(out.tokens.every((t) => typeof t.advantage === "number"));
  });

  test("compare runs every method and reports the oracle reward on the built-in pair", () => {
    const { status, stdout, stderr } = aad(["compare", "How do I sort a list in Python?", "--json", "--max-tokens", "16"]);
    assert.equal(status, 0, stderr);
    const out = JSON.parse(stdout) as { results: { method: string; oracleReward?: number; skipped?: string }[] };
    const methods = out.results.map((r) => r.method);
    for (const m of ["aad", "greedy-dpo", "greedy-sft", "sample", "eft", "cd", "best-of-n"]) assert.ok(methods.includes(m), `missing ${m}`);
    assert.ok(out.results.every((r) => r.skipped !== undefined || typeof r.oracleReward === "number"));
  });

  test("a missing model file is a clear error on stderr with a non-zero exit code", () => {
    const { status, stdout, stderr } = aad(["generate", "hi", "--sft", "/nonexistent/sft.gguf", "--dpo", "/nonexistent/dpo.gguf"]);
    assert.notEqual(status, 0);
    assert.equal(stdout, "");
    assert.match(stderr, /aad: .*\/nonexistent\/sft\.gguf/);
  });

  test("a file that is not GGUF is refused before llama.cpp sees it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "aad-cli-"));
    const bogus = join(dir, "model.gguf");
    await writeFile(bogus, "this is not a model\n".repeat(100));
    const { status, stderr } = aad(["generate", "hi", "--sft", bogus, "--dpo", bogus]);
    assert.equal(status, 1);
    assert.match(stderr, /GGUF/i);
  });

  test("a prompt longer than the context is a clear error (exit 1) naming both lengths, with nothing on stdout", () => {
    const long = Array.from({ length: 40 }, () => "How do I reverse a list in Python?").join(" ");
    for (const args of [["generate", long], ["generate", long, "--json", "--method", "greedy-dpo"], ["generate", "--context-size", "32", Array.from({ length: 5 }, () => "How do I reverse a list in Python?").join(" ")], ["score", long, "--response", "Use reversed(xs)."]]) {
      const { status, stdout, stderr } = aad(args);
      assert.equal(status, 1, stderr);
      assert.equal(stdout, "");
      assert.match(stderr, /^aad: (The prompt is|Prompt and response are) \d+ tokens, but the context holds (160|32): shorten (it|them) or load the pair with a larger contextSize\.\n$/);
    }
  });

  test("contradictory model flags are a usage error (exit 2)", () => {
    const { status, stderr } = aad(["generate", "hi", "--dpo", "x.gguf"]);
    assert.equal(status, 2);
    assert.match(stderr, /--sft/);
  });

  test("an out-of-range option says what is allowed", () => {
    const { status, stderr } = aad(["generate", "hi", "--alpha", "1.5"]);
    assert.notEqual(status, 0);
    assert.match(stderr, /--alpha must be in \(0, 1\]/);
  });

  test("--gpu auto reports the backend it used in --json, and says why when it is not the GPU it could not find", () => {
    const { status, stdout, stderr } = aad(["generate", "hi", "--json", "--max-tokens", "2", "--gpu", "auto"]);
    assert.equal(status, 0, stderr);
    const { backend } = JSON.parse(stdout) as { backend: { backend: string; requested: string; gpuLayers: number; note?: string } };
    assert.equal(backend.requested, "auto");
    if (backend.backend === "cpu") {
      // No usable GPU binary on this machine (CI has none): a clean fallback, said on stderr and in the JSON.
      assert.match(backend.note ?? "", /no usable GPU backend.*running on the CPU/);
      assert.match(stderr, /note: gpu "auto": no usable GPU backend/);
      assert.equal(backend.gpuLayers, 0);
    } else {
      assert.equal(backend.note, undefined);
    }
    const cpu = JSON.parse(aad(["generate", "hi", "--json", "--max-tokens", "2"]).stdout) as { backend: { backend: string; requested: string } };
    assert.deepEqual([cpu.backend.backend, cpu.backend.requested], ["cpu", "off"]);
  });

  test("a named GPU backend that cannot run here is a clear error, not a silent CPU run", () => {
    const { status, stdout, stderr } = aad(["generate", "hi", "--json", "--max-tokens", "2", "--gpu", "vulkan"]);
    if (status === 0) {
      assert.equal((JSON.parse(stdout) as { backend: { backend: string } }).backend.backend, "vulkan"); // a machine with Vulkan
      return;
    }
    assert.equal(status, 1);
    assert.equal(stdout, "");
    assert.match(stderr, /GPU backend "vulkan" was asked for, but node-llama-cpp has no prebuilt vulkan binary that works on this machine.*gpu "auto".*"off"/s);
  });

  test("--gpu off with --gpu-layers is a usage error, and --gpu-layers says what it takes", () => {
    const off = aad(["generate", "hi", "--gpu", "off", "--gpu-layers", "4"]);
    assert.equal(off.status, 2);
    assert.match(off.stderr, /--gpu off runs on the CPU/);
    const bad = aad(["generate", "hi", "--gpu-layers", "some"]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--gpu-layers must be a non-negative integer, "auto" or "max"/);
    const choice = aad(["generate", "hi", "--gpu", "tpu"]);
    assert.notEqual(choice.status, 0);
    assert.match(choice.stderr, /Allowed choices are auto, cuda, vulkan, metal, off/);
  });
});
