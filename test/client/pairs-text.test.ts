import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultPairsOutput, describePairsResult } from "../../client/src/pairs-text.ts";
import type { PairsResult } from "../../server/src/protocol/protocol.ts";

const base: PairsResult = { out: "/w/data/prompts.pairs.jsonl", done: 20, total: 20, written: 17, skippedEqual: 3, resumedAt: 0, resumedRows: 0, rows: 17, droppedBytes: 0, cancelled: false };

test("the output is proposed next to the prompts file as <name>.pairs.jsonl", () => {
  assert.equal(defaultPairsOutput("/w/data/prompts.jsonl"), "/w/data/prompts.pairs.jsonl");
  assert.equal(defaultPairsOutput("/w/data/questions.txt"), "/w/data/questions.pairs.jsonl");
  assert.equal(defaultPairsOutput("/w/data/v1.2.prompts.JSONL"), "/w/data/v1.2.prompts.pairs.jsonl");
  assert.equal(defaultPairsOutput("/w/data/prompts"), "/w/data/prompts.pairs.jsonl");
});

test("a finished job says what it wrote and what it skipped", () => {
  assert.equal(describePairsResult(base), "17 preference pairs written to prompts.pairs.jsonl (17 in all); 3 prompts skipped (chosen = rejected).");
  assert.equal(
    describePairsResult({ ...base, written: 1, skippedEqual: 0, resumedAt: 19, resumedRows: 15, rows: 16 }),
    "1 preference pair written to prompts.pairs.jsonl (16 in all, resumed after 15 existing rows).",
  );
});

test("a cancelled job says what the file holds and how to resume", () => {
  assert.equal(
    describePairsResult({ ...base, done: 7, written: 6, skippedEqual: 1, rows: 6, cancelled: true }),
    "Stopped after 7/20 prompts: prompts.pairs.jsonl holds 6 complete pairs. Run the command again with the same files to resume.",
  );
});
