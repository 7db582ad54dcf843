#!/usr/bin/python3
"""make_test_model.py - writes a BERT model folder with random weights in the
Hugging Face layout (config.json, vocab.txt, tokenizer_config.json,
model.safetensors, and optionally sentence-transformers' modules.json,
1_Pooling/config.json and 2_Normalize/), or with --num-labels a cross-encoder
(BertForSequenceClassification: pooler + classifier head, no modules.json).

The safetensors file is written by hand (8-byte little-endian header length,
JSON header, raw little-endian tensor bytes) so the script needs only numpy.
Weights are scaled ~1/sqrt(fan_in) rather than BERT's 0.02 so that attention
is far from uniform and GELU sees O(1) inputs: a forward pass with a bug in it
then gives visibly different numbers.

Examples:
  scripts/make_test_model.py tests/fixtures/bert-tiny-cls --pooling cls --normalize
  scripts/make_test_model.py tests/fixtures/bert-tiny-rerank --num-labels 1 --hidden 32 \
      --intermediate 64 --max-pos 32 --dtype f16 --prefix bert.
  scripts/make_test_model.py /tmp/bge-small-zh-shaped --hidden 512 --layers 4 \\
      --heads 8 --intermediate 2048 --vocab 21128 --max-pos 512 --pooling cls --normalize
"""
import argparse
import json
import os
import sys

import numpy as np

SPECIALS = ["[PAD]", "[unused1]", "[unused2]", "[unused3]", "[unused4]",
            "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PUNCT = list(",.!?;:'\"()-") + ["，", "。", "！", "？", "、"]
WORDS = """the a an and or of to in on at for with from by is are was be it this that
these those we you they he she i my your our their cat dog bird fish tree house car
book paper page text word read write learn study model data search index query answer
question document file chapter section table figure number time year day night water
fire earth air sun moon star red green blue black white big small good new old first
last long short high low fast slow open close run walk play work sleep eat see find
make take give help hello world quick brown fox jump over lazy sat mat""".split()
SUFFIXES = ["##s", "##es", "##ed", "##ing", "##er", "##est", "##ly", "##ness",
            "##ment", "##ion", "##able", "##ful", "##less", "##a", "##e", "##o"]
# Common Chinese characters: enough to write test sentences with.
HANZI = ("检索模型向量搜答案问题文档的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会"
         "自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手"
         "十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法"
         "此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便"
         "位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先"
         "山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白"
         "应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象"
         "记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术"
         "结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办"
         "运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识"
         "极令黄德收脸钱党倒未持音送习")


def unique(seq):
    seen, out = set(), []
    for s in seq:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def make_vocab(n_tokens, n_hanzi):
    base = unique(SPECIALS + PUNCT + WORDS + SUFFIXES + list(HANZI[:n_hanzi]))
    if n_tokens and n_tokens < len(base):
        sys.exit("make_test_model.py: --vocab %d is smaller than the %d built-in tokens"
                 % (n_tokens, len(base)))
    vocab = list(base)
    have = set(vocab)
    # Larger vocabularies (bench models) get the rest of the CJK block first,
    # so Chinese text maps to real ids, then synthetic word pieces.
    cp = 0x4E00
    while n_tokens and len(vocab) < n_tokens and cp <= 0x9FFF:
        ch = chr(cp)
        if ch not in have:
            vocab.append(ch)
            have.add(ch)
        cp += 1
    i = 0
    while n_tokens and len(vocab) < n_tokens:
        vocab.append("##x%d" % i if i % 2 else "tok%d" % i)
        i += 1
    return vocab


def to_bytes(arr, dtype):
    """Returns (dtype name, little-endian bytes) of a float64/float32 array."""
    a32 = np.ascontiguousarray(arr, dtype=np.float32)
    if dtype == "f32":
        return "F32", a32.astype("<f4").tobytes()
    if dtype == "f16":
        return "F16", a32.astype("<f2").tobytes()
    if dtype == "bf16":
        # round to nearest even on the upper 16 bits
        u = a32.view(np.uint32).astype(np.uint64)
        u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
        return "BF16", u.astype("<u2").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, dtype name, shape, bytes)."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)  # keep the data area 8-byte aligned
    with open(path, "wb") as f:
        f.write(len(hjson).to_bytes(8, "little"))
        f.write(hjson)
        for _, _, _, raw in tensors:
            f.write(raw)


