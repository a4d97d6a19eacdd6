/**
 * Every command is a factory `(ctx) => handler`. Handlers take an optional argument object so
 * that tests, keybindings and other extensions can run them without the pickers and input
 * boxes; each returns what it produced (the daemon's result), or undefined when the user backed out.
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { basename, isAbsolute, resolve } from "node:path";
import * as vscode from "vscode";
import {
  compare,
  compareProgress,
  DEFAULT_PAIRS_SETTINGS,
  generate,
  generateProgress,
  METHOD_NAMES,
  pairs,
  pairsProgress,
  score,
  status,
  type CompareEntry,
  type CompareResult,
  type GenerateResult,
  type MethodName,
  type PairInfo,
  type PairsParams,
  type PairsResult,
  type ScoreResult,
  type StatusResult,
  type TraceEntry,
} from "../../server/src/protocol/protocol.ts";
import { SINGLE_COLUMN, type ColumnSpec, type PromptMode, type ResetMessage, type RunInfo } from "../../media/messages.ts";
import type { Ctx } from "./ctx.ts";
import { describeError } from "./daemon.ts";
import { ModelFileMissingError } from "./error-actions.ts";
import { explanationsOf } from "./explain-decorations.ts";
import { alignToSelection } from "./explain-text.ts";
import { defaultPairsOutput, describePairsResult } from "./pairs-text.ts";
import { offeredMethods, resolveModelPair, SETTING_KEYS, type ModelPair, type ModelPathSettings } from "./settings.ts";
import { formatRate } from "./status-text.ts";

export type Command = (...args: never[]) => unknown;
export type CommandFactory = (ctx: Ctx) => Command;

export interface GenerateArgs {
  readonly prompt?: string;
  readonly method?: MethodName;
  readonly maxTokens?: number;
  /** Stream the response into an editor too. Default: the aad.generate.intoEditor setting. */
  readonly intoEditor?: boolean;
}

export interface CompareArgs {
  readonly prompt?: string;
  readonly methods?: readonly MethodName[];
  readonly maxTokens?: number;
}

export interface ExplainArgs {
  /** The prompt the text answers. Default: asked for (chat mode) or the text before the selection (raw mode). */
  readonly prompt?: string;
  /** The text to explain. Default: the selection. */
  readonly response?: string;
  readonly raw?: boolean;
}

export interface SelectPairArgs {
  readonly sft: string;
  readonly dpo?: string;
  readonly dpoLora?: string;
  /** The reference model of `cd`. Absent: none (a reference chosen for another pair would not fit this one). */
  readonly reference?: string;
}

export interface PreferencePairsArgs {
  /** The prompts file, .jsonl or .txt. Default: chosen in an open dialog. */
  readonly promptsFile?: string;
  /** The output .jsonl (an existing one is resumed). Default: chosen in a save dialog, proposing `<prompts>.pairs.jsonl`. */
  readonly out?: string;
  /** Default: asked for when the prompts file is chosen in the dialog, else "sample". */
  readonly rejected?: "sample" | "greedy-dpo";
  /** Default: the aad.alpha setting. */
  readonly alpha?: number;
  /** Default: the aad.maxTokens setting. */
  readonly maxTokens?: number;
  readonly limit?: number;
  readonly topP?: number;
  readonly temperature?: number;
  readonly seed?: number;
  /** Open the output in an editor at the end. Default true. */
  readonly open?: boolean;
}

export interface StatusArgs {
  /** Only return the status; show nothing. */
  readonly quiet?: boolean;
}

/** Methods preselected in the Compare Decoders picker. */
const DEFAULT_COMPARE: readonly MethodName[] = ["aad", "greedy-dpo", "greedy-sft"];
const EXPLAIN_CONTEXT_CHARS = 4000;

