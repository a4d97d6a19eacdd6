/**
 * Scoring an existing response (teacher forcing: one batch per model, the trace of every token)
 * and comparing every decoding method on one prompt.
 */
import {
  DEFAULT_ALPHA,
  DEFAULT_BETA,
  DEFAULT_TRACE_TOP_K,
  METHOD_NAMES,
  METHODS,
  summarizeTrace,
  topTokens,
  traceEntry,
  type MethodName,
  type ResponseStats,
  type RuleSpec,
  type TraceEntry,
} from "../decoding/index.ts";
import { ModelRuntimeError } from "./errors.ts";
import { generate, type GenerateRequest, type GenerateResult, type RuntimeStats } from "./generate.ts";
import { countersSince, settler } from "./lane.ts";
import type { ModelPair } from "./pair.ts";
import { formatPrompt, normalizeText, type FormattedPrompt, type PromptInput } from "./prompt.ts";
import { withTokenText } from "./token-text.ts";

export interface ScoreRequest extends PromptInput {
  /**
   * The response text as it follows the prompt — as `generate` returns it. When it does not start
   * with whitespace and the prompt does not end with whitespace, one space joins them (so "Use
   * reversed()" scores as the continuation " Use reversed()").
   *
   * Or the response as token ids, scored exactly as given: a decoder may emit a token sequence
   * that is not the tokenizer's own split of its text (AAD can pick " t" + "o" where the tokenizer
   * would write " to"), and only its ids reproduce its trace.
   */
  readonly response: string | readonly number[];
  /** Score the end of the response too (the EOS token), as a finished response. Default true. */
  readonly endWithEos?: boolean;
  /** alpha of the candidate set the trace reports. Default DEFAULT_ALPHA. */
  readonly alpha?: number;
  readonly traceTopK?: number;
  readonly beta?: number;
  readonly signal?: AbortSignal;
}

export interface ScoreResult {
  readonly text: string;
  readonly tokens: readonly TraceEntry[];
  readonly stats: ResponseStats;
  readonly runtime: RuntimeStats;
}

/** The per-token advantage of an existing response: the same trace `generate` gives, in one batch per model. */
export async function score(pair: ModelPair, request: ScoreRequest): Promise<ScoreResult> {
  const alpha = request.alpha ?? DEFAULT_ALPHA;
  const topK = request.traceTopK ?? DEFAULT_TRACE_TOP_K;
  return pair.exclusive(async () => {
    request.signal?.throwIfAborted();
    const started = performance.now();
    const model = pair.model;
    const prompt = formatPrompt(model, request);
    const response = typeof request.response === "string" ? responseTokens(pair, prompt, request.response) : validTokens(pair, request.response);
    const eos = model.tokens.eos;
    if (request.endWithEos !== false && eos !== null) response.push(eos);
    if (prompt.tokens.length + response.length - 1 > pair.info.contextSize - 1) {
      throw new ModelRuntimeError(
        "PromptTooLong",
        `Prompt and response are ${prompt.tokens.length + response.length} tokens, but the context holds ${pair.info.contextSize}: shorten them or load the pair with a larger contextSize.`,
      );
    }
    const dpo = pair.lane("dpo");
    const sft = pair.lane("sft");
    const before = { dpo: { ...dpo.counters }, sft: { ...sft.counters } };
    const [reusedDpo, reusedSft] = await Promise.all([dpo.prepare(prompt.tokens), sft.prepare(prompt.tokens)]);
    let finished = false;
    const tops = response.map(() => settler<readonly number[] | null>());
    try {
      // Position i holds the distribution of response[i]: feed the prompt's last token, then the response.
      const inputs = [prompt.tokens.at(-1)!, ...response.slice(0, -1)];
      const view = { minP: alpha, topK };
      const dpoResults = inputs.map((input, i) =>
        dpo.push(input, async (position) => {
          const known = await position.measure({ view, score: [response[i]!] });
          tops[i]!.resolve(Array.from(topTokens(known, topK).tokens));
          return known;
        }),
      );
      const sftResults = inputs.map((input, i) =>
        sft.push(input, async (position) => {
          const top = await tops[i]!.promise;
          return position.measure({ score: [...new Set([...(top ?? []), response[i]!])] });
        }),
      );
      await Promise.all([dpo.flush(), sft.flush()]);
      request.signal?.throwIfAborted();

      const entries: TraceEntry[] = [];
      const pieces = pair.tokenText.decoder();
      for (const [i, token] of response.entries()) {
        const entry = traceEntry({ dpo: (await dpoResults[i]!)!, sft: (await sftResults[i]!)! }, token, pieces.push(token), { alpha, topK, sftSkipped: false });
        entries.push(withTokenText(pair.tokenText, entry));
      }
      finished = true;
      const work = { dpo: countersSince(dpo.counters, before.dpo), sft: countersSince(sft.counters, before.sft) };
      return {
        text: entries.map((e) => e.piece).join(""),
        tokens: entries,
        stats: summarizeTrace(entries, { beta: request.beta ?? DEFAULT_BETA, elapsedMs: performance.now() - started }),
        runtime: {
          promptTokens: prompt.tokens.length,
          promptFormat: prompt.format,
          reusedPromptTokens: { dpo: reusedDpo, sft: reusedSft },
          work,
          schedule: "eager",
          trace: "exact",
        },
      };
    } finally {
      for (const top of tops) top.resolve(null);
      if (!finished) await Promise.all([dpo.abandon(), sft.abandon()]);
    }
  });
}

