/**
 * The detail panel: one per page, shown beside the token under the pointer or the keyboard focus,
 * and kept open ("pinned") with Enter or a click until Escape.
 */
import { cellAdvantage } from "../server/src/decoding/characters.ts";
import { html } from "./dom.ts";
import { describeCell, describeToken, explainToken, formatAdvantage, formatLogprob, formatProbability, formatRank, spacedHex } from "./format.ts";
import type { TraceEntry, ViewCandidate } from "./messages.ts";
import { shadeOf } from "./scale.ts";
import { tokenContent, type TokenText } from "./token-content.ts";
import { cellContent, isSingleCandidate } from "./tokens.ts";

export interface DetailSubject {
  readonly entry: TraceEntry;
  /** 0-based position in its response (of the cell's first token). */
  readonly position: number;
  /** A cell of several tokens (one character split across them): all of them, `entry` the last. */
  readonly group?: readonly TraceEntry[];
  readonly columnLabel: string;
  readonly anchor: Element;
  /** The α of the candidate set, when the view knows it. */
  readonly alpha?: number;
  /** The scale's end (nats) the token is coloured on. */
  readonly scale?: number;
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

  #render(subject: DetailSubject): void {
    if (subject.group !== undefined && subject.group.length > 1) {
      this.#renderGroup(subject, subject.group);
      return;
    }
    const { entry, position, columnLabel, alpha, scale } = subject;
    const shade = shadeOf(entry.advantage, scale);
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
    const explained = explainToken(entry);
    if (explained !== undefined) notes.push(explained);
    const threshold = alpha === undefined ? "α · max p_dpo" : `${alpha} · max p_dpo`;
    if (!entry.inCandidateSet) {
      notes.push(
        `Outside the DPO candidate set: p_dpo is below ${threshold}. The set held ${entry.candidateSetSize} token${entry.candidateSetSize === 1 ? "" : "s"}; this method picked another.`,
      );
    } else if (isSingleCandidate(entry)) notes.push(`Single candidate: no other token had p_dpo ≥ ${threshold}, so AAD had no choice.`);
    if (entry.sftSkipped) notes.push("The SFT model was not consulted for this step.");

