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
 * Text is Unicode-normalised the way the model's Hugging Face tokenizer does before it is
 * tokenized: NFC for Qwen2/2.5/3 vocabularies (llama.cpp applies no normaliser; without NFC 108
 * of 1,158 test texts tokenized differently from Hugging Face).
 */
import { Template } from "@huggingface/jinja";
import { resolveChatWrapper, type ChatHistoryItem, type LlamaModel } from "node-llama-cpp";
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
}

export interface FormattedPrompt {
  readonly tokens: readonly number[];
  /** The prompt as text (special tokens as their text), for display. */
  readonly text: string;
  /** "raw", "jinja" (the model's own template, rendered here) or the fallback node-llama-cpp chat wrapper's name. */
  readonly format: string;
}

export function formatPrompt(model: LlamaModel, input: PromptInput): FormattedPrompt {
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
