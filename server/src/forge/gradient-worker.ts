/** Worker-thread side of GradientWorker: holds a copy of the weights and returns gradients. */
import { parentPort, workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { computeGradients, flattenWeights, type GradientRequest } from "./gradients.ts";
import { type ModelConfig, type ModelWeights, toVariables } from "./model.ts";

const { config } = workerData as { config: ModelConfig };
await tf.setBackend("wasm");
let weights: ModelWeights<tf.Variable> | undefined;

function unflatten(data: Float32Array[]): ModelWeights<Float32Array> {
  const [tokenEmbedding, outputNorm, output, ...rest] = data;
  const layers = [];
  for (let l = 0; l < config.blockCount; l++) {
    const [attnNorm, attnQ, attnK, attnV, attnOutput, ffnNorm, ffnGate, ffnUp, ffnDown] = rest.slice(l * 9, l * 9 + 9);
    layers.push({ attnNorm: attnNorm!, attnQ: attnQ!, attnK: attnK!, attnV: attnV!, attnOutput: attnOutput!, ffnNorm: ffnNorm!, ffnGate: ffnGate!, ffnUp: ffnUp!, ffnDown: ffnDown! });
  }
  return { tokenEmbedding: tokenEmbedding!, outputNorm: outputNorm!, output: output!, layers };
}

parentPort!.on("message", (message: { type: "weights"; data: Float32Array[] } | { type: "gradients"; request: GradientRequest }) => {
  if (message.type === "weights") {
    if (weights) {
      for (const [i, v] of flattenWeights(weights).entries()) tf.tidy(() => v.assign(tf.tensor(message.data[i]!, v.shape)));
    } else {
      weights = toVariables(config, unflatten(message.data), true);
    }
    return;
  }
  if (!weights) throw new Error("gradients requested before weights");
  void computeGradients(config, weights, message.request).then((result) => parentPort!.postMessage(result));
});
