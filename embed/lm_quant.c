/* lm_quant.c - the LLM engine's tensor types: reference dequantization,
 * int8 activations, the scalar reference dot product and the threaded
 * matrix product that picks the fast kernels (lm_qdot.c) at run time.
 *
 * Block layouts (ggml's, all little-endian, "half" = IEEE binary16):
 *   Q8_0 (32 values, 34 bytes): half d; int8 q[32]                 w = d q
 *   Q4_0 (32, 18): half d; u8 qs[16], value j in the low nibble of qs[j],
 *        value j + 16 in the high nibble                          w = d (q - 8)
 *   Q4_K (256, 144): half d, dmin; u8 scales[12] (eight 6-bit scales and
 *        mins); u8 qs[128]: sub-block 2p in the low nibbles of qs[32p..],
 *        2p + 1 in the high ones                                  w = d sc q - dmin m
 *   Q5_K (256, 176): as Q4_K plus u8 qh[32] before qs: bit j of qh[l] is
 *        the fifth bit of value l of sub-block j
 *   Q6_K (256, 210): u8 ql[128]; u8 qh[64]; int8 scales[16]; half d: in each
 *        half of 128 values, value l + 32 g (g < 4, l < 32) has its low 4 bits
 *        in ql[l + 32 (g & 1)] (low nibble for g < 2) and its top 2 bits at bit
 *        2g of qh[l]; each 16 values have their own scale  w = d sc (q - 32)
 */
#include "embed/lm_impl.h"

#include "common/common.h"

#include <cpuid.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

/* ---- instruction sets ------------------------------------------------------ */

static int isa_level = -1;

/* F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports
 * does not know "f16c", and `make fuzz` builds with it. */
static bool cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}

int lm_isa_detect(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !cpu_has_f16c())
        return LM_ISA_SCALAR;
    /* Every feature the VNNI level's kernels are compiled for (GEMV_TARGET,
     * VNNI_TARGET): real CPUs with VNNI have them all, but a virtual machine
     * may hide some (avx512bw: vpsrlw, vpsadbw), and one missing is SIGILL. */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512vnni"))
        return __builtin_cpu_supports("avx512bf16") ? LM_ISA_BF16 : LM_ISA_VNNI;
    return LM_ISA_AVX2;
}

int lm_isa_get(void)
{
    if (isa_level < 0)
        isa_level = lm_isa_detect();
    return isa_level;
}

void lm_isa_set(int level)
{
    int best = lm_isa_detect();
    isa_level = level < 0 ? 0 : level > best ? best : level;
}

/* ---- types -------------------------------------------------------------------- */

bool lm_type_quantized(gguf_type t)
{
    return t == GGUF_TYPE_Q8_0 || t == GGUF_TYPE_Q4_0 || t == GGUF_TYPE_Q4_K ||
           t == GGUF_TYPE_Q5_K || t == GGUF_TYPE_Q6_K;
}

bool lm_type_supported(gguf_type t)
{
    return t == GGUF_TYPE_F32 || t == GGUF_TYPE_F16 || t == GGUF_TYPE_BF16 || lm_type_quantized(t);
}

float lm_f16_to_f32(uint16_t h) { return bert_f16_to_f32(h); }
float lm_bf16_to_f32(uint16_t h) { return bert_bf16_to_f32(h); }

static float half_at(const uint8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return bert_f16_to_f32(h);
}

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block: the
 * first four in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); the last
 * four in the nibbles of bytes 8-11 with their top 2 bits in the top bits of
 * bytes 0-3 (scales) and 4-7 (mins). */
