/**
 * Terminal rendering of traces: each token coloured by its advantage log p_dpo − log p_sft on a
 * diverging scale (blue where SFT preferred the token, orange where DPO did, plain near 0),
 * and tokens picked from a single-candidate set dimmed. A character whose bytes are split across
 * tokens (🎉 or 渋 in byte-level BPE) is one cell: its tokens' pieces joined, coloured by the sum
 * of their advantages (decoding/characters.ts). Pure string functions, so the colouring is
 * testable without a terminal.
 */
import { cellAdvantage, CharacterCells, characterCells, type ResponseStats, type TraceEntry } from "../decoding/index.ts";

export interface RenderOptions {
  /** Emit ANSI colours (false for pipes and NO_COLOR). */
  color: boolean;
  /** Advantage (nats) at which the colour saturates. */
  clamp?: number;
}

const RESET = "\u001b[0m";

/** A 24-bit background for an advantage: orange for DPO-preferred, blue for SFT-preferred. */
export function advantageColor(advantage: number | null, clamp = 3): [number, number, number] | null {
  if (advantage === null || !Number.isFinite(advantage)) return null;
  const t = Math.max(-1, Math.min(1, advantage / clamp));
  if (Math.abs(t) < 0.05) return null;
  const strength = Math.abs(t);
  const [r, g, b] = t > 0 ? [230, 120, 20] : [40, 110, 230];
  const mix = (c: number) => Math.round(40 + (c - 40) * strength);
  return [mix(r), mix(g), mix(b)];
}

export function colorToken(entry: Pick<TraceEntry, "piece" | "advantage" | "candidateSetSize">, options: RenderOptions): string {
  if (!options.color) return entry.piece;
  const rgb = advantageColor(entry.advantage, options.clamp);
  const dim = entry.candidateSetSize === 1 ? "\u001b[2m" : "";
  const bg = rgb ? `\u001b[48;2;${rgb[0]};${rgb[1]};${rgb[2]}m\u001b[38;2;255;255;255m` : "";
  if (!bg && !dim) return entry.piece;
  // Colour each line separately so a newline inside a token does not paint the margin.
  return entry.piece
    .split("\n")
    .map((part) => (part ? `${dim}${bg}${part}${RESET}` : part))
    .join("\n");
}

type CellEntry = Pick<TraceEntry, "piece" | "advantage" | "candidateSetSize">;

/**
 * One cell: the tokens of one or more whole characters, their pieces joined, coloured by the sum
 * of their advantages, and dimmed when every one of them was a single candidate.
 */
export function colorCell(tokens: readonly CellEntry[], options: RenderOptions): string {
  const single = tokens.length > 0 && tokens.every((token) => token.candidateSetSize === 1);
  return colorToken({ piece: tokens.map((token) => token.piece).join(""), advantage: cellAdvantage(tokens), candidateSetSize: single ? 1 : 2 }, options);
}

export function renderTrace(entries: readonly TraceEntry[], options: RenderOptions): string {
  return characterCells(entries)
    .map((cell) => colorCell(entries.slice(cell.start, cell.end), options))
    .join("");
}

/**
 * A trace written as it streams, one cell at a time: a cell is written once no later token can
 * join it, so the terminal never shows half a character or an accent apart from its letter.
 */
export class TraceWriter {
  readonly #cells = new CharacterCells();
  readonly #entries: TraceEntry[] = [];
  #written = 0;

  constructor(private readonly options: RenderOptions) {}

  /** The text to write after this token: the cells it settled ("" while they may still grow). */
  push(entry: TraceEntry): string {
    this.#entries.push(entry);
    this.#cells.push(entry);
    return this.#write(this.#cells.settled);
  }

  /** The cells still held, at the end of the response (which can end inside a character). */
  flush(): string {
    return this.#write(this.#cells.cells.length);
  }

  #write(upTo: number): string {
    let text = "";
    for (; this.#written < upTo; this.#written++) {
      const cell = this.#cells.cells[this.#written]!;
      text += colorCell(this.#entries.slice(cell.start, cell.end), this.options);
    }
    return text;
  }
}

export function legend(options: RenderOptions): string {
  if (!options.color) return "";
  const swatch = (a: number, label: string) => colorToken({ piece: ` ${label} `, advantage: a, candidateSetSize: 2 }, options);
  const single = colorToken({ piece: " single candidate ", advantage: 0, candidateSetSize: 1 }, options);
  return `advantage log p_dpo − log p_sft: ${swatch(-3, "SFT preferred")} ${swatch(0, "≈ 0")} ${swatch(3, "DPO preferred")} ${single} (a character split across tokens: their summed advantage)`;
}

export function formatStats(stats: ResponseStats): string {
  // A response decoded for its picks only (`--trace picks`) has no numbers to sum.
  const measured = stats.tokens === 0 || stats.unscoredTokens < stats.tokens;
  const parts = [measured ? `implicit reward ${stats.implicitReward.toFixed(3)}` : "implicit reward not measured (--trace exact)", `${stats.tokens} tokens`];
  if (stats.tokensPerSecond !== undefined) parts.push(`${stats.tokensPerSecond.toFixed(1)} tok/s`);
  if (stats.sftStepsSkipped) parts.push(`${stats.sftStepsSkipped} SFT steps skipped`);
  return parts.join(" · ");
}

/** Lays out blocks of text side by side in columns of the given width (wrapping plain text). */
export function sideBySide(columns: readonly { title: string; body: string }[], width: number): string {
  const wrapped = columns.map((c) => [c.title, "─".repeat(Math.min(width, c.title.length)), ...wrap(c.body, width)]);
  const height = Math.max(...wrapped.map((w) => w.length));
  const lines: string[] = [];
  for (let i = 0; i < height; i++) lines.push(wrapped.map((w) => (w[i] ?? "").padEnd(width)).join("  │  ").trimEnd());
  return lines.join("\n");
}

export function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(" ")) {
      if (line && line.length + 1 + word.length > width) {
        out.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    out.push(line);
  }
  return out;
}
