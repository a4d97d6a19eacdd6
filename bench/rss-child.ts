/** One memory measurement of bench/speed.ts, in a fresh process: prints maxRssKb=N. */
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { generate, ModelPair } from "../server/src/runtime/index.ts";

const mode = process.argv[2];
const dir = process.argv[3] ?? ".cache/bench-pair";
if (mode === "one") {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: `${dir}/dpo.gguf` });
  const context = await model.createContext({ contextSize: 512, threads: 1, flashAttention: false });
  const sequence = context.getSequence();
  let n = 0;
  for await (const token of sequence.evaluate([model.tokens.bos!, ...model.tokenize("ab cd ef gh")], { temperature: 0 })) {
    if (++n >= 32 || token === model.tokens.eos) break;
  }
  await llama.dispose();
} else {
  const files = mode === "lora" ? { sft: `${dir}/sft.gguf`, dpoLora: `${dir}/dpo-lora.gguf` } : { sft: `${dir}/sft.gguf`, dpo: `${dir}/dpo.gguf` };
  const pair = await ModelPair.load(files, { contextSize: 512 });
  await generate(pair, { prompt: "ab cd ef gh", raw: true, method: { method: "aad" }, maxTokens: 32 });
  await pair.dispose();
}
console.log(`maxRssKb=${process.resourceUsage().maxRSS}`);
