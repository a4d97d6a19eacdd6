/**
 * The connection to the aad daemon, the way the client reaches every model: a LanguageClient
 * over the user's shared daemon socket (started here when nothing listens), or over the stdio of
 * a private daemon when the shared one cannot be had. A daemon that dies is restarted with
 * back-off (restart-policy.ts) and the user is told why; after too many deaths it stays down
 * until "AAD: Restart Daemon".
 *
 * The daemon is always the extension's own bundled CLI (dist/server/aad.js) run by the extension
 * host's Node (ELECTRON_RUN_AS_NODE for desktop VS Code).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { dirname, join } from "node:path";
import * as vscode from "vscode";
import type { RequestType, RequestType0 } from "vscode-jsonrpc";
import { CloseAction, ErrorAction, LanguageClient, type LanguageClientOptions, type StreamInfo } from "vscode-languageclient/node";
import {
  pairChanged,
  type ExperimentalCapabilities,
  type InitializationOptions,
  type PairInfo,
  type PairChangedParams,
} from "../../server/src/protocol/protocol.ts";
import { RestartPolicy } from "./restart-policy.ts";
import type { AadSettings } from "./settings.ts";
import { defaultSocketPath } from "./socket-path.ts";

/** How this window reaches its daemon. */
export interface DaemonTransport {
  readonly kind: "socket" | "stdio";
  readonly socketPath: string | null;
  /** This window started the daemon (for a socket: a detached process other windows may share). */
  readonly spawned: boolean;
  /** The daemon's process, when this window started it. */
  readonly pid: number | null;
  /** Where the daemon's own output goes, when this window started it on a socket. */
  readonly logFile: string | null;
}

export type DaemonState =
  | { readonly kind: "stopped" }
  | { readonly kind: "starting" }
  | { readonly kind: "running"; readonly transport: DaemonTransport }
  | { readonly kind: "restarting"; readonly reason: string; readonly delayMs: number }
  | { readonly kind: "failed"; readonly reason: string };

export class DaemonError extends Error {
  override readonly name = "DaemonError";
}

export interface DaemonOptions {
  readonly extensionRoot: string;
  /** A folder for the logs of daemons this window starts. */
  readonly logDir: string;
  readonly log: vscode.LogOutputChannel;
  readonly settings: () => AadSettings;
  readonly initializationOptions: () => InitializationOptions;
}

const SOCKET_WAIT_MS = 20_000;
/** How long a daemon asked to stop (SIGTERM) may take to exit before it is killed. */
const STOP_WAIT_MS = 10_000;
const STDERR_TAIL_LINES = 12;

export class Daemon implements vscode.Disposable {
  readonly #options: DaemonOptions;
  readonly #policy = new RestartPolicy();
  readonly #onDidChangeState = new vscode.EventEmitter<DaemonState>();
  readonly onDidChangeState = this.#onDidChangeState.event;
  readonly #onDidChangePair = new vscode.EventEmitter<PairInfo | null>();
  /** The shared pair changed (another window loaded one, or the daemon restarted: null). */
  readonly onDidChangePair = this.#onDidChangePair.event;
  /** Fires with each new client once it is running (re-send per-connection settings). */
  readonly #onDidConnect = new vscode.EventEmitter<LanguageClient>();
  readonly onDidConnect = this.#onDidConnect.event;

  #state: DaemonState = { kind: "stopped" };
  #client: LanguageClient | undefined;
  #starting: Promise<LanguageClient> | undefined;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #disposed = false;

  constructor(options: DaemonOptions) {
    this.#options = options;
  }

  get state(): DaemonState {
    return this.#state;
  }

  /** The running client, without starting one. */
  get running(): LanguageClient | undefined {
    return this.#state.kind === "running" ? this.#client : undefined;
  }

  /** `capabilities.experimental.aad` of the running daemon. */
  get capabilities(): ExperimentalCapabilities | undefined {
    const experimental = this.running?.initializeResult?.capabilities.experimental as { aad?: ExperimentalCapabilities } | undefined;
    return experimental?.aad;
  }

