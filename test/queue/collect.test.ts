/**
 * `collect`'s bookkeeping on a real Redis, with rows made by a stand-in processor instead of a
 * model (decoding is the other suite's subject): it stops before a failed row and names it,
 * enqueueing again sends that row back, and the next collect resumes after the rows it wrote.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { UnrecoverableError, Worker } from "bullmq";
import { resolveSettings, type PreferenceRow, type PromptRecord } from "../../server/src/pairs/index.ts";
import { collectRun, enqueueRun, parseQueueUrl, runStatus, workerConnection, type RowJobData, type RowJobResult } from "../../server/src/queue/index.ts";
import { prerequisite } from "../ci.ts";
import { redisMissing, suiteRedis } from "./support.ts";

const skip = prerequisite("queue collect suite (test/queue)", redisMissing());

const JOB = "collect";
const settings = resolveSettings({ seed: 1, maxTokens: 4 });
const models = { sft: { file: "sft.gguf", sha256: "a".repeat(64) }, dpo: { file: "dpo.gguf", sha256: "b".repeat(64) } };
const prompts: PromptRecord[] = [0, 1, 2, 3, 4].map((i) => ({ kind: "text", prompt: `question ${i}`, line: i + 1 }));
/** Prompt 3's responses were equal (no row); prompt 2 fails until `fixed`. */
let fixed = false;
let worker: Worker<RowJobData, RowJobResult, "row"> | undefined;

function rowFor(index: number): PreferenceRow {
  return {
    prompt: `question ${index}`,
    chosen: `chosen ${index}`,
    rejected: `rejected ${index}`,
    meta: {
      index,
      seed: settings.seed,
      alpha: settings.alpha,
      maxTokens: settings.maxTokens,
      methods: settings.methods,
      implicitReward: { chosen: 0.5 + index, rejected: -0.25 },
      beta: 0.1,
      tokens: { chosen: 3, rejected: 4 },
      stoppedBy: { chosen: "eos", rejected: "max-tokens" },
      models,
    },
  };
}

const expectedLine = (index: number) => JSON.stringify(rowFor(index)) + "\n";

async function settled(url: string): Promise<void> {
  for (;;) {
    const status = await runStatus(parseQueueUrl(url), JOB);
    if (status.done + status.failed >= status.total && status.running === 0 && status.waiting === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const suite = suiteRedis("aad-queue-collect-", skip, async () => {
  await worker?.close();
});

test("collect stops before a failed row and names it; enqueueing again retries it, and the next collect resumes to the full file", { skip, timeout: 300_000 }, async () => {
  const location = parseQueueUrl(suite.redis.url);
  const enqueued = await enqueueRun({ location, job: JOB, promptsFile: "prompts.txt", prompts, settings, models });
  assert.deepEqual([enqueued.added, enqueued.retried, enqueued.existed], [5, 0, false]);
  worker = new Worker<RowJobData, RowJobResult, "row">(
    `pairs.${JOB}`,
    (job) => {
      const { index } = job.data;
      if (index === 2 && !fixed) return Promise.reject(new UnrecoverableError("prompts.txt:3: the prompt is 400 tokens, the context 160"));
      return Promise.resolve({ row: index === 3 ? null : rowFor(index) });
    },
    { connection: workerConnection(location), prefix: "aad" },
  );
  await settled(suite.redis.url);

  const out = join(suite.dir, "pairs.jsonl");
  const first = await collectRun({ location, job: JOB, out });
  assert.equal(first.done, 2);
  assert.equal(first.pending, 0);
  assert.deepEqual(first.failed, [{ index: 2, line: 3, attempts: 1, reason: "prompts.txt:3: the prompt is 400 tokens, the context 160" }]);
  assert.equal(await readFile(out, "utf8"), expectedLine(0) + expectedLine(1));

  fixed = true;
  const again = await enqueueRun({ location, job: JOB, promptsFile: "prompts.txt", prompts, settings, models });
  assert.deepEqual([again.added, again.retried, again.existed], [0, 1, true]);
  await settled(suite.redis.url);

  const second = await collectRun({ location, job: JOB, out });
  assert.deepEqual([second.resumedRows, second.resumedAt, second.written, second.skippedEqual, second.done, second.failed.length], [2, 2, 2, 1, 5, 0]);
  assert.equal(await readFile(out, "utf8"), expectedLine(0) + expectedLine(1) + expectedLine(2) + expectedLine(4));
});
