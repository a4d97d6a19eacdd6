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
