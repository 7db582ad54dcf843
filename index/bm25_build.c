/* bm25_build.c - builds the BM25 file's bytes from the store's FTS5 index.
 *
 * The postings are read from FTS5 itself (an fts5vocab 'instance' table,
 * term by term in FTS5's own order) and the row lengths from its docsize
 * table, inside one read transaction, so the file holds exactly the tokens,
 * counts and lengths bm25() sees, whatever the tokenizer does; re-tokenizing
 * the chunks here could drift from it. The row and token totals are checked
 * against FTS5's averages record, which is what bm25() divides by.
 */
#include "index/bm25.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SQLite's varint (FTS5's records use it): big-endian, 7 bits a byte, the
 * ninth byte whole. */
static bool sqlite_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 9; i++) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        if (i == 8) {
            *out = (v << 8) | b;
            return true;
        }
        v = (v << 7) | (b & 0x7f);
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* The blob of fts_data row id into out (cleared first): 1, 0 when absent, -1. */
static int fts_record(sqlite3 *db, int64_t id, dq_buf *out)
{
    dq_buf_clear(out);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT block FROM fts_data WHERE id = ?1", -1, &s, NULL) !=
        SQLITE_OK) {
        dq_set_error("cannot read the FTS5 index: %s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    int found = rc == SQLITE_ROW;
    if (found)
        dq_buf_append(out, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));
    else if (rc != SQLITE_DONE)
        dq_set_error("cannot read the FTS5 index: %s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : -1;
}

int bm25_stamp(sqlite3 *db, uint8_t out[32])
{
    /* FTS5 keeps its row and token totals in record 1 and the list of its
     * segments, with a counter of segments ever written, in record 10: a
     * commit that changes the index rewrites both. */
    dq_buf rec = DQ_BUF_INIT;
    dq_sha256 h;
    dq_sha256_init(&h);
    int rc = 0;
    static const int64_t ids[] = {1, 10};
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        int found = fts_record(db, ids[i], &rec);
        if (found < 0)
            rc = -1;
        uint64_t n = rec.len;
        dq_sha256_update(&h, &n, sizeof n);
        if (rec.len)
            dq_sha256_update(&h, rec.data, rec.len);
    }
    /* The rank's column weights live in fts_config, which a change of
     * ranking rewrites without touching the index records. */
    sqlite3_stmt *s = NULL;
    if (rc == 0 &&
        sqlite3_prepare_v2(db, "SELECT v FROM fts_config WHERE k = 'rank'", -1, &s, NULL) ==
            SQLITE_OK) {
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW && sqlite3_column_bytes(s, 0) > 0)
            dq_sha256_update(&h, sqlite3_column_text(s, 0), (size_t)sqlite3_column_bytes(s, 0));
        else if (step != SQLITE_DONE)
            rc = -1;
    } else if (rc == 0) {
        rc = -1;
    }
    if (rc < 0 && s)
        dq_set_error("cannot read the FTS5 configuration: %s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    dq_sha256_final(&h, out);
    dq_buf_free(&rec);
    return rc;
}

/* The FTS5 table is (text, section) and its rank bm25 with two non-negative
 * weights: 1 with w filled, 0 when not, -1 on error. */
static int read_config(sqlite3 *db, double w[2])
{
    sqlite3_stmt *s = NULL;
    int shape = 1;
    if (sqlite3_prepare_v2(db, "SELECT cid, name FROM pragma_table_info('fts') ORDER BY cid", -1,
                           &s, NULL) != SQLITE_OK)
        goto fail;
    static const char *const cols[] = {"text", "section"};
    int n = 0, rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 1);
        if (n >= 2 || !name || strcmp(name, cols[n]) != 0)
            shape = 0;
        n++;
    }
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(s);
    s = NULL;
    if (n != 2)
        return 0;
    w[0] = w[1] = 1.0; /* bm25() without arguments weighs every column 1 */
    if (sqlite3_prepare_v2(db, "SELECT v FROM fts_config WHERE k = 'rank'", -1, &s, NULL) !=
        SQLITE_OK)
        goto fail;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        int used = 0;
        if (!v || sscanf(v, " bm25 ( %lf , %lf ) %n", &w[0], &w[1], &used) != 2 ||
            v[used] != '\0' || !(w[0] >= 0) || !(w[1] >= 0) || isinf(w[0]) || isinf(w[1]))
            shape = 0;
    } else if (rc != SQLITE_DONE) {
        goto fail;
    }
    sqlite3_finalize(s);
    return shape;
