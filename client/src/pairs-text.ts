/**
 * What AAD: Generate Preference Pairs proposes and says, without `vscode`: the default output file
 * next to the prompts file, and the summary of a finished (or cancelled) job.
 */
import { basename, dirname, extname, join } from "node:path";
import type { PairsResult } from "../../server/src/protocol/protocol.ts";

/** `<folder>/<name>.pairs.jsonl` next to the prompts file `<folder>/<name>.jsonl` (or `.txt`). */
export function defaultPairsOutput(promptsFile: string): string {
  const name = basename(promptsFile);
  const ext = extname(name);
  const stem = ext === "" ? name : name.slice(0, -ext.length);
  return join(dirname(promptsFile), `${stem}.pairs.jsonl`);
}

/** One line for the notification at the end of a job. */
export function describePairsResult(result: PairsResult): string {
  const file = basename(result.out);
  const skipped = result.skippedEqual === 0 ? "" : `; ${result.skippedEqual} prompt${result.skippedEqual === 1 ? "" : "s"} skipped (chosen = rejected)`;
  if (result.cancelled) {
    return `Stopped after ${result.done}/${result.total} prompts: ${file} holds ${result.rows} complete pair${result.rows === 1 ? "" : "s"}. Run the command again with the same files to resume.`;
  }
  const resumed = result.resumedRows > 0 ? `, resumed after ${result.resumedRows} existing row${result.resumedRows === 1 ? "" : "s"}` : "";
  return `${result.written} preference pair${result.written === 1 ? "" : "s"} written to ${file} (${result.rows} in all${resumed})${skipped}.`;
}
