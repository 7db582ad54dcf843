/* lm_forward.c - a context (KV cache and buffers) and the forward pass of a
 * decoder: RMSNorm, grouped-query attention with RoPE over the cache, SwiGLU.
 *
 * Tokens run in micro-batches of 256 to 512 tokens, by model size
 * (batch_tokens): every linear layer is then one matrix product over the
 * batch (activations quantized once per input; with
 * AVX-512 VNNI the packed product of lm_gemm.c, whose packing the batch
 * repays), and attention runs over the cache (lm_attn.c). The cache holds K
 * and V per layer, (n_ctx, kv_dim) each, in F16 (lm_kv.c), or in BF16 or
 * float on request; a batch writes past lm_ctx_pos and only moves it when
 * the whole batch is done, so a stopped or failed call leaves the cache as
 * it was.
 */
#include "embed/lm_impl.h"

#include "common/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Tokens of a micro-batch: as many as BATCH_BUDGET of batch buffers holds,
 * between UBATCH_MIN and UBATCH_MAX (a multiple of UBATCH_STEP). Every batch
 * packs each weight matrix again, so a bigger batch packs less often:
 * Qwen2.5-0.5B (63 KB of buffers a token) runs 512 (32 MB; prefill about 4%
 * faster per CPU second than at 256), 1.5B (114 KB) and larger stay at 256,
 * where 512 measured no faster (bench/README.md). */
enum { UBATCH_MIN = 256, UBATCH_MAX = 512, UBATCH_STEP = 64 };
#define BATCH_BUDGET ((size_t)32 << 20)

struct lm_ctx {
    lm_model *m;
    bert_pool *pool;
    bool own_pool;           /* else borrowed from the session */
    int n_ctx, pos;
    int ubatch;              /* tokens of a micro-batch (batch_tokens) */
    lm_stop_fn should_stop;
    void *stop_user;
    gguf_type kv_type;       /* F16, BF16 or F32 (lm_ctx_params) */
    void *k_cache, *v_cache; /* (n_layer, n_ctx, kv_dim) each, of kv_type */
    /* micro-batch buffers, (ubatch, width) */
    float *x, *xn, *q, *k, *v, *att, *gate, *up;
    int max_k;               /* widest product input: max(n_embd, q_dim, n_ff) */
    lm_qrow *xq;             /* (ubatch) rows of max_k int8 activations */
    int8_t *xq_q;
    float *xq_d, *xq_dsx;
    float *attn_scratch;     /* (n_threads, lm_attn_scratch_floats) */
    float *rope_cos, *rope_sin; /* (ubatch, head_dim / 2) */
    const float *xq_for;     /* the input xq holds, NULL once it is rewritten */
    float *logits;           /* (n_logits, n_vocab) */
    int n_logits, logits_cap;
};

lm_ctx_params lm_default_ctx_params(void)
{
    return (lm_ctx_params){0, 0, NULL, NULL, NULL, GGUF_TYPE_F16};
}

/* Floats of the batch buffers for one token. */
static size_t token_floats(const lm_model *m)
{
    const lm_hparams *hp = &m->hp;
    int max_k = hp->n_embd > m->q_dim ? hp->n_embd : m->q_dim;
    max_k = max_k > hp->n_ff ? max_k : hp->n_ff;
    return 2 * (size_t)hp->n_embd + 2 * (size_t)m->q_dim + 2 * (size_t)m->kv_dim +
           2 * (size_t)hp->n_ff + (size_t)max_k / 2 + (size_t)hp->head_dim;
}

static int batch_tokens(const lm_model *m)
{
    size_t fit = BATCH_BUDGET / (token_floats(m) * sizeof(float));
    if (fit >= UBATCH_MAX)
        return UBATCH_MAX;
    return fit <= UBATCH_MIN ? UBATCH_MIN : (int)fit / UBATCH_STEP * UBATCH_STEP;
}

static size_t buffer_floats(const lm_model *m, int n_ctx, int n_threads)
{
    const lm_hparams *hp = &m->hp;
    return (size_t)batch_tokens(m) * token_floats(m) +
           (size_t)n_threads * lm_attn_scratch_floats(n_ctx, hp->head_dim) +
           (size_t)hp->n_vocab;
}

