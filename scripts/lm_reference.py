#!/usr/bin/python3
"""lm_reference.py - random-weight GGUF decoder models and an independent
float64 reference forward pass that reads them back.

Run with /usr/bin/python3 (Debian's numpy). Written from the GGUF and ggml
block descriptions and the papers (RMSNorm: Zhang & Sennrich 2019; RoPE: Su
et al. 2021, rotating adjacent pairs, and GPT-NeoX's rotation of halves;
grouped-query attention: Ainslie et al. 2023; SwiGLU: Shazeer 2020), not from
docqa's C. Keys and values are rounded to F16 as they enter the cache, the
cache type llama.cpp and docqa use. tests/test_lm.c runs it at test time:

  lm_reference.py make --arch qwen2 --type Q4_K [--seed N] [--tied] [--rope-keys] DIR
      writes DIR/model.gguf, DIR/tokens.txt (a prompt of 8 and 32 more tokens),
      DIR/logits.f32 (float32 logits after each of those 40 tokens, from the
      reference on the file's dequantized weights, keys and values rounded to
      F16), DIR/logits_kv32.f32 (the same with a float cache; not with
      --greedy 0), DIR/greedy.txt (the 8 prompt tokens then 64 greedy tokens,
      float cache), with --split N the same model cut in N parts as gguf-split
      cuts it (DIR/split-00001-of-0000N.gguf, ...) and, for quantized types,
      DIR/dequant.f32 (blk.0.attn_q.weight dequantized as float32).
  lm_reference.py bench --shape qwen2.5-0.5b --type Q8_0 FILE
      writes a random-weight model of a real model's shapes (for bench/lm).
"""
import argparse
import gzip
import math
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_write as gw  # noqa: E402

TYPES = {"F32": gw.T_F32, "F16": gw.T_F16, "BF16": gw.T_BF16, "Q8_0": gw.T_Q8_0,
         "Q4_0": gw.T_Q4_0, "Q4_K": gw.T_Q4_K, "Q5_K": gw.T_Q5_K, "Q6_K": gw.T_Q6_K}

# ---------------------------------------------------------------- random blocks


def f16_bytes(v):
    return np.asarray(v, dtype="<f2").tobytes()


def random_quant(rng, ttype, rows, cols, std):
    """Random but valid blocks whose values have roughly the given std."""
    be, bb = gw.BLOCKS[ttype]
    nblk = rows * cols // be

    def half(v):
        return np.asarray(v, dtype="<f2").view(np.uint8).reshape(nblk, 2)

    def byts(n, lo=0, hi=256):
        return rng.integers(lo, hi, (nblk, n), dtype=np.int16).astype(np.uint8)

    u = rng.uniform(0.5, 1.5, nblk).astype(np.float32)
    if ttype == gw.T_Q5_0:  # not computed with: random bytes behind a valid scale
        parts = [half(u * std / 16), byts(20)]
    elif ttype == gw.T_Q8_0:
        parts = [half(u * std / 73), byts(32, -127, 128)]
    elif ttype == gw.T_Q4_0:
        parts = [half(u * std / 4.6), byts(16)]
    elif ttype in (gw.T_Q4_K, gw.T_Q5_K):
        five = ttype == gw.T_Q5_K
        qmean = 15.5 if five else 7.5
        d = (u * std / (31 * qmean * 0.6)).astype("<f2")
        parts = [half(d), half(d.astype(np.float32) * qmean), byts(12)]
        parts += [byts(32)] if five else []
        parts += [byts(128)]
    elif ttype == gw.T_Q6_K:
        parts = [byts(192), byts(16, -64, 65), half(u * std / (37 * 18))]
    out = np.concatenate(parts, axis=1)
    assert out.shape == (nblk, bb)
    return out.tobytes()


# ------------------------------------------------- an independent GGUF reader


