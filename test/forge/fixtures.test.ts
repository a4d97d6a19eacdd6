/**
 * The real-tokenizer fixture build (`npm run forge -- --fixtures`): offline from installed
 * packages, deterministic, and a second run keeps what is there.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fixturePaths, writeFixtures } from "../../server/src/forge/fixtures.ts";

void test("the 32k SentencePiece fixture builds byte-identically twice, and an up-to-date fixture is not rebuilt", async () => {
  const roots = [await mkdtemp(join(tmpdir(), "aad-fixtures-a-")), await mkdtemp(join(tmpdir(), "aad-fixtures-b-"))];
  try {
    const [a, b] = [await writeFixtures(roots[0], undefined, ["spm-32k"]), await writeFixtures(roots[1], undefined, ["spm-32k"])];
    assert.deepEqual(a["spm-32k"].files, b["spm-32k"].files);
    assert.equal(a["spm-32k"].vocabSize, 32000);
    assert.deepEqual(a["spm-32k"].eog, [2]);
    const sft = fixturePaths("spm-32k", roots[0]).sft;
    const before = (await stat(sft)).mtimeMs;
    const messages: string[] = [];
    await writeFixtures(roots[0], (m) => messages.push(m), ["spm-32k"]);
    assert.equal((await stat(sft)).mtimeMs, before);
    assert.match(messages.join("\n"), /spm-32k: up to date/);
  } finally {
    for (const root of roots) await rm(root, { recursive: true, force: true });
  }
});
