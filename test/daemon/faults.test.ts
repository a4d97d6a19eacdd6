/**
 * Faults against the real daemon process on the built-in pair:
 *
 * - SIGTERM, SIGINT, and LSP shutdown + exit on a stdio daemon, while a generation runs and jobs
 *   wait (a row of an aad/pairs job among them): every request is answered ShuttingDown before
 *   the process exits 0, and the pairs file is left whole and unlocked; run again on a new daemon,
 *   the job resumes and the file ends up byte for byte as an uninterrupted run's.
 * - A prompt longer than the context: InvalidParams (the runtime's PromptTooLong) with a message
 *   that says how long the prompt is and what the context holds.
 * - A full queue while aad/pairs runs: the next row waits and retries (the daemon logs it), and
 *   the job completes, with the rows an uninterrupted run writes.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as aad from "../../server/src/protocol/protocol.ts";
import { prerequisite } from "../ci.ts";
import { builtInPair, connectClient, errorOf, holdPair, spawnDaemon, statusWhen, tempDir, withTimeout, type Client, type DaemonProcess } from "./harness.ts";

const pair = builtInPair();
const skip = prerequisite("the built-in model pair", pair === undefined ? "no built-in model pair (models/ or .cache/quick1)" : undefined);
const QUESTIONS = [
  "How do I reverse a list in Python?",
  "How do I read a file line by line in Python?",
  "What is the difference between a list and a tuple?",
  "How do I sort a dictionary by value?",
  "How do I check if a key is in a dictionary?",
  "How do I join a list of strings?",
];
const PAIRS = { maxTokens: 16, seed: 11 } as const;
/** The context the tests load: HOLD needs room for its 900 tokens. */
const CONTEXT = 1024;

/** Starts aad/pairs; `firstRow` resolves when the first row is written. */
function startPairs(client: Client, params: aad.PairsParams, token: string) {
  const values: aad.PairsProgress[] = [];
  let wrote: () => void = () => undefined;
  const firstRow = new Promise<void>((resolve) => (wrote = resolve));
  const subscription = client.connection.onProgress(aad.pairsProgress, token, (value) => {
    values.push(value);
    if (value.kind === "report") wrote();
  });
  const result = client.connection.sendRequest(aad.pairs, { ...params, workDoneToken: token }).finally(() => subscription.dispose());
  result.catch(() => undefined);
  return { values, firstRow: withTimeout(firstRow, 60_000, "the first row"), result };
}

