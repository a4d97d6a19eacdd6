/**
 * The daemon's $/cancelRequest strategy: a request may be cancelled any number of times.
 * vscode-jsonrpc's own source throws on the second cancel when nobody read its token in between,
 * which is what happens to a request cancelled while still queued (the cancel is applied as it is
 * dispatched) and cancelled again while it runs: the soak found it as an uncaught exception.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CancellationTokenSource } from "vscode-languageserver";
import { cancellationReceiver, cancellationStrategy } from "../../server/src/daemon/cancellation.ts";

void test("vscode-jsonrpc's own token source throws when cancelled twice before its token is read (why the daemon has its own)", () => {
  const source = new CancellationTokenSource();
  source.cancel();
  assert.throws(() => source.cancel(), TypeError);
});

void test("the daemon's token source may be cancelled twice before its token is read, and its token says cancelled", () => {
  assert.equal(cancellationStrategy.receiver, cancellationReceiver);
  const source = cancellationReceiver.createCancellationTokenSource(1);
  source.cancel();
  source.cancel();
  assert.equal(source.token.isCancellationRequested, true);
  source.cancel();
});

void test("the daemon's token source fires its event once, however often it is cancelled after the token was read", () => {
  const source = cancellationReceiver.createCancellationTokenSource(2);
  let fired = 0;
  source.token.onCancellationRequested(() => fired++);
  source.cancel();
  source.cancel();
  assert.equal(fired, 1);
  assert.equal(source.token.isCancellationRequested, true);
});
