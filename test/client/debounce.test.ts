import { test } from "node:test";
import assert from "node:assert/strict";
import { Debouncer, quietFor } from "../../client/src/debounce.ts";

test("quietFor resolves true once the time has passed", async () => {
  const started = performance.now();
  assert.equal(await quietFor(30), true);
  assert.ok(performance.now() - started >= 25);
});

test("quietFor resolves false as soon as the signal aborts", async () => {
  const controller = new AbortController();
  const started = performance.now();
  const waiting = quietFor(10_000, controller.signal);
  setTimeout(() => controller.abort(), 10);
  assert.equal(await waiting, false);
  assert.ok(performance.now() - started < 1000);
});

test("quietFor with an aborted signal does not wait at all", async () => {
  assert.equal(await quietFor(10_000, AbortSignal.abort()), false);
});

test("quietFor of zero does not wait", async () => {
  assert.equal(await quietFor(0), true);
});

test("a Debouncer runs once after a burst of triggers", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  let runs = 0;
  const debouncer = new Debouncer(100, () => runs++);
  debouncer.trigger();
  t.mock.timers.tick(60);
  debouncer.trigger();
  t.mock.timers.tick(60);
  assert.equal(runs, 0);
  assert.ok(debouncer.pending);
  t.mock.timers.tick(40);
  assert.equal(runs, 1);
  assert.ok(!debouncer.pending);
  await Promise.resolve();
});

test("a disposed Debouncer never runs", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  let runs = 0;
  const debouncer = new Debouncer(100, () => runs++);
  debouncer.trigger();
  debouncer.dispose();
  t.mock.timers.tick(500);
  assert.equal(runs, 0);
});
