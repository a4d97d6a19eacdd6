/**
 * Inline completion latency (`npm run bench -- inline`): on a ~2,000-token code document, the time
 * to the first token and to the end of the line (the daemon's "line" stop rule, at most
 * LINE_TOKEN_CAP tokens), with prefix reuse (the models' KV caches hold the document as it was one
 * keystroke ago) and without (they hold something else, so the whole prompt is evaluated), AAD
 * against greedy DPO, on the 32k bench pair (no FIM tokens: the prefix layout) and on the Qwen3
 * fixture (FIM: prefix, suffix and middle). All cells are measured interleaved in one run, on the
 * prompts the daemon builds (server/src/daemon/inline.ts: token budgets by whole lines), through
 * the runtime's generate with picks-only traces, as the daemon decodes inline completions.
 */
import { existsSync } from "node:fs";
import { getLlama, LlamaLogLevel, type LlamaContextSequence, type LlamaModel, type Token } from "node-llama-cpp";
import { availableParallelism, loadavg } from "node:os";
import { cutCompletion, fitContext } from "../server/src/daemon/inline.ts";
import { DEFAULT_INLINE_COMPLETION_SETTINGS } from "../server/src/protocol/protocol.ts";
import { fixturePaths, readFixture } from "../server/src/forge/fixtures.ts";
import { formatPrompt } from "../server/src/runtime/prompt.ts";
import { generate, infillTokens, ModelPair, type GenerateRequest } from "../server/src/runtime/index.ts";
import { markdownTable, writeResults } from "./results.ts";
import { BENCH_PAIR_DIR } from "./speed.ts";

const LINE_TOKEN_CAP = 48;
const DOCUMENT_TOKENS = 2000;
const CONTEXT_SIZE = 4096;

/**
 * "ceiling": node-llama-cpp's own sequences of the DPO and the SFT model, separate from the pair's,
 * each evaluating the new prompt tokens and sampling one token greedily, both at once, with no
 * AAD work: the first-token time no decoder that needs both models' next-token distributions can
 * beat on this machine. Its "line" is not measured.
 */
type Method = "aad" | "greedy-dpo" | "ceiling";
type Reuse = "reuse" | "cold";

interface Cell {
  readonly firstTokenMs: number[];
  readonly lineMs: number[];
  readonly lineTokens: number[];
  readonly evaluated: number[];
}

interface PairResult {
  readonly name: string;
  readonly layout: "fim" | "prefix";
  readonly documentTokens: number;
  readonly promptTokens: number;
  readonly cells: Record<`${Method}/${Reuse}`, { firstTokenMs: number; lineMs: number; lineTokens: number; evaluatedPromptTokens: number; perRound: { firstTokenMs: number[]; evaluatedPromptTokens: number[] } }>;
}

/** A Python module of numbered functions, as long as `tokens` for `count`. */
function codeDocument(count: (text: string) => number, tokens: number): string {
  const parts: string[] = ["import math\nfrom dataclasses import dataclass\n\n"];
  for (let i = 0; count(parts.join("")) < tokens; i++) {
    parts.push(
      `@dataclass\nclass Shape${i}:\n    width: float\n    height: float\n\n    def area(self) -> float:\n        """Area of shape ${i}."""\n        return self.width * self.height * ${i + 1}\n\n    def scaled(self, factor: float) -> "Shape${i}":\n        return Shape${i}(self.width * factor, self.height * factor)\n\n\n`,
    );
  }
  return parts.join("");
}

