/**
 * Drives the real daemon process: spawns `node --import tsx server/src/daemon/main.ts`, connects
 * real vscode-jsonrpc clients over its socket or stdio, and sends raw bytes where a client
 * library would refuse to.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { CancellationTokenSource, createMessageConnection, ResponseError, StreamMessageReader, StreamMessageWriter, type MessageConnection } from "vscode-jsonrpc/node";
import * as aad from "../../server/src/protocol/protocol.ts";
import type { ErrorData } from "../../server/src/protocol/protocol.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;
const MAIN = join(ROOT, "server/src/daemon/main.ts");

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly socketPath: string | undefined;
  /** Everything the daemon wrote to stderr so far. */
  stderr(): string;
  /** Resolves once the daemon's stderr matches `pattern`. */
  logged(pattern: RegExp): Promise<void>;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface SpawnOptions {
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** Wait until the daemon logs that it serves. Default true. */
  readonly waitUntilServing?: boolean;
}

/**
 * `{ socket }` passes the path; `{ socket, defaultPath: true }` passes a bare `--socket` and
 * tells the harness where the daemon should put it.
 */
export async function spawnDaemon(transport: { socket: string; defaultPath?: boolean } | "stdio", options: SpawnOptions = {}): Promise<DaemonProcess> {
  const transportArgs = transport === "stdio" ? ["--stdio"] : transport.defaultPath === true ? ["--socket"] : ["--socket", transport.socket];
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...transportArgs, ...(options.args ?? [])], {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  const serving = new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk;
      if (/serving on /.test(stderr)) resolve();
    });
    child.once("exit", () => reject(new Error(`daemon exited before serving:\n${stderr}`)));
  });
  serving.catch(() => undefined);
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  const daemon: DaemonProcess = {
    child,
    socketPath: transport === "stdio" ? undefined : transport.socket,
    stderr: () => stderr,
    logged: (pattern) =>
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (!pattern.test(stderr)) return;
          child.stderr.off("data", check);
          resolve();
        };
        child.stderr.on("data", check);
        check();
      }),
    exited,
    kill: (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  if (options.waitUntilServing !== false) await withTimeout(serving, 30_000, "the daemon to start");
  return daemon;
}

/** The JSON-RPC error a request answered with (fails the test if it succeeded). */
export async function errorOf(promise: Promise<unknown>): Promise<ResponseError<ErrorData | undefined>> {
  const error = await promise.then(
    () => assert.fail("expected an error response"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ResponseError, String(error));
  return error as ResponseError<ErrorData | undefined>;
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function openSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

export interface Client {
  readonly connection: MessageConnection;
  readonly socket: Socket | undefined;
  close(): void;
}

/** A vscode-jsonrpc client on the daemon's socket (or on a stdio daemon's pipes). */
export async function connectClient(daemon: DaemonProcess): Promise<Client> {
  let connection: MessageConnection;
  let socket: Socket | undefined;
  if (daemon.socketPath === undefined) {
    connection = createMessageConnection(new StreamMessageReader(daemon.child.stdout!), new StreamMessageWriter(daemon.child.stdin!));
  } else {
    socket = await openSocket(daemon.socketPath);
    connection = createMessageConnection(new StreamMessageReader(socket), new StreamMessageWriter(socket));
  }
  connection.onError(() => undefined);
  connection.listen();
  return {
    connection,
    socket,
    close: () => {
      connection.dispose();
      socket?.destroy();
    },
  };
}

export function frame(body: string | Buffer): Buffer {
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  return Buffer.concat([Buffer.from(`Content-Length: ${bytes.length}\r\n\r\n`, "latin1"), bytes]);
}

/** A raw byte-level connection that collects every JSON message the daemon sends. */
export class RawClient {
  private buffer = Buffer.alloc(0);
  readonly messages: Record<string, unknown>[] = [];
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const end = this.buffer.indexOf("\r\n\r\n");
        if (end === -1) break;
        const length = Number(/Content-Length: (\d+)/i.exec(this.buffer.subarray(0, end).toString("latin1"))?.[1]);
        if (this.buffer.length < end + 4 + length) break;
        this.messages.push(JSON.parse(this.buffer.subarray(end + 4, end + 4 + length).toString("utf8")) as Record<string, unknown>);
        this.buffer = this.buffer.subarray(end + 4 + length);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    socket.on("error", () => undefined);
  }

  static async open(path: string): Promise<RawClient> {
    return new RawClient(await openSocket(path));
  }

  send(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** Waits for the first message (from index `from` on) matching `predicate`. */
  async next(predicate: (message: Record<string, unknown>) => boolean, from = 0, ms = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.messages.slice(from).find(predicate);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`no matching message within ${ms} ms; got ${JSON.stringify(this.messages).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  // Short paths: a Unix socket path is limited to 107 bytes.
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** The built-in pair, or the scaled-down one the forge leaves in .cache while models/ is regenerated. */
export function builtInPair(): { dir: string; sft: string; dpo: string; dpoLora: string } | undefined {
  for (const dir of [join(ROOT, "models"), join(ROOT, ".cache/quick1")]) {
    const pair = { dir, sft: join(dir, "sft.gguf"), dpo: join(dir, "dpo.gguf"), dpoLora: join(dir, "dpo-lora.gguf") };
    if (existsSync(pair.sft) && existsSync(pair.dpo) && existsSync(pair.dpoLora)) return pair;
  }
  return undefined;
}

export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import("node:fs/promises");
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

/** Asks aad/status until `predicate` holds (each answer is the daemon's state at that point of the stream). */
export async function statusWhen(client: Client, predicate: (status: aad.StatusResult) => boolean, what: string): Promise<aad.StatusResult> {
  return withTimeout(
    (async () => {
      for (;;) {
        const status = await client.connection.sendRequest(aad.status);
        if (predicate(status)) return status;
      }
    })(),
    60_000,
    what,
  );
}

/**
 * A generation that holds the pair until it is cancelled (load the pair with a context of 1024):
 * at temperature 100 the next token is nearly uniform over the vocabulary, so EOS is rare, and the
 * built-in pair runs this seed to its 900-token limit, several seconds of decoding
 * (test/daemon/streaming.test.ts checks that it does).
 */
export const HOLD = { prompt: "How do I reverse a list in Python?", method: "sample", temperature: 100, seed: 7, maxTokens: 900 } as const;

export interface Hold {
  /** The generation's outcome (it rejects once cancelled). */
  readonly result: Promise<aad.GenerateResult>;
  /** Cancels it, and checks that it was still running (it answers Cancelled). */
  cancel(): Promise<void>;
}

/** Starts HOLD on `client`; resolves once its first token has streamed, so it is running. */
export async function holdPair(client: Client, token: string): Promise<Hold> {
  const source = new CancellationTokenSource();
  let started: () => void = () => undefined;
  const streaming = new Promise<void>((resolve) => (started = resolve));
  const subscription = client.connection.onProgress(aad.generateProgress, token, () => started());
  const result = client.connection.sendRequest(aad.generate, { ...HOLD, partialResultToken: token }, source.token).finally(() => subscription.dispose());
  result.catch(() => undefined);
  await withTimeout(streaming, 30_000, "the holding generation");
  return {
    result,
    cancel: async () => {
      source.cancel();
      // A hold that answers Cancelled was still running: it did not let go of the pair on its own.
      assert.equal((await errorOf(result)).code, aad.ErrorCodes.Cancelled);
    },
  };
}
