import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { applyChanges, SyncedDocument } from "../../server/src/daemon/documents.ts";
import { cutCompletion, fitContext, inlineContext, PREFIX_DROP_LINES, PREFIX_GRID_PARTS, stripSuffixOverlap } from "../../server/src/daemon/inline.ts";
import { ContextRing } from "../../server/src/daemon/context-ring.ts";
import { DEFAULT_INLINE_COMPLETION_SETTINGS } from "../../server/src/protocol/protocol.ts";

void describe("cutCompletion", () => {
  void test('"line" ends at the first line break after visible text, without the break', () => {
    assert.deepEqual(cutCompletion("reversed(xs)\nprint(", "line", ""), { text: "reversed(xs)", done: true });
    assert.deepEqual(cutCompletion("reversed(xs)", "line", ""), { text: "reversed(xs)", done: false });
  });

  void test('"line" lets a completion start with a line break (after `{` the next line is the completion)', () => {
    assert.deepEqual(cutCompletion("\n    return x\n}", "line", ""), { text: "\n    return x", done: true });
    assert.deepEqual(cutCompletion("\n  ", "line", ""), { text: "\n  ", done: false });
  });

  void test('"block" stays on one line where the model has not begun a block', () => {
    assert.deepEqual(cutCompletion("x += 1\n    return x\n}\n", "block", "    ", "    "), { text: "x += 1", done: true });
    // A next line whose indentation is not known yet does not decide it.
    assert.deepEqual(cutCompletion("x += 1\n    ", "block", "    ", "    "), { text: "x += 1\n    ", done: false });
  });

  void test('"block" goes on where the line opens a block, and keeps the line that closes it', () => {
    const decoded = "if (x) {\n    y();\n  }\n  z();\n";
    assert.deepEqual(cutCompletion(decoded, "block", "  ", "  "), { text: "if (x) {\n    y();\n  }", done: true });
    // The closing line is kept whole: its end is awaited.
    assert.deepEqual(cutCompletion("if (x) {\n    y();\n  }", "block", "  ", "  "), { text: "if (x) {\n    y();\n  }", done: false });
  });

  void test('"block" ends a Python block at a blank line or before the dedent', () => {
    assert.deepEqual(cutCompletion("for x in xs:\n    total += x\n\nprint(total)", "block", "", ""), { text: "for x in xs:\n    total += x", done: true });
    assert.deepEqual(cutCompletion("for x in xs:\n    total += x\nprint(total)\n", "block", "", ""), { text: "for x in xs:\n    total += x", done: true });
  });

  void test('"block" counts the text before the cursor: after `def f(x):` typed, the body is the completion', () => {
    assert.deepEqual(cutCompletion("\n    return x * 2\n\n", "block", "", "def f(x):"), { text: "\n    return x * 2", done: true });
    // The same body after a line that opens nothing: one line only.
    assert.deepEqual(cutCompletion("\n    return x * 2\n\n", "block", "", "y = 1"), { text: "\n    return x * 2", done: true });
    assert.deepEqual(cutCompletion("\n    a = 1\n    b = 2\n\n", "block", "", "y = 1"), { text: "\n    a = 1", done: true });
  });

  void test('"block" goes on when the model indents its next line deeper', () => {
    assert.deepEqual(cutCompletion("query = (\n    select()\n)\nrun()\n", "block", "", ""), { text: "query = (\n    select()\n)", done: true });
    assert.deepEqual(cutCompletion("call(a,\n     b)\nnext()\n", "block", "", ""), { text: "call(a,\n     b)", done: true });
  });

  void test('"none" never ends a completion', () => {
    assert.deepEqual(cutCompletion("a\n\nb", "none", ""), { text: "a\n\nb", done: false });
  });

  void test("property: the cut text is a prefix of what was decoded, and a done cut stays done as text arrives", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("a", " ", "\n", "\t", "}", "\r") }), fc.string({ unit: fc.constantFrom("a", "\n", " ") }), fc.constantFrom("line" as const, "block" as const, "none" as const), fc.constantFrom("", "  ", "\t"), (decoded, more, stopAt, indent) => {
        const cut = cutCompletion(decoded, stopAt, indent, indent);
        assert.ok(decoded.startsWith(cut.text));
        if (cut.done) assert.deepEqual(cutCompletion(decoded + more, stopAt, indent, indent), cut);
      }),
    );
  });
});

