/**
 * The real-tokenizer fixture build (`npm run forge -- --fixtures`): offline from installed
 * packages, deterministic, and a second run keeps what is there.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { fixturePaths, recordedGgufTemplate, TULU_TEMPLATE_SOURCE, writeFixtures, ZEPHYR_TEMPLATE_SOURCE } from "../../server/src/forge/fixtures.ts";

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

void test("Tulu 3's and Zephyr's templates come from the GGUF templates @huggingface/ollama-utils records, and render their formats", () => {
  const messages = [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello" },
    { role: "user", content: "Bye" },
  ];
  const render = (source: string, eos: string): string => new Template(recordedGgufTemplate(source)).render({ messages, add_generation_prompt: true, bos_token: "<s>", eos_token: eos });
  assert.equal(render(TULU_TEMPLATE_SOURCE, "<|end_of_text|>"), "<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\nHello<|end_of_text|>\n<|user|>\nBye\n<|assistant|>\n");
  assert.equal(render(ZEPHYR_TEMPLATE_SOURCE, "</s>"), "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello</s>\n<|user|>\nBye</s>\n<|assistant|>\n");
});

void test("a template the map does not record, or a missing map, is a named error", async () => {
  assert.throws(() => recordedGgufTemplate("library/no-such-model:1b"), /records no GGUF template for library\/no-such-model:1b/);
  assert.throws(() => recordedGgufTemplate(TULU_TEMPLATE_SOURCE, join(tmpdir(), "aad-no-such-map.ts")), /is missing: run `npm ci`/);
  const dir = await mkdtemp(join(tmpdir(), "aad-map-"));
  try {
    await writeFile(join(dir, "map.ts"), `export const M = [{ model: "library/x:1b", ollama: {} }];`);
    assert.throws(() => recordedGgufTemplate("library/x:1b", join(dir, "map.ts")), /records no GGUF template for library\/x:1b/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
