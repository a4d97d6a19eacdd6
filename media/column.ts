/** One response in the view: its header and totals, its tokens, its chart. */
import { AdvantageChart, type ChartFrame } from "./chart.ts";
import type { DetailPanel } from "./detail.ts";
import { html } from "./dom.ts";
import { formatAdvantage, formatReward } from "./format.ts";
import type { ColumnSpec, ResponseStats, TraceEntry } from "./messages.ts";
import { TokenStream } from "./tokens.ts";

export class ResponseColumn {
  readonly element: HTMLElement;
  readonly tokens: TokenStream;
  readonly #chart: AdvantageChart;
  readonly #status: HTMLElement;
  readonly #totals: HTMLElement;
  readonly #placeholder: HTMLElement;
  #stats: ResponseStats | undefined;
  #oracleReward: number | undefined;
  /** Σ advantage over the tokens so far, so a streamed token costs O(1) here. */
  #advantageSum = 0;

  constructor(
    readonly spec: ColumnSpec,
    panel: DetailPanel,
    private beta: number,
    options: { readonly alpha?: number; readonly placeholder?: string } = {},
  ) {
    const alpha = spec.alpha ?? options.alpha;
    this.tokens = new TokenStream({ label: spec.label, panel, onCurrent: (position) => this.#chart.setCursor(position), alpha: () => alpha });
    this.#placeholder = html("p", { className: "placeholder", text: options.placeholder ?? "Waiting for the first tokens…", attributes: { "aria-live": "polite" } });
    this.#chart = new AdvantageChart({ label: spec.label, onPick: (position) => this.tokens.focus(position) });
    this.#status = html("span", { className: "status", text: "waiting", attributes: { "data-state": "waiting" } });
    this.#totals = html("dl", { className: "totals" });
    const headingId = `column-${spec.id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    this.element = html(
      "section",
      { className: "column", attributes: { "data-column": spec.id, "aria-labelledby": headingId } },
      html(
        "header",
        { className: "column-head" },
        html("h2", { text: spec.label, attributes: { id: headingId } }),
        // The method once: a heading that already says it ("aad") gets no second "aad".
        ...(spec.label.includes(spec.method) ? [] : [html("span", { className: "method", text: spec.method })]),
        this.#status,
        this.#totals,
      ),
      this.#placeholder,
      this.tokens.element,
      this.#chart.element,
    );
    this.#renderTotals();
  }

  get stats(): ResponseStats | undefined {
    return this.#stats;
  }

  get oracleReward(): number | undefined {
    return this.#oracleReward;
  }

  get entries(): readonly TraceEntry[] {
    return this.tokens.entries;
  }

  get finished(): boolean {
    return this.#stats !== undefined;
  }

  /** The text shown until the first token (the pair loading, the first tokens on their way). */
  setPlaceholder(text: string): void {
    this.#placeholder.textContent = text;
  }

  /** The view's scales and divergence point, shared by every column. */
  setFrame(frame: ChartFrame): void {
    this.tokens.rescale(frame.scale);
    this.tokens.markDivergence(frame.diverge);
    this.#chart.setFrame(frame);
  }

  append(entries: readonly TraceEntry[]): void {
    if (entries.length === 0) return;
    this.#placeholder.hidden = true;
    this.tokens.append(entries);
    for (const entry of entries) this.#advantageSum += entry.advantage ?? 0;
    this.#setStatus("streaming", "generating…");
    this.#chart.update(this.tokens.entries, this.beta);
    this.#renderTotals();
  }

  dispose(): void {
    this.#chart.dispose();
    this.element.remove();
  }

  finish(stats: ResponseStats, oracleReward: number | undefined): void {
    this.#stats = stats;
    this.#oracleReward = oracleReward;
    this.beta = stats.beta;
    this.#placeholder.hidden = true;
    this.#setStatus("done", "done");
    this.#chart.update(this.tokens.entries, this.beta);
    this.#renderTotals();
  }

  /** The run failed (the view's error note says why): an unfinished column stops saying it waits. */
  fail(): void {
    if (this.finished) return;
    this.#placeholder.hidden = true;
    this.#setStatus("failed", "failed");
  }

  #setStatus(state: string, text: string): void {
    if (this.#status.dataset.state === state) return;
    this.#status.dataset.state = state;
    this.#status.textContent = text;
  }

  #renderTotals(): void {
    const stats = this.#stats;
    const entries = this.tokens.entries;
    const running = this.beta * this.#advantageSum;
    const item = (field: string, label: string, value: string, title?: string): HTMLElement =>
      html(
        "div",
        {},
        html("dt", { text: label }),
        html("dd", { text: value, attributes: { "data-field": field, ...(title === undefined ? {} : { title }) } }),
      );
    const rows: HTMLElement[] = [
      item(
        "implicitReward",
        "implicit reward",
        formatReward(stats?.implicitReward ?? running),
        `β·Σ advantage, β = ${stats?.beta ?? this.beta}${stats === undefined ? " (so far)" : ""}`,
      ),
    ];
    if (this.#oracleReward !== undefined) rows.push(item("oracleReward", "oracle reward", formatReward(this.#oracleReward)));
    rows.push(item("tokens", "tokens", String(stats?.tokens ?? entries.length)));
    if (stats !== undefined) {
      rows.push(item("meanAdvantage", "mean advantage", formatAdvantage(stats.meanAdvantage)));
      rows.push(item("dpoArgmaxPicks", "DPO argmax picks", `${stats.dpoArgmaxPicks}/${stats.tokens}`));
      if (stats.sftStepsSkipped > 0) rows.push(item("sftStepsSkipped", "SFT skipped", String(stats.sftStepsSkipped)));
      if (stats.tokensPerSecond !== undefined) rows.push(item("tokensPerSecond", "tokens/s", stats.tokensPerSecond.toFixed(1)));
    }
    this.#totals.replaceChildren(...rows);
  }
}
