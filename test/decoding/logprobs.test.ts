import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  candidateSet,
  DecodingOptionError,
  dense,
  finiteLogprob,
  LOGPROB_FLOOR,
  logprobOf,
  logprobsAt,
  logSoftmax,
  maxLogprob,
  MissingLogprobsError,
  rankOf,
  sparse,
  topTokens,
  type TokenLogprobs,
} from "../../server/src/decoding/index.ts";
import { alpha, ids, logit, logitsOf, step } from "./arbitraries.ts";

const logits = fc.integer({ min: 1, max: 12 }).chain(logitsOf);

void describe("log-probabilities", () => {
  void it("logSoftmax gives probabilities that sum to 1", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: 1, maxLength: 20 }), (xs) => {
        const total = Array.from(logSoftmax(xs)).reduce((s, lp) => s + Math.exp(lp), 0);
        assert.ok(Math.abs(total - 1) < 1e-9);
      }),
    );
  });

  void it("logSoftmax is bit-for-bit unchanged by adding a constant to logits in eighths", () => {
    fc.assert(
      fc.property(logits, logit, (xs, c) => {
        assert.deepEqual(logSoftmax(xs.map((x) => x + c * 4096)), logSoftmax(xs));
      }),
    );
  });

  void it("logSoftmax gives −Infinity to masked tokens and rejects NaN or all-masked logits", () => {
    assert.equal(logSoftmax([0, -Infinity])[1], -Infinity);
    assert.throws(() => logSoftmax([-Infinity]), DecodingOptionError);
    assert.throws(() => logSoftmax([0, Number.NaN]), DecodingOptionError);
  });

  void it("looks a token up in a dense or a sparse view, or reports it absent", () => {
    assert.equal(logprobOf(dense([-1, -2, -3]), 2), -3);
    assert.equal(logprobOf(sparse([9, 1, 4], [-1, -2, -3]), 4), -3);
    assert.equal(logprobOf(sparse([9, 1, 4], [-1, -2, -3]), 1), -2); // tokens[1] is 1 by coincidence
    assert.equal(logprobOf(sparse([9, 1, 4], [-1, -2, -3]), 5), undefined);
  });

  void it("logprobsAt names every token the view lacks", () => {
    assert.throws(
      () => logprobsAt(sparse([9, 1], [-1, -2]), [1, 5, 6], "reference"),
      (e) => e instanceof MissingLogprobsError && e.model === "reference" && e.tokens.join() === "5,6",
    );
  });

  void it("sparse rejects duplicate tokens and mismatched lengths", () => {
    assert.throws(() => sparse([1, 1], [-1, -2]), DecodingOptionError);
    assert.throws(() => sparse([1, 2], [-1]), DecodingOptionError);
  });

  void it("topTokens gives the k most probable tokens, ties to the lower id", () => {
    assert.deepEqual(topTokens(sparse([5, 2, 8, 1], [-2, -1, -1, -3]), 3), { tokens: [2, 8, 5], logprobs: [-1, -1, -2] });
  });

  void it("rankOf agrees with the order of topTokens", () => {
    fc.assert(
      fc.property(step, ({ dpo }) => {
        const { tokens } = topTokens(dpo, dpo.tokens.length);
        Array.from(tokens).forEach((v, i) => assert.equal(rankOf(dpo, v), i + 1));
      }),
    );
  });

  void it("finiteLogprob clamps −Infinity and NaN to the floor, whose probability is exactly 0", () => {
    assert.equal(finiteLogprob(-Infinity), LOGPROB_FLOOR);
    assert.equal(finiteLogprob(Number.NaN), LOGPROB_FLOOR);
    assert.equal(finiteLogprob(-3.5), -3.5);
    assert.equal(Math.exp(LOGPROB_FLOOR), 0);
  });
});

void describe("candidate set", () => {
  void it("holds exactly the tokens with p ≥ alpha · max p", () => {
    fc.assert(
      fc.property(step, alpha, ({ dpo }, a) => {
        const probs = Array.from(dpo.logprobs, Math.exp);
        const max = Math.max(...probs);
        const expected = ids(probs.length).filter((v) => probs[v]! >= a * max);
        assert.deepEqual(Array.from(candidateSet(dpo, a).tokens).sort((x, y) => x - y), expected);
      }),
    );
  });

  void it("lists the DPO argmax first", () => {
    fc.assert(
      fc.property(step, alpha, ({ dpo }, a) => {
        assert.equal(candidateSet(dpo, a).tokens[0], topTokens(dpo, 1).tokens[0]);
      }),
    );
  });

  void it("is the same from a sparse view that holds it", () => {
    fc.assert(
      fc.property(step.chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray(ids(s.vocab)))), alpha, ([{ dpo }, extra], a) => {
        const full = candidateSet(dpo, a);
        const tokens = [...new Set([...extra, ...Array.from(full.tokens)])];
        assert.deepEqual(candidateSet(sparse(tokens, tokens.map((v) => logprobOf(dpo, v)!)), a), full);
      }),
    );
  });

  void it("with alpha = 0 holds every token in the view", () => {
    assert.deepEqual(candidateSet(dense([-0.1, -Infinity, -3]), 0).tokens, [0, 2, 1]);
  });

  void it("rejects an alpha outside [0, 1]", () => {
    assert.throws(() => candidateSet(dense([0]), 1.5), DecodingOptionError);
    assert.throws(() => candidateSet(dense([0]), Number.NaN), DecodingOptionError);
  });
});

