/* gemm_avx512.c - a blocked AVX-512 SGEMM for C = A * W^T (nn.Linear's layout).
 *
 * W (N, K) is laid out in panels [N / 64][K][64]: once at load for a linear
 * layer (gemm_pack_f32, bert_pack_weights), else per call into a thread's
 * scratch, KC x NC at a time (attention's keys and values). A 6 x 64
 * micro-kernel keeps 24 zmm accumulators and, for each k, loads four vectors
 * of W and broadcasts one float from each of 6 rows of A, read in place
 * (packing A, a transpose, cost more than it saved). Bias and GELU are
 * applied to the tile in registers on the last K pass. Edge tiles are
 * masked, so any M, N, K works. Measured on BERT's shapes (Sapphire Rapids,
 * 2 threads, W pre-packed): ~78-84% of the FMA peak; 6 x 64 beat 12 x 32 by
 * ~8% and 8 x 48 by ~4%, and software prefetch of W only cost. Up to SMALL_M
 * rows (a query) packing W costs more than the multiply, so gemm_small takes
 * dot products straight from W's rows instead.
 */
#include "embed/kernels.h"
#include "embed/simd512.h"

#include <immintrin.h>
#include <string.h>

/* up to SMALL_M rows, gemm_small; with packed W, row slices of SLICE_ROWS */
enum { SMALL_M = 64, SLICE_ROWS = 4 * 6 * 8 };
/* rows x 16-float vectors per micro-tile; K and N blocking (a KC x NC panel
 * of W, 1 MiB, stays in L2; a long KC means fewer passes over C) */
enum { MR = 6, NV = 4, NR = 16 * NV, KC = 1024, NC = 256 / NR * NR };
_Static_assert(KC * NC <= BERT_POOL_SCRATCH, "pool scratch too small for the W panel");

/* The right-hand matrix: element (n, k) of W is p[n * sn + k * sk] * alpha.
 * A linear layer's W is (p, K, 1, 1); attention's K^T and V are strided
 * views into the (tokens, hidden) buffers. */
typedef struct {
    const float *p;
    size_t sn, sk;
    float alpha;
} wview;

/* out[k][c] = src[k * sk + c] * alpha for c < cols, zero past: one panel
 * when W's element (n, k) sits at n + k * sk */
static AVX512 void pack_cols(const float *src, size_t sk, float alpha, int cols, int kc,
                             float *out)
{
    __m512 va = _mm512_set1_ps(alpha);
    __mmask16 m[NV];
    for (int v = 0; v < NV; v++)
        m[v] = cols - 16 * v >= 16 ? (__mmask16)0xffff
               : cols - 16 * v <= 0 ? 0
                                    : (__mmask16)((1u << (cols - 16 * v)) - 1);
    for (int k = 0; k < kc; k++)
        for (int v = 0; v < NV; v++)
            _mm512_store_ps(out + (size_t)k * NR + 16 * v,
                            _mm512_mul_ps(_mm512_maskz_loadu_ps(m[v], src + k * sk + 16 * v), va));
}

/* r[i] (element j) becomes r[j] (element i): unpack pairs of rows, then
 * pairs of pairs, then swap 128-bit lanes between groups of four. */
static inline __attribute__((always_inline)) AVX512 void transpose16(__m512 r[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
        __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    /* r[4g + j] now holds, in lane l, rows 4g..4g+3 of column 4l + j */
    for (int j = 0; j < 4; j++) {
        __m512 u0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x44);
        __m512 u1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xee);
        __m512 u2 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x44);
        __m512 u3 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xee);
        t[j] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        t[4 + j] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
        t[8 + j] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        t[12 + j] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
    }
    for (int i = 0; i < 16; i++)
        r[i] = t[i];
}

/* out[k][c] = src[c * sn + k] * alpha for c < cols, zero past: one panel
 * when W's rows are contiguous (a linear layer's W, attention's keys), by
 * 16 x 16 transposes in registers. */
