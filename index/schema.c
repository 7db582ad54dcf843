/* schema.c - the store's schema as a list of migrations, and the checks that
 * keep docqa from opening a database it did not make or does not understand.
 *
 * PRAGMA user_version holds the schema version and PRAGMA application_id
 * marks the file as ours. migrations[i] takes version i to i+1; all pending
 * ones run in one transaction with the version bump, so a crash mid-upgrade
 * leaves the old version. A later release appends entries; it never edits
 * old ones.
 */
#include "index/store_impl.h"

#include "common/common.h"

#include <stdio.h>
#include <string.h>

static const char *const migrations[] = {
    /* 0 -> 1: the first schema. */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE documents("
    "  id INTEGER PRIMARY KEY,"
    "  sha256 TEXT NOT NULL UNIQUE,"
    "  format TEXT NOT NULL,"
    "  title TEXT,"
    "  pages INTEGER NOT NULL,"
    "  added_at INTEGER NOT NULL);"
    "CREATE TABLE files("
    "  id INTEGER PRIMARY KEY,"
    "  path TEXT NOT NULL UNIQUE,"
    "  sha256 TEXT,"
    "  size INTEGER NOT NULL,"
    "  mtime INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK(status IN ('ok', 'failed')),"
    "  error TEXT,"
    "  doc_id INTEGER REFERENCES documents(id),"
    "  ingested_at INTEGER NOT NULL);"
    "CREATE INDEX files_doc ON files(doc_id);"
    "CREATE TABLE pages("
    "  doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  page_no INTEGER NOT NULL,"
    "  text TEXT NOT NULL,"
    "  PRIMARY KEY(doc_id, page_no)) WITHOUT ROWID;"
    "CREATE TABLE chunks("
    "  id INTEGER PRIMARY KEY,"
    "  doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
    "  ordinal INTEGER NOT NULL,"
    "  page_start INTEGER NOT NULL,"
    "  page_end INTEGER NOT NULL,"
    "  section TEXT NOT NULL DEFAULT '',"
    "  text TEXT NOT NULL);"
    "CREATE INDEX chunks_doc ON chunks(doc_id, ordinal);"
    "CREATE TABLE vectors("
    "  chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,"
    "  model TEXT NOT NULL,"
    "  dim INTEGER NOT NULL,"
    "  vec BLOB NOT NULL);"
    "CREATE INDEX vectors_model ON vectors(model);"
    /* External content: the text lives once, in chunks; the triggers keep
     * the index in step, including deletes cascaded from documents. */
    "CREATE VIRTUAL TABLE fts USING fts5(text, section, content='chunks', content_rowid='id',"
    "  tokenize='docqa');"
    "INSERT INTO fts(fts, rank) VALUES('rank', 'bm25(1.0, 0.5)');"
    "CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN"
    "  INSERT INTO fts(rowid, text, section) VALUES (new.id, new.text, new.section);"
    "END;"
    "CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN"
    "  INSERT INTO fts(fts, rowid, text, section) VALUES ('delete', old.id, old.text, old.section);"
    "END;"
    "CREATE TRIGGER chunks_au AFTER UPDATE ON chunks BEGIN"
    "  INSERT INTO fts(fts, rowid, text, section) VALUES ('delete', old.id, old.text, old.section);"
    "  INSERT INTO fts(rowid, text, section) VALUES (new.id, new.text, new.section);"
    "END;"
    /* Per-term chunk counts for store_term_doc_freq(). */
    "CREATE VIRTUAL TABLE fts_vocab USING fts5vocab(fts, 'row');",
    /* 1 -> 2: where each chunk's text lies on its pages (boxes in points),
     * for highlighting citations on rendered pages. Chunks ingested before
     * have none until re-ingested. */
    "CREATE TABLE chunk_boxes("
    "  chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  page INTEGER NOT NULL,"
    "  x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,"
    "  PRIMARY KEY(chunk_id, seq)) WITHOUT ROWID;",
    /* 2 -> 3: what `docqa reindex` needs. roots: the files and folders given
     * to ingest (is_dir tells a deleted file from an unmounted folder);
     * files.fail_count: runs in a row that found the file failing;
     * documents.split: the splitter settings its chunks were made with, so a
     * settings change re-chunks exactly the documents still made the old way. */
    "CREATE TABLE roots(path TEXT PRIMARY KEY, is_dir INTEGER NOT NULL,"
    "  added_at INTEGER NOT NULL) WITHOUT ROWID;"
    "ALTER TABLE files ADD COLUMN fail_count INTEGER NOT NULL DEFAULT 0;"
    "UPDATE files SET fail_count = 1 WHERE status = 'failed';"
    "ALTER TABLE documents ADD COLUMN split TEXT;"
    "UPDATE documents SET split = (SELECT value FROM meta WHERE key = 'split');",
    /* 3 -> 4: pages and chunks read by OCR. pages.ocr is 1 for a page whose
     * text came from Tesseract, with its mean word confidence (0-100) in
     * ocr_conf; a scanned page where OCR found nothing has no pages row at
     * all (documents.pages still counts it). chunks.ocr is 1 when any page
     * of the chunk's span was OCR'd, so citations can say so. */
    "ALTER TABLE pages ADD COLUMN ocr INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE pages ADD COLUMN ocr_conf REAL;"
    "ALTER TABLE chunks ADD COLUMN ocr INTEGER NOT NULL DEFAULT 0;",
    /* 4 -> 5: LLM answers kept by a hash of model and prompt, so an
     * evaluation resumes where it stopped and a re-run asks nothing. */
    "CREATE TABLE answer_cache("
    "  key TEXT PRIMARY KEY,"
    "  model TEXT NOT NULL,"
    "  choice TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL) WITHOUT ROWID;",
    /* 5 -> 6: a log of the chunk ids whose vector changed, so the FAISS file
     * beside the store (index/vector_index.c) can catch up incrementally:
     * the file records the last seq it holds. Triggers fill it, so no
     * writer (ingest, replace, remove, prune, cascades) can forget to. */
    "CREATE TABLE vector_log(seq INTEGER PRIMARY KEY AUTOINCREMENT, chunk_id INTEGER NOT NULL);"
    "CREATE TRIGGER vectors_ai AFTER INSERT ON vectors BEGIN"
    "  INSERT INTO vector_log(chunk_id) VALUES (new.chunk_id);"
    "END;"
    "CREATE TRIGGER vectors_au AFTER UPDATE ON vectors BEGIN"
    "  INSERT INTO vector_log(chunk_id) VALUES (new.chunk_id);"
    "END;"
    "CREATE TRIGGER vectors_ad AFTER DELETE ON vectors BEGIN"
    "  INSERT INTO vector_log(chunk_id) VALUES (old.chunk_id);"
    "END;",
    /* 6 -> 7: where a chunk is when pages do not say it (Office files):
     * "sheet 报价单, rows 12–40", "slide 7", "§3.2 ¶4"; '' for paged
     * documents, which keep citing page_start/page_end. */
    "ALTER TABLE chunks ADD COLUMN label TEXT NOT NULL DEFAULT '';",
    /* 7 -> 8: PDF fidelity. pages.unreadable says why a page's text layer
     * is not its text ("font without ToUnicode"), NULL for a page read as it
     * is; such a page was OCR'd instead (ocr = 1) or has no text (OCR was
     * off), and `docqa status` counts both apart from scans. chunks.is_table
     * is 1 for a chunk that holds table rows. */
    "ALTER TABLE pages ADD COLUMN unreadable TEXT;"
    "ALTER TABLE chunks ADD COLUMN is_table INTEGER NOT NULL DEFAULT 0;",
    /* 8 -> 9: what each document is about (index/about.c: title, file name,
     * the opening of its first page) and an FTS5 index over it, so a
     * question that names a document or period is scoped to it. Stored
     * documents get theirs here; the index is built once they have it and
     * the triggers keep it in step from then on. */
    "ALTER TABLE documents ADD COLUMN about TEXT NOT NULL DEFAULT '';"
    "UPDATE documents SET about = docqa_about(title,"
    "  (SELECT min(f.path) FROM files f WHERE f.doc_id = documents.id AND f.status = 'ok'),"
    "  (SELECT p.text FROM pages p WHERE p.doc_id = documents.id ORDER BY p.page_no LIMIT 1),"
    "  (SELECT sum(length(CAST(p.text AS BLOB))) FROM pages p WHERE p.doc_id = documents.id));"
    "CREATE VIRTUAL TABLE doc_fts USING fts5(about, content='documents', content_rowid='id',"
    "  tokenize='docqa');"
    "INSERT INTO doc_fts(doc_fts) VALUES('rebuild');"
    "CREATE TRIGGER documents_ai AFTER INSERT ON documents BEGIN"
    "  INSERT INTO doc_fts(rowid, about) VALUES (new.id, new.about);"
    "END;"
    "CREATE TRIGGER documents_ad AFTER DELETE ON documents BEGIN"
    "  INSERT INTO doc_fts(doc_fts, rowid, about) VALUES ('delete', old.id, old.about);"
    "END;"
    "CREATE TRIGGER documents_au AFTER UPDATE OF about ON documents BEGIN"
    "  INSERT INTO doc_fts(doc_fts, rowid, about) VALUES ('delete', old.id, old.about);"
    "  INSERT INTO doc_fts(rowid, about) VALUES (new.id, new.about);"
    "END;"
    "CREATE VIRTUAL TABLE doc_vocab USING fts5vocab(doc_fts, 'row');",
    /* 9 -> 10: the section path weighs 3 to the text's 1 (was 0.5): a page
     * under the heading a question names ("CONSOLIDATED BALANCE SHEETS",
     * "第三章 违约责任") outranks pages that only use its words, as title
     * fields are weighted in BM25F. A rank setting, so no chunk is touched. */
    "INSERT INTO fts(fts, rank) VALUES('rank', 'bm25(1.0, 3.0)');",
    /* 10 -> 11: the writer's cost. A chunk's boxes are one BLOB
     * (index/boxes.c) instead of a row per box, packed here from the rows;
     * and only a change of text or section re-indexes a chunk in FTS5, so
     * marking chunks (is_table, ocr) no longer deletes and re-adds their
     * terms, a new FTS5 segment per marking statement. Rows of a chunk
     * that is gone (only an edit from outside docqa leaves them) are
     * dropped: copied, they would fail the new table's foreign key and with
     * it every later open of the store. */
    "CREATE TABLE chunk_boxes_packed("
    "  chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,"
    "  boxes BLOB NOT NULL);"
    "INSERT INTO chunk_boxes_packed(chunk_id, boxes)"
    "  SELECT chunk_id, docqa_pack_boxes(seq, page, x0, y0, x1, y1) FROM chunk_boxes"
    "  WHERE chunk_id IN (SELECT id FROM chunks) GROUP BY chunk_id;"
    "DROP TABLE chunk_boxes;"
    "ALTER TABLE chunk_boxes_packed RENAME TO chunk_boxes;"
    "DROP TRIGGER chunks_au;"
    "CREATE TRIGGER chunks_au AFTER UPDATE OF text, section ON chunks BEGIN"
    "  INSERT INTO fts(fts, rowid, text, section) VALUES ('delete', old.id, old.text, old.section);"
    "  INSERT INTO fts(rowid, text, section) VALUES (new.id, new.text, new.section);"
    "END;",
    /* 11 -> 12: a log of the chunk ids whose FTS5 row changed, so the BM25
     * file beside the store (index/bm25_update.c) is brought up to date from
     * the rows that changed instead of rebuilt from FTS5: the file records
     * the last seq it has seen. Triggers fill it, as vector_log; the ids
     * stored before are logged here, so the log since seq 1 names every
     * row FTS5 has held. */
    "CREATE TABLE fts_log(seq INTEGER PRIMARY KEY AUTOINCREMENT, chunk_id INTEGER NOT NULL);"
    "INSERT INTO fts_log(chunk_id) SELECT id FROM chunks ORDER BY id;"
    "CREATE TRIGGER chunks_log_ai AFTER INSERT ON chunks BEGIN"
    "  INSERT INTO fts_log(chunk_id) VALUES (new.id);"
    "END;"
    "CREATE TRIGGER chunks_log_ad AFTER DELETE ON chunks BEGIN"
    "  INSERT INTO fts_log(chunk_id) VALUES (old.id);"
    "END;"
    "CREATE TRIGGER chunks_log_au AFTER UPDATE OF id, doc_id, text, section ON chunks BEGIN"
    "  INSERT INTO fts_log(chunk_id) VALUES (old.id);"
    "  INSERT INTO fts_log(chunk_id) VALUES (new.id);"
    "END;",
};

_Static_assert(sizeof migrations / sizeof *migrations == STORE_SCHEMA_VERSION,
               "STORE_SCHEMA_VERSION must equal the number of migrations");

static int pragma_int(store *st, const char *sql, int64_t *out)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        goto fail;
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        goto fail;
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return 0;
fail:
    dq_set_error("cannot open store '%s': %s", st->dir, sqlite3_errmsg(st->db));
    sqlite3_finalize(s);
    return -1;
}

