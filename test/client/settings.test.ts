import { test } from "node:test";
import assert from "node:assert/strict";
import { METHOD_NAMES } from "../../server/src/protocol/protocol.ts";
import { DEFAULT_SETTINGS, expandPath, inlineLanguageEnabled, modelPathUpdates, offeredMethods, parseSettings, resolveModelPair, samePair, SETTING_KEYS, type ModelPathSettings, type SettingKey } from "../../client/src/settings.ts";

const reader = (values: Partial<Record<SettingKey, unknown>>) => (key: SettingKey): unknown => values[key];

test("no settings at all give the defaults and no problems", () => {
  const { settings, problems } = parseSettings(reader({}));
  assert.deepEqual(settings, DEFAULT_SETTINGS);
  assert.deepEqual(problems, []);
});

test("valid values are taken as they are", () => {
  const { settings, problems } = parseSettings(
    reader({
      alpha: 0.25,
      maxTokens: 64,
      method: "eft",
      contextSize: 2048,
      gpu: "auto",
      gpuLayers: "max",
      promptMode: "raw",
      "generate.intoEditor": true,
      "inline.enabled": true,
      "inline.method": "greedy-dpo",
      "inline.maxTokens": 16,
      "inline.debounceMs": 0,
      "inline.languages": ["*", "!markdown"],
      "inline.stopAt": "block",
      "inline.contextChunks": 8,
      "daemon.connection": "private",
      "daemon.socketPath": " /tmp/x.sock ",
    }),
  );
  assert.deepEqual(problems, []);
  assert.equal(settings.alpha, 0.25);
  assert.equal(settings.maxTokens, 64);
  assert.equal(settings.method, "eft");
  assert.equal(settings.contextSize, 2048);
  assert.equal(settings.gpu, "auto");
  assert.equal(settings.gpuLayers, "max");
  assert.equal(settings.promptMode, "raw");
  assert.equal(settings.generateIntoEditor, true);
  assert.deepEqual(settings.inline, { enabled: true, method: "greedy-dpo", maxTokens: 16, debounceMs: 0, languages: ["*", "!markdown"], stopAt: "block", contextChunks: 8 });
  assert.deepEqual(settings.daemon, { connection: "private", socketPath: "/tmp/x.sock" });
});

test("an invalid value falls back to its default and names the setting", () => {
  const { settings, problems } = parseSettings(reader({ alpha: 1.5, maxTokens: 2.5, method: "beam", gpu: "tpu", gpuLayers: -1, "inline.enabled": "yes" }));
  assert.equal(settings.alpha, DEFAULT_SETTINGS.alpha);
  assert.equal(settings.maxTokens, DEFAULT_SETTINGS.maxTokens);
  assert.equal(settings.method, DEFAULT_SETTINGS.method);
  assert.equal(settings.gpu, "off");
  assert.equal(settings.gpuLayers, DEFAULT_SETTINGS.gpuLayers);
  assert.equal(settings.inline.enabled, false);
  assert.deepEqual(
    problems.map((p) => p.key),
    ["alpha", "maxTokens", "method", "gpu", "gpuLayers", "inline.enabled"],
  );
  assert.match(problems[2]!.message, /aad\.method must be one of aad, greedy-dpo/);
});

test("best-of-n is a method for commands but not for inline completion", () => {
  assert.equal(parseSettings(reader({ method: "best-of-n" })).settings.method, "best-of-n");
  const inline = parseSettings(reader({ "inline.method": "best-of-n" }));
  assert.equal(inline.settings.inline.method, "aad");
  assert.equal(inline.problems.length, 1);
});

test("the advantage view's colour scale is \"auto\" by default, or a positive number of nats", () => {
  assert.equal(DEFAULT_SETTINGS.view.advantageScale, "auto");
  assert.equal(parseSettings(reader({ "view.advantageScale": "auto" })).settings.view.advantageScale, "auto");
  const fixed = parseSettings(reader({ "view.advantageScale": 0.5 }));
  assert.deepEqual([fixed.settings.view.advantageScale, fixed.problems], [0.5, []]);
});

test("an invalid colour scale falls back to \"auto\" and says what the setting takes", () => {
  for (const value of [0, -3, "wide", Number.POSITIVE_INFINITY]) {
    const { settings, problems } = parseSettings(reader({ "view.advantageScale": value }));
    assert.equal(settings.view.advantageScale, "auto", JSON.stringify(value));
    assert.deepEqual(problems.map((p) => p.key), ["view.advantageScale"]);
    assert.match(problems[0]!.message, /aad\.view\.advantageScale must be "auto" or a positive number of nats/);
  }
});

