/**
 * A response traced on the llama-3.1 fixture (Llama 3.1's real tokenizer, random weights):
 * `aad score --raw "Say hi" --response " Party 🎉 渋谷 café 👨‍💻!"` (the é written as e + U+0301).
 * Byte-level BPE splits 🎉 as " \xf0\x9f" + "\x8e" + "\x89", 渋 as " \xe6\xb8" + "\x8b", and 👨‍💻 over five
 * tokens; the combining accent is a token of its own after " cafe". Ids, pieces, bytes and
 * candidate-set sizes as the runtime gave them; advantages rounded to 4 places.
 */
export interface SplitToken {
  readonly token: number;
  readonly piece: string;
  readonly bytes: string;
  readonly special?: string;
  readonly advantage: number;
  readonly candidateSetSize: number;
}

export const SPLIT_TEXT = " Party \ud83c\udf89 \u6e0b\u8c37 cafe\u0301 \ud83d\udc68\u200d\ud83d\udcbb!";

export const SPLIT_TOKENS: readonly SplitToken[] = [
  { token: 8722, piece: " Party", bytes: "205061727479", advantage: -0.3461, candidateSetSize: 1 },
  { token: 11410, piece: " ", bytes: "20f09f", advantage: 0, candidateSetSize: 1 },
  { token: 236, piece: "", bytes: "8e", advantage: 0, candidateSetSize: 1 },
  { token: 231, piece: "\ud83c\udf89", bytes: "89", advantage: 0, candidateSetSize: 1 },
  { token: 98359, piece: " ", bytes: "20e6b8", advantage: 2.6591, candidateSetSize: 1 },
  { token: 233, piece: "\u6e0b", bytes: "8b", advantage: 1.262, candidateSetSize: 3 },
  { token: 104858, piece: "\u8c37", bytes: "e8b0b7", advantage: 0, candidateSetSize: 1 },
  { token: 42030, piece: " cafe", bytes: "2063616665", advantage: 2.2921, candidateSetSize: 1 },
  { token: 54939, piece: "\u0301", bytes: "cc81", advantage: 0, candidateSetSize: 1 },
  { token: 62904, piece: " ", bytes: "20f09f91", advantage: 1.0136, candidateSetSize: 1 },
  { token: 101, piece: "\ud83d\udc68", bytes: "a8", advantage: 1.9399, candidateSetSize: 7 },
  { token: 102470, piece: "\u200d", bytes: "e2808d", advantage: 1.4703, candidateSetSize: 4 },
  { token: 93273, piece: "", bytes: "f09f92", advantage: -1.0509, candidateSetSize: 8 },
  { token: 119, piece: "\ud83d\udcbb", bytes: "bb", advantage: 1.6345, candidateSetSize: 7 },
  { token: 0, piece: "!", bytes: "21", advantage: 1.169, candidateSetSize: 8 },
  { token: 128009, piece: "", bytes: "", special: "<|eot_id|>", advantage: 2.1802, candidateSetSize: 1 },
];

/** The cells a view shows for SPLIT_TOKENS: [first token, end (exclusive), text]. */
export const SPLIT_CELLS: readonly (readonly [number, number, string])[] = [
  [0, 1, " Party"],
  [1, 4, " \u{1f389}"],
  [4, 6, " \u6e0b"],
  [6, 7, "\u8c37"],
  [7, 9, " cafe\u0301"],
  [9, 14, " \u{1f468}\u200d\u{1f4bb}"],
  [14, 15, "!"],
  [15, 16, ""],
];
