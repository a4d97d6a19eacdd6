import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkBody, checkEnvelope, FrameParser, type FrameEvent } from "../../server/src/daemon/framing.ts";
import { frame } from "./harness.ts";

const bodies = (events: FrameEvent[]): string[] => events.flatMap((e) => (e.kind === "body" ? [e.body.toString("utf8")] : []));
const errors = (events: FrameEvent[]): string[] => events.flatMap((e) => (e.kind === "error" ? [e.message] : []));

void describe("FrameParser", () => {
  void test("splits Content-Length frames however the bytes are chunked", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: "grapheme", maxLength: 40 }), { maxLength: 8 }), fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1 }), (messages, cuts) => {
        const stream = Buffer.concat(messages.map((m) => frame(m)));
        const parser = new FrameParser();
        const events: FrameEvent[] = [];
        for (let at = 0, i = 0; at < stream.length; i++) {
          const size = cuts[i % cuts.length]!;
          events.push(...parser.push(stream.subarray(at, at + size)));
          at += size;
        }
        assert.deepEqual(bodies(events), messages);
        assert.equal(parser.pendingBytes, 0);
      }),
    );
  });

  void test("a header without Content-Length is reported and the next frame still parses", () => {
    const parser = new FrameParser();
    const events = parser.push(Buffer.concat([Buffer.from("Content-Type: x\r\n\r\n"), frame("{}")]));
    assert.deepEqual(errors(events), ["message header without a valid Content-Length"]);
    assert.deepEqual(bodies(events), ["{}"]);
  });

  void test("a body above the limit is skipped without being buffered, and the stream stays in step", () => {
    const parser = new FrameParser({ maxHeaderBytes: 1024, maxBodyBytes: 10 });
    const first = parser.push(Buffer.from("Content-Length: 1000\r\n\r\n"));
    assert.match(errors(first)[0]!, /1000 bytes exceeds the limit of 10/);
    for (let i = 0; i < 10; i++) assert.deepEqual(parser.push(Buffer.alloc(100, 0x41)), []);
    assert.equal(parser.pendingBytes, 0, "nothing of the skipped body is held");
    assert.deepEqual(bodies(parser.push(frame("[1]"))), ["[1]"]);
  });

  void test("bytes with no header end are dropped at the header limit instead of accumulating", () => {
    const parser = new FrameParser({ maxHeaderBytes: 64, maxBodyBytes: 1000 });
    const events = parser.push(Buffer.alloc(100, 0x41));
    assert.equal(events.length, 1);
    assert.equal(events[0]!.kind === "error" && events[0]!.fatal, true);
    assert.deepEqual(bodies(parser.push(frame("{}"))), ["{}"]);
  });

  void test("garbage before a header does not hide its Content-Length", () => {
    const parser = new FrameParser();
    assert.deepEqual(bodies(parser.push(Buffer.concat([Buffer.from("}}garbageContent-Length: 2\r\n\r\n{}")]))), ["{}"]);
  });
});

void describe("checkEnvelope", () => {
  const verdict = (value: unknown): string => {
    const v = checkEnvelope(value);
    return v.kind === "reject" ? `reject ${v.response.error.code} id=${String(v.response.id)}` : v.kind;
  };

  void test("passes requests, notifications and their params on", () => {
    assert.equal(verdict({ jsonrpc: "2.0", id: 1, method: "aad/status" }), "message");
    assert.equal(verdict({ jsonrpc: "2.0", id: "x", method: "aad/generate", params: { prompt: "hi" } }), "message");
    assert.equal(verdict({ jsonrpc: "2.0", method: "textDocument/didOpen", params: [] }), "message");
  });

  void test("refuses what is no JSON-RPC message, with the request's id when it has a usable one", () => {
    assert.equal(verdict([{ jsonrpc: "2.0", id: 1, method: "a" }]), "reject -32600 id=null");
    assert.equal(verdict("hello"), "reject -32600 id=null");
    assert.equal(verdict({ jsonrpc: "2.0", id: 3, method: 5 }), "reject -32600 id=3");
    assert.equal(verdict({ jsonrpc: "2.0", id: { a: 1 }, method: "a" }), "reject -32600 id=null");
    assert.equal(verdict({ jsonrpc: "2.0", id: 4, method: "a", params: 7 }), "reject -32600 id=4");
    assert.equal(verdict({ jsonrpc: "2.0", id: 5 }), "reject -32600 id=5");
  });

  void test("drops what cannot be answered: responses, bad notifications, cancellations without an id", () => {
    assert.equal(verdict({ jsonrpc: "2.0", id: 9, result: null }), "drop");
    assert.equal(verdict({ jsonrpc: "2.0", method: "x", params: "y" }), "drop");
    assert.equal(verdict({ jsonrpc: "2.0", method: "$/cancelRequest" }), "drop");
    assert.equal(verdict({ jsonrpc: "2.0", method: "$/cancelRequest", params: { id: null } }), "drop");
  });

  void test("invalid JSON is a Parse error", () => {
    const v = checkBody(Buffer.from('{"a":'));
    assert.ok(v.kind === "reject");
    assert.equal(v.response.error.code, -32700);
  });
});
