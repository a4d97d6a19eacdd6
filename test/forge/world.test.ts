import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createRng } from "../../server/src/decoding/rng.ts";
import {
  CATALOG,
  CHAT_TEMPLATE,
  LANGUAGES,
  LANGUAGE_NAMES,
  MAX_RESPONSE_CHARS,
  MAX_RESPONSE_WORDS,
  MIN_RESPONSE_WORDS,
  ORACLE_MAX_REWARD,
  TASKS,
  allPrompts,
  formatExample,
  heldoutPrompts,
  idealResponse,
  novelAskPrompts,
  novelPrompts,
  oracleReward,
  oracleRewardBreakdown,
  parsePrompt,
  PHRASINGS,
  promptSplit,
  sampleResponse,
  trainPrompts,
  worldAsks,
  type OracleFeature,
  type Phrasings,
  type WorldPrompt,
} from "../../server/src/forge/world.ts";
import { faithfulnessSummary, sentences, writtenParts } from "../../server/src/forge/world-faithfulness.ts";

const ASCII = /^[\x20-\x7e\n]*$/;

function wordCount(text: string): number {
  return text.split(/\s+/).filter((w) => w.length > 0).length;
}

function features(partial: Partial<Record<OracleFeature, number>>): Record<OracleFeature, number> {
  return {
    api: 0,
    wrongApi: 0,
    example: 0,
    caveat: 0,
    filler: 0,
    tooShort: 0,
    tooLong: 0,
    repetition: 0,
    unfinished: 0,
    ...partial,
  };
}

/** A fixed sample of the SFT corpus: prompts drawn uniformly from the training split. */
function corpus(size: number, seed: number): { prompt: WorldPrompt; response: string }[] {
  const rng = createRng(seed);
  const prompts = trainPrompts();
  return Array.from({ length: size }, () => {
    const prompt = rng.pick(prompts);
    return { prompt, response: sampleResponse(prompt, rng) };
  });
}

const SAMPLE = corpus(3000, 20240611);
const REVERSE_PY = "How do I reverse a list in Python?";

for (const phrasings of PHRASINGS) void describe(`prompts (${phrasings})`, () => {
  void it("lists at least 3,000 distinct prompts in a stable order", () => {
    const prompts = allPrompts(phrasings);
    assert.ok(prompts.length >= 3000, `only ${prompts.length} prompts`);
    assert.equal(new Set(prompts.map((p) => p.text)).size, prompts.length);
    assert.deepEqual(allPrompts(phrasings), prompts);
  });

  void it("covers every task in every language", () => {
    const pairs = new Set(allPrompts(phrasings).map((p) => `${p.task}/${p.language}`));
    assert.equal(pairs.size, TASKS.length * LANGUAGES.length);
  });

  void it("writes prompts in plain ASCII and short enough for the context", () => {
    for (const p of allPrompts(phrasings)) {
      assert.match(p.text, ASCII);
      assert.ok(wordCount(p.text) <= 20, p.text);
      assert.ok(p.text.length <= 100, p.text);
    }
  });

  void it("parses every prompt back to its task and language", () => {
    for (const p of allPrompts(phrasings)) assert.deepEqual(parsePrompt(p.text), { task: p.task, language: p.language }, p.text);
  });

  void it("parses phrasings the world does not generate by keywords", () => {
    assert.deepEqual(parsePrompt("any idea how to reverse stuff in python"), { task: "reverse", language: "python" });
    assert.deepEqual(parsePrompt("Go: save my notes to a file"), { task: "write-file", language: "go" });
    assert.deepEqual(parsePrompt("what should I go and eat"), { task: null, language: null });
  });
});

