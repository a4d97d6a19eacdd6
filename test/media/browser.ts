/**
 * Runs the advantage view in headless Chromium the way a webview runs it: the bundle built from
 * media/, the page from renderWebviewHtml with its CSP and nonce, served from a local origin
 * that stands in for `webview.cspSource`, and an acquireVsCodeApi stand-in that records what the
 * view posts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium, type Browser, type Page } from "playwright-core";
import { createNonce, renderWebviewHtml } from "../../media/html.ts";
import type { HostMessage, ResponseStats, TraceEntry, ViewMessage } from "../../media/messages.ts";

/** Debian's Chromium; AAD_CHROMIUM points elsewhere (or nowhere, to see the suite skip). */
export const CHROMIUM = process.env.AAD_CHROMIUM ?? "/usr/bin/chromium";

const repo = fileURLToPath(new URL("../../", import.meta.url));
export const ARTIFACTS = join(repo, "test-artifacts", "media");

/** Why the browser tests cannot run here, or undefined when they can. */
export function missingPrerequisite(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (apt-get update && apt-get install -y chromium)`;
}

export interface TraceFixture {
  readonly prompt: string;
  readonly responses: readonly {
    readonly method: string;
    readonly label: string;
    readonly entries: readonly TraceEntry[];
    readonly stats: ResponseStats;
    readonly oracleReward: number;
  }[];
}

export function loadFixture(): TraceFixture {
  return JSON.parse(readFileSync(join(repo, "test/media/fixtures/trace.json"), "utf8")) as TraceFixture;
}

/** The variables VS Code sets on a webview's <html> for its Light Modern and Dark Modern themes. */
export const THEMES = {
  light: {
    bodyClass: "vscode-light",
    variables: {
      "--vscode-font-family": "system-ui, 'Ubuntu', 'Droid Sans', sans-serif",
      "--vscode-font-size": "13px",
      "--vscode-editor-font-family": "'Droid Sans Mono', 'monospace', monospace",
      "--vscode-editor-font-size": "14px",
      "--vscode-editor-background": "#ffffff",
      "--vscode-editor-foreground": "#3b3b3b",
      "--vscode-descriptionForeground": "#3b3b3b",
      "--vscode-panel-border": "#e5e5e5",
      "--vscode-charts-blue": "#1a85ff",
      "--vscode-charts-orange": "#d18616",
      "--vscode-focusBorder": "#005fb8",
      "--vscode-editorHoverWidget-background": "#f8f8f8",
      "--vscode-editorHoverWidget-foreground": "#3b3b3b",
      "--vscode-editorHoverWidget-border": "#c8c8c8",
      "--vscode-button-background": "#005fb8",
      "--vscode-button-foreground": "#ffffff",
      "--vscode-widget-shadow": "rgba(0, 0, 0, 0.16)",
    },
  },
  dark: {
    bodyClass: "vscode-dark",
    variables: {
      "--vscode-font-family": "system-ui, 'Ubuntu', 'Droid Sans', sans-serif",
      "--vscode-font-size": "13px",
      "--vscode-editor-font-family": "'Droid Sans Mono', 'monospace', monospace",
      "--vscode-editor-font-size": "14px",
      "--vscode-editor-background": "#1f1f1f",
      "--vscode-editor-foreground": "#cccccc",
      "--vscode-descriptionForeground": "#9d9d9d",
      "--vscode-panel-border": "#2b2b2b",
      "--vscode-charts-blue": "#3794ff",
      "--vscode-charts-orange": "#d18616",
      "--vscode-focusBorder": "#0078d4",
      "--vscode-editorHoverWidget-background": "#202020",
      "--vscode-editorHoverWidget-foreground": "#cccccc",
      "--vscode-editorHoverWidget-border": "#454545",
      "--vscode-button-background": "#0078d4",
      "--vscode-button-foreground": "#ffffff",
      "--vscode-widget-shadow": "rgba(0, 0, 0, 0.36)",
    },
  },
  "high-contrast": {
    bodyClass: "vscode-high-contrast",
    variables: {
      "--vscode-editor-background": "#000000",
      "--vscode-editor-foreground": "#ffffff",
      "--vscode-descriptionForeground": "#ffffff",
      "--vscode-panel-border": "#6fc3df",
      "--vscode-charts-blue": "#3794ff",
      "--vscode-charts-orange": "#d18616",
      "--vscode-focusBorder": "#f38518",
      "--vscode-contrastActiveBorder": "#f38518",
      "--vscode-editorHoverWidget-background": "#0c141f",
      "--vscode-editorHoverWidget-border": "#6fc3df",
      "--vscode-button-background": "#000000",
      "--vscode-button-border": "#6fc3df",
    },
  },
} as const;

export type ThemeName = keyof typeof THEMES;

export interface ViewServer {
  readonly url: string;
  readonly html: string;
  readonly nonce: string;
  close(): Promise<void>;
}

/** Builds the bundle and serves the page, the script and the stylesheet from 127.0.0.1. */
export async function serveView(): Promise<ViewServer> {
  const outdir = mkdtempSync(join(tmpdir(), "aad-view-"));
  await build({
    entryPoints: [join(repo, "media/advantage-view.ts")],
    outdir,
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "es2022",
    logLevel: "warning",
  });
  const files: Readonly<Record<string, readonly [string, Buffer]>> = {
    "/advantage-view.js": ["text/javascript", readFileSync(join(outdir, "advantage-view.js"))],
    "/advantage-view.css": ["text/css", readFileSync(join(outdir, "advantage-view.css"))],
  };
  rmSync(outdir, { recursive: true, force: true });
  const nonce = createNonce();
  let html = "";
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? "/", "http://127.0.0.1").pathname;
    const file = path === "/" ? (["text/html; charset=utf-8", Buffer.from(html)] as const) : files[path];
    if (file === undefined) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": file[0], "cache-control": "no-store" }).end(file[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  const origin = `http://127.0.0.1:${address.port}`;
  html = renderWebviewHtml({
    cspSource: origin,
    nonce,
    scriptUri: `${origin}/advantage-view.js`,
    styleUri: `${origin}/advantage-view.css`,
    title: "Advantage view",
  });
  return {
    url: `${origin}/`,
    html,
    nonce,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface LaunchedBrowser {
  readonly browser: Browser;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<LaunchedBrowser> {
  const home = mkdtempSync(join(tmpdir(), "aad-chromium-"));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, ".config") },
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** What a test reads back from a page: the dialogs that fired and what the view posted. */
export interface ViewPage {
  readonly page: Page;
  readonly dialogs: string[];
  readonly errors: string[];
  posted(): Promise<ViewMessage[]>;
  post(message: HostMessage): Promise<void>;
  close(): Promise<void>;
}

/** Where the stand-in acquireVsCodeApi keeps what the view posts. */
type Recorded = Window & { posted?: unknown[] };

export interface OpenOptions {
  readonly theme?: ThemeName;
  /** Leave out VS Code's variables, to see the stylesheet's own fallbacks. */
  readonly fallbacksOnly?: boolean;
  readonly width?: number;
  readonly height?: number;
}

export async function openView(browser: Browser, server: ViewServer, options: OpenOptions = {}): Promise<ViewPage> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1000, height: options.height ?? 760 },
    deviceScaleFactor: 1,
    colorScheme: options.theme === "light" || options.theme === undefined ? "light" : "dark",
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(server.url).origin });
  const page = await context.newPage();
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on("pageerror", (error) => errors.push(error.message));
  // tsx compiles this file with esbuild's keepNames, which wraps named functions in a __name()
  // helper; functions handed to page.evaluate run in the page, where that helper must exist.
  await page.addInitScript({ content: "globalThis.__name = (target) => target;" });
  const theme = THEMES[options.theme ?? "light"];
  // VS Code's host script: acquireVsCodeApi, the theme class on <body>, variables on <html>.
  await page.addInitScript(
    ({ bodyClass, variables }: { bodyClass: string; variables: Readonly<Record<string, string>> }) => {
      const recorded = window as Recorded;
      recorded.posted = [];
      const api = { postMessage: (message: unknown) => recorded.posted?.push(message), getState: () => undefined, setState: () => undefined };
      (window as unknown as { acquireVsCodeApi: () => typeof api }).acquireVsCodeApi = () => api;
      document.addEventListener("DOMContentLoaded", () => {
        for (const [name, value] of Object.entries(variables)) document.documentElement.style.setProperty(name, value);
        document.body.classList.add(bodyClass);
      });
    },
    { bodyClass: theme.bodyClass, variables: options.fallbacksOnly === true ? {} : theme.variables },
  );
  await page.goto(server.url);
  await page.waitForFunction(() => (window as Recorded).posted?.some((m) => (m as { type?: unknown }).type === "ready") === true);
  return {
    page,
    dialogs,
    errors,
    posted: () => page.evaluate(() => ((window as Recorded).posted ?? []) as ViewMessage[]),
    post: async (message) => {
      await page.evaluate((m) => window.postMessage(m, "*"), message as unknown as Record<string, unknown>);
    },
    close: () => context.close(),
  };
}

/** An sRGB colour with alpha, each channel 0…1, from a computed CSS colour. */
export interface Rgba {
  readonly r: number;
  readonly g: number;
  readonly b: number;
  readonly a: number;
}

export function parseColor(css: string): Rgba {
  const text = css.trim();
  const hex = /^#([0-9a-f]{6})$/i.exec(text);
  if (hex !== null) {
    const n = parseInt(hex[1]!, 16);
    return { r: (n >> 16) / 255, g: ((n >> 8) & 255) / 255, b: (n & 255) / 255, a: 1 };
  }
  const legacy = /^rgba?\(([^)]*)\)$/.exec(text);
  if (legacy !== null) {
    const [r = 0, g = 0, b = 0, a = 1] = legacy[1]!.split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r: r / 255, g: g / 255, b: b / 255, a };
  }
  const modern = /^color\(srgb ([^)]*)\)$/.exec(text);
  if (modern !== null) {
    const [r = 0, g = 0, b = 0, a = 1] = modern[1]!.split(/[ /]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  }
  throw new Error(`unparsed colour ${css}`);
}
