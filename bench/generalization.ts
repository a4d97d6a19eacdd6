/**
 * `npm run bench -- generalization`: does the built-in pair's recipe hold off its own templates?
 * The forge's criteria 1 (a faithful SFT model) and 3 (an informative DPO), measured the same way
 * on held-out prompts (training phrasings) and on prompts in phrasings no training prompt uses
 * (`novelPrompts()`), side by side, on the committed pair (or, with `--models DIR`, on a forge
 * candidate's, whose manifest says how its world is phrased):
 *
 * - SFT samples at temperature 1 (the forge's sampler: top-64, its seeds), four per prompt:
 *   feature rates against the corpus's own answers to the same prompts (±20 % relative), garbled
 *   examples and caveats (≤ 5 %), mean oracle reward (within 0.3 of the corpus's);
 * - pairs formed from those samples as the forge forms them (the best against a uniformly drawn
 *   one at least 0.5 lower, groups without one dropped), and the DPO implicit reward's accuracy on
 *   them (≥ 0.75), through llama.cpp (`score`, end of sequence included).
 *
 * No decoder's output is looked at. This is the measurement behind the project's rule that a pair
 * which only works on its own templates does not count (issue 10).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { getLlama, LlamaLogLevel, type Token } from "node-llama-cpp";
import { createRng } from "../server/src/decoding/rng.ts";
import { FAITHFULNESS_FEATURES, faithfulnessSummary, type FaithfulnessSummary } from "../server/src/forge/world-faithfulness.ts";
import { formatExample, heldoutPrompts, novelAskPrompts, novelPrompts, oracleReward, sampleResponse, type Phrasings, type WorldPrompt } from "../server/src/forge/world.ts";
import { sampleContinuations } from "../server/src/forge/sample.ts";
import { DEFAULT_FORGE_CONFIG, pickPreference, shuffled } from "../server/src/forge/forge.ts";
import { builtinPair } from "../server/src/runtime/builtin-pair.ts";
import { ModelPair, score } from "../server/src/runtime/index.ts";
import { writeResults } from "./results.ts";

interface SetResult {
  readonly name: string;
  readonly prompts: number;
  readonly corpus: FaithfulnessSummary;
  readonly sft: FaithfulnessSummary;
  readonly pairs: number;
  readonly dropped: number;
  readonly implicitRewardAccuracy: number;
  /** Mean oracle reward margin of the pairs (chosen − rejected). */
  readonly meanMargin: number;
}

