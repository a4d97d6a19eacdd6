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

/**
 * Other words for the same tasks, which no training prompt uses: `novelAskPrompts()` asks them in
 * the world's own frames, so that a pair can also be checked on questions whose task is named
 * differently. Each still names its task by `parsePrompt`'s keywords, so the oracle can score it.
 */
const NOVEL_ASKS: Readonly<Record<TaskId, readonly string[]>> = {
  reverse: ["get a list in reverse order", "reverse the items of a vector"],
  sort: ["sort numbers in ascending order", "sort a collection of values"],
  "read-lines": ["process a text file one line at a time", "iterate through the lines in a file"],
  join: ["concatenate a list of words", "combine words into a sentence"],
  split: ["split text into separate words", "break a sentence into words"],
  "parse-int": ["parse a number out of a string", "turn text into an integer"],
  "has-key": ["test whether a dictionary contains a key", "look up whether a map holds a key"],
  dedupe: ["drop duplicate values from a list", "keep only the unique elements of a collection"],
  contains: ["test whether text contains a substring", "search a string for a substring"],
  "write-file": ["save some text into a file", "write output to a text file"],
  filter: ["filter items by a condition", "filter out values that fail a condition"],
  trim: ["strip leading and trailing whitespace", "trim the spaces around a string"],
};

/**
 * How a world's questions are worded. "templates": every (task, language) asked with every
 * combination of `FRAMES` and `OPENINGS` (432 phrasings per pair). "compositional": phrasings
 * composed from parts (openings, question, statement and imperative starters, where the language
 * goes, adverbs, endings, the original frames among them), 720 drawn per pair by hash, so that
 * a model trained on them cannot lean on a few fixed frames. "varied": the compositional parts,
 * with each task also named in `EXTRA_ASKS`' words (eight ways instead of three), so that the task
 * is recognised by its words rather than by three fixed verb phrases. None uses any wording of
 * `NOVEL_FRAMES`, `NOVEL_OPENINGS` or `NOVEL_ASKS` (test/forge/world.test.ts checks every part).
 */
export type Phrasings = "templates" | "compositional" | "varied";
export const PHRASINGS: readonly Phrasings[] = ["templates", "compositional", "varied"];

/** The phrasings of the installed built-in pair's world; the forge records its own in its manifest. */
export const WORLD_PHRASINGS: Phrasings = "varied";

const EXTRA_OPENINGS = [
  "Hey, ",
  "Hi there. ",
  "Hey there! ",
  "Good morning. ",
  "Okay, ",
  "So, ",
  "Please help. ",
  "I'm new to programming. ",
  "Simple question: ",
  "One more question: ",
  "Stuck here. ",
  "I'm a beginner. ",
  "Need help: ",
  "Hi all, ",
  "Hey folks, ",
  "Thanks in advance. ",
  "Dumb question: ",
  "Still learning. ",
] as const;

/** Starters followed by the task's verb phrase; a question ends in "?". */
const QUESTION_STARTERS = [
  "How do I", "How can I", "How do you", "How should I", "How would I", "How might I", "How to",
  "What is the best way to", "What's the best way to", "What is the easiest way to", "What's the easiest way to",
  "What is the simplest way to", "What's the simplest way to", "What is the fastest way to", "What is the quickest way to",
  "What is the usual way to", "What is the standard way to", "What is the idiomatic way to", "What is the recommended way to",
  "What is the right way to", "What is a good way to", "What's a good way to", "What is the proper way to",
  "Is there a simple way to", "Is there a built-in way to", "Is there an easy way to", "Is there a quick way to",
  "Is there a standard way to", "Can you show me how to", "Could you explain how to", "Can you explain how to",
  "What should I use to", "What do I use to", "What can I use to", "Can I", "Is it possible to",
  "What is the way to", "What is the code to", "Do you know how to", "Any idea how to",
] as const;

/** Starters that state a need; a follow-up question comes after. */
const STATEMENT_STARTERS = ["I need to", "I want to", "I'd like to", "I'm trying to", "I am trying to", "I have to", "I'm looking for a way to"] as const;
const FOLLOW_UPS = ["What should I use?", "How?", "Any ideas?", "What is the best way?", "How do I do that?", "What do you suggest?", "Where do I start?", "Is there a built-in for it?"] as const;

/** Imperative starters; they end in ".", "?" or nothing. */
const IMPERATIVE_STARTERS = ["Explain how to", "Please explain how to", "Teach me how to", "Walk me through how to", "Remind me how to", "Give me the code to", "Help me", "Please help me"] as const;

