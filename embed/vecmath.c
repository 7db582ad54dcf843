/* vecmath.c - GELU, SwiGLU, LayerNorm, RMSNorm, RoPE and softmax over float vectors,
 * plain and AVX-512.
 *
 * The AVX-512 versions are compiled with target attributes and chosen at run
 * time, so the library still runs on CPUs without AVX-512. exp and GELU
 * come from simd512.h, shared with the SGEMM's fused epilogue.
 */
#include "embed/kernels.h"
#include "embed/simd512.h"

#include <immintrin.h>
#include <math.h>

/* ---- instruction set ----------------------------------------------------- */

static int isa_level = -1;

int bert_isa_detect(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512dq") || !__builtin_cpu_supports("avx512vl") ||
        !__builtin_cpu_supports("fma"))
        return BERT_ISA_SCALAR;
    if (__builtin_cpu_supports("avx512vnni"))
        return BERT_ISA_VNNI;
    return BERT_ISA_AVX512;
}

int bert_isa_get(void)
{
    if (isa_level < 0)
        isa_level = bert_isa_detect();
    return isa_level;
}

void bert_isa_set(int level)
{
    int best = bert_isa_detect();
    isa_level = level < 0 ? 0 : level > best ? best : level;
}

/* ---- AVX-512 ------------------------------------------------------------- */

static inline __mmask16 tail_mask(int left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

static AVX512 void gelu_avx512(float *x, int n)
{
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, gelu512(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

static AVX512 void swiglu_avx512(float *gate, const float *up, int n)
{
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
        __m512 silu = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_mask_storeu_ps(gate + i, m, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, up + i)));
    }
}

static AVX512 void add_avx512(float *x, const float *b, int n)
{
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, b + i));
        _mm512_mask_storeu_ps(x + i, m, v);
    }
}

static AVX512 void layernorm_avx512(float *x, const float *res, const float *gamma,
                                    const float *beta, int n, float eps)
{
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        if (res) {
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + i));
            _mm512_mask_storeu_ps(x + i, m, v);
        }
        sum = _mm512_add_ps(sum, v);
    }
    float mean = _mm512_reduce_add_ps(sum) / (float)n;
    __m512 vmean = _mm512_set1_ps(mean);
    __m512 sq = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), vmean);
        sq = _mm512_fmadd_ps(d, d, sq);
    }
    float inv = 1.0f / sqrtf(_mm512_reduce_add_ps(sq) / (float)n + eps);
    __m512 vinv = _mm512_set1_ps(inv);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmean), vinv);
        __m512 y = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, gamma + i),
                                   _mm512_maskz_loadu_ps(m, beta + i));
        _mm512_mask_storeu_ps(x + i, m, y);
    }
}

static AVX512 void rmsnorm_avx512(const float *x, const float *w, int n, float eps, float *out)
{
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int i = 0; i < n; i += 16) {
        __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
        __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
        s0 = _mm512_fmadd_pd(lo, lo, s0);
        s1 = _mm512_fmadd_pd(hi, hi, s1);
    }
    double ss = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    __m512 r = _mm512_set1_ps((float)(1.0 / sqrt(ss / n + eps)));
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 y = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), r),
                                 _mm512_maskz_loadu_ps(m, w + i));
        _mm512_mask_storeu_ps(out + i, m, y);
    }
}

/* vec_rope, 16 NeoX pairs or 8 interleaved pairs a step, with the plain
 * loop's roundings: a' = (a cos) - (b sin), b' = (a sin) + (b cos). */
