/**
 * `aad pairs` over the Redis queue, end to end with real parts: a redis-server of the suite's
 * own, real `aad worker` processes on the built-in pair, and the file `aad pairs collect` writes
 * compared byte for byte with a local `aad pairs` run's. Waits are on the processes' output and
 * on the queue's state, never on fixed sleeps.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { heldoutPrompts } from "../../server/src/forge/world.ts";
import { parseQueueUrl, provenancePath, runStatus, type RunProvenance, type RunStatus } from "../../server/src/queue/index.ts";
import { prerequisite } from "../ci.ts";
import { builtInPair } from "../runtime/support.ts";
import { doneLines, QueueCli, rowEvents } from "./cli.ts";
import { AadProcess, freePort, RedisServer, redisMissing, stopLeftovers, UNTIL_MS } from "./support.ts";

const skip = prerequisite("queue suite (test/queue)", redisMissing());

const PROMPTS = 60;
const settings = ["--max-tokens", "8", "--seed", "3"];
const files = builtInPair();
const pairFlags = ["--sft", files.sft, "--dpo", files.dpo, "--threads", "1"];
let dir: string;
let promptsFile: string;
let reference: Buffer;
let redis: RedisServer;
/** The suite's commands against its own Redis. */
let aad: QueueCli;

const rowsOf = (bytes: Buffer) => bytes.toString("utf8").split("\n").filter(Boolean);
const readProvenance = async (out: string) => JSON.parse(await readFile(provenancePath(out), "utf8")) as RunProvenance;
/** The id `aad worker` goes by (BullMQ's worker name): host and pid. */
const workerId = (worker: AadProcess) => `${hostname()}:${worker.child.pid}`;

/** Every queue command against one URL and job (those that load models must fail before loading them). */
function everyCommand(cli: QueueCli, job: string) {
  return Promise.all([
    cli.status(job),
    cli.collect(job, join(dir, "never.jsonl")),
    cli.clean(job),
    cli.enqueue(job, promptsFile),
    cli.workerRun(),
  ]);
}

