/**
 * The README's user tables (and the .vsix's Details page, docs/MARKETPLACE.md) list everything
 * package.json contributes: each command by its palette title, each setting by its key, each
 * keybinding. A command or setting added without a row fails here.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

interface Manifest {
  readonly contributes: {
    readonly commands: readonly { command: string; title: string; category?: string }[];
    readonly configuration: { readonly properties: Readonly<Record<string, unknown>> };
    readonly keybindings?: readonly { command: string; key: string }[];
  };
  readonly scripts: Readonly<Record<string, string>>;
}

const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Manifest;

/** The first cell of each row of the Markdown tables under `heading` (up to the next heading of that level or higher). */
function firstColumn(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `no "${heading}" section`);
  const level = /^#+/.exec(heading)![0].length;
  const rest = markdown.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{1,${level}} `));
  const section = end < 0 ? rest : rest.slice(0, end);
  return section
    .split("\n")
    .filter((line) => line.startsWith("|") && !/^\|\s*-/.test(line))
    .slice(1)
    .map((line) => line.split("|")[1]!.trim());
}

function title(command: { title: string; category?: string }): string {
  return command.category === undefined ? command.title : `${command.category}: ${command.title}`;
}

for (const [file, level] of [
  ["README.md", "###"],
  ["docs/MARKETPLACE.md", "##"],
] as const) {
  const markdown = readFileSync(join(root, file), "utf8");

  test(`${file} lists every contributed command in its Commands table`, () => {
    const listed = firstColumn(markdown, `${level} Commands`);
    for (const command of manifest.contributes.commands) assert.ok(listed.includes(title(command)), `${title(command)} (${command.command}) is not in ${file}'s Commands table`);
  });

  test(`${file} lists every contributed setting in its Settings table`, () => {
    const listed = firstColumn(markdown, `${level} Settings`).map((cell) => cell.replace(/`/g, ""));
    for (const key of Object.keys(manifest.contributes.configuration.properties)) assert.ok(listed.includes(key), `${key} is not in ${file}'s Settings table`);
  });

  test(`${file} lists every contributed keybinding`, () => {
    const section = markdown.slice(markdown.indexOf(`${level} Keybindings`));
    const byId = new Map(manifest.contributes.commands.map((command) => [command.command, title(command)]));
    for (const binding of manifest.contributes.keybindings ?? []) {
      const key = binding.key.split("+").map((part) => part[0]!.toUpperCase() + part.slice(1)).join("+");
      assert.match(section, new RegExp(`\\| ${key.replace(/\+/g, "\\+")}[^|]*\\| ${byId.get(binding.command)} \\|`), `${binding.key} → ${binding.command} is not in ${file}'s Keybindings table`);
    }
  });
}

test("the .vsix's Details page is docs/MARKETPLACE.md, whose links all leave the package", () => {
  assert.match(manifest.scripts["package"] ?? "", /--readme-path docs\/MARKETPLACE\.md/);
  const markdown = readFileSync(join(root, "docs", "MARKETPLACE.md"), "utf8");
  // Relative links would point into the repository, which the .vsix does not ship.
  for (const [, target] of markdown.matchAll(/\]\(([^)]+)\)/g)) assert.match(target!, /^(https?:|command:|#)/, `a link that breaks inside the .vsix: ${target}`);
});
