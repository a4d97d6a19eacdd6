/**
 * One client's connection: the LSP lifecycle, its open documents, its inline completion settings,
 * and a handler per method that validates the params and turns the request into a job on the
 * shared pair.
 *
 * Handlers are bound by method name through `onRequest` below, not by the protocol's typed
 * constants directly: the protocol module is typed with the vscode-jsonrpc version the client
 * library speaks, vscode-languageserver brings an older copy, and TypeScript keeps the two
 * copies' RequestType classes apart. `onRequest` keeps the constants' param and result types.
 */
import { createConnection } from "vscode-languageserver";
import {
  createProtocolConnection,
  ResponseError,
  TextDocuments,
  TextDocumentSyncKind,
  type CancellationToken,
  type Connection,
  type InitializeError,
  type InitializeResult,
  type InlineCompletionList,
  type MessageReader,
  type MessageWriter,
  type WatchDog,
} from "vscode-languageserver/node";
import type { ProgressType, RequestType, RequestType0 } from "vscode-jsonrpc";
import {
  compare,
  compareProgress,
  configure,
  DEFAULT_INLINE_COMPLETION_SETTINGS,
  generate,
  generateProgress,
  loadBuiltinPair,
  loadPair,
  NOTIFICATIONS,
  pairs,
  pairsProgress,
  PROTOCOL_VERSION,
  REQUESTS,
  score,
  status,
  type ErrorData,
  type DecodingParams,
  type ExperimentalCapabilities,
  type GenerationLimits,
  type GenerateParams,
  type GenerateProgress,
  type GenerateResult,
  type InlineCompletionSettings,
  type InlineCompletionStats,
  type MethodName,
  type PromptParams,
  type TraceEntry,
} from "../protocol/protocol.ts";
import type { Daemon, SessionHandle } from "./daemon.ts";
import { documentConfiguration, type SyncedDocument } from "./documents.ts";
import type { Engine, EngineGenerateRequest, EnginePromptReport } from "./engine.ts";
import { toResponseError } from "./errors.ts";
import { cancellationStrategy, checkInitializeParams } from "./cancellation.ts";
import { cutCompletion, fitContext, inlineContext, stripSuffixOverlap, type Cut, type InlineContext } from "./inline.ts";
import { ContextRing } from "./context-ring.ts";
import { runPairsJob } from "./pairs-job.ts";
import { builtinPairParams } from "./runtime-engine.ts";
import { parseCompare, parseConfigure, parseGenerate, parseInitializationOptions, parseInlineCompletion, parseLoadBuiltinPair, parseLoadPair, parsePairs, parseScore, ParamsError } from "./validate.ts";

export const SERVER_NAME = "aad";
export const SERVER_VERSION = "0.1.0";

/** Progress is sent at most this often; tokens decided in between travel together. */
const PROGRESS_INTERVAL_MS = 15;

export interface SessionTransport {
  readonly reader: MessageReader;
  readonly writer: MessageWriter;
  /** Closes the underlying stream (the socket); the session then ends. */
  readonly close: () => void;
}

export class Session implements SessionHandle {
  readonly id: number;
  private readonly connection: Connection;
  private readonly documents = new TextDocuments<SyncedDocument>(documentConfiguration);
  private inlineSettings: Required<InlineCompletionSettings> = DEFAULT_INLINE_COMPLETION_SETTINGS;
  /** Chunks around this client's recent completion requests, for prompts in its other files (contextChunks > 0). */
  private contextRing: ContextRing | undefined;
  private closed = false;
  /** Aborted when the session ends: long jobs (aad/pairs) stop with it. */
  private readonly closing = new AbortController();
  /** Requests being worked on: a shutdown lets them be answered before it closes the connection. */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Messages handed to the transport and not written yet. */
  private readonly writing = new Set<Promise<void>>();

