/* lm_attn.c - causal grouped-query attention of a micro-batch over the KV
 * cache (lm_forward.c stores the batch's keys and values first).
 *
 * Three forms, by lm_isa_get():
 * - AVX-512 (LM_ISA_VNNI): fused, as flash attention does it. A task takes
 *   one KV head and ATT_COLS (query, head) pairs of its group, t-major, so a
 *   decode step's heads of a group share one task and a prefill's tasks see
 *   nearly the same keys. The queries lie across the vector lanes (Q^T), so
 *   the online softmax (running max and sum per query) is all vertical: for
 *   each block of ATT_KEYS keys, converted from the cache into a small
 *   buffer, S^T = K Q^T, the mask only on blocks that cross a query's last
 *   key, P = e^(S - max) with 1 / sqrt(d) folded into Q, O^T = O^T alpha +
 *   V^T P^T. No score row outlives its block, keys past the last query's
 *   are never read, and each task's sums run in one fixed order, so the
 *   result does not depend on the number of threads. The products stay in
 *   float: BF16 ones (vdpbf16ps, twice the FMA's rate on this CPU) took
 *   test_lm's F16-cache logits to 5e-3 from the reference (goal 1e-3).
 * - AVX2: SGEMMs over the cache, a task for each head and each LM_ATT_ROWS
 *   of the batch's queries, which see only the keys up to their last
 *   (OpenBLAS single-threaded inside our pool, as for BERT), an F16 cache
 *   read back as float a tile of KV_TILE keys at a time.
 * - scalar: the reference, one query and head at a time, softmax in double.
 */
#include "embed/lm_impl.h"
#include "embed/simd512.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

/* Keys converted to float at a time by one attention task: 256 x head_dim 128
 * is 128 KiB, which stays in L2 between the conversion and the SGEMM. */
enum { KV_TILE = 256 };

/* (query, head) pairs of one fused task: 4 vectors of 16 lanes. */
enum { ATT_COLS = 64 };
/* Keys of one block of the fused kernel: a multiple of each key group of
 * qk_block (8, 6, 4). */
enum { ATT_KEYS = 48 };

static size_t fused_floats(int head_dim)
{
    /* Q^T and O^T, (head_dim, ATT_COLS); K and V, (ATT_KEYS, head_dim);
     * S^T, (ATT_KEYS, ATT_COLS); running max, sum and key count, (ATT_COLS) */
    return 2 * (size_t)head_dim * ATT_COLS + 2 * (size_t)ATT_KEYS * head_dim +
           (size_t)ATT_KEYS * ATT_COLS + 3 * ATT_COLS;
}

size_t lm_attn_scratch_floats(int n_ctx, int head_dim)
{
    size_t sgemm = LM_ATT_ROWS * (size_t)n_ctx + KV_TILE * (size_t)head_dim;
    size_t fused = fused_floats(head_dim);
    return (sgemm > fused ? sgemm : fused) + 16; /* + 16: room to align to 64 bytes */
}

/* This thread's scratch, 64-byte aligned. */
static float *thread_scratch(const lm_attn_batch *b, int thread)
{
    float *s = b->scratch + (size_t)thread * lm_attn_scratch_floats(b->n_ctx, b->head_dim);
    return s + (16 - ((uintptr_t)s / sizeof(float)) % 16) % 16;
}

/* r rows of the cache from element off (row stride kv_dim) as float: in
 * place for a float cache, else converted into tile (stride head_dim). */
static const float *cache_rows(const lm_attn_batch *b, const void *cache, size_t off, int r,
                               float *tile, int *ld)
{
    if (b->f32) {
        *ld = b->kv_dim;
        return (const float *)cache + off;
    }
    *ld = b->head_dim;
    lm_f16_load_rows((const uint16_t *)cache + off, (size_t)b->kv_dim, r, b->head_dim, tile);
    return tile;
}

/* One query head and LM_ATT_ROWS of the batch's queries over the cache: S =
 * Q K^T / sqrt(d) over the keys up to the last of them, causal mask,
 * softmax, then S V into the head's columns of out, each product a tile of
 * keys at a time converted from F16. */
