/* lm_blocks.h - private to embed/: the quantized blocks' codes and scales
 * read with AVX2, shared by the one-row kernels (lm_qdot.c) and prefill's
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

#endif
