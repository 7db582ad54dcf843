/* test_vindex.c - the FAISS shim: constructed vectors with known nearest
 * neighbours, add/remove/write/read, and damaged files refused. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "index/vindex.h"
#include "support/tmpdir.h"

enum { DIM = 8 };

static char *tmpdir_make(void)
{
    char *d = dq_strdup("/tmp/dq_vindex_XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

/* Unit vector along axis a, tilted slightly toward axis b by t. */
static void axis_vec(float *v, int a, int b, float t)
{
    memset(v, 0, DIM * sizeof *v);
    v[a] = 1.0f;
    if (b >= 0)
        v[b] = t;
    float n = sqrtf(1.0f + (b >= 0 ? t * t : 0.0f));
    for (int i = 0; i < DIM; i++)
        v[i] /= n;
}

/* Ten vectors: id 100+i points along axis i%8, tilted toward (i+1)%8 by i/10. */
static vindex *make_ten(vindex_kind kind)
{
    vindex *v = vindex_new(DIM, kind, 2, 8);
    cr_assert(v, "%s", dq_last_error());
    float x[10 * DIM];
    int64_t ids[10];
    for (int i = 0; i < 10; i++) {
        axis_vec(x + i * DIM, i % DIM, (i + 1) % DIM, (float)i / 10.0f);
        ids[i] = 100 + i;
    }
    /* FAISS wants 39 training points per list; copies of the ten will do. */
    float train[80 * DIM];
    for (int i = 0; i < 80; i++)
        memcpy(train + i * DIM, x + (i % 10) * DIM, sizeof(float) * DIM);
    cr_assert_eq(vindex_train(v, train, 80), 0, "%s", dq_last_error());
    cr_assert_eq(vindex_add(v, ids, x, 10), 0, "%s", dq_last_error());
    return v;
}

Test(vindex, flat_finds_known_neighbours_in_order)
{
    vindex *v = make_ten(VINDEX_FLAT);
    cr_assert_eq(vindex_size(v), 10);
    float q[DIM];
    axis_vec(q, 0, -1, 0); /* along axis 0: ids 100 (exactly) and 108 (tilt .8) */
    float scores[4];
    int64_t ids[4];
    cr_assert_eq(vindex_search(v, q, 1, 4, scores, ids), 0);
    cr_expect_eq(ids[0], 100);
    cr_expect_float_eq(scores[0], 1.0f, 1e-5);
    cr_expect_eq(ids[1], 108);
    cr_expect_float_eq(scores[1], 1.0f / sqrtf(1.64f), 1e-5);
    /* next: id 107 points along axis 7 tilted toward axis 0 by .7 */
    cr_expect_eq(ids[2], 107);
    cr_expect_float_eq(scores[2], 0.7f / sqrtf(1.49f), 1e-5);
    vindex_free(v);
}

Test(vindex, more_asked_than_held_pads_with_minus_one)
{
    vindex *v = make_ten(VINDEX_FLAT);
    float q[DIM], scores[12];
    int64_t ids[12];
    axis_vec(q, 3, -1, 0);
    cr_assert_eq(vindex_search(v, q, 1, 12, scores, ids), 0);
    cr_expect_eq(ids[0], 103);
    cr_expect_eq(ids[10], -1);
    cr_expect_eq(ids[11], -1);
    vindex_free(v);
}

Test(vindex, remove_then_search_skips_removed)
{
    vindex *v = make_ten(VINDEX_FLAT);
    int64_t gone[] = {100, 555};
    cr_expect_eq(vindex_remove(v, gone, 2), 1);
    cr_expect_eq(vindex_size(v), 9);
    float q[DIM], scores[2];
    int64_t ids[2];
    axis_vec(q, 0, -1, 0);
    cr_assert_eq(vindex_search(v, q, 1, 2, scores, ids), 0);
    cr_expect_eq(ids[0], 108);
    cr_expect_eq(ids[1], 107);
    int64_t *all;
    size_t n;
    cr_assert_eq(vindex_ids(v, &all, &n), 0);
    cr_expect_eq(n, 9);
    for (size_t i = 0; i < n; i++)
        cr_expect_neq(all[i], 100);
    free(all);
    vindex_free(v);
}

/* An IVF kind with every list probed against exact search: scores within
 * tol, and the same ids wherever neighbouring scores differ by more than
 * 2 * tol (closer ones may come in either order). Ends by removing one id. */