/** Where the language goes: after the verb phrase, or before the question. */
const LANGUAGE_SUFFIXES = [" in {lang}", " using {lang}", " in {lang} code", " in a {lang} program", " in plain {lang}"] as const;
const LANGUAGE_PREFIXES = ["In {lang}, ", "For {lang}, ", "{lang} question: "] as const;
const ADVERBS = [" quickly", " easily", " properly", " correctly", " efficiently", " safely"] as const;

/** More ways to name each task, for the "varied" world; none uses a `NOVEL_ASKS` wording. */
const EXTRA_ASKS: Readonly<Record<TaskId, readonly string[]>> = {
  reverse: ["flip the order of a list", "reverse the elements of an array", "turn a list backwards", "reverse an array in place", "reverse a list of strings"],
  sort: ["sort an array of numbers", "put a list in sorted order", "sort a list of strings", "order the items of a list", "sort an array in place"],
  "read-lines": ["read lines from a file", "get all lines of a file", "read every line from a file", "go over each line in a file", "read the lines of a file one by one"],
  join: ["join words with spaces", "join an array of strings", "merge a list of strings into one", "glue strings together with a separator", "join items with a dash"],
  split: ["split a line into words", "split a string by commas", "split a string into parts", "cut a string into words", "split a string by a separator"],
  "parse-int": ["convert text to an int", "parse an integer from a string", "cast a string to an integer", "read a number from a string", "convert a numeric string to an int"],
  "has-key": ["check for a key in a dictionary", "find out if a key exists in a map", "check if a dictionary key exists", "see if a key is present in a map", "verify that a map has a key"],
  dedupe: ["remove duplicate items from an array", "deduplicate a list", "get rid of duplicates in a list", "make the items of a list unique", "remove duplicate strings from a list"],
  contains: ["check if a string has a substring", "check whether a string includes a word", "find a substring in a string", "see if a string contains some text", "check if a word is inside a string"],
  "write-file": ["write a line to a file", "save text to a file", "write data to a file", "dump a string into a file", "store a string in a file"],
  filter: ["filter a list by a predicate", "keep the items that pass a test", "select matching items from a list", "filter an array with a condition", "remove items that do not match a condition"],
  trim: ["trim a string", "strip spaces from a string", "trim spaces off a string", "remove whitespace at the ends of a string", "trim the ends of a string"],
};

/** Compositional phrasings drawn per (task, language). */
const COMPOSITIONAL_PER_PAIR = 720;

/** The held-out share of prompts, in percent of the hash space. */
const HELDOUT_PERCENT = 15;

const cachedPrompts = new Map<Phrasings, readonly WorldPrompt[]>();
let cachedNovel: readonly WorldPrompt[] | undefined;
let cachedNovelAsks: readonly WorldPrompt[] | undefined;

/** A question starting with the pronoun I or the language's name ("Go question: …") keeps its first letter as it is. */
function keepsCapital(question: string, language: LanguageId): boolean {
  return /^I\b/.test(question) || question.startsWith(LANGUAGE_NAMES[language]);
}

function phrase(frame: string, opening: string, ask: string, language: LanguageId): string {
  const question = frame.replace("{ask}", ask).replace("{lang}", LANGUAGE_NAMES[language]);
  if (opening === "") return question;
  // After "Hi, " the question goes on in lower case ("Hi, how do I…"), except the pronoun I.
  const first = opening.endsWith(", ") && !keepsCapital(question, language) ? question.charAt(0).toLowerCase() : question.charAt(0).toUpperCase();
  return opening + first + question.slice(1);
}

