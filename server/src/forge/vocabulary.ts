/**
 * A SentencePiece-style ("llama" tokenizer model in GGUF) vocabulary chosen from a corpus, and a
 * pure-JS copy of llama.cpp's SPM tokenizer over it.
 *
 * How llama.cpp tokenises with such a vocabulary: the text gets one leading space, every space
 * becomes "▁" (U+2581), the text is split into Unicode code points, and adjacent symbols are
 * merged greedily — always the pair whose concatenation is the highest-scoring token — until no
 * adjacent pair forms a token. A leftover symbol that is not a token is emitted as its UTF-8
 * bytes through the `<0xHH>` tokens.
 *
 * So the pieces are whole "segments" of the escaped corpus: a segment starts at a "▁" (or after a
 * newline, or at a code point that follows one) and never contains an inner "▁"; "\n" is a piece
 * of its own. For every kept segment all of its prefixes are pieces too. Then the leftmost symbol
 * of a word is always a prefix of it and, with whatever symbol follows, forms a longer prefix —
 * also a piece — so merging cannot stop before the whole word, whatever the merge order. Merges
 * never cross a segment boundary, because no piece has an inner "▁" or contains "\n".
 */

export interface Vocabulary {
  tokens: string[];
  scores: number[];
  tokenTypes: number[];
  bos: number;
  eos: number;
  unk: number;
}

/** llama.cpp's llama_token_type values, as stored in `tokenizer.ggml.token_type`. */
export const TokenType = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

export const SPACE_MARK = "\u2581";
const NEWLINE = "\n";

export const UNK_TOKEN = "<unk>";
export const BOS_TOKEN = "<s>";
export const EOS_TOKEN = "</s>";
/** Index of the `<0x00>` token; byte b is token BYTE_TOKEN_BASE + b. */
export const BYTE_TOKEN_BASE = 3;
/** Tokens before the first normal piece: <unk>, <s>, </s> and the 256 byte tokens. */
export const RESERVED_TOKEN_COUNT = BYTE_TOKEN_BASE + 256;

export interface BuildVocabularyOptions {
  /** Maximum number of normal pieces; the vocabulary has RESERVED_TOKEN_COUNT more tokens. */
  maxPieces: number;
  /** Segments longer than this many code points are never kept whole. Defaults to 24. */
  maxPieceLength?: number;
}

