import * as tf from "@tensorflow/tfjs";

/**
 * Token ids padded to one length, and a mask over the predicted positions (1 = counts): position
 * j predicts token j+1, and only predictions of tokens at index >= lossStart[i] count (the
 * response, for SFT and DPO; index 1 — everything after BOS — by default).
 */
export function padBatch(sequences: readonly (readonly number[])[], padToken: number, lossStart: readonly number[] = []): { tokens: tf.Tensor2D; mask: tf.Tensor2D } {
  const length = Math.max(...sequences.map((s) => s.length));
  const ids = new Int32Array(sequences.length * length).fill(padToken);
  const mask = new Float32Array(sequences.length * (length - 1));
  sequences.forEach((seq, i) => {
    ids.set(seq, i * length);
    const start = Math.max(1, lossStart[i] ?? 1);
    for (let j = start - 1; j < seq.length - 1; j++) mask[i * (length - 1) + j] = 1;
  });
  return { tokens: tf.tensor2d(ids, [sequences.length, length], "int32"), mask: tf.tensor2d(mask, [sequences.length, length - 1]) };
}