static void expect_like_exact(vindex_kind kind, float tol)
{
    vindex *flat = make_ten(VINDEX_FLAT), *ivf = make_ten(kind);
    cr_expect_eq(vindex_lists(ivf), 2);
    cr_expect_eq(vindex_lists(flat), 0);
    vindex_set_probe(ivf, 1000); /* capped at the 2 lists: exhaustive */
    for (int a = 0; a < DIM; a++) {
        float q[DIM], s1[6], s2[6];
        int64_t i1[6], i2[6];
        axis_vec(q, a, (a + 3) % DIM, 0.3f);
        cr_assert_eq(vindex_search(flat, q, 1, 6, s1, i1), 0);
        cr_assert_eq(vindex_search(ivf, q, 1, 6, s2, i2), 0);
        for (int k = 0; k < 5; k++) {
            cr_expect_float_eq(s1[k], s2[k], tol, "axis %d rank %d", a, k);
            bool near = (k > 0 && fabsf(s1[k] - s1[k - 1]) < 2 * tol) ||
                        fabsf(s1[k] - s1[k + 1]) < 2 * tol;
            if (!near)
                cr_expect_eq(i1[k], i2[k], "axis %d rank %d", a, k);
        }
    }
    int64_t gone = 103;
    cr_expect_eq(vindex_remove(ivf, &gone, 1), 1);
    int64_t *all;
    size_t n;
    cr_assert_eq(vindex_ids(ivf, &all, &n), 0);
    cr_expect_eq(n, 9);
    free(all);
    vindex_free(flat);
    vindex_free(ivf);
}

Test(vindex, ivf_with_all_lists_probed_matches_exact)
{
    expect_like_exact(VINDEX_IVF, 1e-5f);
}

/* 8-bit codes: scores within a quantisation step or two. */
Test(vindex, ivf_sq8_with_all_lists_probed_is_close_to_exact)
{
    expect_like_exact(VINDEX_IVF_SQ8, 2e-2f);
}

Test(vindex, untrained_ivf_refuses_adds)
{
    vindex *v = vindex_new(DIM, VINDEX_IVF, 4, 0);
    cr_assert(v);
    cr_expect_eq(vindex_is_trained(v), 0);
    float x[DIM] = {1};
    int64_t id = 1;
    cr_expect_eq(vindex_add(v, &id, x, 1), -1);
    cr_expect(strstr(dq_last_error(), "not trained"), "%s", dq_last_error());
    vindex_free(v);
}

Test(vindex, hnsw_searches_but_cannot_remove)
{
    vindex *v = make_ten(VINDEX_HNSW);
    float q[DIM], s[1];
    int64_t ids[1];
    axis_vec(q, 5, -1, 0);
    cr_assert_eq(vindex_search(v, q, 1, 1, s, ids), 0);
    cr_expect_eq(ids[0], 105);
    int64_t gone = 105;
    cr_expect_eq(vindex_remove(v, &gone, 1), -1);
    vindex_free(v);
}

Test(vindex, write_read_round_trip)
{
    char *dir = tmpdir_make();
    char path[512];
    snprintf(path, sizeof path, "%s/v.faiss", dir);
    static const vindex_kind kinds[] = {VINDEX_FLAT, VINDEX_IVF, VINDEX_IVF_SQ8};
    for (size_t ki = 0; ki < sizeof kinds / sizeof *kinds; ki++) {
        vindex_kind kind = kinds[ki];
        vindex *v = make_ten(kind);
        cr_assert_eq(vindex_write(v, path, "bert:abc:mean:8", 42), 0, "%s", dq_last_error());
        char *tag;
        uint64_t gen;
        vindex *r = vindex_read(path, &tag, &gen);
        cr_assert(r, "%s", dq_last_error());
        cr_expect_str_eq(tag, "bert:abc:mean:8");
        cr_expect_eq(gen, 42);
        cr_expect_eq(vindex_get_kind(r), kind);
        cr_expect_eq(vindex_size(r), 10);
        cr_expect_eq(vindex_dim(r), DIM);
        vindex_set_probe(r, 2);
        float q[DIM], s[2];
        int64_t ids[2];
        axis_vec(q, 6, -1, 0);
        cr_assert_eq(vindex_search(r, q, 1, 2, s, ids), 0);
        cr_expect_eq(ids[0], 106);
        cr_expect_eq(ids[1], 105); /* axis 5 tilted .5 toward axis 6 */
        free(tag);
        vindex_free(r);
        vindex_free(v);
    }
    tmpdir_remove(dir);
    free(dir);
}

