/**
 * The `aad` command: generate, compare, score and serve on a model pair (the built-in pair when
 * no model flags are given). Errors go to stderr with a non-zero exit code and say what to do.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { isMethodName, METHOD_NAMES, type MethodName, type RuleSpec } from "../decoding/index.ts";
import { heldoutPrompts, oracleReward } from "../forge/world.ts";
import { builtinPair } from "../runtime/builtin-pair.ts";
import { compare, generate, ModelPair, score, type GenerateResult, type TraceMode } from "../runtime/index.ts";
import { formatStats, legend, renderTrace, sideBySide, TraceWriter } from "./render.ts";
import { registerPairsCommand } from "./pairs.ts";
import { registerQueueCommands } from "./queue.ts";

/**
 * The example `npm start` runs: the first held-out prompt of the built-in world, in the world's
 * fixed order. It was fixed as "the first one" before any result on the current pair was seen,
 * so that no prompt is picked because it flatters one method.
 */
export const DEMO_PROMPT = heldoutPrompts()[0]!.text;

interface PairFlags {
  sft?: string;
  dpo?: string;
  dpoLora?: string;
  reference?: string;
  threads?: number;
  contextSize?: number;
  gpu?: GpuFlag;
  gpuLayers?: number | "auto" | "max";
}

type GpuFlag = "auto" | "cuda" | "vulkan" | "metal" | "off";

interface DecodeFlags extends PairFlags {
  method: MethodName;
  alpha?: number;
  lambda?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  from?: "dpo" | "sft";
  n?: number;
  maxTokens: number;
  raw?: boolean;
  json?: boolean;
  seed: number;
  stop?: string[];
  color?: boolean;
  trace?: TraceMode;
}

const number = (name: string, check: (x: number) => boolean, what: string) => (value: string) => {
  const x = Number(value);
  if (!Number.isFinite(x) || !check(x)) throw new InvalidArgumentError(`${name} must be ${what}; got "${value}"`);
  return x;
};
const positiveInt = (name: string) => number(name, (x) => Number.isInteger(x) && x > 0, "a positive integer");
const probability = (name: string) => number(name, (x) => x > 0 && x <= 1, "in (0, 1]");
const gpuLayersFlag = (value: string): number | "auto" | "max" =>
  value === "auto" || value === "max" ? value : number("--gpu-layers", (x) => Number.isInteger(x) && x >= 0, 'a non-negative integer, "auto" or "max"')(value);

/** The runtime's GPU option from --gpu and --gpu-layers: CPU unless asked, "auto" when only layers are given. */
function gpuOptions(flags: Pick<PairFlags, "gpu" | "gpuLayers">): { gpu?: "auto" | "cuda" | "vulkan" | "metal" | false; gpuLayers?: number | "auto" | "max" } {
  if (flags.gpu === "off") {
    if (flags.gpuLayers !== undefined && flags.gpuLayers !== 0) throw new UsageError("--gpu off runs on the CPU: drop --gpu-layers, or pick a backend with --gpu");
    return { gpu: false };
  }
  const gpu = flags.gpu ?? (flags.gpuLayers !== undefined && flags.gpuLayers !== 0 ? "auto" : undefined);
  return gpu === undefined ? {} : { gpu, ...(flags.gpuLayers !== undefined ? { gpuLayers: flags.gpuLayers } : {}) };
}

/** Where llama.cpp runs, for --json output and notes: what was asked, what was used and why they differ. */
function backendReport(info: ModelPair["info"]): { backend: string; requested: string; gpuLayers: number; note?: string } {
  return { backend: info.gpu === false ? "cpu" : info.gpu, requested: info.gpuRequested === false ? "off" : info.gpuRequested, gpuLayers: info.gpuLayers, ...(info.gpuNote === undefined ? {} : { note: info.gpuNote }) };
}

