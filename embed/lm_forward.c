/* lm_forward.c - a context (KV cache and buffers) and the forward pass of a
 * decoder: RMSNorm, grouped-query attention with RoPE over the cache, SwiGLU.
 *
 * Tokens run in micro-batches of 256 to 512 tokens, by model size
 * (batch_tokens): every linear layer is then one matrix product over the
 * batch (activations quantized once per input; with AVX-512 VNNI the packed
 * product of lm_gemm.c), and attention runs over the cache (lm_attn.c).
 * The pass is layer-major (run_span): a prompt longer than a micro-batch
 * runs in spans of up to SPAN_MAX tokens, whose residual stream stays
 * whole, and each layer goes through all the span's micro-batches before
 * the next layer starts, so each weight matrix is packed once per span
 * rather than once per micro-batch (the FFN in slices of n_ff whose pieces
 * fit PACK_BUDGET packed); per token it is the same arithmetic, the same
 * bits, as a prompt of one micro-batch (or one token: decode). The cache
 * holds K and V per layer, (n_ctx, kv_dim) each, in F16 (lm_kv.c), or in
 * BF16 or float on request; a call writes past lm_ctx_pos and only moves
 * it when the whole call is done, so a stopped or failed call leaves the
 * cache as it was.
 */
#include "embed/lm_impl.h"

#include "common/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Tokens of a micro-batch: as many as BATCH_BUDGET of batch buffers holds,
 * between UBATCH_MIN and UBATCH_MAX (a multiple of UBATCH_STEP). Before
 * layer-major prefill every batch packed each weight matrix again, so a
 * bigger batch packed less often: Qwen2.5-0.5B (63 KB of buffers a token)
 * runs 512 (32 MB; prefill then about 4% faster per CPU second than at
 * 256), 1.5B (114 KB) and larger stay at 256, where 512 measured no faster
 * (bench/README.md). */
enum { UBATCH_MIN = 256, UBATCH_MAX = 512, UBATCH_STEP = 64 };
#define BATCH_BUDGET ((size_t)32 << 20)

/* A prompt longer than a micro-batch runs layer by layer over spans of up
 * to SPAN_MAX tokens, whose residual stream (and each layer's FFN output)
 * is kept whole, (span, n_embd) floats each: each weight matrix is packed
 * once per span into PACK_BUDGET bytes and used by every micro-batch of it
 * (a matrix that does not fit packs per panel as a micro-batch does). The
 * FFN, too big to pack whole, goes in slices of n_ff (gate and up rows,
 * down columns) that fit the budget together: Qwen2.5-1.5B's attention
 * half takes 7.6 MB packed, its FFN slices of 2,048 13 MB. Qwen2.5-1.5B
 * at a 4,096-token context: 46 MB more than micro-batches alone (spans
 * 25 MB, their int8 rows 4 MB, the packed buffer 16 MB). */
enum { SPAN_MAX = 2048 };
#define PACK_BUDGET ((size_t)16 << 20)
/* A span's streams and int8 rows stay within SPAN_BUDGET, so a wider model
 * runs shorter spans (Qwen2.5-7B's 3,584 floats a token: about 1,000
 * tokens) and its buffers stay near Qwen2.5-1.5B's. */
#define SPAN_BUDGET ((size_t)32 << 20)

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
    lm_qrow *xq;             /* (ubatch) rows of max_k int8 activations (qrows_new) */
    /* a span of several micro-batches (run_span), NULL when n_ctx <= ubatch */
    int span;                /* tokens of a span (span_tokens) */
    float *span_x, *span_y;  /* (span, n_embd) the residual stream; the FFN's output not yet added */
    lm_qrow *span_xq;        /* (span) rows of n_embd int8 activations: the FFN's input */
    uint8_t *packed;         /* PACK_BUDGET bytes of packed weights, 64-byte aligned, or NULL */
    float *attn_scratch;     /* (n_threads, lm_attn_scratch_floats) */
    float *rope_cos, *rope_sin; /* (max(ubatch, span), head_dim / 2) */
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

/* rows lm_qrow of K int8 activations (K a multiple of 32) in one
 * allocation, freed with free(). */
static size_t qrows_bytes(int rows, int K)
{
    return (size_t)rows * (sizeof(lm_qrow) + (size_t)(K / 32 + K / 16 + 2) * sizeof(float) +
                           (size_t)K);
}

