/**
 * The extension's settings as typed values: the names under `aad.*`, their defaults, and the
 * parsing that turns whatever a settings.json holds into values the rest of the client can trust.
 * No `vscode` import: config.ts feeds it `workspace.getConfiguration("aad")`, tests feed it objects.
 *
 * An invalid value never stops the extension: it falls back to the default and the problem is
 * reported, so one typo in settings.json costs a warning, not every command.
 */
import { homedir } from "node:os";
import { isAbsolute, join, resolve, basename } from "node:path";
import { METHOD_NAMES, type MethodName } from "../../server/src/protocol/protocol.ts";

export type PromptMode = "chat" | "raw";
export type GpuLayers = number | "auto" | "max";
export type InlineMethod = Exclude<MethodName, "best-of-n">;

export interface ModelPathSettings {
  readonly sft: string;
  readonly dpo: string;
  readonly dpoLora: string;
}

export interface AadSettings {
  /** Empty strings: not set (the built-in pair is used when all three are empty). */
  readonly models: ModelPathSettings;
  readonly alpha: number;
  readonly maxTokens: number;
  readonly method: MethodName;
  /** null: the daemon's default. */
  readonly contextSize: number | null;
  /** null: the daemon's default. */
  readonly gpuLayers: GpuLayers | null;
  readonly promptMode: PromptMode;
  readonly generateIntoEditor: boolean;
  readonly inline: {
    readonly enabled: boolean;
    readonly method: InlineMethod;
    readonly maxTokens: number;
    readonly debounceMs: number;
  };
  readonly daemon: {
    /** "shared": the user's socket daemon (started if absent), "private": a stdio child of this window. */
    readonly connection: "shared" | "private";
    /** Empty: the standard socket path. */
    readonly socketPath: string;
  };
}

/** Every setting key, relative to the `aad` section, as package.json contributes it. */
export const SETTING_KEYS = {
  sft: "models.sft",
  dpo: "models.dpo",
  dpoLora: "models.dpoLora",
  alpha: "alpha",
  maxTokens: "maxTokens",
  method: "method",
  contextSize: "contextSize",
  gpuLayers: "gpuLayers",
  promptMode: "promptMode",
  generateIntoEditor: "generate.intoEditor",
  inlineEnabled: "inline.enabled",
  inlineMethod: "inline.method",
  inlineMaxTokens: "inline.maxTokens",
  inlineDebounceMs: "inline.debounceMs",
  daemonConnection: "daemon.connection",
  daemonSocketPath: "daemon.socketPath",
} as const;

export type SettingKey = (typeof SETTING_KEYS)[keyof typeof SETTING_KEYS];

export const DEFAULT_SETTINGS: AadSettings = {
  models: { sft: "", dpo: "", dpoLora: "" },
  alpha: 0.1,
  maxTokens: 128,
  method: "aad",
  contextSize: null,
  gpuLayers: null,
  promptMode: "chat",
  generateIntoEditor: false,
  inline: { enabled: false, method: "aad", maxTokens: 48, debounceMs: 250 },
  daemon: { connection: "shared", socketPath: "" },
};

/** The daemon's limits (docs/PROTOCOL.md). */
export const LIMITS = { maxTokens: 4096, inlineMaxTokens: 256, debounceMs: 5000, contextSize: 1 << 20 } as const;

export interface SettingProblem {
  readonly key: SettingKey;
  readonly message: string;
}

export interface ParsedSettings {
  readonly settings: AadSettings;
  readonly problems: readonly SettingProblem[];
}

/** Reads one key's value; `undefined` when unset. config.ts passes `section.get`. */
export type SettingReader = (key: SettingKey) => unknown;

type Checked<T> = { readonly value: T } | { readonly error: string };
type Check<T> = (value: unknown, key: SettingKey) => Checked<T>;

/** Settings values come from JSON, so they print as JSON. */
const describe = (value: unknown): string => JSON.stringify(value);

const integer = (min: number, max: number): Check<number> => (value, key) =>
  typeof value === "number" && Number.isInteger(value) && value >= min && value <= max
    ? { value }
    : { error: `aad.${key} must be a whole number from ${min} to ${max}, got ${describe(value)}` };

const oneOf = <T extends string>(options: readonly T[]): Check<T> => (value, key) =>
  typeof value === "string" && (options as readonly string[]).includes(value)
    ? { value: value as T }
    : { error: `aad.${key} must be one of ${options.join(", ")}, got ${describe(value)}` };

const flag: Check<boolean> = (value, key) => (typeof value === "boolean" ? { value } : { error: `aad.${key} must be true or false` });

const path: Check<string> = (value, key) => (typeof value === "string" ? { value: value.trim() } : { error: `aad.${key} must be a string` });

const alphaCheck: Check<number> = (value, key) =>
  typeof value === "number" && value >= 0 && value <= 1 ? { value } : { error: `aad.${key} must be a number from 0 to 1, got ${describe(value)}` };

const gpuLayersCheck: Check<GpuLayers> = (value, key) =>
  value === "auto" || value === "max" || (typeof value === "number" && Number.isInteger(value) && value >= 0)
    ? { value }
    : { error: `aad.${key} must be "auto", "max" or a whole number, got ${describe(value)}` };