/** Every (task, language) asked with every phrasing made of `frames` and `openings`, pairs interleaved. */
function promptsOf(frames: readonly string[], openings: readonly string[], salt: string, asksOf: (task: TaskId) => readonly string[] = (task) => CATALOG[task].asks): WorldPrompt[] {
  const prompts: WorldPrompt[] = [];
  for (const task of TASKS) {
    for (const language of LANGUAGES) {
      const variants: WorldPrompt[] = [];
      for (const ask of asksOf(task)) {
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
 * `perPair` distinct phrasings of every (task, language), each composed from parts chosen by a
 * hash of (salt, pair, draw), pairs interleaved. A draw is redrawn when it repeats an earlier one
 * or is longer than the world's prompt limits (20 words, 100 characters).
 */
function compositionalPromptsOf(perPair: number, salt: string, asksOf: (task: TaskId) => readonly string[]): WorldPrompt[] {
  const prompts: WorldPrompt[] = [];
  for (const task of TASKS) {
    for (const language of LANGUAGES) {
      const seen = new Set<string>();
      for (let draw = 0; seen.size < perPair; draw++) {
        if (draw > perPair * 50) throw new Error(`only ${seen.size} distinct phrasings for ${task}/${language}`);
        const pick = <T>(list: readonly T[], part: string): T => list[promptHash(`${salt}:${task}:${language}:${draw}:${part}`) % list.length]!;
        const chance = (part: string, percent: number) => promptHash(`${salt}:${task}:${language}:${draw}:${part}`) % 100 < percent;
        const text = composePhrasing(pick, chance, pick(asksOf(task), "ask"), language);
        if (seen.has(text) || text.length > 100 || text.split(/\s+/).length > 20) continue;
        seen.add(text);
        prompts.push({ text, task, language });
      }
    }
  }
  return interleavePairs(prompts);
}

type Pick = <T>(list: readonly T[], part: string) => T;

/** One phrasing: an original frame (a quarter of draws) or starter + ask + adverb + language + ending, with an opening. */
function composePhrasing(pick: Pick, chance: (part: string, percent: number) => boolean, ask: string, language: LanguageId): string {
  const opening = chance("plain", 30) ? "" : pick<string>([...OPENINGS, ...EXTRA_OPENINGS], "opening");
  if (chance("frame", 25)) return phrase(pick(FRAMES, "frame"), opening, ask, language);
  const kind = pick(["question", "question", "question", "statement", "imperative"] as const, "kind");
  const verb = ask + (chance("adverb", 15) ? pick(ADVERBS, "adverb") : "");
  const prefixed = chance("prefix", 20);
  const where = prefixed ? "" : pick(LANGUAGE_SUFFIXES, "suffix");
  let body: string;
  if (kind === "question") body = `${pick(QUESTION_STARTERS, "starter")} {ask}${where}${chance("no-mark", 10) ? "" : "?"}`;
  else if (kind === "statement") body = `${pick(STATEMENT_STARTERS, "starter")} {ask}${where}. ${pick(FOLLOW_UPS, "follow-up")}`;
  else body = `${pick(IMPERATIVE_STARTERS, "starter")} {ask}${where}${pick([".", "?", "", ", please."], "end")}`;
  if (prefixed) {
    const prefix = pick(LANGUAGE_PREFIXES, "prefix");
    // "In Python, how do I…", but the pronoun I keeps its capital.
    body = prefix + (/^I\b/.test(body) ? body : body.charAt(0).toLowerCase() + body.slice(1));
  }
  const text = phrase(body, opening, verb, language);
  // Some users start in lower case; the language's name keeps its capital.
  return opening === "" && chance("lower", 10) && !keepsCapital(text, language) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
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
export function allPrompts(phrasings: Phrasings = WORLD_PHRASINGS): WorldPrompt[] {
  let prompts = cachedPrompts.get(phrasings);
  if (prompts === undefined) {
    prompts =
      phrasings === "templates"
        ? promptsOf(FRAMES, OPENINGS, "order")
        : phrasings === "compositional"
          ? compositionalPromptsOf(COMPOSITIONAL_PER_PAIR, "compose", (task) => CATALOG[task].asks)
          : compositionalPromptsOf(COMPOSITIONAL_PER_PAIR, "compose", (task) => worldAsks(task, "varied"));
    cachedPrompts.set(phrasings, prompts);
  }
  return [...prompts];
}

/** The verb phrases a world names `task` with. */
export function worldAsks(task: TaskId, phrasings: Phrasings = WORLD_PHRASINGS): readonly string[] {
  return phrasings === "varied" ? [...CATALOG[task].asks, ...EXTRA_ASKS[task]] : CATALOG[task].asks;
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

/**
 * The world's questions with their task named in words no training prompt uses (`NOVEL_ASKS`),
 * in the template frames and openings, pairs interleaved so that any prefix is balanced.
 */
export function novelAskPrompts(): WorldPrompt[] {
  cachedNovelAsks ??= promptsOf(FRAMES, OPENINGS, "novel-asks", (task) => NOVEL_ASKS[task]);
  return [...cachedNovelAsks];
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
export function trainPrompts(phrasings: Phrasings = WORLD_PHRASINGS): WorldPrompt[] {
  return interleavePairs(allPrompts(phrasings).filter((p) => promptSplit(p) === "train"));
}

/** The held-out prompts, pairs interleaved so that any prefix is balanced. */
export function heldoutPrompts(phrasings: Phrasings = WORLD_PHRASINGS): WorldPrompt[] {
  return interleavePairs(allPrompts(phrasings).filter((p) => promptSplit(p) === "heldout"));
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
  [...CATALOG[task].asks, ...EXTRA_ASKS[task]].map((ask) => [ask, task] as const),
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