static vindex *read_damaged(const char *path, long at, int flip, long truncate_to)
{
    dq_buf b = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(path, &b), 0);
    char bad[600];
    snprintf(bad, sizeof bad, "%s.bad", path);
    size_t n = truncate_to >= 0 ? (size_t)truncate_to : b.len;
    if (at >= 0)
        b.data[at] ^= (char)flip;
    cr_assert_eq(dq_write_file_atomic(bad, b.data, n), 0);
    dq_buf_free(&b);
    char *tag = NULL;
    uint64_t gen;
    vindex *v = vindex_read(bad, &tag, &gen);
    free(tag);
    return v;
}

Test(vindex, damaged_files_are_refused)
{
    char *dir = tmpdir_make();
    char path[512];
    snprintf(path, sizeof path, "%s/v.faiss", dir);
    vindex *v = make_ten(VINDEX_FLAT);
    cr_assert_eq(vindex_write(v, path, "tag", 7), 0);
    vindex_free(v);
    struct {
        long at;
        int flip;
        long trunc;
        const char *why;
    } cases[] = {
        {0, 1, -1, "not a docqa vector index"},
        {-1, 0, 30, "truncated header"},
        {-1, 0, 200, "size does not match"},
        {100, 0x10, -1, "checksum mismatch"},  /* a vector byte */
        {24, 1, -1, "checksum mismatch"},      /* the generation */
        {20, 0x40, -1, "size does not match"}, /* the tag length */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vindex *r = read_damaged(path, cases[i].at, cases[i].flip, cases[i].trunc);
        cr_expect_null(r, "case %zu", i);
        cr_expect(strstr(dq_last_error(), cases[i].why), "case %zu: %s", i, dq_last_error());
        vindex_free(r);
    }
    char *tag;
    uint64_t gen;
    cr_expect_null(vindex_read("/nonexistent/v.faiss", &tag, &gen));
    cr_expect(strstr(dq_last_error(), "No such file"), "%s", dq_last_error());
    tmpdir_remove(dir);
    free(dir);
}

/* ---- the index beside the store ------------------------------------------ */

#include <sqlite3.h>

#include "index/store_impl.h"

static const char *MODEL = "test:model:8";

typedef struct {
    char dir[64];
    char sdir[128];
    char faiss[192];
} store_env;

static store *store_env_open(store_env *e, bool fresh)
{
    if (fresh) {
        strcpy(e->dir, "/tmp/dq_vstore_XXXXXX");
        cr_assert_not_null(mkdtemp(e->dir));
        snprintf(e->sdir, sizeof e->sdir, "%s/.docqa", e->dir);
        snprintf(e->faiss, sizeof e->faiss, "%s/" STORE_VINDEX_NAME, e->sdir);
    }
    store *st = store_open(e->sdir, STORE_CREATE);
    cr_assert_not_null(st, "%s", dq_last_error());
    return st;
}

/* A document at path with n chunks "<tag> chunk <i>"; returns the first chunk id. */
static int64_t put_doc(store *st, const char *path, const char *tag, int n)
{
    dq_sha256 h;
    uint8_t d[32];
    char hex[65];
    dq_sha256_init(&h);
    dq_sha256_update(&h, tag, strlen(tag));
    dq_sha256_final(&h, d);
    dq_hex(d, 32, hex);
    char texts[16][64];
    store_chunk_in chunks[16];
    for (int i = 0; i < n; i++) {
        snprintf(texts[i], sizeof texts[i], "%s chunk %d", tag, i);
        chunks[i] = (store_chunk_in){.text = texts[i],
                                     .section = "",
                                     .page_start = 1,
                                     .page_end = 1,
                                     .ordinal = i,
                                     .label = NULL};
    }
    const char *pages[] = {"page"};
    store_doc_info info = {hex, "txt", tag, 1};
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_put_document(st, path, 1, 1, &info, pages, chunks, (size_t)n), 0, "%s",
                 dq_last_error());
    cr_assert_eq(store_commit(st), 0);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(store_db(st), "SELECT min(id) FROM chunks WHERE text = ?1", -1, &s, NULL);
    sqlite3_bind_text(s, 1, texts[0], -1, SQLITE_TRANSIENT);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    int64_t first = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return first;
}

