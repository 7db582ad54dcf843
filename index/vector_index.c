/* vector_index.c - keeps the FAISS file beside the store in step with the
 * vectors table, and searches it.
 *
 * SQLite is the source of truth. Triggers (schema.c, migration 2) append the
 * chunk id of every inserted, updated or deleted vector to vector_log; the
 * FAISS file's header records the last log seq it holds. A sync reads the
 * log head inside one read transaction (a consistent snapshot) and then:
 *   - file current                         -> nothing;
 *   - file behind, log still holds the gap -> remove the logged ids, add
 *     back those that still have a vector of this model (idempotent, so a
 *     replayed entry is harmless);
 *   - file missing, unreadable (checksum), of another model or dimension,
 *     ahead of the store (a restored backup), or behind a trimmed log,
 *     or on the wrong side of the ANN threshold -> rebuild from the table.
 * A rewritten file is written to a temporary name, fsynced and renamed
 * (vindex_write), and only then is the log trimmed up to its seq, so a crash
 * at any point leaves a file that either is current or knows it is behind.
 *
 * The approximate index stores each vector as 8 bits a dimension of its
 * residual to its list's centre (IVF-SQ8): a quarter of IVFFlat's memory,
 * which at a million 384-d vectors is 1.5 GB against 0.4 GB. Its scores are
 * approximate, so the retriever asks for more than it needs and re-scores
 * them from the float vectors in SQLite (store_vx_report.quantized). An
 * IVFFlat file an earlier docqa wrote still loads and is searched as it is.
 *
 * IVF lists: sqrt(n) (FAISS's guideline of 4*sqrt(n) to 16*sqrt(n) is for
 * a memory-bound PQ index; with IVFFlat fewer, larger lists train and add
 * faster and bench/query shows recall@10 >= 0.95 at the nprobe chosen below).
 */
#include "index/store_impl.h"
#include "index/vindex.h"

#include "common/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct store_vx {
    vindex *index;   /* NULL while the store holds no vector of model */
    char *model;     /* identity the index was built for */
    uint64_t seq;    /* log position it holds */
    store_vindex_params params;
    bool params_set;
};

store_vindex_params store_vindex_default_params(void)
{
    return (store_vindex_params){.ann_threshold = 100000, .nprobe = 0, .exact = false};
}

static struct store_vx *vx_of(store *st)
{
    if (!st->vx) {
        st->vx = dq_calloc(1, sizeof *st->vx);
        st->vx->params = store_vindex_default_params();
    }
    return st->vx;
}

void store_set_vindex_params(store *st, const store_vindex_params *p)
{
    vx_of(st)->params = *p;
}

static void vx_drop_index(struct store_vx *vx)
{
    vindex_free(vx->index);
    vx->index = NULL;
    free(vx->model);
    vx->model = NULL;
    vx->seq = 0;
}

void store_vx_free(store *st)
{
    if (!st->vx)
        return;
    vx_drop_index(st->vx);
    free(st->vx);
    st->vx = NULL;
}

static char *vx_path(store *st)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "%s/" STORE_VINDEX_NAME, st->dir);
    return dq_buf_take(&b);
}

#define VLOG_ERROR "cannot read the vector change log"

/* The seq of the last logged change (0 when none ever). */
static int log_head(store *st, uint64_t *head)
{
    return store_query_u64(st->db, "SELECT seq FROM sqlite_sequence WHERE name = 'vector_log'",
                           VLOG_ERROR, head);
}

/* The oldest seq still in the log, or head + 1 when it is empty. */
static int log_floor(store *st, uint64_t head, uint64_t *floor)
{
    if (store_query_u64(st->db, "SELECT coalesce(min(seq), 0) FROM vector_log", VLOG_ERROR,
                        floor) < 0)
        return -1;
    if (*floor == 0)
        *floor = head + 1;
    return 0;
}

/* IVF lists for n vectors, and the lists probed by default: about 1/16 of
 * them, enough for recall@10 >= 0.95 on bench/query's clustered vectors. */
static int ivf_lists(int64_t n)
{
    /* FAISS warns (on stderr) below 39 training points per list. */
    int64_t l = (int64_t)sqrt((double)n);
    if (l > n / 39)
        l = n / 39;
    return l < 1 ? 1 : l > 8192 ? 8192 : (int)l;
}

