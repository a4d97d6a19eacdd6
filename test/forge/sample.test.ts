/**
 * The forge's sampler gives the same bytes whatever the timing: the same jobs sampled on a quiet
 * machine and under CPU load (busy child processes on every core) must come out identical.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel, type Token } from "node-llama-cpp";
import { sampleContinuations, type SampleJob, type SampleOptions } from "../../server/src/forge/sample.ts";

const modelPath = fileURLToPath(new URL("../../models/sft.gguf", import.meta.url));

let llama: Llama;
let model: LlamaModel;

before(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  model = await llama.loadModel({ modelPath });
});

after(async () => {
  await llama.dispose();
});

/** Runs `work` while one busy-looping child process per core competes for the CPU. */
async function underLoad<T>(work: () => Promise<T>): Promise<T> {
  const children = Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    return await work();
  } finally {
    for (const child of children) child.kill("SIGKILL");
  }
}

const questions = [
  "How do I reverse a list in Python?",
  "Hi",
  "Write a function that adds two numbers and returns their sum.",
  "Why?",
  "What is the capital of France?",
  "Explain what a hash map is, when to use one, and what it costs to look a key up in it.",
  "Sort this list.",
];

function jobsOf(count: number, question: (i: number) => string): SampleJob[] {
  return Array.from({ length: count }, (_, i) => ({ prompt: [model.tokens.bos!, ...model.tokenize(`Q: ${question(i)}\nA:`)], seed: `sample-test:${i}` }));
}

function differing(a: readonly Token[][], b: readonly Token[][]): number[] {
  return a.flatMap((tokens, i) => (tokens.join(",") === b[i]!.join(",") ? [] : [i]));
}

void describe("sampleContinuations", () => {
  test("64 jobs on 16 sequences: the same samples on a quiet machine and under CPU load", async () => {
    const jobs = jobsOf(64, (i) => questions[(i * 3) % questions.length]!);
    const options: SampleOptions = { maxTokens: 80, topK: 64, parallel: 16 };
    const quiet = await sampleContinuations(model, jobs, options);
    const loaded = await underLoad(() => sampleContinuations(model, jobs, options));
    assert.deepEqual(differing(quiet, loaded), [], "samples that differ under load");
    assert.equal(quiet.length, 64);
    assert.ok(quiet.every((tokens) => tokens.length <= 80));
    const vocabulary = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
    assert.ok(quiet.flat().every((t) => t >= 0 && t < vocabulary && t !== model.tokens.eos));
    assert.ok(new Set(quiet.map((t) => t.join(","))).size > 32, "different seeds give different samples");

    // Not byte-equal to one sequence at a time by design: llama.cpp takes other code paths for
    // single-token batches (its sgemm kernel needs two or more) and a one-sequence context, so the
    // last bits of the probabilities differ and a draw right at a boundary could flip. More than
    // that would mean a sequence got another's distribution.
    const single = await sampleContinuations(model, jobs, { ...options, parallel: 1 });
    assert.ok(differing(quiet, single).length <= 2, `samples that differ from parallel 1: ${differing(quiet, single).join(", ")}`);
  });

  test("prompts of mixed lengths, many rounds, quiet and loaded, 1 and 2 contexts: always the same bytes", async () => {
    // Prompts longest first within each round: with whole prompts in one batch, llama.cpp returns
    // their logits out of batch order and reorders them lazily on the first read, which
    // node-llama-cpp does from several threads at once. The old whole-prompt sampler lost samples
    // to that race in 10 of 14 runs of this test (how often depends on how idle the cores are).
    const parallel = 32;
    const jobs = jobsOf(256, (i) => `${questions[i % questions.length]!}${" and then?".repeat((parallel - (i % parallel)) >> 2)}`);
    const options: SampleOptions = { maxTokens: 2, topK: 64, parallel };
    const reference = await sampleContinuations(model, jobs, options);
    for (let run = 0; run < 3; run++) {
      assert.deepEqual(differing(reference, await sampleContinuations(model, jobs, options)), [], `quiet run ${run}`);
    }
    for (let run = 0; run < 3; run++) {
      assert.deepEqual(differing(reference, await underLoad(() => sampleContinuations(model, jobs, options))), [], `loaded run ${run}`);
    }
    const twoContexts = await sampleContinuations(model, jobs, { ...options, contexts: 2 });
    assert.deepEqual(differing(twoContexts, await underLoad(() => sampleContinuations(model, jobs, { ...options, contexts: 2 }))), [], "two contexts");
  });

  test("progress reports every job once, and edge cases", async () => {
    const jobs = jobsOf(5, (i) => questions[i]!);
    const progress: number[] = [];
    const samples = await sampleContinuations(model, [...jobs, { prompt: [model.tokens.bos!], seed: "bos only" }], {
      maxTokens: 1, topK: 64, parallel: 4, onProgress: (done, total) => progress.push(done / total),
    });
    assert.equal(samples.length, 6);
    assert.ok(samples.every((tokens) => tokens.length <= 1));
    assert.deepEqual(progress, [4 / 6, 1]);
    assert.deepEqual(await sampleContinuations(model, [], { maxTokens: 8, topK: 64, parallel: 16 }), []);
    await assert.rejects(sampleContinuations(model, [{ prompt: [], seed: "empty" }], { maxTokens: 8, topK: 64, parallel: 2 }), RangeError);
  });
});
