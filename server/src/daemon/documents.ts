/**
 * The text of each open document, kept in sync by `TextDocuments` (vscode-languageserver) from
 * didOpen/didChange. vscode-languageserver leaves the document model to the caller; this one
 * is small because the daemon only needs the text around a cursor, and it is defensive because
 * the changes come from any client: positions are clamped like VS Code does, and a malformed
 * change throws a message that says what is wrong (vscode-jsonrpc logs it; the daemon stays up).
 *
 * Positions are in UTF-16 code units (LSP's default encoding), which is what JS strings index.
 */
import type { TextDocumentContentChangeEvent, TextDocumentsConfiguration } from "vscode-languageserver/node";

/** No single open document may exceed this (the framing limit bounds one message anyway). */
export const MAX_DOCUMENT_CHARS = 32 * 1024 * 1024;

export interface Position {
  readonly line: number;
  readonly character: number;
}

export class SyncedDocument {
  private lineStarts: number[] | undefined;

  constructor(
    readonly uri: string,
    readonly languageId: string,
    readonly version: number,
    readonly text: string,
  ) {}

  get lineCount(): number {
    return this.starts().length;
  }

  /** The offset of a position, clamped to the document (a line past the end means the end). */
  offsetAt(position: Position): number {
    const starts = this.starts();
    if (position.line >= starts.length) return this.text.length;
    const start = starts[position.line]!;
    const next = position.line + 1 < starts.length ? starts[position.line + 1]! : this.text.length;
    let end = next;
    // The line's own length excludes its line break.
    if (end > start && this.text[end - 1] === "\n") end--;
    if (end > start && this.text[end - 1] === "\r") end--;
    return Math.min(start + Math.max(0, position.character), end);
  }

  /** The whole text of the line a position is on, without its line break. */
  lineAt(line: number): string {
    const starts = this.starts();
    if (line >= starts.length) return "";
    const start = starts[line]!;
    return this.text.slice(start, this.offsetAt({ line, character: Number.MAX_SAFE_INTEGER }));
  }

  private starts(): number[] {
    if (this.lineStarts === undefined) {
      const starts = [0];
      const text = this.text;
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 13 /* \r */) {
          if (text.charCodeAt(i + 1) === 10) i++;
          starts.push(i + 1);
        } else if (c === 10 /* \n */) starts.push(i + 1);
      }
      this.lineStarts = starts;
    }
    return this.lineStarts;
  }
}

function checkText(text: unknown, what: string): string {
  if (typeof text !== "string") throw new TypeError(`${what} must be a string, got ${text === null ? "null" : typeof text}`);
  if (text.length > MAX_DOCUMENT_CHARS) throw new RangeError(`${what} has ${text.length} characters; documents up to ${MAX_DOCUMENT_CHARS} are kept`);
  return text;
}

function checkPosition(value: unknown, what: string): Position {
  const p = value as Partial<Record<"line" | "character", unknown>> | null | undefined;
  const ok = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n) && n >= 0;
  if (typeof p !== "object" || p === null || !ok(p.line) || !ok(p.character)) throw new TypeError(`${what} must be {line, character} with non-negative integers`);
  return { line: p.line, character: p.character };
}

export function applyChanges(document: SyncedDocument, changes: readonly TextDocumentContentChangeEvent[], version: number): SyncedDocument {
  if (!Array.isArray(changes)) throw new TypeError(`contentChanges of ${document.uri} must be an array`);
  let current = document;
  for (const [i, change] of changes.entries()) {
    const c = change as Partial<Record<"text" | "range", unknown>> | null;
    if (typeof c !== "object" || c === null) throw new TypeError(`contentChanges[${i}] of ${document.uri} must be an object`);
    const text = checkText(c.text, `contentChanges[${i}].text`);
    if (c.range === undefined) {
      current = new SyncedDocument(current.uri, current.languageId, version, text);
      continue;
    }
    const range: unknown = c.range;
    if (typeof range !== "object" || range === null) throw new TypeError(`contentChanges[${i}].range must be {start, end}`);
    const ends = range as Partial<Record<"start" | "end", unknown>>;
    let start = current.offsetAt(checkPosition(ends.start, `contentChanges[${i}].range.start`));
    let end = current.offsetAt(checkPosition(ends.end, `contentChanges[${i}].range.end`));
    if (end < start) [start, end] = [end, start];
    const next = current.text.slice(0, start) + text + current.text.slice(end);
    current = new SyncedDocument(current.uri, current.languageId, version, checkText(next, `${document.uri} after the change`));
  }
  return current;
}

export const documentConfiguration: TextDocumentsConfiguration<SyncedDocument> = {
  create(uri, languageId, version, content) {
    if (typeof uri !== "string" || uri.length === 0) throw new TypeError("textDocument.uri must be a non-empty string");
    const languageKind: unknown = languageId;
    if (typeof version !== "number" || !Number.isFinite(version)) throw new TypeError(`textDocument.version of ${uri} must be a number`);
    return new SyncedDocument(uri, typeof languageKind === "string" ? languageKind : "plaintext", version, checkText(content, `textDocument.text of ${uri}`));
  },
  update(document, changes, version) {
    if (typeof version !== "number" || !Number.isFinite(version)) throw new TypeError(`textDocument.version of ${document.uri} must be a number`);
    return applyChanges(document, changes, version);
  },
};
