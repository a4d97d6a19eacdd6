/**
 * From a request's prompt to the tokens the models continue.
 *
 * Chat mode renders the chat template stored in the model's GGUF (`tokenizer.chat_template`) as
 * Hugging Face renders it — messages, `add_generation_prompt`, `bos_token`, `eos_token` — with the
 * Jinja engine node-llama-cpp itself uses, and tokenizes the text ONCE, special tokens parsed. BOS
 * is added when the model asks for it and the template did not write it (as llama.cpp's server
 * does). That is the model's own prompt: node-llama-cpp's automatic chat wrappers are not, for
 * the families they recognise (for a Llama 3.1 template its "Llama 3.1" wrapper inserts today's
 * date and a tool-instructions block: 108 prompt ids where the template gives 91, and a prompt
 * that changes from day to day), and its JinjaTemplateChatWrapper tokenizes message by message
 * (Tulu 3: 76 ids against 74; the built-in pair: a stray space token after "A:").
 * node-llama-cpp's wrappers remain the fallback for a model without a template, or with one
 * this engine cannot render.
 *
 * Raw mode continues the prompt text as it is.
 *
 * Infill (fill-in-the-middle) mode places the text before and after the cursor around the model's
 * own FIM tokens (`tokenizer.ggml.fim_pre_token_id` / `fim_suf_token_id` / `fim_mid_token_id`,
 * node-llama-cpp's `model.tokens.infill`) in the prefix-suffix-middle order of llama.cpp's server
 * (`format_infill` in tools/server/utils.hpp) and of Qwen2.5-Coder's documented format:
 *
 *     [BOS if the model adds one] <|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>
 *
 * and the model writes the middle. Chunks of other files go before it in Qwen2.5-Coder's
 * repository-level layout when the model has the file-separator tokens
 * (`<|repo_name|>{name}\n<|file_sep|>{path}\n{text}…<|file_sep|>{path}\n<|fim_prefix|>…`), else
 * after llama.cpp's plain "--- snippet ---" separator. The user's text is tokenized with special
 * tokens NOT parsed, so a "<|fim_prefix|>" typed in a document stays text.
 *
 * Text is Unicode-normalised the way the model's Hugging Face tokenizer does before it is
 * tokenized: NFC for Qwen2/2.5/3 vocabularies (llama.cpp applies no normaliser; without NFC 108
 * of 1,158 test texts tokenized differently from Hugging Face).
 */
import { Template } from "@huggingface/jinja";
import { resolveChatWrapper, type ChatHistoryItem, type LlamaModel, type Token } from "node-llama-cpp";
import { ModelRuntimeError } from "./errors.ts";

export interface ChatMessage {
  readonly role: "system" | "user" | "assistant";
  readonly content: string;
}

export interface PromptInput {
  /** A single user message (chat mode) or the text to continue (raw mode). */
  readonly prompt?: string;
  /** A conversation; the response continues it as the assistant. Chat mode only. */
  readonly messages?: readonly ChatMessage[];
  /** Continue the text as it is instead of applying the chat template. Default false. */
  readonly raw?: boolean;
  /** Fill in the middle between these texts instead (the model must declare FIM tokens); `prompt` and `messages` are then absent. */
  readonly infill?: InfillInput;
}

export interface InfillInput {
  /** Text before the cursor. */
  readonly prefix: string;
  /** Text after the cursor. */
  readonly suffix: string;
  /** Chunks of other files, oldest first, placed before the prefix. */
  readonly chunks?: readonly InfillChunk[];
  /** The current file's name in the repository-level layout. Default "file". */
  readonly filename?: string;
}

export interface InfillChunk {
  readonly filename: string;
  readonly text: string;
}

export interface InfillTokens {
  readonly prefix: number;
  readonly suffix: number;
  readonly middle: number;
  /** Repository-name and file-separator tokens (Qwen2.5-Coder's `<|repo_name|>`, `<|file_sep|>`), when declared. */
  readonly repository: number | null;
  readonly fileSeparator: number | null;
}

