import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  aadRule,
  candidateSet,
  createRng,
  dense,
  LOGPROB_FLOOR,
  logprobOf,
  sparse,
  summarizeTrace,
  traceEntry,
  type TraceEntry,
} from "../../server/src/decoding/index.ts";
import { step } from "./arbitraries.ts";

const rng = createRng(0);

function allNumbers(value: unknown): number[] {
  if (typeof value === "number") return [value];
  if (Array.isArray(value)) return value.flatMap(allNumbers);
  if (typeof value === "object" && value !== null) return Object.values(value).flatMap(allNumbers);
  return [];
}

void describe("trace entries", () => {
  void it("survive a JSON round trip unchanged, even with −Infinity log-probabilities", () => {
    const dpo = dense([Math.log(0.6), Math.log(0.4), -Infinity]);
    const sft = dense([-Infinity, Math.log(0.9), Math.log(0.1)]);
    const entry = traceEntry({ dpo, sft }, 0, "Hi");
    assert.deepEqual(JSON.parse(JSON.stringify(entry)), entry);
    assert.ok(allNumbers(entry).every(Number.isFinite));
    assert.equal(entry.logprobSft, LOGPROB_FLOOR);
    assert.equal(entry.top[2]!.logprobDpo, LOGPROB_FLOOR);
  });

  void it("hold only finite numbers for any step and pick", () => {
    fc.assert(
      fc.property(step, fc.nat(), ({ dpo, sft }, seed) => {
        const entry = traceEntry({ dpo, sft }, seed % dpo.tokens.length, "x");
        assert.ok(allNumbers(entry).every(Number.isFinite));
      }),
    );
  });

  void it("list the DPO model's top tokens, most probable first, with the pick flagged", () => {
    fc.assert(
      fc.property(step, fc.integer({ min: 1, max: 10 }), ({ dpo, sft }, topK) => {
        const picked = aadRule().pick({ dpo, sft }, rng);
        const entry = traceEntry({ dpo, sft }, picked, "x", { topK });
        assert.equal(entry.top.length, Math.min(topK, dpo.tokens.length));
        for (let i = 1; i < entry.top.length; i++) assert.ok(entry.top[i - 1]!.logprobDpo >= entry.top[i]!.logprobDpo);
        for (const c of entry.top) assert.equal(c.picked, c.token === picked);
      }),
    );
  });

  void it("report the candidate set's size and membership as candidateSet computes them", () => {
    fc.assert(
      fc.property(step, ({ dpo, sft }) => {
        const members = new Set(Array.from(candidateSet(dpo, 0.1).tokens));
        const picked = aadRule().pick({ dpo, sft }, rng);
        const entry = traceEntry({ dpo, sft }, picked, "x", { alpha: 0.1, topK: 12 });
        assert.equal(entry.candidateSetSize, members.size);
        assert.ok(entry.inCandidateSet);
        for (const c of entry.top) assert.equal(c.inCandidateSet, members.has(c.token));
      }),
    );
  });

  void it("give the advantage as the DPO log-probability minus the SFT log-probability", () => {
    fc.assert(
      fc.property(step, fc.nat(), ({ dpo, sft }, seed) => {
        const token = seed % dpo.tokens.length;
        const entry = traceEntry({ dpo, sft }, token, "x");
        assert.equal(entry.advantage, logprobOf(dpo, token)! - logprobOf(sft, token)!);
      }),
    );
  });

  void it("rank the DPO argmax 1 and count higher-probability tokens for the rest", () => {
    const dpo = sparse([3, 1, 2], [-0.5, -2, -1.5]);
    assert.equal(traceEntry({ dpo }, 3, "a").dpoRank, 1);
    assert.equal(traceEntry({ dpo }, 1, "b").dpoRank, 3);
  });

  void it("mark SFT values unknown (null) and the step skipped when the runtime had no SFT view", () => {
    const entry = traceEntry({ dpo: dense([-0.01, -5]) }, 0, "a");
    assert.equal(entry.logprobSft, null);
    assert.equal(entry.advantage, null);
    assert.equal(entry.sftSkipped, true);
    assert.ok(entry.top.every((c) => c.logprobSft === null && c.advantage === null));
  });

  void it("mark a token missing from the DPO view as unranked", () => {
    const entry = traceEntry({ dpo: sparse([0, 1], [-0.1, -2.5]), sft: sparse([7], [-1]) }, 7, "z");
    assert.equal(entry.dpoRank, null);
    assert.equal(entry.logprobDpo, null);
    assert.equal(entry.inCandidateSet, false);
  });
});

void describe("response stats", () => {
  const entry = (logprobDpo: number | null, logprobSft: number | null, extra: Partial<TraceEntry> = {}): TraceEntry => ({
    token: 0,
    piece: "",
    logprobDpo,
    logprobSft,
    advantage: logprobDpo === null || logprobSft === null ? null : logprobDpo - logprobSft,
    inCandidateSet: true,
    candidateSetSize: 2,
    dpoRank: 1,
    top: [],
    sftSkipped: false,
    ...extra,
  });

  void it("give the implicit reward as beta times the summed advantage", () => {
    const stats = summarizeTrace([entry(-1, -2), entry(-0.5, -0.25), entry(-3, -3)], { beta: 0.5 });
    assert.equal(stats.implicitReward, 0.5 * (1 - 0.25 + 0));
    assert.equal(stats.meanAdvantage, 0.75 / 3);
  });

  void it("leave tokens with an unknown SFT log-probability out of the reward and count them", () => {
    const stats = summarizeTrace([entry(-1, -2), entry(-1, null, { sftSkipped: true, dpoRank: 2 })]);
    assert.equal(stats.implicitReward, 0.1);
    assert.equal(stats.unscoredTokens, 1);
    assert.equal(stats.sftStepsSkipped, 1);
    assert.equal(stats.dpoArgmaxPicks, 1);
  });

  void it("give tokens per second only when the elapsed time is known", () => {
    assert.equal(summarizeTrace([entry(-1, -1), entry(-1, -1)], { elapsedMs: 500 }).tokensPerSecond, 4);
    assert.equal("tokensPerSecond" in summarizeTrace([entry(-1, -1)]), false);
  });

  void it("describe an empty response without NaN", () => {
    const stats = summarizeTrace([], { sftStepsBatched: 3 });
    assert.deepEqual(JSON.parse(JSON.stringify(stats)), stats);
    assert.equal(stats.meanAdvantage, null);
    assert.equal(stats.sftStepsBatched, 3);
  });
});
