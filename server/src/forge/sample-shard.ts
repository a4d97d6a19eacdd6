/**
 * One shard of the forge's preference sampling: a contiguous range of jobs sampled into its own
 * JSON-lines file, a checkpoint (a whole number of rounds) at a time, resuming after the last
 * whole checkpoint already in the file. The forge samples shard 0 in its own process and the
 * others in child processes (`node --import tsx sample-shard.ts SPEC.json`): sampling is bound by
 * one JavaScript thread per process, so two processes use both cores. Shard boundaries fall on
 * round boundaries, so every round, and so every sample, is the one a single process draws.
 */
import { appendFile, readFile, rename, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { getLlama, LlamaLogLevel, type LlamaModel } from "node-llama-cpp";
import { sampleContinuations, type SampleJob } from "./sample.ts";

export interface ShardSpec {
  readonly modelPath: string;
  readonly jobs: readonly SampleJob[];
  readonly maxTokens: number;
  readonly topK: number;
  readonly parallel: number;
  /** Jobs per checkpoint: a multiple of `parallel`. */
  readonly chunk: number;
  readonly path: string;
  readonly label: string;
}

/** Samples `spec.jobs` into `spec.path` (one JSON string per line), resuming; returns the texts. */
export async function sampleToFile(model: LlamaModel, spec: ShardSpec, log: (message: string) => void, onCheckpoint?: () => void): Promise<string[]> {
  const { jobs, chunk, path } = spec;
  let texts: string[] = [];
  if (existsSync(path)) {
    // Only whole checkpoints count: a torn last line or a partial chunk from a crash is cut.
    texts = (await readFile(path, "utf8")).split("\n").slice(0, -1).map((line) => JSON.parse(line) as string);
    if (texts.length !== jobs.length) {
      texts = texts.slice(0, Math.min(jobs.length, Math.floor(texts.length / chunk) * chunk));
      await writeFile(`${path}.tmp`, texts.map((t) => JSON.stringify(t) + "\n").join(""));
      await rename(`${path}.tmp`, path);
    }
    if (texts.length > 0) log(`${spec.label}: resuming after ${texts.length}/${jobs.length}`);
  } else {
    await writeFile(path, "");
  }
  const startedAt = Date.now();
  const first = texts.length;
  for (let start = texts.length; start < jobs.length; start += chunk) {
    const part = await sampleContinuations(model, jobs.slice(start, start + chunk), { maxTokens: spec.maxTokens, topK: spec.topK, parallel: spec.parallel });
    const decoded = part.map((tokens) => model.detokenize(tokens).trim());
    await appendFile(path, decoded.map((t) => JSON.stringify(t) + "\n").join(""));
    texts.push(...decoded);
    const rate = (texts.length - first) / Math.max(1e-3, (Date.now() - startedAt) / 1000);
    log(`${spec.label}: sampled ${texts.length}/${jobs.length} (${rate.toFixed(0)}/s)`);
    onCheckpoint?.();
  }
  return texts;
}

/** Child-process entry: sample the spec's shard, and stop at once if the parent goes away (its stdin closes). */
async function main(specPath: string): Promise<void> {
  process.stdin.on("end", () => process.exit(3));
  process.stdin.resume();
  const spec = JSON.parse(await readFile(specPath, "utf8")) as ShardSpec;
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
  const model = await llama.loadModel({ modelPath: spec.modelPath });
  await sampleToFile(model, spec, (m) => console.log(`${new Date().toISOString().slice(11, 19)} ${m}`));
  await model.dispose();
  await llama.dispose();
  process.exit(0);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv[2]!);