export const generateCommand: CommandFactory = (ctx) => async (args: GenerateArgs = {}): Promise<GenerateResult | undefined> => {
  const source = await promptFrom(ctx, args.prompt, "Prompt to generate from");
  if (source === undefined) return undefined;
  const settings = ctx.config.settings;
  const method = args.method ?? settings.method;
  const intoEditor = args.intoEditor ?? settings.generateIntoEditor;
  const maxTokens = args.maxTokens ?? settings.maxTokens;
  try {
    return await ctx.withProgress(`AAD: generating with ${method}`, async (token, progress) => {
      const reset = (pair: string): ResetMessage => ({
        type: "reset",
        title: excerpt(source.prompt),
        method,
        mode: "single",
        run: runInfo(ctx, pair, { method, alpha: settings.alpha, maxTokens, prompt: source.prompt }),
      });
      // The view opens at once, saying what it waits for (loading a pair takes seconds).
      ctx.view.show();
      ctx.view.post({ ...reset(ctx.config.modelPair().pair.label), placeholder: placeholderFor(ctx) });
      const pair = await loadForView(ctx, token, progress, "Generation");
      progress.report({ message: `${method} on ${pairName(pair)}` });
      ctx.view.post({ ...reset(pairName(pair)), placeholder: "Waiting for the first tokens…" });
      const sink = intoEditor ? await EditorSink.open(source) : undefined;
      return await decodeIntoView(ctx, {
        prompt: source.prompt,
        method,
        alpha: settings.alpha,
        maxTokens,
        column: SINGLE_COLUMN,
        token,
        sink,
        repost: () => ctx.view.post(reset(pairName(pair))),
      });
    });
  } catch (error) {
    ctx.reportError("Generate", error);
    return undefined;
  }
};

export interface RerunArgs {
  /** Default: the shown answer's method. */
  readonly method?: MethodName;
  /** Default: the shown answer's α. */
  readonly alpha?: number;
  /** Default: the shown answer's token limit. */
  readonly maxTokens?: number;
}

/**
 * The view's Re-run: decodes the shown answer's prompt again with new settings, and shows the new
 * answer beside the previous one (the view marks where they start to differ, and each column has
 * its implicit reward). The next re-run compares against the newer answer.
 */
export const rerunInViewCommand: CommandFactory = (ctx) => async (args: RerunArgs = {}): Promise<GenerateResult | undefined> => {
  const previous = ctx.view.shownAnswer();
  if (previous === undefined) {
    void vscode.window.showInformationMessage("AAD: there is no finished answer in the advantage view to run again. Run AAD: Generate first.");
    return undefined;
  }
  const method = args.method ?? (previous.run.method as MethodName);
  const alpha = args.alpha ?? previous.run.alpha;
  const maxTokens = args.maxTokens ?? previous.run.maxTokens ?? ctx.config.settings.maxTokens;
  const problem = !METHOD_NAMES.includes(method)
    ? `unknown method ${JSON.stringify(method)}`
    : !(Number.isFinite(alpha) && alpha >= 0 && alpha <= 1)
      ? `α must be in [0, 1], got ${alpha}`
      : !(Number.isInteger(maxTokens) && maxTokens >= 1 && maxTokens <= 4096)
        ? `max tokens must be an integer from 1 to 4096, got ${maxTokens}`
        : undefined;
  if (problem !== undefined) {
    ctx.reportError("Re-run", new Error(problem));
    return undefined;
  }
  const label = (m: string, a: number): string => `${m} · α ${a}`;
  const before: ColumnSpec = { id: "previous", method: previous.run.method, label: `before: ${label(previous.run.method, previous.run.alpha)}`, alpha: previous.run.alpha };
  const after: ColumnSpec = { id: "current", method, label: label(method, alpha), alpha };
  try {
    return await ctx.withProgress(`AAD: re-running with ${method}, α ${alpha}`, async (token, progress) => {
      const pair = await loadForView(ctx, token, progress, "Re-run");
      const repost = (): void => {
        ctx.view.post({
          type: "reset",
          title: excerpt(previous.run.prompt),
          method,
          mode: "compare",
          columns: [before, after],
          run: { ...previous.run, pair: pairName(pair), method, alpha, maxTokens },
          placeholder: "Waiting for the first tokens…",
        });
        ctx.view.post({ type: "tokens", column: before.id, entries: previous.entries });
        ctx.view.post({ type: "done", column: before.id, stats: previous.stats });
      };
      ctx.view.show();
      repost();
      const result = await decodeIntoView(ctx, { prompt: previous.run.prompt, promptMode: previous.run.promptMode, method, alpha, maxTokens, column: after.id, token, repost });
      ctx.log.info(`re-run: ${previous.run.method} α ${previous.run.alpha} → ${method} α ${alpha}: implicit reward ${previous.stats.implicitReward.toFixed(3)} → ${result.stats.implicitReward.toFixed(3)}`);
      return result;
    });
  } catch (error) {
    ctx.reportError("Re-run", error);
    return undefined;
  }
};

export const showAdvantageViewCommand: CommandFactory = (ctx) => (): boolean => {
  ctx.view.show(false);
  return true;
};

interface ViewDecoding {
  readonly prompt: string;
  /** Default: the aad.promptMode setting. */
  readonly promptMode?: PromptMode;
  readonly method: MethodName;
  readonly alpha: number;
  readonly maxTokens: number;
  readonly column: string;
  readonly token: vscode.CancellationToken;
  readonly sink?: EditorSink | undefined;
  /** Sends the view its reset (and anything shown beside the column) again. */
  readonly repost: () => void;
}