for (const phrasings of PHRASINGS) void describe(`train/held-out split (${phrasings})`, () => {
  void it("puts every prompt on exactly one side", () => {
    const train = new Set(trainPrompts(phrasings).map((p) => p.text));
    const heldout = new Set(heldoutPrompts(phrasings).map((p) => p.text));
    for (const text of heldout) assert.ok(!train.has(text), text);
    assert.equal(train.size + heldout.size, allPrompts(phrasings).length);
  });

  void it("holds out about 15 % of prompts, at least 450", () => {
    const share = heldoutPrompts(phrasings).length / allPrompts(phrasings).length;
    assert.ok(heldoutPrompts(phrasings).length >= 450, `${heldoutPrompts(phrasings).length} held out`);
    assert.ok(share > 0.12 && share < 0.18, `held-out share ${share}`);
  });

  void it("holds out prompts of every task and language", () => {
    const pairs = new Set(heldoutPrompts(phrasings).map((p) => `${p.task}/${p.language}`));
    assert.equal(pairs.size, TASKS.length * LANGUAGES.length);
  });

  void it("orders each split so that its first prompts cover every task and language", () => {
    const pairs = TASKS.length * LANGUAGES.length;
    for (const prompts of [allPrompts(phrasings), trainPrompts(phrasings), heldoutPrompts(phrasings)]) {
      assert.equal(new Set(prompts.slice(0, pairs).map((p) => `${p.task}/${p.language}`)).size, pairs);
    }
  });

  void it("decides by the prompt text alone", () => {
    for (const p of allPrompts(phrasings).slice(0, 500)) assert.equal(promptSplit(p.text), promptSplit(p));
  });
});

void describe("sampleResponse", () => {
  void it("gives the same answers for the same seed", () => {
    assert.deepEqual(corpus(200, 7), corpus(200, 7));
  });

  void it("gives different answers for different seeds", () => {
    const a = corpus(50, 1).map((x) => x.response);
    const b = corpus(50, 2).map((x) => x.response);
    assert.notDeepEqual(a, b);
  });

  void it("varies its answers to one prompt", () => {
    const prompt = allPrompts()[0]!;
    const rng = createRng(3);
    const answers = new Set(Array.from({ length: 200 }, () => sampleResponse(prompt, rng)));
    assert.ok(answers.size > 100, `${answers.size} distinct answers`);
  });

  void it("writes ASCII answers of 12 to 45 words within the character budget", () => {
    for (const { prompt, response } of SAMPLE) {
      assert.match(response, ASCII);
      assert.ok(!response.includes("\n"), response);
      const n = wordCount(response);
      assert.ok(n >= MIN_RESPONSE_WORDS && n <= MAX_RESPONSE_WORDS, `${n} words: ${response}`);
      assert.ok(response.length <= MAX_RESPONSE_CHARS, response);
      assert.ok(formatExample(prompt.text, response).length <= 330, response);
    }
  });

  void it("never repeats itself", () => {
    for (const { prompt, response } of SAMPLE) {
      assert.equal(oracleRewardBreakdown(prompt.text, response).features.repetition, 0, response);
    }
  });
});

void describe("corpus statistics", () => {
  const breakdowns = SAMPLE.map(({ prompt, response }) => oracleRewardBreakdown(prompt.text, response));
  const rate = (feature: OracleFeature): number =>
    breakdowns.filter((b) => b.features[feature] !== 0).length / breakdowns.length;

  void it("states the caveat rarely (5-15 % of answers)", () => {
    const r = rate("caveat");
    assert.ok(r >= 0.05 && r <= 0.15, `caveat rate ${r}`);
  });

  void it("uses filler often (25-45 % of answers)", () => {
    const r = rate("filler");
    assert.ok(r >= 0.25 && r <= 0.45, `filler rate ${r}`);
  });

  void it("gives a code example in a minority of answers", () => {
    const r = rate("example");
    assert.ok(r >= 0.15 && r <= 0.35, `example rate ${r}`);
  });

  void it("names the right idiom in most answers, another language's in some", () => {
    assert.ok(rate("api") > 0.55 && rate("api") < 0.8, `api rate ${rate("api")}`);
    assert.ok(rate("wrongApi") > 0.1 && rate("wrongApi") < 0.25, `wrongApi rate ${rate("wrongApi")}`);
  });

  void it("has a modal reward of 2: the right idiom and nothing more", () => {
    const counts = new Map<number, number>();
    for (const b of breakdowns) counts.set(b.total, (counts.get(b.total) ?? 0) + 1);
    const [mode] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]!;
    assert.equal(mode, 2);
  });

  void it("scores well below the ideal answer on average", () => {
    const mean = breakdowns.reduce((s, b) => s + b.total, 0) / breakdowns.length;
    assert.ok(mean < ORACLE_MAX_REWARD - 2.5, `mean reward ${mean}`);
    assert.ok(mean > 0.5, `mean reward ${mean}`);
  });

  void it("contains every feature choice, so none is out of a model's reach", () => {
    const best = breakdowns.filter((b) => b.total === ORACLE_MAX_REWARD).length;
    assert.ok(best > 0 && best / breakdowns.length < 0.05, `${best} ideal answers`);
  });
});

