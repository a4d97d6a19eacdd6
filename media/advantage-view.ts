/**
 * The advantage view: the webview's program. It listens for the host's messages (see
 * messages.ts), renders each response's tokens coloured by advantage with a chart and totals,
 * and posts `ready` and `export` back. It runs the same in a VS Code webview and in a plain page.
 *
 * The stylesheet is imported so esbuild emits dist/media/advantage-view.css beside the script.
 */
import "./advantage-view.css";
import type { ChartFrame } from "./chart.ts";
import { runningReward } from "./chart.ts";
import { ResponseColumn } from "./column.ts";
import { RunControls } from "./controls.ts";
import { DetailPanel } from "./detail.ts";
import { html } from "./dom.ts";
import { connectHost, type Host } from "./host.ts";
import {
  DEFAULT_BETA,
  parseHostMessage,
  SINGLE_COLUMN,
  type ColumnSpec,
  type DecodingMode,
  type ExportedTrace,
  type HostMessage,
  type ResetMessage,
  type RunInfo,
  type TraceEntry,
} from "./messages.ts";
import { firstDivergence } from "./divergence.ts";
import { advantageScale, formatScale } from "./scale.ts";

/** The page's saved state (VS Code keeps it across a reload): the messages since the last reset. */
export interface SavedState {
  readonly messages: readonly HostMessage[];
}

class AdvantageView {
  readonly #host: Host;
  readonly #title = html("h1", { text: "Alignment-Aware Decoding" });
  readonly #method = html("span", { className: "method" });
  readonly #runInfo = html("div", { className: "run-info" });
  readonly #controls: RunControls;
  readonly #legend: Legend;
  readonly #alert = html("div", { className: "alert", attributes: { role: "alert", hidden: "" } });
  readonly #announce = html("span", { className: "announce", attributes: { "aria-live": "polite" } });
  readonly #columns = html("div", { className: "columns" });
  readonly #empty = html("p", { className: "placeholder empty", text: "Nothing to show yet: run AAD: Generate, Compare Decoders or Explain Selection." });
  readonly #panel: DetailPanel;
  /** Token text by id, learned from every picked token: names candidates in the detail panel. */
  readonly #pieces = new Map<number, string>();
  #reset: ResetMessage | undefined;
  #beta = DEFAULT_BETA;
  #byId = new Map<string, ResponseColumn>();
  #framePending = false;

