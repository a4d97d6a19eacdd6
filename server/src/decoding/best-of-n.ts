/**
 * Best-of-n's sequence-level choice: given n finished responses, keep the best — by the DPO
 * implicit reward `beta · Σ (log π_dpo − log π_sft)`, or by any scorer the caller supplies.
 */
import { DecodingOptionError } from "./errors.ts";
import { rankValue } from "./logprobs.ts";
import { DEFAULT_BETA, implicitReward } from "./scoring.ts";

/** The two models' log-probabilities of one generated token. */
export interface ResponseTokenLogprobs {
  readonly logprobDpo: number;
  readonly logprobSft: number;
}

/** A finished candidate response; callers may carry anything else (text, token ids) alongside. */
export interface CandidateResponse {
  readonly tokens: readonly ResponseTokenLogprobs[];
}

export interface BestOfNSelection<T> {
  /** Index of the chosen candidate (ties: the earliest). */
  readonly index: number;
  readonly best: T;
  /** Every candidate's score, in the candidates' order. */
  readonly scores: readonly number[];
}

/** Scores one candidate; higher is better. May be async (a reward model, a judge). */
export type ResponseScorer<T> = (candidate: T, index: number) => number | PromiseLike<number>;

/** The candidate with the highest DPO implicit reward (always finite; see `implicitReward`). */
export function selectBestOfN<T extends CandidateResponse>(
  candidates: readonly T[],
  options: { readonly beta?: number } = {},
): BestOfNSelection<T> {
  const beta = options.beta ?? DEFAULT_BETA;
  if (!(beta > 0 && Number.isFinite(beta))) throw new DecodingOptionError(`beta must be finite and > 0, got ${beta}`);
  return choose(candidates, candidates.map((candidate) => implicitReward(candidate.tokens, beta)));
}

/**
 * The candidate the caller's scorer rates highest. Scores candidates one at a time, in order
 * (local models cannot score in parallel anyway); NaN scores count as −Infinity.
 */
export async function selectBestOfNBy<T>(
  candidates: readonly T[],
  scorer: ResponseScorer<T>,
  options: { readonly signal?: AbortSignal } = {},
): Promise<BestOfNSelection<T>> {
  const scores: number[] = [];
  for (const [index, candidate] of candidates.entries()) {
    options.signal?.throwIfAborted();
    scores.push(await scorer(candidate, index));
  }
  return choose(candidates, scores);
}

function choose<T>(candidates: readonly T[], scores: readonly number[]): BestOfNSelection<T> {
  if (candidates.length === 0) throw new RangeError("best-of-n needs at least one candidate");
  let index = 0;
  for (let i = 1; i < scores.length; i++) if (rankValue(scores[i]!) > rankValue(scores[index]!)) index = i;
  return { index, best: candidates[index]!, scores };
}
