/**
 * The extension's one context object, handed to every command factory: settings, the daemon
 * connection, the loaded pair, the status bar, the advantage view and the output channel.
 *
 * The status bar is told what happens (connection changes, the daemon's aad/pairChanged and
 * aad/status answers, loads, work, outcomes) and works out what to show (status-state.ts).
 *
 * In an untrusted workspace the model and daemon settings come from the user's settings only
 * (config.ts), so a workspace cannot make the daemon open files of its choosing.
 */
import * as vscode from "vscode";
import { resolve } from "node:path";
import {
  configure,
  loadPair,
  status,
  type InlineCompletionSettings,
  type LoadPairParams,
  type PairInfo,
} from "../../server/src/protocol/protocol.ts";
import { AdvantageView } from "./advantage-view.ts";
import { Config } from "./config.ts";
import { Daemon, describeError, type DaemonState, type DaemonTransport } from "./daemon.ts";
import { errorActions } from "./error-actions.ts";
import { InlineCache } from "./inline-cache.ts";
import { samePair, type ModelPair } from "./settings.ts";
import { StatusBar } from "./status-bar.ts";
import { initialStatus, type HeldPair, type WantedPair } from "./status-state.ts";
import { describeCompute } from "./status-text.ts";

/**
 * The Settings editor, searched for `query`. In a remote window (code-server, SSH, WSL) the model
 * and daemon settings are machine-scoped and listed only on the Remote tab: the User tab that
 * workbench.action.openSettings opens says "No Settings Found" for aad.models.
 */
