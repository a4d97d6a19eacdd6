/**
 * SHA-256 of model files, for the provenance of generated data. Hashing a multi-gigabyte GGUF
 * takes seconds, so each file is hashed once per process and remembered by path, size and
 * modification time (a rewritten file gets a new entry).
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { resolve } from "node:path";

const hashes = new Map<string, Promise<string>>();

export async function fileSha256(path: string): Promise<string> {
  const absolute = resolve(path);
  const { size, mtimeMs } = await stat(absolute);
  const key = `${absolute}\0${size}\0${mtimeMs}`;
  let hash = hashes.get(key);
  if (hash === undefined) {
    hash = hashStream(absolute);
    hashes.set(key, hash);
    hash.catch(() => hashes.delete(key));
  }
  return hash;
}

async function hashStream(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
