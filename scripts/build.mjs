// Bundles the three programs of the project with esbuild:
// the daemon/CLI (ESM, node-llama-cpp external), the VS Code client (CJS, vscode external)
// and the webview (browser IIFE). Entries that do not exist yet are skipped.
import { build } from "esbuild";
import { existsSync, mkdirSync, writeFileSync, chmodSync } from "node:fs";

const watch = process.argv.includes("--watch");
const common = { bundle: true, sourcemap: true, logLevel: "warning", legalComments: "none" };
const targets = [
  {
    entryPoints: ["server/src/cli/main.ts"],
    outfile: "dist/server/aad.js",
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["node-llama-cpp", "@tensorflow/*", "vscode"],
    banner: { js: "#!/usr/bin/env node\nimport { createRequire as __aadCreateRequire } from 'node:module'; const require = __aadCreateRequire(import.meta.url);" },
  },
  {
    entryPoints: ["client/src/extension.ts"],
    outfile: "dist/client/extension.cjs",
    platform: "node",
    format: "cjs",
    target: "node20",
    external: ["vscode"],
  },
  {
    entryPoints: ["media/advantage-view.ts"],
    outfile: "dist/media/advantage-view.js",
    platform: "browser",
    format: "iife",
    target: "es2022",
  },
];

for (const target of targets) {
  if (!existsSync(target.entryPoints[0])) continue;
  await build({ ...common, ...target });
  if (target.outfile.endsWith("aad.js")) chmodSync(target.outfile, 0o755);
}
mkdirSync("dist", { recursive: true });
writeFileSync("dist/.built", new Date(0).toISOString());
if (watch) console.log("watch mode is not supported; rerun npm run build");
