/**
 * What the status bar item says: pair, state and last speed, as text with codicons, and the
 * tooltip's lines. No `vscode` import, so it is tested on plain values; status-bar.ts shows it.
 */
import type { ComputeInfo } from "../../server/src/protocol/protocol.ts";
import { holdsWanted, statusView, type StatusPhase, type StatusState } from "./status-state.ts";

const ICONS: Record<StatusPhase, string> = {
  idle: "$(circle-outline)",
  starting: "$(sync~spin)",
  loading: "$(sync~spin)",
  ready: "$(check)",
  busy: "$(loading~spin)",
  error: "$(error)",
  untrusted: "$(shield)",
};

export function statusBarText(state: StatusState): string {
  const view = statusView(state);
  const speed = state.tokensPerSecond === null || view.phase === "error" ? "" : ` · ${formatRate(state.tokensPerSecond)}`;
  return `${ICONS[view.phase]} AAD: ${view.label} · ${view.phase}${speed}`;
}

/**
 * The tooltip as lines of plain text: pair, backend (where the daemon runs the pair), the daemon
 * connection, α, last speed, then what is going on.
 */
export function statusTooltipLines(state: StatusState): string[] {
  const view = statusView(state);
  const { wanted } = state;
  const files = [wanted.sft, wanted.dpo ?? (wanted.dpoLora === undefined ? undefined : `${wanted.dpoLora} (LoRA)`)].filter((file) => file !== undefined);
  return [
    `pair: ${wanted.label} (${files.join(" + ")})`,
    ...(wanted.reference === undefined ? [] : [`reference model (cd): ${wanted.reference}`]),
    `backend: ${holdsWanted(state) && state.held?.compute !== undefined ? state.held.compute : "not known until the pair is loaded"}`,
    `daemon: ${state.daemon ?? "none connected yet"}`,
    `α: ${state.alpha}`,
    `last response: ${state.tokensPerSecond === null ? "—" : formatRate(state.tokensPerSecond)}`,
    `state: ${view.phase}${view.detail === null ? "" : ` — ${view.detail}`}`,
  ];
}

export function formatRate(tokensPerSecond: number): string {
  return `${tokensPerSecond >= 100 ? Math.round(tokensPerSecond) : tokensPerSecond.toFixed(1)} tok/s`;
}

/** Where the pair runs, short: "cpu", or the GPU backend and the layers offloaded to it. */
export function describeCompute(compute: Pick<ComputeInfo, "backend" | "gpuLayers">): string {
  if (compute.backend === "cpu") return "cpu";
  return `${compute.backend}, ${compute.gpuLayers} layer${compute.gpuLayers === 1 ? "" : "s"}`;
}
