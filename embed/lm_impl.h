/* lm_impl.h - private to embed/: the LLM engine's tensor kernels and model
 * structs, shared by lm_quant.c, lm_qdot.c, lm_model.c, lm_attn.c and lm_forward.c.
 *
 * A weight matrix stays in the mapped GGUF file in its own type. Products
 * against a quantized matrix quantize the activations to int8 in blocks of
 * 32 (a float scale per block, and the scaled sum of every 16 values), so
 * each weight block of 32 reduces to integer dot products of unsigned 8-bit
 * weight codes with signed 8-bit activations: w = a * q + c, with a and c
 * per 16 values. Float matrices (F32, F16, BF16) multiply float activations.
 */
#ifndef DQ_EMBED_LM_IMPL_H
#define DQ_EMBED_LM_IMPL_H

#include "embed/gguf.h"
#include "embed/kernels.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- instruction sets ------------------------------------------------------ */

/* Each level includes the ones below; LM_ISA_BF16 is LM_ISA_VNNI with
 * AVX512_BF16's vdpbf16ps, which only attention uses (lm_attn.c). */
enum { LM_ISA_SCALAR = 0, LM_ISA_AVX2 = 1, LM_ISA_VNNI = 2, LM_ISA_BF16 = 3 };
int lm_isa_detect(void);
/* Starts at lm_isa_detect(); tests lower it to compare paths. Clamped to the
 * CPU; not thread-safe. */
int lm_isa_get(void);
void lm_isa_set(int level);

/* ---- types ------------------------------------------------------------------- */

bool lm_type_supported(gguf_type t);
bool lm_type_quantized(gguf_type t); /* one of Q8_0, Q4_0, Q4_K, Q5_K, Q6_K */
float lm_f16_to_f32(uint16_t h);
float lm_bf16_to_f32(uint16_t h);

/* The scalar reference dequantization of n values (n a multiple of the
 * type's block), computed in float as the format defines it. */
void lm_dequant_row(gguf_type t, const void *row, float *out, int64_t n);

/* ---- the KV cache's F16 and BF16 rows (lm_kv.c) -------------------------------- */

/* Round to nearest even, as F16C's vcvtps2ph; nan stays nan, overflow is inf. */
uint16_t lm_f32_to_f16(float f);
/* n floats into the cache; F16C at LM_ISA_AVX2 and up, the same bits. */
void lm_f16_store(const float *x, uint16_t *out, int n);
/* rows x cols halves, rows ld apart, into out (rows, cols). */
void lm_f16_load_rows(const uint16_t *h, size_t ld, int rows, int cols, float *out);
/* bfloat16: round to nearest even (subnormals kept, unlike vcvtneps2bf16's
 * flush); nan stays nan, overflow is inf. */
uint16_t lm_f32_to_bf16(float f);
void lm_bf16_store(const float *x, uint16_t *out, int n);
void lm_bf16_load_rows(const uint16_t *h, size_t ld, int rows, int cols, float *out);

/* ---- attention (lm_attn.c) ---------------------------------------------------- */

/* One layer's causal grouped-query attention for a micro-batch of m queries
 * at positions p0.., whose keys and values are in the cache already. */
typedef struct {
    const void *k, *v;   /* the layer's cache, (n_ctx, kv_dim) each, of type kv */
    gguf_type kv;        /* F16, BF16 or F32 (lm_ctx_params.kv_type) */
    const float *q;      /* (m, n_head * head_dim) queries after RoPE */
    float *out;          /* (m, n_head * head_dim) */
    int m, p0, n_ctx;
    int n_head, n_head_kv, head_dim, kv_dim;
    float *scratch;      /* (pool threads, lm_attn_scratch_floats) */
} lm_attn_batch;

/* Floats of scratch one pool thread needs. */
size_t lm_attn_scratch_floats(int n_ctx, int head_dim);
void lm_attention(bert_pool *p, const lm_attn_batch *b);

/* ---- int8 activations -------------------------------------------------------- */

/* One row of K activations quantized for the integer products. */
typedef struct {
    int8_t *q;  /* (K) */
    float *d;   /* (K / 32) scale of each block */
    float *dsx; /* (K / 16) d times the sum of the 16 codes */
} lm_qrow;

/* Quantizes x (K a multiple of 32): q = round(x / d), d = max|x| / 127;
 * the AVX-512 form gives the same bytes. */
void lm_quantize_row(const float *x, int K, lm_qrow *out);
void lm_quantize_row_avx512(const float *x, int K, lm_qrow *out);

/* ---- products ------------------------------------------------------------------ */

/* A (N, K) weight matrix, rows contiguous in the mapping. */
typedef struct {
    gguf_type type;
    int K, N;
    size_t row_bytes;
    const uint8_t *data;
} lm_mat;

/* dot(row n of W, x) for one row, the scalar reference: quantized types use
 * xq, float types xf. */
float lm_dot_ref(const lm_mat *W, int n, const float *xf, const lm_qrow *xq);

/* Y (M, N) = X (M, K) W^T, threaded over p. Quantized W: xq holds the M rows
 * of X quantized (lm_quantize_row), X is unused; float W: X is used. The
 * fast path for lm_isa_get(); LM_ISA_SCALAR runs lm_dot_ref. */
void lm_matmul(bert_pool *p, const lm_mat *W, int M, const float *X, const lm_qrow *xq, float *Y);