function openSettings(query: string): void {
  const command = vscode.env.remoteName === undefined ? "workbench.action.openSettings" : "workbench.action.openRemoteSettings";
  void vscode.commands.executeCommand(command, { query });
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
  #loadIds = 0;
  #workIds = 0;
  /** The error of the last failed load: already in the status bar under the pair's name. */
  #lastLoadError: unknown;
  #reportedProblems = "";

  constructor(readonly extension: vscode.ExtensionContext) {
    this.log = vscode.window.createOutputChannel("AAD", { log: true });
    this.config = new Config(extension.extensionPath);
    this.statusBar = new StatusBar(initialStatus(wantedPair(this.config.modelPair().pair), { trusted: vscode.workspace.isTrusted, alpha: this.config.settings.alpha }));
    this.view = new AdvantageView(extension.extensionUri, this.log, this.config);
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
      this.daemon.onDidConnect(() => void this.#askWhatIsHeld()),
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
          void this.daemon.stop();
        }
        this.#settingsChanged();
      }),
      // Config re-reads the restricted settings and reports the change; the bar only learns the trust.
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.statusBar.dispatch({ type: "trust", trusted: true })),
    );
    this.#reportSettingProblems();
  }

  get trusted(): boolean {
    return vscode.workspace.isTrusted;
  }

  get loadedPair(): PairInfo | undefined {
    return this.#loaded?.info;
  }

  /** The pair the settings name, ready in the daemon: loads it (with progress) unless it already is. */
  async ensurePair(token?: vscode.CancellationToken): Promise<PairInfo> {
    const { pair } = this.config.modelPair();
    if (this.#loaded !== undefined && samePair(this.#loaded.request, pair)) return this.#loaded.info;
    if (this.#loading !== undefined && samePair(this.#loading.request, pair)) return this.#loading.promise;
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
    const settings = this.config.settings;
    const params: LoadPairParams = {
      sft: pair.sft,
      ...(pair.dpo === undefined ? {} : { dpo: pair.dpo }),
      ...(pair.dpoLora === undefined ? {} : { dpoLora: pair.dpoLora }),
      ...(pair.reference === undefined ? {} : { reference: pair.reference }),
      ...(settings.contextSize === null ? {} : { contextSize: settings.contextSize }),
      ...(settings.gpu === "off" ? {} : { gpu: settings.gpu }),
      ...(settings.gpuLayers === null || (settings.gpu === "off" && settings.gpuLayers !== 0) ? {} : { gpuLayers: settings.gpuLayers }),
    };
    const id = ++this.#loadIds;
    this.statusBar.dispatch({ type: "loadStarted", id, pair: wantedPair(pair) });
    this.log.info(`loading pair ${pair.label}: ${JSON.stringify(params)}`);
    try {
      const info = await this.daemon.request(loadPair, params, token);
      this.#loaded = { request: pair, info };
      this.statusBar.dispatch({ type: "loadSucceeded", id, held: heldPair(info) });
      this.log.info(`pair ${pair.label} ${info.reused ? "already loaded" : `loaded in ${info.loadMs} ms`} (${info.architecture}, vocabulary ${info.vocabularySize}, context ${info.contextSize}, on ${info.compute.backend === "cpu" ? "the CPU" : `${info.compute.backend}, ${info.compute.gpuLayers} layers offloaded`})`);
      // "auto" that found no GPU, say: the pair works, but not where the user asked for it.
      if (info.compute.note !== undefined && !info.reused) void vscode.window.showWarningMessage(`AAD: ${info.compute.note}.`);
      return info;
    } catch (error) {
      if (error instanceof vscode.CancellationError || isCancellation(error) || token?.isCancellationRequested === true) {
        this.statusBar.dispatch({ type: "loadCancelled", id });
      } else {
        this.#lastLoadError = error;
        this.statusBar.dispatch({ type: "loadFailed", id, message: `loading ${pair.label} failed: ${describeError(error)}` });
      }
      throw error;
    }
  }

  /**
   * Runs long work with a Cancel button in a notification, the status bar showing "busy". The
   * token is cancelled when the user presses Cancel.
   */
  async withProgress<T>(title: string, work: (token: vscode.CancellationToken, progress: vscode.Progress<{ message?: string; increment?: number }>) => Promise<T>): Promise<T> {
    const source = `command-${++this.#workIds}`;
    this.statusBar.setBusy(title.replace(/^AAD: /, ""), source);
    try {
      const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) => work(token, progress));
      this.succeeded();
      return result;
    } finally {
      this.statusBar.setBusy(undefined, source);
    }
  }

  /** Something the user asked for worked: an earlier error is no longer the news. */
  succeeded(tokensPerSecond?: number): void {
    this.statusBar.dispatch(tokensPerSecond === undefined ? { type: "succeeded" } : { type: "succeeded", tokensPerSecond });
  }

  /** A response finished: its speed goes to the status bar. */
  recordSpeed(tokensPerSecond: number | undefined): void {
    this.succeeded(tokensPerSecond);
  }

  /** A command failed: log it, show it, and keep it in the status bar's tooltip. */
  reportError(what: string, error: unknown): void {
    if (error instanceof vscode.CancellationError || isCancellation(error)) {
      this.log.info(`${what}: cancelled`);
      return;
    }
    const message = `${what}: ${describeError(error)}`;
    this.log.error(message);
    // A failed load is already in the bar, under the name of the pair that failed.
    if (error !== this.#lastLoadError) this.statusBar.dispatch({ type: "failed", subject: what, message });
    const actions = errorActions(error, error === this.#lastLoadError);
    void vscode.window.showErrorMessage(`AAD: ${message}`, ...actions).then((choice) => {
      if (choice === "Show Log") this.log.show();
      if (choice === "Select Model Pair") void vscode.commands.executeCommand("aad.selectModelPair");
      if (choice === "Open Settings") openSettings("aad.models");
    });
  }

  inlineSettings(): InlineCompletionSettings {
    const { inline, alpha } = this.config.settings;
    return { method: inline.method, alpha, maxTokens: inline.maxTokens, stopAt: inline.stopAt, contextChunks: inline.contextChunks };
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
    this.statusBar.dispatch(
      state.kind === "running"
        ? { type: "connection", connection: "running", daemon: describeDaemon(state.transport) }
        : state.kind === "failed" || state.kind === "restarting"
          ? { type: "connection", connection: state.kind, problem: state.reason }
          : { type: "connection", connection: state.kind },
    );
  }

  /** A new connection: the daemon says what it already holds (another window may have loaded our pair). */
  async #askWhatIsHeld(): Promise<void> {
    try {
      const answer = await this.daemon.request0(status);
      this.statusBar.dispatch({ type: "held", pair: answer.pair === null ? null : heldPair(answer.pair) });
    } catch (error) {
      this.log.warn(`aad/status after connecting failed: ${describeError(error)}`);
    }
  }

  #pairChanged(pair: PairInfo | null): void {
    this.statusBar.dispatch({ type: "held", pair: pair === null ? null : heldPair(pair) });
    const loaded = this.#loaded;
    if (loaded === undefined) return;
    const stillOurs =
      pair !== null &&
      pair.sft.path === loaded.info.sft.path &&
      pair.dpo.path === loaded.info.dpo.path &&
      (pair.reference?.path ?? null) === (loaded.info.reference?.path ?? null);
    if (!stillOurs) {
      this.log.info(`the daemon's pair changed to ${pair === null ? "none" : `${pair.sft.path} + ${pair.dpo.path}`}; ours will be reloaded on next use`);
      this.#loaded = undefined;
      this.inlineCache.clear();
    }
  }

  #settingsChanged(): void {
    this.statusBar.dispatch({ type: "settings", wanted: wantedPair(this.config.modelPair().pair), alpha: this.config.settings.alpha });
  }

  /**
   * Invalid values and a pair the settings name only part of (only aad.models.sft, say) are said
   * once per new set of problems, not at every unrelated settings change: the built-in pair is
   * used meanwhile, and the buttons lead to the fix.
   */
  #reportSettingProblems(): void {
    const messages = [...this.config.problems.map((p) => p.message), ...this.config.modelPair().pairProblems.map((p) => p.message)];
    const reported = messages.join("\n");
    if (reported === this.#reportedProblems) return;
    this.#reportedProblems = reported;
    if (messages.length === 0) return;
    for (const message of messages) this.log.warn(`settings: ${message}`);
    void vscode.window.showWarningMessage(`AAD: ${messages.join("; ")}`, "Select Model Pair", "Open Settings").then((choice) => {
      if (choice === "Select Model Pair") void vscode.commands.executeCommand("aad.selectModelPair");
      if (choice === "Open Settings") openSettings("aad.");
    });
  }

  dispose(): void {
    for (const disposable of this.#disposables.reverse()) disposable.dispose();
  }
}

function wantedPair(pair: ModelPair): WantedPair {
  const path = (file: string | undefined): string | undefined => (file === undefined ? undefined : resolve(file));
  return Object.fromEntries(
    Object.entries({ label: pair.label, sft: path(pair.sft), dpo: path(pair.dpo), dpoLora: path(pair.dpoLora), reference: path(pair.reference) }).filter(([, value]) => value !== undefined),
  ) as unknown as WantedPair;
}

function heldPair(info: PairInfo): HeldPair {
  return { sft: info.sft.path, dpo: info.dpo.path, reference: info.reference?.path ?? null, compute: describeCompute(info.compute) };
}

function describeDaemon(transport: DaemonTransport): string {
  const pid = transport.pid === null ? "" : `, pid ${transport.pid}`;
  if (transport.kind === "stdio") return `private daemon (stdio${pid})`;
  return `shared daemon on ${transport.socketPath ?? "?"} (${transport.spawned ? "started by this window" : "already running"}${pid})`;
}

/** A request the user (or a newer keystroke) cancelled: LSP's RequestCancelled / ServerCancelled. */
export function isCancellation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === -32800 || code === -32802;
}
