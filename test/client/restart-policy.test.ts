import { test } from "node:test";
import assert from "node:assert/strict";
import { RestartPolicy } from "../../client/src/restart-policy.ts";

function clock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test("restart delays double up to the maximum", () => {
  const time = clock();
  const policy = new RestartPolicy({ initialDelayMs: 1000, maxDelayMs: 5000, maxDeaths: 100 }, time.now);
  const delays = Array.from({ length: 5 }, () => {
    const decision = policy.died();
    assert.ok(decision.restart);
    return decision.delayMs;
  });
  assert.deepEqual(delays, [1000, 2000, 4000, 5000, 5000]);
});

test("a daemon that stayed up long enough starts the back-off over", () => {
  const time = clock();
  const policy = new RestartPolicy({ stableAfterMs: 60_000, maxDeaths: 100 }, time.now);
  policy.died();
  policy.died();
  policy.started();
  time.advance(61_000);
  const decision = policy.died();
  assert.ok(decision.restart);
  assert.equal(decision.delayMs, 1000);
});

test("too many deaths within the window give up", () => {
  const time = clock();
  const policy = new RestartPolicy({ maxDeaths: 3, windowMs: 60_000 }, time.now);
  assert.ok(policy.died().restart);
  assert.ok(policy.died().restart);
  const decision = policy.died();
  assert.deepEqual(decision, { restart: false, deaths: 3, windowMs: 60_000 });
});

test("deaths older than the window are forgotten", () => {
  const time = clock();
  const policy = new RestartPolicy({ maxDeaths: 3, windowMs: 60_000 }, time.now);
  policy.died();
  policy.died();
  time.advance(61_000);
  assert.ok(policy.died().restart);
});

test("a reset by hand forgets every death", () => {
  const time = clock();
  const policy = new RestartPolicy({ maxDeaths: 2 }, time.now);
  policy.died();
  policy.reset();
  const decision = policy.died();
  assert.ok(decision.restart);
  assert.equal(decision.delayMs, 1000);
});
