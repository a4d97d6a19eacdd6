import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  aadRule,
  candidateSet,
  cdRule,
  createRng,
  dense,
  eftRule,
  greedyRule,
  logprobOf,
  logSoftmax,
  MissingLogprobsError,
  sparse,
  type StepInput,
} from "../../server/src/decoding/index.ts";
import { alpha, denseStep, ids, logit, step, stepWithoutTies } from "./arbitraries.ts";

const rng = createRng(0);
const aad = (a: number, s: StepInput): number => aadRule({ alpha: a }).pick(s, rng);
const greedyDpo = (s: StepInput): number => greedyRule("dpo").pick(s, rng);
const greedySft = (s: StepInput): number => greedyRule("sft").pick(s, rng);

void describe("AAD", () => {
  void it("always picks a token from the DPO candidate set", () => {
    fc.assert(
      fc.property(step, alpha, ({ dpo, sft }, a) => {
        const picked = aad(a, { dpo, sft });
        const max = Math.max(...Array.from(dpo.logprobs));
        assert.ok(logprobOf(dpo, picked)! >= max + Math.log(a) - 1e-12);
      }),
    );
  });

  void it("picks the candidate with the largest advantage", () => {
    fc.assert(
      fc.property(stepWithoutTies, alpha, ({ dpo, sft }, a) => {
        const candidates = Array.from(candidateSet(dpo, a).tokens);
        const adv = (v: number): number => logprobOf(dpo, v)! - logprobOf(sft, v)!;
        const best = candidates.reduce((b, v) => (adv(v) > adv(b) ? v : b));
        assert.equal(aad(a, { dpo, sft }), best);
      }),
    );
  });

  void it("with alpha = 1 picks a token of maximal DPO probability", () => {
    fc.assert(
      fc.property(step, ({ dpo, sft }) => {
        const picked = aad(1, { dpo, sft });
        assert.equal(logprobOf(dpo, picked), Math.max(...Array.from(dpo.logprobs)));
      }),
    );
  });

  void it("with alpha = 1 equals greedy-dpo when the DPO argmax is unique", () => {
    fc.assert(
      fc.property(step, ({ dpo, sft }) => {
        const max = Math.max(...Array.from(dpo.logprobs));
        fc.pre(Array.from(dpo.logprobs).filter((lp) => lp === max).length === 1);
        assert.equal(aad(1, { dpo, sft }), greedyDpo({ dpo }));
      }),
    );
  });

  void it("never picks a token outside the candidate set, however small its SFT probability", () => {
    fc.assert(
      fc.property(step, alpha, fc.nat(), ({ dpoLogits, sftLogits }, a, seed) => {
        const { dpo } = denseStep(dpoLogits, sftLogits);
        const members = new Set(Array.from(candidateSet(dpo, a).tokens));
        const outside = ids(dpoLogits.length).filter((v) => !members.has(v));
        fc.pre(outside.length > 0);
        const ruledOut = outside[seed % outside.length]!;
        // The SFT model masks the token: its advantage would be +Infinity if it were eligible.
        const sft = dense(logSoftmax(sftLogits.map((x, v) => (v === ruledOut ? -Infinity : x))));
        assert.notEqual(aad(a, { dpo, sft }), ruledOut);
      }),
    );
  });

  void it("is unchanged by adding a constant to either model's logits", () => {
    fc.assert(
      fc.property(step, alpha, logit, logit, ({ dpoLogits, sftLogits }, a, cDpo, cSft) => {
        const shifted = denseStep(
          dpoLogits.map((x) => x + cDpo * 1000),
          sftLogits.map((x) => x + cSft * 1000),
        );
        assert.equal(aad(a, shifted), aad(a, denseStep(dpoLogits, sftLogits)));
      }),
    );
  });

  void it("treats the EOS id like any other token: relabelling tokens relabels the pick", () => {
    fc.assert(
      fc.property(
        stepWithoutTies.chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray(ids(s.vocab), { minLength: s.vocab, maxLength: s.vocab }))),
        alpha,
        ([{ dpoLogits, sftLogits }, relabel], a) => {
          // relabel[v] is token v's new id; whichever id EOS has, it moves with its logits.
          const moved = (logits: readonly number[]): number[] => {
            const out = new Array<number>(logits.length);
            logits.forEach((x, v) => (out[relabel[v]!] = x));
            return out;
          };
          const before = aad(a, denseStep(dpoLogits, sftLogits));
          assert.equal(aad(a, denseStep(moved(dpoLogits), moved(sftLogits))), relabel[before]);
        },
      ),
    );
  });

  void it("picks the same token from a sparse view (candidate set plus any extra tokens) as from the dense view", () => {
    fc.assert(
      fc.property(
        step.chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray(ids(s.vocab)), fc.shuffledSubarray(ids(s.vocab)))),
        alpha,
        ([{ dpo, sft }, extraDpo, extraSft], a) => {
          const candidates = Array.from(candidateSet(dpo, a).tokens);
          const held = (extra: number[]): number[] => [...new Set([...extra, ...candidates])];
          const view = (full: typeof dpo, tokens: number[]) => sparse(tokens, tokens.map((v) => logprobOf(full, v)!));
          const sparseStep = { dpo: view(dpo, held(extraDpo)), sft: view(sft, held(extraSft)) };
          assert.equal(aad(a, sparseStep), aad(a, { dpo, sft }));
        },
      ),
    );
  });

  void it("breaks an advantage tie toward the higher DPO probability", () => {
    const dpo = sparse([4, 7, 9], [-1.5, -1, -3]);
    const sft = sparse([4, 7, 9], [-2.5, -2, -3]); // tokens 4 and 7 both have advantage 1
    assert.equal(aadRule({ alpha: 0.01 }).pick({ dpo, sft }, rng), 7);
  });

  void it("breaks a tie in both advantage and DPO probability toward the lower token id", () => {
    const dpo = sparse([9, 3, 5], [-1, -1, -1.25]);
    const sft = sparse([9, 3, 5], [-2, -2, -2]); // advantages 1, 1, 0.75
    assert.equal(aadRule({ alpha: 0.01 }).pick({ dpo, sft }, rng), 3);
  });

  void it("asks for no SFT log-probabilities when the candidate set is a single token", () => {
    const dpo = dense(logSoftmax([0, 9, 1]));
    const rule = aadRule({ alpha: 0.1 });
    assert.deepEqual(rule.tokensToScore({ dpo }), []);
    assert.equal(rule.pick({ dpo }, rng), 1);
  });

  void it("asks for SFT log-probabilities at exactly the candidate set when it has several tokens", () => {
    const dpo = dense(logSoftmax([2, 0, 2.5, -5])); // p(1) / p(2) = e^−2.5 < 0.1
    assert.deepEqual(aadRule({ alpha: 0.1 }).tokensToScore({ dpo }), [2, 0]);
  });

  void it("reports the candidate tokens a sparse SFT view lacks", () => {
    const dpo = dense(logSoftmax([2, 1, 2.5, -5]));
    const sft = sparse([2, 3], [-1, -2]);
    assert.throws(() => aadRule().pick({ dpo, sft }, rng), (e) => e instanceof MissingLogprobsError && e.tokens.join() === "0,1");
  });
});

