/**
 * Synthetic preference data from a model pair: for each prompt, the AAD response is `chosen` and
 * a response of the DPO model alone (a sample, or its greedy response) is `rejected` — the
 * paper's recipe for growing a small preference set from unlabelled prompts.
 *
 * Rows are what TRL's DPOTrainer reads — `{"prompt", "chosen", "rejected"}`, as plain strings
 * for plain prompts and as message lists for chat prompts — plus a `meta` object with how the
 * row was made. They are appended and synced one at a time (row-log.ts). Every prompt's sampling
 * seed derives from the run's seed and the prompt's position alone, so running again with the
 * same output file continues after its last row and produces exactly the rows an uninterrupted
 * run would have.
 */
import { basename } from "node:path";
import { createRule, type RuleSpec } from "../decoding/index.ts";
import { generate, ModelRuntimeError, type ChatMessage, type GenerateResult, type ModelPair, type StopReason } from "../runtime/index.ts";
import { PairsOutputError, PromptFileError } from "./errors.ts";
import { fileSha256 } from "./model-hashes.ts";
import { readPrompts, type PromptRecord } from "./prompts.ts";
import { openRowLog, type RowLog } from "./row-log.ts";

export type RejectedMethod = "sample" | "greedy-dpo";

export const PAIRS_DEFAULTS = { rejected: "sample", topP: 0.9, temperature: 1, alpha: 0.1, maxTokens: 128, seed: 0 } as const satisfies Partial<PairsOptions>;

export interface PairsOptions {
  readonly pair: ModelPair;
  /** `.jsonl` ({"prompt"} or {"messages"} per line) or `.txt` (one prompt per line). */
  readonly promptsFile: string;
  /** The file's prompts when the caller has already read them (readPrompts); default: read promptsFile. */
  readonly prompts?: readonly PromptRecord[];
  /** The JSON Lines output; an existing file is resumed after its last complete row. */
  readonly out: string;
  /** How the rejected response is decoded from the DPO model. Default "sample". */
  readonly rejected?: RejectedMethod;
  /** Nucleus threshold of the rejected sample. Default 0.9. */
  readonly topP?: number;
  /** Temperature of the rejected sample. Default 1. */
  readonly temperature?: number;
  /** AAD's candidate-set threshold for the chosen response. Default 0.1. */
  readonly alpha?: number;
  /** Most tokens per response. Default 128. */
  readonly maxTokens?: number;
  /** Use only the first `limit` prompts of the file. Default: all. */
  readonly limit?: number;
  /** The run's seed; prompt i samples with the seed `${seed}:${i}`. Default 0. */
  readonly seed?: number;
  /** Stops the run after the row in progress (which is written): the file stays resumable. */
  readonly signal?: AbortSignal;
  /**
   * Runs one prompt's decoding (both responses) when it is its turn; default: at once. The daemon
   * passes its scheduler here, so that other clients' requests run between rows. `decode` takes
   * the signal that aborts the row mid-way (the row is then not written). A rejection with
   * `signal.reason` — the run's signal fired while the row was still waiting — ends the run as
   * interrupted; any other rejection fails it.
   */
  readonly runRow?: <T>(decode: (rowSignal?: AbortSignal) => Promise<T>) => Promise<T>;
  readonly onProgress?: (progress: PairsProgress) => void;
  /** The model files' SHA-256 when the caller already knows them; otherwise they are computed (once per process). */
  readonly modelHashes?: Readonly<Partial<Record<ModelFileRole, string>>>;
}

export type ModelFileRole = "sft" | "dpo" | "dpoLora";

export interface PairsProgress {
  /** Prompts finished, including those earlier runs finished. */
  readonly done: number;
  readonly total: number;
  /** Rows this run wrote. */
  readonly written: number;
  /** Prompts this run skipped because chosen equalled rejected. */
  readonly skippedEqual: number;
  /** Prompts earlier runs had finished when this one started. */
  readonly resumedAt: number;
}

export interface PairsResult extends PairsProgress {
  readonly out: string;
  /** Rows the output held when this run started. */
  readonly resumedRows: number;
  /** Bytes of a torn last line (from a run that was killed mid-write) that were dropped. */
  readonly droppedBytes: number;
  /** True when the signal stopped the run before the last prompt. */
  readonly interrupted: boolean;
}

/** One row of the output. */
export interface PreferenceRow {
  readonly prompt: string | readonly ChatMessage[];
  readonly chosen: string | readonly ChatMessage[];
  readonly rejected: string | readonly ChatMessage[];
  readonly meta: PairMeta;
}