static int ivf_default_probe(int nlist)
{
    int p = nlist / 16;
    return p < 8 ? 8 : p;
}

static void apply_probe(struct store_vx *vx)
{
    if (!vx->index || !vindex_kind_is_ivf(vindex_get_kind(vx->index)))
        return;
    /* nprobe = every list is an exhaustive, exact search. */
    int nlist = vindex_lists(vx->index);
    int probe = vx->params.exact ? 1 << 30 : vx->params.nprobe ? vx->params.nprobe
                                                                : ivf_default_probe(nlist);
    vindex_set_probe(vx->index, probe);
}

/* Unit length, so inner product is cosine whatever the model's pooling
 * config says about normalising. */
void store_vec_normalise(float *v, int dim)
{
    double ss = 0;
    for (int i = 0; i < dim; i++)
        ss += (double)v[i] * v[i];
    if (ss > 0) {
        float inv = (float)(1.0 / sqrt(ss));
        for (int i = 0; i < dim; i++)
            v[i] *= inv;
    }
}

/* ---- rebuild ------------------------------------------------------------- */

typedef struct {
    int dim;
    int64_t *ids; /* (n) */
    float *vecs;  /* (n, dim) */
    size_t n, cap_ids, cap_vecs;
} vec_batch;

static int64_t count_vectors(store *st, const char *model)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT count(*), max(dim) FROM vectors WHERE model = ?1", -1,
                           &s, NULL) != SQLITE_OK)
        return store_fail(st, "cannot count vectors");
    store_bind_text(s, 1, model);
    int64_t n = -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    else
        store_fail(st, "cannot count vectors");
    sqlite3_finalize(s);
    return n;
}

/* Reads model's vectors in chunk order, handing batches of up to 65536 to
 * add(); with stride > 1 only every stride-th row is kept (a training
 * sample) and handed over at the end. */
typedef int (*batch_fn)(void *ctx, vec_batch *b);

static int scan_vectors(store *st, const char *model, size_t stride, batch_fn fn, void *ctx,
                        int *dim)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT chunk_id, dim, vec FROM vectors WHERE model = ?1"
                           " ORDER BY chunk_id",
                           -1, &s, NULL) != SQLITE_OK)
        return store_fail(st, "cannot read vectors");
    store_bind_text(s, 1, model);
    vec_batch b = {.dim = *dim};
    size_t row = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (row++ % stride)
            continue;
        int d = sqlite3_column_int(s, 1);
        int bytes = sqlite3_column_bytes(s, 2);
        if (d <= 0 || bytes != d * (int)sizeof(float) || (b.dim && d != b.dim)) {
            dq_set_error("vector of chunk %lld is corrupt or of another dimension (%d)",
                         (long long)sqlite3_column_int64(s, 0), d);
            ret = -1;
            break;
        }
        b.dim = d;
        DQ_GROW(b.ids, b.cap_ids, b.n + 1);
        DQ_GROW(b.vecs, b.cap_vecs, (b.n + 1) * (size_t)d);
        b.ids[b.n] = sqlite3_column_int64(s, 0);
        store_vec_decode(sqlite3_column_blob(s, 2), d, b.vecs + b.n * (size_t)d);
        store_vec_normalise(b.vecs + b.n * (size_t)d, d);
        b.n++;
        if (stride == 1 && b.n == 65536) {
            if ((ret = fn(ctx, &b)) < 0)
                break;
            b.n = 0;
        }
    }
    if (!ret && rc != SQLITE_DONE)
        ret = store_fail(st, "cannot read vectors");
    if (!ret && b.n)
        ret = fn(ctx, &b);
    sqlite3_finalize(s);
    free(b.ids);
    free(b.vecs);
    *dim = b.dim;
    return ret;
}

static int add_batch(void *ctx, vec_batch *b)
{
    vindex **v = ctx;
    if (!*v) {
        *v = vindex_new(b->dim, VINDEX_FLAT, 0, 0);
        if (!*v)
            return -1;
    }
    return vindex_add(*v, b->ids, b->vecs, b->n);
}

typedef struct {
    vindex *v;
    int nlist;
} train_ctx;

static int train_batch(void *ctx, vec_batch *b)
{
    train_ctx *t = ctx;
    t->v = vindex_new(b->dim, VINDEX_IVF_SQ8, t->nlist, 0);
    if (!t->v)
        return -1;
    return vindex_train(t->v, b->vecs, b->n);
}

