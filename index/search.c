/* search.c - BM25 search over the FTS5 index, chunk lookup and term counts.
 *
 * The MATCH runs alone in a subquery so FTS5 can use its rank optimisation
 * (the store's rank is bm25 with the text column weighted 1.0 and the section
 * 3.0; see schema.c), and only the best k rows are joined to chunks and
 * documents.
 */
#include "index/store_impl.h"

#include "common/common.h"

#include <stdlib.h>
#include <string.h>

static void hit_clear(store_hit *h)
{
    free(h->path);
    free(h->title);
    free(h->section);
    free(h->text);
    free(h->label);
    memset(h, 0, sizeof *h);
}

void store_hit_free(store_hit *h)
{
    if (!h)
        return;
    hit_clear(h);
}

void store_hits_free(store_hits *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        hit_clear(&h->items[i]);
    free(h->items);
    h->items = NULL;
    h->n = 0;
}

/* Columns: chunk id, doc id, score, path, title, section, text, page_start,
 * page_end, ordinal, ocr, label, is_table. */
static void hit_from_row(sqlite3_stmt *s, store_hit *h)
{
    h->chunk_id = sqlite3_column_int64(s, 0);
    h->doc_id = sqlite3_column_int64(s, 1);
    h->score = sqlite3_column_double(s, 2);
    h->path = store_column_dup(s, 3);
    h->title = store_column_dup(s, 4);
    h->section = store_column_dup(s, 5);
    if (!h->section)
        h->section = dq_strdup("");
    h->text = store_column_dup(s, 6);
    if (!h->text)
        h->text = dq_strdup("");
    h->page_start = sqlite3_column_int(s, 7);
    h->page_end = sqlite3_column_int(s, 8);
    h->ordinal = sqlite3_column_int(s, 9);
    h->ocr = sqlite3_column_int(s, 10) != 0;
    h->label = store_column_dup(s, 11);
    if (!h->label)
        h->label = dq_strdup("");
    h->table = sqlite3_column_int(s, 12) != 0;
}

#define HIT_SELECT                                                                         \
    " SELECT c.id, c.doc_id, -top.rank,"                                                   \
    " (SELECT min(f.path) FROM files f WHERE f.doc_id = c.doc_id AND f.status = 'ok'),"  \
    " d.title, c.section, c.text, c.page_start, c.page_end, c.ordinal,"                   \
    " c.ocr, c.label, c.is_table FROM top JOIN chunks c ON c.id = top.id"                  \
    " JOIN documents d ON d.id = c.doc_id ORDER BY top.rank, c.id"

/* Errors in the MATCH expression itself ("fts5: syntax error near ...",
 * "unterminated string", "no such column: x") come back as plain
 * SQLITE_ERROR; a failing store gives IOERR, CORRUPT, BUSY and the like. */
static bool is_query_error(sqlite3 *db)
{
    return sqlite3_extended_errcode(db) == SQLITE_ERROR;
}

/* The documents of a scope as a JSON array for json_each(). */
static void bind_ids(sqlite3_stmt *s, int i, const int64_t *docs, size_t n_docs)
{
    dq_buf ids = DQ_BUF_INIT;
    dq_buf_putc(&ids, '[');
    for (size_t k = 0; k < n_docs; k++)
        dq_buf_printf(&ids, "%s%lld", k ? "," : "", (long long)docs[k]);
    dq_buf_putc(&ids, ']');
    sqlite3_bind_text(s, i, ids.data, (int)ids.len, SQLITE_TRANSIENT);
    dq_buf_free(&ids);
}

static int search_fts(store *st, const char *match, int k, const int64_t *docs, size_t n_docs,
                      store_hits *out)
{
    out->items = NULL;
    out->n = 0;
    if (k <= 0)
        return 0;
    if (store_bm25_search(st, match, k, docs, n_docs, out))
        return 0;
    /* Scoped: the rowid filter makes FTS5 score every match before the
     * cut, which a rank-optimised query avoids, so it runs only when asked. */
    sqlite3_stmt *s =
        n_docs ? store_stmt(st, SLOT_SEARCH_IN,
                            "WITH top AS (SELECT rowid AS id, rank FROM fts"
                            "  WHERE fts MATCH ?1 AND +rowid IN (SELECT c2.id FROM chunks c2"
                            "   WHERE c2.doc_id IN (SELECT value FROM json_each(?3)))"
                            "  ORDER BY rank LIMIT ?2)" HIT_SELECT)
               : store_stmt(st, SLOT_SEARCH,
                            "WITH top AS (SELECT rowid AS id, rank FROM fts"
                            "  WHERE fts MATCH ?1 ORDER BY rank LIMIT ?2)" HIT_SELECT);
    if (!s)
        return -1;
    store_bind_text(s, 1, match ? match : "");
    sqlite3_bind_int(s, 2, k);
    if (n_docs)
        bind_ids(s, 3, docs, n_docs);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        DQ_GROW(out->items, cap, out->n + 1);
        hit_from_row(s, &out->items[out->n]);
        out->n++;
    }
    if (rc != SQLITE_DONE) {
        const char *msg = sqlite3_errmsg(st->db);
        if (is_query_error(st->db))
            dq_set_error("bad search query: %s", msg);
        else
            dq_set_error("cannot search store '%s': %s", st->dir, msg);
        sqlite3_reset(s);
        store_hits_free(out);
        return -1;
    }
    sqlite3_reset(s);
    return 0;
}

