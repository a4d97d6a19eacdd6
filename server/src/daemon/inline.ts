/**
 * Inline completion without the model: what text around the cursor to send (cut to token
 * budgets), where a streamed completion should end ("line", "block" or "none"), and what of it
 * merely repeats the text after the cursor. Pure, so the rules are tested on strings; token counts
 * come from a function the caller passes.
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
  /** The cursor's line up to the cursor: whether it opens a block decides "block" stopping. */
  readonly linePrefix: string;
}

/** The character window's start moves in steps of maxPrefixChars / PREFIX_GRID_PARTS. */
export const PREFIX_GRID_PARTS = 8;
/** The prefix's far lines are dropped this many at a time, so its start stays put while the cursor's line grows. */
export const PREFIX_DROP_LINES = 16;

export function inlineContext(document: SyncedDocument, position: Position, settings: Required<InlineCompletionSettings>): InlineContext {
  const offset = document.offsetAt(position);
  const text = document.text;
  // The window's start is snapped to a grid of an eighth of its size, so typing moves it once per
  // that many characters, not with every keystroke (each move re-evaluates the whole prompt).
  const grid = Math.max(1, Math.floor(settings.maxPrefixChars / PREFIX_GRID_PARTS));
  let prefixStart = Math.max(0, Math.ceil((offset - settings.maxPrefixChars) / grid) * grid);
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
  const lineStart = Math.max(text.lastIndexOf("\n", offset - 1), text.lastIndexOf("\r", offset - 1)) + 1;
  return { prefix: text.slice(prefixStart, offset), suffix: text.slice(offset, suffixEnd), indent: /^[ \t]*/.exec(line)![0], linePrefix: text.slice(lineStart, offset) };
}

export interface BudgetedContext {
  readonly prefix: string;
  readonly suffix: string;
  /** Tokens of what was kept, as `countTokens` counts them. */
  readonly prefixTokens: number;
  readonly suffixTokens: number;
}

/**
 * The context within token budgets: whole lines, dropped from the far ends — the prefix keeps the
 * lines nearest the cursor, the suffix likewise. Only the cursor's own line is cut inside (its
 * far end) when it alone exceeds the budget. The prefix drops its far lines in blocks of
 * PREFIX_DROP_LINES (then halves, for what is left), so its start does not move with every
 * keystroke that crosses the budget: the next keystroke's prompt begins the same way and its KV
 * cache is reused. The price is up to a block of lines of budget left unused.
 */
export function fitContext(context: Pick<InlineContext, "prefix" | "suffix">, budget: { readonly prefixTokens: number; readonly suffixTokens: number }, countTokens: (text: string) => number): BudgetedContext {
  const prefix = keepPrefixLines(splitLines(context.prefix), budget.prefixTokens, countTokens);
  const suffix = keepLines(splitLines(context.suffix), budget.suffixTokens, countTokens, "start").join("");
  return { prefix, suffix, prefixTokens: prefix === "" ? 0 : countTokens(prefix), suffixTokens: suffix === "" ? 0 : countTokens(suffix) };
}

