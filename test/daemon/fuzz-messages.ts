/**
 * The messages the daemon fuzz (fuzz.test.ts) and the soak (soak.ts) send, as fast-check
 * arbitraries: protocol-level noise (random bytes, random JSON, JSON-RPC messages with random
 * methods and params close to the real ones), and decoding traffic for a daemon holding the
 * built-in pair (generation, comparison, scoring, inline completion and configuration with random,
 * often invalid, decoding parameters, document edits, and cancellations).
 */
import fc from "fast-check";

export const METHODS = [
  "aad/loadPair", "aad/status", "aad/generate", "aad/compare", "aad/score", "aad/configure",
  "initialize", "initialized", "shutdown", "textDocument/inlineCompletion", "textDocument/didOpen",
  "textDocument/didChange", "textDocument/didClose", "$/cancelRequest", "$/setTrace", "$/progress",
  "workspace/didChangeConfiguration",
];
const KEYS = [
  "prompt", "messages", "method", "alpha", "lambda", "temperature", "topP", "topK", "n", "beta", "maxTokens", "stop", "seed", "raw",
  "traceTopK", "priority", "schedule", "partialResultToken", "sft", "dpo", "dpoLora", "reference", "contextSize", "gpuLayers",
  "response", "methods", "inlineCompletion", "textDocument", "position", "contentChanges", "context", "id", "capabilities", "initializationOptions",
];

const leaf = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.double(),
  fc.integer({ min: -2, max: 2 ** 33 }),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom("aad", "cd", "best-of-n", "line", "/", ".", "file:///doc", "", "\u0000"),
);
const value = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof({ depthSize: "small" }, leaf, fc.array(tie("value"), { maxLength: 4 }), fc.dictionary(fc.constantFrom(...KEYS, "uri", "line", "character", "text", "version"), tie("value"), { maxKeys: 4 })),
})).value;
const params = fc.oneof(fc.constant(undefined), value, fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 6 }));

export type Fuzz =
  | { readonly kind: "bytes"; readonly bytes: Uint8Array }
  | { readonly kind: "json"; readonly value: unknown }
  | { readonly kind: "request"; readonly method: string; readonly params: unknown }
  | { readonly kind: "notification"; readonly method: string; readonly params: unknown };

export const message: fc.Arbitrary<Fuzz> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("bytes" as const), bytes: fc.uint8Array({ maxLength: 48 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("json" as const), value: fc.jsonValue({ maxDepth: 3 }) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("request" as const), method: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) }), params }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("notification" as const), method: fc.constantFrom(...METHODS), params }) },
);


export const DOCUMENTS = ["file:///fuzz/a.py", "file:///fuzz/b.txt"];

/**
 * Usually a valid value, sometimes one just outside the range or of the wrong type (rarely enough
 * that about half the requests pass validation and decode).
 */
const some = <T>(valid: fc.Arbitrary<T>, invalid: readonly unknown[]): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 20, arbitrary: valid }, { weight: 1, arbitrary: fc.constantFrom(...invalid) });
// Small token counts keep every decoding short (the context of the built-in pair is 160 tokens).
const decodingFields = {
  prompt: some(fc.constantFrom("How do I reverse a list in Python?", "What is a tuple?", "x", "\u00e9\u00e8 \u2603 \ud83d\ude00", "def f(x):\n    return"), ["", 42, null, ["a"]]),
  method: some(fc.constantFrom("aad", "greedy-dpo", "greedy-sft", "sample", "eft", "cd", "best-of-n"), ["beam", "", 3]),
  alpha: some(fc.constantFrom(0, 1e-9, 0.1, 0.5, 1), [-0.1, 1.5, "0.1", null]),
  lambda: some(fc.constantFrom(-2, 0, 0.5, 1.5, 100), [101, "1"]),
  temperature: some(fc.constantFrom(0, 0.5, 1, 2, 100), [-1, 101, null]),
  topP: some(fc.constantFrom(1e-6, 0.5, 0.9, 1), [0, 1.5]),
  topK: some(fc.constantFrom(0, 1, 5, 1 << 20), [-1, 0.5, 2 ** 21]),
  from: some(fc.constantFrom("dpo", "sft"), ["reference", 1]),
  n: some(fc.integer({ min: 1, max: 3 }), [0, 17, 1.5]),
  beta: some(fc.constantFrom(1e-6, 0.1, 1, 1000), [0, -1]),
  maxTokens: some(fc.integer({ min: 1, max: 8 }), [0, -5, 4097, 2.5, "8"]),
  stop: some(fc.array(fc.constantFrom(".", "\n", "list", "`"), { maxLength: 3 }), [".", [""], [1], null]),
  seed: some(fc.integer({ min: 0, max: 2 ** 32 - 1 }), [-1, 2 ** 32, 0.5]),
  raw: some(fc.boolean(), ["yes", 1]),
  traceTopK: some(fc.integer({ min: 1, max: 64 }), [0, 65]),
  schedule: some(fc.constantFrom("eager", "lazy", "background"), ["soon"]),
  partialResultToken: some(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), [{ a: 1 }, 1.5]),
};
const decodingParams = fc.record(decodingFields, { requiredKeys: ["prompt"] });
/** aad/compare runs several methods on the default schedule: it takes no "method" and no "schedule". */
function without<T extends object, K extends keyof T>(object: T, ...keys: K[]): Omit<T, K> {
  return Object.fromEntries(Object.entries(object).filter(([key]) => !(keys as (string | number | symbol)[]).includes(key))) as Omit<T, K>;
}
const compareFields = without(decodingFields, "method", "schedule");
const position = fc.record({ line: some(fc.nat(4), [-1, 1.5]), character: some(fc.nat(40), [-1, "0"]) });
const documentText = fc.constantFrom("# How do I reverse a list in Python?\nxs = [1, 2, 3]\nys = ", "Q: What is a tuple?\nA:", "", "def f(x):\n    return x\n\nprint(f(1))\n");

