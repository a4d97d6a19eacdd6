/**
 * Every request's params checked before anything runs: types, ranges, finiteness, sizes, unknown
 * keys. A failure is a ParamsError naming the parameter, which the daemon answers as InvalidParams.
 * (NaN cannot travel in JSON — a client's NaN arrives as null — but 1e999 parses to Infinity.)
 */
import {
  GPU_CHOICES,
  METHOD_NAMES,
  type ChatMessage,
  type CompareParams,
  type ConfigureParams,
  type DecodingParams,
  type GenerateParams,
  type GenerationLimits,
  type InlineCompletionSettings,
  type LoadBuiltinPairParams,
  type LoadPairParams,
  type MethodName,
  type PairsParams,
  type PromptParams,
  type ScoreParams,
} from "../protocol/protocol.ts";

export class ParamsError extends Error {
  override readonly name = "ParamsError";
  constructor(
    /** The parameter at fault, as a path (`messages[2].content`); "" for the params themselves. */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export const LIMITS = {
  promptChars: 1_000_000,
  messages: 1_000,
  pathChars: 4_096,
  stopStrings: 16,
  stopChars: 256,
  maxTokens: 4_096,
  traceTopK: 64,
  bestOfN: 16,
  contextSize: 1 << 20,
  inlineMaxTokens: 256,
  inlineTimeBudgetMs: 30_000,
  inlineContextChars: 100_000,
  inlineContextTokens: 32_768,
  inlineContextChunks: 64,
  inlineContextChunkLines: 1024,
} as const;

type Fields = Readonly<Record<string, unknown>>;

/** Reads one params object, remembering which keys were read so the rest can be refused. */
class Reader {
  private readonly read = new Set<string>();
  private readonly fields: Fields;

  constructor(
    value: unknown,
    private readonly path: string,
    what: string,
  ) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new ParamsError(path, `${what} must be an object${path === "" ? "" : ` (${path})`}, got ${describe(value)}`);
    }
    this.fields = value as Fields;
  }

  field(key: string): string {
    return this.path === "" ? key : `${this.path}.${key}`;
  }

  raw(key: string): unknown {
    this.read.add(key);
    return this.fields[key];
  }

  string(key: string, options: { maxLength: number; nonEmpty?: boolean; noNul?: boolean }): string | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    return checkString(value, this.field(key), options);
  }

  requiredString(key: string, options: { maxLength: number; nonEmpty?: boolean; noNul?: boolean }): string {
    const value = this.string(key, options);
    if (value === undefined) throw new ParamsError(this.field(key), `"${this.field(key)}" is required`);
    return value;
  }

  number(key: string, range: NumberRange): number | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    return checkNumber(value, this.field(key), range);
  }

  boolean(key: string): boolean | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value !== "boolean") throw new ParamsError(this.field(key), `"${this.field(key)}" must be true or false, got ${describe(value)}`);
    return value;
  }

  choice<const C extends string>(key: string, choices: readonly C[]): C | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    return checkChoice(value, this.field(key), choices);
  }

  /** Refuses keys nobody read: a typo (`maxtokens`) should fail loudly, not be ignored. */
  done(allowed: readonly string[] = []): void {
    for (const key of Object.keys(this.fields)) {
      if (this.read.has(key) || allowed.includes(key)) continue;
      const known = [...this.read, ...allowed];
      const near = known.find((name) => name.toLowerCase() === key.toLowerCase());
      throw new ParamsError(this.field(key), `unknown parameter "${this.field(key).slice(0, 80)}"${near === undefined ? `; expected one of ${known.join(", ")}` : ` (did you mean "${near}"?)`}`);
    }
  }
}

interface NumberRange {
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
  /** min itself is not allowed. */
  readonly exclusiveMin?: boolean;
}

