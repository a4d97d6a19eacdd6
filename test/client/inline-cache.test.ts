import { test } from "node:test";
import assert from "node:assert/strict";
import { InlineCache } from "../../client/src/inline-cache.ts";

const doc = "file:///w/a.py";

test("typing the start of a suggestion keeps offering the rest", () => {
  const cache = new InlineCache();
  cache.remember(doc, "def add(a, b):\n    ", "return a + b");
  assert.equal(cache.lookup(doc, "def add(a, b):\n    "), "return a + b");
  assert.equal(cache.lookup(doc, "def add(a, b):\n    ret"), "urn a + b");
  assert.equal(cache.lookup(doc, "def add(a, b):\n    return a "), "+ b");
});

test("a word-by-word partial accept is the same as typing it", () => {
  const cache = new InlineCache();
  cache.remember(doc, "x = ", "compute(1, 2)");
  assert.equal(cache.lookup(doc, "x = compute("), "1, 2)");
});

test("typing something else, or the whole suggestion, ends it", () => {
  const cache = new InlineCache();
  cache.remember(doc, "x = ", "compute(1, 2)");
  assert.equal(cache.lookup(doc, "x = cx"), undefined);
  assert.equal(cache.lookup(doc, "x = compute(1, 2)"), undefined);
  assert.equal(cache.lookup(doc, "y = "), undefined);
});

test("suggestions belong to their document", () => {
  const cache = new InlineCache();
  cache.remember(doc, "x = ", "1");
  assert.equal(cache.lookup("file:///w/b.py", "x = "), undefined);
  cache.clear(doc);
  assert.equal(cache.lookup(doc, "x = "), undefined);
});

test("only the last anchorChars before the anchor must match", () => {
  const cache = new InlineCache({ anchorChars: 4 });
  cache.remember(doc, "a very long line; x = ", "42");
  assert.equal(cache.lookup(doc, "completely different; x = "), "42");
  assert.equal(cache.lookup(doc, "x ="), undefined);
});

test("when two suggestions apply, the one anchored nearest the cursor wins", () => {
  const cache = new InlineCache();
  cache.remember(doc, "print(", "'hello')");
  cache.remember(doc, "print('h", "i')");
  assert.equal(cache.lookup(doc, "print('h"), "i')");
  assert.equal(cache.lookup(doc, "print('he"), "llo')");
});

test("the least recently used suggestion is dropped at capacity", () => {
  const cache = new InlineCache({ capacity: 2 });
  cache.remember(doc, "a", "1");
  cache.remember(doc, "b", "2");
  assert.equal(cache.lookup(doc, "a"), "1");
  cache.remember(doc, "c", "3");
  assert.equal(cache.size, 2);
  assert.equal(cache.lookup(doc, "b"), undefined);
  assert.equal(cache.lookup(doc, "a"), "1");
});

test("remembering at the same anchor replaces the old suggestion", () => {
  const cache = new InlineCache();
  cache.remember(doc, "x = ", "1");
  cache.remember(doc, "x = ", "2");
  assert.equal(cache.size, 1);
  assert.equal(cache.lookup(doc, "x = "), "2");
});

test("contextChars covers the anchor and the longest suggestion", () => {
  const cache = new InlineCache({ anchorChars: 10 });
  assert.equal(cache.contextChars(), 10);
  cache.remember(doc, "x", "12345");
  assert.equal(cache.contextChars(), 15);
});

test("an empty suggestion is not remembered", () => {
  const cache = new InlineCache();
  cache.remember(doc, "x", "");
  assert.equal(cache.size, 0);
});
