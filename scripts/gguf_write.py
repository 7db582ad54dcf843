#!/usr/bin/env python3
"""gguf_write.py - a small GGUF (v3) writer for tests, fixtures and benches.

Written from the GGUF description (llama.cpp's docs/gguf.md): little-endian
"GGUF", u32 version, u64 tensor count, u64 metadata count; metadata as
(string key, u32 value type, value); tensor descriptions as (string name,
u32 n_dims, u64 dims in ggml order with the contiguous one first, u32 ggml
type, u64 offset into the data area); the data area starts at the next
multiple of general.alignment. Strings are a u64 byte length and UTF-8 bytes.

Import it (sys.path.insert(0, "scripts")):

    w = GGUFWriter()
    w.add_str("general.architecture", "qwen2")
    w.add_u32("qwen2.block_count", 2)
    w.add_array("tokenizer.ggml.tokens", ["a", "b"], VAL_STRING)
    w.add_tensor_f32("token_embd.weight", array)     # numpy, (rows, cols)
    w.add_tensor("blk.0.attn_q.weight", raw_bytes, ne=[cols, rows], ttype=T_Q8_0)
    w.write("model.gguf")

Only the standard library is needed; numpy arrays are accepted where noted.
`python3 scripts/gguf_write.py --seeds DIR` writes the fuzz seed corpus.
"""
import struct
import sys

# metadata value types
VAL_U8, VAL_I8, VAL_U16, VAL_I16, VAL_U32, VAL_I32, VAL_F32, VAL_BOOL = range(8)
VAL_STRING, VAL_ARRAY, VAL_U64, VAL_I64, VAL_F64 = range(8, 13)

_SCALAR_FMT = {
    VAL_U8: "<B", VAL_I8: "<b", VAL_U16: "<H", VAL_I16: "<h", VAL_U32: "<I", VAL_I32: "<i",
    VAL_F32: "<f", VAL_BOOL: "<?", VAL_U64: "<Q", VAL_I64: "<q", VAL_F64: "<d",
}

# tensor (ggml) types and their blocks: (elements, bytes)
T_F32, T_F16, T_Q4_0, T_Q4_1 = 0, 1, 2, 3
T_Q5_0, T_Q5_1, T_Q8_0, T_Q8_1 = 6, 7, 8, 9
T_Q2_K, T_Q3_K, T_Q4_K, T_Q5_K, T_Q6_K, T_Q8_K = 10, 11, 12, 13, 14, 15
T_BF16 = 30
BLOCKS = {
    T_F32: (1, 4), T_F16: (1, 2), T_BF16: (1, 2), T_Q4_0: (32, 18), T_Q4_1: (32, 20),
    T_Q5_0: (32, 22), T_Q5_1: (32, 24), T_Q8_0: (32, 34), T_Q8_1: (32, 36),
    T_Q2_K: (256, 84), T_Q3_K: (256, 110), T_Q4_K: (256, 144), T_Q5_K: (256, 176),
    T_Q6_K: (256, 210), T_Q8_K: (256, 292),
}
TYPE_NAMES = {T_F32: "F32", T_F16: "F16", T_BF16: "BF16", T_Q4_0: "Q4_0", T_Q8_0: "Q8_0",
              T_Q4_K: "Q4_K", T_Q5_K: "Q5_K", T_Q6_K: "Q6_K"}