/* Chunk id's vector: axis id%8 tilted toward axis (id+1)%8 by (id/8)/10, so
 * the query along axis a finds a, a+8, a+16... in that order. */
static void vec_for(int64_t id, float *v)
{
    axis_vec(v, (int)(id % DIM), (int)((id + 1) % DIM), (float)(id / DIM) / 10.0f);
}

static void embed_all(store *st, int64_t first, int n, const char *model)
{
    cr_assert_eq(store_begin(st), 0);
    for (int64_t id = first; id < first + n; id++) {
        float v[DIM];
        vec_for(id, v);
        cr_assert_eq(store_put_vector(st, id, model, v, DIM), 0, "%s", dq_last_error());
    }
    cr_assert_eq(store_commit(st), 0);
}

static int search_ids(store *st, int axis, int k, int64_t *ids)
{
    float q[DIM], scores[64];
    axis_vec(q, axis, -1, 0);
    int n;
    cr_assert_eq(store_search_vectors(st, MODEL, q, DIM, k, ids, scores, &n), 0, "%s",
                 dq_last_error());
    return n;
}

static void assert_agree(store *st, int64_t expect_vectors)
{
    store_vx_check c;
    cr_assert_eq(store_vindex_check(st, MODEL, &c), 0, "%s", dq_last_error());
    cr_expect(c.file_ok, "%s", c.file_error);
    cr_expect_str_eq(c.file_model ? c.file_model : "", MODEL);
    cr_expect_eq(c.store_vectors, expect_vectors);
    cr_expect_eq(c.file_vectors, expect_vectors);
    cr_expect_eq(c.missing, 0);
    cr_expect_eq(c.extra, 0);
    cr_expect_eq(c.file_seq, c.store_seq);
    store_vx_check_free(&c);
}

static bool has_id(const int64_t *ids, int n, int64_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

Test(vstore, built_then_loaded_then_current)
{
    store_env e;
    store *st = store_env_open(&e, true);
    int64_t a = put_doc(st, "a.txt", "alpha", 10);
    embed_all(st, a, 10, MODEL);
    store_vx_report rep;
    cr_assert_eq(store_vindex_sync(st, MODEL, &rep), 0, "%s", dq_last_error());
    cr_expect_eq(rep.action, STORE_VX_REBUILT);
    cr_expect(strstr(rep.reason, "no vectors.faiss yet"), "%s", rep.reason);
    cr_expect_eq(rep.vectors, 10);
    cr_expect(rep.saved, "%s", rep.save_error);
    cr_expect_eq(rep.approximate, false);
    store_close(st);

    st = store_env_open(&e, false);
    cr_assert_eq(store_vindex_sync(st, MODEL, &rep), 0);
    cr_expect_eq(rep.action, STORE_VX_CURRENT);
    int64_t ids[3];
    int64_t axis = a % DIM;
    cr_assert_eq(search_ids(st, (int)axis, 3, ids), 3);
    /* a lies exactly on the axis; a+8 tilts least among the others */
    cr_expect_eq(ids[0], a);
    cr_expect_eq(ids[1], a + 8);
    assert_agree(st, 10);
    store_close(st);
    tmpdir_remove(e.dir);
}

Test(vstore, remove_and_replace_keep_faiss_in_step)
{
    store_env e;
    store *st = store_env_open(&e, true);
    int64_t a = put_doc(st, "a.txt", "alpha", 8);
    int64_t b = put_doc(st, "b.txt", "beta", 8);
    embed_all(st, a, 8, MODEL);
    embed_all(st, b, 8, MODEL);
    cr_assert_eq(store_vindex_sync(st, MODEL, NULL), 0);
    assert_agree(st, 16);

    /* removing a document cascades to its vectors, and FAISS follows */
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_remove_file(st, "a.txt"), 0, "%s", dq_last_error());
    cr_assert_eq(store_commit(st), 0);
    store_vx_report rep;
    cr_assert_eq(store_vindex_sync(st, MODEL, &rep), 0, "%s", dq_last_error());
    cr_expect_eq(rep.action, STORE_VX_UPDATED);
    cr_expect_eq(rep.changes, 8);
    cr_expect_eq(rep.vectors, 8);
    int64_t ids[16];
    for (int axis = 0; axis < DIM; axis++) {
        int n = search_ids(st, axis, 16, ids);
        cr_expect_eq(n, 8);
        for (int64_t id = a; id < a + 8; id++)
            cr_expect(!has_id(ids, n, id), "removed chunk %lld returned", (long long)id);
    }
    assert_agree(st, 8);

    /* replacing b's content: old chunks (and vectors) go, new ones come */
    int64_t c = put_doc(st, "b.txt", "gamma", 4);
    cr_assert_eq(store_vindex_sync(st, MODEL, &rep), 0);
    cr_expect_eq(rep.vectors, 0);
    embed_all(st, c, 4, MODEL);
    cr_assert_eq(store_vindex_sync(st, MODEL, &rep), 0);
    cr_expect_eq(rep.vectors, 4);
    int n = search_ids(st, (int)(c % DIM), 16, ids);
    cr_expect_eq(n, 4);
    cr_expect_eq(ids[0], c);
    for (int i = 0; i < n; i++)
        cr_expect(ids[i] >= c && ids[i] < c + 4, "stale id %lld", (long long)ids[i]);
    assert_agree(st, 4);
    store_close(st);
    tmpdir_remove(e.dir);
}

