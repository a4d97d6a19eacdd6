// The decoding errors as a caller sees them: a name to catch by (it is what a JSON-RPC error or a
// CLI message shows) and a message that says which model lacks which tokens, listing at most 8.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DecodingOptionError, MissingLogprobsError } from "../../server/src/decoding/index.ts";

void describe("decoding errors", () => {
  void it("carry their class names, which String(error) shows", () => {
    const option = new DecodingOptionError("alpha must lie in [0, 1], got 2");
    assert.equal(option.name, "DecodingOptionError");
    assert.equal(String(option), "DecodingOptionError: alpha must lie in [0, 1], got 2");
    assert.ok(option instanceof RangeError);
    const missing = new MissingLogprobsError("sft");
    assert.equal(missing.name, "MissingLogprobsError");
    assert.equal(String(missing), "MissingLogprobsError: the step has no sft log-probabilities");
  });

  void it("name the model and the one token a view lacks, in the singular", () => {
    const error = new MissingLogprobsError("reference", [7]);
    assert.equal(error.model, "reference");
    assert.deepEqual(error.tokens, [7]);
    assert.equal(error.message, "the reference log-probabilities lack token 7");
  });

  void it("list several missing tokens in the plural, separated by commas", () => {
    assert.equal(new MissingLogprobsError("sft", [3, 11]).message, "the sft log-probabilities lack tokens 3, 11");
  });

  void it("list up to 8 missing tokens in full, and elide the rest after the eighth", () => {
    const eight = [1, 2, 3, 4, 5, 6, 7, 8];
    assert.equal(new MissingLogprobsError("sft", eight).message, "the sft log-probabilities lack tokens 1, 2, 3, 4, 5, 6, 7, 8");
    const nine = new MissingLogprobsError("sft", [...eight, 9]);
    assert.equal(nine.message, "the sft log-probabilities lack tokens 1, 2, 3, 4, 5, 6, 7, 8, …");
    assert.equal(nine.tokens.length, 9, "the error keeps every token, only the message elides");
  });
});
