/**
 * Inline completion without the model: what text around the cursor to send, and where a
 * streamed completion should end ("line", "block" or "none"). Pure, so the stopping rules are
 * tested on strings.
 */
import type { InlineCompletionSettings } from "../protocol/protocol.ts";
import type { Position, SyncedDocument } from "./documents.ts";

export interface InlineContext {
  /** Document text before the cursor, at most maxPrefixChars, starting at a line start when cut. */
  readonly prefix: string;
  /** Document text after the cursor, at most maxSuffixChars, ending at a line end when cut. */
  readonly suffix: string;
  /** Leading whitespace of the cursor's line: "block" ends at a line indented less. */
  readonly indent: string;
}

export function inlineContext(document: SyncedDocument, position: Position, settings: Required<InlineCompletionSettings>): InlineContext {
  const offset = document.offsetAt(position);
  const text = document.text;
  let prefixStart = Math.max(0, offset - settings.maxPrefixChars);
  if (prefixStart > 0) {
    const lineStart = text.indexOf("\n", prefixStart - 1) + 1;
    if (lineStart > 0 && lineStart <= offset) prefixStart = lineStart;
  }
  let suffixEnd = Math.min(text.length, offset + settings.maxSuffixChars);
  if (suffixEnd < text.length) {
    const lineEnd = text.lastIndexOf("\n", suffixEnd);
    if (lineEnd >= offset) suffixEnd = lineEnd + 1;
  }
  const line = document.lineAt(Math.min(position.line, document.lineCount - 1));
  return { prefix: text.slice(prefixStart, offset), suffix: text.slice(offset, suffixEnd), indent: /^[ \t]*/.exec(line)![0] };
}

export interface Cut {
  /** The completion to offer so far. */
  readonly text: string;
  /** The stopping rule is met: decoding can stop. */
  readonly done: boolean;
}

/**
 * Where a completion ends under a stopping rule, given all text decoded so far. Line breaks
 * before any visible text do not end a "line" completion (after `foo {` a model often starts
 * with a newline), and the text returned never ends in the break that ended it.
 */
export function cutCompletion(decoded: string, stopAt: Required<InlineCompletionSettings>["stopAt"], indent: string): Cut {
  if (stopAt === "none") return { text: decoded, done: false };
  const firstVisible = decoded.search(/\S/);
  if (firstVisible === -1) return { text: decoded, done: false };
  if (stopAt === "line") {
    const end = lineBreakAt(decoded, firstVisible);
    return end === -1 ? { text: decoded, done: false } : { text: decoded.slice(0, end).trimEnd(), done: true };
  }
  // "block": a blank line, or a non-blank line indented less than the cursor's line, ends it.
  let lineStart = lineBreakAt(decoded, firstVisible);
  while (lineStart !== -1) {
    const afterBreak = decoded[lineStart] === "\r" && decoded[lineStart + 1] === "\n" ? lineStart + 2 : lineStart + 1;
    const nextBreak = lineBreakAt(decoded, afterBreak);
    const line = decoded.slice(afterBreak, nextBreak === -1 ? decoded.length : nextBreak);
    const complete = nextBreak !== -1;
    const blank = line.trim() === "";
    if (blank && complete) return { text: decoded.slice(0, lineStart).trimEnd(), done: true };
    if (!blank) {
      const lineIndent = /^[ \t]*/.exec(line)![0];
      const knownIndent = complete || line.length > lineIndent.length;
      if (knownIndent && lineIndent.length < indent.length) return { text: decoded.slice(0, lineStart).trimEnd(), done: true };
    }
    lineStart = nextBreak;
  }
  return { text: decoded, done: false };
}

function lineBreakAt(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === "\n" || c === "\r") return i;
  }
  return -1;
}
