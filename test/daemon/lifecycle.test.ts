/**
 * The daemon's life as a process: where its socket lives and with which permissions, one daemon
 * per socket, taking over after a crash, idle shutdown, several clients, LSP initialize/exit, and
 * the stdio transport.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ResponseError } from "vscode-jsonrpc/node";
import * as aad from "../../server/src/protocol/protocol.ts";
import type { EngineLoader } from "../../server/src/daemon/engine.ts";
import { serve } from "../../server/src/daemon/index.ts";
import { createRuntimeLoader } from "../../server/src/daemon/runtime-engine.ts";
import { skipOrFail } from "../ci.ts";
import { builtInPair, connectClient, openSocket, spawnDaemon, tempDir, withTimeout, type DaemonProcess } from "./harness.ts";

let dir: { path: string; remove(): Promise<void> };

before(async () => {
  dir = await tempDir("aad-life-");
});

after(async () => {
  await dir.remove();
});

void describe("socket transport", () => {
  void test("without a path, the socket is $XDG_RUNTIME_DIR/aad/aad.sock, mode 0600 in a 0700 directory", async () => {
    const runtimeDir = join(dir.path, "run");
    const socket = join(runtimeDir, "aad", "aad.sock");
    const started = await spawnDaemon({ socket, defaultPath: true }, { env: { XDG_RUNTIME_DIR: runtimeDir } });
    try {
      assert.match(started.stderr(), new RegExp(`serving on ${socket}`));
      assert.equal((await stat(socket)).mode & 0o777, 0o600);
      assert.equal((await stat(join(runtimeDir, "aad"))).mode & 0o777, 0o700);
    } finally {
      await started.kill();
    }
  });

  void test("several clients share one daemon, and status counts them", async () => {
    const daemon = await spawnDaemon({ socket: join(dir.path, "shared.sock") });
    const a = await connectClient(daemon);
    const b = await connectClient(daemon);
    try {
      const [sa, sb] = await Promise.all([a.connection.sendRequest(aad.status), b.connection.sendRequest(aad.status)]);
      assert.equal(sa.pid, sb.pid);
      assert.equal(sb.clients, 2);
      assert.equal(sb.transport, "socket");
    } finally {
      a.close();
      b.close();
      assert.equal(await daemon.kill("SIGTERM"), 0);
    }
    assert.ok(!existsSync(join(dir.path, "shared.sock")), "SIGTERM removes the socket");
  });

  void test("a second daemon on a live socket exits with a clear message and leaves the first serving", async () => {
    const path = join(dir.path, "one.sock");
    const first = await spawnDaemon({ socket: path });
    try {
      const second = await spawnDaemon({ socket: path }, { waitUntilServing: false });
      assert.equal(await withTimeout(second.exited, 20_000, "the second daemon to exit"), 3);
      assert.match(second.stderr(), /already serving .*one\.sock/);
      const client = await connectClient(first);
      assert.equal((await client.connection.sendRequest(aad.status)).pid, first.child.pid);
      client.close();
    } finally {
      await first.kill();
    }
  });

  void test("after kill -9 the stale socket is replaced by the next daemon, which serves", async () => {
    const path = join(dir.path, "crash.sock");
    const crashed = await spawnDaemon({ socket: path });
    assert.equal(await crashed.kill("SIGKILL"), "SIGKILL");
    assert.ok(existsSync(path), "kill -9 leaves the socket file behind");
    const next = await spawnDaemon({ socket: path });
    try {
      const client = await connectClient(next);
      assert.equal((await client.connection.sendRequest(aad.status)).pid, next.child.pid);
      client.close();
    } finally {
      await next.kill();
    }
  });

  void test("a path that is not a socket is never replaced", async () => {
    const path = join(dir.path, "file.sock");
    await writeFile(path, "precious");
    const daemon = await spawnDaemon({ socket: path }, { waitUntilServing: false });
    assert.equal(await withTimeout(daemon.exited, 20_000, "the daemon to exit"), 1);
    assert.match(daemon.stderr(), /exists and is not a socket/);
  });

  void test("with no client for the idle timeout, the daemon exits and removes its socket", async () => {
    const path = join(dir.path, "idle.sock");
    const daemon = await spawnDaemon({ socket: path }, { args: ["--idle-timeout", "1"] });
    const client = await connectClient(daemon);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(daemon.child.exitCode, null, "a connected client keeps the daemon alive");
    client.close();
    assert.equal(await withTimeout(daemon.exited, 10_000, "the idle daemon to exit"), 0);
    assert.ok(!existsSync(path));
  });

  void test("LSP exit from one socket client ends its session only", async () => {
    const daemon = await spawnDaemon({ socket: join(dir.path, "exit.sock") });
    const leaving = await connectClient(daemon);
    const staying = await connectClient(daemon);
    try {
      await leaving.connection.sendRequest("shutdown");
      const closed = new Promise<void>((resolve) => leaving.socket!.once("close", () => resolve()));
      await leaving.connection.sendNotification("exit");
      await withTimeout(closed, 5000, "the exiting client's socket to close");
      const status = await staying.connection.sendRequest(aad.status);
      assert.equal(status.clients, 1);
    } finally {
      leaving.close();
      staying.close();
      await daemon.kill();
    }
  });
});

void describe("initialize and stdio", () => {
  void test("initialize announces the aad methods and inline completion; shutdown + exit ends a stdio daemon with 0", async () => {
    const daemon = await spawnDaemon("stdio");
    const client = await connectClient(daemon);
    try {
      const result = await client.connection.sendRequest<{ capabilities: Record<string, unknown>; serverInfo: { name: string } }>("initialize", {
        processId: null,
        rootUri: null,
        capabilities: {},
        initializationOptions: { inlineCompletion: { stopAt: "block", maxTokens: 16 } },
      });
      assert.equal(result.serverInfo.name, "aad");
      assert.equal(result.capabilities["inlineCompletionProvider"], true);
      const experimental = (result.capabilities["experimental"] as { aad: aad.ExperimentalCapabilities }).aad;
      assert.equal(experimental.protocolVersion, aad.PROTOCOL_VERSION);
      assert.deepEqual([...experimental.requests].sort(), [...aad.REQUESTS].sort());
      assert.deepEqual(experimental.notifications, [aad.pairChanged.method]);
      const settings = await client.connection.sendRequest(aad.configure, {});
      assert.equal(settings.inlineCompletion.stopAt, "block");
      assert.equal(settings.inlineCompletion.maxTokens, 16);
      assert.equal((await client.connection.sendRequest(aad.status)).transport, "stdio");
      await client.connection.sendRequest("shutdown");
      await client.connection.sendNotification("exit");
      assert.equal(await withTimeout(daemon.exited, 10_000, "the stdio daemon to exit"), 0);
    } finally {
      client.close();
      await daemon.kill();
    }
  });

  void test("invalid initializationOptions fail initialize with a message", async () => {
    const daemon = await spawnDaemon("stdio");
    const client = await connectClient(daemon);
    try {
      const error = await client.connection
        .sendRequest("initialize", { processId: null, rootUri: null, capabilities: {}, initializationOptions: { inlineCompletion: { stopAt: "paragraph" } } })
        .then(() => undefined, (e: unknown) => e);
      assert.ok(error instanceof ResponseError);
      assert.match(error.message, /"initializationOptions\.inlineCompletion\.stopAt" must be one of "line", "block", "none"/);
    } finally {
      client.close();
      await daemon.kill();
    }
  });

  void test("a stdio daemon exits when its input closes", async () => {
    const daemon = await spawnDaemon("stdio");
    daemon.child.stdin!.end();
    assert.equal(await withTimeout(daemon.exited, 10_000, "the stdio daemon to exit"), 0);
  });
});


void describe("shutting down", () => {
  void test("a daemon that is shutting down refuses new clients while it frees its pair", async (t) => {
    const pair = builtInPair();
    if (skipOrFail(t, pair === undefined ? "the built-in pair is not in models/" : undefined) || pair === undefined) return;
    // The real loader, with the pair's dispose held open until the test lets it finish.
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let disposing = false;
    const real = createRuntimeLoader();
    const loader: EngineLoader = {
      check: (params, signal) => real.check(params, signal),
      load: async (params, signal) => {
        const engine = await real.load(params, signal);
        const dispose = async (): Promise<void> => {
          disposing = true;
          await held;
          await engine.dispose();
        };
        return new Proxy(engine, {
          get: (target, key) => {
            if (key === "dispose") return dispose;
            const value: unknown = Reflect.get(target, key, target);
            return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
          },
        });
      },
    };
    const path = join(dir.path, "closing.sock");
    const daemon = await serve({ transport: "socket", path }, { loader, log: () => undefined, preload: { sft: pair.sft, dpo: pair.dpo } });
    try {
      const client = await connectClient({ socketPath: path } as DaemonProcess);
      await withTimeout(
        (async () => {
          while ((await client.connection.sendRequest(aad.status)).pair === null) await new Promise((resolve) => setTimeout(resolve, 50));
        })(),
        30_000,
        "the preload",
      );
      client.close();
      const stopping = daemon.shutdown(0);
      while (!disposing) await new Promise((resolve) => setTimeout(resolve, 10));
      // A restart that connected here would reach the old process and its vanishing pair.
      await assert.rejects(openSocket(path), (error: NodeJS.ErrnoException) => error.code === "ECONNREFUSED" || error.code === "ENOENT");
      release();
      await stopping;
      assert.equal(await withTimeout(daemon.done, 10_000, "the daemon to finish"), 0);
    } finally {
      release();
      await daemon.shutdown(0);
    }
  });
});
