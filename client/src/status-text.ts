/**
 * What the status bar item says: pair, state and last speed, as text with codicons. No `vscode`
 * import, so it is tested on plain values; status-bar.ts shows it.
 */

export type ActivityState = "idle" | "starting" | "loading" | "ready" | "busy" | "error" | "untrusted";

export interface StatusBarModel {
  readonly pairLabel: string;
  readonly state: ActivityState;
  /** Of the last response; null before the first. */
  readonly tokensPerSecond: number | null;
  /** Shown in the tooltip: the error, or what is loading. */
  readonly detail: string | null;
}

const ICONS: Record<ActivityState, string> = {
  idle: "$(circle-outline)",
  starting: "$(sync~spin)",
  loading: "$(sync~spin)",
  ready: "$(check)",
  busy: "$(loading~spin)",
  error: "$(error)",
  untrusted: "$(shield)",
};

export function statusBarText(model: StatusBarModel): string {
  const speed = model.tokensPerSecond === null || model.state === "error" ? "" : ` · ${formatRate(model.tokensPerSecond)}`;
  return `${ICONS[model.state]} AAD: ${model.pairLabel} · ${model.state}${speed}`;
}

export function formatRate(tokensPerSecond: number): string {
  return `${tokensPerSecond >= 100 ? Math.round(tokensPerSecond) : tokensPerSecond.toFixed(1)} tok/s`;
}
