/* llm_local.c - the in-process LLM: a GGUF model run by embed/'s engine
 * behind generate/llm.h's calls.
 *
 * One client owns one model and one context (KV cache). Requests from
 * several threads take numbered tickets and run in arrival order; /health
 * reads which number runs and which wait. The cache keeps the token ids it holds, so a
 * request whose prompt starts with them (a chat's follow-up, the same system
 * prompt) runs only the tokens after the common prefix.
 */
#include "generate/llm_local.h"

#include "common/common.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int llm_gguf_open(llm_gguf *g, const char *path, const char *template_file, int n_threads)
{
    *g = (llm_gguf){0};
    lm_load_params lp = lm_default_load_params();
    if (n_threads > 0)
        lp.n_threads = n_threads;
    g->model = lm_load(path, &lp);
    if (!g->model)
        return -1;
    const gguf_file *f = lm_model_gguf(g->model);
    g->tok = bpe_from_gguf(f); /* its message names the file */
    if (!g->tok) {
        llm_gguf_close(g);
        return -1;
    }
    if (template_file && *template_file) {
        g->tmpl = chat_template_load(g->tok, template_file);
    } else {
        int err = 0;
        g->tmpl = chat_template_detect(g->tok, gguf_get_str(f, "tokenizer.chat_template", NULL), &err);
        if (!g->tmpl)
            dq_set_error("'%s': %s", path, dq_last_error());
    }
    if (!g->tmpl) {
        llm_gguf_close(g);
        return -1;
    }
    return 0;
}

void llm_gguf_close(llm_gguf *g)
{
    if (!g)
        return;
    chat_template_free(g->tmpl);
    bpe_free(g->tok);
    lm_free(g->model);
    *g = (llm_gguf){0};
}

int llm_gguf_render(const llm_gguf *g, const llm_message *msgs, size_t n, bpe_ids *out)
{
    /* llm_message and chat_message have the same shape (bpe.h says so) */
    chat_message *cm = dq_calloc(n ? n : 1, sizeof *cm);
    for (size_t i = 0; i < n; i++)
        cm[i] = (chat_message){msgs[i].role, msgs[i].content};
    int rc = chat_render(g->tmpl, g->tok, cm, n, true, out);
    free(cm);
    return rc;
}

struct llm_local {
    llm_gguf g;
    lm_ctx *ctx;
    char *path;
    double temperature; /* the client's */
    int max_tokens;
    bpe_ids cache;      /* the ids in ctx's KV cache, lm_ctx_pos of them */
    const llm_request *req; /* the running request, for the stop poll */
    /* the queue, under state: tickets issued and finished; ticket done + 1
     * runs, and waits on `turn` until then */
    pthread_mutex_t state;
    pthread_cond_t turn;
    unsigned long issued, done;
    bool running;
    double running_since;
    int generated;         /* tokens the running request has written */
};

static bool poll_stop(void *user)
{
    llm_local *l = user;
    return l->req && l->req->should_stop && l->req->should_stop();
}

llm_local *llm_local_new(const llm_params *p)
{
    if (p->max_tokens < 1 || !(p->temperature >= 0 && p->temperature <= 2)) {
        dq_set_error("LLM settings out of range: max_tokens must be positive, temperature 0-2");
        return NULL;
    }
    llm_local *l = dq_calloc(1, sizeof *l);
    if (llm_gguf_open(&l->g, p->model_file, p->chat_template, p->n_threads) < 0) {
        free(l);
        return NULL;
    }
    lm_ctx_params cp = lm_default_ctx_params();
    if (p->context > 0)
        cp.n_ctx = p->context;
    if (p->kv_cache && lm_kv_type_parse(p->kv_cache, &cp.kv_type) < 0) {
        dq_set_error("unknown KV cache type '%s' (f16, bf16 or f32)", p->kv_cache);
        llm_gguf_close(&l->g);
        free(l);
        return NULL;
    }
    cp.pool = p->pool;
    cp.should_stop = poll_stop;
    cp.stop_user = l;
    l->ctx = lm_ctx_new(l->g.model, &cp);
    if (!l->ctx) {
        dq_set_error("%s: %s", p->model_file, dq_last_error());
        llm_gguf_close(&l->g);
        free(l);
        return NULL;
    }
    l->path = dq_strdup(p->model_file);
    l->temperature = p->temperature;
    l->max_tokens = p->max_tokens;
    pthread_mutex_init(&l->state, NULL);
    pthread_cond_init(&l->turn, NULL);
    return l;
}

void llm_local_free(llm_local *l)
{
    if (!l)
        return;
    lm_ctx_free(l->ctx);
    llm_gguf_close(&l->g);
    bpe_ids_free(&l->cache);
    pthread_cond_destroy(&l->turn);
    pthread_mutex_destroy(&l->state);
    free(l->path);
    free(l);
}

const char *llm_local_path(const llm_local *l)
{
    return l->path;
}