test("token limits follow the daemon's", () => {
  assert.equal(parseSettings(reader({ maxTokens: 4096 })).problems.length, 0);
  assert.equal(parseSettings(reader({ maxTokens: 4097 })).problems.length, 1);
  assert.equal(parseSettings(reader({ "inline.maxTokens": 257 })).problems.length, 1);
  assert.equal(parseSettings(reader({ maxTokens: 0 })).problems.length, 1);
});

test("without model settings the built-in pair in the extension folder is used", () => {
  const { pair, problems } = resolveModelPair(DEFAULT_SETTINGS.models, "/ext");
  assert.deepEqual(problems, []);
  assert.deepEqual(pair, { sft: "/ext/models/sft.gguf", dpo: "/ext/models/dpo.gguf", reference: "/ext/models/sft-early.gguf", builtIn: true, label: "built-in" });
});

test("the built-in pair has no reference model when its early checkpoint is missing", () => {
  const { pair } = resolveModelPair(DEFAULT_SETTINGS.models, "/ext", () => false);
  assert.equal(pair.reference, undefined);
});

test("aad.models.reference gives a user pair its reference model for cd", () => {
  const { pair, problems } = resolveModelPair({ sft: "/m/sft.gguf", dpo: "/m/dpo.gguf", dpoLora: "", reference: "/m/ref.gguf" }, "/ext");
  assert.deepEqual(problems, []);
  assert.equal(pair.reference, "/m/ref.gguf");
  assert.equal(parseSettings(reader({ "models.reference": " /m/ref.gguf " })).settings.models.reference, "/m/ref.gguf");
});

test("only one model set is an incomplete pair: flagged so the user is asked, not silently switched", () => {
  for (const models of [
    { sft: "/m/sft.gguf", dpo: "", dpoLora: "" },
    { sft: "", dpo: "/m/dpo.gguf", dpoLora: "" },
  ]) {
    const { pair, pairProblems } = resolveModelPair(models, "/ext");
    assert.equal(pair.builtIn, true);
    assert.ok(pairProblems.some((problem) => problem.incomplete), JSON.stringify(pairProblems));
  }
  assert.ok(resolveModelPair({ sft: "/m/sft.gguf", dpo: "/m/dpo.gguf", dpoLora: "/m/lora.gguf" }, "/ext").pairProblems.every((problem) => !problem.incomplete));
});

test("a complete user pair is used, named by its DPO file", () => {
  const { pair, problems } = resolveModelPair({ sft: "/m/sft.gguf", dpo: "/m/dpo-q4.gguf", dpoLora: "" }, "/ext");
  assert.deepEqual(problems, []);
  assert.deepEqual(pair, { sft: "/m/sft.gguf", dpo: "/m/dpo-q4.gguf", builtIn: false, label: "dpo-q4.gguf" });
});

test("a LoRA pair names the adapter", () => {
  const { pair } = resolveModelPair({ sft: "/m/base.gguf", dpo: "", dpoLora: "/m/dpo-lora.gguf" }, "/ext");
  assert.deepEqual(pair, { sft: "/m/base.gguf", dpoLora: "/m/dpo-lora.gguf", builtIn: false, label: "dpo-lora.gguf (LoRA)" });
});

test("an incomplete, ambiguous or relative user pair falls back to the built-in one and says why", () => {
  for (const models of [
    { sft: "/m/sft.gguf", dpo: "", dpoLora: "" },
    { sft: "", dpo: "/m/dpo.gguf", dpoLora: "" },
    { sft: "/m/sft.gguf", dpo: "/m/dpo.gguf", dpoLora: "/m/lora.gguf" },
    { sft: "models/sft.gguf", dpo: "/m/dpo.gguf", dpoLora: "" },
  ]) {
    const { pair, problems } = resolveModelPair(models, "/ext");
    assert.equal(pair.builtIn, true, JSON.stringify(models));
    assert.ok(problems.length > 0);
    assert.match(problems[0]!, /using the built-in pair/);
  }
});

test("a leading ~ means the home folder", () => {
  assert.equal(expandPath("~/models/a.gguf", "/home/u"), "/home/u/models/a.gguf");
  assert.equal(expandPath("~", "/home/u"), "/home/u");
  assert.equal(expandPath("/abs/~x", "/home/u"), "/abs/~x");
  const { pair } = resolveModelPair({ sft: "~/s.gguf", dpo: "~/d.gguf", dpoLora: "" }, "/ext");
  assert.equal(pair.builtIn, false);
});

