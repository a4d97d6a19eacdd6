/**
 * Malformed input against the real daemon process: every bad message gets a JSON-RPC error that
 * says what is wrong, and the daemon keeps serving the next valid request.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ResponseError } from "vscode-jsonrpc/node";
import * as aad from "../../server/src/protocol/protocol.ts";
import { connectClient, frame, RawClient, spawnDaemon, tempDir, type Client, type DaemonProcess } from "./harness.ts";
import { writeModelFixtures, type ModelFixtures } from "./model-fixtures.ts";

async function rejection(promise: Promise<unknown>): Promise<ResponseError<aad.ErrorData | undefined>> {
  const error = await promise.then(
    (value) => assert.fail(`expected an error response, got ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ResponseError, `not a ResponseError: ${String(error)}`);
  return error as ResponseError<aad.ErrorData | undefined>;
}

async function assertError(promise: Promise<unknown>, code: number, message: RegExp): Promise<ResponseError<aad.ErrorData | undefined>> {
  const error = await rejection(promise);
  assert.equal(error.code, code, `code ${error.code}: ${error.message}`);
  assert.match(error.message, message);
  return error;
}

void describe("the daemon refuses malformed input with useful errors and keeps serving", () => {
  let dir: { path: string; remove(): Promise<void> };
  let daemon: DaemonProcess;
  let client: Client;
  let files: ModelFixtures;

  const stillServes = async (): Promise<void> => {
    const status = await client.connection.sendRequest(aad.status);
    assert.equal(status.pid, daemon.child.pid);
  };

  before(async () => {
    dir = await tempDir("aad-malformed-");
    files = await writeModelFixtures(dir.path);
    daemon = await spawnDaemon({ socket: `${dir.path}/d.sock` });
    client = await connectClient(daemon);
  });

  after(async () => {
    client.close();
    await daemon.kill();
    await dir.remove();
  });

  void test("invalid JSON bytes get a Parse error, and the same connection still works", async () => {
    const raw = await RawClient.open(daemon.socketPath!);
    try {
      raw.send(frame('{"jsonrpc":"2.0","id":1,"method":"aad/status",'));
      raw.send(frame(Buffer.from([0xff, 0xfe, 0x00, 0x7b])));
      const parseError = await raw.next((m) => (m["error"] as { code?: number } | undefined)?.code === -32700);
      assert.equal(parseError["id"], null);
      assert.match((parseError["error"] as { message: string }).message, /Parse error/);
      raw.send(frame(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "aad/status" })));
      const status = await raw.next((m) => m["id"] === 2);
      assert.equal((status["result"] as aad.StatusResult).pid, daemon.child.pid);
    } finally {
      raw.close();
    }
  });

  void test("a header without Content-Length, a batch and non-objects are refused; the stream stays in step", async () => {
    const raw = await RawClient.open(daemon.socketPath!);
    try {
      raw.send("Content-Type: application/json\r\n\r\n");
      raw.send(frame("[1,2,3]"));
      raw.send(frame("42"));
      raw.send(frame(JSON.stringify({ jsonrpc: "2.0", id: null, method: "aad/status" })));
      raw.send(frame(JSON.stringify({ jsonrpc: "2.0", id: 7, method: 12 })));
      raw.send(frame(JSON.stringify({ jsonrpc: "2.0", id: 8, method: "aad/status", params: "yes" })));
      raw.send(frame(JSON.stringify({ jsonrpc: "2.0", id: 9, method: "aad/status" })));
      await raw.next((m) => m["id"] === 9 && m["result"] !== undefined);
      const errors = raw.messages.filter((m) => m["error"] !== undefined).map((m) => (m["error"] as { message: string }).message);
      assert.ok(errors.some((e) => /Content-Length/.test(e)), errors.join("\n"));
      assert.ok(errors.some((e) => /batch/.test(e)), errors.join("\n"));
      assert.ok(errors.some((e) => /must be a JSON object/.test(e)), errors.join("\n"));
      assert.ok(errors.some((e) => /"id" must not be null/.test(e)), errors.join("\n"));
      const byId = (id: number): string => (raw.messages.find((m) => m["id"] === id)?.["error"] as { message: string }).message;
      assert.match(byId(7), /"method" must be a string/);
      assert.match(byId(8), /"params" of aad\/status must be an object or an array/);
    } finally {
      raw.close();
    }
  });

  void test("a message above the size limit is skipped unread and answered", async () => {
    const raw = await RawClient.open(daemon.socketPath!);
    try {
      const size = 64 * 1024 * 1024 + 1;
      raw.send(`Content-Length: ${size}\r\n\r\n`);
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      for (let sent = 0; sent < size; sent += chunk.length) raw.send(chunk.subarray(0, Math.min(chunk.length, size - sent)));
      raw.send(frame(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "aad/status" })));
      await raw.next((m) => m["id"] === 1, 0, 30_000);
      assert.ok(raw.messages.some((m) => /exceeds the limit/.test((m["error"] as { message?: string } | undefined)?.message ?? "")));
    } finally {
      raw.close();
    }
  });

  void test("an unknown method is MethodNotFound", async () => {
    await assertError(client.connection.sendRequest("aad/frobnicate", {}), -32601, /aad\/frobnicate/);
    await stillServes();
  });

  void test("wrong parameter types are InvalidParams naming the parameter", async () => {
    const error = await assertError(client.connection.sendRequest(aad.generate.method, { prompt: 42 }), aad.ErrorCodes.InvalidParams, /"prompt" must be a string, got 42/);
    assert.deepEqual(error.data, { name: "InvalidParams", field: "prompt" });
    await assertError(client.connection.sendRequest(aad.generate.method, { prompt: "hi", stop: "x" }), aad.ErrorCodes.InvalidParams, /"stop" must be an array/);
    await assertError(client.connection.sendRequest(aad.generate.method, { prompt: "hi", method: "beam" }), aad.ErrorCodes.InvalidParams, /"method" must be one of "aad"/);
    await assertError(client.connection.sendRequest(aad.generate.method, { prompt: "hi", maxtokens: 5 }), aad.ErrorCodes.InvalidParams, /did you mean "maxTokens"/);
    await assertError(client.connection.sendRequest(aad.generate.method, [1, 2]), aad.ErrorCodes.InvalidParams, /must be an object/);
    await assertError(client.connection.sendRequest(aad.loadPair.method, { sft: ["a"], dpo: "b" }), aad.ErrorCodes.InvalidParams, /"sft" must be a string/);
    await assertError(client.connection.sendRequest("textDocument/inlineCompletion", { textDocument: { uri: "file:///x" }, position: { line: -1, character: 0 } }), aad.ErrorCodes.InvalidParams, /"position.line" must lie in \[0/);
    await stillServes();
  });

  void test("initialize without capabilities is InvalidParams naming them, not an internal error", async () => {
    // vscode-languageserver reads params.capabilities.workspace before any handler of the daemon runs.
    const raw = await RawClient.open(daemon.socketPath!);
    try {
      for (const [id, params] of [[1, {}], [2, { processId: null, capabilities: null }], [3, { capabilities: "all" }]] as const) {
        raw.send(frame(JSON.stringify({ jsonrpc: "2.0", id, method: "initialize", params })));
        const error = (await raw.next((m) => m["id"] === id))["error"] as { code: number; message: string; data?: unknown };
        assert.equal(error.code, aad.ErrorCodes.InvalidParams, error.message);
        assert.match(error.message, /capabilities must be an object/);
        assert.deepEqual(error.data, { name: "InvalidParams", field: "capabilities" });
      }
      raw.send(frame(JSON.stringify({ jsonrpc: "2.0", id: 4, method: "initialize", params: { processId: null, capabilities: {} } })));
      assert.ok((await raw.next((m) => m["id"] === 4))["result"], "a valid initialize still succeeds");
    } finally {
      raw.close();
    }
    await stillServes();
  });

  void test("huge strings are refused by size, not processed", async () => {
    await assertError(client.connection.sendRequest(aad.generate, { prompt: "x".repeat(1_000_001) }), aad.ErrorCodes.InvalidParams, /"prompt" is 1,000,001 characters long; at most 1,000,000/);
    await assertError(client.connection.sendRequest(aad.loadPair, { sft: `/${"a".repeat(5000)}`, dpo: "/b" }), aad.ErrorCodes.InvalidParams, /"sft" is 5,001 characters/);
    await stillServes();
  });

  void test("NaN, infinite and negative numbers are InvalidParams", async () => {
    // JSON has no NaN: a client's NaN travels as null.
    await assertError(client.connection.sendRequest(aad.generate, { prompt: "hi", alpha: Number.NaN }), aad.ErrorCodes.InvalidParams, /"alpha" must be a number in \[0, 1\], got null/);
    await assertError(client.connection.sendRequest(aad.generate, { prompt: "hi", maxTokens: -5 }), aad.ErrorCodes.InvalidParams, /"maxTokens" must lie in \[1, 4096\], got -5/);
    await assertError(client.connection.sendRequest(aad.generate, { prompt: "hi", maxTokens: 2.5 }), aad.ErrorCodes.InvalidParams, /"maxTokens" must be an integer/);
    await assertError(client.connection.sendRequest(aad.loadPair, { sft: "/a", dpo: "/b", contextSize: -1 }), aad.ErrorCodes.InvalidParams, /"contextSize" must lie in/);
    const raw = await RawClient.open(daemon.socketPath!);
    try {
      raw.send(frame('{"jsonrpc":"2.0","id":1,"method":"aad/generate","params":{"prompt":"hi","alpha":1e999}}'));
      const reply = await raw.next((m) => m["id"] === 1);
      assert.match((reply["error"] as { message: string }).message, /"alpha" must be a finite number, got Infinity/);
    } finally {
      raw.close();
    }
    await stillServes();
  });

  void test("a missing model file is FileNotFound with its path", async () => {
    const error = await assertError(client.connection.sendRequest(aad.loadPair, { sft: files.missing, dpo: files.modelA }), aad.ErrorCodes.FileNotFound, /missing\.gguf does not exist/);
    assert.deepEqual(error.data, { name: "FileNotFound", path: files.missing });
    await stillServes();
  });

  void test("a file that is not GGUF, and an empty one, are InvalidModel", async () => {
    await assertError(client.connection.sendRequest(aad.loadPair, { sft: files.modelA, dpo: files.text }), aad.ErrorCodes.InvalidModel, /is not a GGUF file: it is a text file/);
    await assertError(client.connection.sendRequest(aad.loadPair, { sft: files.empty, dpo: files.modelA }), aad.ErrorCodes.InvalidModel, /is empty/);
    await stillServes();
  });

  void test("a truncated GGUF is InvalidModel and says it is truncated", async () => {
    await assertError(client.connection.sendRequest(aad.loadPair, { sft: files.truncated, dpo: files.modelA }), aad.ErrorCodes.InvalidModel, /truncated/);
    await stillServes();
  });

  void test("a pair with different vocabularies is VocabularyMismatch naming the first differing token", async () => {
    await assertError(client.connection.sendRequest(aad.loadPair, { sft: files.modelA, dpo: files.modelB }), aad.ErrorCodes.VocabularyMismatch, /vocabularies of .*a\.gguf and .*b\.gguf differ: token \d+ is/);
    await stillServes();
  });

  void test("decoding without a loaded pair is NoModelLoaded and says what to do", async () => {
    await assertError(client.connection.sendRequest(aad.generate, { prompt: "hi" }), aad.ErrorCodes.NoModelLoaded, /aad\/loadPair/);
    await assertError(client.connection.sendRequest(aad.score, { prompt: "hi", response: "there" }), aad.ErrorCodes.NoModelLoaded, /aad\/loadPair/);
    const status = await client.connection.sendRequest(aad.status);
    assert.equal(status.pair, null);
  });

  void test("the daemon process is still the one that started", () => {
    assert.equal(daemon.child.exitCode, null);
    assert.doesNotMatch(daemon.stderr(), /uncaught|unhandled/i);
  });
});
