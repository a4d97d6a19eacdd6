/**
 * Validate a user's GGUF model and LoRA adapter files before llama.cpp sees them.
 *
 * llama.cpp refuses most broken files with an error, but some it cannot survive: a "llama" file
 * without `llama.feed_forward_length` or `llama.attention.head_count`, or a vocabulary in which a
 * token string appears twice, hits a GGML_ASSERT and the whole process dies with SIGABRT.
 * node-llama-cpp's header reader has its own weak spot: it trusts the counts in the header, so a
 * corrupt header claiming 2^60 key/value pairs makes it read zero-filled "entries" past the end
 * of the file, growing its buffer, forever.
 *
 * So a file goes through three layers, each reading only the header, never the tensor data:
 * 1. a bounded scan of the GGUF structure in this file — every count and length is checked
 *    against the bytes actually left in the file before it is used, each tensor's byte size is
 *    computed from its ggml type and dims, and each tensor's data must lie within the file
 *    (a truncated download fails here);
 * 2. node-llama-cpp's readGgufFileInfo, now safe to call, for the parsed metadata;
 * 3. the metadata llama.cpp needs for the architecture and, for a model, a tokenizer.
 *
 * Split models (name-00001-of-0000N.gguf) are checked part by part: inspecting the first part
 * checks its header and tensors only, so its parameterCount covers that part.
 */

import { open, stat, type FileHandle } from "node:fs/promises";
import { readGgufFileInfo, type GgufFileInfo } from "node-llama-cpp";

export type ModelFileErrorCode = "FileNotFound" | "InvalidModel" | "VocabularyMismatch";

export class ModelFileError extends Error {
  override readonly name = "ModelFileError";
  readonly code: ModelFileErrorCode;
  /** The file the problem is in (for a vocabulary mismatch, the second file compared). */
  readonly path: string;

  constructor(code: ModelFileErrorCode, path: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.path = path;
  }
}

export type ModelFileKind = "model" | "lora";

export interface ModelVocabulary {
  /** `tokenizer.ggml.model`, e.g. "llama" (SentencePiece) or "gpt2" (BPE). */
  tokenizerModel: string;
  /** `tokenizer.ggml.pre`, the pre-tokenizer of a BPE vocabulary ("llama-bpe", "qwen2", …), when the file has it. */
  pre?: string;
  tokens: readonly string[];
  /** `tokenizer.ggml.token_type`, when the file has it. */
  tokenTypes: readonly number[] | undefined;
  bos: number | undefined;
  eos: number | undefined;
}

interface FileSummaryBase {
  path: string;
  fileSize: number;
  ggufVersion: number;
  architecture: string;
  name: string | undefined;
  tensorCount: number;
  /** Total number of tensor elements. */
  parameterCount: number;
}

export interface ModelSummary extends FileSummaryBase {
  kind: "model";
  vocabulary: ModelVocabulary;
  contextLength: number;
  embeddingLength: number;
  blockCount: number;
}

export interface LoraAdapterSummary extends FileSummaryBase {
  kind: "lora";
  /** `adapter.lora.alpha`; llama.cpp scales B·A by alpha / rank (by 1 when absent). */
  alpha: number | undefined;
  /** Names of the base-model tensors the adapter changes, e.g. "blk.0.attn_q.weight". */
  adaptedTensors: string[];
}

export type ModelFileSummary = ModelSummary | LoraAdapterSummary;

export interface InspectModelFileOptions<Kind extends ModelFileKind> {
  expect: Kind;
  signal?: AbortSignal;
}

/**
 * Architectures whose blocks have no attention heads and/or no classic feed-forward layer
 * (state-space and RWKV models). Their converters write `head_count` and sometimes
 * `feed_forward_length` as 0, and llama.cpp does not need them; for every other architecture a
 * missing or zero value is refused, because llama.cpp would divide by it or assert on it.
 */
const ARCHITECTURES_WITHOUT_ATTENTION_OR_FFN: ReadonlySet<string> = new Set([
  "mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7",
]);

