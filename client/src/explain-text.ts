/**
 * Explain Selection's text rules, without VS Code: the scored tokens made to join to exactly the
 * selected text, and where each token lies in it (for the editor's decorations).
 */
import type { TraceEntry } from "../../server/src/protocol/protocol.ts";

/**
 * The scoring with the leading whitespace the tokenizer added (SentencePiece's word-start space
 * on " Use") taken off its first pieces, when that is the only difference from the selection.
 */
export function alignToSelection<R extends { readonly text: string; readonly tokens: readonly TraceEntry[] }>(result: R, selected: string): R {
  const extra = result.text.length - selected.length;
  if (extra <= 0 || !result.text.endsWith(selected) || !/^\s+$/.test(result.text.slice(0, extra))) return result;
  let left = extra;
  const tokens = result.tokens.map((entry) => {
    if (left === 0 || entry.piece === "") return entry;
    const cut = Math.min(left, entry.piece.length);
    left -= cut;
    return { ...entry, piece: entry.piece.slice(cut) };
  });
  return { ...result, text: selected, tokens };
}

/** Each token's [start, end) in the selected text; a token that adds no text has start = end. */
export function tokenOffsets(tokens: readonly TraceEntry[], length: number): { readonly start: number; readonly end: number }[] {
  let at = 0;
  return tokens.map((entry) => {
    const start = Math.min(at, length);
    at += entry.piece.length;
    return { start, end: Math.min(at, length) };
  });
}
