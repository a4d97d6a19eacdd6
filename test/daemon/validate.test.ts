// The daemon's request validation, called directly (no daemon process): every parse* function on
// valid params (what it returns, with absent options left absent) and on each kind of bad params
// (the ParamsError's field and its exact message, which the daemon sends back as InvalidParams).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GPU_CHOICES, METHOD_NAMES } from "../../server/src/protocol/protocol.ts";
import {
  describe as describeValue,
  LIMITS,
  ParamsError,
  parseCompare,
  parseConfigure,
  parseGenerate,
  parseInitializationOptions,
  parseInlineCompletion,
  parseInlineSettings,
  parseLoadBuiltinPair,
  parseLoadPair,
  parsePairs,
  parseScore,
} from "../../server/src/daemon/validate.ts";

function rejects(parse: () => unknown, field: string, message: string): void {
  assert.throws(parse, (error: unknown) => {
    assert.ok(error instanceof ParamsError, `expected a ParamsError, got ${String(error)}`);
    assert.equal(error.name, "ParamsError");
    assert.equal(error.field, field);
    assert.equal(error.message, message);
    return true;
  });
}

const METHODS = METHOD_NAMES.map((m) => JSON.stringify(m)).join(", ");
const INLINE_METHODS = METHOD_NAMES.filter((m) => m !== "best-of-n")
  .map((m) => JSON.stringify(m))
  .join(", ");
const PAIR = { sft: "sft.gguf", dpo: "dpo.gguf" };
const PROMPT = { prompt: "Hello" };
const PAIRS = { promptsFile: "prompts.jsonl", out: "pairs.jsonl" };

interface Bound {
  readonly key: string;
  /** Accepted values (the interval's ends). */
  readonly accepted: readonly number[];
  /** Refused values, each with the message's interval. */
  readonly refused: readonly number[];
  readonly interval: string;
  readonly integer?: boolean;
  /** A string there is another valid kind of value (gpuLayers: "auto"), not a type error. */
  readonly stringsAllowed?: boolean;
}

/** For each numeric parameter: both ends accepted, just outside refused, fractions refused for integers. */
function checkBounds(parse: (params: Record<string, unknown>) => object, base: Record<string, unknown>, bounds: readonly Bound[], prefix = ""): void {
  for (const b of bounds) {
    const field = `${prefix}${b.key}`;
    for (const value of b.accepted) assert.equal((parse({ ...base, [b.key]: value }) as Record<string, unknown>)[b.key], value, `${field} = ${value} is accepted`);
    for (const value of b.refused) rejects(() => parse({ ...base, [b.key]: value }), field, `"${field}" must lie in ${b.interval}, got ${value}`);
    const kind = b.integer === true ? "an integer" : "a number";
    if (b.stringsAllowed !== true) rejects(() => parse({ ...base, [b.key]: "1" }), field, `"${field}" must be ${kind} in ${b.interval}, got "1"`);
    rejects(() => parse({ ...base, [b.key]: Infinity }), field, `"${field}" must be a finite number, got Infinity`);
    if (b.integer === true) rejects(() => parse({ ...base, [b.key]: b.accepted[0]! + 0.5 }), field, `"${field}" must be an integer, got ${b.accepted[0]! + 0.5}`);
  }
}

void describe("ParamsError", () => {
  void it("is an Error named ParamsError that carries the field at fault", () => {
    const error = new ParamsError("messages[2].content", "bad");
    assert.ok(error instanceof Error);
    assert.equal(error.name, "ParamsError");
    assert.equal(error.field, "messages[2].content");
    assert.equal(error.message, "bad");
  });
});

void describe("describe (a wrong value in an error message)", () => {
  void it("renders each kind of value briefly", () => {
    assert.equal(describeValue(null), "null");
    assert.equal(describeValue([1, 2, 3]), "an array of 3");
    assert.equal(describeValue("x".repeat(40)), JSON.stringify("x".repeat(40)));
    assert.equal(describeValue("x".repeat(41)), "a string of 41 characters");
    assert.equal(describeValue("x".repeat(12_345)), "a string of 12,345 characters");
    assert.equal(describeValue(1.5), "1.5");
    assert.equal(describeValue(false), "false");
    assert.equal(describeValue({ a: 1 }), "an object");
    assert.equal(describeValue(undefined), "nothing");
    assert.equal(describeValue(() => 1), "function");
    assert.equal(describeValue(10n), "bigint");
  });
});

void describe("params that are not an object", () => {
  void it("are refused with the method's name and what arrived", () => {
    rejects(() => parseGenerate(null), "", "aad/generate params must be an object, got null");
    rejects(() => parseGenerate([PROMPT]), "", "aad/generate params must be an object, got an array of 1");
    rejects(() => parseCompare("hi"), "", 'aad/compare params must be an object, got "hi"');
    rejects(() => parseScore(3), "", "aad/score params must be an object, got 3");
    rejects(() => parseLoadPair(undefined), "", "aad/loadPair params must be an object, got nothing");
    rejects(() => parsePairs(true), "", "aad/pairs params must be an object, got true");
    rejects(() => parseConfigure([]), "", "aad/configure params must be an object, got an array of 0");
    rejects(() => parseLoadBuiltinPair(7), "", "aad/loadBuiltinPair params must be an object, got 7");
    rejects(() => parseInlineCompletion(null), "", "textDocument/inlineCompletion params must be an object, got null");
  });

  void it("name the nested path when a nested value is not an object", () => {
    rejects(() => parseConfigure({ inlineCompletion: 5 }), "inlineCompletion", "inlineCompletion must be an object (inlineCompletion), got 5");
    rejects(() => parseGenerate({ messages: ["hi"] }), "messages[0]", 'messages[0] must be an object (messages[0]), got "hi"');
  });
});

