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

const METHODS = [
  "aad/loadPair", "aad/status", "aad/generate", "aad/compare", "aad/score", "aad/configure",
  "initialize", "initialized", "shutdown", "textDocument/inlineCompletion", "textDocument/didOpen",
  "textDocument/didChange", "textDocument/didClose", "$/cancelRequest", "$/setTrace", "$/progress",
  "workspace/didChangeConfiguration",
];
const KEYS = [
  "prompt", "messages", "method", "alpha", "lambda", "temperature", "topP", "topK", "n", "beta", "maxTokens", "stop", "seed", "raw",
  "traceTopK", "priority", "schedule", "partialResultToken", "sft", "dpo", "dpoLora", "reference", "contextSize", "gpuLayers",
  "response", "methods", "inlineCompletion", "textDocument", "position", "contentChanges", "context", "id", "capabilities", "initializationOptions",
];

const leaf = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.double(),
  fc.integer({ min: -2, max: 2 ** 33 }),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom("aad", "cd", "best-of-n", "line", "/", ".", "file:///doc", "", "\u0000"),
);
const value = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("value"), { maxLength: 4 }), fc.dictionary(fc.constantFrom(...KEYS, "uri", "line", "character", "text", "version"), tie("value"), { maxKeys: 4 })),
})).value;
const params = fc.oneof(fc.constant(undefined), value, fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 6 }));

type Fuzz =
  | { readonly kind: "bytes"; readonly bytes: Uint8Array }
  | { readonly kind: "json"; readonly value: unknown }
  | { readonly kind: "request"; readonly method: string; readonly params: unknown }
  | { readonly kind: "notification"; readonly method: string; readonly params: unknown };

const message: fc.Arbitrary<Fuzz> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("bytes" as const), bytes: fc.uint8Array({ maxLength: 48 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("json" as const), value: fc.jsonValue({ maxDepth: 3 }) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("request" as const), method: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) }), params }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("notification" as const), method: fc.constantFrom(...METHODS), params }) },
);

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
const DOCUMENTS = ["file:///fuzz/a.py", "file:///fuzz/b.txt"];

/**
 * Usually a valid value, sometimes one just outside the range or of the wrong type (rarely enough
 * that about half the requests pass validation and decode).
 */
const some = <T>(valid: fc.Arbitrary<T>, invalid: readonly unknown[]): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 20, arbitrary: valid }, { weight: 1, arbitrary: fc.constantFrom(...invalid) });
// Small token counts keep every decoding short (the context of the built-in pair is 160 tokens).
const decodingFields = {
  prompt: some(fc.constantFrom("How do I reverse a list in Python?", "What is a tuple?", "x", "\u00e9\u00e8 \u2603 \ud83d\ude00", "def f(x):\n    return"), ["", 42, null, ["a"]]),
  method: some(fc.constantFrom("aad", "greedy-dpo", "greedy-sft", "sample", "eft", "cd", "best-of-n"), ["beam", "", 3]),
  alpha: some(fc.constantFrom(0, 1e-9, 0.1, 0.5, 1), [-0.1, 1.5, "0.1", null]),
  lambda: some(fc.constantFrom(-2, 0, 0.5, 1.5, 100), [101, "1"]),
  temperature: some(fc.constantFrom(0, 0.5, 1, 2, 100), [-1, 101, null]),
  topP: some(fc.constantFrom(1e-6, 0.5, 0.9, 1), [0, 1.5]),
  topK: some(fc.constantFrom(0, 1, 5, 1 << 20), [-1, 0.5, 2 ** 21]),
  from: some(fc.constantFrom("dpo", "sft"), ["reference", 1]),
  n: some(fc.integer({ min: 1, max: 3 }), [0, 17, 1.5]),
  beta: some(fc.constantFrom(1e-6, 0.1, 1, 1000), [0, -1]),
  maxTokens: some(fc.integer({ min: 1, max: 8 }), [0, -5, 4097, 2.5, "8"]),
  stop: some(fc.array(fc.constantFrom(".", "\n", "list", "`"), { maxLength: 3 }), [".", [""], [1], null]),
  seed: some(fc.integer({ min: 0, max: 2 ** 32 - 1 }), [-1, 2 ** 32, 0.5]),
  raw: some(fc.boolean(), ["yes", 1]),
  traceTopK: some(fc.integer({ min: 1, max: 64 }), [0, 65]),
  schedule: some(fc.constantFrom("eager", "lazy", "background"), ["soon"]),
  partialResultToken: some(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), [{ a: 1 }, 1.5]),
};
const decodingParams = fc.record(decodingFields, { requiredKeys: ["prompt"] });
/** aad/compare runs several methods on the default schedule: it takes no "method" and no "schedule". */
function without<T extends object, K extends keyof T>(object: T, ...keys: K[]): Omit<T, K> {
  return Object.fromEntries(Object.entries(object).filter(([key]) => !(keys as (string | number | symbol)[]).includes(key))) as Omit<T, K>;
}
const compareFields = without(decodingFields, "method", "schedule");
const position = fc.record({ line: some(fc.nat(4), [-1, 1.5]), character: some(fc.nat(40), [-1, "0"]) });
const documentText = fc.constantFrom("# How do I reverse a list in Python?\nxs = [1, 2, 3]\nys = ", "Q: What is a tuple?\nA:", "", "def f(x):\n    return x\n\nprint(f(1))\n");