void describe("oracleReward", () => {
  void it("scores hand-written answers from best to worst", () => {
    const ideal = "Use reversed(xs) to get the items in reverse order. For example: `ys = xs[::-1]`. Note: xs[::-1] makes a copy, while xs.reverse() changes the list in place.";
    const withExample = "Use reversed(xs) to get the items in reverse order. For example: `ys = xs[::-1]`.";
    const plain = "You can use reversed(xs) to get the items in reverse order. It is short and easy to read.";
    const filler = "Sure! I think you can use reversed(xs) to get the items in reverse order. Hope this helps!";
    const vague = "Python has a built-in way to get the items in reverse order. It is short and easy to read.";
    const wrong = "In Python, use arr.reverse() to get the items in reverse order. It is short and easy to read.";
    const loop = "Use reversed(xs) to get the items. Use reversed(xs) to get the items. Use reversed(xs) to get the items.";
    const scores = [ideal, withExample, plain, filler, vague, wrong, loop].map((r) => oracleReward(REVERSE_PY, r));
    assert.deepEqual(scores, [4.5, 3, 2, 0.5, 0, -1, -3]);
  });

  void it("explains a score feature by feature", () => {
    const b = oracleRewardBreakdown(
      REVERSE_PY,
      "Sure! Use reversed(xs) or arr.reverse() to get the items in reverse order. Like this: `ys = xs[::-1]`",
    );
    assert.deepEqual(b.features, features({ api: 2, wrongApi: -1, example: 1, filler: -0.5, unfinished: -0.5 }));
    assert.equal(b.total, 1);
    assert.equal(b.task, "reverse");
    assert.equal(b.language, "python");
  });

  void it("gives the ideal answer of every prompt the maximum reward", () => {
    for (const p of allPrompts()) {
      const b = oracleRewardBreakdown(p.text, idealResponse(p));
      assert.deepEqual(b.features, features({ api: 2, example: 1, caveat: 1.5 }), `${p.text} -> ${idealResponse(p)}`);
      assert.equal(b.total, ORACLE_MAX_REWARD);
    }
  });

  void it("credits the caveat whatever lead-in introduces it", () => {
    for (const lead of ["Note:", "Keep in mind that", "Careful:", "Also,"]) {
      const r = `Use sorted(xs) to put the items in order. ${lead} xs.sort() sorts in place and returns None.`;
      assert.equal(oracleRewardBreakdown("How can I sort a list in Python?", r).features.caveat, 1.5, lead);
    }
  });

  void it("does not credit another language's caveat", () => {
    const r = "Use arr.toSorted() to put the items in order. Note: xs.sort() sorts in place and returns None.";
    assert.equal(oracleRewardBreakdown("How can I sort an array in JavaScript?", r).features.caveat, 0);
  });

  void it("counts an example only if its code uses a right idiom", () => {
    const prompt = "How can I sort an array in JavaScript?";
    const right = "Use arr.toSorted() to put the items in order. Example: `const s = arr.toSorted();`.";
    const wrong = "Use arr.toSorted() to put the items in order. Example: `ys = sorted(xs)`.";
    assert.equal(oracleRewardBreakdown(prompt, right).features.example, 1);
    assert.equal(oracleRewardBreakdown(prompt, wrong).features.example, 0);
    assert.equal(oracleRewardBreakdown(prompt, wrong).features.wrongApi, -1);
  });

  void it("charges each filler phrase", () => {
    const r = "Sure, happy to help. Maybe use reversed(xs) to get the items in reverse order. Hope that helps, good luck!";
    assert.equal(oracleRewardBreakdown(REVERSE_PY, r).features.filler, -2.5);
  });

  void it("penalises answers that are too short, too long or unfinished", () => {
    assert.deepEqual(oracleRewardBreakdown(REVERSE_PY, "Use xs[::-1].").features, features({ api: 2, tooShort: -1 }));
    const long = `Use reversed(xs). ${Array.from({ length: 50 }, (_, i) => `w${i}`).join(" ")}.`;
    assert.equal(oracleRewardBreakdown(REVERSE_PY, long).features.tooLong, -0.6);
    assert.equal(oracleRewardBreakdown(REVERSE_PY, "").total, -1.5);
  });

  void it("catches a decoder stuck in a loop, up to a floor", () => {
    const stuck = Array.from({ length: 30 }, () => "the list").join(" ") + ".";
    assert.equal(oracleRewardBreakdown(REVERSE_PY, stuck).features.repetition, -5);
    const twice = "Use reversed(xs) to get the items in reverse order. Done. Done.";
    assert.equal(oracleRewardBreakdown(REVERSE_PY, twice).features.repetition, -1);
  });

  void it("lets an example repeat the idiom the prose named", () => {
    const r = "In Go, use v, ok := m[key] to test for the key before you read it. Example: `if v, ok := m[key]; ok { fmt.Println(v) }`.";
    assert.equal(oracleRewardBreakdown("How do I check if a key is in a map in Go?", r).features.repetition, 0);
  });

  void it("never scores any text above the ideal answer", () => {
    const prompts = allPrompts();
    fc.assert(
      fc.property(fc.nat(prompts.length - 1), fc.string({ maxLength: 300 }), (i, text) => {
        const reward = oracleReward(prompts[i]!.text, text);
        return Number.isFinite(reward) && reward <= ORACLE_MAX_REWARD;
      }),
      { numRuns: 300 },
    );
  });
});

