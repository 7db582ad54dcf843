/* vscan.c - float and 8-bit dot-product scans for the vector index, plain C
 * and AVX2 / AVX-512.
 *
 * The SIMD versions are compiled with target attributes and picked at run
 * time, so one binary runs on any x86-64. Rows are taken four at a time so
 * four independent accumulator chains hide the FMA latency; a dimension
 * that is not a multiple of the vector width ends in a masked (AVX-512) or
 * scalar (AVX2) tail.
 */
#include "index/vscan.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VSCAN_X86 1
#else
#define VSCAN_X86 0
#endif

/* ---- scalar reference ---------------------------------------------------- */

static void dots_scalar(const float *q, const float *x, size_t n, int dim, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const float *r = x + i * (size_t)dim;
        float s = 0;
        for (int d = 0; d < dim; d++)
            s += q[d] * r[d];
        out[i] = s;
    }
}

static void sq8_scalar(const float *w, const uint8_t *codes, size_t n, int dim, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * (size_t)dim;
        float s = 0;
        for (int d = 0; d < dim; d++)
            s += w[d] * (float)c[d];
        out[i] = s;
    }
}

static const vscan_ops OPS_SCALAR = {dots_scalar, sq8_scalar};

#if VSCAN_X86

/* ---- AVX2 + FMA ---------------------------------------------------------- */

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2 static void dots_avx2(const float *q, const float *x, size_t n, int dim, float *out)
{
    int body = dim & ~7;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *r = x + i * (size_t)dim;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < body; d += 8) {
            __m256 qv = _mm256_loadu_ps(q + d);
            a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r + d), a0);
            a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r + dim + d), a1);
            a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r + 2 * dim + d), a2);
            a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r + 3 * dim + d), a3);
        }
        float s[4] = {hsum256(a0), hsum256(a1), hsum256(a2), hsum256(a3)};
        for (int d = body; d < dim; d++)
            for (int j = 0; j < 4; j++)
                s[j] += q[d] * r[(size_t)j * (size_t)dim + (size_t)d];
        for (int j = 0; j < 4; j++)
            out[i + (size_t)j] = s[j];
    }
    for (; i < n; i++) {
        const float *r = x + i * (size_t)dim;
        __m256 a = _mm256_setzero_ps();
        for (int d = 0; d < body; d += 8)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(r + d), a);
        float s = hsum256(a);
        for (int d = body; d < dim; d++)
            s += q[d] * r[d];
        out[i] = s;
    }
}

AVX2 static __m256 load8_u8(const uint8_t *c)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)c)));
}

AVX2 static void sq8_avx2(const float *w, const uint8_t *codes, size_t n, int dim, float *out)
{
    int body = dim & ~7;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint8_t *c = codes + i * (size_t)dim;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < body; d += 8) {
            __m256 wv = _mm256_loadu_ps(w + d);
            a0 = _mm256_fmadd_ps(wv, load8_u8(c + d), a0);
            a1 = _mm256_fmadd_ps(wv, load8_u8(c + dim + d), a1);
            a2 = _mm256_fmadd_ps(wv, load8_u8(c + 2 * dim + d), a2);
            a3 = _mm256_fmadd_ps(wv, load8_u8(c + 3 * dim + d), a3);
        }
        float s[4] = {hsum256(a0), hsum256(a1), hsum256(a2), hsum256(a3)};
        for (int d = body; d < dim; d++)
            for (int j = 0; j < 4; j++)
                s[j] += w[d] * (float)c[(size_t)j * (size_t)dim + (size_t)d];
        for (int j = 0; j < 4; j++)
            out[i + (size_t)j] = s[j];
    }
    for (; i < n; i++) {
        const uint8_t *c = codes + i * (size_t)dim;
        __m256 a = _mm256_setzero_ps();
        for (int d = 0; d < body; d += 8)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(w + d), load8_u8(c + d), a);
        float s = hsum256(a);
        for (int d = body; d < dim; d++)
            s += w[d] * (float)c[d];
        out[i] = s;
    }
}

static const vscan_ops OPS_AVX2 = {dots_avx2, sq8_avx2};

/* ---- AVX-512 ------------------------------------------------------------- */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))

/* Lanes d .. d + 16 of a row of dim, the ones past dim masked off. */
AVX512 static __mmask16 tail_mask(int left)
{
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

AVX512 static void dots_avx512(const float *q, const float *x, size_t n, int dim, float *out)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float *r = x + i * (size_t)dim;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < dim; d += 16) {
            __mmask16 m = tail_mask(dim - d);
            __m512 qv = _mm512_maskz_loadu_ps(m, q + d);
            a0 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r + d), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r + dim + d), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r + 2 * dim + d), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, r + 3 * dim + d), a3);
        }
        out[i] = _mm512_reduce_add_ps(a0);
        out[i + 1] = _mm512_reduce_add_ps(a1);
        out[i + 2] = _mm512_reduce_add_ps(a2);
        out[i + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; i < n; i++) {
        const float *r = x + i * (size_t)dim;
        __m512 a = _mm512_setzero_ps();
        for (int d = 0; d < dim; d += 16) {
            __mmask16 m = tail_mask(dim - d);
            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), _mm512_maskz_loadu_ps(m, r + d),
                                a);
        }
        out[i] = _mm512_reduce_add_ps(a);
    }
}

AVX512 static __m512 load16_u8(__mmask16 m, const uint8_t *c)
{
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c)));
}

AVX512 static void sq8_avx512(const float *w, const uint8_t *codes, size_t n, int dim, float *out)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint8_t *c = codes + i * (size_t)dim;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < dim; d += 16) {
            __mmask16 m = tail_mask(dim - d);
            __m512 wv = _mm512_maskz_loadu_ps(m, w + d);
            a0 = _mm512_fmadd_ps(wv, load16_u8(m, c + d), a0);
            a1 = _mm512_fmadd_ps(wv, load16_u8(m, c + dim + d), a1);
            a2 = _mm512_fmadd_ps(wv, load16_u8(m, c + 2 * dim + d), a2);
            a3 = _mm512_fmadd_ps(wv, load16_u8(m, c + 3 * dim + d), a3);
        }
        out[i] = _mm512_reduce_add_ps(a0);
        out[i + 1] = _mm512_reduce_add_ps(a1);
        out[i + 2] = _mm512_reduce_add_ps(a2);
        out[i + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; i < n; i++) {
        const uint8_t *c = codes + i * (size_t)dim;
        __m512 a = _mm512_setzero_ps();
        for (int d = 0; d < dim; d += 16) {
            __mmask16 m = tail_mask(dim - d);
            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + d), load16_u8(m, c + d), a);
        }
        out[i] = _mm512_reduce_add_ps(a);
    }
}

static const vscan_ops OPS_AVX512 = {dots_avx512, sq8_avx512};

#endif /* VSCAN_X86 */

vscan_isa vscan_best(void)
{
#if VSCAN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
        return VSCAN_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return VSCAN_AVX2;
#endif
    return VSCAN_SCALAR;
}

const vscan_ops *vscan_ops_for(vscan_isa isa)
{
    vscan_isa best = vscan_best();
    if (isa > best)
        isa = best;
#if VSCAN_X86
    if (isa == VSCAN_AVX512)
        return &OPS_AVX512;
    if (isa == VSCAN_AVX2)
        return &OPS_AVX2;
#endif
    return &OPS_SCALAR;
}