export async function inspectModelFile(path: string, options: InspectModelFileOptions<"model">): Promise<ModelSummary>;
export async function inspectModelFile(path: string, options: InspectModelFileOptions<"lora">): Promise<LoraAdapterSummary>;
export async function inspectModelFile(path: string, options: InspectModelFileOptions<ModelFileKind>): Promise<ModelFileSummary>;
export async function inspectModelFile(path: string, options: InspectModelFileOptions<ModelFileKind>): Promise<ModelFileSummary> {
  const what = options.expect === "model" ? "model" : "LoRA adapter";
  const fileSize = await checkRegularFile(path, what);
  const handle = await open(path, "r").catch((error: unknown) => {
    throw new ModelFileError("FileNotFound", path, `Cannot open the ${what} file ${path}: ${errorMessage(error)}.`, { cause: error });
  });
  let structure: GgufStructure;
  try {
    structure = await scanGgufStructure(handle, path, fileSize, what, options.signal);
  } finally {
    await handle.close();
  }

  let info: GgufFileInfo;
  try {
    info = await readGgufFileInfo(path, { logWarnings: false, spliceSplitFiles: false, sourceType: "filesystem", signal: options.signal });
  } catch (error) {
    options.signal?.throwIfAborted();
    throw invalid(path, `node-llama-cpp cannot read the GGUF header of ${path}: ${errorMessage(error)}. The file is damaged; download or convert it again.`, error);
  }

  const metadata = info.metadata as unknown as MetadataObject;
  const architecture = metadataString(metadata, "general.architecture");
  if (architecture === undefined || architecture === "") {
    throw invalid(path, `${path} has no general.architecture, so llama.cpp does not know how to run it. Convert the model again with a current llama.cpp convert_hf_to_gguf.py.`);
  }
  const base: FileSummaryBase = {
    path,
    fileSize,
    ggufVersion: structure.version,
    architecture,
    name: metadataString(metadata, "general.name"),
    tensorCount: structure.tensors.length,
    parameterCount: structure.tensors.reduce((sum, tensor) => sum + tensor.elements, 0),
  };
  return options.expect === "model"
    ? summariseModel(base, metadata)
    : summariseLoraAdapter(base, metadata, structure);
}

/**
 * Throws VocabularyMismatch unless both models tokenise identically: same tokenizer type, same
 * token strings at every index, same token types, same BOS and EOS.
 */
export function compareVocabularies(a: ModelFileSummary, b: ModelFileSummary): void {
  const noVocabulary = (summary: LoraAdapterSummary): ModelFileError =>
    invalid(summary.path, `${summary.path} is a LoRA adapter, which has no vocabulary of its own: compare the models it is applied to.`);
  if (a.kind !== "model") throw noVocabulary(a);
  if (b.kind !== "model") throw noVocabulary(b);
  const va = a.vocabulary;
  const vb = b.vocabulary;
  const advice = "AAD compares the two models' next-token distributions token by token, so both must use the same tokenizer: use an SFT model and a DPO model fine-tuned from it (or from the same base).";
  const mismatch = (detail: string): ModelFileError =>
    new ModelFileError("VocabularyMismatch", b.path, `The vocabularies of ${a.path} and ${b.path} differ: ${detail}. ${advice}`);

  if (va.tokenizerModel !== vb.tokenizerModel) {
    throw mismatch(`the first uses the "${va.tokenizerModel}" tokenizer, the second "${vb.tokenizerModel}"`);
  }
  const shared = Math.min(va.tokens.length, vb.tokens.length);
  for (let i = 0; i < shared; i++) {
    if (va.tokens[i] !== vb.tokens[i]) {
      throw mismatch(`token ${i} is ${JSON.stringify(va.tokens[i])} in the first and ${JSON.stringify(vb.tokens[i])} in the second`);
    }
  }
  if (va.tokens.length !== vb.tokens.length) {
    throw mismatch(`the first has ${va.tokens.length} tokens, the second ${vb.tokens.length} (the first ${shared} agree)`);
  }
  if (va.tokenTypes !== undefined && vb.tokenTypes !== undefined) {
    for (let i = 0; i < shared; i++) {
      if (va.tokenTypes[i] !== vb.tokenTypes[i]) {
        throw mismatch(`token ${i} (${JSON.stringify(va.tokens[i])}) has type ${va.tokenTypes[i]} in the first and ${vb.tokenTypes[i]} in the second`);
      }
    }
  }
  if (va.bos !== vb.bos) throw mismatch(`the BOS token is ${describeToken(va, va.bos)} in the first and ${describeToken(vb, vb.bos)} in the second`);
  if (va.eos !== vb.eos) throw mismatch(`the EOS token is ${describeToken(va, va.eos)} in the first and ${describeToken(vb, vb.eos)} in the second`);
}

