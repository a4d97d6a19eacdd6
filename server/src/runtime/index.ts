/** The node-llama-cpp side of the decoding engine: model pairs, exact per-step log-probabilities, the decoding loop. */
export * from "./errors.ts";
export * from "./generate.ts";
export * from "./pair.ts";
export * from "./prompt.ts";
export * from "./score.ts";
export type { StepLogprobs, StepRequest, ViewRequest } from "./step-logprobs.ts";
export type { LaneCounters } from "./lane.ts";
export { ModelFileError, type ModelFileErrorCode } from "./model-files.ts";
