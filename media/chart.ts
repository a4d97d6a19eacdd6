/**
 * The per-position chart of one response: a bar per token for its advantage (clamped to the
 * colour scale's end) and the running implicit reward β·Σ advantage as a line. Drawn in device
 * pixels at the container's width, so it stays crisp; colours come from the stylesheet. Each
 * position has a hover tooltip (an SVG <title>) with the token, its advantage and the reward so
 * far. In compare mode every column's chart gets the same reward range, so the lines compare.
 */
import { svg, html } from "./dom.ts";
import { describeToken, formatAdvantage, formatReward } from "./format.ts";
import type { TraceEntry } from "./messages.ts";
import { ADVANTAGE_CLAMP, clampAdvantage, formatScale } from "./scale.ts";

/** What the view decides for every chart: the scales, and where the answers start to differ. */
export interface ChartFrame {
  /** The advantage panel's end, nats (the colour scale's). */
  readonly scale: number;
  /** The reward panel's range; absent: the chart's own. */
  readonly rewardRange?: { readonly low: number; readonly high: number };
  /** The first position where the answers differ. */
  readonly diverge?: number;
}

export interface AdvantageChartOptions {
  readonly label: string;
  /** A click on the chart picks the token at that position. */
  readonly onPick: (position: number) => void;
}

/** Two panels sharing the x axis: advantage bars above, the running implicit reward below. */
const MARGIN = { left: 46, right: 52, top: 16, bottom: 6 } as const;
const BARS_HEIGHT = 84;
/** Room between the panels for the reward panel's title. */
const GAP = 26;
const REWARD_HEIGHT = 56;
const HEIGHT = MARGIN.top + BARS_HEIGHT + GAP + REWARD_HEIGHT + MARGIN.bottom;

/** The running implicit reward after each token; an unknown advantage adds nothing. */
export function runningReward(entries: readonly TraceEntry[], beta: number): number[] {
  let sum = 0;
  return entries.map((entry) => (sum += entry.advantage === null ? 0 : entry.advantage) * beta);
}

export class AdvantageChart {
  readonly element: HTMLElement;
  readonly #svg: SVGSVGElement;
  #entries: readonly TraceEntry[] = [];
  #beta = 0.1;
  #frame: ChartFrame = { scale: ADVANTAGE_CLAMP };
  #cursor: number | undefined;
  #pending: number | undefined;
  #width = 0;
  readonly #resizes: ResizeObserver;

