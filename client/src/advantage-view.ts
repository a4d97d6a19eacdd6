/**
 * The advantage view's panel on the extension side: one webview panel (media/ is its program),
 * created on first use and revealed after, and restored after a window reload (a
 * WebviewPanelSerializer hands back the panel and the page's saved messages). Messages posted
 * before the page says `ready` wait in a queue, so a response that starts streaming at once is
 * not lost. The view's export copies the trace JSON to the clipboard; its Re-run button runs the
 * `aad.rerunInView` command with the settings the page chose. The colour scale comes from
 * `aad.view.advantageScale` through config.ts; a change re-renders what is shown.
 */
import * as vscode from "vscode";
import { createNonce, renderWebviewHtml, WebviewHtmlError } from "../../media/html.ts";
import { parseHostMessage, type ColumnSpec, type HostMessage, type ResetMessage, type ResponseStats, type RunInfo, type TraceEntry, type ViewMessage } from "../../media/messages.ts";
import type { Config } from "./config.ts";

export const VIEW_TYPE = "aad.advantageView";
/** The command the page's Re-run button runs (not in the palette: it needs the page's settings). */
export const RERUN_COMMAND = "aad.rerunInView";

/** The answer on show, for a re-run to compare against. */
export interface ShownAnswer {
  readonly run: RunInfo;
  readonly spec: ColumnSpec;
  readonly entries: readonly TraceEntry[];
  readonly stats: ResponseStats;
}

export class AdvantageView implements vscode.Disposable {
  #panel: vscode.WebviewPanel | undefined;
  #ready = false;
  #queue: HostMessage[] = [];
  /** Everything posted since the last reset: what a newly created page is sent again. */
  #history: HostMessage[] = [];
  readonly #mediaRoot: vscode.Uri;
  readonly #disposables: vscode.Disposable[] = [];

