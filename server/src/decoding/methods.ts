/**
 * The decoding methods by name: what the CLI lists, and one factory from a typed spec to a rule.
 */
import { DEFAULT_ALPHA } from "./candidates.ts";
import {
  aadRule,
  BEST_OF_N_DEFAULT_N,
  bestOfNRule,
  cdRule,
  eftRule,
  greedyRule,
  sampleRule,
  type AadOptions,
  type BestOfNOptions,
  type DecodingRule,
  type EftOptions,
  type SampleOptions,
} from "./rules.ts";
import { DEFAULT_SAMPLING } from "./sampling.ts";
import { DEFAULT_BETA, EFT_DEFAULT_LAMBDA } from "./scoring.ts";

export const METHOD_NAMES = ["aad", "greedy-dpo", "greedy-sft", "sample", "eft", "cd", "best-of-n"] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

export function isMethodName(name: string): name is MethodName {
  return (METHOD_NAMES as readonly string[]).includes(name);
}

export interface MethodInfo {
  readonly method: MethodName;
  /** One line for `--help` and method pickers. */
  readonly summary: string;
  /** "step" rules pick each token; "sequence" rules choose among whole responses. */
  readonly level: "step" | "sequence";
  /** Models the method may read (`sample` reads only the one its `from` option names). */
  readonly models: readonly ("dpo" | "sft" | "reference")[];
  /** Option names and their defaults, as `createRule` accepts them. */
  readonly defaults: Readonly<Record<string, number | string>>;
}

const { temperature, topP, topK } = DEFAULT_SAMPLING;

export const METHODS: { readonly [M in MethodName]: MethodInfo & { readonly method: M } } = {
  aad: {
    method: "aad",
    summary: "Alignment-aware decoding: among the DPO model's plausible tokens, the one it prefers most over the SFT model",
    level: "step",
    models: ["dpo", "sft"],
    defaults: { alpha: DEFAULT_ALPHA },
  },
  "greedy-dpo": { method: "greedy-dpo", summary: "The DPO model's most probable token", level: "step", models: ["dpo"], defaults: {} },
  "greedy-sft": { method: "greedy-sft", summary: "The SFT model's most probable token", level: "step", models: ["sft"], defaults: {} },
  sample: {
    method: "sample",
    summary: "Sample one model with temperature, top-p and top-k",
    level: "step",
    models: ["dpo", "sft"],
    defaults: { from: "dpo", temperature, topP, topK },
  },
  eft: {
    method: "eft",
    summary: "Emulated fine-tuning: log p_sft + lambda·(log p_dpo − log p_sft), greedy or sampled",
    level: "step",
    models: ["dpo", "sft"],
    defaults: { lambda: EFT_DEFAULT_LAMBDA, alpha: 0, temperature: 0, topP, topK },
  },
  cd: {
    method: "cd",
    summary: "Contrastive decoding: AAD's rule with any reference model in place of the SFT model",
    level: "step",
    models: ["dpo", "reference"],
    defaults: { alpha: DEFAULT_ALPHA },
  },
  "best-of-n": {
    method: "best-of-n",
    summary: "Sample n responses from the DPO model and keep the one with the highest DPO implicit reward",
    level: "sequence",
    models: ["dpo", "sft"],
    defaults: { n: BEST_OF_N_DEFAULT_N, beta: DEFAULT_BETA, temperature, topP, topK },
  },
};

/** A method and its options, as the CLI or a config file names them. */
export type RuleSpec =
  | ({ readonly method: "aad" } & AadOptions)
  | { readonly method: "greedy-dpo" }
  | { readonly method: "greedy-sft" }
  | ({ readonly method: "sample" } & SampleOptions)
  | ({ readonly method: "eft" } & EftOptions)
  | ({ readonly method: "cd" } & AadOptions)
  | ({ readonly method: "best-of-n" } & BestOfNOptions);

/** The rule a spec names, options checked (DecodingOptionError) now rather than mid-response. */
export function createRule(spec: RuleSpec): DecodingRule {
  switch (spec.method) {
    case "aad":
      return aadRule(spec);
    case "greedy-dpo":
      return greedyRule("dpo");
    case "greedy-sft":
      return greedyRule("sft");
    case "sample":
      return sampleRule(spec);
    case "eft":
      return eftRule(spec);
    case "cd":
      return cdRule(spec);
    case "best-of-n":
      return bestOfNRule(spec);
  }
}
