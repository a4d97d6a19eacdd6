/**
 * Pair generation on the real built-in pair, in process: the row formats, resuming (after a torn
 * line, after an abort), refusing to mix datasets, and skipping pairs whose responses agree.
 */
import assert from "node:assert/strict";
import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { heldoutPrompts } from "../../server/src/forge/world.ts";
import { fileSha256, generatePreferencePairs, PairsOutputError, type PairsOptions, type PreferenceRow } from "../../server/src/pairs/index.ts";
import { ModelPair } from "../../server/src/runtime/index.ts";
import { builtInPair, disposeTestLlama, testLlama } from "../runtime/support.ts";

const files = builtInPair();
let pair: ModelPair;
let dir: string;
let promptsFile: string;
let reference: Buffer;

const questions = heldoutPrompts().slice(0, 4).map((p) => p.text);
const settings = { maxTokens: 10, seed: 11 };
const run = (out: string, extra: Partial<PairsOptions> = {}) => generatePreferencePairs({ pair, promptsFile, out, ...settings, ...extra });
const rowsOf = (text: string) => text.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as PreferenceRow);

before(async () => {
  pair = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama: await testLlama() });
  dir = await mkdtemp(join(tmpdir(), "aad-pairs-"));
  promptsFile = join(dir, "prompts.jsonl");
  const chat = { messages: [{ role: "user", content: questions[3] }] };
  await writeFile(promptsFile, [...questions.slice(0, 3).map((prompt) => JSON.stringify({ prompt })), JSON.stringify(chat)].join("\n") + "\n");
  const out = join(dir, "reference.jsonl");
  const result = await run(out);
  assert.equal(result.written + result.skippedEqual, 4);
  reference = await readFile(out);
});
after(async () => {
  await pair.dispose();
  await disposeTestLlama();
  await rm(dir, { recursive: true, force: true });
});

describe("row format", () => {
  test("a plain prompt gives string fields and a chat prompt gives message lists", () => {
    const rows = rowsOf(reference.toString("utf8"));
    const plain = rows.find((r) => r.meta.index === 0)!;
    const chat = rows.find((r) => r.meta.index === 3)!;
    assert.equal(plain.prompt, questions[0]);
    assert.equal(typeof plain.chosen, "string");
    assert.equal(typeof plain.rejected, "string");
    assert.deepEqual(chat.prompt, [{ role: "user", content: questions[3] }]);
    assert.ok(Array.isArray(chat.chosen) && Array.isArray(chat.rejected));
    assert.deepEqual((chat.chosen as { role: string }[]).map((m) => m.role), ["assistant"]);
  });

  test("meta records the methods, seed, implicit rewards, token counts and model hashes", async () => {
    const { meta } = rowsOf(reference.toString("utf8"))[0]!;
    assert.deepEqual(meta.methods, { chosen: { method: "aad", alpha: 0.1 }, rejected: { method: "sample", from: "dpo", temperature: 1, topP: 0.9 } });
    assert.equal(meta.seed, settings.seed);
    assert.ok(Number.isFinite(meta.implicitReward.chosen) && Number.isFinite(meta.implicitReward.rejected));
    assert.ok(meta.tokens.chosen > 0 && meta.tokens.chosen <= settings.maxTokens);
    assert.deepEqual(meta.models, {
      sft: { file: "sft.gguf", sha256: await fileSha256(files.sft) },
      dpo: { file: "dpo.gguf", sha256: await fileSha256(files.dpo) },
    });
  });
});

describe("resuming", () => {
  test("after a torn last line, the finished file equals an uninterrupted run's byte for byte", async () => {
    const out = join(dir, "torn.jsonl");
    await run(out, { limit: 2 });
    const kept = rowsOf(await readFile(out, "utf8"));
    assert.ok(kept.length > 0, "a prompt of the first two gave a row");
    const lines = reference.toString("utf8").split("\n");
    const next = lines[kept.length]!;
    await appendFile(out, next.slice(0, Math.floor(next.length / 2))); // a row cut short by a crash
    const result = await run(out);
    assert.ok(result.droppedBytes > 0);
    // Resumes after the last whole row's prompt (a prompt whose chosen equalled its rejected left no row).
    assert.equal(result.resumedAt, kept.at(-1)!.meta.index + 1);
    assert.ok((await readFile(out)).equals(reference));
  });

  test("an aborted run stops after the row in progress, and running again completes the same file", async () => {
    const out = join(dir, "aborted.jsonl");
    const controller = new AbortController();
    const first = await run(out, { signal: controller.signal, onProgress: (p) => p.done === 1 && controller.abort() });
    assert.equal(first.interrupted, true);
    assert.equal(first.done, 1);
    const second = await run(out);
    assert.equal(second.resumedAt, 1);
    assert.equal(second.interrupted, false);
    assert.ok((await readFile(out)).equals(reference));
  });

  test("a finished file is left as it is", async () => {
    const out = join(dir, "finished.jsonl");
    await writeFile(out, reference);
    const result = await run(out);
    assert.equal(result.written, 0);
    assert.ok((await readFile(out)).equals(reference));
  });

  test("resuming with another seed is refused and leaves the file alone", async () => {
    const out = join(dir, "other-seed.jsonl");
    await writeFile(out, reference);
    await assert.rejects(run(out, { seed: 12 }), (error: unknown) => error instanceof PairsOutputError && error.code === "SettingsMismatch" && /seed: 11 in the file, 12 now/.test(error.message));
    assert.ok((await readFile(out)).equals(reference));
  });

  test("resuming with a prompts file that changed under the rows is refused", async () => {
    const out = join(dir, "changed-prompts.jsonl");
    await writeFile(out, reference);
    const otherPrompts = join(dir, "other.txt");
    await writeFile(otherPrompts, "something else\nentirely\nfor\nthese rows\nand more\n");
    await assert.rejects(run(out, { promptsFile: otherPrompts }), (error: unknown) => error instanceof PairsOutputError && error.code === "PromptMismatch");
  });
});

test("pairs whose chosen equals rejected are skipped and counted", async () => {
  // With alpha = 1 AAD's candidate set is the DPO argmax alone: AAD is greedy DPO.
  const out = join(dir, "equal.jsonl");
  const result = await run(out, { alpha: 1, rejected: "greedy-dpo" });
  assert.deepEqual([result.written, result.skippedEqual, result.done], [0, 4, 4]);
  assert.equal(await readFile(out, "utf8"), "");
});
