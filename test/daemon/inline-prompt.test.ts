/**
 * Inline completion prompts through a real daemon process: the KV cache of the common prefix is
 * kept across keystrokes (the second request on a document evaluates only the new tokens), the
 * built-in pair (no FIM tokens) falls back to the prefix and says why in aad/status, and a FIM
 * pair (the Qwen3 fixture) gets `<|fim_prefix|>…<|fim_suffix|>…<|fim_middle|>`, checked on the
 * special tokens of the prompt the models evaluated.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as aad from "../../server/src/protocol/protocol.ts";
import { prerequisite } from "../ci.ts";
import { realFixture } from "../runtime/real-fixtures.ts";
import { builtInPair, connectClient, spawnDaemon, tempDir, type Client, type DaemonProcess } from "./harness.ts";

type InlineResult = { items: { insertText: string }[]; aad: aad.InlineCompletionStats };

/** A Python module of about 60 lines, cursor at the end of `line` (0-based) after `typed`. */
function moduleText(): string {
  const lines: string[] = ["import math", ""];
  for (let i = 0; i < 12; i++) lines.push(`def area_${i}(r):`, `    """The area of circle ${i}."""`, `    return math.pi * r * r * ${i + 1}`, "");
  lines.push("def total(xs):", "    result = 0", "    for x in xs:", "        result += ", "    return result", "");
  return lines.join("\n");
}
const TEXT = moduleText();
const CURSOR_LINE = TEXT.split("\n").indexOf("        result += ");

async function session(pairParams: aad.LoadPairParams): Promise<{ client: Client; daemon: DaemonProcess; dir: { remove(): Promise<void> } }> {
  const dir = await tempDir("aad-inline-prompt-");
  const daemon = await spawnDaemon({ socket: `${dir.path}/d.sock` });
  const client = await connectClient(daemon);
  await client.connection.sendRequest(aad.loadPair, pairParams);
  return { client, daemon, dir };
}

async function complete(client: Client, uri: string, line: number, character: number): Promise<InlineResult> {
  return client.connection.sendRequest<InlineResult>("textDocument/inlineCompletion", { textDocument: { uri }, position: { line, character }, context: { triggerKind: 2 } });
}

async function type(client: Client, uri: string, version: number, line: number, character: number, text: string): Promise<void> {
  await client.connection.sendNotification("textDocument/didChange", { textDocument: { uri, version }, contentChanges: [{ range: { start: { line, character }, end: { line, character } }, text }] });
}