  constructor(
    private readonly daemon: Daemon,
    private readonly transport: SessionTransport,
    /** What the LSP `exit` notification does: end this session, or (stdio) the daemon. */
    private readonly onExit: (code: number) => void,
  ) {
    this.id = daemon.allocateSessionId();
    const watchDog: WatchDog = {
      shutdownReceived: false,
      // LSP's processId watchdog would end the whole daemon when one client process dies; a
      // socket client that dies closes its socket instead, which ends just its session.
      initialize: checkInitializeParams,
      exit: (code) => this.onExit(code),
    };
    // vscode-jsonrpc reports its own failures (a reply to a client that just disconnected) to the
    // logger it is given; vscode-languageserver's default logger sends them to the client, over
    // the very connection that failed, and that throw escapes as an unhandled rejection. The
    // daemon's log is the right place for them.
    const log = (line: string): void => daemon.log(`client ${this.id}: ${line}`);
    const logger = { error: log, warn: log, info: () => undefined, log: () => undefined };
    this.connection = createConnection(() => createProtocolConnection(transport.reader, this.trackWrites(transport.writer), logger, { cancellationStrategy }), watchDog);
    this.register();
    this.documents.listen(this.connection);
    this.documents.onDidClose((event) => this.contextRing?.forget(event.document.uri));
    this.connection.onExit(() => undefined);
    this.connection.listen();
    transport.reader.onClose(() => this.end());
    transport.writer.onClose(() => this.end());
    daemon.addSession(this);
  }

  notify(method: string, params: unknown): void {
    if (this.closed) return;
    // A client that is gone can make this throw (connection disposed) or reject (socket closed).
    try {
      this.connection.sendNotification(method, params).catch(() => undefined);
    } catch {
      // Its session ends with the close event.
    }
  }

  close(): void {
    this.end();
    this.transport.close();
  }