void describe("parseLoadPair", () => {
  void it("returns the two-model pair with absent options left out", () => {
    assert.deepEqual(parseLoadPair(PAIR), PAIR);
  });

  void it("returns the LoRA pair and every option", () => {
    const params = { sft: "s.gguf", dpoLora: "l.gguf", reference: "r.gguf", contextSize: 4096, gpu: "cuda", gpuLayers: 12 };
    assert.deepEqual(parseLoadPair(params), params);
  });

  void it("needs sft", () => {
    rejects(() => parseLoadPair({ dpo: "d" }), "sft", '"sft" is required');
  });

  void it("needs exactly one of dpo and dpoLora", () => {
    rejects(() => parseLoadPair({ sft: "s" }), "dpo", 'give the DPO model as "dpo" (a GGUF model) or "dpoLora" (a GGUF LoRA adapter over "sft")');
    rejects(() => parseLoadPair({ sft: "s", dpo: "d", dpoLora: "l" }), "dpoLora", 'give either "dpo" or "dpoLora", not both');
  });

  void it("refuses empty, overlong, NUL-holding and non-string paths", () => {
    rejects(() => parseLoadPair({ ...PAIR, sft: "" }), "sft", '"sft" must not be empty');
    rejects(() => parseLoadPair({ ...PAIR, dpo: "a".repeat(LIMITS.pathChars + 1) }), "dpo", '"dpo" is 4,097 characters long; at most 4,096 are accepted');
    assert.equal(parseLoadPair({ ...PAIR, dpo: "a".repeat(LIMITS.pathChars) }).dpo?.length, LIMITS.pathChars);
    rejects(() => parseLoadPair({ sft: "s", dpoLora: "a\0b" }), "dpoLora", '"dpoLora" contains a NUL character');
    rejects(() => parseLoadPair({ ...PAIR, reference: 5 }), "reference", '"reference" must be a string, got 5');
  });

  void it("checks the context size", () => {
    checkBounds((p) => parseLoadPair(p), PAIR, [{ key: "contextSize", accepted: [16, LIMITS.contextSize], refused: [15, LIMITS.contextSize + 1], interval: "[16, 1048576]", integer: true }]);
  });

  void it("takes a GPU backend from the list", () => {
    for (const gpu of GPU_CHOICES) assert.equal(parseLoadPair({ ...PAIR, gpu }).gpu, gpu);
    rejects(() => parseLoadPair({ ...PAIR, gpu: "tpu" }), "gpu", '"gpu" must be one of "auto", "cuda", "vulkan", "metal", "off", got "tpu"');
    rejects(() => parseLoadPair({ ...PAIR, gpu: 1 }), "gpu", '"gpu" must be one of "auto", "cuda", "vulkan", "metal", "off", got 1');
  });

  void it("takes gpuLayers as auto, max or a layer count", () => {
    assert.equal(parseLoadPair({ ...PAIR, gpuLayers: "auto" }).gpuLayers, "auto");
    assert.equal(parseLoadPair({ ...PAIR, gpuLayers: "max" }).gpuLayers, "max");
    rejects(() => parseLoadPair({ ...PAIR, gpuLayers: "all" }), "gpuLayers", '"gpuLayers" must be one of "auto", "max", got "all"');
    checkBounds((p) => parseLoadPair(p), PAIR, [{ key: "gpuLayers", accepted: [0, 100_000], refused: [-1, 100_001], interval: "[0, 100000]", integer: true, stringsAllowed: true }]);
  });

  void it("refuses GPU layers when the GPU is off, except zero", () => {
    const message = '"gpu": "off" runs on the CPU: leave out "gpuLayers" or pick a backend';
    rejects(() => parseLoadPair({ ...PAIR, gpu: "off", gpuLayers: 3 }), "gpuLayers", message);
    rejects(() => parseLoadPair({ ...PAIR, gpu: "off", gpuLayers: "max" }), "gpuLayers", message);
    assert.deepEqual(parseLoadPair({ ...PAIR, gpu: "off", gpuLayers: 0 }), { ...PAIR, gpu: "off", gpuLayers: 0 });
    assert.deepEqual(parseLoadPair({ ...PAIR, gpu: "off" }), { ...PAIR, gpu: "off" });
    assert.equal(parseLoadPair({ ...PAIR, gpu: "vulkan", gpuLayers: 3 }).gpuLayers, 3);
  });

  void it("refuses unknown keys, listing the known ones", () => {
    rejects(() => parseLoadPair({ ...PAIR, model: "m" }), "model", 'unknown parameter "model"; expected one of sft, dpo, dpoLora, reference, contextSize, gpu, gpuLayers');
    rejects(() => parseLoadPair({ ...PAIR, SFT: "m" }), "SFT", 'unknown parameter "SFT" (did you mean "sft"?)');
  });
});

