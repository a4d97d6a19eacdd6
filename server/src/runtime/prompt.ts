/**
 * From a request's prompt to the tokens the models continue.
 *
 * Chat mode uses the chat format node-llama-cpp resolves for the model (`resolveChatWrapper`).
 * When that is the model's own Jinja template from its GGUF metadata, the template is rendered as
 * Hugging Face renders it — messages, `add_generation_prompt`, `bos_token`, `eos_token` — with the
 * Jinja engine node-llama-cpp itself uses, and the text is tokenized in one piece. (node-llama-cpp's
 * JinjaTemplateChatWrapper instead derives the generation prefix from a rendered assistant message
 * and tokenizes each message separately, which for the built-in pair's template gives `…\nA: `
 * with a stray space token instead of the `…\nA:` the models were trained on.) Other wrappers
 * (the model declares no template, or a known family's) produce their own context text.
 *
 * Raw mode continues the prompt text as it is. Both add BOS when the model asks for it.
 */
import { Template } from "@huggingface/jinja";
import { JinjaTemplateChatWrapper, resolveChatWrapper, type ChatHistoryItem, type LlamaModel } from "node-llama-cpp";
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
  /** "raw", "jinja" (the model's own template) or the node-llama-cpp chat wrapper's name. */
  readonly format: string;
}

export function formatPrompt(model: LlamaModel, input: PromptInput): FormattedPrompt {
  const messages = input.messages ?? (input.prompt === undefined ? undefined : [{ role: "user" as const, content: input.prompt }]);
  if (messages === undefined || (input.prompt !== undefined && input.messages !== undefined)) {
    throw new ModelRuntimeError("UnsupportedRequest", "Give either `prompt` or `messages`, not both and not neither.");
  }
  if (input.raw === true) {
    if (input.prompt === undefined) throw new ModelRuntimeError("UnsupportedRequest", "Raw mode continues a text: give `prompt`, not `messages`.");
    return { tokens: withBos(model, model.tokenize(input.prompt, false)), text: input.prompt, format: "raw" };
  }

  const wrapper = resolveChatWrapper(model);
  if (wrapper instanceof JinjaTemplateChatWrapper) {
    const text = renderTemplate(wrapper.template, model, messages);
    // A template this engine cannot render is left to node-llama-cpp's own rendering below.
    if (text !== undefined) return { tokens: withBos(model, model.tokenize(text, true)), text, format: "jinja" };
  }

  const chatHistory: ChatHistoryItem[] = messages.map((message): ChatHistoryItem => {
    if (message.role === "system") return { type: "system", text: message.content };
    if (message.role === "user") return { type: "user", text: message.content };
    return { type: "model", response: [message.content] };
  });
  chatHistory.push({ type: "model", response: [] });
  const { contextText } = wrapper.generateContextState({ chatHistory });
  return { tokens: contextText.tokenize(model.tokenizer), text: contextText.toString(), format: wrapper.wrapperName };
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
