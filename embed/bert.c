/* bert.c - the BERT encoder's forward pass: a scalar reference and the fast path.
 *
 * The reference is the textbook computation in plain loops (double sums,
 * Hugging Face's additive attention mask) and exists to check the fast path.
 * The fast path runs the linear layers as GEMMs over all batch x seq rows
 * (FP32 through our AVX-512 SGEMM on W packed once at load, OpenBLAS without
 * AVX-512, or int8 VNNI when the weights are quantised), with bias, GELU and
 * the residual LayerNorm done by the GEMM's slices while their rows are in
 * cache; attention runs as one task per (sequence, head) whose scores stop
 * at the sequence's real length, and everything else row-parallel; all
 * scratch lives in bert_run, sized once.
 */
#include "embed/kernels.h"

#include "common/common.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct bert_run {
    int max_batch, max_len, hidden, intermediate, n_threads;
    bert_pool *pool;
    bool own_pool;      /* else borrowed from the session */
    /* (max_batch * max_len, hidden) each: the hidden state, Q, K, V (Q's
     * buffer also takes each block's output before the residual) and the
     * attention context */
    float *x, *q, *k, *v, *ctx;
    float *ff;          /* (max_batch * max_len, intermediate) */
    float *scores;      /* (n_threads, max_len, max_len): one score matrix per thread */
    uint8_t *aq;        /* (max_batch * max_len, q8_stride(max(hidden, intermediate))) */
    float *ascale;      /* (max_batch * max_len) */
};

bert_run *bert_run_new(const bert_config *cfg, int max_batch, int max_len, int n_threads,
                       bert_pool *pool)
{
    if (cfg->hidden <= 0 || cfg->n_heads <= 0 || cfg->hidden % cfg->n_heads != 0 ||
        cfg->intermediate <= 0 || cfg->n_layers <= 0) {
        dq_set_error("cannot run model: bad shape (hidden %d, heads %d, intermediate %d, "
                     "layers %d)",
                     cfg->hidden, cfg->n_heads, cfg->intermediate, cfg->n_layers);
        return NULL;
    }
    if (max_batch <= 0 || max_len <= 0) {
        dq_set_error("cannot run model: batch %d x length %d", max_batch, max_len);
        return NULL;
    }
    if (max_len > cfg->max_pos - cfg->pos_offset)
        max_len = cfg->max_pos - cfg->pos_offset; /* no sequence can be longer anyway */
    if (pool)
        n_threads = bert_pool_size(pool);
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    /* config.json's sizes come from a downloaded file: a tiny model claiming
     * 2^20 positions would ask for terabytes of attention scores, and
     * dq_malloc would abort. Counted in double so nothing can wrap. Only
     * the rows a batch uses are ever touched, so up to twice the machine's
     * memory is let through rather than refusing a small box a real model. */
    {
        double T = (double)max_batch * max_len, L = max_len;
        int wide = cfg->hidden > cfg->intermediate ? cfg->hidden : cfg->intermediate;
        double need = 4.0 * (T * (5.0 * cfg->hidden + cfg->intermediate + 1) +
                             (double)n_threads * L * L) +
                      T * (wide + 64.0);
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        double have = pages > 0 && page > 0 ? (double)pages * page : 1e18;
        if (need > 2 * have || need > 1e15) {
            dq_set_error("cannot run model: scratch for batch %d x length %d needs %.0f MB, "
                         "far more than this machine's %.0f MB of memory (lower max_batch or "
                         "max_len)",
                         max_batch, max_len, need / 1e6, have / 1e6);
            return NULL;
        }
    }
    /* The kernels' ISA level is detected lazily on first use: do it here,
     * before the pool's threads exist, so they never race to set it. */
    (void)bert_isa_get();
    bert_run *r = dq_calloc(1, sizeof *r);
    r->max_batch = max_batch;
    r->max_len = max_len;
    r->hidden = cfg->hidden;
    r->intermediate = cfg->intermediate;
    r->n_threads = n_threads;
    r->own_pool = !pool;
    r->pool = pool ? pool : bert_pool_new(n_threads);
    if (!r->pool) {
        free(r);
        return NULL;
    }
    /* Our pool splits every GEMM, so OpenBLAS must not start threads of its
     * own on top (this is process-wide; docqa has no other BLAS user). */
    openblas_set_num_threads(1);
    size_t T = (size_t)max_batch * max_len, H = (size_t)cfg->hidden;
    int widest = cfg->hidden > cfg->intermediate ? cfg->hidden : cfg->intermediate;
    size_t kmax = (size_t)q8_stride(widest);
    r->x = dq_malloc(T * H * sizeof(float));
    r->q = dq_malloc(T * H * sizeof(float));
    r->k = dq_malloc(T * H * sizeof(float));
    r->v = dq_malloc(T * H * sizeof(float));
    r->ctx = dq_malloc(T * H * sizeof(float));
    r->ff = dq_malloc(T * (size_t)cfg->intermediate * sizeof(float));
    r->scores = dq_malloc((size_t)n_threads * max_len * max_len * sizeof(float));
    r->aq = dq_malloc(T * kmax);
    r->ascale = dq_malloc(T * sizeof(float));
    return r;
}