/* Y[i] (W[i]->N) = W[i] x for n <= LM_MATVEC_MAX matrices of the same K and
 * one token (lm_gemv.c), as one job of the pool where the decode kernel applies (else
 * one lm_matmul each): decode's q, k, v and gate, up share their input, and
 * each job costs the threads a wake-up and a wait for the last. */
enum { LM_MATVEC_MAX = 4 };
void lm_matvec_many(bert_pool *p, const lm_mat *const *W, int n, const float *x, const lm_qrow *xq,
                    float *const *Y);

/* The fast kernels (lm_qdot.c): out[t * ldo] = dot(row, token t) for nt
 * tokens of xq (nt <= 8). */
void lm_qdot_avx2(const lm_mat *W, int n, const lm_qrow *xq, int nt, float *out, int ldo);
void lm_qdot_vnni(const lm_mat *W, int n, const lm_qrow *xq, int nt, float *out, int ldo);
/* Prefill's product (lm_gemm.c): lm_matmul's for a quantized W against M
 * tokens, packed and register-tiled for AVX-512 VNNI, the pool's threads on
 * disjoint panels of rows. False, with nothing written, where it does not
 * apply: no pool, or rows too long for a pool thread's scratch. */
bool lm_gemm_vnni(bert_pool *p, const lm_mat *W, int M, const lm_qrow *xq, float *Y);
/* lm_gemm_vnni over a slice of K, blocks kb0 .. kb0 + nb - 1 of W's rows
 * (kb0 a multiple of 8; nb too, or the slice ends at K): xq's rows hold the
 * slice's 32 nb activations, and add says Y += rather than Y =. packed is
 * lm_gemm_pack's of the same slice, or NULL to pack as it goes. A sliced
 * product adds up in the whole one's order where nb is a multiple of 1024
 * (LM_GEMM_SLICE) activations. */
enum { LM_GEMM_SLICE = 1024 };
bool lm_gemm_vnni_slice(bert_pool *p, const lm_mat *W, int kb0, int nb, const void *packed,
                        int M, const lm_qrow *xq, float *Y, bool add);
/* lm_gemm_vnni for n <= LM_GEMM_MANY matrices of one K against the same
 * input, Y[i] = xq W[i]^T, as one pool job (packed[i] as in
 * lm_gemm_vnni_slice, whole rows); the same bits as n calls. False, with
 * nothing written, where any of them does not apply. */
enum { LM_GEMM_MANY = 3 };
bool lm_gemm_vnni_many(bert_pool *p, const lm_mat *const *W, const void *const *packed, int n,
                       int M, const lm_qrow *xq, float *const *Y);
/* Bytes of the slice packed, 0 where lm_gemm_vnni_slice does not apply. */
size_t lm_gemm_packed_bytes(const bert_pool *p, const lm_mat *W, int kb0, int nb);
/* Packs the slice into packed (lm_gemm_packed_bytes, 64-byte aligned), the
 * pool's threads on disjoint panels. */
void lm_gemm_pack(bert_pool *p, const lm_mat *W, int kb0, int nb, void *packed);
/* Decode's product (lm_gemv.c): y[n] = dot(row n of W, x) for n0 <= n < n1,
 * one token, AVX-512 VNNI; for the quantized types and K that
 * lm_gemv_fits. */
bool lm_gemv_fits(const lm_mat *W);
void lm_gemv_vnni(const lm_mat *W, int n0, int n1, const lm_qrow *x, float *y);
/* Float weights: out[t * ldo] = dot(row n, X row t), AVX2+F16C. */
void lm_fdot_avx2(const lm_mat *W, int n, const float *X, int K, int nt, float *out, int ldo);

/* One block of 32 weights as unsigned codes: w[i] = a[i / 16] * q[i] + c[i / 16]
 * (Q8_0's codes are signed: sq). Shared by the reference and the fast paths. */
typedef struct {
    float a[2], c[2];
} lm_blockscale;
void lm_block_scales(gguf_type t, const uint8_t *row, int b, lm_blockscale *s);
void lm_block_codes(gguf_type t, const uint8_t *row, int b, uint8_t q[32]);

/* ---- the model ----------------------------------------------------------------- */

#include "embed/lm.h"

/* The memory a model may take: the least of the machine's, the address-space
 * limit and the cgroup's memory.max; *what says which ("this machine has",
 * "... allows"). 0 when unknown. */
uint64_t lm_memory_limit(const char **what);

typedef struct {
    float *attn_norm, *ffn_norm;  /* (n_embd), owned */
    float *q_norm, *k_norm;       /* (head_dim) or NULL, owned */
    float *bq, *bk, *bv;          /* (q_dim), (kv_dim), (kv_dim) or NULL, owned */
    lm_mat wq, wk, wv, wo;        /* (q_dim, n_embd) (kv_dim, n_embd) x2 (n_embd, q_dim) */
    lm_mat w_gate, w_up, w_down;  /* (n_ff, n_embd) x2 (n_embd, n_ff) */
} lm_layer;

struct lm_model {
    gguf_file *f;
    lm_hparams hp;
    int q_dim, kv_dim;      /* n_head * head_dim, n_head_kv * head_dim */
    lm_layer *layers;       /* (n_layer) */
    lm_mat tok_embd;        /* (n_vocab, n_embd) */
    lm_mat output;          /* (n_vocab, n_embd): output.weight or tok_embd */
    float *output_norm;     /* (n_embd), owned */
    float *rope_factors;    /* (head_dim / 2) divisors of each frequency, or NULL; owned */
    int n_threads;
};

#endif
