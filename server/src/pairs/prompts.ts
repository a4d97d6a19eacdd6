/**
 * Prompts for pair generation, from a file: `.jsonl` with one `{"prompt": "…"}` or
 * `{"messages": [{"role", "content"}, …]}` object per line, or `.txt` with one prompt per line.
 * Blank lines are skipped in both; anything else that is not a prompt is an error naming its line.
 */
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import type { ChatMessage } from "../runtime/index.ts";
import { PromptFileError } from "./errors.ts";

export type PromptRecord =
  | { readonly kind: "text"; readonly prompt: string; readonly line: number }
  | { readonly kind: "chat"; readonly messages: readonly ChatMessage[]; readonly line: number };

const ROLES: readonly string[] = ["system", "user", "assistant"] satisfies readonly ChatMessage["role"][];

export async function readPrompts(file: string): Promise<PromptRecord[]> {
  const format = extname(file).toLowerCase();
  if (format !== ".jsonl" && format !== ".txt") throw new PromptFileError(file, undefined, `prompts must be a .jsonl or a .txt file, not "${format || "(no extension)"}"`);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new PromptFileError(file, undefined, `cannot read the prompts file (${error instanceof Error ? error.message : String(error)})`);
  }
  const prompts = parsePrompts(text, format === ".jsonl" ? "jsonl" : "txt", file);
  if (prompts.length === 0) throw new PromptFileError(file, undefined, "the file holds no prompts");
  return prompts;
}

export function parsePrompts(text: string, format: "jsonl" | "txt", file = "<prompts>"): PromptRecord[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const prompts: PromptRecord[] = [];
  lines.forEach((raw, i) => {
    const line = i + 1;
    const content = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (content.trim() === "") return;
    prompts.push(format === "txt" ? { kind: "text", prompt: content, line } : parseJsonLine(content, line, file));
  });
  return prompts;
}

function parseJsonLine(content: string, line: number, file: string): PromptRecord {
  const fail = (problem: string) => new PromptFileError(file, line, problem);
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch (error) {
    throw fail(`not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw fail('expected an object with "prompt" or "messages"');
  const record = value as Record<string, unknown>;
  const hasPrompt = "prompt" in record;
  const hasMessages = "messages" in record;
  if (hasPrompt === hasMessages) throw fail(hasPrompt ? 'give "prompt" or "messages", not both' : 'expected a "prompt" string or a "messages" list');
  if (hasPrompt) {
    if (typeof record.prompt !== "string" || record.prompt.trim() === "") throw fail('"prompt" must be a non-empty string');
    return { kind: "text", prompt: record.prompt, line };
  }
  const messages = record.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw fail('"messages" must be a non-empty list of {"role", "content"}');
  const parsed = messages.map((message: unknown, m): ChatMessage => {
    if (typeof message !== "object" || message === null) throw fail(`messages[${m}] must be an object with "role" and "content"`);
    const { role, content } = message as Record<string, unknown>;
    if (typeof role !== "string" || !ROLES.includes(role)) throw fail(`messages[${m}].role must be one of ${ROLES.join(", ")}`);
    if (typeof content !== "string") throw fail(`messages[${m}].content must be a string`);
    return { role: role as ChatMessage["role"], content };
  });
  if (parsed.at(-1)!.role !== "user") throw fail("the last message must be the user's: the pair's responses continue the conversation as the assistant");
  return { kind: "chat", messages: parsed, line };
}
