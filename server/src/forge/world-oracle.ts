/**
 * The oracle reward of the forge's toy world: the stand-in for the paper's oracle reward model.
 * It is a sum of legible rule-based features, computed from the prompt text and the answer text
 * alone (benchmarks keep only text), so the prompt is parsed for its task and language.
 *
 * | feature    | value                    | when                                                                      |
 * |------------|--------------------------|---------------------------------------------------------------------------|
 * | api        | +2                       | names a right idiom for the task in the asked language (CATALOG `detect`)  |
 * | wrongApi   | -1                       | names the same task's idiom from another language                         |
 * | example    | +1                       | a `backticked` code span of at most 12 words that uses a right idiom       |
 * | caveat     | +1.5                     | states the task's caveat for that language (CATALOG `caveatKey`)           |
 * | filler     | -0.5 each                | each hedge or filler phrase ("Sure", "I think", "maybe", "Hope this helps") |
 * | tooShort   | -1                       | fewer than 8 words                                                        |
 * | tooLong    | -0.05 per word over 40   | more than 40 words                                                        |
 * | repetition | -1 per repeat, max -5    | each extra occurrence of a prose word 3-gram, a code span or a short sentence |
 * | unfinished | -0.5                     | the answer does not end with . ! or ?                                     |
 *
 * The best achievable total is 4.5 (right idiom, example, caveat, no penalties). The sampled
 * corpus (world-responses.ts) makes the example uncommon and the caveat rare, and filler common,
 * so its modal answer scores about 2 and its mean about 1.3.
 *
 * Repetition ignores short code spans when counting prose 3-grams: an example naturally repeats
 * the idiom the prose named; a looping decoder repeats prose or whole spans, and is caught.
 */
import { CATALOG, LANGUAGES, containsFragment, type LanguageId, type TaskId } from "./world-catalog.ts";
import { parsePrompt } from "./world-prompts.ts";

export const ORACLE_WEIGHTS = {
  api: 2,
  wrongApi: -1,
  example: 1,
  caveat: 1.5,
  fillerEach: -0.5,
  tooShort: -1,
  tooLongPerWord: -0.05,
  repetitionEach: -1,
  unfinished: -0.5,
} as const;

export const MIN_WORDS = 8;
export const MAX_WORDS_UNPENALISED = 40;
export const MAX_REPETITION_PENALTY = 5;
/** The most words a code span may have and still count as a short example. */
export const MAX_EXAMPLE_WORDS = 12;
export const ORACLE_MAX_REWARD = ORACLE_WEIGHTS.api + ORACLE_WEIGHTS.example + ORACLE_WEIGHTS.caveat;

/** Hedges and filler; each occurrence costs `fillerEach`. Matched case-insensitively as words. */
export const FILLER_PHRASES = [
  "sure",
  "great question",
  "good question",
  "happy to help",
  "i think",
  "maybe",
  "probably",
  "hope this helps",
  "hope that helps",
  "let me know",
  "good luck",
] as const;

const FILLER_PATTERN = new RegExp(`\\b(?:${FILLER_PHRASES.map((p) => p.replace(/ /g, "\\s+")).join("|")})\\b`, "gi");

export type OracleFeature =
  | "api"
  | "wrongApi"
  | "example"
  | "caveat"
  | "filler"
  | "tooShort"
  | "tooLong"
  | "repetition"
  | "unfinished";

export interface OracleBreakdown {
  readonly total: number;
  readonly features: Record<OracleFeature, number>;
  /** What the oracle read from the prompt; null where the prompt did not say. */
  readonly task: TaskId | null;
  readonly language: LanguageId | null;
}

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w.length > 0);
}

