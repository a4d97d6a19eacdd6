/**
 * The advantage view: the webview's program. It listens for the host's messages (see
 * messages.ts), renders each response's tokens coloured by advantage with a chart and totals,
 * and posts `ready` and `export` back. It runs the same in a VS Code webview and in a plain page.
 *
 * The stylesheet is imported so esbuild emits dist/media/advantage-view.css beside the script.
 */
import "./advantage-view.css";
import { ResponseColumn } from "./column.ts";
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
  type TraceEntry,
} from "./messages.ts";
import { ADVANTAGE_CLAMP } from "./scale.ts";

class AdvantageView {
  readonly #host: Host;
  readonly #title = html("h1", { text: "Alignment-Aware Decoding" });
  readonly #method = html("span", { className: "method" });
  readonly #alert = html("div", { className: "alert", attributes: { role: "alert", hidden: "" } });
  readonly #announce = html("span", { className: "announce", attributes: { "aria-live": "polite" } });
  readonly #columns = html("div", { className: "columns" });
  readonly #panel: DetailPanel;
  /** Token text by id, learned from every picked token: names candidates in the detail panel. */
  readonly #pieces = new Map<number, string>();
  #reset: ResetMessage | undefined;
  #beta = DEFAULT_BETA;
  #byId = new Map<string, ResponseColumn>();

  constructor(root: HTMLElement, host: Host) {
    this.#host = host;
    this.#panel = new DetailPanel({ pieceOf: (token) => this.#pieces.get(token), onPointerGone: () => this.#pointerGone() });
    const exportButton = html("button", { className: "export", text: "Copy trace JSON", attributes: { type: "button", title: "Copy the trace as JSON and send it to the editor" } });
    exportButton.addEventListener("click", () => void this.#export());
    root.replaceChildren(
      html(
        "header",
        { className: "view-head" },
        html("div", { className: "title-row" }, this.#title, this.#method, html("span", { className: "spacer" }), this.#announce, exportButton),
        legend(),
      ),
      this.#alert,
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
        return;
      }
      case "done":
        this.#column(message.column).finish(message.stats, message.oracleReward);
        return;
      case "error":
        this.#alert.textContent = message.message;
        this.#alert.hidden = false;
        return;
    }
  }

  #applyReset(message: ResetMessage): void {
    this.#reset = message;
    this.#beta = message.beta ?? DEFAULT_BETA;
    this.#panel.hide({ force: true });
    this.#alert.hidden = true;
    this.#alert.textContent = "";
    this.#title.textContent = message.title;
    this.#method.textContent = message.mode === "compare" ? "compare" : message.method;
    document.title = message.title;
    document.body.dataset.mode = message.mode;
    for (const column of this.#byId.values()) column.dispose();
    this.#byId = new Map();
    const specs = message.columns ?? [{ id: SINGLE_COLUMN, method: message.method, label: message.method }];
    for (const spec of message.mode === "single" ? specs.slice(0, 1) : specs) this.#addColumn(spec);
  }

  #addColumn(spec: ColumnSpec): ResponseColumn {
    const column = new ResponseColumn(spec, this.#panel, this.#beta);
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

function legend(): HTMLElement {
  const sample = (className: string, text: string): HTMLElement => {
    const span = html("span", { className: `tok sample ${className}`, text, attributes: { "aria-hidden": "true" } });
    span.style.setProperty("--strength", "0");
    return span;
  };
  const ticks = html(
    "span",
    { className: "legend-ticks", attributes: { "aria-hidden": "true" } },
    html("span", { text: `−${ADVANTAGE_CLAMP}` }),
    html("span", { text: "0" }),
    html("span", { text: `+${ADVANTAGE_CLAMP}` }),
  );
  return html(
    "div",
    { className: "legend", attributes: { role: "note", "aria-label": "Legend" } },
    html(
      "span",
      { className: "legend-scale" },
      html("span", { className: "legend-end legend-sft", text: "SFT preferred" }),
      html(
        "span",
        { className: "legend-bar-wrap" },
        html("span", {
          className: "legend-bar",
          attributes: {
            role: "img",
            "aria-label": `advantage log p_dpo − log p_sft from −${ADVANTAGE_CLAMP} (SFT preferred) through 0 to +${ADVANTAGE_CLAMP} nats (DPO preferred), clamped`,
          },
        }),
        ticks,
      ),
      html("span", { className: "legend-end legend-dpo", text: "DPO preferred" }),
    ),
    html("span", { className: "legend-item" }, sample("single side-neutral", "tok"), " single candidate"),
    html("span", { className: "legend-item" }, sample("side-unknown", "tok"), " advantage unknown"),
    html(
      "span",
      { className: "legend-item legend-ws" },
      html("span", { className: "legend-glyph", text: "·" }),
      "space  ",
      html("span", { className: "legend-glyph", text: "→" }),
      "tab  ",
      html("span", { className: "legend-glyph", text: "⏎" }),
      "newline",
    ),
  );
}

function start(): void {
  const root = document.getElementById("aad-root") ?? document.body.appendChild(html("main", { attributes: { id: "aad-root" } }));
  const host = connectHost();
  const view = new AdvantageView(root, host);
  window.addEventListener("message", (event: MessageEvent<unknown>) => {
    const message = parseHostMessage(event.data);
    if (message === undefined) {
      console.warn("advantage view: ignoring a malformed message");
      return;
    }
    view.receive(message);
  });
  host.post({ type: "ready" });
}

start();