void describe("parseLoadBuiltinPair", () => {
  void it("takes no params at all", () => {
    assert.deepEqual(parseLoadBuiltinPair(undefined), {});
    assert.deepEqual(parseLoadBuiltinPair(null), {});
    assert.deepEqual(parseLoadBuiltinPair({}), {});
  });

  void it("returns the options given, false included", () => {
    assert.deepEqual(parseLoadBuiltinPair({ form: "lora", reference: false, contextSize: 512 }), { form: "lora", reference: false, contextSize: 512 });
    assert.deepEqual(parseLoadBuiltinPair({ form: "two-models" }), { form: "two-models" });
  });

  void it("refuses a bad form, a non-boolean reference, a bad context size and unknown keys", () => {
    rejects(() => parseLoadBuiltinPair({ form: "merged" }), "form", '"form" must be one of "two-models", "lora", got "merged"');
    rejects(() => parseLoadBuiltinPair({ reference: "yes" }), "reference", '"reference" must be true or false, got "yes"');
    rejects(() => parseLoadBuiltinPair({ reference: 1 }), "reference", '"reference" must be true or false, got 1');
    checkBounds((p) => parseLoadBuiltinPair(p), {}, [{ key: "contextSize", accepted: [16, LIMITS.contextSize], refused: [15, LIMITS.contextSize + 1], interval: "[16, 1048576]", integer: true }]);
    rejects(() => parseLoadBuiltinPair({ lora: true }), "lora", 'unknown parameter "lora"; expected one of form, reference, contextSize');
  });
});

void describe("prompts and chat messages (aad/generate, aad/compare, aad/score)", () => {
  void it("takes a prompt string, empty included", () => {
    assert.deepEqual(parseGenerate(PROMPT), PROMPT);
    assert.deepEqual(parseGenerate({ prompt: "" }), { prompt: "" });
  });

  void it("takes chat messages of each role", () => {
    const messages = [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hi" },
      { role: "assistant", content: "" },
    ];
    assert.deepEqual(parseGenerate({ messages }), { messages });
  });

  void it("needs exactly one of prompt and messages, naming the method", () => {
    rejects(() => parseGenerate({}), "prompt", 'aad/generate needs a "prompt" string or chat "messages"');
    rejects(() => parseCompare({}), "prompt", 'aad/compare needs a "prompt" string or chat "messages"');
    rejects(() => parseScore({ response: "r" }), "prompt", 'aad/score needs a "prompt" string or chat "messages"');
    rejects(() => parseGenerate({ prompt: "p", messages: [] }), "prompt", 'give either "prompt" or "messages", not both');
  });

  void it("refuses a prompt that is not a string or is too long", () => {
    rejects(() => parseGenerate({ prompt: 5 }), "prompt", '"prompt" must be a string, got 5');
    rejects(() => parseGenerate({ prompt: "x".repeat(LIMITS.promptChars + 1) }), "prompt", '"prompt" is 1,000,001 characters long; at most 1,000,000 are accepted');
    assert.equal(parseGenerate({ prompt: "x".repeat(LIMITS.promptChars) }).prompt?.length, LIMITS.promptChars);
  });

  void it("refuses messages that are not a non-empty array within the limit", () => {
    rejects(() => parseGenerate({ messages: null }), "messages", '"messages" must be an array of {role, content}, got null');
    rejects(() => parseGenerate({ messages: { role: "user" } }), "messages", '"messages" must be an array of {role, content}, got an object');
    rejects(() => parseGenerate({ messages: [] }), "messages", '"messages" must not be empty');
    const message = { role: "user", content: "x" };
    rejects(() => parseGenerate({ messages: Array(LIMITS.messages + 1).fill(message) }), "messages", '"messages" has 1001 entries; at most 1000 are accepted');
    assert.equal(parseGenerate({ messages: Array(LIMITS.messages).fill(message) }).messages?.length, LIMITS.messages);
  });

  void it("refuses a message without a role, with an unknown role, without content or with unknown keys", () => {
    rejects(() => parseGenerate({ messages: [{ role: "user", content: "a" }, { content: "b" }] }), "messages[1].role", '"messages[1].role" is required');
    rejects(() => parseGenerate({ messages: [{ role: "bot", content: "b" }] }), "messages[0].role", '"messages[0].role" must be one of "system", "user", "assistant", got "bot"');
    rejects(() => parseGenerate({ messages: [{ role: "user" }] }), "messages[0].content", '"messages[0].content" is required');
    rejects(() => parseGenerate({ messages: [{ role: "user", content: 1 }] }), "messages[0].content", '"messages[0].content" must be a string, got 1');
    rejects(() => parseGenerate({ messages: [{ role: "user", content: "a", name: "x" }] }), "messages[0].name", 'unknown parameter "messages[0].name"; expected one of role, content');
  });

  void it("counts the characters of all messages together", () => {
    const half = "x".repeat(LIMITS.promptChars / 2);
    assert.equal(parseGenerate({ messages: [{ role: "user", content: half }, { role: "assistant", content: half }] }).messages?.length, 2);
    rejects(
      () => parseGenerate({ messages: [{ role: "user", content: half }, { role: "assistant", content: `${half}x` }] }),
      "messages",
      "the messages hold more than 1,000,000 characters in all",
    );
  });

  void it("refuses raw with messages, but not with a prompt or when false", () => {
    const messages = [{ role: "user", content: "Hi" }];
    const message = '"raw" continues a plain "prompt"; it cannot be used with "messages"';
    rejects(() => parseGenerate({ messages, raw: true }), "raw", message);
    rejects(() => parseCompare({ messages, raw: true }), "raw", message);
    rejects(() => parseScore({ messages, response: "r", raw: true }), "raw", message);
    assert.deepEqual(parseGenerate({ messages, raw: false }), { messages, raw: false });
    assert.deepEqual(parseGenerate({ ...PROMPT, raw: true }), { ...PROMPT, raw: true });
    assert.deepEqual(parseScore({ ...PROMPT, response: "r", raw: true }), { ...PROMPT, response: "r", raw: true });
  });
});

