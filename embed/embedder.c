/* embedder.c - the one embedding interface docqa uses: a local BERT folder
 * or an OpenAI-compatible endpoint, chosen by the configuration. */
#include "embed/embed.h"

#include "common/common.h"

#include <stdlib.h>

/* Texts sent to learn an endpoint's dimension before any real encoding. */
#define PROBE_MAX_DIM 65536

struct embedder {
    bert_model *bert;  /* exactly one of bert and http is set */
    embed_http *http;
    int dim;           /* 0 until an endpoint has answered */
};

embedder *embedder_open(const embedder_config *cfg)
{
    bool local = cfg && cfg->model_dir && *cfg->model_dir;
    bool remote = cfg && cfg->url && *cfg->url;
    if (!local && !remote) {
        dq_set_error("no embedding model configured");
        return NULL;
    }
    embedder *e = dq_calloc(1, sizeof *e);
    if (local) {
        /* A local folder wins when both are given: it needs no network. */
        e->bert = bert_load(cfg->model_dir, &cfg->bert);
        if (!e->bert) {
            free(e);
            return NULL;
        }
        e->dim = bert_dim(e->bert);
    } else {
        embed_http_params p = {
            .url = cfg->url,
            .model = cfg->remote_model,
            .api_key = cfg->api_key,
            .timeout_s = 60,
            .batch = cfg->bert.max_batch > 0 ? cfg->bert.max_batch : 32,
        };
        e->http = embed_http_new(&p);
        if (!e->http) {
            free(e);
            return NULL;
        }
    }
    return e;
}

void embedder_free(embedder *e)
{
    if (!e)
        return;
    bert_free(e->bert);
    embed_http_free(e->http);
    free(e);
}

int embedder_dim(embedder *e)
{
    if (e->dim > 0)
        return e->dim;
    /* An endpoint says its dimension only by answering. */
    const char *probe = "dimension probe";
    float *v = dq_malloc(PROBE_MAX_DIM * sizeof *v);
    int dim = 0;
    int rc = embed_http_encode(e->http, &probe, 1, v, PROBE_MAX_DIM, &dim);
    free(v);
    if (rc < 0)
        return -1;
    e->dim = dim;
    return dim;
}

const char *embedder_identity(const embedder *e)
{
    return e->bert ? bert_identity(e->bert) : embed_http_identity(e->http);
}

int embedder_encode(embedder *e, const char *const *texts, size_t n, float *out)
{
    if (e->bert)
        return bert_encode(e->bert, texts, n, out);
    int dim = embedder_dim(e);
    if (dim < 0)
        return -1;
    return embed_http_encode(e->http, texts, n, out, dim, &dim);
}
