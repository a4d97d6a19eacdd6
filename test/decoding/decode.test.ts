import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  aadRule,
  createRng,
  decode,
  dense,
  greedyRule,
  logSoftmax,
  MissingLogprobsError,
  sampleRule,
  type LogprobSource,
} from "../../server/src/decoding/index.ts";

// A toy pair of models over 5 tokens whose next-token logits depend on the prefix length.
const EOS = 2;
const dpoLogits = (n: number): number[] => (n < 3 ? [2, 1.5, -1, -0.5, -3] : [0, 0, 3, -1, -1]);
const sftLogits = (n: number): number[] => (n < 3 ? [2.5, 0, -1, 0, -3] : [0, 0, 3, -1, -1]);
const source = (logits: (n: number) => number[]): LogprobSource => (prefix) => dense(logSoftmax(logits(prefix.length)));

void describe("decode", () => {
  void it("stops after emitting EOS and includes it in the response", () => {
    const result = decode(aadRule(), { dpo: source(dpoLogits), sft: source(sftLogits) }, { eosToken: EOS, maxTokens: 10, rng: createRng(0) });
    assert.deepEqual(result.tokens, [1, 1, 1, EOS]);
    assert.equal(result.stoppedBy, "eos");
  });

  void it("stops at the token limit when EOS never comes", () => {
    const result = decode(greedyRule("dpo"), { dpo: source(() => [1, 0, -1]) }, { eosToken: EOS, maxTokens: 4, rng: createRng(0) });
    assert.deepEqual(result.tokens, [0, 0, 0, 0]);
    assert.equal(result.stoppedBy, "max-tokens");
  });

  void it("consults the SFT model only at steps with more than one candidate, and only for the candidates", () => {
    const asked: (readonly number[] | undefined)[] = [];
    const sft: LogprobSource = (prefix, tokens) => {
      asked.push(tokens);
      return dense(logSoftmax(sftLogits(prefix.length)));
    };
    const result = decode(aadRule(), { dpo: source(dpoLogits), sft }, { eosToken: EOS, maxTokens: 10, rng: createRng(0) });
    assert.equal(result.scoredSteps, 3); // the EOS step has a single candidate
    assert.deepEqual(asked, [[0, 1], [0, 1], [0, 1]]);
  });

  void it("never consults a second model for a one-model rule", () => {
    const result = decode(sampleRule({ temperature: 0.8 }), { dpo: source(dpoLogits) }, { eosToken: EOS, maxTokens: 6, rng: createRng(5) });
    assert.equal(result.scoredSteps, 0);
  });

  void it("gives the same response from the same seed", () => {
    const run = (): readonly number[] =>
      decode(sampleRule(), { dpo: source(dpoLogits) }, { eosToken: EOS, maxTokens: 20, rng: createRng("same") }).tokens;
    assert.deepEqual(run(), run());
  });

  void it("feeds the prompt to every model before the response, and returns the response alone", () => {
    const seen: number[][] = [];
    const dpo: LogprobSource = (prefix) => {
      seen.push([...prefix]);
      return dense(logSoftmax(dpoLogits(prefix.length)));
    };
    const result = decode(greedyRule("dpo"), { dpo }, { eosToken: EOS, maxTokens: 2, rng: createRng(0), prompt: [4, 3] });
    // Without the prompt the first two picks would be 0, 0 (dpoLogits depends on the prefix length).
    assert.deepEqual(seen, [[4, 3], [4, 3, 0]]);
    assert.deepEqual(result.tokens, [0, EOS]);
  });

  void it("names the model whose source is missing", () => {
    const run = (models: Parameters<typeof decode>[1]): unknown => decode(aadRule(), models, { eosToken: EOS, maxTokens: 3, rng: createRng(0) });
    assert.throws(() => run({ dpo: source(dpoLogits) }), (error: unknown) => error instanceof MissingLogprobsError && error.model === "sft");
    assert.throws(() => run({ sft: source(sftLogits) }), (error: unknown) => error instanceof MissingLogprobsError && error.model === "dpo");
  });
});
