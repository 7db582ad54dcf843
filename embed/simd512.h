/* simd512.h - private to embed/: AVX-512 exp and GELU shared by the vector
 * kernels (vecmath.c), the SGEMM's fused epilogue (gemm_avx512.c) and
 * attention (lm_attn.c).
 *
 * Functions are static inline with target attributes, so including files
 * still build for any x86-64 and call them only after bert_isa_get().
 */
#ifndef DQ_EMBED_SIMD512_H
#define DQ_EMBED_SIMD512_H

#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma")))

/* Cephes' expf polynomial (about 1 ulp) on x clamped to [-87, 88]. */
static inline AVX512 __m512 exp512(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* q's coefficients, highest degree first, in 2^r = 1 + r q(r): a minimax
 * fit on [-1/2, 1/2] for float evaluation, shared by exp2_512 and
 * lm_attn.c's exp2_256 so that both widths give the same numbers. */
static const float EXP2_Q[] = {1.5353362e-4f, 1.3398875e-3f, 9.6184369e-3f,
                               5.5503324e-2f, 2.4022648e-1f, 6.9314718e-1f};
enum { EXP2_Q_TERMS = sizeof EXP2_Q / sizeof EXP2_Q[0] };

/* 2^x for x <= 0, to within 1e-7 relative (EXP2_Q), and exactly 0 from
 * x = -200 down to -inf. Four instructions fewer than exp512, for
 * kernels that can fold log2(e) into their inputs (the softmax of
 * lm_attn.c, as flash attention does). */
static inline AVX512 __m512 exp2_512(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-200.0f));
    __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_sub_ps(x, n);
    __m512 q = _mm512_set1_ps(EXP2_Q[0]);
#pragma GCC unroll 8
    for (int i = 1; i < EXP2_Q_TERMS; i++)
        q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(EXP2_Q[i]));
    return _mm512_scalef_ps(_mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f)), n);
}

/* 0.5 x (1 + erf(x / sqrt 2)). erf is Eigen's (TensorFlow's) rational
 * minimax fit on [-4, 4], where float erf reaches +-1: about half the
 * instructions of an exp-based erf, which matters because GELU runs on
 * every element of the largest GEMM's output. Absolute error of the GELU
 * stays below 1.3e-6 over [-12, 12] (most of it x's own rounding). */
static inline AVX512 __m512 gelu512(__m512 x)
{
    __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
    z = _mm512_max_ps(_mm512_min_ps(z, _mm512_set1_ps(4.0f)), _mm512_set1_ps(-4.0f));
    __m512 z2 = _mm512_mul_ps(z, z);
    __m512 p = _mm512_fmadd_ps(z2, _mm512_set1_ps(-2.72614225801306e-10f),
                               _mm512_set1_ps(2.77068142495902e-08f));
    p = _mm512_fmadd_ps(z2, p, _mm512_set1_ps(-2.10102402082508e-06f));
    p = _mm512_fmadd_ps(z2, p, _mm512_set1_ps(-5.69250639462346e-05f));
    p = _mm512_fmadd_ps(z2, p, _mm512_set1_ps(-7.34990630326855e-04f));
    p = _mm512_fmadd_ps(z2, p, _mm512_set1_ps(-2.95459980854025e-03f));
    p = _mm512_fmadd_ps(z2, p, _mm512_set1_ps(-1.60960333262415e-02f));
    p = _mm512_mul_ps(z, p);
    __m512 q = _mm512_fmadd_ps(z2, _mm512_set1_ps(-1.45660718464996e-05f),
                               _mm512_set1_ps(-2.13374055278905e-04f));
    q = _mm512_fmadd_ps(z2, q, _mm512_set1_ps(-1.68282697438203e-03f));
    q = _mm512_fmadd_ps(z2, q, _mm512_set1_ps(-7.37332916720468e-03f));
    q = _mm512_fmadd_ps(z2, q, _mm512_set1_ps(-1.42647390514189e-02f));
    /* 1 / q by rcp14 and one Newton step (~1 ulp): a division would be the
     * slowest instruction here */
    __m512 t = _mm512_rcp14_ps(q);
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(q, t, _mm512_set1_ps(2.0f)));
    __m512 erf = _mm512_mul_ps(p, t);
    __m512 hx = _mm512_mul_ps(_mm512_set1_ps(0.5f), x);
    return _mm512_fmadd_ps(hx, erf, hx);
}

#endif
