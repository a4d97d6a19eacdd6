import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { applyChanges, SyncedDocument } from "../../server/src/daemon/documents.ts";
import { cutCompletion, inlineContext } from "../../server/src/daemon/inline.ts";
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

  void test('"block" ends at a blank line', () => {
    assert.deepEqual(cutCompletion("a = 1\n    b = 2\n\nc = 3", "block", "    "), { text: "a = 1\n    b = 2", done: true });
  });

  void test('"block" ends before a line indented less than the cursor\'s line', () => {
    assert.deepEqual(cutCompletion("x += 1\n    return x\n}\n", "block", "    "), { text: "x += 1\n    return x", done: true });
    // A line whose indentation is not known yet does not end it.
    assert.deepEqual(cutCompletion("x += 1\n", "block", "    "), { text: "x += 1\n", done: false });
  });

  void test('"none" never ends a completion', () => {
    assert.deepEqual(cutCompletion("a\n\nb", "none", ""), { text: "a\n\nb", done: false });
  });

  void test("property: the cut text is a prefix of what was decoded, and a done cut stays done as text arrives", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("a", " ", "\n", "\t", "}", "\r") }), fc.string({ unit: fc.constantFrom("a", "\n", " ") }), fc.constantFrom("line" as const, "block" as const, "none" as const), fc.constantFrom("", "  ", "\t"), (decoded, more, stopAt, indent) => {
        const cut = cutCompletion(decoded, stopAt, indent);
        assert.ok(decoded.startsWith(cut.text));
        if (cut.done) assert.deepEqual(cutCompletion(decoded + more, stopAt, indent), cut);
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
  });

  void test("a cursor past the end of its line or of the document is clamped", () => {
    const document = new SyncedDocument("file:///a", "plaintext", 1, "ab\ncd");
    assert.equal(inlineContext(document, { line: 0, character: 99 }, DEFAULT_INLINE_COMPLETION_SETTINGS).prefix, "ab");
    assert.equal(inlineContext(document, { line: 9, character: 0 }, DEFAULT_INLINE_COMPLETION_SETTINGS).prefix, "ab\ncd");
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