/* A new index holding every vector of model; *out NULL when there is none. */
static int build_index(store *st, const char *model, int64_t threshold, vindex **out)
{
    *out = NULL;
    int64_t n = count_vectors(st, model);
    if (n < 0)
        return -1;
    if (n == 0)
        return 0;
    int dim = 0;
    if (threshold > 0 && n >= threshold) {
        /* FAISS wants 39 to 256 training points per list; 64 each. */
        train_ctx t = {NULL, ivf_lists(n)};
        size_t sample = (size_t)t.nlist * 64;
        size_t stride = (size_t)n > sample ? (size_t)n / sample : 1;
        if (scan_vectors(st, model, stride, train_batch, &t, &dim) < 0) {
            vindex_free(t.v);
            return -1;
        }
        *out = t.v;
    }
    if (scan_vectors(st, model, 1, add_batch, out, &dim) < 0) {
        vindex_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* ---- incremental update -------------------------------------------------- */

static int apply_log(store *st, struct store_vx *vx, uint64_t head, int64_t *changes)
{
    sqlite3_stmt *s = NULL;
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT DISTINCT chunk_id FROM vector_log WHERE seq > ?1 AND seq <= ?2",
                           -1, &s, NULL) != SQLITE_OK)
        return store_fail(st, "cannot read the vector change log");
    sqlite3_bind_int64(s, 1, (int64_t)vx->seq);
    sqlite3_bind_int64(s, 2, (int64_t)head);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        DQ_GROW(ids, cap, n + 1);
        ids[n++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(ids);
        return store_fail(st, "cannot read the vector change log");
    }
    *changes = (int64_t)n;
    if (n && vindex_remove(vx->index, ids, n) < 0) {
        free(ids);
        return -1;
    }
    free(ids);

    if (sqlite3_prepare_v2(st->db,
                           "SELECT v.chunk_id, v.dim, v.vec FROM vectors v WHERE v.model = ?1 AND"
                           " v.chunk_id IN (SELECT chunk_id FROM vector_log"
                           "  WHERE seq > ?2 AND seq <= ?3)",
                           -1, &s, NULL) != SQLITE_OK)
        return store_fail(st, "cannot read vectors");
    store_bind_text(s, 1, vx->model);
    sqlite3_bind_int64(s, 2, (int64_t)vx->seq);
    sqlite3_bind_int64(s, 3, (int64_t)head);
    int dim = vindex_dim(vx->index), ret = 0;
    float *vec = dq_malloc(sizeof(float) * (size_t)dim);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s, 0);
        if (sqlite3_column_int(s, 1) != dim ||
            sqlite3_column_bytes(s, 2) != dim * (int)sizeof(float)) {
            dq_set_error("vector of chunk %lld has another dimension than the index's %d",
                         (long long)id, dim);
            ret = -1;
            break;
        }
        store_vec_decode(sqlite3_column_blob(s, 2), dim, vec);
        store_vec_normalise(vec, dim);
        if ((ret = vindex_add(vx->index, &id, vec, 1)) < 0)
            break;
    }
    if (!ret && rc != SQLITE_DONE)
        ret = store_fail(st, "cannot read vectors");
    sqlite3_finalize(s);
    free(vec);
    return ret;
}

/* ---- sync ---------------------------------------------------------------- */

/* Loads the file into vx for model; false with *why set when it must be
 * rebuilt instead. */
static bool load_file(store *st, struct store_vx *vx, const char *model, char *why, size_t cap)
{
    char *path = vx_path(st);
    if (access(path, F_OK) != 0) {
        snprintf(why, cap, "no %s yet", STORE_VINDEX_NAME);
        free(path);
        return false;
    }
    char *tag = NULL;
    uint64_t seq = 0;
    vindex *v = vindex_read(path, &tag, &seq);
    free(path);
    if (!v) {
        snprintf(why, cap, "%s", dq_last_error());
        return false;
    }
    if (strcmp(tag, model) != 0) {
        snprintf(why, cap, "%s was made by another model (%s)", STORE_VINDEX_NAME, tag);
        free(tag);
        vindex_free(v);
        return false;
    }
    vx->index = v;
    vx->model = tag;
    vx->seq = seq;
    return true;
}