Test(vstore, corrupt_file_is_rebuilt)
{
    store_env e;
    store *st = store_env_open(&e, true);
    int64_t a = put_doc(st, "a.txt", "alpha", 12);
    embed_all(st, a, 12, MODEL);
    cr_assert_eq(store_vindex_sync(st, MODEL, NULL), 0);
    store_close(st);

    dq_buf b = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(e.faiss, &b), 0);
    b.data[b.len - 40] ^= 0x5a;
    cr_assert_eq(dq_write_file_atomic(e.faiss, b.data, b.len), 0);
    dq_buf_free(&b);

    st = store_env_open(&e, false);
    store_vx_check c;
    cr_assert_eq(store_vindex_check(st, MODEL, &c), 0);
    cr_expect(!c.file_ok);
    cr_expect(strstr(c.file_error, "checksum mismatch"), "%s", c.file_error);
    store_vx_check_free(&c);
    store_vx_report rep;
    cr_assert_eq(store_vindex_sync(st, MODEL, &rep), 0, "%s", dq_last_error());
    cr_expect_eq(rep.action, STORE_VX_REBUILT);
    cr_expect(strstr(rep.reason, "checksum mismatch"), "%s", rep.reason);
    assert_agree(st, 12);
    store_close(st);

    /* garbage of any length, and an empty file, are rebuilt too */
    cr_assert_eq(dq_write_file_atomic(e.faiss, "", 0), 0);
    st = store_env_open(&e, false);
    cr_assert_eq(store_vindex_sync(st, MODEL, &rep), 0);
    cr_expect_eq(rep.action, STORE_VX_REBUILT);
    cr_expect(strstr(rep.reason, "truncated header"), "%s", rep.reason);
    assert_agree(st, 12);
    store_close(st);
    tmpdir_remove(e.dir);
}

Test(vstore, stale_file_catches_up_or_rebuilds)
{
    store_env e;
    store *st = store_env_open(&e, true);
    int64_t a = put_doc(st, "a.txt", "alpha", 6);
    embed_all(st, a, 6, MODEL);
    cr_assert_eq(store_vindex_sync(st, MODEL, NULL), 0);
    dq_buf old = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(e.faiss, &old), 0);
    store_close(st);

    /* another process changes vectors without syncing (an old docqa, or a
     * crash before the file was written): the next sync catches up */
    st = store_env_open(&e, false);
    int64_t b = put_doc(st, "b.txt", "beta", 3);
    embed_all(st, b, 3, MODEL);
    store_close(st);
    st = store_env_open(&e, false);
    store_vx_report rep;
    cr_assert_eq(store_vindex_sync(st, MODEL, &rep), 0);
    cr_expect_eq(rep.action, STORE_VX_UPDATED);
    cr_expect_eq(rep.changes, 3);
    assert_agree(st, 9);
    store_close(st);

    /* the old file put back after the log was trimmed past it: rebuilt */
    cr_assert_eq(dq_write_file_atomic(e.faiss, old.data, old.len), 0);
    st = store_env_open(&e, false);
    cr_assert_eq(store_vindex_sync(st, MODEL, &rep), 0);
    cr_expect_eq(rep.action, STORE_VX_REBUILT);
    cr_expect(strstr(rep.reason, "older than the change log"), "%s", rep.reason);
    assert_agree(st, 9);
    store_close(st);
    dq_buf_free(&old);
    tmpdir_remove(e.dir);
}

