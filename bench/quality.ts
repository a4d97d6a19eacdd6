/**
 * The paper's main table in miniature on the built-in pair: mean oracle reward (95 % interval)
 * of greedy SFT, greedy DPO, best-of-2, EFT, AAD, and contrastive decoding with a mismatched
 * reference (the early SFT checkpoint), over held-out prompts of the toy world; plus sweeps of
 * AAD's alpha and EFT's lambda. Whatever comes out is reported.
 */
import { createRng } from "../server/src/decoding/rng.ts";
import type { RuleSpec } from "../server/src/decoding/index.ts";
import { heldoutPrompts, oracleReward } from "../server/src/forge/world.ts";
import { builtinPair } from "../server/src/runtime/builtin-pair.ts";
import { generate, ModelPair } from "../server/src/runtime/index.ts";
import { type Summary, summarize, writeResults } from "./results.ts";

export interface QualityOptions {
  prompts: number;
  /** Prompts for each sweep point (the first ones of the same shuffled list). */
  sweepPrompts: number;
  maxTokens: number;
  sweeps: boolean;
  log: (line: string) => void;
}

export interface MethodRow extends Summary {
  name: string;
  spec: RuleSpec;
  meanImplicitReward: number;
  meanTokens: number;
}

export async function runQuality(options: QualityOptions): Promise<void> {
  const files = builtinPair();
  const pair = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { reference: files.earlyReference });
  const rng = createRng("quality-bench");
  const prompts = [...heldoutPrompts()]
    .map((p) => ({ p, key: rng.next() }))
    .sort((a, b) => a.key - b.key)
    .slice(0, options.prompts)
    .map(({ p }) => p.text);
  const evaluate = async (name: string, spec: RuleSpec, count = prompts.length): Promise<MethodRow> => {
    const rewards: number[] = [];
    const implicit: number[] = [];
    const lengths: number[] = [];
    const started = Date.now();
    for (const [i, prompt] of prompts.slice(0, count).entries()) {
      const result = await generate(pair, { prompt, method: spec, maxTokens: options.maxTokens, seed: i });
      rewards.push(oracleReward(prompt, result.text));
      implicit.push(result.stats.implicitReward);
      lengths.push(result.stats.tokens);
    }
    const row: MethodRow = { name, spec, ...summarize(rewards), meanImplicitReward: mean(implicit), meanTokens: mean(lengths) };
    options.log(`${name.padEnd(24)} oracle ${row.mean.toFixed(3)} ± ${row.halfWidth95.toFixed(3)}  implicit ${row.meanImplicitReward.toFixed(2)}  tokens ${row.meanTokens.toFixed(1)}  (${((Date.now() - started) / 1000).toFixed(0)} s)`);
    return row;
  };
  try {
    const main: MethodRow[] = [];
    for (const [name, spec] of [
      ["greedy SFT", { method: "greedy-sft" }],
      ["greedy DPO", { method: "greedy-dpo" }],
      ["best-of-2 (DPO samples)", { method: "best-of-n", n: 2 }],
      ["EFT (λ default)", { method: "eft" }],
      ["AAD (α = 0.1)", { method: "aad", alpha: 0.1 }],
      ["CD, mismatched reference", { method: "cd", alpha: 0.1 }],
    ] as const satisfies readonly (readonly [string, RuleSpec])[]) {
      main.push(await evaluate(name, spec));
    }
    const alphaSweep: MethodRow[] = [];
    const lambdaSweep: MethodRow[] = [];
    if (options.sweeps) {
      const n = Math.min(options.sweepPrompts, prompts.length);
      for (const alpha of [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]) alphaSweep.push(await evaluate(`AAD α = ${alpha}`, { method: "aad", alpha }, n));
      for (const lambda of [0.5, 1, 1.5, 2, 3]) lambdaSweep.push(await evaluate(`EFT λ = ${lambda}`, { method: "eft", lambda }, n));
    }
    const table = (rows: readonly MethodRow[]) =>
      ["| method | mean oracle reward | 95 % interval | mean implicit reward | mean tokens |", "|---|---|---|---|---|", ...rows.map((r) => `| ${r.name} | ${r.mean.toFixed(3)} | ±${r.halfWidth95.toFixed(3)} | ${r.meanImplicitReward.toFixed(2)} | ${r.meanTokens.toFixed(1)} |`)].join("\n");
    const markdown = [
      `# Quality on the built-in pair`,
      ``,
      `${prompts.length} held-out prompts of the toy world, at most ${options.maxTokens} tokens, oracle reward from server/src/forge/world-oracle.ts (best achievable 4.5). Intervals are mean ± 1.96·sd/√n.`,
      ``,
      table(main),
      ...(options.sweeps ? [``, `## AAD: alpha sweep (first ${alphaSweep[0]?.n ?? 0} of the same prompts)`, ``, table(alphaSweep), ``, `## EFT: lambda sweep (first ${lambdaSweep[0]?.n ?? 0} of the same prompts)`, ``, table(lambdaSweep)] : []),
      ``,
    ].join("\n");
    await writeResults("quality", { prompts: prompts.length, maxTokens: options.maxTokens, pair: pair.info, main, alphaSweep, lambdaSweep }, markdown);
    options.log(markdown);
  } finally {
    await pair.dispose();
  }
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
