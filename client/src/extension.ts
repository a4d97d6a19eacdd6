/**
 * The extension's entry point, deliberately thin: build the context, register the commands and
 * the inline completion provider, and start the daemon early only when inline completions are on.
 */
import * as vscode from "vscode";
import { COMMANDS } from "./commands.ts";
import { Ctx } from "./ctx.ts";
import { InlineCompletions } from "./inline.ts";

let ctx: Ctx | undefined;

/** Commands that only look or flip a setting: their success says nothing about an earlier failure. */
const NOT_A_SUCCESS = new Set(["aad.showStatus", "aad.toggleInlineCompletions"]);

/**
 * What the extension offers other code (`vscode.extensions.getExtension("aad-tools.aad").exports`):
 * the status bar, to read what it shows and to say "busy" while computing.
 */
export interface AadApi {
  readonly status: {
    /** The item's text, tooltip and phase (idle, starting, loading, ready, busy, error, untrusted). */
    readonly shown: { text: string; tooltip: string; phase: string };
    /** Shows "busy" with `reason` until called with undefined for the same `source`. */
    setBusy(reason: string | undefined, source?: string): void;
  };
}

export function activate(context: vscode.ExtensionContext): AadApi {
  const current = new Ctx(context);
  ctx = current;
  context.subscriptions.push(current);
  for (const [id, factory] of Object.entries(COMMANDS)) {
    const handler = factory(current) as (...args: unknown[]) => unknown;
    // Every command returns what it produced, or undefined when it failed or the user backed out.
    const reported = async (...args: unknown[]): Promise<unknown> => {
      const result = await handler(...args);
      if (result !== undefined && !NOT_A_SUCCESS.has(id)) current.succeeded();
      return result;
    };
    context.subscriptions.push(vscode.commands.registerCommand(id, reported));
  }

  const inline = new InlineCompletions(current);
  context.subscriptions.push(
    vscode.languages.registerInlineCompletionItemProvider([{ scheme: "file" }, { scheme: "untitled" }], inline),
    current.config.onDidChange((change) => {
      if (change.settings.inline.enabled) inline.warmUp();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      if (current.config.settings.inline.enabled) inline.warmUp();
    }),
  );
  current.log.info(`activated ${context.extension.id} ${String((context.extension.packageJSON as { version?: unknown }).version)} in ${context.extensionPath}; workspace ${current.trusted ? "trusted" : "not trusted"}`);
  if (current.config.settings.inline.enabled) inline.warmUp();
  return {
    status: {
      get shown() {
        return current.statusBar.shown;
      },
      setBusy: (reason, source) => current.statusBar.setBusy(reason, source),
    },
  };
}

export async function deactivate(): Promise<void> {
  await ctx?.daemon.stop();
  ctx = undefined;
}
