/** Pure decoding rules over per-step log-probabilities: no model runtime, no I/O. */
export * from "./best-of-n.ts";
export * from "./candidates.ts";
export * from "./characters.ts";
export * from "./decode.ts";
export * from "./errors.ts";
export * from "./logprobs.ts";
export * from "./methods.ts";
export * from "./rng.ts";
export * from "./rules.ts";
export * from "./sampling.ts";
export * from "./scoring.ts";
export * from "./trace.ts";