static void attn_task(void *ctx, int task, int thread)
{
    const lm_attn_batch *b = ctx;
    int n_chunks = (b->m + LM_ATT_ROWS - 1) / LM_ATT_ROWS;
    int h = task / n_chunks, q0 = task % n_chunks * LM_ATT_ROWS;
    int mq = b->m - q0 < LM_ATT_ROWS ? b->m - q0 : LM_ATT_ROWS;
    int d = b->head_dim, g = h / (b->n_head / b->n_head_kv), q_dim = b->n_head * d;
    int L = b->p0 + q0 + mq;
    size_t off = (size_t)g * d;
    const float *Q = b->q + (size_t)q0 * q_dim + (size_t)h * d;
    float *out = b->out + (size_t)q0 * q_dim + (size_t)h * d;
    float *S = thread_scratch(b, thread);
    float *tile = S + (size_t)LM_ATT_ROWS * b->n_ctx;
    int ld;
    for (int i0 = 0; i0 < L; i0 += KV_TILE) {
        int r = L - i0 < KV_TILE ? L - i0 : KV_TILE;
        const float *K = cache_rows(b, b->k, off + (size_t)i0 * b->kv_dim, r, tile, &ld);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mq, r, d, 1.0f / sqrtf((float)d), Q,
                    q_dim, K, ld, 0.0f, S + i0, L);
    }
    for (int t = 0; t < mq; t++) {
        float *s = S + (size_t)t * L;
        int n = b->p0 + q0 + t + 1; /* keys this query may see */
        vec_softmax(s, n, 1.0f);
        for (int i = n; i < L; i++)
            s[i] = 0;
    }
    for (int i0 = 0; i0 < L; i0 += KV_TILE) {
        int r = L - i0 < KV_TILE ? L - i0 : KV_TILE;
        const float *V = cache_rows(b, b->v, off + (size_t)i0 * b->kv_dim, r, tile, &ld);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, mq, d, r, 1.0f, S + i0, L, V, ld,
                    i0 ? 1.0f : 0.0f, out, q_dim);
    }
}

/* ---- the fused AVX-512 kernel ------------------------------------------------ */

#define INLINE AVX512 static inline __attribute__((always_inline))

/* kn rows of d values of the cache from row k0 (of one KV head: element
 * off) as float into tile (kn, d), zero rows up to kr. */
AVX512 static void load_keys(const lm_attn_batch *b, const void *cache, size_t off, int k0,
                             int kn, int kr, float *tile)
{
    int d = b->head_dim;
    for (int k = 0; k < kn; k++) {
        size_t at = off + (size_t)(k0 + k) * b->kv_dim;
        float *dst = tile + (size_t)k * d;
        if (b->f32) {
            memcpy(dst, (const float *)cache + at, (size_t)d * sizeof(float));
            continue;
        }
        const uint16_t *src = (const uint16_t *)cache + at;
        for (int i = 0; i < d; i += 16)
            _mm512_store_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    }
    memset(tile + (size_t)kn * d, 0, (size_t)(kr - kn) * d * sizeof(float));
}

/* S^T (kr, NV * 16) = K (kr, d) Q^T, kr a multiple of KG; lanes of a key
 * past a query's last (k0 + k >= nv) set to -inf when masked. */
INLINE void qk_block(int NV, int KG, const float *Kf, int kr, int d, const float *Qt,
                     float *St, bool masked, int k0, const float *nvis)
{
    for (int k = 0; k < kr; k += KG) {
        __m512 acc[8][4];
        _Pragma("GCC unroll 16")
        for (int j = 0; j < KG; j++)
            _Pragma("GCC unroll 16")
            for (int v = 0; v < NV; v++)
                acc[j][v] = _mm512_setzero_ps();
        const float *kp = Kf + (size_t)k * d;
        for (int i = 0; i < d; i++) {
            __m512 q[4];
            _Pragma("GCC unroll 16")
            for (int v = 0; v < NV; v++)
                q[v] = _mm512_load_ps(Qt + (size_t)i * ATT_COLS + 16 * v);
            _Pragma("GCC unroll 16")
            for (int j = 0; j < KG; j++) {
                __m512 kb = _mm512_set1_ps(kp[(size_t)j * d + i]);
                _Pragma("GCC unroll 16")
                for (int v = 0; v < NV; v++)
                    acc[j][v] = _mm512_fmadd_ps(kb, q[v], acc[j][v]);
            }
        }
        _Pragma("GCC unroll 16")
        for (int j = 0; j < KG; j++) {
            __m512 key = _mm512_set1_ps((float)(k0 + k + j));
            _Pragma("GCC unroll 16")
            for (int v = 0; v < NV; v++) {
                __m512 s = acc[j][v];
                if (masked) {
                    __mmask16 seen = _mm512_cmp_ps_mask(key, _mm512_load_ps(nvis + 16 * v),
                                                        _CMP_LT_OQ);
                    s = _mm512_mask_blend_ps(seen, _mm512_set1_ps(-INFINITY), s);
                }
                _mm512_store_ps(St + (size_t)(k + j) * ATT_COLS + 16 * v, s);
            }
        }
    }
}

/* The online softmax of one block of kn keys: the running max mx and sum l
 * move on, S^T becomes P^T (masked keys exactly 0), and alpha receives each
 * query's rescaling. */