Test(vstore, model_change_rebuilds_and_never_mixes)
{
    store_env e;
    store *st = store_env_open(&e, true);
    int64_t a = put_doc(st, "a.txt", "alpha", 6);
    embed_all(st, a, 6, "other:model:8");
    cr_assert_eq(store_vindex_sync(st, "other:model:8", NULL), 0);
    store_close(st);

    /* a query with a model the store has no vectors of leaves the file be */
    st = store_env_open(&e, false);
    store_vx_report rep;
    cr_assert_eq(store_vindex_sync(st, MODEL, &rep), 0);
    cr_expect_eq(rep.vectors, 0);
    store_close(st);
    char *tag;
    uint64_t seq;
    vindex *kept = vindex_read(e.faiss, &tag, &seq);
    cr_assert(kept, "%s", dq_last_error());
    cr_expect_str_eq(tag, "other:model:8");
    cr_expect_eq(vindex_size(kept), 6);
    free(tag);
    vindex_free(kept);

    st = store_env_open(&e, false);
    cr_assert_eq(store_prune_vectors(st, MODEL), 0);
    embed_all(st, a, 3, MODEL);
    cr_assert_eq(store_vindex_sync(st, MODEL, &rep), 0);
    cr_expect_eq(rep.action, STORE_VX_REBUILT);
    cr_expect(strstr(rep.reason, "another model"), "%s", rep.reason);
    cr_expect_eq(rep.vectors, 3);
    assert_agree(st, 3);
    store_close(st);
    tmpdir_remove(e.dir);
}

Test(vstore, approximate_above_threshold_exact_when_asked)
{
    store_env e;
    store *st = store_env_open(&e, true);
    int64_t a = put_doc(st, "a.txt", "alpha", 16);
    int64_t b = put_doc(st, "b.txt", "beta", 16);
    embed_all(st, a, 16, MODEL);
    embed_all(st, b, 16, MODEL);
    store_vindex_params p = store_vindex_default_params();
    p.ann_threshold = 20;
    p.exact = true;
    store_set_vindex_params(st, &p);
    store_vx_report rep;
    cr_assert_eq(store_vindex_sync(st, MODEL, &rep), 0, "%s", dq_last_error());
    cr_expect_eq(rep.approximate, true);
    cr_expect_eq(rep.vectors, 32);
    /* every list searched: the same order as the exact construction */
    int64_t ids[4];
    int axis = (int)(a % DIM);
    cr_assert_eq(search_ids(st, axis, 4, ids), 4);
    cr_expect_eq(ids[0], a);
    cr_expect_eq(ids[1], a + 8);
    cr_expect_eq(ids[2], a + 16);
    cr_expect_eq(ids[3], a + 24);
    assert_agree(st, 32);

    /* below half the threshold it goes back to exact */
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_remove_file(st, "a.txt"), 0);
    cr_assert_eq(store_remove_file(st, "b.txt"), 0);
    cr_assert_eq(store_commit(st), 0);
    int64_t c = put_doc(st, "c.txt", "gamma", 5);
    embed_all(st, c, 5, MODEL);
    cr_assert_eq(store_vindex_sync(st, MODEL, &rep), 0);
    cr_expect_eq(rep.action, STORE_VX_REBUILT);
    cr_expect_eq(rep.approximate, false);
    assert_agree(st, 5);
    store_close(st);
    tmpdir_remove(e.dir);
}

/* ---- SIMD scans against the scalar reference and against FAISS's search -- */

#include "index/vscan.h"

static uint64_t test_rng = 88172645463325252ull;

static float rnd(void) /* uniform in [-1, 1) */
{
    test_rng ^= test_rng << 13;
    test_rng ^= test_rng >> 7;
    test_rng ^= test_rng << 17;
    return (float)((double)(test_rng >> 11) / 4503599627370496.0 - 1.0);
}

/* Every ISA's kernels against the scalar ones at dimensions that end in a
 * partial vector and row counts that end in a partial group of four. */
