/**
 * The CLI killed with SIGKILL at random moments (seeded), rerun each time until it finishes,
 * must leave exactly the file one uninterrupted run writes: nothing lost, nothing duplicated.
 * Ctrl-C (SIGINT) stops it after the row in progress with exit code 130 and a summary; a second
 * Ctrl-C exits at once, also 130; either way the rerun completes the file to the same bytes.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, watch } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { createRng } from "../../server/src/decoding/rng.ts";
import { heldoutPrompts } from "../../server/src/forge/world.ts";
import { builtInPair } from "../runtime/support.ts";

const KILLS = 4;
let dir: string;
let args: (out: string) => string[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "aad-pairs-kill-"));
  const prompts = join(dir, "prompts.txt");
  await writeFile(prompts, heldoutPrompts().slice(0, 12).map((p) => p.text).join("\n") + "\n");
  const files = builtInPair();
  args = (out) => ["--import", "tsx", "server/src/cli/main.ts", "pairs", "--sft", files.sft, "--dpo", files.dpo, "--prompts", prompts, "--out", out, "--max-tokens", "12", "--seed", "5", "--threads", "1"];
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Child {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  kill(signal?: NodeJS.Signals): void;
}

function startCli(out: string): Child {
  const child = spawn(process.execPath, args(out), { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { exited, kill: (signal = "SIGKILL") => child.kill(signal) };
}

const completeRows = (path: string) => (existsSync(path) ? readFileSync(path, "utf8").split("\n").length - 1 : 0);

/** Resolves once `path` holds at least `rows` complete rows, woken by changes in its folder. */
async function rowsWritten(path: string, rows: number): Promise<void> {
  const watcher = watch(dirname(path));
  try {
    while (completeRows(path) < rows) await new Promise<void>((resolve) => watcher.once("change", () => resolve()));
  } finally {
    watcher.close();
  }
}

let referenceRun: Promise<Buffer> | undefined;
/** The file of one uninterrupted run (made once, by the first test that needs it). */
function reference(): Promise<Buffer> {
  referenceRun ??= (async () => {
    const out = join(dir, "reference.jsonl");
    const clean = await startCli(out).exited;
    assert.equal(clean.code, 0, clean.stderr);
    assert.ok(completeRows(out) >= 6, "too few rows for the kills to land between them");
    return readFile(out);
  })();
  return referenceRun;
}

test("SIGKILL at random moments, rerun until done: the file equals an uninterrupted run's byte for byte", { timeout: 600_000 }, async (t) => {
  const expected = await reference();

  const out = join(dir, "killed.jsonl");
  const rng = createRng("pairs-kill-test");
  const totalRows = expected.toString("utf8").split("\n").length - 1;
  let killed = 0;
  for (let attempt = 0; attempt < KILLS; attempt++) {
    const child = startCli(out);
    const rowsAtStart = completeRows(out);
    const run = { finished: false };
    void child.exited.then(() => (run.finished = true));
    // Kills are placed by rows written, not by time (a run's speed varies with the machine):
    // the first anywhere up to the first row (model loading included); each later one once this
    // run has added one or two rows, then within a row's time, so that every run makes progress
    // and the file is never complete before the last kill.
    const rowsAtKill = attempt === 0 ? 1 : Math.min(totalRows - 3, rowsAtStart + 1 + Math.floor(rng.next() * 2));
    const timeLimit = attempt === 0 ? sleep(Math.floor(rng.next() * 2000)) : new Promise<void>(() => undefined);
    await Promise.race([rowsWritten(out, rowsAtKill), timeLimit, child.exited]);
    if (attempt > 0) await sleep(Math.floor(rng.next() * 30));
    if (run.finished) break;
    const rowsNow = completeRows(out);
    child.kill();
    const { signal } = await child.exited;
    if (signal === "SIGKILL") killed++;
    t.diagnostic(`run ${attempt + 1}: killed with ${rowsNow} rows in the file (${rowsAtStart} at its start)`);
  }
  assert.equal(killed, KILLS, `only ${killed} runs were killed`);

  const last = await startCli(out).exited;
  assert.equal(last.code, 0, last.stderr);
  assert.ok((await readFile(out)).equals(expected), "the resumed file differs from the uninterrupted run's");
});

for (const presses of [1, 2]) {
  test(`Ctrl-C ${presses === 1 ? "once" : "twice"} mid-run: exit code 130, and the rerun completes the file to the uninterrupted run's bytes`, { timeout: 600_000 }, async (t) => {
    const expected = await reference();
    const out = join(dir, `interrupted-${presses}.jsonl`);
    const child = startCli(out);
    await rowsWritten(out, 1);
    for (let i = 0; i < presses; i++) child.kill("SIGINT");
    const { code, signal, stdout, stderr } = await child.exited;
    const rows = completeRows(out);
    t.diagnostic(`interrupted with ${rows} rows written`);
    assert.deepEqual([code, signal], [130, null], stderr);
    assert.ok(rows >= 1 && rows < completeRows(join(dir, "reference.jsonl")), `${rows} rows`);
    if (presses === 1) {
      // Stopped after the row in progress, which was written: whole rows, no lock, and the summary says how to go on.
      assert.ok(readFileSync(out, "utf8").endsWith("\n"));
      assert.ok(!existsSync(`${out}.lock`), "the lock was left behind");
      assert.match(stdout, new RegExp(`^rows written: +${rows}\\n`));
      const at = Number(/interrupted at prompt (\d+) of 12: run the same command again to resume\n$/.exec(stdout)?.[1]);
      assert.ok(at > rows && at <= 12, stdout);
    }
    const rerun = await startCli(out).exited;
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.ok((await readFile(out)).equals(expected), "the resumed file differs from the uninterrupted run's");
  });
}
