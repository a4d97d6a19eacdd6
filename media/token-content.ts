/**
 * A token's text as DOM nodes, the same in the response and in the details' table: its piece with
 * whitespace markers, a named chip for a special token or an invisible control character, or the
 * bytes of a token that ends inside a character. Token text goes in as text nodes only.
 */
import { html, type Child } from "./dom.ts";
import { tokenDisplay, type TokenDisplay } from "./format.ts";

export interface TokenText {
  readonly piece: string;
  readonly bytes?: string;
  readonly special?: string;
}

export function tokenContent(token: TokenText, display: TokenDisplay = tokenDisplay(token)): Child[] {
  // The name is drawn from data-name, so that the text a response's tokens hold (and copy as) stays exact.
  if (display.kind === "special") return [html("span", { className: "chip", attributes: { "data-name": display.name, title: "special token: adds no text" } })];
  if (display.kind === "partial") return [html("span", { className: "bytes", text: display.bytes, attributes: { title: "bytes of a character the next token completes" } })];
  return display.segments.map((segment) => {
    if (segment.control !== undefined) {
      // The character stays (copying, the text's exact length); the chip's name is drawn from data-name.
      return html("span", { className: "ctl", text: segment.text, attributes: { "data-name": segment.control, title: `control character ${segment.control}` } });
    }
    return segment.whitespace === undefined ? segment.text : html("span", { className: `ws ws-${segment.whitespace}`, text: segment.text });
  });
}
