/**
 * The decoding loop: drives a pure rule from server/src/decoding over a model pair, one token at
 * a time, and records the trace.
 *
 * Each step asks the model the rule reads (`needs.view`) for its view — a prefix of its ranking
 * with exact log-probabilities — asks the rule which tokens the second model must score, fetches
 * those only if there are any, and lets the rule pick. The trace wants log p_sft of every token
 * whatever the rule (unless `traceSft: false`), so the SFT model is evaluated at every position;
 * the schedule decides when:
 *
 * - "eager" (default): at every step, concurrently with the DPO model, and the step waits for it.
 *   It does the most work (21 % of AAD steps on the bench pair have one candidate and would not
 *   need SFT) but overlaps the two models on two cores, and was the fastest or tied in every
 *   interleaved run of bench/speed.ts, idle or loaded; every entry streams complete.
 * - "lazy": only when a pick needs it. A step whose candidate set is a single token is
 *   decided by the DPO model alone; its SFT position is queued and evaluated later, in ONE batch
 *   with the other queued positions, when a later step needs SFT log-probabilities or the response
 *   ends. Such entries reach `onToken` with the SFT numbers null (`sftSkipped: true`) and again
 *   through `onTraceUpdate`, complete, once their batch ran; the result holds complete entries.
 * - "background": every step's SFT position is queued at once and the SFT model works through its
 *   queue whenever it is idle, in batches of whatever accumulated; a step waits only when its pick
 *   needs the SFT numbers. A spare core then absorbs the reference model's cost. Its batches
 *   depend on thread timing, so its log-probs (not its picks) vary in the 7th digit from run to
 *   run: a resumed `aad pairs` file would no longer equal an uninterrupted run's byte for byte.
 *   "eager" and "lazy" are deterministic.
 *
 * Under "eager" and "background" the SFT position's anchor (its one full-vocabulary pass, see
 * step-logprobs.ts) starts as soon as its logits exist, before the DPO view decides what else to
 * measure there, so it overlaps the DPO model's own sampling instead of following it.
 *
 * All three give the same picks. The numbers agree to float rounding (a position evaluated in a
 * batch and alone differ by ~1e-6 in log space, even with an F32 KV cache).
 */
import {
  createRule,
  createRng,
  DEFAULT_ALPHA,
  DEFAULT_BETA,
  DEFAULT_TRACE_TOP_K,
  logprobOf,
  picksOnlyEntry,
  selectBestOfN,
  selectBestOfNBy,
  summarizeTrace,
  topTokens,
  traceEntry,
  type DecodingRule,
  type MethodName,
  type ResponseScorer,
  type ResponseStats,
  type Rng,
  type RuleSpec,
  type SequenceRule,
  type StepInput,
  type TraceEntry,
} from "../decoding/index.ts";
import type { Token } from "node-llama-cpp";
import { ModelRuntimeError } from "./errors.ts";
import { countersSince, settler, type LaneCounters, type ModelLane } from "./lane.ts";
import type { ModelPair, ModelRole } from "./pair.ts";
import { formatPrompt, type FormattedPrompt, type PromptInput } from "./prompt.ts";
import { withTokenText, type PieceDecoder } from "./token-text.ts";
import type { StepLogprobs, StepRequest, ViewRequest } from "./step-logprobs.ts";

export const DEFAULT_MAX_TOKENS = 256;

export type Schedule = "eager" | "lazy" | "background";

export type TraceMode = "exact" | "picks";

/** Deterministic (the same request gives the same bytes) and the fastest measured; see above. */
export const DEFAULT_SCHEDULE: Schedule = "eager";