  /**
   * Closes once every request in flight has been answered and the answers written (a shutdown has
   * already failed or aborted their jobs, so they settle within a decoding step).
   */
  async closeWhenAnswered(): Promise<void> {
    while (this.inFlight.size > 0 && !this.closed) {
      await Promise.allSettled([...this.inFlight]);
      // The connection writes an answer once the work behind it settles: let it.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.allSettled([...this.writing]);
    this.close();
  }

  /** Runs a request's work, tracked until it settles. */
  private tracked<R>(work: Promise<R>): Promise<R> {
    this.inFlight.add(work);
    const forget = (): void => void this.inFlight.delete(work);
    work.then(forget, forget);
    return work;
  }

  private trackWrites(writer: MessageWriter): MessageWriter {
    const writing = this.writing;
    return {
      onError: writer.onError,
      onClose: writer.onClose,
      end: () => writer.end(),
      dispose: () => writer.dispose(),
      write: (message) => {
        const written = writer.write(message);
        writing.add(written);
        const forget = (): void => void writing.delete(written);
        written.then(forget, forget);
        return written;
      },
    };
  }

  private end(): void {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    this.daemon.removeSession(this.id);
    this.connection.dispose();
  }

  // -------------------------------------------------------------------------------------------

  private register(): void {
    const { connection, daemon } = this;

    connection.onInitialize((params): InitializeResult | ResponseError<InitializeError> => {
      try {
        const settings = parseInitializationOptions(params.initializationOptions);
        if (settings !== undefined) this.inlineSettings = { ...DEFAULT_INLINE_COMPLETION_SETTINGS, ...settings };
      } catch (error) {
        const { code, message } = toResponseError(error);
        return new ResponseError<InitializeError>(code, message, { retry: false });
      }
      const aad: ExperimentalCapabilities = {
        protocolVersion: PROTOCOL_VERSION,
        requests: REQUESTS,
        notifications: NOTIFICATIONS,
        partialResults: [generate.method, compare.method],
        workDoneProgress: [pairs.method],
      };
      return {
        capabilities: {
          textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
          inlineCompletionProvider: true,
          experimental: { aad },
        },
        serverInfo: { name: SERVER_NAME, version: SERVER_VERSION },
      };
    });

    this.onRequest0(status, () => Promise.resolve(daemon.status()));

    this.onRequest(loadPair, parseLoadPair, (params, token) => daemon.loadPair(params, this.id, token));

    this.onRequest(loadBuiltinPair, parseLoadBuiltinPair, (params, token) => daemon.loadPair(builtinPairParams(params), this.id, token));

    this.onRequest(configure, parseConfigure, (params) => {
      if (params.inlineCompletion !== undefined) this.inlineSettings = { ...this.inlineSettings, ...params.inlineCompletion };
      return Promise.resolve({ inlineCompletion: this.inlineSettings });
    });

    this.onRequest(generate, parseGenerate, (params, token) => {
      daemon.assertPairAvailable();
      const request = generateRequest(params, params.method ?? "aad");
      const progressToken = params.partialResultToken;
      return daemon.runJob({ class: params.priority ?? "interactive", client: this.id, method: generate.method }, token, async (signal) => {
        const engine = daemon.requireEngine();
        const progress = progressToken === undefined ? undefined : new ProgressStream((value) => this.progress(generateProgress, progressToken, value));
        const started = Date.now();
        try {
          const result = await engine.generate(request, {
            signal,
            ...(progress === undefined ? {} : { onToken: (entry, index) => progress.push(entry, index), onTraceUpdate: (entry, index) => progress.update(entry, index) }),
          });
          daemon.recordTokens(result.tokens.length, result.stats.elapsedMs ?? Date.now() - started);
          return result;
        } finally {
          progress?.flush();
        }
      });
    });

    this.onRequest(compare, parseCompare, (params, token) => {
      daemon.assertPairAvailable();
      const progressToken = params.partialResultToken;
      const { decoding, ...rest } = generateRequest(params, "aad");
      const options = pick(decoding, ["alpha", "lambda", "temperature", "topP", "topK", "from", "n", "beta"]);
      return daemon.runJob({ class: "batch", client: this.id, method: compare.method }, token, async (signal) => {
        const results = await daemon.requireEngine().compare(
          { ...rest, decoding: options, ...(params.methods === undefined ? {} : { methods: params.methods }) },
          {
            signal,
            onEntry: (entry) => {
              if (progressToken !== undefined) this.progress(compareProgress, progressToken, entry);
            },
          },
        );
        for (const { result } of results) if (result !== undefined) daemon.recordTokens(result.tokens.length, result.stats.elapsedMs ?? 0);
        return { results };
      });
    });

    this.onRequest(score, parseScore, (params, token) => {
      daemon.assertPairAvailable();
      return daemon.runJob({ class: "interactive", client: this.id, method: score.method }, token, (signal) =>
        daemon.requireEngine().score({ prompt: promptOf(params), response: params.response, ...pick(params, ["raw", "alpha", "beta", "traceTopK"]) }, { signal }),
      );
    });

    this.onRequest(pairs, parsePairs, (params, token) =>
      runPairsJob({ daemon, client: this.id, closed: this.closing.signal, progress: (progressToken, value) => this.progress(pairsProgress, progressToken, value) }, params, token),
    );

    connection.onRequest("textDocument/inlineCompletion", (...args: unknown[]) =>
      this.tracked(
        (async () => {
          const token = args.pop() as CancellationToken;
          try {
            return await this.inlineCompletion(args.length === 1 ? args[0] : args, token);
          } catch (error) {
            throw toResponseError(error);
          }
        })(),
      ),
    );
  }

  private async inlineCompletion(raw: unknown, token: CancellationToken): Promise<InlineCompletionList & { aad: InlineCompletionStats }> {
    const { uri, line, character } = parseInlineCompletion(raw);
    const document = this.documents.get(uri);
    if (document === undefined) throw new ParamsError("textDocument.uri", `${uri} is not open in this session: send textDocument/didOpen (and didChange) before asking for inline completions`);
    this.daemon.assertPairAvailable();
    const settings = this.inlineSettings;
    const position = { line, character };
    const context = inlineContext(document, position, settings);
    const ring = settings.contextChunks > 0 ? (this.contextRing = resizedRing(this.contextRing, settings.contextChunks)) : undefined;
    const { text, stats } = await this.daemon.runJob({ class: "inline", client: this.id, method: "textDocument/inlineCompletion", document: uri }, token, async (signal) => {
      const started = Date.now();
      const decoded = await decodeInline(this.daemon.requireEngine(), { uri, context, ring }, settings, signal);
      this.daemon.recordTokens(decoded.stats.decodedTokens, Date.now() - started);
      this.daemon.recordInline(decoded.stats);
      return decoded;
    });
    // Recorded after the request, so a file's own lines never come back to it as "another file".
    ring?.record(uri, document.text.split(/\r\n|\r|\n/), line, settings.contextChunkLines);
    const at = { line, character: Math.min(character, document.lineAt(line).length) };
    return { items: text.trim() === "" ? [] : [{ insertText: text, range: { start: at, end: at } }], aad: stats };
  }

  private progress<P>(_type: ProgressType<P>, token: string | number, value: P): void {
    this.notify("$/progress", { token, value });
  }

  /** Binds a protocol request: params validated by `parse`, errors mapped to protocol codes. */
  private onRequest<P, R>(type: RequestType<P, R, ErrorData>, parse: (raw: unknown) => P, run: (params: P, token: CancellationToken) => Promise<R>): void {
    this.connection.onRequest(type.method, (...args: unknown[]) =>
      this.tracked(
        (async () => {
          const token = args.pop() as CancellationToken;
          try {
            return await run(parse(args.length === 1 ? args[0] : args), token);
          } catch (error) {
            throw toResponseError(error);
          }
        })(),
      ),
    );
  }

  private onRequest0<R>(type: RequestType0<R, ErrorData>, run: (token: CancellationToken) => Promise<R>): void {
    this.connection.onRequest(type.method, (...args: unknown[]) =>
      this.tracked(
        (async () => {
          try {
            return await run(args.pop() as CancellationToken);
          } catch (error) {
            throw toResponseError(error);
          }
        })(),
      ),
    );
  }
}

function promptOf(params: PromptParams): PromptParams {
  return params.messages === undefined ? { prompt: params.prompt } : { messages: params.messages };
}

function generateRequest(params: PromptParams & Omit<DecodingParams, "method"> & GenerationLimits & Pick<GenerateParams, "schedule" | "trace">, method: MethodName): EngineGenerateRequest {
  return {
    prompt: promptOf(params),
    decoding: { method, ...pick(params, ["alpha", "lambda", "temperature", "topP", "topK", "from", "n", "beta"]) },
    ...pick(params, ["raw", "maxTokens", "stop", "seed", "traceTopK", "schedule", "trace"]),
  };
}

function pick<T extends object, K extends keyof T>(object: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (object[key] !== undefined) picked[key] = object[key];
  return picked;
}

/** Batches trace entries into `$/progress` values: one per PROGRESS_INTERVAL_MS at most. */
class ProgressStream {
  private pending: TraceEntry[] = [];
  private start = 0;
  private updates = new Map<number, TraceEntry>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly send: (value: GenerateProgress) => void) {}

