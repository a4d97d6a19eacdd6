/**
 * One response's tokens as focusable spans, appended as they stream. A single tab stop per
 * response (roving tabindex); arrows move between cells, Enter pins the detail panel, Escape
 * closes it.
 *
 * A cell is one token, or the tokens of one character when its bytes are split across them
 * (🎉 in byte-level BPE; server/src/decoding/characters.ts): the whole character shows once,
 * coloured by the sum of its tokens' advantages, and the detail panel lists each token with its
 * own bytes and numbers.
 */
import { cellAdvantage, CharacterCells } from "../server/src/decoding/characters.ts";
import type { DetailPanel } from "./detail.ts";
import { html, type Child } from "./dom.ts";
import { describeCell, describeToken, formatAdvantage, tokenDisplay } from "./format.ts";
import type { TraceEntry } from "./messages.ts";
import { ADVANTAGE_CLAMP, shadeOf } from "./scale.ts";
import { tokenContent } from "./token-content.ts";

export interface TokenStreamOptions {
  readonly label: string;
  readonly panel: DetailPanel;
  /** The token the keyboard or pointer is on, for the chart's cursor. */
  readonly onCurrent?: (position: number | undefined) => void;
  /** The α of the response's candidate sets, when known. */
  readonly alpha?: () => number | undefined;
}

const SIDE_WORDS = { dpo: "DPO preferred", sft: "SFT preferred", neutral: "models agree", unknown: "advantage unknown" } as const;

/** The DPO candidate set held this token alone (a token outside the set is never "single"). */
export function isSingleCandidate(entry: TraceEntry): boolean {
  return entry.candidateSetSize === 1 && entry.inCandidateSet;
}

/** A cell: its tokens (start inclusive, end exclusive) and its element. */
interface Cell {
  readonly start: number;
  end: number;
  readonly element: HTMLElement;
}

export class TokenStream {
  readonly element: HTMLElement;
  readonly #entries: TraceEntry[] = [];
  readonly #grouping = new CharacterCells();
  readonly #cells: Cell[] = [];
  /** The cell of each token. */
  readonly #cellOf: number[] = [];
  /** The cell with the keyboard's focus. */
  #current = 0;
  #scale = ADVANTAGE_CLAMP;
  #diverge: number | undefined;