const DECODING_BOUNDS: readonly Bound[] = [
  { key: "alpha", accepted: [0, 1], refused: [-0.01, 1.01], interval: "[0, 1]" },
  { key: "lambda", accepted: [-100, 100], refused: [-101, 101], interval: "[-100, 100]" },
  { key: "temperature", accepted: [0, 100], refused: [-1, 101], interval: "[0, 100]" },
  { key: "topP", accepted: [1e-9, 1], refused: [0, -0.5, 1.5], interval: "(0, 1]" },
  { key: "topK", accepted: [0, 1 << 20], refused: [-1, (1 << 20) + 1], interval: "[0, 1048576]", integer: true },
  { key: "n", accepted: [1, LIMITS.bestOfN], refused: [0, LIMITS.bestOfN + 1], interval: "[1, 16]", integer: true },
  { key: "beta", accepted: [1e-9, 1000], refused: [0, 1001], interval: "(0, 1000]" },
];

const LIMIT_BOUNDS: readonly Bound[] = [
  { key: "maxTokens", accepted: [1, LIMITS.maxTokens], refused: [0, LIMITS.maxTokens + 1], interval: "[1, 4096]", integer: true },
  { key: "seed", accepted: [0, 2 ** 32 - 1], refused: [-1, 2 ** 32], interval: "[0, 4294967295]", integer: true },
  { key: "traceTopK", accepted: [1, LIMITS.traceTopK], refused: [0, LIMITS.traceTopK + 1], interval: "[1, 64]", integer: true },
];