/** Decodes through the daemon, streaming the tokens into a column of the view (and an editor). */
async function decodeIntoView(ctx: Ctx, run: ViewDecoding): Promise<GenerateResult> {
  const { column, method, sink } = run;
  const client = await ctx.daemon.client();
  const partialResultToken = randomUUID();
  let streamed = 0;
  let updated = 0;
  // onProgress takes protocol.ts's ProgressType as is: the type only names the value's shape.
  const listening = client.onProgress(generateProgress, partialResultToken, (value) => {
    streamed += value.tokens.length;
    updated += value.updates.length;
    ctx.view.post({ type: "tokens", column, entries: value.tokens });
    sink?.append(value.text);
  });
  try {
    const prompt = (run.promptMode ?? ctx.config.settings.promptMode) === "raw" ? { prompt: run.prompt, raw: true } : { prompt: run.prompt };
    const result = await ctx.daemon.request(generate, { ...prompt, method, alpha: run.alpha, maxTokens: run.maxTokens, partialResultToken }, run.token);
    if (updated > 0) {
      // The lazy schedule streamed some entries before their SFT numbers were known; the
      // result holds them complete. The view appends only, so it is sent the response again.
      run.repost();
      ctx.view.post({ type: "tokens", column, entries: result.tokens });
    } else postRest(ctx, column, result.tokens, streamed);
    if (sink !== undefined && streamed === 0) sink.append(result.text);
    await sink?.flushed();
    ctx.view.post({ type: "done", column, stats: result.stats });
    ctx.recordSpeed(result.stats.tokensPerSecond);
    ctx.log.info(
      `generate (${method}, α ${run.alpha}): ${result.stats.tokens} tokens, stopped by ${result.stoppedBy}, implicit reward ${result.stats.implicitReward.toFixed(3)}` +
        (result.stats.tokensPerSecond === undefined ? "" : `, ${formatRate(result.stats.tokensPerSecond)}`),
    );
    return result;
  } catch (error) {
    ctx.view.post({ type: "error", message: `Generation failed: ${describeError(error)}` });
    throw error;
  } finally {
    listening.dispose();
  }
}

/** How a run is described in the view's header, with the controls' choices for a generation. */
function runInfo(ctx: Ctx, pair: string, run: { method: string; alpha: number; maxTokens?: number; prompt: string; raw?: boolean }, rerun = true): RunInfo {
  const promptMode: PromptMode = (run.raw ?? ctx.config.settings.promptMode === "raw") ? "raw" : "chat";
  return {
    pair,
    method: run.method,
    alpha: run.alpha,
    ...(run.maxTokens === undefined ? {} : { maxTokens: run.maxTokens }),
    prompt: run.prompt,
    promptMode,
    ...(rerun ? { rerun: { methods: offeredMethods(ctx.config.modelPair().pair) } } : {}),
  };
}

function withoutSpeed(stats: ScoreResult["stats"]): ScoreResult["stats"] {
  const kept: { -readonly [K in keyof ScoreResult["stats"]]?: ScoreResult["stats"][K] } = { ...stats };
  delete kept.elapsedMs;
  delete kept.tokensPerSecond;
  return kept as ScoreResult["stats"];
}

/** What a view waits for before its first token. */
function placeholderFor(ctx: Ctx): string {
  return ctx.loadedPair === undefined ? `Loading the ${ctx.config.modelPair().pair.label} pair…` : "Waiting for the first tokens…";
}

