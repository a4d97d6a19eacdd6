/**
 * The status bar's one state machine: the daemon connection, the pair it holds, our loads, work
 * in progress and the last failure, folded from events. No `vscode` import: ctx.ts feeds it the
 * daemon's own events (connection changes, `aad/pairChanged`, `aad/status` answers, loadPair
 * outcomes) and command outcomes; tests feed it plain values.
 *
 * What the bar says is derived, never stored: a state cannot stick on "loading" because no flag
 * was reset, since "loading" means exactly "a load we asked for has not answered yet".
 */

/** The files of a pair, as aad/loadPair names them. */
export interface PairFiles {
  readonly sft: string;
  readonly dpo?: string;
  readonly dpoLora?: string;
  readonly reference?: string;
}

/** The pair the settings name, and its short name. */
export interface WantedPair extends PairFiles {
  readonly label: string;
}

/** What the daemon holds: `aad/pairChanged`'s PairInfo reduced to its files (the DPO file is the adapter for a LoRA pair). */
export interface HeldPair {
  readonly sft: string;
  readonly dpo: string;
  readonly reference: string | null;
  /** Where the daemon runs it, as PairInfo.compute says: "cpu" or "vulkan, 33 layers". */
  readonly compute?: string;
}

export type Connection = "stopped" | "starting" | "running" | "restarting" | "failed";

export interface StatusFailure {
  /** What failed, shown in the bar: a command ("Generate"), a pair's name, or "daemon". */
  readonly subject: string;
  readonly message: string;
}

export interface StatusState {
  readonly trusted: boolean;
  readonly connection: Connection;
  /** Why the daemon is down or restarting. */
  readonly connectionProblem: string | null;
  /** How this window reaches the daemon, e.g. "shared daemon on /run/…/aad.sock (pid 12)". */
  readonly daemon: string | null;
  readonly wanted: WantedPair;
  /** What the daemon holds, as it last said; null: nothing (or not known yet). */
  readonly held: HeldPair | null;
  /** Loads we asked for that have not answered, by id. */
  readonly loads: ReadonlyMap<number, WantedPair>;
  /** Work in progress, by source (a command's id, "inline", …): its reason. */
  readonly work: ReadonlyMap<string, string>;
  /** The last failure; cleared by the next success. */
  readonly failure: StatusFailure | null;
  readonly alpha: number;
  readonly tokensPerSecond: number | null;
}

export type StatusEvent =
  | { readonly type: "trust"; readonly trusted: boolean }
  | { readonly type: "connection"; readonly connection: Connection; readonly problem?: string; readonly daemon?: string }
  | { readonly type: "settings"; readonly wanted: WantedPair; readonly alpha: number }
  /** aad/pairChanged, an aad/status answer, or a loadPair answer: what the daemon holds now. */
  | { readonly type: "held"; readonly pair: HeldPair | null }
  | { readonly type: "loadStarted"; readonly id: number; readonly pair: WantedPair }
  | { readonly type: "loadSucceeded"; readonly id: number; readonly held: HeldPair }
  | { readonly type: "loadFailed"; readonly id: number; readonly message: string }
  | { readonly type: "loadCancelled"; readonly id: number }
  /** Work starts (reason) or ends (undefined) for a source. */
  | { readonly type: "work"; readonly source: string; readonly reason: string | undefined }
  | { readonly type: "succeeded"; readonly tokensPerSecond?: number }
  | { readonly type: "failed"; readonly subject: string; readonly message: string };

export function initialStatus(wanted: WantedPair, options: { trusted: boolean; alpha: number }): StatusState {
  return {
    trusted: options.trusted,
    connection: "stopped",
    connectionProblem: null,
    daemon: null,
    wanted,
    held: null,
    loads: new Map(),
    work: new Map(),
    failure: null,
    alpha: options.alpha,
    tokensPerSecond: null,
  };
}

