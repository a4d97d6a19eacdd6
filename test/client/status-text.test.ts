import { test } from "node:test";
import assert from "node:assert/strict";
import { initialStatus, reduceStatus, type StatusEvent, type StatusState } from "../../client/src/status-state.ts";
import { formatRate, statusBarText, statusTooltipLines } from "../../client/src/status-text.ts";

const builtIn = { label: "built-in", sft: "/ext/models/sft.gguf", dpo: "/ext/models/dpo.gguf" };

function fold(...events: StatusEvent[]): StatusState {
  return events.reduce(reduceStatus, initialStatus(builtIn, { trusted: true, alpha: 0.1 }));
}

test("the status bar names the pair, the state and the last speed", () => {
  const state = fold(
    { type: "connection", connection: "running", backend: "shared daemon" },
    { type: "held", pair: { sft: builtIn.sft, dpo: builtIn.dpo, reference: null } },
    { type: "succeeded", tokensPerSecond: 42.25 },
  );
  assert.equal(statusBarText(state), "$(check) AAD: built-in · ready · 42.3 tok/s");
});

test("before the first response there is no speed", () => {
  assert.equal(statusBarText(fold({ type: "loadStarted", id: 1, pair: { ...builtIn, label: "dpo.gguf" } })), "$(sync~spin) AAD: dpo.gguf · loading");
});

test("an error hides the last speed", () => {
  const state = fold({ type: "succeeded", tokensPerSecond: 10 }, { type: "failed", subject: "Generate", message: "Generate: boom" });
  assert.equal(statusBarText(state), "$(error) AAD: Generate · error");
});

test("fast rates are rounded to whole tokens", () => {
  assert.equal(formatRate(503.4), "503 tok/s");
  assert.equal(formatRate(3.46), "3.5 tok/s");
});

test("the tooltip says the pair, the backend, α and the last speed", () => {
  const state = fold({ type: "connection", connection: "running", backend: "shared daemon on /run/aad.sock" }, { type: "succeeded", tokensPerSecond: 12 });
  const lines = statusTooltipLines(state);
  assert.ok(lines.includes("pair: built-in (/ext/models/sft.gguf + /ext/models/dpo.gguf)"), lines.join("\n"));
  assert.ok(lines.includes("backend: shared daemon on /run/aad.sock"));
  assert.ok(lines.includes("α: 0.1"));
  assert.ok(lines.includes("last response: 12.0 tok/s"));
});
