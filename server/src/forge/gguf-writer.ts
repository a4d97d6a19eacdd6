/**
 * A small, deterministic GGUF v3 writer (little-endian).
 *
 * Layout: header (magic, version, tensor count, key/value count), the key/value pairs in the
 * order given, the tensor infos in the order given, padding to the alignment, then the tensor
 * data. Each tensor's offset is the running sum of the previous tensors' padded sizes, and
 * every tensor, the last included, is padded to the alignment — the layout llama.cpp's own
 * writer produces and its loader expects. Nothing here depends on time, randomness or map
 * iteration order beyond the order the caller gives, so identical inputs give identical bytes.
 *
 * Tensor dimensions are in ggml order: `dims[0]` (ne0) is the fastest-varying (contiguous)
 * dimension. A matrix W used as y = W x, with W stored row-major as [out][in], has ne = [in, out]
 * and exactly the same bytes: ggml_mul_mat(W, x) contracts over ne0.
 */

export type GgufScalarType = "u8" | "u32" | "i32" | "u64" | "f32" | "bool" | "string";
export type GgufArrayItemType = "string" | "i32" | "f32" | "u32";

export type GgufValue =
  | { type: "u8" | "u32" | "i32" | "f32"; value: number }
  | { type: "u64"; value: number | bigint }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "array"; itemType: "string"; value: readonly string[] }
  | { type: "array"; itemType: "i32" | "f32" | "u32"; value: ArrayLike<number> };

/** How a tensor's elements are stored in the file; the input is always a Float32Array. */
export type GgufTensorType = "f32" | "f16";

export interface GgufTensor {
  /** At most 63 bytes of UTF-8 (ggml's GGML_MAX_NAME − 1). */
  name: string;
  /** ggml `ne` order: dims[0] is the contiguous (input) dimension. 1 to 4 dimensions. */
  dims: readonly number[];
  /** Row-major over reversed dims: element (i0, i1, …) is at i0 + ne0·(i1 + ne1·(…)). */
  data: Float32Array;
  /** Defaults to "f32". */
  type?: GgufTensorType;
}

export type GgufMetadata = readonly (readonly [string, GgufValue])[] | ReadonlyMap<string, GgufValue>;

export const GGUF_DEFAULT_ALIGNMENT = 32;
const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const GGUF_VERSION = 3;
const GGML_MAX_NAME = 64;
const GGML_MAX_DIMS = 4;

const valueTypeCode = {
  u8: 0, i32: 5, u32: 4, f32: 6, bool: 7, string: 8, array: 9, u64: 10,
} as const;

const tensorTypeInfo: Record<GgufTensorType, { code: number; bytes: number }> = {
  f32: { code: 0, bytes: 4 },
  f16: { code: 1, bytes: 2 },
};

const utf8 = new TextEncoder();

/** Serialise metadata and tensors to a GGUF v3 file image. */
export function writeGguf(metadata: GgufMetadata, tensors: readonly GgufTensor[]): Uint8Array {
  const entries: (readonly [string, GgufValue])[] = metadata instanceof Map ? [...metadata.entries()] : [...(metadata as readonly (readonly [string, GgufValue])[])];
  const alignment = resolveAlignment(entries);
  checkUniqueKeys(entries);
  const tensorLayout = layoutTensors(tensors, alignment);

  const writer = new ByteWriter();
  writer.u32(GGUF_MAGIC);
  writer.u32(GGUF_VERSION);
  writer.u64(tensors.length);
  writer.u64(entries.length);
  for (const [key, value] of entries) {
    writer.string(key);
    writeValue(writer, key, value);
  }
  for (const { tensor, offset } of tensorLayout.items) {
    writer.string(tensor.name);
    writer.u32(tensor.dims.length);
    for (const dim of tensor.dims) writer.u64(dim);
    writer.u32(tensorTypeInfo[tensor.type ?? "f32"].code);
    writer.u64(offset);
  }
  writer.padTo(alignment);
  const dataStart = writer.length;
  for (const { tensor, offset, paddedSize } of tensorLayout.items) {
    writer.tensorData(tensor.data, tensor.type ?? "f32");
    writer.padTo(alignment, dataStart);
    if (writer.length !== dataStart + offset + paddedSize) throw new Error(`internal: tensor ${tensor.name} landed at the wrong offset`);
  }
  return writer.finish();
}

