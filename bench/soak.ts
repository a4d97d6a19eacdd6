/**
 * `npm run soak [-- --messages N --seed S]`: 10,000 generated messages, valid and invalid, to a
 * real daemon holding the built-in pair (test/daemon/soak.ts says what is checked); writes
 * bench/results/soak.md and soak.json, and exits 1 if a rule broke.
 */
import { Command } from "commander";
import { markdownCell, markdownTable, writeResults } from "./results.ts";
import { RSS_SAMPLE_MS, RSS_TOLERANCE, runSoak, WARMUP_FRACTION, type SoakReport } from "../test/daemon/soak.ts";
import { builtInPair } from "../test/daemon/harness.ts";

const options = new Command()
  .name("soak")
  .option("--messages <n>", "messages to send", "10000")
  .option("--seed <n>", "fast-check seed of the first batch (batch i uses seed + i)", "20261202")
  .parse()
  .opts<{ messages: string; seed: string }>();

if (builtInPair() === undefined) {
  console.error("soak: no built-in model pair in models/ (or .cache/quick1)");
  process.exit(2);
}
const report = await runSoak({
  messages: Number(options.messages),
  seed: Number(options.seed),
  log: (line) => console.log(line),
  onCheckpoint: (partial) => writeResults("soak", partial, markdown(partial, Number(options.messages))),
});
await writeResults("soak", report, markdown(report, report.messages));
console.log(report.violations.length === 0 ? "soak passed: bench/results/soak.md" : `soak FAILED (${report.violations.length} violations): bench/results/soak.md`);
process.exitCode = report.violations.length === 0 ? 0 : 1;

function markdown(r: SoakReport, planned: number): string {
  const running = r.daemonExit === "running";
  const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const sorted = (table: Readonly<Record<string, number>>): [string, number][] => Object.entries(table).sort((a, b) => b[1] - a[1]);
  const methods = Object.keys(r.outcomes).sort();
  const outcomeNames = [...new Set(methods.flatMap((m) => Object.keys(r.outcomes[m]!)))].sort((a, b) => (a === "ok" ? -1 : b === "ok" ? 1 : a.localeCompare(b)));
  return [
    "# Soak: generated messages to a daemon holding the built-in pair",
    "",
    `${running ? `**In progress (or stopped): ${r.messages.toLocaleString("en")} of ${planned.toLocaleString("en")} messages sent; the after-run checks have not run, "after" below is the latest idle RSS.**` : r.violations.length === 0 ? "**Passed.**" : `**Failed: ${r.violations.length} violations** (listed at the end).`} ${r.messages.toLocaleString("en")} messages in batches of 50 on one connection, in ${(r.durationMs / 1000).toFixed(0)} s, fast-check seed ${r.seed} (batch i uses seed + i). ` +
      "Three in five messages are decoding traffic (aad/generate, aad/compare, aad/score, inline completion and aad/configure with random, often invalid, decoding parameters and at most 8 tokens; document edits; cancellations, some sent as the request starts to run); two in five are protocol noise (random bytes, random JSON, JSON-RPC messages with random methods and params). The generators are test/daemon/fuzz-messages.ts, shared with the fuzz test.",
    "",
    "Rules, checked after every batch: every request is answered exactly once, no answer is RuntimeError or InternalError, the daemon is idle (nothing running or queued) once all are answered, and it still holds the pair. After the run: the connection still decodes, the daemon never logged an uncaught exception, SIGTERM ends it with code 0, and its memory is back near the baseline (below).",
    "",
    "## Answers",
    "",
    `- Requests with an id: ${r.requests.toLocaleString("en")}; answers to them: ${r.answers.toLocaleString("en")}.`,
    `- Answers with a null id (messages whose id could not be read: random bytes, JSON that is no request): ${r.answersWithoutId.toLocaleString("en")}.`,
    `- Progress notifications (streamed tokens): ${r.progressNotifications.toLocaleString("en")}.`,
    `- Daemon exit on SIGTERM after the run: ${r.daemonExit}.`,
    "",
    "### Outcomes by method",
    "",
    markdownTable(["method", ...outcomeNames], methods.map((m) => [markdownCell(m), ...outcomeNames.map((o) => String(r.outcomes[m]![o] ?? 0))])),
    "",
    "### Errors by code",
    "",
    markdownTable(["code", "answers"], sorted(r.errorsByCode).map(([code, n]) => [code, String(n)])),
    "",
    "## Messages sent, by kind",
    "",
    markdownTable(["kind", "messages"], sorted(r.byKind).map(([kind, n]) => [markdownCell(kind), String(n)])),
    "",
    "## Memory (the daemon's RSS, from /proc/<pid>/status)",
    "",
    `The rule, fixed before the run: once idle after the run, RSS may exceed the baseline (idle RSS after the warm-up, the first ${WARMUP_FRACTION * 100} % of the batches) by at most ${RSS_TOLERANCE.fraction * 100} % or ${mib(RSS_TOLERANCE.minBytes)}, whichever is larger (here ${mib(r.rss.toleranceBytes)}). Peak: the highest of samples every ${RSS_SAMPLE_MS} ms from the daemon's start (pair loading included).`,
    "",
    markdownTable(["baseline", "peak", "after", "after − baseline", "tolerance"], [[mib(r.rss.baselineBytes), mib(r.rss.peakBytes), mib(r.rss.afterBytes), mib(r.rss.afterBytes - r.rss.baselineBytes), mib(r.rss.toleranceBytes)]]),
    "",
    "Idle RSS along the run:",
    "",
    markdownTable(["messages sent", "idle RSS"], r.rss.checkpoints.map((c) => [c.messages.toLocaleString("en"), mib(c.bytes)])),
    "",
    `Load average (1, 5, 15 min): ${r.loadAverage.start.map((x) => x.toFixed(2)).join(", ")} at the start, ${r.loadAverage.end.map((x) => x.toFixed(2)).join(", ")} at the end (the duration depends on it; the rules do not).`,
    ...(r.violations.length === 0 ? [] : ["", "## Violations", "", ...r.violations.slice(0, 50).map((v) => `- ${markdownCell(v.slice(0, 400))}`)]),
    "",
  ].join("\n");
}
