/** Worker-thread side of GradientWorker: holds a copy of the weights and returns gradients. */
import { parentPort, workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { computeGradients, flattenWeights, unflattenWeights, type GradientRequest } from "./gradients.ts";
import { type ModelConfig, type ModelWeights, toVariables } from "./model.ts";

const { config } = workerData as { config: ModelConfig };
await tf.setBackend("wasm");
let weights: ModelWeights<tf.Variable> | undefined;

parentPort!.on("message", (message: { type: "weights"; data: Float32Array[] } | { type: "gradients"; request: GradientRequest }) => {
  if (message.type === "weights") {
    if (weights) {
      for (const [i, v] of flattenWeights(weights).entries()) tf.tidy(() => v.assign(tf.tensor(message.data[i]!, v.shape)));
    } else {
      weights = toVariables(config, unflattenWeights(config, message.data), true);
    }
    return;
  }
  if (!weights) throw new Error("gradients requested before weights");
  void computeGradients(config, weights, message.request).then((result) => parentPort!.postMessage(result));
});