void describe("catalog", () => {
  void it("keeps each language's text free of the other languages' idioms", () => {
    for (const task of TASKS) {
      for (const language of LANGUAGES) {
        const idiom = CATALOG[task].idioms[language];
        const texts = [...idiom.named, idiom.example, idiom.caveat];
        for (const other of LANGUAGES.filter((l) => l !== language)) {
          const prompt = `How do I ${CATALOG[task].asks[0]!} in ${LANGUAGE_NAMES[other]}?`;
          for (const text of texts) {
            assert.equal(oracleRewardBreakdown(prompt, text).features.api, 0, `${task}: ${language} text "${text}" reads as ${other}`);
          }
        }
      }
    }
  });

  void it("gives every idiom an example that uses it and a caveat that contains its key", () => {
    for (const task of TASKS) {
      for (const language of LANGUAGES) {
        const idiom = CATALOG[task].idioms[language];
        assert.ok(idiom.caveat.toLowerCase().includes(idiom.caveatKey), `${task}/${language}`);
        assert.match(idiom.example + idiom.caveat + idiom.named.join(" "), ASCII);
      }
    }
  });
});

void describe("training text", () => {
  void it("formats a prompt alone and with its answer", () => {
    assert.equal(formatExample("How?"), "Q: How?\nA:");
    assert.equal(formatExample("How?", "Like this."), "Q: How?\nA: Like this.");
  });

  void it("has a chat template that renders the same text", async () => {
    const { Template } = await import("@huggingface/jinja");
    const template = new Template(CHAT_TEMPLATE);
    const user = { role: "user", content: REVERSE_PY };
    const answer = "Use reversed(xs) to get the items in reverse order.";
    assert.equal(
      template.render({ messages: [user], add_generation_prompt: true, eos_token: "</s>" }),
      formatExample(REVERSE_PY),
    );
    assert.equal(
      template.render({ messages: [user, { role: "assistant", content: answer }], add_generation_prompt: false, eos_token: "</s>" }),
      formatExample(REVERSE_PY, answer) + "</s>",
    );
  });
});