static int read_begin(store *st, bool *began)
{
    *began = false;
    if (!sqlite3_get_autocommit(st->db))
        return 0; /* the caller's transaction is the snapshot */
    if (store_exec(st, "BEGIN", "cannot read the store") < 0)
        return -1;
    *began = true;
    return 0;
}

static void read_end(store *st, bool began)
{
    if (began)
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
}

/* Writes the file and trims the log up to its seq. */
static void save(store *st, struct store_vx *vx, store_vx_report *rep)
{
    if (!vx->index) {
        /* No vectors of this model: nothing to write, and a file made for
         * another model is left alone - a query with the wrong model
         * configured must not cost the right one a rebuild. */
        rep->saved = true;
        return;
    }
    char *path = vx_path(st);
    int rc = vindex_write(vx->index, path, vx->model, vx->seq);
    free(path);
    if (rc < 0) {
        snprintf(rep->save_error, sizeof rep->save_error, "%s", dq_last_error());
        return;
    }
    rep->saved = true;
    if (st->readonly || !sqlite3_get_autocommit(st->db))
        return;
    /* Trimming is housekeeping: a busy store keeps its log a while longer. */
    char sql[96];
    snprintf(sql, sizeof sql, "DELETE FROM vector_log WHERE seq <= %llu",
             (unsigned long long)vx->seq);
    sqlite3_exec(st->db, sql, NULL, NULL, NULL);
}

static int sync_locked(store *st, struct store_vx *vx, const char *model, bool force,
                       store_vx_report *rep)
{
    uint64_t head, floor;
    if (log_head(st, &head) < 0)
        return -1;
    if (!force && vx->model && !strcmp(vx->model, model) && vx->seq == head) {
        rep->action = STORE_VX_CURRENT;
        return 0;
    }
    char *why = rep->reason;
    size_t cap = sizeof rep->reason;
    bool rebuild = force;
    if (force)
        snprintf(why, cap, "asked to rebuild");
    if (!rebuild && (!vx->model || strcmp(vx->model, model) != 0)) {
        vx_drop_index(vx);
        rebuild = !load_file(st, vx, model, why, cap);
    }
    if (!rebuild && vx->seq > head) {
        snprintf(why, cap, "%s is ahead of the store (seq %llu > %llu)", STORE_VINDEX_NAME,
                 (unsigned long long)vx->seq, (unsigned long long)head);
        rebuild = true;
    }
    if (!rebuild && vx->seq < head && !vx->index) {
        snprintf(why, cap, "the first vectors of this model");
        rebuild = true;
    }
    if (!rebuild && vx->seq < head) {
        if (log_floor(st, head, &floor) < 0)
            return -1;
        if (floor > vx->seq + 1) {
            snprintf(why, cap, "%s is older than the change log (seq %llu, log from %llu)",
                     STORE_VINDEX_NAME, (unsigned long long)vx->seq,
                     (unsigned long long)floor);
            rebuild = true;
        } else {
            if (apply_log(st, vx, head, &rep->changes) < 0)
                return -1;
            vx->seq = head;
            rep->action = STORE_VX_UPDATED;
        }
    }
    int64_t threshold = vx->params.ann_threshold;
    if (!rebuild && vx->index) {
        int64_t n = (int64_t)vindex_size(vx->index);
        bool ivf = vindex_kind_is_ivf(vindex_get_kind(vx->index));
        /* Hysteresis: a store hovering at the threshold does not flip each run. */
        bool want_ivf = threshold > 0 && (ivf ? n >= threshold / 2 : n >= threshold);
        if (ivf != want_ivf) {
            snprintf(why, cap, "%lld vectors %s the approximate-index threshold %lld",
                     (long long)n, want_ivf ? "reached" : "fell below", (long long)threshold);
            rebuild = true;
        }
    }
    if (rebuild) {
        vindex *v = NULL;
        if (build_index(st, model, threshold, &v) < 0)
            return -1;
        vx_drop_index(vx);
        vx->index = v;
        vx->model = dq_strdup(model);
        vx->seq = head;
        rep->action = STORE_VX_REBUILT;
    }
    return 0;
}

