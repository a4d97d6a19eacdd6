/**
 * Model files for the daemon's error paths: two tiny valid GGUF models whose vocabularies differ
 * in one token, a truncated copy, and files that are not GGUF at all. Built with the forge's
 * writers, so they need no download and no training.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createRng } from "../../server/src/decoding/rng.ts";
import { writeGguf } from "../../server/src/forge/gguf-writer.ts";
import { kvEmbeddingLength, llamaGgufContents, type BuildLlamaGgufOptions, type LlamaHyperparameters, type LlamaWeights } from "../../server/src/forge/llama-gguf.ts";
import { buildVocabulary, type Vocabulary } from "../../server/src/forge/vocabulary.ts";

function tinyModel(vocabulary: Vocabulary, seed: string): Uint8Array {
  const hp: LlamaHyperparameters = {
    vocabSize: vocabulary.tokens.length, contextLength: 32, embeddingLength: 8, blockCount: 1,
    feedForwardLength: 16, headCount: 2, headCountKv: 1, rmsEpsilon: 1e-5, ropeFreqBase: 10000,
  };
  const rng = createRng(seed);
  const matrix = (rows: number, cols: number): Float32Array => Float32Array.from({ length: rows * cols }, () => rng.next() - 0.5);
  const e = hp.embeddingLength;
  const ekv = kvEmbeddingLength(hp);
  const weights: LlamaWeights = {
    tokenEmbedding: matrix(hp.vocabSize, e),
    outputNorm: new Float32Array(e).fill(1),
    output: matrix(hp.vocabSize, e),
    layers: [{
      attnNorm: new Float32Array(e).fill(1), attnQ: matrix(e, e), attnK: matrix(ekv, e), attnV: matrix(ekv, e), attnOutput: matrix(e, e),
      ffnNorm: new Float32Array(e).fill(1), ffnGate: matrix(16, e), ffnUp: matrix(16, e), ffnDown: matrix(e, 16),
    }],
  };
  const options: BuildLlamaGgufOptions = { hp, weights, vocabulary, name: `tiny-${seed}`, chatTemplate: "{{ messages }}" };
  const { metadata, tensors } = llamaGgufContents(options);
  return writeGguf(metadata, tensors);
}

export interface ModelFixtures {
  readonly modelA: string;
  /** Same shape as modelA, one vocabulary entry differs. */
  readonly modelB: string;
  readonly truncated: string;
  readonly text: string;
  readonly empty: string;
  readonly missing: string;
}

export async function writeModelFixtures(dir: string): Promise<ModelFixtures> {
  const a = tinyModel(buildVocabulary(["the cat sat on the mat", "a dog ran home"], { maxPieces: 60 }), "a");
  const b = tinyModel(buildVocabulary(["the cat sat on the hat", "a dog ran home"], { maxPieces: 60 }), "b");
  const files: ModelFixtures = {
    modelA: join(dir, "a.gguf"),
    modelB: join(dir, "b.gguf"),
    truncated: join(dir, "truncated.gguf"),
    text: join(dir, "notes.gguf"),
    empty: join(dir, "empty.gguf"),
    missing: join(dir, "missing.gguf"),
  };
  await writeFile(files.modelA, a);
  await writeFile(files.modelB, b);
  await writeFile(files.truncated, a.subarray(0, Math.floor(a.length * 0.6)));
  await writeFile(files.text, "this is not a model, just some notes\n");
  await writeFile(files.empty, "");
  return files;
}
