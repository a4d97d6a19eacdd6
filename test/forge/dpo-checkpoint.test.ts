/**
 * DPO checkpoints: a run interrupted twice (mid-epoch and in the next epoch) and resumed from its
 * checkpoint file ends with the same LoRA, bit for bit, and the same reported numbers as a run
 * that never stopped. The bootstrap bench's 100 % DPO run (over an hour) relies on this.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { createRng } from "../../server/src/decoding/rng.ts";
import { dpoCheckpointFile } from "../../server/src/forge/checkpoint-file.ts";
import { flattenLora } from "../../server/src/forge/gradients.ts";
import { initialLora, initialWeights, type ModelConfig } from "../../server/src/forge/model.ts";
import { trainDpo, type DpoOptions, type PreferencePair } from "../../server/src/forge/train.ts";

const config: ModelConfig = { vocabSize: 40, contextLength: 32, embeddingLength: 16, blockCount: 1, feedForwardLength: 32, headCount: 2, rmsEpsilon: 1e-5, ropeFreqBase: 10000 };

function pairs(count: number): PreferencePair[] {
  const rng = createRng(7);
  const sequence = (prompt: number[]) => {
    const response = Array.from({ length: 3 + rng.int(6) }, () => 2 + rng.int(config.vocabSize - 2));
    return { tokens: [...prompt, ...response, 1], responseStart: prompt.length };
  };
  return Array.from({ length: count }, () => {
    const prompt = Array.from({ length: 2 + rng.int(4) }, () => 2 + rng.int(config.vocabSize - 2));
    return { chosen: sequence(prompt), rejected: sequence(prompt) };
  });
}

class Interrupted extends Error {}

test("a DPO run interrupted at two checkpoints and resumed ends exactly where an uninterrupted run ends", async () => {
  await tf.setBackend("wasm");
  const base = initialWeights(config, createRng(1));
  const lora = () => initialLora(config, 4, 8, createRng(2));
  const data = pairs(14); // batch 4: 4 steps per epoch, the last one short
  const options: DpoOptions = { epochs: 2, batchSize: 4, learningRate: 5e-3, beta: 0.1, seed: 3, padToken: 0 };
  const dir = await mkdtemp(join(tmpdir(), "aad-dpo-ckpt-"));
  try {
    const reference = await trainDpo(config, base, lora(), data, options);

    const file = join(dir, "dpo.checkpoint");
    const saved: number[] = [];
    const stopAt = async (step: number) => {
      const store = dpoCheckpointFile(file, 2, (c) => {
        saved.push(c.step);
        if (c.step === step) throw new Interrupted(`stopped at ${step}`);
      });
      return trainDpo(config, base, lora(), data, { ...options, checkpoints: store });
    };
    await assert.rejects(stopAt(2), Interrupted); // epoch 1, step 2 of 4
    await assert.rejects(stopAt(6), Interrupted); // epoch 2, step 2 of 4: resumed from 2
    const logs: string[] = [];
    const resumed = await trainDpo(config, base, lora(), data, { ...options, checkpoints: dpoCheckpointFile(file, 2, (c) => saved.push(c.step)), log: (l) => logs.push(l) });
    assert.deepEqual(saved, [2, 4, 6], "checkpoints every 2 steps, none repeated after a resume");
    assert.ok(logs.some((l) => l.includes("resumed at step 6/8")), logs.join("\n"));

    const a = flattenLora(reference.weights);
    const b = flattenLora(resumed.weights);
    assert.equal(a.length, b.length);
    a.forEach((x, i) => assert.ok(Buffer.from(x.buffer).equals(Buffer.from(b[i]!.buffer)), `LoRA matrix ${i} differs after resuming`));
    assert.ok(a.some((x, i) => !Buffer.from(x.buffer).equals(Buffer.from(flattenLora(lora())[i]!.buffer))), "training moved the LoRA");
    assert.deepEqual(resumed.lossCurve, reference.lossCurve);
    assert.deepEqual(resumed.displacement, reference.displacement);
    assert.equal(resumed.rewardAccuracy, reference.rewardAccuracy);

    // A checkpoint of another run is refused by name, not silently resumed.
    await assert.rejects(trainDpo(config, base, lora(), data.slice(0, 10), { ...options, checkpoints: dpoCheckpointFile(file, 2) }), /DPO checkpoint is for another run \(14 pairs/);
    assert.ok(existsSync(file));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a refused checkpoint leaves nothing running: the process that tried it exits by itself", async () => {
  const dir = await mkdtemp(join(tmpdir(), "aad-dpo-refused-"));
  try {
    // A checkpoint of a 14-pair run, then a 10-pair run pointed at it, in a process of its own:
    // a worker thread left behind by the refusal would keep that process alive until the timeout.
    const script = `
      import * as tf from "@tensorflow/tfjs";
      import "@tensorflow/tfjs-backend-wasm";
      import { createRng } from "./server/src/decoding/rng.ts";
      import { dpoCheckpointFile } from "./server/src/forge/checkpoint-file.ts";
      import { initialLora, initialWeights } from "./server/src/forge/model.ts";
      import { trainDpo } from "./server/src/forge/train.ts";
      await tf.setBackend("wasm");
      const config = ${JSON.stringify(config)};
      const rng = createRng(7);
      const seq = () => ({ tokens: [2, 3, 2 + rng.int(30), 4, 1], responseStart: 2 });
      const data = Array.from({ length: 14 }, () => ({ chosen: seq(), rejected: seq() }));
      const options = { epochs: 1, batchSize: 4, learningRate: 5e-3, beta: 0.1, seed: 3, padToken: 0 };
      const base = initialWeights(config, createRng(1));
      const file = ${JSON.stringify(join(dir, "dpo.checkpoint"))};
      await trainDpo(config, base, initialLora(config, 4, 8, createRng(2)), data, { ...options, checkpoints: dpoCheckpointFile(file, 2) });
      await trainDpo(config, base, initialLora(config, 4, 8, createRng(2)), data.slice(0, 10), { ...options, checkpoints: dpoCheckpointFile(file, 2) }).then(
        () => console.log("resumed"),
        (e) => console.log("refused: " + e.message),
      );
    `;
    const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    assert.equal(run.signal, null, `the process did not exit by itself within 60 s:\n${run.stdout}\n${run.stderr.slice(-2000)}`);
    assert.equal(run.status, 0, run.stderr.slice(-2000));
    assert.match(run.stdout, /refused: the DPO checkpoint is for another run \(14 pairs/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
