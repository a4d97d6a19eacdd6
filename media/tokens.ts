/**
 * One response's tokens as focusable spans, appended as they stream. A single tab stop per
 * response (roving tabindex); arrows move between tokens, Enter pins the detail panel, Escape
 * closes it.
 */
import type { DetailPanel } from "./detail.ts";
import { html } from "./dom.ts";
import { describeToken, formatAdvantage, tokenDisplay } from "./format.ts";
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

export class TokenStream {
  readonly element: HTMLElement;
  readonly #entries: TraceEntry[] = [];
  readonly #spans: HTMLElement[] = [];
  #current = 0;
  #scale = ADVANTAGE_CLAMP;
  #diverge: number | undefined;

  constructor(private readonly options: TokenStreamOptions) {
    this.element = html("div", {
      className: "tokens",
      attributes: {
        role: "listbox",
        "aria-orientation": "horizontal",
        "aria-label": `${options.label}: tokens coloured by advantage. Arrow keys move, Enter pins details, Escape closes them.`,
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
    for (const entry of entries) {
      const span = this.#tokenElement(entry, this.#entries.length);
      if (this.#entries.length === 0) span.tabIndex = 0;
      this.#entries.push(entry);
      this.#spans.push(span);
      fragment.append(span);
    }
    this.element.append(fragment);
  }

  /** When the keyboard focus is on one of these tokens, shows that token's details; says whether it was. */
  showFocused(): boolean {
    const focused = document.activeElement;
    const position = this.#positionOf(focused);
    if (position === undefined) return false;
    this.#show(position, this.options.panel.pinned);
    return true;
  }

  /** Moves the keyboard focus to the token at `position` (clamped to the response). */
  focus(position: number): void {
    if (this.#spans.length === 0) return;
    const target = Math.max(0, Math.min(this.#spans.length - 1, position));
    this.#spans[this.#current]?.setAttribute("tabindex", "-1");
    this.#spans[this.#current]?.setAttribute("aria-selected", "false");
    this.#current = target;
    const span = this.#spans[target]!;
    span.tabIndex = 0;
    span.setAttribute("aria-selected", "true");
    span.focus();
    span.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  /** Recolours every token for a new scale's end (nats). */
  rescale(scale: number): void {
    if (scale === this.#scale) return;
    this.#scale = scale;
    this.#entries.forEach((entry, i) => this.#shade(this.#spans[i]!, entry));
  }

  /** Marks the token where this answer starts to differ from the others (undefined: nowhere yet). */
  markDivergence(position: number | undefined): void {
    if (position === this.#diverge) return;
    if (this.#diverge !== undefined) this.#spans[this.#diverge]?.classList.remove("diverge");
    this.#diverge = position;
    if (position !== undefined) this.#spans[position]?.classList.add("diverge");
  }

  #shade(span: HTMLElement, entry: TraceEntry): void {
    const shade = shadeOf(entry.advantage, this.#scale);
    for (const side of ["dpo", "sft", "neutral", "unknown"] as const) span.classList.toggle(`side-${side}`, side === shade.side);
    // A CSS variable set through the CSSOM: allowed by the CSP, unlike a style attribute in markup.
    span.style.setProperty("--strength", shade.strength.toFixed(3));
    span.setAttribute("aria-label", this.#label(entry, Number(span.dataset.position), shade.side));
  }

  #label(entry: TraceEntry, position: number, side: keyof typeof SIDE_WORDS): string {
    return [
      `${position + 1}: ${describeToken(entry)}`,
      `advantage ${formatAdvantage(entry.advantage)}, ${SIDE_WORDS[side]}`,
      ...(isSingleCandidate(entry) ? ["single candidate"] : []),
      ...(entry.inCandidateSet ? [] : ["outside the candidate set"]),
    ].join(", ");
  }

  #tokenElement(entry: TraceEntry, position: number): HTMLElement {
    const classes = ["tok"];
    if (isSingleCandidate(entry)) classes.push("single");
    const display = tokenDisplay(entry);
    if (display.kind !== "text") classes.push(display.kind);
    if (display.kind === "text" && display.segments.some((segment) => segment.control !== undefined)) classes.push("control");
    if (position === this.#diverge) classes.push("diverge");
    const span = html(
      "span",
      {
        className: classes.join(" "),
        attributes: { role: "option", tabindex: "-1", "aria-selected": "false", "data-position": String(position) },
      },
      ...tokenContent(entry, display),
    );
    this.#shade(span, entry);
    return span;
  }

  #positionOf(target: EventTarget | null): number | undefined {
    const token = target instanceof Element ? target.closest<HTMLElement>(".tok") : null;
    if (token === null || !this.element.contains(token)) return undefined;
    const position = Number(token.dataset.position);
    return Number.isInteger(position) ? position : undefined;
  }

  #show(position: number, pin?: boolean): void {
    const entry = this.#entries[position];
    const anchor = this.#spans[position];
    if (entry === undefined || anchor === undefined) return;
    const alpha = this.options.alpha?.();
    this.options.panel.show(
      { entry, position, columnLabel: this.options.label, anchor, scale: this.#scale, ...(alpha === undefined ? {} : { alpha }) },
      pin === undefined ? {} : { pin },
    );
    this.options.onCurrent?.(position);
  }

  #onKey(event: KeyboardEvent): void {
    const panel = this.options.panel;
    const moves: Readonly<Record<string, () => number>> = {
      ArrowRight: () => this.#current + 1,
      ArrowLeft: () => this.#current - 1,
      ArrowDown: () => this.#lineNeighbour(1),
      ArrowUp: () => this.#lineNeighbour(-1),
      Home: () => 0,
      End: () => this.#spans.length - 1,
    };
    const move = moves[event.key];
    if (move !== undefined) {
      event.preventDefault();
      this.focus(move());
      return;
    }
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      const pinnedHere = panel.pinned && panel.subject?.anchor === this.#spans[this.#current];
      this.#show(this.#current, !pinnedHere);
      return;
    }
    if (event.key === "Escape" && !panel.element.hidden) {
      event.preventDefault();
      panel.hide({ force: true });
    }
  }

  /** The token on the next (+1) or previous (−1) visual line nearest the current one horizontally. */
  #lineNeighbour(direction: 1 | -1): number {
    const from = this.#spans[this.#current]?.getBoundingClientRect();
    if (from === undefined) return this.#current;
    const centre = (rect: DOMRect): number => (rect.left + rect.right) / 2;
    let lineTop: number | undefined;
    let best = this.#current;
    let bestDistance = Infinity;
    for (let i = this.#current + direction; i >= 0 && i < this.#spans.length; i += direction) {
      const rect = this.#spans[i]!.getBoundingClientRect();
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
    const position = this.#positionOf(event.target);
    if (position === undefined) return;
    if (position !== this.#current) {
      this.#spans[this.#current]?.setAttribute("tabindex", "-1");
      this.#spans[this.#current]?.setAttribute("aria-selected", "false");
      this.#current = position;
      this.#spans[position]?.setAttribute("tabindex", "0");
      this.#spans[position]?.setAttribute("aria-selected", "true");
    }
    // A pinned panel follows the keyboard from token to token.
    this.#show(position, this.options.panel.pinned);
  }

  #onBlur(event: FocusEvent): void {
    const next = event.relatedTarget;
    if (next instanceof Node && (this.element.contains(next) || this.options.panel.element.contains(next))) return;
    this.options.panel.hide();
    this.options.onCurrent?.(undefined);
  }

  #onHover(event: MouseEvent): void {
    const position = this.#positionOf(event.target);
    if (position !== undefined) this.#show(position);
  }

  #onLeave(event: MouseEvent): void {
    if (this.#positionOf(event.relatedTarget) !== undefined) return;
    this.options.panel.pointerLeft();
  }

  #onClick(event: MouseEvent): void {
    const position = this.#positionOf(event.target);
    if (position === undefined) return;
    const panel = this.options.panel;
    const pinnedHere = panel.pinned && panel.subject?.anchor === this.#spans[position];
    this.#spans[position]?.focus();
    this.#show(position, !pinnedHere);
  }
}