void bert_run_free(bert_run *r)
{
    if (!r)
        return;
    if (r->own_pool)
        bert_pool_free(r->pool);
    free(r->x);
    free(r->q);
    free(r->k);
    free(r->v);
    free(r->ctx);
    free(r->ff);
    free(r->scores);
    free(r->aq);
    free(r->ascale);
    free(r);
}

static int check_inputs(const bert_config *cfg, const int32_t *ids, const int32_t *types,
                        const int *lens, int batch, int seq)
{
    if (batch <= 0 || seq <= 0) {
        dq_set_error("cannot run model on batch %d x length %d", batch, seq);
        return -1;
    }
    if (seq > cfg->max_pos - cfg->pos_offset) {
        dq_set_error("sequence length %d exceeds the model's %d positions", seq,
                     cfg->max_pos - cfg->pos_offset);
        return -1;
    }
    for (int b = 0; b < batch; b++) {
        if (lens[b] < 1 || lens[b] > seq) {
            dq_set_error("sequence %d has length %d, outside 1..%d", b, lens[b], seq);
            return -1;
        }
        for (int t = 0; t < seq; t++) {
            int32_t id = ids[(size_t)b * seq + t];
            if (id < 0 || id >= cfg->vocab_size) {
                dq_set_error("token id %d at (%d, %d) is outside the vocabulary of %d", (int)id,
                             b, t, cfg->vocab_size);
                return -1;
            }
            int32_t ty = types ? types[(size_t)b * seq + t] : 0;
            if (ty < 0 || ty >= cfg->type_vocab) {
                dq_set_error("token type %d at (%d, %d) is outside the model's %d types",
                             (int)ty, b, t, cfg->type_vocab);
                return -1;
            }
        }
    }
    return 0;
}

/* Pooling and normalisation, shared by both paths: x is (batch, seq, hidden). */
static void pool_rows(const bert_config *cfg, const float *x, const int *lens, int batch, int seq,
                      float *pooled)
{
    int H = cfg->hidden;
    for (int b = 0; b < batch; b++) {
        float *out = pooled + (size_t)b * H;
        const float *xb = x + (size_t)b * seq * H;
        if (cfg->pooling == BERT_POOL_MEAN) {
            for (int i = 0; i < H; i++) {
                double s = 0;
                for (int t = 0; t < lens[b]; t++)
                    s += xb[(size_t)t * H + i];
                out[i] = (float)(s / lens[b]);
            }
        } else {
            memcpy(out, xb, (size_t)H * sizeof(float));
        }
        if (cfg->normalize) {
            double ss = 0;
            for (int i = 0; i < H; i++)
                ss += (double)out[i] * out[i];
            /* sentence-transformers' Normalize: x / max(|x|, 1e-12) */
            double n = sqrt(ss);
            float inv = (float)(1.0 / (n > 1e-12 ? n : 1e-12));
            for (int i = 0; i < H; i++)
                out[i] *= inv;
        }
    }
}

/* ---- reference ----------------------------------------------------------- */

static void ref_layernorm(float *x, int n, const bert_norm *ln, float eps)
{
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++)
        mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++)
        var += (x[i] - mean) * (x[i] - mean);
    var /= n;
    double inv = 1.0 / sqrt(var + eps);
    for (int i = 0; i < n; i++)
        x[i] = (float)((x[i] - mean) * inv * ln->gamma[i] + ln->beta[i]);
}

static void ref_linear(const bert_linear *l, const float *in, int rows, float *out, bool gelu)
{
    gemm_f32_naive(rows, l->n_out, l->n_in, in, l->n_in, l->w, l->b, out, l->n_out,
                   gelu ? GEMM_BIAS_GELU : GEMM_BIAS);
}

