/**
 * The forge's prompts: every (task, language) asked with every phrasing, the train/held-out
 * split, and the parser that recovers (task, language) from a prompt's text, so that the oracle
 * can score benchmarks that only kept text.
 */
import { CATALOG, LANGUAGES, LANGUAGE_NAMES, TASKS, type LanguageId, type TaskId } from "./world-catalog.ts";

export interface WorldPrompt {
  readonly text: string;
  readonly task: TaskId;
  readonly language: LanguageId;
}

/** Question frames; `{ask}` is a task's verb phrase, `{lang}` a language's display name. */
const FRAMES = [
  "How do I {ask} in {lang}?",
  "How can I {ask} in {lang}?",
  "How do you {ask} in {lang}?",
  "What is the best way to {ask} in {lang}?",
  "What is the easiest way to {ask} in {lang}?",
  "In {lang}, how do I {ask}?",
  "In {lang}, how can I {ask}?",
  "Is there a simple way to {ask} in {lang}?",
  "What is the {lang} way to {ask}?",
  "How should I {ask} in {lang}?",
  "Can you show me how to {ask} in {lang}?",
  "I need to {ask} in {lang}. What should I use?",
  "How to {ask} in {lang}?",
  "What's the best way to {ask} in {lang}?",
  "What should I use to {ask} in {lang}?",
  "Is there a built-in way to {ask} in {lang}?",
  "How would I {ask} in {lang}?",
  "I want to {ask} in {lang}. How?",
  "Could you explain how to {ask} in {lang}?",
  "In {lang}, what is the way to {ask}?",
  "What is the idiomatic way to {ask} in {lang}?",
  "How do I {ask} using {lang}?",
  "Can I {ask} easily in {lang}?",
  "What is the fastest way to {ask} in {lang}?",
] as const;

const OPENINGS = ["", "Quick question: ", "Beginner here. ", "Hi, ", "Question: ", "Help me out. "] as const;

/**
 * Phrasings the models never see in training: other frames and openings for the same questions.
 * `novelPrompts()` asks every (task, language) with them, so that results can be checked on
 * questions worded as no training prompt is.
 */
const NOVEL_FRAMES = [
  "What's the cleanest way to {ask} in {lang}?",
  "Any tips on how to {ask} in {lang}?",
  "Using {lang}, how would I {ask}?",
  "Which {lang} function lets me {ask}?",
  "How would you {ask} in {lang}?",
  "My {lang} code needs to {ask}. How?",
  "Show me how to {ask} with {lang}.",
  "Tell me how to {ask} in {lang}.",
] as const;

const NOVEL_OPENINGS = ["", "Hello! ", "Newbie question: ", "Sorry if this is basic. "] as const;

/** The held-out share of prompts, in percent of the hash space. */
const HELDOUT_PERCENT = 15;

let cachedPrompts: readonly WorldPrompt[] | undefined;
let cachedNovel: readonly WorldPrompt[] | undefined;

function phrase(frame: string, opening: string, ask: string, language: LanguageId): string {
  const question = frame.replace("{ask}", ask).replace("{lang}", LANGUAGE_NAMES[language]);
  if (opening === "") return question;
  // After "Hi, " the question goes on in lower case ("Hi, how do I…"), except the pronoun I.
  const first = opening.endsWith(", ") && !/^I\b/.test(question) ? question.charAt(0).toLowerCase() : question.charAt(0).toUpperCase();
  return opening + first + question.slice(1);
}

/** Every (task, language) asked with every phrasing made of `frames` and `openings`, pairs interleaved. */
function promptsOf(frames: readonly string[], openings: readonly string[], salt: string): WorldPrompt[] {
  const prompts: WorldPrompt[] = [];
  for (const task of TASKS) {
    for (const language of LANGUAGES) {
      const variants: WorldPrompt[] = [];
      for (const ask of CATALOG[task].asks) {
        for (const frame of frames) {
          for (const opening of openings) variants.push({ text: phrase(frame, opening, ask, language), task, language });
        }
      }
      prompts.push(...variants.sort((a, b) => promptHash(`${salt}:${a.text}`) - promptHash(`${salt}:${b.text}`)));
    }
  }
  return interleavePairs(prompts);
}

/**
 * Round-robin over the (task, language) pairs, keeping each pair's own order: every block of
 * one prompt per pair is balanced, so a prefix of the result is a balanced sample.
 */
