import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  BEST_OF_N_DEFAULT_N,
  createRng,
  createRule,
  DecodingOptionError,
  DEFAULT_ALPHA,
  DEFAULT_BETA,
  DEFAULT_SAMPLING,
  dense,
  EFT_DEFAULT_LAMBDA,
  isMethodName,
  METHOD_NAMES,
  METHODS,
} from "../../server/src/decoding/index.ts";

void describe("method registry", () => {
  void it("describes every method name", () => {
    assert.deepEqual(Object.keys(METHODS).sort(), [...METHOD_NAMES].sort());
    for (const name of METHOD_NAMES) assert.equal(METHODS[name].method, name);
  });

  void it("builds a rule that carries its method's name", () => {
    for (const method of METHOD_NAMES) assert.equal(createRule({ method }).method, method);
  });

  void it("recognises method names and nothing else", () => {
    assert.ok(isMethodName("aad"));
    assert.ok(!isMethodName("beam"));
  });

  void it("rejects bad options when the rule is built", () => {
    assert.throws(() => createRule({ method: "aad", alpha: -0.1 }), DecodingOptionError);
    assert.throws(() => createRule({ method: "eft", lambda: Number.NaN }), DecodingOptionError);
    assert.throws(() => createRule({ method: "sample", temperature: -1 }), DecodingOptionError);
  });

  void it("lists EFT's default lambda as the named constant", () => {
    assert.equal(METHODS.eft.defaults["lambda"], EFT_DEFAULT_LAMBDA);
  });

  void it("tells the runtime which models and how much of the view each step needs", () => {
    assert.deepEqual(createRule({ method: "aad", alpha: 0.2 }).needs, { view: "dpo", viewMinP: 0.2, scoredBy: "sft" });
    assert.deepEqual(createRule({ method: "cd" }).needs, { view: "dpo", viewMinP: 0.1, scoredBy: "reference" });
    assert.deepEqual(createRule({ method: "sample", from: "sft" }).needs, { view: "sft", viewMinP: 0 });
  });

  void it("gives each method a one-line summary, and says which choose among whole responses", () => {
    for (const name of METHOD_NAMES) {
      assert.match(METHODS[name].summary, /^[A-Z][^\n]{20,}$/, name);
      assert.equal(METHODS[name].level, name === "best-of-n" ? "sequence" : "step", name);
    }
  });

  void it("lists the models each method may read: the ones its rule reads, and the SFT model that scores best-of-n's responses", () => {
    const models = Object.fromEntries(METHOD_NAMES.map((name) => [name, [...METHODS[name].models].sort()]));
    assert.deepEqual(models, {
      aad: ["dpo", "sft"],
      "greedy-dpo": ["dpo"],
      "greedy-sft": ["sft"],
      sample: ["dpo", "sft"],
      eft: ["dpo", "sft"],
      cd: ["dpo", "reference"],
      "best-of-n": ["dpo", "sft"],
    });
    for (const name of METHOD_NAMES) {
      const { view, scoredBy } = createRule({ method: name }).needs;
      assert.ok(METHODS[name].models.includes(view), `${name} reads ${view}`);
      if (scoredBy !== undefined) assert.ok(METHODS[name].models.includes(scoredBy), `${name} reads ${scoredBy}`);
    }
    assert.ok(METHODS.sample.models.includes(createRule({ method: "sample", from: "sft" }).needs.view));
  });

  void it("lists as defaults exactly the options a rule takes when given none, with the named constants' values", () => {
    const { temperature, topP, topK } = DEFAULT_SAMPLING;
    assert.deepEqual(METHODS.aad.defaults, { alpha: DEFAULT_ALPHA });
    assert.deepEqual(METHODS.cd.defaults, { alpha: DEFAULT_ALPHA });
    assert.deepEqual(METHODS["greedy-dpo"].defaults, {});
    assert.deepEqual(METHODS["greedy-sft"].defaults, {});
    assert.deepEqual(METHODS.sample.defaults, { from: "dpo", temperature, topP, topK });
    assert.deepEqual(METHODS.eft.defaults, { lambda: EFT_DEFAULT_LAMBDA, alpha: 0, temperature: 0, topP, topK });
    assert.deepEqual(METHODS["best-of-n"].defaults, { n: BEST_OF_N_DEFAULT_N, beta: DEFAULT_BETA, temperature, topP, topK });
  });

  void it("builds the same rule from its listed defaults as from no options", () => {
    const step = { dpo: dense([-0.5, -1.2, -2, -3.5]), sft: dense([-0.4, -2, -1.1, -3]), reference: dense([-1, -1, -1.5, -2]) };
    for (const method of METHOD_NAMES) {
      const plain = createRule({ method });
      const listed = createRule({ method, ...METHODS[method].defaults });
      assert.deepEqual(listed.needs, plain.needs, method);
      const [a, b] = [createRng(method), createRng(method)];
      for (let i = 0; i < 50; i++) assert.equal(listed.pick(step, a), plain.pick(step, b), `${method}, draw ${i}`);
    }
  });

  void it("builds greedy rules over the model they name", () => {
    assert.equal(createRule({ method: "greedy-sft" }).needs.view, "sft");
    assert.equal(createRule({ method: "greedy-dpo" }).needs.view, "dpo");
  });
});
