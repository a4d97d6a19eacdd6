/**
 * How the view writes numbers and token text. One place, so the tooltip, the totals and the
 * tests agree on precision.
 */

/** The server's LOGPROB_FLOOR: a clamped −Infinity, so a probability of exactly 0. */
export const LOGPROB_FLOOR = -1000;

const MINUS = "\u2212";

function signed(value: number, digits: number): string {
  const text = Math.abs(value).toFixed(digits);
  if (Number(text) === 0) return (0).toFixed(digits);
  return (value < 0 ? MINUS : "+") + text;
}

/** A probability: 3 decimals, or 2 significant digits in exponent form below 0.001. */
export function formatProbability(logprob: number | null): string {
  if (logprob === null) return "unknown";
  if (logprob <= LOGPROB_FLOOR) return "0";
  const p = Math.exp(logprob);
  if (p >= 0.001) return p.toFixed(3);
  const [mantissa, exponent] = p.toExponential(1).split("e");
  return `${mantissa}e${exponent?.replace("-", MINUS) ?? ""}`;
}

export function formatLogprob(logprob: number | null): string {
  if (logprob === null) return "unknown";
  if (logprob <= LOGPROB_FLOOR) return `${MINUS}∞`;
  return logprob === 0 ? "0.00" : `${logprob < 0 ? MINUS : ""}${Math.abs(logprob).toFixed(2)}`;
}

/** An advantage in nats, signed; a clamped log-prob makes it a bound, not a value. */
export function formatAdvantage(advantage: number | null): string {
  if (advantage === null) return "unknown";
  if (Math.abs(advantage) >= -LOGPROB_FLOOR / 2) return advantage > 0 ? "+∞" : `${MINUS}∞`;
  return signed(advantage, 2);
}

export function formatReward(reward: number | null): string {
  return reward === null ? "—" : signed(reward, 3);
}

export function formatRank(rank: number | null): string {
  return rank === null ? "unknown" : String(rank);
}

/** A run of a token's text: literal characters, one whitespace character the CSS marks, or one control character shown as a named chip. */
export interface PieceSegment {
  readonly text: string;
  /** Set for a run that is one whitespace character (or an empty piece), drawn with a marker. */
  readonly whitespace?: "space" | "newline" | "tab" | "return" | "empty";
  /** Set for a run that is one invisible control or format character: its name ("NAK", "U+200B"). */
  readonly control?: string;
}

const C0_NAMES = [
  "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR", "SO", "SI",
  "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US",
];
/** Invisible characters, except the joiners that hold emoji and scripts together (ZWNJ, ZWJ). */
const INVISIBLE = /^(?![\u200c\u200d])[\p{Cc}\p{Cf}]$/u;

/** The name of an invisible control or format character (C0 by its abbreviation, DEL, else U+XXXX); undefined for any other. */
export function controlName(char: string): string | undefined {
  if (!INVISIBLE.test(char)) return undefined;
  const code = char.codePointAt(0)!;
  if (code < 0x20) return C0_NAMES[code];
  if (code === 0x7f) return "DEL";
  return `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
}

const WHITESPACE: Readonly<Record<string, PieceSegment["whitespace"]>> = { " ": "space", "\n": "newline", "\t": "tab", "\r": "return" };

/**
 * The runs of `piece`, each whitespace character a run of its own. The characters stay real
 * (so lines wrap at spaces, break at newlines and copy as typed); the stylesheet draws a marker
 * over each: "·" for a space, "→" for a tab, "⏎" before a line break, "∅" for an empty piece.
 * An invisible control character (U+0015, a zero-width space) is a run of its own with its name,
 * shown as a chip: it is in the text, but a font would draw it as nothing or as a box.
 */
export function pieceSegments(piece: string): PieceSegment[] {
  if (piece.length === 0) return [{ text: "", whitespace: "empty" }];
  const segments: PieceSegment[] = [];
  let literal = "";
  for (const char of piece) {
    const whitespace = WHITESPACE[char];
    const control = whitespace === undefined ? controlName(char) : undefined;
    if (whitespace === undefined && control === undefined) {
      literal += char;
      continue;
    }
    if (literal !== "") segments.push({ text: literal });
    literal = "";
    segments.push(whitespace === undefined ? { text: char, control: control! } : { text: char, whitespace });
  }
  if (literal !== "") segments.push({ text: literal });
  return segments;
}

/** The piece spelled out for a screen reader or a table cell: quoted, whitespace escaped. */
export function describePiece(piece: string): string {
  return JSON.stringify(piece);
}

/**
 * How one token shows: its piece; a named chip for a special token (an end-of-generation or
 * other control token, which adds no text); or, for a token that ends inside a multi-byte
 * character (byte-level BPE splits emoji and CJK across tokens), its bytes — the character itself
 * shows, whole, on the token that completes it, so no character is lost or shown as "�".
 */
export type TokenDisplay =
  | { readonly kind: "text"; readonly segments: readonly PieceSegment[] }
  | { readonly kind: "special"; readonly name: string }
  | { readonly kind: "partial"; readonly bytes: string };

export function tokenDisplay(entry: { readonly piece: string; readonly bytes?: string; readonly special?: string }): TokenDisplay {
  if (entry.special !== undefined) return { kind: "special", name: entry.special };
  if (entry.piece === "" && entry.bytes !== undefined && entry.bytes !== "") return { kind: "partial", bytes: spacedHex(entry.bytes) };
  return { kind: "text", segments: pieceSegments(entry.piece) };
}

/** The token spelled out for a screen reader. */
export function describeToken(entry: { readonly piece: string; readonly bytes?: string; readonly special?: string }): string {
  const display = tokenDisplay(entry);
  if (display.kind === "special") return `special token ${display.name}`;
  if (display.kind === "partial") return `part of a character, bytes ${display.bytes}`;
  const controls = display.segments.flatMap((segment) => (segment.control === undefined ? [] : [segment.control]));
  return controls.length === 0 ? describePiece(entry.piece) : `${describePiece(entry.piece)} (control character ${controls.join(", ")})`;
}

/**
 * What a token that is not plain text is, in a sentence for the details panel; undefined for
 * plain text. A special token adds no text; a control character is text no font shows.
 */
export function explainToken(entry: { readonly piece: string; readonly bytes?: string; readonly special?: string }): string | undefined {
  const display = tokenDisplay(entry);
  if (display.kind === "special") {
    return `${display.name} is a special token of the model's vocabulary (end of generation or control): it adds no text, and a response ends on an end-of-generation token.`;
  }
  if (display.kind === "partial") return `This token's bytes (${display.bytes}) are only part of a character; the character shows on the token that completes it.`;
  if (entry.piece === "") return "This token adds no text (∅).";
  const controls = display.segments.flatMap((segment) => (segment.control === undefined ? [] : [segment.control]));
  if (controls.length === 0) return undefined;
  return `Contains the invisible control character${controls.length > 1 ? "s" : ""} ${controls.join(", ")}: it is in the text, but has no visible form.`;
}

/** Bytes as hex pairs with spaces: "f0 9f 8e". */
export function spacedHex(hex: string): string {
  return (hex.match(/../g) ?? []).join(" ");
}

/** A cell of several tokens (one character split across them) spelled out for a screen reader. */
export function describeCell(tokens: readonly { readonly piece: string; readonly special?: string }[]): string {
  const specials = tokens.flatMap((token) => (token.special === undefined ? [] : [token.special]));
  const text = describePiece(tokens.map((token) => token.piece).join(""));
  return `${text}${specials.length === 0 ? "" : ` and special token ${specials.join(", ")}`} in ${tokens.length} tokens`;
}
