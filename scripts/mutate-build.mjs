// Stryker's build step (stryker.config.json, run inside its sandbox after the sources are
// mutated): bundles each unit test file that `npm run mutate` runs into one plain ESM file in
// .mutate-build/, mutated sources included, so every mutant's run starts node without tsx.
// Starting tsx costs each test process about four times the CPU of the tests themselves, and
// Stryker starts one process per test file per mutant.
import { build } from "esbuild";

export const MUTATE_TESTS = ["test/decoding/*.test.ts", "test/daemon/validate*.test.ts"];

await build({
  entryPoints: MUTATE_TESTS,
  outbase: "test",
  outdir: ".mutate-build",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  logLevel: "warning",
});