function interleavePairs(prompts: readonly WorldPrompt[]): WorldPrompt[] {
  const byPair = new Map<string, WorldPrompt[]>();
  for (const p of prompts) {
    const key = `${p.task}/${p.language}`;
    const list = byPair.get(key);
    if (list === undefined) byPair.set(key, [p]);
    else list.push(p);
  }
  const lists = [...byPair.values()];
  const out: WorldPrompt[] = [];
  const longest = Math.max(0, ...lists.map((l) => l.length));
  for (let i = 0; i < longest; i++) for (const list of lists) if (i < list.length) out.push(list[i]!);
  return out;
}

/**
 * Every distinct prompt, in a fixed order: pairs interleaved (see `interleavePairs`), each
 * pair's phrasings in a hash-shuffled order.
 */
export function allPrompts(): WorldPrompt[] {
  cachedPrompts ??= promptsOf(FRAMES, OPENINGS, "order");
  return [...cachedPrompts];
}

/**
 * Questions in phrasings no training or held-out prompt uses (`NOVEL_FRAMES` with both the
 * world's and new openings), pairs interleaved so that any prefix is balanced. None of them is
 * in `allPrompts()`.
 */
export function novelPrompts(): WorldPrompt[] {
  cachedNovel ??= promptsOf(NOVEL_FRAMES, [...OPENINGS, ...NOVEL_OPENINGS], "novel");
  return [...cachedNovel];
}

/** FNV-1a over the text, then a murmur3 finalizer so that the low digits are well mixed. */
function promptHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Which side of the split a prompt is on; depends only on its text. */
export function promptSplit(prompt: WorldPrompt | string): "train" | "heldout" {
  const text = typeof prompt === "string" ? prompt : prompt.text;
  return promptHash(text) % 100 < HELDOUT_PERCENT ? "heldout" : "train";
}

/** The training prompts, pairs interleaved so that any prefix is balanced. */
export function trainPrompts(): WorldPrompt[] {
  return interleavePairs(allPrompts().filter((p) => promptSplit(p) === "train"));
}

/** The held-out prompts, pairs interleaved so that any prefix is balanced. */
export function heldoutPrompts(): WorldPrompt[] {
  return interleavePairs(allPrompts().filter((p) => promptSplit(p) === "heldout"));
}

const LANGUAGE_PATTERNS: readonly (readonly [LanguageId, RegExp])[] = LANGUAGES.map((id) => [
  id,
  // "go" is a common English word, so only the capitalised name counts for Go.
  new RegExp(`\\b${LANGUAGE_NAMES[id]}\\b`, id === "go" ? "" : "i"),
]);

/** Keyword fallbacks for phrasings the world does not generate, tried in this order. */
const TASK_KEYWORDS: readonly (readonly [TaskId, RegExp])[] = [
  ["reverse", /\brevers/],
  ["sort", /\bsort/],
  ["dedupe", /\b(duplicate|unique|repeated|dedup)/],
  ["write-file", /\b(write|save)\b.*\bfile\b/],
  ["read-lines", /\bfile\b|\blines?\b/],
  ["join", /\b(join|concatenate|combine)/],
  ["split", /\b(split|break)\b/],
  ["parse-int", /\b(integer|int|number|parse)\b/],
  ["has-key", /\b(key|dictionary|map)\b/],
  ["contains", /\b(substring|contains?|inside)\b/],
  ["filter", /\b(filter|condition)\b/],
  ["trim", /\b(trim|strip|whitespace|spaces)\b/],
];

const ASK_TO_TASK: readonly (readonly [string, TaskId])[] = TASKS.flatMap((task) =>
  CATALOG[task].asks.map((ask) => [ask, task] as const),
).sort((a, b) => b[0].length - a[0].length);

export interface ParsedPrompt {
  readonly task: TaskId | null;
  readonly language: LanguageId | null;
}

/** Recovers (task, language) from any prompt text; null where the text does not say. */
export function parsePrompt(text: string): ParsedPrompt {
  const lower = text.toLowerCase();
  const language = LANGUAGE_PATTERNS.find(([, pattern]) => pattern.test(text))?.[0] ?? null;
  const task =
    ASK_TO_TASK.find(([ask]) => lower.includes(ask))?.[1] ??
    TASK_KEYWORDS.find(([, pattern]) => pattern.test(lower))?.[0] ??
    null;
  return { task, language };
}