/* A buffer of megabytes that prefill's products stream through (their
 * outputs, the packed weights): dq_malloc's, or aligned_alloc's (NULL where
 * it fails) when align is given, advised into 2 MB pages
 * where the kernel gives them (transparent huge pages on "madvise"): a
 * product's task walks a column of Y down 500 rows, each of them on its
 * own 4 KB page, and with 4 KB pages Qwen2.5-0.5B's prefill took about 2%
 * more CPU. Advice only: a failure changes nothing. */
static void *big_buffer(size_t bytes, size_t align)
{
    void *p = align ? aligned_alloc(align, bytes) : dq_malloc(bytes);
#ifdef MADV_HUGEPAGE
    const uintptr_t page = 4096;
    uintptr_t from = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t to = ((uintptr_t)p + bytes) & ~(page - 1);
    if (p && to > from)
        madvise((void *)from, to - from, MADV_HUGEPAGE);
#endif
    return p;
}

static lm_qrow *qrows_new(int rows, int K)
{
    lm_qrow *r = dq_malloc(qrows_bytes(rows, K));
    float *f = (float *)(r + rows);
    int8_t *q = (int8_t *)(f + (size_t)rows * (size_t)(K / 32 + K / 16 + 2));
    for (int i = 0; i < rows; i++) {
        r[i].d = f + (size_t)i * (size_t)(K / 32 + K / 16 + 2);
        r[i].dsx = r[i].d + K / 32 + 1;
        r[i].q = q + (size_t)i * (size_t)K;
    }
    return r;
}

/* Bytes of a span's streams of tokens: its residual stream and FFN output,
 * (tokens, n_embd) floats each, and their int8 rows. */
static size_t span_stream_bytes(const lm_model *m, int tokens)
{
    return 2 * (size_t)tokens * (size_t)m->hp.n_embd * sizeof(float) +
           qrows_bytes(tokens, m->hp.n_embd);
}

static int span_tokens(const lm_model *m, int n_ctx)
{
    int ub = batch_tokens(m);
    if (n_ctx <= ub)
        return 0;
    size_t fit = SPAN_BUDGET / span_stream_bytes(m, 1);
    int span = fit < SPAN_MAX ? (int)fit : SPAN_MAX;
    if (span < ub)
        span = ub;
    return n_ctx < span ? n_ctx : span;
}

/* The KV cache's types, by their llama.cpp --cache-type names. */
static const struct {
    const char *name;
    gguf_type type;
} kv_kinds[] = {{"f16", GGUF_TYPE_F16}, {"bf16", GGUF_TYPE_BF16}, {"f32", GGUF_TYPE_F32}};

static bool kv_type_supported(gguf_type t)
{
    for (size_t i = 0; i < sizeof kv_kinds / sizeof kv_kinds[0]; i++)
        if (kv_kinds[i].type == t)
            return true;
    return false;
}

/* Bytes of the batch, attention and logits buffers, and of a span's. */
static size_t buffer_bytes(const lm_model *m, int n_ctx, int n_threads)
{
    const lm_hparams *hp = &m->hp;
    int span = span_tokens(m, n_ctx), ub = batch_tokens(m);
    size_t floats = (size_t)ub * token_floats(m) +
                    (size_t)n_threads * lm_attn_scratch_floats(n_ctx, hp->head_dim) +
                    (size_t)hp->n_vocab;
    if (span == 0)
        return floats * sizeof(float);
    floats += (size_t)(span > ub ? span - ub : 0) * (size_t)hp->head_dim;
    return floats * sizeof(float) + span_stream_bytes(m, span) + PACK_BUDGET;
}