function normaliseWord(word: string): string {
  return word.toLowerCase().replace(/^[`.,!?:;"']+|[`.,!?:;"']+$/g, "");
}

interface CodeSpans {
  /** Contents of the closed backtick spans short enough to count as examples. */
  readonly short: string[];
  /** The text with those spans cut out. */
  readonly prose: string;
}

function splitCode(text: string): CodeSpans {
  const short: string[] = [];
  const prose = text.replace(/`([^`]*)`/g, (span, inner: string) => {
    const n = words(inner).length;
    if (n === 0 || n > MAX_EXAMPLE_WORDS) return span;
    short.push(inner.trim());
    return " ";
  });
  return { short, prose };
}

function extraOccurrences(items: readonly string[]): number {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
  let extra = 0;
  for (const n of counts.values()) extra += n - 1;
  return extra;
}

/** Extra occurrences of prose word 3-grams, of code spans and of 1-2 word sentences. */
export function countRepeats(text: string): number {
  const { short, prose } = splitCode(text);
  const tokens = words(prose).map(normaliseWord).filter((w) => w.length > 0);
  const trigrams = new Map<string, number>();
  for (let i = 0; i + 2 < tokens.length; i++) {
    const key = `${tokens[i]!} ${tokens[i + 1]!} ${tokens[i + 2]!}`;
    trigrams.set(key, (trigrams.get(key) ?? 0) + 1);
  }
  let repeats = 0;
  for (const n of trigrams.values()) repeats += n - 1;
  repeats += extraOccurrences(short);
  const shortSentences = prose
    .split(/[.!?]+/)
    .map((s) => words(s).map(normaliseWord).filter((w) => w.length > 0))
    .filter((s) => s.length > 0 && s.length < 3)
    .map((s) => s.join(" "));
  repeats += extraOccurrences(shortSentences);
  return repeats;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000 + 0;
}

/** The oracle reward with each feature's contribution; `total` is their sum. */
export function oracleRewardBreakdown(promptText: string, responseText: string): OracleBreakdown {
  const { task, language } = parsePrompt(promptText);
  const text = responseText.trim();
  const n = words(text).length;
  const rightLanguages: readonly LanguageId[] = language === null ? LANGUAGES : [language];
  const wrongLanguages = LANGUAGES.filter((l) => !rightLanguages.includes(l));
  const usesIdiomOf = (snippet: string, languages: readonly LanguageId[]): boolean =>
    task !== null &&
    languages.some((l) => CATALOG[task].idioms[l].detect.some((fragment) => containsFragment(snippet, fragment)));

  const caveatStated =
    task !== null &&
    rightLanguages.some((l) =>
      text.toLowerCase().replace(/\s+/g, " ").includes(CATALOG[task].idioms[l].caveatKey),
    );
  const fillers = text.match(FILLER_PATTERN)?.length ?? 0;

  const features: Record<OracleFeature, number> = {
    api: usesIdiomOf(text, rightLanguages) ? ORACLE_WEIGHTS.api : 0,
    wrongApi: usesIdiomOf(text, wrongLanguages) ? ORACLE_WEIGHTS.wrongApi : 0,
    example: splitCode(text).short.some((span) => usesIdiomOf(span, rightLanguages)) ? ORACLE_WEIGHTS.example : 0,
    caveat: caveatStated ? ORACLE_WEIGHTS.caveat : 0,
    filler: round(fillers * ORACLE_WEIGHTS.fillerEach),
    tooShort: n < MIN_WORDS ? ORACLE_WEIGHTS.tooShort : 0,
    tooLong: round(Math.max(0, n - MAX_WORDS_UNPENALISED) * ORACLE_WEIGHTS.tooLongPerWord),
    repetition: Math.min(MAX_REPETITION_PENALTY, countRepeats(text)) * ORACLE_WEIGHTS.repetitionEach + 0,
    unfinished: /[.!?]$/.test(text) ? 0 : ORACLE_WEIGHTS.unfinished,
  };
  const total = round(Object.values(features).reduce((sum, x) => sum + x, 0));
  return { total, features, task, language };
}

/** The oracle reward of `responseText` as an answer to `promptText`. */
export function oracleReward(promptText: string, responseText: string): number {
  return oracleRewardBreakdown(promptText, responseText).total;
}
