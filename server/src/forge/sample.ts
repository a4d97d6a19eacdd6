/**
 * Sampling responses from an exported GGUF through node-llama-cpp, for the forge's preference
 * data. Sequences run in lock-step rounds so that every llama.cpp batch has the same make-up on
 * every run: with each job's randomness derived from its own seed, the samples are the same
 * bytes on every run on the same machine.
 */
import type { LlamaModel, Token } from "node-llama-cpp";
import { createRng } from "../decoding/rng.ts";

export interface SampleJob {
  /** Token ids of the prompt, BOS included. */
  prompt: Token[];
  /** Seed label: the job's samples depend only on it and the model. */
  seed: string;
}

export interface SampleOptions {
  maxTokens: number;
  /** Sampling is over the top-k tokens at temperature 1 (k large enough to be nearly exact). */
  topK: number;
  parallel: number;
  onProgress?: (done: number, total: number) => void;
}

/** Samples one continuation (token ids, EOS excluded) per job. */
export async function sampleContinuations(model: LlamaModel, jobs: readonly SampleJob[], options: SampleOptions): Promise<Token[][]> {
  const eos = model.tokens.eos;
  const context = await model.createContext({
    sequences: options.parallel,
    contextSize: options.parallel * 256,
    threads: 1,
    batchSize: options.parallel * 128,
  });
  const sequences = Array.from({ length: options.parallel }, () => context.getSequence());
  const results: Token[][] = new Array<Token[]>(jobs.length);
  try {
    for (let start = 0; start < jobs.length; start += options.parallel) {
      const round = jobs.slice(start, start + options.parallel);
      await Promise.all(sequences.map((s) => s.clearHistory()));
      const states = round.map((job, i) => ({
        index: start + i,
        rng: createRng(job.seed),
        output: [] as Token[],
        generator: sequences[i]!.evaluateWithMetadata(job.prompt, { probabilities: true }, { temperature: 1, topK: options.topK, topP: 1, minP: 0, seed: 1, yieldEogToken: true }),
        done: false,
        pending: undefined as Token | undefined,
      }));
      while (states.some((s) => !s.done)) {
        const active = states.filter((s) => !s.done);
        const steps = await Promise.all(active.map((s) => (s.pending === undefined ? s.generator.next() : s.generator.next(s.pending))));
        active.forEach((state, i) => {
          const step = steps[i]!;
          if (step.done) throw new Error("the sampling generator ended early");
          const token = drawToken(step.value.probabilities, state.rng.next());
          if (token === eos || state.output.length + 1 >= options.maxTokens) {
            if (token !== eos) state.output.push(token);
            state.done = true;
            void state.generator.return(undefined);
          } else {
            state.output.push(token);
            state.pending = token;
          }
        });
      }
      for (const s of states) results[s.index] = s.output;
      options.onProgress?.(Math.min(jobs.length, start + options.parallel), jobs.length);
    }
  } finally {
    await context.dispose();
  }
  return results;
}

/** Inverse-CDF draw over a probability map, in ascending token order so the order is canonical. */
function drawToken(probabilities: ReadonlyMap<Token, number>, u: number): Token {
  const entries = [...probabilities.entries()].sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((sum, [, p]) => sum + p, 0);
  let acc = 0;
  for (const [token, p] of entries) {
    acc += p / total;
    if (u < acc) return token;
  }
  return entries[entries.length - 1]![0];
}
