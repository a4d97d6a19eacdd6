/**
 * The extension's entry point, deliberately thin: build the context, register the commands and
 * the inline completion provider, and start the daemon early only when inline completions are on.
 */
import * as vscode from "vscode";
import { COMMANDS } from "./commands.ts";
import { Ctx } from "./ctx.ts";
import { InlineCompletions } from "./inline.ts";

let ctx: Ctx | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const current = new Ctx(context);
  ctx = current;
  context.subscriptions.push(current);
  for (const [id, factory] of Object.entries(COMMANDS)) context.subscriptions.push(vscode.commands.registerCommand(id, factory(current)));

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
}

export async function deactivate(): Promise<void> {
  await ctx?.daemon.stop();
  ctx = undefined;
}