export interface FormattedPrompt {
  readonly tokens: readonly number[];
  /** The prompt as text (special tokens as their text), for display. */
  readonly text: string;
  /** "raw", "jinja" (the model's own template, rendered here) or the fallback node-llama-cpp chat wrapper's name. */
  readonly format: string;
}

export function formatPrompt(model: LlamaModel, input: PromptInput): FormattedPrompt {
  if (input.infill !== undefined) {
    if (input.prompt !== undefined || input.messages !== undefined) throw new ModelRuntimeError("UnsupportedRequest", "Give either `infill` or a prompt, not both.");
    return formatInfill(model, input.infill);
  }
  const messages = input.messages ?? (input.prompt === undefined ? undefined : [{ role: "user" as const, content: input.prompt }]);
  if (messages === undefined || (input.prompt !== undefined && input.messages !== undefined)) {
    throw new ModelRuntimeError("UnsupportedRequest", "Give either `prompt` or `messages`, not both and not neither.");
  }
  if (input.raw === true) {
    if (input.prompt === undefined) throw new ModelRuntimeError("UnsupportedRequest", "Raw mode continues a text: give `prompt`, not `messages`.");
    const text = normalizeText(model, input.prompt);
    return { tokens: withBos(model, model.tokenize(text, false)), text, format: "raw" };
  }

  const template = chatTemplate(model);
  const rendered = template === undefined ? undefined : renderTemplate(template, model, messages);
  if (rendered !== undefined) {
    const text = normalizeText(model, rendered);
    return { tokens: withBos(model, model.tokenize(text, true)), text, format: "jinja" };
  }

  // No template, or one this engine cannot render: node-llama-cpp's own chat format.
  const wrapper = resolveChatWrapper(model);
  const chatHistory: ChatHistoryItem[] = messages.map((message): ChatHistoryItem => {
    if (message.role === "system") return { type: "system", text: message.content };
    if (message.role === "user") return { type: "user", text: message.content };
    return { type: "model", response: [message.content] };
  });
  chatHistory.push({ type: "model", response: [] });
  const { contextText } = wrapper.generateContextState({ chatHistory });
  return { tokens: contextText.tokenize(model.tokenizer), text: contextText.toString(), format: wrapper.wrapperName };
}

/**
 * The model's FIM tokens, or why there are none (the reason is shown to users in aad/status: inline
 * completion then continues the text before the cursor only).
 */
export function infillTokens(model: LlamaModel): InfillTokens | { readonly missing: string } {
  const { prefix, suffix, middle } = model.tokens.infill;
  if (prefix === null || suffix === null || middle === null) {
    const absent = [prefix === null ? "prefix" : null, suffix === null ? "suffix" : null, middle === null ? "middle" : null].filter((x) => x !== null);
    return { missing: `the model declares no fill-in-the-middle ${absent.join("/")} token (GGUF tokenizer.ggml.fim_pre_token_id, fim_suf_token_id, fim_mid_token_id)` };
  }
  // Declared by key, or (as llama.cpp detects FIM tokens in GGUFs without the keys) by their text.
  const id = (key: string, text: string): number | null => {
    const value = ggmlTokenizerKey(model, key);
    if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
    const tokens = model.tokenize(text, true);
    return tokens.length === 1 && model.detokenize(tokens, true) === text ? tokens[0]! : null;
  };
  return { prefix, suffix, middle, repository: id("fim_rep_token_id", "<|repo_name|>"), fileSeparator: id("fim_sep_token_id", "<|file_sep|>") };
}

/** llama.cpp's chunk separator for models without a file separator ("\n\n--- snippet ---\n\n"). */
const SNIPPET_SEPARATOR = "\n\n--- snippet ---\n\n";
/** The repository name of the repository-level layout (llama.cpp's server uses "myproject"). */
const REPOSITORY_NAME = "aad";

