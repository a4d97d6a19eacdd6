/**
 * The diverging colour scale of advantages. The hues live in CSS (theme variables); this decides
 * which side a token is on and how strongly, so that a theme change recolours without a re-render.
 *
 * The scale's end S (nats) adapts to the answer by default: a robust maximum of its |advantage|
 * (the 95th percentile, rounded up to 1, 2 or 5 × 10^k), so that a pair whose advantages are all
 * under 0.1 nats is as readable as one whose advantages reach 3. A setting can fix it at ±N.
 */

/** The fixed scale of earlier versions, and the default for `aad.view.advantageScale` when a number is wanted. */
export const ADVANTAGE_CLAMP = 3;

/** Below this fraction of the scale the two models agree as far as the eye should care. */
export const NEUTRAL_FRACTION = 0.02;

/** "auto": adapt to the answer; a number: fixed at ±that many nats. */
export type ScaleSetting = "auto" | number;

/** The smallest adaptive scale: below it the models agree everywhere. */
const MIN_SCALE = 0.01;
/** Advantages this large come from a clamped log-prob (−1000): a bound, not a value. */
const CLAMPED = 500;
/** The share of tokens allowed beyond the adaptive scale (drawn at full strength). */
const OUTLIERS = 0.05;

export type AdvantageSide = "dpo" | "sft" | "neutral" | "unknown";

export interface AdvantageShade {
  /** dpo: the DPO model preferred the token (advantage > 0); sft: the SFT model did. */
  readonly side: AdvantageSide;
  /** 0 (neutral) … 1 (at or beyond the scale's end). */
  readonly strength: number;
}

/** The smallest of 1, 2, 5 × 10^k at or above `value`. */
export function niceCeil(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value * (1 - 1e-9)) return Number((step * power).toPrecision(12));
  return 10 * power;
}

/** The scale for these advantages: the setting's number, or their robust maximum. */
export function advantageScale(advantages: Iterable<number | null>, setting: ScaleSetting = "auto"): number {
  if (setting !== "auto") return setting;
  const magnitudes: number[] = [];
  for (const advantage of advantages) if (advantage !== null && Math.abs(advantage) < CLAMPED) magnitudes.push(Math.abs(advantage));
  if (magnitudes.length === 0) return 1;
  magnitudes.sort((a, b) => a - b);
  const robust = magnitudes[Math.min(magnitudes.length - 1, Math.floor(magnitudes.length * (1 - OUTLIERS)))]!;
  return niceCeil(Math.max(MIN_SCALE, robust));
}

/**
 * Strength grows as the square root of the magnitude over the scale: a fifth of the scale is
 * already visible, and the scale's end still reads as more than a third of it. The legend's
 * gradient stops (advantage-view.css) follow the same curve.
 */
export function shadeOf(advantage: number | null, scale: number = ADVANTAGE_CLAMP): AdvantageShade {
  if (advantage === null) return { side: "unknown", strength: 0 };
  if (Math.abs(advantage) < scale * NEUTRAL_FRACTION) return { side: "neutral", strength: 0 };
  return { side: advantage > 0 ? "dpo" : "sft", strength: Math.sqrt(Math.min(Math.abs(advantage), scale) / scale) };
}

/** An advantage limited to ±scale, for the chart's bars. */
export function clampAdvantage(advantage: number, scale: number = ADVANTAGE_CLAMP): number {
  return Math.max(-scale, Math.min(scale, advantage));
}

/** A scale's end as the legend writes it: "0.1", "2", "0.05". */
export function formatScale(scale: number): string {
  return String(Number(scale.toPrecision(3)));
}