void describe("inline prompts on the built-in pair (no FIM tokens)", () => {
  const pair = builtInPair();
  const skip = prerequisite("the built-in model pair", pair === undefined ? "no built-in model pair (models/ or .cache/quick1)" : undefined);
  let s: Awaited<ReturnType<typeof session>>;
  before(async () => {
    // A context that holds the whole document: the prefix budget is not what limits the prompt.
    if (pair !== undefined) s = await session({ sft: pair.sft, dpo: pair.dpo, contextSize: 2048 });
  });
  after(async () => {
    if (pair === undefined) return;
    s.client.close();
    await s.daemon.kill();
    await s.dir.remove();
  });

  void test("falls back to the prefix and says why, in the response and in aad/status", { skip }, async () => {
    const uri = "file:///tmp/fallback.py";
    await s.client.connection.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "python", version: 1, text: TEXT } });
    await s.client.connection.sendRequest(aad.configure, { inlineCompletion: { stopAt: "none", maxTokens: 4 } });
    const first = await complete(s.client, uri, CURSOR_LINE, 18);
    assert.equal(first.aad.layout, "prefix");
    assert.match(first.aad.fallbackReason ?? "", /declares no fill-in-the-middle/);
    assert.equal(first.aad.suffixTokens, 0);
    const { inline } = await s.client.connection.sendRequest(aad.status);
    assert.ok(inline !== null);
    assert.equal(inline.fim, false);
    assert.match(inline.reason, /continues the text before the cursor only/);
    assert.deepEqual(inline.last, first.aad);
  });

  void test("the second request on the same document evaluates only the new tokens", { skip }, async (t) => {
    const uri = "file:///tmp/reuse.py";
    // A first line of its own: nothing of this document is in the KV caches yet.
    await s.client.connection.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "python", version: 1, text: `# reuse\n${TEXT}` } });
    await s.client.connection.sendRequest(aad.configure, { inlineCompletion: { stopAt: "none", maxTokens: 4, method: "aad" } });
    const cold = await complete(s.client, uri, CURSOR_LINE + 1, 18);
    assert.ok(cold.aad.promptTokens > 500, `a long prompt: ${JSON.stringify(cold.aad)}`);
    // Both models evaluated the whole prompt but the BOS they already held.
    assert.ok(cold.aad.evaluatedPromptTokens.dpo! >= cold.aad.promptTokens - 1, JSON.stringify(cold.aad));
    assert.ok(cold.aad.evaluatedPromptTokens.sft! >= cold.aad.promptTokens - 1, JSON.stringify(cold.aad));

    await type(s.client, uri, 2, CURSOR_LINE + 1, 18, "x");
    const warm = await complete(s.client, uri, CURSOR_LINE + 1, 19);
    t.diagnostic(`prompt ${cold.aad.promptTokens} → ${warm.aad.promptTokens} tokens; evaluated ${JSON.stringify(cold.aad.evaluatedPromptTokens)} → ${JSON.stringify(warm.aad.evaluatedPromptTokens)}`);
    assert.ok(warm.aad.promptTokens >= cold.aad.promptTokens, JSON.stringify(warm.aad));
    const added = warm.aad.promptTokens - cold.aad.promptTokens;
    for (const role of ["dpo", "sft"] as const) {
      const evaluated = warm.aad.evaluatedPromptTokens[role]!;
      // The typed character's tokens, plus the token before it when "x" merges with it, plus the
      // last prompt token (always evaluated: its logits start the response).
      assert.ok(evaluated <= added + 2, `${role} evaluated ${evaluated} of ${warm.aad.promptTokens} prompt tokens (${added} new)`);
      assert.ok(evaluated >= 1);
    }
  });

  for (const [limit, settings] of [
    ["the prefix's token budget", { prefixTokens: 200, maxPrefixChars: 8000 }],
    ["the prefix's character window", { prefixTokens: 1024, maxPrefixChars: 600 }],
  ] as const) {
    void test(`typing at the edge of ${limit} keeps reusing the cache: the prompt's start stays put`, { skip }, async (t) => {
      const uri = `file:///tmp/edge-${Object.keys(settings)[0]}.py`;
      await s.client.connection.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "python", version: 1, text: `# edge of ${limit}\n${TEXT}` } });
      // A limit well under the document: the prefix is cut at its far end on every request.
      await s.client.connection.sendRequest(aad.configure, { inlineCompletion: { stopAt: "none", maxTokens: 1, method: "greedy-dpo", ...settings } });
      let last = await complete(s.client, uri, CURSOR_LINE + 1, 18);
      assert.ok(last.aad.prefixTokens > 50 && last.aad.promptTokens < 500, JSON.stringify(last.aad));
      const evaluated: number[] = [];
      const typed = "a + b * c - d + e * f - g + h".repeat(2); // about a token per keystroke
      for (let k = 0; k < typed.length; k++) {
        await type(s.client, uri, 2 + k, CURSOR_LINE + 1, 18 + k, typed[k]!);
        last = await complete(s.client, uri, CURSOR_LINE + 1, 19 + k);
        evaluated.push(last.aad.evaluatedPromptTokens.dpo!);
      }
      t.diagnostic(`prompt tokens evaluated per keystroke: ${evaluated.join(", ")}`);
      // The start may move once (a block of far lines dropped, the window's next grid step);
      // before blocks and grid steps it moved every few dozen keystrokes, and each move
      // re-evaluated the whole prompt.
      const whole = evaluated.filter((n) => n > 10);
      assert.ok(whole.length <= 1, `${whole.length} of ${typed.length} keystrokes re-evaluated the prompt: ${evaluated.join(", ")}`);
    });
  }
});

