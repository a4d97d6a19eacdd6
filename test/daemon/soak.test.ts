/**
 * A short soak in `npm test` (the full one is `npm run soak`, 10,000 messages, results in
 * bench/results/soak.md): 400 generated messages to a daemon holding the built-in pair, every
 * request answered exactly once, no RuntimeError or InternalError, the daemon idle after each
 * batch, still serving and decoding after the run, SIGTERM exits 0, and its RSS back within the
 * soak's tolerance of the baseline.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { prerequisite } from "../ci.ts";
import { builtInPair } from "./harness.ts";
import { runSoak } from "./soak.ts";

const withPair = prerequisite("the built-in model pair", builtInPair() === undefined ? "no built-in model pair (models/ or .cache/quick1)" : undefined);

void test("400 generated messages to a daemon holding the built-in pair: every request answered exactly once, the daemon up and its memory back near the baseline", { skip: withPair }, async (t) => {
  const report = await runSoak({ messages: 400, seed: 20261203 });
  t.diagnostic(`${report.messages} messages, ${report.requests} requests, ${report.answers} answers; RSS baseline ${report.rss.baselineBytes} B, after ${report.rss.afterBytes} B; errors ${JSON.stringify(report.errorsByCode)}`);
  assert.deepEqual(report.violations, []);
  assert.equal(report.messages, 400);
  assert.equal(report.answers, report.requests);
  // The run decoded: each kind of decoding request succeeded at least once.
  for (const method of ["aad/generate", "aad/compare", "aad/score", "textDocument/inlineCompletion"]) assert.ok((report.outcomes[method]?.["ok"] ?? 0) > 0, `no ${method} succeeded: ${JSON.stringify(report.outcomes)}`);
  assert.equal(report.daemonExit, 0);
});