INLINE void softmax_block(int NV, float *St, int kn, bool masked, float *mx, float *l,
                          __m512 *alpha)
{
    _Pragma("GCC unroll 16")
    for (int v = 0; v < NV; v++) {
        __m512 bm = _mm512_set1_ps(-INFINITY);
        for (int k = 0; k < kn; k++)
            bm = _mm512_max_ps(bm, _mm512_load_ps(St + (size_t)k * ATT_COLS + 16 * v));
        __m512 m0 = _mm512_load_ps(mx + 16 * v), m1 = _mm512_max_ps(m0, bm);
        alpha[v] = exp512(_mm512_sub_ps(m0, m1));
        __m512 sum = _mm512_setzero_ps();
        for (int k = 0; k < kn; k++) {
            float *s = St + (size_t)k * ATT_COLS + 16 * v;
            __m512 x = _mm512_load_ps(s), p = exp512(_mm512_sub_ps(x, m1));
            if (masked)
                p = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-INFINITY),
                                                           _CMP_NEQ_OQ), p);
            sum = _mm512_add_ps(sum, p);
            _mm512_store_ps(s, p);
        }
        _mm512_store_ps(l + 16 * v, _mm512_fmadd_ps(_mm512_load_ps(l + 16 * v), alpha[v], sum));
        _mm512_store_ps(mx + 16 * v, m1);
    }
}

/* O^T (d, NV * 16) = O^T alpha + V^T (d, kn) P^T (kn, NV * 16). */
INLINE void pv_block(int NV, int DG, const float *Vf, int kn, int d, const float *Pt, float *Ot,
                     const __m512 *alpha)
{
    for (int i = 0; i < d; i += DG) {
        __m512 acc[16][4];
        _Pragma("GCC unroll 16")
        for (int j = 0; j < DG; j++)
            _Pragma("GCC unroll 16")
            for (int v = 0; v < NV; v++)
                acc[j][v] = _mm512_mul_ps(_mm512_load_ps(Ot + (size_t)(i + j) * ATT_COLS + 16 * v),
                                          alpha[v]);
        for (int k = 0; k < kn; k++) {
            __m512 p[4];
            _Pragma("GCC unroll 16")
            for (int v = 0; v < NV; v++)
                p[v] = _mm512_load_ps(Pt + (size_t)k * ATT_COLS + 16 * v);
            const float *vp = Vf + (size_t)k * d + i;
            _Pragma("GCC unroll 16")
            for (int j = 0; j < DG; j++) {
                __m512 vb = _mm512_set1_ps(vp[j]);
                _Pragma("GCC unroll 16")
                for (int v = 0; v < NV; v++)
                    acc[j][v] = _mm512_fmadd_ps(vb, p[v], acc[j][v]);
            }
        }
        _Pragma("GCC unroll 16")
        for (int j = 0; j < DG; j++)
            _Pragma("GCC unroll 16")
            for (int v = 0; v < NV; v++)
                _mm512_store_ps(Ot + (size_t)(i + j) * ATT_COLS + 16 * v, acc[j][v]);
    }
}

/* The key blocks of one task of NV vectors of queries: keys up to n_last
 * (the last query's), masking from key n_first (the first query's) on. */
INLINE void fused_blocks(int NV, const lm_attn_batch *b, size_t off, int n_first, int n_last,
                         float *Qt, float *Ot, float *Kf, float *Vf, float *St, float *mx,
                         float *l, const float *nvis)
{
    int d = b->head_dim, KG = NV == 1 ? 8 : NV == 3 ? 4 : 6, DG = NV == 1 ? 16 : NV == 2 ? 8 : 4;
    for (int k0 = 0; k0 < n_last; k0 += ATT_KEYS) {
        int kn = n_last - k0 < ATT_KEYS ? n_last - k0 : ATT_KEYS, kr = (kn + KG - 1) / KG * KG;
        __m512 alpha[4];
        load_keys(b, b->k, off, k0, kn, kr, Kf);
        bool masked = k0 + kn > n_first;
        qk_block(NV, KG, Kf, kr, d, Qt, St, masked, k0, nvis);
        softmax_block(NV, St, kn, masked, mx, l, alpha);
        load_keys(b, b->v, off, k0, kn, kn, Vf);
        pv_block(NV, DG, Vf, kn, d, St, Ot, alpha);
    }
}

/* One KV head g and up to ATT_COLS (query, head) pairs of its group, the
 * heaviest (last) tiles first. */
