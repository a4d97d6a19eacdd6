/**
 * Explain Selection paints the editor: each token of the selected text gets a background in the
 * advantage view's colours (blue: the DPO model preferred it, orange: the SFT model did; stronger
 * for a larger advantage on the answer's own scale) and a hover with its numbers and the DPO
 * model's top alternatives. The paint stays until the document is edited or another selection is
 * explained.
 */
import * as vscode from "vscode";
import { describeToken, formatAdvantage, formatProbability, formatRank } from "../../media/format.ts";
import { advantageScale, formatScale, shadeOf, type ScaleSetting } from "../../media/scale.ts";
import type { TraceEntry } from "../../server/src/protocol/protocol.ts";
import type { Ctx } from "./ctx.ts";
import { tokenOffsets } from "./explain-text.ts";

/** VS Code's charts.blue and charts.orange, the view's hues. */
const HUES = { dpo: "55, 148, 255", sft: "209, 134, 22" } as const;
/** Strength steps: one decoration type each, per side. */
const LEVELS = [0.25, 0.5, 0.75, 1] as const;

export class ExplainDecorations implements vscode.Disposable {
  readonly #types: Record<"dpo" | "sft", vscode.TextEditorDecorationType[]>;
  /** Tokens the view calls neutral or unknown: no colour, a hover all the same. */
  readonly #plain: vscode.TextEditorDecorationType;
  readonly #listening: vscode.Disposable;
  #painted: { readonly document: vscode.TextDocument; readonly editors: Set<vscode.TextEditor> } | undefined;

  /** `scale`: the colour scale setting now (`aad.view.advantageScale`, read through config.ts). */
  constructor(private readonly scale: () => ScaleSetting) {
    const type = (side: "dpo" | "sft", level: number): vscode.TextEditorDecorationType =>
      vscode.window.createTextEditorDecorationType({ backgroundColor: `rgba(${HUES[side]}, ${(0.1 + 0.45 * level).toFixed(2)})`, borderRadius: "2px" });
    this.#types = { dpo: LEVELS.map((level) => type("dpo", level)), sft: LEVELS.map((level) => type("sft", level)) };
    this.#plain = vscode.window.createTextEditorDecorationType({ borderWidth: "0 0 1px 0", borderStyle: "dotted", borderColor: new vscode.ThemeColor("editorLineNumber.foreground") });
    this.#listening = vscode.workspace.onDidChangeTextDocument((event) => {
      if (event.document === this.#painted?.document && event.contentChanges.length > 0) this.clear();
    });
  }

  /** Paints `range` (the selection that was scored) token by token. Returns how many tokens were painted. */
  paint(editor: vscode.TextEditor, range: vscode.Range, tokens: readonly TraceEntry[]): number {
    this.clear();
    const document = editor.document;
    const base = document.offsetAt(range.start);
    const length = document.offsetAt(range.end) - base;
    const scale = advantageScale(
      tokens.map((entry) => entry.advantage),
      this.scale(),
    );
    const buckets = new Map<vscode.TextEditorDecorationType, vscode.DecorationOptions[]>();
    let painted = 0;
    tokenOffsets(tokens, length).forEach(({ start, end }, i) => {
      if (end <= start) return;
      const entry = tokens[i]!;
      const shade = shadeOf(entry.advantage, scale);
      const type =
        shade.side === "dpo" || shade.side === "sft"
          ? this.#types[shade.side][Math.max(0, LEVELS.findIndex((level) => shade.strength <= level + 1e-9))]!
          : this.#plain;
      const options: vscode.DecorationOptions = {
        range: new vscode.Range(document.positionAt(base + start), document.positionAt(base + end)),
        hoverMessage: hoverOf(entry, i, scale),
      };
      buckets.set(type, [...(buckets.get(type) ?? []), options]);
      painted++;
    });
    for (const type of [...this.#types.dpo, ...this.#types.sft, this.#plain]) editor.setDecorations(type, buckets.get(type) ?? []);
    this.#painted = { document, editors: new Set([editor]) };
    return painted;
  }

  clear(): void {
    for (const editor of this.#painted?.editors ?? []) for (const type of [...this.#types.dpo, ...this.#types.sft, this.#plain]) editor.setDecorations(type, []);
    this.#painted = undefined;
  }

  dispose(): void {
    this.#listening.dispose();
    for (const type of [...this.#types.dpo, ...this.#types.sft, this.#plain]) type.dispose();
  }
}

function hoverOf(entry: TraceEntry, position: number, scale: number): vscode.MarkdownString {
  const markdown = new vscode.MarkdownString();
  const side = { dpo: "DPO preferred", sft: "SFT preferred", neutral: "the models agree", unknown: "unknown" }[shadeOf(entry.advantage, scale).side];
  markdown.appendMarkdown(`**AAD** · token ${position + 1}: `);
  markdown.appendText(describeToken(entry));
  markdown.appendMarkdown(
    `\n\nadvantage **${formatAdvantage(entry.advantage)}** nats (${side}; colour scale ±${formatScale(scale)}) · p_dpo ${formatProbability(entry.logprobDpo)} · p_sft ${formatProbability(entry.logprobSft)} · DPO rank ${formatRank(entry.dpoRank)}`,
  );
  const alternatives = entry.top.filter((candidate) => !candidate.picked).slice(0, 3);
  if (alternatives.length > 0) {
    markdown.appendMarkdown("\n\nThe DPO model's other top tokens: ");
    alternatives.forEach((candidate, i) => {
      if (i > 0) markdown.appendMarkdown(" · ");
      markdown.appendText(`${describeToken({ piece: candidate.piece ?? `#${candidate.token}`, ...(candidate.special === undefined ? {} : { special: candidate.special }) })} ${formatProbability(candidate.logprobDpo)}`);
    });
  }
  return markdown;
}

const painters = new WeakMap<Ctx, ExplainDecorations>();

/** The window's one painter (made on first use, disposed with the extension). */
export function explanationsOf(ctx: Ctx): ExplainDecorations {
  let painter = painters.get(ctx);
  if (painter === undefined) {
    painter = new ExplainDecorations(() => ctx.config.settings.view.advantageScale);
    painters.set(ctx, painter);
    ctx.extension.subscriptions.push(painter);
  }
  return painter;
}
