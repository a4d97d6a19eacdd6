/**
 * Decoding through the real daemon process on the built-in pair: streaming partial results,
 * cancellation, clients that disconnect mid-stream or arrive while another streams, the bounded
 * queue, and inline completion.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { CancellationTokenSource } from "vscode-jsonrpc/node";
import * as aad from "../../server/src/protocol/protocol.ts";
import { prerequisite } from "../ci.ts";
import { builtInPair, connectClient, errorOf, spawnDaemon, tempDir, withTimeout, type Client, type DaemonProcess } from "./harness.ts";

const pair = builtInPair();
const skip = prerequisite("the built-in model pair", pair === undefined ? "no built-in model pair (models/ or .cache/quick1)" : undefined);
const PROMPT = "How do I reverse a list in Python?";
/**
 * A generation that holds the pair until a test lets go of it (the context is loaded large for
 * this): at temperature 100 the next token is nearly uniform over the vocabulary, so EOS is rare,
 * and the built-in pair runs this seed to the 900-token limit — several seconds of decoding (at
 * temperature 2 it answers in ~30 tokens). The tests that rely on it check that it did not end on
 * its own: the one that lets it finish asserts it ran to the limit; the others assert that it was
 * cancelled (a finished generation answers with its result) or never counted its tokens.
 */
const LONG = { prompt: PROMPT, method: "sample", temperature: 100, seed: 7, maxTokens: 900 } as const;

type InlineList = { items: { insertText: string; range: unknown }[] };

/** Starts a generation whose tokens stream to `progress`; resolves `firstToken` at the first one. */
function streamGeneration(client: Client, params: aad.GenerateParams, token: string, cancel?: CancellationTokenSource) {
  const progress: aad.GenerateProgress[] = [];
  let resolveFirst: () => void = () => undefined;
  const firstToken = new Promise<void>((resolve) => (resolveFirst = resolve));
  const subscription = client.connection.onProgress(aad.generateProgress, token, (value) => {
    progress.push(value);
    resolveFirst();
  });
  const result = client.connection.sendRequest(aad.generate, { ...params, partialResultToken: token }, cancel?.token).finally(() => subscription.dispose());
  result.catch(() => undefined);
  return { progress, firstToken, result };
}

