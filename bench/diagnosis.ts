/**
 * Diagnosis helpers of the quality bench: which oracle features each method's responses have, and
 * where (and with what effect) one greedy decoder's text departs from another's on the same
 * prompts — read from the per-token traces `generate()` returns.
 */
import type { OracleFeature } from "../server/src/forge/world.ts";
import type { StopReason } from "../server/src/runtime/index.ts";
import type { TraceEntry } from "../server/src/decoding/index.ts";

/** The oracle's features, in the order the tables show them. */
export const FEATURES = [
  "api",
  "wrongApi",
  "example",
  "caveat",
  "filler",
  "repetition",
  "unfinished",
  "tooShort",
  "tooLong",
] as const satisfies readonly OracleFeature[];

/** One scored response, with the parts of its trace the diagnosis reads. */
export interface ScoredRun {
  readonly prompt: string;
  readonly text: string;
  readonly reward: number;
  readonly features: Readonly<Record<OracleFeature, number>>;
  readonly implicitReward: number;
  readonly stoppedBy: StopReason;
  readonly trace: readonly TraceEntry[];
}

export interface FeatureSummary {
  /** Share of responses (0..1) whose feature contribution is non-zero. */
  readonly rate: Readonly<Record<OracleFeature, number>>;
  /** Mean contribution of the feature to the oracle reward. */
  readonly mean: Readonly<Record<OracleFeature, number>>;
}

export function summarizeFeatures(runs: readonly ScoredRun[]): FeatureSummary {
  const n = Math.max(1, runs.length);
  const rate = {} as Record<OracleFeature, number>;
  const mean = {} as Record<OracleFeature, number>;
  for (const feature of FEATURES) {
    rate[feature] = runs.filter((r) => r.features[feature] !== 0).length / n;
    mean[feature] = runs.reduce((s, r) => s + r.features[feature], 0) / n;
  }
  return { rate, mean };
}

export interface TokenPairCount {
  /** The base decoder's token at the first divergence, as text. */
  readonly from: string;
  /** The other decoder's token there. */
  readonly to: string;
  readonly count: number;
}

export interface DivergenceExample {
  readonly prompt: string;
  readonly base: string;
  readonly other: string;
  readonly baseReward: number;
  readonly otherReward: number;
}

export interface DivergenceReport {
  readonly prompts: number;
  /** Prompts where the response texts differ. */
  readonly textDiffers: number;
  readonly shareTextDiffers: number;
  /** Prompts where the token sequences differ (the first divergence is read from these). */
  readonly tokensDiffer: number;
  /** 1-based position of the first differing response token; null when none differs. */
  readonly firstDivergence: { readonly mean: number; readonly median: number; readonly min: number; readonly max: number } | null;
  /** At the first divergence, read from the other decoder's trace entry (its prefix equals the base's). */
  readonly atDivergence: {
    /** Mean DPO rank of the other decoder's token (1 = the DPO argmax). */
    readonly meanDpoRank: number | null;
    /** Mean log p_dpo(DPO argmax) − log p_dpo(chosen token): how much less likely under DPO the pick was. */
    readonly meanDpoLogprobGap: number | null;
    /** Mean advantage(chosen) − advantage(DPO argmax), in nats. */
    readonly meanAdvantageGain: number | null;
    readonly meanCandidateSetSize: number | null;
  };
  /** The most frequent (base token → other token) pairs at the first divergence. */
  readonly topPairs: readonly TokenPairCount[];
  /** Mean (other − base) of each feature's contribution and of the total, over the prompts whose texts differ. */
  readonly featureDiff: Readonly<Record<OracleFeature | "total", number>> | null;
  /** Mean (other − base) of each feature's non-zero indicator, over the same prompts (a rate difference). */
  readonly featureRateDiff: Readonly<Record<OracleFeature, number>> | null;
  /** A few prompts where the texts differ, in prompt order. */
  readonly examples: readonly DivergenceExample[];
}

/** How a trace entry's token reads in a table: JSON-quoted, the end of sequence as ⟨eos⟩. */
function tokenText(run: ScoredRun, index: number): string {
  const entry = run.trace[index];
  if (entry === undefined) return "⟨end⟩";
  if (index === run.trace.length - 1 && run.stoppedBy === "eos") return "⟨eos⟩";
  return JSON.stringify(entry.piece);
}