export interface GenerateRequest extends PromptInput {
  /** The decoding method and its options. Default `{ method: "aad" }`. */
  readonly method?: RuleSpec;
  /** At most this many tokens (fewer when the context fills). Default DEFAULT_MAX_TOKENS. */
  readonly maxTokens?: number;
  /** Stop when the text contains one of these; the text ends before it. */
  readonly stop?: readonly string[];
  /** Seeds the project Rng every sampling rule draws from. Default 0. */
  readonly seed?: number | string;
  /** How many of the DPO model's top tokens each trace entry shows. Default DEFAULT_TRACE_TOP_K. */
  readonly traceTopK?: number;
  /** Scales the implicit reward in the stats (and best-of-n's choice). Default: the method's beta, else DEFAULT_BETA. */
  readonly beta?: number;
  /** When the SFT model is evaluated; see the module comment. Default DEFAULT_SCHEDULE ("eager"). */
  readonly schedule?: Schedule;
  /**
   * Give every trace entry its SFT numbers (default true). false: only the steps whose pick needs
   * the SFT model get them (the others keep `logprobSft` null), and one-model rules (greedy-dpo,
   * sampling from the DPO model) never run the SFT model — the fastest way to decode.
   */
  readonly traceSft?: boolean;
  /**
   * What the trace reports. "exact" (default): every entry's log-probabilities, advantages and top
   * tokens. "picks": only what the picks need is computed — one native pass per model and step,
   * no normaliser, no SFT model where the pick does not need it — and entries carry no numbers
   * (log-probabilities and advantages null, no top tokens; the candidate set, the pick's rank
   * and the text are exact). For callers that show only the text: inline completions, the CLI's
   * plain output. Best-of-n always decodes "exact" (its choice sums the numbers).
   */
  readonly trace?: TraceMode;
  /** Best-of-n only: choose by this scorer instead of the DPO implicit reward. */
  readonly scorer?: ResponseScorer<GenerateResult>;
  /** Checked every step: an abort rejects with the signal's reason within one step. */
  readonly signal?: AbortSignal;
  /**
   * Each token as soon as it is picked, in order. Under the lazy schedules an entry may come with
   * `logprobSft` null and `sftSkipped` true; `onTraceUpdate` then delivers it complete. Best-of-n
   * delivers the chosen response's entries once it is chosen.
   */
  readonly onToken?: (entry: TraceEntry, index: number) => void;
  /** A previously delivered entry, now with its SFT numbers. */
  readonly onTraceUpdate?: (entry: TraceEntry, index: number) => void;
  /**
   * The prompt as the models hold it, once their KV caches are prepared and before the first
   * token: a caller that stops decoding early (inline completion's stop rules) still learns how
   * much of the prompt was evaluated.
   */
  readonly onPrompt?: (prompt: PromptReport) => void;
}

/** What the models were given and how much of it each took from its KV cache. */
export interface PromptReport {
  readonly format: string;
  readonly promptTokens: number;
  readonly reusedPromptTokens: Readonly<Partial<Record<ModelRole, number>>>;
  /** Where the prompt holds special tokens (FIM markers, BOS, template tokens): index and name. */
  readonly specialTokens: readonly { readonly index: number; readonly text: string }[];
}

export type StopReason = "eos" | "stop" | "max-tokens" | "context";

export interface RuntimeStats {
  readonly promptTokens: number;
  readonly promptFormat: string;
  /** Prompt tokens each model took from its KV cache instead of evaluating them. */
  readonly reusedPromptTokens: Readonly<Partial<Record<ModelRole, number>>>;
  /** Work each model did for this response. */
  readonly work: Readonly<Partial<Record<ModelRole, LaneCounters>>>;
  readonly schedule: Schedule;
  readonly trace: TraceMode;
}

export interface CandidateSummary {
  readonly text: string;
  readonly tokens: number;
  readonly score: number;
  readonly implicitReward: number;
  readonly stoppedBy: StopReason;
}

/** The end-of-generation token a response stopped on (any of the model's set, not only its EOS). */
export interface StopToken {
  readonly token: number;
  /** Its text, e.g. "<|eom_id|>". */
  readonly text: string;
}

export interface GenerateResult {
  readonly method: MethodName;
  readonly text: string;
  readonly tokens: readonly TraceEntry[];
  readonly stats: ResponseStats;
  readonly stoppedBy: StopReason;
  /** Set when stoppedBy is "eos": which end-of-generation token (also the last trace entry). */
  readonly stopToken?: StopToken;
  readonly runtime: RuntimeStats;
  /** Best-of-n: every candidate, in the order drawn, and which one was chosen. */
  readonly candidates?: readonly CandidateSummary[];
  readonly chosen?: number;
}

