/**
 * The plausibility filter AAD and contrastive decoding share: the DPO model's candidate set.
 * It is its own step so the runtime can ask "how many candidates?" before it has any second-model
 * log-probabilities — with one candidate the pick is already decided.
 */
import { DecodingOptionError } from "./errors.ts";
import { maxLogprob, ranksAbove, type TokenLogprobs } from "./logprobs.ts";

/** alpha of the candidate set when a caller gives none (the AAD paper's default). */
export const DEFAULT_ALPHA = 0.1;

export function checkAlpha(alpha: number): number {
  if (!(alpha >= 0 && alpha <= 1)) throw new DecodingOptionError(`alpha must lie in [0, 1], got ${alpha}`);
  return alpha;
}

/**
 * The log-probability a token needs to be a candidate: `max log p + log alpha`. Computed in log
 * space, as llama.cpp's min-p sampler does, so the two agree on which tokens pass.
 */
export function candidateThreshold(dpo: TokenLogprobs, alpha: number = DEFAULT_ALPHA): number {
  return maxLogprob(dpo) + Math.log(checkAlpha(alpha));
}

/**
 * The candidate set `{v : p(v) ≥ alpha · max_u p(u)}` over the view's tokens, as a view of its
 * own, most probable first (ties: lower id first) — so `tokens[0]` is the DPO argmax. alpha = 1
 * keeps only the argmax and its exact ties; alpha = 0 keeps every token in the view. Exact on a
 * sparse view that holds the candidate set, because the view's maximum is the true maximum.
 */
export function candidateSet(dpo: TokenLogprobs, alpha: number = DEFAULT_ALPHA): TokenLogprobs {
  const threshold = candidateThreshold(dpo, alpha);
  const picked: number[] = [];
  for (let i = 0; i < dpo.tokens.length; i++) if (dpo.logprobs[i]! >= threshold) picked.push(i);
  picked.sort((a, b) => (ranksAbove(dpo.logprobs[a]!, dpo.tokens[a]!, dpo.logprobs[b]!, dpo.tokens[b]!) ? -1 : 1));
  return { tokens: picked.map((i) => dpo.tokens[i]!), logprobs: picked.map((i) => dpo.logprobs[i]!) };
}
