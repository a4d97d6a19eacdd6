/**
 * The paper's main table in miniature on the built-in pair: mean oracle reward (95 % interval)
 * of greedy SFT, greedy DPO, best-of-2, EFT, AAD, and contrastive decoding with a mismatched
 * reference (the early SFT checkpoint), over held-out prompts of the toy world and over the same
 * questions in phrasings never used in training; paired bootstrap intervals of the key
 * differences; which oracle features each method gains or loses; where AAD departs from greedy
 * DPO; plus sweeps of AAD's alpha and EFT's lambda. Whatever comes out is reported.
 */
import { createRng } from "../server/src/decoding/rng.ts";
import { EFT_DEFAULT_LAMBDA, type RuleSpec } from "../server/src/decoding/index.ts";
import { pairedBootstrap, type Interval } from "../server/src/forge/stats.ts";
import { heldoutPrompts, novelAskPrompts, novelPrompts, oracleRewardBreakdown, type WorldPrompt } from "../server/src/forge/world.ts";
import { builtinPair } from "../server/src/runtime/builtin-pair.ts";
import { generate, ModelPair } from "../server/src/runtime/index.ts";
import { diagnoseDivergence, FEATURES, summarizeFeatures, type DivergenceReport, type FeatureSummary, type ScoredRun } from "./diagnosis.ts";
import { markdownCell, markdownTable, type Summary, summarize, writeResults } from "./results.ts";

export interface QualityOptions {
  /** Held-out prompts for the main table. */
  prompts: number;
  /** Prompts in unseen phrasings for the second table (0: skip it). Default: `prompts`. */
  novelPrompts?: number;
  /** Prompts whose task is named in unseen words, for the third table (0: skip it). Default: `prompts`. */
  askPrompts?: number;
  /** Prompts for each sweep point (the first ones of the same shuffled held-out list). */
  sweepPrompts: number;
  maxTokens: number;
  sweeps: boolean;
  /** bench/results/<name>.json and .md. Default "quality". */
  resultsName?: string;
  log: (line: string) => void;
}

export interface MethodRow extends Summary {
  name: string;
  spec: RuleSpec;
  meanImplicitReward: number;
  meanTokens: number;
  features: FeatureSummary;
  /** Wall time of the responses this row generated (cached responses cost nothing). */
  seconds: number;
  /** CPU time of the process (all threads) over the same span: less sensitive to other load than wall time. */
  cpuSeconds: number;
}

interface Evaluation {
  readonly row: MethodRow;
  readonly runs: readonly ScoredRun[];
}

export interface PairedComparison extends Interval {
  name: string;
}

interface PromptSetResult {
  readonly key: "heldout" | "novel" | "asks";
  readonly title: string;
  readonly prompts: readonly string[];
  readonly rows: MethodRow[];
  readonly comparisons: PairedComparison[];
  readonly divergence: DivergenceReport;
  /** Each method's oracle reward per prompt, in prompt order (for later paired analyses). */
  readonly rewards: Record<string, number[]>;
}

const METHODS = [
  ["greedy SFT", { method: "greedy-sft" }],
  ["greedy DPO", { method: "greedy-dpo" }],
  ["best-of-2 (DPO samples)", { method: "best-of-n", n: 2 }],
  // λ written out, so that the λ sweep's point at the default reuses these responses.
  [`EFT (λ = ${EFT_DEFAULT_LAMBDA}, default)`, { method: "eft", lambda: EFT_DEFAULT_LAMBDA }],
  ["AAD (α = 0.1)", { method: "aad", alpha: 0.1 }],
  ["CD, mismatched reference", { method: "cd", alpha: 0.1 }],
] as const satisfies readonly (readonly [string, RuleSpec])[];

type MethodName = (typeof METHODS)[number][0];

const AAD: MethodName = "AAD (α = 0.1)";
const GREEDY_DPO: MethodName = "greedy DPO";
const EFT: MethodName = METHODS[3][0];

/** The paired differences reported for each prompt set: [a, b] gives a − b. */
const COMPARISONS: readonly (readonly [MethodName, MethodName])[] = [
  [AAD, GREEDY_DPO],
  [AAD, EFT],
  [GREEDY_DPO, "greedy SFT"],
];