uint64_t lm_memory_estimate(const lm_model *m, int n_ctx)
{
    return lm_weight_bytes(m) + lm_kv_bytes(m, n_ctx) +
           buffer_floats(m, n_ctx, m->n_threads) * sizeof(float);
}

static size_t kv_elem_size(const lm_ctx *c)
{
    return c->kv_type == GGUF_TYPE_F32 ? sizeof(float) : sizeof(uint16_t);
}

lm_ctx *lm_ctx_new(lm_model *m, const lm_ctx_params *p)
{
    lm_ctx_params def = lm_default_ctx_params();
    if (!p)
        p = &def;
    const lm_hparams *hp = &m->hp;
    int n_ctx = p->n_ctx > 0 ? p->n_ctx : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    if (n_ctx > (1 << 20)) {
        dq_set_error("'%s': a context of %d tokens is too large", gguf_path(m->f), n_ctx);
        return NULL;
    }
    int n_threads = p->n_threads > 0 ? p->n_threads : m->n_threads;
    if (p->pool)
        n_threads = bert_pool_size(p->pool);
    if (p->kv_type != GGUF_TYPE_F16 && p->kv_type != GGUF_TYPE_BF16 &&
        p->kv_type != GGUF_TYPE_F32) {
        dq_set_error("a KV cache of type %s is not supported (F16, BF16 or F32)",
                     gguf_type_name(p->kv_type));
        return NULL;
    }
    uint64_t need = lm_kv_bytes(m, n_ctx) * (p->kv_type == GGUF_TYPE_F32 ? 2 : 1) +
                    buffer_floats(m, n_ctx, n_threads) * sizeof(float);
    const char *what;
    uint64_t mem = lm_memory_limit(&what);
    if (mem && need + lm_weight_bytes(m) > mem) {
        dq_set_error("'%s': weights and a %d-token context take %.1f GB but %s %.1f GB of "
                     "memory (use a smaller context)",
                     gguf_path(m->f), n_ctx, (double)(need + lm_weight_bytes(m)) / 1e9, what,
                     (double)mem / 1e9);
        return NULL;
    }
    lm_ctx *c = dq_calloc(1, sizeof *c);
    c->m = m;
    c->n_ctx = n_ctx;
    c->ubatch = batch_tokens(m);
    c->should_stop = p->should_stop;
    c->stop_user = p->stop_user;
    c->own_pool = !p->pool;
    c->pool = p->pool ? p->pool : bert_pool_new(n_threads);
    if (!c->pool) {
        free(c);
        return NULL;
    }
    size_t cache = (size_t)hp->n_layer * (size_t)n_ctx * (size_t)m->kv_dim;
    c->kv_type = p->kv_type;
    c->k_cache = dq_calloc(cache, kv_elem_size(c));
    c->v_cache = dq_calloc(cache, kv_elem_size(c));
    int max_k = hp->n_embd > m->q_dim ? hp->n_embd : m->q_dim;
    c->max_k = max_k > hp->n_ff ? max_k : hp->n_ff;
    c->x = dq_malloc((size_t)c->ubatch * (size_t)hp->n_embd * sizeof(float));
    c->xn = dq_malloc((size_t)c->ubatch * (size_t)hp->n_embd * sizeof(float));
    c->q = dq_malloc((size_t)c->ubatch * (size_t)m->q_dim * sizeof(float));
    c->att = dq_malloc((size_t)c->ubatch * (size_t)m->q_dim * sizeof(float));
    c->k = dq_malloc((size_t)c->ubatch * (size_t)m->kv_dim * sizeof(float));
    c->v = dq_malloc((size_t)c->ubatch * (size_t)m->kv_dim * sizeof(float));
    c->gate = dq_malloc((size_t)c->ubatch * (size_t)hp->n_ff * sizeof(float));
    c->up = dq_malloc((size_t)c->ubatch * (size_t)hp->n_ff * sizeof(float));
    c->xq = dq_malloc((size_t)c->ubatch * sizeof *c->xq);
    c->xq_q = dq_malloc((size_t)c->ubatch * (size_t)c->max_k);
    c->xq_d = dq_malloc((size_t)c->ubatch * (size_t)(c->max_k / 32 + 1) * sizeof(float));
    c->xq_dsx = dq_malloc((size_t)c->ubatch * (size_t)(c->max_k / 16 + 1) * sizeof(float));
    for (int i = 0; i < c->ubatch; i++) {
        c->xq[i].q = c->xq_q + (size_t)i * c->max_k;
        c->xq[i].d = c->xq_d + (size_t)i * (c->max_k / 32 + 1);
        c->xq[i].dsx = c->xq_dsx + (size_t)i * (c->max_k / 16 + 1);
    }
    c->attn_scratch = dq_malloc((size_t)bert_pool_size(c->pool) *
                                lm_attn_scratch_floats(n_ctx, hp->head_dim) * sizeof(float));
    c->rope_cos = dq_malloc((size_t)c->ubatch * (size_t)(hp->head_dim / 2) * sizeof(float));
    c->rope_sin = dq_malloc((size_t)c->ubatch * (size_t)(hp->head_dim / 2) * sizeof(float));
    return c;
}