void llm_local_queue_state(llm_local *l, llm_queue_info *out)
{
    pthread_mutex_lock(&l->state);
    out->running = l->running;
    out->running_id = l->running ? l->done + 1 : 0;
    out->running_s = l->running ? dq_now() - l->running_since : 0;
    out->generated = l->running ? l->generated : 0;
    out->next_id = l->done + 1 + (l->running ? 1 : 0);
    out->queued = (int)(l->issued + 1 - out->next_id);
    pthread_mutex_unlock(&l->state);
}

static void set_generated(llm_local *l, int n)
{
    pthread_mutex_lock(&l->state);
    l->generated = n;
    pthread_mutex_unlock(&l->state);
}

int llm_local_count_tokens(llm_local *l, const char *text)
{
    bpe_ids ids = BPE_IDS_INIT;
    bpe_encode(l->g.tok, text, strlen(text), &ids);
    int n = (int)ids.n;
    bpe_ids_free(&ids);
    return n;
}

static int by_logprob(const void *a, const void *b)
{
    double x = ((const llm_logprob *)a)->logprob, y = ((const llm_logprob *)b)->logprob;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The top n tokens of logits and the single-token texts of score (NULL or
 * NULL-terminated) with their exact log-probabilities, best first. */
static void fill_top(const llm_local *l, const float *logits, int n, const char *const *score,
                     llm_reply *out)
{
    int V = lm_model_hparams(l->g.model)->n_vocab;
    if (n > V)
        n = V;
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < V; i++)
        mx = logits[i] > mx ? logits[i] : mx;
    for (int i = 0; i < V; i++)
        sum += exp((double)logits[i] - mx);
    double lse = mx + log(sum);
    int *best = dq_calloc((size_t)n, sizeof *best);
    int k = 0;
    for (int i = 0; i < V; i++) { /* insertion into a short sorted list */
        if (k == n && logits[i] <= logits[best[k - 1]])
            continue;
        int j = k < n ? k++ : k - 1;
        while (j > 0 && logits[best[j - 1]] < logits[i]) {
            best[j] = best[j - 1];
            j--;
        }
        best[j] = i;
    }
    size_t n_score = 0;
    while (score && score[n_score])
        n_score++;
    out->top = dq_calloc((size_t)k + n_score, sizeof *out->top);
    for (int i = 0; i < k; i++) {
        size_t len = 0;
        const char *b = bpe_token_bytes(l->g.tok, best[i], &len);
        out->top[i].token = dq_strndup(b ? b : "", b ? len : 0);
        out->top[i].logprob = logits[best[i]] - lse;
    }
    out->n_top = (size_t)k;
    out->scored = n_score > 0;
    for (size_t s = 0; s < n_score; s++) {
        bpe_ids ids = BPE_IDS_INIT;
        bpe_encode(l->g.tok, score[s], strlen(score[s]), &ids);
        bool have = ids.n != 1;
        for (int i = 0; i < k && !have; i++)
            have = best[i] == ids.v[0];
        if (!have) {
            out->top[out->n_top].token = dq_strdup(score[s]);
            out->top[out->n_top++].logprob = logits[ids.v[0]] - lse;
        }
        bpe_ids_free(&ids);
    }
    qsort(out->top, out->n_top, sizeof *out->top, by_logprob);
    free(best);
}

static bool is_stop(const llm_local *l, int32_t id)
{
    size_t n = 0;
    const int32_t *stop = chat_stop_ids(l->g.tmpl, &n);
    for (size_t i = 0; i < n; i++)
        if (stop[i] == id)
            return true;
    return false;
}

static llm_status eval_status(const llm_local *l, int rc)
{
    if (rc == LM_ERR_STOPPED) {
        dq_set_error("stopped");
        return LLM_ERR_CANCELLED;
    }
    dq_set_error("%s: %s", l->path, dq_last_error());
    return rc == LM_ERR_OVERFLOW ? LLM_ERR_OVERFLOW : LLM_ERR_OTHER;
}

/* Runs prompt after the part of it already in the cache. */
static int prefill(llm_local *l, const bpe_ids *prompt, llm_reply *out)
{
    size_t keep = 0;
    while (keep < l->cache.n && keep < prompt->n && l->cache.v[keep] == prompt->v[keep])
        keep++;
    if (keep == prompt->n) /* the last token runs again: its logits are needed */
        keep--;
    lm_ctx_truncate(l->ctx, (int)keep);
    l->cache.n = keep;
    out->prefilled_tokens = (int)(prompt->n - keep);
    int rc = lm_eval(l->ctx, prompt->v + keep, (int)(prompt->n - keep), false);
    if (rc == 0)
        for (size_t i = keep; i < prompt->n; i++)
            bpe_ids_push(&l->cache, prompt->v[i]);
    return rc;
}

