import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  createRng,
  dense,
  DecodingOptionError,
  logprobOf,
  logSoftmax,
  sampleFrom,
  sampleRule,
  samplingDistribution,
  sparse,
  type Rng,
  type SamplingOptions,
  type TokenLogprobs,
} from "../../server/src/decoding/index.ts";
import { logitsOf } from "./arbitraries.ts";

const view: fc.Arbitrary<TokenLogprobs> = fc
  .integer({ min: 1, max: 12 })
  .chain(logitsOf)
  .map((logits) => dense(logSoftmax(logits)));

const options = fc.record({
  temperature: fc.constantFrom(0, 0.3, 1, 2),
  topP: fc.constantFrom(0.2, 0.5, 0.9, 1),
  topK: fc.integer({ min: 0, max: 6 }),
});

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

void describe("sampling", () => {
  void it("draws the same tokens from the same seed", () => {
    fc.assert(
      fc.property(view, options, fc.integer(), (lp, opts, seed) => {
        const draw = (): number[] => {
          const rng = createRng(seed);
          return Array.from({ length: 20 }, () => sampleFrom(lp, opts, rng));
        };
        assert.deepEqual(draw(), draw());
      }),
    );
  });

  void it("draws only tokens in the distribution's support", () => {
    fc.assert(
      fc.property(view, options, fc.integer(), (lp, opts, seed) => {
        const support = new Set(samplingDistribution(lp, opts).tokens);
        const rng = createRng(seed);
        for (let i = 0; i < 50; i++) assert.ok(support.has(sampleFrom(lp, opts, rng)));
      }),
    );
  });

  void it("keeps at most top-k tokens, and they are the k most probable", () => {
    fc.assert(
      fc.property(view, fc.integer({ min: 1, max: 6 }), ({ tokens, logprobs }, topK) => {
        const kept = samplingDistribution({ tokens, logprobs }, { topK }).tokens;
        assert.ok(kept.length <= topK);
        const weakestKept = Math.min(...kept.map((v) => logprobOf({ tokens, logprobs }, v)!));
        const dropped = Array.from(tokens).filter((v) => !kept.includes(v));
        for (const v of dropped) assert.ok(logprobOf({ tokens, logprobs }, v)! <= weakestKept);
      }),
    );
  });

  void it("keeps the smallest most-probable prefix whose mass reaches top-p", () => {
    fc.assert(
      fc.property(view, fc.double({ min: 0.05, max: 0.99, noNaN: true }), (lp, topP) => {
        const full = samplingDistribution(lp);
        const kept = samplingDistribution(lp, { topP }).tokens;
        assert.deepEqual(kept, full.tokens.slice(0, kept.length));
        assert.ok(sum(full.probs.slice(0, kept.length)) >= topP - 1e-12);
        assert.ok(sum(full.probs.slice(0, kept.length - 1)) < topP);
      }),
    );
  });

  void it("renormalises the support to probabilities that sum to 1", () => {
    fc.assert(
      fc.property(view, options, (lp, opts) => {
        const { probs } = samplingDistribution(lp, opts);
        assert.ok(Math.abs(sum(probs) - 1) < 1e-9);
        assert.ok(probs.every((p) => p > 0));
      }),
    );
  });

  void it("at temperature 0 always draws the argmax, ties to the lower id", () => {
    const lp = sparse([7, 3, 4], [-1, -1, -3]);
    const rng = createRng(1);
    for (let i = 0; i < 20; i++) assert.equal(sampleFrom(lp, { temperature: 0 }, rng), 3);
  });

  void it("concentrates on the argmax as the temperature approaches 0", () => {
    fc.assert(
      fc.property(view, (lp) => {
        const { tokens } = samplingDistribution(lp, { temperature: 0 });
        const massOnArgmax = (temperature: number): number => {
          const d = samplingDistribution(lp, { temperature });
          return d.probs[d.tokens.indexOf(tokens[0]!)] ?? 0;
        };
        const masses = [1, 0.3, 0.1, 0.03, 0.01].map(massOnArgmax);
        for (let i = 1; i < masses.length; i++) assert.ok(masses[i]! >= masses[i - 1]! - 1e-12);
        const ties = Array.from(lp.logprobs).filter((x) => x === logprobOf(lp, tokens[0]!)).length;
        // Logits are eighths apart, so at T = 0.001 every non-tied token weighs at most e^−125.
        assert.ok(Math.abs(massOnArgmax(0.001) - 1 / ties) < 1e-9);
      }),
    );
  });

  void it("draws tokens with the frequencies of their probabilities", () => {
    // Fixed distributions and seeds: the chi-square statistic is a fixed number, so this cannot flake.
    const cases: [number[], SamplingOptions][] = [
      [[0.5, 0.25, 0.125, 0.125], {}],
      [[0.05, 0.15, 0.3, 0.5], {}],
      [[0.1, 0.2, 0.3, 0.4], { temperature: 0.5 }],
      [[0.4, 0.3, 0.2, 0.06, 0.04], { topP: 0.85 }],
      [[0.3, 0.3, 0.2, 0.1, 0.1], { topK: 3, temperature: 1.5 }],
    ];
    cases.forEach(([probs, opts], c) => {
      const lp = dense(probs.map(Math.log));
      const expected = samplingDistribution(lp, opts);
      const draws = 20000;
      const counts = new Map<number, number>();
      const rng = createRng(`frequencies ${c}`);
      for (let i = 0; i < draws; i++) {
        const v = sampleFrom(lp, opts, rng);
        counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      const chiSquare = sum(expected.tokens.map((v, i) => ((counts.get(v) ?? 0) - draws * expected.probs[i]!) ** 2 / (draws * expected.probs[i]!)));
      assert.ok(chiSquare < chiSquareCritical(expected.tokens.length - 1), `case ${c}: chi-square ${chiSquare.toFixed(2)}`);
      assert.equal(sum([...counts.values()]), draws);
    });
  });

  void it("draws exactly one number from the generator per token, at any temperature", () => {
    const lp = dense(logSoftmax([1, 2, 3]));
    const a = createRng(9);
    const b = createRng(9);
    sampleFrom(lp, { temperature: 0 }, a);
    sampleFrom(lp, { temperature: 2, topK: 2 }, a);
    b.next();
    b.next();
    assert.equal(a.next(), b.next());
  });

  void it("treats a view of EFT scores as unnormalised log-weights", () => {
    const scores = sparse([0, 1], [3 + Math.log(0.25), 3 + Math.log(0.75)]);
    const { probs } = samplingDistribution(scores);
    assert.ok(Math.abs(probs[0]! - 0.75) < 1e-12 && Math.abs(probs[1]! - 0.25) < 1e-12);
  });

  void it("shares the mass among +Infinity scores and falls back to the argmax when all are −Infinity", () => {
    assert.deepEqual(samplingDistribution(sparse([4, 2, 3], [Infinity, 0, Infinity])), { tokens: [3, 4], probs: [0.5, 0.5] });
    assert.deepEqual(samplingDistribution(sparse([4, 2], [-Infinity, -Infinity])), { tokens: [2], probs: [1] });
  });

  void it("rejects a negative temperature, a top-p outside (0, 1] and a fractional top-k", () => {
    const lp = dense([0]);
    assert.throws(() => samplingDistribution(lp, { temperature: -1 }), DecodingOptionError);
    assert.throws(() => samplingDistribution(lp, { topP: 0 }), DecodingOptionError);
    assert.throws(() => samplingDistribution(lp, { topK: 1.5 }), DecodingOptionError);
    assert.throws(() => sampleRule({ topP: 2 }), DecodingOptionError);
  });

  void it("samples the model the rule names", () => {
    const rng = createRng(3);
    const sft = dense([-Infinity, 0]);
    assert.equal(sampleRule({ from: "sft" }).pick({ sft, dpo: dense([0, -Infinity]) }, rng), 1);
  });
});

/** A generator whose every draw is `u`: places a draw exactly on an edge of the cumulative sum. */
function fixed(u: number): Rng {
  return { next: () => u, int: () => 0, pick: <T>(items: readonly T[]): T => items[0]!, fork: () => fixed(u) };
}

// Edges of the options and of the inverse-CDF draw, written to kill the mutants of sampling.ts the
// behaviour tests above let live (bench/results/mutation.md).
void describe("sampling at its edges", () => {
  void it("says which option is out of range and what it got", () => {
    const lp = dense([0]);
    assert.throws(() => samplingDistribution(lp, { temperature: Infinity }), { name: "DecodingOptionError", message: "temperature must be finite and ≥ 0, got Infinity" });
    assert.throws(() => samplingDistribution(lp, { topP: 1.5 }), { name: "DecodingOptionError", message: "topP must lie in (0, 1], got 1.5" });
    assert.throws(() => samplingDistribution(lp, { topK: -1 }), { name: "DecodingOptionError", message: "topK must be an integer ≥ 0, got -1" });
    assert.throws(() => samplingDistribution(lp, { topK: 1.5 }), { name: "DecodingOptionError", message: "topK must be an integer ≥ 0, got 1.5" });
  });

  void it("refuses a view with no tokens", () => {
    assert.throws(() => samplingDistribution(sparse([], [])), { name: "RangeError", message: "sampling from a view with no tokens" });
  });

  void it("with top-p 1 keeps a token whose probability is too small to change the total", () => {
    // exp(−50) ≈ 2e−22: 1 + 2e−22 === 1, so a cumulative sum reaches 1 before this token.
    assert.deepEqual(samplingDistribution(dense([0, -50])).tokens, [0, 1]);
  });

  void it("stops top-p at the first prefix whose mass equals top-p exactly", () => {
    assert.deepEqual(samplingDistribution(dense([0, 0, 0, 0]), { topP: 0.5 }), { tokens: [0, 1], probs: [0.5, 0.5] });
  });

  void it("keeps every token, and no more, when rounding leaves the total mass just under top-p", () => {
    // Seven sevenths add up to 1 − 2⁻⁵², below the top-p of 1 − 2⁻⁵³.
    const { tokens, probs } = samplingDistribution(dense(new Array<number>(7).fill(-Math.log(7))), { topP: 1 - 2 ** -53 });
    assert.deepEqual(tokens, [0, 1, 2, 3, 4, 5, 6]);
    assert.equal(probs.length, 7);
    assert.ok(probs.every((p) => Math.abs(p - 1 / 7) < 1e-15));
  });

  void it("maps each draw to the token whose cumulative interval [start, end) holds it", () => {
    const even = dense([0, 0]);
    assert.equal(sampleFrom(even, {}, fixed(0)), 0);
    assert.equal(sampleFrom(even, {}, fixed(0.5 - 2 ** -54)), 0);
    assert.equal(sampleFrom(even, {}, fixed(0.5)), 1);
  });

  void it("gives the last token to a draw that rounding leaves above the summed probabilities", () => {
    // Six sixths subtracted from 1 − 2⁻⁵³ leave 5.6e−17 > 0.
    assert.equal(sampleFrom(dense(new Array<number>(6).fill(0)), {}, fixed(1 - 2 ** -53)), 5);
  });
});

/** Upper 10⁻⁴ tail of chi-square (Wilson–Hilferty), generous enough for fixed seeds. */
function chiSquareCritical(df: number): number {
  const z = 3.719;
  const h = 2 / (9 * df);
  return df * (1 - h + z * Math.sqrt(h)) ** 3;
}
