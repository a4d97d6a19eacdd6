/**
 * An append-only JSON Lines file that survives being killed at any moment.
 *
 * Each row is one `write` of the whole line and then an fsync, so after a crash the file is its
 * complete rows plus, at worst, one torn line at the end: the prefix of a line with no newline.
 * Opening the file again drops that torn tail and reports the last complete row, which is where
 * a resumed run continues. A lock file next to the output (`<file>.lock`, holding the owner's
 * pid) keeps two live processes from appending to the same file; a lock left by a dead process
 * is taken over.
 */
import { constants } from "node:fs";
import { mkdir, open, readFile, rm, stat, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { PairsOutputError } from "./errors.ts";

export interface RowLog {
  readonly path: string;
  /** Complete rows the file held when it was opened. */
  readonly rows: number;
  /** The last of those rows, parsed; undefined when there were none. */
  readonly lastRow: unknown;
  /** Bytes of a torn last line that opening removed (0 when the file ended cleanly). */
  readonly droppedBytes: number;
  /** Appends one row as one line and waits until it is on disk. */
  append(row: unknown): Promise<void>;
  close(): Promise<void>;
}

const NEWLINE = 0x0a;
const CHUNK_BYTES = 1 << 20;

export async function openRowLog(path: string): Promise<RowLog> {
  await unwritable(path, mkdir(dirname(path), { recursive: true }));
  const releaseLock = await unwritable(path, acquireLock(path));
  let handle: FileHandle | undefined;
  try {
    const existed = await exists(path);
    handle = await unwritable(path, open(path, "a+"));
    if (!existed) await syncDirectory(dirname(path));
    const scan = await scanLines(handle);
    if (scan.size > scan.completeEnd) {
      await handle.truncate(scan.completeEnd);
      await handle.sync();
    }
    const lastRow = scan.lines === 0 ? undefined : await readLastRow(handle, path, scan);
    return new FileRowLog(path, handle, releaseLock, scan.lines, lastRow, scan.size - scan.completeEnd);
  } catch (error) {
    await handle?.close();
    await releaseLock();
    throw error;
  }
}

class FileRowLog implements RowLog {
  readonly path: string;
  readonly rows: number;
  readonly lastRow: unknown;
  readonly droppedBytes: number;
  readonly #handle: FileHandle;
  readonly #releaseLock: () => Promise<void>;
  #closed = false;

  constructor(path: string, handle: FileHandle, releaseLock: () => Promise<void>, rows: number, lastRow: unknown, droppedBytes: number) {
    this.path = path;
    this.#handle = handle;
    this.#releaseLock = releaseLock;
    this.rows = rows;
    this.lastRow = lastRow;
    this.droppedBytes = droppedBytes;
  }

  async append(row: unknown): Promise<void> {
    if (this.#closed) throw new Error(`${this.path}: the row log is closed`);
    const bytes = Buffer.from(JSON.stringify(row) + "\n", "utf8");
    let written = 0;
    // The file is opened for appending: every write lands at the current end, whatever the position.
    while (written < bytes.length) written += (await this.#handle.write(bytes, written, bytes.length - written)).bytesWritten;
    await this.#handle.sync();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#handle.close();
    } finally {
      await this.#releaseLock();
    }
  }
}

interface LineScan {
  readonly size: number;
  /** Complete lines (each ends with a newline). */
  readonly lines: number;
  /** Offset just past the last newline: the end of the complete lines. */
  readonly completeEnd: number;
  /** Offset where the last complete line starts. */
  readonly lastLineStart: number;
}

async function scanLines(handle: FileHandle): Promise<LineScan> {
  const buffer = Buffer.alloc(CHUNK_BYTES);
  let offset = 0;
  let lines = 0;
  let completeEnd = 0;
  let lastLineStart = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    if (bytesRead === 0) break;
    for (let at = buffer.indexOf(NEWLINE, 0); at >= 0 && at < bytesRead; at = buffer.indexOf(NEWLINE, at + 1)) {
      lastLineStart = completeEnd;
      completeEnd = offset + at + 1;
      lines++;
    }
    offset += bytesRead;
  }
  return { size: offset, lines, completeEnd, lastLineStart };
}

async function readLastRow(handle: FileHandle, path: string, scan: LineScan): Promise<unknown> {
  const length = scan.completeEnd - 1 - scan.lastLineStart;
  const buffer = Buffer.alloc(length);
  await handle.read(buffer, 0, length, scan.lastLineStart);
  try {
    return JSON.parse(buffer.toString("utf8"));
  } catch (error) {
    throw new PairsOutputError("NotPairsFile", path, `line ${scan.lines} is not JSON, so this is not an output of \`aad pairs\`; choose another output file`, { cause: error });
  }
}

/** A file-system failure to create or open the output, as the PairsOutputError that names it. */
async function unwritable<T>(path: string, operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | null)?.code;
    if (error instanceof PairsOutputError || typeof code !== "string") throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new PairsOutputError("Unwritable", path, `cannot write the output here (${reason}); choose a .jsonl file in a folder you can write to`, { cause: error });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Makes a newly created file's directory entry durable too. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } catch {
    // Some filesystems cannot fsync a directory; the rows themselves are still synced.
  } finally {
    await handle.close();
  }
}

async function acquireLock(path: string): Promise<() => Promise<void>> {
  const lockPath = `${path}.lock`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(lockPath, "wx");
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => rm(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const owner = Number.parseInt(await readFile(lockPath, "utf8").catch(() => ""), 10);
    if (Number.isInteger(owner) && (owner === process.pid || isAlive(owner))) {
      throw new PairsOutputError("Busy", path, `process ${owner} is writing this file (its lock is ${lockPath}); wait for it, or stop it first`);
    }
    await rm(lockPath, { force: true }); // left by a process that is gone
  }
  throw new PairsOutputError("Busy", path, `could not take the lock ${lockPath}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
