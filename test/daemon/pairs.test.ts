/**
 * aad/pairs through the real daemon process on the built-in pair: work-done progress in order,
 * valid rows, cancelling mid-run (the file stays resumable and a rerun completes it exactly as an
 * uninterrupted run would), interactive requests running between rows, a pair swapped mid-job,
 * and the specific errors of bad input — after all of which the daemon still answers.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, watch } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CancellationTokenSource } from "vscode-jsonrpc/node";
import { PAIRS_DEFAULTS, type PreferenceRow } from "../../server/src/pairs/generate-pairs.ts";
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
  "How do I remove duplicates from a list?",
  "How do I get the length of a string?",
];
const SMALL = { maxTokens: 16, seed: 3 } as const;

async function rowsOf(file: string): Promise<PreferenceRow[]> {
  const text = await readFile(file, "utf8");
  assert.ok(text === "" || text.endsWith("\n"), "the file ends with a torn line");
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line) as PreferenceRow);
}

/** Resolves once `path` does not exist, woken by changes in its folder. */
async function removed(path: string): Promise<void> {
  const watcher = watch(dirname(path));
  try {
    while (existsSync(path)) await new Promise<void>((resolve) => watcher.once("change", () => resolve()));
  } finally {
    watcher.close();
  }
}

/** Sends aad/pairs with a work-done token and collects its progress values. */
function runPairs(client: Client, params: aad.PairsParams, token: string, options: { cancel?: CancellationTokenSource; onValue?: (value: aad.PairsProgress) => void } = {}) {
  const values: aad.PairsProgress[] = [];
  const subscription = client.connection.onProgress(aad.pairsProgress, token, (value) => {
    values.push(value);
    options.onValue?.(value);
  });
  const result = client.connection.sendRequest(aad.pairs, { ...params, workDoneToken: token }, options.cancel?.token).finally(() => subscription.dispose());
  result.catch(() => undefined);
  return { values, result };
}

