/**
 * The SFT corpus generator: answers of varied quality, as a forum of hurried helpers writes them.
 *
 * An answer is a sequence of sentences in a fixed order, each slot drawn independently:
 *   [opener filler] main sentence, explanation, [code example], [caveat], [closing filler]
 * The main sentence names the right idiom (62 %), stays vague (20 %) or names another
 * language's idiom (18 %), and is hedged ("I think", "maybe") 10 % of the time. The example
 * comes 30 % of the time, the caveat 12 % after a right idiom and 5 % otherwise, and 3 % of
 * answers lose their final period. So the modal answer (right idiom, no example, no caveat)
 * scores 2 of the oracle's 4.5, and the features that lift it are uncommon or rare, each at a
 * recognisable place: the example after "For example:", the caveat after "Note:".
 */
import type { Rng } from "../decoding/rng.ts";
import { CATALOG, LANGUAGES, LANGUAGE_NAMES, idiomFor } from "./world-catalog.ts";
import type { WorldPrompt } from "./world-prompts.ts";

export const RESPONSE_RATES = {
  rightIdiom: 0.62,
  vague: 0.2,
  opener: 0.2,
  hedge: 0.1,
  secondIdiom: 0.3,
  example: 0.3,
  caveatAfterRightIdiom: 0.12,
  caveatOtherwise: 0.05,
  closer: 0.12,
  unfinished: 0.03,
} as const;

export const MIN_RESPONSE_WORDS = 12;
export const MAX_RESPONSE_WORDS = 45;
/** With the forge's 1,459-token vocabulary this keeps `Q: prompt\nA: response` within 137 tokens, under the 160-token context. */
export const MAX_RESPONSE_CHARS = 220;

/** `{api}` is an idiom, `{purpose}` the task's verb phrase, `{lang}` the language name. */
const MAIN_FORMS = [
  "Use {api} to {purpose}.",
  "You can use {api} to {purpose}.",
  "In {lang}, use {api} to {purpose}.",
  "The usual tool is {api}, which lets you {purpose}.",
  "Reach for {api} when you need to {purpose}.",
] as const;

const HEDGED_MAIN_FORMS = [
  "I think you can use {api} to {purpose}.",
  "Maybe use {api} to {purpose}.",
  "You could probably use {api} to {purpose}.",
] as const;

const VAGUE_FORMS = [
  "{lang} has a built-in way to {purpose}.",
  "There is a standard function to {purpose}.",
  "You can write a short loop to {purpose}.",
  "Check the {lang} docs for a helper to {purpose}.",
] as const;

const HEDGED_VAGUE_FORMS = [
  "I think {lang} has a helper to {purpose}.",
  "Maybe write a small loop to {purpose}.",
] as const;

const EXPLANATIONS = [
  "It is short and easy to read.",
  "This is the idiomatic way in {lang}.",
  "It works on inputs of any size.",
  "Most {lang} code does it like this.",
  "It comes with the standard library.",
] as const;

export const EXAMPLE_FORMS = ["For example: `{code}`.", "Example: `{code}`.", "Like this: `{code}`.", "Here is a snippet: `{code}`."] as const;

/** Caveat leads with weights: "Note:" is the usual one, so a decoder can learn where caveats go. */
export const CAVEAT_FORMS: readonly (readonly [string, number])[] = [
  ["Note: {caveat}.", 0.6],
  ["Keep in mind that {caveat}.", 0.25],
  ["Careful: {caveat}.", 0.15],
];

const OPENERS = ["Sure!", "Great question!", "Good question.", "Sure, happy to help."] as const;
const CLOSERS = ["Hope this helps!", "Let me know if you need more help.", "Hope that helps, good luck!"] as const;

function fill(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => values[key] ?? `{${key}}`);
}

