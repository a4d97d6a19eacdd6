/**
 * `npm run bench -- forge-recipe --manifest DIR/manifest.json --label "…"` (or `--manifest none`
 * with a `--note` for a run stopped before it wrote one) records one forge
 * candidate's recipe and its criteria values (from the forge's manifest) in
 * bench/results/forge-recipe.json and regenerates forge-recipe.md from every recorded candidate.
 * Candidates are appended, never replaced: the record shows everything that was tried, in order.
 */
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { RESULTS_DIR, writeResults } from "./results.ts";

interface Candidate {
  label: string;
  recorded: string;
  note: string;
  /** Absent for a run stopped before its manifest was written: then the note says what was measured. */
  manifest?: {
    config: Record<string, unknown>;
    model: { parameters: number; vocabSize: number };
    splits: Record<string, number>;
    criteria: Criteria;
    displacement: { duringTraining: { chosen: number; rejected: number }[]; heldoutPairs: { chosen: number; rejected: number } };
    seconds?: Record<string, number>;
    trainingPositionsPerSecond?: number;
  };
  /** `npm run bench -- generalization --models DIR` on the candidate: its sets, for criterion 4. */
  generalization?: { phrasings: string; results: GeneralizationSet[] };
}

interface GeneralizationSet {
  name: string;
  prompts: number;
  corpus: { rates: Record<string, number>; meanReward: number };
  sft: { rates: Record<string, number>; garbledShare: number; meanReward: number; examples: number; caveats: number };
  pairs: number;
  implicitRewardAccuracy: number;
}

interface Criteria {
  faithfulSft: {
    rates: Record<string, { corpus: number; sft: number; relative: number; pass: boolean }>;
    garbledShare: { value: number; pass: boolean };
    meanReward: { corpus: number; sft: number; pass: boolean };
    pass: boolean;
  };
  enoughPreferenceData: { dpoPairs: number; pass: boolean };
  informativeDpo: {
    heldoutImplicitRewardAccuracy: { value: number; pass: boolean };
    greedyDpoOverSft: { sft: number; dpo: number; dpoMinusSft: { mean: number; low: number; high: number }; pass: boolean };
    greedyDpoOverSftNovelPhrasings: { sft: number; dpo: number; dpoMinusSft: { mean: number; low: number; high: number } };
    pass: boolean;
  };
}

export async function recordForgeCandidate(options: { manifest: string; label: string; note: string; seconds?: string; generalization?: string; log: (line: string) => void }): Promise<void> {
  const jsonPath = join(RESULTS_DIR, "forge-recipe.json");
  const previous = existsSync(jsonPath) ? ((JSON.parse(await readFile(jsonPath, "utf8")) as { candidates: Candidate[] }).candidates) : [];
  const manifest = options.manifest === "none" ? undefined : (JSON.parse(await readFile(options.manifest, "utf8")) as NonNullable<Candidate["manifest"]>);
  const seconds = options.seconds ? (JSON.parse(await readFile(options.seconds, "utf8")) as Record<string, number>) : undefined;
  const generalization = options.generalization ? (JSON.parse(await readFile(options.generalization, "utf8")) as Candidate["generalization"]) : undefined;
  const candidate: Candidate = { label: options.label, recorded: new Date().toISOString(), note: options.note, ...(manifest ? { manifest: { ...manifest, ...(seconds ? { seconds } : {}) } } : {}), ...(generalization ? { generalization: { phrasings: generalization.phrasings, results: generalization.results } } : {}) };
  // Recording a label again (e.g. with its generalization results, measured later) replaces that entry in place.
  const at = previous.findIndex((c) => c.label === options.label);
  const candidates = at < 0 ? [...previous, candidate] : previous.map((c, i) => (i === at ? candidate : c));
  await writeResults("forge-recipe", { candidates }, renderRecipe(candidates));
  options.log(renderRecipe(candidates));
}

const mark = (pass: boolean) => (pass ? "✓" : "✗");
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