export const compareCommand: CommandFactory = (ctx) => async (args: CompareArgs = {}): Promise<CompareResult | undefined> => {
  const source = await promptFrom(ctx, args.prompt, "Prompt to compare the decoders on");
  if (source === undefined) return undefined;
  const methods = args.methods ?? (await pickMethods(offeredMethods(ctx.config.modelPair().pair)));
  if (methods === undefined || methods.length === 0) return undefined;
  const settings = ctx.config.settings;
  try {
    return await ctx.withProgress(`AAD: comparing ${methods.join(", ")}`, async (token, progress) => {
      const reset = (pair: string, placeholder: string): ResetMessage => ({
        type: "reset",
        title: excerpt(source.prompt),
        method: methods.join(" · "),
        mode: "compare",
        columns: methods.map((method) => ({ id: method, method, label: method })),
        run: runInfo(ctx, pair, { method: methods.join(" · "), alpha: settings.alpha, maxTokens: args.maxTokens ?? settings.maxTokens, prompt: source.prompt }, false),
        placeholder,
      });
      ctx.view.show();
      ctx.view.post(reset(ctx.config.modelPair().pair.label, placeholderFor(ctx)));
      const pair = await loadForView(ctx, token, progress, "Comparison");
      progress.report({ message: methods.join(", ") });
      ctx.view.post(reset(pairName(pair), "Waiting for this method's answer…"));
      const client = await ctx.daemon.client();
      const partialResultToken = randomUUID();
      const shown = new Set<string>();
      const show = (entry: CompareEntry): void => {
        if (shown.has(entry.method)) return;
        shown.add(entry.method);
        progress.report({ message: `${shown.size}/${methods.length} done` });
        if (entry.result === undefined) {
          ctx.log.warn(`compare: ${entry.method} skipped: ${entry.skipped}`);
          void vscode.window.showWarningMessage(`AAD: ${entry.method} was skipped: ${entry.skipped}`);
          return;
        }
        ctx.view.post({ type: "tokens", column: entry.method, entries: entry.result.tokens });
        ctx.view.post({ type: "done", column: entry.method, stats: entry.result.stats });
      };
      const listening = client.onProgress(compareProgress, partialResultToken, show);
      try {
        const result = await ctx.daemon.request(
          compare,
          { ...promptParams(ctx, source.prompt), methods, alpha: settings.alpha, maxTokens: args.maxTokens ?? settings.maxTokens, partialResultToken },
          token,
        );
        for (const entry of result.results) show(entry);
        const last = result.results.filter((entry) => entry.result !== undefined).at(-1)?.result;
        if (last !== undefined) ctx.recordSpeed(last.stats.tokensPerSecond);
        return result;
      } catch (error) {
        ctx.view.post({ type: "error", message: `Comparison failed: ${describeError(error)}` });
        throw error;
      } finally {
        listening.dispose();
      }
    });
  } catch (error) {
    ctx.reportError("Compare Decoders", error);
    return undefined;
  }
};

export const explainSelectionCommand: CommandFactory = (ctx) => async (args: ExplainArgs = {}): Promise<ScoreResult | undefined> => {
  const editor = vscode.window.activeTextEditor;
  const response = args.response ?? (editor !== undefined && !editor.selection.isEmpty ? editor.document.getText(editor.selection) : undefined);
  if (response === undefined || response === "") {
    void vscode.window.showInformationMessage("AAD: select the text to explain first.");
    return undefined;
  }
  let prompt = args.prompt;
  let raw = args.raw ?? ctx.config.settings.promptMode === "raw";
  if (prompt === undefined && raw) {
    prompt = editor === undefined ? "" : textBefore(editor.document, editor.selection.start, EXPLAIN_CONTEXT_CHARS);
  }
  if (prompt === undefined) {
    prompt = await vscode.window.showInputBox({
      title: "AAD: Explain Selection",
      prompt: "The prompt the selected text answers (leave empty to score it as a continuation of the text before it)",
      value: ctx.lastPrompt,
    });
    if (prompt === undefined) return undefined;
    if (prompt === "") {
      raw = true;
      prompt = editor === undefined ? "" : textBefore(editor.document, editor.selection.start, EXPLAIN_CONTEXT_CHARS);
    } else ctx.lastPrompt = prompt;
  }
  const promptText = prompt;
  const promptMode: PromptMode = raw ? "raw" : "chat";
  const alpha = ctx.config.settings.alpha;
  const selection = editor !== undefined && args.response === undefined ? { editor, range: new vscode.Range(editor.selection.start, editor.selection.end) } : undefined;
  try {
    return await ctx.withProgress("AAD: explaining the selection", async (token, progress) => {
      const reset = (pair: string, placeholder: string): ResetMessage => ({
        type: "reset",
        title: `Explain: ${excerpt(response)}`,
        method: "teacher-forced",
        mode: "single",
        run: runInfo(ctx, pair, { method: "teacher-forced scoring", alpha, prompt: promptText, raw }, false),
        placeholder,
      });
      ctx.view.show();
      ctx.view.post(reset(ctx.config.modelPair().pair.label, placeholderFor(ctx)));
      const pair = await loadForView(ctx, token, progress, "Scoring");
      ctx.view.post(reset(pairName(pair), "Scoring the selected text…"));
      const scored = await ctx.daemon.request(score, { ...(raw ? { prompt: promptText, raw: true } : { prompt: promptText }), response, alpha }, token);
      // The tokenizer may start the text with a word-start space that was not selected: it is
      // left out of what the view and the editor show, so the pieces join to the selection.
      const result = alignToSelection(scored, response);
      ctx.view.post({ type: "tokens", column: SINGLE_COLUMN, entries: result.tokens });
      // A scoring of existing text has no speed to report: its tokens were not generated.
      ctx.view.post({ type: "done", column: SINGLE_COLUMN, stats: withoutSpeed(result.stats) });
      if (selection !== undefined) explanationsOf(ctx).paint(selection.editor, selection.range, result.tokens);
      ctx.log.info(`explain (${promptMode} prompt): ${result.tokens.length} tokens, implicit reward ${result.stats.implicitReward.toFixed(3)}`);
      return result;
    });
  } catch (error) {
    ctx.reportError("Explain Selection", error);
    return undefined;
  }
};

