/* documents.c - files, documents, pages and chunks: recording what was
 * ingested, replacing what changed and dropping what is gone.
 *
 * Each write runs under its own SAVEPOINT, so it is atomic on its own and,
 * inside the caller's transaction, a failed call leaves nothing behind. A
 * document is deleted only when no file row points at it any more; the
 * foreign keys cascade that delete to pages, chunks and vectors, and the
 * chunk triggers take the rows out of the FTS index.
 */
#include "index/store_impl.h"

#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void store_file_free(store_file *f)
{
    if (!f)
        return;
    free(f->path);
    free(f->sha256);
    free(f->status);
    free(f->error);
    memset(f, 0, sizeof *f);
}

#define FILE_COLUMNS "id, path, sha256, size, mtime, status, error, doc_id, fail_count"

static void file_from_row(sqlite3_stmt *s, store_file *out)
{
    out->id = sqlite3_column_int64(s, 0);
    out->path = store_column_dup(s, 1);
    out->sha256 = store_column_dup(s, 2);
    out->size = sqlite3_column_int64(s, 3);
    out->mtime = sqlite3_column_int64(s, 4);
    out->status = store_column_dup(s, 5);
    out->error = store_column_dup(s, 6);
    out->doc_id = sqlite3_column_int64(s, 7); /* NULL reads as 0 */
    out->fail_count = sqlite3_column_int64(s, 8);
}

int store_get_file(store *st, const char *path, store_file *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s =
        store_stmt(st, SLOT_FILE_GET, "SELECT " FILE_COLUMNS " FROM files WHERE path = ?1");
    if (!s)
        return -1;
    store_bind_text(s, 1, path);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        file_from_row(s, out);
    else if (rc != SQLITE_DONE)
        dq_set_error("cannot look up '%s' in the store: %s", path, sqlite3_errmsg(st->db));
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_each_file(store *st, store_file_cb cb, void *ctx)
{
    /* Not the cached statement: cb may call back into the store. */
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT " FILE_COLUMNS " FROM files ORDER BY path", -1, &s,
                           NULL) != SQLITE_OK)
        return store_fail(st, "cannot list files");
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        store_file f;
        file_from_row(s, &f);
        ret = cb(ctx, &f);
        store_file_free(&f);
        if (ret)
            break;
    }
    if (!ret && rc != SQLITE_DONE)
        ret = store_fail(st, "cannot list files");
    sqlite3_finalize(s);
    return ret;
}

/* 1 and *id when a document with this hash exists, 0 when not, -1 error. */
static int find_document(store *st, const char *sha256, int64_t *id)
{
    sqlite3_stmt *s = store_stmt(st, SLOT_DOC_FIND, "SELECT id FROM documents WHERE sha256 = ?1");
    if (!s)
        return -1;
    store_bind_text(s, 1, sha256);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_DONE)
        store_fail(st, "cannot look up a document");
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_has_document(store *st, const char *sha256)
{
    int64_t id;
    return find_document(st, sha256, &id);
}

/* The document path points at now (0 when none or no such path). */
static int file_doc(store *st, const char *path, int64_t *doc_id)
{
    store_file f;
    int r = store_get_file(st, path, &f);
    *doc_id = r == 1 ? f.doc_id : 0;
    store_file_free(&f);
    return r < 0 ? -1 : 0;
}

static int delete_if_orphan(store *st, int64_t doc_id)
{
    if (doc_id <= 0)
        return 0;
    sqlite3_stmt *s = store_stmt(st, SLOT_DOC_DELETE_ORPHAN,
                                 "DELETE FROM documents WHERE id = ?1"
                                 " AND NOT EXISTS (SELECT 1 FROM files WHERE doc_id = ?1)");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, doc_id);
    return store_run(st, s, "cannot delete an unused document");
}