function renderRecipe(candidates: readonly Candidate[]): string {
  const rows = candidates.map((c, i) => {
    const m = c.manifest;
    if (m === undefined) return [`### ${i + 1}. ${c.label}`, ``, c.note, ``].join("\n");
    const cfg = m.config as { phrasings?: string; model: { embeddingLength: number; blockCount: number; feedForwardLength: number }; sft: { steps: number; batchSize: number; learningRate: number }; preferences: { samplesPerPrompt: number; trainGroups: number; minMargin: number }; dpo: { learningRate: number; rank: number; batchSize: number } };
    const f = m.criteria.faithfulSft;
    const d = m.criteria.informativeDpo;
    const rates = Object.entries(f.rates)
      .map(([k, r]) => `${k} ${pct(r.sft)}/${pct(r.corpus)} ${mark(r.pass)}`)
      .join("; ");
    const g = d.greedyDpoOverSft;
    const n = d.greedyDpoOverSftNovelPhrasings;
    const shift = m.displacement.duringTraining.map((e) => `${e.chosen.toFixed(1)}/${e.rejected.toFixed(1)}`).join(" → ");
    return [
      `### ${i + 1}. ${c.label}`,
      ``,
      c.note,
      ``,
      `- Recipe: ${cfg.phrasings ?? "templates"} phrasings; E${cfg.model.embeddingLength}/L${cfg.model.blockCount}/F${cfg.model.feedForwardLength}, ${m.model.parameters.toLocaleString("en")} parameters, vocabulary ${m.model.vocabSize}; SFT ${cfg.sft.steps} steps × ${cfg.sft.batchSize} at lr ${cfg.sft.learningRate}; ${cfg.preferences.samplesPerPrompt} samples per prompt, ${cfg.preferences.trainGroups} groups, margin ≥ ${cfg.preferences.minMargin}; DPO lr ${cfg.dpo.learningRate}, rank ${cfg.dpo.rank}, batch ${cfg.dpo.batchSize}.`,
      `- **1. Faithful SFT ${mark(f.pass)}** — feature rates, SFT samples / corpus: ${rates}. Garbled examples and caveats ${pct(f.garbledShare.value)} ${mark(f.garbledShare.pass)}. Mean oracle reward ${f.meanReward.sft.toFixed(2)} vs corpus ${f.meanReward.corpus.toFixed(2)} ${mark(f.meanReward.pass)}.`,
      `- **2. Enough preference data ${mark(m.criteria.enoughPreferenceData.pass)}** — ${m.criteria.enoughPreferenceData.dpoPairs} DPO pairs in the 10 % split (${m.splits.preferencePairs} labelled training pairs, ${m.splits.groupsDropped} groups dropped without a clearly worse sample).`,
      `- **3. Informative DPO ${mark(d.pass)}** — held-out implicit-reward accuracy ${d.heldoutImplicitRewardAccuracy.value.toFixed(3)} ${mark(d.heldoutImplicitRewardAccuracy.pass)}; greedy DPO ${g.dpo.toFixed(2)} vs greedy SFT ${g.sft.toFixed(2)}, paired difference ${g.dpoMinusSft.mean.toFixed(2)} [${g.dpoMinusSft.low.toFixed(2)}, ${g.dpoMinusSft.high.toFixed(2)}] ${mark(g.pass)}; in unseen phrasings ${n.dpo.toFixed(2)} vs ${n.sft.toFixed(2)}, ${n.dpoMinusSft.mean.toFixed(2)} [${n.dpoMinusSft.low.toFixed(2)}, ${n.dpoMinusSft.high.toFixed(2)}].`,
      `- Displacement (mean change of log-likelihood from the reference, chosen/rejected, per epoch on the training pairs): ${shift}; on held-out pairs after training ${m.displacement.heldoutPairs.chosen.toFixed(2)}/${m.displacement.heldoutPairs.rejected.toFixed(2)}.`,
      ...(c.generalization ? [criterion4(c.generalization, n), criterion5(c.generalization)] : []),
      ...(m.seconds ? [`- Forge time: ${Object.entries(m.seconds).map(([k, v]) => `${k} ${Math.round(v)} s`).join(", ")}.`] : []),
      ``,
    ].join("\n");
  });
  return [
    `# Forge recipe: every candidate tried, with its criteria`,
    ``,
    `The built-in pair is chosen by three criteria fixed before AAD was measured on it (issue 10): a faithful SFT model, enough preference data, an informative DPO. No candidate was chosen or dropped by any AAD result. Each entry is one forge run (values from its manifest.json); ✓/✗ mark the thresholds: feature rates within ±20 % relative of the corpus's, ≤ 5 % garbled, mean reward within 0.3 of the corpus's; ≥ 2,000 DPO pairs; held-out implicit-reward accuracy ≥ 0.75 and a paired 95 % interval of greedy DPO − greedy SFT above 0. Rates are shares of answers; intervals are paired bootstrap 95 %.`,
    ``,
    `**Criterion 4, fixed on 2026-12-03 before any further candidate is trained (candidates 1–5 were chosen before it existed):** the pair must hold off its own templates. Criteria 1 and 3 hold, with the same thresholds, on 300 prompts in phrasings no training prompt uses (\`npm run bench -- generalization\` measures them on the committed pair, beside the held-out prompts). The installed pair (candidate 4) fails it: in unseen phrasings its SFT garbles 17.7 % of the examples and caveats it writes (4.5 % on held-out prompts; threshold 5 %), writes the wrong idiom 25 % more often than the corpus and the caveat 28 % less; the DPO's implicit-reward accuracy there is 0.795 (passes). The selection rule is unchanged: the candidate meeting the most criteria, ties broken by greedy DPO − greedy SFT; AAD is measured only after the choice.`,
    ``,
    `**Criterion 5, fixed on 2026-12-03 at 11:00 UTC, after the installed pair was measured on it and before any result of candidates 6 and 7 was seen:** the pair must also hold when a task is named in words no training prompt uses (\`novelAskPrompts()\`, e.g. "get a list in reverse order", asked in the world's own frames). Criterion 1 and criterion 3's implicit-reward accuracy hold, with the same thresholds, on 300 such prompts (\`npm run bench -- generalization\`; greedy decoding is not compared there). The installed pair (candidate 4) fails it badly: its SFT garbles 45.9 % of the examples and caveats it writes, names the right idiom in 42.0 % of answers against the corpus's 68.7 %, its mean reward is 0.55 against 1.33, and the DPO's implicit-reward accuracy is 0.672.`,
    ``,
    `**Candidate 8, fixed on 2026-12-03 at 13:52 UTC, after candidates 6 and 7 were measured on criteria 4 and 5 and before candidate 8 reported anything:** candidate 7's recipe with 2,400 SFT steps instead of 1,200 (\`--sft-steps 2400\`; the cosine schedule spans them). Why: every candidate misses criterion 1, 4 or 5 on its SFT alone (garbling, which rises off the templates: candidate 7 garbles 4.7 % held out, 10.8 % in unseen phrasings, 20.9 % on unseen asks; and a caveat rate 20–35 % below the corpus's), while its training loss is still falling slowly when the schedule ends (0.20 → 0.19 over the last 200 steps). Once candidate 8 is measured on criteria 1–5, the built-in pair is chosen among candidates 4–8 by the rule above, whichever it is.`,
    ``,
    `**Candidate 9, fixed on 2026-12-03 at 15:09 UTC, after candidate 8's criteria 1–3 (from its manifest) and before its criteria 4 and 5 or anything of candidate 9 was seen:** candidate 8's SFT and samples (\`--reuse\`), DPO at lr 2e-4 instead of 1e-4. Why: candidate 8 meets criterion 1 in full for the first time, but its DPO does not move greedy decoding (greedy DPO = greedy SFT on all 300 held-out prompts, as candidate 5's lr 5e-5 did on the 1,200-step SFT), so it misses criterion 3; the next doubling of the learning rate is the one rerun this session has room for. The choice is then made among candidates 4–9 by the same rule.`,
    ``,
    ...rows,
  ].join("\n");
}

