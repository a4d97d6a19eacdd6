/**
 * The extension's one context object, handed to every command factory: settings, the daemon
 * connection, the loaded pair, the status bar, the advantage view and the output channel.
 */
import * as vscode from "vscode";
import {
  configure,
  loadPair,
  type InlineCompletionSettings,
  type LoadPairParams,
  type PairInfo,
} from "../../server/src/protocol/protocol.ts";
import { AdvantageView } from "./advantage-view.ts";
import { Config } from "./config.ts";
import { Daemon, describeError, type DaemonState } from "./daemon.ts";
import { InlineCache } from "./inline-cache.ts";
import { samePair, type ModelPair } from "./settings.ts";
import { StatusBar } from "./status-bar.ts";
import type { ActivityState } from "./status-text.ts";

export class UntrustedWorkspaceError extends Error {
  override readonly name = "UntrustedWorkspaceError";
  constructor() {
    super("this workspace is not trusted, so AAD loads no models in it");
  }
}

export class Ctx implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  readonly config: Config;
  readonly daemon: Daemon;
  readonly statusBar: StatusBar;
  readonly view: AdvantageView;
  readonly inlineCache = new InlineCache();
  /** The last prompt of a command, offered again by the next input box. */
  lastPrompt = "";

  readonly #disposables: { dispose(): unknown }[] = [];
  /** The pair the daemon holds for us, and the files we asked for. */
  #loaded: { readonly request: ModelPair; readonly info: PairInfo } | undefined;
  #loading: { readonly request: ModelPair; readonly promise: Promise<PairInfo> } | undefined;
  #busy = 0;
  #lastError: string | null = null;
  #reportedProblems = "";

  constructor(readonly extension: vscode.ExtensionContext) {
    this.log = vscode.window.createOutputChannel("AAD", { log: true });
    this.config = new Config(extension.extensionPath);
    this.statusBar = new StatusBar();
    this.view = new AdvantageView(extension.extensionUri, this.log);
    this.daemon = new Daemon({
      extensionRoot: extension.extensionPath,
      logDir: extension.logUri.fsPath,
      log: this.log,
      settings: () => this.config.settings,
      initializationOptions: () => ({ inlineCompletion: this.inlineSettings() }),
    });
    this.#disposables.push(
      this.log,
      this.config,
      this.statusBar,
      this.view,
      this.daemon,
      this.daemon.onDidChangeState((state) => this.#daemonStateChanged(state)),
      this.daemon.onDidChangePair((pair) => this.#pairChanged(pair)),
      this.daemon.onDidConnect(() => this.#refreshStatusBar()),
      this.config.onDidChange((change) => {
        this.#reportSettingProblems();
        if (change.affectsPair) {
          this.#loaded = undefined;
          this.inlineCache.clear();
        }
        if (change.affectsInline) {
          this.inlineCache.clear();
          void this.#sendInlineSettings();
        }
        if (change.affectsDaemon && this.daemon.running !== undefined) {
          this.log.info("daemon settings changed: reconnecting");
          void this.daemon.stop().then(() => this.#refreshStatusBar());
        }
        this.#refreshStatusBar();
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.#refreshStatusBar()),
    );
    this.#reportSettingProblems();
    this.#refreshStatusBar();
  }

  get trusted(): boolean {
    return vscode.workspace.isTrusted;
  }

  get loadedPair(): PairInfo | undefined {
    return this.#loaded?.info;
  }

  /** The pair the settings name, ready in the daemon: loads it (with progress) unless it already is. */
  async ensurePair(token?: vscode.CancellationToken): Promise<PairInfo> {
    if (!this.trusted) throw new UntrustedWorkspaceError();
    const { pair, problems } = this.config.modelPair();
    if (this.#loaded !== undefined && samePair(this.#loaded.request, pair)) return this.#loaded.info;
    if (this.#loading !== undefined && samePair(this.#loading.request, pair)) return this.#loading.promise;
    for (const problem of problems) this.log.warn(`settings: ${problem}`);
    const loading = { request: pair, promise: this.loadPair(pair, token) };
    this.#loading = loading;
    try {
      return await loading.promise;
    } finally {
      if (this.#loading === loading) this.#loading = undefined;
    }
  }

  /** Asks the daemon to load `pair` (validating it), and remembers it when it succeeds. */
  async loadPair(pair: ModelPair, token?: vscode.CancellationToken): Promise<PairInfo> {
    if (!this.trusted) throw new UntrustedWorkspaceError();
    const settings = this.config.settings;
    const params: LoadPairParams = {
      sft: pair.sft,
      ...(pair.dpo === undefined ? {} : { dpo: pair.dpo }),
      ...(pair.dpoLora === undefined ? {} : { dpoLora: pair.dpoLora }),
      ...(settings.contextSize === null ? {} : { contextSize: settings.contextSize }),
      ...(settings.gpuLayers === null ? {} : { gpuLayers: settings.gpuLayers }),
    };
    this.statusBar.update({ state: "loading", pairLabel: pair.label, detail: `loading ${pair.sft} + ${pair.dpo ?? pair.dpoLora ?? ""}` });
    this.log.info(`loading pair ${pair.label}: ${JSON.stringify(params)}`);
    try {
      const info = await this.daemon.request(loadPair, params, token);
      this.#loaded = { request: pair, info };
      this.#lastError = null;
      this.log.info(`pair ${pair.label} ${info.reused ? "already loaded" : `loaded in ${info.loadMs} ms`} (${info.architecture}, vocabulary ${info.vocabularySize}, context ${info.contextSize})`);
      return info;
    } catch (error) {
      this.#lastError = `loading ${pair.label} failed: ${describeError(error)}`;
      throw error;
    } finally {
      this.#refreshStatusBar();
    }
  }

  /**
   * Runs long work with a Cancel button in a notification, the status bar showing "busy". The
   * token is cancelled when the user presses Cancel.
   */
  async withProgress<T>(title: string, work: (token: vscode.CancellationToken, progress: vscode.Progress<{ message?: string; increment?: number }>) => Promise<T>): Promise<T> {
    this.#busy++;
    this.#refreshStatusBar();
    try {
      return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) => work(token, progress));
    } finally {
      this.#busy--;
      this.#refreshStatusBar();
    }
  }

  /** A response finished: its speed goes to the status bar. */
  recordSpeed(tokensPerSecond: number | undefined): void {
    if (tokensPerSecond !== undefined && Number.isFinite(tokensPerSecond)) this.statusBar.update({ tokensPerSecond });
  }

  /** A command failed: log it, show it, and keep it in the status bar's tooltip. */
  reportError(what: string, error: unknown): void {
    if (error instanceof vscode.CancellationError || isCancellation(error)) {
      this.log.info(`${what}: cancelled`);
      return;
    }
    const message = `${what}: ${describeError(error)}`;
    this.log.error(message);
    this.#lastError = message;
    this.#refreshStatusBar();
    const actions = error instanceof UntrustedWorkspaceError ? ["Manage Workspace Trust"] : ["Show Log"];
    void vscode.window.showErrorMessage(`AAD: ${message}`, ...actions).then((choice) => {
      if (choice === "Show Log") this.log.show();
      if (choice === "Manage Workspace Trust") void vscode.commands.executeCommand("workbench.trust.manage");
    });
  }

  inlineSettings(): InlineCompletionSettings {
    const { inline, alpha } = this.config.settings;
    return { method: inline.method, alpha, maxTokens: inline.maxTokens };
  }

  async #sendInlineSettings(): Promise<void> {
    if (this.daemon.running === undefined) return;
    try {
      await this.daemon.request(configure, { inlineCompletion: this.inlineSettings() });
    } catch (error) {
      this.log.warn(`aad/configure failed: ${describeError(error)}`);
    }
  }

  #daemonStateChanged(state: DaemonState): void {
    if (state.kind !== "running") this.#loaded = undefined;
    if (state.kind === "running") void this.#sendInlineSettings();
    if (state.kind === "failed" || state.kind === "restarting") this.#lastError = state.reason;
    this.#refreshStatusBar();
  }

  #pairChanged(pair: PairInfo | null): void {
    const loaded = this.#loaded;
    if (loaded === undefined) return;
    const stillOurs =
      pair !== null &&
      pair.sft.path === loaded.info.sft.path &&
      pair.dpo.path === loaded.info.dpo.path;
    if (!stillOurs) {
      this.log.info(`the daemon's pair changed to ${pair === null ? "none" : `${pair.sft.path} + ${pair.dpo.path}`}; ours will be reloaded on next use`);
      this.#loaded = undefined;
      this.inlineCache.clear();
      this.#refreshStatusBar();
    }
  }

  #reportSettingProblems(): void {
    const problems = this.config.problems;
    const reported = problems.map((p) => p.message).join("\n");
    // Once per new set of problems, not at every unrelated settings change.
    if (reported === this.#reportedProblems) return;
    this.#reportedProblems = reported;
    if (problems.length === 0) return;
    for (const problem of problems) this.log.warn(`settings: ${problem.message}`);
    void vscode.window.showWarningMessage(`AAD: ${problems.map((p) => p.message).join("; ")}`);
  }

  #refreshStatusBar(): void {
    const { pair } = this.config.modelPair();
    const daemon = this.daemon.state;
    let state: ActivityState;
    let detail: string | null = this.#lastError;
    if (!this.trusted) {
      state = "untrusted";
      detail = "This workspace is not trusted: no models are loaded.";
    } else if (this.#loading !== undefined) state = "loading";
    else if (this.#busy > 0) state = "busy";
    else if (daemon.kind === "failed" || daemon.kind === "restarting") state = "error";
    else if (daemon.kind === "starting") state = "starting";
    else if (this.#lastError !== null) state = "error";
    else if (this.#loaded !== undefined) state = "ready";
    else state = "idle";
    if (state === "ready" || state === "busy") detail = null;
    this.statusBar.update({ pairLabel: pair.label, state, detail });
  }

  dispose(): void {
    for (const disposable of this.#disposables.reverse()) disposable.dispose();
  }
}

/** A request the user (or a newer keystroke) cancelled: LSP's RequestCancelled / ServerCancelled. */
export function isCancellation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === -32800 || code === -32802;
}
