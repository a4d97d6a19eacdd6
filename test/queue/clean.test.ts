/**
 * `aad pairs clean` on a real Redis, with rows made by a stand-in processor (decoding is the other
 * suite's subject): it refuses while a row is running and before a complete collect, leaving the
 * run whole and its queue unpaused; after the collect it removes every key of the run and nothing
 * of another run's; --force removes a run mid-way. Also the collect's provenance sidecar.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { resolveSettings, type PreferenceRow, type PromptRecord } from "../../server/src/pairs/index.ts";
import { collectRun, enqueueRun, parseQueueUrl, provenancePath, runStatus, workerConnection, type RowJobData, type RowJobResult, type RunProvenance, type WorkerRecord } from "../../server/src/queue/index.ts";
import { prerequisite } from "../ci.ts";
import { QueueCli } from "./cli.ts";
import { RedisServer, redisMissing, stopLeftovers } from "./support.ts";

const skip = prerequisite("queue clean suite (test/queue)", redisMissing());

const settings = resolveSettings({ seed: 1, maxTokens: 4 });
const models = { sft: { file: "sft.gguf", sha256: "a".repeat(64) }, dpo: { file: "dpo.gguf", sha256: "b".repeat(64) } };
const prompts: PromptRecord[] = [0, 1, 2].map((i) => ({ kind: "text", prompt: `question ${i}`, line: i + 1 }));
const STAND_IN = "stand-in:1";
let dir: string;
let redis: RedisServer;
let client: Redis;
let aad: QueueCli;
const workers: Worker<RowJobData, RowJobResult, "row">[] = [];

const rowFor = (index: number): PreferenceRow => ({
  prompt: `question ${index}`,
  chosen: `chosen ${index}`,
  rejected: `rejected ${index}`,
  meta: { index, seed: 1, alpha: 0.1, maxTokens: 4, methods: settings.methods, implicitReward: { chosen: 1, rejected: 0 }, beta: 0.1, tokens: { chosen: 2, rejected: 2 }, stoppedBy: { chosen: "eos", rejected: "eos" }, models },
});

/** A stand-in worker for `job` that registers itself as `aad worker` does; prompt 1 waits for `release`. */
async function standIn(job: string, release: Promise<void>): Promise<void> {
  const location = parseQueueUrl(redis.url);
  const record: WorkerRecord = { id: STAND_IN, hostname: "stand-in", pid: 1, concurrency: 2, models, since: new Date().toISOString() };
  await client.hset(`aad:pairs-workers:${job}`, STAND_IN, JSON.stringify(record));
  const worker = new Worker<RowJobData, RowJobResult, "row">(
    `pairs.${job}`,
    async (row) => {
      if (row.data.index === 1) await release;
      return { row: rowFor(row.data.index) };
    },
    { connection: workerConnection(location), prefix: "aad", name: STAND_IN, concurrency: 2 },
  );
  workers.push(worker);
}

async function until(job: string, holds: (status: Awaited<ReturnType<typeof runStatus>>) => boolean): Promise<void> {
  while (!holds(await runStatus(parseQueueUrl(redis.url), job))) await new Promise((resolve) => setTimeout(resolve, 100));
}

const keysOf = async (job: string) => [...(await client.keys(`aad:pairs.${job}:*`)), ...(await client.keys(`aad:pairs-workers:${job}`))];
const manifestOf = (job: string) => client.hget("aad:pairs-runs", job);

before(async () => {
  if (skip !== false) return;
  dir = await mkdtemp(join(tmpdir(), "aad-queue-clean-"));
  redis = await RedisServer.start(dir);
  client = new Redis(redis.port, "127.0.0.1");
  aad = new QueueCli(redis.url, { pairFlags: [], settings: [] });
});
after(async () => {
  if (skip !== false) return;
  await Promise.all(workers.map((worker) => worker.close(true)));
  client.disconnect();
  await stopLeftovers();
  await rm(dir, { recursive: true, force: true });
});

test("clean refuses while a row runs and before a complete collect, leaving the run whole; after the collect it removes every key of the run and none of another's", { skip, timeout: 300_000 }, async () => {
  const location = parseQueueUrl(redis.url);
  for (const job of ["cleaned", "kept"]) await enqueueRun({ location, job, promptsFile: "prompts.txt", prompts, settings, models });
  let release!: () => void;
  await standIn("cleaned", new Promise<void>((resolve) => (release = resolve)));
  await until("cleaned", (status) => status.running === 1 && status.done === 2);

  const running = await aad.clean("cleaned");
  assert.equal(running.code, 1);
  assert.match(running.stderr, /^aad: job "cleaned" in redis:\/\/127\.0\.0\.1:\d+\/0 has 1 row running; stop its workers or wait for them .*, or clean with --force to drop them\n$/);

  release();
  await until("cleaned", (status) => status.done === 3); // the queue was resumed: the row could finish
  const uncollected = await aad.clean("cleaned");
  assert.equal(uncollected.code, 1);
  assert.match(uncollected.stderr, /has not been collected to the end \(3 of 3 rows done, 0 failed, 0 waiting\); its results would be lost\. Run `aad pairs collect --queue redis:\/\/127\.0\.0\.1:\d+\/0 --job cleaned --out FILE\.jsonl` first, or clean with --force/);
  assert.notEqual(await manifestOf("cleaned"), null);

  const out = join(dir, "cleaned.jsonl");
  const collected = await collectRun({ location, job: "cleaned", out });
  assert.equal(collected.done, 3);
  const provenance = JSON.parse(await readFile(provenancePath(out), "utf8")) as RunProvenance;
  assert.deepEqual(provenance.workers, [{ id: STAND_IN, hostname: "stand-in", pid: 1, concurrency: 2, models, since: provenance.workers[0]!.since, prompts: 3 }]);
  assert.deepEqual(provenance.byPrompt, [0, 0, 0]);

  const keptKeys = (await keysOf("kept")).sort();
  const cleaned = await aad.clean("cleaned");
  assert.equal(cleaned.code, 0, cleaned.stderr);
  assert.match(cleaned.stdout, /^removed: +job "cleaned" from redis:\/\/127\.0\.0\.1:\d+\/0\nrows: +3 done, 0 failed, 0 running, 0 waiting \(with their results\)\nworkers: +1 record\ncollected: to .*cleaned\.jsonl \(3 rows, /);
  assert.deepEqual(await keysOf("cleaned"), []);
  assert.equal(await manifestOf("cleaned"), null);
  assert.equal(await client.hget("aad:pairs-collected", "cleaned"), null);
  assert.deepEqual((await keysOf("kept")).sort(), keptKeys);
  assert.notEqual(await manifestOf("kept"), null);

  const again = await aad.clean("cleaned");
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no job "cleaned" in redis:\/\/127\.0\.0\.1:\d+\/0 \(its jobs: kept\)/);
});

test("clean --force removes a run with a row running and none collected", { skip, timeout: 300_000 }, async () => {
  const location = parseQueueUrl(redis.url);
  await enqueueRun({ location, job: "forced", promptsFile: "prompts.txt", prompts, settings, models });
  await standIn("forced", new Promise<void>(() => undefined));
  await until("forced", (status) => status.running === 1 && status.done === 2);
  const forced = await aad.clean("forced", ["--force"]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, /rows: +2 done, 0 failed, 1 running, 0 waiting \(with their results\)\nworkers: +1 record\ncollected: no \(removed with --force\)\n$/);
  assert.deepEqual(await keysOf("forced"), []);
  assert.equal(await manifestOf("forced"), null);
});
