/**
 * A reference driver for a rule: the loop the runtime runs, over pure log-probability sources.
 * It shows the lazy path — the second model is consulted only when the rule names tokens — and
 * the stopping rule: EOS is a token like any other, emitted and then ending the response.
 */
import { MissingLogprobsError } from "./errors.ts";
import type { TokenLogprobs } from "./logprobs.ts";
import type { Rng } from "./rng.ts";
import type { DecodingRule, ModelRole, StepInput } from "./rules.ts";

/**
 * One model's next-token log-probabilities after `prefix`. With `tokens`, the caller needs only
 * those (a sparse answer holding them is enough); without, the model's view.
 */
export type LogprobSource = (prefix: readonly number[], tokens?: readonly number[]) => TokenLogprobs;

export interface DecodeOptions {
  readonly eosToken: number;
  readonly maxTokens: number;
  readonly rng: Rng;
  /** Tokens before the response (the prompt); not part of the result. */
  readonly prompt?: readonly number[];
}

export interface DecodeResult {
  readonly tokens: readonly number[];
  readonly stoppedBy: "eos" | "max-tokens";
  /** Steps at which the second model was consulted; the others were decided without it. */
  readonly scoredSteps: number;
}

export function decode(rule: DecodingRule, models: Partial<Record<ModelRole, LogprobSource>>, options: DecodeOptions): DecodeResult {
  const source = (model: ModelRole): LogprobSource => {
    const found = models[model];
    if (found === undefined) throw new MissingLogprobsError(model);
    return found;
  };
  const prefix = [...(options.prompt ?? [])];
  const tokens: number[] = [];
  let scoredSteps = 0;
  while (tokens.length < options.maxTokens) {
    let step: StepInput = { [rule.needs.view]: source(rule.needs.view)(prefix) };
    const { scoredBy } = rule.needs;
    const wanted = rule.tokensToScore(step);
    if (scoredBy !== undefined && wanted.length > 0) {
      step = { ...step, [scoredBy]: source(scoredBy)(prefix, wanted) };
      scoredSteps++;
    }
    const token = rule.pick(step, options.rng);
    tokens.push(token);
    prefix.push(token);
    if (token === options.eosToken) return { tokens, stoppedBy: "eos", scoredSteps };
  }
  return { tokens, stoppedBy: "max-tokens", scoredSteps };
}
