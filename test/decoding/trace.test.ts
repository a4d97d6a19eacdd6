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
  picksOnlyEntry,
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

// A token exactly at the alpha = 0.5 threshold (log 0.25, exact in double precision: see
// candidates.test.ts), one above it and one just below it.
const atThreshold = dense([Math.log(0.25), Math.log(0.5), Math.log(0.25) - 1e-12]);

void describe("trace entries at the candidate-set threshold", () => {
  void it("count a token at exactly alpha · max in the set, for the given alpha", () => {
    const entry = traceEntry({ dpo: atThreshold, sft: dense([-1, -1, -1]) }, 0, "a", { alpha: 0.5 });
    assert.equal(entry.candidateSetSize, 2);
    assert.equal(entry.inCandidateSet, true);
    assert.deepEqual(entry.top.map((c) => [c.token, c.inCandidateSet]), [[1, true], [0, true], [2, false]]);
  });

  void it("leave a pick just below the threshold out of the set", () => {
    const entry = traceEntry({ dpo: atThreshold, sft: dense([-1, -1, -1]) }, 2, "c", { alpha: 0.5 });
    assert.equal(entry.inCandidateSet, false);
    assert.equal(entry.dpoRank, 3);
  });

  void it("say the SFT model was consulted when the step has its view, unless told otherwise", () => {
    assert.equal(traceEntry({ dpo: atThreshold, sft: dense([-1, -1, -1]) }, 0, "a").sftSkipped, false);
    assert.equal(traceEntry({ dpo: atThreshold, sft: dense([-1, -1, -1]) }, 0, "a", { sftSkipped: true }).sftSkipped, true);
  });

  void it("leave the advantage unknown when the DPO view lacks the pick, though the SFT view holds it", () => {
    const entry = traceEntry({ dpo: sparse([0, 1], [-0.1, -2.5]), sft: sparse([7], [-1]) }, 7, "z");
    assert.equal(entry.logprobDpo, null);
    assert.equal(entry.logprobSft, -1);
    assert.equal(entry.advantage, null);
  });

  void it("leave the advantage unknown when the SFT view lacks the pick", () => {
    const entry = traceEntry({ dpo: atThreshold, sft: sparse([1], [-2]) }, 0, "a", { alpha: 0.5 });
    assert.equal(entry.logprobDpo, Math.log(0.25));
    assert.equal(entry.logprobSft, null);
    assert.equal(entry.advantage, null);
    assert.equal(entry.top[0]!.advantage, Math.log(0.5) + 2);
    assert.equal(entry.top[1]!.advantage, null);
  });
});

void describe("picks-only trace entries", () => {
  void it("hold no numbers, an empty top list and no rank when the DPO model was not read", () => {
    assert.deepEqual(picksOnlyEntry(null, 5, "x", { sftSkipped: true }), {
      token: 5,
      piece: "x",
      logprobDpo: null,
      logprobSft: null,
      advantage: null,
      inCandidateSet: false,
      candidateSetSize: 0,
      dpoRank: null,
      top: [],
      sftSkipped: true,
    });
  });

  void it("give the candidate set's size, the pick's membership and its rank from the DPO view", () => {
    assert.deepEqual(picksOnlyEntry(atThreshold, 0, "a", { alpha: 0.5, sftSkipped: false }), {
      token: 0,
      piece: "a",
      logprobDpo: null,
      logprobSft: null,
      advantage: null,
      inCandidateSet: true,
      candidateSetSize: 2,
      dpoRank: 2,
      top: [],
      sftSkipped: false,
    });
    const below = picksOnlyEntry(atThreshold, 2, "c", { alpha: 0.5, sftSkipped: false });
    assert.equal(below.inCandidateSet, false);
    assert.equal(below.dpoRank, 3);
    const absent = picksOnlyEntry(sparse([0, 1], [-0.1, -2.5]), 7, "z", { sftSkipped: false });
    assert.equal(absent.inCandidateSet, false);
    assert.equal(absent.dpoRank, null);
    assert.equal(absent.candidateSetSize, 1);
  });

  void it("use alpha = 0.1 when none is given", () => {
    assert.equal(picksOnlyEntry(atThreshold, 0, "a", { sftSkipped: false }).candidateSetSize, 3);
    assert.equal(picksOnlyEntry(dense([Math.log(0.5), Math.log(0.049)]), 1, "b", { sftSkipped: false }).inCandidateSet, false);
  });
});

void describe("response stats at their edges", () => {
  const entry = (logprobDpo: number | null, logprobSft: number | null, extra: Partial<TraceEntry> = {}): TraceEntry => ({
    ...picksOnlyEntry(null, 0, "", { sftSkipped: false }),
    logprobDpo,
    logprobSft,
    advantage: logprobDpo === null || logprobSft === null ? null : logprobDpo - logprobSft,
    ...extra,
  });

  void it("refuse a beta that is not finite, saying which", () => {
    assert.throws(() => summarizeTrace([], { beta: Infinity }), { name: "DecodingOptionError", message: "beta must be finite, got Infinity" });
    assert.throws(() => summarizeTrace([], { beta: Number.NaN }), { name: "DecodingOptionError", message: "beta must be finite, got NaN" });
  });

  void it("leave a token with an unknown DPO log-probability out of the reward", () => {
    const stats = summarizeTrace([entry(-1, -2), entry(null, -1)], { beta: 1 });
    assert.equal(stats.implicitReward, 1);
    assert.equal(stats.unscoredTokens, 1);
    assert.equal(stats.meanAdvantage, 1);
  });

  void it("give no timing for an elapsed time of 0", () => {
    const stats = summarizeTrace([entry(-1, -1)], { elapsedMs: 0 });
    assert.equal("tokensPerSecond" in stats, false);
    assert.equal("elapsedMs" in stats, false);
  });

  void it("average the candidate-set size over the tokens and count the DPO argmax picks", () => {
    const stats = summarizeTrace([
      entry(-1, -1, { candidateSetSize: 1, dpoRank: 1 }),
      entry(-1, -1, { candidateSetSize: 4, dpoRank: 1 }),
      entry(-1, -1, { candidateSetSize: 7, dpoRank: 3 }),
    ]);
    assert.equal(stats.meanCandidateSetSize, 4);
    assert.equal(stats.dpoArgmaxPicks, 2);
  });
});