void describe("faults on the real daemon", { skip }, () => {
  let dir: { path: string; remove(): Promise<void> };
  let promptsFile: string;
  let reference: Buffer;
  /** A daemon that outlives the ones the tests stop: it wrote the reference and resumes their files. */
  let resumer: DaemonProcess;
  let resumerClient: Client;

  before(async () => {
    dir = await tempDir("aad-faults-");
    promptsFile = join(dir.path, "prompts.txt");
    await writeFile(promptsFile, QUESTIONS.join("\n") + "\n");
    resumer = await spawnDaemon({ socket: join(dir.path, "r.sock") });
    resumerClient = await connectClient(resumer);
    await resumerClient.connection.sendRequest(aad.loadPair, { sft: pair!.sft, dpo: pair!.dpo, contextSize: CONTEXT });
    const out = join(dir.path, "reference.jsonl");
    const done = await resumerClient.connection.sendRequest(aad.pairs, { promptsFile, out, ...PAIRS });
    assert.equal(done.done, QUESTIONS.length);
    reference = await readFile(out);
  });

  after(async () => {
    resumerClient.close();
    await resumer.kill();
    await dir.remove();
  });

  for (const how of ["SIGTERM", "SIGINT", "LSP shutdown + exit"] as const) {
    void test(`${how} while a generation runs and jobs wait: every request answers ShuttingDown, the pairs file resumes to an uninterrupted run's bytes`, async (t) => {
      const stdio = how === "LSP shutdown + exit";
      const daemon = await spawnDaemon(stdio ? "stdio" : { socket: join(dir.path, `${how}.sock`) });
      const client = await connectClient(daemon);
      const out = join(dir.path, `${how.replace(/\W+/g, "-")}.jsonl`);
      try {
        await client.connection.sendRequest(aad.loadPair, { sft: pair!.sft, dpo: pair!.dpo, contextSize: CONTEXT });
        const job = startPairs(client, { promptsFile, out, ...PAIRS }, "pairs");
        await job.firstRow;
        // The hold goes before the job's next row, which waits; so do the requests after it.
        const holding = await holdPair(client, "hold");
        const waiting = [
          client.connection.sendRequest(aad.generate, { prompt: QUESTIONS[1]!, maxTokens: 4 }),
          client.connection.sendRequest(aad.score, { prompt: QUESTIONS[2]!, response: "Use a tuple." }),
          client.connection.sendRequest(aad.compare, { prompt: QUESTIONS[3]!, maxTokens: 4, methods: ["aad", "greedy-dpo"] }),
        ];
        for (const request of waiting) request.catch(() => undefined);
        const status = await statusWhen(client, (s) => s.queue.running?.method === "aad/generate" && s.queue.depth === 4, "the row and three requests to wait behind the hold");
        const rowsBefore = job.values.at(-1)!.counts.done;
        t.diagnostic(`${how} with ${rowsBefore} rows written, queue ${JSON.stringify(status.queue.byClass)}`);

        if (stdio) {
          await client.connection.sendRequest("shutdown");
          await client.connection.sendNotification("exit");
        } else daemon.child.kill(how);

        for (const [name, request] of [["the running generation", holding.result], ["aad/pairs", job.result], ["aad/generate", waiting[0]!], ["aad/score", waiting[1]!], ["aad/compare", waiting[2]!]] as const) {
          const error = await withTimeout(errorOf(request), 30_000, `${name} to answer`);
          assert.equal(error.code, aad.ErrorCodes.ShuttingDown, `${name}: ${error.code} ${error.message}`);
          assert.deepEqual(error.data, { name: "ShuttingDown" });
        }
        assert.equal(await withTimeout(daemon.exited, 30_000, "the daemon to exit"), 0);
        if (!stdio) assert.ok(!existsSync(join(dir.path, `${how}.sock`)), "the socket was left behind");
        assert.doesNotMatch(daemon.stderr(), /uncaught exception|unhandled rejection/i, daemon.stderr());

        // The file holds the rows written before the shutdown, whole, and no lock.
        const text = await readFile(out, "utf8");
        assert.ok(text.endsWith("\n"));
        assert.equal(text.split("\n").filter(Boolean).length, rowsBefore);
        assert.ok(!existsSync(`${out}.lock`), "the job left its lock behind");
        const resumed = await resumerClient.connection.sendRequest(aad.pairs, { promptsFile, out, ...PAIRS });
        assert.deepEqual([resumed.resumedAt, resumed.done, resumed.cancelled], [rowsBefore, QUESTIONS.length, false]);
        assert.ok((await readFile(out)).equals(reference), "the resumed file differs from the uninterrupted run's");
      } finally {
        client.close();
        await daemon.kill("SIGKILL");
      }
    });
  }

  void test("a full queue while aad/pairs runs: the next row waits and retries, and the job completes the same file", async (t) => {
    // Two waiting jobs at most, and a client that keeps the queue full with small generations.
    const daemon = await spawnDaemon({ socket: join(dir.path, "full.sock") }, { args: ["--queue-capacity", "2"] });
    const client = await connectClient(daemon);
    const out = join(dir.path, "full.jsonl");
    let flooding = false;
    let flooders: Promise<void>[] = [];
    try {
      await client.connection.sendRequest(aad.loadPair, { sft: pair!.sft, dpo: pair!.dpo, contextSize: CONTEXT });
      const job = startPairs(client, { promptsFile, out, ...PAIRS }, "full");
      await job.firstRow;
      flooding = true;
      const stopped = (): boolean => !flooding; // read when the error arrives, not narrowed by the loop
      const answers = { ok: 0, busy: 0 };
      // Fifty requests in flight at all times: each answer (a result, or Busy) sends the next, so
      // a slot the scheduler frees is taken again before the job's next row asks for one.
      const flood = async (): Promise<void> => {
        while (flooding) {
          try {
            await client.connection.sendRequest(aad.generate, { prompt: QUESTIONS[0]!, maxTokens: 1, method: "greedy-dpo" });
            answers.ok++;
          } catch (error) {
            // Once the test stops (or fails and closes the connection), what is in flight may be cut off.
            if (stopped()) return;
            assert.equal((error as { code?: number }).code, aad.ErrorCodes.Busy, String(error));
            answers.busy++;
          }
        }
      };
      flooders = Array.from({ length: 50 }, flood);
      // The daemon logs a row that finds the queue full; a job that fails on it rejects first.
      let rowFoundFull = false;
      const logged = daemon.logged(/aad\/pairs: the queue is full \(2 jobs waiting\); the next row waits/).then(() => (rowFoundFull = true));
      await withTimeout(Promise.race([logged, job.result]), 120_000, "a row to find the queue full");
      assert.ok(rowFoundFull, "the job finished before any row found the queue full");
      flooding = false;
      await Promise.all(flooders);
      const result = await withTimeout(job.result, 120_000, "the job");
      t.diagnostic(`flood: ${answers.ok} answered, ${answers.busy} Busy; the job finished ${result.done}/${result.total}`);
      assert.deepEqual([result.done, result.total, result.cancelled], [QUESTIONS.length, QUESTIONS.length, false]);
      assert.ok((await readFile(out)).equals(reference), "the file differs from the uninterrupted run's");
    } finally {
      // A failure above must be the one reported, not a flooder's request cut off by the close.
      flooding = false;
      await Promise.allSettled(flooders);
      client.close();
      await daemon.kill();
    }
  });

  void test("a prompt longer than the context answers InvalidParams (PromptTooLong) with both lengths, and the daemon serves on", async () => {
    const long = Array.from({ length: 400 }, (_, i) => QUESTIONS[i % QUESTIONS.length]).join(" ");
    for (const request of [
      resumerClient.connection.sendRequest(aad.generate, { prompt: long, maxTokens: 4 }),
      resumerClient.connection.sendRequest(aad.score, { prompt: long, response: "Use reversed(xs)." }),
      resumerClient.connection.sendRequest(aad.compare, { prompt: long, maxTokens: 4, methods: ["aad"] }),
    ]) {
      const error = await errorOf(request);
      assert.equal(error.code, aad.ErrorCodes.InvalidParams, error.message);
      assert.equal(error.data?.name, "InvalidParams");
      assert.match(error.message, new RegExp(`(prompt is|Prompt and response are) \\d+ tokens, but the context holds ${CONTEXT}`));
    }
    const next = await resumerClient.connection.sendRequest(aad.generate, { prompt: QUESTIONS[0]!, maxTokens: 4 });
    assert.ok(next.tokens.length > 0);
  });
});