export interface PairMeta {
  /** The prompt's position among the prompts of the file (blank lines not counted). */
  readonly index: number;
  /** The run's seed (this prompt sampled with `${seed}:${index}`). */
  readonly seed: number;
  readonly alpha: number;
  readonly maxTokens: number;
  readonly methods: { readonly chosen: RuleSpec; readonly rejected: RuleSpec };
  /** DPO implicit reward β·Σ(log p_dpo − log p_sft) of each response. */
  readonly implicitReward: { readonly chosen: number; readonly rejected: number };
  readonly beta: number;
  readonly tokens: { readonly chosen: number; readonly rejected: number };
  readonly stoppedBy: { readonly chosen: StopReason; readonly rejected: StopReason };
  readonly models: Readonly<Partial<Record<ModelFileRole, { readonly file: string; readonly sha256: string }>>>;
}

/** Generates the pairs, appending to `out`; see the module comment. */
export async function generatePreferencePairs(options: PairsOptions): Promise<PairsResult> {
  const settings = resolveSettings(options);
  const records = options.prompts ?? (await readPrompts(options.promptsFile));
  const total = options.limit === undefined ? records.length : Math.min(options.limit, records.length);
  const run: RunSettings = { ...settings, models: await modelProvenance(options.pair.info.files, options.modelHashes) };
  const log = await openRowLog(options.out);
  try {
    const resumedAt = resumePoint(log, (index) => records[index], run);
    let written = 0;
    let skippedEqual = 0;
    const progress = (done: number): PairsProgress => ({ done, total, written, skippedEqual, resumedAt });
    let index = Math.min(resumedAt, total);
    options.onProgress?.(progress(index));
    const runRow = options.runRow ?? ((decode) => decode());
    for (; index < total; index++) {
      if (options.signal?.aborted === true) break;
      const record = records[index]!;
      const at = index;
      let row: PreferenceRow | undefined;
      try {
        row = await runRow((rowSignal) => preferenceRow(options.pair, record, at, run, options.promptsFile, rowSignal));
      } catch (error) {
        // Read through a function: TypeScript keeps `aborted` narrowed to false from the loop's check.
        if (stoppedBy(options.signal, error)) break;
        throw error;
      }
      if (row === undefined) skippedEqual++;
      else {
        await log.append(row);
        written++;
      }
      options.onProgress?.(progress(index + 1));
    }
    return { ...progress(index), out: options.out, resumedRows: log.rows, droppedBytes: log.droppedBytes, interrupted: index < total };
  } finally {
    await log.close();
  }
}

// ---------------------------------------------------------------------------------------------

/** The run's signal has fired and `error` is its reason: the row was dropped before it started. */
function stoppedBy(signal: AbortSignal | undefined, error: unknown): boolean {
  return signal !== undefined && signal.aborted && error === signal.reason;
}

/** What a run decodes with, apart from the models: every row's meta repeats it. */
export interface Settings {
  readonly seed: number;
  readonly alpha: number;
  readonly maxTokens: number;
  readonly methods: { readonly chosen: RuleSpec; readonly rejected: RuleSpec };
}

export interface RunSettings extends Settings {
  readonly models: PairMeta["models"];
}

export type SettingsOptions = Pick<PairsOptions, "rejected" | "topP" | "temperature" | "alpha" | "maxTokens" | "seed" | "limit">;

/** The run's settings from the options (defaults filled in); option errors are thrown here, before any output is touched. */
export function resolveSettings(options: SettingsOptions): Settings {
  const { alpha, topP, temperature, maxTokens, seed } = { ...PAIRS_DEFAULTS, ...definedOnly(options) };
  const rejected = options.rejected ?? PAIRS_DEFAULTS.rejected;
  if (!(Number.isInteger(maxTokens) && maxTokens >= 1)) throw new RangeError(`maxTokens must be an integer ≥ 1, got ${maxTokens}`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit >= 0)) throw new RangeError(`limit must be an integer ≥ 0, got ${options.limit}`);
  const chosen: RuleSpec = { method: "aad", alpha };
  const rejectedSpec: RuleSpec = rejected === "greedy-dpo" ? { method: "greedy-dpo" } : { method: "sample", from: "dpo", temperature, topP };
  createRule(chosen); // option errors now, before the output is touched
  createRule(rejectedSpec);
  return { seed, alpha, maxTokens, methods: { chosen, rejected: rejectedSpec } };
}

function definedOnly(options: SettingsOptions): Partial<Pick<PairsOptions, "alpha" | "topP" | "temperature" | "maxTokens" | "seed">> {
  const picked: Record<string, number> = {};
  for (const key of ["alpha", "topP", "temperature", "maxTokens", "seed"] as const) {
    const value = options[key];
    if (value !== undefined) picked[key] = value;
  }
  return picked;
}