fail:
    dq_set_error("cannot read the FTS5 configuration: %s", sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return -1;
}

typedef struct {
    int64_t *chunk_ids; /* (n) */
    int64_t *doc_ids;   /* (n) */
    uint32_t *lengths;  /* (n) */
    size_t n, cap;
    uint64_t tokens;
} rows;

static void rows_free(rows *r)
{
    free(r->chunk_ids);
    free(r->doc_ids);
    free(r->lengths);
}

/* Every FTS5 row with its length and document: 1, 0 when a row has no
 * chunk or a damaged size record, -1 on error. */
static int read_rows(sqlite3 *db, rows *r)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT z.id, z.sz, c.doc_id FROM fts_docsize z"
                           " LEFT JOIN chunks c ON c.id = z.id ORDER BY z.id",
                           -1, &s, NULL) != SQLITE_OK) {
        dq_set_error("cannot read the FTS5 index: %s", sqlite3_errmsg(db));
        return -1;
    }
    int ok = 1, rc;
    size_t cap2 = 0, cap3 = 0;
    while (ok && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const uint8_t *p = sqlite3_column_blob(s, 1);
        const uint8_t *end = p + sqlite3_column_bytes(s, 1);
        uint64_t len = 0, col;
        for (int i = 0; i < 2 && ok; i++) {
            ok = p && sqlite_varint(&p, end, &col) && col <= UINT32_MAX;
            len += ok ? col : 0;
        }
        if (!ok || p != end || len > UINT32_MAX || sqlite3_column_type(s, 2) == SQLITE_NULL) {
            ok = 0;
            break;
        }
        DQ_GROW(r->chunk_ids, r->cap, r->n + 1);
        DQ_GROW(r->doc_ids, cap2, r->n + 1);
        DQ_GROW(r->lengths, cap3, r->n + 1);
        r->chunk_ids[r->n] = sqlite3_column_int64(s, 0);
        r->doc_ids[r->n] = sqlite3_column_int64(s, 2);
        r->lengths[r->n] = (uint32_t)len;
        r->tokens += len;
        r->n++;
    }
    if (ok && rc != SQLITE_DONE) {
        dq_set_error("cannot read the FTS5 index: %s", sqlite3_errmsg(db));
        ok = -1;
    }
    sqlite3_finalize(s);
    return ok;
}

/* FTS5's averages record: rows, then tokens per column. */
static bool read_totals(sqlite3 *db, uint64_t *n_rows, uint64_t *n_tokens)
{
    dq_buf rec = DQ_BUF_INIT;
    bool ok = fts_record(db, 1, &rec) == 1;
    const uint8_t *p = (const uint8_t *)rec.data, *end = p + rec.len;
    uint64_t col;
    *n_tokens = 0;
    ok = ok && sqlite_varint(&p, end, n_rows);
    for (int i = 0; i < 2 && ok; i++) {
        ok = sqlite_varint(&p, end, &col);
        *n_tokens += ok ? col : 0;
    }
    dq_buf_free(&rec);
    return ok;
}

static void put_varint(dq_buf *b, uint32_t v)
{
    while (v >= 0x80) {
        dq_buf_putc(b, (char)(v | 0x80));
        v >>= 7;
    }
    dq_buf_putc(b, (char)v);
}

static float round_up(double g)
{
    float f = (float)g;
    return (double)f < g ? nextafterf(f, INFINITY) : f;
}

/* One term's postings while they are read. */
typedef struct {
    dq_buf entries;
    bm25_block *blocks;
    size_t n_blocks, cap;
    uint32_t n_post, df_section, in_block;
    int64_t prev;
    float gmax;
} term_acc;

typedef struct {
    const rows *r;
    double w[2], avgdl;
    /* Per row, bm25's length term k1 (1 - b + b d / avgdl): the blocks'
     * maxima are bounds (rounded up to float), so computing it once a row
     * instead of FTS5's way a posting changes none. */
    double *norm;   /* (r->n) */
    /* chunk id - id_base -> row, when the ids are dense enough; else NULL
     * and a binary search. */
    int32_t *row_of_id; /* (n_ids) */
    int64_t id_base;
    size_t n_ids;
    dq_buf terms, strings;
    dq_buf *postings; /* the file being built; postings start at post_base */
    size_t post_base;
    uint64_t n_terms;
    term_acc acc;
} builder;

