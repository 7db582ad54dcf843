/* gemm_avx512.c - a blocked AVX-512 SGEMM for C = A * W^T (nn.Linear's layout).
 *
 * W (N, K) is packed per thread into KC x NC panels laid out [N / 32][KC][32]
 * (the panel, 1 MiB, stays in L2); a 12 x 32 micro-kernel keeps 24 zmm
 * accumulators and, for each k, loads two vectors of W and broadcasts one
 * float from each of 12 rows of A. A is read in place: GCC addresses the 12
 * rows as base + index registers without spilling, and packing A (a
 * transpose) cost more than it saved. Edge tiles are masked, so any M, N, K
 * works. The micro-kernel alone runs at ~84% of the FMA peak; on BERT's
 * shapes with 2 threads OpenBLAS 0.3.21 reaches ~65%, this 70-76%. Up to SMALL_M rows (a query)
 * packing W costs more than the multiply, so gemm_small takes dot products
 * straight from W's rows instead.
 */
#include "embed/kernels.h"

#include <immintrin.h>
#include <string.h>

/* rows x 16-float vectors per micro-tile; 12 x 2 measured as good as 14 x 2,
 * 8 x 3 or 6 x 4 here */
enum { SMALL_M = 64 }; /* up to this many rows, gemm_small */
enum { MR = 12, NV = 2, NR = 16 * NV, KC = 256, NC = 1024 / NR * NR };
_Static_assert(KC * NC <= BERT_POOL_SCRATCH, "pool scratch too small for the W panel");

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

/* The right-hand matrix: element (n, k) of W is p[n * sn + k * sk] * alpha.
 * A linear layer's W is (p, K, 1, 1); attention's K^T and V are strided
 * views into the (tokens, hidden) buffers. */
typedef struct {
    const float *p;
    size_t sn, sk;
    float alpha;
} wview;

/* out[jb][k][c] = W(n0 + jb * NR + c, k0 + k), zero past n1 */
static void pack_w(const wview *w, int n0, int n1, int k0, int kc, float *out)
{
    for (int j = n0; j < n1; j += NR) {
        int cols = n1 - j < NR ? n1 - j : NR;
        if (w->sk == 1) { /* rows of W are contiguous: read along them */
            for (int c = 0; c < cols; c++) {
                float *dst = out + c;
                const float *src = w->p + (size_t)(j + c) * w->sn + k0;
                if (w->alpha == 1.0f)
                    for (int k = 0; k < kc; k++)
                        dst[k * NR] = src[k];
                else
                    for (int k = 0; k < kc; k++)
                        dst[k * NR] = src[k] * w->alpha;
            }
            for (int c = cols; c < NR; c++)
                for (int k = 0; k < kc; k++)
                    out[k * NR + c] = 0.0f;
        } else {
            for (int k = 0; k < kc; k++) {
                const float *src = w->p + (size_t)(k0 + k) * w->sk + (size_t)j * w->sn;
                for (int c = 0; c < NR; c++)
                    out[k * NR + c] = c < cols ? src[c * w->sn] * w->alpha : 0.0f;
            }
        }
        out += (size_t)kc * NR;
    }
}

static inline __attribute__((always_inline)) AVX512 void
tile(int mr, int kc, const float *Ap, size_t lda, const float *Bp, float *C, size_t ldc,
     const __mmask16 *mk, bool add)
{
    __m512 acc[MR][NV];
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[r][v] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int k = 0; k < kc; k++) {
        __m512 b[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            b[v] = _mm512_load_ps(Bp + (size_t)k * NR + 16 * v);
#pragma GCC unroll 16
        for (int r = 0; r < mr; r++) {
            __m512 a = _mm512_set1_ps(Ap[r * lda + k]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++) {
        float *c = C + r * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            if (add)
                acc[r][v] = _mm512_add_ps(acc[r][v], _mm512_maskz_loadu_ps(mk[v], c + 16 * v));
            _mm512_mask_storeu_ps(c + 16 * v, mk[v], acc[r][v]);
        }
    }
}

#define TILE(mr)                                                                           \
    static AVX512 void tile_##mr(int kc, const float *Ap, size_t lda, const float *Bp,      \
                                 float *C, size_t ldc, const __mmask16 *mk, bool add)       \
    {                                                                                      \
        tile(mr, kc, Ap, lda, Bp, C, ldc, mk, add);                                        \
    }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6) TILE(7) TILE(8) TILE(9) TILE(10) TILE(11)
