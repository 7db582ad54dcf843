/* kernels.h - private to embed/: the thread pool, GEMMs and vector kernels
 * the BERT forward pass is built from.
 *
 * Every kernel has a plain C version and, where the CPU has it, an AVX-512
 * one selected at run time (bert_isa), so one binary runs everywhere. FP32
 * linear layers use our blocked AVX-512 SGEMM (gemm_avx512.c), or OpenBLAS
 * without AVX-512; attention's small products always go to OpenBLAS. BLAS
 * runs single-threaded inside slices of our own pool, so its threads and
 * ours never compete for the cores. int8 layers use our AVX-512 VNNI kernel
 * (quant.c). Tests may lower bert_isa to exercise the fallbacks.
 */
#ifndef DQ_EMBED_KERNELS_H
#define DQ_EMBED_KERNELS_H

#include "embed/bert_impl.h"

/* ---- instruction set selection ----------------------------------------- */

enum { BERT_ISA_SCALAR = 0, BERT_ISA_AVX512 = 1, BERT_ISA_VNNI = 2 };

/* The best level this CPU supports. */
int bert_isa_detect(void);
/* The level kernels use; starts at bert_isa_detect(). Setting a level above
 * what the CPU has is clamped. Not thread-safe: set it before running. */
int bert_isa_get(void);
void bert_isa_set(int level);

/* ---- thread pool --------------------------------------------------------- */

/* bert_pool, bert_pool_new/free/size: embed.h (a session lends one pool to
 * its encoders and its LLM). */

/* fn(ctx, task, thread) runs once for each task in [0, n_tasks); thread is
 * in [0, bert_pool_size()) and names the caller's per-thread scratch. */
typedef void (*bert_task_fn)(void *ctx, int task, int thread);

/* Runs all tasks and returns when they are done. p may be NULL (serial).
 * Callers on several threads take turns, a whole job each. */
void bert_pool_run(bert_pool *p, bert_task_fn fn, void *ctx, int n_tasks);
/* Per-thread, 64-byte aligned scratch of BERT_POOL_SCRATCH floats, made
 * with the pool, for GEMM packing. */
enum { BERT_POOL_SCRATCH = 256 * 1024 };
float *bert_pool_scratch(bert_pool *p, int thread);

/* ---- GEMMs: C (M, N) = A (M, K) * W (N, K)^T, then the epilogue ---------- */

typedef enum { GEMM_PLAIN, GEMM_BIAS, GEMM_BIAS_GELU } gemm_epilogue;

/* The part of an (M, N) output that slice task of n_slices computes: rows
 * [m0, m1) when split_rows, else columns [n0, n1) on 16-float boundaries. */
void gemm_slice_bounds(int M, int N, bool split_rows, int task, int n_slices, int *m0, int *m1,
                       int *n0, int *n1);

/* Threaded over p; lda/ldc are row strides of A and C. */
void gemm_f32(bert_pool *p, int M, int N, int K, const float *A, int lda, const float *W,
              const float *bias, float *C, int ldc, gemm_epilogue epi);
/* Our blocked AVX-512 kernel (BERT_ISA_AVX512 and up), which gemm_f32 uses
 * when p is non-NULL; exposed so tests can check it on its own. */
void gemm_f32_avx512(bert_pool *p, int M, int N, int K, const float *A, int lda, const float *W,
                     const float *bias, float *C, int ldc, gemm_epilogue epi);
/* W (N, K) copied once into gemm_f32_avx512's panel layout, so that a
 * layer's forward pass need not repack it: gemm_packed_floats(N, K) floats,
 * 64-byte aligned. */
size_t gemm_packed_floats(int N, int K);
void gemm_pack_f32(int N, int K, const float *W, float *out);
/* After a linear layer: x = LayerNorm(x + C) row by row, x (M, N) with row
 * stride ldx. */
typedef struct {
    float *x;
    int ldx;
    const float *gamma, *beta;
    float eps;
} gemm_residual_ln;
/* gemm_f32_avx512 with W also given as packed by gemm_pack_f32 (Wp may be
 * NULL: pack per call as before); W itself serves the few-row path. ln, when
 * non-NULL, is applied by each slice to its rows right after multiplying,
 * while they are still in cache (slices are then always whole rows). */
void gemm_f32_avx512_packed(bert_pool *p, int M, int N, int K, const float *A, int lda,
                            const float *W, const float *Wp, const float *bias, float *C, int ldc,
                            gemm_epilogue epi, const gemm_residual_ln *ln);
/* Single-threaded C (M, N) = A (M, K) * B^T with B's element (n, k) at
 * B[n * sbn + k * sbk] * alpha, for attention's scores (B = keys) and
 * context (B = values, transposed by the strides). scratch: a pool thread's
 * bert_pool_scratch. Needs BERT_ISA_AVX512. */
void gemm_f32_serial(int M, int N, int K, const float *A, int lda, const float *B, size_t sbn,
                     size_t sbk, float alpha, float *C, int ldc, float *scratch);
/* Triple loop with double accumulation: the oracle for tests. */
void gemm_f32_naive(int M, int N, int K, const float *A, int lda, const float *W,
                    const float *bias, float *C, int ldc, gemm_epilogue epi);

/* Row stride, in bytes, of quantised activations for K inputs. */
static inline int q8_stride(int K) { return (K + 63) & ~63; }

/* int8 linear layer l (quantised by bert_quantize): A is quantised per row
 * into aq (M, q8_stride(K)) bytes and ascale (M), then multiplied with
 * VNNI, or plain C below BERT_ISA_VNNI. */
void gemm_q8(bert_pool *p, int M, const float *A, int lda, const bert_linear *l, uint8_t *aq,
             float *ascale, float *C, int ldc, gemm_epilogue epi);
/* The same arithmetic in the simplest loops, on the row-major l->q. */
void gemm_q8_naive(int M, const float *A, int lda, const bert_linear *l, float *C, int ldc,
                   gemm_epilogue epi);

/* ---- vector kernels ------------------------------------------------------ */

/* 0.5 x (1 + erf(x / sqrt 2)), in place. */
void vec_gelu(float *x, int n);
/* gate = silu(gate) * up, silu(g) = g / (1 + e^-g): the LLMs' SwiGLU. */
void vec_swiglu(float *gate, const float *up, int n);
/* x += b */
void vec_add(float *x, const float *b, int n);
/* x = LayerNorm(x + res) * gamma + beta; res may be NULL. */
void vec_layernorm(float *x, const float *res, const float *gamma, const float *beta, int n,
                   float eps);
/* out = x / sqrt(mean(x^2) + eps) * w, the sum of squares in double (out
 * may be x): the LLMs' RMSNorm. */
void vec_rmsnorm(const float *x, const float *w, int n, float eps, float *out);
/* Rotates the pairs of v (2 * half floats) by the angles whose cosines and
 * sines are cs and sn (half each), in place: pair i is (v[i], v[i + half])
 * with neox (GPT-NeoX's layout), else (v[2i], v[2i + 1]): the LLMs' RoPE. */
void vec_rope(float *v, const float *cs, const float *sn, int half, bool neox);
/* Softmax of x[0..n) * scale (scale > 0), in place. */
void vec_softmax(float *x, int n, float scale);

#endif
