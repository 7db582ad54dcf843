#!/usr/bin/python3
"""bert_reference.py - an independent float64 PyTorch BERT forward pass that
writes golden outputs for docqa's C encoder (tests/fixtures/<model>/golden.json).

Written from the architecture, not from docqa's C code: embeddings (word +
position + token type 0) -> LayerNorm; each encoder layer: masked multi-head
self-attention -> dense -> add & LayerNorm (post-LN), GELU(erf) feed-forward ->
add & LayerNorm; then CLS or masked-mean pooling and L2 normalisation. The
folder is read by hand (config.json, model.safetensors, vocab.txt,
modules.json, 1_Pooling/config.json) so no transformers/safetensors package is
involved. F16/BF16 weights are widened exactly, and everything runs in
float64, so the goldens are the model's exact function to ~1e-12.

Each sequence is run on its own without padding; since padded keys get zero
attention weight in BERT, a batched, padded run must give the same numbers.

A cross-encoder folder (architectures BertForSequenceClassification) gets
reranker goldens instead: (query, passage) pairs encoded as [CLS] q [SEP] p
[SEP] with token types 0/1, the encoder, then the pooler (tanh(dense) on
[CLS]) and the classifier; the score is the logit (one label) or logit[1] -
logit[0] (two labels). Pairs longer than max length are cut passage first;
the query is cut only when it would leave the passage fewer than half of the
free tokens (or all of the passage, when shorter than that).

--check also runs the same weights through torch.nn.TransformerEncoderLayer
(PyTorch's own post-LN encoder layer) and asserts agreement, as a cross-check
of this implementation.

Usage: scripts/bert_reference.py tests/fixtures/bert-tiny-cls [--check]
"""
import argparse
import json
import os
import struct
import sys
import unicodedata

import numpy as np
import torch

torch.set_default_dtype(torch.float64)


# ---- reading the folder -----------------------------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + hlen])
    data = blob[8 + hlen:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        raw = data[b:e]
        shape = t["shape"]
        dt = t["dtype"]
        if dt == "F32":
            a = np.frombuffer(raw, "<f4").astype(np.float64)
        elif dt == "F16":
            a = np.frombuffer(raw, "<f2").astype(np.float64)
        elif dt == "BF16":
            u = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
            a = u.view(np.float32).astype(np.float64)
        elif dt == "I64":
            a = np.frombuffer(raw, "<i8")
        else:
            continue
        out[name] = torch.from_numpy(a.reshape(shape).copy())
    return out


def load_model(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    assert cfg["model_type"] == "bert" and cfg.get("hidden_act", "gelu") == "gelu"
    w = read_safetensors(os.path.join(d, "model.safetensors"))
    w = {(k[5:] if k.startswith("bert.") else k): v for k, v in w.items()}
    pooling, normalize = "mean", False  # no modules.json: text2vec/m3e use mean
    mpath = os.path.join(d, "modules.json")
    if os.path.exists(mpath):
        for m in json.load(open(mpath)):
            if m["type"].endswith("models.Pooling"):
                pc = json.load(open(os.path.join(d, m["path"], "config.json")))
                pooling = "cls" if pc.get("pooling_mode_cls_token") else "mean"
            if m["type"].endswith("models.Normalize"):
                normalize = True
    vocab = open(os.path.join(d, "vocab.txt"), encoding="utf-8").read().split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()
    tc = {}
    tpath = os.path.join(d, "tokenizer_config.json")
    if os.path.exists(tpath):
        tc = json.load(open(tpath))
    return cfg, w, pooling, normalize, vocab, tc


# ---- a minimal BertTokenizer (for the text goldens) -------------------------

def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def tokenize(text, vocab_ids, lower=True):
    s = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C")
                                       and ch not in "\t\n\r"):
            continue
        if is_cjk(cp):
            s.append(" " + ch + " ")
        elif ch.isspace():
            s.append(" ")
        else:
            s.append(ch)
    words = []
    for tok in "".join(s).split():
        if lower:
            tok = "".join(c for c in unicodedata.normalize("NFD", tok.lower())
                          if unicodedata.category(c) != "Mn")
        cur = ""
        for ch in tok:
            if is_punct(ch):
                if cur:
                    words.append(cur)
                words.append(ch)
                cur = ""
            else:
                cur += ch
        if cur:
            words.append(cur)
    ids = []
    unk = vocab_ids["[UNK]"]
    for wd in words:
        if len(wd) > 100:
            ids.append(unk)
            continue
        pieces, start = [], 0
        while start < len(wd):
            end = len(wd)
            while end > start:
                sub = ("##" if start else "") + wd[start:end]
                if sub in vocab_ids:
                    break
                end -= 1
            if end == start:
                pieces = [unk]
                break
            pieces.append(vocab_ids[("##" if start else "") + wd[start:end]])
            start = end
        ids.extend(pieces)
    return ids


def encode(text, vocab_ids, max_len):
    ids = tokenize(text, vocab_ids)[:max_len - 2]
    return [vocab_ids["[CLS]"]] + ids + [vocab_ids["[SEP]"]]


# ---- the forward pass -------------------------------------------------------

def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * g + b


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / np.sqrt(2.0)))