  /** The running client, started (or restarted after a failure) when there is none. */
  client(): Promise<LanguageClient> {
    if (this.#disposed) return Promise.reject(new DaemonError("the extension is shutting down"));
    const running = this.running;
    if (running !== undefined) return Promise.resolve(running);
    if (this.#starting === undefined) {
      clearTimeout(this.#restartTimer);
      this.#starting = this.#start().finally(() => (this.#starting = undefined));
    }
    return this.#starting;
  }

  /**
   * Sends one of protocol.ts's requests. By method name: protocol.ts builds its types with the
   * daemon's vscode-jsonrpc (10), not the copy inside vscode-languageclient (9), and the older
   * copy rejects the newer ParameterStructures object ("Unknown parameter structure auto").
   */
  async request<P, R, E>(type: RequestType<P, R, E>, params: P, token?: vscode.CancellationToken): Promise<R> {
    const client = await this.client();
    return token === undefined ? client.sendRequest<R>(type.method, params) : client.sendRequest<R>(type.method, params, token);
  }

  async request0<R, E>(type: RequestType0<R, E>, token?: vscode.CancellationToken): Promise<R> {
    const client = await this.client();
    return token === undefined ? client.sendRequest<R>(type.method) : client.sendRequest<R>(type.method, token);
  }

  /** Stops the daemon this window uses (a shared one too: the user asked) and starts a new one. */
  async restart(): Promise<LanguageClient> {
    this.#policy.reset();
    clearTimeout(this.#restartTimer);
    await this.#stopClient({ killShared: true });
    return this.client();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#restartTimer);
    await this.#stopClient({ killShared: false });
    this.#setState({ kind: "stopped" });
  }

  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#restartTimer);
    void this.#stopClient({ killShared: false });
    this.#onDidChangeState.dispose();
    this.#onDidChangePair.dispose();
    this.#onDidConnect.dispose();
  }

  // -------------------------------------------------------------------------------------------

  #setState(state: DaemonState): void {
    this.#state = state;
    if (!this.#disposed) this.#onDidChangeState.fire(state);
  }

  get #entry(): string {
    return join(this.#options.extensionRoot, "dist", "server", "aad.js");
  }

  async #start(): Promise<LanguageClient> {
    const { log } = this.#options;
    this.#setState({ kind: "starting" });
    if (!existsSync(this.#entry)) {
      const reason = `the daemon is not built: ${this.#entry} is missing (run npm run build)`;
      this.#setState({ kind: "failed", reason });
      throw new DaemonError(reason);
    }
    const settings = this.#options.settings();
    let client: LanguageClient | undefined;
    let transport: DaemonTransport | undefined;
    let lastError: unknown;
    const attempts: (() => Promise<{ client: LanguageClient; transport: DaemonTransport }>)[] = [];
    if (settings.daemon.connection === "shared") {
      const socketPath = settings.daemon.socketPath === "" ? defaultSocketPath() : settings.daemon.socketPath;
      attempts.push(() => this.#overSocket(socketPath));
    }
    attempts.push(() => this.#overStdio());
    for (const attempt of attempts) {
      try {
        ({ client, transport } = await attempt());
        break;
      } catch (error) {
        lastError = error;
        log.warn(`daemon: ${describeError(error)}`);
      }
    }
    if (transport?.kind === "stdio" && settings.daemon.connection === "shared") {
      void vscode.window.showWarningMessage(`AAD: the shared daemon could not be used (${describeError(lastError)}); this window uses a private one.`);
    }
    if (client === undefined || transport === undefined) {
      const reason = describeError(lastError);
      this.#died(reason);
      throw new DaemonError(`could not start the AAD daemon: ${reason}`);
    }
    this.#client = client;
    this.#policy.started();
    log.info(
      `daemon: connected over ${transport.kind}${transport.socketPath === null ? "" : ` ${transport.socketPath}`}` +
        (transport.spawned ? ` (started here, pid ${transport.pid ?? "?"})` : " (already running)"),
    );
    this.#setState({ kind: "running", transport });
    this.#onDidConnect.fire(client);
    return client;
  }

  async #overSocket(socketPath: string): Promise<{ client: LanguageClient; transport: DaemonTransport }> {
    let transport: DaemonTransport = { kind: "socket", socketPath, spawned: false, pid: null, logFile: null };
    const alive = await probeSocket(socketPath);
    if (!alive) transport = await this.#spawnSocketDaemon(socketPath);
    const client = this.#createClient(transport, async (): Promise<StreamInfo> => {
      const socket = await connectSocket(socketPath, 5000);
      return { reader: socket, writer: socket, detached: true };
    });
    await this.#startClient(client, transport);
    return { client, transport };
  }

  async #spawnSocketDaemon(socketPath: string): Promise<DaemonTransport> {
    const { logDir, log } = this.#options;
    mkdirSync(logDir, { recursive: true });
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
    const logFile = join(logDir, `daemon-${new Date().toISOString().replace(/[:.]/g, "-")}.log`);
    const fd = openSync(logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [this.#entry, "serve", "--socket", socketPath], {
        detached: true,
        stdio: ["ignore", fd, fd],
        env: daemonEnvironment(),
      });
    } finally {
      closeSync(fd);
    }
    child.unref();
    log.info(`daemon: started ${this.#entry} serve --socket ${socketPath} (pid ${child.pid ?? "?"}, log ${logFile})`);
    let exited: string | undefined;
    child.once("exit", (code, signal) => {
      exited = describeExit(code, signal);
      if (child.pid !== undefined) spawnedExits.set(child.pid, exited);
    });
    child.once("error", (error) => (exited = error.message));
    const deadline = Date.now() + SOCKET_WAIT_MS;
    while (Date.now() < deadline) {
      if (await probeSocket(socketPath)) return { kind: "socket", socketPath, spawned: true, pid: child.pid ?? null, logFile };
      // Another window may have won the race to start it: its daemon is as good as ours.
      if (exited !== undefined) {
        if (await probeSocket(socketPath)) return { kind: "socket", socketPath, spawned: false, pid: null, logFile: null };
        throw new DaemonError(`the shared daemon exited at start (${exited})${formatTail(tailOf(logFile))}`);
      }
      await sleep(100);
    }
    child.kill();
    throw new DaemonError(`the shared daemon did not listen on ${socketPath} within ${SOCKET_WAIT_MS / 1000} s${formatTail(tailOf(logFile))}`);
  }

  async #overStdio(): Promise<{ client: LanguageClient; transport: DaemonTransport }> {
    let child: ChildProcess | undefined;
    const stderrTail: string[] = [];
    const client = this.#createClient(
      { kind: "stdio", socketPath: null, spawned: true, pid: null, logFile: null },
      () => {
        child = spawn(process.execPath, [this.#entry, "serve", "--stdio"], { stdio: "pipe", env: daemonEnvironment() });
        child.stderr?.on("data", (chunk: Buffer) => {
          stderrTail.push(...chunk.toString("utf8").split("\n").filter((line) => line.trim() !== ""));
          stderrTail.splice(0, Math.max(0, stderrTail.length - STDERR_TAIL_LINES));
        });
        return Promise.resolve(child);
      },
      () => {
        const exit = child?.exitCode !== null && child?.exitCode !== undefined ? describeExit(child.exitCode, child.signalCode) : "its connection closed";
        return `the private daemon stopped (${exit})${formatTail(stderrTail)}`;
      },
    );
    const transport: DaemonTransport = { kind: "stdio", socketPath: null, spawned: true, pid: null, logFile: null };
    await this.#startClient(client, transport);
    return { client, transport: { ...transport, pid: child?.pid ?? null } };
  }

  #createClient(
    transport: DaemonTransport,
    serverOptions: () => Promise<StreamInfo | ChildProcess>,
    why: () => string = () => this.#socketDeathReason(transport),
  ): LanguageClient {
    const options: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      outputChannel: this.#options.log,
      initializationOptions: this.#options.initializationOptions(),
      initializationFailedHandler: () => false,
      errorHandler: {
        error: (_error, _message, count) => ({ action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown, handled: true }),
        closed: () => {
          // Give the process a moment to report its exit code before describing it.
          setTimeout(() => this.#closed(client, why()), 200);
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
    };
    const client = new AadLanguageClient("aad", "AAD daemon", serverOptions, options);
    client.onNotification(pairChanged.method, (params: PairChangedParams) => this.#onDidChangePair.fire(params.pair));
    return client;
  }

  async #startClient(client: LanguageClient, transport: DaemonTransport): Promise<void> {
    try {
      await client.start();
    } catch (error) {
      intentionallyStopped.add(client);
      await client.dispose(2000).catch(() => undefined);
      throw new DaemonError(`${transport.kind === "socket" ? `the daemon on ${transport.socketPath ?? "?"}` : "the private daemon"} did not initialize: ${describeError(error)}`);
    }
  }

  #socketDeathReason(transport: DaemonTransport): string {
    const where = `the daemon on ${transport.socketPath ?? "?"}`;
    if (transport.pid !== null && !processAlive(transport.pid)) {
      const exit = spawnedExits.get(transport.pid);
      const lastLine = transport.logFile === null ? "" : formatTail(tailOf(transport.logFile), "; its last words");
      return `${where} ${exit === undefined ? "exited" : `exited (${exit})`}${lastLine}`;
    }
    return `the connection to ${where} closed`;
  }

  #closed(client: LanguageClient, reason: string): void {
    if (intentionallyStopped.has(client) || client !== this.#client || this.#disposed) return;
    this.#client = undefined;
    this.#onDidChangePair.fire(null);
    this.#options.log.error(`daemon: ${reason}`);
    this.#died(reason);
  }

  /** Schedules a restart (or gives up) after a death or a failed start, and tells the user. */
  #died(reason: string): void {
    const decision = this.#policy.died();
    if (!decision.restart) {
      const minutes = Math.round(decision.windowMs / 60_000);
      this.#setState({ kind: "failed", reason });
      void vscode.window
        .showErrorMessage(`AAD daemon stopped ${decision.deaths} times in ${minutes} minutes and will not be restarted: ${reason}`, "Restart Daemon", "Show Log")
        .then((choice) => {
          if (choice === "Restart Daemon") void vscode.commands.executeCommand("aad.restartDaemon");
          if (choice === "Show Log") this.#options.log.show();
        });
      return;
    }
    const seconds = Math.round(decision.delayMs / 100) / 10;
    this.#setState({ kind: "restarting", reason, delayMs: decision.delayMs });
    void vscode.window.showWarningMessage(`AAD daemon stopped: ${reason}. Restarting in ${seconds} s.`);
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      if (this.#disposed || this.#starting !== undefined || this.running !== undefined) return;
      this.client().catch((error: unknown) => this.#options.log.error(`daemon: restart failed: ${describeError(error)}`));
    }, decision.delayMs);
  }

  async #stopClient({ killShared }: { killShared: boolean }): Promise<void> {
    const client = this.#client;
    const state = this.#state;
    this.#client = undefined;
    if (client === undefined) return;
    intentionallyStopped.add(client);
    let pid: number | null = state.kind === "running" && state.transport.kind === "socket" ? state.transport.pid : null;
    if (killShared && state.kind === "running" && state.transport.kind === "socket" && pid === null) {
      pid = await client
        .sendRequest<{ pid: number }>("aad/status")
        .then((status) => status.pid)
        .catch(() => null);
    }
    await client.stop(3000).catch(() => undefined);
    if (killShared && pid !== null && state.kind === "running" && state.transport.socketPath !== null) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // Already gone.
      }
      // The daemon refuses new connections as soon as its shutdown begins, then frees its pair;
      // one that has not exited after STOP_WAIT_MS is killed, so the restart cannot reach it.
      const socketPath = state.transport.socketPath;
      const gone = async (): Promise<boolean> => !processAlive(pid) && !(await probeSocket(socketPath));
      let deadline = Date.now() + STOP_WAIT_MS;
      while (Date.now() < deadline && !(await gone())) await sleep(100);
      if (processAlive(pid)) {
        this.#options.log.warn(`daemon: pid ${pid} did not exit within ${STOP_WAIT_MS / 1000} s of SIGTERM; killing it`);
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
        deadline = Date.now() + 2000;
        while (Date.now() < deadline && !(await gone())) await sleep(100);
      }
    }
    this.#onDidChangePair.fire(null);
  }
}