static void k4_scale_min(const uint8_t *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

void lm_dequant_row(gguf_type t, const void *row, float *out, int64_t n)
{
    const uint8_t *p = row;
    switch (t) {
    case GGUF_TYPE_F32:
        memcpy(out, p, (size_t)n * 4);
        return;
    case GGUF_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            out[i] = half_at(p + 2 * i);
        return;
    case GGUF_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = bert_bf16_to_f32(h);
        }
        return;
    case GGUF_TYPE_Q8_0:
        for (int64_t b = 0; b < n / 32; b++, p += 34) {
            float d = half_at(p);
            for (int i = 0; i < 32; i++)
                out[32 * b + i] = d * (float)(int8_t)p[2 + i];
        }
        return;
    case GGUF_TYPE_Q4_0:
        for (int64_t b = 0; b < n / 32; b++, p += 18) {
            float d = half_at(p);
            for (int i = 0; i < 16; i++) {
                out[32 * b + i] = d * (float)((p[2 + i] & 0xF) - 8);
                out[32 * b + i + 16] = d * (float)((p[2 + i] >> 4) - 8);
            }
        }
        return;
    case GGUF_TYPE_Q4_K:
    case GGUF_TYPE_Q5_K: {
        bool five = t == GGUF_TYPE_Q5_K;
        int bytes = five ? 176 : 144;
        for (int64_t b = 0; b < n / 256; b++, p += bytes) {
            float d = half_at(p), dmin = half_at(p + 2);
            const uint8_t *qh = p + 16, *qs = p + (five ? 48 : 16);
            float *y = out + 256 * b;
            for (int j = 0; j < 8; j++) {
                int sc, m;
                k4_scale_min(p + 4, j, &sc, &m);
                float dl = d * (float)sc, ml = dmin * (float)m;
                const uint8_t *q = qs + 32 * (j / 2);
                for (int l = 0; l < 32; l++) {
                    int v = j & 1 ? q[l] >> 4 : q[l] & 0xF;
                    if (five)
                        v += (qh[l] >> j & 1) << 4;
                    y[32 * j + l] = dl * (float)v - ml;
                }
            }
        }
        return;
    }
    case GGUF_TYPE_Q6_K:
        for (int64_t b = 0; b < n / 256; b++, p += 210) {
            const uint8_t *ql = p, *qh = p + 128;
            const int8_t *sc = (const int8_t *)(p + 192);
            float d = half_at(p + 208);
            float *y = out + 256 * b;
            for (int h = 0; h < 2; h++)
                for (int g = 0; g < 4; g++)
                    for (int l = 0; l < 32; l++) {
                        int lo = ql[64 * h + l + 32 * (g & 1)];
                        lo = g < 2 ? lo & 0xF : lo >> 4;
                        int v = lo | ((qh[32 * h + l] >> (2 * g) & 3) << 4);
                        y[128 * h + 32 * g + l] = d * (float)sc[8 * h + 2 * g + l / 16] *
                                                  (float)(v - 32);
                    }
        }
        return;
    default:
        memset(out, 0, (size_t)n * sizeof *out);
    }
}

/* ---- one block of 32 as codes and scales ----------------------------------- */

void lm_block_scales(gguf_type t, const uint8_t *row, int b, lm_blockscale *s)
{
    switch (t) {
    case GGUF_TYPE_Q8_0: {
        float d = half_at(row + 34 * b);
        s->a[0] = s->a[1] = d;
        s->c[0] = s->c[1] = 0;
        return;
    }
    case GGUF_TYPE_Q4_0: {
        float d = half_at(row + 18 * b);
        s->a[0] = s->a[1] = d;
        s->c[0] = s->c[1] = -8 * d;
        return;
    }
    case GGUF_TYPE_Q4_K:
    case GGUF_TYPE_Q5_K: {
        const uint8_t *p = row + (size_t)(b / 8) * (t == GGUF_TYPE_Q4_K ? 144 : 176);
        int sc, m;
        k4_scale_min(p + 4, b % 8, &sc, &m);
        s->a[0] = s->a[1] = half_at(p) * (float)sc;
        s->c[0] = s->c[1] = -(half_at(p + 2) * (float)m);
        return;
    }
    case GGUF_TYPE_Q6_K: {
        const uint8_t *p = row + (size_t)(b / 8) * 210;
        int j = b % 8, h = j / 4, g = j % 4;
        const int8_t *sc = (const int8_t *)(p + 192) + 8 * h + 2 * g;
        float d = half_at(p + 208);
        for (int i = 0; i < 2; i++) {
            s->a[i] = d * (float)sc[i];
            s->c[i] = -32 * s->a[i];
        }
        return;
    }
    default:
        memset(s, 0, sizeof *s);
    }
}