export async function runInline(options: { log: (line: string) => void; rounds?: number; pairDir?: string; resultsName?: string }): Promise<void> {
  const { log } = options;
  const rounds = options.rounds ?? 6;
  if (options.pairDir !== undefined) {
    // One other pair (e.g. the 1B-shaped one from forge --bench-1b), measured alone.
    const files = { sft: `${options.pairDir}/sft.gguf`, dpo: `${options.pairDir}/dpo.gguf` };
    if (!existsSync(files.dpo)) {
      log(`missing: ${files.dpo}`);
      process.exitCode = 1;
      return;
    }
    const loadBefore = loadavg()[0]!;
    const result = await measureFiles(`the pair in ${options.pairDir}`, files, rounds, log);
    const loadAfter = loadavg()[0]!;
    await writeResults(options.resultsName ?? "inline", { rounds, lineTokenCap: LINE_TOKEN_CAP, cores: availableParallelism(), loadAverage: { before: loadBefore, after: loadAfter }, results: [result] }, markdown([result], rounds, loadBefore, loadAfter));
    return;
  }
  const qwen = readFixture("qwen3");
  const benchFiles = { sft: `${BENCH_PAIR_DIR}/sft.gguf`, dpo: `${BENCH_PAIR_DIR}/dpo.gguf` };
  if (!existsSync(benchFiles.dpo) || qwen === undefined) {
    log(`missing: ${!existsSync(benchFiles.dpo) ? "the bench pair (npm run forge -- --bench)" : ""} ${qwen === undefined ? "the qwen3 fixture (npm run forge -- --fixtures)" : ""}`);
    process.exitCode = 1;
    return;
  }
  const loadBefore = loadavg()[0]!;
  const results: PairResult[] = [];
  for (const [name, files] of [
    ["32k bench pair (no FIM tokens: prefix layout)", benchFiles],
    ["Qwen3 fixture (151,936-token vocabulary, FIM layout)", { sft: fixturePaths("qwen3").sft, dpo: fixturePaths("qwen3").dpo }],
  ] as const) {
    results.push(await measureFiles(name, files, rounds, log));
  }
  const loadAfter = loadavg()[0]!;
  await writeResults(options.resultsName ?? "inline", { rounds, lineTokenCap: LINE_TOKEN_CAP, cores: availableParallelism(), loadAverage: { before: loadBefore, after: loadAfter }, results }, markdown(results, rounds, loadBefore, loadAfter));
}

async function measureFiles(name: string, files: { sft: string; dpo: string }, rounds: number, log: (line: string) => void): Promise<PairResult> {
  const pair = await ModelPair.load(files, { contextSize: CONTEXT_SIZE });
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const native = { dpo: await llama.loadModel({ modelPath: files.dpo }), sft: await llama.loadModel({ modelPath: files.sft }) };
  try {
    return await measurePair(name, pair, native, rounds, log);
  } finally {
    await pair.dispose();
    await native.dpo.dispose();
    await native.sft.dispose();
    await llama.dispose();
  }
}