const BOOTSTRAP_RESAMPLES = 2000;

/** The prompts in a fixed seeded order (the same order for the same seed, whatever N). */
function shuffled(prompts: readonly WorldPrompt[], seed: string, count: number): string[] {
  const rng = createRng(seed);
  return prompts
    .map((p) => ({ p, key: rng.next() }))
    .sort((a, b) => a.key - b.key)
    .slice(0, count)
    .map(({ p }) => p.text);
}

export async function runQuality(options: QualityOptions): Promise<void> {
  const started = Date.now();
  const files = builtinPair();
  const pair = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { reference: files.earlyReference });
  const heldout = shuffled(heldoutPrompts(), "quality-bench", options.prompts);
  const novel = shuffled(novelPrompts(), "quality-bench-novel", options.novelPrompts ?? options.prompts);
  const asks = shuffled(novelAskPrompts(), "quality-bench-asks", options.askPrompts ?? options.prompts);
  const resultsName = options.resultsName ?? "quality";

  // Responses are deterministic given (method, prompt, seed), so the sweeps reuse the main table's.
  const cache = new Map<string, ScoredRun>();
  const respond = async (spec: RuleSpec, prompt: string, seed: number): Promise<ScoredRun> => {
    const key = `${JSON.stringify(spec)}\u0000${seed}\u0000${prompt}`;
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    const result = await generate(pair, { prompt, method: spec, maxTokens: options.maxTokens, seed });
    const breakdown = oracleRewardBreakdown(prompt, result.text);
    const run: ScoredRun = {
      prompt,
      text: result.text,
      reward: breakdown.total,
      features: breakdown.features,
      implicitReward: result.stats.implicitReward,
      stoppedBy: result.stoppedBy,
      trace: result.tokens,
    };
    cache.set(key, run);
    return run;
  };
  const evaluate = async (name: string, spec: RuleSpec, prompts: readonly string[]): Promise<Evaluation> => {
    const runs: ScoredRun[] = [];
    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    for (const [i, prompt] of prompts.entries()) runs.push(await respond(spec, prompt, i));
    const seconds = (Date.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const row: MethodRow = {
      name,
      spec,
      ...summarize(runs.map((r) => r.reward)),
      meanImplicitReward: mean(runs.map((r) => r.implicitReward)),
      meanTokens: mean(runs.map((r) => r.trace.length)),
      features: summarizeFeatures(runs),
      seconds,
      cpuSeconds,
    };
    const per100 = (x: number) => (prompts.length > 0 ? (100 * x) / prompts.length : 0).toFixed(1);
    options.log(
      `${name.padEnd(24)} oracle ${row.mean.toFixed(3)} ± ${row.halfWidth95.toFixed(3)}  implicit ${row.meanImplicitReward.toFixed(2)}  tokens ${row.meanTokens.toFixed(1)}  (${seconds.toFixed(0)} s; per 100 prompts ${per100(seconds)} s wall, ${per100(cpuSeconds)} s CPU)`,
    );
    return { row, runs };
  };
  const runSet = async (key: PromptSetResult["key"], title: string, prompts: readonly string[]): Promise<PromptSetResult> => {
    options.log(`— ${title}: ${prompts.length} prompts`);
    const byName = new Map<MethodName, Evaluation>();
    for (const [name, spec] of METHODS) byName.set(name, await evaluate(name, spec, prompts));
    const rewards = (name: MethodName) => byName.get(name)!.runs.map((r) => r.reward);
    const comparisons = COMPARISONS.map(([a, b]) => ({ name: `${a} − ${b}`, ...pairedBootstrap(rewards(a), rewards(b), BOOTSTRAP_RESAMPLES, `quality/${key}/${a}/${b}`) }));
    const divergence = diagnoseDivergence(byName.get(GREEDY_DPO)!.runs, byName.get(AAD)!.runs);
    const perPrompt = Object.fromEntries(METHODS.map(([name]) => [name, rewards(name)]));
    return { key, title, prompts, rows: [...byName.values()].map((e) => e.row), comparisons, divergence, rewards: perPrompt };
  };

  try {
    const sets: PromptSetResult[] = [await runSet("heldout", "held-out prompts", heldout)];
    if (novel.length > 0) sets.push(await runSet("novel", "unseen phrasings", novel));
    if (asks.length > 0) sets.push(await runSet("asks", "unseen asks", asks));

    const alphaSweep: MethodRow[] = [];
    const lambdaSweep: MethodRow[] = [];
    const sweepSet = heldout.slice(0, Math.min(options.sweepPrompts, heldout.length));
    if (options.sweeps) {
      for (const alpha of [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]) alphaSweep.push((await evaluate(`AAD α = ${alpha}`, { method: "aad", alpha }, sweepSet)).row);
      for (const lambda of [0.5, 1, 1.5, 2, 3]) lambdaSweep.push((await evaluate(`EFT λ = ${lambda}`, { method: "eft", lambda }, sweepSet)).row);
    }
    const elapsedSeconds = (Date.now() - started) / 1000;
    const markdown = renderMarkdown(sets, alphaSweep, lambdaSweep, sweepSet.length, options, elapsedSeconds);
    await writeResults(
      resultsName,
      {
        prompts: heldout.length,
        novelPrompts: novel.length,
        askPrompts: asks.length,
        maxTokens: options.maxTokens,
        elapsedSeconds,
        pair: pair.info,
        // `main` stays the held-out table (the key earlier results used).
        main: sets[0]!.rows,
        novel: sets.find((set) => set.key === "novel")?.rows ?? [],
        asks: sets.find((set) => set.key === "asks")?.rows ?? [],
        comparisons: Object.fromEntries(sets.map((s) => [s.key, s.comparisons])),
        divergence: Object.fromEntries(sets.map((s) => [s.key, s.divergence])),
        alphaSweep,
        lambdaSweep,
        perPrompt: Object.fromEntries(sets.map((s) => [s.key, { prompts: s.prompts, rewards: s.rewards }])),
      },
      markdown,
    );
    options.log(markdown);
  } finally {
    await pair.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Markdown

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const signed = (x: number, digits = 3) => `${x >= 0 ? "+" : ""}${x.toFixed(digits)}`;
const percent = (x: number) => `${(100 * x).toFixed(0)} %`;
const orDash = (x: number | null | undefined, digits = 2) => (x === null || x === undefined ? "–" : x.toFixed(digits));

const FEATURE_NOTES: Record<(typeof FEATURES)[number], string> = {
  api: "right idiom (+2)",
  wrongApi: "another language's idiom (−1)",
  example: "short code example with the idiom (+1)",
  caveat: "the task's caveat (+1.5)",
  filler: "filler/hedge phrases (−0.5 each)",
  repetition: "repeats (−1 each, max −5)",
  unfinished: "no final . ! ? (−0.5)",
  tooShort: "< 8 words (−1)",
  tooLong: "> 40 words (−0.05 per word)",
};

function summaryTable(rows: readonly MethodRow[]): string {
  return markdownTable(
    ["method", "mean oracle reward", "95 % interval", "mean implicit reward", "mean tokens"],
    rows.map((r) => [r.name, r.mean.toFixed(3), `±${r.halfWidth95.toFixed(3)}`, r.meanImplicitReward.toFixed(2), r.meanTokens.toFixed(1)]),
  );
}

function sweepTable(rows: readonly MethodRow[]): string {
  return markdownTable(
    ["method", "mean oracle reward", "95 % interval", "mean implicit reward", "mean tokens", "api rate", "example rate", "caveat rate", "filler rate"],
    rows.map((r) => [
      r.name,
      r.mean.toFixed(3),
      `±${r.halfWidth95.toFixed(3)}`,
      r.meanImplicitReward.toFixed(2),
      r.meanTokens.toFixed(1),
      percent(r.features.rate.api),
      percent(r.features.rate.example),
      percent(r.features.rate.caveat),
      percent(r.features.rate.filler),
    ]),
  );
}

function featureTables(rows: readonly MethodRow[]): string[] {
  return [
    `Share of responses where each oracle feature fired (non-zero contribution):`,
    ``,
    markdownTable(["method", ...FEATURES], rows.map((r) => [r.name, ...FEATURES.map((f) => percent(r.features.rate[f]))])),
    ``,
    `Mean contribution of each feature to the oracle reward (the columns sum to the mean reward):`,
    ``,
    markdownTable(["method", ...FEATURES, "total"], rows.map((r) => [r.name, ...FEATURES.map((f) => signed(r.features.mean[f], 2)), r.mean.toFixed(3)])),
  ];
}

function comparisonTable(sets: readonly PromptSetResult[]): string {
  const names = sets[0]!.comparisons.map((c) => c.name);
  return markdownTable(
    ["difference", ...sets.map((s) => `${s.title} (n = ${s.prompts.length})`)],
    names.map((name, i) => [
      name,
      ...sets.map((s) => {
        const c = s.comparisons[i]!;
        const verdict = c.low > 0 ? " ▲" : c.high < 0 ? " ▼" : "";
        return `${signed(c.mean)} [${signed(c.low)}, ${signed(c.high)}]${verdict}`;
      }),
    ]),
  );
}

function divergenceSection(sets: readonly PromptSetResult[]): string[] {
  const header = ["", ...sets.map((s) => s.title)];
  const d = (f: (r: DivergenceReport) => string) => sets.map((s) => f(s.divergence));
  const overview = markdownTable(header, [
    ["prompts where AAD's text differs from greedy DPO's", ...d((r) => `${r.textDiffers} / ${r.prompts} (${percent(r.shareTextDiffers)})`)],
    ["prompts where the token sequences differ", ...d((r) => `${r.tokensDiffer}`)],
    ["first divergence: mean token position", ...d((r) => orDash(r.firstDivergence?.mean, 1))],
    ["first divergence: median token position (min–max)", ...d((r) => (r.firstDivergence === null ? "–" : `${r.firstDivergence.median} (${r.firstDivergence.min}–${r.firstDivergence.max})`))],
    ["AAD's token there: mean DPO rank", ...d((r) => orDash(r.atDivergence.meanDpoRank))],
    ["AAD's token there: mean log p_dpo gap to the DPO argmax", ...d((r) => orDash(r.atDivergence.meanDpoLogprobGap))],
    ["AAD's token there: mean advantage gain over the DPO argmax", ...d((r) => orDash(r.atDivergence.meanAdvantageGain))],
    ["candidate set size there (mean)", ...d((r) => orDash(r.atDivergence.meanCandidateSetSize))],
  ]);
  const pairTables = sets.flatMap((s) => [
    ``,
    `Most frequent (greedy DPO token → AAD token) at the first divergence, ${s.title}:`,
    ``,
    s.divergence.topPairs.length === 0
      ? `_(no divergence)_`
      : markdownTable(["greedy DPO token", "AAD token", "count"], s.divergence.topPairs.map((p) => [markdownCell(p.from), markdownCell(p.to), `${p.count}`])),
  ]);
  const featureRows = [...FEATURES, "total"] as const;
  const featureDiff = markdownTable(
    ["feature", ...sets.flatMap((s) => [`${s.title}: mean contribution diff`, `${s.title}: rate diff`])],
    featureRows.map((f) => [
      f,
      ...sets.flatMap((s) => {
        const { featureDiff: diff, featureRateDiff: rates } = s.divergence;
        return [diff === null ? "–" : signed(diff[f], 3), rates === null || f === "total" ? "" : `${signed(100 * rates[f], 0)} pt`];
      }),
    ]),
  );
  const examples = sets[0]!.divergence.examples.flatMap((e) => [
    ``,
    `- **${markdownCell(e.prompt)}**`,
    `  - greedy DPO (${e.baseReward.toFixed(2)}): ${JSON.stringify(e.base)}`,
    `  - AAD (${e.otherReward.toFixed(2)}): ${JSON.stringify(e.other)}`,
  ]);
  return [
    `## Where AAD departs from greedy DPO`,
    ``,
    `Both are deterministic and share every token up to the first divergence (positions count response tokens from 1; an end of sequence is a token). The table reads AAD's trace at that step: how far down the DPO ranking its pick was and how much advantage (log p_dpo − log p_sft) it bought.`,
    ``,
    overview,
    ...pairTables,
    ``,
    `Mean oracle-feature difference AAD − greedy DPO over the prompts where their texts differ (contribution in reward units; rate in percentage points of responses with the feature):`,
    ``,
    featureDiff,
    ...(examples.length > 0 ? [``, `First differing held-out examples (oracle reward in parentheses):`, ...examples] : []),
  ];
}

function renderMarkdown(
  sets: readonly PromptSetResult[],
  alphaSweep: readonly MethodRow[],
  lambdaSweep: readonly MethodRow[],
  sweepCount: number,
  options: QualityOptions,
  elapsedSeconds: number,
): string {
  const heldout = sets[0]!;
  const novel = sets.find((s) => s.key === "novel");
  const asks = sets.find((s) => s.key === "asks");
  const per100 = (x: number, n: number) => ((100 * x) / Math.max(1, n)).toFixed(1);
  const timing = heldout.rows.map((r) => `${r.name} ${per100(r.seconds, heldout.prompts.length)} s (${per100(r.cpuSeconds, heldout.prompts.length)} s CPU)`);
  return [
    `# Quality on the built-in pair`,
    ``,
    `Oracle reward from server/src/forge/world-oracle.ts (best achievable 4.5), at most ${options.maxTokens} tokens per response. Intervals in the method tables are mean ± 1.96·sd/√n; every method answers the same prompts with the same seeds.`,
    ``,
    `## Main table: ${heldout.prompts.length} held-out prompts`,
    ``,
    `Held-out prompts use the training phrasings on (task, language, phrasing) combinations the models never trained on.`,
    ``,
    summaryTable(heldout.rows),
    ...(novel === undefined
      ? []
      : [
          ``,
          `## Main table: ${novel.prompts.length} prompts in unseen phrasings`,
          ``,
          `The same questions worded with frames and openings no training prompt uses (novelPrompts(), shuffled with a fixed seed).`,
          ``,
          summaryTable(novel.rows),
        ]),
    ...(asks === undefined
      ? []
      : [
          ``,
          `## Main table: ${asks.prompts.length} prompts with the task named in unseen words`,
          ``,
          `The world's own frames with each task named in words no training prompt uses (novelAskPrompts(), e.g. "get a list in reverse order"; shuffled with a fixed seed).`,
          ``,
          summaryTable(asks.rows),
        ]),
    ``,
    `## Paired differences`,
    ``,
    `Mean per-prompt difference of oracle reward with a paired bootstrap 95 % interval (${BOOTSTRAP_RESAMPLES} resamples of the prompts); ▲/▼ mark intervals that exclude 0.`,
    ``,
    comparisonTable(sets),
    ``,
    `## Oracle features by method`,
    ...sets.flatMap((s) => [``, `### ${s.title}`, ``, ...featureTables(s.rows)]),
    ``,
    `Features: ${FEATURES.map((f) => `${f} = ${FEATURE_NOTES[f]}`).join("; ")}.`,
    ``,
    ...divergenceSection(sets),
    ...(alphaSweep.length + lambdaSweep.length > 0
      ? [
          ``,
          `## AAD: alpha sweep (first ${sweepCount} of the held-out prompts)`,
          ``,
          `AAD with a wider (small α) or narrower (large α) candidate set; the rate columns are shares of responses with the feature.`,
          ``,
          sweepTable(alphaSweep),
          ``,
          `## EFT: lambda sweep (first ${sweepCount} of the held-out prompts)`,
          ``,
          `EFT with a weaker or stronger tilt towards the DPO model (λ = 1 is the DPO model itself); same columns.`,
          ``,
          sweepTable(lambdaSweep),
        ]
      : []),
    ``,
    `Total run time ${(elapsedSeconds / 60).toFixed(1)} min (responses shared between tables are generated once). Wall seconds per 100 held-out prompts: ${timing.join("; ")}.`,
    ``,
  ].join("\n");
}