/** Polls the queue until every row of `job` is done or failed (Redis may be away for a while: those polls are retried). */
async function finished(url: string, job: string): Promise<RunStatus> {
  const deadline = Date.now() + UNTIL_MS;
  for (;;) {
    const status = await runStatus(parseQueueUrl(url), job).catch(() => undefined);
    if (status !== undefined && status.done + status.failed >= status.total) return status;
    if (Date.now() > deadline) throw new Error(`run ${job} did not finish within ${UNTIL_MS / 1000} s: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

before(async () => {
  if (skip !== false) return;
  dir = await mkdtemp(join(tmpdir(), "aad-queue-"));
  promptsFile = join(dir, "prompts.txt");
  await writeFile(promptsFile, heldoutPrompts().slice(0, PROMPTS).map((p) => p.text).join("\n") + "\n");
  redis = await RedisServer.start(dir);
  aad = new QueueCli(redis.url, { pairFlags, settings });
  const out = join(dir, "local.jsonl");
  const local = await aad.local(promptsFile, out);
  assert.equal(local.code, 0, local.stderr);
  reference = await readFile(out);
});
after(async () => {
  if (skip !== false) return;
  await stopLeftovers();
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("queued runs", { skip }, () => {
  test("3 workers on 60 prompts: the collected file equals a local run's byte for byte", { timeout: 600_000 }, async () => {
    assert.equal((await aad.enqueue("three", promptsFile)).code, 0);
    const workers = [0, 1, 2].map(() => aad.worker(["--job", "three"]));
    try {
      const out = join(dir, "three.jsonl");
      const collected = await aad.collect("three", out, ["--wait"]);
      assert.equal(collected.code, 0, collected.stderr);
      assert.match(collected.stdout, /done: 60\/60 prompts/);
      assert.ok((await readFile(out)).equals(reference), "the collected file differs from the local run's");
      // Every worker took part, and no row was decoded twice.
      const started = workers.flatMap((w) => [...w.stderr.matchAll(/row three\.(\d+) started/g)].map((m) => Number(m[1])));
      assert.equal(new Set(started).size, PROMPTS);
      assert.equal(started.length, PROMPTS);
      for (const worker of workers) assert.ok(doneLines(worker) > 0, `a worker did no rows:\n${worker.stderr}`);

      // How the rows were made is in the sidecar, not the rows: each prompt names the worker whose log says it decoded it.
      const provenance = await readProvenance(out);
      assert.deepEqual([provenance.madeBy, provenance.job, provenance.queue, provenance.total], ["aad pairs --queue", "three", redis.url, PROMPTS]);
      assert.deepEqual(new Set(provenance.workers.map((worker) => worker.id)), new Set(workers.map(workerId)));
      const referenceModels = (JSON.parse(rowsOf(reference)[0]!) as { meta: { models: unknown } }).meta.models;
      for (const worker of provenance.workers) {
        assert.deepEqual([worker.hostname, worker.concurrency, worker.models], [hostname(), 1, referenceModels]);
        assert.equal(worker.prompts, provenance.byPrompt.filter((k) => provenance.workers[k!] === worker).length);
      }
      assert.equal(provenance.byPrompt.length, PROMPTS);
      for (const [index, k] of provenance.byPrompt.entries()) {
        const maker = workers.find((worker) => workerId(worker) === provenance.workers[k!]?.id);
        assert.ok(maker !== undefined && maker.stderr.includes(`row three.${index} done`), `prompt ${index + 1} is credited to a worker that did not decode it`);
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  });

  test("one worker with --concurrency 2 decodes two rows at once, each on its own copy of the pair, and the collected file still equals the local run's; clean then removes the run and the worker stops", { timeout: 600_000 }, async () => {
    assert.equal((await aad.enqueue("two", promptsFile)).code, 0);
    const worker = aad.worker(["--job", "two", "--concurrency", "2"]);
    try {
      const out = join(dir, "two.jsonl");
      const collected = await aad.collect("two", out, ["--wait"]);
      assert.equal(collected.code, 0, collected.stderr);
      assert.ok((await readFile(out)).equals(reference), "the collected file differs from the local run's");

      const events = rowEvents(worker, "two");
      assert.equal(events.filter((e) => e.event === "started").length, PROMPTS, "a row was decoded twice");
      // A pair's requests never interleave (ModelPair.exclusive), so a copy is lent to one row at a time…
      const onPair = new Map<number, string>();
      let mostAtOnce = 0;
      for (const { event, row, pair } of events) {
        assert.ok(pair === 1 || pair === 2, `pair ${pair} of 2`);
        if (event === "started") {
          assert.equal(onPair.get(pair), undefined, `row ${row} started on pair ${pair} while row ${onPair.get(pair)} was on it`);
          onPair.set(pair, row);
        } else {
          assert.equal(onPair.get(pair), row, `row ${row} finished on pair ${pair}, which it was not lent`);
          onPair.delete(pair);
        }
        mostAtOnce = Math.max(mostAtOnce, onPair.size);
      }
      // …and the two copies did work side by side.
      assert.equal(mostAtOnce, 2, "the worker never had two rows in progress");
      const provenance = await readProvenance(out);
      assert.deepEqual(provenance.workers.map((w) => [w.id, w.concurrency, w.prompts]), [[workerId(worker), 2, PROMPTS]]);

      const status = await aad.status("two");
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`workers: +1 connected, 1 took rows of this run\n  ${workerId(worker).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}  connected  2 × sft\\.gguf [0-9a-f]{12}… \\+ dpo\\.gguf [0-9a-f]{12}…  since `));

      const cleaned = await aad.clean("two");
      assert.equal(cleaned.code, 0, cleaned.stderr);
      assert.match(cleaned.stdout, /removed: +job "two" from redis:\/\/127\.0\.0\.1:\d+\/0\nrows: +60 done, 0 failed, 0 running, 0 waiting/);
      assert.deepEqual(await worker.exited, { code: 0, signal: null });
      assert.match(worker.stderr, /job "two" was removed from redis:\/\/127\.0\.0\.1:\d+\/0 \(aad pairs clean\); no longer taking its rows/);
    } finally {
      await worker.stop();
    }
  });

  test("kill -9 of a worker mid-row, then Redis restarted mid-run: the collected file still equals the local run's", { timeout: 600_000 }, async (t) => {
    const own = await RedisServer.start(await mkdtemp(join(dir, "redis-")));
    const ownAad = aad.at(own.url);
    const workers = [0, 1, 2].map(() => ownAad.worker());
    try {
      assert.equal((await ownAad.enqueue("faults", promptsFile)).code, 0);
      const victim = workers[0]!;
      // Mid-row: after two rows, at the moment it starts a third.
      const rowLines = (w: AadProcess) => w.stderr.split("\n").filter((line) => /^aad worker: row faults\.\d+ (started|done)/.test(line));
      await victim.until((w) => doneLines(w) >= 2 && rowLines(w).at(-1)!.includes(" started on pair "), "it started a third row");
      const cut = /row (faults\.\d+) started on pair 1$/.exec(rowLines(victim).at(-1)!)![1]!;
      victim.child.kill("SIGKILL");
      await victim.exited;
      t.diagnostic(`killed a worker in the middle of row ${cut}`);

      const survivors = workers.slice(1);
      // Redis goes away at once, while most rows are still to do (rows take ~0.1 s on a quiet
      // machine, so waiting for the killed row's recovery first would leave nothing to restart under).
      const rowsBefore = survivors.reduce((sum, w) => sum + doneLines(w), 0);
      await own.stop();
      await Promise.all(survivors.map((w) => w.until((self) => self.stderr.includes("is unreachable"), "it noticed Redis going away")));
      await own.start();
      await Promise.all(survivors.map((w) => w.until((self) => /Redis at redis:\/\/127\.0\.0\.1:\d+\/0 is back/.test(self.stderr), "it reconnected")));
      // BullMQ's stalled-job check hands the killed worker's row to another worker.
      await Promise.race(survivors.map((w) => w.until((self) => self.stderr.includes(`row ${cut} done`), `row ${cut} was redone`)));
      await finished(own.url, "faults");
      for (const worker of survivors) assert.ok(worker.running, `a worker exited when Redis went away:\n${worker.stderr}`);
      t.diagnostic(`Redis restarted after ${rowsBefore} rows`);
      assert.ok(rowsBefore < PROMPTS, "Redis was restarted after the run had finished");

      const out = join(dir, "faults.jsonl");
      const collected = await ownAad.collect("faults", out);
      assert.equal(collected.code, 0, collected.stderr);
      assert.ok((await readFile(out)).equals(reference), "the collected file differs from the local run's");
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await own.stop();
    }
  });

  test("a worker with another model pair refuses the job by name, and the other worker finishes it", { timeout: 600_000 }, async () => {
    const prompts = join(dir, "twelve.txt");
    await writeFile(prompts, heldoutPrompts().slice(0, 12).map((p) => p.text).join("\n") + "\n");
    assert.equal((await aad.enqueue("mixed", prompts)).code, 0);
    const loraFlags = ["--sft", files.sft, "--dpo-lora", files.dpoLora, "--threads", "1"];
    const other = aad.worker([], loraFlags);
    const right = aad.worker();
    try {
      await other.until((w) => w.stderr.includes('refusing job "mixed"'), "it refused the job");
      assert.match(other.stderr, /refusing job "mixed": it was enqueued for another model pair \(DPO model: the job's is dpo\.gguf \(sha256 [0-9a-f]{12}…\), this worker's is none; DPO LoRA adapter: the job's is none, this worker's is dpo-lora\.gguf/);
      const out = join(dir, "mixed.jsonl");
      const collected = await aad.collect("mixed", out, ["--wait"]);
      assert.equal(collected.code, 0, collected.stderr);
      const expected = rowsOf(reference).filter((line) => (JSON.parse(line) as { meta: { index: number } }).meta.index < 12);
      assert.deepEqual(rowsOf(await readFile(out)), expected);
      assert.doesNotMatch(other.stderr, /row mixed\.\d+ started/);
      assert.ok(other.running, "the refusing worker stays up for other jobs");

      // Named with --job, the mismatch is the worker's exit.
      const named = await aad.workerRun(["--job", "mixed"], loraFlags);
      assert.equal(named.code, 1);
      assert.match(named.stderr, /^aad: refusing job "mixed": it was enqueued for another model pair \(DPO model: the job's is dpo\.gguf/m);
    } finally {
      await Promise.all([other.stop(), right.stop()]);
    }
  });

  test("a prompt longer than the context fails at once, and collect names its row, exits 1 and writes only the rows before it", { timeout: 600_000 }, async () => {
    const prompts = join(dir, "long.txt");
    const [first, second] = heldoutPrompts().map((p) => p.text);
    await writeFile(prompts, [first, "tell me everything ".repeat(200), second].join("\n") + "\n");
    assert.equal((await aad.enqueue("long", prompts)).code, 0);
    const worker = aad.worker(["--job", "long"]);
    try {
      const status = await finished(redis.url, "long");
      assert.deepEqual([status.done, status.failed], [2, 1]);
      assert.equal(status.failedRows[0]!.attempts, 1, "a row that can only fail again was retried");
      const out = join(dir, "long.jsonl");
      const collected = await aad.collect("long", out);
      assert.equal(collected.code, 1);
      assert.match(collected.stderr, new RegExp(`1 row of job "long" failed:\\n  prompt 2 \\(${prompts.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}:2\\), 1 attempt: .*context`));
      assert.match(collected.stdout, /stopped at prompt 2 of 3: its row failed/);
      const rows = rowsOf(await readFile(out)).map((line) => JSON.parse(line) as { meta: { index: number } });
      assert.ok(rows.every((row) => row.meta.index < 1));
    } finally {
      await worker.stop();
    }
  });

  test("enqueueing the same job twice adds nothing, and the same name with other settings is refused", { timeout: 300_000 }, async () => {
    const first = await aad.enqueue("twice", promptsFile);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /rows: +60 \(60 added\)/);
    const again = await aad.enqueue("twice", promptsFile);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /rows: +60 \(0 added; the job was enqueued before\)/);
    const other = await aad.enqueue("twice", promptsFile, ["--seed", "4"]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /job "twice" in redis:\/\/127\.0\.0\.1:\d+\/0 was enqueued with other settings \(settings: .*"seed":3.* in the queue, .*"seed":4.* now\)/);
  });
});

describe("clear errors", { skip }, () => {
  const cases: [string, RegExp][] = [
    ["http://127.0.0.1:6379/0", /--queue "http:\/\/127\.0\.0\.1:6379\/0" is not a usable Redis URL: the scheme must be redis:\/\/ or rediss:\/\/, not http:\/\//],
    ["redis://127.0.0.1:99999/0", /not a usable Redis URL: the port must be 1 to 65535, got 99999/],
    ["redis://127.0.0.1:6379/zero", /not a usable Redis URL: the path must be a database number such as \/0, got \/zero/],
    ["127.0.0.1:6379", /not a usable Redis URL: it does not start with redis:\/\//],
    ["redis://", /not a usable Redis URL: it names no host/],
    ["redis://127.0.0.1:6379/0?db=2", /not a usable Redis URL: query strings and fragments are not used/],
  ];
  for (const [url, message] of cases) {
    test(`a bad URL (${url}) is named, with what is wrong and an example`, () => {
      assert.throws(() => parseQueueUrl(url), (error: Error) => message.test(error.message) && error.message.endsWith("(example: redis://127.0.0.1:6379/0)"));
    });
  }

  test("status, collect, clean, enqueue and worker each refuse a bad URL with that message, before loading anything", { timeout: 300_000 }, async () => {
    const url = "http://127.0.0.1:6379/0";
    const runs = await everyCommand(aad.at(url), "x");
    for (const run of runs) {
      assert.equal(run.code, 1, run.stderr);
      assert.equal(run.stderr, `aad: --queue "${url}" is not a usable Redis URL: the scheme must be redis:// or rediss://, not http:// (example: redis://127.0.0.1:6379/0)\n`);
    }
  });

  test("an unreachable Redis is named with the reason by status, collect, clean, enqueue and worker", { timeout: 300_000 }, async () => {
    const url = `redis://127.0.0.1:${await freePort()}/0`;
    const runs = await everyCommand(aad.at(url), "x");
    for (const run of runs) {
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, new RegExp(`^aad: cannot reach Redis at ${url.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} \\(connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+\\); start redis-server there, or pass the right --queue URL\\n$`));
    }
  });

  test("a job that does not exist is named, with the jobs there are and how to enqueue it, by status, collect, clean and worker --job", { timeout: 300_000 }, async () => {
    const runs = await Promise.all([aad.status("nope"), aad.collect("nope", join(dir, "nope.jsonl")), aad.clean("nope"), aad.workerRun(["--job", "nope"])]);
    for (const run of runs) {
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /no job "nope" in redis:\/\/127\.0\.0\.1:\d+\/0 \(its jobs: [^)]*\); enqueue it with `aad pairs --queue redis:\/\/127\.0\.0\.1:\d+\/0 --job nope --prompts FILE`/);
    }
  });

  test("a bad job name is refused before anything is enqueued", { timeout: 300_000 }, async () => {
    const run = await aad.enqueue("a:b", promptsFile);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /--job "a:b": a job name is 1 to 100 letters, digits, "\.", "_" or "-"/);
  });
});