/** The infill prompt; see the module comment for the layout. */
export function formatInfill(model: LlamaModel, input: InfillInput): FormattedPrompt {
  const fim = infillTokens(model);
  if ("missing" in fim) throw new ModelRuntimeError("UnsupportedRequest", `Fill-in-the-middle is not available: ${fim.missing}.`);
  const text = (t: string): number[] => [...model.tokenize(normalizeText(model, t), false)];
  const special = (token: number): string => model.detokenize([token as Token], true);
  const tokens: number[] = [];
  const shown: string[] = [];
  const push = (ids: readonly number[], display: string): void => {
    tokens.push(...ids);
    shown.push(display);
  };
  const chunks = input.chunks ?? [];
  if (chunks.length > 0) {
    if (fim.fileSeparator !== null) {
      if (fim.repository !== null) push([fim.repository, ...text(`${REPOSITORY_NAME}\n`)], `${special(fim.repository)}${REPOSITORY_NAME}\n`);
      for (const chunk of chunks) push([fim.fileSeparator, ...text(`${chunk.filename}\n${chunk.text}`)], `${special(fim.fileSeparator)}${chunk.filename}\n${chunk.text}`);
      const filename = input.filename ?? "file";
      push([fim.fileSeparator, ...text(`${filename}\n`)], `${special(fim.fileSeparator)}${filename}\n`);
    } else {
      for (const chunk of chunks) push(text(`${chunk.text}${SNIPPET_SEPARATOR}`), `${chunk.text}${SNIPPET_SEPARATOR}`);
    }
  }
  push([fim.prefix, ...text(input.prefix)], `${special(fim.prefix)}${input.prefix}`);
  push([fim.suffix, ...text(input.suffix)], `${special(fim.suffix)}${input.suffix}`);
  push([fim.middle], special(fim.middle));
  return { tokens: withBos(model, tokens), text: shown.join(""), format: "fim" };
}

/** Pre-tokenizers (`tokenizer.ggml.pre`) whose Hugging Face tokenizer applies the NFC normaliser. */
const NFC_PRE_TOKENIZERS: ReadonlySet<string> = new Set(["qwen2"]);

/** The text as the model's Hugging Face tokenizer would normalise it before tokenizing (NFC for Qwen). */
export function normalizeText(model: LlamaModel, text: string): string {
  const pre = ggmlTokenizerKey(model, "pre");
  return typeof pre === "string" && NFC_PRE_TOKENIZERS.has(pre) ? text.normalize("NFC") : text;
}

/** The chat template in the model's GGUF, if it has one. */
export function chatTemplate(model: LlamaModel): string | undefined {
  const tokenizer = (model.fileInfo.metadata as { tokenizer?: { chat_template?: unknown } }).tokenizer;
  const template = tokenizer?.chat_template;
  return typeof template === "string" && template.length > 0 ? template : undefined;
}

function ggmlTokenizerKey(model: LlamaModel, key: string): unknown {
  const tokenizer = (model.fileInfo.metadata as { tokenizer?: { ggml?: Record<string, unknown> } }).tokenizer;
  return tokenizer?.ggml?.[key];
}

/** The template rendered as Hugging Face renders chat templates, or undefined if it cannot be. */
function renderTemplate(template: string, model: LlamaModel, messages: readonly ChatMessage[]): string | undefined {
  try {
    return new Template(template).render({
      messages: messages.map(({ role, content }) => ({ role, content })),
      add_generation_prompt: true,
      bos_token: model.tokens.bosString ?? "",
      eos_token: model.tokens.eosString ?? "",
    });
  } catch {
    return undefined;
  }
}

function withBos(model: LlamaModel, tokens: readonly number[]): number[] {
  const bos = model.tokens.bos;
  if (bos === null || !model.tokens.shouldPrependBosToken || tokens[0] === bos) return [...tokens];
  return [bos, ...tokens];
}