export function byteTokenText(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, "0")}>`;
}

/** What llama.cpp's SPM tokenizer does to a text before merging (add_space_prefix = true). */
export function escapeForSpm(text: string): string {
  return SPACE_MARK + text.replaceAll(" ", SPACE_MARK);
}

/** Split escaped text at every "▁" (which starts a segment) and around every "\n". */
export function segmentEscaped(escaped: string): string[] {
  const segments: string[] = [];
  let current = "";
  for (const char of escaped) {
    if (char === NEWLINE || char === SPACE_MARK) {
      if (current !== "") segments.push(current);
      current = char;
      if (char === NEWLINE) {
        segments.push(current);
        current = "";
      }
    } else {
      current += char;
    }
  }
  if (current !== "") segments.push(current);
  return segments;
}

const specialTexts: readonly string[] = [UNK_TOKEN, BOS_TOKEN, EOS_TOKEN, ...Array.from({ length: 256 }, (_, b) => byteTokenText(b))];
const specialTextSet = new Set(specialTexts);

/**
 * llama.cpp looks up merged text among ALL tokens, control and byte tokens included. A piece
 * that is a proper prefix or suffix of "<s>", "</s>", "<unk>" or "<0xHH>" could merge with its
 * complement into that token, turning the literal text "<s>" into BOS. Every special text is at
 * least 3 code points long, so forbidding multi-code-point such pieces (those not starting with
 * "▁", which can only be a left operand) makes that merge impossible.
 */
function isForbiddenPiece(piece: string): boolean {
  if (specialTextSet.has(piece)) return true;
  if (piece.startsWith(SPACE_MARK)) return false;
  if (!piece.startsWith("<") && !piece.endsWith(">")) return false;
  return specialTexts.some((text) => text.length > piece.length && (text.startsWith(piece) || text.endsWith(piece)));
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byCountThenString(counts: ReadonlyMap<string, number>): (a: string, b: string) => number {
  return (a, b) => (counts.get(b)! - counts.get(a)!) || compareStrings(a, b);
}

export function buildVocabulary(texts: readonly string[], options: BuildVocabularyOptions): Vocabulary {
  const { maxPieces } = options;
  const maxPieceLength = options.maxPieceLength ?? 24;
  if (!Number.isSafeInteger(maxPieces) || maxPieces < 1) throw new RangeError("maxPieces must be a positive integer");

  const charCounts = new Map<string, number>();
  const segmentCounts = new Map<string, number>();
  for (const text of texts) {
    const escaped = escapeForSpm(text);
    for (const char of escaped) charCounts.set(char, (charCounts.get(char) ?? 0) + 1);
    for (const segment of segmentEscaped(escaped)) segmentCounts.set(segment, (segmentCounts.get(segment) ?? 0) + 1);
  }

  const pieces = new Set<string>();
  for (const char of [...charCounts.keys()].sort(byCountThenString(charCounts))) {
    if (pieces.size >= maxPieces) break;
    pieces.add(char);
  }

  // How often a multi-code-point piece would start a segment: the rank of prefixes and words.
  const usage = new Map<string, number>(charCounts);
  for (const segment of [...segmentCounts.keys()].sort(byCountThenString(segmentCounts))) {
    const chars = Array.from(segment);
    if (chars.length < 2 || chars.length > maxPieceLength) continue;
    if (!chars.every((char) => pieces.has(char))) continue;
    const prefixes: string[] = [];
    for (let end = 2; end <= chars.length; end++) prefixes.push(chars.slice(0, end).join(""));
    if (prefixes.some(isForbiddenPiece)) continue;
    const added = prefixes.filter((prefix) => !pieces.has(prefix));
    if (pieces.size + added.length > maxPieces) continue;
    for (const prefix of added) pieces.add(prefix);
  }
  for (const [segment, count] of segmentCounts) {
    const chars = Array.from(segment);
    for (let end = 2; end <= Math.min(chars.length, maxPieceLength); end++) {
      const prefix = chars.slice(0, end).join("");
      if (pieces.has(prefix)) usage.set(prefix, (usage.get(prefix) ?? 0) + count);
    }
  }

  const ranked = [...pieces].sort(byCountThenString(usage));
  const tokens = [...specialTexts, ...ranked];
  const scores = [0, 0, 0, ...new Array<number>(256).fill(0), ...ranked.map((_, rank) => 0 - rank)];
  const tokenTypes = [
    TokenType.unknown, TokenType.control, TokenType.control,
    ...new Array<number>(256).fill(TokenType.byte),
    ...new Array<number>(ranked.length).fill(TokenType.normal),
  ];
  return { tokens, scores, tokenTypes, unk: 0, bos: 1, eos: 2 };
}

interface Symbol { start: number; end: number; prev: number; next: number }
interface Bigram { left: number; right: number; score: number; size: number }

/**
 * llama.cpp's SPM tokenisation (llm_tokenizer_spm_session) of one text, with add_space_prefix,
 * without BOS and without special-token parsing: `model.tokenize(text)` for a model built on
 * this vocabulary. Used by the trainer so that it sees exactly the tokens llama.cpp will.
 */
export function tokenizeSpm(vocabulary: Vocabulary, text: string, lookup = createTokenLookup(vocabulary)): number[] {
  if (text === "") return [];
  const chars = Array.from(escapeForSpm(text));
  const symbols: Symbol[] = chars.map((_, i) => ({ start: i, end: i + 1, prev: i - 1, next: i + 1 < chars.length ? i + 1 : -1 }));
  const textOf = (start: number, end: number): string => chars.slice(start, end).join("");
  const queue = new BigramQueue();
  const tryAddBigram = (left: number, right: number): void => {
    if (left === -1 || right === -1) return;
    const merged = textOf(symbols[left]!.start, symbols[right]!.end);
    const token = lookup.get(merged);
    if (token === undefined) return;
    queue.push({ left, right, score: Math.fround(vocabulary.scores[token]!), size: symbols[right]!.end - symbols[left]!.start });
  };
  for (let i = 1; i < symbols.length; i++) tryAddBigram(i - 1, i);
  for (let bigram = queue.pop(); bigram !== undefined; bigram = queue.pop()) {
    const left = symbols[bigram.left]!;
    const right = symbols[bigram.right]!;
    const leftSize = left.end - left.start;
    const rightSize = right.end - right.start;
    if (leftSize === 0 || rightSize === 0 || leftSize + rightSize !== bigram.size) continue;
    left.end = right.end;
    right.start = right.end;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next]!.prev = bigram.left;
    tryAddBigram(left.prev, bigram.left);
    tryAddBigram(bigram.left, left.next);
  }

  // Every merged symbol is a token (a bigram is only queued when its text is one), so llama.cpp's
  // reverse-merge resegmentation never triggers: a symbol is a token or falls back to bytes.
  const output: number[] = [];
  const utf8 = new TextEncoder();
  for (let i = 0; i !== -1; i = symbols[i]!.next) {
    const piece = textOf(symbols[i]!.start, symbols[i]!.end);
    const token = lookup.get(piece);
    if (token !== undefined) output.push(token);
    else for (const byte of utf8.encode(piece)) output.push(BYTE_TOKEN_BASE + byte);
  }
  return output;
}

/** Text → token id over all tokens, the first id winning for duplicate texts (as llama.cpp). */
export function createTokenLookup(vocabulary: Vocabulary): Map<string, number> {
  const lookup = new Map<string, number>();
  vocabulary.tokens.forEach((token, id) => {
    if (!lookup.has(token)) lookup.set(token, id);
  });
  return lookup;
}

/** A binary max-heap ordered like llama.cpp's llm_bigram_spm::comparator. */
class BigramQueue {
  private readonly heap: Bigram[] = [];

  private static before(a: Bigram, b: Bigram): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }

  push(item: Bigram): void {
    const heap = this.heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!BigramQueue.before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  pop(): Bigram | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < heap.length && BigramQueue.before(heap[l]!, heap[best]!)) best = l;
        if (r < heap.length && BigramQueue.before(heap[r]!, heap[best]!)) best = r;
        if (best === i) break;
        [heap[i], heap[best]] = [heap[best]!, heap[i]!];
        i = best;
      }
    }
    return top;
  }
}