static int forward_reference(const bert_config *cfg, const bert_weights *w, const int32_t *ids,
                             const int32_t *types, const int *lens, int batch, int seq,
                             float *hidden, float *pooled)
{
    int H = cfg->hidden, NH = cfg->n_heads, D = H / NH, FF = cfg->intermediate;
    size_t T = (size_t)batch * seq;
    float *x = dq_malloc(T * H * sizeof(float));
    float *q = dq_malloc(T * H * sizeof(float));
    float *k = dq_malloc(T * H * sizeof(float));
    float *v = dq_malloc(T * H * sizeof(float));
    float *ctx = dq_malloc(T * H * sizeof(float));
    float *tmp = dq_malloc(T * H * sizeof(float));
    float *ff = dq_malloc(T * FF * sizeof(float));
    double *s = dq_malloc((size_t)seq * sizeof(double));

    for (size_t r = 0; r < T; r++) {
        int t = (int)(r % seq);
        size_t ty = types ? (size_t)types[r] : 0;
        for (int i = 0; i < H; i++)
            x[r * H + i] = w->word_emb[(size_t)ids[r] * H + i] +
                           w->pos_emb[(size_t)(t + cfg->pos_offset) * H + i] +
                           w->type_emb[ty * H + i];
        ref_layernorm(x + r * H, H, &w->ln_emb, cfg->ln_eps);
    }
    for (int layer = 0; layer < cfg->n_layers; layer++) {
        const bert_layer *ly = &w->layers[layer];
        ref_linear(&ly->q, x, (int)T, q, false);
        ref_linear(&ly->k, x, (int)T, k, false);
        ref_linear(&ly->v, x, (int)T, v, false);
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < seq; i++) {
                    const float *qi = q + ((size_t)b * seq + i) * H + h * D;
                    double mx = -DBL_MAX, sum = 0;
                    for (int j = 0; j < seq; j++) {
                        const float *kj = k + ((size_t)b * seq + j) * H + h * D;
                        double d = 0;
                        for (int e = 0; e < D; e++)
                            d += (double)qi[e] * kj[e];
                        /* HF's extended mask: (1 - mask) * finfo(float32).min */
                        s[j] = d / sqrt((double)D) + (j < lens[b] ? 0.0 : -FLT_MAX);
                        mx = s[j] > mx ? s[j] : mx;
                    }
                    for (int j = 0; j < seq; j++) {
                        s[j] = exp(s[j] - mx);
                        sum += s[j];
                    }
                    float *out = ctx + ((size_t)b * seq + i) * H + h * D;
                    for (int e = 0; e < D; e++) {
                        double acc = 0;
                        for (int j = 0; j < seq; j++)
                            acc += s[j] / sum * v[((size_t)b * seq + j) * H + h * D + e];
                        out[e] = (float)acc;
                    }
                }
        ref_linear(&ly->o, ctx, (int)T, tmp, false);
        for (size_t r = 0; r < T; r++) {
            for (int i = 0; i < H; i++)
                x[r * H + i] += tmp[r * H + i];
            ref_layernorm(x + r * H, H, &ly->ln_attn, cfg->ln_eps);
        }
        ref_linear(&ly->ff_in, x, (int)T, ff, true);
        ref_linear(&ly->ff_out, ff, (int)T, tmp, false);
        for (size_t r = 0; r < T; r++) {
            for (int i = 0; i < H; i++)
                x[r * H + i] += tmp[r * H + i];
            ref_layernorm(x + r * H, H, &ly->ln_ff, cfg->ln_eps);
        }
    }
    if (hidden)
        memcpy(hidden, x, T * H * sizeof(float));
    if (pooled)
        pool_rows(cfg, x, lens, batch, seq, pooled);
    free(x);
    free(q);
    free(k);
    free(v);
    free(ctx);
    free(tmp);
    free(ff);
    free(s);
    return 0;
}

/* ---- fast path ------------------------------------------------------------- */

typedef struct {
    const bert_config *cfg;
    const bert_weights *w;
    bert_run *run;
    const int32_t *ids;
    const int32_t *types; /* NULL: type 0 everywhere */
    const int *lens;
    int batch, seq, rows, n_chunks;
    const bert_norm *ln; /* for the residual pass */
    const float *res;
} fwd_ctx;

static void chunk_range(const fwd_ctx *c, int task, int *r0, int *r1)
{
    *r0 = (int)((long)c->rows * task / c->n_chunks);
    *r1 = (int)((long)c->rows * (task + 1) / c->n_chunks);
}

