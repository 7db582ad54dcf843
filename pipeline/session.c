/* session.c - what answers questions, built once from the config and the
 * face's flags: the store, the question's embedding model, the reranker and
 * the LLM client, each opened only when the settings call for it.
 *
 * The models hold scratch buffers, so retrieval runs under the session's
 * lock; a server's threads share one session and bring their own store
 * connection and LLM client to each turn. The encoders and an in-process
 * LLM run on one pool of threads the session owns.
 */
#include "pipeline/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"

static int parse_mode(const dq_config *cfg, const rag_flags *f, retrieve_params *rp)
{
    const char *mode = f->mode ? f->mode : cfg->retrieve_mode;
    if (mode && retrieve_parse_mode(mode, &rp->mode) < 0) {
        dq_set_error("unknown mode '%s' (auto, bm25, dense or hybrid)", mode);
        return RAG_ERR_SETTING;
    }
    rp->min_score = cfg->min_score;
    if (f->min_score) {
        char *end;
        double x = strtod(f->min_score, &end);
        if (end == f->min_score || *end || isnan(x)) {
            dq_set_error("--min-score wants a number, not '%s'", f->min_score);
            return RAG_ERR_SETTING;
        }
        rp->min_score = x;
    }
    rp->vindex = dq_config_vindex_params(cfg);
    rp->vindex.exact = rp->vindex.exact || f->exact;
    rp->doc = f->doc;
    rp->no_scope = f->no_scope;
    return 0;
}

int rag_retrieval_setup(const dq_config *cfg, const rag_flags *f, bert_pool *pool,
                        retrieve_params *rp, embedder **emb)
{
    *emb = NULL;
    int rc = parse_mode(cfg, f, rp);
    if (rc < 0)
        return rc;
    const char *rerank = f->no_rerank ? NULL : f->rerank ? f->rerank : cfg->rerank_model;
    if (rerank) {
        bert_params bp = bert_default_params();
        bp.n_threads = cfg->embed_threads;
        bp.pool = pool;
        rp->reranker = reranker_open(rerank, &bp);
        if (!rp->reranker)
            return RAG_ERR;
    }
    if (rp->mode == RETRIEVE_BM25)
        return 0;
    bool err;
    *emb = dq_config_open_embedder(cfg, pool, &err);
    if (err) {
        rc = RAG_ERR;
    } else if (!*emb && rp->mode != RETRIEVE_AUTO) {
        dq_set_error("--mode %s needs an embedding model: set [embed] model or url in the "
                     "config (see README)",
                     retrieve_mode_name(rp->mode));
        rc = RAG_ERR_SETTING;
    }
    if (rc < 0) { /* nothing half-opened stays with the caller */
        reranker_free(rp->reranker);
        rp->reranker = NULL;
    }
    return rc;
}

llm_params rag_llm_params(const dq_config *cfg)
{
    llm_params p = llm_default_params();
    p.base_url = cfg->llm_url;
    p.model = cfg->llm_model;
    /* a GGUF file is run in process, even when a url is set too */
    if (llm_is_model_file(cfg->llm_model)) {
        p.model_file = cfg->llm_model;
        p.model = NULL;
        p.base_url = NULL;
        p.chat_template = cfg->llm_chat_template;
        p.kv_cache = cfg->llm_kv_cache;
        if (cfg->llm_context > 0)
            p.context = cfg->llm_context;
    }
    p.api_key = cfg->llm_key;
    if (cfg->llm_temperature >= 0)
        p.temperature = cfg->llm_temperature;
    if (cfg->llm_max_tokens > 0)
        p.max_tokens = cfg->llm_max_tokens;
    if (cfg->llm_timeout > 0)
        p.timeout_s = cfg->llm_timeout;
    if (cfg->llm_connect_timeout > 0)
        p.connect_timeout_s = cfg->llm_connect_timeout;
    return p;
}