function checkNumber(value: unknown, field: string, range: NumberRange): number {
  const kind = range.integer === true ? "an integer" : "a number";
  const interval = `${range.exclusiveMin === true ? "(" : "["}${range.min}, ${range.max}]`;
  if (typeof value !== "number") throw new ParamsError(field, `"${field}" must be ${kind} in ${interval}, got ${describe(value)}`);
  if (!Number.isFinite(value)) throw new ParamsError(field, `"${field}" must be a finite number, got ${value}`);
  if (range.integer === true && !Number.isInteger(value)) throw new ParamsError(field, `"${field}" must be an integer, got ${value}`);
  if (value < range.min || value > range.max || (range.exclusiveMin === true && value === range.min)) {
    throw new ParamsError(field, `"${field}" must lie in ${interval}, got ${value}`);
  }
  return value;
}

function checkString(value: unknown, field: string, options: { maxLength: number; nonEmpty?: boolean; noNul?: boolean }): string {
  if (typeof value !== "string") throw new ParamsError(field, `"${field}" must be a string, got ${describe(value)}`);
  if (value.length > options.maxLength) {
    throw new ParamsError(field, `"${field}" is ${value.length.toLocaleString("en")} characters long; at most ${options.maxLength.toLocaleString("en")} are accepted`);
  }
  if (options.nonEmpty === true && value.length === 0) throw new ParamsError(field, `"${field}" must not be empty`);
  if (options.noNul === true && value.includes("\0")) throw new ParamsError(field, `"${field}" contains a NUL character`);
  return value;
}

function checkChoice<const C extends string>(value: unknown, field: string, choices: readonly C[]): C {
  if (typeof value !== "string" || !(choices as readonly string[]).includes(value)) {
    throw new ParamsError(field, `"${field}" must be one of ${choices.map((c) => JSON.stringify(c)).join(", ")}, got ${describe(value)}`);
  }
  return value as C;
}