static void embed_task(void *arg, int task, int thread)
{
    (void)thread;
    const fwd_ctx *c = arg;
    int H = c->cfg->hidden, r0, r1;
    chunk_range(c, task, &r0, &r1);
    for (int r = r0; r < r1; r++) {
        float *x = c->run->x + (size_t)r * H;
        int t = r % c->seq;
        memcpy(x, c->w->word_emb + (size_t)c->ids[r] * H, (size_t)H * sizeof(float));
        vec_add(x, c->w->pos_emb + (size_t)(t + c->cfg->pos_offset) * H, H);
        size_t ty = c->types ? (size_t)c->types[r] : 0;
        vec_layernorm(x, c->w->type_emb + ty * H, c->w->ln_emb.gamma, c->w->ln_emb.beta, H,
                      c->cfg->ln_eps);
    }
}

/* x = LayerNorm(x + res) */
static void residual_task(void *arg, int task, int thread)
{
    (void)thread;
    const fwd_ctx *c = arg;
    int H = c->cfg->hidden, r0, r1;
    chunk_range(c, task, &r0, &r1);
    for (int r = r0; r < r1; r++)
        vec_layernorm(c->run->x + (size_t)r * H, c->res + (size_t)r * H, c->ln->gamma,
                      c->ln->beta, H, c->cfg->ln_eps);
}

static void attention_task(void *arg, int task, int thread)
{
    const fwd_ctx *c = arg;
    bert_run *run = c->run;
    int H = c->cfg->hidden, NH = c->cfg->n_heads, D = H / NH, seq = c->seq;
    int b = task / NH, h = task % NH, len = c->lens[b];
    size_t base = (size_t)b * seq * H + (size_t)h * D;
    float *S = run->scores + (size_t)thread * run->max_len * run->max_len;
    /* Masked keys would get exp(-FLT_MAX) = 0 in HF's softmax: leaving them
     * out of the scores is the same and does less work. */
    float scale = 1.0f / sqrtf((float)D);
    if (bert_isa_get() >= BERT_ISA_AVX512) {
        float *pack = bert_pool_scratch(run->pool, thread);
        gemm_f32_serial(seq, len, D, run->q + base, H, run->k + base, (size_t)H, 1, 1.0f, S,
                        len, pack);
        for (int i = 0; i < seq; i++)
            vec_softmax(S + (size_t)i * len, len, scale);
        gemm_f32_serial(seq, D, len, S, len, run->v + base, 1, (size_t)H, 1.0f,
                        run->ctx + base, H, pack);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, seq, len, D, 1.0f, run->q + base, H,
                run->k + base, H, 0.0f, S, len);
    for (int i = 0; i < seq; i++)
        vec_softmax(S + (size_t)i * len, len, scale);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, seq, D, len, 1.0f, S, len,
                run->v + base, H, 0.0f, run->ctx + base, H);
}

#define FOR_EACH_LINEAR(X) X(q) X(k) X(v) X(o) X(ff_in) X(ff_out)

static size_t pack_linear(bert_linear *l)
{
    if (l->q || l->w_pack || !l->w)
        return 0;
    size_t bytes = gemm_packed_floats(l->n_out, l->n_in) * sizeof(float);
    /* aligned_alloc wants a multiple of the alignment (panel rows already are) */
    l->w_pack = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!l->w_pack)
        abort(); /* out of memory, as dq_malloc does */
    gemm_pack_f32(l->n_out, l->n_in, l->w, l->w_pack);
    return bytes;
}

size_t bert_pack_weights(const bert_config *cfg, bert_weights *w)
{
    size_t bytes = 0;
    if (bert_isa_detect() < BERT_ISA_AVX512 || !w->layers)
        return 0;
    for (int i = 0; i < cfg->n_layers; i++) {
        bert_layer *ly = &w->layers[i];
#define PACK(name) bytes += pack_linear(&ly->name);
        FOR_EACH_LINEAR(PACK)
#undef PACK
    }
    return bytes;
}

void bert_weights_free_pack(const bert_config *cfg, bert_weights *w)
{
    if (!w || !w->layers)
        return;
    for (int i = 0; i < cfg->n_layers; i++) {
        bert_layer *ly = &w->layers[i];
#define UNPACK(name)                                                                       \
    free(ly->name.w_pack);                                                                 \
    ly->name.w_pack = NULL;
        FOR_EACH_LINEAR(UNPACK)
#undef UNPACK
    }
}

static bool packed(const bert_linear *l)
{
    return l->w_pack && bert_isa_get() >= BERT_ISA_AVX512;
}

