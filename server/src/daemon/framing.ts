/**
 * The daemon's side of the wire: `Content-Length` framing and JSON-RPC envelope checks, in front
 * of vscode-jsonrpc's connection.
 *
 * vscode-jsonrpc's own reader buffers a body of whatever length the header claims (a client
 * announcing 10 GB grows the heap until the process dies), drops a body that is not JSON without
 * answering, and hands any parsed value to its dispatcher (a `$/cancelRequest` without params
 * throws inside it). Here a body above the size limit is skipped — the stream stays in step — and
 * answered with an error; unparseable JSON gets a Parse error and a well-formed JSON value that is
 * no JSON-RPC message gets an Invalid Request, as JSON-RPC 2.0 prescribes, all with `id: null`
 * unless the message's id could be read.
 */
import { Emitter, type DataCallback, type Disposable, type Message, type MessageReader, type PartialMessageInfo } from "vscode-languageserver/node";

export interface FramingLimits {
  /** A header block longer than this without its blank line means the stream is not framed. */
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
}

export const DEFAULT_FRAMING_LIMITS: FramingLimits = { maxHeaderBytes: 8 * 1024, maxBodyBytes: 64 * 1024 * 1024 };

export type FrameEvent =
  | { readonly kind: "body"; readonly body: Buffer }
  /** `fatal`: framing was lost (the bytes so far are discarded and the parser looks for the next header). */
  | { readonly kind: "error"; readonly message: string; readonly fatal: boolean };

const HEADER_END = Buffer.from("\r\n\r\n", "latin1");
const CONTENT_LENGTH = /content-length[ \t]*:[ \t]*(\d+)[ \t]*$/i;

/** Splits a byte stream into message bodies. Pure: feed chunks, get events. */
export class FrameParser {
  private header = Buffer.alloc(0);
  private bodyChunks: Buffer[] = [];
  private bodyBytes = 0;
  /** Bytes of the current body still to come; -1 while reading a header. */
  private expected = -1;
  private skipping = false;

  constructor(private readonly limits: FramingLimits = DEFAULT_FRAMING_LIMITS) {}

  push(chunk: Buffer): FrameEvent[] {
    const events: FrameEvent[] = [];
    let rest = chunk;
    while (rest.length > 0) {
      if (this.expected === -1) {
        const joined = this.header.length === 0 ? rest : Buffer.concat([this.header, rest]);
        const end = joined.indexOf(HEADER_END);
        if (end === -1) {
          if (joined.length > this.limits.maxHeaderBytes) {
            this.header = Buffer.alloc(0);
            events.push({ kind: "error", message: `no message header end (CRLF CRLF) within ${this.limits.maxHeaderBytes} bytes: the stream is not Content-Length framed`, fatal: true });
            return events;
          }
          this.header = Buffer.from(joined);
          return events;
        }
        this.header = Buffer.alloc(0);
        rest = joined.subarray(end + HEADER_END.length);
        const length = contentLength(joined.subarray(0, end).toString("latin1"));
        if (length === undefined) {
          events.push({ kind: "error", message: "message header without a valid Content-Length", fatal: false });
          continue;
        }
        this.expected = length;
        this.skipping = length > this.limits.maxBodyBytes;
        if (this.skipping) {
          events.push({ kind: "error", message: `message of ${length} bytes exceeds the limit of ${this.limits.maxBodyBytes} bytes`, fatal: false });
        }
      }
      const take = Math.min(this.expected - this.bodyBytes, rest.length);
      if (!this.skipping) this.bodyChunks.push(rest.subarray(0, take));
      this.bodyBytes += take;
      rest = rest.subarray(take);
      if (this.bodyBytes === this.expected) {
        if (!this.skipping) events.push({ kind: "body", body: Buffer.concat(this.bodyChunks) });
        this.bodyChunks = [];
        this.bodyBytes = 0;
        this.expected = -1;
        this.skipping = false;
      }
    }
    return events;
  }

  /** Bytes held for an incomplete message. */
  get pendingBytes(): number {
    return this.header.length + this.bodyBytes;
  }
}

/** The Content-Length of a header block; tolerant of garbage before it (the last match wins). */
function contentLength(header: string): number | undefined {
  let length: number | undefined;
  for (const line of header.split("\r\n")) {
    const match = CONTENT_LENGTH.exec(line);
    if (match !== null) length = Number(match[1]);
  }
  return length !== undefined && Number.isSafeInteger(length) ? length : undefined;
}

export interface ErrorResponse {
  readonly jsonrpc: "2.0";
  readonly id: string | number | null;
  readonly error: { readonly code: number; readonly message: string };
}

/** What to do with one parsed JSON value: pass it on, answer it with an error, or drop it. */
export type EnvelopeVerdict =
  | { readonly kind: "message"; readonly message: Message }
  | { readonly kind: "reject"; readonly response: ErrorResponse }
  | { readonly kind: "drop"; readonly reason: string };

const PARSE_ERROR = -32700;
const INVALID_REQUEST = -32600;

function reject(id: string | number | null, code: number, message: string): EnvelopeVerdict {
  return { kind: "reject", response: { jsonrpc: "2.0", id, error: { code, message } } };
}

function isId(value: unknown): value is string | number {
  return typeof value === "string" || (typeof value === "number" && Number.isFinite(value));
}