/** Select Model Pair's writes applied to a user settings.json (undefined removes the key), read back as the extension reads it. */
function writePair(store: Map<SettingKey, unknown>, models: ModelPathSettings) {
  for (const [key, value] of modelPathUpdates(models)) {
    if (value === undefined) store.delete(key);
    else store.set(key, value);
  }
  const { settings, problems } = parseSettings((key) => store.get(key));
  assert.deepEqual(problems, []);
  return resolveModelPair(settings.models, "/ext");
}

test("Select Model Pair writes all four model settings, so a LoRA pair after a two-file one leaves nothing of it behind", () => {
  const store = new Map<SettingKey, unknown>();
  const files = writePair(store, { sft: "/m/sft.gguf", dpo: "/m/dpo.gguf", dpoLora: "", reference: "/m/ref.gguf" });
  assert.deepEqual(files, { pair: { sft: "/m/sft.gguf", dpo: "/m/dpo.gguf", reference: "/m/ref.gguf", builtIn: false, label: "dpo.gguf" }, problems: [], pairProblems: [] });
  const lora = writePair(store, { sft: "/m/base.gguf", dpo: "", dpoLora: "/m/lora.gguf", reference: "" });
  assert.deepEqual(lora, { pair: { sft: "/m/base.gguf", dpoLora: "/m/lora.gguf", builtIn: false, label: "lora.gguf (LoRA)" }, problems: [], pairProblems: [] });
  assert.deepEqual([...store.keys()].sort(), [SETTING_KEYS.dpoLora, SETTING_KEYS.sft].sort());
});

test("choosing the built-in pair removes every model setting rather than writing empty strings", () => {
  const store = new Map<SettingKey, unknown>([[SETTING_KEYS.sft, "/m/sft.gguf"], [SETTING_KEYS.dpo, "/m/dpo.gguf"], [SETTING_KEYS.reference, "/m/ref.gguf"], [SETTING_KEYS.alpha, 0.3]]);
  const { pair, problems } = writePair(store, { sft: "", dpo: "", dpoLora: "", reference: "" });
  assert.equal(pair.builtIn, true);
  assert.deepEqual(problems, []);
  assert.deepEqual([...store.entries()], [[SETTING_KEYS.alpha, 0.3]], "only the other settings remain");
  assert.deepEqual(
    modelPathUpdates({ sft: "", dpo: "", dpoLora: "" }).map(([key]) => key),
    [SETTING_KEYS.sft, SETTING_KEYS.dpo, SETTING_KEYS.dpoLora, SETTING_KEYS.reference],
  );
});

test("cd is offered only for a pair with a reference model; every other method always", () => {
  assert.deepEqual(offeredMethods({ reference: "/m/ref.gguf" }), [...METHOD_NAMES]);
  assert.deepEqual(offeredMethods({}), METHOD_NAMES.filter((method) => method !== "cd"));
  assert.ok(offeredMethods(resolveModelPair(DEFAULT_SETTINGS.models, "/ext").pair).includes("cd"), "the built-in pair brings its own reference");
  assert.ok(!offeredMethods(resolveModelPair(DEFAULT_SETTINGS.models, "/ext", () => false).pair).includes("cd"), "unless its early checkpoint is missing");
  assert.ok(!offeredMethods(resolveModelPair({ sft: "/m/sft.gguf", dpo: "/m/dpo.gguf", dpoLora: "" }, "/ext").pair).includes("cd"));
});

test("pairs are the same when they name the same files", () => {
  assert.ok(samePair({ sft: "/a", dpo: "/b" }, { sft: "/a", dpo: "/b", dpoLora: undefined }));
  assert.ok(!samePair({ sft: "/a", dpo: "/b" }, { sft: "/a", dpoLora: "/b" }));
});

test("the inline language list: every language with *, a language left out with !id, else only those listed", () => {
  assert.equal(inlineLanguageEnabled(["*"], "python"), true);
  assert.equal(inlineLanguageEnabled(["*", "!markdown"], "markdown"), false);
  assert.equal(inlineLanguageEnabled(["*", "!markdown"], "typescript"), true);
  assert.equal(inlineLanguageEnabled(["python", "rust"], "rust"), true);
  assert.equal(inlineLanguageEnabled(["python", "rust"], "plaintext"), false);
  assert.equal(inlineLanguageEnabled([], "python"), false);
});

test("a malformed language list is reported and every language stays on", () => {
  const { settings, problems } = parseSettings(reader({ "inline.languages": "python" }));
  assert.deepEqual(settings.inline.languages, ["*"]);
  assert.match(problems[0]?.message ?? "", /aad\.inline\.languages must be a list of language ids/);
});
