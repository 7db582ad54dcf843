/* test_store.c - the .docqa store: open/find/migrate, documents and files,
 * failures, meta, vectors, and surviving kill -9 mid-ingest. */
#include <criterion/criterion.h>

#include "common/common.h"
#include "index/index.h"
#include "index/store_impl.h"
#include "support/tmpdir.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[64];
static char sdir[128]; /* tmpdir/.docqa */
static store *st;

static void setup(void)
{
    unsetenv("DOCQA_STORE");
    strcpy(tmpdir, "/tmp/dq_store_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    char *real = realpath(tmpdir, NULL);
    snprintf(tmpdir, sizeof tmpdir, "%s", real);
    free(real);
    snprintf(sdir, sizeof sdir, "%s/.docqa", tmpdir);
    st = NULL;
}

static void teardown(void)
{
    store_close(st);
    tmpdir_remove(tmpdir);
}

TestSuite(store, .init = setup, .fini = teardown);

static store *open_new(void)
{
    store *s = store_open(sdir, STORE_CREATE);
    cr_assert_not_null(s, "store_open: %s", dq_last_error());
    return s;
}

static int64_t query_int(store *s, const char *sql)
{
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(store_db(s), sql, -1, &q, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(store_db(s)));
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW, "%s", sql);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void sha_of(const char *s, char hex[65])
{
    dq_sha256 h;
    uint8_t d[32];
    dq_sha256_init(&h);
    dq_sha256_update(&h, s, strlen(s));
    dq_sha256_final(&h, d);
    dq_hex(d, 32, hex);
}

/* Puts a document at path whose content is identified by tag: 3 pages and
 * 5 chunks, chunk i's text being "<tag> chunk <i>". */
/* A 5-chunk document whose chunk 1 has the boxes given (n of them). */
static void put_tagged_boxes(store *s, const char *path, const char *tag, const store_box *boxes,
                             size_t n)
{
    char hex[65];
    sha_of(tag, hex);
    char texts[5][64];
    store_chunk_in chunks[5];
    for (int i = 0; i < 5; i++) {
        snprintf(texts[i], sizeof texts[i], "%s chunk %d", tag, i);
        chunks[i] = (store_chunk_in){.text = texts[i],
                                     .section = "",
                                     .page_start = 1 + i / 2,
                                     .page_end = 1 + i / 2,
                                     .ordinal = i,
                                     .label = NULL};
    }
    chunks[1].boxes = boxes;
    chunks[1].n_boxes = n;
    const char *pages[] = {"page one", "page two", "page three"};
    store_doc_info info = {hex, "txt", tag, 3};
    cr_assert_eq(store_begin(s), 0, "%s", dq_last_error());
    cr_assert_eq(store_put_document(s, path, 100, 1700000000, &info, pages, chunks, 5), 0, "%s",
                 dq_last_error());
    cr_assert_eq(store_commit(s), 0, "%s", dq_last_error());
}

static void put_tagged(store *s, const char *path, const char *tag)
{
    put_tagged_boxes(s, path, tag, NULL, 0);
}

static store_stats stats_of(store *s)
{
    store_stats ss;
    cr_assert_eq(store_get_stats(s, &ss), 0, "%s", dq_last_error());
    return ss;
}

static size_t hits_for(store *s, const char *q)
{
    store_hits h;
    cr_assert_eq(store_search_fts(s, q, 50, &h), 0, "%s", dq_last_error());
    size_t n = h.n;
    store_hits_free(&h);
    return n;
}

static void assert_fts_ok(store *s)
{
    cr_assert_eq(sqlite3_exec(store_db(s), "INSERT INTO fts(fts) VALUES('integrity-check')", NULL,
                              NULL, NULL),
                 SQLITE_OK, "fts integrity: %s", sqlite3_errmsg(store_db(s)));
}

/* ---- open, find, versions ----------------------------------------------- */

Test(store, create_and_reopen)
{
    st = open_new();
    cr_assert_str_eq(store_dir(st), sdir);
    cr_assert_str_eq(store_root(st), tmpdir);
    cr_assert_eq(query_int(st, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    cr_assert_eq(query_int(st, "PRAGMA application_id"), STORE_APP_ID);
    cr_assert_eq(query_int(st, "PRAGMA foreign_keys"), 1);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(store_db(st), "PRAGMA journal_mode", -1, &q, NULL);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    put_tagged(st, "a.txt", "alpha");
    store_close(st);

    st = store_open(sdir, 0);
    cr_assert_not_null(st, "%s", dq_last_error());
    cr_assert_eq(stats_of(st).chunks, 5);
    store_close(st);

    st = store_open(sdir, STORE_READONLY);
    cr_assert_not_null(st, "%s", dq_last_error());
    cr_assert_eq(hits_for(st, "alpha"), 5);
}

static size_t docs_for(store *s, const char *q)
{
    store_doc_hits h;
    cr_assert_eq(store_search_documents(s, q, 10, &h), 0, "%s", dq_last_error());
    size_t n = h.n;
    store_doc_hits_free(&h);
    return n;
}

/* Takes a store made by this build back to schema 11 (no FTS change log). */
#define BACK_TO_SCHEMA_11                                                                         \
    "DROP TRIGGER chunks_log_ai; DROP TRIGGER chunks_log_ad; DROP TRIGGER chunks_log_au;"       \
    "DROP TABLE fts_log;"

/* Takes a store made by this build back to schema 10's chunk boxes (a row
 * per box) and chunk trigger, for the tests of older stores' upgrades. */
#define BACK_TO_SCHEMA_10                                                                         \
    BACK_TO_SCHEMA_11                                                                             \
    "DROP TABLE chunk_boxes;"                                                                     \
    "CREATE TABLE chunk_boxes("                                                                   \
    "  chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,"                        \
    "  seq INTEGER NOT NULL, page INTEGER NOT NULL,"                                              \
    "  x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,"                   \
    "  PRIMARY KEY(chunk_id, seq)) WITHOUT ROWID;"                                                \
    "DROP TRIGGER chunks_au;"                                                                     \
    "CREATE TRIGGER chunks_au AFTER UPDATE ON chunks BEGIN"                                       \
    "  INSERT INTO fts(fts, rowid, text, section)"                                                \
    "    VALUES ('delete', old.id, old.text, old.section);"                                       \
    "  INSERT INTO fts(rowid, text, section) VALUES (new.id, new.text, new.section);"             \
    "END;"

Test(store, schema_8_store_learns_what_its_documents_are_about)
{
    st = open_new();
    put_tagged(st, "acme-2018.txt", "alpha");
    cr_assert_eq(docs_for(st, "acme AND 2018"), 1);
    store_close(st);
    /* take the store back to schema 8 as an older docqa left it */
    char db[192];
    snprintf(db, sizeof db, "%s/" STORE_DBNAME, sdir);
    sqlite3 *raw;
    cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
    cr_assert_eq(store_register_tokenizer(raw, NULL), 0); /* FTS5 tables need it to be dropped */
    cr_assert_eq(sqlite3_exec(raw,
                              BACK_TO_SCHEMA_10
                              "DROP TRIGGER documents_ai; DROP TRIGGER documents_ad;"
                              "DROP TRIGGER documents_au; DROP TABLE doc_vocab; DROP TABLE doc_fts;"
                              "ALTER TABLE documents DROP COLUMN about; PRAGMA user_version = 8",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(raw));
    sqlite3_close(raw);
    st = store_open(sdir, STORE_READONLY);
    cr_assert_null(st);
    cr_assert(strstr(dq_last_error(), "needs upgrading"), "%s", dq_last_error());
    st = store_open(sdir, 0);
    cr_assert_not_null(st, "%s", dq_last_error());
    cr_assert_eq(query_int(st, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    cr_assert_eq(docs_for(st, "acme AND 2018"), 1);
    cr_assert_eq(docs_for(st, "alpha"), 1); /* its title */
    cr_assert_eq(docs_for(st, "page"), 0); /* a short document is about its names only */
    cr_assert_eq(hits_for(st, "alpha"), 5);
    /* the triggers keep it in step from then on */
    put_tagged(st, "borealis-2019.txt", "beta");
    cr_assert_eq(docs_for(st, "borealis"), 1);
    cr_assert_eq(sqlite3_exec(store_db(st), "INSERT INTO doc_fts(doc_fts) VALUES('integrity-check')",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(store_db(st)));
}

/* Schema 10 weighs the section path 3 to the text's 1, in a store made new
 * and in one upgraded from 9 (its chunks untouched). */
Test(store, schema_10_weighs_the_section_path)
{
    const char *weight = "SELECT count(*) FROM fts_config WHERE k = 'rank' AND v = 'bm25(1.0, 3.0)'";
    st = open_new();
    put_tagged(st, "acme-2018.txt", "alpha");
    cr_assert_eq(query_int(st, weight), 1);
    cr_assert_eq(sqlite3_exec(store_db(st),
                              BACK_TO_SCHEMA_10
                              "INSERT INTO fts(fts, rank) VALUES('rank', 'bm25(1.0, 0.5)');"
                              "PRAGMA user_version = 9",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(store_db(st)));
    store_close(st);
    st = store_open(sdir, 0);
    cr_assert_not_null(st, "%s", dq_last_error());
    cr_assert_eq(query_int(st, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
    cr_assert_eq(query_int(st, weight), 1);
    cr_assert_eq(hits_for(st, "alpha"), 5);
}

/* Runs sql (which takes the store back to schema 10) and opens the store
 * again, which upgrades it. */
static void reopen_after(const char *sql)
{
    cr_assert_eq(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(store_db(st)));
    store_close(st);
    st = store_open(sdir, 0);
    cr_assert_not_null(st, "%s", dq_last_error());
    cr_assert_eq(query_int(st, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
}

/* Schema 11 packs a chunk's boxes into one BLOB (an upgraded store's rows
 * too, in seq order whatever order they were written in), and marking a
 * chunk no longer re-indexes it in FTS5. */
Test(store, schema_11_packs_boxes_and_marks_chunks_without_reindexing)
{
    st = open_new();
    put_tagged(st, "a.txt", "alpha");
    int64_t chunk = query_int(st, "SELECT id FROM chunks WHERE ordinal = 1");
    char back[1024];
    snprintf(back, sizeof back,
             BACK_TO_SCHEMA_10
             "INSERT INTO chunk_boxes VALUES (%lld, 1, 2, 72, 90, 300, 102.5),"
             "  (%lld, 0, 1, 72, 100, 500, 112);"
             "PRAGMA user_version = 10",
             (long long)chunk, (long long)chunk);
    reopen_after(back);
    store_box *got;
    size_t n;
    cr_assert_eq(store_get_chunk_boxes(st, chunk, 0, &got, &n), 0, "%s", dq_last_error());
    cr_assert_eq(n, 2);
    cr_expect(got[0].page == 1 && got[0].x0 == 72 && got[0].y0 == 100 && got[0].x1 == 500 &&
              got[0].y1 == 112);
    cr_expect(got[1].page == 2 && got[1].y1 == 102.5f);
    free(got);

    int64_t segments = query_int(st, "SELECT count(*) FROM fts_data");
    cr_assert_eq(sqlite3_exec(store_db(st), "UPDATE chunks SET is_table = 1, ocr = 1", NULL, NULL,
                              NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(store_db(st)));
    cr_expect_eq(query_int(st, "SELECT count(*) FROM fts_data"), segments);
    cr_assert_eq(sqlite3_exec(store_db(st), "UPDATE chunks SET text = 'gamma' WHERE ordinal = 0",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(store_db(st)));
    cr_expect_eq(hits_for(st, "gamma"), 1, "a change of text still re-indexes");
    cr_expect_eq(hits_for(st, "alpha"), 4);
    cr_assert_eq(sqlite3_exec(store_db(st), "INSERT INTO fts(fts) VALUES('integrity-check')",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(store_db(st)));
}

/* A schema 10 store with box rows whose chunk is gone (left by an edit from
 * outside docqa) still upgrades, without them: copied, they would fail the
 * foreign key of schema 11's table, and the store would never open again. */
Test(store, schema_11_upgrade_drops_boxes_of_missing_chunks)
{
    st = open_new();
    put_tagged(st, "a.txt", "alpha");
    int64_t chunk = query_int(st, "SELECT id FROM chunks WHERE ordinal = 1");
    char back[1024];
    snprintf(back, sizeof back,
             BACK_TO_SCHEMA_10 "PRAGMA foreign_keys = OFF;"
             "INSERT INTO chunk_boxes VALUES (%lld, 0, 1, 72, 100, 500, 112),"
             "  (%lld, 0, 1, 1, 2, 3, 4);"
             "PRAGMA user_version = 10",
             (long long)chunk, (long long)chunk + 1000);
    reopen_after(back);
    cr_expect_eq(query_int(st, "SELECT count(*) FROM chunk_boxes"), 1);
    store_box *got;
    size_t n;
    cr_assert_eq(store_get_chunk_boxes(st, chunk, 0, &got, &n), 0, "%s", dq_last_error());
    cr_expect_eq(n, 1);
    free(got);
}

/* docqa_staged_chunks reads only the array a store call binds as a pointer:
 * SQL that names it with anything else gets no rows, and without the
 * argument no plan at all. */
Test(store, staged_chunks_are_only_the_bound_array)
{
    st = open_new();
    cr_expect_eq(query_int(st, "SELECT count(*) FROM docqa_staged_chunks(1)"), 0);
    cr_expect_eq(query_int(st, "SELECT count(*) FROM docqa_staged_chunks(NULL)"), 0);
    sqlite3_stmt *q = NULL;
    cr_expect_neq(sqlite3_prepare_v2(store_db(st), "SELECT count(*) FROM docqa_staged_chunks", -1,
                                     &q, NULL),
                  SQLITE_OK);
    sqlite3_finalize(q);
    store_chunk_in in[2] = {{.text = "first", .section = "s", .page_start = 1, .page_end = 1},
                            {.text = "second", .page_start = 2, .page_end = 3, .ordinal = 1}};
    staged_chunks staged = {in, 2};
    cr_assert_eq(sqlite3_prepare_v2(store_db(st),
                                    "SELECT group_concat(ordinal || ':' || text || ':' || section ||"
                                    " ':' || page_end || ':' || (boxes IS NULL), ',')"
                                    " FROM docqa_staged_chunks(?1)",
                                    -1, &q, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(store_db(st)));
    sqlite3_bind_pointer(q, 1, &staged, STAGED_POINTER_TYPE, NULL);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_expect_str_eq((const char *)sqlite3_column_text(q, 0), "0:first:s:1:1,1:second::3:1");
    sqlite3_finalize(q);
}

static int mode_of(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", sdir, name);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s", path);
    return (int)(sb.st_mode & 0777);
}

Test(store, the_store_files_are_owner_only)
{
    mode_t old = umask(022);
    st = open_new();
    cr_assert_eq(store_lock(st, false), 0, "%s", dq_last_error());
    put_tagged(st, "a.txt", "alpha");
    umask(old);
    cr_expect_eq(mode_of(STORE_DBNAME), STORE_FILE_MODE, "%o", mode_of(STORE_DBNAME));
    cr_expect_eq(mode_of(STORE_DBNAME "-wal"), STORE_FILE_MODE, "%o", mode_of(STORE_DBNAME "-wal"));
    cr_expect_eq(mode_of(STORE_LOCKNAME), STORE_FILE_MODE, "%o", mode_of(STORE_LOCKNAME));
}

Test(store, open_missing_without_create_fails)
{
    cr_assert_null(store_open(sdir, 0));
    cr_assert(strstr(dq_last_error(), "cannot open store"), "%s", dq_last_error());
    cr_assert_eq(mkdir(sdir, 0755), 0);
    cr_assert_null(store_open(sdir, 0));
    cr_assert(strstr(dq_last_error(), "docqa ingest"), "%s", dq_last_error());
}

Test(store, refuses_newer_schema)
{
    st = open_new();
    store_close(st);
    st = NULL;
    char db[192];
    snprintf(db, sizeof db, "%s/" STORE_DBNAME, sdir);
    sqlite3 *raw;
    cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(raw, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    cr_assert_null(store_open(sdir, 0));
    cr_assert(strstr(dq_last_error(), "store was made by a newer docqa (schema 99"), "%s",
              dq_last_error());
}

Test(store, refuses_foreign_sqlite_file)
{
    cr_assert_eq(mkdir(sdir, 0755), 0);
    char db[192];
    snprintf(db, sizeof db, "%s/" STORE_DBNAME, sdir);
    sqlite3 *raw;
    cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(raw, "CREATE TABLE t(x); INSERT INTO t VALUES(1)", NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(raw);
    cr_assert_null(store_open(sdir, STORE_CREATE));
    cr_assert(strstr(dq_last_error(), "is not a docqa database"), "%s", dq_last_error());
}

Test(store, refuses_non_sqlite_file)
{
    cr_assert_eq(mkdir(sdir, 0755), 0);
    char db[192];
    snprintf(db, sizeof db, "%s/" STORE_DBNAME, sdir);
    const char junk[] = "this is not a database, just some text long enough to have a header";
    cr_assert_eq(dq_write_file_atomic(db, junk, sizeof junk), 0);
    cr_assert_null(store_open(sdir, 0));
    cr_assert(strstr(dq_last_error(), "cannot open store"), "%s", dq_last_error());
}

Test(store, find_walks_up_and_honours_env)
{
    cr_assert_eq(mkdir(sdir, 0755), 0);
    char nested[192];
    snprintf(nested, sizeof nested, "%s/a/b/c", tmpdir);
    cr_assert_eq(dq_mkdirs(nested), 0);
    char *found = store_find(nested);
    cr_assert_not_null(found, "%s", dq_last_error());
    cr_assert_str_eq(found, sdir);
    free(found);

    cr_assert_eq(chdir(nested), 0);
    found = store_find(NULL);
    cr_assert_not_null(found);
    cr_assert_str_eq(found, sdir);
    free(found);

    setenv("DOCQA_STORE", "/somewhere/else/store", 1);
    found = store_find(nested);
    cr_assert_str_eq(found, "/somewhere/else/store");
    free(found);
    unsetenv("DOCQA_STORE");

    /* with no .docqa anywhere above (unless the machine has one in / or /tmp) */
    if (access("/.docqa", F_OK) != 0 && access("/tmp/.docqa", F_OK) != 0) {
        char bare[192];
        snprintf(bare, sizeof bare, "%s/a", tmpdir);
        cr_assert_eq(rmdir(sdir), 0);
        cr_assert_null(store_find(bare));
        cr_assert(strstr(dq_last_error(), "not a docqa store"), "%s", dq_last_error());
    }
}

/* ---- files and documents ------------------------------------------------ */

Test(store, put_document_counts)
{
    st = open_new();
    put_tagged(st, "docs/a.txt", "alpha");
    store_stats ss = stats_of(st);
    cr_assert_eq(ss.files, 1);
    cr_assert_eq(ss.failed, 0);
    cr_assert_eq(ss.documents, 1);
    cr_assert_eq(ss.pages, 3);
    cr_assert_eq(ss.chunks, 5);
    cr_assert_eq(ss.vectors, 0);
    cr_assert_gt(ss.db_bytes, 0);

    store_file f;
    cr_assert_eq(store_get_file(st, "docs/a.txt", &f), 1);
    cr_assert_str_eq(f.path, "docs/a.txt");
    cr_assert_str_eq(f.status, "ok");
    cr_assert_null(f.error);
    cr_assert_eq(f.size, 100);
    cr_assert_eq(f.mtime, 1700000000);
    cr_assert_gt(f.doc_id, 0);
    char hex[65];
    sha_of("alpha", hex);
    cr_assert_str_eq(f.sha256, hex);
    store_file_free(&f);
    cr_assert_eq(store_has_document(st, hex), 1);
    sha_of("beta", hex);
    cr_assert_eq(store_has_document(st, hex), 0);
    cr_assert_eq(store_get_file(st, "nope.txt", &f), 0);

    store_hits h;
    cr_assert_eq(store_search_fts(st, "alpha", 10, &h), 0);
    cr_assert_eq(h.n, 5);
    cr_assert_str_eq(h.items[0].path, "docs/a.txt");
    cr_assert_str_eq(h.items[0].title, "alpha");
    store_hits_free(&h);
}

Test(store, same_content_shares_one_document)
{
    st = open_new();
    put_tagged(st, "a.txt", "alpha");
    put_tagged(st, "a.txt", "alpha");
    store_stats ss = stats_of(st);
    cr_assert_eq(ss.files, 1);
    cr_assert_eq(ss.documents, 1);
    cr_assert_eq(ss.chunks, 5);

    put_tagged(st, "copy/b.txt", "alpha");
    ss = stats_of(st);
    cr_assert_eq(ss.files, 2);
    cr_assert_eq(ss.documents, 1);
    cr_assert_eq(ss.chunks, 5);
    store_file a, b;
    cr_assert_eq(store_get_file(st, "a.txt", &a), 1);
    cr_assert_eq(store_get_file(st, "copy/b.txt", &b), 1);
    cr_assert_eq(a.doc_id, b.doc_id);
    store_file_free(&a);
    store_file_free(&b);
    /* the smallest path names the document */
    store_hits h;
    cr_assert_eq(store_search_fts(st, "alpha", 1, &h), 0);
    cr_assert_str_eq(h.items[0].path, "a.txt");
    store_hits_free(&h);

    /* changing one copy keeps the shared document for the other */
    put_tagged(st, "a.txt", "gamma");
    ss = stats_of(st);
    cr_assert_eq(ss.documents, 2);
    cr_assert_eq(ss.chunks, 10);
    cr_assert_eq(store_search_fts(st, "alpha", 1, &h), 0);
    cr_assert_str_eq(h.items[0].path, "copy/b.txt");
    store_hits_free(&h);
    assert_fts_ok(st);
}

Test(store, changed_content_replaces_document)
{
    st = open_new();
    put_tagged(st, "a.txt", "alpha");
    cr_assert_eq(hits_for(st, "alpha"), 5);
    put_tagged(st, "a.txt", "beta");
    store_stats ss = stats_of(st);
    cr_assert_eq(ss.files, 1);
    cr_assert_eq(ss.documents, 1);
    cr_assert_eq(ss.pages, 3);
    cr_assert_eq(ss.chunks, 5);
    cr_assert_eq(hits_for(st, "alpha"), 0);
    cr_assert_eq(hits_for(st, "beta"), 5);
    char hex[65];
    sha_of("alpha", hex);
    cr_assert_eq(store_has_document(st, hex), 0);
    cr_assert_eq(query_int(st, "SELECT count(*) FROM pages WHERE doc_id NOT IN "
                               "(SELECT id FROM documents)"),
                 0);
    assert_fts_ok(st);
}

Test(store, rollback_discards_document)
{
    st = open_new();
    char hex[65];
    sha_of("alpha", hex);
    store_chunk_in c = {.text = "alpha text",
                        .section = "",
                        .page_start = 1,
                        .page_end = 1,
                        .ordinal = 0,
                        .label = NULL};
    store_doc_info info = {hex, "txt", NULL, 0};
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_put_document(st, "a.txt", 1, 1, &info, NULL, &c, 1), 0);
    cr_assert_eq(store_rollback(st), 0);
    cr_assert_eq(stats_of(st).documents, 0);
    cr_assert_eq(hits_for(st, "alpha"), 0);
    /* no hash is an error, and leaves nothing */
    info.sha256 = NULL;
    cr_assert_eq(store_put_document(st, "a.txt", 1, 1, &info, NULL, &c, 1), -1);
    cr_assert_eq(stats_of(st).files, 0);
}

Test(store, chunk_label_round_trip)
{
    st = open_new();
    char hex[65];
    sha_of("deck", hex);
    store_chunk_in c[2] = {
        {.text = "pricing table steel",
         .section = "Pricing",
         .page_start = 2,
         .page_end = 2,
         .ordinal = 0,
         .label = "slide 2"},
        {.text = "paged text", .section = "", .page_start = 1, .page_end = 1, .ordinal = 1}};
    store_doc_info info = {hex, "pptx", NULL, 2};
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_put_document(st, "deck.pptx", 1, 1, &info, NULL, c, 2), 0);
    cr_assert_eq(store_commit(st), 0);
    store_hits h;
    cr_assert_eq(store_search_fts(st, "steel", 5, &h), 0);
    cr_assert_eq(h.n, 1);
    cr_expect_str_eq(h.items[0].label, "slide 2");
    store_hit one;
    cr_assert_eq(store_get_chunk(st, h.items[0].chunk_id + 1, &one), 1);
    cr_expect_str_eq(one.label, "");
    store_hit_free(&one);
    store_hits_free(&h);
}

typedef struct {
    int n;
    char paths[8][32];
    char status[8][8];
    char error[8][64];
} file_list;

static int collect(void *ctx, const store_file *f)
{
    file_list *l = ctx;
    cr_assert_lt(l->n, 8);
    snprintf(l->paths[l->n], 32, "%s", f->path);
    snprintf(l->status[l->n], 8, "%s", f->status);
    snprintf(l->error[l->n], 64, "%s", f->error ? f->error : "");
    l->n++;
    return 0;
}

static int stop_at_first(void *ctx, const store_file *f)
{
    (void)f;
    (*(int *)ctx)++;
    return 7;
}

Test(store, failure_is_recorded_and_listed)
{
    st = open_new();
    put_tagged(st, "b.pdf", "alpha");
    put_tagged(st, "a.txt", "beta");
    cr_assert_eq(store_put_failure(st, "b.pdf", 5, 6, "file is encrypted"), 0, "%s",
                 dq_last_error());
    cr_assert_eq(store_put_failure(st, "c.epub", 7, 8, "not a zip archive"), 0);
    store_stats ss = stats_of(st);
    cr_assert_eq(ss.files, 3);
    cr_assert_eq(ss.failed, 2);
    cr_assert_eq(ss.documents, 1);
    cr_assert_eq(ss.chunks, 5);
    cr_assert_eq(hits_for(st, "alpha"), 0);

    store_file f;
    cr_assert_eq(store_get_file(st, "b.pdf", &f), 1);
    cr_assert_str_eq(f.status, "failed");
    cr_assert_str_eq(f.error, "file is encrypted");
    cr_assert_eq(f.doc_id, 0);
    cr_assert_null(f.sha256);
    cr_assert_eq(f.size, 5);
    store_file_free(&f);

    file_list l = {0};
    cr_assert_eq(store_each_file(st, collect, &l), 0);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.paths[0], "a.txt");
    cr_assert_str_eq(l.status[0], "ok");
    cr_assert_str_eq(l.paths[1], "b.pdf");
    cr_assert_str_eq(l.status[1], "failed");
    cr_assert_str_eq(l.error[1], "file is encrypted");
    cr_assert_str_eq(l.paths[2], "c.epub");
    cr_assert_str_eq(l.error[2], "not a zip archive");

    int calls = 0;
    cr_assert_eq(store_each_file(st, stop_at_first, &calls), 7);
    cr_assert_eq(calls, 1);

    /* a fixed file comes back */
    put_tagged(st, "b.pdf", "alpha");
    ss = stats_of(st);
    cr_assert_eq(ss.failed, 1);
    cr_assert_eq(hits_for(st, "alpha"), 5);
}

Test(store, remove_file)
{
    st = open_new();
    put_tagged(st, "a.txt", "alpha");
    put_tagged(st, "b.txt", "alpha");
    put_tagged(st, "c.txt", "beta");
    cr_assert_eq(store_remove_file(st, "a.txt"), 0);
    store_stats ss = stats_of(st);
    cr_assert_eq(ss.files, 2);
    cr_assert_eq(ss.documents, 2);
    cr_assert_eq(store_remove_file(st, "b.txt"), 0);
    ss = stats_of(st);
    cr_assert_eq(ss.files, 1);
    cr_assert_eq(ss.documents, 1);
    cr_assert_eq(ss.chunks, 5);
    cr_assert_eq(hits_for(st, "alpha"), 0);
    cr_assert_eq(store_remove_file(st, "missing.txt"), 0);
    assert_fts_ok(st);
}

Test(store, meta_get_set)
{
    st = open_new();
    char *v = (char *)"x";
    cr_assert_eq(store_get_meta(st, "embed.model", &v), 0);
    cr_assert_null(v);
    cr_assert_eq(store_set_meta(st, "embed.model", "bert:abc"), 0);
    cr_assert_eq(store_set_meta(st, "split.chunk_cjk", "400"), 0);
    cr_assert_eq(store_get_meta(st, "embed.model", &v), 1);
    cr_assert_str_eq(v, "bert:abc");
    free(v);
    cr_assert_eq(store_set_meta(st, "embed.model", "bert:def"), 0);
    store_close(st);
    st = store_open(sdir, 0);
    cr_assert_eq(store_get_meta(st, "embed.model", &v), 1);
    cr_assert_str_eq(v, "bert:def");
    free(v);
    cr_assert_eq(store_get_meta(st, "split.chunk_cjk", &v), 1);
    cr_assert_str_eq(v, "400");
    free(v);
}

/* ---- vectors ------------------------------------------------------------ */

static int collect_ids(void *ctx, int64_t id, const char *text)
{
    int64_t *ids = ctx;
    cr_assert_not_null(strstr(text, "chunk"));
    ids[++ids[0]] = id;
    return 0;
}

Test(store, vectors)
{
    st = open_new();
    put_tagged(st, "a.txt", "alpha");
    int64_t first = query_int(st, "SELECT min(id) FROM chunks");
    float v[4] = {0.5f, -1.25f, 3.0f, 1e-3f};
    const char *A = "bert:cfg:w:mean:4", *B = "http:u:m";
    cr_assert_eq(store_put_vector(st, first, A, v, 4), 0, "%s", dq_last_error());
    cr_assert_eq(store_put_vector(st, first + 1, A, v, 4), 0);

    float got[4] = {0};
    int dim = 4;
    cr_assert_eq(store_get_vector(st, first, A, got, &dim), 1);
    cr_assert_eq(dim, 4);
    cr_assert_eq(memcmp(got, v, sizeof v), 0);
    dim = 0;
    cr_assert_eq(store_get_vector(st, first, A, NULL, &dim), 1);
    cr_assert_eq(dim, 4);
    dim = 2;
    cr_assert_eq(store_get_vector(st, first, A, got, &dim), -1);
    cr_assert_eq(store_get_vector(st, first, B, got, &dim), 0);
    cr_assert_eq(store_get_vector(st, first + 2, A, got, &dim), 0);
    cr_assert_eq(store_put_vector(st, 999999, A, v, 4), -1);
    cr_assert_eq(store_put_vector(st, first, A, v, 0), -1);

    int64_t ids[8] = {0};
    cr_assert_eq(store_each_chunk_missing_vector(st, A, 0, 0, collect_ids, ids), 0);
    cr_assert_eq(ids[0], 3);
    cr_assert_eq(ids[1], first + 2);
    cr_assert_eq(ids[3], first + 4);
    memset(ids, 0, sizeof ids);
    cr_assert_eq(store_each_chunk_missing_vector(st, B, 0, 0, collect_ids, ids), 0);
    cr_assert_eq(ids[0], 5);
    int64_t all_b[8];
    memcpy(all_b, ids, sizeof ids);
    /* The ones after an id, a few at a time. */
    memset(ids, 0, sizeof ids);
    cr_assert_eq(store_each_chunk_missing_vector(st, B, all_b[2], 2, collect_ids, ids), 0);
    cr_assert_eq(ids[0], 2);
    cr_expect_eq(ids[1], all_b[3]);
    cr_expect_eq(ids[2], all_b[4]);
    int64_t last = 0;
    cr_assert_eq(store_last_chunk_id(st, &last), 0);
    cr_expect_eq(last, all_b[5]);
    cr_assert_eq(stats_of(st).vectors, 2);

    /* another model's vector replaces this chunk's; prune keeps only B */
    cr_assert_eq(store_put_vector(st, first, B, v, 3), 0);
    cr_assert_eq(store_prune_vectors(st, B), 0);
    cr_assert_eq(stats_of(st).vectors, 1);
    dim = 4;
    cr_assert_eq(store_get_vector(st, first, B, got, &dim), 1);
    cr_assert_eq(dim, 3);

    /* deleting the document takes its vectors with it */
    cr_assert_eq(store_remove_file(st, "a.txt"), 0);
    cr_assert_eq(stats_of(st).vectors, 0);
}

/* ---- speed -------------------------------------------------------------- */

Test(store, insert_1000_chunks_is_fast)
{
    st = open_new();
    enum { N = 1000 };
    static char texts[N][160];
    static store_chunk_in chunks[N];
    for (int i = 0; i < N; i++) {
        snprintf(texts[i], sizeof texts[i],
                 "第%d条 本合同自签订之日起生效，违约金为合同总额的百分之五。Clause %d: the warranty "
                 "period is %d months.",
                 i, i, i % 36);
        chunks[i] = (store_chunk_in){.text = texts[i],
                                     .section = "",
                                     .page_start = i / 4 + 1,
                                     .page_end = i / 4 + 1,
                                     .ordinal = i,
                                     .label = NULL};
    }
    char hex[65];
    sha_of("big", hex);
    store_doc_info info = {hex, "txt", NULL, 0};
    double t0 = dq_now();
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_put_document(st, "big.txt", 1, 1, &info, NULL, chunks, N), 0);
    cr_assert_eq(store_commit(st), 0);
    double dt = dq_now() - t0;
    cr_log_info("1000 chunks inserted in %.1f ms", dt * 1000);
    cr_assert_lt(dt, 10.0);
    cr_assert_eq(stats_of(st).chunks, N);
    cr_assert_eq(hits_for(st, "违约金"), 50);
}

/* ---- kill -9 ------------------------------------------------------------ */

enum { KILL_CHUNKS = 50 };

/* Ingests documents forever: new paths, and rewrites of a few old paths so
 * that replacing (deleting) a document is also interrupted. */
static void ingest_forever(const char *dir, int round)
{
    store *s = store_open(dir, STORE_CREATE);
    if (!s)
        _exit(3);
    static char texts[KILL_CHUNKS][96];
    store_chunk_in chunks[KILL_CHUNKS];
    for (int i = 0;; i++) {
        char tag[64], path[64], hex[65];
        snprintf(tag, sizeof tag, "round%d doc%d", round, i);
        if (i % 3 == 2)
            snprintf(path, sizeof path, "shared-%d.txt", i % 5);
        else
            snprintf(path, sizeof path, "r%d-%d.txt", round, i);
        sha_of(tag, hex);
        for (int c = 0; c < KILL_CHUNKS; c++) {
            snprintf(texts[c], sizeof texts[c], "%s 合同 chunk %d of fifty", tag, c);
            chunks[c] = (store_chunk_in){.text = texts[c],
                                         .section = "节",
                                         .page_start = c / 10 + 1,
                                         .page_end = c / 10 + 1,
                                         .ordinal = c,
                                         .label = NULL};
        }
        store_doc_info info = {hex, "txt", tag, 0};
        if (store_begin(s) < 0 ||
            store_put_document(s, path, 1, 1, &info, NULL, chunks, KILL_CHUNKS) < 0 ||
            store_commit(s) < 0)
            _exit(4);
    }
}

static void wait_for_a_document(void)
{
    for (int tries = 0; tries < 1000; tries++) {
        usleep(20000);
        store *s = store_open(sdir, STORE_READONLY);
        if (!s)
            continue;
        store_stats ss;
        int rc = store_get_stats(s, &ss);
        store_close(s);
        if (rc == 0 && ss.documents > 0)
            return;
    }
}

Test(store, survives_kill_9, .timeout = 120)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int64_t docs = 0;
    for (int round = 0; round < 4; round++) {
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0)
            ingest_forever(sdir, round);
        /* On a loaded machine the child may not commit anything before the
         * kill; make sure the last round at least finds something to check. */
        if (round == 3 && docs == 0)
            wait_for_a_document();
        usleep(50000 + (useconds_t)(rand() % 250000));
        kill(pid, SIGKILL);
        int wst;
        cr_assert_eq(waitpid(pid, &wst, 0), pid);
        cr_assert(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL,
                  "child ended before the kill (status %d)", wst);

        store *s = store_open(sdir, 0);
        cr_assert_not_null(s, "reopen after kill: %s", dq_last_error());
        sqlite3_stmt *q;
        sqlite3_prepare_v2(store_db(s), "PRAGMA integrity_check", -1, &q, NULL);
        cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
        cr_assert_str_eq((const char *)sqlite3_column_text(q, 0), "ok");
        sqlite3_finalize(q);
        assert_fts_ok(s);
        cr_assert_eq(query_int(s, "SELECT count(*) FROM documents d WHERE"
                                  " (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id) <> 50"),
                     0, "a document with a partial set of chunks");
        cr_assert_eq(query_int(s, "SELECT count(*) FROM chunks WHERE doc_id NOT IN"
                                  " (SELECT id FROM documents)"),
                     0);
        cr_assert_eq(query_int(s, "SELECT count(*) FROM documents WHERE id NOT IN"
                                  " (SELECT doc_id FROM files WHERE doc_id IS NOT NULL)"),
                     0, "an orphaned document");
        cr_assert_eq(query_int(s, "SELECT count(*) FROM files WHERE doc_id IS NULL"), 0);
        store_stats ss = stats_of(s);
        cr_assert_eq(ss.chunks, ss.documents * 50);
        docs = ss.documents;
        cr_assert_eq(hits_for(s, "合同") <= 50, 1);
        store_close(s);
    }
    cr_log_info("%lld documents survived", (long long)docs);
    cr_assert_gt(docs, 0, "no document was ever committed: kill came too early");
}

/* ---- chunk boxes and documents by id ------------------------------------- */

Test(store, chunk_boxes_and_documents_by_id)
{
    st = open_new();
    store_box boxes[] = {{1, 72, 100, 500, 112}, {1, 72, 116, 480, 128}, {2, 72, 90, 300, 102.5f}};
    put_tagged_boxes(st, "b.txt", "alpha", boxes, 3);
    put_tagged(st, "a.txt", "alpha");
    int64_t chunk = query_int(st, "SELECT c.id FROM chunks c WHERE c.ordinal = 1");
    int64_t doc = query_int(st, "SELECT id FROM documents");

    store_box *got;
    size_t n;
    cr_assert_eq(store_get_chunk_boxes(st, chunk, 0, &got, &n), 0);
    cr_assert_eq(n, 3);
    cr_expect(got[1].page == 1 && got[1].x0 == 72 && got[1].y0 == 116 && got[1].x1 == 480 &&
              got[1].y1 == 128);
    free(got);
    cr_assert_eq(store_get_chunk_boxes(st, chunk, 2, &got, &n), 0);
    cr_assert_eq(n, 1);
    cr_expect(got[0].page == 2 && got[0].x0 == 72 && got[0].y0 == 90 && got[0].x1 == 300 &&
              got[0].y1 == 102.5f);
    free(got);
    cr_assert_eq(store_get_chunk_boxes(st, chunk + 1, 0, &got, &n), 0);
    cr_expect_eq(n, 0);
    free(got);

    store_document d;
    cr_assert_eq(store_get_document(st, doc, &d), 1);
    cr_expect_str_eq(d.path, "a.txt", "the first path by name");
    cr_expect_str_eq(d.format, "txt");
    cr_expect_str_eq(d.title, "alpha");
    cr_expect_eq(d.n_pages, 3);
    store_document_free(&d);
    cr_assert_eq(store_get_document(st, doc + 7, &d), 0);
    store_document_free(&d);

    /* a BLOB that is not whole boxes is an error, not a shifted box */
    char torn[128];
    snprintf(torn, sizeof torn, "UPDATE chunk_boxes SET boxes = zeroblob(27) WHERE chunk_id = %lld",
             (long long)chunk);
    cr_assert_eq(sqlite3_exec(store_db(st), torn, NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(store_get_chunk_boxes(st, chunk, 0, &got, &n), -1);
    cr_expect_null(got);
    cr_expect_eq(n, 0);
    cr_expect(strstr(dq_last_error(), "corrupt"), "%s", dq_last_error());

    /* boxes go with their document */
    cr_assert_eq(store_remove_file(st, "a.txt"), 0);
    cr_assert_eq(store_remove_file(st, "b.txt"), 0);
    cr_expect_eq(query_int(st, "SELECT count(*) FROM chunk_boxes"), 0);
}