function describeToken(vocabulary: ModelVocabulary, id: number | undefined): string {
  return id === undefined ? "not set" : `${id} (${JSON.stringify(vocabulary.tokens[id])})`;
}

// ---------------------------------------------------------------------------------------------
// Layer 0: the file itself.

async function checkRegularFile(path: string, what: string): Promise<number> {
  let stats;
  try {
    stats = await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" || code === "ENOTDIR" ? "does not exist" : `cannot be read (${errorMessage(error)})`;
    throw new ModelFileError("FileNotFound", path, `The ${what} file ${path} ${reason}. Check the path in the settings.`, { cause: error });
  }
  if (stats.isDirectory()) {
    throw new ModelFileError("FileNotFound", path, `${path} is a directory, not a ${what} file: choose the .gguf file inside it.`);
  }
  if (!stats.isFile()) throw new ModelFileError("FileNotFound", path, `${path} is not a regular file: choose a .gguf ${what} file.`);
  if (stats.size === 0) throw invalid(path, `${path} is empty (0 bytes): the download or copy did not finish. Download the ${what} again.`);
  return stats.size;
}

// ---------------------------------------------------------------------------------------------
// Layer 1: a bounded scan of the GGUF structure.

interface ScannedTensor { name: string; dims: bigint[]; ggmlType: number; offset: bigint; bytes: bigint; elements: number }
interface GgufStructure { version: number; alignment: number; dataStart: number; tensors: ScannedTensor[] }

const GGUF_MAGIC = "GGUF";
const DEFAULT_ALIGNMENT = 32;
const MAX_KEY_BYTES = 1 << 16;
const GGML_MAX_NAME = 64;
const GGML_MAX_DIMS = 4;

/** [block size, bytes per block] of each ggml type that GGUF files may use (ggml.c type_traits). */
export const GGML_TYPE_SIZES: ReadonlyMap<number, readonly [number, number]> = new Map([
  [0, [1, 4]], [1, [1, 2]], [2, [32, 18]], [3, [32, 20]], [6, [32, 22]], [7, [32, 24]], [8, [32, 34]], [9, [32, 36]],
  [10, [256, 84]], [11, [256, 110]], [12, [256, 144]], [13, [256, 176]], [14, [256, 210]], [15, [256, 292]],
  [16, [256, 66]], [17, [256, 74]], [18, [256, 98]], [19, [256, 50]], [20, [32, 18]], [21, [256, 110]], [22, [256, 82]],
  [23, [256, 136]], [24, [1, 1]], [25, [1, 2]], [26, [1, 4]], [27, [1, 8]], [28, [1, 8]], [29, [256, 56]], [30, [1, 2]],
  [34, [256, 54]], [35, [256, 66]], [39, [32, 17]], [40, [64, 36]], [41, [128, 18]], [42, [64, 18]],
] as const);

/** Byte size of each GGUF value type with a fixed size (strings and arrays are variable). */
const FIXED_VALUE_SIZES: ReadonlyMap<number, number> = new Map([
  [0, 1], [1, 1], [2, 2], [3, 2], [4, 4], [5, 4], [6, 4], [7, 1], [10, 8], [11, 8], [12, 8],
]);
const STRING_TYPE = 8;
const ARRAY_TYPE = 9;
const UINT32_TYPE = 4;

class TruncatedHeaderError extends Error {}

/** Reads the header sequentially in chunks, refusing any read past the end of the file. */
class BoundedReader {
  private buffer = Buffer.alloc(0);
  private bufferStart = 0;
  offset = 0;

  constructor(private readonly handle: FileHandle, readonly fileSize: number, private readonly signal: AbortSignal | undefined) {}

  get remaining(): number {
    return this.fileSize - this.offset;
  }

  private async ensure(length: number): Promise<void> {
    if (length > this.remaining) throw new TruncatedHeaderError(`needs ${length} bytes at offset ${this.offset}`);
    if (this.offset + length <= this.bufferStart + this.buffer.length) return;
    this.signal?.throwIfAborted();
    const size = Math.min(Math.max(length, 1 << 20), this.remaining);
    const buffer = Buffer.alloc(size);
    const { bytesRead } = await this.handle.read(buffer, 0, size, this.offset);
    if (bytesRead < length) throw new TruncatedHeaderError(`the file shrank while being read at offset ${this.offset}`);
    this.buffer = buffer.subarray(0, bytesRead);
    this.bufferStart = this.offset;
  }