export const selectModelPairCommand: CommandFactory = (ctx) => async (args?: SelectPairArgs): Promise<PairInfo | undefined> => {
  const chosen = args ?? (await pickPairFiles());
  if (chosen === undefined) return undefined;
  if (chosen === "built-in") {
    await writePairSettings(ctx, { sft: "", dpo: "", dpoLora: "", reference: "" });
    return validateAndKeep(ctx, resolveModelPair({ sft: "", dpo: "", dpoLora: "" }, ctx.config.extensionRoot, existsSync).pair, false);
  }
  const reference = chosen.reference === undefined || chosen.reference === "" ? {} : { reference: chosen.reference };
  const pair: ModelPair =
    chosen.dpoLora !== undefined
      ? { sft: chosen.sft, dpoLora: chosen.dpoLora, ...reference, builtIn: false, label: `${basename(chosen.dpoLora)} (LoRA)` }
      : { sft: chosen.sft, dpo: chosen.dpo ?? "", ...reference, builtIn: false, label: basename(chosen.dpo ?? "") };
  for (const file of [pair.sft, pair.dpo, pair.dpoLora, pair.reference]) {
    if (file !== undefined && !existsSync(file)) {
      ctx.reportError("Select Model Pair", new ModelFileMissingError(file));
      return undefined;
    }
  }
  return validateAndKeep(ctx, pair, true);
};

export const generatePreferencePairsCommand: CommandFactory = (ctx) => async (args: PreferencePairsArgs = {}): Promise<PairsResult | undefined> => {
  const interactive = args.promptsFile === undefined;
  const promptsFile = args.promptsFile === undefined ? await pickPromptsFile() : absolutePath(args.promptsFile);
  if (promptsFile === undefined) return undefined;
  const out = args.out === undefined ? await pickPairsOutput(promptsFile) : absolutePath(args.out);
  if (out === undefined) return undefined;
  const rejected = args.rejected ?? (interactive ? await pickRejected() : DEFAULT_PAIRS_SETTINGS.rejected);
  if (rejected === undefined) return undefined;
  const settings = ctx.config.settings;
  const params: PairsParams = {
    promptsFile,
    out,
    rejected,
    // The setting allows α = 0 (every token a candidate); pairs want a proper candidate set.
    alpha: args.alpha ?? (settings.alpha > 0 ? settings.alpha : DEFAULT_PAIRS_SETTINGS.alpha),
    maxTokens: args.maxTokens ?? settings.maxTokens,
    ...definedOnly({ limit: args.limit, topP: args.topP, temperature: args.temperature, seed: args.seed }),
  };
  try {
    const result = await ctx.withProgress("AAD: generating preference pairs", async (token, progress) => {
      await loadWithMessage(ctx, token, progress);
      const client = await ctx.daemon.client();
      if (!(ctx.daemon.capabilities?.requests.includes(pairs.method) ?? false)) {
        throw new Error(`the daemon does not offer ${pairs.method} (an older daemon on the shared socket?); run AAD: Restart Daemon`);
      }
      const workDoneToken = randomUUID();
      let shown = 0;
      // Cancel stops the job after the prompt in progress; the daemon then answers with what the file holds.
      const listening = client.onProgress(pairsProgress, workDoneToken, (value) => {
        if (value.kind === "end") return;
        progress.report({ message: value.message, increment: Math.max(0, value.percentage - shown) });
        shown = Math.max(shown, value.percentage);
      });
      try {
        return await ctx.daemon.request(pairs, { ...params, workDoneToken }, token);
      } finally {
        listening.dispose();
      }
    });
    ctx.log.info(
      `pairs: ${result.done}/${result.total} prompts, ${result.written} written, ${result.skippedEqual} skipped (chosen = rejected), ${result.rows} rows in ${result.out}` +
        (result.resumedRows > 0 ? `, resumed after ${result.resumedRows} rows` : "") +
        (result.droppedBytes > 0 ? `, a torn last line of ${result.droppedBytes} bytes dropped` : "") +
        (result.cancelled ? " (cancelled)" : ""),
    );
    void vscode.window.showInformationMessage(`AAD: ${describePairsResult(result)}`);
    if (args.open !== false && result.rows > 0) {
      const document = await vscode.workspace.openTextDocument(vscode.Uri.file(result.out));
      await vscode.window.showTextDocument(document, { preview: false });
    }
    return result;
  } catch (error) {
    ctx.reportError("Generate Preference Pairs", error);
    return undefined;
  }
};

