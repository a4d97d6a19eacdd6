/**
 * The exact-log-probability shortcut against the full-distribution path, on real models: every
 * token either path reports must agree to 1e-5 in log space, on the built-in pair and on the 32k
 * bench pair, including positions where EOS is a candidate and restrictions that contain EOS.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Token } from "node-llama-cpp";
import { candidateSet, DEFAULT_ALPHA, topTokens } from "../../server/src/decoding/index.ts";
import { formatExample, heldoutPrompts } from "../../server/src/forge/world.ts";
import { ModelPair, type StepLogprobs } from "../../server/src/runtime/index.ts";
import { prerequisite } from "../ci.ts";
import { realFixture } from "./real-fixtures.ts";
import { benchPair, builtInPair, disposeTestLlama, maxLogprobError, measureAlong, testLlama } from "./support.ts";

const TOLERANCE = 1e-5;
const view = { minP: DEFAULT_ALPHA, topK: 8 };

after(disposeTestLlama);

/** Token ids of a prompt plus its DPO-greedy answer: positions a real decode passes through. */
async function answeredPrompt(pair: ModelPair, promptText: string): Promise<number[]> {
  const model = pair.model;
  const prompt = [model.tokens.bos!, ...model.tokenize(promptText)];
  const lane = pair.lane("dpo");
  const answer: number[] = [];
  await lane.prepare(prompt);
  let last: number = prompt.at(-1)!;
  while (prompt.length + answer.length < pair.info.contextSize - 1 && answer.length < 40) {
    const next = lane.push(last, (position) => position.measure({ view: { minP: 1, topK: 1 } }));
    await lane.flush();
    const token = (await next)!.tokens[0]!;
    answer.push(token);
    if (model.isEogToken(token as Token)) break;
    last = token;
  }
  return [...prompt, ...answer];
}

describe("built-in pair", () => {
  let pair: ModelPair;
  before(async () => {
    const files = builtInPair();
    pair = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama: await testLlama() });
  });
  after(() => pair.dispose());

  test("the DPO view and the SFT restriction match the full distribution to 1e-5 at every position of 12 answers", async (t) => {
    let worst = 0;
    let positions = 0;
    let eosCandidates = 0;
    const eos = pair.model.tokens.eos!;
    for (const prompt of heldoutPrompts().slice(0, 12)) {
      const tokens = await answeredPrompt(pair, formatExample(prompt.text));
      const measured = Math.min(tokens.length - 1, 48);
      const dpoSteps = await measureAlong(pair.lane("dpo"), tokens, measured, () => [{ view }]);
      const sets = dpoSteps.map(({ shortcut }) => {
        const dpoView = shortcut[0]!;
        return [...new Set([...Array.from(candidateSet(dpoView, DEFAULT_ALPHA).tokens), ...Array.from(topTokens(dpoView, 8).tokens), eos])];
      });
      const sftSteps = await measureAlong(pair.lane("sft"), tokens, measured, (i) => [{ score: sets[i]! }]);
      for (const [i, { shortcut, full }] of dpoSteps.entries()) {
        const dpoView = shortcut[0]!;
        assert.equal(dpoView.full, false, "the DPO view took the shortcut");
        worst = Math.max(worst, maxLogprobError(dpoView, full), maxLogprobError(sftSteps[i]!.shortcut[0]!, sftSteps[i]!.full));
        // The view holds the exact candidate set and top 8 of the full distribution.
        assert.deepEqual(sortedIds(candidateSet(dpoView, DEFAULT_ALPHA).tokens), sortedIds(candidateSet(full, DEFAULT_ALPHA).tokens));
        assert.deepEqual(Array.from(topTokens(dpoView, 8).tokens), Array.from(topTokens(full, 8).tokens));
        if (Array.from(candidateSet(full, DEFAULT_ALPHA).tokens).includes(eos)) eosCandidates++;
        positions++;
      }
    }
    t.diagnostic(`${positions} positions, max |Δ log p| = ${worst.toExponential(2)}, EOS a DPO candidate at ${eosCandidates}`);
    assert.ok(worst <= TOLERANCE, `max |Δ log p| ${worst} > ${TOLERANCE}`);
    assert.ok(eosCandidates > 0, "some measured position has EOS in the DPO candidate set");
  });

  test("picks only: the candidate set and its log-probabilities up to one constant per position, in one pass per model", async (t) => {
    let worst = 0;
    let multi = 0;
    let positions = 0;
    for (const prompt of heldoutPrompts().slice(12, 20)) {
      const tokens = await answeredPrompt(pair, formatExample(prompt.text));
      const found = await picksOnlyAgainstFull(pair, tokens, Math.min(tokens.length - 1, 48));
      worst = Math.max(worst, found.worst);
      multi += found.multi;
      positions += found.positions;
    }
    t.diagnostic(`${positions} positions (${multi} with several candidates), max deviation from a per-position shift ${worst.toExponential(2)}`);
    assert.ok(multi > 0);
    assert.ok(worst <= TOLERANCE, `deviation ${worst}`);
  });

  test("per step on the built-in pair: the shortcut's cost beside the full distribution's", async (t) => {
    t.diagnostic((await stepCosts(pair, formatExample(heldoutPrompts()[0]!.text))).summary);
  });

  test("a restriction that contains EOS gives EOS its true probability (TokenBias.set would drop it)", async () => {
    const eos = pair.model.tokens.eos!;
    const tokens = await answeredPrompt(pair, formatExample(heldoutPrompts()[0]!.text));
    const steps = await measureAlong(pair.lane("sft"), tokens, 4, () => [{ score: [eos, 5, 17] }]);
    for (const { shortcut, full } of steps) {
      const i = Array.from(shortcut[0]!.tokens).indexOf(eos);
      assert.ok(i >= 0, "EOS is reported");
      assert.ok(Number.isFinite(shortcut[0]!.logprobs[i]!), "EOS has a finite log-probability");
      assert.ok(Math.abs(shortcut[0]!.logprobs[i]! - full.logprobs[eos]!) <= TOLERANCE);
    }
  });
});

