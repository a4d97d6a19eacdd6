/**
 * GPU choice over JSON-RPC, against a real daemon process and the built-in pair: aad/loadPair's
 * `gpu` and `gpuLayers` reach node-llama-cpp, the answer (and aad/status) says where the pair runs
 * and why that is not what was asked for, a named backend that cannot run here is a clear error the daemon
 * survives, and contradictory or unknown values are refused by name.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import * as aad from "../../server/src/protocol/protocol.ts";
import { builtInPair, connectClient, errorOf, spawnDaemon, tempDir, type Client, type DaemonProcess } from "./harness.ts";

const pair = builtInPair();
let dir: { path: string; remove(): Promise<void> };
let daemon: DaemonProcess;
let client: Client;

before(async () => {
  dir = await tempDir("aad-gpu-");
  daemon = await spawnDaemon({ socket: join(dir.path, "d.sock") });
  client = await connectClient(daemon);
});

after(async () => {
  client.close();
  await daemon.kill();
  await dir.remove();
});

const load = (params: Omit<aad.LoadPairParams, "sft">): Promise<aad.PairInfo> =>
  client.connection.sendRequest(aad.loadPair, { sft: pair!.sft, ...params } as aad.LoadPairParams);

test("without a GPU choice the pair runs on the CPU and says so", async () => {
  const info = await load({ dpo: pair!.dpo });
  assert.deepEqual(info.compute, { backend: "cpu", requested: "off", gpuLayers: 0 });
});

test('"auto" uses a GPU that works here, or falls back to the CPU with the reason', async () => {
  const info = await load({ dpo: pair!.dpo, gpu: "auto" });
  assert.equal(info.compute.requested, "auto");
  assert.equal(info.reused, false, "a different GPU choice is a different load");
  if (info.compute.backend === "cpu") {
    assert.match(info.compute.note ?? "", /no usable GPU backend.*running on the CPU/);
    assert.equal(info.compute.gpuLayers, 0);
  } else {
    assert.equal(info.compute.note, undefined);
  }
  const generated = await client.connection.sendRequest(aad.generate, { prompt: "hi", maxTokens: 2 } as aad.GenerateParams);
  assert.ok(generated.tokens.length > 0);
  // aad/status reports the backend the loaded pair actually runs on, with the fallback's reason.
  const status = await client.connection.sendRequest(aad.status);
  assert.deepEqual(status.pair?.compute, info.compute);
});

test("a named backend that cannot run here is a clear error, and the daemon keeps serving", async () => {
  const attempt = load({ dpo: pair!.dpo, gpu: "vulkan" });
  const loaded = await attempt.then(
    (info) => info,
    () => undefined,
  );
  if (loaded !== undefined) {
    assert.equal(loaded.compute.backend, "vulkan"); // a machine with Vulkan
    return;
  }
  const error = await errorOf(attempt);
  assert.match(error.message, /GPU backend "vulkan" was asked for, but node-llama-cpp has no prebuilt vulkan binary that works on this machine/);
  const info = await load({ dpo: pair!.dpo });
  assert.equal(info.compute.backend, "cpu");
});

test("unknown or contradictory GPU values are refused by name", async () => {
  const unknown = await errorOf(load({ dpo: pair!.dpo, gpu: "tpu" as aad.GpuChoice }));
  assert.equal(unknown.code, aad.ErrorCodes.InvalidParams);
  assert.match(unknown.message, /gpu/);
  const off = await errorOf(load({ dpo: pair!.dpo, gpu: "off", gpuLayers: 4 }));
  assert.equal(off.code, aad.ErrorCodes.InvalidParams);
  assert.match(off.message, /"gpu": "off" runs on the CPU/);
});
