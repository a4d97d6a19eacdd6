// The candidate set `{v : p(v) ≥ alpha · max p}` at its edges: a token at exactly alpha · max,
// its order (most probable first, ties to the lower id), and alpha outside [0, 1].
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { candidateSet, candidateThreshold, checkAlpha, DecodingOptionError, DEFAULT_ALPHA, dense, sparse } from "../../server/src/decoding/index.ts";

const ids = (view: { tokens: ArrayLike<number> }): number[] => Array.from(view.tokens);

void describe("candidateSet", () => {
  void it("keeps a token whose probability is exactly alpha times the maximum", () => {
    // log 0.5 + log 0.5 = log 0.25 exactly in double precision.
    const view = dense([Math.log(0.25), Math.log(0.5), Math.log(0.25) - 1e-12]);
    assert.equal(candidateThreshold(view, 0.5), Math.log(0.25));
    assert.deepEqual(ids(candidateSet(view, 0.5)), [1, 0]);
  });

  void it("orders the set most probable first, equal probabilities by lower id", () => {
    const view = sparse([9, 4, 7, 2], [-2, -1, -1, -2]);
    const set = candidateSet(view, 0);
    assert.deepEqual(ids(set), [4, 7, 2, 9]);
    assert.deepEqual(Array.from(set.logprobs), [-1, -1, -2, -2]);
  });

  void it("with alpha = 1 keeps the argmax and its exact ties only; with alpha = 0 every token", () => {
    const view = dense([-1, -0.5, -0.5, -3]);
    assert.deepEqual(ids(candidateSet(view, 1)), [1, 2]);
    assert.deepEqual(ids(candidateSet(view, 0)), [1, 2, 0, 3]);
  });

  void it("uses alpha = 0.1 when none is given", () => {
    assert.equal(DEFAULT_ALPHA, 0.1);
    const view = dense([Math.log(0.5), Math.log(0.051), Math.log(0.049)]);
    assert.deepEqual(ids(candidateSet(view)), [0, 1]);
  });

  void it("refuses alpha outside [0, 1] or NaN, saying what it got", () => {
    for (const alpha of [-0.1, 1.5, NaN]) {
      assert.throws(() => candidateSet(dense([0]), alpha), (error: unknown) => error instanceof DecodingOptionError && error.message === `alpha must lie in [0, 1], got ${alpha}`);
    }
    assert.equal(checkAlpha(0), 0);
    assert.equal(checkAlpha(1), 1);
  });
});