function pairOptions(command: Command): Command {
  return command
    .option("--sft <file>", "SFT model (GGUF); default: the built-in pair")
    .option("--dpo <file>", "DPO model (GGUF) trained from the SFT model")
    .option("--dpo-lora <file>", "DPO LoRA adapter (GGUF) over the SFT model, instead of --dpo")
    .option("--reference <file>", "reference model for contrastive decoding (cd); default with the built-in pair: its early SFT checkpoint")
    .option("--threads <n>", "threads per model (default: half the cores)", positiveInt("--threads"))
    .option("--context-size <n>", "context size in tokens", positiveInt("--context-size"))
    .addOption(
      new Option("--gpu <backend>", 'GPU backend: "auto" uses the first one that works here, else the CPU (and says so); a named one must work. Default: off (CPU), or auto with --gpu-layers').choices(["auto", "cuda", "vulkan", "metal", "off"]),
    )
    .option("--gpu-layers <n>", 'layers to offload to the GPU: a count, "auto" or "max" (default with --gpu: auto)', gpuLayersFlag);
}

function decodeOptions(command: Command): Command {
  return pairOptions(command)
    .addOption(new Option("--method <method>", "decoding method").choices(METHOD_NAMES).default("aad"))
    .option("--alpha <a>", "AAD/CD candidate threshold: keep v with p_dpo(v) ≥ alpha · max p_dpo", probability("--alpha"))
    .option("--lambda <l>", "EFT strength: log p_sft + lambda · (log p_dpo − log p_sft)", number("--lambda", (x) => x >= 0, "≥ 0"))
    .option("--temperature <t>", "sampling temperature (sample, best-of-n, eft)", number("--temperature", (x) => x >= 0, "≥ 0"))
    .option("--top-p <p>", "nucleus sampling threshold", probability("--top-p"))
    .option("--top-k <k>", "sample among the k most probable tokens", positiveInt("--top-k"))
    .addOption(new Option("--from <model>", "model to sample from (sample)").choices(["dpo", "sft"]))
    .option("--n <n>", "best-of-n: responses to draw", positiveInt("--n"))
    .option("--max-tokens <n>", "stop after this many tokens", positiveInt("--max-tokens"), 128)
    .option("--stop <text...>", "stop when the text contains one of these")
    .option("--raw", "continue the text as it is instead of applying the chat template")
    .option("--json", 'print {"text", "tokens", "stats"} instead of streaming text')
    .option("--seed <n>", "seed for sampling methods", number("--seed", Number.isInteger, "an integer"), 0)
    .option("--no-color", "never colour tokens by advantage");
}

function ruleSpec(flags: DecodeFlags): RuleSpec {
  const sampling = { ...(flags.temperature !== undefined ? { temperature: flags.temperature } : {}), ...(flags.topP !== undefined ? { topP: flags.topP } : {}), ...(flags.topK !== undefined ? { topK: flags.topK } : {}) };
  switch (flags.method) {
    case "aad":
    case "cd":
      return { method: flags.method, ...(flags.alpha !== undefined ? { alpha: flags.alpha } : {}) };
    case "greedy-dpo":
    case "greedy-sft":
      return { method: flags.method };
    case "sample":
      return { method: "sample", ...sampling, ...(flags.from ? { from: flags.from } : {}) };
    case "eft":
      return { method: "eft", ...sampling, ...(flags.lambda !== undefined ? { lambda: flags.lambda } : {}) };
    case "best-of-n":
      return { method: "best-of-n", ...sampling, ...(flags.n !== undefined ? { n: flags.n } : {}) };
  }
}

/** Loads the pair the flags name, or the built-in one. */
async function loadPair(flags: PairFlags): Promise<{ pair: ModelPair; builtin: boolean }> {
  if (flags.dpo && flags.dpoLora) throw new UsageError("give either --dpo or --dpo-lora, not both");
  if ((flags.dpo || flags.dpoLora) && !flags.sft) throw new UsageError("--dpo/--dpo-lora need --sft (the model the DPO model was trained from)");
  if (flags.sft && !flags.dpo && !flags.dpoLora) throw new UsageError("--sft needs --dpo FILE or --dpo-lora FILE");
  const builtin = !flags.sft;
  const files = builtin ? builtinPair() : undefined;
  const reference = flags.reference ?? files?.earlyReference;
  const options = {
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
    ...(flags.contextSize !== undefined ? { contextSize: flags.contextSize } : {}),
    ...gpuOptions(flags),
    ...(reference ? { reference } : {}),
  };
  const pairFiles = files ? { sft: files.sft, dpo: files.dpo } : flags.dpoLora ? { sft: flags.sft!, dpoLora: flags.dpoLora } : { sft: flags.sft!, dpo: flags.dpo! };
  const pair = await ModelPair.load(pairFiles, options);
  if (pair.info.gpuNote !== undefined) process.stderr.write(`note: ${pair.info.gpuNote}\n`);
  return { pair, builtin };
}

