/**
 * A fast-check fuzz of the real daemon process: well over a thousand random messages — random
 * bytes, random JSON, and JSON-RPC messages with random methods and params close to the real
 * ones — on one connection. Every request, whatever its params, gets exactly one response, and
 * afterwards valid requests still succeed on that connection and on a new one. A shorter run
 * fuzzes the decoding paths with the built-in pair loaded: generation, comparison, scoring and
 * inline completion with random (often invalid) decoding parameters and random cancellations.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as aad from "../../server/src/protocol/protocol.ts";
import { prerequisite } from "../ci.ts";
import { builtInPair, connectClient, frame, RawClient, spawnDaemon, tempDir, type DaemonProcess } from "./harness.ts";
import { decodingMessage, DOCUMENTS, message, withTurnCancels } from "./fuzz-messages.ts";

let dir: { path: string; remove(): Promise<void> };
let daemon: DaemonProcess;

before(async () => {
  dir = await tempDir("aad-fuzz-");
  daemon = await spawnDaemon({ socket: `${dir.path}/d.sock` });
});

after(async () => {
  await daemon.kill();
  await dir.remove();
});

void test("1,250 random messages: every request is answered exactly once, and the daemon keeps serving", async () => {
  const raw = await RawClient.open(daemon.socketPath!);
  let nextId = 1;
  let sent = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 50, maxLength: 50 }), async (messages) => {
        const from = raw.messages.length;
        const expected: number[] = [];
        const bodies = new Map<number, string>();
        for (const m of messages) {
          sent++;
          if (m.kind === "bytes") raw.send(frame(Buffer.from(m.bytes)));
          else if (m.kind === "json") raw.send(frame(JSON.stringify(m.value)));
          else {
            const id = m.kind === "request" ? nextId++ : undefined;
            const body = JSON.stringify({ jsonrpc: "2.0", ...(id === undefined ? {} : { id }), method: m.method, ...(m.params === undefined ? {} : { params: m.params }) });
            // Params that are neither an object nor an array make an invalid request, which is
            // answered too (Invalid Request, with its id).
            if (id !== undefined) {
              expected.push(id);
              bodies.set(id, body);
            }
            raw.send(frame(body));
          }
        }
        // A marker request: once it is answered, everything before it has been read.
        const marker = nextId++;
        raw.send(frame(JSON.stringify({ jsonrpc: "2.0", id: marker, method: "aad/status" })));
        await raw.next((r) => r["id"] === marker, from, 20_000);
        const answeredIds = (): unknown[] => raw.messages.slice(from).map((r) => r["id"]);
        for (let waited = 0; waited < 10_000 && expected.some((id) => !answeredIds().includes(id)); waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
        const unanswered = expected.filter((id) => !answeredIds().includes(id)).map((id) => bodies.get(id));
        assert.deepEqual(unanswered, [], "requests without a response");
        const answered = answeredIds().filter((id) => typeof id === "number" && expected.includes(id));
        assert.equal(answered.length, expected.length, "a request was answered more than once");
      }),
      { numRuns: 25, seed: 20261126, endOnFailure: true, includeErrorInReport: true },
    );
    assert.ok(sent >= 1000, `only ${sent} messages were sent`);

    // The fuzzed connection and a new one both still serve.
    raw.send(frame(JSON.stringify({ jsonrpc: "2.0", id: "final", method: "aad/status" })));
    const status = await raw.next((r) => r["id"] === "final");
    assert.equal((status["result"] as aad.StatusResult).pid, daemon.child.pid);
  } finally {
    raw.close();
  }
  const client = await connectClient(daemon);
  try {
    const status = await client.connection.sendRequest(aad.status);
    assert.equal(status.pair, null);
    assert.equal(daemon.child.exitCode, null);
    assert.doesNotMatch(daemon.stderr(), /uncaught exception|unhandled rejection/i);
  } finally {
    client.close();
  }
});

// ---------------------------------------------------------------------------------------------
// The decoding paths, with the built-in pair loaded.

const pair = builtInPair();
const withPair = prerequisite("the built-in model pair", pair === undefined ? "no built-in model pair (models/ or .cache/quick1)" : undefined);

void test("decoding fuzz with the built-in pair loaded: random decoding parameters and cancellations, every request answered exactly once", { skip: withPair }, async (t) => {
  const pairDir = await tempDir("aad-fuzz-pair-");
  const pairDaemon = await spawnDaemon({ socket: `${pairDir.path}/d.sock` });
  const raw = await RawClient.open(pairDaemon.socketPath!);
  const send = (body: Record<string, unknown>): void => raw.send(frame(JSON.stringify({ jsonrpc: "2.0", ...body })));
  let nextId = 1;
  const requests = new Map<number, string>();
  const outcomes: Record<string, number> = {};
  try {
    // With its early checkpoint as the reference model, so that cd decodes too.
    send({ id: "load", method: "aad/loadBuiltinPair", params: {} });
    assert.ok((await raw.next((m) => m["id"] === "load", 0, 120_000))["result"], "the pair loaded");
    for (const uri of DOCUMENTS) send({ method: "textDocument/didOpen", params: { textDocument: { uri, languageId: "python", version: 0, text: "xs = [1, 2]\nys = " } } });
    await fc.assert(
      fc.asyncProperty(fc.array(withTurnCancels(decodingMessage), { minLength: 30, maxLength: 30 }), async (messages) => {
        const from = raw.messages.length;
        const sent: number[] = [];
        const turnCancels: Promise<void>[] = [];
        for (const m of messages) {
          if (m.kind === "cancel") {
            const id = sent.at(-1 - m.back);
            if (id !== undefined) send({ method: "$/cancelRequest", params: { id } });
          } else if (m.kind === "notification") send({ method: m.method, params: m.params });
          else {
            const id = nextId++;
            sent.push(id);
            const body = { id, method: m.method, params: m.params };
            requests.set(id, JSON.stringify(body));
            const before = sent.at(-2);
            if (m.cancelOnTurn === true && before !== undefined) turnCancels.push(raw.next((r) => r["id"] === before, from, 120_000).then(() => send({ method: "$/cancelRequest", params: { id } })));
            send(body);
          }
        }
        await Promise.all(turnCancels);
        for (const id of sent) await raw.next((r) => r["id"] === id, from, 120_000);
        // Once no job runs or waits, no further response can come.
        const marker = `idle-${nextId}`;
        send({ id: marker, method: "aad/status" });
        const status = (await raw.next((r) => r["id"] === marker, from))["result"] as aad.StatusResult;
        assert.deepEqual([status.queue.running, status.queue.depth], [null, 0]);
        const replies = raw.messages.slice(from).filter((r) => typeof r["id"] === "number");
        for (const id of sent) {
          const mine = replies.filter((r) => r["id"] === id);
          assert.equal(mine.length, 1, `${requests.get(id)} got ${mine.length} responses`);
          const error = mine[0]!["error"] as { code: number; message: string } | undefined;
          const outcome = `${(JSON.parse(requests.get(id)!) as { method: string }).method} ${error === undefined ? "ok" : error.code}`;
          outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
          // A decoding path that throws something unexpected answers RuntimeError or InternalError.
          if (error !== undefined) assert.ok(error.code !== aad.ErrorCodes.RuntimeError && error.code !== -32603, `${requests.get(id)} → ${JSON.stringify(error)}`);
        }
      }),
      { numRuns: 4, seed: 20261202, endOnFailure: true, includeErrorInReport: true },
    );
    t.diagnostic(`outcomes: ${JSON.stringify(outcomes)}`);
    // Decoding ran: each kind of decoding request succeeded at least once.
    for (const method of ["aad/generate", "aad/compare", "aad/score", "textDocument/inlineCompletion"]) assert.ok((outcomes[`${method} ok`] ?? 0) > 0, `no ${method} succeeded: ${JSON.stringify(outcomes)}`);
    // The connection still decodes.
    send({ id: "final", method: "aad/generate", params: { prompt: "What is a tuple?", maxTokens: 4 } });
    const final = await raw.next((r) => r["id"] === "final", 0, 60_000);
    assert.ok((final["result"] as aad.GenerateResult | undefined)?.tokens.length, JSON.stringify(final));
    assert.equal(pairDaemon.child.exitCode, null);
    assert.doesNotMatch(pairDaemon.stderr(), /uncaught exception|unhandled rejection/i, pairDaemon.stderr());
  } finally {
    raw.close();
    await pairDaemon.kill();
    await pairDir.remove();
  }
});