  constructor(
    extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
    private readonly config: Config,
  ) {
    this.#mediaRoot = vscode.Uri.joinPath(extensionUri, "dist", "media");
    this.#disposables.push(
      vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
        deserializeWebviewPanel: (panel, state: unknown) => {
          this.#restore(panel, state);
          return Promise.resolve();
        },
      }),
      config.onDidChange((change) => {
        if (change.affectsView) this.#rescale();
      }),
    );
  }

  /** The answer on show when it is complete: the single response, or the newer of a re-run's two. */
  shownAnswer(): ShownAnswer | undefined {
    const reset = this.#history.find((message): message is ResetMessage => message.type === "reset");
    if (reset?.run === undefined) return undefined;
    const spec = reset.columns?.at(-1) ?? { id: "response", method: reset.run.method, label: reset.run.method };
    const first = reset.columns?.[0]?.id;
    const belongs = (column: string | undefined): boolean => (column ?? first ?? "response") === spec.id;
    const entries: TraceEntry[] = [];
    let stats: ResponseStats | undefined;
    for (const message of this.#history) {
      if (message.type === "tokens" && belongs(message.column)) entries.push(...message.entries);
      if (message.type === "done" && belongs(message.column)) stats = message.stats;
    }
    return stats === undefined ? undefined : { run: reset.run, spec, entries, stats };
  }

  get visible(): boolean {
    return this.#panel?.visible ?? false;
  }

  /** Opens the panel (beside the active editor) or brings it forward. */
  show(preserveFocus = true): void {
    if (this.#panel !== undefined) {
      this.#panel.reveal(undefined, preserveFocus);
      return;
    }
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, "AAD Advantage", { viewColumn: vscode.ViewColumn.Beside, preserveFocus }, this.#options());
    this.#adopt(panel, [...this.#history]);
  }

  /** A panel VS Code kept across a reload: its page saved the messages it had shown. */
  #restore(panel: vscode.WebviewPanel, state: unknown): void {
    const saved = (state as { messages?: unknown } | undefined)?.messages;
    const messages = Array.isArray(saved) ? saved.map(parseHostMessage).filter((message) => message !== undefined) : [];
    if (this.#panel !== undefined) {
      // Shown already in this window (a command ran before the restore): keep that one.
      panel.dispose();
      return;
    }
    // The saved reset carries the scale of its day: the setting may have changed since.
    if (this.#history.length === 0) this.#history = messages.map((message) => (message.type === "reset" ? this.#withScale(message) : message));
    panel.webview.options = this.#options();
    this.log.info(`advantage view: restored with ${messages.length} messages`);
    this.#adopt(panel, [...this.#history]);
  }

  #options(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [this.#mediaRoot], enableFindWidget: true };
  }

  #adopt(panel: vscode.WebviewPanel, queue: HostMessage[]): void {
    this.#panel = panel;
    this.#ready = false;
    this.#queue = queue;
    const webview = panel.webview;
    const page = {
      nonce: createNonce(),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(this.#mediaRoot, "advantage-view.js")).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(this.#mediaRoot, "advantage-view.css")).toString(),
      title: "AAD Advantage",
    };
    try {
      webview.html = renderWebviewHtml({ ...page, cspSource: webview.cspSource });
    } catch (error) {
      // code-server's cspSource lists two sources ("'self' https://*.vscode-cdn.net"), which
      // renderWebviewHtml refuses. The page's script and stylesheet load by nonce whatever their
      // origin, so the host source alone keeps the policy working and no less strict.
      if (!(error instanceof WebviewHtmlError)) throw error;
      const host = webview.cspSource.split(/\s+/).find((source) => source !== "" && !source.startsWith("'"));
      if (host === undefined) throw error;
      this.log.warn(`advantage view: ${error.message}; using ${host} as the CSP source`);
      webview.html = renderWebviewHtml({ ...page, cspSource: host });
    }
    webview.onDidReceiveMessage((message: ViewMessage) => this.#receive(message));
    panel.onDidDispose(() => {
      if (this.#panel !== panel) return;
      this.#panel = undefined;
      this.#ready = false;
    });
  }

  /** The colour scale setting changed: the page is sent what it shows again, with the new scale. */
  #rescale(): void {
    const reset = this.#history[0];
    if (reset?.type !== "reset") return;
    this.#history[0] = this.#withScale(reset);
    if (this.#panel === undefined || !this.#ready) {
      this.#queue = [...this.#history];
      return;
    }
    for (const message of this.#history) void this.#panel.webview.postMessage(message);
  }

  #withScale(reset: ResetMessage): ResetMessage {
    return { ...reset, scale: this.config.settings.view.advantageScale };
  }

  post(posted: HostMessage): void {
    const message = posted.type === "reset" ? this.#withScale(posted) : posted;
    if (message.type === "reset") this.#history = [];
    this.#history.push(message);
    if (this.#panel === undefined || !this.#ready) {
      if (message.type === "reset") this.#queue = [];
      this.#queue.push(message);
      return;
    }
    void this.#panel.webview.postMessage(message);
  }

  #receive(message: ViewMessage): void {
    switch (message.type) {
      case "ready": {
        this.#ready = true;
        const queued = this.#queue;
        this.#queue = [];
        for (const queuedMessage of queued) void this.#panel?.webview.postMessage(queuedMessage);
        break;
      }
      case "export":
        void this.#export(message.json);
        break;
      case "rerun":
        void vscode.commands.executeCommand(RERUN_COMMAND, { method: message.method, alpha: message.alpha, maxTokens: message.maxTokens });
        break;
    }
  }

  /** The view's "Copy trace JSON": the trace goes to the clipboard, and a notification says so. */
  async #export(json: string): Promise<void> {
    try {
      await vscode.env.clipboard.writeText(json);
      this.log.info(`advantage view: trace copied to the clipboard (${json.length} characters)`);
      void vscode.window.showInformationMessage(`AAD: trace JSON copied to the clipboard (${json.length.toLocaleString("en-US")} characters).`);
    } catch (error) {
      void vscode.window.showErrorMessage(`AAD: could not copy the trace: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  dispose(): void {
    this.#panel?.dispose();
    for (const disposable of this.#disposables) disposable.dispose();
  }
}
