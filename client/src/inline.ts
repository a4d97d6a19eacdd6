/**
 * Inline completions (ghost text) from the daemon's `textDocument/inlineCompletion`.
 *
 * - A suggestion the user is typing into (or accepting word by word) is continued from the cache
 *   without asking the model again (inline-cache.ts).
 * - Otherwise the provider waits for a pause in typing (debounce) before asking; VS Code cancels
 *   the request at the next keystroke, which ends the wait or sends `$/cancelRequest`.
 * - Nothing is asked while the setting is off, in a language `aad.inline.languages` leaves out,
 *   in an untrusted workspace, or before the pair is loaded (then loading starts in the
 *   background and the next pause gets a completion).
 * - While the daemon computes, the status bar says so; the prompt's budget and layout (the `aad`
 *   statistics beside the items) go to the output channel at debug level.
 */
import * as vscode from "vscode";
import { InlineCompletionRequest, type InlineCompletionItem as ProtocolItem, type InlineCompletionList } from "vscode-languageclient/node";
import { quietFor } from "./debounce.ts";
import { isCancellation, type Ctx } from "./ctx.ts";
import { describeError } from "./daemon.ts";
import { inlineLanguageEnabled } from "./settings.ts";
import type { InlineCompletionStats } from "../../server/src/protocol/protocol.ts";
import { describePrompt } from "./inline-text.ts";

/** This provider's key in the status bar's busy sources. */
const BUSY_SOURCE = "inline";

export class InlineCompletions implements vscode.InlineCompletionItemProvider {
  #warmingUp: Promise<unknown> | undefined;

  constructor(private readonly ctx: Ctx) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const { ctx } = this;
    const settings = ctx.config.settings.inline;
    if (!settings.enabled || !ctx.trusted || !inlineLanguageEnabled(settings.languages, document.languageId)) return undefined;
    const key = document.uri.toString();
    const offset = document.offsetAt(position);
    const textBefore = (chars: number): string => document.getText(new vscode.Range(document.positionAt(Math.max(0, offset - chars)), position));

    const cached = ctx.inlineCache.lookup(key, textBefore(ctx.inlineCache.contextChars()));
    if (cached !== undefined) return [new vscode.InlineCompletionItem(cached, new vscode.Range(position, position))];

    const client = ctx.daemon.running;
    if (client === undefined || ctx.loadedPair === undefined) {
      this.warmUp();
      return undefined;
    }
    if (context.triggerKind === vscode.InlineCompletionTriggerKind.Automatic) {
      const abort = abortSignalOf(token);
      const quiet = await quietFor(settings.debounceMs, abort.signal);
      abort.dispose();
      if (!quiet) return undefined;
    }
    const started = performance.now();
    let result: (InlineCompletionList & { aad?: InlineCompletionStats }) | ProtocolItem[] | null;
    ctx.statusBar.setBusy("computing an inline completion", BUSY_SOURCE);
    try {
      result = await client.sendRequest(InlineCompletionRequest.type, client.code2ProtocolConverter.asInlineCompletionParams(document, position, context), token);
    } catch (error) {
      if (!isCancellation(error) && !token.isCancellationRequested) ctx.log.warn(`inline completion failed: ${describeError(error)}`);
      return undefined;
    } finally {
      ctx.statusBar.setBusy(undefined, BUSY_SOURCE);
    }
    if (token.isCancellationRequested || result === null) return undefined;
    const items = Array.isArray(result) ? result : result.items;
    const completions: vscode.InlineCompletionItem[] = [];
    for (const item of items) {
      const text = textAtCursor(document, position, item);
      if (text === undefined || text === "") continue;
      if (completions.length === 0) ctx.inlineCache.remember(key, textBefore(ctx.inlineCache.anchorChars), text);
      completions.push(new vscode.InlineCompletionItem(text, new vscode.Range(position, position)));
    }
    const stats = Array.isArray(result) ? undefined : result.aad;
    ctx.log.debug(`inline completion at ${document.uri.fsPath}:${position.line + 1}:${position.character + 1}: ${completions.length} item(s) in ${Math.round(performance.now() - started)} ms${stats === undefined ? "" : `; ${describePrompt(stats)}`}`);
    return completions;
  }

  /** Starts the daemon and loads the pair in the background, once at a time. */
  warmUp(): void {
    if (this.#warmingUp !== undefined || !this.ctx.trusted) return;
    this.#warmingUp = this.ctx
      .ensurePair()
      .catch((error: unknown) => this.ctx.log.warn(`inline completions: could not load the pair: ${describeError(error)}`))
      .finally(() => (this.#warmingUp = undefined));
  }
}

/**
 * The text to insert at the cursor for a protocol item. An item may replace a range that starts
 * before the cursor (re-typing what is already there); then the part already typed is dropped.
 * Snippets are offered as their plain text.
 */
function textAtCursor(document: vscode.TextDocument, position: vscode.Position, item: ProtocolItem): string | undefined {
  const insert = typeof item.insertText === "string" ? item.insertText : item.insertText.value;
  if (item.range === undefined) return insert;
  const start = new vscode.Position(item.range.start.line, item.range.start.character);
  const end = new vscode.Position(item.range.end.line, item.range.end.character);
  if (!end.isEqual(position) && !(end.isAfter(position) && document.getText(new vscode.Range(position, end)) === "")) return undefined;
  if (start.isAfter(position)) return undefined;
  const typed = document.getText(new vscode.Range(start, position));
  return insert.startsWith(typed) ? insert.slice(typed.length) : undefined;
}

function abortSignalOf(token: vscode.CancellationToken): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  const subscription = token.onCancellationRequested(() => controller.abort());
  return {
    signal: controller.signal,
    dispose: () => {
      subscription.dispose();
    },
  };
}