/** Generates one response. Requests on one pair run one at a time. */
export async function generate(pair: ModelPair, request: GenerateRequest): Promise<GenerateResult> {
  const spec: RuleSpec = request.method ?? { method: "aad" };
  const rule = createRule(spec); // option errors now, not mid-response
  return pair.exclusive(async () => {
    const prompt = formatPrompt(pair.model, request);
    const settings = resolveSettings(pair, spec, rule, request, prompt);
    const rng = createRng(request.seed ?? 0);
    if (isSequenceRule(rule)) return bestOfN(pair, rule, prompt, settings, rng, request);
    const run = await decodeResponse(pair, rule, prompt, settings, rng, request);
    return { method: rule.method, ...run };
  });
}

// ---------------------------------------------------------------------------------------------

interface Settings {
  readonly maxTokens: number;
  /** Tokens the context leaves for the response. */
  readonly room: number;
  readonly stop: readonly string[];
  readonly traceTopK: number;
  /** alpha of the candidate set the trace reports. */
  readonly traceAlpha: number;
  readonly beta: number;
  readonly schedule: Schedule;
  readonly traceSft: boolean;
  readonly trace: TraceMode;
  readonly signal: AbortSignal | undefined;
}

function resolveSettings(pair: ModelPair, spec: RuleSpec, rule: DecodingRule, request: GenerateRequest, prompt: FormattedPrompt): Settings {
  const maxTokens = request.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!(Number.isInteger(maxTokens) && maxTokens >= 0)) throw new RangeError(`maxTokens must be an integer ≥ 0, got ${maxTokens}`);
  const traceTopK = request.traceTopK ?? DEFAULT_TRACE_TOP_K;
  if (!(Number.isInteger(traceTopK) && traceTopK >= 1)) throw new RangeError(`traceTopK must be an integer ≥ 1, got ${traceTopK}`);
  const contextSize = pair.info.contextSize;
  if (prompt.tokens.length > contextSize - 1) {
    throw new ModelRuntimeError("PromptTooLong", `The prompt is ${prompt.tokens.length} tokens, but the context holds ${contextSize}: shorten it or load the pair with a larger contextSize.`);
  }
  const specAlpha = "alpha" in spec ? spec.alpha : undefined;
  const beta = request.beta ?? ("beta" in spec && spec.beta !== undefined ? spec.beta : DEFAULT_BETA);
  if (rule.needs.scoredBy === "reference" && !pair.hasReference) pair.lane("reference"); // throws the explanatory error
  const trace = request.trace ?? "exact";
  if (!(["exact", "picks"] as unknown[]).includes(trace)) throw new RangeError(`trace must be "exact" or "picks", got ${JSON.stringify(trace)}`);
  return {
    maxTokens,
    // n generated tokens feed n − 1 of them back: prompt + n − 1 ≤ contextSize − 1.
    room: contextSize - prompt.tokens.length,
    stop: (request.stop ?? []).filter((s) => s.length > 0),
    traceTopK,
    traceAlpha: specAlpha !== undefined && specAlpha > 0 ? specAlpha : DEFAULT_ALPHA,
    beta,
    schedule: request.schedule ?? DEFAULT_SCHEDULE,
    // Picks-only entries carry no SFT numbers, so the SFT model runs only where a pick needs it.
    traceSft: trace === "exact" && (request.traceSft ?? true),
    trace,
    signal: request.signal,
  };
}

function isSequenceRule(rule: DecodingRule): rule is SequenceRule {
  return "n" in rule;
}

interface ResponseRun {
  readonly text: string;
  readonly tokens: readonly TraceEntry[];
  readonly stats: ResponseStats;
  readonly stoppedBy: StopReason;
  readonly stopToken?: StopToken;
  readonly runtime: RuntimeStats;
}

interface Hooks {
  readonly onToken?: (entry: TraceEntry, index: number) => void;
  readonly onTraceUpdate?: (entry: TraceEntry, index: number) => void;
  readonly onPrompt?: (prompt: PromptReport) => void;
}

/** One response of a per-step rule. */
async function decodeResponse(pair: ModelPair, rule: DecodingRule, prompt: FormattedPrompt, settings: Settings, rng: Rng, hooks: Hooks): Promise<ResponseRun> {
  const run = new ResponseDecoder(pair, rule, prompt, settings, rng, hooks);
  return run.decode();
}

