/* lm_blocks.h - private to embed/: the quantized blocks' codes and scales
 * read with AVX2 (and AVX-512 for scales16), shared by the one-row kernels (lm_qdot.c) and prefill's
 * packed product (lm_gemm.c). Same values as lm_block_codes and
 * lm_block_scales in lm_quant.c, the reference.
 */
#ifndef DQ_EMBED_LM_BLOCKS_H
#define DQ_EMBED_LM_BLOCKS_H

#include "embed/lm_impl.h"

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define VNNI_TARGET                                                                        \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

static inline AVX2_TARGET float half_to_float(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* The scales of blocks b0 .. b0 + bn - 1 (bn <= 8; a K-quant's 8 share one
 * super-block, which is returned). */
static inline __attribute__((always_inline)) AVX2_TARGET const uint8_t *
block_scales8(gguf_type type, const uint8_t *row, int b0, int bn, float a[8][2], float c[8][2])
{
    const uint8_t *sup = NULL;
    if (type == GGUF_TYPE_Q4_K || type == GGUF_TYPE_Q5_K) {
        sup = row + (size_t)(b0 / 8) * (type == GGUF_TYPE_Q4_K ? 144 : 176);
        float d = half_to_float(sup), dmin = half_to_float(sup + 2);
        const uint8_t *s = sup + 4;
        for (int j = 0; j < 8; j++) {
            int sc = j < 4 ? s[j] & 63 : (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
            int m = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
            a[j][0] = a[j][1] = d * (float)sc;
            c[j][0] = c[j][1] = -(dmin * (float)m);
        }
    } else if (type == GGUF_TYPE_Q6_K) {
        sup = row + (size_t)(b0 / 8) * 210;
        float d = half_to_float(sup + 208);
        const int8_t *sc = (const int8_t *)(sup + 192);
        for (int j = 0; j < 8; j++)
            for (int h = 0; h < 2; h++) {
                a[j][h] = d * (float)sc[2 * j + h];
                c[j][h] = -32 * a[j][h];
            }
    } else {
        int bytes = type == GGUF_TYPE_Q8_0 ? 34 : 18;
        for (int j = 0; j < bn; j++) {
            float d = half_to_float(row + (size_t)(b0 + j) * bytes);
            a[j][0] = a[j][1] = d;
            c[j][0] = c[j][1] = type == GGUF_TYPE_Q8_0 ? 0 : -8 * d;
        }
    }
    return sup;
}

/* The 32 codes of block b (block j of super-block sup for K-quants). */
static inline __attribute__((always_inline)) AVX2_TARGET __m256i
block_codes(gguf_type type, const uint8_t *row, const uint8_t *sup, int b, int j)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    switch (type) {
    case GGUF_TYPE_Q8_0:
        return _mm256_loadu_si256((const __m256i *)(row + (size_t)b * 34 + 2));
    case GGUF_TYPE_Q4_0: {
        __m128i v = _mm_loadu_si128((const __m128i *)(row + (size_t)b * 18 + 2));
        __m128i m = _mm_set1_epi8(0xF);
        return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
    }
    case GGUF_TYPE_Q4_K:
    case GGUF_TYPE_Q5_K: {
        bool five = type == GGUF_TYPE_Q5_K;
        __m256i v = _mm256_loadu_si256((const __m256i *)(sup + (five ? 48 : 16) + 32 * ((unsigned)j / 2)));
        __m256i q = j & 1 ? _mm256_and_si256(_mm256_srli_epi16(v, 4), m4) : _mm256_and_si256(v, m4);
        if (five) {
            __m256i h = _mm256_loadu_si256((const __m256i *)(sup + 16));
            h = _mm256_and_si256(_mm256_srl_epi16(h, _mm_cvtsi32_si128(j)), _mm256_set1_epi8(1));
            q = _mm256_or_si256(q, _mm256_slli_epi16(h, 4));
        }
        return q;
    }
    default: { /* Q6_K */
        unsigned h = (unsigned)j / 4, g = (unsigned)j % 4;
        __m256i v = _mm256_loadu_si256((const __m256i *)(sup + 64 * h + 32 * (g & 1)));
        __m256i lo = g < 2 ? _mm256_and_si256(v, m4) : _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        __m256i hb = _mm256_loadu_si256((const __m256i *)(sup + 128 + 32 * h));
        hb = _mm256_and_si256(_mm256_srl_epi16(hb, _mm_cvtsi32_si128((int)(2 * g))), _mm256_set1_epi8(3));
        return _mm256_or_si256(lo, _mm256_slli_epi16(hb, 4));
    }
    }
}

/* The scales of the 16 halves (16 values each) of blocks b0 .. b0 + 7, as
 * vectors: w = a * q + c. Same float operations as lm_block_scales, but for
 * Q8_0 in unsigned form, as vpdpbusd wants its weights: q + 128, c = -128 a
 * (the offset then meets the activations' sums, as Q4_0's -8 does). */
static inline __attribute__((always_inline)) VNNI_TARGET void
scales16(gguf_type type, const uint8_t *row, int b0, int bn, const uint8_t **sup, __m512 *a,
         __m512 *c)
{
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    if (type == GGUF_TYPE_Q6_K) {
        *sup = row + (size_t)(b0 / 8) * 210;
        __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(*sup + 192))));
        *a = _mm512_mul_ps(_mm512_set1_ps(half_to_float(*sup + 208)), sc);
        *c = _mm512_mul_ps(_mm512_set1_ps(-32.0f), *a);
        return;
    }
    __m256 a8, c8;
    if (type == GGUF_TYPE_Q4_K || type == GGUF_TYPE_Q5_K) {
        *sup = row + (size_t)(b0 / 8) * (type == GGUF_TYPE_Q4_K ? 144 : 176);
        /* the eight 6-bit scales and mins (see k4_scale_min in lm_quant.c),
         * four bytes at a time */
        uint32_t u[3];
        memcpy(u, *sup + 4, 12);
        /* built in general registers, not stored and reloaded as a vector
         * (which misses store forwarding) */
        uint64_t sc = (u[0] & 0x3f3f3f3f) |
                      (uint64_t)((u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4)) << 32;
        uint64_t mn =
            (u[1] & 0x3f3f3f3f) |
            (uint64_t)(((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4)) << 32;
        __m256 s8 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc)));
        __m256 m8 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn)));
        a8 = _mm256_mul_ps(_mm256_set1_ps(half_to_float(*sup)), s8);
        c8 = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(_mm256_set1_ps(half_to_float(*sup + 2)), m8));
    } else {
        /* the leading half of each block, gathered with the block's first
         * two codes (dropped by the narrowing); eight 2-byte stores read
         * back as one vector miss store forwarding (a quarter of perf's
         * decode samples fell on that load) */
        int bytes = type == GGUF_TYPE_Q8_0 ? 34 : 18;
        __m256i off = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0),
                                         _mm256_set1_epi32(bytes));
        __m256i h = _mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), (__mmask8)((1u << bn) - 1),
                                                 off, row + (size_t)b0 * bytes, 1);
        a8 = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(h));
        c8 = _mm256_mul_ps(_mm256_set1_ps(type == GGUF_TYPE_Q8_0 ? -128.0f : -8.0f), a8);
        *sup = NULL;
    }
    *a = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(a8));
    *c = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(c8));
}

#endif
