/**
 * The one place that reads `aad.*` settings from VS Code. Everything else asks this module for
 * typed values (settings.ts does the parsing) and listens to `onDidChange`.
 */
import * as vscode from "vscode";
import { parseSettings, resolveModelPair, type AadSettings, type ModelPair, type ParsedSettings, type SettingKey, type SettingProblem } from "./settings.ts";

export const SECTION = "aad";

export interface ConfigChange {
  readonly settings: AadSettings;
  /** Whether the pair to load (its files, context size or GPU layers) may have changed. */
  readonly affectsPair: boolean;
  readonly affectsInline: boolean;
  readonly affectsDaemon: boolean;
}

export class Config implements vscode.Disposable {
  readonly #onDidChange = new vscode.EventEmitter<ConfigChange>();
  readonly onDidChange = this.#onDidChange.event;
  readonly #subscription: vscode.Disposable;
  #parsed: ParsedSettings;

  constructor(readonly extensionRoot: string) {
    this.#parsed = read();
    this.#subscription = vscode.workspace.onDidChangeConfiguration((event) => {
      if (!event.affectsConfiguration(SECTION)) return;
      this.#parsed = read();
      const affects = (...keys: string[]): boolean => keys.some((key) => event.affectsConfiguration(`${SECTION}.${key}`));
      this.#onDidChange.fire({
        settings: this.#parsed.settings,
        affectsPair: affects("models", "contextSize", "gpuLayers"),
        affectsInline: affects("inline", "alpha"),
        affectsDaemon: affects("daemon"),
      });
    });
  }

  get settings(): AadSettings {
    return this.#parsed.settings;
  }

  /** Settings that were ignored (and why); shown to the user once per change. */
  get problems(): readonly SettingProblem[] {
    return this.#parsed.problems;
  }

  /** The pair the settings name, or the built-in one (with the reasons when that is a fallback). */
  modelPair(): { pair: ModelPair; problems: readonly string[] } {
    return resolveModelPair(this.#parsed.settings.models, this.extensionRoot);
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

  dispose(): void {
    this.#subscription.dispose();
    this.#onDidChange.dispose();
  }
}

function read(): ParsedSettings {
  const section = vscode.workspace.getConfiguration(SECTION);
  return parseSettings((key) => section.get(key));
}
