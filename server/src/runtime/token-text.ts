/**
 * Exact per-token text: what each token contributes to the response, byte for byte.
 *
 * llama.cpp's detokenizer cannot give per-token text exactly. With byte-level BPE (Llama 3, Qwen)
 * one token can hold part of a UTF-8 character: `detokenize([t])` returns U+FFFD for it, and with
 * the previous tokens as context the pieces of 🎉 come out as "�", "", "�" — the character is
 * lost. Its clean-up pass also drops the space of tokens such as " ?" and " ,", so the pieces do
 * not join back to the text.
 *
 * So the bytes come from the GGUF's own vocabulary (`tokenizer.ggml.tokens` and `token_type`),
 * decoded the way llama.cpp's token_to_piece does it — the GPT-2 byte alphabet for "gpt2"
 * vocabularies, "▁" for a space and `<0xNN>` byte tokens for SentencePiece ("llama"), user-defined
 * tokens as their text — and a streaming UTF-8 decoder turns them into pieces: a token that ends
 * inside a character contributes "" and the token that completes it the whole character. The
 * pieces of a response join to exactly the UTF-8 decoding of its bytes, and each token's own bytes
 * are kept (`bytesHex`) so a view can show which tokens a character spans.
 *
 * Tokens that render as no text — control and unknown tokens (llama.cpp prints them only when
 * asked for special tokens), unused ones, and every end-of-generation token (llama.cpp makes some
 * ordinary-looking tokens such as Qwen's `</s>` end-of-generation tokens) — contribute no bytes;
 * `special` names them, so they can be shown as named chips.
 */

import type { TraceEntry } from "../decoding/index.ts";

/** GGUF `tokenizer.ggml.token_type` values (llama.cpp's llama_token_type). */
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;
const UNUSED = 5;
const BYTE = 6;

export interface TokenTextVocabulary {
  /** `tokenizer.ggml.model`: "gpt2" (byte-level BPE), "llama" (SentencePiece), … */
  readonly tokenizerModel: string;
  readonly tokens: readonly string[];
  readonly tokenTypes: readonly number[] | undefined;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const EMPTY = new Uint8Array(0);

/** A token on its own, out of any response: how an alternative in a trace is named. */
export interface TokenAlone {
  /** Its bytes as text; "" when they are not whole UTF-8 characters (then `bytes` tells them). */
  readonly piece: string;
  /** Its bytes, lower-case hex ("" for a special token). */
  readonly bytes: string;
  /** Its name when it renders as no text. */
  readonly special?: string;
}

/** GPT-2's bytes_to_unicode(), inverted: the character that stands for each byte → the byte. */
function gpt2ByteDecoder(): Map<number, number> {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const decoder = new Map<number, number>();
  for (const b of printable) decoder.set(b, b);
  let next = 0;
  for (let b = 0; b < 256; b++) if (!printable.includes(b)) decoder.set(256 + next++, b);
  return decoder;
}

export class TokenText {
  readonly #vocabulary: TokenTextVocabulary;
  readonly #isEog: (token: number) => boolean;
  readonly #byteDecoder: Map<number, number> | undefined;
  readonly #cache = new Map<number, Uint8Array>();
  readonly #alone = new Map<number, TokenAlone>();

  /** `isEog`: the model's end-of-generation set (llama.cpp's, which the vocabulary alone does not give). */
  constructor(vocabulary: TokenTextVocabulary, isEog: (token: number) => boolean = () => false) {
    this.#vocabulary = vocabulary;
    this.#isEog = isEog;
    this.#byteDecoder = vocabulary.tokenizerModel === "gpt2" ? gpt2ByteDecoder() : undefined;
  }

  get vocabularySize(): number {
    return this.#vocabulary.tokens.length;
  }

