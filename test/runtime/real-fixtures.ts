/**
 * The random-weight pairs with real tokenizers (`npm run forge -- --fixtures`, .cache/fixtures;
 * server/src/forge/fixtures.ts) for the tests that need them. Outside CI a missing fixture skips
 * those tests with this message; under CI (.ci/run builds them) it fails them (test/ci.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES_DIR, fixturePaths, llamaCppFilesDir, readFixture, type FixtureFamily, type FixtureManifest, type FixturePaths } from "../../server/src/forge/fixtures.ts";

export type RealFixture = { readonly paths: FixturePaths; readonly manifest: FixtureManifest };

export function realFixture(family: FixtureFamily): RealFixture | { readonly missing: string } {
  const manifest = readFixture(family);
  if (manifest === undefined) {
    return { missing: `the ${family} fixture pair (real tokenizer, random weights) is absent or stale: build it with \`npm run forge -- --fixtures\` (writes ${FIXTURES_DIR}/, about a minute)` };
  }
  return { paths: fixturePaths(family), manifest };
}

/** A file copied out of llama.cpp's source by the fixture build (vocabularies, test vectors, templates). */
export function llamaCppFile(path: string): string {
  return readFileSync(join(llamaCppFilesDir(), path), "utf8");
}

/** llama.cpp's tokenizer test vectors (tests/test-tokenizer-0.cpp's format): each text and its ids. */
export function tokenizerVectors(vocab: string): { text: string; ids: number[] }[] {
  const inputs = llamaCppFile(`models/ggml-vocab-${vocab}.gguf.inp`);
  const outputs = llamaCppFile(`models/ggml-vocab-${vocab}.gguf.out`).split("\n");
  const separator = "\n__ggml_vocab_test__\n";
  const texts: string[] = [];
  for (let pos = 0; pos < inputs.length;) {
    const next = inputs.indexOf(separator, pos);
    if (next < 0) {
      texts.push(inputs.slice(pos));
      break;
    }
    texts.push(inputs.slice(pos, next));
    pos = next + separator.length;
  }
  if (outputs.at(-1) === "") outputs.pop();
  if (texts.length !== outputs.length) throw new Error(`${vocab}: ${texts.length} test texts but ${outputs.length} outputs`);
  return texts.map((text, i) => ({ text, ids: outputs[i]!.trim() === "" ? [] : outputs[i]!.trim().split(" ").map(Number) }));
}
