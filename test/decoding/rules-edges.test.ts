// The per-step rules' contract with the runtime (what each rule says it needs, which tokens it asks
// the second model for) and their edge cases: a missing view, a single candidate, option errors.
// Written to kill the mutants of server/src/decoding/rules.ts that the behaviour tests let live
// (bench/results/mutation.md).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  bestOfNRule,
  contrastivePick,
  createRng,
  DecodingOptionError,
  dense,
  eftRule,
  greedyRule,
  MissingLogprobsError,
  sampleRule,
  sparse,
} from "../../server/src/decoding/index.ts";

const rng = createRng(1);
// Token 0 is the DPO argmax; tokens 1 and 2 are within alpha = 0.1 of it; token 3 is not.
const dpo = dense([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.04)]);
// A peaked DPO view: token 2 alone passes alpha = 0.1.
const peaked = dense([Math.log(0.01), Math.log(0.01), Math.log(0.97), Math.log(0.01)]);

function throwsMissing(run: () => unknown, model: string, message: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof MissingLogprobsError);
    assert.equal(error.model, model);
    assert.equal(error.message, message);
    return true;
  });
}

function throwsOption(run: () => unknown, message: string): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof DecodingOptionError);
    assert.equal(error.message, message);
    return true;
  });
}

void describe("greedy and sampling rules", () => {
  void it("greedy reads only its model's view, needs its argmax alone, and asks nothing of a second model", () => {
    const rule = greedyRule("sft");
    assert.deepEqual(rule.needs, { view: "sft", viewMinP: 1 });
    assert.deepEqual(rule.tokensToScore({ sft: dpo }), []);
    assert.equal(rule.pick({ sft: dpo }, rng), 0);
  });

  void it("greedy names the model whose view is missing", () => {
    throwsMissing(() => greedyRule("dpo").pick({ sft: dpo }, rng), "dpo", "the step has no dpo log-probabilities");
  });

  void it("sampling needs the whole view, unless temperature 0 makes it greedy", () => {
    assert.deepEqual(sampleRule({ from: "sft" }).needs, { view: "sft", viewMinP: 0 });
    assert.deepEqual(sampleRule({ temperature: 0 }).needs, { view: "dpo", viewMinP: 1 });
    assert.deepEqual(sampleRule().tokensToScore({ dpo }), []);
  });
});

void describe("contrastivePick", () => {
  void it("with one candidate needs no second model", () => {
    assert.equal(contrastivePick(peaked, undefined, 0.1), 2);
  });

  void it("with several candidates and no second view names the SFT model by default", () => {
    throwsMissing(() => contrastivePick(dpo, undefined, 0.1), "sft", "the step has no sft log-probabilities");
    throwsMissing(() => contrastivePick(dpo, undefined, 0.1, "reference"), "reference", "the step has no reference log-probabilities");
  });

  void it("names the SFT model and the tokens a sparse SFT view lacks", () => {
    throwsMissing(() => contrastivePick(dpo, sparse([0, 1], [-1, -1]), 0.1), "sft", "the sft log-probabilities lack token 2");
  });
});

void describe("eftRule", () => {
  void it("reads the DPO view over its alpha set and scores with the SFT model", () => {
    assert.deepEqual(eftRule().needs, { view: "dpo", viewMinP: 0, scoredBy: "sft" });
    assert.deepEqual(eftRule({ alpha: 0.1 }).needs, { view: "dpo", viewMinP: 0.1, scoredBy: "sft" });
  });

  void it("asks the SFT model for the candidate set, most probable first, or for nothing when one token passes", () => {
    assert.deepEqual(eftRule({ alpha: 0.1 }).tokensToScore({ dpo }), [0, 1, 2]);
    assert.deepEqual(eftRule({ alpha: 0.1 }).tokensToScore({ dpo: peaked }), []);
    throwsMissing(() => eftRule().tokensToScore({ sft: dpo }), "dpo", "the step has no dpo log-probabilities");
  });

  void it("picks a lone candidate without an SFT view", () => {
    assert.equal(eftRule({ alpha: 0.1 }).pick({ dpo: peaked }, rng), 2);
  });

  void it("names the SFT model and the tokens its sparse view lacks", () => {
    throwsMissing(() => eftRule({ alpha: 0.1 }).pick({ dpo, sft: sparse([0, 2], [-1, -1]) }, rng), "sft", "the sft log-probabilities lack token 1");
    throwsMissing(() => eftRule({ alpha: 0.1 }).pick({ dpo }, rng), "sft", "the step has no sft log-probabilities");
  });

  void it("refuses an infinite or NaN lambda, saying which", () => {
    throwsOption(() => eftRule({ lambda: Infinity }), "lambda must be finite, got Infinity");
    throwsOption(() => eftRule({ lambda: NaN }), "lambda must be finite, got NaN");
  });
});

void describe("bestOfNRule", () => {
  void it("is the best-of-n method, sampling the DPO model n times", () => {
    const rule = bestOfNRule({ n: 1, beta: 0.5 });
    assert.equal(rule.method, "best-of-n");
    assert.equal(rule.n, 1);
    assert.equal(rule.beta, 0.5);
    assert.deepEqual(rule.needs, { view: "dpo", viewMinP: 0 });
  });

  void it("refuses n below 1 or fractional, saying which", () => {
    throwsOption(() => bestOfNRule({ n: 0 }), "n must be an integer ≥ 1, got 0");
    throwsOption(() => bestOfNRule({ n: 1.5 }), "n must be an integer ≥ 1, got 1.5");
  });

  void it("refuses beta that is not finite and positive, saying which", () => {
    throwsOption(() => bestOfNRule({ beta: 0 }), "beta must be finite and > 0, got 0");
    throwsOption(() => bestOfNRule({ beta: -1 }), "beta must be finite and > 0, got -1");
    throwsOption(() => bestOfNRule({ beta: Infinity }), "beta must be finite and > 0, got Infinity");
    throwsOption(() => bestOfNRule({ beta: NaN }), "beta must be finite and > 0, got NaN");
    assert.equal(bestOfNRule({ beta: 1e-9 }).beta, 1e-9);
  });
});
