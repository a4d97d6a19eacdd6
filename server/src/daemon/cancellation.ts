/**
 * Guards the daemon's connections against two inputs that make vscode-jsonrpc and
 * vscode-languageserver throw instead of answering (found by the soak, test/daemon/soak.ts).
 */
import { CancellationStrategy, CancellationTokenSource, type IdCancellationReceiverStrategy } from "vscode-languageserver";
import { toResponseError } from "./errors.ts";
import { ParamsError } from "./validate.ts";

/**
 * vscode-jsonrpc's CancellationTokenSource.cancel() throws a TypeError when it is called twice
 * before anyone read its token: the first call stores the frozen `Cancelled` token, which has no
 * cancel() to call the second time. A client that cancels a request while it is still queued
 * (the cancel is remembered and applied at dispatch) and again while it runs hits exactly that,
 * and the throw escapes the socket's data handler as an uncaught exception.
 */
class RepeatableCancellationTokenSource extends CancellationTokenSource {
  private cancelled = false;

  override cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    super.cancel();
  }
}

export const cancellationReceiver: IdCancellationReceiverStrategy = { kind: "id", createCancellationTokenSource: () => new RepeatableCancellationTokenSource() };

/** The default `$/cancelRequest` strategy, with sources that may be cancelled any number of times. */
export const cancellationStrategy: CancellationStrategy = { receiver: cancellationReceiver, sender: CancellationStrategy.Message.sender };

/**
 * vscode-languageserver reads `params.capabilities.workspace` before the daemon's initialize
 * handler runs, so an `initialize` without capabilities answered InternalError ("Cannot read
 * properties of undefined"). Its watchdog's initialize() is called first, with the params: a
 * ResponseError thrown there is the answer.
 */
export function checkInitializeParams(params: unknown): void {
  const capabilities = typeof params === "object" && params !== null ? (params as { capabilities?: unknown }).capabilities : undefined;
  if (typeof capabilities !== "object" || capabilities === null || Array.isArray(capabilities)) {
    const got = capabilities === null ? "null" : Array.isArray(capabilities) ? "an array" : typeof capabilities;
    throw toResponseError(new ParamsError("capabilities", `initialize: capabilities must be an object (the client's capabilities, {} for none), got ${got}`));
  }
}