void describe("prompts in unseen phrasings", () => {
  void it("asks every task in every language in phrasings no world prompt uses", () => {
    const novel = novelPrompts();
    const known = new Set(PHRASINGS.flatMap((phrasings) => allPrompts(phrasings).map((p) => p.text)));
    assert.ok(novel.length >= 1000, `only ${novel.length} novel prompts`);
    assert.equal(new Set(novel.map((p) => `${p.task}/${p.language}`)).size, TASKS.length * LANGUAGES.length);
    for (const p of novel) {
      assert.ok(!known.has(p.text), p.text);
      assert.deepEqual(parsePrompt(p.text), { task: p.task, language: p.language }, p.text);
      assert.match(p.text, ASCII);
    }
  });

  void it("shares no question frame with the world's prompts", () => {
    // The frame is the text without its opening, with the task's ask and the language name taken out.
    const openings = ["Quick question: ", "Beginner here. ", "Hi, ", "Question: ", "Help me out. ", "Hello! ", "Newbie question: ", "Sorry if this is basic. "];
    const frame = (p: WorldPrompt) => {
      const opening = openings.find((o) => p.text.startsWith(o)) ?? "";
      const text = p.text.slice(opening.length).toLowerCase();
      const ask = [...CATALOG[p.task].asks].sort((a, b) => b.length - a.length).find((a) => text.includes(a))!;
      return text.replace(ask, "{ask}").replace(LANGUAGE_NAMES[p.language].toLowerCase(), "{lang}");
    };
    const trained = new Set(PHRASINGS.flatMap((phrasings) => allPrompts(phrasings).map(frame)));
    for (const p of novelPrompts().slice(0, 400)) assert.ok(!trained.has(frame(p)), `${p.text} reuses a trained frame`);
  });

  void it("keeps the unseen phrasings' own wording out of every world prompt", () => {
    // Words and constructions only the novel frames and openings use; a world prompt with any of
    // them would make the unseen set partly seen.
    const novelOnly = [/cleanest/i, /\btips\b/i, /\bwhich\b/i, /\bfunction\b/i, /\blets\b/i, /would you/i, /\bmy\b/i, /\bneeds\b/i, /\btell me\b/i, /^show me/i, /\bhello\b/i, /newbie/i, /\bsorry\b/i, /^Using /, new RegExp(` with (${Object.values(LANGUAGE_NAMES).join("|")})\\b`)];
    for (const phrasings of PHRASINGS) {
      for (const p of allPrompts(phrasings)) {
        const hit = novelOnly.find((pattern) => pattern.test(p.text));
        assert.equal(hit, undefined, `${phrasings}: "${p.text}" uses ${String(hit)}`);
      }
    }
    // The check can fail: the novel prompts themselves are caught by it.
    assert.ok(novelPrompts().filter((p) => novelOnly.some((pattern) => pattern.test(p.text))).length > novelPrompts().length / 2);
  });

  void it("names every task in words no world prompt uses, and parses them back", () => {
    const asks = novelAskPrompts();
    assert.ok(asks.length >= 1000, `only ${asks.length} prompts with unseen asks`);
    assert.equal(new Set(asks.map((p) => `${p.task}/${p.language}`)).size, TASKS.length * LANGUAGES.length);
    const worlds = PHRASINGS.flatMap((phrasings) => allPrompts(phrasings));
    const known = new Set(worlds.map((p) => p.text));
    for (const p of asks) {
      assert.ok(!known.has(p.text), p.text);
      assert.deepEqual(parsePrompt(p.text), { task: p.task, language: p.language }, p.text);
    }
    // No catalog ask appears in them, so the task is never named the trained way.
    const trainedAsks = new Set(PHRASINGS.flatMap((phrasings) => TASKS.flatMap((task) => worldAsks(task, phrasings))));
    assert.equal(trainedAsks.size, 12 * 8);
    for (const p of asks.slice(0, 2000)) for (const ask of trainedAsks) assert.ok(!p.text.toLowerCase().includes(ask), `${p.text} contains the trained ask "${ask}"`);
    assert.equal(new Set(asks.map((p) => p.text)).size, asks.length);
  });

  void it("words the compositional world far more ways than the templates", () => {
    const frames = (phrasings: Phrasings) => new Set(allPrompts(phrasings).map((p) => p.text.replace([...worldAsks(p.task, phrasings)].sort((a, b) => b.length - a.length).find((a) => p.text.includes(a)) ?? "", "{ask}").replace(LANGUAGE_NAMES[p.language], "{lang}")));
    const templates = frames("templates").size;
    const compositional = frames("compositional").size;
    assert.ok(compositional > 10 * templates, `${compositional} compositional frames against ${templates} template frames`);
  });
});

