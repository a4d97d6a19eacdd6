/**
 * Which tokens make up each character of a response, so that a view can show one cell per
 * character. Byte-level BPE (Llama 3, Qwen) and SentencePiece's byte fallback split a multi-byte
 * UTF-8 character across tokens: 🎉 can be " \xf0\x9f" + "\x8e" + "\x89". A cell is a run of
 * tokens from one character boundary to the next: a token whose bytes do not end on a boundary
 * joins the tokens after it, up to the one that completes the character. A character the reader
 * sees as one — "e" with a combining accent, 👨‍💻 (three code points joined by ZWJ) — is one
 * cell too: a cell whose text continues the previous cell's last grapheme joins that cell.
 *
 * A cell's colour is the sum of its tokens' advantages: by the chain rule, the log-ratio
 * log p_dpo − log p_sft of the cell's bytes as a whole. A token whose advantage is unknown (the
 * SFT model was not consulted) adds nothing; the sum is unknown only when every token's is.
 *
 * Pure and dependency-free: the CLI and the webview bundle both use it.
 */

/** What grouping needs of a trace entry. */
export interface CellToken {
  /** The characters the token completes (TraceEntry.piece). */
  readonly piece: string;
  /** The token's bytes, lower-case hex; "" for a special token; absent from an older server. */
  readonly bytes?: string;
}

/**
 * The boundary state of a streaming UTF-8 decoder, step for step the WHATWG decoder that
 * TextDecoder (and so the runtime's pieces) follows: an ill-formed byte ends the character it
 * interrupts (as U+FFFD) and starts afresh.
 */
export class Utf8Boundary {
  #needed = 0;
  #lower = 0x80;
  #upper = 0xbf;
  /** The bytes of the character still open, lower-case hex. */
  #pending = "";

  /** Whether a character is open: the bytes so far end inside it. */
  get open(): boolean {
    return this.#needed > 0;
  }

  /** The open character's bytes so far, lower-case hex ("" when none is open). */
  get pending(): string {
    return this.#pending;
  }

  /** Feeds a token's bytes (hex); says whether they leave the text on a character boundary. */
  push(hex: string | undefined): boolean {
    if (hex !== undefined) for (let i = 0; i + 1 < hex.length; i += 2) this.#byte(parseInt(hex.slice(i, i + 2), 16), hex.slice(i, i + 2));
    return !this.open;
  }

  #byte(byte: number, hex: string): void {
    if (this.#needed > 0) {
      if (byte >= this.#lower && byte <= this.#upper) {
        this.#lower = 0x80;
        this.#upper = 0xbf;
        this.#pending += hex;
        if (this.#pending.length / 2 === this.#needed + 1) this.#reset();
        return;
      }
      // An interrupted character ends here; the byte starts over.
      this.#reset();
    }
    if (byte >= 0xc2 && byte <= 0xdf) this.#start(1, hex);
    else if (byte >= 0xe0 && byte <= 0xef) this.#start(2, hex, byte === 0xe0 ? 0xa0 : 0x80, byte === 0xed ? 0x9f : 0xbf);
    else if (byte >= 0xf0 && byte <= 0xf4) this.#start(3, hex, byte === 0xf0 ? 0x90 : 0x80, byte === 0xf4 ? 0x8f : 0xbf);
  }

  #start(needed: number, hex: string, lower = 0x80, upper = 0xbf): void {
    this.#needed = needed;
    this.#lower = lower;
    this.#upper = upper;
    this.#pending = hex;
  }

  #reset(): void {
    this.#needed = 0;
    this.#lower = 0x80;
    this.#upper = 0xbf;
    this.#pending = "";
  }
}

/** Tokens `start` (inclusive) to `end` (exclusive) of a response, shown as one cell. */
export interface CharacterCell {
  readonly start: number;
  readonly end: number;
  /** The last token ends on a character boundary (false only for a response that stops inside one). */
  readonly complete: boolean;
}

/**
 * Groups a response's tokens into cells as they stream. A token that arrives while a cell is open
 * (its bytes so far end inside a character) joins that cell, whatever it holds; any other starts
 * a new one. A cell whose first character continues the grapheme the previous cell ends with
 * becomes part of that cell.
 */
export class CharacterCells {
  readonly #boundary = new Utf8Boundary();
  readonly #cells: { start: number; end: number; complete: boolean; text: string; decided: boolean }[] = [];

  get cells(): readonly CharacterCell[] {
    return this.#cells;
  }

  /** The open character's bytes so far, lower-case hex ("" when the last cell is complete). */
  get pending(): string {
    return this.#boundary.pending;
  }

  /**
   * How many cells can no longer change. A later token can only join the last cell, or, while the
   * last cell has no text yet to tell, make it part of the one before.
   */
  get settled(): number {
    const last = this.#cells.at(-1);
    if (last === undefined) return 0;
    return Math.max(0, this.#cells.length - (last.decided ? 1 : 2));
  }

  /**
   * Adds the next token; returns the index of the cell that holds it. Cells after that index,
   * if there were any, are gone (merged into it).
   */
  push(token: CellToken): number {
    const last = this.#cells.at(-1);
    const position = last?.end ?? 0;
    const complete = this.#boundary.push(token.bytes);
    let cell = last;
    if (cell === undefined || cell.complete) {
      cell = { start: position, end: position + 1, complete, text: token.piece, decided: false };
      this.#cells.push(cell);
    } else {
      cell.end = position + 1;
      cell.complete = complete;
      cell.text += token.piece;
    }
    // Whether a cell continues the grapheme before it is known from its first character.
    if (!cell.decided && (cell.text !== "" || cell.complete)) {
      cell.decided = true;
      const previous = this.#cells.at(-2);
      if (previous !== undefined && continuesGrapheme(previous.text, cell.text)) {
        previous.end = cell.end;
        previous.complete = cell.complete;
        previous.text += cell.text;
        this.#cells.pop();
      }
    }
    return this.#cells.length - 1;
  }
}

const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" });
/** Long enough for any grapheme a model writes (a family emoji is 11 UTF-16 units). */
const GRAPHEME_TAIL = 32;

/** Whether `next` starts inside the grapheme `before` ends with ("e" then U+0301, "👨" then ZWJ). */
export function continuesGrapheme(before: string, next: string): boolean {
  if (before === "" || next === "") return false;
  const tail = before.slice(-GRAPHEME_TAIL);
  for (const segment of graphemes.segment(tail + next)) {
    if (segment.index === tail.length) return false;
    if (segment.index > tail.length) return true;
  }
  return true;
}

/** A response's cells, all at once. */
export function characterCells(tokens: readonly CellToken[]): CharacterCell[] {
  const cells = new CharacterCells();
  for (const token of tokens) cells.push(token);
  return cells.cells.map(({ start, end, complete }) => ({ start, end, complete }));
}

/** A cell's advantage: the sum of its tokens' known advantages; null when none is known. */
export function cellAdvantage(tokens: readonly { readonly advantage: number | null }[]): number | null {
  let sum: number | null = null;
  for (const token of tokens) if (token.advantage !== null) sum = (sum ?? 0) + token.advantage;
  return sum;
}