/** Each model file's name and SHA-256, as the rows' meta records them. */
export async function modelProvenance(files: { readonly sft: string; readonly dpo?: string; readonly dpoLora?: string }, known?: PairsOptions["modelHashes"]): Promise<PairMeta["models"]> {
  const { sft, dpo, dpoLora } = files;
  const entries = Object.entries({ sft, dpo, dpoLora }).filter((entry): entry is [ModelFileRole, string] => entry[1] !== undefined);
  const described = await Promise.all(entries.map(async ([role, path]) => [role, { file: basename(path), sha256: known?.[role] ?? (await fileSha256(path)) }] as const));
  return Object.fromEntries(described);
}

/**
 * The index of the first prompt still to do, after checking the existing rows were made the same
 * way. `promptAt` gives the run's prompt at an index (only the last row's is asked for).
 */
export function resumePoint(log: RowLog, promptAt: (index: number) => PromptRecord | undefined, settings: RunSettings): number {
  if (log.lastRow === undefined) return 0;
  if (!isPreferenceRow(log.lastRow)) {
    throw new PairsOutputError("NotPairsFile", log.path, `line ${log.rows} is not a row of \`aad pairs\` (no prompt, chosen, rejected and meta.index); choose another output file`);
  }
  const last = log.lastRow;
  const meta = last.meta;
  const differing = (["seed", "maxTokens", "methods", "models"] as const).filter((key) => JSON.stringify(meta[key]) !== JSON.stringify(settings[key]));
  if (differing.length > 0) {
    const shown = differing.map((key) => `${key}: ${JSON.stringify(meta[key])} in the file, ${JSON.stringify(settings[key])} now`).join("; ");
    throw new PairsOutputError("SettingsMismatch", log.path, `it was written with other settings (${shown}); resuming would mix two datasets. Use the same settings, or another output file`);
  }
  const record = promptAt(meta.index);
  if (record === undefined || JSON.stringify(promptField(record)) !== JSON.stringify(last.prompt)) {
    throw new PairsOutputError("PromptMismatch", log.path, `its last row is for prompt ${meta.index + 1}, which the prompts file does not hold at that position any more; use the prompts file it was made from, or another output file`);
  }
  return meta.index + 1;
}

export function isPreferenceRow(value: unknown): value is PreferenceRow {
  if (typeof value !== "object" || value === null) return false;
  const row = value as Record<string, unknown>;
  const meta = row.meta as Record<string, unknown> | null | undefined;
  return "prompt" in row && "chosen" in row && "rejected" in row && typeof meta === "object" && meta !== null && Number.isInteger(meta.index);
}

function promptField(record: PromptRecord): PreferenceRow["prompt"] {
  return record.kind === "text" ? record.prompt : record.messages;
}

function responseField(record: PromptRecord, text: string): PreferenceRow["chosen"] {
  return record.kind === "text" ? text : [{ role: "assistant", content: text }];
}

/**
 * The row for one prompt, or undefined when the two responses are the same text. The local run
 * and the queue's workers (server/src/queue) both make rows here, so a row's bytes do not depend
 * on which process made it.
 */
export async function preferenceRow(pair: ModelPair, record: PromptRecord, index: number, settings: RunSettings, promptsFile: string, signal?: AbortSignal): Promise<PreferenceRow | undefined> {
  const input = record.kind === "text" ? { prompt: record.prompt } : { messages: record.messages };
  const seed = `${settings.seed}:${index}`;
  const decode = async (method: RuleSpec): Promise<GenerateResult> => {
    try {
      return await generate(pair, { ...input, method, maxTokens: settings.maxTokens, seed, ...(signal === undefined ? {} : { signal }) });
    } catch (error) {
      if (error instanceof ModelRuntimeError && error.code === "PromptTooLong") throw new PromptFileError(promptsFile, record.line, error.message);
      throw error;
    }
  };
  const chosen = await decode(settings.methods.chosen);
  const rejected = await decode(settings.methods.rejected);
  // The chat template ends with the assistant's prefix; the response's own leading space is not content.
  const chosenText = chosen.text.trim();
  const rejectedText = rejected.text.trim();
  if (chosenText === rejectedText) return undefined;
  return {
    prompt: promptField(record),
    chosen: responseField(record, chosenText),
    rejected: responseField(record, rejectedText),
    meta: {
      index,
      seed: settings.seed,
      alpha: settings.alpha,
      maxTokens: settings.maxTokens,
      methods: settings.methods,
      implicitReward: { chosen: chosen.stats.implicitReward, rejected: rejected.stats.implicitReward },
      beta: chosen.stats.beta,
      tokens: { chosen: chosen.stats.tokens, rejected: rejected.stats.tokens },
      stoppedBy: { chosen: chosen.stoppedBy, rejected: rejected.stoppedBy },
      models: settings.models,
    },
  };
}