static int upsert_file(store *st, const char *path, const char *sha256, int64_t size,
                       int64_t mtime, const char *status, const char *error, int64_t doc_id)
{
    sqlite3_stmt *s = store_stmt(
        st, SLOT_FILE_UPSERT,
        "INSERT INTO files(path, sha256, size, mtime, status, error, doc_id, ingested_at,"
        " fail_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?5 = 'failed')"
        " ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size,"
        " mtime = excluded.mtime, status = excluded.status, error = excluded.error,"
        " doc_id = excluded.doc_id, ingested_at = excluded.ingested_at,"
        " fail_count = CASE WHEN excluded.status = 'failed' THEN files.fail_count + 1 ELSE 0 END");
    if (!s)
        return -1;
    store_bind_text(s, 1, path);
    store_bind_text(s, 2, sha256);
    sqlite3_bind_int64(s, 3, size);
    sqlite3_bind_int64(s, 4, mtime);
    store_bind_text(s, 5, status);
    store_bind_text(s, 6, error);
    if (doc_id > 0)
        sqlite3_bind_int64(s, 7, doc_id);
    else
        sqlite3_bind_null(s, 7);
    sqlite3_bind_int64(s, 8, (int64_t)time(NULL));
    char what[300];
    snprintf(what, sizeof what, "cannot record '%s'", path);
    return store_run(st, s, what);
}

/* Writes the document's row, pages and chunks. *doc_id > 0 names an existing
 * document to refill: its pages and chunks are deleted first (vectors and FTS
 * rows go with the chunks by cascade and trigger) and its row updated, so
 * every file row pointing at it stays valid. */
static int insert_document(store *st, const store_doc_info *info, const char *const *page_texts,
                           const store_chunk_in *chunks, size_t n_chunks, int64_t *doc_id)
{
    sqlite3_stmt *s;
    if (*doc_id > 0) {
        s = store_stmt(st, SLOT_DOC_CLEAR,
                       "DELETE FROM chunks WHERE doc_id = ?1");
        if (!s)
            return -1;
        sqlite3_bind_int64(s, 1, *doc_id);
        if (store_run(st, s, "cannot drop a document's chunks") < 0)
            return -1;
        s = store_stmt(st, SLOT_PAGE_CLEAR, "DELETE FROM pages WHERE doc_id = ?1");
        if (!s)
            return -1;
        sqlite3_bind_int64(s, 1, *doc_id);
        if (store_run(st, s, "cannot drop a document's pages") < 0)
            return -1;
        s = store_stmt(st, SLOT_DOC_UPDATE,
                       "UPDATE documents SET format = ?2, title = ?3, pages = ?4,"
                       " split = (SELECT value FROM meta WHERE key = 'split') WHERE id = ?1");
        if (!s)
            return -1;
        sqlite3_bind_int64(s, 1, *doc_id);
        store_bind_text(s, 2, info->format ? info->format : "");
        store_bind_text(s, 3, info->title);
        sqlite3_bind_int(s, 4, info->n_pages);
        if (store_run(st, s, "cannot update a document") < 0)
            return -1;
    } else {
        s = store_stmt(st, SLOT_DOC_INSERT,
                       "INSERT INTO documents(sha256, format, title, pages, added_at, split)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, (SELECT value FROM meta WHERE key = 'split'))");
        if (!s)
            return -1;
        store_bind_text(s, 1, info->sha256);
        store_bind_text(s, 2, info->format ? info->format : "");
        store_bind_text(s, 3, info->title);
        sqlite3_bind_int(s, 4, info->n_pages);
        sqlite3_bind_int64(s, 5, (int64_t)time(NULL));
        if (store_run(st, s, "cannot add a document") < 0)
            return -1;
        *doc_id = sqlite3_last_insert_rowid(st->db);
    }

    if (page_texts) {
        s = store_stmt(st, SLOT_PAGE_INSERT,
                       "INSERT INTO pages(doc_id, page_no, text) VALUES (?1, ?2, ?3)");
        if (!s)
            return -1;
        for (int i = 0; i < info->n_pages; i++) {
            sqlite3_reset(s);
            sqlite3_bind_int64(s, 1, *doc_id);
            sqlite3_bind_int(s, 2, i + 1);
            store_bind_text(s, 3, page_texts[i] ? page_texts[i] : "");
            if (store_run(st, s, "cannot add a page") < 0)
                return -1;
        }
    }

    /* The chunks go in with one INSERT ... SELECT from the caller's array
     * (index/staged.c): FTS5 writes its pending terms out as a new index
     * segment at the end of every statement that fires the chunks trigger,
     * so an INSERT per chunk cost a segment per chunk, and their merging, a
     * tenth of an ingest's CPU. Their boxes follow in one more statement. */
    staged_chunks staged = {chunks, n_chunks};
    s = store_stmt(st, SLOT_CHUNK_INSERT,
                   "INSERT INTO chunks(doc_id, ordinal, page_start, page_end, section, text,"
                   " label, is_table) SELECT ?1, ordinal, page_start, page_end, section, text,"
                   " label, is_table FROM docqa_staged_chunks(?2)");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, *doc_id);
    sqlite3_bind_pointer(s, 2, &staged, STAGED_POINTER_TYPE, NULL);
    if (store_run(st, s, "cannot add a document's chunks") < 0)
        return -1;
    bool any_boxes = false;
    for (size_t i = 0; i < n_chunks && !any_boxes; i++)
        any_boxes = chunks[i].n_boxes > 0;
    if (!any_boxes)
        return 0;
    /* CROSS JOIN keeps the staged rows outside, each finding its chunk by
     * the (doc_id, ordinal) index. */
    s = store_stmt(st, SLOT_BOX_INSERT,
                   "INSERT INTO chunk_boxes(chunk_id, boxes)"
                   " SELECT c.id, t.boxes FROM docqa_staged_chunks(?2) t CROSS JOIN chunks c"
                   " ON c.doc_id = ?1 AND c.ordinal = t.ordinal WHERE t.boxes IS NOT NULL");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, *doc_id);
    sqlite3_bind_pointer(s, 2, &staged, STAGED_POINTER_TYPE, NULL);
    return store_run(st, s, "cannot add the chunks' boxes");
}

