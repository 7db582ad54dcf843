/* lm_qdot.c - the fast dot-product kernels of the LLM engine: AVX2 (with
 * F16C) and AVX-512 VNNI on 256-bit vectors, chosen by lm_matmul at run time
 * and tested against lm_dot_ref.
 *
 * The quantized kernel is written once (lm_qdot_body.h) and compiled for each
 * instruction set: only the u8 x s8 product differs. AVX2's maddubs adds
 * pairs into saturating 16-bit lanes, which the codes here never reach (at
 * most 63 x 127 x 2; Q8_0 goes through the sign trick, 128 x 127 x 2; the
 * 512-bit kernel makes Q8_0's codes unsigned instead, see scales16).
 */
#include "embed/lm_impl.h"
#include "embed/lm_blocks.h"

#include <immintrin.h>
#include <string.h>

enum { PREFETCH_AHEAD = 1024 };

static inline AVX2_TARGET float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Calls kernel with nt (1..8) as a constant, one inlined copy per count, so
 * that its per-token accumulators live in registers. */
#define QD_DISPATCH_NT(kernel, W, n, xq, nt, out, ldo)                                     \
    switch (nt) {                                                                          \
    case 1: kernel(W, n, xq, 1, out, ldo); break;                                          \
    case 2: kernel(W, n, xq, 2, out, ldo); break;                                          \
    case 3: kernel(W, n, xq, 3, out, ldo); break;                                          \
    case 4: kernel(W, n, xq, 4, out, ldo); break;                                          \
    case 5: kernel(W, n, xq, 5, out, ldo); break;                                          \
    case 6: kernel(W, n, xq, 6, out, ldo); break;                                          \
    case 7: kernel(W, n, xq, 7, out, ldo); break;                                          \
    default: kernel(W, n, xq, 8, out, ldo); break;                                         \
    }

#define QD_FN qdot_avx2
#define QD_N qdot_avx2_n
#define QD_TARGET AVX2_TARGET
#define QD_DOT(q, x) _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), _mm256_set1_epi16(1))
#include "embed/lm_qdot_body.h"
#undef QD_FN
#undef QD_N
#undef QD_TARGET
#undef QD_DOT

#define QD_FN qdot_vnni
#define QD_N qdot_vnni_n
#define QD_TARGET VNNI_TARGET
#define QD_DOT(q, x) _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, x)
#include "embed/lm_qdot_body.h"

void lm_qdot_avx2(const lm_mat *W, int n, const lm_qrow *xq, int nt, float *out, int ldo)
{
    qdot_avx2(W, n, xq, nt, out, ldo);
}

/* The AVX-512 form: two blocks per 512-bit product, lanes 0-7 block b and
 * 8-15 block b + 1 (each 4 lanes one half). Per token and 8 blocks, the 16
 * half scales times the token's block scales make one vector P; a pair's
 * lane scales are a permute of it, and the offsets c of the 16 halves meet
 * the token's 16 scaled sums (xq->dsx) in one multiply-add. */
static inline __attribute__((always_inline)) VNNI_TARGET void
qdot512_n(const lm_mat *W, int n, const lm_qrow *xq, const int nt, float *out, int ldo,
          const gguf_type type)
{
    const uint8_t *row = W->data + (size_t)n * W->row_bytes;
    const int nb = W->K / 32;
    const size_t span8 = W->row_bytes * 256 / (size_t)W->K; /* bytes of 8 blocks */
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    __m512 acc[8], off[8];
    acc[1] = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int t = 0; t < nt; t++)
        acc[t] = off[t] = _mm512_setzero_ps();
    for (int b0 = 0; b0 < nb; b0 += 8) {
        int bn = nb - b0 < 8 ? nb - b0 : 8;
        if (nt == 1) {
            /* decode streams each row once: ask for the bytes 1 KiB ahead, so
             * more misses are in flight than the hardware prefetcher keeps */
            const uint8_t *p = row + (size_t)b0 / 8 * span8;
            for (size_t o = 0; o < span8; o += 64)
                _mm_prefetch((const char *)p + PREFETCH_AHEAD + o, _MM_HINT_T0);
        }
        const uint8_t *sup;
        __m512 av, cv;
        scales16(type, row, b0, bn, &sup, &av, &cv);
        __mmask8 m8 = (__mmask8)((1u << bn) - 1);
        __mmask16 m16 = (__mmask16)((1u << (2 * bn)) - 1);
        __m512 P[8];
#pragma GCC unroll 8
        for (int t = 0; t < nt; t++) {
            __m512 xd = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(
                                                       _mm256_maskz_loadu_ps(m8, xq[t].d + b0)));
            P[t] = _mm512_mul_ps(av, xd);
            off[t] = _mm512_fmadd_ps(cv, _mm512_maskz_loadu_ps(m16, xq[t].dsx + 2 * b0), off[t]);
        }
        __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
        for (int j = 0; j < bn; j += 2) {
            int b = b0 + j;
            __m512i q = _mm512_inserti64x4(
                _mm512_castsi256_si512(block_codes(type, row, sup, b, j)),
                block_codes(type, row, sup, b + 1, j + 1), 1);
            if (type == GGUF_TYPE_Q8_0) /* q + 128: see scales16 */
                q = _mm512_xor_si512(q, _mm512_set1_epi8((char)0x80));
#pragma GCC unroll 8
            for (int t = 0; t < nt; t++) {
                __m512i x = _mm512_loadu_si512(xq[t].q + 32 * b);
                __m512 f = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, x));
                if (nt == 1) {
                    /* one token (decode): pairs alternate between two
                     * accumulators, so each add waits for the one two
                     * pairs back, not the last */
                    __m512 older = acc[1];
                    acc[1] = acc[0];
                    acc[0] = _mm512_fmadd_ps(f, _mm512_permutexvar_ps(idx, P[0]), older);
                } else {
                    acc[t] = _mm512_fmadd_ps(f, _mm512_permutexvar_ps(idx, P[t]), acc[t]);
                }
            }
            idx = _mm512_add_epi32(idx, _mm512_set1_epi32(4));
        }
    }
    if (nt == 1)
        acc[0] = _mm512_add_ps(acc[0], acc[1]);
