/** The append-only row file: torn tails, foreign files and concurrent writers. */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { openRowLog, PairsOutputError } from "../../server/src/pairs/index.ts";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "aad-row-log-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("rows appended are complete JSON lines, and reopening reports the count and the last row", async () => {
  const path = join(dir, "rows.jsonl");
  const log = await openRowLog(path);
  await log.append({ n: 1 });
  await log.append({ n: 2 });
  await log.close();
  assert.equal(await readFile(path, "utf8"), '{"n":1}\n{"n":2}\n');
  const again = await openRowLog(path);
  assert.deepEqual([again.rows, again.lastRow, again.droppedBytes], [2, { n: 2 }, 0]);
  await again.close();
});

test("a torn last line is dropped on opening and the next row follows the last complete one", async () => {
  const path = join(dir, "torn.jsonl");
  const torn = '{"n":3, "te';
  await writeFile(path, '{"n":1}\n{"n":2}\n' + torn);
  const log = await openRowLog(path);
  assert.deepEqual([log.rows, log.lastRow, log.droppedBytes], [2, { n: 2 }, torn.length]);
  await log.append({ n: 3 });
  await log.close();
  assert.equal(await readFile(path, "utf8"), '{"n":1}\n{"n":2}\n{"n":3}\n');
});

test("a last complete line that is not JSON is refused rather than dropped", async () => {
  const path = join(dir, "foreign.jsonl");
  await writeFile(path, "name,value\n");
  await assert.rejects(openRowLog(path), (error: unknown) => error instanceof PairsOutputError && error.code === "NotPairsFile");
  assert.equal(await readFile(path, "utf8"), "name,value\n");
});

test("a second writer is refused while the first holds the file", async () => {
  const path = join(dir, "busy.jsonl");
  const first = await openRowLog(path);
  await assert.rejects(openRowLog(path), (error: unknown) => error instanceof PairsOutputError && error.code === "Busy");
  await first.close();
  const second = await openRowLog(path);
  await second.close();
});

test("a lock left by a process that is gone is taken over", async () => {
  const path = join(dir, "stale.jsonl");
  await writeFile(`${path}.lock`, "2147483646\n"); // no such process
  const log = await openRowLog(path);
  await log.close();
});