void describe("faithfulness measure", () => {
  const reverse = { text: REVERSE_PY, task: "reverse", language: "python" } as const satisfies WorldPrompt;

  void it("splits sentences outside code spans", () => {
    assert.deepEqual(sentences("Use `xs[::-1]. ok`. Note: it copies. Done"), ["Use `xs[::-1]. ok`.", "Note: it copies.", "Done"]);
  });

  void it("finds nothing garbled in the corpus itself", () => {
    const rng = createRng(5);
    const items = allPrompts().slice(0, 3000).map((p) => ({ prompt: p.text, response: sampleResponse(p, rng) }));
    const summary = faithfulnessSummary(items);
    assert.equal(summary.garbledShare, 0);
    assert.ok(summary.examples > 300 && summary.caveats > 100, JSON.stringify(summary));
  });

  void it("flags an example or caveat that no corpus answer to the prompt writes", () => {
    assert.deepEqual(writtenParts(reverse.text, idealResponse(reverse)), { examples: 1, garbledExamples: 0, caveats: 1, garbledCaveats: 0 });
    // Another language's example is a corpus form (its wrong answers quote them); a mangled one is not.
    assert.equal(writtenParts(REVERSE_PY, "Use arr.reverse() to flip it. For example: `const r = arr.toReversed();`.").garbledExamples, 0);
    assert.equal(writtenParts(REVERSE_PY, "Use reversed(xs). For example: `ys = xs[::-1`.").garbledExamples, 1);
    assert.equal(writtenParts(REVERSE_PY, "Use reversed(xs). For example: `ys = xs[::-1]`").garbledExamples, 0, "an unfinished final sentence is not garbling");
    // A caveat of another language, or cut short, or with a wrong lead-in, is garbled.
    assert.equal(writtenParts(REVERSE_PY, "Use reversed(xs). Note: arr.reverse() mutates the array, so copy it first to keep the original.").garbledCaveats, 1);
    assert.equal(writtenParts(REVERSE_PY, "Use reversed(xs). Note: xs[::-1] makes a copy.").garbledCaveats, 1);
    assert.equal(writtenParts(REVERSE_PY, "Use reversed(xs). It changes the list in place sometimes.").garbledCaveats, 1);
  });

  void it("measures feature rates as shares of answers", () => {
    const s = faithfulnessSummary([
      { prompt: REVERSE_PY, response: idealResponse(reverse) },
      { prompt: REVERSE_PY, response: "Sure! There is a standard function to get the items in reverse order." },
    ]);
    assert.deepEqual(s.rates, { api: 0.5, wrongApi: 0, example: 0.5, caveat: 0.5, filler: 0.5 });
    assert.equal(s.meanReward, (oracleReward(REVERSE_PY, idealResponse(reverse)) + oracleReward(REVERSE_PY, "Sure! There is a standard function to get the items in reverse order.")) / 2);
  });
});