static void acc_add(builder *b, uint32_t row, uint32_t tf_text, uint32_t tf_section)
{
    term_acc *a = &b->acc;
    if (a->in_block == 0) {
        DQ_GROW(a->blocks, a->cap, a->n_blocks + 1);
        a->blocks[a->n_blocks++] = (bm25_block){0, (uint32_t)a->entries.len, 0};
    }
    put_varint(&a->entries, (uint32_t)((int64_t)row - a->prev - 1));
    put_varint(&a->entries, tf_text << 1 | (tf_section != 0));
    if (tf_section)
        put_varint(&a->entries, tf_section);
    double f = tf_text * b->w[0] + tf_section * b->w[1];
    float g = round_up(f * (BM25_K1 + 1.0) / (f + b->norm[row]));
    bm25_block *blk = &a->blocks[a->n_blocks - 1];
    blk->last_row = row;
    if (g > blk->gmax)
        blk->gmax = g;
    if (g > a->gmax)
        a->gmax = g;
    a->prev = row;
    a->n_post++;
    a->df_section += tf_section != 0;
    a->in_block = (a->in_block + 1) % BM25_BLOCK;
}

static void pad8(dq_buf *b)
{
    while (b->len % 8)
        dq_buf_putc(b, 0);
}

/* Ends the current term: its entry, string and postings go out. */
static void acc_flush(builder *b, const char *term, size_t len)
{
    term_acc *a = &b->acc;
    if (a->n_post) {
        while (b->postings->len % 4)
            dq_buf_putc(b->postings, 0);
        bm25_term t = {.str_off = b->strings.len,
                       .post_off = b->postings->len - b->post_base,
                       .post_len = a->n_blocks * sizeof(bm25_block) + a->entries.len,
                       .str_len = (uint32_t)len,
                       .n_post = a->n_post,
                       .df_section = a->df_section,
                       .gmax = a->gmax};
        dq_buf_append(&b->terms, (const char *)&t, sizeof t);
        dq_buf_append(&b->strings, term, len);
        dq_buf_append(b->postings, (const char *)a->blocks, a->n_blocks * sizeof(bm25_block));
        if (a->entries.len)
            dq_buf_append(b->postings, a->entries.data, a->entries.len);
        b->n_terms++;
    }
    dq_buf_clear(&a->entries);
    a->n_blocks = 0;
    a->n_post = a->df_section = a->in_block = 0;
    a->prev = -1;
    a->gmax = 0;
}

static int row_of(const builder *b, int64_t id)
{
    if (!b->row_of_id)
        return (int)bm25_find_id(b->r->chunk_ids, b->r->n, id);
    if (id < b->id_base || (uint64_t)(id - b->id_base) >= b->n_ids)
        return -1;
    return b->row_of_id[id - b->id_base];
}

/* The lookups read_postings makes once per term and row. */
static void prepare_rows(builder *b)
{
    const rows *r = b->r;
    b->norm = dq_malloc(r->n * sizeof *b->norm);
    for (size_t i = 0; i < r->n; i++)
        b->norm[i] = BM25_K1 * (1 - BM25_B + BM25_B * (double)r->lengths[i] / b->avgdl);
    uint64_t span = (uint64_t)(r->chunk_ids[r->n - 1] - r->chunk_ids[0]) + 1;
    if (span > 4 * (uint64_t)r->n + 1024)
        return;
    b->id_base = r->chunk_ids[0];
    b->n_ids = (size_t)span;
    b->row_of_id = dq_malloc(b->n_ids * sizeof *b->row_of_id);
    for (size_t i = 0; i < b->n_ids; i++)
        b->row_of_id[i] = -1;
    for (size_t i = 0; i < r->n; i++)
        b->row_of_id[r->chunk_ids[i] - b->id_base] = (int32_t)i;
}

static int term_order(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}

/* Reads every instance, term by term: 1, 0 when one does not fit the
 * rows or FTS5's order is not ours, -1 on error. */
