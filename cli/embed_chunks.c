/* embed_chunks.c - gives every stored chunk a vector from the configured
 * embedding model, after ingest.
 *
 * The model's identity is kept in the store; when it changes, the old
 * vectors are dropped and every chunk is embedded again, so vectors from two
 * models are never mixed. Vectors are written in one transaction per batch:
 * an interrupted run resumes where it stopped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"

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

static int switch_model(store *st, const char *identity, bool quiet)
{
    char *have = NULL;
    int found = store_get_meta(st, "embed.model", &have);
    if (found < 0)
        return -1;
    int rc = 0;
    if (!found || strcmp(have, identity) != 0) {
        if (found && !quiet)
            fprintf(stderr, "embedding model changed (%s -> %s): re-embedding every chunk\n",
                    have, identity);
        if (store_begin(st) < 0 || store_prune_vectors(st, identity) < 0 ||
            store_set_meta(st, "embed.model", identity) < 0 || store_commit(st) < 0) {
            store_rollback(st);
            rc = -1;
        }
    }
    free(have);
    return rc;
}

int cli_embed_missing(store *st, embedder *e, bool quiet)
{
    size_t n;
    int rc = cli_embed_missing_count(st, e, quiet, &n);
    if (rc == 0 && n && !quiet)
        fprintf(stderr, "embedded %zu chunks with %s\n", n, embedder_identity(e));
    return rc;
}

int cli_embed_missing_count(store *st, embedder *e, bool quiet, size_t *n_embedded)
{
    *n_embedded = 0;
    const char *identity = embedder_identity(e);
    if (switch_model(st, identity, quiet) < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        return -1;
    }
    pending todo = {0};
    if (store_each_chunk_missing_vector(st, identity, collect, &todo) < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        return -1;
    }
    int rc = 0;
    int dim = todo.n ? embedder_dim(e) : 0;
    if (todo.n && dim <= 0) {
        cli_error("embedding model '%s': %s", identity, dq_last_error());
        rc = -1;
    }
    float *vecs = dim > 0 ? dq_malloc(sizeof(float) * EMBED_BATCH * (size_t)dim) : NULL;
    progress prog;
    progress_start(&prog, "embed", "chunks", quiet, (int)todo.n, (long long)todo.n);
    for (size_t i = 0; rc == 0 && i < todo.n && !cli_interrupted(); i += EMBED_BATCH) {
        size_t n = todo.n - i < EMBED_BATCH ? todo.n - i : EMBED_BATCH;
        if (embedder_encode(e, (const char *const *)todo.texts + i, n, vecs) < 0) {
            progress_message(&prog, "docqa: embedding model '%s': %s", identity,
                             dq_last_error());
            rc = -1;
            break;
        }
        if (store_begin(st) < 0) {
            progress_message(&prog, "docqa: store '%s': %s", store_dir(st), dq_last_error());
            rc = -1;
            break;
        }
        for (size_t k = 0; k < n && rc == 0; k++)
            rc = store_put_vector(st, todo.ids[i + k], identity, vecs + k * (size_t)dim, dim);
        if (rc == 0)
            rc = store_commit(st);
        if (rc < 0) {
            store_rollback(st);
            progress_message(&prog, "docqa: store '%s': %s", store_dir(st), dq_last_error());
        }
        progress_update(&prog, (int)(i + n), (long long)(i + n), 0);
    }
    progress_finish(&prog);
    if (rc == 0 && !cli_interrupted())
        *n_embedded = todo.n;
    if (rc == 0 && cli_vindex_sync(st, identity, quiet) < 0)
        rc = -1;
    for (size_t i = 0; i < todo.n; i++)
        free(todo.texts[i]);
    free(todo.texts);
    free(todo.ids);
    free(vecs);
    return rc;
}
