/* vectorize.c - the vectorize pass: gives every stored chunk a vector from
 * the configured embedding model, after an ingest run, and brings the FAISS
 * file in step.
 *
 * The model's identity is kept in the store; when it changes, the old
 * vectors are dropped and every chunk is embedded again, so vectors from two
 * models are never mixed. Vectors are written in one transaction per batch:
 * an interrupted pass resumes where it stopped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "pipeline/pipeline.h"

enum { EMBED_BATCH = 32 };

typedef struct {
    int64_t *ids;  /* (n) */
    char **texts;  /* (n) owned */
    size_t n, cap, ids_cap;
} pending;

static int collect(void *ctx, int64_t chunk_id, const char *text)
{
    pending *p = ctx;
    DQ_GROW(p->ids, p->ids_cap, p->n + 1);
    DQ_GROW(p->texts, p->cap, p->n + 1);
    p->ids[p->n] = chunk_id;
    p->texts[p->n] = dq_strdup(text);
    p->n++;
    return 0;
}

static int switch_model(store *st, const char *identity, const pipeline_events *ev)
{
    char *have = NULL;
    int found = store_get_meta(st, "embed.model", &have);
    if (found < 0)
        return -1;
    int rc = 0;
    if (!found || strcmp(have, identity) != 0) {
        if (found && ev->notice) {
            dq_buf b = DQ_BUF_INIT;
            dq_buf_printf(&b, "embedding model changed (%s -> %s): re-embedding every chunk",
                          have, identity);
            ev->notice(ev->user, b.data);
            dq_buf_free(&b);
        }
        if (store_begin(st) < 0 || store_prune_vectors(st, identity) < 0 ||
            store_set_meta(st, "embed.model", identity) < 0 || store_commit(st) < 0) {
            store_rollback(st);
            rc = -1;
        }
    }
    free(have);
    return rc;
}

int vectorize_sync_index(store *st, const char *model, const dq_config *cfg,
                         store_vx_report *rep)
{
    store_vindex_params vp = dq_config_vindex_params(cfg);
    store_set_vindex_params(st, &vp);
    if (store_vindex_sync(st, model, rep) < 0) {
        char *why = dq_strdup(dq_last_error());
        dq_set_error("vector index of store '%s': %s", store_dir(st), why);
        free(why);
        return -1;
    }
    if (rep->action != STORE_VX_CURRENT && !rep->saved) {
        dq_set_error("vector index of store '%s': %s", store_dir(st), rep->save_error);
        return -1;
    }
    return 0;
}

static void pending_free(pending *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->texts[i]);
    free(p->texts);
    free(p->ids);
}

/* Sets the error to "<what> '<name>': <the error now>". */
static void prefix_error(const char *what, const char *name)
{
    char *why = dq_strdup(dq_last_error());
    dq_set_error("%s '%s': %s", what, name, why);
    free(why);
}

/* Embeds and stores todo in batches; -1 with the error set. */
static int embed_batches(store *st, embedder *e, const pending *todo, const pipeline_events *ev)
{
    const char *identity = embedder_identity(e);
    int dim = embedder_dim(e);
    if (dim <= 0) {
        prefix_error("embedding model", identity);
        return -1;
    }
    float *vecs = dq_malloc(sizeof(float) * EMBED_BATCH * (size_t)dim);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < todo->n && !(ev->stop && ev->stop(ev->user));
         i += EMBED_BATCH) {
        size_t n = todo->n - i < EMBED_BATCH ? todo->n - i : EMBED_BATCH;
        if (embedder_encode(e, (const char *const *)todo->texts + i, n, vecs) < 0) {
            prefix_error("embedding model", identity);
            rc = -1;
            break;
        }
        rc = store_begin(st);
        for (size_t k = 0; k < n && rc == 0; k++)
            rc = store_put_vector(st, todo->ids[i + k], identity, vecs + k * (size_t)dim, dim);
        if (rc == 0)
            rc = store_commit(st);
        if (rc < 0) {
            store_rollback(st);
            prefix_error("store", store_dir(st));
        } else if (ev->chunks_done) {
            ev->chunks_done(ev->user, i + n, todo->n);
        }
    }
    free(vecs);
    return rc;
}

int vectorize_missing(store *st, embedder *e, const dq_config *cfg, const pipeline_events *ev,
                      vectorize_report *rep)
{
    static const pipeline_events none = {0};
    if (!ev)
        ev = &none;
    memset(rep, 0, sizeof *rep);
    const char *identity = embedder_identity(e);
    pending todo = {0};
    if (switch_model(st, identity, ev) < 0 ||
        store_each_chunk_missing_vector(st, identity, 0, 0, collect, &todo) < 0) {
        prefix_error("store", store_dir(st));
        pending_free(&todo);
        return -1;
    }
    if (ev->chunks_done)
        ev->chunks_done(ev->user, 0, todo.n);
    int rc = todo.n ? embed_batches(st, e, &todo, ev) : 0;
    if (rc == 0 && !(ev->stop && ev->stop(ev->user)))
        rep->n_embedded = todo.n;
    pending_free(&todo);
    if (rc == 0)
        rc = vectorize_sync_index(st, identity, cfg, &rep->vindex);
    return rc;
}

/* ---- embedding beside an ingest run ------------------------------------ */

int vectorize_feed_init(vectorize_feed *f, store *st, embedder *e, const pipeline_events *ev)
{
    *f = (vectorize_feed){st, e, ev, 0, false, 0};
    /* Chunks stored before are the pass after the run's. */
    return store_last_chunk_id(st, &f->after);
}

int vectorize_feed_step(vectorize_feed *f)
{
    static const pipeline_events none = {0};
    const char *identity = embedder_identity(f->e);
    if (!f->switched && switch_model(f->st, identity, f->ev ? f->ev : &none) < 0)
        return -1;
    f->switched = true;
    pending todo = {0};
    int rc = store_each_chunk_missing_vector(f->st, identity, f->after, EMBED_BATCH, collect,
                                             &todo);
    if (rc == 0 && todo.n) {
        f->after = todo.ids[todo.n - 1];
        rc = embed_batches(f->st, f->e, &todo, &none);
        if (rc == 0)
            f->n_embedded += todo.n;
    }
    size_t n = todo.n;
    pending_free(&todo);
    return rc < 0 ? -1 : n > 0;
}
