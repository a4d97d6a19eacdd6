// The scores the rules rank by, at their edges: tokens a model rules out (−Infinity), EFT's
// lambda = 0 and 1 dropping a term exactly, NaN, and the argmax's tie-breaking.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { advantage, DEFAULT_BETA, eftScore, implicitReward, LOGPROB_FLOOR, pickArgmax } from "../../server/src/decoding/index.ts";

void describe("advantage", () => {
  void it("is log p_dpo − log p_sft", () => {
    assert.equal(advantage(-1, -3), 2);
  });

  void it("is −Infinity for a token the DPO model rules out, even when the SFT model rules it out too", () => {
    assert.equal(advantage(-Infinity, -Infinity), -Infinity);
    assert.equal(advantage(-Infinity, -1), -Infinity);
    assert.equal(advantage(-1, -Infinity), Infinity);
  });
});

void describe("eftScore", () => {
  void it("is log p_sft + lambda · (log p_dpo − log p_sft)", () => {
    assert.equal(eftScore(-1, -3, 1.5), -3 + 1.5 * 2);
  });

  void it("with lambda = 1 is log p_dpo exactly, whatever the SFT model says", () => {
    assert.equal(eftScore(-0.7, -Infinity, 1), -0.7);
  });

  void it("with lambda = 0 is log p_sft exactly, whatever the DPO model says", () => {
    assert.equal(eftScore(-Infinity, -0.7, 0), -0.7);
  });

  void it("is −Infinity, not NaN, for a token both models rule out", () => {
    assert.equal(eftScore(-Infinity, -Infinity, 0.5), -Infinity);
    assert.equal(eftScore(-Infinity, -Infinity, 1.5), -Infinity);
  });
});

void describe("implicitReward", () => {
  void it("is beta 0.1 times the summed log-ratio unless told otherwise", () => {
    assert.equal(DEFAULT_BETA, 0.1);
    const tokens = [
      { logprobDpo: -1, logprobSft: -2 },
      { logprobDpo: -0.5, logprobSft: -0.25 },
    ];
    assert.equal(implicitReward(tokens), 0.1 * 0.75);
    assert.equal(implicitReward(tokens, 2), 1.5);
    assert.equal(implicitReward([]), 0);
  });

  void it("clamps ruled-out tokens to the floor, so it stays finite", () => {
    assert.equal(implicitReward([{ logprobDpo: -Infinity, logprobSft: -1 }], 1), LOGPROB_FLOOR + 1);
  });
});

void describe("pickArgmax", () => {
  void it("picks the highest score, NaN counting as −Infinity", () => {
    assert.equal(pickArgmax({ tokens: [5, 6, 7], scores: [NaN, -2, -1] }), 7);
    assert.equal(pickArgmax({ tokens: [5, 6], scores: [-Infinity, NaN] }), 5);
    assert.equal(pickArgmax({ tokens: [5, 6], scores: [NaN, -Infinity] }), 5);
  });

  void it("breaks a score tie toward the higher tie-break value, then the lower id", () => {
    assert.equal(pickArgmax({ tokens: [3, 9, 1], scores: [1, 1, 0] }, [-2, -1, 0]), 9);
    assert.equal(pickArgmax({ tokens: [9, 3, 4], scores: [1, 1, 1] }), 3);
    assert.equal(pickArgmax({ tokens: [9, 3, 4], scores: [1, 1, 1] }, [-1, -1, -1]), 3);
  });

  void it("refuses an empty set", () => {
    assert.throws(() => pickArgmax({ tokens: [], scores: [] }), (error: unknown) => error instanceof RangeError && error.message === "pickArgmax over no tokens");
  });
});
