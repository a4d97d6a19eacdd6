/**
 * Where a decoding step's wall time goes: every native call of each model (llama.cpp's decode, and
 * each sampling pass) is timed from the moment JavaScript issues it to the moment its promise
 * settles, and the response's wall time is split into
 *
 * - both models decoding at once (the overlap the eager schedule is for),
 * - one model decoding alone,
 * - only sampling passes in flight (no decode),
 * - nothing native in flight: JavaScript on the main thread, and the hand-offs to and from
 *   node-llama-cpp's worker threads.
 *
 * The bench wraps the addon's methods on the pair's two contexts for the length of one run and
 * restores them after; nothing in the product is changed or slowed.
 */
import type { RuleSpec } from "../server/src/decoding/index.ts";
import { generate, type ModelPair, type Schedule, type TraceMode } from "../server/src/runtime/index.ts";
import { NativeSamplers } from "../server/src/runtime/native-sampling.ts";

export interface StepTimeline {
  readonly tokens: number;
  /** Per generated token, in ms. */
  readonly wallMs: number;
  readonly bothDecodingMs: number;
  readonly oneDecodingMs: number;
  readonly samplingOnlyMs: number;
  readonly nothingNativeMs: number;
  /** Per token: each model's decode time (issue to settle) and its sampling passes' time. */
  readonly decodeMs: { readonly dpo: number; readonly sft: number };
  readonly samplingMs: { readonly dpo: number; readonly sft: number };
  readonly samplingCalls: { readonly dpo: number; readonly sft: number };
  /**
   * Per token: time configuring the native samplers (`NativeSamplers.configure`: our mask and
   * node-llama-cpp's synchronous `AddonSampler.applyConfig`), on the main thread, both models together. A "within" pass hands it the mask of every token outside the
   * candidate set, so this grows with the vocabulary; it is part of the other columns' time.
   */
  readonly samplerSetupMs: number;
}

type Kind = "decode" | "sample";
interface Interval {
  readonly role: "dpo" | "sft";
  readonly kind: Kind;
  readonly start: number;
  end: number;
}

interface AddonContext {
  decodeBatch: (...args: unknown[]) => Promise<unknown>;
  sampleToken: (...args: unknown[]) => Promise<unknown>;
}

/** One generation with every native call of both contexts timed; returns the split per token. */
export async function stepTimeline(pair: ModelPair, request: { prompt: string; method: RuleSpec; maxTokens: number; schedule?: Schedule; trace: TraceMode }): Promise<StepTimeline> {
  const intervals: Interval[] = [];
  const restore: (() => void)[] = [];
  for (const role of ["dpo", "sft"] as const) {
    const addon = (pair.lane(role).sequence.context as unknown as { _ctx: AddonContext })._ctx;
    for (const [method, kind] of [["decodeBatch", "decode"], ["sampleToken", "sample"]] as const) {
      const original = addon[method];
      // The addon's methods are read-only on its prototype: shadow them on the instance.
      Object.defineProperty(addon, method, {
        configurable: true,
        value: function timed(this: AddonContext, ...args: unknown[]) {
          const interval: Interval = { role, kind, start: performance.now(), end: Number.NaN };
          intervals.push(interval);
          return original.apply(this, args).finally(() => (interval.end = performance.now()));
        },
      });
      restore.push(() => Reflect.deleteProperty(addon, method));
    }
  }
  // The sampler's configuration is synchronous main-thread work: our mask plus the addon's
  // applyConfig (non-configurable on its prototype, so our wrapper around it is timed instead).
  const setups: { start: number; end: number }[] = [];
  const configure = Object.getOwnPropertyDescriptor(NativeSamplers.prototype, "configure")!;
  const original = configure.value as (...args: unknown[]) => unknown;
  Object.defineProperty(NativeSamplers.prototype, "configure", {
    ...configure,
    value: function timed(this: unknown, ...args: unknown[]) {
      const start = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        setups.push({ start, end: performance.now() });
      }
    },
  });
  restore.push(() => Object.defineProperty(NativeSamplers.prototype, "configure", configure));
  let started = 0;
  let ended = 0;
  let tokens = 0;
  try {
    // Prompt evaluation is not a step: the clock starts at the first generated token's decode.
    const result = await generate(pair, {
      prompt: request.prompt,
      raw: true,
      method: request.method,
      maxTokens: request.maxTokens,
      stop: [],
      trace: request.trace,
      ...(request.schedule === undefined ? {} : { schedule: request.schedule }),
      onToken: (_entry, index) => {
        if (index === 0) started = performance.now();
        ended = performance.now();
      },
    });
    tokens = result.stats.tokens - 1;
  } finally {
    for (const undo of restore) undo();
  }
  const inWindow = intervals.filter((i) => i.end > started && i.start < ended).map((i) => ({ ...i, start: Math.max(i.start, started), end: Math.min(i.end, ended) }));
  // Sweep the interval boundaries: at each moment, how many decodes and samplings are in flight.
  const events = inWindow.flatMap((i) => [
    { t: i.start, kind: i.kind, delta: 1 },
    { t: i.end, kind: i.kind, delta: -1 },
  ]);
  events.sort((a, b) => a.t - b.t || a.delta - b.delta);
  let decoding = 0;
  let sampling = 0;
  let last = started;
  const split = { both: 0, one: 0, samplingOnly: 0, nothing: 0 };
  for (const e of events) {
    const span = e.t - last;
    if (decoding >= 2) split.both += span;
    else if (decoding === 1) split.one += span;
    else if (sampling > 0) split.samplingOnly += span;
    else split.nothing += span;
    last = e.t;
    if (e.kind === "decode") decoding += e.delta;
    else sampling += e.delta;
  }
  split.nothing += ended - last;
  const per = (x: number) => x / Math.max(1, tokens);
  const total = (role: "dpo" | "sft", kind: Kind) => per(inWindow.filter((i) => i.role === role && i.kind === kind).reduce((sum, i) => sum + (i.end - i.start), 0));
  const calls = (role: "dpo" | "sft") => per(inWindow.filter((i) => i.role === role && i.kind === "sample").length);
  return {
    tokens,
    wallMs: per(ended - started),
    bothDecodingMs: per(split.both),
    oneDecodingMs: per(split.one),
    samplingOnlyMs: per(split.samplingOnly),
    nothingNativeMs: per(split.nothing),
    decodeMs: { dpo: total("dpo", "decode"), sft: total("sft", "decode") },
    samplingMs: { dpo: total("dpo", "sample"), sft: total("sft", "sample") },
    samplingCalls: { dpo: calls("dpo"), sft: calls("sft") },
    samplerSetupMs: per(setups.filter((i) => i.end > started && i.start < ended).reduce((sum, i) => sum + (i.end - i.start), 0)),
  };
}