/** Lines nearest first; each keeps its line break. */
function splitLines(text: string): string[] {
  return text.match(/[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$/g) ?? [];
}

/**
 * The prefix's lines (in document order) from the first start on a grid of PREFIX_DROP_LINES lines
 * (counted from the prefix's start) whose rest fits; where none does, the grid is halved from the
 * last start that did not fit, down to single lines; the cursor's line cut when it alone does not
 * fit. Coarse steps first, so a start moves rarely and then by a block.
 */
function keepPrefixLines(lines: readonly string[], budget: number, countTokens: (text: string) => number): string {
  const rest = new Array<number>(lines.length + 1).fill(0);
  for (let i = lines.length - 1; i >= 0; i--) rest[i] = rest[i + 1]! + countTokens(lines[i]!);
  let base = 0;
  for (let step = PREFIX_DROP_LINES; step >= 1; step = Math.floor(step / 2)) {
    for (let start = base; start < lines.length; start += step) {
      if (rest[start]! <= budget) return lines.slice(start).join("");
      base = start;
    }
  }
  return keepLines([...lines].reverse(), budget, countTokens, "end").reverse().join("");
}

/** The nearest lines that fit; the first line (the cursor's) is cut keeping its `near` end when it alone does not. */
function keepLines(lines: readonly string[], budget: number, countTokens: (text: string) => number, near: "start" | "end"): string[] {
  const kept: string[] = [];
  let used = 0;
  for (const line of lines) {
    const tokens = countTokens(line);
    if (used + tokens > budget) {
      if (kept.length === 0 && budget > 0) kept.push(cutLine(line, budget, countTokens, near));
      break;
    }
    kept.push(line);
    used += tokens;
  }
  return kept;
}

function cutLine(line: string, budget: number, countTokens: (text: string) => number, near: "start" | "end"): string {
  let low = 0;
  let high = line.length;
  // The longest piece at the near end that fits: binary search on its length.
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    const piece = near === "end" ? line.slice(line.length - mid) : line.slice(0, mid);
    if (countTokens(piece) <= budget) low = mid;
    else high = mid - 1;
  }
  return near === "end" ? line.slice(line.length - low) : line.slice(0, low);
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
 *
 * "block" goes past the first line only where the model has begun a block: that line (with the
 * text before the cursor on it) ends in an opener, or the model indents its next line deeper.
 * The block then ends at a blank line, or at the first line indented no deeper than the line that
 * opened it — kept when it closes the block (`}`, `)`, `]`, `end`), dropped otherwise.
 */
export function cutCompletion(decoded: string, stopAt: Required<InlineCompletionSettings>["stopAt"], indent: string, linePrefix = indent): Cut {
  if (stopAt === "none") return { text: decoded, done: false };
  const firstVisible = decoded.search(/\S/);
  if (firstVisible === -1) return { text: decoded, done: false };
  const firstEnd = lineBreakAt(decoded, firstVisible);
  if (firstEnd === -1) return { text: decoded, done: false };
  const endLine = (at: number): Cut => ({ text: decoded.slice(0, at).trimEnd(), done: true });
  if (stopAt === "line") return endLine(firstEnd);

  // "block". The line the first visible text is on, whole (with the cursor's line before it when it is that line).
  const breakBefore = lastLineBreakBefore(decoded, firstVisible);
  const visibleLine = breakBefore === -1 ? linePrefix + decoded.slice(0, firstEnd) : decoded.slice(breakBefore + 1, firstEnd);
  // The model began on a new line after an opener the cursor's line ends in: the cursor's line opened the block.
  const cursorLine = linePrefix + decoded.slice(0, Math.max(0, lineBreakAt(decoded, 0)));
  const openedByCursorLine = breakBefore !== -1 && opensBlock(cursorLine);
  const opener = openedByCursorLine ? cursorLine : visibleLine;
  const baseIndent = indentOf(opener).length;
  let begun = openedByCursorLine || opensBlock(visibleLine);

  let lineStart = firstEnd;
  let bodyLines = openedByCursorLine ? 1 : 0;
  while (lineStart !== -1) {
    const afterBreak = decoded[lineStart] === "\r" && decoded[lineStart + 1] === "\n" ? lineStart + 2 : lineStart + 1;
    const nextBreak = lineBreakAt(decoded, afterBreak);
    const line = decoded.slice(afterBreak, nextBreak === -1 ? decoded.length : nextBreak);
    const complete = nextBreak !== -1;
    const blank = line.trim() === "";
    if (blank && !complete) return { text: decoded, done: false };
    if (blank) return endLine(lineStart);
    const lineIndent = indentOf(line).length;
    if (!begun) {
      if (lineIndent > baseIndent) begun = true;
      else return endLine(lineStart);
    } else if (lineIndent <= baseIndent || lineIndent < indent.length) {
      if (bodyLines === 0) return endLine(lineStart);
      if (!closesBlock(line)) return endLine(lineStart);
      // A closer is kept whole: wait for its line to end.
      return complete ? endLine(nextBreak) : { text: decoded, done: false };
    }
    bodyLines++;
    lineStart = nextBreak;
  }
  return { text: decoded, done: false };
}

/** A line that begins a block: it ends in an opening bracket, a colon, an arrow, or a block keyword. */
export function opensBlock(line: string): boolean {
  const code = line.replace(/\s+$/, "");
  return /[{([:]$|=>$|\b(?:do|then|begin|else)$/.test(code);
}

function closesBlock(line: string): boolean {
  return /^\s*(?:[})\]]|end\b)/.test(line);
}

function indentOf(line: string): string {
  return /^[ \t]*/.exec(line)![0];
}

function lineBreakAt(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === "\n" || c === "\r") return i;
  }
  return -1;
}

function lastLineBreakBefore(text: string, before: number): number {
  for (let i = before - 1; i >= 0; i--) {
    const c = text[i];
    if (c === "\n" || c === "\r") return i;
  }
  return -1;
}

/**
 * The completion without what merely repeats the text after the cursor (suffix-overlap stripping):
 * - all of it, when the text after the cursor already starts with it;
 * - on its first line, an end that the rest of the cursor's line starts with (the model closed
 *   `foo(a, b)` where `)` already follows the cursor): the whole rest of the line, a run of
 *   punctuation, or at least 3 characters, so that a word that merely ends like the next one stays;
 * - its last lines, when they are the lines that follow the cursor's line (a closing `}` the
 *   document already has).
 */
export function stripSuffixOverlap(completion: string, suffix: string): string {
  if (completion.trim() === "") return completion;
  if (suffix.startsWith(completion)) return "";
  const lines = completion.split(/\r\n|\r|\n/);
  const suffixLines = suffix.split(/\r\n|\r|\n/);
  const restOfLine = suffixLines[0]!;
  // Later lines first: the document's own next lines, repeated.
  if (lines.length > 1) {
    const following = suffixLines.slice(1).filter((l) => l.trim() !== "");
    for (let from = 1; from < lines.length; from++) {
      const tail = lines.slice(from).filter((l) => l.trim() !== "");
      if (tail.length > 0 && tail.length <= following.length && tail.every((l, i) => l.trim() === following[i]!.trim())) {
        return stripSuffixOverlap(joinLinesOf(completion, from), suffix);
      }
    }
  }
  if (restOfLine.trim() === "" || lines.length > 1) return completion;
  const first = lines[0]!;
  for (let k = Math.min(first.length, restOfLine.length); k >= 1; k--) {
    const overlap = restOfLine.slice(0, k);
    if (!first.endsWith(overlap)) continue;
    const whole = overlap === restOfLine.trimEnd();
    if (whole || /^[^\w\s]+$/.test(overlap) || k >= 3) return first.slice(0, first.length - k);
  }
  return completion;
}

/** The completion's first `count` lines with their own line breaks, the last one's dropped. */
function joinLinesOf(text: string, count: number): string {
  let end = 0;
  for (let line = 0; line < count; line++) {
    const next = lineBreakAt(text, end);
    if (next === -1) return text;
    end = line === count - 1 ? next : next + (text[next] === "\r" && text[next + 1] === "\n" ? 2 : 1);
  }
  return text.slice(0, end).trimEnd();
}
