#!/usr/bin/python3
"""lm_torch.py - the PyTorch FP32 baseline for bench/lm: prefill of a Qwen2
decoder of the same shapes as the GGUF files bench/lm times.

Random float32 weights of the shape's sizes (the values do not change the
time), the same forward pass docqa runs (RMSNorm, q/k/v with biases, NeoX
RoPE, grouped-query attention with a causal mask (Debian's torch 1.13 has no
scaled_dot_product_attention), SwiGLU), logits of the last token only, under inference_mode
with torch.set_num_threads(THREADS). Prints "key value" lines like lm_bench.

Usage: bench/lm_torch.py SHAPE TOKENS THREADS   (SHAPE: qwen2.5-0.5b, qwen2.5-1.5b)
"""
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from lm_reference import SHAPES  # noqa: E402


def main():
    shape, tokens, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    s = SHAPES[shape]
    E, Fd, L, V = s["embd"], s["ff"], s["layers"], s["vocab"]
    nh, nkv, hd = s["heads"], s["kv_heads"], s["head_dim"]
    g = torch.Generator().manual_seed(1)

    def rnd(*size):
        return torch.randn(*size, generator=g) * 0.02

    emb = rnd(V, E)
    layers = [dict(q=rnd(nh * hd, E), bq=rnd(nh * hd), k=rnd(nkv * hd, E), bk=rnd(nkv * hd),
                   v=rnd(nkv * hd, E), bv=rnd(nkv * hd), o=rnd(E, nh * hd), gate=rnd(Fd, E),
                   up=rnd(Fd, E), down=rnd(E, Fd), n1=torch.ones(E), n2=torch.ones(E))
              for _ in range(L)]
    norm = torch.ones(E)
    inv = 1.0 / (1000000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w

    def rope(x, cos, sin):
        a, b = x[..., : hd // 2], x[..., hd // 2:]
        return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)

    def forward(ids):
        T = ids.shape[0]
        ang = torch.outer(torch.arange(T, dtype=torch.float32), inv)
        cos, sin = ang.cos()[None], ang.sin()[None]
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = emb[ids]
        for ly in layers:
            h = rms(x, ly["n1"])
            q = F.linear(h, ly["q"], ly["bq"]).view(T, nh, hd).transpose(0, 1)
            k = F.linear(h, ly["k"], ly["bk"]).view(T, nkv, hd).transpose(0, 1)
            v = F.linear(h, ly["v"], ly["bv"]).view(T, nkv, hd).transpose(0, 1)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            k = k.repeat_interleave(nh // nkv, dim=0)
            v = v.repeat_interleave(nh // nkv, dim=0)
            a = torch.softmax(q @ k.transpose(1, 2) / hd ** 0.5 + mask, dim=-1) @ v
            x = x + F.linear(a.transpose(0, 1).reshape(T, nh * hd), ly["o"])
            h = rms(x, ly["n2"])
            x = x + F.linear(F.silu(F.linear(h, ly["gate"])) * F.linear(h, ly["up"]), ly["down"])
        return F.linear(rms(x[-1:], norm), emb)

    ids = torch.randint(0, V, (tokens,), generator=g)
    with torch.inference_mode():
        forward(ids[:16])  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        forward(ids)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
    print("prefill_tokens_per_s %.1f" % (tokens / dt))
    print("prefill_tokens_per_cpu_s %.2f" % (tokens / dc))
    print("seconds %.2f" % dt)


if __name__ == "__main__":
    main()