export const showStatusCommand: CommandFactory = (ctx) => async (args: StatusArgs = {}): Promise<StatusResult | undefined> => {
  try {
    const result = await ctx.daemon.request0(status);
    const state = ctx.daemon.state;
    const transport = state.kind === "running" ? state.transport : undefined;
    const lines = [
      `daemon pid ${result.pid}, up ${Math.round(result.uptimeMs / 1000)} s, protocol ${result.protocolVersion}, over ${result.transport}${result.socketPath === null ? "" : ` ${result.socketPath}`}`,
      transport === undefined ? "" : `this window: ${transport.spawned ? "started it" : "attached to it"}${transport.logFile === null ? "" : `, its log: ${transport.logFile}`}`,
      result.pair === null
        ? "no pair loaded"
        : `pair: ${result.pair.sft.path} + ${result.pair.dpo.path} (${result.pair.architecture}, vocabulary ${result.pair.vocabularySize}, context ${result.pair.contextSize}, ${formatBytes(result.pair.memoryBytes)})`,
      result.loading === null ? "" : `loading: ${JSON.stringify(result.loading)}`,
      `queue: ${result.queue.depth}/${result.queue.capacity}${result.queue.running === null ? "" : `, running ${result.queue.running.method} (${result.queue.running.class}) for ${result.queue.running.elapsedMs} ms`}`,
      `recent speed: ${result.recentTokensPerSecond === null ? "—" : formatRate(result.recentTokensPerSecond)}, ${result.tokensGenerated} tokens generated, ${result.clients} client(s), memory ${formatBytes(result.rssBytes)}`,
    ].filter((line) => line !== "");
    for (const line of lines) ctx.log.info(`status: ${line}`);
    if (!args.quiet) {
      const summary = `AAD daemon (pid ${result.pid}): ${result.pair === null ? "no pair loaded" : "pair loaded"}; ${result.recentTokensPerSecond === null ? "idle" : formatRate(result.recentTokensPerSecond)}; ${result.clients} client(s).`;
      void vscode.window.showInformationMessage(summary, "Show Log", "Restart Daemon").then((choice) => {
        if (choice === "Show Log") ctx.log.show();
        if (choice === "Restart Daemon") void vscode.commands.executeCommand("aad.restartDaemon");
      });
    }
    return result;
  } catch (error) {
    ctx.reportError("Daemon status", error);
    return undefined;
  }
};

export const restartDaemonCommand: CommandFactory = (ctx) => async (): Promise<StatusResult | undefined> => {
  try {
    return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: "AAD: restarting the daemon" }, async () => {
      await ctx.daemon.restart();
      const result = await ctx.daemon.request0(status);
      ctx.log.info(`daemon restarted: pid ${result.pid}`);
      return result;
    });
  } catch (error) {
    ctx.reportError("Restart Daemon", error);
    return undefined;
  }
};

export const toggleInlineCompletionsCommand: CommandFactory = (ctx) => async (): Promise<boolean> => {
  const enabled = !ctx.config.settings.inline.enabled;
  await ctx.config.update(SETTING_KEYS.inlineEnabled, enabled);
  void vscode.window.showInformationMessage(`AAD inline completions ${enabled ? "on" : "off"}.`);
  return enabled;
};

export const COMMANDS: Readonly<Record<string, CommandFactory>> = {
  "aad.generate": generateCommand,
  "aad.compare": compareCommand,
  "aad.explainSelection": explainSelectionCommand,
  "aad.selectModelPair": selectModelPairCommand,
  "aad.generatePreferencePairs": generatePreferencePairsCommand,
  "aad.showStatus": showStatusCommand,
  "aad.restartDaemon": restartDaemonCommand,
  "aad.toggleInlineCompletions": toggleInlineCompletionsCommand,
  "aad.showAdvantageView": showAdvantageViewCommand,
  "aad.rerunInView": rerunInViewCommand,
};

// ---------------------------------------------------------------------------------------------

interface PromptSource {
  readonly prompt: string;
  /** Where the prompt was selected, when it was. */
  readonly editor?: vscode.TextEditor;
  readonly selection?: vscode.Selection;
}