/** The view with its token array watched: `reads` lists each index read, in order. */
function watched(view: TokenLogprobs): { view: TokenLogprobs; reads: number[] } {
  const reads: number[] = [];
  const tokens = new Proxy(view.tokens, {
    get(target, key) {
      if (typeof key === "string" && /^\d+$/.test(key)) reads.push(Number(key));
      return Reflect.get(target, key) as unknown;
    },
  });
  return { view: { tokens, logprobs: view.logprobs }, reads };
}

// Edges of the views' checks and look-ups, written to kill the mutants of logprobs.ts the
// behaviour tests above let live (bench/results/mutation.md).
void describe("log-probability views at their edges", () => {
  void it("sparse says what is wrong with the tokens it refuses", () => {
    assert.throws(() => sparse([1, 2], [-1]), { name: "DecodingOptionError", message: "sparse view has 2 tokens but 1 log-probabilities" });
    assert.throws(() => sparse([0, -1], [-1, -2]), { name: "DecodingOptionError", message: "token id -1 is not a non-negative integer" });
    assert.throws(() => sparse([1.5], [-1]), { name: "DecodingOptionError", message: "token id 1.5 is not a non-negative integer" });
    assert.throws(() => sparse([3, 1, 3], [-1, -2, -3]), { name: "DecodingOptionError", message: "token 3 appears twice in a sparse view" });
    assert.deepEqual(sparse([0, 7], [-1, -2]).tokens, [0, 7]);
  });

  void it("logSoftmax refuses +Infinity and NaN logits, naming the token, and a view with no finite logit", () => {
    assert.throws(() => logSoftmax([0, Infinity]), { name: "DecodingOptionError", message: "logit Infinity at token 1" });
    assert.throws(() => logSoftmax([0, -1, Number.NaN]), { name: "DecodingOptionError", message: "logit NaN at token 2" });
    assert.throws(() => logSoftmax([-Infinity, -Infinity]), { name: "DecodingOptionError", message: "logSoftmax needs at least one finite logit" });
  });

  void it("maxLogprob refuses a view with no tokens", () => {
    assert.throws(() => maxLogprob(sparse([], [])), { name: "DecodingOptionError", message: "a view must hold at least one token" });
    assert.equal(maxLogprob(sparse([4, 2], [-3, Number.NaN])), -3);
  });

  void it("logprobsAt fills every slot of a token asked for twice from a sparse view", () => {
    assert.deepEqual(Array.from(logprobsAt(sparse([9, 1, 4], [-1, -2, -3]), [4, 9, 4], "sft")), [-3, -1, -3]);
  });

  void it("topTokens puts an equally probable lower id first, wherever the view lists it", () => {
    assert.deepEqual(topTokens(sparse([5, 2], [-1, -1]), 2), { tokens: [2, 5], logprobs: [-1, -1] });
    assert.deepEqual(topTokens(sparse([5, 9, 2], [-1, -2, -1]), 2), { tokens: [2, 5], logprobs: [-1, -1] });
    assert.equal(rankOf(sparse([5, 2], [-1, -1]), 2), 1);
  });

  // The runtime's views span 32k–150k tokens: a dense look-up must not scan, and a scan of a
  // sparse view stops once it has every token it was asked for.
  void it("looks tokens up in a dense view by index, without scanning it", () => {
    const one = watched(dense([-1, -2, -3, -4, -5]));
    assert.equal(logprobOf(one.view, 3), -4);
    assert.deepEqual(one.reads, [3]);
    const some = watched(dense([-1, -2, -3, -4, -5]));
    assert.deepEqual(Array.from(logprobsAt(some.view, [4, 1], "sft")), [-5, -2]);
    assert.deepEqual(some.reads, [4, 1]);
  });

  void it("stops scanning a sparse view at the last token it was asked for", () => {
    const { view, reads } = watched(sparse([90, 10, 40, 70, 80], [-1, -2, -3, -4, -5]));
    assert.deepEqual(Array.from(logprobsAt(view, [40, 90], "sft")), [-3, -1]);
    // Indices 40 and 90 are the dense probes (past the end); the scan reads 0 to 2, where 40 is.
    assert.equal(Math.max(...reads.filter((i) => i < 5)), 2, `read indices ${reads.join(", ")}`);
  });
});