/**
 * The response's tokens as the model would have produced them after the prompt: the prompt and
 * response are tokenized together and the prompt's tokens taken off, so that a word at the seam
 * tokenizes as it does in running text. If the seam merges (the prompt's tokens are not a prefix),
 * the response is tokenized alone.
 */
function responseTokens(pair: ModelPair, prompt: FormattedPrompt, text: string): number[] {
  const model = pair.model;
  const response = normalizeText(model, text);
  const joiner = /^\s/.test(response) || /\s$/.test(prompt.text) || response === "" ? "" : " ";
  if (prompt.format === "jinja" || prompt.format === "raw") {
    const whole = model.tokenize(prompt.text + joiner + response, prompt.format === "jinja");
    const promptTokens = prompt.tokens[0] === model.tokens.bos && whole[0] !== model.tokens.bos ? prompt.tokens.slice(1) : prompt.tokens;
    if (promptTokens.every((token, i) => whole[i] === token)) return whole.slice(promptTokens.length);
  }
  return model.tokenize(response.trimStart(), false);
}

function validTokens(pair: ModelPair, tokens: readonly number[]): number[] {
  const size = pair.info.vocabSize;
  const bad = tokens.find((t) => !Number.isInteger(t) || t < 0 || t >= size);
  if (bad !== undefined) throw new ModelRuntimeError("UnsupportedRequest", `The response token ${bad} is not a token id of this pair (0 … ${size - 1}).`);
  return [...tokens];
}

// ---------------------------------------------------------------------------------------------

export interface CompareRequest extends Omit<GenerateRequest, "method" | "onToken" | "onTraceUpdate" | "scorer"> {
  /** Methods to run, in order; names take their defaults. Default: every method (cd only with a reference model). */
  readonly methods?: readonly (MethodName | RuleSpec)[];
}

export type CompareEntry =
  | { readonly method: MethodName; readonly spec: RuleSpec; readonly result: GenerateResult }
  | { readonly method: MethodName; readonly spec: RuleSpec; readonly skipped: string };

/** Every method on one prompt, one after the other, with the same seed. */
export async function compare(pair: ModelPair, request: CompareRequest): Promise<readonly CompareEntry[]> {
  const specs: RuleSpec[] = (request.methods ?? METHOD_NAMES).map((m) => (typeof m === "string" ? ({ method: m }) : m));
  const entries: CompareEntry[] = [];
  for (const spec of specs) {
    request.signal?.throwIfAborted();
    if (METHODS[spec.method].models.includes("reference") && !pair.hasReference) {
      entries.push({ method: spec.method, spec, skipped: "no reference model loaded (cd compares against an arbitrary reference model)" });
      continue;
    }
    entries.push({ method: spec.method, spec, result: await generate(pair, { ...request, method: spec }) });
  }
  return entries;
}