export type DecodingFuzz =
  | { readonly kind: "request"; readonly method: string; readonly params: unknown; readonly cancelOnTurn?: boolean }
  | { readonly kind: "notification"; readonly method: string; readonly params: unknown }
  | { readonly kind: "cancel"; readonly back: number };

/**
 * A request with `cancelOnTurn` is cancelled when the request sent before it answers: about when
 * it starts to run, so that cancellation reaches running jobs too, not only queued ones.
 */
export const withTurnCancels = (arbitrary: fc.Arbitrary<DecodingFuzz>): fc.Arbitrary<DecodingFuzz> =>
  fc.tuple(arbitrary, fc.nat(3)).map(([m, n]) => (m.kind === "request" && n === 0 ? { ...m, cancelOnTurn: true } : m));

export const decodingMessage: fc.Arbitrary<DecodingFuzz> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("request" as const), method: fc.constant("aad/generate"), params: decodingParams }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("request" as const), method: fc.constant("aad/compare"), params: fc.record({ ...compareFields, maxTokens: fc.integer({ min: 1, max: 3 }), methods: some(fc.subarray(["aad", "greedy-dpo", "greedy-sft", "sample", "eft", "cd", "best-of-n"], { minLength: 1 }), [[], ["beam"], "aad"]) }, { requiredKeys: ["prompt"] }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("request" as const), method: fc.constant("aad/score"), params: fc.record({ prompt: decodingFields.prompt, response: some(fc.constantFrom("Use reversed(xs).", "x", "\ud83d\ude00 ok"), ["", 3]), raw: decodingFields.raw, alpha: decodingFields.alpha, beta: decodingFields.beta, traceTopK: decodingFields.traceTopK }, { requiredKeys: ["prompt", "response"] }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("request" as const),
      method: fc.constant("textDocument/inlineCompletion"),
      params: fc.record({ textDocument: fc.record({ uri: some(fc.constantFrom(...DOCUMENTS), ["file:///fuzz/closed.py", 7]) }), position, context: fc.constant({ triggerKind: 2 }) }, { requiredKeys: ["textDocument", "position"] }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("request" as const),
      method: fc.constant("aad/configure"),
      params: fc.record({
        inlineCompletion: fc.record(
          { method: some(fc.constantFrom("aad", "greedy-dpo", "sample", "cd"), ["best-of-n"]), alpha: decodingFields.alpha, maxTokens: some(fc.integer({ min: 1, max: 8 }), [0, 257]), timeBudgetMs: some(fc.integer({ min: 1, max: 200 }), [0, 30_001]), stopAt: some(fc.constantFrom("line", "block", "none"), ["word"]), fim: decodingFields.raw },
          { requiredKeys: [] },
        ),
      }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("notification" as const), method: fc.constant("textDocument/didOpen"), params: fc.record({ textDocument: fc.record({ uri: fc.constantFrom(...DOCUMENTS), languageId: fc.constant("python"), version: fc.nat(1000), text: documentText }) }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("notification" as const),
      method: fc.constant("textDocument/didChange"),
      params: fc.record({ textDocument: fc.record({ uri: fc.constantFrom(...DOCUMENTS), version: fc.nat(1000) }), contentChanges: fc.array(fc.record({ range: fc.record({ start: position, end: position }), text: fc.string({ maxLength: 6 }) }, { requiredKeys: ["text"] }), { maxLength: 2 }) }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("cancel" as const), back: fc.nat(6) }) },
);

