/**
 * The diverging colour scale of advantages. The hues live in CSS (theme variables); this decides
 * which side a token is on and how strongly, so that a theme change recolours without a re-render.
 */

/** Advantages beyond ±ADVANTAGE_CLAMP nats are drawn as strongly as ±ADVANTAGE_CLAMP. */
export const ADVANTAGE_CLAMP = 3;

/** Within ±NEUTRAL_BAND nats the two models agree as far as the eye should care. */
export const NEUTRAL_BAND = 0.05;

export type AdvantageSide = "dpo" | "sft" | "neutral" | "unknown";

export interface AdvantageShade {
  /** dpo: the DPO model preferred the token (advantage > 0); sft: the SFT model did. */
  readonly side: AdvantageSide;
  /** 0 (neutral) … 1 (at or beyond the clamp). */
  readonly strength: number;
}

/**
 * Most advantages are well under a nat, so strength grows as the square root of the clamped
 * magnitude: half a nat is already visible, and 3 nats still reads as more than 1. The legend's
 * gradient stops (advantage-view.css) follow the same curve.
 */
export function shadeOf(advantage: number | null): AdvantageShade {
  if (advantage === null) return { side: "unknown", strength: 0 };
  if (Math.abs(advantage) < NEUTRAL_BAND) return { side: "neutral", strength: 0 };
  return { side: advantage > 0 ? "dpo" : "sft", strength: Math.sqrt(Math.min(Math.abs(advantage), ADVANTAGE_CLAMP) / ADVANTAGE_CLAMP) };
}

/** An advantage limited to the clamp, for the chart's bars. */
export function clampAdvantage(advantage: number): number {
  return Math.max(-ADVANTAGE_CLAMP, Math.min(ADVANTAGE_CLAMP, advantage));
}
