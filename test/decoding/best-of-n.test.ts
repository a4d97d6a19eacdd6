import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  bestOfNRule,
  DecodingOptionError,
  implicitReward,
  selectBestOfN,
  selectBestOfNBy,
  type CandidateResponse,
} from "../../server/src/decoding/index.ts";

const logprob = fc.double({ min: -20, max: 0, noNaN: true });
const response: fc.Arbitrary<CandidateResponse> = fc.record({
  tokens: fc.array(fc.record({ logprobDpo: logprob, logprobSft: logprob }), { maxLength: 10 }),
});

void describe("best-of-n", () => {
  void it("picks a candidate with the maximal implicit reward", () => {
    fc.assert(
      fc.property(fc.array(response, { minLength: 1, maxLength: 6 }), fc.double({ min: 0.01, max: 2, noNaN: true }), (candidates, beta) => {
        const { index, best, scores } = selectBestOfN(candidates, { beta });
        const rewards = candidates.map((c) => implicitReward(c.tokens, beta));
        assert.deepEqual(scores, rewards);
        assert.equal(best, candidates[index]);
        assert.equal(rewards[index], Math.max(...rewards));
        assert.equal(index, rewards.indexOf(Math.max(...rewards)));
      }),
    );
  });

  void it("computes the implicit reward as beta times the summed log-ratio", () => {
    const tokens = [
      { logprobDpo: -1, logprobSft: -3 },
      { logprobDpo: -2, logprobSft: -1.5 },
    ];
    assert.equal(implicitReward(tokens, 0.5), 0.5 * (2 - 0.5));
  });

  void it("keeps the implicit reward finite when a model rules a token out", () => {
    assert.equal(implicitReward([{ logprobDpo: -1, logprobSft: -Infinity }], 0.1), 0.1 * 999);
    assert.ok(Number.isFinite(implicitReward([{ logprobDpo: -Infinity, logprobSft: -Infinity }])));
  });

  void it("breaks a reward tie toward the earliest candidate", () => {
    const same = { tokens: [{ logprobDpo: -1, logprobSft: -2 }] };
    assert.equal(selectBestOfN([{ tokens: [] }, same, { ...same }]).index, 1);
  });

  void it("chooses by a caller's async scorer", async () => {
    const texts = ["short", "the longest one", "medium text"];
    const chosen = await selectBestOfNBy(texts, (text) => Promise.resolve(text.length));
    assert.equal(chosen.best, "the longest one");
  });

  void it("chooses by a caller's sync scorer, ignoring NaN scores", async () => {
    const chosen = await selectBestOfNBy([1, 2, 3], (x) => (x === 3 ? Number.NaN : x));
    assert.equal(chosen.index, 1);
  });

  void it("stops scoring when its signal is aborted", async () => {
    const controller = new AbortController();
    let scored = 0;
    const scoring = selectBestOfNBy([1, 2, 3], () => {
      scored++;
      controller.abort();
      return 0;
    }, { signal: controller.signal });
    await assert.rejects(scoring, { name: "AbortError" });
    assert.equal(scored, 1);
  });

  void it("refuses to choose among no candidates, saying so", () => {
    assert.throws(() => selectBestOfN([]), { name: "RangeError", message: "best-of-n needs at least one candidate" });
  });

  void it("refuses a beta that is not finite and positive, saying which", () => {
    const one = [{ tokens: [{ logprobDpo: -1, logprobSft: -2 }] }];
    for (const beta of [0, -0.5, Infinity, Number.NaN]) {
      assert.throws(() => selectBestOfN(one, { beta }), (error: unknown) => error instanceof DecodingOptionError && error.message === `beta must be finite and > 0, got ${beta}`, String(beta));
    }
    assert.equal(selectBestOfN(one, { beta: 1e-9 }).scores[0], 1e-9 * 1);
  });

  void it("draws two candidates with beta 0.1 unless told otherwise", () => {
    const rule = bestOfNRule();
    assert.equal(rule.n, 2);
    assert.equal(rule.beta, 0.1);
    assert.throws(() => bestOfNRule({ n: 0 }), DecodingOptionError);
  });
});