  push(entry: TraceEntry, index: number): void {
    if (this.pending.length === 0) this.start = index;
    this.pending.push(entry);
    this.schedule();
  }

  update(entry: TraceEntry, index: number): void {
    // An entry still waiting to be sent is simply sent complete.
    if (index >= this.start && index < this.start + this.pending.length) this.pending[index - this.start] = entry;
    else this.updates.set(index, entry);
    this.schedule();
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0 && this.updates.size === 0) return;
    const tokens = this.pending;
    const updates = [...this.updates].map(([index, entry]) => ({ index, entry }));
    this.pending = [];
    this.updates = new Map();
    this.send({ start: this.start, text: tokens.map((t) => t.piece).join(""), tokens, updates });
    this.start += tokens.length;
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => this.flush(), PROGRESS_INTERVAL_MS);
  }
}

const BUDGET_SPENT = Symbol("inline time budget spent");
const STOP_RULE_MET = Symbol("inline stop rule met");

function resizedRing(ring: ContextRing | undefined, capacity: number): ContextRing {
  if (ring !== undefined && ring.capacity === capacity) return ring;
  const resized = new ContextRing(capacity);
  for (const chunk of ring?.chunks ?? []) resized.record(chunk.uri, chunk.text.split("\n"), chunk.line + Math.floor(chunk.lineCount / 2), chunk.lineCount);
  return resized;
}

interface InlineInput {
  readonly uri: string;
  readonly context: InlineContext;
  readonly ring: ContextRing | undefined;
}

/**
 * Decodes an inline completion: FIM when the model has FIM tokens (and `fim` is on), a plain
 * continuation of the prefix otherwise; the prefix and suffix cut to their token budgets. Ends at
 * the stop rule, the token budget or the time budget — the last two are not errors: what was
 * decoded is the completion. What repeats the text after the cursor is stripped.
 */