  constructor(private readonly options: TokenStreamOptions) {
    this.element = html("div", {
      className: "tokens",
      attributes: {
        role: "listbox",
        "aria-orientation": "horizontal",
        "aria-label": `${options.label}: tokens coloured by advantage (a character split across tokens: their sum). Arrow keys move, Enter pins details, Escape closes them.`,
      },
    });
    this.element.addEventListener("keydown", (event) => this.#onKey(event));
    this.element.addEventListener("focusin", (event) => this.#onFocus(event));
    this.element.addEventListener("focusout", (event) => this.#onBlur(event));
    this.element.addEventListener("mouseover", (event) => this.#onHover(event));
    this.element.addEventListener("mouseout", (event) => this.#onLeave(event));
    this.element.addEventListener("click", (event) => this.#onClick(event));
  }

  get entries(): readonly TraceEntry[] {
    return this.#entries;
  }

  append(entries: readonly TraceEntry[]): void {
    const fragment = document.createDocumentFragment();
    const changed = new Set<number>();
    for (const entry of entries) {
      const position = this.#entries.length;
      this.#entries.push(entry);
      const index = this.#grouping.push(entry);
      // The token's cell is a new one, the last one, or an earlier one the last merged into.
      while (this.#cells.length > index + 1) {
        const merged = this.#cells.pop()!;
        merged.element.remove();
        changed.delete(this.#cells.length);
      }
      if (index === this.#cells.length) {
        const element = html("span", { attributes: { role: "option", tabindex: position === 0 ? "0" : "-1", "aria-selected": "false", "data-position": String(position) } });
        this.#cells.push({ start: position, end: position + 1, element });
        fragment.append(element);
      } else {
        this.#cells[index]!.end = position + 1;
      }
      for (let i = this.#cells[index]!.start; i <= position; i++) this.#cellOf[i] = index;
      changed.add(index);
    }
    // A merged cell's element may be in the fragment or on the page; render either way.
    this.element.append(fragment);
    for (const index of changed) this.#render(index);
    if (this.#current >= this.#cells.length) this.#current = Math.max(0, this.#cells.length - 1);
  }

  /** When the keyboard focus is on one of these tokens, shows that token's details; says whether it was. */
  showFocused(): boolean {
    const focused = document.activeElement;
    const cell = this.#cellAt(focused);
    if (cell === undefined) return false;
    this.#show(cell, this.options.panel.pinned);
    return true;
  }

  /** Moves the keyboard focus to the cell of the token at `position` (clamped to the response). */
  focus(position: number): void {
    if (this.#cells.length === 0) return;
    const token = Math.max(0, Math.min(this.#entries.length - 1, position));
    this.#focusCell(this.#cellOf[token] ?? 0);
  }

  /** Recolours every token for a new scale's end (nats). */
  rescale(scale: number): void {
    if (scale === this.#scale) return;
    this.#scale = scale;
    this.#cells.forEach((_, i) => this.#shade(i));
  }

  /** Marks the token where this answer starts to differ from the others (undefined: nowhere yet). */
  markDivergence(position: number | undefined): void {
    if (position === this.#diverge) return;
    const cellOf = (token: number | undefined): HTMLElement | undefined => (token === undefined ? undefined : this.#cells[this.#cellOf[token] ?? -1]?.element);
    cellOf(this.#diverge)?.classList.remove("diverge");
    this.#diverge = position;
    cellOf(position)?.classList.add("diverge");
  }

  #focusCell(target: number): void {
    const index = Math.max(0, Math.min(this.#cells.length - 1, target));
    this.#cells[this.#current]?.element.setAttribute("tabindex", "-1");
    this.#cells[this.#current]?.element.setAttribute("aria-selected", "false");
    this.#current = index;
    const element = this.#cells[index]!.element;
    element.tabIndex = 0;
    element.setAttribute("aria-selected", "true");
    element.focus();
    element.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  #tokensOf(index: number): TraceEntry[] {
    const cell = this.#cells[index]!;
    return this.#entries.slice(cell.start, cell.end);
  }

  #shade(index: number): void {
    const cell = this.#cells[index]!;
    const tokens = this.#tokensOf(index);
    const shade = shadeOf(cellAdvantage(tokens), this.#scale);
    for (const side of ["dpo", "sft", "neutral", "unknown"] as const) cell.element.classList.toggle(`side-${side}`, side === shade.side);
    // A CSS variable set through the CSSOM: allowed by the CSP, unlike a style attribute in markup.
    cell.element.style.setProperty("--strength", shade.strength.toFixed(3));
    cell.element.setAttribute("aria-label", this.#label(tokens, cell.start, shade.side));
  }

  #label(tokens: readonly TraceEntry[], start: number, side: keyof typeof SIDE_WORDS): string {
    if (tokens.length === 1) {
      const entry = tokens[0]!;
      return [
        `${start + 1}: ${describeToken(entry)}`,
        `advantage ${formatAdvantage(entry.advantage)}, ${SIDE_WORDS[side]}`,
        ...(isSingleCandidate(entry) ? ["single candidate"] : []),
        ...(entry.inCandidateSet ? [] : ["outside the candidate set"]),
      ].join(", ");
    }
    return [
      `${start + 1}–${start + tokens.length}: ${describeCell(tokens)}`,
      `advantage ${formatAdvantage(cellAdvantage(tokens))} (sum over ${tokens.length} tokens), ${SIDE_WORDS[side]}`,
      ...(tokens.every(isSingleCandidate) ? ["single candidates"] : []),
      ...(tokens.every((entry) => entry.inCandidateSet) ? [] : ["a token outside the candidate set"]),
    ].join(", ");
  }

  /** Draws cell `index` afresh: its classes, its text, its shade. */
  #render(index: number): void {
    const cell = this.#cells[index]!;
    const tokens = this.#tokensOf(index);
    const classes = ["tok"];
    let content: Child[];
    if (tokens.length === 1) {
      const entry = tokens[0]!;
      const display = tokenDisplay(entry);
      if (isSingleCandidate(entry)) classes.push("single");
      if (display.kind !== "text") classes.push(display.kind);
      if (display.kind === "text" && display.segments.some((segment) => segment.control !== undefined)) classes.push("control");
      content = tokenContent(entry, display);
    } else {
      classes.push("group");
      if (tokens.every(isSingleCandidate)) classes.push("single");
      const open = index === this.#cells.length - 1 ? this.#grouping.pending : "";
      content = cellContent(tokens, open);
      if (content.some((child) => child instanceof HTMLElement && child.classList.contains("ctl"))) classes.push("control");
    }
    if (this.#diverge !== undefined && this.#cellOf[this.#diverge] === index) classes.push("diverge");
    cell.element.className = classes.join(" ");
    cell.element.dataset.tokens = String(tokens.length);
    cell.element.replaceChildren(...content);
    this.#shade(index);
  }

  #cellAt(target: EventTarget | null): number | undefined {
    const element = target instanceof Element ? target.closest<HTMLElement>(".tok") : null;
    if (element === null || !this.element.contains(element)) return undefined;
    const position = Number(element.dataset.position);
    return Number.isInteger(position) ? this.#cellOf[position] : undefined;
  }

  #show(index: number, pin?: boolean): void {
    const cell = this.#cells[index];
    if (cell === undefined) return;
    const tokens = this.#tokensOf(index);
    const alpha = this.options.alpha?.();
    this.options.panel.show(
      {
        entry: tokens.at(-1)!,
        position: cell.start,
        ...(tokens.length > 1 ? { group: tokens } : {}),
        columnLabel: this.options.label,
        anchor: cell.element,
        scale: this.#scale,
        ...(alpha === undefined ? {} : { alpha }),
      },
      pin === undefined ? {} : { pin },
    );
    this.options.onCurrent?.(cell.start);
  }

  #onKey(event: KeyboardEvent): void {
    const panel = this.options.panel;
    const moves: Readonly<Record<string, () => number>> = {
      ArrowRight: () => this.#current + 1,
      ArrowLeft: () => this.#current - 1,
      ArrowDown: () => this.#lineNeighbour(1),
      ArrowUp: () => this.#lineNeighbour(-1),
      Home: () => 0,
      End: () => this.#cells.length - 1,
    };
    const move = moves[event.key];
    if (move !== undefined) {
      event.preventDefault();
      if (this.#cells.length > 0) this.#focusCell(move());
      return;
    }
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      const pinnedHere = panel.pinned && panel.subject?.anchor === this.#cells[this.#current]?.element;
      this.#show(this.#current, !pinnedHere);
      return;
    }
    if (event.key === "Escape" && !panel.element.hidden) {
      event.preventDefault();
      panel.hide({ force: true });
    }
  }

  /** The cell on the next (+1) or previous (−1) visual line nearest the current one horizontally. */
  #lineNeighbour(direction: 1 | -1): number {
    const from = this.#cells[this.#current]?.element.getBoundingClientRect();
    if (from === undefined) return this.#current;
    const centre = (rect: DOMRect): number => (rect.left + rect.right) / 2;
    let lineTop: number | undefined;
    let best = this.#current;
    let bestDistance = Infinity;
    for (let i = this.#current + direction; i >= 0 && i < this.#cells.length; i += direction) {
      const rect = this.#cells[i]!.element.getBoundingClientRect();
      if (Math.abs(rect.top - from.top) < 2) continue;
      lineTop ??= rect.top;
      if (Math.abs(rect.top - lineTop) >= 2) break;
      const distance = Math.abs(centre(rect) - centre(from));
      if (distance < bestDistance) {
        best = i;
        bestDistance = distance;
      }
    }
    return best;
  }

  #onFocus(event: FocusEvent): void {
    const index = this.#cellAt(event.target);
    if (index === undefined) return;
    if (index !== this.#current) {
      this.#cells[this.#current]?.element.setAttribute("tabindex", "-1");
      this.#cells[this.#current]?.element.setAttribute("aria-selected", "false");
      this.#current = index;
      this.#cells[index]?.element.setAttribute("tabindex", "0");
      this.#cells[index]?.element.setAttribute("aria-selected", "true");
    }
    // A pinned panel follows the keyboard from cell to cell.
    this.#show(index, this.options.panel.pinned);
  }

  #onBlur(event: FocusEvent): void {
    const next = event.relatedTarget;
    if (next instanceof Node && (this.element.contains(next) || this.options.panel.element.contains(next))) return;
    this.options.panel.hide();
    this.options.onCurrent?.(undefined);
  }

  #onHover(event: MouseEvent): void {
    const index = this.#cellAt(event.target);
    if (index !== undefined) this.#show(index);
  }

  #onLeave(event: MouseEvent): void {
    if (this.#cellAt(event.relatedTarget) !== undefined) return;
    this.options.panel.pointerLeft();
  }

  #onClick(event: MouseEvent): void {
    const index = this.#cellAt(event.target);
    if (index === undefined) return;
    const panel = this.options.panel;
    const element = this.#cells[index]?.element;
    const pinnedHere = panel.pinned && panel.subject?.anchor === element;
    element?.focus();
    this.#show(index, !pinnedHere);
  }
}

/**
 * A multi-token cell's text: its tokens' pieces joined (the whole character), a special token as
 * its chip, and, while the cell's character is still open, the bytes so far.
 */
export function cellContent(tokens: readonly TraceEntry[], openBytes = ""): Child[] {
  const content: Child[] = [];
  let text = "";
  const flush = (): void => {
    if (text !== "") content.push(...tokenContent({ piece: text }));
    text = "";
  };
  for (const entry of tokens) {
    if (entry.special !== undefined) {
      flush();
      content.push(...tokenContent(entry));
    } else text += entry.piece;
  }
  flush();
  if (openBytes !== "") content.push(...tokenContent({ piece: "", bytes: openBytes }));
  return content;
}