/** A short, safe rendering of a wrong value for an error message. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  switch (typeof value) {
    case "string":
      return value.length > 40 ? `a string of ${value.length.toLocaleString("en")} characters` : JSON.stringify(value);
    case "number":
    case "boolean":
      return String(value);
    case "object":
      return "an object";
    case "undefined":
      return "nothing";
    default:
      return typeof value;
  }
}

// ---------------------------------------------------------------------------------------------

const PATH = { maxLength: LIMITS.pathChars, nonEmpty: true, noNul: true } as const;
const PARTIAL_RESULT_KEYS = ["partialResultToken", "workDoneToken"] as const;

export function parseLoadPair(value: unknown): LoadPairParams {
  const r = new Reader(value, "", "aad/loadPair params");
  const sft = r.requiredString("sft", PATH);
  const dpo = r.string("dpo", PATH);
  const dpoLora = r.string("dpoLora", PATH);
  if ((dpo === undefined) === (dpoLora === undefined)) {
    throw new ParamsError(dpo === undefined ? "dpo" : "dpoLora", dpo === undefined ? `give the DPO model as "dpo" (a GGUF model) or "dpoLora" (a GGUF LoRA adapter over "sft")` : `give either "dpo" or "dpoLora", not both`);
  }
  const reference = r.string("reference", PATH);
  const contextSize = r.number("contextSize", { min: 16, max: LIMITS.contextSize, integer: true });
  const rawGpu = r.raw("gpu");
  const gpu = rawGpu === undefined ? undefined : checkChoice(rawGpu, "gpu", GPU_CHOICES);
  let gpuLayers: LoadPairParams["gpuLayers"];
  const rawGpuLayers = r.raw("gpuLayers");
  if (typeof rawGpuLayers === "string") gpuLayers = checkChoice(rawGpuLayers, "gpuLayers", ["auto", "max"]);
  else if (rawGpuLayers !== undefined) gpuLayers = checkNumber(rawGpuLayers, "gpuLayers", { min: 0, max: 100_000, integer: true });
  if (gpu === "off" && gpuLayers !== undefined && gpuLayers !== 0) throw new ParamsError("gpuLayers", `"gpu": "off" runs on the CPU: leave out "gpuLayers" or pick a backend`);
  r.done();
  return { sft, ...(dpo === undefined ? {} : { dpo }), ...(dpoLora === undefined ? {} : { dpoLora }), ...optional({ reference, contextSize, gpu, gpuLayers }) };
}

export function parseLoadBuiltinPair(value: unknown): LoadBuiltinPairParams {
  const r = new Reader(value ?? {}, "", "aad/loadBuiltinPair params");
  const form = r.choice("form", ["two-models", "lora"]);
  const reference = r.boolean("reference");
  const contextSize = r.number("contextSize", { min: 16, max: LIMITS.contextSize, integer: true });
  r.done();
  return optional({ form, reference, contextSize });
}

function parsePrompt(r: Reader, method: string): PromptParams {
  const prompt = r.string("prompt", { maxLength: LIMITS.promptChars });
  const rawMessages = r.raw("messages");
  if ((prompt === undefined) === (rawMessages === undefined)) {
    throw new ParamsError("prompt", prompt === undefined ? `${method} needs a "prompt" string or chat "messages"` : `give either "prompt" or "messages", not both`);
  }
  if (prompt !== undefined) return { prompt };
  if (!Array.isArray(rawMessages)) throw new ParamsError("messages", `"messages" must be an array of {role, content}, got ${describe(rawMessages)}`);
  if (rawMessages.length === 0) throw new ParamsError("messages", `"messages" must not be empty`);
  if (rawMessages.length > LIMITS.messages) throw new ParamsError("messages", `"messages" has ${rawMessages.length} entries; at most ${LIMITS.messages} are accepted`);
  let total = 0;
  const messages = rawMessages.map((item: unknown, i): ChatMessage => {
    const m = new Reader(item, `messages[${i}]`, `messages[${i}]`);
    const role = m.choice("role", ["system", "user", "assistant"]);
    if (role === undefined) throw new ParamsError(m.field("role"), `"${m.field("role")}" is required`);
    const content = m.requiredString("content", { maxLength: LIMITS.promptChars });
    m.done();
    total += content.length;
    if (total > LIMITS.promptChars) throw new ParamsError("messages", `the messages hold more than ${LIMITS.promptChars.toLocaleString("en")} characters in all`);
    return { role, content };
  });
  return { messages };
}

function parseDecoding(r: Reader, withMethod: boolean): DecodingParams {
  const method = withMethod ? r.choice("method", METHOD_NAMES) : undefined;
  return optional({
    method,
    alpha: r.number("alpha", { min: 0, max: 1 }),
    lambda: r.number("lambda", { min: -100, max: 100 }),
    temperature: r.number("temperature", { min: 0, max: 100 }),
    topP: r.number("topP", { min: 0, max: 1, exclusiveMin: true }),
    topK: r.number("topK", { min: 0, max: 1 << 20, integer: true }),
    from: r.choice("from", ["dpo", "sft"]),
    n: r.number("n", { min: 1, max: LIMITS.bestOfN, integer: true }),
    beta: r.number("beta", { min: 0, max: 1000, exclusiveMin: true }),
  });
}

function parseLimits(r: Reader): GenerationLimits {
  const rawStop = r.raw("stop");
  let stop: string[] | undefined;
  if (rawStop !== undefined) {
    if (!Array.isArray(rawStop)) throw new ParamsError("stop", `"stop" must be an array of strings, got ${describe(rawStop)}`);
    if (rawStop.length > LIMITS.stopStrings) throw new ParamsError("stop", `"stop" has ${rawStop.length} strings; at most ${LIMITS.stopStrings} are accepted`);
    stop = rawStop.map((s: unknown, i) => checkString(s, `stop[${i}]`, { maxLength: LIMITS.stopChars, nonEmpty: true }));
  }
  return optional({
    maxTokens: r.number("maxTokens", { min: 1, max: LIMITS.maxTokens, integer: true }),
    stop,
    seed: r.number("seed", { min: 0, max: 2 ** 32 - 1, integer: true }),
    raw: r.boolean("raw"),
    traceTopK: r.number("traceTopK", { min: 1, max: LIMITS.traceTopK, integer: true }),
  });
}

function parsePartialResultToken(r: Reader): { partialResultToken?: string | number } {
  const token = r.raw("partialResultToken");
  if (token === undefined) return {};
  if (typeof token === "string" && token.length <= 256) return { partialResultToken: token };
  if (typeof token === "number" && Number.isSafeInteger(token)) return { partialResultToken: token };
  throw new ParamsError("partialResultToken", `"partialResultToken" must be a string (at most 256 characters) or an integer, got ${describe(token)}`);
}

function checkRawWithMessages(prompt: PromptParams, raw: boolean | undefined): void {
  if (raw === true && prompt.messages !== undefined) throw new ParamsError("raw", `"raw" continues a plain "prompt"; it cannot be used with "messages"`);
}

export function parseGenerate(value: unknown): GenerateParams {
  const r = new Reader(value, "", "aad/generate params");
  const prompt = parsePrompt(r, "aad/generate");
  const decoding = parseDecoding(r, true);
  const limits = parseLimits(r);
  const priority = r.choice("priority", ["interactive", "batch"]);
  const schedule = r.choice("schedule", ["eager", "lazy", "background"]);
  const trace = r.choice("trace", ["exact", "picks"]);
  const token = parsePartialResultToken(r);
  r.done(PARTIAL_RESULT_KEYS);
  checkRawWithMessages(prompt, limits.raw);
  return { ...prompt, ...decoding, ...limits, ...optional({ priority, schedule, trace }), ...token };
}

export function parseCompare(value: unknown): CompareParams {
  const r = new Reader(value, "", "aad/compare params");
  const prompt = parsePrompt(r, "aad/compare");
  const decoding = parseDecoding(r, false);
  const limits = parseLimits(r);
  const rawMethods = r.raw("methods");
  let methods: MethodName[] | undefined;
  if (rawMethods !== undefined) {
    if (!Array.isArray(rawMethods) || rawMethods.length === 0) throw new ParamsError("methods", `"methods" must be a non-empty array of method names, got ${describe(rawMethods)}`);
    if (rawMethods.length > METHOD_NAMES.length * 2) throw new ParamsError("methods", `"methods" has ${rawMethods.length} entries; at most ${METHOD_NAMES.length * 2} are accepted`);
    methods = rawMethods.map((m: unknown, i) => checkChoice(m, `methods[${i}]`, METHOD_NAMES));
  }
  const token = parsePartialResultToken(r);
  r.done(PARTIAL_RESULT_KEYS);
  checkRawWithMessages(prompt, limits.raw);
  return { ...prompt, ...decoding, ...limits, ...optional({ methods }), ...token };
}

export function parseScore(value: unknown): ScoreParams {
  const r = new Reader(value, "", "aad/score params");
  const prompt = parsePrompt(r, "aad/score");
  const response = r.requiredString("response", { maxLength: LIMITS.promptChars });
  const raw = r.boolean("raw");
  const alpha = r.number("alpha", { min: 0, max: 1 });
  const beta = r.number("beta", { min: 0, max: 1000, exclusiveMin: true });
  const traceTopK = r.number("traceTopK", { min: 1, max: LIMITS.traceTopK, integer: true });
  r.done(PARTIAL_RESULT_KEYS);
  checkRawWithMessages(prompt, raw);
  return { ...prompt, response, ...optional({ raw, alpha, beta, traceTopK }) };
}

export function parsePairs(value: unknown): PairsParams {
  const r = new Reader(value, "", "aad/pairs params");
  const promptsFile = r.requiredString("promptsFile", PATH);
  const out = r.requiredString("out", PATH);
  if (!out.toLowerCase().endsWith(".jsonl")) throw new ParamsError("out", `"out" must name a .jsonl file, got ${describe(out)}`);
  const settings = optional({
    rejected: r.choice("rejected", ["sample", "greedy-dpo"]),
    topP: r.number("topP", { min: 0, max: 1, exclusiveMin: true }),
    temperature: r.number("temperature", { min: 0, max: 100 }),
    alpha: r.number("alpha", { min: 0, max: 1, exclusiveMin: true }),
    maxTokens: r.number("maxTokens", { min: 1, max: LIMITS.maxTokens, integer: true }),
    limit: r.number("limit", { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true }),
    seed: r.number("seed", { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, integer: true }),
  });
  const token = r.raw("workDoneToken");
  let workDoneToken: string | number | undefined;
  if (token !== undefined) {
    if ((typeof token === "string" && token.length <= 256) || (typeof token === "number" && Number.isSafeInteger(token))) workDoneToken = token;
    else throw new ParamsError("workDoneToken", `"workDoneToken" must be a string (at most 256 characters) or an integer, got ${describe(token)}`);
  }
  r.done(["partialResultToken"]);
  return { promptsFile, out, ...settings, ...optional({ workDoneToken }) };
}

export function parseInlineSettings(value: unknown, path: string): InlineCompletionSettings {
  const r = new Reader(value, path, path);
  const method = r.choice("method", METHOD_NAMES.filter((m): m is Exclude<MethodName, "best-of-n"> => m !== "best-of-n"));
  const settings = optional({
    method,
    alpha: r.number("alpha", { min: 0, max: 1 }),
    maxTokens: r.number("maxTokens", { min: 1, max: LIMITS.inlineMaxTokens, integer: true }),
    timeBudgetMs: r.number("timeBudgetMs", { min: 1, max: LIMITS.inlineTimeBudgetMs, integer: true }),
    stopAt: r.choice("stopAt", ["line", "block", "none"]),
    fim: r.boolean("fim"),
    maxPrefixChars: r.number("maxPrefixChars", { min: 0, max: LIMITS.inlineContextChars, integer: true }),
    maxSuffixChars: r.number("maxSuffixChars", { min: 0, max: LIMITS.inlineContextChars, integer: true }),
    prefixTokens: r.number("prefixTokens", { min: 1, max: LIMITS.inlineContextTokens, integer: true }),
    suffixTokens: r.number("suffixTokens", { min: 0, max: LIMITS.inlineContextTokens, integer: true }),
    contextChunks: r.number("contextChunks", { min: 0, max: LIMITS.inlineContextChunks, integer: true }),
    contextChunkLines: r.number("contextChunkLines", { min: 1, max: LIMITS.inlineContextChunkLines, integer: true }),
    chunkTokens: r.number("chunkTokens", { min: 0, max: LIMITS.inlineContextTokens, integer: true }),
  });
  r.done();
  return settings;
}

export function parseConfigure(value: unknown): ConfigureParams {
  const r = new Reader(value, "", "aad/configure params");
  const raw = r.raw("inlineCompletion");
  r.done();
  return raw === undefined ? {} : { inlineCompletion: parseInlineSettings(raw, "inlineCompletion") };
}

/** `initializationOptions` are optional and may be anything a generic client sends: only our key is read. */
export function parseInitializationOptions(value: unknown): InlineCompletionSettings | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const raw = (value as Fields)["inlineCompletion"];
  return raw === undefined ? undefined : parseInlineSettings(raw, "initializationOptions.inlineCompletion");
}

export interface InlineCompletionRequest {
  readonly uri: string;
  readonly line: number;
  readonly character: number;
}

/** The parts of LSP's InlineCompletionParams the daemon reads; the rest (context, tokens) is accepted as is. */
export function parseInlineCompletion(value: unknown): InlineCompletionRequest {
  const r = new Reader(value, "", "textDocument/inlineCompletion params");
  const document = new Reader(r.raw("textDocument"), "textDocument", "textDocument");
  const uri = document.requiredString("uri", { maxLength: LIMITS.pathChars * 2, nonEmpty: true });
  const position = new Reader(r.raw("position"), "position", "position");
  const line = position.number("line", { min: 0, max: 2 ** 31 - 1, integer: true });
  const character = position.number("character", { min: 0, max: 2 ** 31 - 1, integer: true });
  if (line === undefined || character === undefined) throw new ParamsError("position", `"position" needs "line" and "character"`);
  return { uri, line, character };
}

/** Drops the undefined entries, so optional params stay absent rather than present-but-undefined. */
function optional<T extends Record<string, unknown>>(fields: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