static int vx_sync(store *st, const char *model, bool force, store_vx_report *rep_out)
{
    store_vx_report local;
    store_vx_report *rep = rep_out ? rep_out : &local;
    memset(rep, 0, sizeof *rep);
    struct store_vx *vx = vx_of(st);
    bool began;
    if (read_begin(st, &began) < 0)
        return -1;
    int rc = sync_locked(st, vx, model, force, rep);
    read_end(st, began);
    if (rc < 0) {
        vx_drop_index(vx); /* half-applied: reload next time */
        return -1;
    }
    apply_probe(vx);
    rep->vectors = vx->index ? (int64_t)vindex_size(vx->index) : 0;
    rep->approximate = vx->index && vindex_kind_is_ivf(vindex_get_kind(vx->index));
    rep->quantized = vx->index && vindex_get_kind(vx->index) == VINDEX_IVF_SQ8;
    if (rep->action != STORE_VX_CURRENT)
        save(st, vx, rep);
    return 0;
}

int store_vindex_sync(store *st, const char *model_identity, store_vx_report *rep)
{
    return vx_sync(st, model_identity, false, rep);
}

int store_vindex_rebuild(store *st, const char *model_identity, store_vx_report *rep)
{
    return vx_sync(st, model_identity, true, rep);
}

int store_search_vectors(store *st, const char *model_identity, const float *q, int dim, int k,
                         int64_t *ids, float *scores, int *n)
{
    *n = 0;
    if (store_vindex_sync(st, model_identity, NULL) < 0)
        return -1;
    return store_search_vectors_synced(st, q, dim, k, ids, scores, n);
}

int store_search_vectors_synced(store *st, const float *q, int dim, int k, int64_t *ids,
                                float *scores, int *n)
{
    *n = 0;
    vindex *v = st->vx ? st->vx->index : NULL;
    if (!v || k <= 0)
        return 0;
    if (vindex_dim(v) != dim) {
        dq_set_error("query vector has dimension %d, the store's vectors %d", dim,
                     vindex_dim(v));
        return -1;
    }
    if (vindex_search(v, q, 1, k, scores, ids) < 0)
        return -1;
    int found = 0;
    while (found < k && ids[found] >= 0)
        found++;
    *n = found;
    return 0;
}

/* ---- check --------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int store_vindex_check(store *st, const char *model_identity, store_vx_check *out)
{
    memset(out, 0, sizeof *out);
    bool began;
    if (read_begin(st, &began) < 0)
        return -1;
    int ret = -1;
    int64_t *fids = NULL, *sids = NULL;
    size_t nf = 0, ns = 0, cap = 0;
    vindex *v = NULL;
    uint64_t head;
    if (log_head(st, &head) < 0)
        goto done;
    out->store_seq = head;
    char *path = vx_path(st);
    v = vindex_read(path, &out->file_model, &out->file_seq);
    free(path);
    if (!v) {
        snprintf(out->file_error, sizeof out->file_error, "%s", dq_last_error());
    } else {
        out->file_ok = true;
        out->approximate = vindex_kind_is_ivf(vindex_get_kind(v));
        if (vindex_ids(v, &fids, &nf) < 0)
            goto done;
        out->file_vectors = (int64_t)nf;
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT chunk_id FROM vectors WHERE model = ?1", -1, &s,
                           NULL) != SQLITE_OK) {
        store_fail(st, "cannot read vectors");
        goto done;
    }
    store_bind_text(s, 1, model_identity);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        DQ_GROW(sids, cap, ns + 1);
        sids[ns++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        store_fail(st, "cannot read vectors");
        goto done;
    }
    out->store_vectors = (int64_t)ns;
    if (fids)
        qsort(fids, nf, sizeof *fids, cmp_i64);
    qsort(sids, ns, sizeof *sids, cmp_i64);
    size_t i = 0, j = 0;
    while (i < nf || j < ns) {
        if (j == ns || (i < nf && fids[i] < sids[j])) {
            out->extra++;
            i++;
        } else if (i == nf || sids[j] < fids[i]) {
            out->missing++;
            j++;
        } else {
            i++;
            j++;
        }
    }
    ret = 0;
done:
    read_end(st, began);
    vindex_free(v);
    free(fids);
    free(sids);
    return ret;
}

void store_vx_check_free(store_vx_check *c)
{
    if (!c)
        return;
    free(c->file_model);
    c->file_model = NULL;
}
