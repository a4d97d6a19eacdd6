/**
 * Evidence that the committed built-in pair (models/) is what the forge says it is, checked
 * through the real node-llama-cpp on the real files.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaModel, type Token } from "node-llama-cpp";
import { createRng } from "../../server/src/decoding/rng.ts";
import { forgeFiles, readPreferences } from "../../server/src/forge/forge.ts";
import { readLlamaGguf } from "../../server/src/forge/gguf-reader.ts";
import { forward, toVariables } from "../../server/src/forge/model.ts";
import { formatExample, heldoutPrompts, sampleResponse } from "../../server/src/forge/world.ts";

const files = forgeFiles("models");
/** Settings under which llama.cpp's CPU path is exact enough to compare at 1e-5 (no flash attention, F32 KV cache). */
const exactContext = { threads: 1, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" } as const;

let llama: Llama;
let sft: LlamaModel;
let dpo: LlamaModel;

before(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  sft = await llama.loadModel({ modelPath: files.sft });
  dpo = await llama.loadModel({ modelPath: files.dpo });
});

after(async () => {
  await llama.dispose();
});

/** The full next-token distribution at every position after the first, teacher-forced. */
async function distributions(context: LlamaContext, tokens: readonly Token[]): Promise<Float64Array[]> {
  const sequence = context.getSequence();
  const out: Float64Array[] = [];
  const vocabSize = context.model.tokens.bos === null ? 0 : context.model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  const iterator = sequence.evaluateWithMetadata([tokens[0]!], { probabilities: true }, { temperature: 0, yieldEogToken: true });
  let step = await iterator.next();
  for (let i = 1; i <= tokens.length; i++) {
    if (step.done) throw new Error("generator ended early");
    const row = new Float64Array(vocabSize);
    for (const [token, p] of step.value.probabilities) row[token] = p;
    out.push(row);
    if (i === tokens.length) break;
    step = await iterator.next(tokens[i]!);
  }
  await iterator.return(undefined);
  await sequence.dispose();
  return out;
}

function exampleTokens(model: LlamaModel, prompt: string, response?: string): Token[] {
  return [model.tokens.bos!, ...model.tokenize(formatExample(prompt, response))];
}