void describe("parseGenerate", () => {
  void it("returns every option given", () => {
    const params = {
      prompt: "p",
      method: "eft",
      alpha: 0.5,
      lambda: -2,
      temperature: 0.7,
      topP: 0.9,
      topK: 40,
      from: "sft",
      n: 4,
      beta: 0.1,
      maxTokens: 64,
      stop: ["\n\n", "END"],
      seed: 7,
      raw: true,
      traceTopK: 5,
      priority: "batch",
      schedule: "lazy",
      trace: "picks",
      partialResultToken: "tok",
    };
    assert.deepEqual(parseGenerate(params), params);
  });

  void it("takes each method, priority, schedule, trace and source from its list", () => {
    for (const method of METHOD_NAMES) assert.equal(parseGenerate({ ...PROMPT, method }).method, method);
    rejects(() => parseGenerate({ ...PROMPT, method: "beam" }), "method", `"method" must be one of ${METHODS}, got "beam"`);
    assert.equal(parseGenerate({ ...PROMPT, priority: "interactive" }).priority, "interactive");
    rejects(() => parseGenerate({ ...PROMPT, priority: "high" }), "priority", '"priority" must be one of "interactive", "batch", got "high"');
    for (const schedule of ["eager", "lazy", "background"]) assert.equal(parseGenerate({ ...PROMPT, schedule }).schedule, schedule);
    rejects(() => parseGenerate({ ...PROMPT, schedule: "now" }), "schedule", '"schedule" must be one of "eager", "lazy", "background", got "now"');
    assert.equal(parseGenerate({ ...PROMPT, trace: "exact" }).trace, "exact");
    rejects(() => parseGenerate({ ...PROMPT, trace: "full" }), "trace", '"trace" must be one of "exact", "picks", got "full"');
    assert.equal(parseGenerate({ ...PROMPT, from: "dpo" }).from, "dpo");
    rejects(() => parseGenerate({ ...PROMPT, from: "ref" }), "from", '"from" must be one of "dpo", "sft", got "ref"');
  });

  void it("checks each decoding parameter's range", () => {
    checkBounds((p) => parseGenerate(p), PROMPT, DECODING_BOUNDS);
  });

  void it("checks each limit's range", () => {
    checkBounds((p) => parseGenerate(p), PROMPT, LIMIT_BOUNDS);
    rejects(() => parseGenerate({ ...PROMPT, raw: "true" }), "raw", '"raw" must be true or false, got "true"');
  });

  void it("takes up to 16 non-empty stop strings of up to 256 characters", () => {
    const stop = Array.from({ length: LIMITS.stopStrings }, (_, i) => `${i}`.padEnd(i === 0 ? LIMITS.stopChars : 1, "x"));
    assert.deepEqual(parseGenerate({ ...PROMPT, stop }).stop, stop);
    rejects(() => parseGenerate({ ...PROMPT, stop: "END" }), "stop", '"stop" must be an array of strings, got "END"');
    rejects(() => parseGenerate({ ...PROMPT, stop: [...stop, "y"] }), "stop", '"stop" has 17 strings; at most 16 are accepted');
    rejects(() => parseGenerate({ ...PROMPT, stop: ["a", ""] }), "stop[1]", '"stop[1]" must not be empty');
    rejects(() => parseGenerate({ ...PROMPT, stop: ["a", 2] }), "stop[1]", '"stop[1]" must be a string, got 2');
    rejects(() => parseGenerate({ ...PROMPT, stop: ["x".repeat(LIMITS.stopChars + 1)] }), "stop[0]", '"stop[0]" is 257 characters long; at most 256 are accepted');
    assert.deepEqual(parseGenerate({ ...PROMPT, stop: [] }).stop, []);
  });

  void it("takes a partial result token that is a short string or a safe integer", () => {
    assert.equal(parseGenerate({ ...PROMPT, partialResultToken: "t".repeat(256) }).partialResultToken, "t".repeat(256));
    assert.equal(parseGenerate({ ...PROMPT, partialResultToken: "" }).partialResultToken, "");
    assert.equal(parseGenerate({ ...PROMPT, partialResultToken: -3 }).partialResultToken, -3);
    assert.equal(parseGenerate({ ...PROMPT, partialResultToken: Number.MAX_SAFE_INTEGER }).partialResultToken, Number.MAX_SAFE_INTEGER);
    const message = (got: string): string => `"partialResultToken" must be a string (at most 256 characters) or an integer, got ${got}`;
    rejects(() => parseGenerate({ ...PROMPT, partialResultToken: "t".repeat(257) }), "partialResultToken", message("a string of 257 characters"));
    rejects(() => parseGenerate({ ...PROMPT, partialResultToken: 1.5 }), "partialResultToken", message("1.5"));
    rejects(() => parseGenerate({ ...PROMPT, partialResultToken: 2 ** 53 }), "partialResultToken", message(String(2 ** 53)));
    rejects(() => parseGenerate({ ...PROMPT, partialResultToken: null }), "partialResultToken", message("null"));
  });

  void it("accepts a work done token but does not return it", () => {
    assert.deepEqual(parseGenerate({ ...PROMPT, workDoneToken: 1 }), PROMPT);
  });

  void it("refuses unknown keys, suggesting the one that differs only in case", () => {
    rejects(() => parseGenerate({ ...PROMPT, maxtokens: 5 }), "maxtokens", 'unknown parameter "maxtokens" (did you mean "maxTokens"?)');
    rejects(
      () => parseGenerate({ ...PROMPT, methods: ["aad"] }),
      "methods",
      'unknown parameter "methods"; expected one of prompt, messages, method, alpha, lambda, temperature, topP, topK, from, n, beta, stop, maxTokens, seed, raw, traceTopK, priority, schedule, trace, partialResultToken, partialResultToken, workDoneToken',
    );
    const long = "k".repeat(100);
    rejects(() => parseGenerate({ ...PROMPT, [long]: 1 }), long, `unknown parameter "${"k".repeat(80)}"; expected one of prompt, messages, method, alpha, lambda, temperature, topP, topK, from, n, beta, stop, maxTokens, seed, raw, traceTopK, priority, schedule, trace, partialResultToken, partialResultToken, workDoneToken`);
  });
});

void describe("parseCompare", () => {
  void it("returns the methods and the shared options", () => {
    const params = { messages: [{ role: "user", content: "Hi" }], alpha: 0.3, maxTokens: 8, methods: ["aad", "greedy-dpo"], partialResultToken: 9 };
    assert.deepEqual(parseCompare(params), params);
    assert.deepEqual(parseCompare(PROMPT), PROMPT);
  });

  void it("checks the decoding parameters and limits as aad/generate does", () => {
    checkBounds((p) => parseCompare(p), PROMPT, [...DECODING_BOUNDS, ...LIMIT_BOUNDS]);
  });

  void it("refuses a single method, which belongs to aad/generate", () => {
    rejects(() => parseCompare({ ...PROMPT, method: "aad" }), "method", 'unknown parameter "method"; expected one of prompt, messages, alpha, lambda, temperature, topP, topK, from, n, beta, stop, maxTokens, seed, raw, traceTopK, methods, partialResultToken, partialResultToken, workDoneToken');
  });

  void it("takes a non-empty list of known methods, each at most twice over", () => {
    const all = [...METHOD_NAMES, ...METHOD_NAMES];
    assert.deepEqual(parseCompare({ ...PROMPT, methods: all }).methods, all);
    rejects(() => parseCompare({ ...PROMPT, methods: [] }), "methods", '"methods" must be a non-empty array of method names, got an array of 0');
    rejects(() => parseCompare({ ...PROMPT, methods: "aad" }), "methods", '"methods" must be a non-empty array of method names, got "aad"');
    rejects(() => parseCompare({ ...PROMPT, methods: [...all, "aad"] }), "methods", '"methods" has 15 entries; at most 14 are accepted');
    rejects(() => parseCompare({ ...PROMPT, methods: ["aad", "beam"] }), "methods[1]", `"methods[1]" must be one of ${METHODS}, got "beam"`);
  });

  void it("checks the partial result token", () => {
    rejects(() => parseCompare({ ...PROMPT, partialResultToken: {} }), "partialResultToken", '"partialResultToken" must be a string (at most 256 characters) or an integer, got an object');
  });
});