/** Criterion 1 on one of the generalization bench's sets, and the implicit-reward accuracy of criterion 3. */
function offTemplate(set: GeneralizationSet): { text: string; pass: boolean } {
  const rates = Object.entries(set.sft.rates).map(([k, v]) => {
    const corpus = set.corpus.rates[k]!;
    return { k, v, corpus, pass: Math.abs(v / corpus - 1) <= 0.2 };
  });
  const garbled = set.sft.garbledShare <= 0.05;
  const reward = Math.abs(set.sft.meanReward - set.corpus.meanReward) <= 0.3;
  const accuracy = set.implicitRewardAccuracy >= 0.75;
  return {
    pass: rates.every((r) => r.pass) && garbled && reward && accuracy,
    text: `SFT samples / corpus ${rates.map((r) => `${r.k} ${pct(r.v)}/${pct(r.corpus)} ${mark(r.pass)}`).join("; ")}. Garbled ${pct(set.sft.garbledShare)} ${mark(garbled)}. Mean oracle reward ${set.sft.meanReward.toFixed(2)} vs corpus ${set.corpus.meanReward.toFixed(2)} ${mark(reward)}. Implicit-reward accuracy ${set.implicitRewardAccuracy.toFixed(3)} on ${set.pairs} pairs ${mark(accuracy)}`,
  };
}

/** Criterion 5: criterion 1 and criterion 3's implicit-reward accuracy on prompts whose task is named in unseen words. */
function criterion5(g: NonNullable<Candidate["generalization"]>): string {
  const asks = g.results.find((r) => r.name === "unseen asks");
  if (asks === undefined) return `- **5. Holds with the task named in unseen words** — not measured.`;
  const { text, pass } = offTemplate(asks);
  return `- **5. Holds with the task named in unseen words ${mark(pass)}** — on ${asks.prompts} prompts with unseen asks: ${text}.`;
}

/** Criterion 4: criteria 1 and 3, same thresholds, in unseen phrasings (the generalization bench's unseen set and the forge's greedy comparison there). */
function criterion4(g: NonNullable<Candidate["generalization"]>, greedy: Criteria["informativeDpo"]["greedyDpoOverSftNovelPhrasings"]): string {
  const unseen = g.results.find((r) => r.name === "unseen phrasings");
  if (unseen === undefined) return `- **4. Holds off its templates** — not measured (the generalization results have no unseen set).`;
  const { text, pass: faithful } = offTemplate(unseen);
  const greedyPass = greedy.dpoMinusSft.low > 0;
  return `- **4. Holds off its templates ${mark(faithful && greedyPass)}** — on ${unseen.prompts} prompts in unseen phrasings (world: ${g.phrasings}): ${text}; greedy DPO − greedy SFT ${greedy.dpoMinusSft.mean.toFixed(2)} [${greedy.dpoMinusSft.low.toFixed(2)}, ${greedy.dpoMinusSft.high.toFixed(2)}] ${mark(greedyPass)}.`;
}
