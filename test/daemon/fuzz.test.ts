/**
 * A fast-check fuzz of the real daemon process: well over a thousand random messages — random
 * bytes, random JSON, and JSON-RPC messages with random methods and params close to the real
 * ones — on one connection. Every well-formed request gets exactly one response, and afterwards
 * valid requests still succeed on that connection and on a new one.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as aad from "../../server/src/protocol/protocol.ts";
import { connectClient, frame, RawClient, spawnDaemon, tempDir, type DaemonProcess } from "./harness.ts";

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

void test("1,250 random messages: every well-formed request is answered exactly once, and the daemon keeps serving", async () => {
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
            const wellFormed = m.params === undefined || (typeof m.params === "object" && m.params !== null);
            if (id !== undefined && wellFormed) {
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
