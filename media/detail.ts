/**
 * The detail panel: one per page, shown beside the token under the pointer or the keyboard focus,
 * and kept open ("pinned") with Enter or a click until Escape.
 */
import { html } from "./dom.ts";
import { describePiece, describeToken, formatAdvantage, formatLogprob, formatProbability, formatRank } from "./format.ts";
import type { TraceEntry } from "./messages.ts";
import { shadeOf } from "./scale.ts";

export interface DetailSubject {
  readonly entry: TraceEntry;
  /** 0-based position in its response. */
  readonly position: number;
  readonly columnLabel: string;
  readonly anchor: Element;
}

/** The text of a token id, when the view knows it. */
export type PieceLookup = (token: number) => string | undefined;

export interface DetailPanelOptions {
  readonly pieceOf: PieceLookup;
  /** The pointer left the tokens and the panel: show the keyboard's token again, or hide. */
  readonly onPointerGone: () => void;
}

const GAP = 6;
/** Moving the pointer from a token onto the panel takes a moment; don't hide in between. */
const HOVER_GRACE_MS = 200;

export class DetailPanel {
  readonly element: HTMLElement;
  #subject: DetailSubject | undefined;
  #pinned = false;
  #hovered = false;
  #hideTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly options: DetailPanelOptions) {
    this.element = html("div", { className: "detail", attributes: { id: "aad-detail", role: "tooltip", hidden: "" } });
    this.element.addEventListener("mouseenter", () => {
      this.#hovered = true;
      this.cancelHide();
    });
    this.element.addEventListener("mouseleave", () => {
      this.#hovered = false;
      this.pointerLeft();
    });
  }

  /** The pointer left a token: unless it reaches the panel or another token soon, let go. */
  pointerLeft(): void {
    this.cancelHide();
    this.#hideTimer = setTimeout(() => {
      if (!this.#hovered && !this.#pinned) this.options.onPointerGone();
    }, HOVER_GRACE_MS);
  }

  cancelHide(): void {
    if (this.#hideTimer !== undefined) clearTimeout(this.#hideTimer);
    this.#hideTimer = undefined;
  }

  get subject(): DetailSubject | undefined {
    return this.#subject;
  }

  get pinned(): boolean {
    return this.#pinned;
  }

  show(subject: DetailSubject, options: { pin?: boolean } = {}): void {
    if (this.#pinned && options.pin !== true && this.#subject?.anchor !== subject.anchor) {
      // A pinned panel stays on its token while the pointer wanders.
      return;
    }
    this.cancelHide();
    const pinnedBefore = this.#pinned;
    if (options.pin !== undefined) this.#pinned = options.pin;
    this.element.classList.toggle("pinned", this.#pinned);
    if (this.#subject?.anchor !== subject.anchor || pinnedBefore !== this.#pinned) this.#render(subject);
    // Only the token the panel describes points at it; a screen reader reads it as that token's description.
    this.#subject?.anchor.removeAttribute("aria-describedby");
    subject.anchor.setAttribute("aria-describedby", this.element.id);
    this.#subject = subject;
    this.element.hidden = false;
    this.place();
  }

  hide(options: { force?: boolean } = {}): void {
    if (this.#pinned && options.force !== true) return;
    this.cancelHide();
    this.#pinned = false;
    this.#subject?.anchor.removeAttribute("aria-describedby");
    this.#subject = undefined;
    this.element.hidden = true;
    this.element.classList.remove("pinned");
  }

  /** Keeps the panel beside its token: below it, or above when the viewport has no room below. */
  place(): void {
    const anchor = this.#subject?.anchor;
    if (anchor === undefined || this.element.hidden) return;
    const token = anchor.getBoundingClientRect();
    const panel = this.element.getBoundingClientRect();
    const viewportWidth = document.documentElement.clientWidth;
    const viewportHeight = document.documentElement.clientHeight;
    const left = Math.max(GAP, Math.min(token.left, viewportWidth - panel.width - GAP));
    const below = token.bottom + GAP;
    const top = below + panel.height <= viewportHeight - GAP ? below : Math.max(GAP, token.top - GAP - panel.height);
    this.element.style.left = `${Math.round(left)}px`;
    this.element.style.top = `${Math.round(top)}px`;
  }

  #render({ entry, position, columnLabel }: DetailSubject): void {
    const shade = shadeOf(entry.advantage);
    const verdict = {
      dpo: "DPO preferred",
      sft: "SFT preferred",
      neutral: "models agree",
      unknown: "SFT not evaluated",
    }[shade.side];
    const number = (field: string, label: string, value: string, hint?: string): HTMLElement[] => [
      html("dt", { text: label }),
      html("dd", { attributes: { "data-field": field } }, html("span", { className: "value", text: value }), ...(hint === undefined ? [] : [html("span", { className: "hint", text: hint })])),
    ];

    const notes: string[] = [];
    if (entry.candidateSetSize === 1) notes.push("Single candidate: the DPO model left no choice.");
    if (entry.sftSkipped) notes.push("The SFT model was not consulted for this step.");
    if (!entry.inCandidateSet) notes.push("Outside the DPO candidate set.");

    this.element.replaceChildren(
      html(
        "div",
        { className: "detail-head" },
        html("span", { className: "detail-piece", text: describeToken(entry) }),
        html("span", { className: "detail-where", text: `${columnLabel} · token ${position + 1}` }),
      ),
      html(
        "dl",
        { className: "detail-numbers" },
        ...number("pDpo", "p_dpo", formatProbability(entry.logprobDpo), `log ${formatLogprob(entry.logprobDpo)}`),
        ...number("pSft", "p_sft", formatProbability(entry.logprobSft), `log ${formatLogprob(entry.logprobSft)}`),
        ...number("advantage", "advantage", formatAdvantage(entry.advantage), verdict),
        ...number("candidateSetSize", "candidates", String(entry.candidateSetSize)),
        ...number("dpoRank", "DPO rank", formatRank(entry.dpoRank)),
      ),
      ...notes.map((note) => html("p", { className: "detail-note", text: note })),
      this.#candidateTable(entry),
      html("p", { className: "detail-keys", text: this.#pinned ? "Esc closes" : "Enter pins · Esc closes" }),
    );
  }

  #candidateTable(entry: TraceEntry): HTMLTableElement {
    const header = html(
      "tr",
      {},
      ...["", "token", "p_dpo", "p_sft", "adv."].map((label) => html("th", { text: label, attributes: { scope: "col" } })),
    );
    const rows = entry.top.map((candidate) => {
      const piece = candidate.piece ?? this.options.pieceOf(candidate.token);
      return html(
        "tr",
        {
          className: [candidate.picked ? "picked" : "", candidate.inCandidateSet ? "in-set" : "out-of-set"].join(" ").trim(),
          attributes: { "data-token": String(candidate.token) },
        },
        html("td", { className: "mark", text: candidate.picked ? "✓" : "", attributes: candidate.picked ? { "aria-label": "picked" } : {} }),
        html("td", { className: "piece", text: piece === undefined ? `#${candidate.token}` : describePiece(piece) }),
        html("td", { className: "num", text: formatProbability(candidate.logprobDpo) }),
        html("td", { className: "num", text: formatProbability(candidate.logprobSft) }),
        html("td", { className: `num adv-${shadeOf(candidate.advantage).side}`, text: formatAdvantage(candidate.advantage) }),
      );
    });
    return html(
      "table",
      { className: "candidates" },
      html("caption", { text: "DPO top tokens (dimmed: outside the candidate set)" }),
      html("thead", {}, header),
      html("tbody", {}, ...rows),
    );
  }
}
