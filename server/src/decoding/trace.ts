/**
 * The data behind the advantage view: one entry per generated token, and a response summary.
 * Pure builders over a step's views and the token the rule picked.
 *
 * Non-finite numbers never reach JSON (where JSON.stringify would silently turn −Infinity into
 * null): log-probabilities are clamped to LOGPROB_FLOOR (−1000, whose exp is exactly 0) and
 * advantages are computed from the clamped values, so every number here is finite. `null` means
 * one thing only: *not known* — the view did not hold the token (e.g. the runtime skipped the SFT
 * step because the candidate set was a single token).
 */
import { candidateThreshold, DEFAULT_ALPHA } from "./candidates.ts";
import { DecodingOptionError } from "./errors.ts";
import { finiteLogprob, logprobOf, rankOf, topTokens, type TokenLogprobs } from "./logprobs.ts";
import { advantage, DEFAULT_BETA, implicitReward } from "./scoring.ts";

export const DEFAULT_TRACE_TOP_K = 8;

/** One of the DPO model's most probable tokens at a step, as the advantage view shows it. */
export interface CandidateInfo {
  readonly token: number;
  readonly logprobDpo: number;
  /** null: the SFT view did not hold this token. */
  readonly logprobSft: number | null;
  /** logprobDpo − logprobSft; null when logprobSft is. */
  readonly advantage: number | null;
  readonly inCandidateSet: boolean;
  /** This is the token the rule picked. */
  readonly picked: boolean;
  /** The token's own text out of context; "" when its bytes are part of a character. Set by the runtime. */
  readonly piece?: string;
  /** The token's bytes, lower-case hex ("" for a special token). Set by the runtime. */
  readonly bytes?: string;
  /** Set for a token that renders as no text: its name, e.g. "<|eot_id|>". Set by the runtime. */
  readonly special?: string;
}

export interface TraceEntry {
  readonly token: number;
  /**
   * The characters this token completes, so that a response's pieces join to its text exactly.
   * A token that ends inside a multi-byte character has "" and the token that completes it the
   * whole character (`bytes` tells which tokens a character spans).
   */
  readonly piece: string;
  /** The token's own bytes (UTF-8, possibly part of a character), lower-case hex; "" for a special token. Set by the runtime. */
  readonly bytes?: string;
  /** Set for a token that renders as no text (control, end-of-generation): its name, e.g. "<|eot_id|>". */
  readonly special?: string;
  /** null: the DPO view did not hold the picked token (a token sampled from the SFT model, say). */
  readonly logprobDpo: number | null;
  /** null: the SFT view did not hold the picked token. */
  readonly logprobSft: number | null;
  /** logprobDpo − logprobSft; null when either is. */
  readonly advantage: number | null;
  readonly inCandidateSet: boolean;
  readonly candidateSetSize: number;
  /** 1 = the DPO argmax; null when the DPO view did not hold the picked token. */
  readonly dpoRank: number | null;
  /** The DPO model's most probable tokens, most probable first (ties: lower id first). */
  readonly top: readonly CandidateInfo[];
  /** The pick was made without the SFT model (the runtime's lazy path: a single candidate). */
  readonly sftSkipped: boolean;
}

/** The views a trace reads: the DPO model's (required) and the SFT model's, if the runtime has one. */
export interface TraceStep {
  readonly dpo: TokenLogprobs;
  readonly sft?: TokenLogprobs;
}

export interface TraceOptions {
  /** How many of the DPO model's top tokens to show. Default DEFAULT_TRACE_TOP_K. */
  readonly topK?: number;
  /** alpha of the candidate set to report. Default DEFAULT_ALPHA. */
  readonly alpha?: number;
  /** Whether the pick was made without the SFT model. Default: the step has no SFT view. */
  readonly sftSkipped?: boolean;
}

export function traceEntry(step: TraceStep, pickedToken: number, piece: string, options: TraceOptions = {}): TraceEntry {
  const { dpo, sft } = step;
  const threshold = candidateThreshold(dpo, options.alpha ?? DEFAULT_ALPHA);
  const known = (view: TokenLogprobs | undefined, token: number): number | null => {
    const logprob = view === undefined ? undefined : logprobOf(view, token);
    return logprob === undefined ? null : finiteLogprob(logprob);
  };
  const difference = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : advantage(a, b));

  let candidateSetSize = 0;
  for (let i = 0; i < dpo.logprobs.length; i++) if (dpo.logprobs[i]! >= threshold) candidateSetSize++;

  const top = topTokens(dpo, options.topK ?? DEFAULT_TRACE_TOP_K);
  const topInfo = Array.from(top.tokens, (token, i): CandidateInfo => {
    const logprobDpo = finiteLogprob(top.logprobs[i]!);
    const logprobSft = known(sft, token);
    return {
      token,
      logprobDpo,
      logprobSft,
      advantage: difference(logprobDpo, logprobSft),
      inCandidateSet: top.logprobs[i]! >= threshold,
      picked: token === pickedToken,
    };
  });

  const rawDpo = logprobOf(dpo, pickedToken);
  const logprobDpo = known(dpo, pickedToken);
  const logprobSft = known(sft, pickedToken);
  return {
    token: pickedToken,
    piece,
    logprobDpo,
    logprobSft,
    advantage: difference(logprobDpo, logprobSft),
    inCandidateSet: rawDpo !== undefined && rawDpo >= threshold,
    candidateSetSize,
    dpoRank: rankOf(dpo, pickedToken) ?? null,
    top: topInfo,
    sftSkipped: options.sftSkipped ?? sft === undefined,
  };
}

