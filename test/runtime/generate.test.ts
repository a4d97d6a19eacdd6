/**
 * The decoding loop on the real built-in pair: agreement with node-llama-cpp's own greedy
 * generation, lazy = eager, stopping, cancellation, KV-cache prefix reuse and the methods.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { LlamaModel } from "node-llama-cpp";
import { formatExample, heldoutPrompts } from "../../server/src/forge/world.ts";
import { generate, ModelPair, type GenerateResult } from "../../server/src/runtime/index.ts";
import type { TraceEntry } from "../../server/src/decoding/index.ts";
import { builtInPair, disposeTestLlama, testLlama } from "./support.ts";

const files = builtInPair();
let pair: ModelPair;

before(async () => {
  pair = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama: await testLlama(), reference: files.sft });
});
after(async () => {
  await pair.dispose();
  await disposeTestLlama();
});

const prompts = heldoutPrompts().map((p) => p.text);

describe("agreement with node-llama-cpp", () => {
  test("greedy-dpo equals node-llama-cpp's own greedy generation token for token on 20 prompts", async () => {
    const llama = await testLlama();
    const model: LlamaModel = await llama.loadModel({ modelPath: files.dpo, gpuLayers: 0 });
    const context = await model.createContext({
      contextSize: pair.info.contextSize,
      sequences: 1,
      threads: pair.info.threads,
      flashAttention: false,
      // eslint-disable-next-line @typescript-eslint/no-deprecated
      experimentalKvCacheKeyType: "F32",
      // eslint-disable-next-line @typescript-eslint/no-deprecated
      experimentalKvCacheValueType: "F32",
    });
    try {
      for (const prompt of prompts.slice(0, 20)) {
        const ours = await generate(pair, { prompt, method: { method: "greedy-dpo" }, maxTokens: 48 });
        const sequence = context.getSequence();
        const input = [model.tokens.bos!, ...model.tokenize(formatExample(prompt))];
        const theirs: number[] = [];
        for await (const token of sequence.evaluate(input, { temperature: 0, yieldEogToken: true })) {
          theirs.push(token);
          if (model.isEogToken(token) || theirs.length === 48 || input.length + theirs.length >= pair.info.contextSize) break;
        }
        await sequence.dispose();
        assert.deepEqual(ours.tokens.map((e) => e.token), theirs, prompt);
      }
    } finally {
      await context.dispose();
      await model.dispose();
    }
  });
});

describe("lazy reference evaluation", () => {
  test("lazy, background and eager schedules give identical output on 60 held-out prompts", async (t) => {
    let steps = 0;
    let skipped = 0;
    let batched = 0;
    let worst = 0;
    for (const prompt of prompts.slice(0, 60)) {
      const eager = await generate(pair, { prompt, schedule: "eager", maxTokens: 40 });
      for (const schedule of ["lazy", "background"] as const) {
        const other = await generate(pair, { prompt, schedule, maxTokens: 40 });
        assert.deepEqual(other.tokens.map((e) => e.token), eager.tokens.map((e) => e.token), `${schedule}: ${prompt}`);
        assert.equal(other.text, eager.text);
        worst = Math.max(worst, traceDifference(other.tokens, eager.tokens));
        if (schedule === "lazy") {
          steps += other.tokens.length;
          skipped += other.stats.sftStepsSkipped;
          batched += other.stats.sftStepsBatched;
        }
      }
      assert.equal(eager.stats.sftStepsSkipped, 0);
    }
    t.diagnostic(`lazy: ${skipped} of ${steps} steps decided without the SFT model (${((100 * skipped) / steps).toFixed(1)} %), ${batched} evaluated later in batches; max trace difference ${worst.toExponential(2)}`);
    assert.ok(skipped > 0, "some steps had a single candidate");
    assert.ok(batched > 0, "skipped steps were evaluated in batches");
    // Picks are identical; the numbers differ only as llama.cpp's batch shapes do (a position
    // evaluated alone or in a batch: ~1e-5 in log p at most, with an F32 KV cache).
    assert.ok(worst <= 1e-4, `trace difference ${worst}`);
  });

  test("a lazily evaluated entry arrives first without SFT numbers, then complete through onTraceUpdate", async () => {
    const first = new Map<number, TraceEntry>();
    const updates = new Map<number, TraceEntry>();
    const result = await generate(pair, {
      prompt: prompts[3]!,
      schedule: "lazy",
      maxTokens: 40,
      onToken: (entry, i) => first.set(i, entry),
      onTraceUpdate: (entry, i) => updates.set(i, entry),
    });
    assert.equal(first.size, result.tokens.length);
    for (const [i, entry] of result.tokens.entries()) {
      assert.notEqual(entry.logprobSft, null, "the result's entries are complete");
      if (first.get(i)!.logprobSft === null) {
        assert.equal(first.get(i)!.sftSkipped, true);
        assert.deepEqual(updates.get(i), entry);
      } else {
        assert.equal(updates.has(i), false);
      }
    }
    assert.ok(updates.size > 0);
  });
});

describe("without the SFT trace", () => {
  test("traceSft false gives the same picks, SFT numbers only where a pick needed them, and greedy-dpo never runs the SFT model", async () => {
    for (const prompt of prompts.slice(20, 26)) {
      const full = await generate(pair, { prompt, maxTokens: 30 });
      const picksOnly = await generate(pair, { prompt, maxTokens: 30, traceSft: false });
      assert.deepEqual(picksOnly.tokens.map((e) => e.token), full.tokens.map((e) => e.token));
      for (const entry of picksOnly.tokens) assert.equal(entry.logprobSft === null, entry.sftSkipped);
    }
    const greedy = await generate(pair, { prompt: prompts[20]!, method: { method: "greedy-dpo" }, maxTokens: 30, traceSft: false });
    assert.equal(greedy.runtime.work.sft, undefined);
    assert.ok(greedy.tokens.every((e) => e.logprobSft === null && e.logprobDpo !== null));
  });
});

describe("picks only", () => {
  test("trace: picks gives every method's exact picks, candidate sets and ranks, with one native pass per model and step and no numbers", async (t) => {
    const methods = [{ method: "aad" }, { method: "greedy-dpo" }, { method: "greedy-sft" }, { method: "eft" }, { method: "cd" }, { method: "aad", alpha: 0.3 }] as const;
    let steps = 0;
    let sftPositions = 0;
    for (const [m, method] of methods.entries()) {
      for (const prompt of prompts.slice(30 + 4 * m, 34 + 4 * m)) {
        for (const schedule of ["eager", "lazy"] as const) {
          const exact = await generate(pair, { prompt, method, schedule, maxTokens: 40 });
          const picks = await generate(pair, { prompt, method, schedule, maxTokens: 40, trace: "picks" });
          const where = `${JSON.stringify(method)} ${schedule}: ${prompt}`;
          assert.equal(picks.text, exact.text, where);
          assert.deepEqual(picks.tokens.map((e) => e.token), exact.tokens.map((e) => e.token), where);
          assert.deepEqual(picks.tokens.map((e) => [e.candidateSetSize, e.inCandidateSet]), exact.tokens.map((e) => [e.candidateSetSize, e.inCandidateSet]), where);
          // The picks-only view is the candidate set: it ranks every pick inside it exactly, and
          // has no rank for a pick outside it (greedy SFT's, CD's, EFT's may be).
          assert.deepEqual(picks.tokens.map((e) => e.dpoRank), exact.tokens.map((e) => (e.inCandidateSet ? e.dpoRank : null)), where);
          assert.equal(picks.stoppedBy, exact.stoppedBy);
          assert.equal(picks.runtime.trace, "picks");
          assert.ok(picks.tokens.every((e) => e.logprobDpo === null && e.logprobSft === null && e.advantage === null && e.top.length === 0));
          const dpo = picks.runtime.work.dpo!;
          // One pass per DPO position: the view is a min-p set, never a head pass plus top tokens.
          assert.equal(dpo.nativeCalls, dpo.sampledPositions, where);
          const sft = picks.runtime.work.sft;
          if (method.method === "aad" || method.method === "eft") {
            // The SFT model is sampled exactly where the pick needed it: steps with several candidates.
            const needed = picks.tokens.filter((e) => !e.sftSkipped).length;
            assert.equal(sft?.sampledPositions ?? 0, needed, where);
            assert.equal(sft?.nativeCalls ?? 0, needed, where);
            sftPositions += needed;
            steps += picks.tokens.length;
          }
          if (method.method === "greedy-dpo") assert.equal(sft, undefined, "greedy-dpo never runs the SFT model");
        }
      }
    }
    t.diagnostic(`aad/eft: the SFT model sampled at ${sftPositions} of ${steps} steps`);
    assert.ok(sftPositions > 0 && sftPositions < steps);
  });

  test("best-of-n decodes its candidates exactly even when picks are asked for", async () => {
    const result = await generate(pair, { prompt: prompts[50]!, method: { method: "best-of-n", n: 2 }, maxTokens: 24, seed: 3, trace: "picks" });
    assert.equal(result.runtime.trace, "exact");
    assert.ok(result.tokens.every((e) => e.logprobDpo !== null && e.logprobSft !== null));
  });
});

describe("stopping", () => {
  test("generation ends at EOS: the EOS entry closes the trace and adds no text", async () => {
    const eos = pair.model.tokens.eos!;
    const results = await Promise.all(prompts.slice(0, 10).map((prompt) => generate(pair, { prompt, method: { method: "greedy-dpo" }, maxTokens: 100 })));
    const ended = results.filter((r) => r.stoppedBy === "eos");
    assert.ok(ended.length > 0, "some response ends with EOS");
    for (const result of ended) {
      assert.equal(result.tokens.at(-1)!.token, eos);
      assert.equal(result.tokens.filter((e) => e.token === eos).length, 1);
      assert.equal(result.text, result.tokens.slice(0, -1).map((e) => e.piece).join(""));
      assert.ok(!result.text.includes("</s>"));
    }
  });

  test("a stop string ends the text before it", async () => {
    const full = await generate(pair, { prompt: prompts[0]!, maxTokens: 40 });
    const words = full.text.trim().split(/\s+/);
    assert.ok(words.length >= 3);
    const stop = words[2]!;
    const stopped = await generate(pair, { prompt: prompts[0]!, maxTokens: 40, stop: [stop] });
    assert.equal(stopped.stoppedBy, "stop");
    assert.equal(stopped.text, full.text.slice(0, full.text.indexOf(stop)));
  });

  test("maxTokens bounds the response, and a full context ends it", async () => {
    const short = await generate(pair, { prompt: prompts[0]!, maxTokens: 3, method: { method: "greedy-dpo" } });
    assert.equal(short.tokens.length, 3);
    assert.equal(short.stoppedBy, "max-tokens");
    const prompt = [pair.model.tokens.bos!, ...pair.model.tokenize(formatExample(prompts[0]!))];
    const room = 4;
    const filler = "x ".repeat(pair.info.contextSize); // cut below to leave `room` tokens
    let raw = "";
    for (const word of filler.split(" ")) {
      if (pair.model.tokenize(raw + word + " " + formatExample(prompts[0]!)).length + 1 > pair.info.contextSize - room) break;
      raw += word + " ";
    }
    const long = await generate(pair, { prompt: raw + formatExample(prompts[0]!), raw: true, maxTokens: 500, method: { method: "greedy-dpo" } });
    assert.ok(long.runtime.promptTokens > prompt.length);
    assert.ok(long.runtime.promptTokens + long.tokens.length <= pair.info.contextSize);
    if (long.stoppedBy !== "eos") assert.equal(long.stoppedBy, "context");
  });
});

describe("cancellation and reuse", () => {
  test("an abort is honoured within one step, and the pair stays usable", async () => {
    const reference = await generate(pair, { prompt: prompts[5]!, maxTokens: 40 });
    assert.ok(reference.tokens.length > 6);
    const controller = new AbortController();
    let delivered = 0;
    let deliveredAfterAbort = 0;
    await assert.rejects(
      generate(pair, {
        prompt: prompts[5]!,
        maxTokens: 40,
        signal: controller.signal,
        onToken: () => {
          delivered++;
          if (controller.signal.aborted) deliveredAfterAbort++;
          if (delivered === 5) controller.abort();
        },
      }),
      { name: "AbortError" },
    );
    assert.equal(deliveredAfterAbort, 0, "no step ran after the abort");
    const again = await generate(pair, { prompt: prompts[5]!, maxTokens: 40 });
    assert.deepEqual(again.tokens.map((e) => e.token), reference.tokens.map((e) => e.token));
  });

  test("an already aborted signal rejects before any work", async () => {
    await assert.rejects(generate(pair, { prompt: prompts[0]!, signal: AbortSignal.abort() }), { name: "AbortError" });
  });

  test("a second request sharing the prompt reuses the KV cache of both models and gives identical output", async () => {
    await generate(pair, { prompt: prompts[7]!, maxTokens: 1 }); // something else in the cache first
    const first = await generate(pair, { prompt: prompts[8]!, maxTokens: 30, schedule: "eager" });
    const second = await generate(pair, { prompt: prompts[8]!, maxTokens: 30, schedule: "eager" });
    const promptTokens = second.runtime.promptTokens;
    assert.equal(second.runtime.reusedPromptTokens.dpo, promptTokens - 1);
    assert.equal(second.runtime.reusedPromptTokens.sft, promptTokens - 1);
    assert.ok(second.runtime.work.dpo!.evaluatedTokens < first.runtime.work.dpo!.evaluatedTokens);
    assert.ok(second.runtime.work.sft!.evaluatedTokens < first.runtime.work.sft!.evaluatedTokens);
    assert.deepEqual(second.tokens.map((e) => e.token), first.tokens.map((e) => e.token));
    assert.ok(traceDifference(second.tokens, first.tokens) <= 1e-4); // the last prompt token alone vs in the prompt's batch
    // A different question still shares the chat format's first tokens.
    const other = await generate(pair, { prompt: prompts[9]!, maxTokens: 5 });
    assert.ok(other.runtime.reusedPromptTokens.dpo! >= 1);
  });
});

describe("methods", () => {
  test("greedy-sft decodes from the SFT model and traces the DPO model alongside", async () => {
    const result = await generate(pair, { prompt: prompts[1]!, method: { method: "greedy-sft" }, maxTokens: 30 });
    assert.ok(result.tokens.length > 0);
    for (const entry of result.tokens) {
      assert.notEqual(entry.logprobDpo, null);
      assert.notEqual(entry.logprobSft, null);
      assert.notEqual(entry.dpoRank, null);
    }
  });

  test("sampling is reproducible from the seed", async () => {
    const a = await generate(pair, { prompt: prompts[2]!, method: { method: "sample", temperature: 1 }, seed: 7, maxTokens: 30 });
    const b = await generate(pair, { prompt: prompts[2]!, method: { method: "sample", temperature: 1 }, seed: 7, maxTokens: 30 });
    const c = await generate(pair, { prompt: prompts[2]!, method: { method: "sample", temperature: 1 }, seed: 8, maxTokens: 30 });
    assert.deepEqual(a.tokens.map((e) => e.token), b.tokens.map((e) => e.token));
    assert.notDeepEqual(a.tokens.map((e) => e.token), c.tokens.map((e) => e.token));
  });

  test("cd with the SFT model as its reference picks exactly what aad picks", async () => {
    for (const prompt of prompts.slice(10, 14)) {
      const aad = await generate(pair, { prompt, maxTokens: 30 });
      const cd = await generate(pair, { prompt, method: { method: "cd" }, maxTokens: 30 });
      assert.deepEqual(cd.tokens.map((e) => e.token), aad.tokens.map((e) => e.token));
    }
  });

  test("eft and aad with alpha 1 run; aad with alpha 1 is greedy-dpo", async () => {
    const eft = await generate(pair, { prompt: prompts[4]!, method: { method: "eft" }, maxTokens: 20 });
    assert.ok(eft.tokens.every((e) => e.logprobSft !== null && e.logprobDpo !== null));
    const greedy = await generate(pair, { prompt: prompts[4]!, method: { method: "greedy-dpo" }, maxTokens: 20 });
    const alphaOne = await generate(pair, { prompt: prompts[4]!, method: { method: "aad", alpha: 1 }, maxTokens: 20 });
    assert.deepEqual(alphaOne.tokens.map((e) => e.token), greedy.tokens.map((e) => e.token));
  });

  test("best-of-n keeps the candidate with the highest implicit reward", async () => {
    const result: GenerateResult = await generate(pair, { prompt: prompts[6]!, method: { method: "best-of-n", n: 3 }, seed: 3, maxTokens: 30 });
    assert.equal(result.candidates!.length, 3);
    const best = Math.max(...result.candidates!.map((c) => c.implicitReward));
    assert.equal(result.candidates![result.chosen!]!.implicitReward, best);
    assert.equal(result.text, result.candidates![result.chosen!]!.text);
    assert.ok(result.tokens.every((e) => e.logprobSft !== null));
  });

  test("requests on one pair run one at a time and each gets its own answer", async () => {
    const [a, b] = await Promise.all([generate(pair, { prompt: prompts[0]!, maxTokens: 10 }), generate(pair, { prompt: prompts[1]!, maxTokens: 10 })]);
    const a2 = await generate(pair, { prompt: prompts[0]!, maxTokens: 10 });
    const b2 = await generate(pair, { prompt: prompts[1]!, maxTokens: 10 });
    assert.deepEqual(a.tokens.map((e) => e.token), a2.tokens.map((e) => e.token));
    assert.deepEqual(b.tokens.map((e) => e.token), b2.tokens.map((e) => e.token));
  });
});

/** Largest difference between two traces' numbers (same tokens assumed). */
function traceDifference(a: readonly TraceEntry[], b: readonly TraceEntry[]): number {
  let worst = 0;
  const diff = (x: number | null, y: number | null): number => (x === null || y === null ? (x === y ? 0 : Infinity) : Math.abs(x - y));
  for (const [i, entry] of a.entries()) {
    const other = b[i]!;
    worst = Math.max(worst, diff(entry.logprobDpo, other.logprobDpo), diff(entry.logprobSft, other.logprobSft));
    for (const [j, candidate] of entry.top.entries()) {
      worst = Math.max(worst, diff(candidate.logprobSft, other.top[j]!.logprobSft), diff(candidate.logprobDpo, other.top[j]!.logprobDpo));
    }
  }
  return worst;
}

