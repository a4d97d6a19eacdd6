/**
 * Sampling responses from an exported GGUF through node-llama-cpp, for the forge's preference
 * data: several sequences of one context decode side by side, and every job's randomness comes
 * from its own seed (an inverse-CDF draw over the returned probabilities).
 *
 * The samples are the same bytes on every run on the same machine, whatever the timing or the CPU
 * load, because every llama.cpp batch is fixed here rather than left to node-llama-cpp (which
 * decodes whatever its sequences have queued when it dispatches):
 * - Jobs run in rounds of `parallel`, one job per sequence, in lock-step. In each step every
 *   active sequence queues one item, in ascending sequence order: all items of a step come from
 *   the same call, and node-llama-cpp's path from that call to its queue is microtasks only, so
 *   they queue in call order.
 * - A custom batch prioritization strategy holds the decode back until exactly that step's items
 *   are queued, then puts all of them, whole and in queue order, into one batch. It checks the
 *   items against what the step queued and throws on anything else.
 * - Only single-token items ask for logits: a prompt is decoded as its prefix without logits,
 *   then its last token. node-llama-cpp gives every sequence its own KV stream, so llama.cpp splits
 *   a batch into runs of consecutive sequence ids; with these rules the outputs come out in batch
 *   order. Otherwise (a longer prompt before a shorter one in one batch) llama.cpp reorders the
 *   logits lazily, in place, on the first read, and node-llama-cpp reads them from several worker
 *   threads at once: a data race that hands a sequence a wrong distribution now and then. That
 *   race, not rounding, is what made the whole-prompt lock-step sampler differ between runs.
 * The batches, so the last bits of the probabilities, depend on the jobs' order, `parallel` and
 * `contexts`: change one and a draw right at a boundary can flip (rare: none in 320 jobs of 80
 * tokens between parallel 1, 2, 8, 16, 32 and two contexts). Timing never changes anything.
 */
import type { BatchItem, LlamaContext, LlamaContextSequence, LlamaModel, PrioritizedBatchItem, Token } from "node-llama-cpp";
import { createRng } from "../decoding/rng.ts";

export interface SampleJob {
  /** Token ids of the prompt, BOS included. */
  prompt: Token[];
  /** Seed label: the job's samples depend only on it, the model and the batching options. */
  seed: string;
}

export interface SampleOptions {
  maxTokens: number;
  /** Sampling is over the top-k tokens at temperature 1 (k large enough to be nearly exact). */
  topK: number;
  /** Sequences decoded together in one context; part of what fixes the samples' last bits. */
  parallel: number;
  /**
   * Contexts decoding side by side (one thread each); round r of `parallel` jobs goes to context
   * r mod contexts. Default 1. Also part of what fixes the samples.
   */
  contexts?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Samples one continuation (token ids, EOS excluded) per job. */
export async function sampleContinuations(model: LlamaModel, jobs: readonly SampleJob[], options: SampleOptions): Promise<Token[][]> {
  const parallel = Math.max(1, Math.floor(options.parallel));
  const contexts = Math.max(1, Math.floor(options.contexts ?? 1));
  if (!(options.maxTokens >= 1)) throw new RangeError("maxTokens must be at least 1");
  let longestPrompt = 0;
  for (const job of jobs) {
    if (job.prompt.length === 0) throw new RangeError("a sampling job has an empty prompt");
    longestPrompt = Math.max(longestPrompt, job.prompt.length);
  }
  const rounds: number[] = [];
  for (let start = 0; start < jobs.length; start += parallel) rounds.push(start);
  const results: Token[][] = new Array<Token[]>(jobs.length);
  let done = 0;
  const lanes = Array.from({ length: Math.min(contexts, rounds.length) }, (_, lane) => rounds.filter((_, r) => r % contexts === lane));
  await Promise.all(lanes.map(async (starts) => {
    const lane = await Lane.create(model, parallel, longestPrompt + options.maxTokens);
    try {
      for (const start of starts) {
        await lane.sampleRound(jobs, start, Math.min(jobs.length, start + parallel), options, results);
        done += Math.min(jobs.length, start + parallel) - start;
        options.onProgress?.(done, jobs.length);
      }
    } finally {
      await lane.dispose();
    }
  }));
  return results;
}

/** One context whose every llama.cpp batch is exactly one lock-step step of its sequences. */
class Lane {
  /** Token lists of the current step's items, in the order they must be batched. */
  private expected: readonly (readonly Token[])[] = [];
  private waits = 0;

  private context: LlamaContext | undefined;
  private sequences: LlamaContextSequence[] = [];

  static async create(model: LlamaModel, parallel: number, tokensPerSequence: number): Promise<Lane> {
    const lane = new Lane();
    const perSequence = 256 * Math.ceil((tokensPerSequence + 1) / 256);
    const context = await model.createContext({
      sequences: parallel,
      contextSize: parallel * perSequence,
      batchSize: parallel * perSequence,
      threads: 1,
      batching: { itemPrioritizationStrategy: ({ items, size }) => lane.batch(items, size) },
    });
    lane.context = context;
    lane.sequences = Array.from({ length: parallel }, () => context.getSequence());
    return lane;
  }