def make_weights(a, rng):
    H, I, V, P, T = a.hidden, a.intermediate, a.vocab_size, a.max_pos, 2
    out = []  # (name, float array)

    def lin(name, n_out, n_in):
        out.append((name + ".weight", rng.normal(0, 1.0 / np.sqrt(n_in), (n_out, n_in))))
        out.append((name + ".bias", rng.normal(0, 0.1, (n_out,))))

    def norm(name):
        out.append((name + ".weight", 1.0 + rng.normal(0, 0.1, (H,))))
        out.append((name + ".bias", rng.normal(0, 0.1, (H,))))

    out.append(("embeddings.word_embeddings.weight", rng.normal(0, 0.5, (V, H))))
    out.append(("embeddings.position_embeddings.weight", rng.normal(0, 0.5, (P, H))))
    out.append(("embeddings.token_type_embeddings.weight", rng.normal(0, 0.5, (T, H))))
    norm("embeddings.LayerNorm")
    for i in range(a.layers):
        p = "encoder.layer.%d." % i
        lin(p + "attention.self.query", H, H)
        lin(p + "attention.self.key", H, H)
        lin(p + "attention.self.value", H, H)
        lin(p + "attention.output.dense", H, H)
        norm(p + "attention.output.LayerNorm")
        lin(p + "intermediate.dense", I, H)
        lin(p + "output.dense", H, I)
        norm(p + "output.LayerNorm")
    if a.pooler:
        lin("pooler.dense", H, H)
    if a.num_labels:
        # Larger than BERT's init so the scores spread over a few units.
        out.append(("classifier.weight", rng.normal(0, 1.0, (a.num_labels, H))))
        out.append(("classifier.bias", rng.normal(0, 0.5, (a.num_labels,))))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--intermediate", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=0,
                    help="vocabulary size (0: the built-in tokens only)")
    ap.add_argument("--hanzi", type=int, default=100,
                    help="built-in Chinese characters to include (default 100)")
    ap.add_argument("--max-pos", type=int, default=40)
    ap.add_argument("--pooling", choices=["cls", "mean"], default="cls")
    ap.add_argument("--normalize", action="store_true",
                    help="add a sentence_transformers Normalize module")
    ap.add_argument("--no-modules", action="store_true",
                    help="no modules.json / 1_Pooling (text2vec/m3e style: mean pooling)")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    ap.add_argument("--prefix", default="", help="tensor name prefix, e.g. 'bert.'")
    ap.add_argument("--no-pooler", dest="pooler", action="store_false",
                    help="leave out pooler.dense (unused by sentence embeddings)")
    ap.add_argument("--position-ids", action="store_true",
                    help="add the I64 embeddings.position_ids buffer old checkpoints carry")
    ap.add_argument("--num-labels", type=int, default=0,
                    help="a cross-encoder (BertForSequenceClassification) with this many "
                         "labels: pooler + classifier, no sentence-transformers modules")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.num_labels:
        a.pooler, a.no_modules, a.pooling = True, True, "mean"

    if a.hidden % a.heads:
        sys.exit("make_test_model.py: --hidden must be a multiple of --heads")
    if a.no_modules and a.pooling != "mean":
        sys.exit("make_test_model.py: --no-modules means mean pooling")

    rng = np.random.default_rng(a.seed)
    vocab = make_vocab(a.vocab, a.hanzi)
    a.vocab_size = len(vocab)
    os.makedirs(a.out_dir, exist_ok=True)

    config = {
        "architectures": ["BertForSequenceClassification" if a.num_labels else "BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": a.hidden,
        "initializer_range": 0.02,
        "intermediate_size": a.intermediate,
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": a.max_pos,
        "model_type": "bert",
        "num_attention_heads": a.heads,
        "num_hidden_layers": a.layers,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.dtype],
        "type_vocab_size": 2,
        "vocab_size": a.vocab_size,
    }
    if a.num_labels:
        config["id2label"] = {str(i): "LABEL_%d" % i for i in range(a.num_labels)}
        config["label2id"] = {"LABEL_%d" % i: i for i in range(a.num_labels)}
    with open(os.path.join(a.out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    with open(os.path.join(a.out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    tok_config = {
        "do_lower_case": True,
        "tokenize_chinese_chars": True,
        "strip_accents": None,
        "model_max_length": a.max_pos,
        "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
        "unk_token": "[UNK]", "mask_token": "[MASK]",
        "tokenizer_class": "BertTokenizer",
    }
    with open(os.path.join(a.out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(tok_config, f, indent=2)
        f.write("\n")

    if not a.no_modules:
        modules = [{"idx": 0, "name": "0", "path": "",
                    "type": "sentence_transformers.models.Transformer"},
                   {"idx": 1, "name": "1", "path": "1_Pooling",
                    "type": "sentence_transformers.models.Pooling"}]
        if a.normalize:
            # Hub repositories have no 2_Normalize folder (git keeps no empty
            # folders), so neither do we: the modules.json entry is the signal.
            modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                            "type": "sentence_transformers.models.Normalize"})
        with open(os.path.join(a.out_dir, "modules.json"), "w") as f:
            json.dump(modules, f, indent=2)
            f.write("\n")
        os.makedirs(os.path.join(a.out_dir, "1_Pooling"), exist_ok=True)
        pooling = {"word_embedding_dimension": a.hidden,
                   "pooling_mode_cls_token": a.pooling == "cls",
                   "pooling_mode_mean_tokens": a.pooling == "mean",
                   "pooling_mode_max_tokens": False,
                   "pooling_mode_mean_sqrt_len_tokens": False}
        with open(os.path.join(a.out_dir, "1_Pooling", "config.json"), "w") as f:
            json.dump(pooling, f, indent=2)
            f.write("\n")

    tensors = []
    for name, arr in make_weights(a, rng):
        dt, raw = to_bytes(arr, a.dtype)
        # the head sits beside the encoder: "classifier.weight", not "bert.classifier..."
        prefix = "" if name.startswith("classifier.") else a.prefix
        tensors.append((prefix + name, dt, arr.shape, raw))
    if a.position_ids:
        ids = np.arange(a.max_pos, dtype="<i8").reshape(1, a.max_pos)
        tensors.insert(0, (a.prefix + "embeddings.position_ids", "I64", ids.shape, ids.tobytes()))
    write_safetensors(os.path.join(a.out_dir, "model.safetensors"), tensors,
                      {"format": "pt"})


if __name__ == "__main__":
    main()
