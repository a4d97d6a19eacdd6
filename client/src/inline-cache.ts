/**
 * The suggestions inline completion already has, so that typing what is suggested (or accepting
 * it a word at a time) keeps showing the rest of it instead of asking the model again.
 *
 * A suggestion is remembered with the text just before the point where it was offered (its
 * anchor). Later, at any cursor, it still applies when the text before the cursor ends with that
 * anchor text followed by a proper prefix of the suggestion: what is left is offered. No `vscode`
 * import, so it is tested on strings.
 */

export interface InlineSuggestion {
  /** The document (its URI), so that two files never share suggestions. */
  readonly document: string;
  /** Text just before the anchor, at most `anchorChars` long. */
  readonly before: string;
  /** The suggested text, inserted at the anchor. */
  readonly text: string;
}

export interface InlineCacheOptions {
  /** Suggestions kept; the least recently used goes first. Default 16. */
  readonly capacity?: number;
  /** Text before the anchor that must match. Default 200. */
  readonly anchorChars?: number;
}

export class InlineCache {
  readonly capacity: number;
  readonly anchorChars: number;
  /** Most recently used last. */
  #entries: InlineSuggestion[] = [];

  constructor(options: InlineCacheOptions = {}) {
    this.capacity = options.capacity ?? 16;
    this.anchorChars = options.anchorChars ?? 200;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${this.capacity}`);
  }

  get size(): number {
    return this.#entries.length;
  }

  /** How much text before the cursor `lookup` needs to see: pass at least this many characters. */
  contextChars(): number {
    return this.anchorChars + Math.max(0, ...this.#entries.map((e) => e.text.length));
  }

  /** Remembers that `text` was suggested after `textBefore` (the document's text before the cursor, or its tail). */
  remember(document: string, textBefore: string, text: string): void {
    if (text === "") return;
    const before = textBefore.slice(-this.anchorChars);
    this.#entries = this.#entries.filter((e) => !(e.document === document && e.before === before));
    this.#entries.push({ document, before, text });
    if (this.#entries.length > this.capacity) this.#entries.shift();
  }

  /**
   * The rest of a remembered suggestion that the cursor is inside of: `textBefore` (text before
   * the cursor, at least `contextChars()` of it when available) ends with an anchor and part of
   * its suggestion. When several apply, the one anchored nearest the cursor (the model's latest
   * word there) wins; undefined when none applies.
   */
  lookup(document: string, textBefore: string): string | undefined {
    let best: { entry: InlineSuggestion; typed: number } | undefined;
    for (const entry of this.#entries) {
      if (entry.document !== document) continue;
      const typed = typedLength(entry, textBefore);
      if (typed !== undefined && (best === undefined || typed < best.typed)) best = { entry, typed };
    }
    if (best === undefined) return undefined;
    this.#entries = [...this.#entries.filter((e) => e !== best.entry), best.entry];
    return best.entry.text.slice(best.typed);
  }

  /** Forgets a document's suggestions (it was closed) or, without an argument, everything. */
  clear(document?: string): void {
    this.#entries = document === undefined ? [] : this.#entries.filter((e) => e.document !== document);
  }
}

/** How much of `entry.text` follows the anchor before the cursor; undefined if the cursor does not continue the anchor. */
function typedLength(entry: InlineSuggestion, textBefore: string): number | undefined {
  if (!textBefore.includes(entry.before)) return undefined;
  for (let typed = entry.text.length - 1; typed >= 0; typed--) {
    if (textBefore.endsWith(entry.before + entry.text.slice(0, typed))) return typed;
  }
  return undefined;
}