void describe("aad/pairs through the daemon", { skip }, () => {
  let dir: { path: string; remove(): Promise<void> };
  let daemon: DaemonProcess;
  let client: Client;
  let promptsFile: string;

  before(async () => {
    dir = await tempDir("aad-pairs-d-");
    promptsFile = join(dir.path, "prompts.jsonl");
    const lines = QUESTIONS.map((prompt, i) => JSON.stringify(i === 1 ? { messages: [{ role: "user", content: prompt }] } : { prompt }));
    await writeFile(promptsFile, lines.join("\n") + "\n");
    daemon = await spawnDaemon({ socket: `${dir.path}/d.sock` });
    client = await connectClient(daemon);
  });

  after(async () => {
    client.close();
    await daemon.kill();
    await dir.remove();
  });

  void test("the protocol's defaults are the CLI's", () => {
    assert.deepEqual(aad.DEFAULT_PAIRS_SETTINGS, PAIRS_DEFAULTS);
  });

  void test("before a pair is loaded the job answers NoModelLoaded; the capabilities announce aad/pairs", async () => {
    const error = await errorOf(client.connection.sendRequest(aad.pairs, { promptsFile, out: join(dir.path, "none.jsonl") }));
    assert.equal(error.code, aad.ErrorCodes.NoModelLoaded);
    const init = await client.connection.sendRequest<{ capabilities: { experimental: { aad: aad.ExperimentalCapabilities } } }>("initialize", { processId: null, rootUri: null, capabilities: {} });
    assert.ok(init.capabilities.experimental.aad.requests.includes("aad/pairs"));
    assert.deepEqual(init.capabilities.experimental.aad.workDoneProgress, ["aad/pairs"]);
    // A context large enough for a generation that holds the pair while a test needs it held.
    await client.connection.sendRequest(aad.loadPair, { sft: pair!.sft, dpo: pair!.dpo, contextSize: 1024 });
  });

  void test("a small job writes valid rows and reports begin, one report per prompt and end, in order", async (t) => {
    const out = join(dir.path, "small.jsonl");
    const started = Date.now();
    const tokensBefore = (await client.connection.sendRequest(aad.status)).tokensGenerated;
    const { values, result } = runPairs(client, { promptsFile, out, limit: 3, ...SMALL }, "small-1");
    const final = await result;
    t.diagnostic(`3 prompts in ${Date.now() - started} ms`);
    assert.deepEqual(
      values.map((v) => v.kind),
      ["begin", "report", "report", "report", "end"],
    );
    assert.deepEqual(
      values.map((v) => v.counts.done),
      [0, 1, 2, 3, 3],
    );
    const begin = values[0]!;
    assert.ok(begin.kind === "begin" && begin.percentage === 0 && begin.title.length > 0);
    const percentages = values.flatMap((v) => (v.kind === "end" ? [] : [v.percentage]));
    assert.deepEqual(percentages, [0, 33, 66, 100]);
    assert.match(values[3]!.message, /^3\/3 prompts, \d+ pairs/);
    assert.match(values[4]!.message, /^done: 3\/3 prompts/);
    assert.equal(final.out, out);
    assert.equal(final.cancelled, false);
    assert.deepEqual([final.done, final.total, final.resumedAt, final.resumedRows, final.droppedBytes], [3, 3, 0, 0, 0]);
    assert.equal(final.written + final.skippedEqual, 3);
    assert.equal(final.rows, final.written);
    const rows = await rowsOf(out);
    assert.equal(rows.length, final.written);
    for (const row of rows) {
      assert.ok(row.meta.index >= 0 && row.meta.index < 3);
      assert.equal(row.meta.maxTokens, 16);
      assert.equal(row.meta.seed, 3);
      assert.deepEqual(row.meta.methods.chosen, { method: "aad", alpha: 0.1 });
      assert.notDeepEqual(row.chosen, row.rejected);
      // The chat prompt (index 1) gives message lists, the others strings: TRL's two forms.
      if (row.meta.index === 1) assert.ok(Array.isArray(row.prompt) && Array.isArray(row.chosen) && Array.isArray(row.rejected));
      else assert.ok(typeof row.prompt === "string" && typeof row.chosen === "string" && typeof row.rejected === "string");
    }
    // The status counts the written rows' tokens (rows skipped as chosen = rejected are not known).
    const tokensAfter = (await client.connection.sendRequest(aad.status)).tokensGenerated;
    assert.equal(tokensAfter - tokensBefore, rows.reduce((sum, row) => sum + row.meta.tokens.chosen + row.meta.tokens.rejected, 0));
    // Again on the finished file: nothing to do, nothing written, nothing duplicated.
    const again = runPairs(client, { promptsFile, out, limit: 3, ...SMALL }, "small-2");
    const second = await again.result;
    assert.deepEqual([second.done, second.written, second.resumedAt, second.resumedRows, second.cancelled], [3, 0, 3, final.rows, false]);
    assert.deepEqual(
      again.values.map((v) => v.kind),
      ["begin", "end"],
    );
    assert.equal((await rowsOf(out)).length, final.rows);
  });

  void test("$/cancelRequest stops after the row in progress; the file stays valid and the rerun equals an uninterrupted run", async (t) => {
    const reference = join(dir.path, "reference.jsonl");
    const uninterrupted = await client.connection.sendRequest(aad.pairs, { promptsFile, out: reference, limit: 6, ...SMALL });
    assert.equal(uninterrupted.done, 6);
    const out = join(dir.path, "cancelled.jsonl");
    const cancel = new CancellationTokenSource();
    let interactive: Promise<aad.GenerateResult> | undefined;
    const { values, result } = runPairs(client, { promptsFile, out, limit: 6, ...SMALL }, "cancel-1", {
      cancel,
      onValue: (value) => {
        if (value.kind !== "report" || interactive !== undefined) return;
        // An interactive request goes before the job's next row; the cancellation follows it.
        interactive = client.connection.sendRequest(aad.generate, { prompt: QUESTIONS[0]!, maxTokens: 64, method: "greedy-dpo" });
        cancel.cancel();
      },
    });
    const stopped = await withTimeout(result, 60_000, "the cancelled job to answer");
    t.diagnostic(`cancelled after ${stopped.done}/${stopped.total} prompts`);
    assert.equal(stopped.cancelled, true);
    assert.ok(stopped.done >= 1 && stopped.done < 6, `done ${stopped.done}`);
    assert.equal(values.at(-1)?.kind, "end");
    assert.match(values.at(-1)!.message, /^cancelled after \d\/6 prompts/);
    assert.ok((await interactive!).tokens.length > 0);
    const partial = await rowsOf(out);
    assert.equal(partial.length, stopped.rows);
    assert.ok(partial.every((row) => row.meta.index < stopped.done));
    assert.ok(!existsSync(`${out}.lock`), "the lock was left behind");

    const resumed = await client.connection.sendRequest(aad.pairs, { promptsFile, out, limit: 6, ...SMALL });
    assert.equal(resumed.resumedAt, stopped.done);
    assert.equal(resumed.resumedRows, stopped.rows);
    assert.deepEqual([resumed.done, resumed.cancelled], [6, false]);
    assert.deepEqual(await rowsOf(out), await rowsOf(reference));
    assert.equal(await readFile(out, "utf8"), await readFile(reference, "utf8"));
  });

  void test("a row waiting in the queue goes after an interactive request that came later", async (t) => {
    const out = join(dir.path, "long.jsonl");
    const events: string[] = [];
    let firstReport: () => void = () => undefined;
    const reported = new Promise<void>((resolve) => (firstReport = resolve));
    const job = runPairs(client, { promptsFile, out, ...SMALL, maxTokens: 48 }, "long-1", {
      onValue: (value) => {
        if (value.kind === "report") {
          events.push(`row ${value.counts.done}`);
          firstReport();
        }
      },
    });
    await withTimeout(reported, 60_000, "the first row");
    // A hold runs (interactive work goes before the job's next row), and the next row waits.
    const holding = await holdPair(client, "hold-long");
    const queued = await statusWhen(client, (s) => s.queue.running?.method === "aad/generate" && s.queue.depth === 1, "the next row to wait behind the hold");
    const doneThen = job.values.at(-1)!.counts.done;
    // An interactive request arrives after the row, and waits too.
    const interactive = client.connection.sendRequest(aad.generate, { prompt: QUESTIONS[2]!, maxTokens: 8 }).then((reply) => {
      events.push("interactive");
      return reply;
    });
    await statusWhen(client, (s) => s.queue.depth === 2, "the interactive request to wait");
    await holding.cancel();
    const reply = await interactive;
    assert.ok(reply.tokens.length > 0);
    const final = await withTimeout(job.result, 120_000, "the long job");
    t.diagnostic(`the row waited from prompt ${doneThen}/${QUESTIONS.length} (queue ${JSON.stringify(queued.queue.byClass)}); order: ${events.join(", ")}`);
    // Interactive before batch: the later interactive request ran before the row that waited longer.
    assert.ok(events.indexOf("interactive") >= 0 && events.indexOf("interactive") < events.indexOf(`row ${doneThen + 1}`), `order: ${events.join(", ")}`);
    assert.deepEqual([final.done, final.total, final.cancelled], [QUESTIONS.length, QUESTIONS.length, false]);
  });

  void test("a second job on a file another job is writing is refused as Busy", async () => {
    const out = join(dir.path, "twice.jsonl");
    let firstReport: () => void = () => undefined;
    const reported = new Promise<void>((resolve) => (firstReport = resolve));
    const job = runPairs(client, { promptsFile, out, ...SMALL }, "twice-1", { onValue: (value) => value.kind === "report" && firstReport() });
    await withTimeout(reported, 60_000, "the first row");
    const busy = await errorOf(client.connection.sendRequest(aad.pairs, { promptsFile, out, ...SMALL }));
    assert.equal(busy.code, aad.ErrorCodes.InvalidOutput);
    assert.equal(busy.data?.reason, "Busy");
    assert.equal((await withTimeout(job.result, 120_000, "the job")).done, QUESTIONS.length);
  });

  void test("a client that disconnects mid-job stops it after the row in progress; another client resumes the file", async () => {
    const out = join(dir.path, "left.jsonl");
    const leaving = await connectClient(daemon);
    let firstReport: () => void = () => undefined;
    const reported = new Promise<void>((resolve) => (firstReport = resolve));
    runPairs(leaving, { promptsFile, out, ...SMALL }, "left-1", {
      onValue: (value) => {
        if (value.kind === "report") firstReport();
      },
    });
    await withTimeout(reported, 60_000, "the first row");
    leaving.close();
    // The job lets go of the file (removes its lock) when it has stopped; until then a new job
    // would be told the file is busy.
    await withTimeout(removed(`${out}.lock`), 60_000, "the stopped job to release the file");
    const resumed = await client.connection.sendRequest(aad.pairs, { promptsFile, out, ...SMALL });
    assert.ok(resumed.resumedAt >= 1 && resumed.resumedAt < QUESTIONS.length, `resumed at ${resumed.resumedAt}`);
    assert.equal(resumed.done, QUESTIONS.length);
    // The same settings as reference.jsonl (the first six prompts): the same rows, byte for byte,
    // however the run was split — the row in progress at the disconnection was finished, not redone.
    const lines = (await readFile(out, "utf8")).split("\n").filter(Boolean);
    const rows = lines.map((line) => JSON.parse(line) as PreferenceRow);
    const reference = (await readFile(join(dir.path, "reference.jsonl"), "utf8")).split("\n").filter(Boolean);
    assert.deepEqual(lines.filter((_, i) => rows[i]!.meta.index < 6), reference);
    assert.equal((await client.connection.sendRequest(aad.status)).clients, 1);
  });

  void test("a job cancelled while it waits in the queue answers Cancelled and touches nothing", async () => {
    const holding = await holdPair(client, "hold-1");
    const out = join(dir.path, "queued.jsonl");
    const cancel = new CancellationTokenSource();
    const { values, result } = runPairs(client, { promptsFile, out, ...SMALL }, "queued-1", { cancel });
    // In the queue behind the hold (it reads the prompts file first).
    await statusWhen(client, (s) => s.queue.byClass.batch === 1, "the job to wait in the queue");
    cancel.cancel();
    const error = await errorOf(result);
    assert.equal(error.code, aad.ErrorCodes.Cancelled);
    assert.deepEqual(values, []);
    assert.ok(!existsSync(out), "a job cancelled in the queue created its output");
    await holding.cancel();
  });

  void test("a pair loaded by another request mid-job stops the job before its next row, keeping its rows", async () => {
    const out = join(dir.path, "swapped.jsonl");
    let swap: Promise<aad.PairInfo> | undefined;
    const job = runPairs(client, { promptsFile, out, ...SMALL }, "swap-1", {
      onValue: (value) => {
        if (value.kind === "report" && swap === undefined) swap = client.connection.sendRequest(aad.loadPair, { sft: pair!.sft, dpoLora: pair!.dpoLora, contextSize: 1024 });
      },
    });
    const error = await errorOf(job.result);
    assert.equal(error.code, aad.ErrorCodes.RuntimeError);
    assert.match(error.message, /model pair changed while aad\/pairs was running/);
    assert.equal((await swap!).dpo.kind, "lora");
    const kept = await rowsOf(out);
    assert.ok(kept.length >= 1 && kept.length < QUESTIONS.length, `${kept.length} rows`);
    assert.equal(job.values.at(-1)?.kind, "end");
    // Back on the first pair, the same request resumes after the kept rows.
    await client.connection.sendRequest(aad.loadPair, { sft: pair!.sft, dpo: pair!.dpo, contextSize: 1024 });
    const resumed = await client.connection.sendRequest(aad.pairs, { promptsFile, out, ...SMALL });
    assert.equal(resumed.resumedRows, kept.length);
    assert.equal(resumed.done, QUESTIONS.length);
  });

  void test("bad input gets specific errors with clear messages", async () => {
    const out = join(dir.path, "bad.jsonl");
    const expect = async (params: unknown, code: number, message: RegExp, data: Partial<aad.ErrorData> = {}): Promise<void> => {
      const error = await errorOf(client.connection.sendRequest(aad.pairs.method, params));
      assert.equal(error.code, code, error.message);
      assert.match(error.message, message);
      for (const [key, value] of Object.entries(data)) assert.deepEqual(error.data?.[key as keyof aad.ErrorData], value, `data.${key}`);
    };
    const missing = join(dir.path, "missing.jsonl");
    await expect({ promptsFile: missing, out }, aad.ErrorCodes.FileNotFound, /prompts file .*missing\.jsonl does not exist/, { name: "FileNotFound", path: missing });
    await expect({ promptsFile: dir.path, out }, aad.ErrorCodes.FileNotFound, /is not a file/);
    const malformed = join(dir.path, "malformed.jsonl");
    await writeFile(malformed, `{"prompt": "fine"}\n{"prompt": 42}\n`);
    await expect({ promptsFile: malformed, out }, aad.ErrorCodes.InvalidPrompts, /malformed\.jsonl:2: "prompt" must be a non-empty string/, { name: "InvalidPrompts", path: malformed, line: 2 });
    const notJson = join(dir.path, "broken.jsonl");
    await writeFile(notJson, `{"prompt": "fine"}\n{"prompt": "unterminated\n`);
    await expect({ promptsFile: notJson, out }, aad.ErrorCodes.InvalidPrompts, /broken\.jsonl:2: not valid JSON/, { line: 2 });
    const csv = join(dir.path, "prompts.csv");
    await writeFile(csv, "a,b\n");
    await expect({ promptsFile: csv, out }, aad.ErrorCodes.InvalidPrompts, /\.jsonl or a \.txt file/);
    const empty = join(dir.path, "empty.txt");
    await writeFile(empty, "\n\n");
    await expect({ promptsFile: empty, out }, aad.ErrorCodes.InvalidPrompts, /holds no prompts/);

    await mkdir(join(dir.path, "folder.jsonl"));
    await expect({ promptsFile, out: join(dir.path, "folder.jsonl") }, aad.ErrorCodes.InvalidOutput, /cannot write the output here/, { reason: "Unwritable" });
    await expect({ promptsFile, out: join(promptsFile, "under-a-file.jsonl") }, aad.ErrorCodes.InvalidOutput, /cannot write the output here/, { reason: "Unwritable" });
    const foreign = join(dir.path, "foreign.jsonl");
    await writeFile(foreign, `{"some": "other data"}\n`);
    await expect({ promptsFile, out: foreign }, aad.ErrorCodes.InvalidOutput, /not a row of `aad pairs`/, { reason: "NotPairsFile", path: foreign });
    const small = join(dir.path, "small.jsonl");
    await expect({ promptsFile, out: small, limit: 3, ...SMALL, seed: 4 }, aad.ErrorCodes.InvalidOutput, /other settings \(seed: 3 in the file, 4 now\)/, { reason: "SettingsMismatch" });
    await expect({ promptsFile, out: small, limit: 3, ...SMALL, maxTokens: 17 }, aad.ErrorCodes.InvalidOutput, /maxTokens: 16 in the file, 17 now/, { reason: "SettingsMismatch" });
    const otherPrompts = join(dir.path, "other.txt");
    await writeFile(otherPrompts, QUESTIONS.slice().reverse().join("\n") + "\n");
    await expect({ promptsFile: otherPrompts, out: small, limit: 3, ...SMALL }, aad.ErrorCodes.InvalidOutput, /does not hold at that position/, { reason: "PromptMismatch" });

    await expect({ promptsFile, out: join(dir.path, "x.txt") }, aad.ErrorCodes.InvalidParams, /"out" must name a \.jsonl file/, { field: "out" });
    await expect({ promptsFile, out: promptsFile }, aad.ErrorCodes.InvalidParams, /"out" is the prompts file itself/, { field: "out" });
    await expect({ out }, aad.ErrorCodes.InvalidParams, /"promptsFile" is required/);
    await expect({ promptsFile, out, rejected: "beam" }, aad.ErrorCodes.InvalidParams, /"rejected" must be one of "sample", "greedy-dpo"/);
    await expect({ promptsFile, out, alpha: 0 }, aad.ErrorCodes.InvalidParams, /"alpha" must lie in \(0, 1\]/);
    await expect({ promptsFile, out, topP: 1.5 }, aad.ErrorCodes.InvalidParams, /"topP" must lie in \(0, 1\]/);
    await expect({ promptsFile, out, maxTokens: 0 }, aad.ErrorCodes.InvalidParams, /"maxTokens" must lie in \[1, 4096\]/);
    await expect({ promptsFile, out, limit: 1.5 }, aad.ErrorCodes.InvalidParams, /"limit" must be an integer/);
    await expect({ promptsFile, out, maxtokens: 5 }, aad.ErrorCodes.InvalidParams, /did you mean "maxTokens"/);
    await expect({ promptsFile, out, workDoneToken: { a: 1 } }, aad.ErrorCodes.InvalidParams, /"workDoneToken" must be a string/);
    assert.ok(!existsSync(out), "a refused job created its output");
  });

  void test("through all of it the daemon stayed up, answers aad/status, and nothing escaped the handlers", async () => {
    const status = await client.connection.sendRequest(aad.status);
    assert.equal(status.queue.running, null);
    assert.equal(status.queue.depth, 0);
    assert.ok(status.pair !== null);
    assert.equal(daemon.child.exitCode, null);
    assert.doesNotMatch(daemon.stderr(), /uncaught exception|unhandled rejection/i, daemon.stderr());
  });
});