/**
 * An entry for a response decoded for its picks only: the runtime measured the DPO view up to a
 * per-step constant (enough for the pick, the candidate set and the pick's rank, not for any
 * log-probability), so every number is null and `top` is empty. `dpo` must hold at least the
 * candidate set at `alpha` for `candidateSetSize` to be exact; null: the DPO model was not read.
 */
export function picksOnlyEntry(dpo: TokenLogprobs | null, pickedToken: number, piece: string, options: { readonly alpha?: number; readonly sftSkipped: boolean }): TraceEntry {
  let candidateSetSize = 0;
  let inCandidateSet = false;
  let dpoRank: number | null = null;
  if (dpo !== null) {
    const threshold = candidateThreshold(dpo, options.alpha ?? DEFAULT_ALPHA);
    for (let i = 0; i < dpo.logprobs.length; i++) if (dpo.logprobs[i]! >= threshold) candidateSetSize++;
    const raw = logprobOf(dpo, pickedToken);
    inCandidateSet = raw !== undefined && raw >= threshold;
    dpoRank = rankOf(dpo, pickedToken) ?? null;
  }
  return {
    token: pickedToken,
    piece,
    logprobDpo: null,
    logprobSft: null,
    advantage: null,
    inCandidateSet,
    candidateSetSize,
    dpoRank,
    top: [],
    sftSkipped: options.sftSkipped,
  };
}

export interface ResponseStats {
  /** beta · Σ advantage over the tokens whose advantage is known. */
  readonly implicitReward: number;
  readonly beta: number;
  readonly tokens: number;
  /** Tokens with an unknown advantage, left out of implicitReward. */
  readonly unscoredTokens: number;
  /** Mean advantage over the scored tokens; null when none is scored. */
  readonly meanAdvantage: number | null;
  /** null for an empty response. */
  readonly meanCandidateSetSize: number | null;
  /** Tokens that were the DPO argmax; the rest are where the rule departed from greedy-dpo. */
  readonly dpoArgmaxPicks: number;
  /** Steps decided without the SFT model (a single candidate). */
  readonly sftStepsSkipped: number;
  /** Steps whose SFT evaluation the runtime deferred and ran in a batch (the runtime counts these). */
  readonly sftStepsBatched: number;
  readonly elapsedMs?: number;
  readonly tokensPerSecond?: number;
}

export interface SummaryOptions {
  /** Default DEFAULT_BETA. */
  readonly beta?: number;
  /** Wall time of the response; gives tokensPerSecond when > 0. */
  readonly elapsedMs?: number;
  /** Default 0. */
  readonly sftStepsBatched?: number;
}

export function summarizeTrace(entries: readonly TraceEntry[], options: SummaryOptions = {}): ResponseStats {
  const beta = options.beta ?? DEFAULT_BETA;
  if (!Number.isFinite(beta)) throw new DecodingOptionError(`beta must be finite, got ${beta}`);
  const scored = entries.flatMap(({ logprobDpo, logprobSft }) =>
    logprobDpo === null || logprobSft === null ? [] : [{ logprobDpo, logprobSft }],
  );
  const tokens = entries.length;
  const { elapsedMs } = options;
  const timing = elapsedMs !== undefined && elapsedMs > 0 ? { elapsedMs, tokensPerSecond: (tokens * 1000) / elapsedMs } : {};
  return {
    implicitReward: implicitReward(scored, beta),
    beta,
    tokens,
    unscoredTokens: tokens - scored.length,
    meanAdvantage: scored.length === 0 ? null : implicitReward(scored, 1) / scored.length,
    meanCandidateSetSize: tokens === 0 ? null : entries.reduce((sum, e) => sum + e.candidateSetSize, 0) / tokens,
    dpoArgmaxPicks: entries.filter((e) => e.dpoRank === 1).length,
    sftStepsSkipped: entries.filter((e) => e.sftSkipped).length,
    sftStepsBatched: options.sftStepsBatched ?? 0,
    ...timing,
  };
}
