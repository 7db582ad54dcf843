/* quant.c - int8 linear layers: per-channel weight quantisation and a VNNI GEMM.
 *
 * Weights are quantised once, symmetric per output channel (w ~= q * scale,
 * scale = max|w| / 127); activations per row at run time. VNNI's vpdpbusd
 * multiplies unsigned by signed bytes, so activations are stored shifted by
 * +128 and the shift is taken back with the weights' column sums:
 * sum((a + 128) q) - 128 sum(q) = sum(a q). The kernel wants q regrouped as
 * q_pack[n / 16][k / 4][16][4] so that one 64-byte load feeds 16 output
 * channels with 4 inputs each, against one broadcast activation dword.
 */
#include "embed/kernels.h"

#include "common/common.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- quantising the weights --------------------------------------------- */

static void linear_free_quant(bert_linear *l)
{
    free(l->q);
    free(l->q_scale);
    free(l->q_colsum);
    free(l->q_pack);
    l->q = NULL;
    l->q_scale = NULL;
    l->q_colsum = NULL;
    l->q_pack = NULL;
}

static int linear_quantize(bert_linear *l, const char *what, int layer)
{
    if (!l->w || l->n_out <= 0 || l->n_in <= 0) {
        dq_set_error("cannot quantise layer %d '%s': no weights", layer, what);
        return -1;
    }
    if (l->q)
        return 0;
    /* The kernels sum (a + 128) * q, at most 255 * 127 per input, in int32:
     * beyond this many inputs a row's sum could wrap. */
    if (l->n_in > INT32_MAX / (255 * 127)) {
        dq_set_error("cannot quantise layer %d '%s': %d inputs would overflow the int8 "
                     "kernels' 32-bit sums (at most %d)",
                     layer, what, l->n_in, INT32_MAX / (255 * 127));
        return -1;
    }
    int N = l->n_out, K = l->n_in, k4 = (K + 3) / 4;
    l->q = dq_malloc((size_t)N * K);
    l->q_scale = dq_malloc((size_t)N * sizeof *l->q_scale);
    l->q_colsum = dq_malloc((size_t)N * sizeof *l->q_colsum);
    size_t pack_bytes = (size_t)((N + 15) / 16) * k4 * 64;
    l->q_pack = aligned_alloc(64, pack_bytes);
    if (!l->q_pack)
        abort(); /* as dq_malloc does on OOM */
    memset(l->q_pack, 0, pack_bytes);
    for (int n = 0; n < N; n++) {
        const float *w = l->w + (size_t)n * K;
        float amax = 0;
        for (int k = 0; k < K; k++)
            amax = fabsf(w[k]) > amax ? fabsf(w[k]) : amax;
        float scale = amax > 0 ? amax / 127.0f : 1.0f;
        int32_t sum = 0;
        for (int k = 0; k < K; k++) {
            long v = lrintf(w[k] / scale);
            v = v > 127 ? 127 : v < -127 ? -127 : v;
            l->q[(size_t)n * K + k] = (int8_t)v;
            l->q_pack[(((size_t)(n / 16) * k4 + k / 4) * 16 + n % 16) * 4 + k % 4] = (int8_t)v;
            sum += (int32_t)v;
        }
        l->q_scale[n] = scale;
        l->q_colsum[n] = sum;
    }
    return 0;
}

#define FOR_EACH_LINEAR(X)                                                                 \
    X(q) X(k) X(v) X(o) X(ff_in) X(ff_out)

int bert_quantize(const bert_config *cfg, bert_weights *w)
{
    for (int i = 0; i < cfg->n_layers; i++) {
        bert_layer *ly = &w->layers[i];
#define QUANT(name)                                                                        \
    if (linear_quantize(&ly->name, #name, i) < 0) {                                        \
        bert_weights_free_quant(cfg, w);                                                   \
        return -1;                                                                         \
    }
        FOR_EACH_LINEAR(QUANT)
#undef QUANT
    }
    return 0;
}

void bert_weights_free_quant(const bert_config *cfg, bert_weights *w)
{
    if (!w || !w->layers)
        return;
    for (int i = 0; i < cfg->n_layers; i++) {
        bert_layer *ly = &w->layers[i];
#define FREEQ(name) linear_free_quant(&ly->name);
        FOR_EACH_LINEAR(FREEQ)
#undef FREEQ
    }
}

/* ---- quantising activations ---------------------------------------------- */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))
#define VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,fma")))