AVX512 static void fused_task(void *ctx, int task, int thread)
{
    const lm_attn_batch *b = ctx;
    int G = b->n_head / b->n_head_kv, d = b->head_dim, q_dim = b->n_head * d;
    int tiles = (b->m * G + ATT_COLS - 1) / ATT_COLS;
    int g = task % b->n_head_kv, c0 = (tiles - 1 - task / b->n_head_kv) * ATT_COLS;
    int nc = b->m * G - c0 < ATT_COLS ? b->m * G - c0 : ATT_COLS, NV = (nc + 15) / 16;
    float *Qt = thread_scratch(b, thread), *Ot = Qt + (size_t)d * ATT_COLS;
    float *Kf = Ot + (size_t)d * ATT_COLS, *Vf = Kf + (size_t)ATT_KEYS * d;
    float *St = Vf + (size_t)ATT_KEYS * d, *mx = St + (size_t)ATT_KEYS * ATT_COLS;
    float *l = mx + ATT_COLS, *nvis = l + ATT_COLS;
    float scale = 1.0f / sqrtf((float)d);
    for (int c = 0; c < NV * 16; c++) {
        int cc = c < nc ? c0 + c : c0 + nc - 1; /* padding repeats the last pair, Q zero */
        int t = cc / G, h = g * G + cc % G;
        const float *q = b->q + (size_t)t * q_dim + (size_t)h * d;
        for (int i = 0; i < d; i++)
            Qt[(size_t)i * ATT_COLS + c] = c < nc ? q[i] * scale : 0.0f;
        nvis[c] = (float)(b->p0 + t + 1);
        mx[c] = -INFINITY;
        l[c] = 0;
    }
    for (int i = 0; i < d; i++)
        memset(Ot + (size_t)i * ATT_COLS, 0, (size_t)NV * 16 * sizeof(float));
    int n_first = (int)nvis[0], n_last = (int)nvis[nc - 1];
    size_t off = (size_t)g * d;
    switch (NV) {
    case 1: fused_blocks(1, b, off, n_first, n_last, Qt, Ot, Kf, Vf, St, mx, l, nvis); break;
    case 2: fused_blocks(2, b, off, n_first, n_last, Qt, Ot, Kf, Vf, St, mx, l, nvis); break;
    case 3: fused_blocks(3, b, off, n_first, n_last, Qt, Ot, Kf, Vf, St, mx, l, nvis); break;
    default: fused_blocks(4, b, off, n_first, n_last, Qt, Ot, Kf, Vf, St, mx, l, nvis); break;
    }
    for (int c = 0; c < nc; c++) {
        int t = (c0 + c) / G, h = g * G + (c0 + c) % G;
        float *out = b->out + (size_t)t * q_dim + (size_t)h * d, inv = 1.0f / l[c];
        for (int i = 0; i < d; i++)
            out[i] = Ot[(size_t)i * ATT_COLS + c] * inv;
    }
}

/* ---- the scalar reference ------------------------------------------------ */

static float cache_value(const lm_attn_batch *b, const void *cache, size_t at)
{
    return b->f32 ? ((const float *)cache)[at] : lm_f16_to_f32(((const uint16_t *)cache)[at]);
}

/* One query head over its visible keys, task = head * m + query. */
static void ref_task(void *ctx, int task, int thread)
{
    const lm_attn_batch *b = ctx;
    int h = task / b->m, t = task % b->m, d = b->head_dim, q_dim = b->n_head * d;
    int g = h / (b->n_head / b->n_head_kv), n = b->p0 + t + 1;
    const float *q = b->q + (size_t)t * q_dim + (size_t)h * d;
    float *out = b->out + (size_t)t * q_dim + (size_t)h * d;
    float *s = thread_scratch(b, thread); /* (n) */
    float scale = 1.0f / sqrtf((float)d), mx = -INFINITY;
    for (int i = 0; i < n; i++) {
        double dot = 0;
        for (int k = 0; k < d; k++)
            dot += (double)q[k] * cache_value(b, b->k, (size_t)i * b->kv_dim + (size_t)g * d + k);
        s[i] = (float)dot * scale;
        mx = s[i] > mx ? s[i] : mx;
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
        s[i] = expf(s[i] - mx);
        sum += s[i];
    }
    for (int k = 0; k < d; k++) {
        double acc = 0;
        for (int i = 0; i < n; i++)
            acc += (double)s[i] * cache_value(b, b->v, (size_t)i * b->kv_dim + (size_t)g * d + k);
        out[k] = (float)(acc / sum);
    }
}

void lm_attention(bert_pool *p, const lm_attn_batch *b)
{
    int isa = lm_isa_get();
    if (isa >= LM_ISA_VNNI && b->head_dim % 16 == 0) {
        int tiles = (b->m * (b->n_head / b->n_head_kv) + ATT_COLS - 1) / ATT_COLS;
        bert_pool_run(p, fused_task, (void *)b, b->n_head_kv * tiles);
    } else if (isa >= LM_ISA_AVX2) {
        bert_pool_run(p, attn_task, (void *)b,
                      b->n_head * ((b->m + LM_ATT_ROWS - 1) / LM_ATT_ROWS));
    } else {
        bert_pool_run(p, ref_task, (void *)b, b->n_head * b->m);
    }
}