char *rag_prompt_dir(const dq_config *cfg)
{
    dq_buf b = DQ_BUF_INIT;
    const char *home = getenv("HOME");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (cfg->llm_prompts) {
        if (cfg->llm_prompts[0] == '~' && (cfg->llm_prompts[1] == '/' || !cfg->llm_prompts[1]) && home)
            dq_buf_printf(&b, "%s%s", home, cfg->llm_prompts + 1);
        else
            dq_buf_puts(&b, cfg->llm_prompts);
    } else if (xdg && *xdg) {
        dq_buf_printf(&b, "%s/docqa/prompts", xdg);
    } else if (home && *home) {
        dq_buf_printf(&b, "%s/.config/docqa/prompts", home);
    }
    return b.len ? dq_buf_take(&b) : NULL;
}

int rag_session_build(const rag_session_params *params, rag_session **out)
{
    *out = NULL;
    rag_session *s = dq_calloc(1, sizeof *s);
    pthread_mutex_init(&s->models, NULL);
    s->retrieve = retrieve_default_params();
    s->answer = answer_default_params();
    s->prompt = prompt_default_params();
    if (params->top_k > 0)
        s->retrieve.top_k = params->top_k;
    if (params->max_sentences > 0)
        s->answer.max_sentences = params->max_sentences;
    int rc = RAG_ERR;
    s->st = params->st;
    if (!s->st) {
        s->st = store_open(params->store_dir, STORE_READONLY);
        s->own_st = true;
    }
    if (!s->st)
        goto fail;
    s->cfg = params->config;
    if (!s->cfg) {
        if (dq_config_load(&s->own_cfg, store_dir(s->st)) < 0)
            goto fail;
        s->cfg = &s->own_cfg;
    }
    s->llm_params = rag_llm_params(s->cfg);
    bool local_llm = !params->no_llm && s->llm_params.model_file;
    bool rerank = !params->flags.no_rerank && (params->flags.rerank || s->cfg->rerank_model);
    if (s->cfg->embed_model || rerank || local_llm) {
        int n = s->cfg->embed_threads;
        if (n <= 0) {
            long cores = sysconf(_SC_NPROCESSORS_ONLN);
            n = cores > 0 ? (int)cores : 1;
        }
        if (!(s->pool = bert_pool_new(n)))
            goto fail;
    }
    rc = rag_retrieval_setup(s->cfg, &params->flags, s->pool, &s->retrieve, &s->emb);
    if (rc < 0)
        goto fail;
    rc = RAG_ERR;
    s->llm_params.pool = s->pool;
    s->prompt_dir = rag_prompt_dir(s->cfg);
    s->prompt.template_dir = s->prompt_dir;
    if (s->cfg->llm_context > 0)
        s->prompt.context_tokens = s->cfg->llm_context;
    s->prompt.answer_tokens = s->llm_params.max_tokens;
    if (!params->no_llm && llm_params_configured(&s->llm_params)) {
        s->llm = llm_new(&s->llm_params);
        if (!s->llm && !s->llm_params.model_file)
            goto fail;
        if (!s->llm)
            s->llm_error = dq_strdup(dq_last_error());
    }
    *out = s;
    return 0;
fail:
    rag_session_free(s);
    return rc;
}

void rag_session_free(rag_session *s)
{
    if (!s)
        return;
    llm_free(s->llm);
    free(s->llm_error);
    free(s->prompt_dir);
    embedder_free(s->emb);
    reranker_free(s->retrieve.reranker);
    bert_pool_free(s->pool); /* after everything that ran on it */
    if (s->own_st)
        store_close(s->st);
    dq_config_free(&s->own_cfg);
    pthread_mutex_destroy(&s->models);
    free(s);
}

int rag_session_search(rag_session *s, store *st, const char *query, const retrieve_params *rp,
                       retrieve_result *res)
{
    if (!s->emb && !rp->reranker)
        return retrieve_search(st, NULL, query, rp, res); /* BM25 needs no lock */
    pthread_mutex_lock(&s->models);
    int rc = retrieve_search(st, s->emb, query, rp, res);
    pthread_mutex_unlock(&s->models);
    return rc;
}

int rag_session_retrieve(rag_session *s, store *st, const char *query, int top_k,
                         const char *doc, retrieve_result *res)
{
    retrieve_params rp = s->retrieve;
    if (top_k > 0)
        rp.top_k = top_k;
    if (doc && *doc)
        rp.doc = doc;
    if (rag_session_search(s, st ? st : s->st, query, &rp, res) < 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", dq_last_error());
        dq_set_error("search failed: %s", why);
        return RAG_ERR;
    }
    return 0;
}