void lm_block_codes(gguf_type t, const uint8_t *row, int b, uint8_t q[32])
{
    switch (t) {
    case GGUF_TYPE_Q8_0:
        memcpy(q, row + 34 * b + 2, 32);
        return;
    case GGUF_TYPE_Q4_0: {
        const uint8_t *p = row + 18 * b + 2;
        for (int i = 0; i < 16; i++) {
            q[i] = p[i] & 0xF;
            q[i + 16] = p[i] >> 4;
        }
        return;
    }
    case GGUF_TYPE_Q4_K:
    case GGUF_TYPE_Q5_K: {
        bool five = t == GGUF_TYPE_Q5_K;
        const uint8_t *p = row + (size_t)(b / 8) * (five ? 176 : 144);
        int j = b % 8;
        const uint8_t *qs = p + (five ? 48 : 16) + 32 * (j / 2), *qh = p + 16;
        for (int l = 0; l < 32; l++) {
            q[l] = j & 1 ? qs[l] >> 4 : qs[l] & 0xF;
            if (five)
                q[l] |= (uint8_t)((qh[l] >> j & 1) << 4);
        }
        return;
    }
    case GGUF_TYPE_Q6_K: {
        const uint8_t *p = row + (size_t)(b / 8) * 210;
        int j = b % 8, h = j / 4, g = j % 4;
        const uint8_t *ql = p + 64 * h + 32 * (g & 1), *qh = p + 128 + 32 * h;
        for (int l = 0; l < 32; l++) {
            int lo = g < 2 ? ql[l] & 0xF : ql[l] >> 4;
            q[l] = (uint8_t)(lo | ((qh[l] >> (2 * g) & 3) << 4));
        }
        return;
    }
    default:
        memset(q, 0, 32);
    }
}

/* ---- int8 activations ---------------------------------------------------------- */

void lm_quantize_row(const float *x, int K, lm_qrow *out)
{
    if (lm_isa_get() >= LM_ISA_VNNI) {
        lm_quantize_row_avx512(x, K, out);
        return;
    }
    for (int b = 0; b < K / 32; b++) {
        const float *v = x + 32 * b;
        float amax = 0;
        for (int i = 0; i < 32; i++) {
            float a = fabsf(v[i]);
            amax = a > amax ? a : amax;
        }
        float d = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0.0f;
        out->d[b] = d;
        for (int h = 0; h < 2; h++) {
            int sum = 0;
            for (int i = 16 * h; i < 16 * h + 16; i++) {
                /* clamped as vmaxps/vminps do (NaN becomes -127), then
                 * rounded half to even by the 1.5 * 2^23 trick, as
                 * vcvtps2dq rounds in the fast path */
                float r = v[i] * inv;
                r = r >= -127.0f ? r : -127.0f;
                r = r <= 127.0f ? r : 127.0f;
                int q = (int)((r + 12582912.0f) - 12582912.0f);
                out->q[32 * b + i] = (int8_t)q;
                sum += q;
            }
            out->dsx[2 * b + h] = d * (float)sum;
        }
    }
}

/* ---- the scalar reference dot product ---------------------------------------- */