/* The document's `about` (index/about.c) once its pages and a path are in.
 * Its first page and size come from the pages just written (page_texts,
 * n_pages of them, or none), not read back: summing the stored pages' bytes
 * read every page of the document again. */
static int update_about(store *st, int64_t doc_id, const char *const *page_texts, int n_pages)
{
    sqlite3_stmt *s = store_stmt(
        st, SLOT_DOC_ABOUT,
        "UPDATE documents SET about = docqa_about(title,"
        " (SELECT min(f.path) FROM files f WHERE f.doc_id = ?1 AND f.status = 'ok'), ?2, ?3)"
        " WHERE id = ?1");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, doc_id);
    if (page_texts && n_pages > 0) {
        int64_t bytes = 0;
        for (int i = 0; i < n_pages; i++)
            bytes += page_texts[i] ? (int64_t)strlen(page_texts[i]) : 0;
        store_bind_text(s, 2, page_texts[0] ? page_texts[0] : "");
        sqlite3_bind_int64(s, 3, bytes);
    }
    return store_run(st, s, "cannot describe a document");
}

/* Runs under a savepoint so a failure undoes only this call. */
static int savepoint(store *st)
{
    return store_exec(st, "SAVEPOINT dq_put", "cannot start a savepoint");
}

static int release(store *st, int ok)
{
    if (ok == 0)
        return store_exec(st, "RELEASE dq_put", "cannot release a savepoint");
    /* Keep the error of the failure, not of the rollback. */
    sqlite3_exec(st->db, "ROLLBACK TO dq_put; RELEASE dq_put", NULL, NULL, NULL);
    return -1;
}

static int put_document(store *st, const char *path, int64_t size, int64_t mtime,
                        const store_doc_info *info, const char *const *page_texts,
                        const store_chunk_in *chunks, size_t n_chunks, bool rebuild)
{
    if (!info || !info->sha256 || !*info->sha256) {
        dq_set_error("cannot record '%s': no content hash", path);
        return -1;
    }
    if (savepoint(st) < 0)
        return -1;
    int64_t old_doc = 0, doc_id = 0;
    bool already = false;
    int rc = file_doc(st, path, &old_doc);
    if (rc == 0) {
        int found = find_document(st, info->sha256, &doc_id);
        already = found > 0;
        if (found < 0)
            rc = -1;
        else if (found == 0 || rebuild)
            rc = insert_document(st, info, page_texts, chunks, n_chunks, &doc_id);
    }
    bool written = rc == 0 && doc_id != 0 && (rebuild || !already);
    if (rc == 0)
        rc = upsert_file(st, path, info->sha256, size, mtime, "ok", NULL, doc_id);
    if (rc == 0 && written)
        rc = update_about(st, doc_id, page_texts, info->n_pages);
    if (rc == 0 && old_doc != doc_id)
        rc = delete_if_orphan(st, old_doc);
    return release(st, rc);
}