describe("32k bench pair", () => {
  const files = benchPair();
  const skip = prerequisite("the 32k bench pair", "missing" in files ? files.missing : undefined);
  let pair: ModelPair;
  before(async () => {
    if ("missing" in files) return;
    pair = await ModelPair.load({ sft: files.sft, dpo: files.dpo }, { llama: await testLlama() });
  });
  after(async () => {
    if (!("missing" in files)) await pair.dispose();
  });

  test("the shortcut matches the full distribution to 1e-5 at 32k tokens, EOS in the restriction", { skip }, async (t) => {
    const model = pair.model;
    const tokens = [model.tokens.bos!, ...model.tokenize("abc def ghi jkl mno pqr stu vwx yz the quick brown fox jumps over a lazy dog")];
    const { positions, worst } = await viewAndRestrictionAgainstFull(pair, tokens, Math.min(24, tokens.length - 1));
    t.diagnostic(`${positions} positions × 2 models, max |Δ log p| = ${worst.toExponential(2)}`);
    assert.ok(worst <= TOLERANCE, `max |Δ log p| ${worst} > ${TOLERANCE}`);
  });

  test("picks only at 32k tokens: the candidate set and its log-probabilities up to one constant per position", { skip }, async (t) => {
    const model = pair.model;
    const tokens = [model.tokens.bos!, ...model.tokenize("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore")];
    const found = await picksOnlyAgainstFull(pair, tokens, Math.min(24, tokens.length - 1));
    t.diagnostic(`${found.positions} positions (${found.multi} with several candidates), max deviation from a per-position shift ${found.worst.toExponential(2)}`);
    assert.ok(found.multi > 0);
    assert.ok(found.worst <= TOLERANCE, `deviation ${found.worst}`);
  });

  test("per step, the shortcut costs a fraction of the full distribution at 32k tokens", { skip }, async (t) => {
    const costs = await stepCosts(pair, "one two three four five six seven eight nine ten eleven twelve");
    t.diagnostic(costs.summary);
    assert.ok(costs.dpoView < costs.full, "the shortcut is cheaper than the full distribution");
  });
});

