/* boxes.c - chunk boxes (where a chunk's text lies on its pages) and
 * looking documents up by id, for showing citations on rendered pages. */
#include "index/store_impl.h"

#include "common/common.h"

#include <stdlib.h>
#include <string.h>

int store_put_chunk_boxes(store *st, const char *sha256, int ordinal, const store_box *boxes,
                          size_t n)
{
    /* The chunk's id is looked up once, not joined per box: that join cost
     * as much as the insert (a chunk has a box per line). */
    sqlite3_stmt *q = store_stmt(st, SLOT_BOX_CHUNK,
                                 "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id"
                                 " WHERE d.sha256 = ?1 AND c.ordinal = ?2");
    if (!q)
        return -1;
    store_bind_text(q, 1, sha256);
    sqlite3_bind_int(q, 2, ordinal);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        store_fail(st, "cannot find the chunk of a box");
        sqlite3_reset(q);
        return -1;
    }
    sqlite3_int64 chunk_id = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
    sqlite3_reset(q);
    if (rc == SQLITE_DONE)
        return 0; /* no such chunk: nothing to mark, as before */
    /* OR REPLACE: --force re-extracts a document another path still links,
     * whose chunks (and boxes) are kept. */
    sqlite3_stmt *s = store_stmt(st, SLOT_BOX_INSERT,
                                 "INSERT OR REPLACE INTO chunk_boxes"
                                 " (chunk_id, seq, page, x0, y0, x1, y1)"
                                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(s, 1, chunk_id);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        sqlite3_bind_int(s, 3, boxes[i].page);
        sqlite3_bind_double(s, 4, boxes[i].x0);
        sqlite3_bind_double(s, 5, boxes[i].y0);
        sqlite3_bind_double(s, 6, boxes[i].x1);
        sqlite3_bind_double(s, 7, boxes[i].y1);
        if (store_run(st, s, "cannot add a chunk box") < 0)
            return -1;
    }
    return 0;
}

int store_get_chunk_boxes(store *st, int64_t chunk_id, int page, store_box **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = store_stmt(st, SLOT_BOX_GET,
                                 "SELECT page, x0, y0, x1, y1 FROM chunk_boxes"
                                 " WHERE chunk_id = ?1 AND (?2 = 0 OR page = ?2) ORDER BY seq");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, chunk_id);
    sqlite3_bind_int(s, 2, page);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        DQ_GROW(*out, cap, *n + 1);
        (*out)[(*n)++] = (store_box){sqlite3_column_int(s, 0), (float)sqlite3_column_double(s, 1),
                                     (float)sqlite3_column_double(s, 2),
                                     (float)sqlite3_column_double(s, 3),
                                     (float)sqlite3_column_double(s, 4)};
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return store_fail(st, "cannot read chunk boxes");
    }
    return 0;
}

void store_document_free(store_document *d)
{
    if (!d)
        return;
    free(d->format);
    free(d->title);
    free(d->path);
    memset(d, 0, sizeof *d);
}

int store_get_document(store *st, int64_t doc_id, store_document *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_stmt(st, SLOT_DOC_GET,
                                 "SELECT d.id, d.format, d.title, d.pages,"
                                 " (SELECT min(f.path) FROM files f"
                                 "  WHERE f.doc_id = d.id AND f.status = 'ok')"
                                 " FROM documents d WHERE d.id = ?1");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, doc_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        out->format = store_column_dup(s, 1);
        out->title = store_column_dup(s, 2);
        out->n_pages = sqlite3_column_int(s, 3);
        out->path = store_column_dup(s, 4);
    } else if (rc != SQLITE_DONE) {
        store_fail(st, "cannot read a document");
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
