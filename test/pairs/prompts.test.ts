/** Reading prompts files: the accepted forms, and an error naming the line for everything else. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parsePrompts, PromptFileError, readPrompts } from "../../server/src/pairs/index.ts";

function lineError(text: string, line: number, pattern: RegExp): void {
  assert.throws(
    () => parsePrompts(text, "jsonl", "prompts.jsonl"),
    (error: unknown) => error instanceof PromptFileError && error.line === line && error.message.startsWith(`prompts.jsonl:${line}: `) && pattern.test(error.message),
  );
}

describe("accepted forms", () => {
  test("a .jsonl line with a prompt string is a plain prompt, one with messages a chat prompt", () => {
    const prompts = parsePrompts('{"prompt": "How do I sort?"}\n{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}\n', "jsonl");
    assert.deepEqual(prompts, [
      { kind: "text", prompt: "How do I sort?", line: 1 },
      { kind: "chat", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }], line: 2 },
    ]);
  });

  test("blank lines are skipped and the remaining prompts keep their own line numbers", () => {
    const prompts = parsePrompts("first\r\n\n   \nsecond\n", "txt");
    assert.deepEqual(prompts, [
      { kind: "text", prompt: "first", line: 1 },
      { kind: "text", prompt: "second", line: 4 },
    ]);
  });

  test("fields other than prompt or messages are ignored", () => {
    assert.deepEqual(parsePrompts('{"prompt": "p", "id": 7}', "jsonl"), [{ kind: "text", prompt: "p", line: 1 }]);
  });
});

describe("malformed input", () => {
  test("a line that is not JSON is reported with its line number", () => lineError('{"prompt": "ok"}\n{"prompt": "cut', 2, /not valid JSON/));
  test("a JSON value that is not an object is refused", () => lineError('["a"]', 1, /expected an object/));
  test("an object with neither prompt nor messages is refused", () => lineError('{"text": "p"}', 1, /"prompt" string or a "messages" list/));
  test("an object with both prompt and messages is refused", () => lineError('{"prompt": "p", "messages": []}', 1, /not both/));
  test("an empty prompt is refused", () => lineError('{"prompt": "  "}', 1, /non-empty string/));
  test("a message with an unknown role is refused", () => lineError('{"messages": [{"role": "bot", "content": "x"}]}', 1, /messages\[0\]\.role/));
  test("a message without string content is refused", () => lineError('{"messages": [{"role": "user", "content": 3}]}', 1, /messages\[0\]\.content/));
  test("a conversation that does not end with the user is refused", () => lineError('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}', 1, /last message must be the user's/));
});

describe("files", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "aad-prompts-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test("a file that is neither .jsonl nor .txt is refused", async () => {
    const file = join(dir, "prompts.csv");
    await writeFile(file, "a\n");
    await assert.rejects(readPrompts(file), (error: unknown) => error instanceof PromptFileError && error.line === undefined && /\.jsonl or a \.txt/.test(error.message));
  });

  test("a file without prompts is refused", async () => {
    const file = join(dir, "empty.txt");
    await writeFile(file, "\n\n");
    await assert.rejects(readPrompts(file), /holds no prompts/);
  });

  test("the CLI reports a malformed line by file and line, exit code 1, before loading any model", async () => {
    const file = join(dir, "bad.jsonl");
    await writeFile(file, '{"prompt": "fine"}\n\n{"prompt": 42}\n');
    // The model flags name files that do not exist: the prompts must fail first.
    const args = ["--import", "tsx", "server/src/cli/main.ts", "pairs", "--prompts", file, "--out", join(dir, "out.jsonl"), "--sft", join(dir, "none.gguf"), "--dpo", join(dir, "none.gguf")];
    const result = spawnSync(process.execPath, args, { encoding: "utf8" });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3: "prompt" must be a non-empty string`));
  });
});