float lm_dot_ref(const lm_mat *W, int n, const float *xf, const lm_qrow *xq)
{
    const uint8_t *row = W->data + (size_t)n * W->row_bytes;
    if (!lm_type_quantized(W->type)) {
        float w[256];
        double acc = 0;
        for (int k = 0; k < W->K; k += 256) {
            int len = W->K - k < 256 ? W->K - k : 256;
            int esz = W->type == GGUF_TYPE_F32 ? 4 : 2;
            lm_dequant_row(W->type, row + (size_t)k * esz, w, len);
            for (int i = 0; i < len; i++)
                acc += (double)w[i] * xf[k + i];
        }
        return (float)acc;
    }
    bool sgn = W->type == GGUF_TYPE_Q8_0;
    float acc = 0;
    for (int b = 0; b < W->K / 32; b++) {
        uint8_t q[32];
        lm_blockscale s;
        lm_block_codes(W->type, row, b, q);
        lm_block_scales(W->type, row, b, &s);
        const int8_t *x = xq->q + 32 * b;
        float blk = 0;
        for (int h = 0; h < 2; h++) {
            int32_t isum = 0;
            for (int i = 16 * h; i < 16 * h + 16; i++)
                isum += (sgn ? (int32_t)(int8_t)q[i] : (int32_t)q[i]) * x[i];
            blk += s.a[h] * (float)isum * xq->d[b] + s.c[h] * xq->dsx[2 * b + h];
        }
        acc += blk;
    }
    return acc;
}

/* ---- the threaded product ---------------------------------------------------- */

enum { ROWS_PER_TASK = 16, TOKENS_PER_TILE = 8 };
/* From this many tokens on, the packed product (lm_gemm.c) repays packing
 * the weights (in cache, Q4_K: even at 16 tokens, 1.4x the one-row kernel's
 * speed at 32). */
enum { GEMM_MIN_TOKENS = 16 };

typedef struct {
    const lm_mat *W;
    int M;
    const float *X;
    const lm_qrow *xq;
    float *Y;
    int isa;
} matmul_job;

static void matmul_task(void *ctx, int task, int thread)
{
    (void)thread;
    const matmul_job *j = ctx;
    const lm_mat *W = j->W;
    int n0 = task * ROWS_PER_TASK, n1 = n0 + ROWS_PER_TASK < W->N ? n0 + ROWS_PER_TASK : W->N;
    bool quant = lm_type_quantized(W->type);
    /* tokens outside, rows inside: a task's rows stay in L1/L2 while the
     * activations stream past them once */
    for (int t0 = 0; t0 < j->M; t0 += TOKENS_PER_TILE) {
        int nt = j->M - t0 < TOKENS_PER_TILE ? j->M - t0 : TOKENS_PER_TILE;
        for (int n = n0; n < n1; n++) {
            float *out = j->Y + (size_t)t0 * W->N + n;
            if (j->isa == LM_ISA_SCALAR) {
                for (int t = 0; t < nt; t++)
                    out[(size_t)t * W->N] =
                        lm_dot_ref(W, n, quant ? NULL : j->X + (size_t)(t0 + t) * W->K,
                                   quant ? &j->xq[t0 + t] : NULL);
            } else if (!quant) {
                lm_fdot_avx2(W, n, j->X + (size_t)t0 * W->K, W->K, nt, out, W->N);
            } else if (j->isa >= LM_ISA_VNNI) {
                lm_qdot_vnni(W, n, j->xq + t0, nt, out, W->N);
            } else {
                lm_qdot_avx2(W, n, j->xq + t0, nt, out, W->N);
            }
        }
    }
}

void lm_matmul(bert_pool *p, const lm_mat *W, int M, const float *X, const lm_qrow *xq, float *Y)
{
    if (M >= GEMM_MIN_TOKENS && lm_isa_get() >= LM_ISA_VNNI && lm_type_quantized(W->type) &&
        lm_gemm_vnni(p, W, M, xq, Y))
        return;
    matmul_job j = {W, M, X, xq, Y, lm_isa_get()};
    if (M == 1 && j.isa >= LM_ISA_VNNI && lm_gemv_fits(W)) {
        lm_matvec_many(p, &W, 1, X, xq, &Y);
        return;
    }
    bert_pool_run(p, matmul_task, &j, (W->N + ROWS_PER_TASK - 1) / ROWS_PER_TASK);
}