int store_put_document(store *st, const char *path, int64_t size, int64_t mtime,
                       const store_doc_info *info, const char *const *page_texts,
                       const store_chunk_in *chunks, size_t n_chunks)
{
    return put_document(st, path, size, mtime, info, page_texts, chunks, n_chunks, false);
}

int store_rebuild_document(store *st, const char *path, int64_t size, int64_t mtime,
                           const store_doc_info *info, const char *const *page_texts,
                           const store_chunk_in *chunks, size_t n_chunks)
{
    return put_document(st, path, size, mtime, info, page_texts, chunks, n_chunks, true);
}

int store_each_document_split_differs(store *st, const char *split, store_sha_cb cb, void *ctx)
{
    /* Not the cached statement: cb may call back into the store. */
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT sha256 FROM documents WHERE split IS NOT ?1 ORDER BY sha256",
                           -1, &s, NULL) != SQLITE_OK)
        return store_fail(st, "cannot list documents to re-chunk");
    store_bind_text(s, 1, split);
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ret = cb(ctx, (const char *)sqlite3_column_text(s, 0));
        if (ret)
            break;
    }
    if (!ret && rc != SQLITE_DONE)
        ret = store_fail(st, "cannot list documents to re-chunk");
    sqlite3_finalize(s);
    return ret;
}

int store_note_failed_again(store *st, const char *path)
{
    sqlite3_stmt *s = store_stmt(st, SLOT_FILE_FAILED_AGAIN,
                                 "UPDATE files SET fail_count = fail_count + 1"
                                 " WHERE path = ?1 AND status = 'failed'");
    if (!s)
        return -1;
    store_bind_text(s, 1, path);
    char what[300];
    snprintf(what, sizeof what, "cannot record '%s'", path);
    return store_run(st, s, what);
}

int store_put_page_ocr(store *st, const char *sha256, const int *page_ocr,
                       const float *page_conf, int n_pages)
{
    int64_t doc_id;
    int found = find_document(st, sha256, &doc_id);
    if (found <= 0) {
        if (found == 0)
            dq_set_error("cannot mark OCR pages: no document %.12s", sha256);
        return -1;
    }
    sqlite3_stmt *mark = store_stmt(st, SLOT_PAGE_OCR,
                                    "UPDATE pages SET ocr = 1, ocr_conf = ?3"
                                    " WHERE doc_id = ?1 AND page_no = ?2");
    sqlite3_stmt *drop =
        store_stmt(st, SLOT_PAGE_DROP, "DELETE FROM pages WHERE doc_id = ?1 AND page_no = ?2");
    sqlite3_stmt *chunks = store_stmt(st, SLOT_CHUNK_OCR,
                                      "UPDATE chunks SET ocr = 1 WHERE doc_id = ?1"
                                      " AND page_start <= ?2 AND page_end >= ?2");
    if (!mark || !drop || !chunks)
        return -1;
    for (int i = 0; i < n_pages; i++) {
        if (page_ocr[i] == 0)
            continue;
        sqlite3_stmt *s = page_ocr[i] > 0 ? mark : drop;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, doc_id);
        sqlite3_bind_int(s, 2, i + 1);
        if (page_ocr[i] > 0)
            sqlite3_bind_double(s, 3, page_conf ? (double)page_conf[i] : 0.0);
        if (store_run(st, s, "cannot mark an OCR page") < 0)
            return -1;
        if (page_ocr[i] > 0) {
            sqlite3_reset(chunks);
            sqlite3_bind_int64(chunks, 1, doc_id);
            sqlite3_bind_int(chunks, 2, i + 1);
            if (store_run(st, chunks, "cannot mark OCR chunks") < 0)
                return -1;
        }
    }
    return 0;
}

