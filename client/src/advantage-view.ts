/**
 * The advantage view's panel on the extension side: one webview panel (media/ is its program),
 * created on first use and revealed after. Messages posted before the page says `ready` wait in
 * a queue, so a response that starts streaming at once is not lost. The view's export copies the
 * trace JSON to the clipboard.
 */
import * as vscode from "vscode";
import { createNonce, renderWebviewHtml, WebviewHtmlError } from "../../media/html.ts";
import type { HostMessage, ViewMessage } from "../../media/messages.ts";

export const VIEW_TYPE = "aad.advantageView";

export class AdvantageView implements vscode.Disposable {
  #panel: vscode.WebviewPanel | undefined;
  #ready = false;
  #queue: HostMessage[] = [];
  /** Everything posted since the last reset: what a newly created page is sent again. */
  #history: HostMessage[] = [];
  readonly #mediaRoot: vscode.Uri;

  constructor(
    extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.#mediaRoot = vscode.Uri.joinPath(extensionUri, "dist", "media");
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
    const panel = vscode.window.createWebviewPanel(
      VIEW_TYPE,
      "AAD Advantage",
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus },
      { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [this.#mediaRoot], enableFindWidget: true },
    );
    this.#panel = panel;
    this.#ready = false;
    this.#queue = [...this.#history];
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
      this.#panel = undefined;
      this.#ready = false;
    });
  }

  post(message: HostMessage): void {
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
  }
}
