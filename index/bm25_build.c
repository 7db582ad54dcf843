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
#include "index/store_impl.h"

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

void bm25_rows_push(bm25_rows *r, int64_t chunk_id, int64_t doc_id, uint32_t length)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->chunk_ids = dq_realloc(r->chunk_ids, r->cap * sizeof *r->chunk_ids);
        r->doc_ids = dq_realloc(r->doc_ids, r->cap * sizeof *r->doc_ids);
        r->lengths = dq_realloc(r->lengths, r->cap * sizeof *r->lengths);
    }
    r->chunk_ids[r->n] = chunk_id;
    r->doc_ids[r->n] = doc_id;
    r->lengths[r->n] = length;
    r->tokens += length;
    r->n++;
}

void bm25_rows_free(bm25_rows *r)
{
    free(r->chunk_ids);
    free(r->doc_ids);
    free(r->lengths);
    *r = (bm25_rows){0};
}

bool bm25_parse_docsize(const void *rec, size_t n, uint32_t sz[2])
{
    const uint8_t *p = rec, *end = p + n;
    for (int i = 0; i < 2; i++) {
        uint64_t v;
        if (!p || !sqlite_varint(&p, end, &v) || v > UINT32_MAX)
            return false;
        sz[i] = (uint32_t)v;
    }
    return p == end;
}

/* Every FTS5 row with its length and document: 1, 0 when a row has no
 * chunk or a damaged size record, -1 on error. */
static int read_rows(sqlite3 *db, bm25_rows *r)
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
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        uint32_t sz[2];
        if (!bm25_parse_docsize(sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1),
                                sz) ||
            (uint64_t)sz[0] + sz[1] > UINT32_MAX || sqlite3_column_type(s, 2) == SQLITE_NULL) {
            ok = 0;
            break;
        }
        bm25_rows_push(r, sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 2), sz[0] + sz[1]);
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

int bm25_read_state(sqlite3 *db, bm25_header *h)
{
    *h = (bm25_header){.version = BM25_VERSION, .bom = BM25_BOM};
    memcpy(h->magic, BM25_MAGIC, 8);
    int rc = read_config(db, h->weight);
    if (rc <= 0)
        return rc;
    if (bm25_stamp(db, h->stamp) < 0 ||
        store_query_u64(db, "SELECT seq FROM sqlite_sequence WHERE name = 'fts_log'",
                        "cannot read the store", &h->log_seq) < 0 ||
        store_query_u64(db, "PRAGMA user_version", "cannot read the store", &h->schema) < 0)
        return -1;
    if (!read_totals(db, &h->n_rows, &h->n_tokens) || h->n_rows == 0 || h->n_tokens == 0 ||
        h->n_rows >= UINT32_MAX || h->n_tokens > INT64_MAX)
        return 0;
    return 1;
}

static float round_up(double g)
{
    float f = (float)g;
    return (double)f < g ? nextafterf(f, INFINITY) : f;
}

static void pad8(dq_buf *b)
{
    while (b->len % 8)
        dq_buf_putc(b, 0);
}

struct bm25_writer {
    bm25_header h;
    double avgdl;
    /* Per row, bm25's length term k1 (1 - b + b d / avgdl): the blocks'
     * maxima are bounds (rounded up to float), so computing it once a row
     * instead of FTS5's way a posting changes none. */
    double *norm; /* (n_rows) */
    dq_buf terms, strings;
    dq_buf *out;  /* the file being built; postings start at h.off_postings */
    /* The current term's postings. */
    dq_buf entries;
    bm25_block *blocks; /* (n_blocks) */
    size_t n_blocks, cap;
    uint32_t n_post, df_section, in_block;
    int64_t prev;
    float gmax;
};