  async bytes(length: number): Promise<Buffer> {
    await this.ensure(length);
    const start = this.offset - this.bufferStart;
    this.offset += length;
    return this.buffer.subarray(start, start + length);
  }

  async u32(): Promise<number> {
    return (await this.bytes(4)).readUInt32LE(0);
  }

  async u64(): Promise<bigint> {
    return (await this.bytes(8)).readBigUInt64LE(0);
  }

  /** A u64 count or length, checked to fit in the rest of the file at `unitBytes` each. */
  async count(unitBytes: number, what: string): Promise<number> {
    const value = await this.u64();
    if (value * BigInt(unitBytes) > BigInt(this.remaining)) {
      throw new TruncatedHeaderError(`${what} (${value}) cannot fit in the ${this.remaining} bytes left in the file`);
    }
    return Number(value);
  }

  async string(maxBytes: number, what: string): Promise<string> {
    const length = await this.count(1, `the length of ${what}`);
    if (length > maxBytes) throw new TruncatedHeaderError(`${what} is ${length} bytes long (at most ${maxBytes} expected)`);
    return (await this.bytes(length)).toString("utf8");
  }

  skip(length: number): void {
    if (length > this.remaining) throw new TruncatedHeaderError(`needs ${length} bytes at offset ${this.offset}`);
    this.offset += length;
  }

  async skipString(what: string): Promise<void> {
    this.skip(await this.count(1, `the length of ${what}`));
  }
}

async function scanGgufStructure(handle: FileHandle, path: string, fileSize: number, what: string, signal: AbortSignal | undefined): Promise<GgufStructure> {
  const reader = new BoundedReader(handle, fileSize, signal);
  const head = await reader.bytes(Math.min(fileSize, 8));
  if (head.length < 4 || head.subarray(0, 4).toString("latin1") !== GGUF_MAGIC) {
    const sniff = await readPrefix(handle, Math.min(fileSize, 512));
    throw invalid(path, `${path} is not a GGUF file: ${describeNonGguf(sniff, fileSize)}. Choose a .gguf ${what} file.`);
  }
  if (head.length < 8) throw invalid(path, `${path} ends inside the GGUF header: the file is truncated. Download the ${what} again.`);
  const version = head.readUInt32LE(4);
  if (version !== 2 && version !== 3) {
    const hint = version === 1
      ? "GGUF version 1 is no longer supported by llama.cpp; convert the model again"
      : (version & 0xffff) === 0 ? "it looks like a big-endian GGUF file, which this machine cannot use" : "only versions 2 and 3 are supported";
    throw invalid(path, `${path} is GGUF version ${version}: ${hint}.`);
  }

  try {
    return await scanAfterVersion(reader, path, version);
  } catch (error) {
    if (error instanceof TruncatedHeaderError) {
      throw invalid(path, `${path} has a damaged or truncated GGUF header (${error.message}). Download or convert the ${what} again.`, error);
    }
    throw error;
  }
}

