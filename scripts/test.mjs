// Runs every test file under test/ with node's own test runner (TypeScript through tsx).
// Node 20's --test does not expand globs, so the files are listed here.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "fixtures") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = collect("test").filter((f) => filter.length === 0 || filter.some((p) => f.includes(p))).sort();
// A file whose tests pass but whose process never exits (a thread or handle left open) would
// otherwise hold the run until CI's own limit kills it with no name attached: each file and each
// test gets 20 minutes, far above the slowest file (the VS Code suite, ~5 min on a loaded machine).
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", "--test-timeout=1200000", ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);