int store_search_fts(store *st, const char *match, int k, store_hits *out)
{
    return search_fts(st, match, k, NULL, 0, out);
}

int store_search_fts_in(store *st, const char *match, int k, const int64_t *docs, size_t n_docs,
                        store_hits *out)
{
    return search_fts(st, match, k, docs, n_docs, out);
}

int store_chunks_per_document(store *st, const int64_t *docs, size_t n_docs, double *out)
{
    *out = 0;
    if (n_docs) {
        /* A scope is a handful of documents: one indexed count each. */
        sqlite3_stmt *s = store_stmt(st, SLOT_DOC_CHUNKS,
                                     "SELECT count(*) FROM chunks WHERE doc_id = ?1");
        if (!s)
            return -1;
        int64_t total = 0;
        for (size_t i = 0; i < n_docs; i++) {
            sqlite3_reset(s);
            sqlite3_bind_int64(s, 1, docs[i]);
            if (sqlite3_step(s) != SQLITE_ROW) {
                sqlite3_reset(s);
                return store_fail(st, "cannot count chunks");
            }
            total += sqlite3_column_int64(s, 0);
        }
        sqlite3_reset(s);
        *out = (double)total / (double)n_docs;
        return 0;
    }
    /* Estimated from the id sequences, which count every chunk and document
     * ever added: exact counts cost a scan of chunks per query on a large
     * store, and a mean over the store's history is as good a sign of how
     * long its documents are. */
    sqlite3_stmt *s = store_stmt(st, SLOT_CHUNKS_PER_DOC,
                                 "SELECT (SELECT max(id) FROM chunks) * 1.0 /"
                                 " (SELECT max(id) FROM documents)");
    if (!s)
        return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_double(s, 0);
    else
        store_fail(st, "cannot count chunks");
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

void store_doc_hits_free(store_doc_hits *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++) {
        free(h->items[i].path);
        free(h->items[i].about);
    }
    free(h->items);
    h->items = NULL;
    h->n = 0;
}

int store_search_documents(store *st, const char *match, int k, store_doc_hits *out)
{
    out->items = NULL;
    out->n = 0;
    sqlite3_stmt *s = store_stmt(st, SLOT_DOC_SEARCH,
                                 "WITH top AS (SELECT rowid AS id, rank FROM doc_fts"
                                 "  WHERE doc_fts MATCH ?1 ORDER BY rank LIMIT ?2)"
                                 " SELECT d.id, -top.rank,"
                                 " (SELECT min(f.path) FROM files f"
                                 "  WHERE f.doc_id = d.id AND f.status = 'ok'),"
                                 " d.about FROM top JOIN documents d ON d.id = top.id"
                                 " ORDER BY top.rank, d.id");
    if (!s)
        return -1;
    store_bind_text(s, 1, match ? match : "");
    sqlite3_bind_int(s, 2, k);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        DQ_GROW(out->items, cap, out->n + 1);
        store_doc_hit *h = &out->items[out->n++];
        h->doc_id = sqlite3_column_int64(s, 0);
        h->score = sqlite3_column_double(s, 1);
        h->path = store_column_dup(s, 2);
        h->about = store_column_dup(s, 3);
        if (!h->about)
            h->about = dq_strdup("");
    }
    if (rc != SQLITE_DONE) {
        if (is_query_error(st->db))
            dq_set_error("bad search query: %s", sqlite3_errmsg(st->db));
        else
            store_fail(st, "cannot search documents");
        sqlite3_reset(s);
        store_doc_hits_free(out);
        return -1;
    }
    sqlite3_reset(s);
    return 0;
}