void describe("inlineContext", () => {
  const settings = { ...DEFAULT_INLINE_COMPLETION_SETTINGS, maxPrefixChars: 12, maxSuffixChars: 6 };

  void test("takes the text around the cursor, cut at line boundaries", () => {
    const document = new SyncedDocument("file:///a.py", "python", 1, "import os\ndef f(x):\n    return x\n\nprint(f(1))\n");
    const context = inlineContext(document, { line: 2, character: 11 }, settings);
    assert.equal(context.prefix, "    return ");
    assert.equal(context.suffix, "x\n\n");
    assert.equal(context.indent, "    ");
    assert.equal(context.linePrefix, "    return ");
  });

  void test("typing at the end of a document longer than the window moves the window's start rarely", () => {
    const body = Array.from({ length: 2000 }, (_, i) => `row ${String(i).padStart(5, "0")}\n`).join(""); // 20,000 characters
    const starts = new Set<number>();
    let typed = "";
    for (let k = 0; k < 300; k++) {
      typed += "y";
      const document = new SyncedDocument("file:///long.txt", "plaintext", 1, body + typed);
      const context = inlineContext(document, { line: 2000, character: typed.length }, DEFAULT_INLINE_COMPLETION_SETTINGS);
      assert.ok(context.prefix.length <= DEFAULT_INLINE_COMPLETION_SETTINGS.maxPrefixChars && context.prefix.endsWith(typed));
      assert.ok(context.prefix.length >= DEFAULT_INLINE_COMPLETION_SETTINGS.maxPrefixChars * (1 - 1 / PREFIX_GRID_PARTS) - 10);
      starts.add(body.length + typed.length - context.prefix.length);
    }
    // Sliding by characters, the start would move every 10 characters typed: 30 starts.
    assert.ok(starts.size <= 2, `the window started at ${starts.size} places`);
  });

  void test("a cursor past the end of its line or of the document is clamped", () => {
    const document = new SyncedDocument("file:///a", "plaintext", 1, "ab\ncd");
    assert.equal(inlineContext(document, { line: 0, character: 99 }, DEFAULT_INLINE_COMPLETION_SETTINGS).prefix, "ab");
    assert.equal(inlineContext(document, { line: 9, character: 0 }, DEFAULT_INLINE_COMPLETION_SETTINGS).prefix, "ab\ncd");
  });
});

/** One token per character: budgets in tests are then counts of characters. */
const perChar = (text: string): number => text.length;

void describe("fitContext", () => {
  const prefix = "line one\nline two\nline three\n    cur";
  const suffix = "sor()\nnext one\nnext two\n";

  void test("keeps the prefix lines nearest the cursor and drops the farthest whole", () => {
    const fitted = fitContext({ prefix, suffix: "" }, { prefixTokens: 26, suffixTokens: 0 }, perChar);
    assert.equal(fitted.prefix, "line three\n    cur");
    assert.equal(fitted.prefixTokens, 18);
  });

  void test("keeps the suffix lines nearest the cursor and drops the farthest whole", () => {
    const fitted = fitContext({ prefix: "", suffix }, { prefixTokens: 10, suffixTokens: 16 }, perChar);
    assert.equal(fitted.suffix, "sor()\nnext one\n");
    assert.equal(fitted.suffixTokens, 15);
  });

  void test("cuts the cursor's own line at its far end when it alone exceeds the budget", () => {
    assert.equal(fitContext({ prefix: "abcdefgh", suffix: "ijklmnop\nq" }, { prefixTokens: 3, suffixTokens: 2 }, perChar).prefix, "fgh");
    assert.equal(fitContext({ prefix: "abcdefgh", suffix: "ijklmnop\nq" }, { prefixTokens: 3, suffixTokens: 2 }, perChar).suffix, "ij");
  });

  void test("one more character typed keeps the prefix's start (the KV cache of the rest is reused)", () => {
    const a = fitContext({ prefix: prefix, suffix: "" }, { prefixTokens: 30, suffixTokens: 0 }, perChar);
    const b = fitContext({ prefix: prefix + "s", suffix: "" }, { prefixTokens: 30, suffixTokens: 0 }, perChar);
    assert.ok(b.prefix.startsWith(a.prefix));
  });

  void test("typing across the budget's edge moves the prefix's start once, not every few keystrokes", () => {
    // 200 lines of 10 characters and a budget a few characters short: each keystroke crosses it again.
    const body = Array.from({ length: 200 }, (_, i) => `line ${String(i).padStart(4, "0")}\n`).join("");
    const starts = new Set<number>();
    let typed = "    ";
    for (let k = 0; k < 100; k++) {
      typed += "x";
      const whole = body + typed;
      const fitted = fitContext({ prefix: whole, suffix: "" }, { prefixTokens: 1000, suffixTokens: 0 }, perChar);
      assert.ok(fitted.prefixTokens <= 1000 && fitted.prefixTokens >= 1000 - PREFIX_DROP_LINES * 10 - 1);
      starts.add(whole.length - fitted.prefix.length);
    }
    // Line by line (the old rule) the start moves every 10 characters typed: 10 starts.
    assert.ok(starts.size <= 2, `the prefix started at ${starts.size} places`);
  });

  void test("property: within budget, a suffix of the prefix and a prefix of the suffix", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("a", "b", "\n", " ") }), fc.string({ unit: fc.constantFrom("c", "\n") }), fc.nat(40), fc.nat(40), (p, s, pb, sb) => {
        const fitted = fitContext({ prefix: p, suffix: s }, { prefixTokens: pb, suffixTokens: sb }, perChar);
        assert.ok(p.endsWith(fitted.prefix) && s.startsWith(fitted.suffix));
        assert.ok(fitted.prefixTokens <= pb && fitted.suffixTokens <= sb);
      }),
    );
  });
});

