/**
 * Where the queue lives: a `redis://[user:password@]host[:port][/db]` URL, parsed strictly so a
 * typo is an error here rather than a connection to some other database, and connections made
 * with the one of two retry policies each caller needs.
 *
 * - Commands that run once (enqueue, status, collect) fail fast with a clear error when nothing
 *   answers: `connectOnce`.
 * - Workers, once connected, never give up: ioredis reconnects with a capped back-off and keeps
 *   commands until Redis is back (`workerConnection`), so a Redis restart pauses them.
 */
import { Redis, type RedisOptions } from "ioredis";
import { QueueError } from "./errors.ts";

export interface QueueLocation {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
  /** The URL without its password, for messages. */
  readonly display: string;
}

const EXAMPLE = "redis://127.0.0.1:6379/0";

export function parseQueueUrl(url: string): QueueLocation {
  const bad = (problem: string) => new QueueError("BadUrl", `--queue ${JSON.stringify(url)} is not a usable Redis URL: ${problem} (example: ${EXAMPLE})`);
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw bad("it does not start with redis://");
  const portText = /^rediss?:\/\/(?:[^@/]*@)?(?:\[[^\]]*\]|[^:/]*):(\d+)/i.exec(url)?.[1];
  if (portText !== undefined && Number(portText) > 65535) throw bad(`the port must be 1 to 65535, got ${portText}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw bad("it is not a URL");
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") throw bad(`the scheme must be redis:// or rediss://, not ${parsed.protocol}//`);
  if (parsed.hostname === "") throw bad("it names no host");
  if (parsed.search !== "" || parsed.hash !== "") throw bad("query strings and fragments are not used; put the database number in the path");
  const port = parsed.port === "" ? 6379 : Number(parsed.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`the port must be 1 to 65535, got ${parsed.port}`);
  const path = parsed.pathname.replace(/^\//, "");
  if (!/^\d{0,5}$/.test(path)) throw bad(`the path must be a database number such as /0, got /${path}`);
  const db = path === "" ? 0 : Number(path);
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  const display = `${parsed.protocol}//${username !== "" ? `${username}${password !== "" ? ":***" : ""}@` : password !== "" ? ":***@" : ""}${parsed.host}/${db}`;
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"), port, db, ...(username !== "" ? { username } : {}), ...(password !== "" ? { password } : {}), tls: parsed.protocol === "rediss:", display };
}

function baseOptions(location: QueueLocation): RedisOptions {
  return {
    host: location.host,
    port: location.port,
    db: location.db,
    ...(location.username !== undefined ? { username: location.username } : {}),
    ...(location.password !== undefined ? { password: location.password } : {}),
    ...(location.tls ? { tls: {} } : {}),
    connectTimeout: 5000,
  };
}

/**
 * Connection options for workers (BullMQ requires `maxRetriesPerRequest: null` for them):
 * reconnect forever, at most 2 s apart, and resend what was in flight.
 */
export function workerConnection(location: QueueLocation): RedisOptions {
  return { ...baseOptions(location), maxRetriesPerRequest: null, retryStrategy: (attempt) => Math.min(100 * attempt, 2000) };
}

/**
 * A connected client that does not retry: a Redis that is down, refuses the password or is not
 * Redis at all is a QueueError("Unreachable") naming the URL, at once.
 */
export async function connectOnce(location: QueueLocation): Promise<Redis> {
  const client = new Redis({ ...baseOptions(location), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let lastError: unknown;
  client.on("error", (error: unknown) => (lastError = error));
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch (error) {
    client.disconnect();
    const cause = lastError ?? error;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new QueueError("Unreachable", `cannot reach Redis at ${location.display} (${reason}); start redis-server there, or pass the right --queue URL`, { cause });
  }
}