#pragma GCC unroll 8
    for (int t = 0; t < nt; t++)
        out[(size_t)t * ldo] = _mm512_reduce_add_ps(_mm512_add_ps(acc[t], off[t]));
}

/* One copy per type as well as per token count: the type's branches (in
 * scales16 and block_codes, per pair) leave the loops. */
#define QD512_TYPED(name, T)                                                                \
    static inline __attribute__((always_inline)) VNNI_TARGET void name(                     \
        const lm_mat *W, int n, const lm_qrow *xq, const int nt, float *out, int ldo)       \
    {                                                                                       \
        qdot512_n(W, n, xq, nt, out, ldo, T);                                               \
    }
QD512_TYPED(qdot512_q8_0, GGUF_TYPE_Q8_0)
QD512_TYPED(qdot512_q4_0, GGUF_TYPE_Q4_0)
QD512_TYPED(qdot512_q4_k, GGUF_TYPE_Q4_K)
QD512_TYPED(qdot512_q5_k, GGUF_TYPE_Q5_K)
QD512_TYPED(qdot512_q6_k, GGUF_TYPE_Q6_K)

static VNNI_TARGET void qdot512(const lm_mat *W, int n, const lm_qrow *xq, int nt, float *out,
                                int ldo)
{
    switch (W->type) {
    case GGUF_TYPE_Q8_0: QD_DISPATCH_NT(qdot512_q8_0, W, n, xq, nt, out, ldo); break;
    case GGUF_TYPE_Q4_0: QD_DISPATCH_NT(qdot512_q4_0, W, n, xq, nt, out, ldo); break;
    case GGUF_TYPE_Q4_K: QD_DISPATCH_NT(qdot512_q4_k, W, n, xq, nt, out, ldo); break;
    case GGUF_TYPE_Q5_K: QD_DISPATCH_NT(qdot512_q5_k, W, n, xq, nt, out, ldo); break;
    default: QD_DISPATCH_NT(qdot512_q6_k, W, n, xq, nt, out, ldo); break;
    }
}

void lm_qdot_vnni(const lm_mat *W, int n, const lm_qrow *xq, int nt, float *out, int ldo)
{
    if (W->K % 64 == 0)
        qdot512(W, n, xq, nt, out, ldo);
    else
        qdot_vnni(W, n, xq, nt, out, ldo);
}

