/**
 * The one rule every suite uses for CI, and what a missing prerequisite does under it.
 *
 * CI is on when the CI variable is set to anything but "", "false" or "0" (case and surrounding
 * spaces ignored): GitHub Actions, GitLab and most others set CI=true, some CI=1. Outside CI a
 * suite whose prerequisite is missing (Chromium, code-server, the built-in or the 32k bench pair)
 * skips and says what is missing; under CI that is a failure, never a skip, so a broken set-up
 * cannot pass as green.
 */
import assert from "node:assert/strict";
import { test } from "node:test";

export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env["CI"]?.trim().toLowerCase();
  return value !== undefined && value !== "" && value !== "false" && value !== "0";
}

export const inCI = isCI();

/**
 * For a suite that needs something this machine may lack. `missing` says what is missing (or is
 * undefined when nothing is). Returns the `skip` option for the suite's tests: false when
 * nothing is missing; otherwise the reason, and under CI a failing test named after `what` is
 * registered first, so the run fails and says why.
 */
export function prerequisite(what: string, missing: string | undefined): string | false {
  if (missing === undefined) return false;
  if (inCI) {
    void test(`prerequisite: ${what}`, () => assert.fail(`CI is set (CI=${process.env["CI"]}), so a missing prerequisite fails the run: ${missing}`));
    return `failed under CI: ${missing}`;
  }
  console.log(`${what}: skipped, ${missing}`);
  return missing;
}

/**
 * Inside a test: skips it with `missing` as the reason outside CI (returns true; the test then
 * returns), fails it under CI.
 */
export function skipOrFail(t: { skip(message?: string): void }, missing: string | undefined): boolean {
  if (missing === undefined) return false;
  if (inCI) assert.fail(`CI is set (CI=${process.env["CI"]}), so a missing prerequisite fails the test: ${missing}`);
  t.skip(missing);
  return true;
}