  /** The token's name when it renders as no text (control, unknown, unused, end-of-generation); else undefined. */
  special(token: number): string | undefined {
    const type = this.#type(token);
    if (type === CONTROL || type === UNKNOWN || type === UNUSED || this.#isEog(token)) return this.#vocabulary.tokens[token];
    return undefined;
  }

  /** The bytes the token adds to the text (empty for a special token). Do not modify the array. */
  bytes(token: number): Uint8Array {
    let bytes = this.#cache.get(token);
    if (bytes === undefined) {
      bytes = this.#compute(token);
      this.#cache.set(token, bytes);
    }
    return bytes;
  }

  /** The token out of context (cached): an alternative's text in a trace entry. */
  alone(token: number): TokenAlone {
    let alone = this.#alone.get(token);
    if (alone === undefined) {
      const bytes = this.bytes(token);
      const special = this.special(token);
      let piece = "";
      try {
        piece = strictUtf8.decode(bytes);
      } catch {
        // Part of a multi-byte character: the bytes say which.
      }
      alone = { piece, bytes: Buffer.from(bytes).toString("hex"), ...(special === undefined ? {} : { special }) };
      this.#alone.set(token, alone);
    }
    return alone;
  }

  /** The UTF-8 decoding of the tokens' bytes: the text they stand for, exactly. */
  text(tokens: readonly number[]): string {
    const decoder = this.decoder();
    let text = "";
    for (const token of tokens) text += decoder.push(token);
    return text;
  }

  /** A streaming decoder: push tokens in order, get each one's piece. */
  decoder(): PieceDecoder {
    return new PieceDecoder(this);
  }

  #type(token: number): number {
    if (!(Number.isInteger(token) && token >= 0 && token < this.#vocabulary.tokens.length)) throw new RangeError(`token ${token} is outside the ${this.#vocabulary.tokens.length}-token vocabulary`);
    return this.#vocabulary.tokenTypes?.[token] ?? NORMAL;
  }

  #compute(token: number): Uint8Array {
    if (this.special(token) !== undefined) return EMPTY;
    const text = this.#vocabulary.tokens[token]!;
    const type = this.#type(token);
    if (type === USER_DEFINED) return utf8.encode(text);
    if (type === BYTE) {
      const match = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
      if (match !== null) return Uint8Array.of(parseInt(match[1]!, 16));
      return utf8.encode(text);
    }
    const decoder = this.#byteDecoder;
    if (decoder === undefined) return utf8.encode(text.replaceAll("\u2581", " "));
    const out = new Uint8Array(text.length * 4);
    let length = 0;
    for (const char of text) {
      const byte = decoder.get(char.codePointAt(0)!);
      if (byte === undefined) {
        // Not in the byte alphabet (llama.cpp writes "[UNK_BYTE_…]" here): keep the character.
        const encoded = utf8.encode(char);
        out.set(encoded, length);
        length += encoded.length;
      } else {
        out[length++] = byte;
      }
    }
    return out.slice(0, length);
  }
}

export interface Piece {
  /** The characters this token completes (possibly ""). */
  readonly text: string;
  /** The token's own bytes, lower-case hex ("" for a special token). */
  readonly bytesHex: string;
  /** The token's name when it renders as no text. */
  readonly special?: string;
}

export class PieceDecoder {
  readonly #tokens: TokenText;
  readonly #decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

  constructor(tokens: TokenText) {
    this.#tokens = tokens;
  }

  /** The next token's piece: the text completed by its bytes. */
  push(token: number): string {
    const bytes = this.#tokens.bytes(token);
    return bytes.length === 0 ? "" : this.#decoder.decode(bytes, { stream: true });
  }

  /** The next token's piece with its bytes and, for a special token, its name. */
  pushPiece(token: number): Piece {
    const special = this.#tokens.special(token);
    const text = this.push(token);
    return { text, bytesHex: Buffer.from(this.#tokens.bytes(token)).toString("hex"), ...(special === undefined ? {} : { special }) };
  }
}

/**
 * The entry with its token's exact bytes and, for a special token, its name; each of its top
 * tokens with its own text (`TokenText.alone`) so a view can name the alternatives. A picks-only
 * entry has no top tokens, so it costs only its own token's bytes.
 */
export function withTokenText(text: TokenText, entry: TraceEntry): TraceEntry {
  const alone = text.alone(entry.token);
  return {
    ...entry,
    bytes: alone.bytes,
    ...(alone.special === undefined ? {} : { special: alone.special }),
    ...(entry.top.length === 0 ? {} : { top: entry.top.map((candidate) => ({ ...candidate, ...text.alone(candidate.token) })) }),
  };
}
