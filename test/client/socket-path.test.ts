import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultSocketPath } from "../../client/src/socket-path.ts";

test("the socket lives under XDG_RUNTIME_DIR when it is set", () => {
  assert.equal(defaultSocketPath({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000, "/tmp"), "/run/user/1000/aad/aad.sock");
});

test("without XDG_RUNTIME_DIR the socket lives in a per-user folder of the temporary directory", () => {
  assert.equal(defaultSocketPath({}, 1000, "/tmp"), "/tmp/aad-1000/aad.sock");
  assert.equal(defaultSocketPath({ XDG_RUNTIME_DIR: "" }, 0, "/var/tmp"), "/var/tmp/aad-0/aad.sock");
});
