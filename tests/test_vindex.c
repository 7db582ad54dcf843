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

Test(vindex, ivf_with_all_lists_probed_matches_exact)
{
    vindex *flat = make_ten(VINDEX_FLAT), *ivf = make_ten(VINDEX_IVF);
    vindex_set_probe(ivf, 2);
    for (int a = 0; a < DIM; a++) {
        float q[DIM], s1[6], s2[6];
        int64_t i1[6], i2[6];
        axis_vec(q, a, (a + 3) % DIM, 0.3f);
        cr_assert_eq(vindex_search(flat, q, 1, 6, s1, i1), 0);
        cr_assert_eq(vindex_search(ivf, q, 1, 6, s2, i2), 0);
        for (int k = 0; k < 5; k++) {
            cr_expect_float_eq(s1[k], s2[k], 1e-5, "axis %d rank %d", a, k);
            /* equal scores (zero products) may come in either order */
            bool tied = (k > 0 && fabsf(s1[k] - s1[k - 1]) < 1e-6f) ||
                        fabsf(s1[k] - s1[k + 1]) < 1e-6f;
            if (!tied)
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
    for (int kind = VINDEX_FLAT; kind <= VINDEX_IVF; kind++) {
        vindex *v = make_ten((vindex_kind)kind);
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