static AVX512 void rope_avx512(float *v, const float *cs, const float *sn, int half, bool neox)
{
    if (neox) {
        for (int i = 0; i < half; i += 16) {
            __mmask16 m = tail_mask(half - i);
            __m512 a = _mm512_maskz_loadu_ps(m, v + i), b = _mm512_maskz_loadu_ps(m, v + half + i);
            __m512 c = _mm512_maskz_loadu_ps(m, cs + i), s = _mm512_maskz_loadu_ps(m, sn + i);
            _mm512_mask_storeu_ps(v + i, m,
                                  _mm512_sub_ps(_mm512_mul_ps(a, c), _mm512_mul_ps(b, s)));
            _mm512_mask_storeu_ps(v + half + i, m,
                                  _mm512_add_ps(_mm512_mul_ps(a, s), _mm512_mul_ps(b, c)));
        }
        return;
    }
    /* lanes 2i and 2i + 1 hold pair i and take angle i: the pair swapped
     * times the sines, negated in the even lanes, completes both halves */
    __m512i twice = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    for (int i = 0; i < half; i += 8) {
        __mmask8 m8 = (__mmask8)(half - i >= 8 ? 0xff : (1u << (half - i)) - 1);
        __mmask16 m = (__mmask16)(half - i >= 8 ? 0xffff : (1u << 2 * (half - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(m, v + 2 * i);
        __m512 c = _mm512_castps256_ps512(_mm256_maskz_loadu_ps(m8, cs + i));
        __m512 s = _mm512_castps256_ps512(_mm256_maskz_loadu_ps(m8, sn + i));
        c = _mm512_permutexvar_ps(twice, c);
        s = _mm512_permutexvar_ps(twice, s);
        __m512 bs = _mm512_mul_ps(_mm512_permute_ps(x, 0xb1), s); /* (b sin, a sin) per pair */
        __m512 ac = _mm512_mul_ps(x, c);
        _mm512_mask_storeu_ps(v + 2 * i, m,
                              _mm512_mask_add_ps(_mm512_sub_ps(ac, bs), 0xaaaa, ac, bs));
    }
}

static AVX512 void softmax_avx512(float *x, int n, float scale)
{
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, x + i));
    }
    __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), vscale = _mm512_set1_ps(scale);
    __m512 sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax);
        __m512 e = exp512(_mm512_mul_ps(d, vscale));
        e = _mm512_maskz_mov_ps(m, e);
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(x + i, m, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
}

/* ---- dispatch, with the plain C versions --------------------------------- */

void vec_gelu(float *x, int n)
{
    if (bert_isa_get() >= BERT_ISA_AVX512) {
        gelu_avx512(x, n);
        return;
    }
    for (int i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void vec_swiglu(float *gate, const float *up, int n)
{
    if (bert_isa_get() >= BERT_ISA_AVX512) {
        swiglu_avx512(gate, up, n);
        return;
    }
    for (int i = 0; i < n; i++)
        gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void vec_add(float *x, const float *b, int n)
{
    if (bert_isa_get() >= BERT_ISA_AVX512) {
        add_avx512(x, b, n);
        return;
    }
    for (int i = 0; i < n; i++)
        x[i] += b[i];
}

void vec_layernorm(float *x, const float *res, const float *gamma, const float *beta, int n,
                   float eps)
{
    if (bert_isa_get() >= BERT_ISA_AVX512) {
        layernorm_avx512(x, res, gamma, beta, n, eps);
        return;
    }
    float sum = 0;
    for (int i = 0; i < n; i++) {
        if (res)
            x[i] += res[i];
        sum += x[i];
    }
    float mean = sum / (float)n, sq = 0;
    for (int i = 0; i < n; i++)
        sq += (x[i] - mean) * (x[i] - mean);
    float inv = 1.0f / sqrtf(sq / (float)n + eps);
    for (int i = 0; i < n; i++)
        x[i] = (x[i] - mean) * inv * gamma[i] + beta[i];
}

void vec_rmsnorm(const float *x, const float *w, int n, float eps, float *out)
{
    if (bert_isa_get() >= BERT_ISA_AVX512) {
        rmsnorm_avx512(x, w, n, eps, out);
        return;
    }
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(ss / n + eps));
    for (int i = 0; i < n; i++)
        out[i] = x[i] * r * w[i];
}

void vec_rope(float *v, const float *cs, const float *sn, int half, bool neox)
{
    if (bert_isa_get() >= BERT_ISA_AVX512) {
        rope_avx512(v, cs, sn, half, neox);
        return;
    }
    for (int i = 0; i < half; i++) {
        int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        float a = v[i0], b = v[i1];
        v[i0] = a * cs[i] - b * sn[i];
        v[i1] = a * sn[i] + b * cs[i];
    }
}

void vec_softmax(float *x, int n, float scale)
{
    if (bert_isa_get() >= BERT_ISA_AVX512) {
        softmax_avx512(x, n, scale);
        return;
    }
    float mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++) {
        x[i] = expf((x[i] - mx) * scale);
        sum += x[i];
    }
    for (int i = 0; i < n; i++)
        x[i] /= sum;
}
