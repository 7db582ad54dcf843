/* lm_kv.c - the KV cache's rows in 16 bits: IEEE half precision (F16) or
 * bfloat16 (BF16), as lm_ctx_params.kv_type asks.
 *
 * A float cache of a 1.5B model at 4,096 tokens takes 448 MiB; in 16 bits,
 * as llama.cpp keeps it by default, half. Keys and values enter the cache
 * rounded to nearest even and are read back a block at a time as float by
 * the kernels that multiply in float (lm_attn.c); the BF16 kernel reads its
 * cache as it is. The scalar forms are the reference; the F16C forms
 * (vcvtps2ph / vcvtph2ps) give the same bits, and tests compare them.
 */
#include "embed/lm_impl.h"

#include <immintrin.h>
#include <string.h>

#define F16C_TARGET __attribute__((target("avx2,f16c")))

uint16_t lm_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* nan: quiet, keeping the top of its payload, as vcvtps2ph does */
        return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
    if (ax >= 0x477ff000u) /* 65520 and up round to infinity */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) { /* below 2^-14: a subnormal half, units of 2^-24 */
        if (ax <= 0x33000000u) /* at most 2^-25: zero (the tie goes to even) */
            return (uint16_t)sign;
        uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
        int s = 126 - (int)e;
        uint32_t r = m >> s, rem = m & ((1u << s) - 1), half = 1u << (s - 1);
        if (rem > half || (rem == half && (r & 1)))
            r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = (ax >> 13) - (112u << 10), rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
        r++; /* a carry out of the mantissa moves the exponent up, as it should */
    return (uint16_t)(sign | r);
}

F16C_TARGET static void store_f16c(const float *x, uint16_t *out, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        out[i] = lm_f32_to_f16(x[i]);
}

F16C_TARGET static void load_f16c(const uint16_t *h, float *out, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++)
        out[i] = lm_f16_to_f32(h[i]);
}

void lm_f16_store(const float *x, uint16_t *out, int n)
{
    if (lm_isa_get() >= LM_ISA_AVX2) {
        store_f16c(x, out, n);
        return;
    }
    for (int i = 0; i < n; i++)
        out[i] = lm_f32_to_f16(x[i]);
}

uint16_t lm_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* nan: quiet, keeping the top of its payload */
        return (uint16_t)(x >> 16 | 0x40);
    /* to nearest, ties to the even; a carry moves the exponent up, to inf past the largest */
    return (uint16_t)((x + 0x7fffu + (x >> 16 & 1)) >> 16);
}

void lm_bf16_store(const float *x, uint16_t *out, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = lm_f32_to_bf16(x[i]);
}

void lm_bf16_load_rows(const uint16_t *h, size_t ld, int rows, int cols, float *out)
{
    /* a bfloat16 is a float's top half: the shift, in a loop the compiler vectorizes */
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < cols; i++) {
            uint32_t bits = (uint32_t)h[(size_t)r * ld + i] << 16;
            memcpy(out + (size_t)r * cols + i, &bits, 4);
        }
    }
}

void lm_f16_load_rows(const uint16_t *h, size_t ld, int rows, int cols, float *out)
{
    bool fast = lm_isa_get() >= LM_ISA_AVX2;
    for (int r = 0; r < rows; r++) {
        const uint16_t *src = h + (size_t)r * ld;
        float *dst = out + (size_t)r * cols;
        if (fast) {
            load_f16c(src, dst, cols);
        } else {
            for (int i = 0; i < cols; i++)
                dst[i] = lm_f16_to_f32(src[i]);
        }
    }
}
