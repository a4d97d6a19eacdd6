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
import type { ScaleSetting } from "../../media/scale.ts";
import { GPU_CHOICES, METHOD_NAMES, type GpuChoice, type MethodName } from "../../server/src/protocol/protocol.ts";

export type PromptMode = "chat" | "raw";
export type GpuLayers = number | "auto" | "max";
export type InlineMethod = Exclude<MethodName, "best-of-n">;
export type InlineStopAt = "line" | "block";

export interface ModelPathSettings {
  readonly sft: string;
  readonly dpo: string;
  readonly dpoLora: string;
  /** The reference model of contrastive decoding (`cd`); empty or absent: none (cd is not offered). */
  readonly reference?: string;
}

export interface AadSettings {
  /** Empty strings: not set (the built-in pair is used when all three are empty). */
  readonly models: ModelPathSettings;
  readonly alpha: number;
  readonly maxTokens: number;
  readonly method: MethodName;
  /** null: the daemon's default. */
  readonly contextSize: number | null;
  /** GPU backend for the pair: "off" (the CPU), "auto" (the first that works, else the CPU), or a named one. */
  readonly gpu: GpuChoice;
  /** null: the daemon's default. */
  readonly gpuLayers: GpuLayers | null;
  readonly promptMode: PromptMode;
  readonly generateIntoEditor: boolean;
  readonly inline: {
    readonly enabled: boolean;
    readonly method: InlineMethod;
    readonly maxTokens: number;
    readonly debounceMs: number;
    /** Language ids completions are offered in: "*" every language, "!id" excludes one (see inlineLanguageEnabled). */
    readonly languages: readonly string[];
    readonly stopAt: InlineStopAt;
    /** Ring-buffer chunks of other files in FIM prompts; 0: off. */
    readonly contextChunks: number;
  };
  readonly view: {
    /** The advantage view's (and Explain Selection's) colour scale: "auto" adapts to each answer, a number fixes it at ±that many nats. */
    readonly advantageScale: ScaleSetting;
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
  reference: "models.reference",
  alpha: "alpha",
  maxTokens: "maxTokens",
  method: "method",
  contextSize: "contextSize",
  gpu: "gpu",
  gpuLayers: "gpuLayers",
  promptMode: "promptMode",
  generateIntoEditor: "generate.intoEditor",
  inlineEnabled: "inline.enabled",
  inlineMethod: "inline.method",
  inlineMaxTokens: "inline.maxTokens",
  inlineDebounceMs: "inline.debounceMs",
  inlineLanguages: "inline.languages",
  inlineStopAt: "inline.stopAt",
  inlineContextChunks: "inline.contextChunks",
  viewAdvantageScale: "view.advantageScale",
  daemonConnection: "daemon.connection",
  daemonSocketPath: "daemon.socketPath",
} as const;

export type SettingKey = (typeof SETTING_KEYS)[keyof typeof SETTING_KEYS];

export const DEFAULT_SETTINGS: AadSettings = {
  models: { sft: "", dpo: "", dpoLora: "", reference: "" },
  alpha: 0.1,
  maxTokens: 128,
  method: "aad",
  contextSize: null,
  gpu: "off",
  gpuLayers: null,
  promptMode: "chat",
  generateIntoEditor: false,
  inline: { enabled: false, method: "aad", maxTokens: 48, debounceMs: 250, languages: ["*"], stopAt: "line", contextChunks: 0 },
  view: { advantageScale: "auto" },
  daemon: { connection: "shared", socketPath: "" },
};

/** The daemon's limits (docs/PROTOCOL.md). */
export const LIMITS = { maxTokens: 4096, inlineMaxTokens: 256, debounceMs: 5000, contextSize: 1 << 20, inlineContextChunks: 64 } as const;

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

const languageList: Check<readonly string[]> = (value, key) =>
  Array.isArray(value) && value.every((id) => typeof id === "string" && /^!?[\w.+#-]+$|^\*$/.test(id))
    ? { value: value as string[] }
    : { error: `aad.${key} must be a list of language ids ("*" for every language, "!id" to leave one out), got ${describe(value)}` };

const flag: Check<boolean> = (value, key) => (typeof value === "boolean" ? { value } : { error: `aad.${key} must be true or false` });

const path: Check<string> = (value, key) => (typeof value === "string" ? { value: value.trim() } : { error: `aad.${key} must be a string` });

const alphaCheck: Check<number> = (value, key) =>
  typeof value === "number" && value >= 0 && value <= 1 ? { value } : { error: `aad.${key} must be a number from 0 to 1, got ${describe(value)}` };

const gpuLayersCheck: Check<GpuLayers> = (value, key) =>
  value === "auto" || value === "max" || (typeof value === "number" && Number.isInteger(value) && value >= 0)
    ? { value }
    : { error: `aad.${key} must be "auto", "max" or a whole number, got ${describe(value)}` };

const scaleCheck: Check<ScaleSetting> = (value, key) =>
  value === "auto" || (typeof value === "number" && Number.isFinite(value) && value > 0)
    ? { value }
    : { error: `aad.${key} must be "auto" or a positive number of nats, got ${describe(value)}` };

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
  const models = { sft: take(k.sft, "", path), dpo: take(k.dpo, "", path), dpoLora: take(k.dpoLora, "", path), reference: take(k.reference, "", path) };
  const alpha = take(k.alpha, d.alpha, alphaCheck);
  const maxTokens = take(k.maxTokens, d.maxTokens, integer(1, LIMITS.maxTokens));
  const method = take(k.method, d.method, oneOf(METHOD_NAMES));
  const contextSize = take(k.contextSize, d.contextSize, integer(16, LIMITS.contextSize));
  const gpu = take(k.gpu, d.gpu, oneOf<GpuChoice>(GPU_CHOICES));
  const gpuLayers = take(k.gpuLayers, d.gpuLayers, gpuLayersCheck);
  const promptMode = take(k.promptMode, d.promptMode, oneOf<PromptMode>(["chat", "raw"]));
  const generateIntoEditor = take(k.generateIntoEditor, d.generateIntoEditor, flag);
  const inline = {
    enabled: take(k.inlineEnabled, d.inline.enabled, flag),
    method: take(k.inlineMethod, d.inline.method, oneOf(INLINE_METHODS)),
    maxTokens: take(k.inlineMaxTokens, d.inline.maxTokens, integer(1, LIMITS.inlineMaxTokens)),
    debounceMs: take(k.inlineDebounceMs, d.inline.debounceMs, integer(0, LIMITS.debounceMs)),
    languages: take(k.inlineLanguages, d.inline.languages, languageList),
    stopAt: take(k.inlineStopAt, d.inline.stopAt, oneOf<InlineStopAt>(["line", "block"])),
    contextChunks: take(k.inlineContextChunks, d.inline.contextChunks, integer(0, LIMITS.inlineContextChunks)),
  };
  const view = { advantageScale: take(k.viewAdvantageScale, d.view.advantageScale, scaleCheck) };
  const daemon = {
    connection: take(k.daemonConnection, d.daemon.connection, oneOf<"shared" | "private">(["shared", "private"])),
    socketPath: take(k.daemonSocketPath, d.daemon.socketPath, path),
  };

  return {
    settings: { models, alpha, maxTokens, method, contextSize, gpu, gpuLayers, promptMode, generateIntoEditor, inline, view, daemon },
    problems,
  };
}

/**
 * Whether inline completions are offered in a language: listed, or "*" listed, and not left out
 * with "!id" (which wins over "*" and over the id itself).
 */
export function inlineLanguageEnabled(languages: readonly string[], languageId: string): boolean {
  if (languages.includes(`!${languageId}`)) return false;
  return languages.includes("*") || languages.includes(languageId);
}

/** A model pair as aad/loadPair names it, and what to call it in the status bar. */
export interface ModelPair {
  readonly sft: string;
  readonly dpo?: string;
  readonly dpoLora?: string;
  /** The reference model of `cd`, when there is one. */
  readonly reference?: string;
  readonly builtIn: boolean;
  /** Short, for the status bar: "built-in" or the DPO file's name. */
  readonly label: string;
}

/** The files of the pair shipped in the extension folder; the early SFT checkpoint is its reference for `cd` (as the CLI's). */
export const BUILT_IN_PAIR = { sft: "models/sft.gguf", dpo: "models/dpo.gguf", reference: "models/sft-early.gguf" } as const;

export function expandPath(path: string, home: string = homedir()): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return path;
}

/** Why the settings' pair was not used: what is wrong, and that the built-in pair is used meanwhile. */
export interface PairProblem {
  readonly message: string;
  /** The settings name part of a pair (only the SFT model, say): the user meant a pair of their own. */
  readonly incomplete: boolean;
}

/**
 * The pair to load: the user's (when the settings name a complete, consistent one) or the
 * built-in pair. Relative user paths cannot be resolved against a workspace (the settings are
 * machine-scoped), so they are reported and the built-in pair is used. `builtInReference` says
 * whether the built-in pair's reference file exists (a checkout may lack it).
 */
export function resolveModelPair(
  models: ModelPathSettings,
  extensionRoot: string,
  builtInReference: (path: string) => boolean = () => true,
): { pair: ModelPair; problems: readonly string[]; pairProblems: readonly PairProblem[] } {
  const reference = resolve(extensionRoot, BUILT_IN_PAIR.reference);
  const builtIn: ModelPair = {
    sft: resolve(extensionRoot, BUILT_IN_PAIR.sft),
    dpo: resolve(extensionRoot, BUILT_IN_PAIR.dpo),
    ...(builtInReference(reference) ? { reference } : {}),
    builtIn: true,
    label: "built-in",
  };
  const { sft, dpo, dpoLora } = { sft: expandPath(models.sft), dpo: expandPath(models.dpo), dpoLora: expandPath(models.dpoLora) };
  const userReference = expandPath(models.reference ?? "");
  if (sft === "" && dpo === "" && dpoLora === "") {
    const ignored = userReference === "" ? [] : [{ message: "aad.models.reference is set but aad.models.sft and aad.models.dpo are not; the built-in pair uses its own reference", incomplete: true }];
    return { pair: builtIn, problems: ignored.map((p) => p.message), pairProblems: ignored };
  }
  const problems: PairProblem[] = [];
  if (sft === "") problems.push({ message: "aad.models.sft is not set", incomplete: true });
  if (dpo === "" && dpoLora === "") problems.push({ message: "neither aad.models.dpo nor aad.models.dpoLora is set", incomplete: true });
  if (dpo !== "" && dpoLora !== "") problems.push({ message: "both aad.models.dpo and aad.models.dpoLora are set", incomplete: false });
  for (const file of [sft, dpo, dpoLora, userReference]) if (file !== "" && !isAbsolute(file)) problems.push({ message: `${file} is not an absolute path`, incomplete: false });
  if (problems.length > 0) {
    const pairProblems = problems.map((p) => ({ ...p, message: `${p.message}; using the built-in pair` }));
    return { pair: builtIn, problems: pairProblems.map((p) => p.message), pairProblems };
  }
  const withReference = userReference === "" ? {} : { reference: userReference };
  const pair: ModelPair =
    dpoLora !== ""
      ? { sft, dpoLora, ...withReference, builtIn: false, label: `${basename(dpoLora)} (LoRA)` }
      : { sft, dpo, ...withReference, builtIn: false, label: basename(dpo) };
  return { pair, problems: [], pairProblems: [] };
}

/**
 * The writes that make `models` the configured pair: all four model keys, so that nothing of the
 * previous pair is left (a LoRA pair after a two-file one removes aad.models.dpo). An empty path
 * removes its setting (undefined) rather than writing "".
 */
export function modelPathUpdates(models: ModelPathSettings): readonly (readonly [SettingKey, string | undefined])[] {
  const value = (path: string | undefined): string | undefined => (path === undefined || path === "" ? undefined : path);
  return [
    [SETTING_KEYS.sft, value(models.sft)],
    [SETTING_KEYS.dpo, value(models.dpo)],
    [SETTING_KEYS.dpoLora, value(models.dpoLora)],
    [SETTING_KEYS.reference, value(models.reference)],
  ];
}

/** The methods a command offers for a pair: `cd` only with a reference model (without one the daemon would only skip it). */
export function offeredMethods(pair: Pick<ModelPair, "reference">): MethodName[] {
  return METHOD_NAMES.filter((method) => method !== "cd" || pair.reference !== undefined);
}

/** Two pairs name the same files (the daemon keeps a loaded pair; no need to ask it again). */
export function samePair(a: Pick<ModelPair, "sft" | "dpo" | "dpoLora" | "reference">, b: Pick<ModelPair, "sft" | "dpo" | "dpoLora" | "reference">): boolean {
  return a.sft === b.sft && (a.dpo ?? "") === (b.dpo ?? "") && (a.dpoLora ?? "") === (b.dpoLora ?? "") && (a.reference ?? "") === (b.reference ?? "");
}