static void linear(bert_run *run, const bert_linear *l, const float *in, int rows, float *out,
                   gemm_epilogue epi)
{
    if (l->q)
        gemm_q8(run->pool, rows, in, l->n_in, l, run->aq, run->ascale, out, l->n_out, epi);
    else if (packed(l))
        gemm_f32_avx512_packed(run->pool, rows, l->n_out, l->n_in, in, l->n_in, l->w,
                               l->w_pack, l->b, out, l->n_out, epi, NULL);
    else
        gemm_f32(run->pool, rows, l->n_out, l->n_in, in, l->n_in, l->w, l->b, out, l->n_out,
                 epi);
}

/* out = in * W^T + b, then x = LayerNorm(x + out): fused into the GEMM's
 * slices when W is packed, else a pass of its own. */
static void linear_residual(bert_run *run, fwd_ctx *c, const bert_linear *l, const float *in,
                            const bert_norm *ln)
{
    if (packed(l)) {
        gemm_residual_ln r = {run->x, c->cfg->hidden, ln->gamma, ln->beta, c->cfg->ln_eps};
        gemm_f32_avx512_packed(run->pool, c->rows, l->n_out, l->n_in, in, l->n_in, l->w,
                               l->w_pack, l->b, run->q, l->n_out, GEMM_BIAS, &r);
        return;
    }
    linear(run, l, in, c->rows, run->q, GEMM_BIAS);
    c->ln = ln;
    c->res = run->q;
    bert_pool_run(run->pool, residual_task, c, c->n_chunks);
}

static int forward_fast(const bert_config *cfg, const bert_weights *w, bert_run *run,
                        const int32_t *ids, const int32_t *types, const int *lens, int batch,
                        int seq, float *hidden, float *pooled)
{
    if (batch > run->max_batch || seq > run->max_len) {
        dq_set_error("batch %d x length %d exceeds the run's capacity of %d x %d", batch, seq,
                     run->max_batch, run->max_len);
        return -1;
    }
    if (cfg->hidden != run->hidden || cfg->intermediate != run->intermediate) {
        dq_set_error("run state was made for another model shape");
        return -1;
    }
    int H = cfg->hidden, rows = batch * seq;
    fwd_ctx c = {cfg, w, run, ids, types, lens, batch, seq, rows, 0, NULL, NULL};
    c.n_chunks = rows < 4 * run->n_threads ? rows : 4 * run->n_threads;
    bert_pool_run(run->pool, embed_task, &c, c.n_chunks);
    for (int layer = 0; layer < cfg->n_layers; layer++) {
        const bert_layer *ly = &w->layers[layer];
        linear(run, &ly->q, run->x, rows, run->q, GEMM_BIAS);
        linear(run, &ly->k, run->x, rows, run->k, GEMM_BIAS);
        linear(run, &ly->v, run->x, rows, run->v, GEMM_BIAS);
        bert_pool_run(run->pool, attention_task, &c, batch * cfg->n_heads);
        linear_residual(run, &c, &ly->o, run->ctx, &ly->ln_attn);
        linear(run, &ly->ff_in, run->x, rows, run->ff, GEMM_BIAS_GELU);
        linear_residual(run, &c, &ly->ff_out, run->ff, &ly->ln_ff);
    }
    if (hidden)
        memcpy(hidden, run->x, (size_t)rows * H * sizeof(float));
    if (pooled)
        pool_rows(cfg, run->x, lens, batch, seq, pooled);
    return 0;
}

int bert_forward_typed(const bert_config *cfg, const bert_weights *w, bert_run *run,
                       const int32_t *ids, const int32_t *types, const int *lens, int batch,
                       int seq, float *hidden, float *pooled, bool reference)
{
    if (check_inputs(cfg, ids, types, lens, batch, seq) < 0)
        return -1;
    if (reference)
        return forward_reference(cfg, w, ids, types, lens, batch, seq, hidden, pooled);
    if (!run) {
        dq_set_error("cannot run model: no run state");
        return -1;
    }
    return forward_fast(cfg, w, run, ids, types, lens, batch, seq, hidden, pooled);
}

int bert_forward(const bert_config *cfg, const bert_weights *w, bert_run *run,
                 const int32_t *ids, const int *lens, int batch, int seq, float *hidden,
                 float *pooled, bool reference)
{
    return bert_forward_typed(cfg, w, run, ids, NULL, lens, batch, seq, hidden, pooled,
                              reference);
}
