/**
 * The one place that reads `aad.*` settings from VS Code. Everything else asks this module for
 * typed values (settings.ts does the parsing) and listens to `onDidChange`.
 */
import { existsSync } from "node:fs";
import * as vscode from "vscode";
import { modelPathUpdates, parseSettings, resolveModelPair, SETTING_KEYS, type AadSettings, type ModelPair, type ModelPathSettings, type PairProblem, type ParsedSettings, type SettingKey, type SettingProblem } from "./settings.ts";

export const SECTION = "aad";

/**
 * Settings an untrusted workspace may not set (package.json's `restrictedConfigurations` says the
 * same to VS Code): the model files the daemon opens and where the daemon listens. In restricted
 * mode they are read from the user's (and machine's) settings only.
 */
export const RESTRICTED_KEYS: readonly SettingKey[] = [
  SETTING_KEYS.sft,
  SETTING_KEYS.dpo,
  SETTING_KEYS.dpoLora,
  SETTING_KEYS.reference,
  SETTING_KEYS.daemonConnection,
  SETTING_KEYS.daemonSocketPath,
];

export interface ConfigChange {
  readonly settings: AadSettings;
  /** Whether the pair to load (its files, context size or GPU layers) may have changed. */
  readonly affectsPair: boolean;
  readonly affectsInline: boolean;
  readonly affectsDaemon: boolean;
  /** The advantage view's settings (its colour scale). */
  readonly affectsView: boolean;
}

export class Config implements vscode.Disposable {
  readonly #onDidChange = new vscode.EventEmitter<ConfigChange>();
  readonly onDidChange = this.#onDidChange.event;
  readonly #subscriptions: vscode.Disposable[];
  #parsed: ParsedSettings;

  constructor(readonly extensionRoot: string) {
    this.#parsed = read();
    this.#subscriptions = [
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (!event.affectsConfiguration(SECTION)) return;
        this.#parsed = read();
        const affects = (...keys: string[]): boolean => keys.some((key) => event.affectsConfiguration(`${SECTION}.${key}`));
        this.#onDidChange.fire({
          settings: this.#parsed.settings,
          affectsPair: affects("models", "contextSize", "gpu", "gpuLayers"),
          affectsInline: affects("inline", "alpha"),
          affectsDaemon: affects("daemon"),
          affectsView: affects("view"),
        });
      }),
      // Trusted now: the workspace's own values of the restricted settings count from here on.
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.#parsed = read();
        this.#onDidChange.fire({ settings: this.#parsed.settings, affectsPair: true, affectsInline: false, affectsDaemon: true, affectsView: false });
      }),
    ];
  }

  get settings(): AadSettings {
    return this.#parsed.settings;
  }

  /** Settings that were ignored (and why); shown to the user once per change. */
  get problems(): readonly SettingProblem[] {
    return this.#parsed.problems;
  }

  /** The pair the settings name, or the built-in one (with the reasons when that is a fallback). */
  modelPair(): { pair: ModelPair; problems: readonly string[]; pairProblems: readonly PairProblem[] } {
    return resolveModelPair(this.#parsed.settings.models, this.extensionRoot, existsSync);
  }

  /**
   * Writes a setting where it is currently defined (a workspace value stays in the workspace),
   * else in the user's settings. Model paths are machine-scoped and always go to the user's.
   */
  async update(key: SettingKey, value: unknown): Promise<void> {
    const section = vscode.workspace.getConfiguration(SECTION);
    const inspected = section.inspect(key);
    const target =
      inspected?.workspaceFolderValue !== undefined
        ? vscode.ConfigurationTarget.WorkspaceFolder
        : inspected?.workspaceValue !== undefined
          ? vscode.ConfigurationTarget.Workspace
          : vscode.ConfigurationTarget.Global;
    await section.update(key, value, target);
  }

  /**
   * Makes `models` the configured pair. Model paths are machine-scoped: they go to the user's
   * settings, never a workspace's, whatever scope held them before.
   */
  async writeModelPaths(models: ModelPathSettings): Promise<void> {
    const section = vscode.workspace.getConfiguration(SECTION);
    for (const [key, value] of modelPathUpdates(models)) await section.update(key, value, vscode.ConfigurationTarget.Global);
  }

  dispose(): void {
    for (const subscription of this.#subscriptions) subscription.dispose();
    this.#onDidChange.dispose();
  }
}

function read(): ParsedSettings {
  const section = vscode.workspace.getConfiguration(SECTION);
  const trusted = vscode.workspace.isTrusted;
  return parseSettings((key) => {
    if (trusted || !RESTRICTED_KEYS.includes(key)) return section.get(key);
    const inspected = section.inspect(key);
    return inspected?.globalValue ?? inspected?.defaultValue;
  });
}