/** How the daemons this window started ended, by pid (for telling the user why). */
const spawnedExits = new Map<number, string>();

/** Clients stopped on purpose: their close is not a death. */
const intentionallyStopped = new WeakSet<LanguageClient>();

/**
 * vscode-languageclient registers its own inline completion provider when the server offers
 * one; inline.ts provides completions instead (debounce, cache), so that feature is left out.
 */
class AadLanguageClient extends LanguageClient {
  override registerFeature(feature: Parameters<LanguageClient["registerFeature"]>[0]): void {
    const method = (feature as { registrationType?: { method?: string } }).registrationType?.method;
    if (method === "textDocument/inlineCompletion") return;
    super.registerFeature(feature);
  }
}

function daemonEnvironment(): NodeJS.ProcessEnv {
  return { ...process.env, ELECTRON_RUN_AS_NODE: "1", NODE_LLAMA_CPP_SKIP_DOWNLOAD: "true" };
}

function connectSocket(path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new DaemonError(`no answer on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Something accepts connections on the socket (a file left by a dead daemon does not). */
async function probeSocket(path: string): Promise<boolean> {
  try {
    if (!statSync(path).isSocket()) return false;
  } catch {
    return false;
  }
  try {
    const socket = await connectSocket(path, 1000);
    socket.destroy();
    return true;
  } catch {
    return false;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tailOf(file: string, lines = STDERR_TAIL_LINES): string[] {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => line.trim() !== "")
      .slice(-lines);
  } catch {
    return [];
  }
}

function formatTail(lines: readonly string[], lead = ""): string {
  const last = lines.at(-1);
  return last === undefined ? "" : `${lead}: ${last.trim()}`;
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal !== null ? `killed by ${signal}` : `exit code ${code ?? "?"}`;
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
