/**
 * The advantage view's page, for the extension to set as `webview.html`. No DOM, no VS Code
 * import: the extension passes `webview.cspSource` and `asWebviewUri` strings in.
 *
 * The Content-Security-Policy allows nothing by default; the one script runs by nonce, styles
 * come from the extension's own resources, and nothing may connect, frame or submit anywhere.
 * Token text never passes through here: the script builds it with textContent.
 */

export interface WebviewHtmlOptions {
  /** `webview.cspSource`: the origin the webview serves local resources from. */
  readonly cspSource: string;
  /** A fresh value per render; createNonce() makes one. */
  readonly nonce: string;
  /** `webview.asWebviewUri(…/dist/media/advantage-view.js)`. */
  readonly scriptUri: string;
  /** `webview.asWebviewUri(…/dist/media/advantage-view.css)`. */
  readonly styleUri: string;
  readonly title: string;
}

export class WebviewHtmlError extends Error {
  override readonly name = "WebviewHtmlError";
}

const NONCE = /^[A-Za-z0-9+/_-]{16,}={0,2}$/;
/** A CSP source list entry cannot hold these without changing the policy's meaning. */
/**
 * One source of a source list: a host/scheme source without separators or quotes, or the
 * 'self' keyword (code-server's cspSource is "'self' https://*.vscode-cdn.net").
 */
const CSP_SOURCE = /^(?:'self'|[^;,'"\s]+)$/;
const isSourceList = (list: string) => list.trim() !== "" && list.trim().split(/\s+/).every((source) => CSP_SOURCE.test(source));

/** A 128-bit random nonce, base64url. Uses Web Crypto, present in Node ≥ 19 and in browsers. */
export function createNonce(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
    "connect-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}

export function renderWebviewHtml({ cspSource, nonce, scriptUri, styleUri, title }: WebviewHtmlOptions): string {
  if (!NONCE.test(nonce)) throw new WebviewHtmlError("the nonce must be at least 16 base64 characters");
  if (!isSourceList(cspSource)) throw new WebviewHtmlError(`not a CSP source: ${JSON.stringify(cspSource)}`);
  const attribute = escapeHtml;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${attribute(contentSecurityPolicy(cspSource, nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${attribute(styleUri)}" nonce="${nonce}">
<title>${escapeHtml(title)}</title>
</head>
<body>
<main id="aad-root"><p class="loading">Loading the advantage view…</p></main>
<script nonce="${nonce}" src="${attribute(scriptUri)}"></script>
</body>
</html>
`;
}