async function scanAfterVersion(reader: BoundedReader, path: string, version: number): Promise<GgufStructure> {
  // v2 and v3 share this layout (v1 used u32 counts and is refused above).
  const smallestTensorInfo = 8 + 4 + 4 + 8; // name length, n_dims, type, offset
  const smallestKeyValue = 8 + 1 + 4; // key length, one key byte, value type
  const tensorCount = await reader.count(smallestTensorInfo, "the tensor count");
  const keyValueCount = await reader.count(smallestKeyValue, "the metadata key count");

  let alignment = DEFAULT_ALIGNMENT;
  const keys = new Set<string>();
  for (let i = 0; i < keyValueCount; i++) {
    const key = await reader.string(MAX_KEY_BYTES, `metadata key ${i}`);
    if (key === "") throw invalid(path, `${path}: metadata key ${i} is empty; the file is damaged.`);
    if (keys.has(key)) throw invalid(path, `${path}: metadata key "${key}" appears twice; the file is damaged.`);
    keys.add(key);
    const type = await reader.u32();
    if (key === "general.alignment") {
      if (type !== UINT32_TYPE) throw invalid(path, `${path}: general.alignment must be a u32 (type ${type} found).`);
      alignment = await reader.u32();
      if (alignment === 0 || (alignment & (alignment - 1)) !== 0) throw invalid(path, `${path}: general.alignment ${alignment} is not a power of two.`);
      continue;
    }
    await skipValue(reader, path, key, type);
  }

  const names = new Set<string>();
  const tensors: ScannedTensor[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = await reader.string(GGML_MAX_NAME - 1, `the name of tensor ${i}`);
    if (names.has(name)) throw invalid(path, `${path}: tensor "${name}" appears twice; the file is damaged.`);
    names.add(name);
    const dimCount = await reader.u32();
    if (dimCount > GGML_MAX_DIMS) throw invalid(path, `${path}: tensor "${name}" has ${dimCount} dimensions (ggml supports ${GGML_MAX_DIMS}).`);
    const dims: bigint[] = [];
    for (let d = 0; d < dimCount; d++) dims.push(await reader.u64());
    const ggmlType = await reader.u32();
    const offset = await reader.u64();
    const typeSize = GGML_TYPE_SIZES.get(ggmlType);
    if (typeSize === undefined) {
      throw invalid(path, `${path}: tensor "${name}" uses ggml type ${ggmlType}, which this version of llama.cpp does not support. Use a file quantised with a common type (F16, Q8_0, Q4_K_M…).`);
    }
    const elements = dims.reduce((product, dim) => product * dim, 1n);
    if (dims.some((dim) => dim >= 1n << 63n) || elements >= 1n << 63n) throw invalid(path, `${path}: tensor "${name}" has impossible dimensions [${dims.join(", ")}].`);
    const [blockSize, blockBytes] = typeSize;
    const ne0 = dims[0] ?? 1n;
    if (ne0 % BigInt(blockSize) !== 0n) {
      throw invalid(path, `${path}: tensor "${name}" has a first dimension of ${ne0}, not a multiple of its type's block size ${blockSize}; the file is damaged.`);
    }
    tensors.push({ name, dims, ggmlType, offset, bytes: (elements / BigInt(blockSize)) * BigInt(blockBytes), elements: Number(elements) });
  }

  const dataStart = alignUp(reader.offset, alignment);
  const fileSize = BigInt(reader.fileSize);
  let expectedOffset = 0n;
  for (const tensor of tensors) {
    if (tensor.offset !== expectedOffset) {
      throw invalid(path, `${path}: tensor "${tensor.name}" starts at data offset ${tensor.offset}, but llama.cpp expects ${expectedOffset}; the file is damaged.`);
    }
    const end = BigInt(dataStart) + tensor.offset + tensor.bytes;
    if (end > fileSize) {
      throw invalid(path, `${path} is truncated: it is ${fileSize} bytes, but tensor "${tensor.name}" needs bytes up to ${end}. The download or copy did not finish; download the file again.`);
    }
    expectedOffset += BigInt(alignUp(Number(tensor.bytes), alignment));
  }
  return { version, alignment, dataStart, tensors };
}

async function skipValue(reader: BoundedReader, path: string, key: string, type: number): Promise<void> {
  const fixed = FIXED_VALUE_SIZES.get(type);
  if (fixed !== undefined) return reader.skip(fixed);
  if (type === STRING_TYPE) return reader.skipString(`the value of ${key}`);
  if (type !== ARRAY_TYPE) throw invalid(path, `${path}: metadata key "${key}" has unknown value type ${type}; the file is damaged.`);
  const itemType = await reader.u32();
  const itemSize = FIXED_VALUE_SIZES.get(itemType);
  if (itemSize !== undefined) {
    reader.skip((await reader.count(itemSize, `the length of ${key}`)) * itemSize);
    return;
  }
  if (itemType !== STRING_TYPE) throw invalid(path, `${path}: metadata key "${key}" is an array of unsupported type ${itemType}; the file is damaged.`);
  const count = await reader.count(8, `the length of ${key}`);
  for (let i = 0; i < count; i++) await reader.skipString(`${key}[${i}]`);
}

async function readPrefix(handle: FileHandle, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const { bytesRead } = await handle.read(buffer, 0, length, 0);
  return buffer.subarray(0, bytesRead);
}