async function decodeInline(engine: Engine, input: InlineInput, settings: Required<InlineCompletionSettings>, signal: AbortSignal): Promise<{ text: string; stats: InlineCompletionStats }> {
  const started = Date.now();
  const { context } = input;
  const fimOn = settings.fim && engine.infill !== undefined;
  const fallbackReason = fimOn ? null : settings.fim ? engine.inlineMode.reason : "fill-in-the-middle is off in the inline completion settings (fim: false)";
  const count = (text: string): number => engine.countTokens(text);
  // Room for the response and the FIM markers; the budgets never ask for more than the context holds.
  const room = Math.max(1, engine.info.contextSize - settings.maxTokens - 8);
  const prefixBudget = Math.min(settings.prefixTokens, room);
  const suffixBudget = fimOn ? Math.min(settings.suffixTokens, Math.max(0, room - prefixBudget)) : 0;
  const fitted = fitContext(context, { prefixTokens: prefixBudget, suffixTokens: suffixBudget }, count);
  const chunkBudget = fimOn && input.ring !== undefined ? Math.min(settings.chunkTokens, Math.max(0, room - fitted.prefixTokens - fitted.suffixTokens)) : 0;
  const picked = chunkBudget > 0 ? input.ring!.chunksFor(input.uri, chunkBudget, count) : { chunks: [], tokens: 0 };

  const local = new AbortController();
  const forward = (): void => local.abort(signal.reason);
  signal.addEventListener("abort", forward, { once: true });
  const timer = setTimeout(() => local.abort(BUDGET_SPENT), settings.timeBudgetMs);
  let decoded = "";
  let tokens = 0;
  let cut: Cut = { text: "", done: false };
  let prompt: EnginePromptReport | undefined;
  let stoppedBy: InlineCompletionStats["stoppedBy"] = "end";
  const onToken = (entry: TraceEntry): void => {
    if (local.signal.aborted) return;
    decoded += entry.piece;
    tokens++;
    cut = cutCompletion(decoded, settings.stopAt, context.indent, context.linePrefix);
    if (cut.done) local.abort(STOP_RULE_MET);
  };
  const onPrompt = (report: EnginePromptReport): void => {
    prompt = report;
  };
  const decoding = { method: settings.method satisfies MethodName, alpha: settings.alpha };
  try {
    let result: GenerateResult;
    if (fimOn) {
      const chunks = picked.chunks.map((c) => ({ filename: fileLabel(c.uri), text: c.text }));
      result = await engine.infill({ prefix: fitted.prefix, suffix: fitted.suffix, chunks, filename: fileLabel(input.uri), decoding, maxTokens: settings.maxTokens }, { signal: local.signal, onToken, onPrompt });
    } else {
      // Only the text is shown: the picks need no log-probabilities (about greedy's cost).
      result = await engine.generate({ prompt: { prompt: fitted.prefix }, raw: true, decoding, maxTokens: settings.maxTokens, trace: "picks" }, { signal: local.signal, onToken, onPrompt });
    }
    if (result.stoppedBy === "max-tokens") stoppedBy = "max-tokens";
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    if (local.signal.reason === BUDGET_SPENT) stoppedBy = "time-budget";
    else if (local.signal.reason === STOP_RULE_MET) stoppedBy = "stop-rule";
    else throw error;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", forward);
  }
  if (signal.aborted) throw signal.reason;
  const text = stripSuffixOverlap(cut.text, fitted.suffix.length > 0 ? fitted.suffix : context.suffix);
  const evaluated = Object.fromEntries(Object.entries(prompt?.reusedPromptTokens ?? {}).map(([role, reused]) => [role, (prompt?.promptTokens ?? 0) - reused]));
  const stats: InlineCompletionStats = {
    layout: fimOn ? "fim" : "prefix",
    fallbackReason,
    budget: { prefixTokens: prefixBudget, suffixTokens: suffixBudget, chunkTokens: chunkBudget },
    prefixTokens: fitted.prefixTokens,
    suffixTokens: fitted.suffixTokens,
    chunkTokens: picked.tokens,
    chunks: picked.chunks.length,
    promptTokens: prompt?.promptTokens ?? 0,
    evaluatedPromptTokens: evaluated,
    specialTokens: prompt?.specialTokens ?? [],
    decodedTokens: tokens,
    stoppedBy,
    elapsedMs: Date.now() - started,
  };
  return { text, stats };
}

/** A document's name in the repository-level FIM layout: its path's last segments. */
function fileLabel(uri: string): string {
  const path = decodeURIComponent(uri.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, ""));
  return path.split("/").filter((p) => p !== "").slice(-2).join("/") || "file";
}
