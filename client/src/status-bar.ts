/**
 * The status bar item: which pair, what the daemon is doing, how fast it last decoded. It holds
 * the status state machine (status-state.ts) and shows whatever the events fold to. Clicking it
 * shows the daemon's status.
 *
 * Other parts of the extension report work with `setBusy(reason)` / `setBusy(undefined)` (e.g.
 * inline completions computing a suggestion): the bar says "busy" while any source is busy.
 */
import * as vscode from "vscode";
import { reduceStatus, statusView, type StatusEvent, type StatusState, type StatusView } from "./status-state.ts";
import { statusBarText, statusTooltipLines } from "./status-text.ts";

export class StatusBar implements vscode.Disposable {
  readonly #item = vscode.window.createStatusBarItem("aad.status", vscode.StatusBarAlignment.Right, 100);
  #state: StatusState;

  constructor(initial: StatusState) {
    this.#state = initial;
    this.#item.name = "AAD";
    this.#item.command = "aad.showStatus";
    this.#render();
    this.#item.show();
  }

  get state(): StatusState {
    return this.#state;
  }

  get view(): StatusView {
    return statusView(this.#state);
  }

  /** What the item shows now (for tests and the status command). */
  get shown(): { text: string; tooltip: string; phase: string } {
    return { text: statusBarText(this.#state), tooltip: statusTooltipLines(this.#state).join("\n"), phase: this.view.phase };
  }

  dispatch(event: StatusEvent): void {
    this.#state = reduceStatus(this.#state, event);
    this.#render();
  }

  /**
   * Shows "busy" with `reason` in the tooltip while `source` computes; `undefined` ends it.
   * Sources are independent: inline completions and a command can both be busy.
   */
  setBusy(reason: string | undefined, source = "external"): void {
    this.dispatch({ type: "work", source, reason });
  }

  #render(): void {
    const state = this.#state;
    this.#item.text = statusBarText(state);
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.isTrusted = false;
    tooltip.appendMarkdown("**Alignment-Aware Decoding**");
    for (const line of statusTooltipLines(state)) tooltip.appendMarkdown("\n\n").appendText(line);
    tooltip.appendMarkdown("\n\nClick for the daemon's status.");
    this.#item.tooltip = tooltip;
    this.#item.backgroundColor = this.view.phase === "error" ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  }

  dispose(): void {
    this.#item.dispose();
  }
}