static AVX512 void pack_rows(const float *src, size_t sn, float alpha, int cols, int kc,
                             float *out)
{
    __m512 va = _mm512_set1_ps(alpha);
    for (int k0 = 0; k0 < kc; k0 += 16) {
        int kn = kc - k0 < 16 ? kc - k0 : 16;
        __mmask16 mk = (__mmask16)((1u << kn) - 1);
        for (int c0 = 0; c0 < NR; c0 += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = c0 + i < cols ? _mm512_maskz_loadu_ps(mk, src + (size_t)(c0 + i) * sn + k0)
                                     : _mm512_setzero_ps();
            transpose16(r);
            for (int i = 0; i < kn; i++)
                _mm512_store_ps(out + (size_t)(k0 + i) * NR + c0, _mm512_mul_ps(r[i], va));
        }
    }
}

/* out[jb][k][c] = W(n0 + jb * NR + c, k0 + k), zero past n1 */
static void pack_w(const wview *w, int n0, int n1, int k0, int kc, float *out)
{
    for (int j = n0; j < n1; j += NR) {
        int cols = n1 - j < NR ? n1 - j : NR;
        if (w->sk == 1 && w->sn * NR < (size_t)1 << 31) { /* rows of W are contiguous */
            pack_rows(w->p + (size_t)j * w->sn + k0, w->sn, w->alpha, cols, kc, out);
        } else if (w->sn == 1) { /* columns of W are contiguous (attention's V) */
            pack_cols(w->p + (size_t)k0 * w->sk + j, w->sk, w->alpha, cols, kc, out);
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
     const __mmask16 *mk, bool add, const float *bias, bool gelu)
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
    /* the epilogue on the last K pass, while the tile is still in registers */
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
        bv[v] = bias ? _mm512_maskz_loadu_ps(mk[v], bias + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++) {
        float *c = C + r * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            if (add)
                acc[r][v] = _mm512_add_ps(acc[r][v], _mm512_maskz_loadu_ps(mk[v], c + 16 * v));
            if (bias)
                acc[r][v] = _mm512_add_ps(acc[r][v], bv[v]);
            if (gelu)
                acc[r][v] = gelu512(acc[r][v]);
            _mm512_mask_storeu_ps(c + 16 * v, mk[v], acc[r][v]);
        }
    }
}

#define TILE(mr)                                                                           \
    static AVX512 void tile_##mr(int kc, const float *Ap, size_t lda, const float *Bp,      \
                                 float *C, size_t ldc, const __mmask16 *mk, bool add,       \
                                 const float *bias, bool gelu)                              \
    {                                                                                      \
        tile(mr, kc, Ap, lda, Bp, C, ldc, mk, add, bias, gelu);                            \
    }
TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6)

typedef void (*tile_fn)(int, const float *, size_t, const float *, float *, size_t,
                        const __mmask16 *, bool, const float *, bool);
static const tile_fn tiles[MR] = {tile_1, tile_2, tile_3, tile_4,  tile_5,  tile_6};

static __mmask16 cols_mask(int cols)
{
    return cols >= 16 ? (__mmask16)0xffff : cols <= 0 ? 0 : (__mmask16)((1u << cols) - 1);
}

/* C[m0..m1, n0..n1) with one thread's scratch for packing W's panels, or
 * straight from Wp when W was packed once beforehand (gemm_pack_f32): its
 * KC-row slice of a panel is then already contiguous, only the
 * step from one block to the next is K * NR floats instead of kc * NR. */