    this.element.replaceChildren(
      html(
        "div",
        { className: "detail-head" },
        html("span", { className: "detail-piece", attributes: { "aria-label": describeToken(entry) } }, ...tokenContent(entry)),
        html("span", { className: "detail-where", text: `${columnLabel} · token ${position + 1}` }),
      ),
      html(
        "dl",
        { className: "detail-numbers" },
        ...number("pDpo", "p_dpo", formatProbability(entry.logprobDpo), `log ${formatLogprob(entry.logprobDpo)}`),
        ...number("pSft", "p_sft", formatProbability(entry.logprobSft), `log ${formatLogprob(entry.logprobSft)}`),
        ...number("advantage", "advantage", formatAdvantage(entry.advantage), `nats, ${verdict}`),
        ...number("candidateSetSize", "candidates", String(entry.candidateSetSize), alpha === undefined ? undefined : `α = ${alpha}`),
        ...number("dpoRank", "DPO rank", formatRank(entry.dpoRank)),
      ),
      ...notes.map((note) => html("p", { className: "detail-note", text: note })),
      ...(entry.top.length === 0 ? [] : [this.#candidateTable(entry, scale)]),
      html("p", { className: "detail-keys", text: this.#pinned ? "Esc closes" : "Enter pins · Esc closes" }),
    );
  }

  /**
   * A cell of several tokens: the character whole, the sum its colour shows, each token with
   * its own bytes, log-probabilities and advantage, and each token's alternatives (the DPO
   * model's top tokens at its step), as a single token's hover shows them.
   */
  #renderGroup({ position, columnLabel, scale }: DetailSubject, tokens: readonly TraceEntry[]): void {
    const advantage = cellAdvantage(tokens);
    const verdict = { dpo: "DPO preferred", sft: "SFT preferred", neutral: "models agree", unknown: "SFT not evaluated" }[shadeOf(advantage, scale).side];
    const sumOf = (values: readonly (number | null)[]): number | null => (values.some((value) => value === null) ? null : values.reduce<number>((sum, value) => sum + value!, 0));
    const logprobDpo = sumOf(tokens.map((token) => token.logprobDpo));
    const logprobSft = sumOf(tokens.map((token) => token.logprobSft));
    const unknown = tokens.filter((token) => token.advantage === null).length;
    const number = (field: string, label: string, value: string, hint?: string): HTMLElement[] => [
      html("dt", { text: label }),
      html("dd", { attributes: { "data-field": field } }, html("span", { className: "value", text: value }), ...(hint === undefined ? [] : [html("span", { className: "hint", text: hint })])),
    ];
    const header = html("tr", {}, ...["#", "bytes", "token", "log p_dpo", "log p_sft", "adv."].map((label) => html("th", { text: label, attributes: { scope: "col" } })));
    const rows = tokens.map((token, i) =>
      html(
        "tr",
        { attributes: { "data-position": String(position + i), "data-token": String(token.token) } },
        html("td", { className: "num rank", text: String(position + i + 1) }),
        html("td", { className: "hex", text: token.special !== undefined ? "—" : spacedHex(token.bytes ?? "") }),
        html("td", { className: "piece", attributes: { "aria-label": describeToken(token) } }, ...tokenContent(token)),
        html("td", { className: "num", attributes: { "data-field": "logprobDpo" }, text: formatLogprob(token.logprobDpo) }),
        html("td", { className: "num", attributes: { "data-field": "logprobSft" }, text: formatLogprob(token.logprobSft) }),
        html("td", { className: `num adv-${shadeOf(token.advantage, scale).side}`, attributes: { "data-field": "advantage" }, text: formatAdvantage(token.advantage) }),
      ),
    );
    this.element.replaceChildren(
      html(
        "div",
        { className: "detail-head" },
        html("span", { className: "detail-piece", attributes: { "aria-label": describeCell(tokens) } }, ...cellContent(tokens)),
        html("span", { className: "detail-where", text: `${columnLabel} · tokens ${position + 1}–${position + tokens.length}` }),
      ),
      html(
        "dl",
        { className: "detail-numbers" },
        ...number("advantage", "advantage", formatAdvantage(advantage), `nats, Σ of ${tokens.length} tokens, ${verdict}`),
        ...number("pDpo", "p_dpo", formatProbability(logprobDpo), `log ${formatLogprob(logprobDpo)}, all ${tokens.length} tokens`),
        ...number("pSft", "p_sft", formatProbability(logprobSft), `log ${formatLogprob(logprobSft)}, all ${tokens.length} tokens`),
        ...number("tokens", "tokens", String(tokens.length)),
      ),
      html("p", {
        className: "detail-note",
        text:
          `One character over ${tokens.length} tokens (its UTF-8 bytes split between them, or an accent or joiner that belongs to it). The cell's colour is the sum of their advantages, ` +
          `log p_dpo − log p_sft of the character as a whole${unknown === 0 ? "" : ` (${unknown} token${unknown === 1 ? "" : "s"} with an unknown advantage add nothing)`}.`,
      }),
      html("table", { className: "candidates group-tokens" }, html("caption", { text: "Each token of the cell, with its own numbers" }), html("thead", {}, header), html("tbody", {}, ...rows)),
      // Each token was its own choice: what else the DPO model offered at that step.
      ...tokens.flatMap((token, i) =>
        token.top.length === 0
          ? []
          : [
              this.#candidateTable(token, scale, {
                caption: `Token ${position + i + 1}: the DPO model's top tokens at its step (dimmed: outside the candidate set)`,
                position: position + i,
              }),
            ],
      ),
      html("p", { className: "detail-keys", text: this.#pinned ? "Esc closes" : "Enter pins · Esc closes" }),
    );
  }

  /**
   * The DPO model's top tokens with their text, and the picked token's own row after them when
   * it is not among them (a method that departs from the DPO model can pick a token of rank 30).
   */
  #candidateTable(entry: TraceEntry, scale: number | undefined, of?: { readonly caption: string; readonly position: number }): HTMLTableElement {
    const header = html(
      "tr",
      {},
      ...["", "#", "token", "p_dpo", "p_sft", "adv."].map((label) => html("th", { text: label, attributes: { scope: "col" } })),
    );
    const row = (candidate: CandidateRow, rank: number | null, text: { piece: string; bytes?: string; special?: string } | undefined): HTMLElement =>
      html(
        "tr",
        {
          className: [candidate.picked ? "picked" : "", candidate.inCandidateSet ? "in-set" : "out-of-set"].join(" ").trim(),
          attributes: { "data-token": String(candidate.token), "data-rank": rank === null ? "" : String(rank) },
        },
        html("td", { className: "mark", text: candidate.picked ? "✓" : "", attributes: candidate.picked ? { "aria-label": "picked" } : {} }),
        html("td", { className: "num rank", text: formatRank(rank) }),
        html(
          "td",
          { className: "piece", attributes: text === undefined ? {} : { "aria-label": describeToken(text) } },
          ...(text === undefined ? [`#${candidate.token}`] : tokenContent(text)),
        ),
        html("td", { className: "num", text: formatProbability(candidate.logprobDpo) }),
        html("td", { className: "num", text: formatProbability(candidate.logprobSft) }),
        html("td", { className: `num adv-${shadeOf(candidate.advantage, scale).side}`, text: formatAdvantage(candidate.advantage) }),
      );
    // In a cell of several tokens the picked row shows the token out of context, as its
    // alternatives are shown (its bytes, where the response's piece is the whole character).
    const ownText: TokenText = of === undefined ? entry : aloneText(entry);
    const pickedText = (candidate: ViewCandidate): TokenText => (of !== undefined && candidate.piece !== undefined ? textOf(candidate) : ownText);
    const rows = entry.top.map((candidate, i) =>
      row(candidate, i + 1, candidate.picked ? pickedText(candidate) : candidate.piece !== undefined ? textOf(candidate) : this.#known(candidate.token)),
    );
    if (!entry.top.some((candidate) => candidate.picked)) {
      rows.push(html("tr", { className: "gap", attributes: { "aria-hidden": "true" } }, html("td", { text: "⋮", attributes: { colspan: "6" } })));
      const own: CandidateRow = {
        token: entry.token,
        logprobDpo: entry.logprobDpo,
        logprobSft: entry.logprobSft,
        advantage: entry.advantage,
        inCandidateSet: entry.inCandidateSet,
        picked: true,
      };
      rows.push(row(own, entry.dpoRank, ownText));
    }
    return html(
      "table",
      { className: of === undefined ? "candidates" : "candidates token-alternatives", attributes: of === undefined ? {} : { "data-position": String(of.position) } },
      html("caption", { text: of?.caption ?? "The DPO model's top tokens (dimmed: outside the candidate set)" }),
      html("thead", {}, header),
      html("tbody", {}, ...rows),
    );
  }

  #known(token: number): { piece: string } | undefined {
    const piece = this.options.pieceOf(token);
    return piece === undefined ? undefined : { piece };
  }
}

/** A row of the table: a top token, or the picked token (whose p_dpo may be unknown). */
type CandidateRow = Omit<ViewCandidate, "logprobDpo"> & { readonly logprobDpo: number | null };

function textOf(candidate: ViewCandidate): { piece: string; bytes?: string; special?: string } {
  return {
    piece: candidate.piece ?? "",
    ...(candidate.bytes === undefined ? {} : { bytes: candidate.bytes }),
    ...(candidate.special === undefined ? {} : { special: candidate.special }),
  };
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A response's token out of context, as the runtime gives an alternative (TokenText.alone): its
 * text when its bytes are whole characters, else "" and the bytes. (Its piece in the response may
 * hold a character it completes.)
 */
function aloneText(entry: TraceEntry): TokenText {
  if (entry.special !== undefined || entry.bytes === undefined) return entry;
  const hex = entry.bytes;
  const bytes = new Uint8Array(hex.length >> 1).map((_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
  try {
    return { piece: strictUtf8.decode(bytes), bytes: hex };
  } catch {
    return { piece: "", bytes: hex };
  }
}
