/**
 * Scores over candidate tokens and the argmax that turns scores into a pick. Every rule's
 * deterministic pick goes through `pickArgmax`, so ties break the same way everywhere.
 */
import { finiteLogprob, ranksAbove, rankValue } from "./logprobs.ts";

/** The DPO beta when a caller gives none; it only scales rewards, never changes a pick. */
export const DEFAULT_BETA = 0.1;

/**
 * EFT's lambda when a caller gives none. From the quality benchmark's sweep on the built-in pair
 * (where DPO beats SFT greedily): λ = 1 is greedy DPO itself, and of the extrapolating values
 * 1.5 scored best (1.44 against 1.39 at 2 and 1.18 at 3, 150 prompts; intervals ±0.19 overlap).
 */
export const EFT_DEFAULT_LAMBDA = 1.5;

/**
 * How much more the DPO model likes a token than the SFT (or reference) model:
 * `log p_dpo − log p_sft`, the per-token DPO implicit reward up to beta. A token the DPO model
 * rules out scores −Infinity, even when the other model rules it out too (not NaN).
 */
export function advantage(logprobDpo: number, logprobSft: number): number {
  return logprobDpo === -Infinity ? -Infinity : logprobDpo - logprobSft;
}

/**
 * The emulated fine-tuning / decoding-time realignment score
 * `log p_sft + lambda · (log p_dpo − log p_sft)`, computed as `(1 − lambda) · log p_sft +
 * lambda · log p_dpo` with a zero weight dropping its term: lambda = 1 returns log p_dpo and
 * lambda = 0 returns log p_sft exactly, even at −Infinity. A token both models rule out scores
 * −Infinity (not NaN).
 */
export function eftScore(logprobDpo: number, logprobSft: number, lambda: number): number {
  const weighted = (weight: number, logprob: number): number => (weight === 0 ? 0 : weight * logprob);
  const score = weighted(1 - lambda, logprobSft) + weighted(lambda, logprobDpo);
  return Number.isNaN(score) ? -Infinity : score;
}

/** The DPO implicit reward of a response: `beta · Σ (log π_dpo − log π_sft)`, over log-probabilities clamped to LOGPROB_FLOOR so it is always finite. */
export function implicitReward(
  tokens: Iterable<{ readonly logprobDpo: number; readonly logprobSft: number }>,
  beta: number = DEFAULT_BETA,
): number {
  let sum = 0;
  for (const { logprobDpo, logprobSft } of tokens) sum += finiteLogprob(logprobDpo) - finiteLogprob(logprobSft);
  return beta * sum;
}

/** A score for each of a set of tokens; `scores[i]` belongs to `tokens[i]`. */
export interface TokenScores {
  readonly tokens: ArrayLike<number>;
  readonly scores: ArrayLike<number>;
}

/**
 * The token with the highest score. Ties go to the higher `tieBreak` value (AAD passes log p_dpo),
 * then to the lower token id. NaN counts as −Infinity.
 */
export function pickArgmax(scored: TokenScores, tieBreak?: ArrayLike<number>): number {
  const { tokens, scores } = scored;
  if (tokens.length === 0) throw new RangeError("pickArgmax over no tokens");
  let best = 0;
  for (let i = 1; i < tokens.length; i++) {
    const a = rankValue(scores[i]!);
    const b = rankValue(scores[best]!);
    if (a > b) best = i;
    else if (a === b && ranksAbove(tieBreak?.[i] ?? 0, tokens[i]!, tieBreak?.[best] ?? 0, tokens[best]!)) best = i;
  }
  return tokens[best]!;
}