int store_documents_glob(store *st, const char *glob, int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    /* Not cached: rarely run, and a pattern per call. */
    sqlite3_stmt *s = NULL;
    const char *sql = "SELECT doc_id FROM files WHERE status = 'ok' AND doc_id IS NOT NULL"
                      " AND (path GLOB ?1 OR replace(path, rtrim(path, replace(path, '/', '')),"
                      " '') GLOB ?1) GROUP BY doc_id ORDER BY min(path)";
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return store_fail(st, "cannot list documents");
    store_bind_text(s, 1, glob);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        DQ_GROW(*ids, cap, *n + 1);
        (*ids)[(*n)++] = sqlite3_column_int64(s, 0);
    }
    if (rc != SQLITE_DONE) {
        store_fail(st, "cannot list documents");
        free(*ids);
        *ids = NULL;
        *n = 0;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_get_chunk(store *st, int64_t chunk_id, store_hit *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_stmt(st, SLOT_CHUNK_GET,
                                 "SELECT c.id, c.doc_id, 0.0,"
                                 " (SELECT min(f.path) FROM files f"
                                 "  WHERE f.doc_id = c.doc_id AND f.status = 'ok'),"
                                 " d.title, c.section, c.text, c.page_start, c.page_end, c.ordinal,"
                                 " c.ocr, c.label, c.is_table FROM chunks c JOIN documents d ON d.id = c.doc_id"
                                 " WHERE c.id = ?1");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, chunk_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        hit_from_row(s, out);
    else if (rc != SQLITE_DONE)
        store_fail(st, "cannot read a chunk");
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* How many rows (count_sql) and how many of them hold term (df_sql over a
 * fts5vocab 'row' table): the chunk and the document statistics alike. */
static int term_freq(store *st, const char *term, enum store_slot count_slot,
                     const char *count_sql, enum store_slot df_slot, const char *df_sql,
                     int64_t *n, int64_t *df)
{
    *n = 0;
    *df = 0;
    sqlite3_stmt *s = store_stmt(st, count_slot, count_sql);
    if (!s)
        return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(s, 0);
    else
        store_fail(st, "cannot count rows");
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return -1;

    s = store_stmt(st, df_slot, df_sql);
    if (!s)
        return -1;
    store_bind_text(s, 1, term);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *df = sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_DONE)
        store_fail(st, "cannot count a term");
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_term_doc_freq(store *st, const char *term, int64_t *n_chunks, int64_t *df)
{
    return term_freq(st, term, SLOT_CHUNK_COUNT, "SELECT count(*) FROM chunks", SLOT_TERM_DF,
                     "SELECT doc FROM fts_vocab WHERE term = ?1", n_chunks, df);
}

/* Whether the chunk index holds a term in [lo, hi): 1, 0, or -1. fts5vocab
 * seeks a range on term; an OR of ranges would make it read every term. */
static int vocab_range(store *st, const char *lo, const char *hi)
{
    sqlite3_stmt *s = store_stmt(st, SLOT_TERM_VARIANT,
                                 "SELECT 1 FROM fts_vocab WHERE term >= ?1 AND term < ?2 LIMIT 1");
    if (!s)
        return -1;
    store_bind_text(s, 1, lo);
    store_bind_text(s, 2, hi);
    int step = sqlite3_step(s);
    int rc = step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
    if (rc < 0)
        store_fail(st, "cannot look a word up");
    sqlite3_reset(s);
    return rc;
}

int store_term_variant(store *st, const char *term)
{
    size_t n = strlen(term);
    if (n == 0)
        return 0;
    dq_buf lo = DQ_BUF_INIT, hi = DQ_BUF_INIT;
    dq_buf_puts(&hi, term);
    hi.data[n - 1]++; /* the first string after every word that begins with term */
    int rc = vocab_range(st, term, hi.data);
    /* term less one or two final letters, as the only word in [w, w "\x01") */
    for (size_t cut = 1; cut <= 2 && rc == 0 && n - cut >= 4; cut++) {
        dq_buf_clear(&lo);
        dq_buf_clear(&hi);
        dq_buf_append(&lo, term, n - cut);
        dq_buf_append(&hi, term, n - cut);
        dq_buf_putc(&hi, '\x01');
        rc = vocab_range(st, lo.data, hi.data);
    }
    dq_buf_free(&lo);
    dq_buf_free(&hi);
    return rc;
}

int store_terms_beginning(store *st, const char *prefix, int max, char **out)
{
    size_t n = strlen(prefix);
    if (n == 0 || max <= 0)
        return 0;
    sqlite3_stmt *s = store_stmt(st, SLOT_TERM_PREFIX,
                                 "SELECT term FROM fts_vocab WHERE term >= ?1 AND term < ?2"
                                 " ORDER BY doc DESC, term LIMIT ?3");
    if (!s)
        return -1;
    dq_buf hi = DQ_BUF_INIT;
    dq_buf_puts(&hi, prefix);
    hi.data[n - 1]++; /* the first string after every word that begins with prefix */
    store_bind_text(s, 1, prefix);
    store_bind_text(s, 2, hi.data);
    sqlite3_bind_int(s, 3, max);
    int rc = SQLITE_DONE, got = 0;
    while (got < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        out[got++] = store_column_dup(s, 0);
    if (got == max)
        rc = SQLITE_DONE;
    if (rc != SQLITE_DONE) {
        store_fail(st, "cannot look a word up");
        while (got > 0)
            free(out[--got]);
    }
    sqlite3_reset(s);
    dq_buf_free(&hi);
    return rc == SQLITE_DONE ? got : -1;
}

int store_about_term_freq(store *st, const char *term, int64_t *n_docs, int64_t *df)
{
    return term_freq(st, term, SLOT_DOC_COUNT, "SELECT count(*) FROM documents", SLOT_DOC_TERM_DF,
                     "SELECT doc FROM doc_vocab WHERE term = ?1", n_docs, df);
}
