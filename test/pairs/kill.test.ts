/**
 * The CLI killed with SIGKILL at random moments (seeded), rerun each time until it finishes,
 * must leave exactly the file one uninterrupted run writes: nothing lost, nothing duplicated.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  kill(): void;
}

function startCli(out: string): Child {
  const child = spawn(process.execPath, args(out), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, stderr })));
  return { exited, kill: () => child.kill("SIGKILL") };
}

const completeRows = (path: string) => (existsSync(path) ? readFileSync(path, "utf8").split("\n").length - 1 : 0);

test("SIGKILL at random moments, rerun until done: the file equals an uninterrupted run's byte for byte", { timeout: 600_000 }, async (t) => {
  const referenceOut = join(dir, "reference.jsonl");
  const clean = await startCli(referenceOut).exited;
  assert.equal(clean.code, 0, clean.stderr);
  const reference = await readFile(referenceOut);
  assert.ok(completeRows(referenceOut) >= 6, "too few rows for the kills to land between them");

  const out = join(dir, "killed.jsonl");
  const rng = createRng("pairs-kill-test");
  let killed = 0;
  for (let attempt = 0; attempt < KILLS; attempt++) {
    const child = startCli(out);
    const rowsAtStart = completeRows(out);
    // The first kill lands anywhere (model loading included); later ones once this run has
    // written a row, so that every run makes progress, then a random while later.
    const run = { finished: false };
    void child.exited.then(() => (run.finished = true));
    if (attempt > 0) while (!run.finished && completeRows(out) === rowsAtStart) await sleep(20);
    await sleep(Math.floor(rng.next() * (attempt === 0 ? 4000 : 1500)));
    if (run.finished) break;
    const rowsAtKill = completeRows(out);
    child.kill();
    const { signal } = await child.exited;
    if (signal === "SIGKILL") killed++;
    t.diagnostic(`run ${attempt + 1}: killed with ${rowsAtKill} rows in the file (${rowsAtStart} at its start)`);
  }
  assert.ok(killed >= 3, `only ${killed} runs were killed`);

  const last = await startCli(out).exited;
  assert.equal(last.code, 0, last.stderr);
  assert.ok((await readFile(out)).equals(reference), "the resumed file differs from the uninterrupted run's");
});