describe("the built-in pair", () => {
  test("every file loads in node-llama-cpp, and the adapter applies to sft.gguf", async () => {
    const context = await sft.createContext({ contextSize: 128, ...exactContext, lora: { adapters: [{ filePath: files.dpoLora }] } });
    assert.equal(sft.fileInfo.metadata.general.architecture, "llama");
    assert.equal(dpo.fileInfo.metadata.general.architecture, "llama");
    assert.ok(sft.fileInfo.metadata.tokenizer.chat_template?.includes("Q: "));
    await context.dispose();
  });

  test("tokenize then detokenize round-trips the toy corpus", () => {
    const rng = createRng("round-trip");
    for (const prompt of heldoutPrompts().slice(0, 200)) {
      const text = formatExample(prompt.text, sampleResponse(prompt, rng));
      assert.equal(sft.detokenize(sft.tokenize(text)), text);
    }
  });

  test("tokenize then detokenize round-trips arbitrary Unicode through byte fallback", () => {
    for (const text of ["naïve café", "日本語のテキスト", "emoji 🚀🔥 and ∑ math", "tabs\tand\nnewlines", "Ünïcödé ŝtrïng ✓"]) {
      const tokens = sft.tokenize(text);
      assert.equal(sft.detokenize(tokens), text);
    }
  });

  test("llama.cpp's log-probs from sft.gguf match the trainer's own forward pass to 1e-3", async () => {
    await tf.setBackend("wasm");
    const { config, weights } = await readLlamaGguf(files.sft);
    const variables = toVariables(config, weights, false);
    const context = await sft.createContext({ contextSize: 128, ...exactContext });
    let worst = 0;
    const rng = createRng("forward-match");
    for (const prompt of heldoutPrompts().slice(0, 8)) {
      const tokens = exampleTokens(sft, prompt.text, sampleResponse(prompt, rng));
      const ours = tf.tidy(() => tf.logSoftmax(forward(config, variables, tf.tensor2d([tokens], [1, tokens.length], "int32")), -1));
      const oursRows = ((await ours.array()))[0]!;
      ours.dispose();
      const theirs = await distributions(context, tokens);
      theirs.forEach((row, pos) => {
        row.forEach((p, token) => {
          if (p > 1e-6) worst = Math.max(worst, Math.abs(Math.log(p) - oursRows[pos]![token]!));
        });
      });
    }
    await context.dispose();
    assert.ok(worst < 1e-3, `max |Δ log p| = ${worst}`);
  });

  test("sft.gguf with dpo-lora.gguf gives the distributions of dpo.gguf (max |Δp| < 1e-5)", async () => {
    const viaAdapter = await sft.createContext({ contextSize: 128, ...exactContext, lora: { adapters: [{ filePath: files.dpoLora }] } });
    const merged = await dpo.createContext({ contextSize: 128, ...exactContext });
    const base = await sft.createContext({ contextSize: 128, ...exactContext });
    let worst = 0;
    let dpoVsSft = 0;
    for (const prompt of heldoutPrompts().slice(0, 10)) {
      const tokens = exampleTokens(sft, prompt.text, "Use the standard library.");
      const [a, b, c] = [await distributions(viaAdapter, tokens), await distributions(merged, tokens), await distributions(base, tokens)];
      a.forEach((row, pos) => {
        row.forEach((p, token) => {
          worst = Math.max(worst, Math.abs(p - b[pos]![token]!));
          dpoVsSft = Math.max(dpoVsSft, Math.abs(p - c[pos]![token]!));
        });
      });
    }
    await Promise.all([viaAdapter.dispose(), merged.dispose(), base.dispose()]);
    assert.ok(worst < 1e-5, `max |Δp| adapter vs merged = ${worst}`);
    assert.ok(dpoVsSft > 1e-3, `the adapter must change something (max |Δp| vs SFT = ${dpoVsSft})`);
  });

  test("on held-out preference pairs the DPO implicit reward prefers chosen over rejected clearly more often than chance", async () => {
    const pairs = (await readPreferences(files.preferences)).filter((p) => p.split === "heldout");
    const sftContext = await sft.createContext({ contextSize: 128, ...exactContext });
    const dpoContext = await dpo.createContext({ contextSize: 128, ...exactContext });
    const responseLogprob = async (context: LlamaContext, prompt: string, response: string) => {
      const head = exampleTokens(sft, prompt);
      const tokens = [...exampleTokens(sft, prompt, response), sft.tokens.eos!];
      const rows = await distributions(context, tokens.slice(0, -1));
      let sum = 0;
      for (let i = head.length; i < tokens.length; i++) sum += Math.log(rows[i - 1]![tokens[i]!]!);
      return sum;
    };
    let correct = 0;
    for (const pair of pairs) {
      const chosen = (await responseLogprob(dpoContext, pair.prompt, pair.chosen)) - (await responseLogprob(sftContext, pair.prompt, pair.chosen));
      const rejected = (await responseLogprob(dpoContext, pair.prompt, pair.rejected)) - (await responseLogprob(sftContext, pair.prompt, pair.rejected));
      if (chosen > rejected) correct++;
    }
    await Promise.all([sftContext.dispose(), dpoContext.dispose()]);
    const n = pairs.length;
    // One-sided binomial test against 0.5 by the normal approximation: z > 1.645 is p < 0.05.
    // (The committed pair measures 138/241 = 0.573, z ≈ 2.3; see models/manifest.json.)
    const z = (correct - n / 2) / Math.sqrt(n / 4);
    assert.ok(n >= 200, `only ${n} held-out pairs`);
    assert.ok(z > 1.645, `accuracy ${correct}/${n} (z = ${z.toFixed(2)}) is not above chance at p < 0.05`);
  });

  test("the next-token distribution depends on context beyond the last token (a bigram model would fail)", async () => {
    const context = await sft.createContext({ contextSize: 128, ...exactContext });
    // Same last tokens ("… A: You can use"), different questions: a bigram model would give
    // identical distributions; the right API depends on the task and language asked about.
    const python = exampleTokens(sft, "How do I reverse a list in Python?", "You can use");
    const go = exampleTokens(sft, "How do I read a file line by line in Go?", "You can use");
    assert.equal(python[python.length - 1], go[go.length - 1]);
    const [p] = (await distributions(context, python)).slice(-1);
    const [q] = (await distributions(context, go)).slice(-1);
    const totalVariation = p!.reduce((sum, x, i) => sum + Math.abs(x - q![i]!), 0) / 2;
    await context.dispose();
    assert.ok(totalVariation > 0.1, `total variation ${totalVariation}`);
  });
});
