/** Small statistics for the forge's criteria and the benchmarks: means with 95 % intervals. */
import { createRng } from "../decoding/rng.ts";

export interface Interval {
  readonly n: number;
  readonly mean: number;
  /** The 2.5th and 97.5th percentiles. */
  readonly low: number;
  readonly high: number;
}

/**
 * The mean of a[i] − b[i] with a paired bootstrap 95 % interval (prompts resampled with
 * replacement, seeded, so the same inputs give the same interval).
 */
export function pairedBootstrap(a: readonly number[], b: readonly number[], resamples = 2000, seed = "paired-bootstrap"): Interval {
  if (a.length !== b.length) throw new RangeError(`paired samples differ in length: ${a.length} and ${b.length}`);
  const diff = a.map((x, i) => x - b[i]!);
  const n = diff.length;
  const mean = diff.reduce((s, x) => s + x, 0) / Math.max(1, n);
  if (n === 0) return { n, mean: Number.NaN, low: Number.NaN, high: Number.NaN };
  const rng = createRng(seed);
  const means: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += diff[rng.int(n)]!;
    means.push(s / n);
  }
  means.sort((x, y) => x - y);
  return { n, mean, low: means[Math.floor(0.025 * (resamples - 1))]!, high: means[Math.ceil(0.975 * (resamples - 1))]! };
}