bm25_writer *bm25_writer_new(const bm25_header *h, const bm25_rows *r, dq_buf *out)
{
    bm25_writer *w = dq_calloc(1, sizeof *w);
    w->h = *h;
    w->out = out;
    w->prev = -1;
    w->avgdl = (double)(int64_t)h->n_tokens / (double)(int64_t)h->n_rows;
    w->norm = dq_malloc((r->n ? r->n : 1) * sizeof *w->norm);
    for (size_t i = 0; i < r->n; i++)
        w->norm[i] = BM25_K1 * (1 - BM25_B + BM25_B * (double)r->lengths[i] / w->avgdl);
    /* The postings, the bulk of the file, go straight into out after the
     * rows (the header is filled in last): the writer holds the file once. */
    dq_buf_clear(out);
    dq_buf_append(out, (const char *)h, sizeof *h);
    dq_buf_append(out, (const char *)r->chunk_ids, r->n * sizeof *r->chunk_ids);
    dq_buf_append(out, (const char *)r->doc_ids, r->n * sizeof *r->doc_ids);
    dq_buf_append(out, (const char *)r->lengths, r->n * sizeof *r->lengths);
    pad8(out);
    w->h.off_rows = sizeof *h;
    w->h.off_postings = out->len;
    return w;
}

void bm25_writer_add(bm25_writer *w, uint32_t row, uint32_t tf_text, uint32_t tf_section)
{
    if (w->in_block == 0) {
        DQ_GROW(w->blocks, w->cap, w->n_blocks + 1);
        w->blocks[w->n_blocks++] = (bm25_block){0, (uint32_t)w->entries.len, 0};
    }
    /* Three varints of at most 5 bytes each, written in place: a call per
     * byte was a tenth of the update's merge. */
    dq_buf_reserve(&w->entries, 15);
    uint8_t *p = (uint8_t *)w->entries.data + w->entries.len;
    p = bm25_varint_put(p, (uint32_t)((int64_t)row - w->prev - 1));
    p = bm25_varint_put(p, tf_text << 1 | (tf_section != 0));
    if (tf_section)
        p = bm25_varint_put(p, tf_section);
    w->entries.len = (size_t)((char *)p - w->entries.data);
    w->entries.data[w->entries.len] = '\0';
    double f = tf_text * w->h.weight[0] + tf_section * w->h.weight[1];
    float g = round_up(f * (BM25_K1 + 1.0) / (f + w->norm[row]));
    bm25_block *blk = &w->blocks[w->n_blocks - 1];
    blk->last_row = row;
    if (g > blk->gmax)
        blk->gmax = g;
    if (g > w->gmax)
        w->gmax = g;
    w->prev = row;
    w->n_post++;
    w->df_section += tf_section != 0;
    w->in_block = (w->in_block + 1) % BM25_BLOCK;
}

void bm25_writer_end_term(bm25_writer *w, const char *term, size_t len)
{
    if (w->n_post) {
        dq_buf *out = w->out;
        while (out->len % 4)
            dq_buf_putc(out, 0);
        bm25_term t = {.str_off = w->strings.len,
                       .post_off = out->len - w->h.off_postings,
                       .post_len = w->n_blocks * sizeof(bm25_block) + w->entries.len,
                       .str_len = (uint32_t)len,
                       .n_post = w->n_post,
                       .df_section = w->df_section,
                       .gmax = w->gmax};
        dq_buf_append(&w->terms, (const char *)&t, sizeof t);
        dq_buf_append(&w->strings, term, len);
        dq_buf_append(out, (const char *)w->blocks, w->n_blocks * sizeof(bm25_block));
        if (w->entries.len)
            dq_buf_append(out, w->entries.data, w->entries.len);
        w->h.n_terms++;
    }
    dq_buf_clear(&w->entries);
    w->n_blocks = 0;
    w->n_post = w->df_section = w->in_block = 0;
    w->prev = -1;
    w->gmax = 0;
}

void bm25_writer_finish(bm25_writer *w)
{
    dq_buf *out = w->out;
    pad8(out);
    w->h.off_terms = out->len;
    if (w->terms.len)
        dq_buf_append(out, w->terms.data, w->terms.len);
    w->h.off_strings = out->len;
    if (w->strings.len)
        dq_buf_append(out, w->strings.data, w->strings.len);
    w->h.size = out->len;
    w->h.checksum = bm25_checksum(out->data + sizeof w->h, out->len - sizeof w->h);
    memcpy(out->data, &w->h, sizeof w->h);
}

