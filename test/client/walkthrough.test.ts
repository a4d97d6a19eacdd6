/**
 * The walkthrough (package.json's contributes.walkthroughs) points at things that exist: each
 * step's media file is in the package, its command links and completion events name contributed
 * commands and settings. VS Code shows a broken link or a step that can never complete without a
 * word, so a renamed command or setting must fail here.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

interface Step {
  readonly id: string;
  readonly description: string;
  readonly media: { readonly markdown?: string; readonly image?: string };
  readonly completionEvents?: readonly string[];
}

interface Manifest {
  readonly contributes: {
    readonly commands: readonly { command: string }[];
    readonly configuration: { readonly properties: Readonly<Record<string, unknown>> };
    readonly walkthroughs?: readonly { id: string; steps: readonly Step[] }[];
  };
}

const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Manifest;
const commands = new Set(manifest.contributes.commands.map((c) => c.command));
const settings = new Set(Object.keys(manifest.contributes.configuration.properties));
const walkthroughs = manifest.contributes.walkthroughs ?? [];
const steps = walkthroughs.flatMap((w) => w.steps);

/** VS Code's own commands a step may link to. */
const BUILT_IN_COMMANDS = new Set(["workbench.action.openSettings"]);

test("there is a walkthrough, and it picks a pair and runs a first generation", () => {
  assert.equal(walkthroughs.length, 1);
  const linked = steps.flatMap((step) => [...step.description.matchAll(/\(command:([\w.]+)/g)].map((m) => m[1]));
  for (const command of ["aad.selectModelPair", "aad.generate"]) assert.ok(linked.includes(command), `no step links ${command}`);
});

test("every step's media file exists", () => {
  for (const step of steps) {
    const file = step.media.markdown ?? step.media.image;
    assert.ok(file !== undefined, `step ${step.id} has no media`);
    assert.ok(existsSync(join(root, file)), `step ${step.id}: ${file} is missing`);
  }
});

test("every command link names a contributed command (or VS Code's settings), with arguments that parse", () => {
  for (const step of steps) {
    for (const [, command, query] of step.description.matchAll(/\(command:([\w.]+)(?:\?([^)]*))?\)/g)) {
      assert.ok(commands.has(command!) || BUILT_IN_COMMANDS.has(command!), `step ${step.id} links unknown command ${command}`);
      if (query !== undefined) assert.doesNotThrow(() => JSON.parse(decodeURIComponent(query)), `step ${step.id}: arguments of ${command}`);
    }
  }
});

test("every step can complete, on a contributed command or setting", () => {
  for (const step of steps) {
    const events = step.completionEvents ?? [];
    assert.ok(events.length > 0, `step ${step.id} has no completion event`);
    for (const event of events) {
      const [kind, name] = event.split(/:(.*)/s);
      if (kind === "onCommand") assert.ok(commands.has(name!), `step ${step.id}: ${event} names no contributed command`);
      else if (kind === "onSettingChanged") assert.ok(settings.has(name!), `step ${step.id}: ${event} names no contributed setting`);
      else assert.fail(`step ${step.id}: unexpected completion event ${event}`);
    }
  }
});
