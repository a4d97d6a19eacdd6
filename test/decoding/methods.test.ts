import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createRule,
  DecodingOptionError,
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
});