/** A promise the loop settles later; every open one is settled with null if the run ends early. */
type Ask<T> = ReturnType<typeof settler<T | null>>;

class ResponseDecoder {
  readonly #pair: ModelPair;
  readonly #rule: DecodingRule;
  readonly #prompt: FormattedPrompt;
  readonly #settings: Settings;
  readonly #rng: Rng;
  readonly #hooks: Hooks;
  readonly #lanes: { readonly dpo: ModelLane; readonly sft?: ModelLane; readonly reference?: ModelLane };
  readonly #open = new Set<Ask<unknown>>();
  readonly #entries: TraceEntry[] = [];
  readonly #updates: Promise<void>[] = [];
  /** Pieces exactly as the tokens' bytes decode (token-text.ts), in pick order. */
  readonly #pieces: PieceDecoder;

  constructor(pair: ModelPair, rule: DecodingRule, prompt: FormattedPrompt, settings: Settings, rng: Rng, hooks: Hooks) {
    this.#pair = pair;
    this.#rule = rule;
    this.#prompt = prompt;
    this.#settings = settings;
    this.#rng = rng;
    this.#hooks = hooks;
    const needsSft = settings.traceSft || rule.needs.view === "sft" || rule.needs.scoredBy === "sft";
    this.#lanes = {
      dpo: pair.lane("dpo"),
      ...(needsSft ? { sft: pair.lane("sft") } : {}),
      ...(rule.needs.scoredBy === "reference" ? { reference: pair.lane("reference") } : {}),
    };
    this.#pieces = pair.tokenText.decoder();
  }

  async decode(): Promise<ResponseRun> {
    const { signal, schedule } = this.#settings;
    signal?.throwIfAborted();
    const lanes = this.#laneList();
    const before = new Map(lanes.map(([role, lane]) => [role, { ...lane.counters }] as const));
    const started = performance.now();
    let finished = false;
    try {
      const reused = await Promise.all(lanes.map(async ([role, lane]) => [role, await lane.prepare(this.#prompt.tokens)] as const));
      if (this.#hooks.onPrompt !== undefined) {
        const specialTokens = this.#prompt.tokens.flatMap((token, index) => {
          const text = this.#pair.tokenText.special(token);
          return text === undefined ? [] : [{ index, text }];
        });
        this.#hooks.onPrompt({ format: this.#prompt.format, promptTokens: this.#prompt.tokens.length, reusedPromptTokens: Object.fromEntries(reused), specialTokens });
      }
      for (const [role, lane] of lanes) lane.autoFlush = schedule === "background" && role !== "dpo";

      let text = "";
      let stoppedBy: StopReason = "max-tokens";
      let stopToken: StopToken | undefined;
      let last = this.#prompt.tokens.at(-1)!;
      const limit = Math.min(this.#settings.maxTokens, this.#settings.room);
      while (this.#entries.length < limit) {
        signal?.throwIfAborted();
        const index = this.#entries.length;
        const pick = this.#rule.needs.view === "dpo" ? await this.#stepFromDpo(last, index) : await this.#stepFromSft(last, index);
        // Any token of the model's end-of-generation set ends the response, whichever rule picked it.
        if (this.#pair.model.isEogToken(pick as Token)) {
          stoppedBy = "eos";
          stopToken = { token: pick, text: this.#pair.tokenText.special(pick) ?? "" };
          break;
        }
        text += this.#entries[index]!.piece;
        const cut = stopAt(text, this.#settings.stop);
        if (cut !== undefined) {
          text = text.slice(0, cut);
          stoppedBy = "stop";
          break;
        }
        last = pick;
      }
      if (stoppedBy === "max-tokens" && this.#entries.length < this.#settings.maxTokens) stoppedBy = "context";

      // Complete the trace: the SFT positions still queued, in one batch.
      await this.#lanes.sft?.flush();
      await Promise.all(this.#updates);
      const elapsedMs = performance.now() - started;
      const work = Object.fromEntries(lanes.map(([role, lane]) => [role, countersSince(lane.counters, before.get(role)!)])) as Partial<Record<ModelRole, LaneCounters>>;
      finished = true;
      return {
        text,
        tokens: [...this.#entries],
        stats: summarizeTrace(this.#entries, { beta: this.#settings.beta, elapsedMs, sftStepsBatched: work.sft?.batchedPositions ?? 0 }),
        stoppedBy,
        ...(stopToken === undefined ? {} : { stopToken }),
        runtime: {
          promptTokens: this.#prompt.tokens.length,
          promptFormat: this.#prompt.format,
          reusedPromptTokens: Object.fromEntries(reused),
          work,
          schedule,
          trace: this.#settings.trace,
        },
      };
    } finally {
      for (const ask of this.#open) ask.resolve(null);
      this.#open.clear();
      for (const [, lane] of lanes) lane.autoFlush = false;
      if (!finished) await Promise.all(lanes.map(([, lane]) => lane.abandon()));
    }
  }

  /** A step of a rule that reads the DPO model (every rule but greedy-sft and sampling from SFT). */
  async #stepFromDpo(last: number, index: number): Promise<number> {
    const { schedule, traceTopK } = this.#settings;
    const { dpo, sft, reference } = this.#lanes;
    const { scoredBy } = this.#rule.needs;

    const picks = this.#settings.trace === "picks";
    const dpoView = dpo.push(last, (position) => position.measure({ view: this.#dpoView(this.#rule.needs.viewMinP), picksOnly: picks }));
    const dpoFlush = dpo.flush();
    // The other models' positions: pushed now (their requests decided once the DPO view is known)
    // so they decode alongside the DPO model, or — lazy — pushed once the request is known.
    const early = schedule !== "lazy";
    // Prime the anchor where the position will almost surely be measured: the SFT model when the
    // trace wants its numbers or the rule scores with it at most steps; the reference model likewise.
    // (Picks-only measurements have no head pass to prime.)
    const primeSft = !picks && (this.#settings.traceSft || scoredBy === "sft");
    const sftPosition = sft === undefined ? undefined : new LatePosition(sft, last, early, () => this.#ask<StepRequest>(), primeSft);
    const referencePosition = reference === undefined ? undefined : new LatePosition(reference, last, early, () => this.#ask<StepRequest>(), !picks && scoredBy === "reference");
    const eagerFlushes = schedule === "eager" ? [sft, reference].flatMap((lane) => (lane === undefined ? [] : [lane.flush()])) : [];

    await dpoFlush;
    const view = (await dpoView)!;
    const top = picks ? [] : Array.from(topTokens(view, traceTopK).tokens);
    let step: StepInput = { dpo: view };
    const wanted = this.#rule.tokensToScore(step);
    const needed = scoredBy !== undefined && wanted.length > 0;
    let sftResult: Promise<StepLogprobs | null> | undefined;
    if (needed && scoredBy === "sft") {
      sftResult = sftPosition!.decide({ score: union(wanted, top), picksOnly: picks }, false);
      await sft!.flush();
      step = { ...step, sft: (await sftResult)! };
    } else if (needed) {
      const referenceResult = referencePosition!.decide({ score: wanted, picksOnly: picks }, false);
      await reference!.flush();
      step = { ...step, reference: (await referenceResult)! };
    } else {
      void referencePosition?.decide(null, true);
    }
    const pick = this.#rule.pick(step, this.#rng);
    sftResult ??= sftPosition?.decide(this.#settings.traceSft ? { score: union(top, [pick]) } : null, schedule !== "eager");
    let sftKnown = step.sft === undefined ? null : (step.sft as StepLogprobs);
    if (schedule === "eager") {
      await Promise.all(eagerFlushes);
      sftKnown = (await sftResult) ?? null;
    }

    const piece = this.#piece(pick);
    const sftSkipped = sftKnown === null;
    if (picks) {
      this.#emit(picksOnlyEntry(view, pick, piece, { alpha: this.#settings.traceAlpha, sftSkipped: step.sft === undefined }), index);
      return pick;
    }
    const options = { alpha: this.#settings.traceAlpha, topK: traceTopK, sftSkipped };
    const entry = traceEntry(sftKnown === null ? { dpo: view } : { dpo: view, sft: sftKnown }, pick, piece, options);
    this.#emit(entry, index);
    if (sftKnown === null && sftResult !== undefined && this.#settings.traceSft) {
      this.#updates.push(
        sftResult.then((sftLater) => {
          if (sftLater === null) return;
          const complete = traceEntry({ dpo: view, sft: sftLater }, pick, piece, options);
          this.#entries[index] = withTokenText(this.#pair.tokenText, complete);
          this.#hooks.onTraceUpdate?.(this.#entries[index], index);
        }),
      );
    }
    return pick;
  }

  /** A step of a rule that reads the SFT model: the DPO model runs alongside for the trace. */
  async #stepFromSft(last: number, index: number): Promise<number> {
    const { traceTopK } = this.#settings;
    const dpo = this.#lanes.dpo;
    const sft = this.#lanes.sft!;
    if (this.#settings.trace === "picks") {
      // The DPO model's candidate set (one cheap pass) only for the entry's set size and rank.
      const sftView = sft.push(last, (position) => position.measure({ view: { minP: this.#rule.needs.viewMinP, topK: 1 }, picksOnly: true }));
      const dpoView = dpo.push(last, (position) => position.measure({ view: { minP: this.#settings.traceAlpha, topK: 1 }, picksOnly: true }));
      await Promise.all([sft.flush(), dpo.flush()]);
      const pick = this.#rule.pick({ sft: (await sftView)! }, this.#rng);
      this.#emit(picksOnlyEntry(await dpoView, pick, this.#piece(pick), { alpha: this.#settings.traceAlpha, sftSkipped: false }), index);
      return pick;
    }
    const dpoTopAsk = this.#ask<readonly number[]>();
    const pickAsk = this.#ask<number>();
    const sftView = settler<StepLogprobs>();
    const traceView = this.#dpoView(1);

    const sftResult = sft.push(last, async (position) => {
      const view = await position.measure({ view: { minP: this.#rule.needs.viewMinP, topK: traceTopK } });
      sftView.resolve(view);
      const dpoTop = await dpoTopAsk.promise;
      return dpoTop === null ? view : position.measure({ score: dpoTop });
    });
    const dpoResult = dpo.push(last, async (position) => {
      const view = await position.measure({ view: traceView });
      dpoTopAsk.resolve(Array.from(topTokens(view, traceTopK).tokens));
      const pick = await pickAsk.promise;
      return pick === null || logprobOf(view, pick) !== undefined ? view : position.measure({ view: traceView, score: [pick] });
    });
    const flushes = Promise.all([sft.flush(), dpo.flush()]);
    const view = await Promise.race([sftView.promise, flushes.then(() => sftView.promise)]);
    const pick = this.#rule.pick({ sft: view }, this.#rng);
    pickAsk.resolve(pick);
    await flushes;
    const entry = traceEntry({ dpo: (await dpoResult)!, sft: (await sftResult)! }, pick, this.#piece(pick), {
      alpha: this.#settings.traceAlpha,
      topK: traceTopK,
      sftSkipped: false,
    });
    this.#emit(entry, index);
    return pick;
  }

  /** The DPO view a step needs: the rule's set (for a DPO-view rule), the trace's candidate set and top tokens. */
  #dpoView(ruleMinP: number): ViewRequest {
    return { minP: Math.min(ruleMinP, this.#settings.traceAlpha), topK: this.#settings.traceTopK };
  }

  #ask<T>(): Ask<T> {
    const ask = settler<T | null>();
    this.#open.add(ask);
    const resolve = ask.resolve;
    return {
      promise: ask.promise,
      resolve: (value) => {
        this.#open.delete(ask);
        resolve(value);
      },
      reject: ask.reject,
    };
  }

  /** The next token's piece; called once per step, in order. */
  #piece(token: number): string {
    return this.#pieces.push(token);
  }

  #emit(entry: TraceEntry, index: number): void {
    const withText = withTokenText(this.#pair.tokenText, entry);
    this.#entries[index] = withText;
    this.#hooks.onToken?.(withText, index);
  }

  #laneList(): (readonly [ModelRole, ModelLane])[] {
    const { dpo, sft, reference } = this.#lanes;
    return [["dpo", dpo], ...(sft === undefined ? [] : [["sft", sft] as const]), ...(reference === undefined ? [] : [["reference", reference] as const])];
  }
}

/**
 * A model's position at this step whose request is decided after the DPO view: pushed at once
 * (`early`: it decodes alongside the DPO model, its sampling waits for the request) or only when
 * the request is known (the lazy schedule: nothing runs until someone flushes).
 */
class LatePosition {
  readonly #lane: ModelLane;
  readonly #token: number;
  readonly #ask: Ask<StepRequest> | undefined;
  readonly #early: Promise<StepLogprobs | null> | undefined;
  #deferred = true;

  constructor(lane: ModelLane, token: number, early: boolean, ask: () => Ask<StepRequest>, prime: boolean) {
    this.#lane = lane;
    this.#token = token;
    if (early) {
      const request = ask();
      this.#ask = request;
      this.#early = lane.push(
        token,
        async (position) => {
          // The anchor every measurement starts with runs while the request is being decided.
          if (prime) position.prime();
          const decided = await request.promise;
          return decided === null ? null : position.measure(decided);
        },
        () => this.#deferred,
      );
    }
  }

  /**
   * What to measure here (null: nothing, the token is only fed), and whether anyone waits for it
   * now (`deferred` false) or it may be evaluated later in a batch. Call once.
   */
  decide(request: StepRequest | null, deferred: boolean): Promise<StepLogprobs | null> {
    this.#deferred = deferred;
    if (this.#ask !== undefined) {
      this.#ask.resolve(request);
      return this.#early!;
    }
    if (request === null) {
      this.#lane.push(this.#token);
      return Promise.resolve(null);
    }
    return this.#lane.push(this.#token, (position) => position.measure(request), deferred);
  }
}

// ---------------------------------------------------------------------------------------------
// Best-of-n

async function bestOfN(pair: ModelPair, rule: SequenceRule, prompt: FormattedPrompt, settings: Settings, rng: Rng, request: GenerateRequest): Promise<GenerateResult> {
  const started = performance.now();
  const runs: GenerateResult[] = [];
  for (let i = 0; i < rule.n; i++) {
    settings.signal?.throwIfAborted();
    // Each candidate's SFT positions wait for the end of the response: one batch per candidate.
    const run = await decodeResponse(pair, rule, prompt, { ...settings, schedule: settings.schedule === "eager" ? "eager" : "lazy", trace: "exact", traceSft: true }, rng.fork(`best-of-n/${i}`), {});
    runs.push({ method: "best-of-n", ...run });
  }
  const scored = runs.map((run) => ({
    run,
    tokens: run.tokens.flatMap((e) => (e.logprobDpo === null || e.logprobSft === null ? [] : [{ logprobDpo: e.logprobDpo, logprobSft: e.logprobSft }])),
  }));
  const selection =
    request.scorer === undefined
      ? selectBestOfN(scored, { beta: rule.beta })
      : await selectBestOfNBy(scored, (candidate, i) => request.scorer!(candidate.run, i), settings.signal === undefined ? {} : { signal: settings.signal });
  const best = selection.best.run;
  best.tokens.forEach((entry, i) => request.onToken?.(entry, i));
  const elapsedMs = performance.now() - started;
  return {
    ...best,
    stats: summarizeTrace(best.tokens, { beta: settings.beta, elapsedMs, sftStepsBatched: best.stats.sftStepsBatched }),
    candidates: runs.map((run, i) => ({
      text: run.text,
      tokens: run.tokens.length,
      score: selection.scores[i]!,
      implicitReward: run.stats.implicitReward,
      stoppedBy: run.stoppedBy,
    })),
    chosen: selection.index,
  };
}

// ---------------------------------------------------------------------------------------------

function union(a: readonly number[], b: readonly number[]): number[] {
  return [...new Set([...a, ...b])];
}

/** Where the text must end: the earliest occurrence of any stop string. */
function stopAt(text: string, stops: readonly string[]): number | undefined {
  let cut: number | undefined;
  for (const stop of stops) {
    const at = text.indexOf(stop);
    if (at >= 0 && (cut === undefined || at < cut)) cut = at;
  }
  return cut;
}