describe("128k vocabulary (Llama 3.1 fixture: real tokenizer, random weights)", () => {
  const fixture = realFixture("llama-3.1");
  const skip = prerequisite("the Llama 3.1 fixture pair", "missing" in fixture ? fixture.missing : undefined);
  let pair: ModelPair;
  before(async () => {
    if ("missing" in fixture) return;
    pair = await ModelPair.load({ sft: fixture.paths.sft, dpo: fixture.paths.dpo }, { llama: await testLlama() });
  });
  after(async () => {
    if (!("missing" in fixture)) await pair.dispose();
  });

  test("the head pass and the restriction match the full distribution to 1e-5 at 128k tokens, EOS in the restriction", { skip }, async (t) => {
    const model = pair.model;
    const tokens = [model.tokens.bos!, ...model.tokenize("The quick brown fox 🎉 jumps over 東京 the lazy dog, again and again.")];
    const { positions, worst } = await viewAndRestrictionAgainstFull(pair, tokens, Math.min(20, tokens.length - 1));
    t.diagnostic(`${positions} positions × 2 models, max |Δ log p| = ${worst.toExponential(2)}`);
    assert.ok(worst <= TOLERANCE, `max |Δ log p| ${worst} > ${TOLERANCE}`);
  });

  test("picks only at 128k tokens: the candidate set and its log-probabilities up to one constant per position", { skip }, async (t) => {
    const model = pair.model;
    const tokens = [model.tokens.bos!, ...model.tokenize("Lorem ipsum dolor sit amet, consectetur adipiscing elit; sed do eiusmod tempor.")];
    const found = await picksOnlyAgainstFull(pair, tokens, Math.min(20, tokens.length - 1));
    t.diagnostic(`${found.positions} positions (${found.multi} with several candidates), max deviation from a per-position shift ${found.worst.toExponential(2)}`);
    assert.ok(found.worst <= TOLERANCE, `deviation ${found.worst}`);
  });
});

