/**
 * The view's controls: α (a slider, the paper's 0.1 marked), the method and the token limit, and
 * a Re-run button that asks the host to decode the run's prompt again with them. Shown only for a
 * run the host can repeat (a generation, not a scoring of existing text).
 */
import { html } from "./dom.ts";
import type { RerunMessage, RunInfo } from "./messages.ts";

/** The α of the AAD paper's experiments, marked on the slider. */
export const PAPER_ALPHA = 0.1;

export class RunControls {
  readonly element: HTMLElement;
  readonly #alpha: HTMLInputElement;
  readonly #alphaValue: HTMLOutputElement;
  readonly #method: HTMLSelectElement;
  readonly #maxTokens: HTMLInputElement;
  readonly #rerun: HTMLButtonElement;

  constructor(onRerun: (request: Omit<RerunMessage, "type">) => void) {
    this.#alpha = html("input", {
      className: "alpha",
      attributes: { type: "range", min: "0", max: "1", step: "0.01", value: String(PAPER_ALPHA), list: "aad-alpha-marks", "aria-label": "alpha, the candidate-set threshold" },
    });
    this.#alphaValue = html("output", { className: "alpha-value", text: PAPER_ALPHA.toFixed(2) });
    const marks = html("datalist", { attributes: { id: "aad-alpha-marks" } }, html("option", { attributes: { value: String(PAPER_ALPHA), label: "paper" } }));
    // The mark under the slider sits at the paper's α: a CSS variable, as the CSP forbids style attributes.
    const paperMark = html("span", { className: "paper-mark", text: `▲ ${PAPER_ALPHA} (paper)`, attributes: { title: "The α of the AAD paper's experiments" } });
    paperMark.style.setProperty("--at", String(PAPER_ALPHA));
    this.#method = html("select", { className: "method-select", attributes: { "aria-label": "decoding method" } });
    this.#maxTokens = html("input", { className: "max-tokens", attributes: { type: "number", min: "1", max: "4096", step: "1", value: "128", "aria-label": "max tokens" } });
    this.#rerun = html("button", { className: "rerun", text: "Re-run", attributes: { type: "button", title: "Decode the prompt again with these settings and show the answer against this one" } });
    this.#alpha.addEventListener("input", () => (this.#alphaValue.textContent = Number(this.#alpha.value).toFixed(2)));
    this.#rerun.addEventListener("click", () => {
      const maxTokens = Math.max(1, Math.min(4096, Math.round(Number(this.#maxTokens.value) || 128)));
      onRerun({ method: this.#method.value, alpha: Number(this.#alpha.value), maxTokens });
    });
    this.element = html(
      "div",
      { className: "controls", attributes: { role: "group", "aria-label": "Run again", hidden: "" } },
      html("label", { className: "control alpha-control" }, "α ", html("span", { className: "slider-wrap" }, this.#alpha, paperMark), this.#alphaValue, marks),
      html("label", { className: "control" }, "method ", this.#method),
      html("label", { className: "control" }, "max tokens ", this.#maxTokens),
      this.#rerun,
    );
  }

  /** Shows the controls set to `run`'s settings, or hides them for a run that cannot be repeated. */
  show(run: RunInfo | undefined): void {
    this.element.hidden = run?.rerun === undefined;
    if (run?.rerun === undefined) return;
    this.#alpha.value = String(run.alpha);
    this.#alphaValue.textContent = run.alpha.toFixed(2);
    const methods = run.rerun.methods.includes(run.method) ? run.rerun.methods : [run.method, ...run.rerun.methods];
    this.#method.replaceChildren(...methods.map((method) => html("option", { text: method, attributes: { value: method } })));
    this.#method.value = run.method;
    if (run.maxTokens !== undefined) this.#maxTokens.value = String(run.maxTokens);
  }

  /** While a run streams, Re-run waits. */
  setBusy(busy: boolean): void {
    this.#rerun.disabled = busy;
  }
}