function describeNonGguf(prefix: Buffer, fileSize: number): string {
  const text = prefix.toString("utf8");
  if (text.startsWith("version https://git-lfs")) return "it is a Git LFS pointer, not the model itself (run `git lfs pull`, or download the file directly)";
  if (prefix.length >= 9 && prefix.readBigUInt64LE(0) < BigInt(fileSize) && prefix[8] === 0x7b) return "it looks like a safetensors file (convert it with llama.cpp's convert_hf_to_gguf.py)";
  if (text.startsWith("FUGG")) return "it looks like a big-endian GGUF file, which this machine cannot use";
  if (prefix.length >= 2 && prefix[0] === 0x50 && prefix[1] === 0x4b) return "it is a zip archive (a PyTorch checkpoint or a compressed download?)";
  const printable = Array.from(text).every((char) => char === "\n" || char === "\r" || char === "\t" || (char >= " " && char !== "\ufffd"));
  if (printable) return `it is a text file starting ${JSON.stringify(text.slice(0, 40))}`;
  return `its first bytes are ${prefix.subarray(0, 4).toString("hex")} instead of "GGUF"`;
}

// ---------------------------------------------------------------------------------------------
// Layer 3: what llama.cpp needs.

type MetadataObject = { readonly [key: string]: unknown };

function metadataValue(metadata: MetadataObject, key: string): unknown {
  let node: unknown = metadata;
  for (const part of key.split(".")) {
    if (typeof node !== "object" || node === null || Array.isArray(node)) return undefined;
    node = (node as MetadataObject)[part];
  }
  return node;
}

function metadataString(metadata: MetadataObject, key: string): string | undefined {
  const value = metadataValue(metadata, key);
  return typeof value === "string" ? value : undefined;
}

function metadataInteger(metadata: MetadataObject, key: string): number | undefined {
  const value = metadataValue(metadata, key);
  if (typeof value === "bigint") return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
  return typeof value === "number" && Number.isSafeInteger(value) ? value : undefined;
}

/** A per-model or per-layer count: a number, or an array of numbers with one per layer. */
function largestCount(metadata: MetadataObject, key: string): number | undefined {
  const value = metadataValue(metadata, key);
  if (Array.isArray(value)) {
    const numbers = value.filter((item): item is number => typeof item === "number");
    return numbers.length === value.length && numbers.length > 0 ? Math.max(...numbers) : undefined;
  }
  return metadataInteger(metadata, key);
}

function summariseModel(base: FileSummaryBase, metadata: MetadataObject): ModelSummary {
  const { path, architecture: arch } = base;
  if (metadataString(metadata, "general.type") === "adapter") {
    const adapterType = metadataString(metadata, "adapter.type");
    throw invalid(path, `${path} is a ${adapterType === undefined || adapterType === "lora" ? "LoRA" : adapterType} adapter, not a model: set it as the adapter and choose the base model it was trained on as the model.`);
  }
  if (arch === "clip" || arch === "mmproj") {
    throw invalid(path, `${path} is a multimodal projector (mmproj), not a language model: choose the language model .gguf.`);
  }
  const refuse = (key: string, value: number | undefined): ModelFileError =>
    invalid(path, `${path} (architecture "${arch}") ${value === undefined ? "lacks" : `has ${value} for`} ${key}, which llama.cpp needs to be a positive number; loading it would fail or crash the process. Convert the model again with a current llama.cpp convert_hf_to_gguf.py.`);
  const positive = (key: string): number => {
    const value = metadataInteger(metadata, key);
    if (value === undefined || value <= 0) throw refuse(key, value);
    return value;
  };
  const blockCount = positive(`${arch}.block_count`);
  const embeddingLength = positive(`${arch}.embedding_length`);
  const contextLength = positive(`${arch}.context_length`);
  if (!ARCHITECTURES_WITHOUT_ATTENTION_OR_FFN.has(arch)) {
    for (const key of [`${arch}.attention.head_count`, `${arch}.feed_forward_length`]) {
      const value = largestCount(metadata, key);
      if (value === undefined || value <= 0) throw refuse(key, value);
    }
  }

  const tokens = metadataValue(metadata, "tokenizer.ggml.tokens");
  const tokenizerModel = metadataString(metadata, "tokenizer.ggml.model");
  if (tokenizerModel === undefined || !Array.isArray(tokens) || tokens.length === 0 || !tokens.every((token) => typeof token === "string")) {
    throw invalid(path, `${path} has no tokenizer (tokenizer.ggml.model and tokenizer.ggml.tokens): llama.cpp cannot turn text into tokens for it. Use a GGUF converted with its tokenizer.`);
  }
  // llama.cpp maps each token string to its id and asserts that no string appears twice
  // (GGML_ASSERT(id_to_token.size() == token_to_id.size()), which aborts the process).
  const firstId = new Map<string, number>();
  for (let id = 0; id < tokens.length; id++) {
    const earlier = firstId.get(tokens[id] as string);
    if (earlier !== undefined) {
      throw invalid(path, `${path}: tokens ${earlier} and ${id} are both ${JSON.stringify(tokens[id])}; llama.cpp aborts the process on a vocabulary with a duplicate token. The file is damaged or was converted wrongly; convert it again.`);
    }
    firstId.set(tokens[id] as string, id);
  }
  const tokenTypes = metadataValue(metadata, "tokenizer.ggml.token_type");
  if (tokenTypes !== undefined && (!Array.isArray(tokenTypes) || tokenTypes.length !== tokens.length || !tokenTypes.every((t) => typeof t === "number"))) {
    throw invalid(path, `${path}: tokenizer.ggml.token_type does not have one number per token; the file is damaged.`);
  }
  const tokenId = (key: string): number | undefined => {
    const id = metadataInteger(metadata, key);
    if (id !== undefined && (id < 0 || id >= tokens.length)) throw invalid(path, `${path}: ${key} is ${id}, outside the ${tokens.length}-token vocabulary; the file is damaged.`);
    return id;
  };
  const pre = metadataString(metadata, "tokenizer.ggml.pre");
  const vocabulary: ModelVocabulary = {
    tokenizerModel,
    ...(pre === undefined ? {} : { pre }),
    tokens,
    tokenTypes,
    bos: tokenId("tokenizer.ggml.bos_token_id"),
    eos: tokenId("tokenizer.ggml.eos_token_id"),
  };
  return { ...base, kind: "model", vocabulary, contextLength, embeddingLength, blockCount };
}

