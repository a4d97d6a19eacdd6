/** Shared helpers of the benchmarks: summaries with 95 % intervals, and result files. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface Summary {
  n: number;
  mean: number;
  sd: number;
  /** Half-width of the normal-approximation 95 % interval of the mean. */
  halfWidth95: number;
}

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, n);
  const variance = n > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  const sd = Math.sqrt(variance);
  return { n, mean, sd, halfWidth95: n > 0 ? (1.96 * sd) / Math.sqrt(n) : Number.NaN };
}

export const RESULTS_DIR = join("bench", "results");

/** bench/results/NAME.json (machine-readable, with the machine it ran on) and NAME.md. */
export async function writeResults(name: string, data: unknown, markdown: string): Promise<void> {
  const { cpus, totalmem } = await import("node:os");
  await mkdir(RESULTS_DIR, { recursive: true });
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", memoryBytes: totalmem(), node: process.version, date: new Date().toISOString() };
  await writeFile(join(RESULTS_DIR, `${name}.json`), JSON.stringify({ machine, ...(data as object) }, null, 2) + "\n");
  await writeFile(join(RESULTS_DIR, `${name}.md`), markdown + `\n_Machine: ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, ${machine.date}._\n`);
}

/** A Markdown table; cells are written as given (escape `|` in them beforehand). */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((row) => `| ${row.join(" | ")} |`)].join("\n");
}

/** Text safe inside a Markdown table cell: pipes and backticks escaped, newlines as spaces. */
export function markdownCell(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/`/g, "\\`").replace(/\r?\n/g, " ");
}