Test(vscan, simd_kernels_match_the_scalar_reference)
{
    static const int dims[] = {1, 7, 8, 15, 16, 17, 33, 384, 385};
    const vscan_ops *ref = vscan_ops_for(VSCAN_SCALAR);
    for (int isa = VSCAN_AVX2; isa <= (int)vscan_best(); isa++) {
        const vscan_ops *ops = vscan_ops_for((vscan_isa)isa);
        cr_assert_neq(ops, ref, "isa %d", isa);
        for (size_t t = 0; t < sizeof dims / sizeof *dims; t++) {
            int dim = dims[t];
            size_t n = 11;
            float *q = malloc(sizeof(float) * (size_t)dim), *x = malloc(sizeof(float) * n * (size_t)dim);
            uint8_t *c = malloc(n * (size_t)dim);
            float a[11], b[11];
            for (int d = 0; d < dim; d++)
                q[d] = rnd();
            for (size_t i = 0; i < n * (size_t)dim; i++) {
                x[i] = rnd();
                c[i] = (uint8_t)(rnd() * 127.5f + 127.5f);
            }
            ref->dots(q, x, n, dim, a);
            ops->dots(q, x, n, dim, b);
            for (size_t i = 0; i < n; i++)
                cr_expect_float_eq(a[i], b[i], 1e-4f * (float)dim, "isa %d dim %d row %zu", isa,
                                   dim, i);
            ref->sq8(q, c, n, dim, a);
            ops->sq8(q, c, n, dim, b);
            for (size_t i = 0; i < n; i++)
                cr_expect_float_eq(a[i], b[i], 2e-2f * (float)dim, "isa %d dim %d row %zu", isa,
                                   dim, i);
            free(q);
            free(x);
            free(c);
        }
    }
}

/* vindex_search (SIMD over FAISS's lists) against FAISS's own search of the
 * same index: the same ids in the same order wherever neighbouring scores
 * are apart, scores equal to float rounding. Clustered vectors at an odd
 * dimension, some lists probed. */
static void expect_like_faiss(vindex_kind kind, int dim)
{
    enum { N = 4000, CENTRES = 40, Q = 20, K = 25 };
    float *centres = malloc(sizeof(float) * CENTRES * (size_t)dim);
    float *x = malloc(sizeof(float) * N * (size_t)dim);
    int64_t *ids = malloc(sizeof(int64_t) * N);
    for (size_t i = 0; i < CENTRES * (size_t)dim; i++)
        centres[i] = rnd();
    for (size_t i = 0; i < N; i++) {
        const float *ce = centres + (i % CENTRES) * (size_t)dim;
        float *v = x + i * (size_t)dim, ss = 0;
        for (int d = 0; d < dim; d++) {
            v[d] = ce[d] + 0.4f * rnd();
            ss += v[d] * v[d];
        }
        for (int d = 0; d < dim; d++)
            v[d] /= sqrtf(ss);
        ids[i] = 1000 + (int64_t)i * 3;
    }
    vindex *v = vindex_new(dim, kind, 50, 0);
    cr_assert(v, "%s", dq_last_error());
    cr_assert_eq(vindex_train(v, x, N), 0, "%s", dq_last_error());
    cr_assert_eq(vindex_add(v, ids, x, N), 0, "%s", dq_last_error());
    vindex_set_probe(v, 7);
    for (int t = 0; t < Q; t++) {
        float q[512], s1[K], s2[K];
        int64_t i1[K], i2[K];
        const float *near = x + (size_t)(t * 97 % N) * (size_t)dim;
        for (int d = 0; d < dim; d++)
            q[d] = near[d] + 0.05f * rnd();
        cr_assert_eq(vindex_search(v, q, 1, K, s1, i1), 0, "%s", dq_last_error());
        cr_assert_eq(vindex_search_faiss(v, q, 1, K, s2, i2), 0, "%s", dq_last_error());
        for (int k = 0; k < K; k++) {
            cr_expect_float_eq(s1[k], s2[k], 1e-4f, "query %d rank %d", t, k);
            bool tie = (k > 0 && s2[k - 1] - s2[k] < 1e-4f) ||
                       (k + 1 < K && s2[k] - s2[k + 1] < 1e-4f);
            if (!tie)
                cr_expect_eq(i1[k], i2[k], "query %d rank %d", t, k);
        }
    }
    vindex_free(v);
    free(centres);
    free(x);
    free(ids);
}

Test(vindex, flat_search_matches_faiss)
{
    expect_like_faiss(VINDEX_FLAT, 37);
}

Test(vindex, ivf_search_matches_faiss)
{
    expect_like_faiss(VINDEX_IVF, 37);
}

Test(vindex, ivf_sq8_search_matches_faiss)
{
    expect_like_faiss(VINDEX_IVF_SQ8, 37);
    expect_like_faiss(VINDEX_IVF_SQ8, 384);
}
