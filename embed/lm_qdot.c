/* lm_qdot.c - the fast dot-product kernels of the LLM engine: AVX2 (with
 * F16C) and AVX-512 VNNI on 256-bit vectors, chosen by lm_matmul at run time
 * and tested against lm_dot_ref.
 *
 * The quantized kernel is written once (lm_qdot_body.h) and compiled for each
 * instruction set: only the u8 x s8 product differs. AVX2's maddubs adds
 * pairs into saturating 16-bit lanes, which the codes here never reach (at
 * most 63 x 127 x 2; Q8_0 goes through the sign trick, 128 x 127 x 2).
 */
#include "embed/lm_impl.h"

#include <immintrin.h>
#include <string.h>

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define VNNI_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))

static inline float half_to_float(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return lm_f16_to_f32(h);
}

static inline AVX2_TARGET float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define QD_FN qdot_avx2
#define QD_TARGET AVX2_TARGET
#define QD_DOT(q, x) _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), _mm256_set1_epi16(1))
#include "embed/lm_qdot_body.h"
#undef QD_FN
#undef QD_TARGET
#undef QD_DOT

#define QD_FN qdot_vnni
#define QD_TARGET VNNI_TARGET
#define QD_DOT(q, x) _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, x)
#include "embed/lm_qdot_body.h"

void lm_qdot_avx2(const lm_mat *W, int n, const lm_qrow *xq, int nt, float *out, int ldo)
{
    qdot_avx2(W, n, xq, nt, out, ldo);
}

void lm_qdot_vnni(const lm_mat *W, int n, const lm_qrow *xq, int nt, float *out, int ldo)
{
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
