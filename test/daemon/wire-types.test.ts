/**
 * The protocol repeats the decoding engine's and the runtime's result types instead of importing
 * them (the VS Code client imports the protocol and must not pull in the runtime). These checks
 * keep the copies structurally identical: they are compile-time assertions, and the test below
 * runs the TypeScript checker on this file so that `node --test` fails too when they drift.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import ts from "typescript";
import * as decoding from "../../server/src/decoding/index.ts";
import type * as runtime from "../../server/src/runtime/index.ts";
import type { LaneCounters as RuntimeLaneCounters } from "../../server/src/runtime/index.ts";
import * as wire from "../../server/src/protocol/protocol.ts";

/** Compiles only when both types are assignable to each other. */
type MutuallyAssignable<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the constraint is the assertion
function assertMutuallyAssignable<T extends true>(): T | undefined {
  return undefined;
}

// The trace and the response summary, from server/src/decoding.
assertMutuallyAssignable<MutuallyAssignable<wire.TraceEntry, decoding.TraceEntry>>();
assertMutuallyAssignable<MutuallyAssignable<wire.CandidateInfo, decoding.CandidateInfo>>();
assertMutuallyAssignable<MutuallyAssignable<wire.ResponseStats, decoding.ResponseStats>>();
assertMutuallyAssignable<MutuallyAssignable<wire.MethodName, decoding.MethodName>>();

// What the runtime returns, passed to clients as it is.
assertMutuallyAssignable<MutuallyAssignable<wire.StopReason, runtime.StopReason>>();
assertMutuallyAssignable<MutuallyAssignable<wire.Schedule, runtime.Schedule>>();
assertMutuallyAssignable<MutuallyAssignable<wire.TraceMode, runtime.TraceMode>>();
assertMutuallyAssignable<MutuallyAssignable<wire.LaneCounters, RuntimeLaneCounters>>();
assertMutuallyAssignable<MutuallyAssignable<wire.RuntimeStats, runtime.RuntimeStats>>();
assertMutuallyAssignable<MutuallyAssignable<wire.CandidateSummary, runtime.CandidateSummary>>();
assertMutuallyAssignable<MutuallyAssignable<wire.GenerateResult, runtime.GenerateResult>>();
assertMutuallyAssignable<MutuallyAssignable<wire.ScoreResult, runtime.ScoreResult>>();
assertMutuallyAssignable<MutuallyAssignable<wire.ChatMessage, runtime.ChatMessage>>();

void test("the protocol's method names are the decoding engine's, in the same order", () => {
  assert.deepEqual([...wire.METHOD_NAMES], [...decoding.METHOD_NAMES]);
});

void test("the protocol module imports nothing but vscode-jsonrpc", async () => {
  const { readFile } = await import("node:fs/promises");
  const source = await readFile(new URL("../../server/src/protocol/protocol.ts", import.meta.url), "utf8");
  const imports = [...source.matchAll(/^import[^"]*"([^"]+)"/gm)].map((m) => m[1]);
  assert.deepEqual(imports, ["vscode-jsonrpc"]);
});

void test("the wire types stay structurally identical to the decoding and runtime types (type-checked)", () => {
  const here = fileURLToPath(import.meta.url);
  const root = join(dirname(here), "../..");
  const config = ts.readConfigFile(join(root, "tsconfig.json"), (path) => ts.sys.readFile(path));
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  const program = ts.createProgram([here], { ...options, noEmit: true });
  const diagnostics = ts.getPreEmitDiagnostics(program, program.getSourceFile(here));
  const messages = diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
  assert.deepEqual(messages, []);
});