/** The prompt: given, else the selection, else asked for (offering the last one). */
async function promptFrom(ctx: Ctx, given: string | undefined, title: string): Promise<PromptSource | undefined> {
  if (given !== undefined) return { prompt: given };
  const editor = vscode.window.activeTextEditor;
  if (editor !== undefined && !editor.selection.isEmpty) {
    const prompt = editor.document.getText(editor.selection);
    ctx.lastPrompt = prompt;
    return { prompt, editor, selection: editor.selection };
  }
  const prompt = await vscode.window.showInputBox({ title: `AAD: ${title}`, prompt: title, value: ctx.lastPrompt, ignoreFocusOut: true });
  if (prompt === undefined || prompt.trim() === "") return undefined;
  ctx.lastPrompt = prompt;
  return { prompt };
}

function promptParams(ctx: Ctx, prompt: string): { prompt: string; raw?: boolean } {
  return ctx.config.settings.promptMode === "raw" ? { prompt, raw: true } : { prompt };
}

async function loadWithMessage(ctx: Ctx, token: vscode.CancellationToken, progress: vscode.Progress<{ message?: string }>): Promise<PairInfo> {
  if (ctx.loadedPair === undefined) progress.report({ message: `loading ${ctx.config.modelPair().pair.label} pair…` });
  return ctx.ensurePair(token);
}

/**
 * Loads the pair for a run the advantage view shows: a failed load (a missing model file, say) is
 * also the view's error note, instead of a view left saying the pair is loading.
 */
async function loadForView(ctx: Ctx, token: vscode.CancellationToken, progress: vscode.Progress<{ message?: string }>, what: string): Promise<PairInfo> {
  try {
    return await loadWithMessage(ctx, token, progress);
  } catch (error) {
    ctx.view.post({ type: "error", message: `${what} failed: ${describeError(error)}` });
    throw error;
  }
}

/** Posts the entries a stream did not deliver (a daemon may send its last tokens only in the result). */
function postRest(ctx: Ctx, column: string, tokens: readonly TraceEntry[], streamed: number): void {
  if (tokens.length > streamed) ctx.view.post({ type: "tokens", column, entries: tokens.slice(streamed) });
}

async function pickMethods(offered: readonly MethodName[]): Promise<MethodName[] | undefined> {
  const picked = await vscode.window.showQuickPick(
    offered.map((method) => ({ label: method, picked: DEFAULT_COMPARE.includes(method) })),
    { canPickMany: true, title: "AAD: Compare Decoders", placeHolder: "Methods to run side by side" },
  );
  return picked?.map((item) => item.label);
}

async function pickPromptsFile(): Promise<string | undefined> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const picked = await vscode.window.showOpenDialog({
    title: "AAD: choose the prompts file",
    openLabel: "Generate pairs for these prompts",
    canSelectMany: false,
    canSelectFolders: false,
    filters: { "Prompts (JSON Lines or text)": ["jsonl", "txt"] },
    ...(folder === undefined ? {} : { defaultUri: folder }),
  });
  return picked?.[0]?.fsPath;
}

async function pickPairsOutput(promptsFile: string): Promise<string | undefined> {
  const picked = await vscode.window.showSaveDialog({
    title: "AAD: where to write the preference pairs (an existing file of pairs is resumed, not replaced)",
    saveLabel: "Write pairs here",
    defaultUri: vscode.Uri.file(defaultPairsOutput(promptsFile)),
    filters: { "JSON Lines": ["jsonl"] },
  });
  return picked?.fsPath;
}

async function pickRejected(): Promise<"sample" | "greedy-dpo" | undefined> {
  const picked = await vscode.window.showQuickPick(
    [
      { label: "sample", id: "sample" as const, description: "default", detail: `Rejected: a sample of the DPO model (temperature ${DEFAULT_PAIRS_SETTINGS.temperature}, top-p ${DEFAULT_PAIRS_SETTINGS.topP})` },
      { label: "greedy-dpo", id: "greedy-dpo" as const, detail: "Rejected: the DPO model's greedy response" },
    ],
    { title: "AAD: Generate Preference Pairs", placeHolder: "Chosen is the AAD response; how should the rejected one be decoded?" },
  );
  return picked?.id;
}

/** A path given to a command: relative ones are taken from the first workspace folder. */
function absolutePath(path: string): string {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return isAbsolute(path) || folder === undefined ? path : resolve(folder, path);
}

