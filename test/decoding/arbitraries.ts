// Generators shared by the decoding property tests.
//
// Logits are multiples of 1/8 in a modest range. Differences of such numbers are exact in
// floating point, so `logSoftmax` (x − max − log Σ exp(x − max)) gives bit-identical log-probs
// after a constant shift or a relabelling of tokens, and the candidate threshold
// (max + log alpha, alpha = 0.1 or 0.5) never falls within rounding of a token. The properties then pin
// the rules, not floating-point luck.
import fc from "fast-check";
import { dense, logSoftmax, type TokenLogprobs } from "../../server/src/decoding/index.ts";

export const logit = fc.integer({ min: -96, max: 96 }).map((k) => k / 8);

export function logitsOf(vocab: number): fc.Arbitrary<number[]> {
  return fc.array(logit, { minLength: vocab, maxLength: vocab });
}

export interface DenseStep {
  readonly vocab: number;
  readonly dpoLogits: readonly number[];
  readonly sftLogits: readonly number[];
  readonly dpo: TokenLogprobs;
  readonly sft: TokenLogprobs;
}

export function denseStep(dpoLogits: readonly number[], sftLogits: readonly number[]): DenseStep {
  return {
    vocab: dpoLogits.length,
    dpoLogits,
    sftLogits,
    dpo: dense(logSoftmax(dpoLogits)),
    sft: dense(logSoftmax(sftLogits)),
  };
}

/** A step over a vocabulary of 2–12 tokens with independent DPO and SFT logits. */
export const step: fc.Arbitrary<DenseStep> = fc
  .integer({ min: 2, max: 12 })
  .chain((vocab) => fc.tuple(logitsOf(vocab), logitsOf(vocab)))
  .map(([dpoLogits, sftLogits]) => denseStep(dpoLogits, sftLogits));

/**
 * A step whose advantages are all distinct (DPO logits = SFT logits + distinct integer gaps), so
 * no tie-break can decide a pick and relabelling tokens must relabel the pick.
 */
export const stepWithoutTies: fc.Arbitrary<DenseStep> = fc
  .integer({ min: 2, max: 12 })
  .chain((vocab) =>
    fc.tuple(
      logitsOf(vocab),
      fc.uniqueArray(fc.integer({ min: -8, max: 8 }), { minLength: vocab, maxLength: vocab }),
    ),
  )
  .map(([sftLogits, gaps]) => denseStep(sftLogits.map((x, i) => x + gaps[i]!), sftLogits));

/** alpha values whose log never lands within rounding of a difference of eighths. */
export const alpha = fc.constantFrom(0.1, 0.3, 0.5, 0.05);

/** The token ids 0..n−1. */
export function ids(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
