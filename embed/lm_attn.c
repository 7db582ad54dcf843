/* lm_attn.c - causal grouped-query attention of a micro-batch over the KV
 * cache (lm_forward.c stores the batch's keys and values first).
 *
 * SGEMMs over the cache, a task for each head and each LM_ATT_ROWS of the
 * batch's queries, which see only the keys up to their last (OpenBLAS
 * single-threaded inside our pool, as for BERT). An F16 cache is read back
 * as float a tile of KV_TILE keys at a time; a float cache in place.
 */
#include "embed/lm_impl.h"

#include <cblas.h>
#include <math.h>

/* Keys converted to float at a time by one attention task: 256 x head_dim 128
 * is 128 KiB, which stays in L2 between the conversion and the SGEMM. */
enum { KV_TILE = 256 };

size_t lm_attn_scratch_floats(int n_ctx, int head_dim)
{
    return LM_ATT_ROWS * (size_t)n_ctx + KV_TILE * (size_t)head_dim;
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
    float *S = b->scratch + (size_t)thread * lm_attn_scratch_floats(b->n_ctx, d);
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

void lm_attention(bert_pool *p, const lm_attn_batch *b)
{
    bert_pool_run(p, attn_task, (void *)b, b->n_head * ((b->m + LM_ATT_ROWS - 1) / LM_ATT_ROWS));
}
