/**
 * Inline completion's words for the output channel, without VS Code: what each request's prompt
 * was made of (its layout and token budget) and what the daemon evaluated, logged at debug level.
 */
import type { InlineCompletionStats } from "../../server/src/protocol/protocol.ts";

/** One line for the output channel: the prompt's layout, its budget and what each part took, and the KV-cache reuse. */
export function describePrompt(stats: InlineCompletionStats): string {
  const { budget } = stats;
  const layout = stats.layout === "fim" ? `FIM (${stats.specialTokens.map((t) => `${t.text}@${t.index}`).join(" ")})` : `prefix only (${stats.fallbackReason ?? "no FIM"})`;
  const parts = [`prefix ${stats.prefixTokens}/${budget.prefixTokens} tokens`, `suffix ${stats.suffixTokens}/${budget.suffixTokens}`];
  if (budget.chunkTokens > 0) parts.push(`${stats.chunks} chunk(s) ${stats.chunkTokens}/${budget.chunkTokens}`);
  const evaluated = Object.entries(stats.evaluatedPromptTokens).map(([role, n]) => `${role} ${n}`).join(", ");
  return `prompt ${stats.promptTokens} tokens, ${layout}; budget: ${parts.join(", ")}; evaluated (rest from the KV cache): ${evaluated}; ${stats.decodedTokens} decoded, stopped by ${stats.stoppedBy}`;
}
