/** Where answers shown side by side start to differ: pure, so tests run it without a page. */
import type { TraceEntry } from "./messages.ts";

/** The first position where the answers on show differ (a column that ended there counts); undefined while they agree. */
export function firstDivergence(columns: readonly { readonly entries: readonly TraceEntry[]; readonly finished: boolean }[]): number | undefined {
  if (columns.length < 2) return undefined;
  const longest = Math.max(...columns.map((column) => column.entries.length));
  for (let i = 0; i < longest; i++) {
    let token: number | undefined;
    let ended = false;
    for (const column of columns) {
      const entry = column.entries[i];
      if (entry === undefined) {
        if (column.finished) ended = true;
        continue;
      }
      if (token !== undefined && entry.token !== token) return i;
      token = entry.token;
    }
    if (ended && token !== undefined) return i;
  }
  return undefined;
}