function summariseLoraAdapter(base: FileSummaryBase, metadata: MetadataObject, structure: GgufStructure): LoraAdapterSummary {
  const { path } = base;
  const generalType = metadataString(metadata, "general.type");
  const adapterType = metadataString(metadata, "adapter.type");
  if (generalType !== "adapter") {
    const looksLikeModel = metadataValue(metadata, "tokenizer.ggml.tokens") !== undefined || generalType === "model";
    throw invalid(path, looksLikeModel
      ? `${path} is a model, not a LoRA adapter: choose it as the model, or pick an adapter .gguf (general.type = "adapter").`
      : `${path} is not a LoRA adapter: general.type is ${JSON.stringify(generalType ?? null)}, expected "adapter". Convert the adapter with llama.cpp's convert_lora_to_gguf.py.`);
  }
  if (adapterType !== "lora") {
    throw invalid(path, `${path} is a ${JSON.stringify(adapterType ?? null)} adapter, not a LoRA adapter (adapter.type = "lora"); only LoRA adapters can be applied here.`);
  }
  const pairs = new Map<string, { a?: ScannedTensor; b?: ScannedTensor }>();
  for (const tensor of structure.tensors) {
    const match = /^(.*)\.lora_([ab])$/.exec(tensor.name);
    if (match === null) continue;
    const pair = pairs.get(match[1]!) ?? {};
    pair[match[2] as "a" | "b"] = tensor;
    pairs.set(match[1]!, pair);
  }
  if (pairs.size === 0) throw invalid(path, `${path} has no LoRA tensors (<name>.lora_a / <name>.lora_b); it adapts nothing.`);
  for (const [name, { a, b }] of pairs) {
    if (a === undefined || b === undefined) throw invalid(path, `${path}: ${name} has a lora_${a === undefined ? "b" : "a"} tensor but no lora_${a === undefined ? "a" : "b"}; the adapter is damaged.`);
    if (a.dims.length !== 2 || b.dims.length !== 2 || a.dims[1] !== b.dims[0]) {
      throw invalid(path, `${path}: ${name}.lora_a [${a.dims.join(", ")}] and .lora_b [${b.dims.join(", ")}] do not share a rank (expected lora_a [in, r] and lora_b [r, out]).`);
    }
  }
  const alphaValue = metadataValue(metadata, "adapter.lora.alpha");
  return {
    ...base,
    kind: "lora",
    alpha: typeof alphaValue === "number" ? alphaValue : undefined,
    adaptedTensors: [...pairs.keys()],
  };
}

// ---------------------------------------------------------------------------------------------

function invalid(path: string, message: string, cause?: unknown): ModelFileError {
  return new ModelFileError("InvalidModel", path, message, cause === undefined ? undefined : { cause });
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