class UsageError extends Error {}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError("no prompt: give it as an argument or on standard input");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").trim();
}

async function promptFrom(argument: string | undefined): Promise<string> {
  const prompt = argument ?? (await readStdin());
  if (!prompt) throw new UsageError("the prompt is empty");
  return prompt;
}

const useColor = (flags: { color?: boolean }) => flags.color !== false && process.stdout.isTTY && !process.env.NO_COLOR;

function jsonResult(result: Pick<GenerateResult, "text" | "tokens" | "stats">, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ text: result.text, tokens: result.tokens, stats: result.stats, ...extra }, null, 2);
}

async function withPair<T>(flags: PairFlags, run: (pair: ModelPair, builtin: boolean) => Promise<T>): Promise<T> {
  const { pair, builtin } = await loadPair(flags);
  try {
    return await run(pair, builtin);
  } finally {
    await pair.dispose();
  }
}

/** Cancels the running decode on Ctrl-C (a second Ctrl-C exits at once). */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  process.once("SIGINT", () => {
    controller.abort(new Error("interrupted"));
    process.once("SIGINT", () => process.exit(130));
  });
  return controller.signal;
}

export function buildProgram(): Command {
  const program = new Command()
    .name("aad")
    .description("Alignment-Aware Decoding on a local SFT/DPO model pair (GGUF), with its baselines.")
    .showHelpAfterError("(run with --help for usage)")
    .enablePositionalOptions();

  decodeOptions(program.command("generate").argument("[prompt]", "prompt text; read from standard input when absent").description("decode one response, streamed (or as JSON with its per-token trace)"))
    .addOption(
      new Option("--trace <mode>", "exact: every token's log-probabilities (slower); picks: only what the picks need. Default: exact with --json or colours, else picks").choices(["exact", "picks"]),
    )
    .action(
    async (promptArg: string | undefined, flags: DecodeFlags) => {
      const prompt = await promptFrom(promptArg);
      await withPair(flags, async (pair) => {
        const color = useColor(flags);
        const writer = new TraceWriter({ color });
        const result = await generate(pair, {
          prompt,
          // Plain text needs no numbers; colours and --json show them.
          trace: flags.trace ?? (flags.json || color ? "exact" : "picks"),
          raw: flags.raw ?? false,
          method: ruleSpec(flags),
          maxTokens: flags.maxTokens,
          seed: flags.seed,
          signal: interruptSignal(),
          ...(flags.stop ? { stop: flags.stop } : {}),
          ...(flags.json ? {} : { onToken: (entry) => process.stdout.write(color ? writer.push(entry) : entry.piece) }),
        });
        if (color) process.stdout.write(writer.flush());
        if (flags.json) process.stdout.write(jsonResult(result, { trace: result.runtime.trace, backend: backendReport(pair.info) }) + "\n");
        else process.stderr.write(`\n${formatStats(result.stats)}\n`);
      });
    },
  );

  decodeOptions(
    program
      .command("compare")
      .argument("[prompt]", "prompt text; read from standard input when absent")
      .option("--demo", "use the built-in example prompt and show greedy SFT, greedy DPO and AAD side by side")
      .option("--methods <methods...>", "methods to run (default: all)")
      .description("every decoding method on one prompt, side by side, with implicit (and, for the built-in pair, oracle) reward"),
  ).action(async (promptArg: string | undefined, flags: DecodeFlags & { demo?: boolean; methods?: string[] }) => {
    const prompt = flags.demo ? (promptArg ?? DEMO_PROMPT) : await promptFrom(promptArg);
    const methods = (flags.demo && !flags.methods ? ["greedy-sft", "greedy-dpo", "aad"] : flags.methods) ?? undefined;
    for (const m of methods ?? []) if (!isMethodName(m)) throw new UsageError(`unknown method "${m}"; choose from ${METHOD_NAMES.join(", ")}`);
    await withPair(flags, async (pair, builtin) => {
      const entries = await compare(pair, { prompt, raw: flags.raw ?? false, maxTokens: flags.maxTokens, seed: flags.seed, signal: interruptSignal(), ...(methods ? { methods: methods as MethodName[] } : {}) });
      const rows = entries.map((entry) => {
        if ("skipped" in entry) return { method: entry.method, skipped: entry.skipped };
        const oracle = builtin ? oracleReward(prompt, entry.result.text) : undefined;
        return { method: entry.method, result: entry.result, oracle };
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify({ prompt, results: rows.map((r) => ("result" in r && r.result ? { method: r.method, text: r.result.text, tokens: r.result.tokens, stats: r.result.stats, oracleReward: r.oracle } : r)) }, null, 2) + "\n");
        return;
      }
      const color = useColor(flags);
      process.stdout.write(`prompt: ${prompt}\n\n`);
      if (flags.demo) {
        const columns = rows.flatMap((r) => ("result" in r && r.result ? [{ title: `${r.method}  (implicit reward ${r.result.stats.implicitReward.toFixed(2)}${r.oracle !== undefined ? `, oracle ${r.oracle.toFixed(2)}` : ""})`, body: r.result.text }] : []));
        process.stdout.write(sideBySide(columns, Math.max(30, Math.floor(((process.stdout.columns || 100) - 5) / Math.max(1, columns.length)))) + "\n\n");
      }
      for (const row of rows) {
        if (!("result" in row) || !row.result) {
          process.stdout.write(`${row.method}: skipped (${"skipped" in row ? row.skipped : ""})\n\n`);
          continue;
        }
        const oracle = row.oracle !== undefined ? ` · oracle reward ${row.oracle.toFixed(2)}` : "";
        process.stdout.write(`── ${row.method} · ${formatStats(row.result.stats)}${oracle}\n${renderTrace(row.result.tokens, { color })}\n\n`);
      }
      if (color) process.stdout.write(legend({ color }) + "\n");
    });
  });

  pairOptions(
    program
      .command("score")
      .argument("[prompt]", "prompt text; read from standard input when absent")
      .requiredOption("--response <text>", "the response to score")
      .option("--raw", "the prompt is raw text, not a chat message")
      .option("--json", "print the trace as JSON")
      .option("--no-color", "never colour tokens")
      .description("teacher-forced per-token advantage log p_dpo − log p_sft of an existing response"),
  ).action(async (promptArg: string | undefined, flags: PairFlags & { response: string; raw?: boolean; json?: boolean; color?: boolean }) => {
    const prompt = await promptFrom(promptArg);
    await withPair(flags, async (pair) => {
      const result = await score(pair, { prompt, response: flags.response, raw: flags.raw ?? false, signal: interruptSignal() });
      if (flags.json) process.stdout.write(jsonResult(result) + "\n");
      else process.stdout.write(`${renderTrace(result.tokens, { color: useColor(flags) })}\n${formatStats(result.stats)}\n`);
    });
  });

  program
    .command("serve")
    .description("run the decoding daemon (JSON-RPC, language-server style)")
    .option("--stdio", "talk over standard input/output")
    .option("--socket [path]", "listen on a Unix socket (default: in the user's runtime directory)")
    .option("--idle-timeout <seconds>", "exit after this long without clients (socket mode)", number("--idle-timeout", (x) => x >= 0, "≥ 0"))
    .action(async (flags: { stdio?: boolean; socket?: string | boolean; idleTimeout?: number }) => {
      if (Boolean(flags.stdio) === Boolean(flags.socket)) throw new UsageError("choose one transport: --stdio or --socket [PATH]");
      const { serve } = await import("../daemon/index.ts");
      const transport = flags.stdio ? { transport: "stdio" as const } : { transport: "socket" as const, ...(typeof flags.socket === "string" ? { path: flags.socket } : {}) };
      const handle = await serve(transport, flags.idleTimeout !== undefined ? { idleTimeoutSeconds: flags.idleTimeout } : {});
      process.exitCode = await handle.done;
    });

  const kit = { pairOptions, withPair, interruptSignal, number, UsageError };
  registerQueueCommands(program, registerPairsCommand(program, kit), kit);

  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const hint = error instanceof UsageError ? "\n(run aad --help for usage)" : "";
    process.stderr.write(`aad: ${message}${hint}\n`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  }
}

await main();