TILE(12)

typedef void (*tile_fn)(int, const float *, size_t, const float *, float *, size_t,
                        const __mmask16 *, bool);
static const tile_fn tiles[MR] = {tile_1, tile_2, tile_3, tile_4,  tile_5,  tile_6,
                                  tile_7, tile_8, tile_9, tile_10, tile_11, tile_12};

static __mmask16 cols_mask(int cols)
{
    return cols >= 16 ? (__mmask16)0xffff : cols <= 0 ? 0 : (__mmask16)((1u << cols) - 1);
}

/* C[m0..m1, n0..n1) with one thread's scratch. */
static void gemm_block(int m0, int m1, int n0, int n1, int K, const float *A, int lda,
                       const wview *W, const float *bias, float *C, int ldc, gemm_epilogue epi,
                       float *scratch)
{
    float *Bp = scratch;
    for (int jc = n0; jc < n1; jc += NC) {
        int nc = n1 - jc < NC ? n1 - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            bool add = pc > 0, last = pc + kc >= K;
            pack_w(W, jc, jc + nc, pc, kc, Bp);
            for (int i = m0; i < m1; i += MR) {
                int rows = m1 - i < MR ? m1 - i : MR;
                for (int jr = 0; jr < nc; jr += NR) {
                    int cols = nc - jr < NR ? nc - jr : NR;
                    __mmask16 mk[NV];
                    for (int v = 0; v < NV; v++)
                        mk[v] = cols_mask(cols - 16 * v);
                    tiles[rows - 1](kc, A + (size_t)i * lda + pc, (size_t)lda,
                                    Bp + (size_t)jr * kc, C + (size_t)i * ldc + jc + jr,
                                    (size_t)ldc, mk, add);
                }
                if (last && epi != GEMM_PLAIN)
                    for (int r = 0; r < rows; r++) {
                        float *c = C + (size_t)(i + r) * ldc + jc;
                        vec_add(c, bias + jc, nc);
                        if (epi == GEMM_BIAS_GELU)
                            vec_gelu(c, nc);
                    }
            }
        }
    }
    if (K == 0) /* nothing multiplied: C is the bias alone */
        for (int i = m0; i < m1; i++) {
            float *c = C + (size_t)i * ldc + n0;
            memset(c, 0, (size_t)(n1 - n0) * sizeof *c);
            if (epi != GEMM_PLAIN)
                vec_add(c, bias + n0, n1 - n0);
            if (epi == GEMM_BIAS_GELU)
                vec_gelu(c, n1 - n0);
        }
}

void gemm_f32_serial(int M, int N, int K, const float *A, int lda, const float *B, size_t sbn,
                     size_t sbk, float alpha, float *C, int ldc, float *scratch)
{
    wview w = {B, sbn, sbk, alpha};
    if (M > 0 && N > 0)
        gemm_block(0, M, 0, N, K, A, lda, &w, NULL, C, ldc, GEMM_PLAIN, scratch);
}

/* Few rows (a short query): packing W would cost more than the multiply, so
 * take dot products straight from W's rows, 4 rows of A x 4 rows of W at a
 * time, and reduce each of the 16 accumulators at the end. */
static inline __attribute__((always_inline)) AVX512 void
dot_tile(int mr, int nr, int K, const float *A, size_t lda, const float *W, float *out)
{
    __m512 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int c = 0; c < nr; c++)
            acc[r][c] = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) {
        __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
        __m512 w[4];
#pragma GCC unroll 4
        for (int c = 0; c < nr; c++)
            w[c] = _mm512_maskz_loadu_ps(m, W + (size_t)c * K + k);
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
            __m512 a = _mm512_maskz_loadu_ps(m, A + r * lda + k);
#pragma GCC unroll 4
            for (int c = 0; c < nr; c++)
                acc[r][c] = _mm512_fmadd_ps(a, w[c], acc[r][c]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int c = 0; c < nr; c++)
            out[r * 4 + c] = _mm512_reduce_add_ps(acc[r][c]);
}

