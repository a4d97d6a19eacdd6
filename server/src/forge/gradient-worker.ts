/** Worker-thread side of GradientWorker: holds a copy of the weights and returns gradients. */
import { parentPort, workerData } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { assignLora, computeDpoGradients, computeGradients, computeLogprobs, flattenWeights, unflattenWeights, type WorkerMessage } from "./gradients.ts";
import { type LoraWeights, type ModelConfig, type ModelWeights, loraToVariables, toVariables } from "./model.ts";

const { config } = workerData as { config: ModelConfig };
await tf.setBackend("wasm");
let weights: ModelWeights<tf.Variable> | undefined;
/** DPO: the frozen weights and the LoRA over them. */
let frozen: ModelWeights<tf.Variable> | undefined;
let lora: LoraWeights<tf.Variable> | undefined;

parentPort!.on("message", (message: WorkerMessage) => {
  switch (message.type) {
    case "weights":
      if (weights) {
        for (const [i, v] of flattenWeights(weights).entries()) tf.tidy(() => v.assign(tf.tensor(message.data[i]!, v.shape)));
      } else {
        weights = toVariables(config, unflattenWeights(config, message.data), true);
      }
      return;
    case "frozen":
      if (frozen) tf.dispose(flattenWeights(frozen));
      frozen = toVariables(config, unflattenWeights(config, message.data), false);
      return;
    case "lora":
      if (lora) assignLora(lora, message.lora);
      else lora = loraToVariables(config, message.lora);
      return;
    case "gradients":
      if (!weights) throw new Error("gradients requested before weights");
      void computeGradients(config, weights, message.request).then((result) => parentPort!.postMessage(result));
      return;
    case "dpoGradients":
      if (!frozen || !lora) throw new Error("DPO gradients requested before the frozen weights and LoRA");
      void computeDpoGradients(config, frozen, lora, message.request).then((result) => parentPort!.postMessage(result));
      return;
    case "logprobs":
      if (!frozen) throw new Error("log-likelihoods requested before the frozen weights");
      void computeLogprobs(config, frozen, message.request).then((result) => parentPort!.postMessage(result));
      return;
  }
});
