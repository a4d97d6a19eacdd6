/**
 * The line each inline completion writes to the output channel (debug level): the request's own
 * token budget and what each part of the prompt took, the layout (FIM tokens and where they are,
 * or why the prompt is the prefix only) and how much each model evaluated.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { describePrompt } from "../../client/src/inline-text.ts";
import type { InlineCompletionStats } from "../../server/src/protocol/protocol.ts";

const fim: InlineCompletionStats = {
  layout: "fim",
  fallbackReason: null,
  budget: { prefixTokens: 512, suffixTokens: 256, chunkTokens: 0 },
  prefixTokens: 301,
  suffixTokens: 44,
  chunkTokens: 0,
  chunks: 0,
  promptTokens: 348,
  evaluatedPromptTokens: { dpo: 46, sft: 46 },
  specialTokens: [
    { index: 0, text: "<|fim_prefix|>" },
    { index: 302, text: "<|fim_suffix|>" },
    { index: 347, text: "<|fim_middle|>" },
  ],
  decodedTokens: 9,
  stoppedBy: "stop-rule",
  elapsedMs: 41,
};

void describe("the inline completion's debug line", () => {
  void it("says the request's budget and what each part took, the FIM tokens' positions and what each model evaluated", () => {
    assert.equal(
      describePrompt(fim),
      "prompt 348 tokens, FIM (<|fim_prefix|>@0 <|fim_suffix|>@302 <|fim_middle|>@347); budget: prefix 301/512 tokens, suffix 44/256; " +
        "evaluated (rest from the KV cache): dpo 46, sft 46; 9 decoded, stopped by stop-rule",
    );
  });

  void it("names chunks of other files only when the request had a budget for them", () => {
    const withChunks = describePrompt({ ...fim, budget: { ...fim.budget, chunkTokens: 1024 }, chunks: 2, chunkTokens: 310 });
    assert.match(withChunks, /budget: prefix 301\/512 tokens, suffix 44\/256, 2 chunk\(s\) 310\/1024;/);
    assert.doesNotMatch(describePrompt(fim), /chunk/);
  });

  void it("says why a prompt is the prefix only", () => {
    const line = describePrompt({ ...fim, layout: "prefix", fallbackReason: "the model declares no FIM tokens (missing fim_pre, fim_suf, fim_mid)", specialTokens: [], suffixTokens: 0 });
    assert.match(line, /, prefix only \(the model declares no FIM tokens \(missing fim_pre, fim_suf, fim_mid\)\); budget: prefix 301\/512 tokens, suffix 0\/256;/);
  });
});
