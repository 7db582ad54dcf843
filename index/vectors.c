/* vectors.c - chunk embeddings: one float32 little-endian BLOB per chunk,
 * tagged with the identity of the model that made it.
 *
 * A chunk holds at most one vector; storing one from another model replaces
 * it, and store_prune_vectors() clears out every other model's after a model
 * change, so vectors of two models are never compared with each other.
 */
#include "index/store_impl.h"

#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define DQ_BIG_ENDIAN 1
#else
#define DQ_BIG_ENDIAN 0
#endif

static void swap_floats(float *v, int n)
{
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        u = __builtin_bswap32(u);
        memcpy(&v[i], &u, 4);
    }
}

void store_vec_decode(const void *blob, int dim, float *out)
{
    memcpy(out, blob, (size_t)dim * sizeof *out);
    if (DQ_BIG_ENDIAN)
        swap_floats(out, dim);
}

int store_put_vector(store *st, int64_t chunk_id, const char *model_identity, const float *vec,
                     int dim)
{
    if (dim <= 0 || !vec || !model_identity) {
        dq_set_error("cannot store the vector of chunk %lld: bad dimension %d or no model",
                     (long long)chunk_id, dim);
        return -1;
    }
    sqlite3_stmt *s = store_stmt(st, SLOT_VEC_PUT,
                                 "INSERT INTO vectors(chunk_id, model, dim, vec)"
                                 " VALUES (?1, ?2, ?3, ?4)"
                                 " ON CONFLICT(chunk_id) DO UPDATE SET model = excluded.model,"
                                 " dim = excluded.dim, vec = excluded.vec");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, chunk_id);
    store_bind_text(s, 2, model_identity);
    sqlite3_bind_int(s, 3, dim);
    float *le = NULL;
    if (DQ_BIG_ENDIAN) {
        le = dq_malloc((size_t)dim * sizeof *le);
        memcpy(le, vec, (size_t)dim * sizeof *le);
        swap_floats(le, dim);
        vec = le;
    }
    sqlite3_bind_blob(s, 4, vec, dim * (int)sizeof(float), SQLITE_STATIC);
    char what[80];
    snprintf(what, sizeof what, "cannot store the vector of chunk %lld", (long long)chunk_id);
    int rc = store_run(st, s, what);
    sqlite3_clear_bindings(s); /* the blob may be the caller's memory */
    free(le);
    return rc;
}

int store_get_vector(store *st, int64_t chunk_id, const char *model_identity, float *vec,
                     int *dim)
{
    int cap = vec ? *dim : 0;
    *dim = 0;
    sqlite3_stmt *s = store_stmt(st, SLOT_VEC_GET,
                                 "SELECT dim, vec FROM vectors WHERE chunk_id = ?1 AND model = ?2");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, chunk_id);
    store_bind_text(s, 2, model_identity);
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW) {
        int d = sqlite3_column_int(s, 0);
        const void *blob = sqlite3_column_blob(s, 1);
        int bytes = sqlite3_column_bytes(s, 1);
        if (d <= 0 || bytes != d * (int)sizeof(float)) {
            dq_set_error("vector of chunk %lld is corrupt: %d bytes for dimension %d",
                         (long long)chunk_id, bytes, d);
            ret = -1;
        } else if (vec && cap > 0 && cap < d) {
            dq_set_error("vector of chunk %lld has dimension %d, more than the %d asked for",
                         (long long)chunk_id, d, cap);
            ret = -1;
        } else {
            *dim = d;
            if (vec) {
                memcpy(vec, blob, (size_t)bytes);
                if (DQ_BIG_ENDIAN)
                    swap_floats(vec, d);
            }
            ret = 1;
        }
    } else if (rc != SQLITE_DONE) {
        ret = store_fail(st, "cannot read a vector");
    }
    sqlite3_reset(s);
    return ret;
}

int store_each_chunk_missing_vector(store *st, const char *model_identity, int64_t after,
                                    size_t limit, store_chunk_cb cb, void *ctx)
{
    /* Not a cached statement: cb usually stores vectors as it goes. */
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT c.id, c.text FROM chunks c WHERE c.id > ?2 AND NOT EXISTS"
                           " (SELECT 1 FROM vectors v WHERE v.chunk_id = c.id AND v.model = ?1)"
                           " ORDER BY c.id LIMIT ?3",
                           -1, &s, NULL) != SQLITE_OK)
        return store_fail(st, "cannot list chunks without vectors");
    store_bind_text(s, 1, model_identity);
    sqlite3_bind_int64(s, 2, after);
    sqlite3_bind_int64(s, 3, limit ? (sqlite3_int64)limit : -1);
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(s, 1);
        ret = cb(ctx, sqlite3_column_int64(s, 0), text ? text : "");
        if (ret)
            break;
    }
    if (!ret && rc != SQLITE_DONE)
        ret = store_fail(st, "cannot list chunks without vectors");
    sqlite3_finalize(s);
    return ret;
}

int store_last_chunk_id(store *st, int64_t *id)
{
    sqlite3_stmt *s = store_stmt(st, SLOT_CHUNK_LAST, "SELECT coalesce(max(id), 0) FROM chunks");
    if (!s)
        return -1;
    int rc = sqlite3_step(s);
    *id = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : store_fail(st, "cannot read the last chunk id");
}

int store_prune_vectors(store *st, const char *model_identity)
{
    sqlite3_stmt *s = store_stmt(st, SLOT_VEC_PRUNE, "DELETE FROM vectors WHERE model <> ?1");
    if (!s)
        return -1;
    store_bind_text(s, 1, model_identity);
    return store_run(st, s, "cannot drop old vectors");
}
