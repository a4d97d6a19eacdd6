/**
 * Cells of whole characters over a response's tokens (server/src/decoding/characters.ts), on a
 * trace of Llama 3.1's real tokenizer and on SentencePiece byte-fallback tokens.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { cellAdvantage, CharacterCells, characterCells, continuesGrapheme, Utf8Boundary } from "../../server/src/decoding/characters.ts";
import { SPLIT_CELLS, SPLIT_TEXT, SPLIT_TOKENS } from "./split-characters.ts";

const hex = (text: string): string => Buffer.from(text, "utf8").toString("hex");

void test("a byte-level BPE trace groups into one cell per character: 🎉 over three tokens, 渋 over two, 👨‍💻 over five", () => {
  const cells = characterCells(SPLIT_TOKENS);
  assert.deepEqual(
    cells.map((cell) => [cell.start, cell.end, SPLIT_TOKENS.slice(cell.start, cell.end).map((token) => token.piece).join("")]),
    SPLIT_CELLS,
  );
  assert.ok(cells.every((cell) => cell.complete));
  assert.equal(cells.map((cell) => SPLIT_TOKENS.slice(cell.start, cell.end).map((token) => token.piece).join("")).join(""), SPLIT_TEXT);
});

void test("a combining character split over SentencePiece byte tokens is one cell with its letter", () => {
  // "a" then U+20DD COMBINING ENCLOSING CIRCLE as <0xE2> <0x83> <0x9D>, then " b".
  const tokens = [
    { piece: "a", bytes: hex("a") },
    { piece: "", bytes: "e2" },
    { piece: "", bytes: "83" },
    { piece: "\u20dd", bytes: "9d" },
    { piece: " b", bytes: hex(" b") },
  ];
  assert.deepEqual(characterCells(tokens), [
    { start: 0, end: 4, complete: true },
    { start: 4, end: 5, complete: true },
  ]);
});

void test("a response that stops inside a character ends with an open cell that holds the bytes so far", () => {
  const cells = new CharacterCells();
  cells.push({ piece: " Party", bytes: hex(" Party") });
  assert.equal(cells.push({ piece: " ", bytes: "20f09f" }), 1);
  assert.deepEqual(cells.cells.at(-1), { start: 1, end: 2, complete: false, text: " ", decided: true });
  assert.equal(cells.pending, "f09f");
  assert.equal(cells.settled, 1, "its space cannot continue \"y\": \" Party\" is settled");
  assert.equal(cells.push({ piece: "", bytes: "8e" }), 1);
  assert.equal(cells.pending, "f09f8e");
  assert.equal(cells.push({ piece: "🎉", bytes: "89" }), 1);
  assert.equal(cells.pending, "");
  assert.equal(cells.settled, 1);
});

void test("a completed cell that continues the previous grapheme merges into it, and push says which cell holds the token", () => {
  const cells = new CharacterCells();
  assert.equal(cells.push({ piece: " cafe", bytes: hex(" cafe") }), 0);
  assert.equal(cells.push({ piece: "\u0301", bytes: "cc81" }), 0);
  assert.deepEqual(cells.cells, [{ start: 0, end: 2, complete: true, text: " cafe\u0301", decided: true }]);
  // A cell of bytes alone waits: its character could still turn out to be an accent.
  assert.equal(cells.push({ piece: "", bytes: "cc" }), 1);
  assert.equal(cells.settled, 0);
  assert.equal(cells.push({ piece: "\u0300", bytes: "80" }), 0);
  assert.equal(cells.cells.length, 1);
});

void test("special tokens and an empty piece never merge across a grapheme", () => {
  assert.equal(continuesGrapheme("e", ""), false);
  assert.equal(continuesGrapheme("", "\u0301"), false);
  assert.equal(continuesGrapheme("e", "\u0301"), true);
  assert.equal(continuesGrapheme("👨", "\u200d💻"), true);
  assert.equal(continuesGrapheme("a", " b"), false);
  const tokens = [
    { piece: "!", bytes: "21" },
    { piece: "", bytes: "", special: "<|eot_id|>" },
  ];
  assert.equal(characterCells(tokens).length, 2);
});

void test("the boundary follows the WHATWG decoder: an ill-formed byte ends the character it interrupts", () => {
  const boundary = new Utf8Boundary();
  assert.equal(boundary.push("e6"), false);
  // "a" cannot continue 渋: the open character ends (as U+FFFD) and "a" is whole.
  assert.equal(boundary.push("61"), true);
  assert.equal(boundary.push("f0"), false);
  // 0x8f is below F0's lower bound 0x90 (an overlong form): the open character ends there.
  assert.equal(boundary.push("8f"), true);
  assert.equal(boundary.push("ed"), false);
  // ED A0 would start a surrogate: ill-formed, so no character is open after it.
  assert.equal(boundary.push("a0"), true);
  assert.equal(boundary.push("c3"), false);
  assert.equal(boundary.push("a9"), true);
  assert.equal(boundary.push(""), true);
  assert.equal(boundary.push(undefined), true);
});

void test("a cell's advantage is the sum of its tokens' known advantages, unknown only when none is known", () => {
  assert.equal(cellAdvantage([{ advantage: 1.5 }, { advantage: -0.5 }, { advantage: null }]), 1);
  assert.equal(cellAdvantage([{ advantage: null }, { advantage: null }]), null);
  assert.equal(cellAdvantage([]), null);
});

void test("the boundary agrees with TextDecoder on every sequence of up to 4 bytes around UTF-8's range edges", () => {
  // Each byte value where a UTF-8 range starts or ends, and one inside: ASCII, continuation bytes
  // (80–BF, with E0's, ED's, F0's and F4's narrower second-byte ranges), the never-valid C0, C1 and
  // F5–FF, and each kind of lead byte.
  const edges = [0x00, 0x41, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff];
  const toHex = (bytes: readonly number[]): string => bytes.map((b) => b.toString(16).padStart(2, "0")).join("");
  // A streaming decoder holds bytes back exactly while a character is open; flushing it then
  // gives U+FFFD, and gives nothing on a boundary.
  const openAfter = (bytes: readonly number[]): boolean => {
    const decoder = new TextDecoder("utf-8");
    decoder.decode(Uint8Array.from(bytes), { stream: true });
    return decoder.decode() !== "";
  };
  let checked = 0;
  const visit = (bytes: number[]): void => {
    if (bytes.length > 0) {
      const boundary = new Utf8Boundary();
      let closed = true;
      for (const byte of bytes) closed = boundary.push(toHex([byte]));
      const open = openAfter(bytes);
      assert.equal(!closed, open, `after ${toHex(bytes)}`);
      assert.equal(boundary.open, open, `after ${toHex(bytes)}`);
      if (open) assert.ok(toHex(bytes).endsWith(boundary.pending) && boundary.pending.length >= 2, `pending ${boundary.pending} after ${toHex(bytes)}`);
      else assert.equal(boundary.pending, "", `after ${toHex(bytes)}`);
      // The same bytes in one push end in the same state.
      assert.equal(new Utf8Boundary().push(toHex(bytes)), closed, `${toHex(bytes)} at once`);
      checked++;
    }
    // Four bytes only from a four-byte lead: shorter characters are whole, or broken, by then.
    if (bytes.length === 4 || (bytes.length === 3 && !(bytes[0]! >= 0xf0 && bytes[0]! <= 0xf4))) return;
    for (const byte of edges) visit([...bytes, byte]);
  };
  visit([]);
  assert.ok(checked > 20_000, `${checked} sequences`);
});

void test("no cell is settled before the first token; an undecided last cell keeps the one before it open", () => {
  const cells = new CharacterCells();
  assert.equal(cells.settled, 0);
  cells.push({ piece: "a", bytes: hex("a") });
  cells.push({ piece: " b", bytes: hex(" b") });
  cells.push({ piece: " c", bytes: hex(" c") });
  assert.equal(cells.settled, 2);
  // A cell of bytes alone could still be an accent on "c": only "a" and " b" are settled.
  cells.push({ piece: "", bytes: "cc" });
  assert.equal(cells.cells.length, 4);
  assert.equal(cells.settled, 2);
});

void test("a piece that continues the grapheme and then starts new ones still joins the cell before", () => {
  assert.equal(continuesGrapheme("e", "\u0301 b"), true);
  assert.equal(continuesGrapheme("cafe", "\u0301!"), true);
  assert.equal(continuesGrapheme("e", " \u0301"), false);
});