void describe("inline prompts on a FIM pair (the Qwen3 fixture)", () => {
  const found = realFixture("qwen3");
  const skip = "missing" in found ? prerequisite("the qwen3 fixture", found.missing) : false;
  let s: Awaited<ReturnType<typeof session>>;
  before(async () => {
    if (!("missing" in found)) s = await session({ sft: found.paths.sft, dpo: found.paths.dpo });
  });
  after(async () => {
    if ("missing" in found) return;
    s.client.close();
    await s.daemon.kill();
    await s.dir.remove();
  });

  void test("the models evaluate <|fim_prefix|> prefix <|fim_suffix|> suffix <|fim_middle|>", { skip }, async () => {
    const uri = "file:///tmp/fim.py";
    await s.client.connection.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "python", version: 1, text: TEXT } });
    await s.client.connection.sendRequest(aad.configure, { inlineCompletion: { stopAt: "none", maxTokens: 4 } });
    const result = await complete(s.client, uri, CURSOR_LINE, 18);
    assert.equal(result.aad.layout, "fim");
    assert.equal(result.aad.fallbackReason, null);
    assert.ok(result.aad.suffixTokens > 0 && result.aad.prefixTokens > 0);
    const specials = result.aad.specialTokens;
    assert.deepEqual(specials.map((t) => t.text), ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]);
    // Qwen adds no BOS: the prefix marker opens the prompt, the prefix and suffix fill the gaps.
    assert.deepEqual(specials.map((t) => t.index), [0, 1 + result.aad.prefixTokens, 2 + result.aad.prefixTokens + result.aad.suffixTokens]);
    assert.equal(specials[2]!.index, result.aad.promptTokens - 1);
    const status = await s.client.connection.sendRequest(aad.status);
    assert.equal(status.inline?.fim, true);
    assert.equal(status.pair?.fim, true);
  });

  void test("typing one character re-evaluates the changed end of the prefix and the suffix, not the document", { skip }, async () => {
    const uri = "file:///tmp/fim-reuse.py";
    await s.client.connection.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "python", version: 1, text: TEXT } });
    await s.client.connection.sendRequest(aad.configure, { inlineCompletion: { stopAt: "none", maxTokens: 4 } });
    await complete(s.client, uri, CURSOR_LINE, 18);
    await type(s.client, uri, 2, CURSOR_LINE, 18, "x");
    const warm = await complete(s.client, uri, CURSOR_LINE, 19);
    for (const role of ["dpo", "sft"] as const) {
      const evaluated = warm.aad.evaluatedPromptTokens[role]!;
      // What follows the cursor comes after the change in this layout: the suffix and its markers
      // are evaluated again; the prefix before the typed token is not.
      assert.ok(evaluated <= warm.aad.suffixTokens + 2 + 3, `${role} evaluated ${evaluated} of ${warm.aad.promptTokens} (suffix ${warm.aad.suffixTokens})`);
    }
  });

  void test("with contextChunks on, a request in another file gets the first file's chunk first, in the repository-level layout", { skip }, async () => {
    const [first, second] = ["file:///tmp/ring/shapes.py", "file:///tmp/ring/main.py"];
    await s.client.connection.sendNotification("textDocument/didOpen", { textDocument: { uri: first, languageId: "python", version: 1, text: TEXT } });
    await s.client.connection.sendNotification("textDocument/didOpen", { textDocument: { uri: second, languageId: "python", version: 1, text: "from shapes import total\n\nprint(total([1, 2]))\n" } });
    await s.client.connection.sendRequest(aad.configure, { inlineCompletion: { stopAt: "none", maxTokens: 2, contextChunks: 4, contextChunkLines: 8 } });
    const inFirst = await complete(s.client, first, CURSOR_LINE, 18);
    assert.equal(inFirst.aad.chunks, 0, "nothing recorded from other files yet");
    const inSecond = await complete(s.client, second, 2, 0);
    assert.equal(inSecond.aad.chunks, 1);
    assert.ok(inSecond.aad.chunkTokens > 0 && inSecond.aad.chunkTokens <= inSecond.aad.budget.chunkTokens);
    assert.deepEqual(inSecond.aad.specialTokens.map((t) => t.text), ["<|repo_name|>", "<|file_sep|>", "<|file_sep|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]);
    await s.client.connection.sendRequest(aad.configure, { inlineCompletion: { contextChunks: 0 } });
  });
});