void lm_ctx_free(lm_ctx *c)
{
    if (!c)
        return;
    if (c->own_pool)
        bert_pool_free(c->pool);
    free(c->k_cache);
    free(c->v_cache);
    free(c->x);
    free(c->xn);
    free(c->q);
    free(c->att);
    free(c->k);
    free(c->v);
    free(c->gate);
    free(c->up);
    free(c->xq);
    free(c->xq_q);
    free(c->xq_d);
    free(c->xq_dsx);
    free(c->attn_scratch);
    free(c->rope_cos);
    free(c->rope_sin);
    free(c->logits);
    free(c);
}

int lm_ctx_n_ctx(const lm_ctx *c) { return c->n_ctx; }
gguf_type lm_ctx_kv_type(const lm_ctx *c) { return c->kv_type; }
int lm_ctx_pos(const lm_ctx *c) { return c->pos; }

int lm_ctx_truncate(lm_ctx *c, int n_keep)
{
    if (n_keep < 0 || n_keep > c->pos) {
        dq_set_error("cannot keep %d tokens of a cache holding %d", n_keep, c->pos);
        return LM_ERR;
    }
    c->pos = n_keep;
    return 0;
}

const float *lm_logits(const lm_ctx *c, int i)
{
    if (c->n_logits == 0)
        return NULL;
    if (i < 0)
        i = c->n_logits - 1;
    if (i >= c->n_logits)
        return NULL;
    return c->logits + (size_t)i * c->m->hp.n_vocab;
}

/* ---- building blocks ------------------------------------------------------------ */

/* The m rows of in as int8 activations in c->xq, once per input. */
static void quantize_input(lm_ctx *c, int m, const float *in, int K)
{
    if (c->xq_for != in) {
        for (int t = 0; t < m; t++)
            lm_quantize_row(in + (size_t)t * K, K, &c->xq[t]);
        c->xq_for = in;
    }
}

static void add_bias(float *out, int m, int N, const float *bias)
{
    if (bias)
        for (int t = 0; t < m; t++)
            for (int i = 0; i < N; i++)
                out[(size_t)t * N + i] += bias[i];
}

/* out (m, W->N) = in (m, W->K) W^T (+ bias). */
static void linear(lm_ctx *c, const lm_mat *W, int m, const float *in, float *out,
                   const float *bias)
{
    if (lm_type_quantized(W->type))
        quantize_input(c, m, in, W->K);
    lm_matmul(c->pool, W, m, in, c->xq, out);
    add_bias(out, m, W->N, bias);
}

/* linear() for n matrices of one input; one token's products run as one job
 * (lm_matvec_many). */
static void linear_many(lm_ctx *c, const lm_mat *const *W, int n, int m, const float *in,
                        float *const *out, const float *const *bias)
{
    if (m != 1) {
        for (int i = 0; i < n; i++)
            linear(c, W[i], m, in, out[i], bias[i]);
        return;
    }
    for (int i = 0; i < n; i++)
        if (lm_type_quantized(W[i]->type))
            quantize_input(c, 1, in, W[i]->K);
    lm_matvec_many(c->pool, W, n, in, c->xq, out);
    for (int i = 0; i < n; i++)
        add_bias(out[i], 1, W[i]->N, bias[i]);
}

