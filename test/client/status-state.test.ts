import { test } from "node:test";
import assert from "node:assert/strict";
import { initialStatus, reduceStatus, statusView, type HeldPair, type StatusEvent, type StatusState, type WantedPair } from "../../client/src/status-state.ts";

const builtIn: WantedPair = { label: "built-in", sft: "/ext/models/sft.gguf", dpo: "/ext/models/dpo.gguf", reference: "/ext/models/sft-early.gguf" };
const builtInHeld: HeldPair = { sft: builtIn.sft, dpo: builtIn.dpo!, reference: builtIn.reference! };
const mine: WantedPair = { label: "dpo-q4.gguf", sft: "/m/sft.gguf", dpo: "/m/dpo-q4.gguf" };
const mineHeld: HeldPair = { sft: mine.sft, dpo: mine.dpo!, reference: null };
const running: StatusEvent = { type: "connection", connection: "running", daemon: "shared daemon" };

function fold(events: readonly StatusEvent[], wanted: WantedPair = builtIn, trusted = true): StatusState {
  return events.reduce(reduceStatus, initialStatus(wanted, { trusted, alpha: 0.1 }));
}

const phase = (events: readonly StatusEvent[], wanted?: WantedPair, trusted?: boolean): string => statusView(fold(events, wanted, trusted)).phase;

test("before any daemon the bar is idle", () => {
  assert.equal(phase([]), "idle");
});

test("a load that answers leaves the bar ready, not loading", () => {
  assert.equal(phase([running, { type: "loadStarted", id: 1, pair: builtIn }]), "loading");
  assert.equal(phase([running, { type: "loadStarted", id: 1, pair: builtIn }, { type: "loadSucceeded", id: 1, held: builtInHeld }]), "ready");
});

test("two overlapping loads of the same pair (a command and the background warm-up) end ready once both answer", () => {
  const events: StatusEvent[] = [running, { type: "loadStarted", id: 1, pair: builtIn }, { type: "loadStarted", id: 2, pair: builtIn }, { type: "loadSucceeded", id: 1, held: builtInHeld }];
  assert.equal(phase(events), "loading");
  assert.equal(phase([...events, { type: "loadSucceeded", id: 2, held: builtInHeld }]), "ready");
});

test("Select Model Pair: the check load, the settings change and the load that follows end ready", () => {
  const events: StatusEvent[] = [
    running,
    { type: "work", source: "command-1", reason: "checking the model pair" },
    { type: "loadStarted", id: 1, pair: mine },
    { type: "loadSucceeded", id: 1, held: mineHeld },
    { type: "succeeded" },
    { type: "work", source: "command-1", reason: undefined },
    { type: "settings", wanted: mine, alpha: 0.1 },
    { type: "loadStarted", id: 2, pair: mine },
    { type: "held", pair: mineHeld },
    { type: "loadSucceeded", id: 2, held: mineHeld },
  ];
  assert.equal(phase(events), "ready");
  assert.equal(statusView(fold(events)).label, "dpo-q4.gguf");
});

test("the daemon's own pairChanged makes the bar ready when it holds our pair (another window loaded it)", () => {
  assert.equal(phase([running, { type: "held", pair: builtInHeld }]), "ready");
});

test("the daemon replacing our pair with another makes the bar idle", () => {
  assert.equal(phase([running, { type: "held", pair: builtInHeld }, { type: "held", pair: mineHeld }]), "idle");
});

test("a pair with another reference model is not ours", () => {
  assert.equal(phase([running, { type: "held", pair: { ...builtInHeld, reference: null } }]), "idle");
});

test("work in progress shows busy, and ends", () => {
  const busy: StatusEvent[] = [running, { type: "held", pair: builtInHeld }, { type: "work", source: "inline", reason: "computing a completion" }];
  assert.equal(phase(busy), "busy");
  assert.equal(statusView(fold(busy)).detail, "computing a completion");
  assert.equal(phase([...busy, { type: "work", source: "inline", reason: undefined }]), "ready");
});

test("independent sources of work: one ending leaves the other busy", () => {
  const events: StatusEvent[] = [running, { type: "work", source: "inline", reason: "inline" }, { type: "work", source: "command-1", reason: "generating" }, { type: "work", source: "inline", reason: undefined }];
  assert.equal(phase(events), "busy");
});

test("a failure shows error, and the next success clears it", () => {
  const failed: StatusEvent[] = [running, { type: "held", pair: builtInHeld }, { type: "failed", subject: "Generate", message: "Generate: maxTokens must be at least 1" }];
  assert.equal(phase(failed), "error");
  assert.equal(phase([...failed, { type: "succeeded", tokensPerSecond: 30 }]), "ready");
});

test("a failed load shows the error against the pair that failed, not the one that works", () => {
  const events: StatusEvent[] = [running, { type: "held", pair: builtInHeld }, { type: "loadStarted", id: 1, pair: { ...mine, label: "missing.gguf" } }, { type: "loadFailed", id: 1, message: "loading missing.gguf failed: not found" }];
  const view = statusView(fold(events));
  assert.equal(view.phase, "error");
  assert.equal(view.label, "missing.gguf");
  assert.equal(statusView(fold([...events, { type: "loadStarted", id: 2, pair: builtIn }, { type: "loadSucceeded", id: 2, held: builtInHeld }])).phase, "ready");
});

test("a cancelled load is neither loading nor an error", () => {
  assert.equal(phase([running, { type: "loadStarted", id: 1, pair: builtIn }, { type: "loadCancelled", id: 1 }]), "idle");
});

test("a dead daemon is an error against the daemon, and its return clears it", () => {
  const dead: StatusEvent[] = [running, { type: "held", pair: builtInHeld }, { type: "connection", connection: "restarting", problem: "killed by SIGKILL" }];
  const view = statusView(fold(dead));
  assert.deepEqual([view.phase, view.label], ["error", "daemon"]);
  assert.match(view.detail ?? "", /SIGKILL/);
  // The new daemon holds nothing until it says so.
  assert.equal(phase([...dead, running]), "idle");
  assert.equal(phase([...dead, running, { type: "held", pair: builtInHeld }]), "ready");
});

test("a daemon that gave up stays an error until it runs again", () => {
  const gaveUp: StatusEvent[] = [running, { type: "connection", connection: "failed", problem: "exited 5 times" }, { type: "succeeded" }];
  assert.equal(phase(gaveUp), "error");
  assert.equal(phase([...gaveUp, running]), "idle");
});

test("an untrusted workspace says restricted mode until our pair is held", () => {
  assert.equal(phase([], builtIn, false), "untrusted");
  assert.equal(phase([running, { type: "held", pair: builtInHeld }], builtIn, false), "ready");
  assert.equal(phase([{ type: "trust", trusted: true }], builtIn, false), "idle");
});

test("a settings change to another pair makes a held pair not ours", () => {
  assert.equal(phase([running, { type: "held", pair: builtInHeld }, { type: "settings", wanted: mine, alpha: 0.2 }]), "idle");
  assert.equal(fold([{ type: "settings", wanted: mine, alpha: 0.2 }]).alpha, 0.2);
});

test("a LoRA pair is held under its adapter's path", () => {
  const lora: WantedPair = { label: "a (LoRA)", sft: "/m/base.gguf", dpoLora: "/m/a.gguf" };
  assert.equal(phase([running, { type: "held", pair: { sft: "/m/base.gguf", dpo: "/m/a.gguf", reference: null } }], lora), "ready");
});
