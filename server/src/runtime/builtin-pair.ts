/**
 * Where the built-in model pair lives: the `models/` folder of the installed package, found by
 * walking up from this module (it runs from server/src/runtime under tsx, from dist/server when
 * bundled, and from an extension's folder inside VS Code).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface BuiltinPairFiles {
  readonly dir: string;
  readonly sft: string;
  readonly dpo: string;
  readonly dpoLora: string;
  /** An early SFT checkpoint: the mismatched reference for contrastive decoding. */
  readonly earlyReference: string;
}

export function builtinPairDir(from: string = fileURLToPath(import.meta.url)): string | undefined {
  let dir = dirname(from);
  for (;;) {
    if (existsSync(join(dir, "models", "sft.gguf")) && existsSync(join(dir, "package.json"))) return join(dir, "models");
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export function builtinPair(): BuiltinPairFiles {
  const dir = builtinPairDir();
  if (!dir) throw new Error("the built-in model pair (models/sft.gguf) was not found next to this installation; reinstall, or pass --sft and --dpo");
  return { dir, sft: join(dir, "sft.gguf"), dpo: join(dir, "dpo.gguf"), dpoLora: join(dir, "dpo-lora.gguf"), earlyReference: join(dir, "sft-early.gguf") };
}