void describe("parseScore", () => {
  void it("returns the prompt, the response and the options", () => {
    const params = { prompt: "p", response: "r", raw: false, alpha: 1, beta: 0.5, traceTopK: 3 };
    assert.deepEqual(parseScore(params), params);
    assert.deepEqual(parseScore({ ...PROMPT, response: "" }), { ...PROMPT, response: "" });
  });

  void it("needs a response string within the prompt limit", () => {
    rejects(() => parseScore(PROMPT), "response", '"response" is required');
    rejects(() => parseScore({ ...PROMPT, response: 1 }), "response", '"response" must be a string, got 1');
    rejects(() => parseScore({ ...PROMPT, response: "x".repeat(LIMITS.promptChars + 1) }), "response", '"response" is 1,000,001 characters long; at most 1,000,000 are accepted');
  });

  void it("checks alpha, beta and traceTopK", () => {
    const base = { ...PROMPT, response: "r" };
    checkBounds((p) => parseScore(p), base, [
      { key: "alpha", accepted: [0, 1], refused: [-0.01, 1.01], interval: "[0, 1]" },
      { key: "beta", accepted: [1e-9, 1000], refused: [0, 1001], interval: "(0, 1000]" },
      LIMIT_BOUNDS[2]!,
    ]);
    rejects(() => parseScore({ ...base, raw: 0 }), "raw", '"raw" must be true or false, got 0');
  });

  void it("accepts the progress tokens and refuses other keys", () => {
    assert.deepEqual(parseScore({ ...PROMPT, response: "r", partialResultToken: "a", workDoneToken: "b" }), { ...PROMPT, response: "r" });
    rejects(() => parseScore({ ...PROMPT, response: "r", method: "aad" }), "method", 'unknown parameter "method"; expected one of prompt, messages, response, raw, alpha, beta, traceTopK, partialResultToken, workDoneToken');
  });
});

void describe("parsePairs", () => {
  void it("returns the files and every setting", () => {
    const params = { ...PAIRS, rejected: "greedy-dpo", topP: 0.95, temperature: 1, alpha: 0.5, maxTokens: 100, limit: 0, seed: -5, workDoneToken: "w" };
    assert.deepEqual(parsePairs(params), params);
    assert.deepEqual(parsePairs(PAIRS), PAIRS);
    assert.deepEqual(parsePairs({ ...PAIRS, rejected: "sample", workDoneToken: 12 }), { ...PAIRS, rejected: "sample", workDoneToken: 12 });
  });

  void it("needs both files, the output a .jsonl one in any case", () => {
    rejects(() => parsePairs({ out: "o.jsonl" }), "promptsFile", '"promptsFile" is required');
    rejects(() => parsePairs({ promptsFile: "p.jsonl" }), "out", '"out" is required');
    rejects(() => parsePairs({ ...PAIRS, promptsFile: "" }), "promptsFile", '"promptsFile" must not be empty');
    rejects(() => parsePairs({ ...PAIRS, out: "o.json" }), "out", '"out" must name a .jsonl file, got "o.json"');
    assert.equal(parsePairs({ ...PAIRS, out: "O.JSONL" }).out, "O.JSONL");
  });

  void it("checks each setting's range and choice", () => {
    checkBounds((p) => parsePairs(p), PAIRS, [
      { key: "topP", accepted: [1e-9, 1], refused: [0, 1.5], interval: "(0, 1]" },
      { key: "temperature", accepted: [0, 100], refused: [-1, 101], interval: "[0, 100]" },
      { key: "alpha", accepted: [1e-9, 1], refused: [0, 1.01], interval: "(0, 1]" },
      LIMIT_BOUNDS[0]!,
      { key: "limit", accepted: [0, Number.MAX_SAFE_INTEGER], refused: [-1], interval: `[0, ${Number.MAX_SAFE_INTEGER}]`, integer: true },
      { key: "seed", accepted: [-3, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], refused: [], interval: `[${Number.MIN_SAFE_INTEGER}, ${Number.MAX_SAFE_INTEGER}]`, integer: true },
    ]);
    rejects(() => parsePairs({ ...PAIRS, rejected: "worst" }), "rejected", '"rejected" must be one of "sample", "greedy-dpo", got "worst"');
  });

  void it("takes a work done token that is a short string or a safe integer", () => {
    assert.equal(parsePairs({ ...PAIRS, workDoneToken: "w".repeat(256) }).workDoneToken, "w".repeat(256));
    assert.equal(parsePairs({ ...PAIRS, workDoneToken: "" }).workDoneToken, "");
    assert.equal(parsePairs({ ...PAIRS, workDoneToken: 0 }).workDoneToken, 0);
    const message = (got: string): string => `"workDoneToken" must be a string (at most 256 characters) or an integer, got ${got}`;
    rejects(() => parsePairs({ ...PAIRS, workDoneToken: "w".repeat(257) }), "workDoneToken", message("a string of 257 characters"));
    rejects(() => parsePairs({ ...PAIRS, workDoneToken: 0.5 }), "workDoneToken", message("0.5"));
    rejects(() => parsePairs({ ...PAIRS, workDoneToken: 2 ** 53 }), "workDoneToken", message(String(2 ** 53)));
    rejects(() => parsePairs({ ...PAIRS, workDoneToken: false }), "workDoneToken", message("false"));
  });

  void it("accepts a partial result token but does not return it, and refuses other keys", () => {
    assert.deepEqual(parsePairs({ ...PAIRS, partialResultToken: 3 }), PAIRS);
    rejects(() => parsePairs({ ...PAIRS, prompts: "p" }), "prompts", 'unknown parameter "prompts"; expected one of promptsFile, out, rejected, topP, temperature, alpha, maxTokens, limit, seed, workDoneToken, partialResultToken');
  });
});