static inline __mmask16 tail_mask(int left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

static AVX512 void quantize_row_avx512(const float *x, int K, uint8_t *out, float *scale)
{
    const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    __m512 mx = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) {
        __m512 v = _mm512_maskz_loadu_ps(tail_mask(K - k), x + k);
        mx = _mm512_max_ps(mx, _mm512_and_ps(abs_mask, v));
    }
    float amax = _mm512_reduce_max_ps(mx);
    *scale = amax > 0 ? amax / 127.0f : 1.0f;
    __m512 inv = _mm512_set1_ps(amax > 0 ? 127.0f / amax : 1.0f);
    __m512i shift = _mm512_set1_epi32(128);
    for (int k = 0; k < K; k += 16) {
        __mmask16 m = tail_mask(K - k);
        __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), inv));
        _mm512_mask_cvtepi32_storeu_epi8(out + k, m, _mm512_add_epi32(v, shift));
    }
}

static void quantize_row(const float *x, int K, uint8_t *out, float *scale)
{
    int stride = q8_stride(K);
    if (bert_isa_get() >= BERT_ISA_AVX512) {
        quantize_row_avx512(x, K, out, scale);
    } else {
        float amax = 0;
        for (int k = 0; k < K; k++)
            amax = fabsf(x[k]) > amax ? fabsf(x[k]) : amax;
        *scale = amax > 0 ? amax / 127.0f : 1.0f;
        float inv = amax > 0 ? 127.0f / amax : 1.0f;
        for (int k = 0; k < K; k++)
            out[k] = (uint8_t)(lrintf(x[k] * inv) + 128);
    }
    /* the packed weights are zero past K, so padding only needs to be defined */
    memset(out + K, 128, (size_t)(stride - K));
}

/* ---- the GEMM -------------------------------------------------------------- */

enum { MR = 6, NB = 4 }; /* rows x 16-channel blocks per VNNI tile: 24 accumulators */

typedef struct {
    int M, N, K;
    const float *A;
    int lda;
    const bert_linear *l;
    uint8_t *aq;
    float *ascale;
    float *C;
    int ldc;
    gemm_epilogue epi;
    int n_slices;
    bool split_rows;
} q8_job;

/* C[r][n0 + c] from integer dot products acc (rows, ld 64): rescale, shift
 * back, bias, GELU. */
static void q8_store(const q8_job *j, int m0, int rows, int n0, int cols, const int32_t *acc)
{
    const bert_linear *l = j->l;
    for (int r = 0; r < rows; r++) {
        float sa = j->ascale[m0 + r];
        float *c = j->C + (size_t)(m0 + r) * j->ldc + n0;
        for (int n = 0; n < cols; n++) {
            int32_t v = acc[r * 64 + n] - 128 * l->q_colsum[n0 + n];
            c[n] = (float)v * (sa * l->q_scale[n0 + n]);
        }
        if (j->epi != GEMM_PLAIN)
            vec_add(c, l->b + n0, cols);
        if (j->epi == GEMM_BIAS_GELU)
            vec_gelu(c, cols);
    }
}

static inline __attribute__((always_inline)) VNNI void
q8_tile(int mr, int nb, int k4, const uint8_t *A, size_t sa, const int8_t *B, size_t sb,
        int32_t *out)
{
    __m512i acc[MR][NB];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int c = 0; c < nb; c++)
            acc[r][c] = _mm512_setzero_si512();
    for (int kk = 0; kk < k4; kk++) {
        __m512i b[NB];
#pragma GCC unroll 4
        for (int c = 0; c < nb; c++)
            b[c] = _mm512_load_si512((const void *)(B + c * sb + (size_t)kk * 64));
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            int32_t a4;
            memcpy(&a4, A + r * sa + (size_t)kk * 4, 4);
            __m512i a = _mm512_set1_epi32(a4);
#pragma GCC unroll 4
            for (int c = 0; c < nb; c++)
                acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], a, b[c]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int c = 0; c < nb; c++)
            _mm512_storeu_si512((void *)(out + r * 64 + c * 16), acc[r][c]);
}

#define TILE(mr, nb)                                                                       \
    static VNNI void q8_tile_##mr##_##nb(int k4, const uint8_t *A, size_t sa, const int8_t *B, \
                                         size_t sb, int32_t *out)                          \
    {                                                                                      \
        q8_tile(mr, nb, k4, A, sa, B, sb, out);                                            \
    }
#define TILES_FOR_NB(nb) TILE(1, nb) TILE(2, nb) TILE(3, nb) TILE(4, nb) TILE(5, nb) TILE(6, nb)
TILES_FOR_NB(1)
TILES_FOR_NB(2)
TILES_FOR_NB(3)
TILES_FOR_NB(4)