static int read_postings(sqlite3 *db, builder *b)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_exec(db,
                     "CREATE VIRTUAL TABLE IF NOT EXISTS temp.bm25_instances"
                     " USING fts5vocab(main, fts, 'instance')",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT term, doc, col FROM temp.bm25_instances", -1, &s,
                           NULL) != SQLITE_OK) {
        dq_set_error("cannot read the FTS5 index: %s", sqlite3_errmsg(db));
        return -1;
    }
    dq_buf term = DQ_BUF_INIT;
    int64_t doc = -1;
    uint32_t tf[2] = {0, 0};
    int ok = 1, rc, row = -1;
    b->acc.prev = -1;
    while (ok && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_blob(s, 0);
        size_t tl = (size_t)sqlite3_column_bytes(s, 0);
        int64_t d = sqlite3_column_int64(s, 1);
        const char *col = (const char *)sqlite3_column_text(s, 2);
        bool same_term = term.data && tl == term.len && memcmp(t, term.data, tl) == 0;
        if (!same_term || d != doc) {
            if (row >= 0)
                acc_add(b, (uint32_t)row, tf[0], tf[1]);
            tf[0] = tf[1] = 0;
            if (!same_term) {
                if (term.data) {
                    acc_flush(b, term.data, term.len);
                    if (term_order(term.data, term.len, t ? t : "", tl) >= 0)
                        ok = 0;
                }
                dq_buf_clear(&term);
                dq_buf_append(&term, t ? t : "", tl);
            } else if (d < doc) {
                ok = 0;
            }
            doc = d;
            row = row_of(b, d);
            if (row < 0)
                ok = 0;
        }
        if (ok && col && strcmp(col, "text") == 0)
            tf[0]++;
        else if (ok && col && strcmp(col, "section") == 0)
            tf[1]++;
        else
            ok = 0;
    }
    if (ok && rc != SQLITE_DONE) {
        dq_set_error("cannot read the FTS5 index: %s", sqlite3_errmsg(db));
        ok = -1;
    }
    if (ok == 1 && row >= 0) {
        acc_add(b, (uint32_t)row, tf[0], tf[1]);
        acc_flush(b, term.data, term.len);
    }
    sqlite3_finalize(s);
    dq_buf_free(&term);
    return ok;
}

static int build_locked(sqlite3 *db, dq_buf *out)
{
    bm25_header h = {.version = BM25_VERSION, .bom = BM25_BOM};
    memcpy(h.magic, BM25_MAGIC, 8);
    int rc = read_config(db, h.weight);
    if (rc <= 0)
        return rc;
    if (bm25_stamp(db, h.stamp) < 0)
        return -1;
    if (!read_totals(db, &h.n_rows, &h.n_tokens) || h.n_rows == 0 || h.n_tokens == 0)
        return 0;
    rows r = {0};
    rc = read_rows(db, &r);
    if (rc == 1 && (r.n != h.n_rows || r.tokens != h.n_tokens || r.n >= UINT32_MAX))
        rc = 0;
    /* The postings, the bulk of the file, go straight into out after the
     * rows (the header is filled in last): the writer holds the file once. */
    dq_buf_clear(out);
    builder b = {.r = &r, .w = {h.weight[0], h.weight[1]}, .postings = out};
    b.avgdl = (double)(int64_t)h.n_tokens / (double)(int64_t)h.n_rows;
    if (rc == 1) {
        dq_buf_append(out, (const char *)&h, sizeof h);
        dq_buf_append(out, (const char *)r.chunk_ids, r.n * sizeof *r.chunk_ids);
        dq_buf_append(out, (const char *)r.doc_ids, r.n * sizeof *r.doc_ids);
        dq_buf_append(out, (const char *)r.lengths, r.n * sizeof *r.lengths);
        pad8(out);
        h.off_rows = sizeof h;
        h.off_postings = b.post_base = out->len;
        prepare_rows(&b);
        rc = read_postings(db, &b);
    }
    if (rc == 1) {
        pad8(out);
        h.n_terms = b.n_terms;
        h.off_terms = out->len;
        if (b.terms.len)
            dq_buf_append(out, b.terms.data, b.terms.len);
        h.off_strings = out->len;
        if (b.strings.len)
            dq_buf_append(out, b.strings.data, b.strings.len);
        h.size = out->len;
        h.checksum = bm25_checksum(out->data + sizeof h, out->len - sizeof h);
        memcpy(out->data, &h, sizeof h);
    } else {
        dq_buf_clear(out);
    }
    dq_buf_free(&b.terms);
    dq_buf_free(&b.strings);
    dq_buf_free(&b.acc.entries);
    free(b.acc.blocks);
    free(b.norm);
    free(b.row_of_id);
    rows_free(&r);
    return rc;
}

int bm25_build(sqlite3 *db, dq_buf *out)
{
    /* One read transaction: the stamp, the rows and the postings are one
     * snapshot even while another process writes. */
    bool own = sqlite3_get_autocommit(db);
    if (own && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        dq_set_error("cannot read the store: %s", sqlite3_errmsg(db));
        return -1;
    }
    int rc = build_locked(db, out);
    if (own)
        sqlite3_exec(db, rc < 0 ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
    return rc;
}