/** ggml's Q8_0: blocks of 32 elements, each an f16 scale and 32 signed bytes (34 bytes). */
export const GGML_TYPE_Q8_0 = 8;
export const Q8_0_BLOCK = 32;
export const Q8_0_BLOCK_BYTES = 34;

/** A tensor whose bytes the caller streams after the header: its ggml type code and byte size. */
export interface GgufTensorInfo {
  name: string;
  dims: readonly number[];
  typeCode: number;
  byteSize: number;
}

/**
 * The header of a GGUF file whose tensor data is written separately (files too large to hold in
 * memory): everything up to the data section, padded, and where each tensor's bytes go relative
 * to the data start. The caller writes each tensor's `byteSize` bytes, zero-padded to
 * `alignment`, in the order given — the layout writeGguf produces.
 */
export function ggufHeader(metadata: GgufMetadata, infos: readonly GgufTensorInfo[]): { header: Uint8Array; offsets: number[]; alignment: number } {
  const entries: (readonly [string, GgufValue])[] = metadata instanceof Map ? [...metadata.entries()] : [...(metadata as readonly (readonly [string, GgufValue])[])];
  const alignment = resolveAlignment(entries);
  checkUniqueKeys(entries);
  const writer = new ByteWriter();
  writer.u32(GGUF_MAGIC);
  writer.u32(GGUF_VERSION);
  writer.u64(infos.length);
  writer.u64(entries.length);
  for (const [key, value] of entries) {
    writer.string(key);
    writeValue(writer, key, value);
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const info of infos) {
    writer.string(info.name);
    writer.u32(info.dims.length);
    for (const dim of info.dims) writer.u64(dim);
    writer.u32(info.typeCode);
    writer.u64(offset);
    offsets.push(offset);
    offset += alignUp(info.byteSize, alignment);
  }
  writer.padTo(alignment);
  return { header: writer.finish(), offsets, alignment };
}