typedef void (*q8_tile_fn)(int, const uint8_t *, size_t, const int8_t *, size_t, int32_t *);
#define ROW(nb)                                                                            \
    {q8_tile_1_##nb, q8_tile_2_##nb, q8_tile_3_##nb, q8_tile_4_##nb, q8_tile_5_##nb,        \
     q8_tile_6_##nb}
static const q8_tile_fn q8_tiles[NB][MR] = {ROW(1), ROW(2), ROW(3), ROW(4)};

static void q8_block_vnni(const q8_job *j, int m0, int m1, int n0, int n1)
{
    int k4 = (j->K + 3) / 4;
    size_t sa = (size_t)q8_stride(j->K), sb = (size_t)k4 * 64;
    int32_t acc[MR * 64];
    for (int n = n0; n < n1; n += NB * 16) {
        int cols = n1 - n < NB * 16 ? n1 - n : NB * 16;
        int nb = (cols + 15) / 16;
        const int8_t *B = j->l->q_pack + (size_t)(n / 16) * sb;
        for (int m = m0; m < m1; m += MR) {
            int rows = m1 - m < MR ? m1 - m : MR;
            q8_tiles[nb - 1][rows - 1](k4, j->aq + (size_t)m * sa, sa, B, sb, acc);
            q8_store(j, m, rows, n, cols, acc);
        }
    }
}

/* The same integer arithmetic without VNNI, one output at a time. */
static void q8_block_plain(const q8_job *j, int m0, int m1, int n0, int n1)
{
    size_t sa = (size_t)q8_stride(j->K);
    int32_t acc[64];
    for (int m = m0; m < m1; m++)
        for (int n = n0; n < n1; n += 64) {
            int cols = n1 - n < 64 ? n1 - n : 64;
            for (int c = 0; c < cols; c++) {
                const uint8_t *a = j->aq + (size_t)m * sa;
                const int8_t *q = j->l->q + (size_t)(n + c) * j->K;
                int32_t s = 0;
                for (int k = 0; k < j->K; k++)
                    s += (int32_t)a[k] * q[k];
                acc[c] = s;
            }
            q8_store(j, m, 1, n, cols, acc);
        }
}

static void q8_slice(void *ctx, int task, int thread)
{
    (void)thread;
    const q8_job *j = ctx;
    int m0, m1, n0, n1;
    gemm_slice_bounds(j->M, j->N, j->split_rows, task, j->n_slices, &m0, &m1, &n0, &n1);
    if (j->split_rows) {
        size_t sa = (size_t)q8_stride(j->K);
        for (int m = m0; m < m1; m++)
            quantize_row(j->A + (size_t)m * j->lda, j->K, j->aq + m * sa, &j->ascale[m]);
    }
    if (m1 <= m0 || n1 <= n0)
        return;
    if (bert_isa_get() >= BERT_ISA_VNNI)
        q8_block_vnni(j, m0, m1, n0, n1);
    else
        q8_block_plain(j, m0, m1, n0, n1);
}

void gemm_q8(bert_pool *p, int M, const float *A, int lda, const bert_linear *l, uint8_t *aq,
             float *ascale, float *C, int ldc, gemm_epilogue epi)
{
    if (M <= 0)
        return;
    int threads = bert_pool_size(p);
    q8_job j = {M, l->n_out, l->n_in, A, lda, l, aq, ascale, C, ldc, epi, threads, true};
    if (M < 32 * threads) {
        j.split_rows = false;
        size_t sa = (size_t)q8_stride(j.K);
        for (int m = 0; m < M; m++)
            quantize_row(A + (size_t)m * lda, j.K, aq + m * sa, &ascale[m]);
        int blocks = (j.N + 15) / 16;
        j.n_slices = blocks < threads ? blocks : threads;
    }
    bert_pool_run(p, q8_slice, &j, j.n_slices);
}

void gemm_q8_naive(int M, const float *A, int lda, const bert_linear *l, float *C, int ldc,
                   gemm_epilogue epi)
{
    int N = l->n_out, K = l->n_in;
    for (int m = 0; m < M; m++) {
        const float *x = A + (size_t)m * lda;
        float amax = 0;
        for (int k = 0; k < K; k++)
            amax = fabsf(x[k]) > amax ? fabsf(x[k]) : amax;
        float sa = amax > 0 ? amax / 127.0f : 1.0f, inv = amax > 0 ? 127.0f / amax : 1.0f;
        for (int n = 0; n < N; n++) {
            int32_t s = 0;
            for (int k = 0; k < K; k++)
                s += (int32_t)lrintf(x[k] * inv) * l->q[(size_t)n * K + k];
            double v = (double)s * sa * l->q_scale[n];
            if (epi != GEMM_PLAIN)
                v += l->b[n];
            if (epi == GEMM_BIAS_GELU)
                v = 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
            C[(size_t)m * ldc + n] = (float)v;
        }
    }
}
