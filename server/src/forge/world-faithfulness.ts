/**
 * How faithfully a model reproduces the world's corpus: the forge's first recipe criterion.
 *
 * - Feature rates: the share of answers with each oracle feature (right idiom, wrong idiom,
 *   example, caveat, filler), for the model's samples and for the corpus on the same prompts.
 * - Garbling: every code example and caveat an answer writes must be one the corpus writes for
 *   that (task, language): an example sentence is one of the corpus's example forms around one of
 *   the task's examples (the corpus quotes other languages' examples in its wrong answers), and a
 *   caveat sentence is one of its caveat forms around the asked language's caveat. Anything else
 *   that looks like an example (a backtick) or a caveat (a caveat lead-in, or any caveat's key
 *   phrase) is garbled.
 *
 * Defined on text alone, like the oracle; nothing here refers to how the text was decoded.
 */
import { CATALOG, LANGUAGES, type LanguageId, type TaskId } from "./world-catalog.ts";
import { oracleRewardBreakdown, type OracleFeature } from "./world-oracle.ts";
import { parsePrompt } from "./world-prompts.ts";
import { CAVEAT_FORMS, EXAMPLE_FORMS } from "./world-responses.ts";

export const FAITHFULNESS_FEATURES = ["api", "wrongApi", "example", "caveat", "filler"] as const satisfies readonly OracleFeature[];
export type FaithfulnessFeature = (typeof FAITHFULNESS_FEATURES)[number];

export interface WrittenParts {
  readonly examples: number;
  readonly garbledExamples: number;
  readonly caveats: number;
  readonly garbledCaveats: number;
}

const CAVEAT_LEADS = CAVEAT_FORMS.map(([form]) => form.slice(0, form.indexOf("{caveat}")).trim().toLowerCase());
const ALL_CAVEAT_KEYS = Object.values(CATALOG).flatMap((spec) => LANGUAGES.map((l) => spec.idioms[l].caveatKey));

const formSets = new Map<string, { examples: Set<string>; caveats: Set<string> }>();

/** The example and caveat sentences the corpus can write for a (task, language). */
function corpusForms(task: TaskId, language: LanguageId): { examples: Set<string>; caveats: Set<string> } {
  const key = `${task}/${language}`;
  let forms = formSets.get(key);
  if (forms === undefined) {
    const codes = LANGUAGES.map((l) => CATALOG[task].idioms[l].example);
    forms = {
      examples: new Set(EXAMPLE_FORMS.flatMap((form) => codes.map((code) => form.replace("{code}", code)))),
      caveats: new Set(CAVEAT_FORMS.map(([form]) => form.replace("{caveat}", CATALOG[task].idioms[language].caveat))),
    };
    formSets.set(key, forms);
  }
  return forms;
}

/**
 * The answer's sentences. A sentence ends at . ! or ? followed by a space or the end, outside a
 * backtick span (code such as `xs[::-1]` or `a.b()` holds periods of its own).
 */
export function sentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  let inCode = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "`") inCode = !inCode;
    else if (!inCode && (c === "." || c === "!" || c === "?") && (i + 1 === text.length || text[i + 1] === " ")) {
      out.push(text.slice(start, i + 1).trim());
      start = i + 1;
    }
  }
  const rest = text.slice(start).trim();
  if (rest.length > 0) out.push(rest);
  return out;
}

/** A corpus sentence, also without its final period (the corpus leaves a few answers unfinished). */
function known(forms: ReadonlySet<string>, sentence: string): boolean {
  return forms.has(sentence) || forms.has(`${sentence}.`);
}

/** The examples and caveats an answer writes, and how many of them match no corpus form. */
export function writtenParts(promptText: string, responseText: string): WrittenParts {
  const { task, language } = parsePrompt(promptText);
  const forms = task !== null && language !== null ? corpusForms(task, language) : { examples: new Set<string>(), caveats: new Set<string>() };
  let examples = 0;
  let garbledExamples = 0;
  let caveats = 0;
  let garbledCaveats = 0;
  for (const sentence of sentences(responseText.trim())) {
    const lower = sentence.toLowerCase();
    if (sentence.includes("`")) {
      examples++;
      if (!known(forms.examples, sentence)) garbledExamples++;
    } else if (CAVEAT_LEADS.some((lead) => lower.startsWith(lead)) || ALL_CAVEAT_KEYS.some((key) => lower.includes(key))) {
      caveats++;
      if (!known(forms.caveats, sentence)) garbledCaveats++;
    }
  }
  return { examples, garbledExamples, caveats, garbledCaveats };
}

export interface FaithfulnessSummary {
  readonly answers: number;
  /** Share of answers with each feature. */
  readonly rates: Record<FaithfulnessFeature, number>;
  readonly meanReward: number;
  readonly examples: number;
  readonly caveats: number;
  /** Garbled examples and caveats over all examples and caveats written. */
  readonly garbledShare: number;
}

/** Feature rates, mean oracle reward and garbling over (prompt, answer) texts. */
export function faithfulnessSummary(items: readonly { readonly prompt: string; readonly response: string }[]): FaithfulnessSummary {
  const counts: Record<FaithfulnessFeature, number> = { api: 0, wrongApi: 0, example: 0, caveat: 0, filler: 0 };
  let reward = 0;
  let examples = 0;
  let caveats = 0;
  let garbled = 0;
  for (const { prompt, response } of items) {
    const b = oracleRewardBreakdown(prompt, response);
    for (const f of FAITHFULNESS_FEATURES) if (b.features[f] !== 0) counts[f]++;
    reward += b.total;
    const parts = writtenParts(prompt, response);
    examples += parts.examples;
    caveats += parts.caveats;
    garbled += parts.garbledExamples + parts.garbledCaveats;
  }
  const n = Math.max(1, items.length);
  const rates = Object.fromEntries(FAITHFULNESS_FEATURES.map((f) => [f, counts[f] / n])) as Record<FaithfulnessFeature, number>;
  return { answers: items.length, rates, meanReward: reward / n, examples, caveats, garbledShare: examples + caveats === 0 ? 0 : garbled / (examples + caveats) };
}
