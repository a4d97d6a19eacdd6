/**
 * Per-step decoding rules, each a few lines over the shared pieces (candidate set, scores,
 * argmax, sampler). A rule is driven in two phases so the runtime evaluates the second model
 * only when, and only where, it must:
 *
 *   1. give the rule the view of `needs.view` (DPO for most rules) and ask `tokensToScore`;
 *   2. if that is non-empty, fetch `needs.scoredBy`'s log-probabilities at those tokens;
 *   3. call `pick`.
 */
import { candidateSet, checkAlpha, DEFAULT_ALPHA } from "./candidates.ts";
import { DecodingOptionError, MissingLogprobsError } from "./errors.ts";
import { logprobsAt, type TokenLogprobs } from "./logprobs.ts";
import type { MethodName } from "./methods.ts";
import type { Rng } from "./rng.ts";
import { sampleFrom, samplingOptions, type SamplingOptions } from "./sampling.ts";
import { advantage, DEFAULT_BETA, EFT_DEFAULT_LAMBDA, eftScore, pickArgmax } from "./scoring.ts";

export type ModelRole = "dpo" | "sft" | "reference";

/** One decoding step's inputs: each model's next-token log-probabilities, dense or sparse. */
export interface StepInput {
  readonly dpo?: TokenLogprobs;
  readonly sft?: TokenLogprobs;
  readonly reference?: TokenLogprobs;
}

/** Which log-probabilities a rule reads, so the runtime can fetch no more than that. */
export interface RuleNeeds {
  /** The model whose next-token view every step reads. */
  readonly view: ModelRole;
  /**
   * The pick is exact when the view holds at least `{v : p(v) ≥ viewMinP · max p}` (llama.cpp's
   * min-p set): alpha for the candidate-set rules, 1 for greedy (the argmax alone), 0 for
   * sampling (every token; over less it samples renormalised over what the view holds).
   */
  readonly viewMinP: number;
  /** The second model, read only at the tokens `tokensToScore` names; absent for one-model rules. */
  readonly scoredBy?: "sft" | "reference";
}

export interface DecodingRule {
  readonly method: MethodName;
  readonly needs: RuleNeeds;
  /**
   * The tokens whose `needs.scoredBy` log-probabilities `pick` will read, given a step holding the
   * `needs.view` view. Cheap, and empty when the pick needs no second model this step (always for
   * one-model rules; for AAD, CD and EFT when the candidate set is a single token).
   */
  tokensToScore(step: StepInput): readonly number[];
  /** The next token id. Only sampling rules draw from `rng`. */
  pick(step: StepInput, rng: Rng): number;
}

function viewOf(step: StepInput, model: ModelRole): TokenLogprobs {
  const view = step[model];
  if (view === undefined) throw new MissingLogprobsError(model);
  return view;
}

/**
 * The contrastive pick AAD and CD share: over the DPO candidate set, argmax of
 * `log p_dpo − log p_second`, ties to higher p_dpo, then lower id. `second` is read only when
 * there is more than one candidate.
 */
export function contrastivePick(dpo: TokenLogprobs, second: TokenLogprobs | undefined, alpha: number, secondModel = "sft"): number {
  const candidates = candidateSet(dpo, alpha);
  if (candidates.tokens.length === 1) return candidates.tokens[0]!;
  if (second === undefined) throw new MissingLogprobsError(secondModel);
  const secondLogprobs = logprobsAt(second, candidates.tokens, secondModel);
  const scores = Array.from(candidates.logprobs, (logprob, i) => advantage(logprob, secondLogprobs[i]!));
  return pickArgmax({ tokens: candidates.tokens, scores }, candidates.logprobs);
}

function contrastiveRule(method: "aad" | "cd", scoredBy: "sft" | "reference", alpha: number): DecodingRule {
  checkAlpha(alpha);
  return {
    method,
    needs: { view: "dpo", viewMinP: alpha, scoredBy },
    tokensToScore: (step) => multipleCandidates(viewOf(step, "dpo"), alpha),
    pick: (step) => contrastivePick(viewOf(step, "dpo"), step[scoredBy], alpha, scoredBy),
  };
}

function multipleCandidates(dpo: TokenLogprobs, alpha: number): readonly number[] {
  const { tokens } = candidateSet(dpo, alpha);
  return tokens.length > 1 ? Array.from(tokens) : [];
}

export interface AadOptions {
  /** Candidate set threshold: `p_dpo(v) ≥ alpha · max p_dpo`. Default DEFAULT_ALPHA. */
  readonly alpha?: number;
}

/** Alignment-aware decoding: the DPO candidate set, scored by log p_dpo − log p_sft. */
export function aadRule(options: AadOptions = {}): DecodingRule {
  return contrastiveRule("aad", "sft", options.alpha ?? DEFAULT_ALPHA);
}