function definedOnly<T extends Record<string, unknown>>(fields: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

async function pickPairFiles(): Promise<SelectPairArgs | "built-in" | undefined> {
  const kind = await vscode.window.showQuickPick(
    [
      { label: "SFT model + DPO model", id: "full" as const, detail: "Two GGUF files with the same vocabulary" },
      { label: "SFT model + DPO LoRA adapter", id: "lora" as const, detail: "A base GGUF and the DPO update as a GGUF LoRA adapter" },
      { label: "Built-in pair", id: "built-in" as const, detail: "The tiny pair shipped with the extension" },
    ],
    { title: "AAD: Select Model Pair" },
  );
  if (kind === undefined) return undefined;
  if (kind.id === "built-in") return "built-in";
  const pickFile = async (what: string): Promise<string | undefined> =>
    (await vscode.window.showOpenDialog({ title: `AAD: choose the ${what}`, openLabel: `Use as ${what}`, canSelectMany: false, filters: { GGUF: ["gguf"] } }))?.[0]?.fsPath;
  const sft = await pickFile("SFT model");
  if (sft === undefined) return undefined;
  const dpo = await pickFile(kind.id === "lora" ? "DPO LoRA adapter" : "DPO model");
  if (dpo === undefined) return undefined;
  const withReference = await vscode.window.showQuickPick(
    [
      { label: "No reference model", id: false, detail: "Contrastive decoding (cd) is not offered" },
      { label: "Choose a reference model…", id: true, detail: "A weaker model with the same vocabulary, for contrastive decoding (cd)" },
    ],
    { title: "AAD: Select Model Pair — reference model for cd (optional)" },
  );
  if (withReference === undefined) return undefined;
  const reference = withReference.id ? await pickFile("reference model") : undefined;
  if (withReference.id && reference === undefined) return undefined;
  const files = kind.id === "lora" ? { sft, dpoLora: dpo } : { sft, dpo };
  return reference === undefined ? files : { ...files, reference };
}

/** Loads the pair (which validates it in the daemon) and, only then, writes it to the settings. */
async function validateAndKeep(ctx: Ctx, pair: ModelPair, write: boolean): Promise<PairInfo | undefined> {
  try {
    const info = await ctx.withProgress("AAD: checking the model pair", (token) => ctx.loadPair(pair, token));
    if (write) await writePairSettings(ctx, { sft: pair.sft, dpo: pair.dpo ?? "", dpoLora: pair.dpoLora ?? "", reference: pair.reference ?? "" });
    await ctx.ensurePair();
    void vscode.window.showInformationMessage(
      `AAD: model pair ready (${info.architecture}, vocabulary ${info.vocabularySize}, ${formatBytes(info.memoryBytes)}, loaded in ${info.loadMs} ms).`,
    );
    return info;
  } catch (error) {
    ctx.reportError("Select Model Pair", error);
    return undefined;
  }
}

async function writePairSettings(ctx: Ctx, models: ModelPathSettings): Promise<void> {
  // Model paths are machine-scoped: config.ts writes them to the user's settings, never a workspace's.
  await ctx.config.writeModelPaths(models);
  ctx.log.info(`settings: model pair set to ${JSON.stringify(models)}`);
}

/** Appends streamed text to an editor: after the selected prompt, or in a new untitled document. */
class EditorSink {
  #offset: number;
  #chain: Thenable<unknown> = Promise.resolve();

  private constructor(
    private readonly document: vscode.TextDocument,
    offset: number,
  ) {
    this.#offset = offset;
  }

  static async open(source: PromptSource): Promise<EditorSink> {
    if (source.editor !== undefined && source.selection !== undefined) {
      const { document } = source.editor;
      const end = source.selection.end;
      const sink = new EditorSink(document, document.offsetAt(end));
      sink.append("\n");
      return sink;
    }
    const document = await vscode.workspace.openTextDocument({ language: "markdown", content: "" });
    await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.One, preview: false });
    return new EditorSink(document, 0);
  }

  append(text: string): void {
    if (text === "") return;
    this.#chain = this.#chain.then(async () => {
      const edit = new vscode.WorkspaceEdit();
      edit.insert(this.document.uri, this.document.positionAt(this.#offset), text);
      if (await vscode.workspace.applyEdit(edit)) this.#offset += text.length;
    });
  }

  flushed(): Promise<void> {
    return Promise.resolve(this.#chain).then(() => undefined);
  }
}

function textBefore(document: vscode.TextDocument, position: vscode.Position, chars: number): string {
  const offset = document.offsetAt(position);
  return document.getText(new vscode.Range(document.positionAt(Math.max(0, offset - chars)), position));
}

function excerpt(text: string, length = 80): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length <= length ? line : `${line.slice(0, length - 1)}…`;
}

function pairName(pair: PairInfo): string {
  return pair.dpo.name ?? pair.dpo.path.split(/[\\/]/).at(-1) ?? pair.dpo.path;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(1)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}