  /**
   * node-llama-cpp's batching hook, called whenever it is about to decode: nothing until every
   * item of the step is queued (it calls again as more arrive), then all of them in one batch.
   */
  private batch(items: readonly BatchItem[], size: number): PrioritizedBatchItem[] {
    if (items.length < this.expected.length && items.every((item, i) => sameTokens(item.tokens, this.expected[i]!))) {
      // The rest of the step is being queued, by microtasks only; bound the wait so that a
      // change in node-llama-cpp fails loudly instead of spinning forever.
      if (++this.waits > 1_000_000) throw new Error("sampling: a lock-step batch never filled");
      return [];
    }
    if (items.length !== this.expected.length || !items.every((item, i) => sameTokens(item.tokens, this.expected[i]!))) {
      throw new Error(`sampling: unexpected batch (${items.length} items queued, ${this.expected.length} expected in order)`);
    }
    const tokens = items.reduce((sum, item) => sum + item.tokens.length, 0);
    if (tokens > size) throw new Error(`sampling: a step of ${tokens} tokens does not fit a batch of ${size}`);
    this.waits = 0;
    this.expected = [];
    return items.map((item) => ({ item, processAmount: item.tokens.length }));
  }

  /** Runs one step: `start(i)` queues sequence i's item (all from one kind of call). */
  private async step<T>(items: readonly { sequence: number; tokens: readonly Token[] }[], start: (sequence: number) => Promise<T>): Promise<T[]> {
    if (items.length === 0) return [];
    this.expected = items.map((item) => item.tokens);
    this.waits = 0;
    return Promise.all(items.map((item) => start(item.sequence)));
  }

  async sampleRound(jobs: readonly SampleJob[], from: number, to: number, options: SampleOptions, results: Token[][]): Promise<void> {
    const eos = this.context!.model.tokens.eos;
    const dense = new Float64Array(this.context!.model.fileInfo.metadata.tokenizer.ggml.tokens.length);
    const count = to - from;
    await Promise.all(this.sequences.slice(0, count).map((s) => s.clearHistory()));
    const prefixes = jobs.slice(from, to).map((job, i) => ({ sequence: i, tokens: job.prompt.slice(0, -1) })).filter((p) => p.tokens.length > 0);
    await this.step(prefixes, (i) => this.sequences[i]!.evaluateWithoutGeneratingNewTokens(prefixes.find((p) => p.sequence === i)!.tokens));
    const states = jobs.slice(from, to).map((job, i) => ({
      index: from + i,
      sequence: i,
      rng: createRng(job.seed),
      output: [] as Token[],
      next: [job.prompt.at(-1)!],
      generator: undefined as ReturnType<typeof evaluate> | undefined,
      done: false,
    }));
    const finishing: Promise<unknown>[] = [];
    try {
      while (true) {
        const active = states.filter((s) => !s.done);
        if (active.length === 0) break;
        const steps = await this.step(active.map((s) => ({ sequence: s.sequence, tokens: s.next })), (i) => {
          const state = states[i]!;
          if (state.generator !== undefined) return state.generator.next(state.next[0]);
          state.generator = evaluate(this.sequences[i]!, state.next, options.topK);
          return state.generator.next();
        });
        active.forEach((state, i) => {
          const step = steps[i]!;
          if (step.done === true) throw new Error("the sampling generator ended early");
          const token = drawToken(step.value.probabilities, state.rng.next(), dense);
          if (token === eos || state.output.length + 1 >= options.maxTokens) {
            if (token !== eos) state.output.push(token);
            state.done = true;
            finishing.push(state.generator!.return(undefined));
          } else {
            state.output.push(token);
            state.next = [token];
          }
        });
      }
    } finally {
      for (const s of states) if (!s.done && s.generator !== undefined) finishing.push(s.generator.return(undefined));
      await Promise.allSettled(finishing);
    }
    for (const s of states) results[s.index] = s.output;
  }

  async dispose(): Promise<void> {
    await this.context?.dispose();
  }
}

/** The sequence's own sampler is only asked for its top-k distribution; the draw is ours. */
function evaluate(sequence: LlamaContextSequence, tokens: Token[], topK: number) {
  return sequence.evaluateWithMetadata(tokens, { probabilities: true }, { temperature: 1, topK, topP: 1, minP: 0, seed: 1, yieldEogToken: true });
}

function sameTokens(a: readonly Token[], b: readonly Token[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/** Inverse-CDF draw over a probability map, in ascending token order so the order is canonical. */
function drawToken(probabilities: ReadonlyMap<Token, number>, u: number, dense: Float64Array): Token {
  // The same sums in the same (ascending token) order as sorting the entries, without the sort:
  // absent tokens (-1) are skipped, so every float operation is the one the sorted loop does.
  dense.fill(-1);
  let last = -1;
  for (const [token, p] of probabilities) {
    dense[token] = p;
    if (token > last) last = token;
  }
  let total = 0;
  for (let t = 0; t <= last; t++) if (dense[t]! >= 0) total += dense[t]!;
  let acc = 0;
  for (let t = 0; t <= last; t++) {
    const p = dense[t]!;
    if (p < 0) continue;
    acc += p / total;
    if (u < acc) return t as Token;
  }
  return last as Token;
}
