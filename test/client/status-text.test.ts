import { test } from "node:test";
import assert from "node:assert/strict";
import { initialStatus, reduceStatus, type StatusEvent, type StatusState } from "../../client/src/status-state.ts";
import { describeCompute, formatRate, statusBarText, statusTooltipLines } from "../../client/src/status-text.ts";

const builtIn = { label: "built-in", sft: "/ext/models/sft.gguf", dpo: "/ext/models/dpo.gguf" };

function fold(...events: StatusEvent[]): StatusState {
  return events.reduce(reduceStatus, initialStatus(builtIn, { trusted: true, alpha: 0.1 }));
}

test("the status bar names the pair, the state and the last speed", () => {
  const state = fold(
    { type: "connection", connection: "running", daemon: "shared daemon" },
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

test("the tooltip says the pair, the backend the daemon runs it on, the daemon, α and the last speed", () => {
  const state = fold(
    { type: "connection", connection: "running", daemon: "shared daemon on /run/aad.sock" },
    { type: "held", pair: { sft: builtIn.sft, dpo: builtIn.dpo, reference: null, compute: "cpu" } },
    { type: "succeeded", tokensPerSecond: 12 },
  );
  assert.deepEqual(statusTooltipLines(state), [
    "pair: built-in (/ext/models/sft.gguf + /ext/models/dpo.gguf)",
    "backend: cpu",
    "daemon: shared daemon on /run/aad.sock",
    "α: 0.1",
    "last response: 12.0 tok/s",
    "state: ready",
  ]);
});

test("the tooltip's backend is the GPU one with its layers when the daemon offloaded the pair", () => {
  const held = { sft: builtIn.sft, dpo: builtIn.dpo, reference: null, compute: describeCompute({ backend: "vulkan", gpuLayers: 33 }) };
  const lines = statusTooltipLines(fold({ type: "connection", connection: "running", daemon: "private daemon (stdio)" }, { type: "held", pair: held }));
  assert.ok(lines.includes("backend: vulkan, 33 layers"), lines.join("\n"));
});

test("before the pair is loaded the tooltip says the backend is not known, not the daemon connection", () => {
  const lines = statusTooltipLines(fold({ type: "connection", connection: "running", daemon: "shared daemon on /run/aad.sock" }));
  assert.ok(lines.includes("backend: not known until the pair is loaded"), lines.join("\n"));
  assert.ok(lines.includes("last response: —"), lines.join("\n"));
  // Another pair held by the daemon runs where that pair's load put it: not ours to report.
  const other = fold({ type: "held", pair: { sft: "/m/sft.gguf", dpo: "/m/other.gguf", reference: null, compute: "cuda, 8 layers" } });
  assert.ok(statusTooltipLines(other).includes("backend: not known until the pair is loaded"));
});

test("the compute backend is described as the daemon reports it", () => {
  assert.equal(describeCompute({ backend: "cpu", gpuLayers: 0 }), "cpu");
  assert.equal(describeCompute({ backend: "cuda", gpuLayers: 1 }), "cuda, 1 layer");
  assert.equal(describeCompute({ backend: "metal", gpuLayers: 17 }), "metal, 17 layers");
});
