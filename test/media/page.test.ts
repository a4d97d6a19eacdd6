import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatAdvantage, formatProbability, formatReward, pieceSegments } from "../../media/format.ts";
import { contentSecurityPolicy, createNonce, renderWebviewHtml, WebviewHtmlError } from "../../media/html.ts";
import { isTraceEntry, parseHostMessage } from "../../media/messages.ts";
import { shadeOf } from "../../media/scale.ts";
import { loadFixture } from "./browser.ts";

const page = (title = "Advantage view", nonce = createNonce()): string =>
  renderWebviewHtml({
    cspSource: "https://file+.vscode-resource.vscode-cdn.net",
    nonce,
    scriptUri: "https://file+.vscode-resource.vscode-cdn.net/ext/dist/media/advantage-view.js",
    styleUri: "https://file+.vscode-resource.vscode-cdn.net/ext/dist/media/advantage-view.css",
    title,
  });

void describe("the webview page", () => {
  void it("carries a CSP that allows only the nonced script and the extension's own styles", () => {
    const nonce = createNonce();
    const html = page("Advantage view", nonce);
    const policy = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)?.[1];
    assert.equal(policy?.replace(/&#39;/g, "'"), contentSecurityPolicy("https://file+.vscode-resource.vscode-cdn.net", nonce));
    assert.match(policy, /^default-src &#39;none&#39;/);
    assert.doesNotMatch(html, /unsafe-(inline|eval)/);
    assert.match(html, new RegExp(`<script nonce="${nonce}" src="[^"]+"></script>`));
  });

  void it("has no inline script or event handler", () => {
    const html = page();
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i);
    assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/);
  });

  void it("escapes the title", () => {
    const html = page(`</title><script>alert(1)</script>`);
    assert.match(html, /<title>&#60;\/title&#62;&#60;script&#62;alert\(1\)&#60;\/script&#62;<\/title>/);
    assert.equal(html.match(/<script/g)?.length, 1);
  });

  void it("refuses a nonce or CSP source that could rewrite the policy", () => {
    assert.throws(() => page("t", "short"), WebviewHtmlError);
    assert.throws(() => page("t", "aaaaaaaaaaaaaaaa' 'unsafe-inline"), WebviewHtmlError);
    assert.throws(
      () => renderWebviewHtml({ cspSource: "https://x; script-src *", nonce: createNonce(), scriptUri: "a", styleUri: "b", title: "t" }),
      WebviewHtmlError,
    );
  });

  void it("accepts a source list such as code-server's \"'self' https://*.vscode-cdn.net\" but no other keyword", () => {
    const html = renderWebviewHtml({ cspSource: "'self' https://*.vscode-cdn.net", nonce: createNonce(), scriptUri: "a", styleUri: "b", title: "t" });
    assert.match(html, /style-src &#39;self&#39; https:\/\/\*\.vscode-cdn\.net &#39;nonce-/);
    assert.throws(() => renderWebviewHtml({ cspSource: "'self' 'unsafe-inline'", nonce: createNonce(), scriptUri: "a", styleUri: "b", title: "t" }), WebviewHtmlError);
  });

  void it("makes a different nonce every time", () => {
    const nonces = new Set(Array.from({ length: 50 }, createNonce));
    assert.equal(nonces.size, 50);
    for (const nonce of nonces) assert.match(nonce, /^[A-Za-z0-9_-]{22}$/);
  });
});

void describe("token text", () => {
  void it("splits whitespace into marked runs and keeps the characters", () => {
    assert.deepEqual(pieceSegments(" in\tplace\n"), [
      { text: " ", whitespace: "space" },
      { text: "in" },
      { text: "\t", whitespace: "tab" },
      { text: "place" },
      { text: "\n", whitespace: "newline" },
    ]);
    assert.deepEqual(pieceSegments(""), [{ text: "", whitespace: "empty" }]);
    assert.deepEqual(pieceSegments("<img src=x>"), [{ text: "<img" }, { text: " ", whitespace: "space" }, { text: "src=x>" }]);
  });
});

void describe("numbers", () => {
  void it("shows probabilities to 3 decimals, tiny ones in exponent form, a clamped one as 0", () => {
    assert.equal(formatProbability(Math.log(0.4123)), "0.412");
    assert.equal(formatProbability(Math.log(0.00032)), "3.2e\u22124");
    assert.equal(formatProbability(-1000), "0");
    assert.equal(formatProbability(null), "unknown");
  });

  void it("signs advantages and rewards, and calls an advantage against a clamped log-prob infinite", () => {
    assert.equal(formatAdvantage(1.449), "+1.45");
    assert.equal(formatAdvantage(-0.236), "\u22120.24");
    assert.equal(formatAdvantage(-0.001), "0.00");
    assert.equal(formatAdvantage(995.07), "+∞");
    assert.equal(formatAdvantage(null), "unknown");
    assert.equal(formatReward(-0.2464), "\u22120.246");
  });

  void it("shades by side, growing as the square root of the advantage up to ±3 nats", () => {
    assert.deepEqual(shadeOf(0.75), { side: "dpo", strength: 0.5 });
    assert.deepEqual(shadeOf(-6), { side: "sft", strength: 1 });
    assert.deepEqual(shadeOf(0.01), { side: "neutral", strength: 0 });
    assert.deepEqual(shadeOf(null), { side: "unknown", strength: 0 });
  });
});

void describe("host messages", () => {
  const fixture = loadFixture();

  void it("accept every entry of a real trace", () => {
    for (const response of fixture.responses) {
      assert.ok(response.entries.every(isTraceEntry));
      const done = { type: "done", stats: response.stats, oracleReward: response.oracleReward };
      assert.deepEqual(parseHostMessage(done), done);
    }
  });

  void it("reject a malformed message instead of rendering it", () => {
    const entry = fixture.responses[0]!.entries[0]!;
    assert.equal(parseHostMessage({ type: "tokens", entries: [{ ...entry, piece: 7 }] }), undefined);
    assert.equal(parseHostMessage({ type: "tokens", entries: [{ ...entry, advantage: "1" }] }), undefined);
    assert.equal(parseHostMessage({ type: "reset", title: "t", method: "aad", mode: "sideways" }), undefined);
    assert.equal(parseHostMessage({ type: "eval", code: "alert(1)" }), undefined);
    assert.equal(parseHostMessage("reset"), undefined);
  });
});