function resolveAlignment(entries: readonly (readonly [string, GgufValue])[]): number {
  const entry = entries.find(([key]) => key === "general.alignment");
  if (entry === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const value = entry[1];
  if (value.type !== "u32" || value.value <= 0 || (value.value & (value.value - 1)) !== 0) {
    throw new RangeError("general.alignment must be a u32 power of two");
  }
  return value.value;
}

function checkUniqueKeys(entries: readonly (readonly [string, GgufValue])[]): void {
  const seen = new Set<string>();
  for (const [key] of entries) {
    if (key.length === 0) throw new RangeError("a GGUF metadata key must not be empty");
    if (seen.has(key)) throw new RangeError(`duplicate GGUF metadata key "${key}"`);
    seen.add(key);
  }
}

interface TensorPlacement { tensor: GgufTensor; offset: number; paddedSize: number }

function layoutTensors(tensors: readonly GgufTensor[], alignment: number): { items: TensorPlacement[] } {
  const names = new Set<string>();
  const items: TensorPlacement[] = [];
  let offset = 0;
  for (const tensor of tensors) {
    if (names.has(tensor.name)) throw new RangeError(`duplicate tensor name "${tensor.name}"`);
    names.add(tensor.name);
    const nameBytes = utf8.encode(tensor.name).length;
    if (nameBytes === 0 || nameBytes >= GGML_MAX_NAME) throw new RangeError(`tensor name "${tensor.name}" must be 1–${GGML_MAX_NAME - 1} bytes`);
    if (tensor.dims.length < 1 || tensor.dims.length > GGML_MAX_DIMS) throw new RangeError(`tensor ${tensor.name}: 1 to ${GGML_MAX_DIMS} dims, got ${tensor.dims.length}`);
    let elements = 1;
    for (const dim of tensor.dims) {
      if (!Number.isSafeInteger(dim) || dim < 1) throw new RangeError(`tensor ${tensor.name}: bad dimension ${dim}`);
      elements *= dim;
    }
    if (elements !== tensor.data.length) {
      throw new RangeError(`tensor ${tensor.name}: dims [${tensor.dims.join(", ")}] hold ${elements} elements but data has ${tensor.data.length}`);
    }
    const size = elements * tensorTypeInfo[tensor.type ?? "f32"].bytes;
    const paddedSize = alignUp(size, alignment);
    items.push({ tensor, offset, paddedSize });
    offset += paddedSize;
  }
  return { items };
}

function writeValue(writer: ByteWriter, key: string, value: GgufValue): void {
  writer.u32(valueTypeCode[value.type]);
  switch (value.type) {
    case "array":
      writer.u32(valueTypeCode[value.itemType]);
      writer.u64(value.value.length);
      if (value.itemType === "string") {
        for (const item of value.value) writer.string(item);
      } else {
        const items = value.value;
        for (let i = 0; i < items.length; i++) writeScalar(writer, key, value.itemType, items[i]!);
      }
      return;
    case "string":
      writer.string(value.value);
      return;
    case "bool":
      writer.u8(value.value ? 1 : 0);
      return;
    case "u64":
      writer.u64(value.value);
      return;
    default:
      writeScalar(writer, key, value.type, value.value);
  }
}

function writeScalar(writer: ByteWriter, key: string, type: "u8" | "u32" | "i32" | "f32", value: number): void {
  const inRange = (min: number, max: number): boolean => Number.isInteger(value) && value >= min && value <= max;
  switch (type) {
    case "u8":
      if (!inRange(0, 0xff)) throw new RangeError(`${key}: ${value} is not a u8`);
      writer.u8(value);
      return;
    case "u32":
      if (!inRange(0, 0xffffffff)) throw new RangeError(`${key}: ${value} is not a u32`);
      writer.u32(value);
      return;
    case "i32":
      if (!inRange(-0x80000000, 0x7fffffff)) throw new RangeError(`${key}: ${value} is not an i32`);
      writer.i32(value);
      return;
    case "f32":
      writer.f32(value);
      return;
  }
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

/** An append-only little-endian byte buffer that grows by doubling. */
class ByteWriter {
  private bytes = new Uint8Array(1 << 16);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  private reserve(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.bytes.length) return;
    let capacity = this.bytes.length;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  u8(value: number): void {
    this.reserve(1);
    this.view.setUint8(this.length, value);
    this.length += 1;
  }

  u32(value: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  i32(value: number): void {
    this.reserve(4);
    this.view.setInt32(this.length, value, true);
    this.length += 4;
  }

  f32(value: number): void {
    this.reserve(4);
    this.view.setFloat32(this.length, value, true);
    this.length += 4;
  }

  u64(value: number | bigint): void {
    const big = BigInt(value);
    if (big < 0n || big > 0xffffffffffffffffn) throw new RangeError(`${value} is not a u64`);
    this.reserve(8);
    this.view.setBigUint64(this.length, big, true);
    this.length += 8;
  }

  string(text: string): void {
    const encoded = utf8.encode(text);
    this.u64(encoded.length);
    this.reserve(encoded.length);
    this.bytes.set(encoded, this.length);
    this.length += encoded.length;
  }

  tensorData(data: Float32Array, type: GgufTensorType): void {
    const bytesPerElement = tensorTypeInfo[type].bytes;
    this.reserve(data.length * bytesPerElement);
    if (type === "f32") {
      for (let i = 0; i < data.length; i++) this.view.setFloat32(this.length + 4 * i, data[i]!, true);
    } else {
      for (let i = 0; i < data.length; i++) this.view.setUint16(this.length + 2 * i, float32ToFloat16Bits(data[i]!), true);
    }
    this.length += data.length * bytesPerElement;
  }

  /** Zero-pad so that (length − origin) is a multiple of alignment. */
  padTo(alignment: number, origin = 0): void {
    const padding = alignUp(this.length - origin, alignment) - (this.length - origin);
    this.reserve(padding);
    this.bytes.fill(0, this.length, this.length + padding);
    this.length += padding;
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

const f32Scratch = new DataView(new ArrayBuffer(4));

/** IEEE 754 binary32 → binary16 bits, round to nearest even, overflow to ±Inf, NaN kept quiet. */
export function float32ToFloat16Bits(value: number): number {
  f32Scratch.setFloat32(0, value);
  const bits = f32Scratch.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    return sign | roundShift(full, shift);
  }
  // Rounding may carry into the exponent, which is exactly right (up to Inf).
  return sign | ((halfExponent << 10) + roundShift(mantissa, 13));
}

function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const remainder = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (remainder > half || (remainder === half && (kept & 1) === 1)) return kept + 1;
  return kept;
}
