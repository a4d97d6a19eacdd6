/**
 * `serve`: the daemon's entry point, called by `aad serve` (server/src/cli) and by main.ts.
 *
 * It returns once the daemon is listening; `done` settles with the exit code when it has shut
 * down (LSP exit, idle timeout, SIGTERM/SIGINT, or stdin closing in stdio mode). Calling
 * process.exit is left to the caller. It throws DaemonAlreadyRunningError when another daemon
 * answers on the socket (tell the user to connect to it) and SocketPathError for an unusable path.
 */
import type { Socket } from "node:net";
import { StreamMessageWriter } from "vscode-languageserver/node";
import type { LoadPairParams } from "../protocol/protocol.ts";
import { Daemon } from "./daemon.ts";
import type { EngineLoader } from "./engine.ts";
import { GuardedMessageReader, type ErrorResponse, type FramingLimits } from "./framing.ts";
import { createRuntimeLoader } from "./runtime-engine.ts";
import type { SchedulerOptions } from "./scheduler.ts";
import { Session } from "./session.ts";
import { defaultSocketPath, listenOnSocket, type SocketListener } from "./transport.ts";

export { DaemonAlreadyRunningError, SocketPathError, defaultSocketPath } from "./transport.ts";
/** `preload: builtinPairParams({})` starts a daemon with the built-in pair. */
export { builtinPairParams } from "./runtime-engine.ts";

export type TransportOptions = { readonly transport: "stdio" } | { readonly transport: "socket"; readonly path?: string };

export interface ServeOptions {
  /** Shut down after this many seconds without clients; null never. Default: 600 for a socket, null for stdio. */
  readonly idleTimeoutSeconds?: number | null;
  /** A pair to load at start, as aad/loadPair would. */
  readonly preload?: LoadPairParams;
  readonly scheduler?: Partial<SchedulerOptions>;
  readonly framing?: FramingLimits;
  /** Where log lines go. Default: stderr (never stdout, which is the stdio transport). */
  readonly log?: (line: string) => void;
  /** How pairs are loaded. Default: server/src/runtime. */
  readonly loader?: EngineLoader;
}

export interface DaemonHandle {
  /** The socket path, or null for stdio. */
  readonly socketPath: string | null;
  /** Settles with the exit code once the daemon has shut down. */
  readonly done: Promise<number>;
  shutdown(code?: number): Promise<void>;
}

export const DEFAULT_SOCKET_IDLE_TIMEOUT_SECONDS = 600;

function stderrLog(line: string): void {
  process.stderr.write(`[aad ${new Date().toISOString()}] ${line}\n`);
}

export async function serve(transport: TransportOptions, options: ServeOptions = {}): Promise<DaemonHandle> {
  const log = options.log ?? stderrLog;
  const socketPath = transport.transport === "socket" ? (transport.path ?? defaultSocketPath()) : null;
  const idleTimeoutSeconds = options.idleTimeoutSeconds !== undefined ? options.idleTimeoutSeconds : transport.transport === "socket" ? DEFAULT_SOCKET_IDLE_TIMEOUT_SECONDS : null;
  if (idleTimeoutSeconds !== null && !(idleTimeoutSeconds > 0 && Number.isFinite(idleTimeoutSeconds))) {
    throw new RangeError(`idleTimeoutSeconds must be a positive number of seconds or null, got ${idleTimeoutSeconds}`);
  }
  const daemon = new Daemon({
    transport: transport.transport,
    socketPath,
    idleTimeoutSeconds,
    loader: options.loader ?? createRuntimeLoader(),
    log,
    ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
  });

  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  let listener: SocketListener | undefined;
  let listenerClosed: Promise<void> | undefined;
  const closeListener = (): Promise<void> => (listenerClosed ??= listener?.close() ?? Promise.resolve());
  daemon.onClosing = () => void closeListener();
  daemon.onShutdown = (code) => {
    void closeListener().finally(() => {
      log(`stopped (exit code ${code})`);
      resolveDone(code);
    });
  };

  const guardProcess = (): void => {
    // One bad request must not take down the daemon every client shares: log and keep serving.
    process.on("unhandledRejection", (reason) => log(`unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`));
    process.on("uncaughtException", (error) => log(`uncaught exception: ${error.stack ?? error.message}`));
    // `on`, not `once`: signal-exit (installed by node-llama-cpp's proper-lockfile once a pair is
    // loaded) re-raises a signal that finds no other listener, and a `once` listener is gone by
    // the time it looks, so the process died of the signal before any request was answered.
    // shutdown() runs once however many signals come.
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => void daemon.shutdown(0));
  };

  if (transport.transport === "stdio") {
    // stdout carries the protocol: anything a library logs must go elsewhere.
    console.log = console.info = console.debug = console.warn = console.error;
    process.stdout.on("error", (error: Error) => log(`stdout: ${error.message}`));
    const writer = new StreamMessageWriter(process.stdout);
    const reader = guardedReader(process.stdin, writer, log, options.framing);
    new Session(daemon, { reader, writer, close: () => process.stdin.destroy() }, (code) => void daemon.shutdown(code));
    process.stdin.on("end", () => void daemon.shutdown(0));
    guardProcess();
    log(`serving on stdio (pid ${process.pid})`);
  } else {
    listener = await listenOnSocket(socketPath!, (socket) => accept(daemon, socket, log, options.framing), { ownDirectory: transport.path === undefined });
    guardProcess();
    log(`serving on ${socketPath} (pid ${process.pid}${idleTimeoutSeconds === null ? "" : `, idle timeout ${idleTimeoutSeconds} s`})`);
  }

  if (options.preload !== undefined) {
    daemon.loadPair(options.preload, 0, undefined).then(
      (pair) => log(`preloaded ${pair.sft.path} + ${pair.dpo.path}`),
      (error: unknown) => log(`preloading the pair failed: ${error instanceof Error ? error.message : String(error)}`),
    );
  }

  return { socketPath, done, shutdown: (code = 0) => daemon.shutdown(code) };
}

function guardedReader(stream: NodeJS.ReadableStream, writer: StreamMessageWriter, log: (line: string) => void, limits: FramingLimits | undefined): GuardedMessageReader {
  return new GuardedMessageReader(stream, {
    ...(limits === undefined ? {} : { limits }),
    respond: (response: ErrorResponse) => void writer.write(response).catch(() => undefined),
    log,
  });
}

function accept(daemon: Daemon, socket: Socket, log: (line: string) => void, limits: FramingLimits | undefined): void {
  if (daemon.isClosing) {
    socket.destroy();
    return;
  }
  socket.on("error", (error) => log(`client socket: ${error.message}`));
  const writer = new StreamMessageWriter(socket);
  const reader = guardedReader(socket, writer, log, limits);
  const session = new Session(daemon, { reader, writer, close: () => socket.destroy() }, () => session.close());
  log(`client ${session.id} connected`);
  socket.once("close", () => log(`client ${session.id} disconnected`));
}