/**
 * Contrastive decoding: the same function as AAD with an arbitrary reference model in place of
 * the SFT model (with reference = SFT it is AAD).
 */
export function cdRule(options: AadOptions = {}): DecodingRule {
  return contrastiveRule("cd", "reference", options.alpha ?? DEFAULT_ALPHA);
}

/** Greedy decoding from one model: its argmax, ties to the lower id. */
export function greedyRule(model: "dpo" | "sft"): DecodingRule {
  return {
    method: model === "dpo" ? "greedy-dpo" : "greedy-sft",
    needs: { view: model, viewMinP: 1 },
    tokensToScore: () => [],
    pick: (step) => {
      const view = viewOf(step, model);
      return pickArgmax({ tokens: view.tokens, scores: view.logprobs });
    },
  };
}

export interface SampleOptions extends SamplingOptions {
  /** Which model to sample from. Default "dpo". */
  readonly from?: "dpo" | "sft";
}

/** Ancestral sampling from one model, with temperature, top-k and top-p. */
export function sampleRule(options: SampleOptions = {}): DecodingRule {
  return samplingRule("sample", options.from ?? "dpo", options);
}

function samplingRule(method: MethodName, model: "dpo" | "sft", options: SamplingOptions): DecodingRule {
  const sampling = samplingOptions(options);
  return {
    method,
    needs: { view: model, viewMinP: sampling.temperature === 0 ? 1 : 0 },
    tokensToScore: () => [],
    pick: (step, rng) => sampleFrom(viewOf(step, model), sampling, rng),
  };
}

export interface EftOptions extends SamplingOptions {
  /** Extrapolation strength: 0 is the SFT model, 1 the DPO model, > 1 beyond it. Default EFT_DEFAULT_LAMBDA. */
  readonly lambda?: number;
  /**
   * Optional DPO plausibility filter before scoring (as AAD's). Default 0: every token the DPO
   * view holds — over a sparse view that is the runtime's set, and a sampled pick is the softmax
   * of the score renormalised over it.
   */
  readonly alpha?: number;
  /** 0 (the default) picks the argmax of the score, ties to the lower id; > 0 samples its softmax. */
  readonly temperature?: number;
}

/**
 * Emulated fine-tuning / decoding-time realignment: score `log p_sft + lambda · (log p_dpo −
 * log p_sft)` over the DPO view's tokens, then greedy or sampled.
 */
export function eftRule(options: EftOptions = {}): DecodingRule {
  const lambda = options.lambda ?? EFT_DEFAULT_LAMBDA;
  if (!Number.isFinite(lambda)) throw new DecodingOptionError(`lambda must be finite, got ${lambda}`);
  const alpha = checkAlpha(options.alpha ?? 0);
  const sampling = samplingOptions({ ...options, temperature: options.temperature ?? 0 });
  return {
    method: "eft",
    needs: { view: "dpo", viewMinP: alpha, scoredBy: "sft" },
    tokensToScore: (step) => multipleCandidates(viewOf(step, "dpo"), alpha),
    pick: (step, rng) => {
      const candidates = candidateSet(viewOf(step, "dpo"), alpha);
      if (candidates.tokens.length === 1) return candidates.tokens[0]!;
      const sft = logprobsAt(viewOf(step, "sft"), candidates.tokens, "sft");
      const scores = Array.from(candidates.logprobs, (logprob, i) => eftScore(logprob, sft[i]!, lambda));
      return sampleFrom({ tokens: candidates.tokens, logprobs: scores }, sampling, rng);
    },
  };
}

/** Number of candidate responses best-of-n draws when a caller gives none. */
export const BEST_OF_N_DEFAULT_N = 2;

export interface BestOfNOptions extends SamplingOptions {
  /** How many responses to draw. Default BEST_OF_N_DEFAULT_N. */
  readonly n?: number;
  /** Scales the implicit reward used to choose. Default DEFAULT_BETA. */
  readonly beta?: number;
}

/** A sequence-level rule: a per-step rule that draws one candidate response, plus how many to draw. */
export interface SequenceRule extends DecodingRule {
  readonly n: number;
  readonly beta: number;
}

/**
 * Best-of-n: draw n responses by sampling the DPO model (this rule, once per response, each with
 * its own forked Rng), score each finished response under the SFT model (one evaluation of the
 * whole sequence), then choose with `selectBestOfN`.
 */
export function bestOfNRule(options: BestOfNOptions = {}): SequenceRule {
  const n = options.n ?? BEST_OF_N_DEFAULT_N;
  const beta = options.beta ?? DEFAULT_BETA;
  if (!(Number.isInteger(n) && n >= 1)) throw new DecodingOptionError(`n must be an integer ≥ 1, got ${n}`);
  if (!(beta > 0 && Number.isFinite(beta))) throw new DecodingOptionError(`beta must be finite and > 0, got ${beta}`);
  return { ...samplingRule("best-of-n", "dpo", options), n, beta };
}