static void gemm_block(int m0, int m1, int n0, int n1, int K, const float *A, int lda,
                       const wview *W, const float *Wp, const float *bias, float *C, int ldc,
                       gemm_epilogue epi, float *scratch)
{
    for (int jc = n0; jc < n1; jc += NC) {
        int nc = n1 - jc < NC ? n1 - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            bool add = pc > 0, last = pc + kc >= K;
            const float *Bp;
            size_t bstep;
            if (Wp) {
                Bp = Wp + (size_t)(jc / NR) * K * NR + (size_t)pc * NR;
                bstep = (size_t)K * NR;
            } else {
                pack_w(W, jc, jc + nc, pc, kc, scratch);
                Bp = scratch;
                bstep = (size_t)kc * NR;
            }
            const float *bias_now = last && epi != GEMM_PLAIN ? bias + jc : NULL;
            bool gelu = last && epi == GEMM_BIAS_GELU;
            for (int i = m0; i < m1; i += MR) {
                int rows = m1 - i < MR ? m1 - i : MR;
                for (int jr = 0; jr < nc; jr += NR) {
                    int cols = nc - jr < NR ? nc - jr : NR;
                    __mmask16 mk[NV];
                    for (int v = 0; v < NV; v++)
                        mk[v] = cols_mask(cols - 16 * v);
                    tiles[rows - 1](kc, A + (size_t)i * lda + pc, (size_t)lda,
                                    Bp + (size_t)(jr / NR) * bstep,
                                    C + (size_t)i * ldc + jc + jr, (size_t)ldc, mk, add,
                                    bias_now ? bias_now + jr : NULL, gelu);
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

size_t gemm_packed_floats(int N, int K)
{
    return (size_t)((N + NR - 1) / NR) * NR * (size_t)K;
}

void gemm_pack_f32(int N, int K, const float *W, float *out)
{
    wview w = {W, (size_t)K, 1, 1.0f};
    if (N > 0 && K > 0)
        pack_w(&w, 0, N, 0, K, out);
}

void gemm_f32_serial(int M, int N, int K, const float *A, int lda, const float *B, size_t sbn,
                     size_t sbk, float alpha, float *C, int ldc, float *scratch)
{
    wview w = {B, sbn, sbk, alpha};
    if (M > 0 && N > 0)
        gemm_block(0, M, 0, N, K, A, lda, &w, NULL, NULL, C, ldc, GEMM_PLAIN, scratch);
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
    const float *W, *Wp, *bias; /* Wp: W packed by gemm_pack_f32, or NULL */
    float *C;
    int ldc;
    gemm_epilogue epi;
    int n_slices;
    bool split_rows;
    bert_pool *pool;
    const gemm_residual_ln *ln; /* or NULL */
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
        gemm_block(m0, m1, n0, n1, j->K, j->A, j->lda, &w, j->Wp, j->bias, j->C, j->ldc,
                   j->epi, bert_pool_scratch(j->pool, thread));
    if (j->ln) /* the slice's rows are whole (split by rows) and still in L2 */
        for (int i = m0; i < m1; i++)
            vec_layernorm(j->ln->x + (size_t)i * j->ln->ldx, j->C + (size_t)i * j->ldc,
                          j->ln->gamma, j->ln->beta, j->N, j->ln->eps);
}

void gemm_f32_avx512_packed(bert_pool *p, int M, int N, int K, const float *A, int lda,
                            const float *W, const float *Wp, const float *bias, float *C, int ldc,
                            gemm_epilogue epi, const gemm_residual_ln *ln)
{
    if (M <= 0 || N <= 0)
        return;
    int threads = bert_pool_size(p);
    sg_job j = {M, N, K, A, lda, W, Wp, bias, C, ldc, epi, threads, true, p, ln};
    /* With W packed, a slice only rereads W's panels from L3: several
     * slices per thread let a thread that got less of its core (the
     * machine is shared) take fewer of them instead of holding up the rest. */
    if (Wp && threads > 1 && M >= SLICE_ROWS * threads)
        j.n_slices = M / (SLICE_ROWS * threads) * threads; /* even shares when all run */
    if (M < 8 * MR * threads) {
        int blocks = (N + NR - 1) / NR;
        if (blocks >= threads && !ln) {
            j.split_rows = false;
        } else {
            int mblocks = (M + MR - 1) / MR;
            j.n_slices = mblocks < threads ? mblocks : threads;
        }
    }
    bert_pool_run(p, sg_slice, &j, j.n_slices);
}

void gemm_f32_avx512(bert_pool *p, int M, int N, int K, const float *A, int lda, const float *W,
                     const float *bias, float *C, int ldc, gemm_epilogue epi)
{
    gemm_f32_avx512_packed(p, M, N, K, A, lda, W, NULL, bias, C, ldc, epi, NULL);
}
