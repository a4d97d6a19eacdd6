/**
 * Errors the decoding rules throw, as classes a caller can catch by name.
 */

/** An option is outside its meaningful range (alpha outside [0, 1], a negative temperature, …). */
export class DecodingOptionError extends RangeError {
  override readonly name = "DecodingOptionError";
}

/**
 * A rule needs log-probabilities the step does not hold: a model's view is absent, or a sparse
 * view lacks a token the rule must score. For the runtime this means it fetched too little:
 * `DecodingRule.tokensToScore` names exactly what the second model must cover.
 */
export class MissingLogprobsError extends Error {
  override readonly name = "MissingLogprobsError";
  constructor(
    /** Which model's log-probabilities are missing ("dpo", "sft", "reference"). */
    readonly model: string,
    /** The token ids that were needed but absent; empty when the whole view is absent. */
    readonly tokens: readonly number[] = [],
  ) {
    super(
      tokens.length === 0
        ? `the step has no ${model} log-probabilities`
        : `the ${model} log-probabilities lack token${tokens.length === 1 ? "" : "s"} ${tokens.slice(0, 8).join(", ")}${tokens.length > 8 ? ", …" : ""}`,
    );
  }
}