uint64_t lm_memory_estimate(const lm_model *m, int n_ctx)
{
    return lm_weight_bytes(m) + lm_kv_bytes(m, n_ctx) + buffer_bytes(m, n_ctx, m->n_threads);
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
    if (!kv_type_supported(p->kv_type)) {
        dq_set_error("a KV cache of type %s is not supported (F16, BF16 or F32)",
                     gguf_type_name(p->kv_type));
        return NULL;
    }
    uint64_t need = lm_kv_bytes(m, n_ctx) * (p->kv_type == GGUF_TYPE_F32 ? 2 : 1) +
                    buffer_bytes(m, n_ctx, n_threads);
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
    c->gate = big_buffer((size_t)c->ubatch * (size_t)hp->n_ff * sizeof(float), 0);
    c->up = big_buffer((size_t)c->ubatch * (size_t)hp->n_ff * sizeof(float), 0);
    c->xq = qrows_new(c->ubatch, c->max_k);
    c->attn_scratch = dq_malloc((size_t)bert_pool_size(c->pool) *
                                lm_attn_scratch_floats(n_ctx, hp->head_dim) * sizeof(float));
    c->span = span_tokens(m, n_ctx);
    if (c->span) {
        c->span_x = big_buffer((size_t)c->span * (size_t)hp->n_embd * sizeof(float), 0);
        c->span_y = big_buffer((size_t)c->span * (size_t)hp->n_embd * sizeof(float), 0);
        c->span_xq = qrows_new(c->span, hp->n_embd);
        c->packed = big_buffer(PACK_BUDGET, 64); /* NULL: products pack as they go */
    }
    size_t rope_rows = (size_t)(c->span > c->ubatch ? c->span : c->ubatch);
    c->rope_cos = dq_malloc(rope_rows * (size_t)(hp->head_dim / 2) * sizeof(float));
    c->rope_sin = dq_malloc(rope_rows * (size_t)(hp->head_dim / 2) * sizeof(float));
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
    free(c->span_x);
    free(c->span_y);
    free(c->span_xq);
    free(c->packed);
    free(c->attn_scratch);
    free(c->rope_cos);
    free(c->rope_sin);
    free(c->logits);
    free(c);
}

int lm_ctx_n_ctx(const lm_ctx *c) { return c->n_ctx; }
gguf_type lm_ctx_kv_type(const lm_ctx *c) { return c->kv_type; }

int lm_kv_type_parse(const char *name, gguf_type *out)
{
    for (size_t i = 0; name && i < sizeof kv_kinds / sizeof kv_kinds[0]; i++)
        if (!strcmp(name, kv_kinds[i].name)) {
            *out = kv_kinds[i].type;
            return 0;
        }
    return -1;
}
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
            vec_add(out + (size_t)t * N, bias, N);
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

/* Rotates each head_dim-wide head of n_heads in rows t0..t1 of x (stride ld),
 * whose angles are rows row0 + t of the tables. */