/** Median milliseconds per step of a decode and of each way to read its log-probabilities, over 24 greedy steps. */
async function stepCosts(pair: ModelPair, text: string): Promise<{ dpoView: number; full: number; summary: string }> {
  const model = pair.model;
  const tokens = [model.tokens.bos!, ...model.tokenize(text)];
  const dpo = pair.lane("dpo");
  const sft = pair.lane("sft");
  await Promise.all([dpo.prepare(tokens), sft.prepare(tokens)]);
  const timings = { decode: [] as number[], dpoView: [] as number[], sftScore: [] as number[], full: [] as number[] };
  const timed = async <T>(into: number[], work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    into.push(performance.now() - started);
    return result;
  };
  let last: number = tokens.at(-1)!;
  for (let step = 0; step < 24; step++) {
    let flushStarted = 0;
    const next = dpo.push(last, async (position) => {
      timings.decode.push(performance.now() - flushStarted);
      const shortcut = await timed(timings.dpoView, () => position.measure({ view }));
      await timed(timings.full, () => position.measure({ view: { minP: 0, topK: 1 } }));
      return shortcut;
    });
    flushStarted = performance.now();
    await dpo.flush();
    const dpoView = (await next)!;
    const scored = sft.push(last, (position) => timed(timings.sftScore, () => position.measure({ score: [model.tokens.eos!, ...Array.from(candidateSet(dpoView, DEFAULT_ALPHA).tokens), ...Array.from(topTokens(dpoView, 8).tokens)] })));
    await sft.flush();
    assert.equal((await scored)!.full, false);
    last = topTokens(dpoView, 1).tokens[0]!;
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  return {
    dpoView: median(timings.dpoView),
    full: median(timings.full),
    summary:
      `median ms/step: decode ${median(timings.decode).toFixed(2)}, DPO view ${median(timings.dpoView).toFixed(2)}, ` +
      `SFT restriction ${median(timings.sftScore).toFixed(2)}, full distribution ${median(timings.full).toFixed(2)}`,
  };
}

function sortedIds(tokens: ArrayLike<number>): number[] {
  return Array.from(tokens).sort((a, b) => a - b);
}

/**
 * Picks-only measurements against the full distribution at the positions of `tokens`: the DPO
 * view must hold exactly the candidate set, the SFT "within" exactly the candidates, and each
 * must equal the full log-probabilities up to one constant per position. Returns the worst
 * deviation from that constant and the positions with more than one candidate.
 */
async function picksOnlyAgainstFull(pair: ModelPair, tokens: readonly number[], measured: number): Promise<{ worst: number; multi: number; positions: number }> {
  const dpoSteps = await measureAlong(pair.lane("dpo"), tokens, measured, () => [{ view: { minP: DEFAULT_ALPHA, topK: 1 }, picksOnly: true }]);
  const sets = dpoSteps.map(({ full }) => Array.from(candidateSet(full, DEFAULT_ALPHA).tokens));
  const sftSteps = await measureAlong(pair.lane("sft"), tokens, measured, (i) => [{ score: sets[i]!, picksOnly: true }]);
  let worst = 0;
  let multi = 0;
  for (const [i, { shortcut, full }] of dpoSteps.entries()) {
    const view = shortcut[0]!;
    assert.equal(view.exact, false);
    assert.equal(view.nativeCalls, 1, "one native pass");
    assert.deepEqual(sortedIds(candidateSet(view, DEFAULT_ALPHA).tokens), sortedIds(sets[i]!));
    worst = Math.max(worst, shiftDeviation(view, full));
    const sft = sftSteps[i]!.shortcut[0]!;
    assert.deepEqual(sortedIds(sft.tokens), sortedIds(sets[i]!), "the SFT pass holds exactly the candidates");
    worst = Math.max(worst, shiftDeviation(sft, sftSteps[i]!.full));
    if (sets[i]!.length > 1) multi++;
  }
  return { worst, multi, positions: dpoSteps.length };
}

/** max |(shortcut − full) − c| over the shortcut's tokens, c the shift at its first token. */
function shiftDeviation(shortcut: StepLogprobs, full: StepLogprobs): number {
  const shift = shortcut.logprobs[0]! - full.logprobs[shortcut.tokens[0]!]!;
  let worst = 0;
  for (let i = 0; i < shortcut.tokens.length; i++) worst = Math.max(worst, Math.abs(shortcut.logprobs[i]! - full.logprobs[shortcut.tokens[i]!]! - shift));
  return worst;
}

/**
 * The DPO view (candidate set and top 8) and the SFT restriction to those tokens plus EOS, against
 * the full distribution at the positions of `tokens`: the shortcut must be taken, the sets equal,
 * and the worst |Δ log p| is returned.
 */
async function viewAndRestrictionAgainstFull(pair: ModelPair, tokens: readonly number[], measured: number): Promise<{ positions: number; worst: number }> {
  const eos = pair.model.tokens.eos!;
  const dpoSteps = await measureAlong(pair.lane("dpo"), tokens, measured, () => [{ view }]);
  const sftSteps = await measureAlong(pair.lane("sft"), tokens, measured, (i) => {
    const dpoView = dpoSteps[i]!.shortcut[0]!;
    return [{ score: [...new Set([...Array.from(candidateSet(dpoView, DEFAULT_ALPHA).tokens), ...Array.from(topTokens(dpoView, 8).tokens), eos])] }];
  });
  let worst = 0;
  for (const [i, { shortcut, full }] of dpoSteps.entries()) {
    assert.equal(shortcut[0]!.full, false);
    assert.equal(sftSteps[i]!.shortcut[0]!.full, false);
    worst = Math.max(worst, maxLogprobError(shortcut[0]!, full), maxLogprobError(sftSteps[i]!.shortcut[0]!, sftSteps[i]!.full));
    assert.deepEqual(sortedIds(candidateSet(shortcut[0]!, DEFAULT_ALPHA).tokens), sortedIds(candidateSet(full, DEFAULT_ALPHA).tokens));
    assert.deepEqual(Array.from(topTokens(shortcut[0]!, 8).tokens), Array.from(topTokens(full, 8).tokens));
  }
  return { positions: dpoSteps.length, worst };
}
