/**
 * The buttons of an error message: an error about the model files (the daemon's answer to a load,
 * or a picked file that does not exist) offers Select Model Pair and Open Settings; anything else,
 * the log only. Errors as vscode-jsonrpc hands them to the client.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ResponseError } from "vscode-jsonrpc/node";
import { errorActions, ModelFileMissingError } from "../../client/src/error-actions.ts";
import { ErrorCodes, type ErrorName } from "../../server/src/protocol/protocol.ts";

const answer = (name: ErrorName, message: string, path?: string): ResponseError<unknown> => new ResponseError(ErrorCodes[name], message, { name, ...(path === undefined ? {} : { path }) });
const FIX = ["Select Model Pair", "Open Settings", "Show Log"];

void describe("an error message's buttons", () => {
  void it("lead to another pair when loading it failed over its files", () => {
    assert.deepEqual(errorActions(answer("FileNotFound", "/m/dpo.gguf does not exist", "/m/dpo.gguf"), true), FIX);
    assert.deepEqual(errorActions(answer("InvalidModel", "/m/dpo.gguf is not a GGUF file", "/m/dpo.gguf"), true), FIX);
    assert.deepEqual(errorActions(answer("VocabularyMismatch", "the vocabularies differ at token 3", "/m/dpo.gguf"), true), FIX);
  });

  void it("lead to another pair for a picked file that does not exist, before the daemon is asked", () => {
    assert.deepEqual(errorActions(new ModelFileMissingError("/m/sft.gguf"), false), FIX);
  });

  void it("lead to the log only for a missing file that is not a model (a prompts file), and for every other failure", () => {
    assert.deepEqual(errorActions(answer("FileNotFound", "/w/prompts.jsonl does not exist", "/w/prompts.jsonl"), false), ["Show Log"]);
    for (const name of ["NoModelLoaded", "RuntimeError", "OutOfMemory", "InvalidParams", "InvalidPrompts"] as const) {
      assert.deepEqual(errorActions(answer(name, "it failed"), true), ["Show Log"], name);
    }
    assert.deepEqual(errorActions(new Error("the daemon stopped"), true), ["Show Log"]);
    assert.deepEqual(errorActions(undefined, false), ["Show Log"]);
  });
});