/* Rotates each head_dim-wide head of n_heads in rows t0..t1 of x (stride ld). */
static void rope(const lm_ctx *c, float *x, int t0, int t1, int n_heads, int ld)
{
    const lm_hparams *hp = &c->m->hp;
    int half = hp->head_dim / 2;
    for (int t = t0; t < t1; t++) {
        const float *cs = c->rope_cos + (size_t)t * half, *sn = c->rope_sin + (size_t)t * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)t * ld + (size_t)h * hp->head_dim;
            for (int i = 0; i < half; i++) {
                int i0 = hp->rope_neox ? i : 2 * i, i1 = hp->rope_neox ? i + half : 2 * i + 1;
                float a = v[i0], b = v[i1];
                v[i0] = a * cs[i] - b * sn[i];
                v[i1] = a * sn[i] + b * cs[i];
            }
        }
    }
}

static void rope_tables(lm_ctx *c, int p0, int m)
{
    const lm_hparams *hp = &c->m->hp;
    int half = hp->head_dim / 2;
    for (int i = 0; i < half; i++) {
        double freq = pow((double)hp->rope_base, -2.0 * i / hp->head_dim);
        if (c->m->rope_factors)
            freq /= c->m->rope_factors[i];
        for (int t = 0; t < m; t++) {
            double th = (double)(p0 + t) * freq;
            c->rope_cos[(size_t)t * half + i] = (float)cos(th);
            c->rope_sin[(size_t)t * half + i] = (float)sin(th);
        }
    }
}

static void cache_store(const lm_ctx *c, void *cache, size_t off, const float *x, int n)
{
    if (c->kv_type == GGUF_TYPE_F32)
        memcpy((float *)cache + off, x, (size_t)n * sizeof(float));
    else if (c->kv_type == GGUF_TYPE_BF16)
        lm_bf16_store(x, (uint16_t *)cache + off, n);
    else
        lm_f16_store(x, (uint16_t *)cache + off, n);
}

/* ---- the per-token work between the products, a pool job ------------------------ */

/* Tokens of one task of a row job; below ROWS_POOLED tokens (decode) a row
 * job runs on the caller alone, where waking the pool would cost more. */
enum { ROWS_TASK = 16, ROWS_POOLED = 32 };

/* One of three row steps before a product, then out's rows into c->xq when
 * quantize: with norm, x += add (when not NULL) and out = RMSNorm(x) norm;
 * with up, out = swiglu(out, up); with neither, out as it is. */
typedef struct {
    lm_ctx *c;
    int m, p0, layer;
    float *x;             /* (m, n_embd) the residual stream */
    const float *add;     /* (m, n_embd) or NULL */
    const float *norm;    /* (n_embd) RMSNorm weights, or NULL */
    float *out;           /* (m, width) the product's input */
    const float *up;      /* (m, width) or NULL */
    int width;
    bool quantize;
} rows_job;

static void rows_task(void *ctx, int task, int thread)
{
    (void)thread;
    const rows_job *j = ctx;
    const lm_hparams *hp = &j->c->m->hp;
    int E = hp->n_embd, t1 = (task + 1) * ROWS_TASK < j->m ? (task + 1) * ROWS_TASK : j->m;
    for (int t = task * ROWS_TASK; t < t1; t++) {
        float *out = j->out + (size_t)t * j->width;
        if (j->norm) {
            float *x = j->x + (size_t)t * E;
            if (j->add)
                vec_add(x, j->add + (size_t)t * E, E);
            vec_rmsnorm(x, j->norm, E, hp->rms_eps, out);
        } else if (j->up) {
            vec_swiglu(out, j->up + (size_t)t * j->width, j->width);
        }
        if (j->quantize)
            lm_quantize_row(out, j->width, &j->c->xq[t]);
    }
}

/* Runs a row job; with quantize, the products that follow find their input
 * quantized (quantize_input). */