  constructor(root: HTMLElement, host: Host) {
    this.#host = host;
    this.#panel = new DetailPanel({ pieceOf: (token) => this.#pieces.get(token), onPointerGone: () => this.#pointerGone() });
    this.#controls = new RunControls((request) => {
      this.#controls.setBusy(true);
      this.#host.post({ type: "rerun", ...request });
    });
    this.#legend = new Legend();
    const exportButton = html("button", { className: "export", text: "Copy trace JSON", attributes: { type: "button", title: "Copy the trace as JSON and send it to the editor" } });
    exportButton.addEventListener("click", () => void this.#export());
    root.replaceChildren(
      html(
        "header",
        { className: "view-head" },
        html("div", { className: "title-row" }, this.#title, this.#method, html("span", { className: "spacer" }), this.#announce, exportButton),
        this.#runInfo,
        this.#controls.element,
        this.#legend.element,
      ),
      this.#alert,
      this.#empty,
      this.#columns,
    );
    document.body.append(this.#panel.element);
    window.addEventListener("scroll", () => this.#panel.place(), { passive: true, capture: true });
    window.addEventListener("resize", () => this.#panel.place());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.#panel.hide({ force: true });
    });
  }

  receive(message: HostMessage): void {
    switch (message.type) {
      case "reset":
        this.#applyReset(message);
        return;
      case "tokens": {
        for (const entry of message.entries) this.#pieces.set(entry.token, entry.piece);
        this.#column(message.column).append(message.entries);
        this.#scheduleFrame();
        return;
      }
      case "done":
        this.#column(message.column).finish(message.stats, message.oracleReward);
        if ([...this.#byId.values()].every((column) => column.finished)) this.#controls.setBusy(false);
        this.#scheduleFrame();
        return;
      case "error":
        this.#alert.textContent = message.message;
        this.#alert.hidden = false;
        for (const column of this.#byId.values()) column.fail();
        this.#controls.setBusy(false);
        return;
      case "status":
        for (const column of this.#byId.values()) column.setPlaceholder(message.text);
        return;
    }
  }

  /** Streaming sends many small messages: the scales and the divergence point are recomputed once a frame. */
  #scheduleFrame(): void {
    if (this.#framePending) return;
    this.#framePending = true;
    requestAnimationFrame(() => {
      this.#framePending = false;
      this.#applyFrame();
    });
  }

  /**
   * One frame for every column: the colour scale (fixed, or the robust range of all answers on
   * show, so that compare colours alike), one reward range, and the first position where the
   * answers differ.
   */
  #applyFrame(): void {
    const columns = [...this.#byId.values()];
    const setting = this.#reset?.scale ?? "auto";
    const scale = advantageScale(
      columns.flatMap((column) => column.entries.map((entry) => entry.advantage)),
      setting,
    );
    let low = 0;
    let high = 0;
    for (const column of columns) {
      for (const reward of runningReward(column.entries, column.stats?.beta ?? this.#beta)) {
        low = Math.min(low, reward);
        high = Math.max(high, reward);
      }
    }
    const diverge = firstDivergence(columns);
    const frame: ChartFrame = { scale, ...(columns.length > 1 ? { rewardRange: { low, high } } : {}), ...(diverge === undefined ? {} : { diverge }) };
    for (const column of columns) column.setFrame(frame);
    this.#legend.setScale(scale, setting === "auto");
    document.body.dataset.scale = String(scale);
    if (diverge === undefined) delete document.body.dataset.diverge;
    else document.body.dataset.diverge = String(diverge);
  }

  #applyReset(message: ResetMessage): void {
    this.#reset = message;
    this.#beta = message.beta ?? DEFAULT_BETA;
    this.#panel.hide({ force: true });
    this.#alert.hidden = true;
    this.#alert.textContent = "";
    this.#title.textContent = message.title;
    this.#method.textContent = message.mode === "compare" ? "compare" : message.method;
    this.#showRun(message.run);
    this.#controls.show(message.run);
    this.#controls.setBusy(message.run?.rerun !== undefined);
    this.#empty.hidden = true;
    document.title = message.title;
    document.body.dataset.mode = message.mode;
    for (const column of this.#byId.values()) column.dispose();
    this.#byId = new Map();
    const specs = message.columns ?? [{ id: SINGLE_COLUMN, method: message.method, label: message.method }];
    for (const spec of message.mode === "single" ? specs.slice(0, 1) : specs) this.#addColumn(spec);
    this.#applyFrame();
  }

  /** The header's second line: the pair, method, α and prompt mode, and the prompt itself. */
  #showRun(run: RunInfo | undefined): void {
    if (run === undefined) {
      this.#runInfo.replaceChildren();
      this.#runInfo.hidden = true;
      return;
    }
    this.#runInfo.hidden = false;
    const fact = (field: string, label: string, value: string): HTMLElement =>
      html("span", { className: "fact", attributes: { "data-field": field } }, html("span", { className: "fact-label", text: `${label} ` }), html("span", { className: "fact-value", text: value }));
    this.#runInfo.replaceChildren(
      fact("pair", "pair", run.pair),
      fact("method", "method", run.method),
      fact("alpha", "α", String(run.alpha)),
      fact("promptMode", "prompt", run.promptMode === "raw" ? "raw text, continued" : "chat template"),
      html(
        "details",
        { className: "prompt" },
        html("summary", { text: "the prompt" }),
        html("pre", { className: "prompt-text", text: run.prompt }),
      ),
    );
  }

  #addColumn(spec: ColumnSpec): ResponseColumn {
    const placeholder = this.#reset?.placeholder;
    const alpha = this.#reset?.run?.alpha;
    const column = new ResponseColumn(spec, this.#panel, this.#beta, { ...(placeholder === undefined ? {} : { placeholder }), ...(alpha === undefined ? {} : { alpha }) });
    this.#byId.set(spec.id, column);
    this.#columns.append(column.element);
    return column;
  }

  /** The column a message names; the first when it names none; a new one for an id not yet seen. */
  #column(id: string | undefined): ResponseColumn {
    if (this.#reset === undefined) this.#applyReset({ type: "reset", title: "Alignment-Aware Decoding", method: "aad", mode: "single" });
    const known = id === undefined ? this.#byId.values().next().value : this.#byId.get(id);
    if (known !== undefined) return known;
    return this.#addColumn({ id: id ?? SINGLE_COLUMN, method: id ?? "", label: id ?? "response" });
  }

  #pointerGone(): void {
    for (const column of this.#byId.values()) if (column.tokens.showFocused()) return;
    this.#panel.hide();
  }

  exportTrace(): ExportedTrace {
    const reset = this.#reset;
    const mode: DecodingMode = reset?.mode ?? "single";
    return {
      version: 1,
      title: reset?.title ?? "",
      method: reset?.method ?? "",
      mode,
      beta: this.#beta,
      ...(reset?.run === undefined ? {} : { run: reset.run }),
      columns: [...this.#byId.values()].map((column) => ({
        ...column.spec,
        entries: column.entries as TraceEntry[],
        stats: column.stats ?? null,
        oracleReward: column.oracleReward ?? null,
      })),
    };
  }

  async #export(): Promise<void> {
    const json = JSON.stringify(this.exportTrace(), null, 2);
    this.#host.post({ type: "export", json });
    let copied = false;
    try {
      // A webview may not grant clipboard access; the host got the JSON either way.
      // Absent outside a secure context, whatever the DOM typings say.
      const clipboard = navigator.clipboard as Clipboard | undefined;
      if (clipboard !== undefined) {
        await clipboard.writeText(json);
        copied = true;
      }
    } catch {
      copied = false;
    }
    this.#announce.textContent = copied ? "Trace copied as JSON" : "Trace sent to the editor";
  }
}

/** The legend: the colour scale with its unit and current end, and what the marks on tokens mean. */
class Legend {
  readonly element: HTMLElement;
  readonly #low = html("span", { text: "−3" });
  readonly #high = html("span", { text: "+3" });
  readonly #bar: HTMLElement;
  readonly #mode = html("span", { className: "legend-mode" });

  constructor() {
    const sample = (className: string, text: string): HTMLElement => {
      const span = html("span", { className: `tok sample ${className}`, text, attributes: { "aria-hidden": "true" } });
      span.style.setProperty("--strength", "0");
      return span;
    };
    this.#bar = html("span", { className: "legend-bar", attributes: { role: "img" } });
    const ticks = html("span", { className: "legend-ticks", attributes: { "aria-hidden": "true" } }, this.#low, html("span", { text: "0" }), this.#high);
    const chip = html("span", { className: "tok sample special", attributes: { "aria-hidden": "true" } }, html("span", { className: "chip", attributes: { "data-name": "</s>" } }));
    this.element = html(
      "div",
      { className: "legend", attributes: { role: "note", "aria-label": "Legend" } },
      html(
        "span",
        { className: "legend-scale" },
        html("span", { className: "legend-end legend-sft", text: "SFT preferred" }),
        html("span", { className: "legend-bar-wrap" }, this.#bar, ticks),
        html("span", { className: "legend-end legend-dpo", text: "DPO preferred" }),
      ),
      html("span", { className: "legend-unit" }, "advantage = log p_dpo − log p_sft, in nats ", this.#mode),
      html("span", { className: "legend-item" }, sample("single side-neutral", "tok"), " single candidate"),
      html("span", { className: "legend-item" }, sample("side-unknown", "tok"), " advantage unknown"),
      html("span", { className: "legend-item" }, chip, " special token (adds no text)"),
      html("span", { className: "legend-item" }, sample("group side-neutral", "🎉"), " one character over several tokens: coloured by the sum of their advantages"),
      html(
        "span",
        { className: "legend-item legend-ws" },
        html("span", { className: "legend-glyph", text: "·" }),
        "space  ",
        html("span", { className: "legend-glyph", text: "→" }),
        "tab  ",
        html("span", { className: "legend-glyph", text: "⏎" }),
        "newline  ",
        html("span", { className: "legend-glyph", text: "∅" }),
        "a token that adds no text",
      ),
    );
    this.setScale(3, false);
  }

  setScale(scale: number, adaptive: boolean): void {
    const end = formatScale(scale);
    this.#low.textContent = `−${end}`;
    this.#high.textContent = `+${end}`;
    this.#mode.textContent = adaptive ? `(scale ±${end}: this answer's range)` : `(scale fixed at ±${end})`;
    this.#bar.setAttribute(
      "aria-label",
      `advantage log p_dpo − log p_sft from −${end} (SFT preferred) through 0 to +${end} nats (DPO preferred); larger advantages are drawn as ±${end}`,
    );
  }
}

function start(): void {
  const root = document.getElementById("aad-root") ?? document.body.appendChild(html("main", { attributes: { id: "aad-root" } }));
  const host = connectHost();
  const view = new AdvantageView(root, host);
  // What VS Code keeps for the panel across a reload: the messages since the last reset, saved
  // at most once a frame (a long answer arrives in hundreds of messages).
  let saved: HostMessage[] = [];
  let saving = false;
  window.addEventListener("message", (event: MessageEvent<unknown>) => {
    const message = parseHostMessage(event.data);
    if (message === undefined) {
      console.warn("advantage view: ignoring a malformed message");
      return;
    }
    view.receive(message);
    if (message.type === "reset") saved = [];
    saved.push(message);
    if (saving) return;
    saving = true;
    requestAnimationFrame(() => {
      saving = false;
      host.save({ messages: saved } satisfies SavedState);
    });
  });
  host.post({ type: "ready" });
}

start();
