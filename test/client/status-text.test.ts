import { test } from "node:test";
import assert from "node:assert/strict";
import { formatRate, statusBarText } from "../../client/src/status-text.ts";

test("the status bar names the pair, the state and the last speed", () => {
  assert.equal(statusBarText({ pairLabel: "built-in", state: "ready", tokensPerSecond: 42.25, detail: null }), "$(check) AAD: built-in · ready · 42.3 tok/s");
});

test("before the first response there is no speed", () => {
  assert.equal(statusBarText({ pairLabel: "dpo.gguf", state: "loading", tokensPerSecond: null, detail: null }), "$(sync~spin) AAD: dpo.gguf · loading");
});

test("an error hides the last speed", () => {
  assert.equal(statusBarText({ pairLabel: "built-in", state: "error", tokensPerSecond: 10, detail: "boom" }), "$(error) AAD: built-in · error");
});

test("fast rates are rounded to whole tokens", () => {
  assert.equal(formatRate(503.4), "503 tok/s");
  assert.equal(formatRate(3.46), "3.5 tok/s");
});