function pickWeighted(rng: Rng, items: readonly (readonly [string, number])[]): string {
  let u = rng.next() * items.reduce((sum, [, w]) => sum + w, 0);
  for (const [item, w] of items) {
    u -= w;
    if (u < 0) return item;
  }
  return items[items.length - 1]![0];
}

function fitsBudget(sentences: readonly string[]): boolean {
  const text = sentences.join(" ");
  return text.length <= MAX_RESPONSE_CHARS && text.split(/\s+/).filter((w) => w.length > 0).length <= MAX_RESPONSE_WORDS;
}

/**
 * One answer to `prompt`, drawn from the corpus distribution. Draws are made in a fixed order,
 * so the same generator state gives the same answer.
 */
export function sampleResponse(prompt: WorldPrompt, rng: Rng): string {
  const spec = CATALOG[prompt.task];
  const idiom = idiomFor(prompt.task, prompt.language);
  const lang = LANGUAGE_NAMES[prompt.language];
  const otherLanguage = rng.pick(LANGUAGES.filter((l) => l !== prompt.language));
  const wrongIdiom = idiomFor(prompt.task, otherLanguage);

  const quality = rng.next();
  const kind = quality < RESPONSE_RATES.rightIdiom ? "right" : quality < RESPONSE_RATES.rightIdiom + RESPONSE_RATES.vague ? "vague" : "wrong";
  const opener = rng.next() < RESPONSE_RATES.opener ? rng.pick(OPENERS) : null;
  const hedged = rng.next() < RESPONSE_RATES.hedge;
  const bothNamed = rng.next() < RESPONSE_RATES.secondIdiom;
  const mainForm = kind === "vague" ? rng.pick(hedged ? HEDGED_VAGUE_FORMS : VAGUE_FORMS) : rng.pick(hedged ? HEDGED_MAIN_FORMS : MAIN_FORMS);
  const explanation = rng.pick(EXPLANATIONS);
  const withExample = rng.next() < RESPONSE_RATES.example;
  const exampleForm = rng.pick(EXAMPLE_FORMS);
  const caveatRate = kind === "right" ? RESPONSE_RATES.caveatAfterRightIdiom : RESPONSE_RATES.caveatOtherwise;
  const withCaveat = rng.next() < caveatRate;
  const caveatForm = pickWeighted(rng, CAVEAT_FORMS);
  const closer = rng.next() < RESPONSE_RATES.closer ? rng.pick(CLOSERS) : null;
  const unfinished = rng.next() < RESPONSE_RATES.unfinished;

  const named = kind === "wrong" ? wrongIdiom.named : idiom.named;
  const api = bothNamed && named.length > 1 ? `${named[0]!} or ${named[1]!}` : named[0]!;
  const values = { api, purpose: spec.purpose, lang };
  const main = fill(mainForm, values);
  const example = withExample ? fill(exampleForm, { code: kind === "wrong" ? wrongIdiom.example : idiom.example }) : null;
  const caveat = withCaveat ? fill(caveatForm, { caveat: idiom.caveat }) : null;

  // Keep within the length budget by dropping the least informative parts first.
  let parts = { opener, explanation: fill(explanation, values), example, closer };
  const assemble = (): string[] =>
    [parts.opener, main, parts.explanation, parts.example, caveat, parts.closer].filter((s): s is string => s !== null);
  for (const drop of ["closer", "opener", "explanation", "example"] as const) {
    if (fitsBudget(assemble())) break;
    parts = { ...parts, [drop]: null };
  }
  const text = assemble().join(" ");
  return unfinished ? text.replace(/[.!?]$/, "") : text;
}

/** The best answer the world knows for a prompt: right idiom, an example and the caveat. */
export function idealResponse(prompt: WorldPrompt): string {
  const idiom = idiomFor(prompt.task, prompt.language);
  return `Use ${idiom.named[0]!} to ${CATALOG[prompt.task].purpose}. For example: \`${idiom.example}\`. Note: ${idiom.caveat}.`;
}
