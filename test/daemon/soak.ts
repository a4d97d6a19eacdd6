/**
 * The soak: a real daemon process holding the built-in pair takes thousands of generated messages
 * on one connection — the fuzz's protocol noise mixed with its decoding traffic (fuzz-messages.ts)
 * — in batches. After each batch every request must have exactly one answer and the daemon must
 * be idle; after the run it must still serve and decode, and its memory must be back near where it
 * was after the warm-up. `npm run soak` (bench/soak.ts) runs 10,000 messages and writes
 * bench/results/soak.md; test/daemon/soak.test.ts runs a few hundred in `npm test`.
 */
import { loadavg } from "node:os";
import { readFile } from "node:fs/promises";
import fc from "fast-check";
import * as aad from "../../server/src/protocol/protocol.ts";
import { decodingMessage, DOCUMENTS, message, METHODS, withTurnCancels, type DecodingFuzz, type Fuzz } from "./fuzz-messages.ts";
import { frame, RawClient, spawnDaemon, tempDir, withTimeout } from "./harness.ts";

/**
 * The memory rule, fixed before any run: once idle after the run, the daemon's RSS may exceed its
 * idle RSS after the warm-up (the first tenth of the batches, which brings V8's heap, llama.cpp's
 * buffers and the allocator's arenas to their working size) by at most 10 % or 32 MiB, whichever
 * is larger. A node process's idle RSS moves by tens of MiB with the garbage collector's timing
 * alone; a leak of a context, a sequence or a decoded trace per request is megabytes each, and over
 * 10,000 messages anything above about 3 KiB per message crosses the line.
 */
export const RSS_TOLERANCE = { fraction: 0.1, minBytes: 32 * 1024 * 1024 } as const;
export const WARMUP_FRACTION = 0.1;
const MESSAGES_PER_BATCH = 50;
/** How often the RSS sampler reads /proc/<pid>/status for the peak. */
export const RSS_SAMPLE_MS = 100;
/** How long one request may take to be answered before the soak counts it unanswered. */
const ANSWER_WITHIN_MS = 120_000;
/** Starting the daemon and loading the pair take seconds, or minutes on a machine busy with other work. */
const LOAD_WITHIN_MS = 600_000;

export interface SoakOptions {
  /** Messages to send (rounded up to whole batches of 50). */
  readonly messages: number;
  readonly seed: number;
  readonly log?: (line: string) => void;
  /** Called with the report so far at every tenth of the run (a long run leaves results if stopped). */
  readonly onCheckpoint?: (partial: SoakReport) => Promise<void>;
}

export interface SoakReport {
  readonly seed: number;
  readonly messages: number;
  readonly batches: number;
  /** Messages sent, by kind ("request aad/generate", "bytes", "cancel", ...). */
  readonly byKind: Readonly<Record<string, number>>;
  /** Requests sent with an id (each must be answered exactly once). */
  readonly requests: number;
  /** Responses to those requests. */
  readonly answers: number;
  /** Responses with a null id: answers to messages whose id could not be read (bytes, JSON that is no request). */
  readonly answersWithoutId: number;
  readonly progressNotifications: number;
  /** Per request method: "ok" or the error's name, counted. */
  readonly outcomes: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Error responses by code ("-32602 InvalidParams": n). */
  readonly errorsByCode: Readonly<Record<string, number>>;
  readonly rss: {
    readonly baselineBytes: number;
    readonly peakBytes: number;
    readonly afterBytes: number;
    readonly toleranceBytes: number;
    /** Idle RSS after each tenth of the batches. */
    readonly checkpoints: readonly { readonly messages: number; readonly bytes: number }[];
  };
  readonly durationMs: number;
  readonly loadAverage: { readonly start: readonly number[]; readonly end: readonly number[] };
  readonly daemonExit: number | string;
  /** Everything that broke a rule; empty when the soak passed. */
  readonly violations: readonly string[];
}

type SoakMessage = Fuzz | DecodingFuzz;

/** Decoding traffic and protocol noise, three to two. */
const soakMessage: fc.Arbitrary<SoakMessage> = fc.oneof(
  { weight: 3, arbitrary: withTurnCancels(decodingMessage) },
  { weight: 2, arbitrary: message },
);

const ERROR_NAMES = new Map<number, string>([
  ...Object.entries(aad.ErrorCodes).map(([name, code]) => [code, name] as const),
  [-32700, "ParseError"],
  [-32600, "InvalidRequest"],
  [-32601, "MethodNotFound"],
  [-32603, "InternalError"],
  [-32002, "ServerNotInitialized"],
]);
/** Answers that mean the daemon failed rather than refused: never acceptable for generated input. */
const FAILURES = new Set<number>([aad.ErrorCodes.RuntimeError, -32603]);