export async function measurePair(name: string, pair: ModelPair, native: { dpo: LlamaModel; sft: LlamaModel }, rounds: number, log: (line: string) => void): Promise<PairResult> {
  const model = pair.model;
  const count = (text: string): number => model.tokenize(text, false).length;
  const fim = !("missing" in infillTokens(model));
  const document = codeDocument(count, DOCUMENT_TOKENS);
  const documentTokens = count(document);
  // The cursor: in the middle of the last class's `area` body, after "return self.width * ".
  const anchor = document.lastIndexOf("return self.width * ") + "return self.width * ".length;
  const settings = DEFAULT_INLINE_COMPLETION_SETTINGS;
  // Budgets as the daemon's defaults, widened so the whole ~2,000-token document is the prompt. The
  // budget counts line by line, and a tokenizer may count a line alone as one token more than inside
  // the text (SentencePiece's leading "▁"): twice the document leaves room for that. (At DOCUMENT_TOKENS
  // + 200 the window was trimmed at its far end and, before fitContext dropped lines in blocks, moved
  // with the keystroke in round 1: no reuse at all there.)
  const budget = { prefixTokens: 2 * DOCUMENT_TOKENS, suffixTokens: fim ? settings.suffixTokens : 0 };
  const indent = "        ";
  const request = (typed: string): GenerateRequest => {
    const fitted = fitContext({ prefix: document.slice(0, anchor) + typed, suffix: document.slice(anchor) }, budget, count);
    return fim ? { infill: { prefix: fitted.prefix, suffix: fitted.suffix } } : { prompt: fitted.prefix, raw: true };
  };
  const unrelated: GenerateRequest = { prompt: "An unrelated note.", raw: true };
  const cells = new Map<string, Cell>();
  let promptTokens = 0;

  const timed = async (method: Exclude<Method, "ceiling">, reuse: Reuse, typed: string): Promise<void> => {
    // The state before the keystroke: the document one character shorter (reuse), or something else (cold).
    await generate(pair, { ...(reuse === "reuse" ? request(typed.slice(0, -1)) : unrelated), method: { method }, maxTokens: 1, trace: "picks", stop: [] });
    const controller = new AbortController();
    let decoded = "";
    let tokens = 0;
    let firstTokenMs = Number.NaN;
    let evaluated = Number.NaN;
    const started = performance.now();
    try {
      await generate(pair, {
        ...request(typed),
        method: { method },
        maxTokens: LINE_TOKEN_CAP,
        trace: "picks",
        stop: [],
        signal: controller.signal,
        onPrompt: (prompt) => {
          promptTokens = prompt.promptTokens;
          evaluated = prompt.promptTokens - (prompt.reusedPromptTokens.dpo ?? 0);
        },
        onToken: (entry) => {
          if (tokens++ === 0) firstTokenMs = performance.now() - started;
          decoded += entry.piece;
          if (cutCompletion(decoded, "line", indent, indent).done) controller.abort();
        },
      });
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
    const lineMs = performance.now() - started;
    const key = `${method}/${reuse}`;
    const cell = cells.get(key) ?? { firstTokenMs: [], lineMs: [], lineTokens: [], evaluated: [] };
    cell.firstTokenMs.push(firstTokenMs);
    cell.lineMs.push(lineMs);
    cell.lineTokens.push(tokens);
    cell.evaluated.push(evaluated);
    cells.set(key, cell);
  };

  // The ceiling's two sequences, with the pair's context settings, one thread each as the pair's lanes run.
  const kvType = pair.info.kvCache === "f32" ? "F32" : "F16";
  const sequenceOf = async (m: LlamaModel): Promise<LlamaContextSequence> =>
    (
      await m.createContext({
        contextSize: CONTEXT_SIZE,
        threads: pair.info.threads,
        flashAttention: pair.info.flashAttention,
        // eslint-disable-next-line @typescript-eslint/no-deprecated
        experimentalKvCacheKeyType: kvType,
        // eslint-disable-next-line @typescript-eslint/no-deprecated
        experimentalKvCacheValueType: kvType,
      })
    ).getSequence();
  const ceilingSequences = [await sequenceOf(native.dpo), await sequenceOf(native.sft)] as const;
  /** How many leading tokens a prompt can take from the cache: never the last, whose logits are needed (as the runtime's lanes do). */
  const commonPrefix = (cached: readonly number[], tokens: readonly number[]): number => {
    let common = 0;
    while (common < cached.length && common < tokens.length - 1 && cached[common] === tokens[common]) common++;
    return common;
  };
  /** Keeps the common prefix's KV cache, evaluates the rest and samples one token greedily. */
  const firstToken = async (sequence: LlamaContextSequence, tokens: readonly number[]): Promise<number> => {
    const common = commonPrefix(sequence.contextTokens, tokens);
    if (common < sequence.nextTokenIndex) await sequence.eraseContextTokenRanges([{ start: common, end: sequence.nextTokenIndex }]);
    for await (const token of sequence.evaluate(tokens.slice(common) as Token[], { temperature: 0 })) return token;
    throw new Error("the ceiling's sequence produced no token");
  };
  const timedCeiling = async (reuse: Reuse, typed: string): Promise<void> => {
    const tokens = formatPrompt(pair.model, request(typed)).tokens;
    const before = reuse === "reuse" ? formatPrompt(pair.model, request(typed.slice(0, -1))).tokens : formatPrompt(pair.model, unrelated).tokens;
    await Promise.all(ceilingSequences.map((sequence) => firstToken(sequence, before)));
    const common = commonPrefix(ceilingSequences[0].contextTokens, tokens);
    const started = performance.now();
    await Promise.all(ceilingSequences.map((sequence) => firstToken(sequence, tokens)));
    const firstTokenMs = performance.now() - started;
    const key = `ceiling/${reuse}`;
    const cell = cells.get(key) ?? { firstTokenMs: [], lineMs: [], lineTokens: [], evaluated: [] };
    cell.firstTokenMs.push(firstTokenMs);
    cell.lineMs.push(Number.NaN);
    cell.lineTokens.push(Number.NaN);
    cell.evaluated.push(tokens.length - common);
    cells.set(key, cell);
  };

  const order: [Method, Reuse][] = [["aad", "reuse"], ["greedy-dpo", "reuse"], ["ceiling", "reuse"], ["aad", "cold"], ["greedy-dpo", "cold"], ["ceiling", "cold"]];
  await timed("aad", "cold", "h"); // warm-up: buffers allocated, pages touched
  cells.clear();
  for (let r = 0; r < rounds; r++) {
    // Rotated order, and a different typed character each round.
    for (let k = 0; k < order.length; k++) {
      const [method, reuse] = order[(k + r) % order.length]!;
      const typed = "hwxyzuv"[r % 7]!.repeat(1 + (r % 3));
      await (method === "ceiling" ? timedCeiling(reuse, typed) : timed(method, reuse, typed));
    }
    log(`${name}: round ${r + 1}/${rounds}`);
  }
  const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const cell = (key: `${Method}/${Reuse}`) => {
    const c = cells.get(key)!;
    return { firstTokenMs: median(c.firstTokenMs), lineMs: median(c.lineMs), lineTokens: median(c.lineTokens), evaluatedPromptTokens: median(c.evaluated), perRound: { firstTokenMs: c.firstTokenMs.map((x) => Math.round(x * 10) / 10), evaluatedPromptTokens: c.evaluated } };
  };
  return {
    name,
    layout: fim ? "fim" : "prefix",
    documentTokens,
    promptTokens,
    cells: { "aad/reuse": cell("aad/reuse"), "greedy-dpo/reuse": cell("greedy-dpo/reuse"), "ceiling/reuse": cell("ceiling/reuse"), "aad/cold": cell("aad/cold"), "greedy-dpo/cold": cell("greedy-dpo/cold"), "ceiling/cold": cell("ceiling/cold") },
  };
}

function markdown(results: readonly PairResult[], rounds: number, loadBefore: number, loadAfter: number): string {
  const lines = [
    "# Inline completion latency",
    "",
    `A ~2,000-token Python document, the cursor inside a method near its end, one to three characters typed before each request. "With reuse": both models' KV caches hold the document as it was before the keystroke (the previous request's), so only the tokens from the first change on are evaluated; "without": they hold an unrelated prompt, so the whole prompt is evaluated. Time to the first token, and to the end of the line (the daemon's "line" stop rule, at most ${LINE_TOKEN_CAP} tokens: these random-weight models rarely end a line, so most "lines" are the cap; the tokens column says how many). Picks-only decoding, as the daemon decodes inline completions. Median of ${rounds} rounds; all cells of a pair interleaved in rotated order in one run. Load average (1 min) ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after, on ${availableParallelism()} cores.`,
    "",
  ];
  for (const result of results) {
    const greedy = result.cells["greedy-dpo/reuse"];
    const aad = result.cells["aad/reuse"];
    lines.push(
      `## ${result.name}`,
      "",
      `Document ${result.documentTokens} tokens; prompt ${result.promptTokens} tokens (${result.layout === "fim" ? "`<|fim_prefix|>` prefix `<|fim_suffix|>` suffix `<|fim_middle|>`" : "the text before the cursor"}).`,
      "",
      markdownTable(
        ["method", "prefix reuse", "prompt tokens evaluated", "ms to first token", "ratio to greedy DPO (same reuse)", "ms to end of line", "tokens in the line"],
        (["aad", "greedy-dpo", "ceiling"] as const).flatMap((method) =>
          (["reuse", "cold"] as const).map((reuse) => {
            const c = result.cells[`${method}/${reuse}`];
            const base = result.cells[`greedy-dpo/${reuse}`];
            const label = { aad: "AAD", "greedy-dpo": "greedy DPO", ceiling: "ceiling: both models' first token at once, no AAD work" }[method];
            return [label, reuse === "reuse" ? "with" : "without", String(c.evaluatedPromptTokens), c.firstTokenMs.toFixed(1), (c.firstTokenMs / base.firstTokenMs).toFixed(2), Number.isNaN(c.lineMs) ? "—" : c.lineMs.toFixed(0), Number.isNaN(c.lineTokens) ? "—" : String(c.lineTokens)];
          }),
        ),
      ),
      "",
      `With reuse, AAD's time to first token is ${(aad.firstTokenMs / greedy.firstTokenMs).toFixed(2)}× greedy DPO's (target ≤ 1.2×); the ceiling, both models' native first tokens at once, is ${(result.cells["ceiling/reuse"].firstTokenMs / greedy.firstTokenMs).toFixed(2)}×, so AAD's own work adds ${(aad.firstTokenMs / result.cells["ceiling/reuse"].firstTokenMs).toFixed(2)}× on top of what running two models costs here. Reuse makes AAD's first token ${(result.cells["aad/cold"].firstTokenMs / aad.firstTokenMs).toFixed(1)}× faster.`,
      "",
    );
  }
  return lines.join("\n");
}