void describe("decoding through the daemon", { skip }, () => {
  let dir: { path: string; remove(): Promise<void> };
  let daemon: DaemonProcess;
  let client: Client;
  let listener: Client;
  const pairChanges: aad.PairChangedParams[] = [];
  let heardChange: () => void = () => undefined;
  /** Resolves once the listener has heard `count` aad/pairChanged notifications in all. */
  const heardChanges = async (count: number): Promise<void> => {
    while (pairChanges.length < count) await new Promise<void>((resolve) => (heardChange = resolve));
  };

  before(async () => {
    dir = await tempDir("aad-stream-");
    daemon = await spawnDaemon({ socket: `${dir.path}/d.sock` }, { args: ["--queue-capacity", "4"] });
    client = await connectClient(daemon);
    listener = await connectClient(daemon);
    listener.connection.onNotification(aad.pairChanged, (params) => {
      pairChanges.push(params);
      heardChange();
    });
    await listener.connection.sendRequest(aad.status);
  });

  after(async () => {
    client.close();
    listener.close();
    await daemon.kill();
    await dir.remove();
  });

  void test("aad/loadPair loads the pair once, a second identical request reuses it, and every client hears aad/pairChanged", async () => {
    const info = await client.connection.sendRequest(aad.loadPair, { sft: pair!.sft, dpo: pair!.dpo, contextSize: 1024 });
    assert.equal(info.reused, false);
    assert.equal(info.contextSize, 1024);
    assert.equal(info.dpo.kind, "model");
    assert.ok(info.vocabularySize > 0 && info.memoryBytes > 0);
    const again = await listener.connection.sendRequest(aad.loadPair, { sft: pair!.sft, dpo: pair!.dpo, contextSize: 1024 });
    assert.equal(again.reused, true);
    assert.equal(pairChanges.at(-1)?.pair?.sft.path, pair!.sft);
    assert.deepEqual((await listener.connection.sendRequest(aad.status)).pair?.dpo, info.dpo);
  });

  void test("aad/generate streams its tokens as $/progress partial results with their trace entries", async () => {
    const { progress, result } = streamGeneration(client, { prompt: PROMPT, maxTokens: 24 }, "stream-1");
    const final = await result;
    assert.ok(progress.length > 0);
    assert.equal(progress.map((p) => p.text).join(""), final.tokens.map((t) => t.piece).join(""));
    // Applying the streamed entries and their later updates gives the final trace exactly.
    const streamed: aad.TraceEntry[] = [];
    for (const p of progress) {
      assert.equal(p.start, streamed.length);
      streamed.push(...p.tokens);
      for (const { index, entry } of p.updates) streamed[index] = entry;
    }
    assert.deepEqual(streamed, final.tokens);
    assert.equal(final.method, "aad");
    assert.equal(final.stats.tokens, final.tokens.length);
    assert.ok(final.tokens.every((t) => t.top.length > 0 && t.logprobDpo !== null));
  });

  void test("$/cancelRequest stops a generation within a decoding step, and the pair serves the next request", async (t) => {
    const cancel = new CancellationTokenSource();
    const { progress, firstToken, result } = streamGeneration(client, LONG, "cancel-1", cancel);
    await withTimeout(firstToken, 30_000, "the first token");
    const cancelledAt = Date.now();
    cancel.cancel();
    const error = await errorOf(result);
    const latency = Date.now() - cancelledAt;
    assert.equal(error.code, aad.ErrorCodes.Cancelled);
    assert.ok(latency < 2000, `the cancellation took ${latency} ms`);
    t.diagnostic(`cancelled after ${progress.reduce((n, p) => n + p.tokens.length, 0)} streamed tokens; error response ${latency} ms after $/cancelRequest`);
    const streamedTokens = progress.reduce((n, p) => n + p.tokens.length, 0);
    assert.ok(streamedTokens < LONG.maxTokens, "the generation stopped early");
    const next = await client.connection.sendRequest(aad.generate, { prompt: PROMPT, maxTokens: 4 });
    assert.ok(next.tokens.length > 0);
  });

  void test("a client that disconnects mid-stream frees the pair for the others at once", async () => {
    const before = (await client.connection.sendRequest(aad.status)).tokensGenerated;
    const leaving = await connectClient(daemon);
    const { firstToken } = streamGeneration(leaving, LONG, "leave-1");
    await withTimeout(firstToken, 30_000, "the first token");
    leaving.close();
    const next = await client.connection.sendRequest(aad.generate, { prompt: PROMPT, maxTokens: 4 });
    assert.ok(next.tokens.length > 0);
    const status = await client.connection.sendRequest(aad.status);
    assert.equal(status.clients, 2);
    assert.equal(status.queue.running, null);
    // The daemon counts a generation's tokens when it completes. The leaving client's generation
    // was aborted, not decoded to its 900-token limit before the next request ran: only the next
    // request's tokens were counted.
    assert.equal(status.tokensGenerated - before, next.tokens.length, "the disconnected client's generation ran to its end");
  });

  void test("a second client connecting while the first streams is served after it, and the first stream stays intact", async () => {
    // Long enough (hundreds of hot-temperature samples) to still be running when the second client asks.
    const first = streamGeneration(client, LONG, "first-1");
    await withTimeout(first.firstToken, 30_000, "the first token");
    const second = await connectClient(daemon);
    try {
      const status = await second.connection.sendRequest(aad.status);
      assert.equal(status.queue.running?.method, "aad/generate");
      const reply = await second.connection.sendRequest(aad.generate, { prompt: "What is a tuple?", maxTokens: 8 });
      assert.ok(reply.tokens.length > 0);
      const final = await first.result;
      assert.equal(first.progress.map((p) => p.text).join(""), final.tokens.map((t) => t.piece).join(""));
      assert.equal(final.method, "sample");
      // LONG cannot end early: it runs to its limit (the other tests' hold relies on this).
      assert.equal(final.stoppedBy, "max-tokens");
      assert.equal(final.tokens.length, LONG.maxTokens);
    } finally {
      second.close();
    }
  });

  void test("a full queue answers Busy instead of growing, and the queued requests still complete", async () => {
    const cancel = new CancellationTokenSource();
    const running = streamGeneration(client, LONG, "busy-1", cancel);
    await withTimeout(running.firstToken, 30_000, "the first token");
    const queued = Array.from({ length: 4 }, () => client.connection.sendRequest(aad.generate, { prompt: PROMPT, maxTokens: 2 }));
    const busy = await errorOf(client.connection.sendRequest(aad.generate, { prompt: PROMPT, maxTokens: 2 }));
    assert.equal(busy.code, aad.ErrorCodes.Busy);
    assert.deepEqual(busy.data, { name: "Busy", queueDepth: 4 });
    assert.match(busy.message, /4 jobs are waiting/);
    cancel.cancel();
    assert.equal((await errorOf(running.result)).code, aad.ErrorCodes.Cancelled);
    for (const reply of await Promise.all(queued)) assert.ok(reply.tokens.length > 0);
  });

  void test("aad/score scores a given response and aad/compare reports each method as it finishes", async () => {
    const scored = await client.connection.sendRequest(aad.score, { prompt: PROMPT, response: "Use reversed(xs) or xs[::-1]." });
    assert.ok(scored.tokens.length > 3);
    assert.ok(scored.tokens.every((t) => t.logprobSft !== null && t.advantage !== null));
    const reported: aad.CompareEntry[] = [];
    const subscription = client.connection.onProgress(aad.compareProgress, "compare-1", (entry) => {
      reported.push(entry);
    });
    const compared = await client.connection.sendRequest(aad.compare, { prompt: PROMPT, maxTokens: 6, methods: ["greedy-dpo", "aad", "cd"], partialResultToken: "compare-1" });
    subscription.dispose();
    assert.deepEqual(compared.results.map((r) => r.method), ["greedy-dpo", "aad", "cd"]);
    assert.match(compared.results[2]!.skipped ?? "", /reference/);
    assert.deepEqual(reported, compared.results);
  });

  void test("inline completion continues the document at the cursor and ends at the end of the line", async () => {
    const uri = "file:///tmp/example.py";
    const text = "# How do I reverse a list in Python?\nxs = [1, 2, 3]\nys = ";
    await client.connection.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "python", version: 1, text } });
    await client.connection.sendRequest(aad.configure, { inlineCompletion: { stopAt: "line", maxTokens: 24 } });
    const list = await client.connection.sendRequest<InlineList>("textDocument/inlineCompletion", {
      textDocument: { uri },
      position: { line: 2, character: 5 },
      context: { triggerKind: 1 },
    });
    // The built-in pair continues this line: one item, with visible text and no line break.
    assert.equal(list.items.length, 1, `the completion: ${JSON.stringify(list)}`);
    const item = list.items[0]!;
    assert.deepEqual(item.range, { start: { line: 2, character: 5 }, end: { line: 2, character: 5 } });
    const visible = item.insertText.search(/\S/);
    assert.ok(visible >= 0, JSON.stringify(item.insertText));
    assert.doesNotMatch(item.insertText.slice(visible), /[\r\n]/);
    // It is what the pair decodes from the text before the cursor, cut at the line's end.
    const decoded = await client.connection.sendRequest(aad.generate, { prompt: text, raw: true, maxTokens: 24, traceTopK: 1 });
    assert.ok(decoded.text.startsWith(item.insertText), `${JSON.stringify(item.insertText)} is not the start of ${JSON.stringify(decoded.text)}`);
    await client.connection.sendNotification("textDocument/didClose", { textDocument: { uri } });
    const closed = await errorOf(client.connection.sendRequest("textDocument/inlineCompletion", { textDocument: { uri }, position: { line: 0, character: 0 } }));
    assert.match(closed.message, /not open in this session/);
  });

  void test("when the inline time budget runs out, the completion is the text decoded so far", async (t) => {
    const uri = "file:///tmp/budget.txt";
    const text = "Q: How do I reverse a list in Python?\nA:";
    await client.connection.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "plaintext", version: 1, text } });
    const complete = async (timeBudgetMs: number): Promise<string> => {
      await client.connection.sendRequest(aad.configure, { inlineCompletion: { stopAt: "none", maxTokens: 256, timeBudgetMs } });
      const list = await client.connection.sendRequest<InlineList>("textDocument/inlineCompletion", { textDocument: { uri }, position: { line: 1, character: 2 }, context: { triggerKind: 2 } });
      return list.items[0]?.insertText ?? "";
    };
    // With time to spare the completion ends at end-of-sequence, dozens of tokens on.
    const full = await complete(30_000);
    assert.ok(full.length > 40, JSON.stringify(full));
    // The budget runs out at some point of the decoding, which depends on the machine: ask with
    // budgets from 1 ms up until one lands mid-decoding. Every answer is the start of the full
    // completion; one of them must be neither empty nor complete.
    const tried: string[] = [];
    let partial: string | undefined;
    let low = 0;
    let high = 30_001;
    for (let budget = 1; partial === undefined && budget > low && budget < high; ) {
      const got = await complete(budget);
      tried.push(`${budget} ms: ${got.length} chars`);
      assert.ok(full.startsWith(got), `the ${budget} ms completion ${JSON.stringify(got)} is not the start of ${JSON.stringify(full)}`);
      if (got === full) high = budget;
      else if (got.trim() === "") low = budget;
      else partial = got;
      // Doubling until a budget is enough for the whole completion, then halving the gap.
      budget = high > 30_000 ? Math.min(budget * 2, 30_000) : Math.round(Math.sqrt(Math.max(1, low) * high));
    }
    t.diagnostic(`budgets tried: ${tried.join(", ")}`);
    assert.ok(partial !== undefined, `no budget ended the completion mid-way (tried ${tried.join(", ")}): the budget is ignored, or its text dropped`);
    await client.connection.sendRequest(aad.configure, { inlineCompletion: { stopAt: "line", timeBudgetMs: aad.DEFAULT_INLINE_COMPLETION_SETTINGS.timeBudgetMs } });
    await client.connection.sendNotification("textDocument/didClose", { textDocument: { uri } });
  });

  const shipped = prerequisite("models/, the shipped pair", pair?.dir.endsWith("/models") === true ? undefined : "models/ is not there");
  void test("aad/loadBuiltinPair replaces the loaded pair with the shipped one, and clients hear the swap", { skip: shipped }, async () => {
    const heard = pairChanges.length;
    const info = await client.connection.sendRequest(aad.loadBuiltinPair, { form: "lora" });
    assert.equal(info.reused, false);
    assert.equal(info.dpo.kind, "lora");
    assert.match(info.reference?.path ?? "", /sft-early\.gguf$/);
    // The listener is another connection: its notifications race this client's response.
    await withTimeout(heardChanges(heard + 2), 10_000, "the listener to hear the unload and the load");
    assert.deepEqual(pairChanges.slice(heard).map((c) => c.pair?.dpo.kind ?? null), [null, "lora"]);
    const compared = await client.connection.sendRequest(aad.compare, { prompt: PROMPT, maxTokens: 4, methods: ["cd"] });
    assert.equal(compared.results[0]?.skipped, undefined);
  });

  void test("through all of it, nothing escaped the handlers", () => {
    assert.equal(daemon.child.exitCode, null);
    assert.doesNotMatch(daemon.stderr(), /uncaught exception|unhandled rejection/i, daemon.stderr());
  });
});