export async function runGeneralization(options: { log: (line: string) => void; prompts?: number; modelsDir?: string; resultsName?: string }): Promise<void> {
  const { log } = options;
  const count = options.prompts ?? 300;
  const config = DEFAULT_FORGE_CONFIG;
  const files = options.modelsDir === undefined ? builtinPair() : { sft: join(options.modelsDir, "sft.gguf"), dpo: join(options.modelsDir, "dpo.gguf"), dir: options.modelsDir };
  // The held-out prompts are the pair's own world's: read how its forge phrased it (templates before the choice existed).
  const manifest = JSON.parse(await readFile(join(files.dir, "manifest.json"), "utf8")) as { config?: { phrasings?: Phrasings } };
  const phrasings = manifest.config?.phrasings ?? "templates";
  const { samplesPerPrompt, minMargin, maxTokens, topK, parallel } = config.preferences;
  const rng = createRng("generalization-bench");
  const sets: { name: string; prompts: WorldPrompt[] }[] = [
    { name: "held-out prompts", prompts: shuffled(heldoutPrompts(phrasings), rng.fork("heldout")).slice(0, count) },
    { name: "unseen phrasings", prompts: shuffled(novelPrompts(), rng.fork("novel")).slice(0, count) },
    // Not a recipe criterion (criterion 4 names the unseen phrasings only): the same questions with the task named in other words.
    { name: "unseen asks", prompts: shuffled(novelAskPrompts(), rng.fork("novel-asks")).slice(0, count) },
  ];
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const results: SetResult[] = [];
  try {
    const sftModel = await llama.loadModel({ modelPath: files.sft });
    const samples = new Map<string, string[][]>();
    for (const set of sets) {
      const jobs = set.prompts.flatMap((p) =>
        Array.from({ length: samplesPerPrompt }, (_, k) => ({ prompt: [sftModel.tokens.bos!, ...sftModel.tokenize(formatExample(p.text))] as Token[], seed: `generalization:${set.name}:${p.text}:${k}` })),
      );
      const outputs = await sampleContinuations(sftModel, jobs, { maxTokens, topK, parallel, onProgress: (done, total) => done % 400 === 0 && log(`${set.name}: sampled ${done}/${total}`) });
      const texts = outputs.map((tokens) => sftModel.detokenize(tokens).trim());
      samples.set(set.name, set.prompts.map((_, i) => texts.slice(i * samplesPerPrompt, (i + 1) * samplesPerPrompt)));
    }
    await sftModel.dispose();

    const pair = await ModelPair.load({ sft: files.sft, dpo: files.dpo });
    try {
      for (const set of sets) {
        const groups = samples.get(set.name)!;
        const corpusRng = createRng(`generalization:${set.name}:corpus`);
        const corpus = faithfulnessSummary(set.prompts.flatMap((p) => Array.from({ length: 16 }, () => ({ prompt: p.text, response: sampleResponse(p, corpusRng) }))));
        const sft = faithfulnessSummary(set.prompts.flatMap((p, i) => groups[i]!.map((response) => ({ prompt: p.text, response }))));
        let pairs = 0;
        let dropped = 0;
        let correct = 0;
        let margin = 0;
        for (const [i, p] of set.prompts.entries()) {
          const group = groups[i]!;
          const rewards = group.map((s) => oracleReward(p.text, s));
          const picked = pickPreference(rewards, minMargin, createRng(`generalization:rejected:${set.name}:${i}`));
          if (picked === undefined) {
            dropped++;
            continue;
          }
          const { chosen, rejected } = picked;
          const implicit = async (response: string) => (await score(pair, { prompt: formatExample(p.text), raw: true, response })).stats.implicitReward;
          if ((await implicit(group[chosen]!)) > (await implicit(group[rejected]!))) correct++;
          margin += rewards[chosen]! - rewards[rejected]!;
          pairs++;
        }
        results.push({ name: set.name, prompts: set.prompts.length, corpus, sft, pairs, dropped, implicitRewardAccuracy: correct / Math.max(1, pairs), meanMargin: margin / Math.max(1, pairs) });
        log(`${set.name}: ${pairs} pairs, implicit-reward accuracy ${(correct / Math.max(1, pairs)).toFixed(3)}`);
      }
    } finally {
      await pair.dispose();
    }
  } finally {
    await llama.dispose();
  }

  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  const mark = (ok: boolean) => (ok ? "✓" : "✗");
  const cell = (r: SetResult, f: (typeof FAITHFULNESS_FEATURES)[number]) => {
    const relative = r.sft.rates[f] / r.corpus.rates[f] - 1;
    return `${pct(r.sft.rates[f])} / ${pct(r.corpus.rates[f])} ${mark(Math.abs(relative) <= 0.2)}`;
  };
  const rows: string[][] = [
    ...FAITHFULNESS_FEATURES.map((f) => [`SFT samples / corpus: ${f} (±20 % relative)`, ...results.map((r) => cell(r, f))]),
    ["garbled examples and caveats (≤ 5 %)", ...results.map((r) => `${pct(r.sft.garbledShare)} of ${r.sft.examples + r.sft.caveats} ${mark(r.sft.garbledShare <= 0.05)}`)],
    ["mean oracle reward, SFT samples / corpus (within 0.3)", ...results.map((r) => `${r.sft.meanReward.toFixed(2)} / ${r.corpus.meanReward.toFixed(2)} ${mark(Math.abs(r.sft.meanReward - r.corpus.meanReward) <= 0.3)}`)],
    ["pairs formed (groups dropped without a clearly worse sample)", ...results.map((r) => `${r.pairs} (${r.dropped})`)],
    ["mean oracle margin of the pairs", ...results.map((r) => r.meanMargin.toFixed(2))],
    ["DPO implicit-reward accuracy on them (≥ 0.75)", ...results.map((r) => `${r.implicitRewardAccuracy.toFixed(3)} ${mark(r.implicitRewardAccuracy >= 0.75)}`)],
  ];
  const markdown = [
    `# Generalization: the recipe's criteria off the training phrasings`,
    ``,
    `The forge's criteria 1 (faithful SFT) and 3 (informative DPO, by implicit reward) measured the same way on ${count} held-out prompts (training phrasings on held-out task/language/phrasing combinations) and on ${count} prompts in phrasings no training prompt uses (\`novelPrompts()\`), and, as information beyond the recipe's criteria, on ${count} prompts in the world's frames whose task is named in words no training prompt uses (\`novelAskPrompts()\`), on ${options.modelsDir === undefined ? "the committed pair" : `the pair in ${options.modelsDir}`} (world phrasings: ${phrasings}). SFT samples: ${samplesPerPrompt} per prompt at temperature 1 over the top ${topK} tokens, at most ${maxTokens} tokens, as the forge samples them; pairs: the best sample against a uniformly drawn one at least ${minMargin} lower in oracle reward; implicit reward through llama.cpp with the end of sequence scored. No decoder's output is used.`,
    ``,
    `| measure | ${results.map((r) => `${r.name} (n = ${r.prompts})`).join(" | ")} |`,
    `|---|${results.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
    ``,
  ].join("\n");
  await writeResults(options.resultsName ?? "generalization", { prompts: count, phrasings, ...(options.modelsDir === undefined ? {} : { models: options.modelsDir }), results }, markdown);
  log(markdown);
}