/** Checks one message's JSON-RPC 2.0 envelope (not its params: the handlers do that). */
export function checkEnvelope(value: unknown): EnvelopeVerdict {
  if (Array.isArray(value)) return reject(null, INVALID_REQUEST, "Invalid Request: batch requests are not supported; send one message per frame");
  if (typeof value !== "object" || value === null) return reject(null, INVALID_REQUEST, `Invalid Request: a message must be a JSON object, got ${value === null ? "null" : typeof value}`);
  const message = value as Record<string, unknown>;
  const { id, method, params } = message;
  const hasId = "id" in message;
  const replyId = isId(id) ? id : null;
  if (hasId && id !== null && !isId(id)) return reject(null, INVALID_REQUEST, `Invalid Request: "id" must be a string or a number, got ${typeof id}`);
  if (method === undefined) {
    // A response: this daemon sends no requests, so any response is unexpected but harmless.
    if (hasId && ("result" in message || "error" in message)) return { kind: "drop", reason: `unexpected response to request ${String(id)}` };
    return reject(replyId, INVALID_REQUEST, `Invalid Request: the message has no "method"`);
  }
  if (typeof method !== "string") return reject(replyId, INVALID_REQUEST, `Invalid Request: "method" must be a string, got ${method === null ? "null" : typeof method}`);
  if (hasId && id === null) return reject(null, INVALID_REQUEST, `Invalid Request: "id" must not be null`);
  if (params !== undefined && (typeof params !== "object" || params === null)) {
    if (!hasId) return { kind: "drop", reason: `notification ${method} with params that are neither an object nor an array` };
    return reject(replyId, INVALID_REQUEST, `Invalid Request: "params" of ${method} must be an object or an array, got ${params === null ? "null" : typeof params}`);
  }
  if (method === "$/cancelRequest" && !hasId && (typeof params !== "object" || !isId((params as Record<string, unknown>)["id"]))) {
    return { kind: "drop", reason: "$/cancelRequest without an id to cancel" };
  }
  if (method === "$/progress" && !hasId) {
    return { kind: "drop", reason: "$/progress from a client: the daemon starts no progress the client could report on" };
  }
  return { kind: "message", message: value as Message };
}

/** Parses a body, as JSON-RPC 2.0 says a server must: invalid JSON is a Parse error. */
export function checkBody(body: Buffer): EnvelopeVerdict {
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch (error) {
    return reject(null, PARSE_ERROR, `Parse error: ${error instanceof Error ? error.message : String(error)}`);
  }
  return checkEnvelope(value);
}

export interface GuardedReaderOptions {
  readonly limits?: FramingLimits;
  /** Sends an error response (the writer of the same connection). */
  readonly respond: (response: ErrorResponse) => void;
  /** Reports a message the reader dropped or refused. */
  readonly log: (message: string) => void;
}

/** A vscode-jsonrpc MessageReader over a byte stream that hands on only well-formed messages. */
export class GuardedMessageReader implements MessageReader {
  private readonly errorEmitter = new Emitter<Error>();
  private readonly closeEmitter = new Emitter<undefined>();
  private readonly partialEmitter = new Emitter<PartialMessageInfo>();
  private readonly parser: FrameParser;
  private detach: (() => void) | undefined;

  constructor(
    private readonly stream: NodeJS.ReadableStream,
    private readonly options: GuardedReaderOptions,
  ) {
    this.parser = new FrameParser(options.limits);
  }

  get onError() {
    return this.errorEmitter.event;
  }

  get onClose() {
    return this.closeEmitter.event;
  }

  get onPartialMessage() {
    return this.partialEmitter.event;
  }

  listen(callback: DataCallback): Disposable {
    const onData = (chunk: Buffer | string): void => {
      for (const event of this.parser.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk)) {
        if (event.kind === "error") {
          this.options.log(`framing: ${event.message}`);
          // Even a "fatal" event leaves the parser looking for the next header, so a client that
          // sent garbage can still recover; nothing it sent is buffered beyond the limits.
          this.options.respond({ jsonrpc: "2.0", id: null, error: { code: PARSE_ERROR, message: `Parse error: ${event.message}` } });
          continue;
        }
        const verdict = checkBody(event.body);
        if (verdict.kind === "message") callback(verdict.message);
        else if (verdict.kind === "reject") {
          this.options.log(verdict.response.error.message);
          this.options.respond(verdict.response);
        } else this.options.log(`dropped: ${verdict.reason}`);
      }
    };
    const onError = (error: Error): void => {
      this.errorEmitter.fire(error);
    };
    const onEnd = (): void => {
      this.closeEmitter.fire(undefined);
    };
    this.stream.on("data", onData);
    this.stream.on("error", onError);
    this.stream.on("end", onEnd);
    this.stream.on("close", onEnd);
    this.detach = () => {
      this.stream.off("data", onData);
      this.stream.off("error", onError);
      this.stream.off("end", onEnd);
      this.stream.off("close", onEnd);
    };
    return { dispose: () => this.dispose() };
  }

  dispose(): void {
    this.detach?.();
    this.detach = undefined;
    this.errorEmitter.dispose();
    this.closeEmitter.dispose();
    this.partialEmitter.dispose();
  }
}
