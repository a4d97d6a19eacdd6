/**
 * Chunks of recently edited files for inline completion prompts, in llama.vscode's ring-buffer
 * style: each completion request records the lines around its cursor; a request in another file
 * gets the most recent chunks of the other files (oldest first, so the newest sits nearest the
 * prefix), as many as fit its token budget. A new chunk evicts the chunks of the same file it
 * overlaps by half or more, and the oldest chunk goes when the ring is full. Pure.
 */

export interface ContextChunk {
  readonly uri: string;
  /** The chunk's first line in its document, 0-based. */
  readonly line: number;
  readonly lineCount: number;
  readonly text: string;
}

export class ContextRing {
  /** Oldest first. */
  #chunks: ContextChunk[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  get chunks(): readonly ContextChunk[] {
    return this.#chunks;
  }

  /** Records the `chunkLines` lines centred on `cursorLine` of a document's `lines`. */
  record(uri: string, lines: readonly string[], cursorLine: number, chunkLines: number): void {
    const start = Math.max(0, Math.min(cursorLine - Math.floor(chunkLines / 2), lines.length - chunkLines));
    const taken = lines.slice(start, start + chunkLines);
    const text = taken.join("\n");
    if (text.trim() === "") return;
    const chunk: ContextChunk = { uri, line: start, lineCount: taken.length, text };
    this.#chunks = this.#chunks.filter((c) => !(c.uri === uri && overlap(c, chunk) * 2 >= Math.min(c.lineCount, chunk.lineCount)));
    this.#chunks.push(chunk);
    while (this.#chunks.length > this.capacity) this.#chunks.shift();
  }

  /** The newest chunks not from `uri` that fit `budgetTokens` together, oldest first. */
  chunksFor(uri: string, budgetTokens: number, countTokens: (text: string) => number): { chunks: ContextChunk[]; tokens: number } {
    const picked: ContextChunk[] = [];
    let tokens = 0;
    for (let i = this.#chunks.length - 1; i >= 0; i--) {
      const chunk = this.#chunks[i]!;
      if (chunk.uri === uri) continue;
      const cost = countTokens(chunk.text);
      if (tokens + cost > budgetTokens) break;
      picked.unshift(chunk);
      tokens += cost;
    }
    return { chunks: picked, tokens };
  }

  /** Drops a closed document's chunks. */
  forget(uri: string): void {
    this.#chunks = this.#chunks.filter((c) => c.uri !== uri);
  }
}

function overlap(a: ContextChunk, b: ContextChunk): number {
  return Math.max(0, Math.min(a.line + a.lineCount, b.line + b.lineCount) - Math.max(a.line, b.line));
}