const INLINE_METHODS = METHOD_NAMES.filter((name): name is InlineMethod => name !== "best-of-n");

export function parseSettings(read: SettingReader): ParsedSettings {
  const problems: SettingProblem[] = [];
  function take<T, F extends T | null = T>(key: SettingKey, fallback: F, check: Check<T>): T | F {
    const raw = read(key);
    if (raw === undefined || raw === null) return fallback;
    const checked = check(raw, key);
    if ("value" in checked) return checked.value;
    problems.push({ key, message: checked.error });
    return fallback;
  }
  const d = DEFAULT_SETTINGS;
  const k = SETTING_KEYS;
  const models = { sft: take(k.sft, "", path), dpo: take(k.dpo, "", path), dpoLora: take(k.dpoLora, "", path) };
  const alpha = take(k.alpha, d.alpha, alphaCheck);
  const maxTokens = take(k.maxTokens, d.maxTokens, integer(1, LIMITS.maxTokens));
  const method = take(k.method, d.method, oneOf(METHOD_NAMES));
  const contextSize = take(k.contextSize, d.contextSize, integer(16, LIMITS.contextSize));
  const gpuLayers = take(k.gpuLayers, d.gpuLayers, gpuLayersCheck);
  const promptMode = take(k.promptMode, d.promptMode, oneOf<PromptMode>(["chat", "raw"]));
  const generateIntoEditor = take(k.generateIntoEditor, d.generateIntoEditor, flag);
  const inline = {
    enabled: take(k.inlineEnabled, d.inline.enabled, flag),
    method: take(k.inlineMethod, d.inline.method, oneOf(INLINE_METHODS)),
    maxTokens: take(k.inlineMaxTokens, d.inline.maxTokens, integer(1, LIMITS.inlineMaxTokens)),
    debounceMs: take(k.inlineDebounceMs, d.inline.debounceMs, integer(0, LIMITS.debounceMs)),
  };
  const daemon = {
    connection: take(k.daemonConnection, d.daemon.connection, oneOf<"shared" | "private">(["shared", "private"])),
    socketPath: take(k.daemonSocketPath, d.daemon.socketPath, path),
  };

  return {
    settings: { models, alpha, maxTokens, method, contextSize, gpuLayers, promptMode, generateIntoEditor, inline, daemon },
    problems,
  };
}

/** A model pair as aad/loadPair names it, and what to call it in the status bar. */
export interface ModelPair {
  readonly sft: string;
  readonly dpo?: string;
  readonly dpoLora?: string;
  readonly builtIn: boolean;
  /** Short, for the status bar: "built-in" or the DPO file's name. */
  readonly label: string;
}

/** The files of the pair shipped in the extension folder. */
export const BUILT_IN_PAIR = { sft: "models/sft.gguf", dpo: "models/dpo.gguf" } as const;

export function expandPath(path: string, home: string = homedir()): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return path;
}

/**
 * The pair to load: the user's (when the settings name a complete, consistent one) or the
 * built-in pair. Relative user paths cannot be resolved against a workspace (the settings are
 * machine-scoped), so they are reported and the built-in pair is used.
 */
export function resolveModelPair(models: ModelPathSettings, extensionRoot: string): { pair: ModelPair; problems: readonly string[] } {
  const builtIn: ModelPair = {
    sft: resolve(extensionRoot, BUILT_IN_PAIR.sft),
    dpo: resolve(extensionRoot, BUILT_IN_PAIR.dpo),
    builtIn: true,
    label: "built-in",
  };
  const { sft, dpo, dpoLora } = { sft: expandPath(models.sft), dpo: expandPath(models.dpo), dpoLora: expandPath(models.dpoLora) };
  if (sft === "" && dpo === "" && dpoLora === "") return { pair: builtIn, problems: [] };
  const problems: string[] = [];
  if (sft === "") problems.push("aad.models.sft is not set");
  if (dpo === "" && dpoLora === "") problems.push("neither aad.models.dpo nor aad.models.dpoLora is set");
  if (dpo !== "" && dpoLora !== "") problems.push("both aad.models.dpo and aad.models.dpoLora are set");
  for (const file of [sft, dpo, dpoLora]) if (file !== "" && !isAbsolute(file)) problems.push(`${file} is not an absolute path`);
  if (problems.length > 0) return { pair: builtIn, problems: problems.map((p) => `${p}; using the built-in pair`) };
  const pair: ModelPair =
    dpoLora !== ""
      ? { sft, dpoLora, builtIn: false, label: `${basename(dpoLora)} (LoRA)` }
      : { sft, dpo, builtIn: false, label: basename(dpo) };
  return { pair, problems };
}

/** Two pairs name the same files (the daemon keeps a loaded pair; no need to ask it again). */
export function samePair(a: Pick<ModelPair, "sft" | "dpo" | "dpoLora">, b: Pick<ModelPair, "sft" | "dpo" | "dpoLora">): boolean {
  return a.sft === b.sft && (a.dpo ?? "") === (b.dpo ?? "") && (a.dpoLora ?? "") === (b.dpoLora ?? "");
}