class Reader:
    """Parses a GGUF file: metadata dict and tensors (name -> (ttype, ne, bytes))."""

    SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
               10: "<Q", 11: "<q", 12: "<d"}

    def __init__(self, path):
        self.buf = open(path, "rb").read()
        self.pos = 0
        assert self.take(4) == b"GGUF"
        version, n_t, n_kv = struct.unpack("<IQQ", self.take(20))
        assert version in (2, 3)
        self.kv = {}
        for _ in range(n_kv):
            key = self.string()
            self.kv[key] = self.value(self.u32())
        infos = []
        for _ in range(n_t):
            name = self.string()
            n_dims = self.u32()
            ne = list(struct.unpack("<%dQ" % n_dims, self.take(8 * n_dims)))
            ttype = self.u32()
            off = struct.unpack("<Q", self.take(8))[0]
            infos.append((name, ne, ttype, off))
        align = self.kv.get("general.alignment", 32)
        start = (self.pos + align - 1) // align * align
        self.tensors = {}
        for name, ne, ttype, off in infos:
            be, bb = gw.BLOCKS[ttype]
            n = int(np.prod(ne))
            self.tensors[name] = (ttype, ne, self.buf[start + off:start + off + n // be * bb])

    def take(self, n):
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def string(self):
        n = struct.unpack("<Q", self.take(8))[0]
        return self.take(n).decode("utf-8")

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et = self.u32()
            n = struct.unpack("<Q", self.take(8))[0]
            return [self.value(et) for _ in range(n)]
        fmt = self.SCALARS[t]
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def matrix(self, name):
        """float32 (rows, cols) in numpy order, dequantized as the format says."""
        ttype, ne, raw = self.tensors[name]
        cols = ne[0]
        rows = int(np.prod(ne)) // cols
        return dequantize(ttype, raw, rows * cols).reshape(rows, cols) if len(ne) > 1 else \
            dequantize(ttype, raw, cols)


# ---------------------------------------------------- dequantization (float32)

def dequantize(ttype, raw, n):
    """Each value as float32 arithmetic computes it from the block fields:
    products and differences rounded to float32 one operation at a time."""
    b = np.frombuffer(raw, dtype=np.uint8)
    f32 = np.float32
    if ttype == gw.T_F32:
        return np.frombuffer(raw, dtype="<f4").astype(f32)
    if ttype == gw.T_F16:
        return np.frombuffer(raw, dtype="<f2").astype(f32)
    if ttype == gw.T_BF16:
        u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return u.view(np.float32)
    if ttype == gw.T_Q8_0:
        blk = b.reshape(-1, 34)
        d = blk[:, :2].copy().view("<f2").astype(f32)
        q = blk[:, 2:].view(np.int8).astype(f32)
        return (d * q).reshape(-1)
    if ttype == gw.T_Q4_0:
        blk = b.reshape(-1, 18)
        d = blk[:, :2].copy().view("<f2").astype(f32)
        qs = blk[:, 2:]
        q = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.int32) - 8
        return (d * q.astype(f32)).reshape(-1)
    if ttype in (gw.T_Q4_K, gw.T_Q5_K):
        five = ttype == gw.T_Q5_K
        blk = b.reshape(-1, 176 if five else 144)
        d = blk[:, 0:2].copy().view("<f2").astype(f32)
        dmin = blk[:, 2:4].copy().view("<f2").astype(f32)
        s = blk[:, 4:16].astype(np.int32)
        # 8 six-bit scales and mins: sub-blocks 0-3 in bytes 0-3 / 4-7 (low 6 bits);
        # 4-7 in the nibbles of bytes 8-11, top bits from the top of bytes 0-3 / 4-7
        sc = np.concatenate([s[:, 0:4] & 63, (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)], axis=1)
        mn = np.concatenate([s[:, 4:8] & 63, (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)], axis=1)
        qs = blk[:, 48:176] if five else blk[:, 16:144]
        qh = blk[:, 16:48] if five else None
        out = np.empty((blk.shape[0], 256), dtype=f32)
        for j in range(8):
            chunk = qs[:, 32 * (j // 2):32 * (j // 2) + 32].astype(np.int32)
            q = (chunk >> 4) if j & 1 else (chunk & 15)
            if five:
                q = q + (((qh.astype(np.int32) >> j) & 1) << 4)
            dl = d * sc[:, j:j + 1].astype(f32)
            ml = dmin * mn[:, j:j + 1].astype(f32)
            out[:, 32 * j:32 * j + 32] = dl * q.astype(f32) - ml
        return out.reshape(-1)
    if ttype == gw.T_Q6_K:
        blk = b.reshape(-1, 210)
        ql = blk[:, 0:128].astype(np.int32)
        qh = blk[:, 128:192].astype(np.int32)
        sc = blk[:, 192:208].view(np.int8).astype(f32)
        d = blk[:, 208:210].copy().view("<f2").astype(f32)
        out = np.empty((blk.shape[0], 256), dtype=f32)
        for h in range(2):
            for g in range(4):
                lo = ql[:, 64 * h + 32 * (g & 1):64 * h + 32 * (g & 1) + 32]
                lo = (lo & 15) if g < 2 else (lo >> 4)
                hi = (qh[:, 32 * h:32 * h + 32] >> (2 * g)) & 3
                q = (lo | (hi << 4)) - 32
                for half in range(2):
                    s = sc[:, 8 * h + 2 * g + half:8 * h + 2 * g + half + 1]
                    cols = slice(128 * h + 32 * g + 16 * half, 128 * h + 32 * g + 16 * half + 16)
                    out[:, cols] = (d * s) * q[:, 16 * half:16 * half + 16].astype(f32)
        return out.reshape(-1)
    raise ValueError("type %d" % ttype)


# ------------------------------------------------------- the reference forward


class Model:
    def __init__(self, path):
        r = Reader(path)
        kv = r.kv
        self.arch = a = kv["general.architecture"]
        self.n_layer = kv[a + ".block_count"]
        self.E = kv[a + ".embedding_length"]
        self.n_head = kv[a + ".attention.head_count"]
        self.n_kv = kv.get(a + ".attention.head_count_kv", self.n_head)
        self.hd = kv.get(a + ".attention.key_length", self.E // self.n_head)
        self.eps = kv.get(a + ".attention.layer_norm_rms_epsilon", 1e-5)
        self.base = kv.get(a + ".rope.freq_base", 10000.0)
        self.neox = a in ("qwen2", "qwen3")
        self.kv_f16 = True
        m = lambda n: r.matrix(n).astype(np.float64)  # noqa: E731
        self.emb = m("token_embd.weight")
        self.out = m("output.weight") if "output.weight" in r.tensors else self.emb
        self.out_norm = m("output_norm.weight")
        half = self.hd // 2
        inv = np.array([self.base ** (-2.0 * i / self.hd) for i in range(half)])
        if "rope_freqs.weight" in r.tensors:
            inv = inv / m("rope_freqs.weight")
        elif kv.get(a + ".rope.scaling.type") == "llama3":
            inv = llama3_scale(inv, kv[a + ".rope.scaling.factor"],
                               kv[a + ".rope.scaling.low_freq_factor"],
                               kv[a + ".rope.scaling.high_freq_factor"],
                               kv[a + ".rope.scaling.original_context_length"])
        self.inv_freq = inv
        self.layers = []
        for i in range(self.n_layer):
            p = "blk.%d." % i
            get = lambda n: m(p + n) if p + n in r.tensors else None  # noqa: E731
            self.layers.append({k: get(k) for k in (
                "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
                "attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_q_norm.weight",
                "attn_k_norm.weight", "attn_output.weight", "ffn_norm.weight",
                "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight")})
        self.reader = r

    def rms(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

    def rope(self, x, pos):
        """x (T, heads, hd): rotate each pair of coordinates by pos * freq."""
        ang = np.outer(pos, self.inv_freq)[:, None, :]
        cos, sin = np.cos(ang), np.sin(ang)
        half = self.hd // 2
        if self.neox:
            a, b = x[..., :half], x[..., half:]
        else:
            a, b = x[..., 0::2], x[..., 1::2]
        ra, rb = a * cos - b * sin, a * sin + b * cos
        out = np.empty_like(x)
        if self.neox:
            out[..., :half], out[..., half:] = ra, rb
        else:
            out[..., 0::2], out[..., 1::2] = ra, rb
        return out

    def logits(self, tokens):
        """Causal forward over all tokens; (T, vocab) float64."""
        T = len(tokens)
        x = self.emb[np.asarray(tokens)]
        pos = np.arange(T, dtype=np.float64)
        group = self.n_head // self.n_kv
        mask = np.triu(np.full((T, T), -np.inf), 1)
        for L in self.layers:
            h = self.rms(x, L["attn_norm.weight"])
            q, k, v = h @ L["attn_q.weight"].T, h @ L["attn_k.weight"].T, h @ L["attn_v.weight"].T
            if L["attn_q.bias"] is not None:
                q, k, v = q + L["attn_q.bias"], k + L["attn_k.bias"], v + L["attn_v.bias"]
            q = q.reshape(T, self.n_head, self.hd)
            k = k.reshape(T, self.n_kv, self.hd)
            v = v.reshape(T, self.n_kv, self.hd)
            if L["attn_q_norm.weight"] is not None:
                q, k = self.rms(q, L["attn_q_norm.weight"]), self.rms(k, L["attn_k_norm.weight"])
            q, k = self.rope(q, pos), self.rope(k, pos)
            # The cache holds keys and values in IEEE half precision (GGUF's
            # F16, llama.cpp's default cache type): attention reads them rounded.
            if self.kv_f16:
                k, v = f16_round(k), f16_round(v)
            att = np.empty((T, self.n_head, self.hd))
            for hh in range(self.n_head):
                g = hh // group
                s = q[:, hh, :] @ k[:, g, :].T / math.sqrt(self.hd) + mask
                s = np.exp(s - s.max(axis=1, keepdims=True))
                s /= s.sum(axis=1, keepdims=True)
                att[:, hh, :] = s @ v[:, g, :]
            x = x + att.reshape(T, -1) @ L["attn_output.weight"].T
            h = self.rms(x, L["ffn_norm.weight"])
            g_ = h @ L["ffn_gate.weight"].T
            u = h @ L["ffn_up.weight"].T
            x = x + (g_ / (1 + np.exp(-g_)) * u) @ L["ffn_down.weight"].T
        return self.rms(x, self.out_norm) @ self.out.T

    def greedy(self, prompt, n):
        toks = list(prompt)
        for _ in range(n):
            toks.append(int(np.argmax(self.logits(toks)[-1])))
        return toks


def f16_round(x):
    """x rounded to IEEE binary16 (nearest, ties to even), back in float64."""
    return x.astype(np.float16).astype(np.float64)


def llama3_scale(inv, factor, low, high, orig):
    """Meta's Llama 3.1 frequency scaling: long wavelengths slowed by factor,
    short ones kept, the band between interpolated."""
    out = []
    for f in inv:
        wave = 2 * math.pi / f
        if wave < orig / high:
            out.append(f)
        elif wave > orig / low:
            out.append(f / factor)
        else:
            smooth = (orig / wave - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return np.array(out)


# ---------------------------------------------------------------- the writers

def write_split(w, prefix, n):
    """What llama.cpp's gguf-split writes: prefix-0000i-of-0000n.gguf, the
    tensors in n runs, the first part with all the metadata, each part with
    split.no / split.count (u16) and the first with split.tensors.count (i32)."""
    per = (len(w.tensors) + n - 1) // n
    for i in range(n):
        part = gw.GGUFWriter(alignment=w.alignment, version=w.version)
        if i == 0:
            part.kv = list(w.kv)
        part.add_u16("split.no", i)
        part.add_u16("split.count", n)
        if i == 0:
            part.add_i32("split.tensors.count", len(w.tensors))
        part.tensors = w.tensors[i * per:(i + 1) * per]
        part.write("%s-%05d-of-%05d.gguf" % (prefix, i + 1, n))


def write_model(path, arch, ttype, shape, seed, tied=False, rope_keys=False, arch_name=None,
                vocab=None):
    rng = np.random.default_rng(seed)
    E, F, L, V = shape["embd"], shape["ff"], shape["layers"], shape["vocab"]
    nh, nkv, hd = shape["heads"], shape["kv_heads"], shape["head_dim"]
    w = gw.GGUFWriter()
    w.add_str("general.architecture", arch_name or arch)
    if vocab:
        V = copy_vocab(w, vocab, V)
    w.add_str("general.name", "random %s %s" % (arch, gw.TYPE_NAMES.get(ttype, "?")))
    w.add_u32(arch + ".block_count", L)
    w.add_u32(arch + ".context_length", shape.get("ctx", 4096))
    w.add_u32(arch + ".embedding_length", E)
    w.add_u32(arch + ".feed_forward_length", F)
    w.add_u32(arch + ".attention.head_count", nh)
    w.add_u32(arch + ".attention.head_count_kv", nkv)
    if hd != E // nh:
        w.add_u32(arch + ".attention.key_length", hd)
        w.add_u32(arch + ".attention.value_length", hd)
    w.add_f32(arch + ".rope.freq_base", shape.get("rope_base", 1000000.0))
    w.add_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-6)
    w.add_u32("general.file_type", 0)
    llama3 = arch == "llama"
    if llama3:
        scal = dict(factor=8.0, low=1.0, high=4.0, orig=64)
        if rope_keys:
            w.add_str(arch + ".rope.scaling.type", "llama3")
            w.add_f32(arch + ".rope.scaling.factor", scal["factor"])
            w.add_f32(arch + ".rope.scaling.low_freq_factor", scal["low"])
            w.add_f32(arch + ".rope.scaling.high_freq_factor", scal["high"])
            w.add_u32(arch + ".rope.scaling.original_context_length", scal["orig"])

    def mat(name, rows, cols, std, t=ttype):
        if t in (gw.T_F32, gw.T_F16, gw.T_BF16):
            a = rng.standard_normal((rows, cols)) * std
            {gw.T_F32: w.add_tensor_f32, gw.T_F16: w.add_tensor_f16,
             gw.T_BF16: w.add_tensor_bf16}[t](name, a)
        else:
            w.add_tensor(name, random_quant(rng, t, rows, cols, std), [cols, rows], t)

    def vec(name, n, mean, std):
        w.add_tensor_f32(name, mean + rng.standard_normal(n) * std)

    mat("token_embd.weight", V, E, 1.0)
    if llama3 and not rope_keys:
        # what llama.cpp's converter stores for Llama 3.1+: a divisor per frequency
        inv = np.array([shape.get("rope_base", 1000000.0) ** (-2.0 * i / hd) for i in range(hd // 2)])
        scaled = llama3_scale(inv, 8.0, 1.0, 4.0, 64)
        w.add_tensor_f32("rope_freqs.weight", (inv / scaled).astype(np.float32))
    for i in range(L):
        p = "blk.%d." % i
        vec(p + "attn_norm.weight", E, 1.0, 0.1)
        mat(p + "attn_q.weight", nh * hd, E, 1 / math.sqrt(E))
        mat(p + "attn_k.weight", nkv * hd, E, 1 / math.sqrt(E))
        mat(p + "attn_v.weight", nkv * hd, E, 1 / math.sqrt(E))
        if arch == "qwen2":
            vec(p + "attn_q.bias", nh * hd, 0, 0.1)
            vec(p + "attn_k.bias", nkv * hd, 0, 0.1)
            vec(p + "attn_v.bias", nkv * hd, 0, 0.1)
        if arch == "qwen3":
            vec(p + "attn_q_norm.weight", hd, 1.0, 0.1)
            vec(p + "attn_k_norm.weight", hd, 1.0, 0.1)
        mat(p + "attn_output.weight", E, nh * hd, 1 / math.sqrt(nh * hd))
        vec(p + "ffn_norm.weight", E, 1.0, 0.1)
        mat(p + "ffn_gate.weight", F, E, 1 / math.sqrt(E))
        mat(p + "ffn_up.weight", F, E, 1 / math.sqrt(E))
        mat(p + "ffn_down.weight", E, F, 1 / math.sqrt(F))
    vec("output_norm.weight", E, 1.0, 0.1)
    if not tied:
        mat("output.weight", V, E, 1 / math.sqrt(E))
    w.write(path)
    return w


TINY = dict(embd=256, ff=512, layers=2, vocab=320, heads=4, kv_heads=2, head_dim=64,
            rope_base=10000.0)
# Qwen2.5's published configurations (config.json)
SHAPES = {
    "qwen2.5-0.5b": dict(embd=896, ff=4864, layers=24, vocab=151936, heads=14, kv_heads=2,
                         head_dim=64, ctx=32768),
    "qwen2.5-1.5b": dict(embd=1536, ff=8960, layers=28, vocab=151936, heads=12, kv_heads=2,
                         head_dim=128, ctx=32768),
}


def cmd_make(a):
    os.makedirs(a.dir, exist_ok=True)
    shape = dict(TINY)
    if a.arch == "qwen3":
        shape["head_dim"] = 128  # qwen3's head_dim differs from embd / heads
    ttype = TYPES.get(a.type, gw.T_Q5_0)
    path = os.path.join(a.dir, "model.gguf")
    w = write_model(path, a.arch, TYPES.get(a.type, gw.T_Q5_0), shape, a.seed, tied=a.tied,
                    rope_keys=a.rope_keys, arch_name=a.arch_name)
    if a.split:
        write_split(w, os.path.join(a.dir, "split"), a.split)
    if a.arch_name or a.type not in TYPES:
        return  # a file for an error test: no reference
    model = Model(path)
    rng = np.random.default_rng(a.seed + 1)
    toks = [int(t) for t in rng.integers(0, shape["vocab"], 40)]
    with open(os.path.join(a.dir, "tokens.txt"), "w") as fp:
        fp.write(" ".join(map(str, toks)) + "\n")
    model.logits(toks).astype("<f4").tofile(os.path.join(a.dir, "logits.f32"))
    model.kv_f16 = False
    if a.greedy:
        model.logits(toks).astype("<f4").tofile(os.path.join(a.dir, "logits_kv32.f32"))
    with open(os.path.join(a.dir, "greedy.txt"), "w") as fp:
        fp.write(" ".join(map(str, model.greedy(toks[:8], a.greedy))) + "\n")
    if ttype not in (gw.T_F32, gw.T_F16, gw.T_BF16):
        model.reader.matrix("blk.0.attn_q.weight").astype("<f4").tofile(
            os.path.join(a.dir, "dequant.f32"))


def cmd_bench(a):
    """Q4_K_M's mix as llama.cpp makes it: Q6_K for the output head and for
    attn_v / ffn_down of some layers, Q4_K elsewhere."""
    shape = SHAPES[a.shape]
    if a.type == "Q4_K_M":
        write_mixed(a.file, shape, a.seed, a.vocab)
    else:
        write_model(a.file, "qwen2", TYPES[a.type], shape, a.seed, tied=True, vocab=a.vocab)


def copy_vocab(w, path, n_vocab):
    """Copies the tokenizer.* keys of a vocabulary GGUF (gzipped or not, e.g.
    tests/fixtures/bpe/qwen3-vocab.gguf.gz) into writer w, the token list
    padded to n_vocab as llama.cpp's converter pads Qwen's (unused tokens);
    returns the vocabulary size to use: max(n_vocab, its tokens)."""
    data = open(path, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    n_tokens = 0
    r = Reader.__new__(Reader)
    r.buf, r.pos = data, 0
    assert r.take(4) == b"GGUF"
    _, _, n_kv = struct.unpack("<IQQ", r.take(20))
    for _ in range(n_kv):
        key = r.string()
        t = r.u32()
        if t == 9:
            et = r.u32()
            n = struct.unpack("<Q", r.take(8))[0]
            val = [r.value(et) for _ in range(n)]
        else:
            et, val = None, r.value(t)
        if not key.startswith("tokenizer."):
            continue
        if key == "tokenizer.ggml.tokens":
            n_tokens = len(val)
        if key in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type") and len(val) < n_vocab:
            pad = n_vocab - len(val)
            val = val + (["[PAD%d]" % (len(val) + i) for i in range(pad)]
                         if key.endswith("tokens") else [5] * pad)
        if et is not None:
            w.add_array(key, val, et)
        else:
            w.add_scalar(key, val, t)
    return max(n_vocab, n_tokens)


def cmd_chat(a):
    """A tiny random-weight chat model carrying a real vocabulary and chat
    template: for docqa's end-to-end tests of ask, chat, serve, eval and generate."""
    shape = dict(TINY)
    shape["embd"], shape["ff"], shape["head_dim"] = 64, 128, 16
    write_model(a.file, a.arch, TYPES[a.type], shape, a.seed, tied=True, vocab=a.vocab)


def write_mixed(path, shape, seed, vocab=None):
    rng = np.random.default_rng(seed)
    E, F, L, V = shape["embd"], shape["ff"], shape["layers"], shape["vocab"]
    nh, nkv, hd = shape["heads"], shape["kv_heads"], shape["head_dim"]
    w = gw.GGUFWriter()
    a = "qwen2"
    w.add_str("general.architecture", a)
    w.add_str("general.name", "random qwen2 Q4_K_M")
    if vocab:
        V = copy_vocab(w, vocab, V)
    for k, v in (("block_count", L), ("context_length", shape["ctx"]), ("embedding_length", E),
                 ("feed_forward_length", F), ("attention.head_count", nh),
                 ("attention.head_count_kv", nkv)):
        w.add_u32(a + "." + k, v)
    w.add_f32(a + ".rope.freq_base", 1000000.0)
    w.add_f32(a + ".attention.layer_norm_rms_epsilon", 1e-6)

    def mat(name, rows, cols, t):
        w.add_tensor(name, random_quant(rng, t, rows, cols, 1 / math.sqrt(cols)), [cols, rows], t)

    def vec(name, n, mean, std):
        w.add_tensor_f32(name, mean + rng.standard_normal(n) * std)

    mat("token_embd.weight", V, E, gw.T_Q6_K)
    for i in range(L):
        p = "blk.%d." % i
        hi = i < L // 8 or i >= 7 * L // 8 or (i - L // 8) % 3 == 2  # use_more_bits
        vec(p + "attn_norm.weight", E, 1.0, 0.1)
        mat(p + "attn_q.weight", nh * hd, E, gw.T_Q4_K)
        mat(p + "attn_k.weight", nkv * hd, E, gw.T_Q4_K)
        mat(p + "attn_v.weight", nkv * hd, E, gw.T_Q6_K if hi else gw.T_Q4_K)
        vec(p + "attn_q.bias", nh * hd, 0, 0.1)
        vec(p + "attn_k.bias", nkv * hd, 0, 0.1)
        vec(p + "attn_v.bias", nkv * hd, 0, 0.1)
        mat(p + "attn_output.weight", E, nh * hd, gw.T_Q4_K)
        vec(p + "ffn_norm.weight", E, 1.0, 0.1)
        mat(p + "ffn_gate.weight", F, E, gw.T_Q4_K)
        mat(p + "ffn_up.weight", F, E, gw.T_Q4_K)
        mat(p + "ffn_down.weight", E, F, gw.T_Q6_K if hi else gw.T_Q4_K)
    vec("output_norm.weight", E, 1.0, 0.1)
    w.write(path)


def cmd_huge(a):
    """A sparse llama file whose embedding alone takes 256 GB: for the
    'larger than memory' refusal (the data is never written)."""
    E, V = 65536, 1 << 20
    w = gw.GGUFWriter()
    w.add_str("general.architecture", "llama")
    for k, v in (("block_count", 1), ("embedding_length", E), ("feed_forward_length", 256),
                 ("attention.head_count", 256)):
        w.add_u32("llama." + k, v)
    w.tensors.append(("token_embd.weight", [E, V], gw.T_F32, b""))
    head = next(w._chunks())
    with open(a.file, "wb") as fp:
        fp.write(head)
        fp.truncate(len(head) + E * V * 4)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--arch", required=True, choices=["qwen2", "qwen3", "llama"])
    m.add_argument("--type", required=True, choices=sorted(TYPES) + ["Q5_0"])
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--greedy", type=int, default=64)
    m.add_argument("--tied", action="store_true")
    m.add_argument("--rope-keys", action="store_true")
    m.add_argument("--arch-name", help="write this general.architecture instead (no reference)")
    m.add_argument("--split", type=int, default=0,
                   help="also write the model as DIR/split-0000i-of-0000N.gguf, as gguf-split does")
    m.add_argument("dir")
    b = sub.add_parser("bench")
    b.add_argument("--shape", required=True, choices=sorted(SHAPES))
    b.add_argument("--type", required=True, choices=["Q8_0", "Q4_K_M", "F32"])
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--vocab", help="copy this vocabulary GGUF's tokenizer (tests/fixtures/bpe)")
    b.add_argument("file")
    c = sub.add_parser("chat")
    c.add_argument("--arch", default="qwen2", choices=["qwen2", "qwen3", "llama"])
    c.add_argument("--type", default="Q8_0", choices=sorted(TYPES))
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--vocab", required=True)
    c.add_argument("file")
    h = sub.add_parser("huge")
    h.add_argument("file")
    a = ap.parse_args()
    {"make": cmd_make, "bench": cmd_bench, "chat": cmd_chat, "huge": cmd_huge}[a.cmd](a)


if __name__ == "__main__":
    main()