void describe("contrastive decoding", () => {
  void it("with the SFT model as reference is AAD", () => {
    fc.assert(
      fc.property(step, alpha, ({ dpo, sft }, a) => {
        assert.equal(cdRule({ alpha: a }).pick({ dpo, reference: sft }, rng), aad(a, { dpo, sft }));
      }),
    );
  });

  void it("reads the reference model, not the SFT model", () => {
    const dpo = dense(logSoftmax([1, 1.5]));
    assert.throws(() => cdRule().pick({ dpo, sft: dpo }, rng), MissingLogprobsError);
    assert.equal(cdRule().needs.scoredBy, "reference");
  });
});

void describe("EFT", () => {
  void it("with lambda = 1 is greedy-dpo", () => {
    fc.assert(
      fc.property(step, ({ dpo, sft }) => {
        assert.equal(eftRule({ lambda: 1 }).pick({ dpo, sft }, rng), greedyDpo({ dpo }));
      }),
    );
  });

  void it("with lambda = 0 is greedy-sft", () => {
    fc.assert(
      fc.property(step, ({ dpo, sft }) => {
        assert.equal(eftRule({ lambda: 0 }).pick({ dpo, sft }, rng), greedySft({ sft }));
      }),
    );
  });

  void it("with lambda > 1 extrapolates past the DPO model toward what it gained over the SFT model", () => {
    const dpo = sparse([0, 1], [-0.5, -1]);
    const sft = sparse([0, 1], [-0.4, -3]); // 1.5·lp_dpo − 0.5·lp_sft: token 0 → −0.55, token 1 → 0
    assert.equal(eftRule({ lambda: 1.5 }).pick({ dpo, sft }, rng), 1);
    assert.equal(eftRule({ lambda: 1 }).pick({ dpo, sft }, rng), 0);
  });

  void it("with an alpha filter picks the same token from a sparse view as from the dense view", () => {
    fc.assert(
      fc.property(step.chain((s) => fc.tuple(fc.constant(s), fc.shuffledSubarray(ids(s.vocab)))), alpha, fc.nat(), ([{ dpo, sft }, extra], a, seed) => {
        const tokens = [...new Set([...extra, ...Array.from(candidateSet(dpo, a).tokens)])];
        const sparseDpo = sparse(tokens, tokens.map((v) => logprobOf(dpo, v)!));
        const rule = eftRule({ lambda: 2, alpha: a, temperature: 0.7 });
        assert.equal(rule.pick({ dpo: sparseDpo, sft }, createRng(seed)), rule.pick({ dpo, sft }, createRng(seed)));
      }),
    );
  });
});

void describe("greedy", () => {
  void it("greedy-dpo breaks a tie toward the lower token id", () => {
    assert.equal(greedyDpo({ dpo: sparse([5, 2, 8], [-1, -1, -2]) }), 2);
  });

  void it("greedy-sft reads only the SFT model", () => {
    assert.equal(greedySft({ sft: dense([-2, -0.5, -1]) }), 1);
    assert.deepEqual(greedyRule("sft").needs, { view: "sft", viewMinP: 1 });
  });
});