def _str(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _value(vtype, v):
    if vtype == VAL_STRING:
        return _str(v)
    return struct.pack(_SCALAR_FMT[vtype], v)


class GGUFWriter:
    """Collects metadata and tensors in order, then writes one file."""

    def __init__(self, alignment=32, version=3):
        self.version = version
        self.alignment = alignment
        self.kv = []       # (key, vtype, encoded value bytes)
        self.tensors = []  # (name, ne, ttype, data bytes)
        if alignment != 32:
            self.add_u32("general.alignment", alignment)

    # ---- metadata
    def add_scalar(self, key, value, vtype):
        self.kv.append((key, vtype, _value(vtype, value)))

    def add_u8(self, k, v): self.add_scalar(k, v, VAL_U8)
    def add_i8(self, k, v): self.add_scalar(k, v, VAL_I8)
    def add_u16(self, k, v): self.add_scalar(k, v, VAL_U16)
    def add_i16(self, k, v): self.add_scalar(k, v, VAL_I16)
    def add_u32(self, k, v): self.add_scalar(k, v, VAL_U32)
    def add_i32(self, k, v): self.add_scalar(k, v, VAL_I32)
    def add_u64(self, k, v): self.add_scalar(k, v, VAL_U64)
    def add_i64(self, k, v): self.add_scalar(k, v, VAL_I64)
    def add_f32(self, k, v): self.add_scalar(k, v, VAL_F32)
    def add_f64(self, k, v): self.add_scalar(k, v, VAL_F64)
    def add_bool(self, k, v): self.add_scalar(k, bool(v), VAL_BOOL)
    def add_str(self, k, v): self.add_scalar(k, v, VAL_STRING)

    def add_array(self, key, values, elem_type):
        body = struct.pack("<IQ", elem_type, len(values))
        if elem_type == VAL_STRING:
            body += b"".join(_str(v) for v in values)
        else:
            fmt = _SCALAR_FMT[elem_type]
            body += b"".join(struct.pack(fmt, v) for v in values)
        self.kv.append((key, VAL_ARRAY, body))

    # ---- tensors
    def add_tensor(self, name, data, ne, ttype):
        """data: the raw bytes of the tensor; ne: dims in ggml order."""
        be, bb = BLOCKS[ttype]
        n = 1
        for d in ne:
            n *= d
        if ne[0] % be or len(data) != n // be * bb:
            raise ValueError("%s: %d bytes do not fit ne=%s of type %d" % (name, len(data), ne, ttype))
        self.tensors.append((name, list(ne), ttype, data))

    def add_tensor_f32(self, name, arr):
        import numpy as np
        a = np.ascontiguousarray(arr, dtype="<f4")
        self.add_tensor(name, a.tobytes(), list(reversed(a.shape)), T_F32)

    def add_tensor_f16(self, name, arr):
        import numpy as np
        a = np.ascontiguousarray(arr, dtype="<f2")
        self.add_tensor(name, a.tobytes(), list(reversed(a.shape)), T_F16)

    def add_tensor_bf16(self, name, arr):
        """Rounds to nearest even, as converters do."""
        import numpy as np
        a = np.ascontiguousarray(arr, dtype="<f4")
        u = a.view("<u4").astype(np.uint64)
        u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")
        self.add_tensor(name, u.tobytes(), list(reversed(a.shape)), T_BF16)

    # ---- output
    def _chunks(self):
        head = bytearray(b"GGUF")
        head += struct.pack("<IQQ", self.version, len(self.tensors), len(self.kv))
        for key, vtype, body in self.kv:
            head += _str(key) + struct.pack("<I", vtype) + body
        offset = 0
        for name, ne, ttype, data in self.tensors:
            head += _str(name) + struct.pack("<I", len(ne))
            head += b"".join(struct.pack("<Q", d) for d in ne)
            head += struct.pack("<IQ", ttype, offset)
            offset += (len(data) + self.alignment - 1) // self.alignment * self.alignment
        head += b"\0" * (-len(head) % self.alignment)
        yield bytes(head)
        for name, ne, ttype, data in self.tensors:
            yield data
            yield b"\0" * (-len(data) % self.alignment)

    def to_bytes(self):
        return b"".join(self._chunks())

    def write(self, path):
        with open(path, "wb") as fp:
            for chunk in self._chunks():
                fp.write(chunk)


def write_seeds(d):
    """Small files covering every value type, string arrays, alignment and
    several tensor types: the fuzz harness's starting points."""
    import os
    os.makedirs(d, exist_ok=True)
    w = GGUFWriter()
    w.add_str("general.architecture", "llama")
    w.add_u8("t.u8", 200); w.add_i8("t.i8", -5); w.add_u16("t.u16", 60000)
    w.add_i16("t.i16", -300); w.add_u32("llama.block_count", 1); w.add_i32("t.i32", -7)
    w.add_f32("t.f32", 0.5); w.add_bool("t.bool", True); w.add_u64("t.u64", 1 << 40)
    w.add_i64("t.i64", -(1 << 40)); w.add_f64("t.f64", 1e-6)
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "\u4e2d", ""], VAL_STRING)
    w.add_array("tokenizer.ggml.scores", [0.0, -1.0, -2.0, 3.5], VAL_F32)
    w.add_array("tokenizer.ggml.token_type", [1, 1, 1, 3], VAL_I32)
    w.add_tensor("f32", struct.pack("<8f", *range(8)), [4, 2], T_F32)
    w.add_tensor("f16", b"\0\x3c" * 4, [4], T_F16)
    w.add_tensor("q8_0", b"\0\x3c" + bytes(range(32)), [32], T_Q8_0)
    w.add_tensor("q4_k", bytes(144), [256], T_Q4_K)
    w.write(os.path.join(d, "all-types.gguf"))
    w = GGUFWriter(alignment=64, version=2)
    w.add_str("general.name", "tiny")
    w.add_tensor("a", bytes(range(18)) * 2, [64], T_Q4_0)
    w.add_tensor("b", bytes(210), [256], T_Q6_K)
    w.write(os.path.join(d, "v2-align64.gguf"))
    GGUFWriter().write(os.path.join(d, "empty.gguf"))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--seeds":
        write_seeds(sys.argv[2])
    else:
        sys.exit("usage: gguf_write.py --seeds DIR")
