/** Synthetic preference pairs (AAD chosen, DPO rejected) for DPO training, written resumably. */
export * from "./errors.ts";
export * from "./generate-pairs.ts";
export { fileSha256 } from "./model-hashes.ts";
export { parsePrompts, readPrompts, type PromptRecord } from "./prompts.ts";
export { openRowLog, type RowLog } from "./row-log.ts";
