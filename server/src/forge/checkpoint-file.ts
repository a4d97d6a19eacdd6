/**
 * Checkpoint files for the forge's long training loops: a JSON header (counters, losses, shapes)
 * then float32 arrays, written all at once so that a resumed run never reads half a file.
 */
import { existsSync } from "node:fs";
import { readFile, rename, writeFile } from "node:fs/promises";
import type { DpoCheckpoint, DpoCheckpointStore } from "./train.ts";

/** Writes `path` all at once: a reader (or a resumed run) sees the old file or the new one, never half of one. */
export async function writeAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  await writeFile(`${path}.tmp`, bytes);
  await rename(`${path}.tmp`, path);
}

/** `header` as JSON, then every array's float32 bytes; the header records their lengths. */
export function packArrays(header: object, arrays: readonly Float32Array[]): Buffer {
  const head = Buffer.from(JSON.stringify({ ...header, lengths: arrays.map((x) => x.length) }), "utf8");
  const size = Buffer.alloc(4);
  size.writeUInt32LE(head.length);
  return Buffer.concat([size, head, ...arrays.map((x) => Buffer.from(x.buffer, x.byteOffset, x.byteLength))]);
}

/** The inverse of packArrays; `what` names the file in the error a truncated one gives. */
export function unpackArrays(bytes: Buffer, what: string): { header: unknown; arrays: Float32Array[] } {
  if (bytes.length < 4) throw new Error(`the ${what} is truncated`);
  const length = bytes.readUInt32LE(0);
  if (4 + length > bytes.length) throw new Error(`the ${what} is truncated`);
  const header = JSON.parse(bytes.subarray(4, 4 + length).toString("utf8")) as { lengths: number[] };
  let offset = 4 + length;
  const arrays = header.lengths.map((n) => {
    const copy = new Float32Array(n);
    Buffer.from(copy.buffer).set(bytes.subarray(offset, offset + 4 * n));
    offset += 4 * n;
    return copy;
  });
  if (offset !== bytes.length) throw new Error(`the ${what} is truncated or has trailing bytes`);
  return { header, arrays };
}

/** A DPO run's checkpoints in one file at `path`, saved every `every` steps; `rm` it once the model is written. */
export function dpoCheckpointFile(path: string, every: number, onSave: (c: DpoCheckpoint) => void = () => undefined): DpoCheckpointStore {
  return {
    every,
    load: async () => (existsSync(path) ? decodeDpoCheckpoint(await readFile(path)) : undefined),
    save: async (c) => {
      await writeAtomic(path, encodeDpoCheckpoint(c));
      onSave(c);
    },
  };
}

export function encodeDpoCheckpoint(c: DpoCheckpoint): Buffer {
  const { lora, adam, ...rest } = c;
  const header = { ...rest, iterations: adam.iterations, accBeta1: adam.accBeta1, accBeta2: adam.accBeta2, counts: [lora.length, adam.m.length, adam.v.length] };
  return packArrays(header, [...lora, ...adam.m, ...adam.v]);
}

export function decodeDpoCheckpoint(bytes: Buffer): DpoCheckpoint {
  type Header = Omit<DpoCheckpoint, "lora" | "adam"> & { iterations: number; accBeta1: number; accBeta2: number; counts: [number, number, number] };
  const { header, arrays } = unpackArrays(bytes, "DPO checkpoint");
  const { iterations, accBeta1, accBeta2, counts, ...rest } = header as Header;
  delete (rest as { lengths?: unknown }).lengths;
  const [l, m, v] = counts;
  return { ...rest, lora: arrays.slice(0, l), adam: { iterations, accBeta1, accBeta2, m: arrays.slice(l, l + m), v: arrays.slice(l + m, l + m + v) } };
}
