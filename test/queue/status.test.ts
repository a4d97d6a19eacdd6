/**
 * `aad pairs status` on a real Redis, with rows made by a stand-in processor (decoding is the
 * other suite's subject): its rate is over the latest RATE_WINDOW completions, and it reads them
 * from the completed set's scores rather than fetching every row's job, which `status --watch`
 * would otherwise do every second on the machines the workers decode on.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { Worker } from "bullmq";
import { resolveSettings, type PromptRecord } from "../../server/src/pairs/index.ts";
import { connectOnce, enqueueRun, parseQueueUrl, RATE_WINDOW, runStatus, workerConnection, type RowJobData, type RowJobResult } from "../../server/src/queue/index.ts";
import { rowQueue } from "../../server/src/queue/run.ts";
import { prerequisite } from "../ci.ts";
import { redisMissing, suiteRedis } from "./support.ts";

const skip = prerequisite("queue status suite (test/queue)", redisMissing());

const JOB = "status";
const ROWS = RATE_WINDOW + 60;
/** The first rows take longer, so a rate over the oldest completions differs from one over the latest. */
const SLOW_ROWS = 60;
const settings = resolveSettings({ seed: 1, maxTokens: 4 });
const models = { sft: { file: "sft.gguf", sha256: "a".repeat(64) }, dpo: { file: "dpo.gguf", sha256: "b".repeat(64) } };
const prompts: PromptRecord[] = Array.from({ length: ROWS }, (_, i) => ({ kind: "text", prompt: `question ${i}`, line: i + 1 }));
let worker: Worker<RowJobData, RowJobResult, "row"> | undefined;

const suite = suiteRedis("aad-queue-status-", skip, async () => {
  await worker?.close();
});

test("status's rate is over the latest completions, read without fetching the rows' jobs", { skip, timeout: 300_000 }, async () => {
  const location = parseQueueUrl(suite.redis.url);
  await enqueueRun({ location, job: JOB, promptsFile: "prompts.txt", prompts, settings, models });
  worker = new Worker<RowJobData, RowJobResult, "row">(
    `pairs.${JOB}`,
    async (job) => {
      await sleep(job.data.index < SLOW_ROWS ? 15 : 1);
      return { row: null };
    },
    { connection: workerConnection(location), prefix: "aad" },
  );
  for (let status = await runStatus(location, JOB); status.done < ROWS; status = await runStatus(location, JOB)) await sleep(100);
  await worker.close();

  const client = await connectOnce(location);
  const queue = rowQueue(JOB, client);
  try {
    const finished = (await queue.getCompleted(0, -1)).map((row) => row.finishedOn!).sort((a, b) => b - a);
    const rate = (window: readonly number[]) => (window.length - 1) / ((window[0]! - window.at(-1)!) / 1000);
    const latest = rate(finished.slice(0, RATE_WINDOW));
    assert.notEqual(latest, rate(finished.slice(-RATE_WINDOW)), "the slow first rows should make the oldest window's rate differ");

    await client.config("RESETSTAT");
    const status = await runStatus(location, JOB);
    const calls = Object.fromEntries([...(await client.info("commandstats")).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((match) => [match[1]!, Number(match[2])]));
    assert.equal(status.done, ROWS);
    assert.equal(status.rowsPerSecond, latest);
    assert.equal(status.etaSeconds, 0);
    // One HGETALL is the run's worker records; fetching jobs would be one per completed row read.
    assert.ok((calls.hgetall ?? 0) <= 1, `status fetched rows' jobs: ${JSON.stringify(calls)}`);
  } finally {
    await queue.close();
    client.disconnect();
  }
});