const INLINE_BOUNDS: readonly Bound[] = [
  { key: "alpha", accepted: [0, 1], refused: [-0.01, 1.01], interval: "[0, 1]" },
  { key: "maxTokens", accepted: [1, LIMITS.inlineMaxTokens], refused: [0, LIMITS.inlineMaxTokens + 1], interval: "[1, 256]", integer: true },
  { key: "timeBudgetMs", accepted: [1, LIMITS.inlineTimeBudgetMs], refused: [0, LIMITS.inlineTimeBudgetMs + 1], interval: "[1, 30000]", integer: true },
  { key: "maxPrefixChars", accepted: [0, LIMITS.inlineContextChars], refused: [-1, LIMITS.inlineContextChars + 1], interval: "[0, 100000]", integer: true },
  { key: "maxSuffixChars", accepted: [0, LIMITS.inlineContextChars], refused: [-1, LIMITS.inlineContextChars + 1], interval: "[0, 100000]", integer: true },
  { key: "prefixTokens", accepted: [1, LIMITS.inlineContextTokens], refused: [0, LIMITS.inlineContextTokens + 1], interval: "[1, 32768]", integer: true },
  { key: "suffixTokens", accepted: [0, LIMITS.inlineContextTokens], refused: [-1, LIMITS.inlineContextTokens + 1], interval: "[0, 32768]", integer: true },
  { key: "contextChunks", accepted: [0, LIMITS.inlineContextChunks], refused: [-1, LIMITS.inlineContextChunks + 1], interval: "[0, 64]", integer: true },
  { key: "contextChunkLines", accepted: [1, LIMITS.inlineContextChunkLines], refused: [0, LIMITS.inlineContextChunkLines + 1], interval: "[1, 1024]", integer: true },
  { key: "chunkTokens", accepted: [0, LIMITS.inlineContextTokens], refused: [-1, LIMITS.inlineContextTokens + 1], interval: "[0, 32768]", integer: true },
];

void describe("parseInlineSettings, parseConfigure and parseInitializationOptions", () => {
  void it("return every inline completion setting given", () => {
    const settings = {
      method: "greedy-dpo",
      alpha: 0.4,
      maxTokens: 32,
      timeBudgetMs: 500,
      stopAt: "block",
      fim: false,
      maxPrefixChars: 2000,
      maxSuffixChars: 0,
      prefixTokens: 256,
      suffixTokens: 64,
      contextChunks: 4,
      contextChunkLines: 32,
      chunkTokens: 128,
    };
    assert.deepEqual(parseInlineSettings(settings, "inlineCompletion"), settings);
    assert.deepEqual(parseConfigure({ inlineCompletion: settings }), { inlineCompletion: settings });
    assert.deepEqual(parseInitializationOptions({ inlineCompletion: settings }), settings);
    assert.deepEqual(parseInlineSettings({}, "x"), {});
  });

  void it("name each field under the path it came from", () => {
    checkBounds((p) => parseInlineSettings(p, "inlineCompletion"), {}, INLINE_BOUNDS, "inlineCompletion.");
    rejects(() => parseConfigure({ inlineCompletion: { maxTokens: 0 } }), "inlineCompletion.maxTokens", '"inlineCompletion.maxTokens" must lie in [1, 256], got 0');
    rejects(
      () => parseInitializationOptions({ inlineCompletion: { fim: "yes" } }),
      "initializationOptions.inlineCompletion.fim",
      '"initializationOptions.inlineCompletion.fim" must be true or false, got "yes"',
    );
  });

  void it("take every method but best-of-n, and each stop rule", () => {
    for (const method of METHOD_NAMES.filter((m) => m !== "best-of-n")) assert.equal(parseInlineSettings({ method }, "s").method, method);
    rejects(() => parseInlineSettings({ method: "best-of-n" }, "s"), "s.method", `"s.method" must be one of ${INLINE_METHODS}, got "best-of-n"`);
    for (const stopAt of ["line", "block", "none"]) assert.equal(parseInlineSettings({ stopAt }, "s").stopAt, stopAt);
    rejects(() => parseInlineSettings({ stopAt: "word" }, "s"), "s.stopAt", '"s.stopAt" must be one of "line", "block", "none", got "word"');
  });

  void it("refuse unknown settings and unknown configure keys", () => {
    rejects(() => parseInlineSettings({ maxtokens: 3 }, "s"), "s.maxtokens", 'unknown parameter "s.maxtokens" (did you mean "maxTokens"?)');
    rejects(() => parseConfigure({ inline: {} }), "inline", 'unknown parameter "inline"; expected one of inlineCompletion');
    rejects(() => parseConfigure({ inlineCompletion: [] }), "inlineCompletion", "inlineCompletion must be an object (inlineCompletion), got an array of 0");
  });

  void it("configure with nothing to configure returns nothing", () => {
    assert.deepEqual(parseConfigure({}), {});
  });

  void it("initialization options from a generic client are ignored unless they hold our key", () => {
    assert.equal(parseInitializationOptions(undefined), undefined);
    assert.equal(parseInitializationOptions(null), undefined);
    assert.equal(parseInitializationOptions("x"), undefined);
    assert.equal(parseInitializationOptions([{ inlineCompletion: { maxTokens: 1 } }]), undefined);
    assert.equal(parseInitializationOptions({ other: 1 }), undefined);
    assert.deepEqual(parseInitializationOptions({ other: 1, inlineCompletion: { maxTokens: 5 } }), { maxTokens: 5 });
    rejects(
      () => parseInitializationOptions({ inlineCompletion: "fast" }),
      "initializationOptions.inlineCompletion",
      'initializationOptions.inlineCompletion must be an object (initializationOptions.inlineCompletion), got "fast"',
    );
  });
});

