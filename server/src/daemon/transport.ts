/**
 * Where clients reach the daemon: its stdin/stdout, or a Unix domain socket that several clients
 * share. The socket lives in the user's runtime directory (mode 0600 in a 0700 directory), and
 * the socket path itself is the lock: `listen` fails while it exists, a connect probe tells a
 * live daemon (refuse to start) from a stale socket left by a crash (take it over). Removing a
 * stale socket is the one racy step, so it happens under a short-lived takeover lock file and
 * only after a second probe.
 */
import { chmod, lstat, mkdir, open, stat, unlink } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

/** Linux's sun_path holds 108 bytes, the last a NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
const PROBE_TIMEOUT_MS = 1000;
/** A takeover lock older than this was left by a daemon that died mid-takeover. */
const STALE_TAKEOVER_LOCK_MS = 10_000;

export class DaemonAlreadyRunningError extends Error {
  override readonly name = "DaemonAlreadyRunningError";
  constructor(readonly socketPath: string) {
    super(`An aad daemon is already serving ${socketPath}: connect to it (several clients may share it), or stop it before starting another.`);
  }
}

export class SocketPathError extends Error {
  override readonly name = "SocketPathError";
}

/** $XDG_RUNTIME_DIR/aad/aad.sock, or <tmpdir>/aad-<uid>/aad.sock without a runtime directory. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const runtimeDir = env["XDG_RUNTIME_DIR"];
  const dir = runtimeDir !== undefined && runtimeDir !== "" ? join(runtimeDir, "aad") : join(tmpdir(), `aad-${process.getuid?.() ?? "user"}`);
  return join(dir, "aad.sock");
}

/**
 * Creates the socket's directory 0700. An existing directory must be a real directory owned by
 * this user (another user's /tmp/aad-1000 would let them replace our socket); group or world
 * access to it is removed.
 */
async function prepareDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await lstat(dir);
  if (!info.isDirectory()) throw new SocketPathError(`${dir} is not a directory (a symbolic link?): refusing to put the daemon's socket there.`);
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) throw new SocketPathError(`${dir} belongs to user ${info.uid}, not to you (${uid}): refusing to put the daemon's socket there. Remove it or choose another --socket PATH.`);
  if ((info.mode & 0o077) !== 0) await chmod(dir, 0o700);
}

/** Whether a daemon answers on the socket: "alive", "dead" (a stale socket file) or "absent". */
export function probeSocket(path: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<"alive" | "dead" | "absent"> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (verdict: "alive" | "dead" | "absent"): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(verdict);
    };
    // A daemon too busy to accept within the timeout is still a daemon.
    const timer = setTimeout(() => done("alive"), timeoutMs);
    socket.once("connect", () => done("alive"));
    socket.once("error", (error: NodeJS.ErrnoException) => done(error.code === "ENOENT" ? "absent" : "dead"));
  });
}

function listenOn(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off("listening", onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(path);
  });
}

async function withTakeoverLock<T>(lockPath: string, work: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      const handle = await open(lockPath, "wx", 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const age = await stat(lockPath).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > STALE_TAKEOVER_LOCK_MS) await unlink(lockPath).catch(() => undefined);
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await work();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}

async function bind(server: Server, path: string): Promise<void> {
  const inUse = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === "EADDRINUSE";
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await listenOn(server, path);
      return;
    } catch (error) {
      if (!inUse(error)) throw error;
    }
    if ((await probeSocket(path)) === "alive") throw new DaemonAlreadyRunningError(path);
    const bound = await withTakeoverLock(`${path}.lock`, async () => {
      // Another daemon may have taken over between the probe and the lock: probe again.
      const verdict = await probeSocket(path);
      if (verdict === "alive") throw new DaemonAlreadyRunningError(path);
      if (verdict === "dead") {
        const info = await lstat(path).catch(() => undefined);
        if (info !== undefined && !info.isSocket()) throw new SocketPathError(`${path} exists and is not a socket: refusing to replace it. Remove it or choose another --socket PATH.`);
        await unlink(path).catch(() => undefined);
      }
      try {
        await listenOn(server, path);
        return true;
      } catch (error) {
        if (inUse(error)) return false;
        throw error;
      }
    });
    if (bound) return;
  }
  throw new SocketPathError(`Could not listen on ${path}: it stayed in use although no daemon answered there.`);
}

export interface SocketListener {
  readonly server: Server;
  readonly path: string;
  /** Stops accepting and removes the socket file (if it is still ours). */
  close(): Promise<void>;
}

/**
 * Listens on `path`, taking over a stale socket. Throws DaemonAlreadyRunningError when a daemon
 * answers there, SocketPathError for an unusable path.
 */
export async function listenOnSocket(path: string, onConnection: (socket: Socket) => void, options: { ownDirectory: boolean }): Promise<SocketListener> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new SocketPathError(`The socket path ${path} is ${Buffer.byteLength(path)} bytes long; Unix sockets allow ${MAX_SOCKET_PATH_BYTES}. Choose a shorter --socket PATH.`);
  }
  const dir = dirname(path);
  if (options.ownDirectory) await prepareDirectory(dir);
  else await mkdir(dir, { recursive: true, mode: 0o700 });

  const server = createServer(onConnection);
  await bind(server, path);
  await chmod(path, 0o600);
  const inode = (await lstat(path)).ino;

  return {
    server,
    path,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // A daemon that replaced ours (after we were presumed dead) owns the path now: leave it.
      const info = await lstat(path).catch(() => undefined);
      if (info?.ino === inode) await unlink(path).catch(() => undefined);
    },
  };
}