static AVX512 void dot_4x4(int K, const float *A, size_t lda, const float *W, float *out)
{
    dot_tile(4, 4, K, A, lda, W, out);
}

static AVX512 void dot_1x1(int K, const float *A, size_t lda, const float *W, float *out)
{
    dot_tile(1, 1, K, A, lda, W, out);
}

static void gemm_small(int m0, int m1, int n0, int n1, int K, const float *A, int lda,
                       const float *W, const float *bias, float *C, int ldc, gemm_epilogue epi)
{
    float out[16];
    for (int n = n0; n < n1; n += 4)
        for (int i = m0; i < m1; i += 4) {
            int rows = m1 - i < 4 ? m1 - i : 4, cols = n1 - n < 4 ? n1 - n : 4;
            if (rows == 4 && cols == 4) {
                dot_4x4(K, A + (size_t)i * lda, (size_t)lda, W + (size_t)n * K, out);
            } else {
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++)
                        dot_1x1(K, A + (size_t)(i + r) * lda, (size_t)lda,
                                W + (size_t)(n + c) * K, &out[r * 4 + c]);
            }
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    C[(size_t)(i + r) * ldc + n + c] = out[r * 4 + c];
        }
    if (epi != GEMM_PLAIN)
        for (int i = m0; i < m1; i++) {
            vec_add(C + (size_t)i * ldc + n0, bias + n0, n1 - n0);
            if (epi == GEMM_BIAS_GELU)
                vec_gelu(C + (size_t)i * ldc + n0, n1 - n0);
        }
}

typedef struct {
    int M, N, K;
    const float *A;
    int lda;
    const float *W, *bias;
    float *C;
    int ldc;
    gemm_epilogue epi;
    int n_slices;
    bool split_rows;
    bert_pool *pool;
} sg_job;

static void sg_slice(void *ctx, int task, int thread)
{
    const sg_job *j = ctx;
    int m0 = 0, m1 = j->M, n0 = 0, n1 = j->N;
    if (j->split_rows) {
        /* slices on MR boundaries so only the last one has a short tile */
        int blocks = (j->M + MR - 1) / MR;
        m0 = blocks * task / j->n_slices * MR;
        m1 = blocks * (task + 1) / j->n_slices * MR;
        if (m1 > j->M)
            m1 = j->M;
    } else {
        int blocks = (j->N + NR - 1) / NR;
        n0 = blocks * task / j->n_slices * NR;
        n1 = blocks * (task + 1) / j->n_slices * NR;
        if (n1 > j->N)
            n1 = j->N;
    }
    if (m1 <= m0 || n1 <= n0)
        return;
    wview w = {j->W, (size_t)j->K, 1, 1.0f};
    if (j->M <= SMALL_M)
        gemm_small(m0, m1, n0, n1, j->K, j->A, j->lda, j->W, j->bias, j->C, j->ldc, j->epi);
    else
        gemm_block(m0, m1, n0, n1, j->K, j->A, j->lda, &w, j->bias, j->C, j->ldc, j->epi,
                   bert_pool_scratch(j->pool, thread));
}

void gemm_f32_avx512(bert_pool *p, int M, int N, int K, const float *A, int lda, const float *W,
                     const float *bias, float *C, int ldc, gemm_epilogue epi)
{
    if (M <= 0 || N <= 0)
        return;
    int threads = bert_pool_size(p);
    sg_job j = {M, N, K, A, lda, W, bias, C, ldc, epi, threads, true, p};
    if (M < 8 * MR * threads) {
        int blocks = (N + NR - 1) / NR;
        if (blocks >= threads) {
            j.split_rows = false;
        } else {
            int mblocks = (M + MR - 1) / MR;
            j.n_slices = mblocks < threads ? mblocks : threads;
        }
    }
    bert_pool_run(p, sg_slice, &j, j.n_slices);
}