void describe("parseInlineCompletion", () => {
  const valid = { textDocument: { uri: "file:///a.ts" }, position: { line: 3, character: 0 }, context: { triggerKind: 1 } };

  void it("returns the document and position, ignoring LSP's other fields", () => {
    assert.deepEqual(parseInlineCompletion(valid), { uri: "file:///a.ts", line: 3, character: 0 });
    assert.deepEqual(parseInlineCompletion({ ...valid, position: { line: 2 ** 31 - 1, character: 2 ** 31 - 1 } }), { uri: "file:///a.ts", line: 2 ** 31 - 1, character: 2 ** 31 - 1 });
  });

  void it("needs a text document with a non-empty uri of bounded length", () => {
    rejects(() => parseInlineCompletion({ position: valid.position }), "textDocument", "textDocument must be an object (textDocument), got nothing");
    rejects(() => parseInlineCompletion({ ...valid, textDocument: {} }), "textDocument.uri", '"textDocument.uri" is required');
    rejects(() => parseInlineCompletion({ ...valid, textDocument: { uri: "" } }), "textDocument.uri", '"textDocument.uri" must not be empty');
    rejects(() => parseInlineCompletion({ ...valid, textDocument: { uri: "u".repeat(2 * LIMITS.pathChars + 1) } }), "textDocument.uri", '"textDocument.uri" is 8,193 characters long; at most 8,192 are accepted');
    assert.equal(parseInlineCompletion({ ...valid, textDocument: { uri: "u".repeat(2 * LIMITS.pathChars) } }).uri.length, 2 * LIMITS.pathChars);
  });

  void it("needs a position with both a line and a character in range", () => {
    rejects(() => parseInlineCompletion({ textDocument: valid.textDocument }), "position", "position must be an object (position), got nothing");
    rejects(() => parseInlineCompletion({ ...valid, position: { line: 1 } }), "position", '"position" needs "line" and "character"');
    rejects(() => parseInlineCompletion({ ...valid, position: { character: 1 } }), "position", '"position" needs "line" and "character"');
    rejects(() => parseInlineCompletion({ ...valid, position: { line: -1, character: 0 } }), "position.line", '"position.line" must lie in [0, 2147483647], got -1');
    rejects(() => parseInlineCompletion({ ...valid, position: { line: 0, character: 2 ** 31 } }), "position.character", '"position.character" must lie in [0, 2147483647], got 2147483648');
    rejects(() => parseInlineCompletion({ ...valid, position: { line: 0.5, character: 0 } }), "position.line", '"position.line" must be an integer, got 0.5');
  });
});

// Edges written to kill the mutants of validate.ts that the tests above let live
// (bench/results/mutation.md): which strings may hold NUL, one message's own length limit, an
// array passed as a progress token, a fractional character position.
void describe("validation edges", () => {
  void it("lets a prompt, a message and a response hold a NUL character: only paths refuse one", () => {
    assert.equal(parseGenerate({ prompt: "a\0b" }).prompt, "a\0b");
    assert.equal(parseGenerate({ messages: [{ role: "user", content: "a\0b" }] }).messages?.[0]?.content, "a\0b");
    assert.equal(parseScore({ ...PROMPT, response: "r\0" }).response, "r\0");
  });

  void it("names the message whose content alone is longer than a prompt may be", () => {
    rejects(
      () => parseGenerate({ messages: [{ role: "user", content: "x".repeat(LIMITS.promptChars + 1) }] }),
      "messages[0].content",
      '"messages[0].content" is 1,000,001 characters long; at most 1,000,000 are accepted',
    );
  });

  void it("refuses an array as workDoneToken, even a short one", () => {
    const message = (got: string): string => `"workDoneToken" must be a string (at most 256 characters) or an integer, got ${got}`;
    rejects(() => parsePairs({ ...PAIRS, workDoneToken: [] }), "workDoneToken", message("an array of 0"));
    rejects(() => parsePairs({ ...PAIRS, workDoneToken: ["w"] }), "workDoneToken", message("an array of 1"));
    rejects(() => parseGenerate({ ...PROMPT, partialResultToken: ["t"] }), "partialResultToken", `"partialResultToken" must be a string (at most 256 characters) or an integer, got an array of 1`);
  });

  void it("needs an integer character position", () => {
    const textDocument = { uri: "file:///a.ts" };
    rejects(() => parseInlineCompletion({ textDocument, position: { line: 0, character: 0.5 } }), "position.character", '"position.character" must be an integer, got 0.5');
  });
});