type DecodingFuzz =
  | { readonly kind: "request"; readonly method: string; readonly params: unknown; readonly cancelOnTurn?: boolean }
  | { readonly kind: "notification"; readonly method: string; readonly params: unknown }
  | { readonly kind: "cancel"; readonly back: number };

/**
 * A request with `cancelOnTurn` is cancelled when the request sent before it answers: about when
 * it starts to run, so that cancellation reaches running jobs too, not only queued ones.
 */
const withTurnCancels = (arbitrary: fc.Arbitrary<DecodingFuzz>): fc.Arbitrary<DecodingFuzz> =>
  fc.tuple(arbitrary, fc.nat(3)).map(([m, n]) => (m.kind === "request" && n === 0 ? { ...m, cancelOnTurn: true } : m));

const decodingMessage: fc.Arbitrary<DecodingFuzz> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("request" as const), method: fc.constant("aad/generate"), params: decodingParams }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("request" as const), method: fc.constant("aad/compare"), params: fc.record({ ...compareFields, maxTokens: fc.integer({ min: 1, max: 3 }), methods: some(fc.subarray(["aad", "greedy-dpo", "greedy-sft", "sample", "eft", "cd", "best-of-n"], { minLength: 1 }), [[], ["beam"], "aad"]) }, { requiredKeys: ["prompt"] }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("request" as const), method: fc.constant("aad/score"), params: fc.record({ prompt: decodingFields.prompt, response: some(fc.constantFrom("Use reversed(xs).", "x", "\ud83d\ude00 ok"), ["", 3]), raw: decodingFields.raw, alpha: decodingFields.alpha, beta: decodingFields.beta, traceTopK: decodingFields.traceTopK }, { requiredKeys: ["prompt", "response"] }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("request" as const),
      method: fc.constant("textDocument/inlineCompletion"),
      params: fc.record({ textDocument: fc.record({ uri: some(fc.constantFrom(...DOCUMENTS), ["file:///fuzz/closed.py", 7]) }), position, context: fc.constant({ triggerKind: 2 }) }, { requiredKeys: ["textDocument", "position"] }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("request" as const),
      method: fc.constant("aad/configure"),
      params: fc.record({
        inlineCompletion: fc.record(
          { method: some(fc.constantFrom("aad", "greedy-dpo", "sample", "cd"), ["best-of-n"]), alpha: decodingFields.alpha, maxTokens: some(fc.integer({ min: 1, max: 8 }), [0, 257]), timeBudgetMs: some(fc.integer({ min: 1, max: 200 }), [0, 30_001]), stopAt: some(fc.constantFrom("line", "block", "none"), ["word"]), fim: decodingFields.raw },
          { requiredKeys: [] },
        ),
      }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("notification" as const), method: fc.constant("textDocument/didOpen"), params: fc.record({ textDocument: fc.record({ uri: fc.constantFrom(...DOCUMENTS), languageId: fc.constant("python"), version: fc.nat(1000), text: documentText }) }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("notification" as const),
      method: fc.constant("textDocument/didChange"),
      params: fc.record({ textDocument: fc.record({ uri: fc.constantFrom(...DOCUMENTS), version: fc.nat(1000) }), contentChanges: fc.array(fc.record({ range: fc.record({ start: position, end: position }), text: fc.string({ maxLength: 6 }) }, { requiredKeys: ["text"] }), { maxLength: 2 }) }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("cancel" as const), back: fc.nat(6) }) },
);

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
