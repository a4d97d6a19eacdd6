/**
 * The status bar item: which pair, what the daemon is doing, how fast it last decoded. Clicking
 * it shows the daemon's status.
 */
import * as vscode from "vscode";
import { formatRate, statusBarText, type StatusBarModel } from "./status-text.ts";

export class StatusBar implements vscode.Disposable {
  readonly #item = vscode.window.createStatusBarItem("aad.status", vscode.StatusBarAlignment.Right, 100);
  #model: StatusBarModel = { pairLabel: "built-in", state: "idle", tokensPerSecond: null, detail: null };

  constructor() {
    this.#item.name = "AAD";
    this.#item.command = "aad.showStatus";
    this.#render();
    this.#item.show();
  }

  get model(): StatusBarModel {
    return this.#model;
  }

  update(change: Partial<StatusBarModel>): void {
    this.#model = { ...this.#model, ...change };
    this.#render();
  }

  #render(): void {
    const model = this.#model;
    this.#item.text = statusBarText(model);
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.isTrusted = false;
    tooltip.appendMarkdown(`**Alignment-Aware Decoding** — pair: `).appendText(model.pairLabel);
    tooltip.appendMarkdown(`\n\nstate: ${model.state}`);
    if (model.tokensPerSecond !== null) tooltip.appendMarkdown(`, last response ${formatRate(model.tokensPerSecond)}`);
    if (model.detail !== null) tooltip.appendMarkdown("\n\n").appendText(model.detail);
    tooltip.appendMarkdown("\n\nClick for the daemon's status.");
    this.#item.tooltip = tooltip;
    this.#item.backgroundColor = model.state === "error" ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  }

  dispose(): void {
    this.#item.dispose();
  }
}