void describe("stripSuffixOverlap", () => {
  void test("drops the closing characters the cursor's line already has", () => {
    assert.equal(stripSuffixOverlap("a, b)", ");"), "a, b");
    assert.equal(stripSuffixOverlap('name"]', '"]\n'), "name");
  });

  void test("drops an end that repeats the whole rest of the line", () => {
    assert.equal(stripSuffixOverlap("total = total + x", "x"), "total = total + ");
  });

  void test("keeps a word that merely ends like the next text", () => {
    assert.equal(stripSuffixOverlap("index", "x = 1"), "index");
  });

  void test("a completion the text after the cursor starts with is dropped whole", () => {
    assert.equal(stripSuffixOverlap("return x", "return x\n}"), "");
  });

  void test("drops last lines that repeat the lines after the cursor's", () => {
    assert.equal(stripSuffixOverlap("x += 1\n    return x\n}", "\n}\n"), "x += 1\n    return x");
    assert.equal(stripSuffixOverlap("y();\n  }\n  z();", "\n  }\n  z();\n"), "y();");
  });

  void test("leaves a completion with no overlap alone", () => {
    assert.equal(stripSuffixOverlap("reversed(xs)", "\nprint(ys)"), "reversed(xs)");
  });
});

void describe("ContextRing", () => {
  const lines = Array.from({ length: 100 }, (_, i) => `line ${i}`);

  void test("gives a request the newest chunks of other files that fit, oldest first", () => {
    const ring = new ContextRing(4);
    ring.record("file:///a", lines, 10, 4);
    ring.record("file:///b", lines, 50, 4);
    ring.record("file:///c", lines, 90, 4);
    const { chunks, tokens } = ring.chunksFor("file:///c", 29 + 31, perChar);
    assert.deepEqual(chunks.map((c) => [c.uri, c.line]), [["file:///a", 8], ["file:///b", 48]]);
    assert.equal(tokens, chunks.reduce((n, c) => n + c.text.length, 0));
    assert.deepEqual(ring.chunksFor("file:///c", 59, perChar).chunks.map((c) => c.uri), ["file:///b"]);
  });

  void test("a chunk replaces the one of the same file it mostly overlaps; the oldest goes when full", () => {
    const ring = new ContextRing(2);
    ring.record("file:///a", lines, 10, 4);
    ring.record("file:///a", lines, 11, 4);
    assert.deepEqual(ring.chunks.map((c) => c.line), [9]);
    ring.record("file:///a", lines, 40, 4);
    ring.record("file:///b", lines, 40, 4);
    assert.deepEqual(ring.chunks.map((c) => [c.uri, c.line]), [["file:///a", 38], ["file:///b", 38]]);
    ring.forget("file:///a");
    assert.deepEqual(ring.chunks.map((c) => c.uri), ["file:///b"]);
  });
});

void describe("SyncedDocument", () => {
  void test("applies incremental changes as VS Code sends them", () => {
    let document = new SyncedDocument("file:///a", "plaintext", 1, "hello\nworld\n");
    document = applyChanges(document, [{ range: { start: { line: 1, character: 0 }, end: { line: 1, character: 5 } }, text: "there" }], 2);
    document = applyChanges(document, [{ range: { start: { line: 0, character: 5 }, end: { line: 0, character: 5 } }, text: ",\r\nnew" }], 3);
    assert.equal(document.text, "hello,\r\nnew\nthere\n");
    assert.equal(document.version, 3);
    assert.equal(document.lineAt(1), "new");
    document = applyChanges(document, [{ text: "replaced" }], 4);
    assert.equal(document.text, "replaced");
  });

  void test("malformed changes throw a message naming the problem", () => {
    const document = new SyncedDocument("file:///a", "plaintext", 1, "x");
    assert.throws(() => applyChanges(document, [{ text: 5 } as never], 2), /contentChanges\[0\]\.text must be a string/);
    assert.throws(() => applyChanges(document, [{ text: "", range: { start: { line: -1, character: 0 }, end: { line: 0, character: 0 } } }], 2), /range\.start must be/);
  });

  void test("property: a change equals splicing the text at the offsets of its range", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("a", "b", "\n", "\r\n") }), fc.nat(), fc.nat(), fc.string({ maxLength: 5 }), (text, a, b, insert) => {
        const document = new SyncedDocument("file:///p", "plaintext", 1, text);
        const toPosition = (n: number): { line: number; character: number } => ({ line: n % (document.lineCount + 1), character: Math.floor(n / 7) % 6 });
        const [start, end] = [toPosition(a), toPosition(b)];
        const changed = applyChanges(document, [{ range: { start, end }, text: insert }], 2);
        const [from, to] = [document.offsetAt(start), document.offsetAt(end)].sort((x, y) => x - y);
        assert.equal(changed.text, text.slice(0, from) + insert + text.slice(to));
      }),
    );
  });
});
