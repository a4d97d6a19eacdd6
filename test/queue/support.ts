/**
 * Real parts for the queue suite: a redis-server of its own on a loopback port in a temporary
 * folder (append-only file synced on every write, so a restart keeps every row, as a production
 * Redis for this queue must be set up), and `aad` processes whose stderr lines can be waited on.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";

/**
 * How long a step of a queue test may wait for a process's output: far above any step's time on a
 * loaded machine (a stalled row's redo takes two lock periods, 6 s), well below a test's 600 s.
 */
export const UNTIL_MS = 180_000;

/** What is missing for the suite, or undefined. */
export function redisMissing(): string | undefined {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined) return `redis-server is not installed (${probe.error.message}); install it with \`apt-get install redis-server\``;
  return undefined;
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

export class RedisServer {
  /** Every server started and not stopped, so that a suite's `after` can stop them even when a test timed out mid-way. */
  static readonly running = new Set<RedisServer>();
  readonly port: number;
  readonly dir: string;
  #process: ChildProcess | undefined;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  static async start(dir: string): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), dir);
    await server.start();
    return server;
  }

  /** The running server's process id (undefined while stopped). */
  get pid(): number | undefined {
    return this.#process?.exitCode === null ? this.#process.pid : undefined;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** Starts (again) on the same port and folder; resolves once it accepts connections. */
  async start(): Promise<void> {
    const child = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--maxmemory-policy", "noeviction"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#process = child;
    RedisServer.running.add(this);
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString("utf8");
        if (output.includes("Ready to accept connections")) {
          child.stdout.off("data", onData);
          resolve();
        }
      };
      child.stdout.on("data", onData);
      child.once("exit", (code) => reject(new Error(`redis-server exited with ${code} before it was ready:\n${output}`)));
    });
    child.stdout.resume();
  }

  /** Shuts down the way `redis-cli shutdown` does (SIGTERM: the append-only file is flushed), and waits for the exit. */
  async stop(): Promise<void> {
    const child = this.#process;
    if (child === undefined || child.exitCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    await exited;
    this.#process = undefined;
    RedisServer.running.delete(this);
  }
}

/** An `aad` process run from the sources, with its output kept and its stderr lines waitable. */
export class AadProcess {
  /** Every process started and still running (see RedisServer.running). */
  static readonly running = new Set<AadProcess>();
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #waiters = new Set<() => void>();

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, ["--import", "tsx", "server/src/cli/main.ts", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (chunk: Buffer) => {
      this.stdout += chunk.toString("utf8");
      this.#wake();
    });
    this.child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr += chunk.toString("utf8");
      this.#wake();
    });
    AadProcess.running.add(this);
    this.exited = new Promise((resolve) =>
      this.child.on("exit", (code, signal) => {
        AadProcess.running.delete(this);
        resolve({ code, signal });
        this.#wake();
      }),
    );
  }

  static async run(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = new AadProcess(args);
    const { code } = await child.exited;
    return { code, stdout: child.stdout, stderr: child.stderr };
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Resolves once `condition` holds on the output so far; rejects if the process exits first, or
   * after `withinMs`, naming `what` it waited for (a wait that never ends would otherwise surface
   * only as the whole test's timeout, without saying which step hung).
   */
  async until(condition: (self: AadProcess) => boolean, what: string, withinMs = UNTIL_MS): Promise<void> {
    const deadline = Date.now() + withinMs;
    while (!condition(this)) {
      if (!this.running) throw new Error(`the process exited before ${what}; stderr:\n${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`waited ${withinMs / 1000} s and still not: ${what}; stderr:\n${this.stderr}`);
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#waiters.add(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  #wake(): void {
    for (const waiter of this.#waiters) waiter();
    this.#waiters.clear();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    await this.exited;
  }
}

/** Kills whatever a test left running (a timed-out test skips its own clean-up). */
export async function stopLeftovers(): Promise<void> {
  await Promise.all([...AadProcess.running].map((child) => {
    child.child.kill("SIGKILL");
    return child.exited;
  }));
  await Promise.all([...RedisServer.running].map((server) => server.stop()));
}

/**
 * A redis-server of the suite's own in a fresh temporary folder, started before the suite's tests
 * and stopped after them; `close` runs first (the suite's workers). Nothing happens when skipped.
 */
export function suiteRedis(prefix: string, skip: unknown, close: () => Promise<void>): { readonly dir: string; readonly redis: RedisServer } {
  const state: { dir?: string; redis?: RedisServer } = {};
  before(async () => {
    if (skip !== false) return;
    state.dir = await mkdtemp(join(tmpdir(), prefix));
    state.redis = await RedisServer.start(state.dir);
  });
  after(async () => {
    if (skip !== false) return;
    await close();
    await stopLeftovers();
    if (state.dir !== undefined) await rm(state.dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return state.dir!;
    },
    get redis() {
      return state.redis!;
    },
  };
}
