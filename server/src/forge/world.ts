/**
 * The forge's toy world: editor users asking short programming questions ("How do I reverse a
 * list in Python?"), a corpus of answers of varied quality, and a transparent oracle reward.
 * It reproduces in miniature the setting of "Alignment-Aware Decoding": the reward depends on
 * features that the SFT data makes rare but not absent (a code example, the task's caveat, no
 * filler), so greedy decoding of the SFT model lands on the modal, mediocre answer.
 *
 * - world-catalog.ts: tasks x languages, with each pair's idiom, example and caveat.
 * - world-prompts.ts: the prompts, their split, and the prompt parser.
 * - world-responses.ts: the SFT corpus sampler (`sampleResponse`) and `idealResponse`.
 * - world-oracle.ts: the oracle reward and its feature table.
 *
 * Training text is `Q: <prompt>\nA: <response>`; `formatExample` and `CHAT_TEMPLATE` agree on it.
 */
export { CATALOG, LANGUAGES, LANGUAGE_NAMES, TASKS, idiomFor, type Idiom, type LanguageId, type TaskId, type TaskSpec } from "./world-catalog.ts";
export {
  allPrompts,
  heldoutPrompts,
  novelAskPrompts,
  novelPrompts,
  parsePrompt,
  PHRASINGS,
  promptSplit,
  trainPrompts,
  WORLD_PHRASINGS,
  worldAsks,
  type ParsedPrompt,
  type Phrasings,
  type WorldPrompt,
} from "./world-prompts.ts";
export {
  MAX_RESPONSE_CHARS,
  MAX_RESPONSE_WORDS,
  MIN_RESPONSE_WORDS,
  RESPONSE_RATES,
  idealResponse,
  sampleResponse,
} from "./world-responses.ts";
export {
  FILLER_PHRASES,
  ORACLE_MAX_REWARD,
  ORACLE_WEIGHTS,
  countRepeats,
  oracleReward,
  oracleRewardBreakdown,
  type OracleBreakdown,
  type OracleFeature,
} from "./world-oracle.ts";

/** The prompt-and-answer text the models are trained and queried on. */
export function formatExample(promptText: string, responseText?: string): string {
  return responseText === undefined ? `Q: ${promptText}\nA:` : `Q: ${promptText}\nA: ${responseText}`;
}

/**
 * A Hugging Face style chat template for the same text: a user message renders `Q: <content>\n`,
 * an assistant message `A: <content>` then the end-of-sequence token, and the generation prompt
 * is `A:`. So one user message with `add_generation_prompt` gives `formatExample(prompt)`, and a
 * user then an assistant message give `formatExample(prompt, response) + eos_token`. The only
 * newline follows a `{{ }}` expression, which `trim_blocks` leaves alone.
 */
export const CHAT_TEMPLATE =
  "{% for message in messages %}" +
  "{% if message['role'] == 'user' %}Q: {{ message['content'] }}\n" +
  "{% elif message['role'] == 'assistant' %}A: {{ message['content'] }}{{ eos_token }}" +
  "{% endif %}" +
  "{% endfor %}" +
  "{% if add_generation_prompt %}A:{% endif %}";
