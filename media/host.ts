/**
 * The way back to the extension. Inside VS Code that is acquireVsCodeApi(), which may be called
 * once per page; in a plain page (tests, a browser preview) the messages are dispatched as a
 * `aad-view-message` CustomEvent on window so that a harness can listen.
 */
import type { ViewMessage } from "./messages.ts";

interface VsCodeApi {
  postMessage(message: unknown): void;
  setState(state: unknown): void;
}

/** Defined by VS Code's webview host script; absent in a plain page. */
type AcquireVsCodeApi = () => VsCodeApi;

export interface Host {
  post(message: ViewMessage): void;
  /** Keeps the page's state for VS Code to hand back when it restores the panel (a no-op in a plain page). */
  save(state: unknown): void;
}

export const VIEW_MESSAGE_EVENT = "aad-view-message";

export function connectHost(): Host {
  const acquire = (globalThis as { acquireVsCodeApi?: AcquireVsCodeApi }).acquireVsCodeApi;
  const api = typeof acquire === "function" ? acquire() : undefined;
  return {
    post(message) {
      if (api !== undefined) api.postMessage(message);
      else window.dispatchEvent(new CustomEvent(VIEW_MESSAGE_EVENT, { detail: message }));
    },
    save(state) {
      api?.setState(state);
    },
  };
}