/* 8 weights of row p from element k on, widened to float. */
static inline AVX2_TARGET __m256 load8(gguf_type t, const uint8_t *p, int k)
{
    if (t == GGUF_TYPE_F32)
        return _mm256_loadu_ps((const float *)p + k);
    __m128i h = _mm_loadu_si128((const __m128i *)(p + 2 * (size_t)k));
    if (t == GGUF_TYPE_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

AVX2_TARGET void lm_fdot_avx2(const lm_mat *W, int n, const float *X, int K, int nt, float *out,
                              int ldo)
{
    const uint8_t *row = W->data + (size_t)n * W->row_bytes;
    for (int t = 0; t < nt; t++) {
        const float *x = X + (size_t)t * K;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int k = 0;
        for (; k + 16 <= K; k += 16) {
            a0 = _mm256_fmadd_ps(load8(W->type, row, k), _mm256_loadu_ps(x + k), a0);
            a1 = _mm256_fmadd_ps(load8(W->type, row, k + 8), _mm256_loadu_ps(x + k + 8), a1);
        }
        float s = hsum256(_mm256_add_ps(a0, a1));
        if (k < K) {
            float w[16];
            int esz = W->type == GGUF_TYPE_F32 ? 4 : 2;
            lm_dequant_row(W->type, row + (size_t)k * esz, w, K - k);
            for (int i = 0; i < K - k; i++)
                s += w[i] * x[k + i];
        }
        out[(size_t)t * ldo] = s;
    }
}

/* a and b combined lane by lane: the larger (floats) or, with sum, the
 * sum of their int32 lanes (carried in float bits). */
static inline __attribute__((always_inline)) VNNI_TARGET __m512
combine16(__m512 a, __m512 b, bool sum)
{
    if (sum)
        return _mm512_castsi512_ps(
            _mm512_add_epi32(_mm512_castps_si512(a), _mm512_castps_si512(b)));
    return _mm512_max_ps(a, b);
}

/* Lane i: the 16 lanes of v[i] combined (combine16), for 16 vectors at
 * once: each step folds two vectors' halves into one vector, 46
 * instructions where 16 separate reductions take about 130 in 16
 * dependent chains. v is overwritten. */
static inline __attribute__((always_inline)) VNNI_TARGET __m512 reduce16(__m512 *v,
                                                                         bool sum)
{
    _Pragma("GCC unroll 8")
    for (int i = 0; i < 8; i++) /* 256-bit halves: v[i] holds v[2i]'s, v[2i+1]'s */
        v[i] = combine16(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
                         _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xee), sum);
    _Pragma("GCC unroll 4")
    for (int i = 0; i < 4; i++) /* 128-bit lane j of v[i]: vector 4i + j */
        v[i] = combine16(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xdd), sum);
    _Pragma("GCC unroll 2")
    for (int i = 0; i < 2; i++) {
        __m512d a = _mm512_castps_pd(v[2 * i]), b = _mm512_castps_pd(v[2 * i + 1]);
        v[i] = combine16(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)), sum);
    }
    /* lane 4j + k: vector 4k + j */
    __m512 z = combine16(_mm512_shuffle_ps(v[0], v[1], 0x88), _mm512_shuffle_ps(v[0], v[1], 0xdd),
                         sum);
    return _mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), z);
}

/* Sixteen blocks of 32 at a time, their maxima and sums reduced together
 * (reduce16); the tail's missing blocks are zeros, never stored. */
VNNI_TARGET void lm_quantize_row_avx512(const float *x, int K, lm_qrow *out)
{
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    int8_t *q = out->q; /* out's pointers held: a store through q may alias them */
    float *od = out->d, *dsx = out->dsx;
    for (int b0 = 0; b0 < K / 32; b0 += 16) {
        int n = K / 32 - b0 < 16 ? K / 32 - b0 : 16;
        const float *xb = x + 32 * (size_t)b0;
        __m512 m[16], s0[16], s1[16];
        _Pragma("GCC unroll 16")
        for (int b = 0; b < 16; b++) {
            __m512 v0 = b < n ? _mm512_loadu_ps(xb + 32 * b) : _mm512_setzero_ps();
            __m512 v1 = b < n ? _mm512_loadu_ps(xb + 32 * b + 16) : _mm512_setzero_ps();
            /* NaN lanes drop out of the max as in the scalar loop (vmaxps
             * keeps its second operand when the first is NaN) */
            m[b] = _mm512_max_ps(_mm512_abs_ps(v1),
                                 _mm512_max_ps(_mm512_abs_ps(v0), _mm512_setzero_ps()));
        }
        __m512 amax = reduce16(m, false), d = _mm512_div_ps(amax, hi);
        __m512 inv = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(amax, _mm512_setzero_ps(), _CMP_GT_OQ),
                                         hi, amax);
        float invs[16];
        _mm512_storeu_ps(invs, inv);
        _Pragma("GCC unroll 16")
        for (int b = 0; b < 16; b++) {
            if (b >= n) {
                s0[b] = s1[b] = _mm512_setzero_ps();
                continue;
            }
            __m512 iv = _mm512_set1_ps(invs[b]);
            __m512 v0 = _mm512_loadu_ps(xb + 32 * b), v1 = _mm512_loadu_ps(xb + 32 * b + 16);
            __m512i q0 =
                _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v0, iv), lo), hi));
            __m512i q1 =
                _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v1, iv), lo), hi));
            _mm_storeu_si128((__m128i *)(q + 32 * (b0 + b)), _mm512_cvtepi32_epi8(q0));
            _mm_storeu_si128((__m128i *)(q + 32 * (b0 + b) + 16), _mm512_cvtepi32_epi8(q1));
            s0[b] = _mm512_castsi512_ps(q0);
            s1[b] = _mm512_castsi512_ps(q1);
        }
        __m512 ds0 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_castps_si512(reduce16(s0, true))));
        __m512 ds1 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_castps_si512(reduce16(s1, true))));
        /* dsx: each block's two halves side by side */
        __m512i even = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(8));
        __mmask16 live = (__mmask16)((1u << n) - 1);
        _mm512_mask_storeu_ps(od + b0, live, d);
        _mm512_mask_storeu_ps(dsx + 2 * b0, (__mmask16)(n >= 8 ? 0xffff : (1u << 2 * n) - 1),
                              _mm512_permutex2var_ps(ds0, even, ds1));
        if (n > 8)
            _mm512_mask_storeu_ps(dsx + 2 * b0 + 16, (__mmask16)((1u << 2 * (n - 8)) - 1),
                                  _mm512_permutex2var_ps(ds0, odd, ds1));
    }
}