static void run_rows(lm_ctx *c, rows_job *j)
{
    if (j->norm || j->up || j->quantize)
        bert_pool_run(j->m >= ROWS_POOLED ? c->pool : NULL, rows_task, j,
                      (j->m + ROWS_TASK - 1) / ROWS_TASK);
    c->xq_for = j->quantize ? j->out : NULL;
}

/* Whether the products of the n matrices W take int8 input. */
static bool takes_int8(const lm_mat *const *W, int n)
{
    for (int i = 0; i < n; i++)
        if (lm_type_quantized(W[i]->type))
            return true;
    return false;
}

/* The Q and K heads' RMSNorm (Qwen3), RoPE, and the batch's keys and values
 * into the cache, a task for ROWS_TASK tokens. */
static void qkv_task(void *ctx, int task, int thread)
{
    (void)thread;
    const rows_job *j = ctx;
    lm_ctx *c = j->c;
    const lm_model *md = c->m;
    const lm_hparams *hp = &md->hp;
    const lm_layer *ly = &md->layers[j->layer];
    int Q = md->q_dim, KV = md->kv_dim, d = hp->head_dim;
    int t0 = task * ROWS_TASK, t1 = t0 + ROWS_TASK < j->m ? t0 + ROWS_TASK : j->m;
    if (ly->q_norm) {
        for (int t = t0; t < t1; t++) {
            for (int h = 0; h < hp->n_head; h++) {
                float *v = c->q + (size_t)t * Q + (size_t)h * d;
                vec_rmsnorm(v, ly->q_norm, d, hp->rms_eps, v);
            }
            for (int h = 0; h < hp->n_head_kv; h++) {
                float *v = c->k + (size_t)t * KV + (size_t)h * d;
                vec_rmsnorm(v, ly->k_norm, d, hp->rms_eps, v);
            }
        }
    }
    rope(c, c->q, t0, t1, hp->n_head, Q);
    rope(c, c->k, t0, t1, hp->n_head_kv, KV);
    size_t at = ((size_t)j->layer * c->n_ctx + (size_t)(j->p0 + t0)) * KV;
    cache_store(c, c->k_cache, at, c->k + (size_t)t0 * KV, (t1 - t0) * KV);
    cache_store(c, c->v_cache, at, c->v + (size_t)t0 * KV, (t1 - t0) * KV);
}

/* qkv_in's layer from its products' output (c->q, c->k, c->v): qkv_task's
 * steps and the cache store, then attention into c->att. */
static void attend(lm_ctx *c, const rows_job *qkv_in)
{
    const lm_hparams *hp = &c->m->hp;
    int KV = c->m->kv_dim;
    bert_pool_run(qkv_in->m >= ROWS_POOLED ? c->pool : NULL, qkv_task, (void *)qkv_in,
                  (qkv_in->m + ROWS_TASK - 1) / ROWS_TASK);
    size_t layer_at = (size_t)qkv_in->layer * c->n_ctx * KV * kv_elem_size(c);
    lm_attn_batch ab = {.k = (const char *)c->k_cache + layer_at,
                        .v = (const char *)c->v_cache + layer_at,
                        .kv = c->kv_type, .q = c->q, .out = c->att,
                        .m = qkv_in->m, .p0 = qkv_in->p0, .n_ctx = c->n_ctx,
                        .n_head = hp->n_head, .n_head_kv = hp->n_head_kv,
                        .head_dim = hp->head_dim, .kv_dim = KV, .scratch = c->attn_scratch};
    lm_attention(c->pool, &ab);
}

static bool stopped(lm_ctx *c)
{
    if (c->should_stop && c->should_stop(c->stop_user)) {
        dq_set_error("stopped");
        return true;
    }
    return false;
}

/* One micro-batch of m tokens at positions p0..; logits for the rows from
 * first_logit on go to c->logits starting at row out_row. */