static void rope(const lm_ctx *c, float *x, int row0, int t0, int t1, int n_heads, int ld)
{
    const lm_hparams *hp = &c->m->hp;
    int half = hp->head_dim / 2;
    for (int t = t0; t < t1; t++) {
        const float *cs = c->rope_cos + (size_t)(row0 + t) * half;
        const float *sn = c->rope_sin + (size_t)(row0 + t) * half;
        for (int h = 0; h < n_heads; h++)
            vec_rope(x + (size_t)t * ld + (size_t)h * hp->head_dim, cs, sn, half, hp->rope_neox);
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

/* One of three row steps before a product, then out's rows into xq (NULL:
 * c->xq) when quantize: with norm, x += add (when not NULL) and out =
 * RMSNorm(x) norm; with up, out = swiglu(out, up); with neither, out as it
 * is. */
typedef struct {
    lm_ctx *c;
    int m, p0, layer;
    int rope_row;         /* the batch's first row in the RoPE tables */
    lm_qrow *xq;
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
            lm_quantize_row(out, j->width, &(j->xq ? j->xq : j->c->xq)[t]);
    }
}

/* Runs a row job; with quantize into c->xq, the products that follow find
 * their input quantized (quantize_input). */
static void run_rows(lm_ctx *c, rows_job *j)
{
    if (j->norm || j->up || j->quantize)
        bert_pool_run(j->m >= ROWS_POOLED ? c->pool : NULL, rows_task, j,
                      (j->m + ROWS_TASK - 1) / ROWS_TASK);
    c->xq_for = j->quantize && !j->xq ? j->out : NULL;
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
    rope(c, c->q, j->rope_row, t0, t1, hp->n_head, Q);
    rope(c, c->k, j->rope_row, t0, t1, hp->n_head_kv, KV);
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

/* ---- the forward pass, layer-major over micro-batches ----------------------- */

/* The slice kb0 .. kb0 + nb - 1 of W packed into c->packed after *used
 * bytes, where the packed product applies and it fits in what is left of
 * PACK_BUDGET; else NULL, and the product packs as it goes. */
static const void *pack(lm_ctx *c, const lm_mat *W, int kb0, int nb, size_t *used)
{
    if (!c->packed || lm_isa_get() < LM_ISA_VNNI)
        return NULL;
    size_t bytes = lm_gemm_packed_bytes(c->pool, W, kb0, nb);
    if (bytes == 0 || bytes > PACK_BUDGET - *used)
        return NULL;
    void *at = c->packed + *used;
    lm_gemm_pack(c->pool, W, kb0, nb, at);
    *used += bytes;
    return at;
}

/* linear() with W packed (pack), or as linear() where packed is NULL. */
static void linear_packed(lm_ctx *c, const lm_mat *W, const void *packed, int m,
                          const float *in, float *out, const float *bias)
{
    if (!packed) {
        linear(c, W, m, in, out, bias);
        return;
    }
    quantize_input(c, m, in, W->K);
    lm_gemm_vnni_slice(c->pool, W, 0, W->K / 32, packed, m, c->xq, out, false);
    add_bias(out, m, W->N, bias);
}

/* Rows first .. first + n - 1 of W: gate's and up's slice of n_ff. */
static lm_mat rows_of(const lm_mat *W, int first, int n)
{
    lm_mat v = *W;
    v.N = n;
    v.data += (size_t)first * W->row_bytes;
    return v;
}

/* Columns of n_ff per FFN slice: the most multiples of LM_GEMM_SLICE whose
 * gate, up and down pieces fit in PACK_BUDGET packed together; 0 where the
 * FFN does not take the packed product (then each batch runs it whole). */
static int ffn_slice(const lm_ctx *c, const lm_layer *ly)
{
    int E = c->m->hp.n_embd, F = c->m->hp.n_ff;
    if (!c->packed || lm_isa_get() < LM_ISA_VNNI ||
        !lm_gemm_packed_bytes(c->pool, &ly->w_gate, 0, E / 32) ||
        !lm_gemm_packed_bytes(c->pool, &ly->w_up, 0, E / 32) ||
        !lm_gemm_packed_bytes(c->pool, &ly->w_down, 0, F / 32))
        return 0;
    int w = LM_GEMM_SLICE;
    while (w < F) {
        int next = w + LM_GEMM_SLICE < F ? w + LM_GEMM_SLICE : F;
        lm_mat g = rows_of(&ly->w_gate, 0, next), u = rows_of(&ly->w_up, 0, next);
        size_t bytes = lm_gemm_packed_bytes(c->pool, &g, 0, E / 32) +
                       lm_gemm_packed_bytes(c->pool, &u, 0, E / 32) +
                       lm_gemm_packed_bytes(c->pool, &ly->w_down, 0, next / 32);
        if (bytes > PACK_BUDGET)
            break;
        w = next;
    }
    return w < F ? w : F;
}

/* Batch b of nbat over a span of n tokens: rows *b0 .. *b0 + return - 1,
 * sizes within one of each other (none below UBATCH_MIN / 2, so every
 * batch takes the packed product as a micro-batch would). */
static int batch_at(int n, int nbat, int b, int *b0)
{
    *b0 = (int)((long long)b * n / nbat);
    return (int)((long long)(b + 1) * n / nbat) - *b0;
}

/* The tokens' residual stream, and each layer's FFN output not yet added to
 * it, (n, n_embd) each: a span's, or for one micro-batch its buffers (the
 * FFN output in c->xn, which each row job reads before it writes). */
static float *stream_x(lm_ctx *c, int nbat) { return nbat > 1 ? c->span_x : c->x; }
static float *stream_y(lm_ctx *c, int nbat) { return nbat > 1 ? c->span_y : c->xn; }

/* Layer l's attention half and residual add for every batch, its four
 * matrices packed once where there are several batches; then the FFN's
 * normed input, quantized into c->span_xq when sliced, else the whole FFN
 * per batch into stream_y. LM_ERR_STOPPED where a stop is asked for before
 * a batch after the first: a layer of a span is seconds of a 7B's work,
 * too long for Ctrl-C to wait. */
static int attn_layer(lm_ctx *c, int l, int n, int nbat, int p0, bool sliced)
{
    const lm_model *md = c->m;
    const lm_layer *ly = &md->layers[l];
    int E = md->hp.n_embd;
    const lm_mat *qkv[] = {&ly->wq, &ly->wk, &ly->wv}, *ffn[] = {&ly->w_gate, &ly->w_up};
    size_t used = 0;
    const void *pq = NULL, *pk = NULL, *pv = NULL, *po = NULL;
    if (nbat > 1) {
        pq = pack(c, &ly->wq, 0, E / 32, &used);
        pk = pack(c, &ly->wk, 0, E / 32, &used);
        pv = pack(c, &ly->wv, 0, E / 32, &used);
        po = pack(c, &ly->wo, 0, md->q_dim / 32, &used);
    }
    for (int b = 0; b < nbat; b++) {
        if (b > 0 && stopped(c))
            return LM_ERR_STOPPED;
        int b0, m = batch_at(n, nbat, b, &b0);
        float *x = stream_x(c, nbat) + (size_t)b0 * E, *y = stream_y(c, nbat) + (size_t)b0 * E;
        rows_job qkv_in = {.c = c, .m = m, .p0 = p0 + b0, .layer = l, .rope_row = b0, .x = x,
                           .add = l ? y : NULL, .norm = ly->attn_norm, .out = c->xn, .width = E,
                           .quantize = takes_int8(qkv, 3)};
        run_rows(c, &qkv_in);
        if (pq && pk && pv) {
            quantize_input(c, m, c->xn, E);
            lm_gemm_vnni_many(c->pool, qkv, (const void *[]){pq, pk, pv}, 3, m, c->xq,
                              (float *[]){c->q, c->k, c->v});
            add_bias(c->q, m, ly->wq.N, ly->bq);
            add_bias(c->k, m, ly->wk.N, ly->bk);
            add_bias(c->v, m, ly->wv.N, ly->bv);
        } else if (pq || pk || pv) {
            linear_packed(c, &ly->wq, pq, m, c->xn, c->q, ly->bq);
            linear_packed(c, &ly->wk, pk, m, c->xn, c->k, ly->bk);
            linear_packed(c, &ly->wv, pv, m, c->xn, c->v, ly->bv);
        } else {
            linear_many(c, qkv, 3, m, c->xn, (float *[]){c->q, c->k, c->v},
                        (const float *[]){ly->bq, ly->bk, ly->bv});
        }
        attend(c, &qkv_in);
        rows_job wo_in = {.c = c, .m = m, .out = c->att, .width = md->q_dim,
                          .quantize = lm_type_quantized(ly->wo.type)};
        run_rows(c, &wo_in);
        linear_packed(c, &ly->wo, po, m, c->att, c->xn, NULL);
        rows_job ffn_in = {.c = c, .m = m, .x = x, .add = c->xn, .norm = ly->ffn_norm,
                           .out = c->xn, .width = E, .quantize = takes_int8(ffn, 2),
                           .xq = sliced ? c->span_xq + b0 : NULL};
        run_rows(c, &ffn_in);
        if (sliced)
            continue;
        linear_many(c, ffn, 2, m, c->xn, (float *[]){c->gate, c->up}, (const float *[]){NULL, NULL});
        rows_job down_in = {.c = c, .m = m, .out = c->gate, .up = c->up, .width = md->hp.n_ff,
                            .quantize = lm_type_quantized(ly->w_down.type)};
        run_rows(c, &down_in);
        linear(c, &ly->w_down, m, c->gate, y, NULL);
    }
    return 0;
}

/* Layer l's FFN over the span in slices of w columns of n_ff, each slice's
 * pieces packed once: span_y = down(swiglu(gate x, up x)) from the inputs
 * in c->span_xq, the slices' down products added in K's order; stopped as
 * attn_layer is, before each batch. */
static int ffn_layer(lm_ctx *c, int l, int n, int nbat, int w)
{
    const lm_model *md = c->m;
    const lm_layer *ly = &md->layers[l];
    int E = md->hp.n_embd, F = md->hp.n_ff;
    for (int f0 = 0; f0 < F; f0 += w) {
        int fw = F - f0 < w ? F - f0 : w;
        lm_mat gate = rows_of(&ly->w_gate, f0, fw), up = rows_of(&ly->w_up, f0, fw);
        size_t used = 0;
        const void *pg = pack(c, &gate, 0, E / 32, &used), *pu = pack(c, &up, 0, E / 32, &used),
                   *pd = pack(c, &ly->w_down, f0 / 32, fw / 32, &used);
        for (int b = 0; b < nbat; b++) {
            if (stopped(c))
                return LM_ERR_STOPPED;
            int b0, m = batch_at(n, nbat, b, &b0);
            const lm_qrow *xq = c->span_xq + b0;
            lm_gemm_vnni_many(c->pool, (const lm_mat *[]){&gate, &up}, (const void *[]){pg, pu}, 2,
                              m, xq, (float *[]){c->gate, c->up});
            rows_job down_in = {.c = c, .m = m, .out = c->gate, .up = c->up, .width = fw,
                                .quantize = true};
            run_rows(c, &down_in);
            lm_gemm_vnni_slice(c->pool, &ly->w_down, f0 / 32, fw / 32, pd, m, c->xq,
                               c->span_y + (size_t)b0 * E, f0 > 0);
        }
    }
    return 0;
}

/* The logits of rows t0 .. t0 + m - 1 into c->logits from row out_row:
 * the last layer's FFN output added, the output norm and head. */
static void logits_of(lm_ctx *c, int nbat, int t0, int m, int out_row)
{
    const lm_model *md = c->m;
    int E = md->hp.n_embd;
    for (int t = 0; t < m; t++) {
        float *x = stream_x(c, nbat) + (size_t)(t0 + t) * E;
        vec_add(x, stream_y(c, nbat) + (size_t)(t0 + t) * E, E);
        /* row t0 + t of y (c->xn for one batch) is read before row t is written */
        vec_rmsnorm(x, md->output_norm, E, md->hp.rms_eps, c->xn + (size_t)t * E);
    }
    c->xq_for = NULL;
    linear(c, &md->output, m, c->xn, c->logits + (size_t)out_row * md->hp.n_vocab, NULL);
}

/* n tokens (at most one micro-batch, or a span) at positions p0.., layer by
 * layer over balanced micro-batches: the same arithmetic per token however
 * the tokens are batched. Logits of every row (all_logits) to c->logits
 * from row out_row, or of the last (last) to row 0. */
static int run_span(lm_ctx *c, const int32_t *tok, int n, int p0, bool all_logits, int out_row,
                    bool last)
{
    const lm_model *md = c->m;
    const lm_hparams *hp = &md->hp;
    int E = hp->n_embd, nbat = (n + c->ubatch - 1) / c->ubatch;
    for (int t = 0; t < n; t++)
        lm_dequant_row(md->tok_embd.type, md->tok_embd.data + (size_t)tok[t] * md->tok_embd.row_bytes,
                       stream_x(c, nbat) + (size_t)t * E, E);
    rope_tables(c, p0, n);
    for (int l = 0; l < hp->n_layer; l++) {
        if (stopped(c))
            return LM_ERR_STOPPED;
        int w = nbat > 1 ? ffn_slice(c, &md->layers[l]) : 0;
        int rc = attn_layer(c, l, n, nbat, p0, w > 0);
        if (rc == 0 && w > 0)
            rc = ffn_layer(c, l, n, nbat, w);
        if (rc < 0)
            return rc;
    }
    if (all_logits) {
        for (int b = 0; b < nbat; b++) {
            int t0, m = batch_at(n, nbat, b, &t0);
            logits_of(c, nbat, t0, m, out_row + t0);
        }
    } else if (last) {
        logits_of(c, nbat, n - 1, 1, 0);
    }
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
    /* spans of equal size; a prompt longer than a micro-batch fits a span
     * (c->span covers n_ctx up to SPAN_MAX), and a span of a longer one is
     * at least SPAN_MAX / 2 tokens */
    int span = n > c->ubatch ? c->span : c->ubatch, nspan = (n + span - 1) / span;
    for (int s = 0; s < nspan; s++) {
        int s0 = (int)((long long)s * n / nspan), len = (int)((long long)(s + 1) * n / nspan) - s0;
        int rc = run_span(c, tokens + s0, len, c->pos + s0, all_logits, s0, s == nspan - 1);
        if (rc < 0)
            return rc;
    }
    c->pos += n;
    c->n_logits = want;
    return 0;
}