def forward(cfg, w, ids, types=None):
    """ids: list of ints (one sequence, no padding), types: token types (None:
    all 0). Returns (L, hidden)."""
    H, nh, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    dh = H // nh
    L = len(ids)
    t = torch.tensor(ids, dtype=torch.long)
    ty = torch.tensor(types if types is not None else [0] * L, dtype=torch.long)
    x = (w["embeddings.word_embeddings.weight"][t]
         + w["embeddings.position_embeddings.weight"][:L]
         + w["embeddings.token_type_embeddings.weight"][ty])
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i

        def lin(name, v):
            return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q = lin("attention.self.query", x).view(L, nh, dh).transpose(0, 1)
        k = lin("attention.self.key", x).view(L, nh, dh).transpose(0, 1)
        v = lin("attention.self.value", x).view(L, nh, dh).transpose(0, 1)
        att = torch.softmax(q @ k.transpose(1, 2) / np.sqrt(dh), dim=-1)
        ctx = (att @ v).transpose(0, 1).reshape(L, H)
        x = layer_norm(x + lin("attention.output.dense", ctx),
                       w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        h = gelu(lin("intermediate.dense", x))
        x = layer_norm(x + lin("output.dense", h), w[p + "output.LayerNorm.weight"],
                       w[p + "output.LayerNorm.bias"], eps)
    return x


def pool(x, pooling):
    v = x[0] if pooling == "cls" else x.mean(0)
    return v, v / torch.linalg.norm(v)


def check_with_torch_layers(cfg, w, seqs, types=None):
    """Runs padded batches through nn.TransformerEncoderLayer; compares."""
    H, nh, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    layers = []
    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        el = torch.nn.TransformerEncoderLayer(H, nh, cfg["intermediate_size"], dropout=0.0,
                                              activation="gelu", layer_norm_eps=eps,
                                              batch_first=True, norm_first=False)
        sa = el.self_attn
        with torch.no_grad():
            sa.in_proj_weight.copy_(torch.cat([w[p + "attention.self.%s.weight" % n]
                                               for n in ("query", "key", "value")]))
            sa.in_proj_bias.copy_(torch.cat([w[p + "attention.self.%s.bias" % n]
                                             for n in ("query", "key", "value")]))
            sa.out_proj.weight.copy_(w[p + "attention.output.dense.weight"])
            sa.out_proj.bias.copy_(w[p + "attention.output.dense.bias"])
            el.norm1.weight.copy_(w[p + "attention.output.LayerNorm.weight"])
            el.norm1.bias.copy_(w[p + "attention.output.LayerNorm.bias"])
            el.linear1.weight.copy_(w[p + "intermediate.dense.weight"])
            el.linear1.bias.copy_(w[p + "intermediate.dense.bias"])
            el.linear2.weight.copy_(w[p + "output.dense.weight"])
            el.linear2.bias.copy_(w[p + "output.dense.bias"])
            el.norm2.weight.copy_(w[p + "output.LayerNorm.weight"])
            el.norm2.bias.copy_(w[p + "output.LayerNorm.bias"])
        el.eval()
        layers.append(el)
    B, S = len(seqs), max(len(s) for s in seqs)
    ids = torch.zeros(B, S, dtype=torch.long)
    tys = torch.zeros(B, S, dtype=torch.long)
    pad = torch.ones(B, S, dtype=torch.bool)
    for b, s in enumerate(seqs):
        ids[b, :len(s)] = torch.tensor(s)
        if types is not None:
            tys[b, :len(s)] = torch.tensor(types[b])
        pad[b, :len(s)] = False
    emb = torch.nn.functional.embedding
    x = (emb(ids, w["embeddings.word_embeddings.weight"])
         + w["embeddings.position_embeddings.weight"][:S]
         + emb(tys, w["embeddings.token_type_embeddings.weight"]))
    x = torch.nn.functional.layer_norm(x, (H,), w["embeddings.LayerNorm.weight"],
                                       w["embeddings.LayerNorm.bias"], eps)
    with torch.no_grad():
        for el in layers:
            x = el(x, src_key_padding_mask=pad)
    worst = 0.0
    for b, s in enumerate(seqs):
        ref = forward(cfg, w, s, types[b] if types is not None else None)
        worst = max(worst, (x[b, :len(s)] - ref).abs().max().item())
    return worst


# ---- goldens ----------------------------------------------------------------

TEXTS = [
    "the cat sat on the mat",
    "Hello World! the quick brown fox jumps over the lazy dog.",
    "我们在家学中文。他说好！",
    "检索模型把问题和文档变成向量",
    "reading books, playing and walking fast",
    "search 模型 answer 问题",
    "",
    # longer than the 40 positions: bert_encode must truncate to [CLS] 38 [SEP]
    " ".join(["the red book on the table is a good book to read"] * 5),
]


def r7(v):
    """Rounds to 7 significant digits to keep golden.json small."""
    if isinstance(v, torch.Tensor):
        v = v.tolist()
    if isinstance(v, list):
        return [r7(x) for x in v]
    return float("%.7g" % v)


# ---- cross-encoder goldens ---------------------------------------------------

PAIRS = [
    ("where did the cat sit", "the cat sat on the mat"),
    ("where did the cat sit", "the quick brown fox jumps over the lazy dog."),
    ("检索模型", "检索模型把问题和文档变成向量"),
    ("检索模型", "我们在家学中文。他说好！"),
    ("search 模型", ""),
    ("", "an empty query still reads the passage"),
    # longer than the 32 positions together: the passage is cut
    ("what is a good book", " ".join(["the red book on the table is a good book to read"] * 4)),
    # a query so long it would leave the passage nothing: both are cut
    (" ".join(["which red book on the table is good"] * 5), "the book on the table"),
    (" ".join(["which red book on the table is good"] * 5), " ".join(["a long answer"] * 20)),
]


def encode_pair(query, passage, vocab_ids, max_len):
    q, p = tokenize(query, vocab_ids), tokenize(passage, vocab_ids)
    room = max_len - 3
    qk, pk = len(q), len(p)
    if qk + pk > room:
        pk = max(room - qk, min(len(p), room // 2))
        qk = room - pk
    ids = [vocab_ids["[CLS]"]] + q[:qk] + [vocab_ids["[SEP]"]] + p[:pk] + [vocab_ids["[SEP]"]]
    types = [0] * (qk + 2) + [1] * (pk + 1)
    return ids, types


def rerank_score(cfg, w, ids, types):
    x = forward(cfg, w, ids, types)
    pooled = torch.tanh(w["pooler.dense.weight"] @ x[0] + w["pooler.dense.bias"])
    logits = w["classifier.weight"] @ pooled + w["classifier.bias"]
    if len(logits) == 1:
        return logits[0].item()
    assert len(logits) == 2
    return (logits[1] - logits[0]).item()


def rerank_main(a, cfg, w, vocab, tc):
    P = cfg["max_position_embeddings"]
    max_len = min(P, tc.get("model_max_length", P))
    vocab_ids = {t: i for i, t in enumerate(vocab)}
    enc = [encode_pair(q, p, vocab_ids, max_len) for q, p in PAIRS]
    scores = [rerank_score(cfg, w, ids, ty) for ids, ty in enc]
    if a.check:
        worst = check_with_torch_layers(cfg, w, [e[0] for e in enc], [e[1] for e in enc])
        print("%s: max |reference - nn.TransformerEncoderLayer| = %.3g" % (a.model_dir, worst))
        if worst > 1e-9:
            sys.exit("bert_reference.py: cross-check failed")
    golden = {
        "model": os.path.basename(os.path.normpath(a.model_dir)),
        "notes": "float64 reference (scripts/bert_reference.py), cross-encoder scores "
                 "(one label: the logit; two: logit[1] - logit[0]) rounded to 7 significant "
                 "digits; pairs over %d tokens cut passage first" % max_len,
        "num_labels": len(w["classifier.bias"]),
        "seq_len_cap": max_len,
        "pairs": [list(pq) for pq in PAIRS],
        "pair_ids": [e[0] for e in enc],
        "pair_types": [e[1] for e in enc],
        "scores": r7(scores),
    }
    with open(os.path.join(a.model_dir, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--check", action="store_true",
                    help="cross-check against torch.nn.TransformerEncoderLayer")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()

    cfg, w, pooling, normalize, vocab, tc = load_model(a.model_dir)
    if cfg.get("architectures", [""])[0].endswith("ForSequenceClassification"):
        return rerank_main(a, cfg, w, vocab, tc)
    P, V = cfg["max_position_embeddings"], cfg["vocab_size"]
    vocab_ids = {t: i for i, t in enumerate(vocab)}
    cls, sep = vocab_ids["[CLS]"], vocab_ids["[SEP]"]
    rng = np.random.default_rng(a.seed)

    def rand_seq(n_inner):
        return [cls] + [int(x) for x in rng.integers(1, V, n_inner)] + [sep]

    # Ragged lengths: minimal, odd, a full max_pos, and one that was longer
    # than max_pos (52 tokens) and is given already truncated the way
    # wp_encode truncates: [CLS] + first P-2 tokens + [SEP].
    seqs = [rand_seq(0), rand_seq(3), rand_seq(11), rand_seq(1), rand_seq(P - 2),
            rand_seq(17), rand_seq(6)]
    long_seq = rand_seq(50)
    seqs.append(long_seq[:P - 1] + [sep])
    seqs.append([cls, vocab_ids["[UNK]"], vocab_ids["[PAD]"], sep])

    hidden, pooled, pooled_raw = [], [], []
    for s in seqs:
        x = forward(cfg, w, s)
        raw, nv = pool(x, pooling)
        hidden.append(r7(x))
        pooled_raw.append(r7(raw))
        pooled.append(r7(nv))

    text_ids = [encode(t, vocab_ids, min(P, tc.get("model_max_length", P))) for t in TEXTS]
    text_pooled = [r7(pool(forward(cfg, w, s), pooling)[1]) for s in text_ids]

    if a.check:
        worst = check_with_torch_layers(cfg, w, seqs + text_ids)
        print("%s: max |reference - nn.TransformerEncoderLayer| = %.3g" % (a.model_dir, worst))
        if worst > 1e-9:
            sys.exit("bert_reference.py: cross-check failed")

    golden = {
        "model": os.path.basename(os.path.normpath(a.model_dir)),
        "notes": "float64 reference (scripts/bert_reference.py), values rounded to 7 "
                 "significant digits; token type 0; pooled vectors are L2-normalised "
                 "(pooled_raw before); sequence %d was 52 tokens long and is given "
                 "truncated to seq_len_cap as [CLS] + first %d + [SEP]; texts longer "
                 "than seq_len_cap are truncated the same way in text_ids"
                 % (len(seqs) - 2, P - 2),
        "pooling": pooling,
        "normalize_declared": normalize,
        "hidden_size": cfg["hidden_size"],
        "seq_len_cap": P,
        "sequences": seqs,
        "hidden": hidden,
        "pooled": pooled,
        "pooled_raw": pooled_raw,
        "texts": TEXTS,
        "text_ids": text_ids,
        "text_pooled": text_pooled,
    }
    with open(os.path.join(a.model_dir, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
