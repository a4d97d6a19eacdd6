/**
 * Where the user's shared daemon listens. The daemon resolves the same path when started with
 * `aad serve --socket` and no path; this is a copy of that small rule so that the client bundle
 * does not pull in daemon code. No `vscode` import.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SocketPathEnvironment {
  readonly XDG_RUNTIME_DIR?: string | undefined;
}

/** $XDG_RUNTIME_DIR/aad/aad.sock, else <tmpdir>/aad-<uid>/aad.sock. */
export function defaultSocketPath(
  env: SocketPathEnvironment = process.env,
  uid: number | undefined = process.getuid?.(),
  temporaryDirectory: string = tmpdir(),
): string {
  const runtimeDir = env.XDG_RUNTIME_DIR;
  if (runtimeDir !== undefined && runtimeDir !== "") return join(runtimeDir, "aad", "aad.sock");
  return join(temporaryDirectory, `aad-${uid ?? "user"}`, "aad.sock");
}