void bm25_writer_free(bm25_writer *w)
{
    if (!w)
        return;
    free(w->norm);
    dq_buf_free(&w->terms);
    dq_buf_free(&w->strings);
    dq_buf_free(&w->entries);
    free(w->blocks);
    free(w);
}

int bm25_term_order(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}

/* chunk id -> row for read_postings, which looks one up per term and row:
 * an array when the ids are dense enough, else a binary search. */
typedef struct {
    const bm25_rows *r;
    int32_t *row_of_id; /* (n_ids), or NULL */
    int64_t id_base;
    size_t n_ids;
} row_map;

static void row_map_init(row_map *m, const bm25_rows *r)
{
    *m = (row_map){.r = r};
    uint64_t span = (uint64_t)(r->chunk_ids[r->n - 1] - r->chunk_ids[0]) + 1;
    if (span > 4 * (uint64_t)r->n + 1024)
        return;
    m->id_base = r->chunk_ids[0];
    m->n_ids = (size_t)span;
    m->row_of_id = dq_malloc(m->n_ids * sizeof *m->row_of_id);
    for (size_t i = 0; i < m->n_ids; i++)
        m->row_of_id[i] = -1;
    for (size_t i = 0; i < r->n; i++)
        m->row_of_id[r->chunk_ids[i] - m->id_base] = (int32_t)i;
}

static int row_of(const row_map *m, int64_t id)
{
    if (!m->row_of_id)
        return (int)bm25_find_id(m->r->chunk_ids, m->r->n, id);
    if (id < m->id_base || (uint64_t)(id - m->id_base) >= m->n_ids)
        return -1;
    return m->row_of_id[id - m->id_base];
}

/* Reads every instance, term by term: 1, 0 when one does not fit the
 * rows or FTS5's order is not ours, -1 on error. */
static int read_postings(sqlite3 *db, const row_map *m, bm25_writer *w)
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
    while (ok && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_blob(s, 0);
        size_t tl = (size_t)sqlite3_column_bytes(s, 0);
        int64_t d = sqlite3_column_int64(s, 1);
        const char *col = (const char *)sqlite3_column_text(s, 2);
        bool same_term = term.data && tl == term.len && memcmp(t, term.data, tl) == 0;
        if (!same_term || d != doc) {
            if (row >= 0)
                bm25_writer_add(w, (uint32_t)row, tf[0], tf[1]);
            tf[0] = tf[1] = 0;
            if (!same_term) {
                if (term.data) {
                    bm25_writer_end_term(w, term.data, term.len);
                    if (bm25_term_order(term.data, term.len, t ? t : "", tl) >= 0)
                        ok = 0;
                }
                dq_buf_clear(&term);
                dq_buf_append(&term, t ? t : "", tl);
            } else if (d < doc) {
                ok = 0;
            }
            doc = d;
            row = row_of(m, d);
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
        bm25_writer_add(w, (uint32_t)row, tf[0], tf[1]);
        bm25_writer_end_term(w, term.data, term.len);
    }
    sqlite3_finalize(s);
    dq_buf_free(&term);
    return ok;
}

static int build_locked(sqlite3 *db, dq_buf *out)
{
    bm25_header h;
    int rc = bm25_read_state(db, &h);
    if (rc <= 0)
        return rc;
    bm25_rows r = {0};
    rc = read_rows(db, &r);
    if (rc == 1 && (r.n != h.n_rows || r.tokens != h.n_tokens))
        rc = 0;
    if (rc == 1) {
        bm25_writer *w = bm25_writer_new(&h, &r, out);
        row_map m;
        row_map_init(&m, &r);
        rc = read_postings(db, &m, w);
        if (rc == 1)
            bm25_writer_finish(w);
        bm25_writer_free(w);
        free(m.row_of_id);
    }
    if (rc != 1)
        dq_buf_clear(out);
    bm25_rows_free(&r);
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