/* Refuses a database that is not ours or is newer than this build; sets
 * *version to the schema version found (0 for an empty database). */
static int check_identity(store *st, int64_t *version)
{
    int64_t app_id, objects;
    if (pragma_int(st, "PRAGMA application_id", &app_id) < 0 ||
        pragma_int(st, "PRAGMA user_version", version) < 0 ||
        pragma_int(st, "SELECT count(*) FROM sqlite_schema", &objects) < 0)
        return -1;
    if (app_id == 0 && *version == 0 && objects == 0)
        return 0;
    if (app_id != STORE_APP_ID) {
        dq_set_error("cannot open store '%s': '%s' is not a docqa database", st->dir,
                     st->db_path);
        return -1;
    }
    if (*version > STORE_SCHEMA_VERSION) {
        dq_set_error("cannot open store '%s': store was made by a newer docqa (schema %lld, this "
                     "build knows %d)",
                     st->dir, (long long)*version, STORE_SCHEMA_VERSION);
        return -1;
    }
    return 0;
}

/* Runs every migration from version `from` up in one transaction with the
 * version bump: a store is never left between two versions (a new store is
 * made by all of them at once, and a read-only command never meets one that
 * a killed ingest left half-upgraded). */
static int run_migrations(store *st, int from)
{
    char what[64];
    snprintf(what, sizeof what, "cannot upgrade store schema to %d", STORE_SCHEMA_VERSION);
    if (store_exec(st, "BEGIN IMMEDIATE", what) < 0)
        return -1;
    /* Another process may have migrated while we waited for the lock. */
    int64_t now;
    if (pragma_int(st, "PRAGMA user_version", &now) < 0)
        goto fail;
    if (now != from) {
        store_exec(st, "ROLLBACK", what);
        if (now > STORE_SCHEMA_VERSION) {
            dq_set_error("cannot open store '%s': a newer docqa upgraded it meanwhile (schema "
                         "%lld, this build knows %d)",
                         st->dir, (long long)now, STORE_SCHEMA_VERSION);
            return -1;
        }
        return now == STORE_SCHEMA_VERSION ? 0 : run_migrations(st, (int)now);
    }
    for (int v = from; v < STORE_SCHEMA_VERSION; v++)
        if (store_exec(st, migrations[v], what) < 0)
            goto fail;
    char bump[96];
    snprintf(bump, sizeof bump, "PRAGMA user_version = %d; PRAGMA application_id = %d",
             STORE_SCHEMA_VERSION, STORE_APP_ID);
    if (store_exec(st, bump, what) < 0)
        goto fail;
    return store_exec(st, "COMMIT", what);
fail:
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int store_migrate(store *st)
{
    int64_t version;
    if (check_identity(st, &version) < 0)
        return -1;
    if (version == STORE_SCHEMA_VERSION)
        return 0;
    if (st->readonly) {
        dq_set_error("cannot open store '%s' read-only: its schema %lld needs upgrading to %d "
                     "(run 'docqa ingest')",
                     st->dir, (long long)version, STORE_SCHEMA_VERSION);
        return -1;
    }
    return run_migrations(st, (int)version);
}