static llm_status generate(llm_local *l, const bpe_ids *prompt, const llm_request *req,
                           llm_token_cb cb, void *cbctx, llm_reply *out)
{
    int n_ctx = lm_ctx_n_ctx(l->ctx);
    if ((int)prompt->n >= n_ctx) {
        dq_set_error("'%s': the prompt has %zu tokens but the context holds %d (raise [llm] context "
                     "or ask with fewer passages)",
                     l->path, prompt->n, n_ctx);
        return LLM_ERR_OVERFLOW;
    }
    double t0 = dq_now();
    int rc = prefill(l, prompt, out);
    if (rc < 0)
        return eval_status(l, rc);
    lm_sampler_params sp = lm_default_sampler_params();
    sp.temperature = (float)l->temperature;
    if (req->sampling) {
        sp.temperature = (float)req->sampling->temperature;
        sp.top_k = req->sampling->top_k;
        sp.top_p = (float)req->sampling->top_p;
        sp.seed = req->sampling->seed;
    }
    lm_sampler *s = lm_sampler_new(&sp);
    for (size_t i = 0; i < prompt->n; i++)
        lm_sampler_accept(s, prompt->v[i]);
    int budget = req->max_tokens > 0 ? req->max_tokens : l->max_tokens;
    int V = lm_model_hparams(l->g.model)->n_vocab;
    dq_buf text = DQ_BUF_INIT, piece = DQ_BUF_INIT;
    bpe_stream bs = BPE_STREAM_INIT;
    llm_status st = LLM_OK;
    const char *finish = "length";
    int n_gen = 0;
    for (; n_gen < budget; n_gen++) {
        const float *logits = lm_logits(l->ctx, -1);
        if (n_gen == 0 && req->top_logprobs > 0)
            fill_top(l, logits, req->top_logprobs, req->score_tokens, out);
        int32_t id = lm_sample(s, logits, V);
        if (is_stop(l, id)) {
            finish = "stop";
            break;
        }
        lm_sampler_accept(s, id);
        set_generated(l, n_gen + 1);
        dq_buf_clear(&piece);
        bpe_stream_token(l->g.tok, &bs, id, &piece);
        if (piece.len && out->first_token_s < 0)
            out->first_token_s = dq_now() - t0;
        dq_buf_append(&text, piece.data ? piece.data : "", piece.len);
        if (piece.len && cb && cb(cbctx, piece.data, piece.len)) {
            st = LLM_ERR_CANCELLED;
            dq_set_error("stopped");
            n_gen++;
            break;
        }
        if (lm_ctx_pos(l->ctx) >= n_ctx)
            break; /* the context is full: "length" */
        rc = lm_eval(l->ctx, &id, 1, false);
        if (rc < 0) {
            st = eval_status(l, rc);
            n_gen++;
            break;
        }
        bpe_ids_push(&l->cache, id);
    }
    dq_buf_clear(&piece);
    bpe_stream_finish(&bs, &piece);
    if (piece.len) {
        dq_buf_append(&text, piece.data, piece.len);
        if (st == LLM_OK && cb)
            cb(cbctx, piece.data, piece.len);
    }
    dq_buf_free(&piece);
    lm_sampler_free(s);
    out->text = text.data ? dq_buf_take(&text) : dq_strdup("");
    out->finish_reason = dq_strdup(st == LLM_OK ? finish : "stop");
    out->completion_tokens = n_gen;
    out->total_s = dq_now() - t0;
    return st;
}

llm_status llm_local_chat(llm_local *l, const llm_message *msgs, size_t n, const llm_request *req,
                          llm_token_cb cb, void *ctx, llm_reply *out)
{
    *out = (llm_reply){.prompt_tokens = -1, .completion_tokens = -1, .first_token_s = -1,
                       .prefilled_tokens = -1};
    bpe_ids prompt = BPE_IDS_INIT;
    pthread_mutex_lock(&l->state);
    unsigned long me = ++l->issued;
    int ahead = (int)(me - l->done - 1);
    pthread_mutex_unlock(&l->state);
    if (req->on_queued)
        req->on_queued(req->queue_ctx, me, ahead);
    pthread_mutex_lock(&l->state);
    while (l->done + 1 != me)
        pthread_cond_wait(&l->turn, &l->state);
    l->running = true;
    l->running_since = dq_now();
    l->generated = 0;
    pthread_mutex_unlock(&l->state);
    /* the tokenizer keeps scratch of its own: rendering runs in turn too */
    llm_status st = LLM_ERR_OTHER;
    if (llm_gguf_render(&l->g, msgs, n, &prompt) < 0)
        goto done;
    out->prompt_tokens = (int)prompt.n;
    if (req->should_stop && req->should_stop()) {
        dq_set_error("stopped");
        st = LLM_ERR_CANCELLED;
    } else {
        l->req = req;
        st = generate(l, &prompt, req, cb, ctx, out);
        l->req = NULL;
        l->cache.n = (size_t)lm_ctx_pos(l->ctx);
    }
done:
    pthread_mutex_lock(&l->state);
    l->running = false;
    l->done = me;
    pthread_cond_broadcast(&l->turn);
    pthread_mutex_unlock(&l->state);
    bpe_ids_free(&prompt);
    return st;
}