int store_put_page_unreadable(store *st, const char *sha256, const char *const *reasons,
                              int n_pages)
{
    int64_t doc_id;
    int found = find_document(st, sha256, &doc_id);
    if (found <= 0) {
        if (found == 0)
            dq_set_error("cannot mark unreadable pages: no document %.12s", sha256);
        return -1;
    }
    sqlite3_stmt *s = store_stmt(st, SLOT_PAGE_UNREADABLE,
                                 "UPDATE pages SET unreadable = ?3"
                                 " WHERE doc_id = ?1 AND page_no = ?2");
    if (!s)
        return -1;
    for (int i = 0; i < n_pages; i++) {
        if (!reasons[i])
            continue;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, doc_id);
        sqlite3_bind_int(s, 2, i + 1);
        store_bind_text(s, 3, reasons[i]);
        if (store_run(st, s, "cannot mark an unreadable page") < 0)
            return -1;
    }
    return 0;
}

int store_put_failure(store *st, const char *path, int64_t size, int64_t mtime,
                      const char *reason)
{
    if (savepoint(st) < 0)
        return -1;
    int64_t old_doc = 0;
    int rc = file_doc(st, path, &old_doc);
    if (rc == 0)
        rc = upsert_file(st, path, NULL, size, mtime, "failed", reason ? reason : "unknown error",
                         0);
    if (rc == 0)
        rc = delete_if_orphan(st, old_doc);
    return release(st, rc);
}

int store_remove_file(store *st, const char *path)
{
    if (savepoint(st) < 0)
        return -1;
    int64_t old_doc = 0;
    int rc = file_doc(st, path, &old_doc);
    if (rc == 0) {
        sqlite3_stmt *s = store_stmt(st, SLOT_FILE_DELETE, "DELETE FROM files WHERE path = ?1");
        if (!s)
            rc = -1;
        else {
            store_bind_text(s, 1, path);
            char what[300];
            snprintf(what, sizeof what, "cannot remove '%s'", path);
            rc = store_run(st, s, what);
        }
    }
    if (rc == 0)
        rc = delete_if_orphan(st, old_doc);
    return release(st, rc);
}

static int64_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

int store_get_stats(store *st, store_stats *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_stmt(st, SLOT_STATS,
                                 "SELECT (SELECT count(*) FROM files),"
                                 " (SELECT count(*) FROM files WHERE status = 'failed'),"
                                 " (SELECT count(*) FROM documents),"
                                 " (SELECT count(*) FROM pages),"
                                 " (SELECT count(*) FROM chunks),"
                                 " (SELECT count(*) FROM vectors),"
                                 " (SELECT count(*) FROM pages WHERE ocr = 1"
                                 "   AND unreadable IS NULL),"
                                 " (SELECT total(pages) FROM documents)"
                                 "   - (SELECT count(*) FROM pages),"
                                 " (SELECT avg(ocr_conf) FROM pages WHERE ocr = 1),"
                                 " (SELECT count(*) FROM pages WHERE unreadable IS NOT NULL"
                                 "   AND ocr = 1),"
                                 " (SELECT count(*) FROM pages WHERE unreadable IS NOT NULL"
                                 "   AND ocr = 0)");
    if (!s)
        return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->files = sqlite3_column_int64(s, 0);
        out->failed = sqlite3_column_int64(s, 1);
        out->documents = sqlite3_column_int64(s, 2);
        out->pages = sqlite3_column_int64(s, 3);
        out->chunks = sqlite3_column_int64(s, 4);
        out->vectors = sqlite3_column_int64(s, 5);
        out->ocr_pages = sqlite3_column_int64(s, 6);
        out->ocr_empty = sqlite3_column_int64(s, 7);
        out->ocr_mean_conf = sqlite3_column_double(s, 8);
        out->unreadable_ocr = sqlite3_column_int64(s, 9);
        out->unreadable_failed = sqlite3_column_int64(s, 10);
    } else {
        store_fail(st, "cannot count the store's contents");
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW)
        return -1;
    dq_buf wal = DQ_BUF_INIT;
    dq_buf_printf(&wal, "%s-wal", st->db_path);
    out->db_bytes = file_size(st->db_path) + file_size(wal.data);
    dq_buf_free(&wal);
    return 0;
}
