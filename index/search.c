/* search.c - BM25 search over the FTS5 index, chunk lookup and term counts.
 *
 * The MATCH runs alone in a subquery so FTS5 can use its rank optimisation
 * (the store's rank is bm25 with the text column weighted 1.0 and the section
 * 0.5; see schema.c), and only the best k rows are joined to chunks and
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

/* Errors in the MATCH expression itself ("fts5: syntax error near ...",
 * "unterminated string", "no such column: x") come back as plain
 * SQLITE_ERROR; a failing store gives IOERR, CORRUPT, BUSY and the like. */
static bool is_query_error(sqlite3 *db)
{
    return sqlite3_extended_errcode(db) == SQLITE_ERROR;
}

int store_search_fts(store *st, const char *match, int k, store_hits *out)
{
    out->items = NULL;
    out->n = 0;
    if (k <= 0)
        return 0;
    sqlite3_stmt *s = store_stmt(st, SLOT_SEARCH,
                                 "WITH top AS (SELECT rowid AS id, rank FROM fts"
                                 "  WHERE fts MATCH ?1 ORDER BY rank LIMIT ?2)"
                                 " SELECT c.id, c.doc_id, -top.rank,"
                                 " (SELECT min(f.path) FROM files f"
                                 "  WHERE f.doc_id = c.doc_id AND f.status = 'ok'),"
                                 " d.title, c.section, c.text, c.page_start, c.page_end, c.ordinal,"
                                 " c.ocr, c.label, c.is_table FROM top JOIN chunks c ON c.id = top.id"
                                 " JOIN documents d ON d.id = c.doc_id"
                                 " ORDER BY top.rank, c.id");
    if (!s)
        return -1;
    store_bind_text(s, 1, match ? match : "");
    sqlite3_bind_int(s, 2, k);
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

int store_term_doc_freq(store *st, const char *term, int64_t *n_chunks, int64_t *df)
{
    *n_chunks = 0;
    *df = 0;
    sqlite3_stmt *s = store_stmt(st, SLOT_CHUNK_COUNT, "SELECT count(*) FROM chunks");
    if (!s)
        return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *n_chunks = sqlite3_column_int64(s, 0);
    else
        store_fail(st, "cannot count chunks");
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return -1;

    s = store_stmt(st, SLOT_TERM_DF, "SELECT doc FROM fts_vocab WHERE term = ?1");
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
