/**
 * A burst of 200 inline completion requests on one document, typed as fast as the bytes go, a
 * third of them cancelled: every request gets exactly one response, the cancelled ones answer
 * Cancelled, the first (running when the second arrives) is superseded, the last is answered —
 * with text — as a lone request for the same state would be, and the daemon's memory returns near
 * its baseline.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as aad from "../../server/src/protocol/protocol.ts";
import { prerequisite } from "../ci.ts";
import { builtInPair, frame, RawClient, rssOf, spawnDaemon, tempDir, type DaemonProcess } from "./harness.ts";

const pair = builtInPair();
const skip = prerequisite("the built-in model pair", pair === undefined ? "no built-in model pair (models/ or .cache/quick1)" : undefined);
const URI = "file:///tmp/burst.py";
const BURST = 200;

let dir: { path: string; remove(): Promise<void> };
let daemon: DaemonProcess;
let raw: RawClient;

const request = (id: number, method: string, params: unknown): void => raw.send(frame(JSON.stringify({ jsonrpc: "2.0", id, method, params })));
const notify = (method: string, params: unknown): void => raw.send(frame(JSON.stringify({ jsonrpc: "2.0", method, params })));
const inline = (id: number, character: number): void =>
  request(id, "textDocument/inlineCompletion", { textDocument: { uri: URI }, position: { line: 1, character }, context: { triggerKind: 2 } });

before(async () => {
  if (pair === undefined) return;
  dir = await tempDir("aad-burst-");
  daemon = await spawnDaemon({ socket: `${dir.path}/d.sock` });
  raw = await RawClient.open(daemon.socketPath!);
});

after(async () => {
  if (pair === undefined) return;
  raw.close();
  await daemon.kill();
  await dir.remove();
});

void test("200 inline requests with cancellations: one response each, the running one superseded, the last one right, memory back near baseline", { skip }, async (t) => {
  request(-1, aad.loadPair.method, { sft: pair!.sft, dpo: pair!.dpo });
  assert.ok((await raw.next((m) => m["id"] === -1, 0, 120_000))["result"], "the pair loaded");
  let line = "ys = ";
  notify("textDocument/didOpen", { textDocument: { uri: URI, languageId: "python", version: 1, text: `# reverse a list\n${line}` } });
  request(-2, aad.configure.method, { inlineCompletion: { maxTokens: 16, stopAt: "line" } });
  // Warm up (the first decode allocates the runtime's buffers), then take the baseline.
  inline(-3, line.length);
  await raw.next((m) => m["id"] === -3, 0, 60_000);
  // Request 1 of the burst sees "ys = b": its completion takes all 16 tokens, none a line end.
  request(-5, aad.generate.method, { prompt: `# reverse a list\n${line}b`, raw: true, maxTokens: 16, traceTopK: 1 });
  const first = (await raw.next((m) => m["id"] === -5, 0, 60_000))["result"] as aad.GenerateResult;
  assert.equal(first.stoppedBy, "max-tokens", JSON.stringify(first.text));
  assert.doesNotMatch(first.text, /[\r\n]/);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const baseline = await rssOf(daemon.child.pid!);

  const from = raw.messages.length;
  const cancelled = new Set<number>();
  for (let id = 1; id <= BURST; id++) {
    const typed = "abcdefghij"[id % 10]!;
    notify("textDocument/didChange", {
      textDocument: { uri: URI, version: id + 1 },
      contentChanges: [{ range: { start: { line: 1, character: line.length }, end: { line: 1, character: line.length } }, text: typed }],
    });
    line += typed;
    inline(id, line.length);
    if (id % 3 === 0) {
      notify("$/cancelRequest", { id });
      cancelled.add(id);
    }
  }

  const responses = new Map<number, Record<string, unknown>[]>();
  for (let id = 1; id <= BURST; id++) await raw.next((m) => m["id"] === id, from, 60_000);
  // Once no job runs or waits, no further response can come: any duplicate has arrived by the
  // time this status answers.
  request(-4, aad.status.method, {});
  const idle = (await raw.next((m) => m["id"] === -4, from))["result"] as aad.StatusResult;
  assert.deepEqual([idle.queue.running, idle.queue.depth], [null, 0]);
  for (const message of raw.messages.slice(from)) {
    if (typeof message["id"] !== "number") continue;
    responses.set(message["id"], [...(responses.get(message["id"]) ?? []), message]);
  }
  const outcomes = { answered: 0, cancelled: 0, superseded: 0 };
  for (let id = 1; id <= BURST; id++) {
    const replies = responses.get(id) ?? [];
    assert.equal(replies.length, 1, `request ${id} got ${replies.length} responses`);
    const error = replies[0]!["error"] as { code: number } | undefined;
    if (error === undefined) outcomes.answered++;
    else if (error.code === aad.ErrorCodes.Cancelled) {
      assert.ok(cancelled.has(id), `request ${id} was cancelled without being asked to`);
      outcomes.cancelled++;
    } else if (error.code === aad.ErrorCodes.Superseded) outcomes.superseded++;
    else assert.fail(`request ${id} failed: ${JSON.stringify(error)}`);
  }
  assert.equal(outcomes.answered + outcomes.cancelled + outcomes.superseded, BURST);
  // Each cancellation arrives right after its request, before the next request could supersede it.
  assert.equal(outcomes.cancelled, cancelled.size, `outcomes ${JSON.stringify(outcomes)}`);
  // Request 1 found nothing running or queued, so it started at once; request 2 arrived two
  // messages later, when request 1's 16 decoding steps (checked above) were far from done.
  // Superseded while running is the only right answer: a running request left to finish answers
  // with its completion.
  assert.equal((responses.get(1)![0]!["error"] as { code: number } | undefined)?.code, aad.ErrorCodes.Superseded, `request 1: ${JSON.stringify(responses.get(1))}`);

  // The last request is answered, with what a lone request for the same document state gets.
  const last = responses.get(BURST)![0]!["result"] as { items: { insertText: string }[] } | undefined;
  assert.ok(last !== undefined, "the last request was answered");
  // The built-in pair continues this line: an empty list is a failure.
  assert.equal(last.items.length, 1, `the last completion: ${JSON.stringify(last)}`);
  assert.match(last.items[0]!.insertText, /\S/);
  inline(BURST + 1, line.length);
  const lone = (await raw.next((m) => m["id"] === BURST + 1, from, 60_000))["result"] as { items: unknown[] };
  // The items; the prompt statistics beside them (`aad`: time, tokens taken from the KV cache) differ.
  assert.deepEqual(last.items, lone.items);

  await new Promise((resolve) => setTimeout(resolve, 1000));
  const rss = await rssOf(daemon.child.pid!);
  const growth = rss - baseline;
  assert.ok(growth < 40 * 1024 * 1024, `RSS grew by ${(growth / 1048576).toFixed(1)} MB (baseline ${(baseline / 1048576).toFixed(1)} MB); outcomes ${JSON.stringify(outcomes)}`);
  assert.doesNotMatch(daemon.stderr(), /uncaught exception|unhandled rejection/i);
  t.diagnostic(`outcomes ${JSON.stringify(outcomes)}; last completion ${JSON.stringify(last.items[0]?.insertText ?? "")}; RSS ${(baseline / 1048576).toFixed(1)} → ${(rss / 1048576).toFixed(1)} MB`);
});