export function reduceStatus(state: StatusState, event: StatusEvent): StatusState {
  switch (event.type) {
    case "trust":
      return { ...state, trusted: event.trusted };
    case "connection": {
      const down = event.connection === "failed" || event.connection === "restarting";
      return {
        ...state,
        connection: event.connection,
        connectionProblem: down ? (event.problem ?? "the daemon stopped") : null,
        daemon: event.connection === "running" ? (event.daemon ?? state.daemon) : state.daemon,
        // A daemon that is not running holds nothing for us; the next one says what it holds.
        held: event.connection === "running" ? state.held : null,
        // A daemon that is up again is a success: its earlier death is no longer the news.
        failure: event.connection === "running" && state.failure?.subject === "daemon" ? null : state.failure,
      };
    }
    case "settings":
      return { ...state, wanted: event.wanted, alpha: event.alpha };
    case "held":
      return { ...state, held: event.pair };
    case "loadStarted":
      return { ...state, loads: withEntry(state.loads, event.id, event.pair) };
    case "loadSucceeded":
      return { ...state, loads: without(state.loads, event.id), held: event.held, failure: null };
    case "loadFailed": {
      const pair = state.loads.get(event.id);
      return { ...state, loads: without(state.loads, event.id), failure: { subject: pair?.label ?? "pair", message: event.message } };
    }
    case "loadCancelled":
      return { ...state, loads: without(state.loads, event.id) };
    case "work":
      return { ...state, work: event.reason === undefined ? without(state.work, event.source) : withEntry(state.work, event.source, event.reason) };
    case "succeeded":
      return {
        ...state,
        failure: null,
        tokensPerSecond: event.tokensPerSecond !== undefined && Number.isFinite(event.tokensPerSecond) ? event.tokensPerSecond : state.tokensPerSecond,
      };
    case "failed":
      return { ...state, failure: { subject: event.subject, message: event.message } };
  }
}

export type StatusPhase = "untrusted" | "idle" | "starting" | "loading" | "ready" | "busy" | "error";

/** What the bar shows: a phase, the name it is shown against, and the tooltip's detail line. */
export interface StatusView {
  readonly phase: StatusPhase;
  readonly label: string;
  readonly detail: string | null;
}

export function holdsWanted(state: StatusState): boolean {
  const { held, wanted } = state;
  return held !== null && held.sft === wanted.sft && held.dpo === (wanted.dpo ?? wanted.dpoLora) && (held.reference ?? undefined) === wanted.reference;
}

export function statusView(state: StatusState): StatusView {
  const label = state.wanted.label;
  if (state.connection === "failed" || state.connection === "restarting") {
    const detail = `${state.connection === "restarting" ? "The daemon is restarting" : "The daemon is down"}: ${state.connectionProblem ?? "no reason given"}`;
    return { phase: "error", label: "daemon", detail };
  }
  const loading = [...state.loads.values()].at(-1);
  if (loading !== undefined) return { phase: "loading", label: loading.label, detail: `loading ${loading.sft} + ${loading.dpo ?? loading.dpoLora ?? ""}` };
  const working = [...state.work.values()].at(-1);
  if (working !== undefined) return { phase: "busy", label, detail: working };
  if (state.failure !== null) return { phase: "error", label: state.failure.subject, detail: state.failure.message };
  if (!state.trusted && !holdsWanted(state)) {
    return { phase: "untrusted", label, detail: "Restricted mode: model paths from this workspace's settings are ignored; your user settings apply." };
  }
  if (state.connection === "starting") return { phase: "starting", label, detail: "starting the daemon" };
  if (holdsWanted(state)) return { phase: "ready", label, detail: null };
  return { phase: "idle", label, detail: state.held === null ? "No pair loaded yet: the first command loads it." : "The daemon holds another pair; the next command loads this one." };
}

function withEntry<K, V>(map: ReadonlyMap<K, V>, key: K, value: V): ReadonlyMap<K, V> {
  const next = new Map(map);
  next.set(key, value);
  return next;
}

function without<K, V>(map: ReadonlyMap<K, V>, key: K): ReadonlyMap<K, V> {
  if (!map.has(key)) return map;
  const next = new Map(map);
  next.delete(key);
  return next;
}
