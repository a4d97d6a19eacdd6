/**
 * The node-llama-cpp internals native-sampling.ts relies on. These fail loudly when an upgrade of
 * node-llama-cpp moves them: the version is pinned, and each behaviour step-logprobs.ts builds on
 * is pinned here against the full distribution.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import type { LlamaContext, LlamaContextSequence, LlamaModel } from "node-llama-cpp";
import { formatExample, heldoutPrompts } from "../../server/src/forge/world.ts";
import { ModelRuntimeError } from "../../server/src/runtime/index.ts";
import { checkNativeSamplingSupport, decodeWithSampling, NativeSamplers, SUPPORTED_NODE_LLAMA_CPP, type NativeSample, type SampleAt } from "../../server/src/runtime/native-sampling.ts";
import { builtInPair, disposeTestLlama, testLlama } from "./support.ts";

let model: LlamaModel;
let context: LlamaContext;
let sequence: LlamaContextSequence;
let samplers: NativeSamplers;
let vocabSize: number;

before(async () => {
  model = await (await testLlama()).loadModel({ modelPath: builtInPair().dpo, gpuLayers: 0 });
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  context = await model.createContext({ contextSize: 128, sequences: 1, threads: 1, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
  sequence = context.getSequence();
  vocabSize = (model.fileInfo.metadata.tokenizer.ggml.tokens as unknown[]).length;
  samplers = new NativeSamplers(model, vocabSize);
});
after(async () => {
  samplers.dispose();
  await context.dispose();
  await model.dispose();
  await disposeTestLlama();
});

/** Runs `sample` at the position after a prompt, with that position's full distribution (probabilities by id). */
async function atPrompt<T>(prompt: string, sample: (sampleAt: SampleAt, full: Float64Array) => Promise<T>): Promise<T> {
  await sequence.clearHistory();
  const tokens = [model.tokens.bos!, ...model.tokenize(formatExample(prompt))];
  const results = await decodeWithSampling(sequence, samplers, tokens, tokens.map((_, i) => i === tokens.length - 1), async (_i, sampleAt) => {
    const { survivors } = await sampleAt({ kind: "full" });
    const full = new Float64Array(vocabSize);
    for (let i = 0; i < survivors!.tokens.length; i++) full[survivors!.tokens[i]!] = survivors!.probs[i]!;
    return sample(sampleAt, full);
  });
  return results.at(-1)!;
}

function argmax(probs: Float64Array): number {
  let best = 0;
  for (let v = 1; v < probs.length; v++) if (probs[v]! > probs[best]!) best = v;
  return best;
}

test(`node-llama-cpp is exactly ${SUPPORTED_NODE_LLAMA_CPP}, the version whose internals native-sampling.ts uses`, async () => {
  const manifest = JSON.parse(await readFile("node_modules/node-llama-cpp/package.json", "utf8")) as { version: string };
  assert.equal(manifest.version, SUPPORTED_NODE_LLAMA_CPP);
  const project = JSON.parse(await readFile("package.json", "utf8")) as { dependencies: Record<string, string> };
  assert.equal(project.dependencies["node-llama-cpp"], SUPPORTED_NODE_LLAMA_CPP, "package.json pins it exactly");
});

test("the internals are where 3.21.1 keeps them, and anything else is refused with UnsupportedRuntime", () => {
  assert.doesNotThrow(() => checkNativeSamplingSupport(sequence));
  const fake = Object.create(sequence) as LlamaContextSequence;
  Object.defineProperty(fake, "_decodeTokens", { value: undefined });
  assert.throws(() => checkNativeSamplingSupport(fake), (error: unknown) => error instanceof ModelRuntimeError && error.code === "UnsupportedRuntime");
});

test("argmax with confidence gives the argmax's probability over the WHOLE vocabulary, with and without the XTC presort", async () => {
  for (const { text } of heldoutPrompts().slice(0, 5)) {
    await atPrompt(text, async (sampleAt, full) => {
      for (const presort of [false, true]) {
        const sample = await sampleAt({ kind: "argmax", presort });
        assert.equal(sample.token, argmax(full));
        assert.ok(Math.abs(Math.log(sample.confidence!) - Math.log(full[argmax(full)]!)) < 1e-6);
      }
    });
  }
});

test("a top chain returns the top k tokens, or exactly {v : p(v) ≥ minP · max p}, renormalised over them", async () => {
  await atPrompt(heldoutPrompts()[1]!.text, async (sampleAt, full) => {
    const ranked = Array.from(full.keys()).sort((a, b) => full[b]! - full[a]!);
    const top = await sampleAt({ kind: "top", topK: 5, minP: 0 });
    assert.deepEqual(Array.from(top.survivors!.tokens), ranked.slice(0, 5));
    checkRenormalised(top, full);
    const minP = 0.05;
    const set = await sampleAt({ kind: "top", topK: 0, minP });
    const expected = ranked.filter((v) => full[v]! >= minP * full[ranked[0]!]!);
    assert.deepEqual(Array.from(set.survivors!.tokens).sort((a, b) => a - b), expected.sort((a, b) => a - b));
    checkRenormalised(set, full);
  });
});

test("a within chain returns exactly the given tokens, EOS included, renormalised over them", async () => {
  const eos = model.tokens.eos!;
  await atPrompt(heldoutPrompts()[2]!.text, async (sampleAt, full) => {
    const tokens = [eos, 7, 300, argmax(full), 42];
    const within = await sampleAt({ kind: "within", tokens });
    assert.deepEqual(Array.from(within.survivors!.tokens).sort((a, b) => a - b), [...tokens].sort((a, b) => a - b));
    checkRenormalised(within, full);
    // The next restriction is independent of this one (the kept permutation is no state that leaks).
    const other = await sampleAt({ kind: "within", tokens: [1, 2, 3] });
    assert.deepEqual(Array.from(other.survivors!.tokens).sort((a, b) => a - b), [1, 2, 3]);
  });
});

test("a failing position handler rejects the evaluation after the batch, and the sequence stays consistent", async () => {
  await sequence.clearHistory();
  const tokens = [model.tokens.bos!, ...model.tokenize("Q: hi\nA:")];
  await assert.rejects(
    decodeWithSampling(sequence, samplers, tokens, tokens.map(() => true), (i) => (i === 1 ? Promise.reject(new Error("boom")) : Promise.resolve(i))),
    /boom/,
  );
  assert.deepEqual(sequence.contextTokens, tokens);
  const next = await decodeWithSampling(sequence, samplers, [model.tokenize(" x")[0]!], [true], async (_i, sampleAt) => (await sampleAt({ kind: "argmax", presort: false })).token);
  assert.equal(typeof next[0], "number");
});

function checkRenormalised(sample: NativeSample, full: Float64Array): void {
  const { tokens, probs } = sample.survivors!;
  let mass = 0;
  for (const token of tokens) mass += full[token]!;
  for (let i = 0; i < tokens.length; i++) assert.ok(Math.abs(probs[i]! - full[tokens[i]!]! / mass) < 1e-6 * Math.max(1, probs[i]! * 10), `token ${tokens[i]}`);
}