  constructor(private readonly options: AdvantageChartOptions) {
    this.#svg = svg("svg", {
      className: "chart-svg",
      attributes: { role: "img", "aria-label": `${options.label}: advantage per token and running implicit reward` },
    });
    this.element = html("figure", { className: "chart" }, this.#svg);
    this.#svg.addEventListener("click", (event) => this.#onClick(event));
    this.#resizes = new ResizeObserver(() => this.#schedule());
    this.#resizes.observe(this.element);
  }

  dispose(): void {
    this.#resizes.disconnect();
    if (this.#pending !== undefined) cancelAnimationFrame(this.#pending);
    this.#pending = undefined;
  }

  update(entries: readonly TraceEntry[], beta: number): void {
    this.#entries = entries;
    this.#beta = beta;
    this.#schedule();
  }

  setFrame(frame: ChartFrame): void {
    const before = this.#frame;
    this.#frame = frame;
    if (
      before.scale !== frame.scale ||
      before.diverge !== frame.diverge ||
      before.rewardRange?.low !== frame.rewardRange?.low ||
      before.rewardRange?.high !== frame.rewardRange?.high
    ) {
      this.#schedule();
    }
  }

  setCursor(position: number | undefined): void {
    this.#cursor = position;
    this.#schedule();
  }

  /** Streaming sends many small updates; draw at most once a frame. */
  #schedule(): void {
    if (this.#pending !== undefined) return;
    this.#pending = requestAnimationFrame(() => {
      this.#pending = undefined;
      this.#draw();
    });
  }

  #geometry(): { width: number; step: number; plotRight: number } {
    const width = Math.max(160, Math.floor(this.element.clientWidth));
    const plotRight = width - MARGIN.right;
    return { width, plotRight, step: (plotRight - MARGIN.left) / Math.max(1, this.#entries.length) };
  }

  #draw(): void {
    const entries = this.#entries;
    const { width, step, plotRight } = this.#geometry();
    this.#width = width;
    const left = MARGIN.left;
    const barWidth = Math.max(1, Math.floor(step * 0.75));
    const xOf = (i: number): number => Math.round(left + i * step);

    // Advantage panel: zero in the middle, ±scale at the edges.
    const scale = this.#frame.scale;
    const barsTop = MARGIN.top;
    const barsBottom = barsTop + BARS_HEIGHT;
    const zero = Math.round((barsTop + barsBottom) / 2);
    const yAdvantage = (a: number): number => Math.round(zero - (clampAdvantage(a, scale) / scale) * (BARS_HEIGHT / 2));
    let dpoBars = "";
    let sftBars = "";
    let unknownMarks = "";
    let clipMarks = "";
    entries.forEach((entry, i) => {
      const x = xOf(i);
      if (entry.advantage === null) {
        unknownMarks += `M${x},${zero - 2}h${barWidth}v4h${-barWidth}z`;
        return;
      }
      const end = yAdvantage(entry.advantage);
      const rect = end <= zero ? `M${x},${end}h${barWidth}V${zero}h${-barWidth}z` : `M${x},${zero + 1}h${barWidth}V${end}h${-barWidth}z`;
      if (entry.advantage >= 0) dpoBars += rect;
      else sftBars += rect;
      if (Math.abs(entry.advantage) > scale) clipMarks += `M${x},${end <= zero ? end : end - 2}h${barWidth}v2h${-barWidth}z`;
    });

    // Reward panel: the view's shared range in compare mode, else its own; always including 0.
    const rewardTop = barsBottom + GAP;
    const rewardBottom = rewardTop + REWARD_HEIGHT;
    const rewards = runningReward(entries, this.#beta);
    const shared = this.#frame.rewardRange;
    const low = Math.min(shared?.low ?? 0, rewards.reduce((min, r) => Math.min(min, r), 0));
    const high = Math.max(shared?.high ?? 0, rewards.reduce((max, r) => Math.max(max, r), 0));
    const range = high - low || 1;
    const yReward = (r: number): number => rewardBottom - ((r - low) / range) * REWARD_HEIGHT;
    let line = `M${left},${yReward(0).toFixed(1)}`;
    rewards.forEach((reward, i) => (line += `L${(xOf(i) + barWidth).toFixed(1)},${yReward(reward).toFixed(1)}`));

    const path = (className: string, d: string): SVGPathElement => svg("path", { className, attributes: { d } });
    const label = (className: string, x: number, y: number, text: string, anchor: "start" | "end"): SVGTextElement =>
      svg("text", { className, text, attributes: { x: String(x), y: y.toFixed(1), "text-anchor": anchor, "dominant-baseline": "middle" } });
    const hline = (y: number): string => `M${left},${Math.round(y) + 0.5}H${plotRight}`;

    const title = (y: number, text: string): SVGTextElement =>
      svg("text", { className: "panel-title", text, attributes: { x: String(left), y: String(y - 5) } });

    const children: SVGElement[] = [
      title(barsTop, `advantage log p_dpo − log p_sft, nats (scale ±${formatScale(scale)})`),
      title(rewardTop, `implicit reward, β = ${this.#beta}`),
      path("grid", hline(barsTop) + hline(barsBottom)),
      path("axis", hline(zero)),
      path("bars bars-dpo", dpoBars),
      path("bars bars-sft", sftBars),
      path("bars bars-unknown", unknownMarks),
      path("bars bars-clipped", clipMarks),
      label("tick", left - 5, barsTop + 4, `+${formatScale(scale)}`, "end"),
      label("tick", left - 5, zero, "0", "end"),
      label("tick", left - 5, barsBottom - 4, `−${formatScale(scale)}`, "end"),
      path("grid", hline(rewardTop) + hline(rewardBottom)),
      path("axis", hline(yReward(0))),
    ];
    if (entries.length > 0) {
      children.push(label("tick", left - 5, rewardTop + 4, formatReward(high), "end"));
      children.push(label("tick", left - 5, rewardBottom - 4, formatReward(low), "end"));
      const last = rewards[rewards.length - 1]!;
      const endX = xOf(entries.length - 1) + barWidth;
      children.push(path("reward-line", line));
      children.push(svg("circle", { className: "reward-end", attributes: { cx: endX.toFixed(1), cy: yReward(last).toFixed(1), r: "2.5" } }));
      const labelY = Math.min(rewardBottom - 5, Math.max(rewardTop + 5, yReward(last)));
      children.push(label("tick reward-last", endX + 6, labelY, formatReward(last), "start"));
    }
    const diverge = this.#frame.diverge;
    if (diverge !== undefined && diverge < Math.max(entries.length, 1)) {
      const x = xOf(diverge) + 0.5;
      children.push(path("diverge", `M${x},${barsTop - 4}V${rewardBottom}`));
      children.push(svg("text", { className: "diverge-label", text: "differs from here", attributes: { x: String(x + 3), y: String(barsTop + 9) } }));
    }
    // One invisible column per position, its tooltip the token and its numbers.
    const hits = svg("g", { className: "hits" });
    entries.forEach((entry, i) => {
      const hit = svg("rect", {
        className: "hit",
        attributes: { x: String(xOf(i)), y: String(barsTop), width: String(Math.max(1, Math.ceil(step))), height: String(rewardBottom - barsTop), "data-position": String(i) },
      });
      hit.append(
        svg("title", {
          text: `token ${i + 1}: ${describeToken(entry)}\nadvantage ${formatAdvantage(entry.advantage)} nats\nimplicit reward so far ${formatReward(rewards[i] ?? 0)}`,
        }),
      );
      hits.append(hit);
    });
    children.push(hits);
    if (this.#cursor !== undefined && this.#cursor < entries.length) {
      const x = xOf(this.#cursor) + Math.floor(barWidth / 2) + 0.5;
      children.push(path("cursor", `M${x},${barsTop}V${rewardBottom}`));
    }

    this.#svg.setAttribute("width", String(width));
    this.#svg.setAttribute("height", String(HEIGHT));
    this.#svg.setAttribute("viewBox", `0 0 ${width} ${HEIGHT}`);
    this.#svg.setAttribute(
      "aria-label",
      `${this.options.label}: advantage of ${entries.length} tokens; implicit reward ${formatReward(rewards[rewards.length - 1] ?? 0)}`,
    );
    this.#svg.replaceChildren(...children);
  }

  #onClick(event: MouseEvent): void {
    if (this.#entries.length === 0) return;
    const box = this.#svg.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * this.#width;
    const { step } = this.#geometry();
    const position = Math.floor((x - MARGIN.left) / step);
    if (position >= 0 && position < this.#entries.length) this.options.onPick(position);
  }
}