function kindOf(m: SoakMessage): string {
  if (m.kind === "bytes" || m.kind === "json" || m.kind === "cancel") return m.kind;
  return `${m.kind} ${METHODS.includes(m.method) ? m.method : "(random method)"}`;
}

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

const count = (table: Record<string, number>, key: string, by = 1): void => {
  table[key] = (table[key] ?? 0) + by;
};

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => undefined);
  const batches = Math.ceil(options.messages / MESSAGES_PER_BATCH);
  const warmupBatches = Math.max(1, Math.round(batches * WARMUP_FRACTION));
  const violations: string[] = [];
  const byKind: Record<string, number> = {};
  const outcomes: Record<string, Record<string, number>> = {};
  const errorsByCode: Record<string, number> = {};
  const checkpoints: { messages: number; bytes: number }[] = [];
  let requests = 0;
  let answers = 0;
  let answersWithoutId = 0;
  let progressNotifications = 0;
  let sentMessages = 0;
  const start = { time: Date.now(), load: loadavg() };

  const dir = await tempDir("aad-soak-");
  const daemon = await spawnDaemon({ socket: `${dir.path}/d.sock` }, { waitUntilServing: false });
  // Longer than the harness's 30 s: a soak may share a machine that is busy with other work.
  await withTimeout(daemon.logged(/serving on /), LOAD_WITHIN_MS, "the daemon to start").catch(async (error: unknown) => {
    await daemon.kill();
    await dir.remove();
    throw error;
  });
  const pid = daemon.child.pid!;
  const raw = await RawClient.open(daemon.socketPath!);
  const send = (body: Record<string, unknown>): void => raw.send(frame(JSON.stringify({ jsonrpc: "2.0", ...body })));
  let peak = 0;
  let sampling: Promise<void> = Promise.resolve();
  const sampler = setInterval(() => {
    // A process that has exited has no VmRSS line (NaN): such samples are skipped.
    sampling = rssOf(pid).then(
      (bytes) => {
        if (Number.isFinite(bytes)) peak = Math.max(peak, bytes);
      },
      () => undefined,
    );
  }, RSS_SAMPLE_MS);
  let baseline = Number.NaN;
  try {
    // With its early checkpoint as the reference model, so that cd decodes too.
    send({ id: "load", method: "aad/loadBuiltinPair", params: {} });
    const loaded = await raw.next((m) => m["id"] === "load", 0, LOAD_WITHIN_MS);
    if (loaded["result"] === undefined) throw new Error(`the built-in pair did not load: ${JSON.stringify(loaded)}`);
    for (const uri of DOCUMENTS) send({ method: "textDocument/didOpen", params: { textDocument: { uri, languageId: "python", version: 0, text: "xs = [1, 2]\nys = " } } });
    let nextId = 1;
    const report = (afterBytes: number, daemonExit: number | string): SoakReport => ({
      seed: options.seed,
      messages: sentMessages,
      batches,
      byKind,
      requests,
      answers,
      answersWithoutId,
      progressNotifications,
      outcomes,
      errorsByCode,
      rss: { baselineBytes: baseline, peakBytes: peak, afterBytes, toleranceBytes: Math.max(RSS_TOLERANCE.fraction * baseline, RSS_TOLERANCE.minBytes), checkpoints: [...checkpoints] },
      durationMs: Date.now() - start.time,
      loadAverage: { start: start.load, end: loadavg() },
      daemonExit,
      violations: [...violations],
    });
    const idle = async (tag: string): Promise<aad.StatusResult> => {
      send({ id: tag, method: "aad/status" });
      return (await raw.next((r) => r["id"] === tag, 0, ANSWER_WITHIN_MS))["result"] as aad.StatusResult;
    };

    for (let batch = 0; batch < batches; batch++) {
      const [messages] = fc.sample(fc.array(soakMessage, { minLength: MESSAGES_PER_BATCH, maxLength: MESSAGES_PER_BATCH }), { seed: options.seed + batch, numRuns: 1 });
      raw.messages.splice(0);
      const sent = new Map<number, string>();
      const order: number[] = [];
      const turnCancels: Promise<void>[] = [];
      for (const m of messages!) {
        sentMessages++;
        count(byKind, kindOf(m));
        if (m.kind === "bytes") raw.send(frame(Buffer.from(m.bytes)));
        else if (m.kind === "json") raw.send(frame(JSON.stringify(m.value)));
        else if (m.kind === "cancel") {
          const id = order.at(-1 - m.back);
          if (id !== undefined) send({ method: "$/cancelRequest", params: { id } });
        } else if (m.kind === "notification") send({ method: m.method, ...(m.params === undefined ? {} : { params: m.params }) });
        else {
          const id = nextId++;
          const body = { id, method: m.method, ...(m.params === undefined ? {} : { params: m.params }) };
          sent.set(id, JSON.stringify(body));
          const before = order.at(-1);
          order.push(id);
          if ("cancelOnTurn" in m && m.cancelOnTurn === true && before !== undefined) {
            turnCancels.push(raw.next((r) => r["id"] === before, 0, ANSWER_WITHIN_MS).then(() => send({ method: "$/cancelRequest", params: { id } }), () => undefined));
          }
          send(body);
        }
      }
      requests += sent.size;
      await Promise.all(turnCancels);
      for (const id of order) {
        await raw.next((r) => r["id"] === id, 0, ANSWER_WITHIN_MS).catch(() => violations.push(`unanswered within ${ANSWER_WITHIN_MS} ms: ${sent.get(id)}`));
      }
      // Once no job runs or waits, no further response to this batch can come.
      const status = await idle(`idle-${batch}`);
      if (status.queue.running !== null || status.queue.depth !== 0) violations.push(`batch ${batch}: not idle once every request was answered: ${JSON.stringify(status.queue)}`);
      if (status.pid !== pid) violations.push(`batch ${batch}: aad/status answered from pid ${status.pid}, not ${pid}`);
      if (status.pair === null) violations.push(`batch ${batch}: the pair is no longer loaded`);

      const replies = new Map<number, Record<string, unknown>[]>();
      for (const r of raw.messages) {
        if (r["method"] === "$/progress") progressNotifications++;
        else if (r["id"] === null) answersWithoutId++;
        else if (typeof r["id"] === "number") replies.set(r["id"], [...(replies.get(r["id"]) ?? []), r]);
      }
      for (const [id, body] of sent) {
        const mine = replies.get(id) ?? [];
        answers += mine.length;
        if (mine.length > 1) violations.push(`${body} got ${mine.length} responses`);
        const reply = mine[0];
        if (reply === undefined) continue;
        const method = (JSON.parse(body) as { method: unknown }).method;
        const methodKey = typeof method === "string" && METHODS.includes(method) ? method : "(random method)";
        const error = reply["error"] as { code: number; message: string } | undefined;
        const name = error === undefined ? "ok" : (ERROR_NAMES.get(error.code) ?? String(error.code));
        count((outcomes[methodKey] ??= {}), name);
        if (error !== undefined) {
          count(errorsByCode, `${error.code} ${name}`);
          if (FAILURES.has(error.code)) violations.push(`${body} → ${JSON.stringify(error)}`);
        }
      }
      for (const id of replies.keys()) if (!sent.has(id)) violations.push(`a response to id ${id}, which this batch never sent`);

      if (batch === warmupBatches - 1) baseline = await rssOf(pid);
      if ((batch + 1) % Math.max(1, Math.round(batches / 10)) === 0 || batch === batches - 1) {
        const bytes = await rssOf(pid);
        checkpoints.push({ messages: sentMessages, bytes });
        log(`${sentMessages} messages, ${answers} answers, idle RSS ${(bytes / 2 ** 20).toFixed(1)} MiB, ${violations.length} violations`);
        if (batch < batches - 1) await options.onCheckpoint?.(report(bytes, "running"));
      }
    }

    const after = await rssOf(pid);
    const tolerance = Math.max(RSS_TOLERANCE.fraction * baseline, RSS_TOLERANCE.minBytes);
    if (!(after - baseline <= tolerance)) violations.push(`RSS after the run ${after} B exceeds the baseline ${baseline} B by more than ${tolerance} B`);

    // The connection still decodes.
    send({ id: "final", method: "aad/generate", params: { prompt: "What is a tuple?", maxTokens: 4 } });
    const final = await raw.next((r) => r["id"] === "final", 0, ANSWER_WITHIN_MS);
    if (!((final["result"] as aad.GenerateResult | undefined)?.tokens.length ?? 0)) violations.push(`the final generation failed: ${JSON.stringify(final)}`);
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) violations.push(`the daemon exited: ${daemon.child.exitCode ?? daemon.child.signalCode}`);
    const crash = /uncaught exception|unhandled rejection/i.exec(daemon.stderr());
    if (crash !== null) violations.push(`the daemon logged: ${daemon.stderr().slice(crash.index, crash.index + 500)}`);
    const daemonExit = await daemon.kill("SIGTERM");
    if (daemonExit !== 0) violations.push(`SIGTERM after the run: the daemon exited with ${daemonExit}, not 0`);
    return report(after, daemonExit);
  } finally {
    clearInterval(sampler);
    await sampling;
    raw.close();
    await daemon.kill();
    await dir.remove();
  }
}