static int forward(lm_ctx *c, const int32_t *tok, int m, int p0, int first_logit, int out_row)
{
    const lm_model *md = c->m;
    const lm_hparams *hp = &md->hp;
    int E = hp->n_embd, Q = md->q_dim, F = hp->n_ff;
    for (int t = 0; t < m; t++)
        lm_dequant_row(md->tok_embd.type, md->tok_embd.data + (size_t)tok[t] * md->tok_embd.row_bytes,
                       c->x + (size_t)t * E, E);
    rope_tables(c, p0, m);
    const float *pending = NULL; /* the last product's output, not yet added to x */
    for (int l = 0; l < hp->n_layer; l++) {
        if (stopped(c))
            return LM_ERR_STOPPED;
        const lm_layer *ly = &md->layers[l];
        const lm_mat *qkv[] = {&ly->wq, &ly->wk, &ly->wv}, *ffn[] = {&ly->w_gate, &ly->w_up};
        rows_job qkv_in = {.c = c, .m = m, .p0 = p0, .layer = l, .x = c->x, .add = pending,
                           .norm = ly->attn_norm, .out = c->xn, .width = E,
                           .quantize = takes_int8(qkv, 3)};
        run_rows(c, &qkv_in);
        linear_many(c, qkv, 3, m, c->xn, (float *[]){c->q, c->k, c->v},
                    (const float *[]){ly->bq, ly->bk, ly->bv});
        attend(c, &qkv_in);
        rows_job wo_in = {.c = c, .m = m, .out = c->att, .width = Q,
                          .quantize = lm_type_quantized(ly->wo.type)};
        run_rows(c, &wo_in);
        linear(c, &ly->wo, m, c->att, c->xn, NULL);
        rows_job ffn_in = {.c = c, .m = m, .x = c->x, .add = c->xn, .norm = ly->ffn_norm,
                           .out = c->xn, .width = E, .quantize = takes_int8(ffn, 2)};
        run_rows(c, &ffn_in);
        linear_many(c, ffn, 2, m, c->xn, (float *[]){c->gate, c->up}, (const float *[]){NULL, NULL});
        rows_job down_in = {.c = c, .m = m, .out = c->gate, .up = c->up, .width = F,
                            .quantize = lm_type_quantized(ly->w_down.type)};
        run_rows(c, &down_in);
        linear(c, &ly->w_down, m, c->gate, c->xn, NULL);
        pending = c->xn;
    }
    int n_out = m - first_logit;
    if (n_out <= 0)
        return 0;
    for (int t = first_logit; t < m; t++) {
        float *x = c->x + (size_t)t * E;
        if (pending)
            vec_add(x, pending + (size_t)t * E, E);
        /* row t of pending is read before row t - first_logit <= t is written */
        vec_rmsnorm(x, md->output_norm, E, hp->rms_eps, c->xn + (size_t)(t - first_logit) * E);
    }
    c->xq_for = NULL;
    linear(c, &md->output, n_out, c->xn, c->logits + (size_t)out_row * hp->n_vocab, NULL);
    return 0;
}

int lm_eval(lm_ctx *c, const int32_t *tokens, int n, bool all_logits)
{
    const lm_hparams *hp = &c->m->hp;
    if (n <= 0) {
        dq_set_error("no tokens to run");
        return LM_ERR;
    }
    if (n > c->n_ctx - c->pos) {
        dq_set_error("%d tokens do not fit in the context: %d of %d are in use", n, c->pos,
                     c->n_ctx);
        return LM_ERR_OVERFLOW;
    }
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab) {
            dq_set_error("token id %d is outside the vocabulary of %d", tokens[i], hp->n_vocab);
            return LM_ERR_TOKEN;
        }
    }
    int want = all_logits ? n : 1;
    if (want > c->logits_cap) {
        free(c->logits);
        c->logits = dq_malloc((size_t)want * hp->n_vocab * sizeof(float));
        c->logits_cap = want;
    }
    c->n_logits = 0;
    for (int done = 0; done < n; done += c->ubatch) {
        int m = n - done < c->ubatch ? n - done : c->ubatch;
        int first = all_logits ? 0 : (done + m == n ? m - 1 : m);
        int rc = forward(c, tokens + done, m, c->pos + done, first, all_logits ? done : 0);
        if (rc < 0)
            return rc;
    }
    c->pos += n;
    c->n_logits = want;
    return 0;
}
