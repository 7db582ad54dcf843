#!/usr/bin/python3
"""embed_torch.py - the PyTorch baseline for bench/embed: the same BERT forward pass.

Loads a model folder written by scripts/make_test_model.py (config.json and
model.safetensors, read by hand so no transformers/safetensors package is
needed), runs a plain float32 PyTorch BERT (HF's layout: post-LN encoder
layers, erf GELU, additive attention mask) on BATCH full sequences of SEQ
tokens under inference_mode with torch.set_num_threads(THREADS), and prints
"key value" lines like bench/embed_bench.

With DEVICE "cuda" it runs on the GPU in FP16 (as docqa's CUDA backend
multiplies), or exits 1 when this PyTorch has no CUDA.

Usage: bench/embed_torch.py MODEL_DIR BATCH SEQ REPS [THREADS] [DEVICE]
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from bert_reference import read_safetensors as read_reference_tensors  # noqa: E402


def read_safetensors(path):
    """The reference reader's tensors, as float32 and without the "bert." prefix."""
    out = {}
    for name, t in read_reference_tensors(path).items():
        if t.is_floating_point():
            out[name[5:] if name.startswith("bert.") else name] = t.float()
    return out


def forward(cfg, w, ids, mask):
    H, NH = cfg["hidden_size"], cfg["num_attention_heads"]
    D, eps = H // NH, cfg.get("layer_norm_eps", 1e-12)
    B, L = ids.shape
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:L]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = F.layer_norm(x, (H,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min

    def lin(name, t):
        return F.linear(t, w[name + ".weight"], w[name + ".bias"])

    for i in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        q = lin(p + "attention.self.query", x).view(B, L, NH, D).transpose(1, 2)
        k = lin(p + "attention.self.key", x).view(B, L, NH, D).transpose(1, 2)
        v = lin(p + "attention.self.value", x).view(B, L, NH, D).transpose(1, 2)
        s = torch.matmul(q, k.transpose(-1, -2)) / (D ** 0.5) + ext
        ctx = torch.matmul(torch.softmax(s, dim=-1), v).transpose(1, 2).reshape(B, L, H)
        x = F.layer_norm(lin(p + "attention.output.dense", ctx) + x, (H,),
                         w[p + "attention.output.LayerNorm.weight"],
                         w[p + "attention.output.LayerNorm.bias"], eps)
        h = F.gelu(lin(p + "intermediate.dense", x))
        x = F.layer_norm(lin(p + "output.dense", h) + x, (H,), w[p + "output.LayerNorm.weight"],
                         w[p + "output.LayerNorm.bias"], eps)
    return F.normalize(x[:, 0], dim=-1)


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__.strip().splitlines()[-1])
    d, batch, seq, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    device = sys.argv[6] if len(sys.argv) > 6 else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("embed_torch: this PyTorch has no CUDA")
    torch.set_num_threads(threads)
    cfg = json.load(open(os.path.join(d, "config.json")))
    w = read_safetensors(os.path.join(d, "model.safetensors"))
    dtype = torch.float16 if device == "cuda" else torch.float32
    w = {k: v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device)
         for k, v in w.items()}
    rng = np.random.default_rng(12345)
    ids = torch.from_numpy(rng.integers(1, cfg["vocab_size"], (batch, seq))).to(device)
    mask = torch.ones(batch, seq, dtype=torch.long, device=device)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    with torch.inference_mode():
        forward(cfg, w, ids, mask)
        sync()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            forward(cfg, w, ids, mask)
            sync()
            times.append(time.perf_counter() - t0)
    tokens = batch * seq
    print("mode torch-%s" % ("fp16-cuda" if device == "cuda" else "fp32"))
    print("torch_version %s" % torch.__version__)
    print("tokens_per_s %.1f" % (tokens * reps / sum(times)))
    print("best_tokens_per_s %.1f" % (tokens / min(times)))


if __name__ == "__main__":
    main()
