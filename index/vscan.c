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

#include <stdbool.h>
#include <string.h>

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

/* Each ISA has one scan, over rows of floats or of 8-bit codes: `u8` is a
 * constant at every call, so the compiler makes the two kernels from it. */
#define INLINE static inline __attribute__((always_inline))

/* ---- AVX2 + FMA ---------------------------------------------------------- */

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Eight values of row r (of dim) from d, as floats. */
AVX2 INLINE __m256 row8(const void *x, bool u8, size_t r, int dim, int d)
{
    size_t at = r * (size_t)dim + (size_t)d;
    if (u8)
        return _mm256_cvtepi32_ps(
            _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)((const uint8_t *)x + at))));
    return _mm256_loadu_ps((const float *)x + at);
}

AVX2 INLINE float row1(const void *x, bool u8, size_t r, int dim, int d)
{
    size_t at = r * (size_t)dim + (size_t)d;
    return u8 ? (float)((const uint8_t *)x)[at] : ((const float *)x)[at];
}

AVX2 INLINE void scan_avx2(const float *q, const void *x, bool u8, size_t n, int dim, float *out)
{
    int body = dim & ~7;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < body; d += 8) {
            __m256 qv = _mm256_loadu_ps(q + d);
            a0 = _mm256_fmadd_ps(qv, row8(x, u8, i, dim, d), a0);
            a1 = _mm256_fmadd_ps(qv, row8(x, u8, i + 1, dim, d), a1);
            a2 = _mm256_fmadd_ps(qv, row8(x, u8, i + 2, dim, d), a2);
            a3 = _mm256_fmadd_ps(qv, row8(x, u8, i + 3, dim, d), a3);
        }
        float s[4] = {hsum256(a0), hsum256(a1), hsum256(a2), hsum256(a3)};
        for (int d = body; d < dim; d++)
            for (size_t j = 0; j < 4; j++)
                s[j] += q[d] * row1(x, u8, i + j, dim, d);
        memcpy(out + i, s, sizeof s);
    }
    for (; i < n; i++) {
        __m256 a = _mm256_setzero_ps();
        for (int d = 0; d < body; d += 8)
            a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), row8(x, u8, i, dim, d), a);
        float s = hsum256(a);
        for (int d = body; d < dim; d++)
            s += q[d] * row1(x, u8, i, dim, d);
        out[i] = s;
    }
}

AVX2 static void dots_avx2(const float *q, const float *x, size_t n, int dim, float *out)
{
    scan_avx2(q, x, false, n, dim, out);
}

AVX2 static void sq8_avx2(const float *w, const uint8_t *codes, size_t n, int dim, float *out)
{
    scan_avx2(w, codes, true, n, dim, out);
}

static const vscan_ops OPS_AVX2 = {dots_avx2, sq8_avx2};

/* ---- AVX-512 ------------------------------------------------------------- */

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))

/* Lanes d .. d + 16 of a row of dim, the ones past dim masked off. */
AVX512 static __mmask16 tail_mask(int left)
{
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

/* Sixteen values of row r (of dim) from d, as floats, lanes outside m zero. */
AVX512 INLINE __m512 row16(const void *x, bool u8, size_t r, int dim, int d, __mmask16 m)
{
    size_t at = r * (size_t)dim + (size_t)d;
    if (u8)
        return _mm512_cvtepi32_ps(
            _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, (const uint8_t *)x + at)));
    return _mm512_maskz_loadu_ps(m, (const float *)x + at);
}

AVX512 INLINE void scan_avx512(const float *q, const void *x, bool u8, size_t n, int dim,
                               float *out)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < dim; d += 16) {
            __mmask16 m = tail_mask(dim - d);
            __m512 qv = _mm512_maskz_loadu_ps(m, q + d);
            a0 = _mm512_fmadd_ps(qv, row16(x, u8, i, dim, d, m), a0);
            a1 = _mm512_fmadd_ps(qv, row16(x, u8, i + 1, dim, d, m), a1);
            a2 = _mm512_fmadd_ps(qv, row16(x, u8, i + 2, dim, d, m), a2);
            a3 = _mm512_fmadd_ps(qv, row16(x, u8, i + 3, dim, d, m), a3);
        }
        out[i] = _mm512_reduce_add_ps(a0);
        out[i + 1] = _mm512_reduce_add_ps(a1);
        out[i + 2] = _mm512_reduce_add_ps(a2);
        out[i + 3] = _mm512_reduce_add_ps(a3);
    }
    for (; i < n; i++) {
        __m512 a = _mm512_setzero_ps();
        for (int d = 0; d < dim; d += 16) {
            __mmask16 m = tail_mask(dim - d);
            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), row16(x, u8, i, dim, d, m), a);
        }
        out[i] = _mm512_reduce_add_ps(a);
    }
}

AVX512 static void dots_avx512(const float *q, const float *x, size_t n, int dim, float *out)
{
    scan_avx512(q, x, false, n, dim, out);
}

AVX512 static void sq8_avx512(const float *w, const uint8_t *codes, size_t n, int dim, float *out)
{
    scan_avx512(w, codes, true, n, dim, out);
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