const meanOf = (xs: readonly number[]): number | null => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Where `other` departs from `base`, prompt by prompt (`base[i]` and `other[i]` answer the same
 * prompt). Both must be deterministic per-step decoders for "first divergence" to mean that the
 * two shared the prefix up to it.
 */
export function diagnoseDivergence(base: readonly ScoredRun[], other: readonly ScoredRun[], topN = 10, exampleCount = 3): DivergenceReport {
  if (base.length !== other.length) throw new RangeError(`runs differ in length: ${base.length} and ${other.length}`);
  const positions: number[] = [];
  const ranks: number[] = [];
  const gaps: number[] = [];
  const gains: number[] = [];
  const setSizes: number[] = [];
  const pairs = new Map<string, TokenPairCount>();
  const differing: number[] = [];
  for (let i = 0; i < base.length; i++) {
    const a = base[i]!;
    const b = other[i]!;
    if (a.prompt !== b.prompt) throw new RangeError(`runs ${i} answer different prompts`);
    if (a.text !== b.text) differing.push(i);
    const limit = Math.max(a.trace.length, b.trace.length);
    let at = -1;
    for (let t = 0; t < limit; t++) {
      if (a.trace[t]?.token !== b.trace[t]?.token) {
        at = t;
        break;
      }
    }
    if (at < 0) continue;
    positions.push(at + 1);
    const from = tokenText(a, at);
    const to = tokenText(b, at);
    const key = `${from}\u0000${to}`;
    pairs.set(key, { from, to, count: (pairs.get(key)?.count ?? 0) + 1 });
    const entry = b.trace[at];
    if (entry === undefined) continue;
    if (entry.dpoRank !== null) ranks.push(entry.dpoRank);
    setSizes.push(entry.candidateSetSize);
    const argmax = entry.top[0];
    if (argmax !== undefined && entry.logprobDpo !== null) gaps.push(argmax.logprobDpo - entry.logprobDpo);
    if (argmax !== undefined && argmax.advantage !== null && entry.advantage !== null) gains.push(entry.advantage - argmax.advantage);
  }
  const featureDiff = (() => {
    if (differing.length === 0) return null;
    const diff = {} as Record<OracleFeature | "total", number>;
    for (const feature of FEATURES) diff[feature] = differing.reduce((s, i) => s + other[i]!.features[feature] - base[i]!.features[feature], 0) / differing.length;
    diff.total = differing.reduce((s, i) => s + other[i]!.reward - base[i]!.reward, 0) / differing.length;
    return diff;
  })();
  const featureRateDiff = (() => {
    if (differing.length === 0) return null;
    const diff = {} as Record<OracleFeature, number>;
    const on = (run: ScoredRun, feature: OracleFeature) => (run.features[feature] !== 0 ? 1 : 0);
    for (const feature of FEATURES) diff[feature] = differing.reduce((s, i) => s + on(other[i]!, feature) - on(base[i]!, feature), 0) / differing.length;
    return diff;
  })();
  return {
    prompts: base.length,
    textDiffers: differing.length,
    shareTextDiffers: differing.length / Math.max(1, base.length),
    tokensDiffer: positions.length,
    firstDivergence:
      positions.length === 0 ? null : { mean: meanOf(positions)!, median: median(positions), min: Math.min(...positions), max: Math.max(...positions) },
    atDivergence: { meanDpoRank: meanOf(ranks), meanDpoLogprobGap: meanOf(gaps), meanAdvantageGain: meanOf(gains), meanCandidateSetSize: meanOf(setSizes) },
    topPairs: [...pairs.values()].sort((x, y) => y.count - x.count || x.from.localeCompare(y.from) || x.to.localeCompare(y.to)).slice(0, topN),
    featureDiff,
    featureRateDiff,
    examples: differing.slice(0, exampleCount).map((i) => ({
      prompt: base[i]!.prompt,
      base: base[i]!.text,
      other: other[i]!.text,
      baseReward: base[i]!.reward,
      otherReward: other[i]!.reward,
    })),
  };
}
