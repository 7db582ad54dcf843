/* test_reindex.c - `docqa reindex` end to end: a folder is ingested, files are
 * added, edited, renamed, deleted and replaced, and the store must hold
 * exactly what the folder holds (files, documents, chunks, FTS hits, vector
 * ids), with renames re-embedding nothing. Also: the writer lock, kill -9 at
 * random moments (50 runs), and readers searching during two racing
 * reindexes.
 *
 * Embeddings come from a loopback HTTP endpoint that counts the texts it is
 * asked to embed, so "nothing re-embedded" is a number, not a hope.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "index/store_impl.h"
#include "support/httpd.h"
#include "support/spawn.h"
#include "support/tmpdir.h"

static char workdir[256];

static const char *docqa_bin(void)
{
    const char *b = getenv("DOCQA_BIN");
    return b && *b ? b : DQ_BINARY_DIR "/docqa";
}

/* ---- running docqa ------------------------------------------------------ */

typedef struct {
    int status; /* exit code, or 128 + signal */
    char *out, *err;
} result;

static void result_free(result *r)
{
    free(r->out);
    free(r->err);
}

static char *slurp(const char *path)
{
    dq_buf b = DQ_BUF_INIT;
    dq_read_file(path, &b);
    return dq_buf_take(&b);
}

/* Starts docqa with args (NULL-terminated) in workdir; its stdout and stderr
 * go to workdir/.<tag>.out and .err. */
static pid_t spawn(const char *tag, const char *const *args)
{
    char out[320], err[320];
    snprintf(out, sizeof out, "%s/.%s.out", workdir, tag);
    snprintf(err, sizeof err, "%s/.%s.err", workdir, tag);
    pid_t pid = spawn_docqa(docqa_bin(), workdir, out, err, args);
    cr_assert(pid >= 0);
    return pid;
}

/* spawn() for a process the test will kill -9: under ASan, without leak
 * checking, since a kill that lands while LeakSanitizer checks at exit
 * leaves its tracer reporting "unable to get registers", which fails the
 * sanitizer build although nothing leaked. */
static pid_t spawn_to_kill(const char *tag, const char *const *args)
{
    const char *was = getenv("ASAN_OPTIONS");
    char *saved = was ? dq_strdup(was) : NULL;
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", saved ? saved : "", saved ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    pid_t pid = spawn(tag, args);
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);
    return pid;
}

static result finish(const char *tag, pid_t pid)
{
    result r;
    r.status = spawn_wait(pid);
    char path[320];
    snprintf(path, sizeof path, "%s/.%s.out", workdir, tag);
    r.out = slurp(path);
    snprintf(path, sizeof path, "%s/.%s.err", workdir, tag);
    r.err = slurp(path);
    return r;
}

#define DOCQA(...) finish("run", spawn("run", (const char *const[]){__VA_ARGS__, NULL}))

/* ---- the folder --------------------------------------------------------- */

static void wpath(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", workdir, name);
}

static void write_file(const char *name, const char *text)
{
    cr_assert_eq(tmpdir_write_file(workdir, name, text), 0, "cannot write %s", name);
}

static void move_file(const char *from, const char *to)
{
    char a[512], b[512];
    wpath(a, sizeof a, from);
    wpath(b, sizeof b, to);
    char *slash = strrchr(b, '/');
    *slash = '\0';
    dq_mkdirs(b);
    *slash = '/';
    cr_assert_eq(rename(a, b), 0, "rename %s: %s", a, strerror(errno));
}

static void remove_file(const char *name)
{
    char p[512];
    wpath(p, sizeof p, name);
    cr_assert_eq(unlink(p), 0, "unlink %s: %s", p, strerror(errno));
}

static void set_mtime(const char *name, time_t t)
{
    char p[512];
    wpath(p, sizeof p, name);
    struct timeval tv[2] = {{t, 0}, {t, 0}};
    cr_assert_eq(utimes(p, tv), 0);
}

/* ---- the embeddings endpoint, counting ---------------------------------- */

typedef struct {
    int texts;    /* texts embedded so far (atomic) */
    int delay_ms; /* answer this late (atomic), to hold a reindex in flight */
} embed_counter;

static void counting_embeddings(void *ctx, const httpd_request *req, httpd_response *resp)
{
    embed_counter *c = ctx;
    /* Input is {"input":[...]}: count the strings without a JSON parser. */
    int n = 0;
    const char *in = strstr(req->body, "\"input\"");
    for (const char *p = in ? strchr(in, '[') : NULL; p && *p && *p != ']'; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"') {
            n++;
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\')
                    p++;
        }
    }
    /* embedder_dim() asks an endpoint its dimension with one probe text */
    bool probe = n == 1 && strstr(req->body, "\"dimension probe\"");
    __atomic_add_fetch(&c->texts, probe ? 0 : n, __ATOMIC_SEQ_CST);
    resp->delay_ms = __atomic_load_n(&c->delay_ms, __ATOMIC_SEQ_CST);
    dq_buf_puts(&resp->body, "{\"data\":[");
    for (int i = 0; i < n; i++)
        dq_buf_printf(&resp->body, "%s{\"index\":%d,\"embedding\":[%d,1,0]}", i ? "," : "", i,
                      i + 1);
    dq_buf_puts(&resp->body, "]}");
}

static embed_counter counter;
static httpd *server;

static int embedded(void)
{
    return __atomic_load_n(&counter.texts, __ATOMIC_SEQ_CST);
}

static void use_endpoint(const char *remote_model)
{
    char cfg[256];
    snprintf(cfg, sizeof cfg, "[embed]\nurl = %s/v1\nremote_model = %s\n", httpd_url(server),
             remote_model);
    write_file(".docqa/config", cfg);
}

static void setup(void)
{
    snprintf(workdir, sizeof workdir, "/tmp/docqa-reindex-XXXXXX");
    cr_assert(mkdtemp(workdir));
    memset(&counter, 0, sizeof counter);
    server = httpd_start(counting_embeddings, &counter);
    cr_assert(server);
}

static void teardown(void)
{
    httpd_stop(server);
    cr_expect_eq(tmpdir_remove(workdir), 0);
}

/* ---- reading the store -------------------------------------------------- */

static store *open_store(void)
{
    char dir[300];
    wpath(dir, sizeof dir, ".docqa");
    store *st = store_open(dir, 0);
    cr_assert(st, "%s", dq_last_error());
    return st;
}

static int64_t q_int(store *st, const char *sql)
{
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(store_db(st), sql, -1, &s, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(store_db(st)));
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", sql);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* Every row's first column, each followed by "\n". Caller frees. */
static char *q_rows(store *st, const char *sql)
{
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(store_db(st), sql, -1, &s, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(store_db(st)));
    dq_buf b = DQ_BUF_INIT;
    dq_buf_puts(&b, "");
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        dq_buf_printf(&b, "%s\n", t ? t : "NULL");
    }
    cr_assert_eq(rc, SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(store_db(st)));
    sqlite3_finalize(s);
    return dq_buf_take(&b);
}

#define EXPECT_ROWS(st, sql, want)                                                            \
    do {                                                                                      \
        char *got_ = q_rows((st), (sql));                                                     \
        cr_expect_str_eq(got_, (want), "%s", (sql));                                          \
        free(got_);                                                                           \
    } while (0)

/* The paths of the files whose chunks match an FTS query, "\n" after each. */
static char *fts_paths(store *st, const char *match)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT f.path FROM fts JOIN chunks c ON c.id = fts.rowid"
             " JOIN files f ON f.doc_id = c.doc_id WHERE fts MATCH '%s' ORDER BY f.path",
             match);
    return q_rows(st, sql);
}

#define EXPECT_FTS(st, match, want)                                                           \
    do {                                                                                      \
        char *got_ = fts_paths((st), (match));                                                \
        cr_expect_str_eq(got_, (want), "fts '%s'", (match));                                  \
        free(got_);                                                                           \
    } while (0)

/* What a consistent store satisfies whatever moment a writer died at. */
static void check_consistent(store *st, const char *when)
{
    char *ok = q_rows(st, "PRAGMA integrity_check");
    cr_assert_str_eq(ok, "ok\n", "%s: integrity_check", when);
    free(ok);
    cr_assert_eq(sqlite3_exec(store_db(st), "INSERT INTO fts(fts) VALUES('integrity-check')",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s: fts integrity-check: %s", when, sqlite3_errmsg(store_db(st)));
    char *fk = q_rows(st, "PRAGMA foreign_key_check");
    cr_assert_str_eq(fk, "", "%s: foreign keys", when);
    free(fk);
    cr_assert_eq(q_int(st, "SELECT count(*) FROM vectors WHERE chunk_id NOT IN"
                           " (SELECT id FROM chunks)"),
                 0, "%s: vectors without chunks", when);
    cr_assert_eq(q_int(st, "SELECT count(*) FROM documents WHERE id NOT IN"
                           " (SELECT doc_id FROM files WHERE doc_id IS NOT NULL)"),
                 0, "%s: documents no file uses", when);
    cr_assert_eq(q_int(st, "SELECT count(*) FROM documents d WHERE NOT EXISTS"
                           " (SELECT 1 FROM chunks c WHERE c.doc_id = d.id)"),
                 0, "%s: documents without chunks (half written)", when);
    cr_assert_eq(q_int(st, "SELECT count(*) FROM files WHERE (status = 'ok') <>"
                           " (doc_id IS NOT NULL)"),
                 0, "%s: file rows and documents disagree", when);
}

/* The first ingest of docs/, which must succeed. */
static void ingest_docs(void)
{
    result r = DOCQA("ingest", "--quiet", "docs");
    cr_assert_eq(r.status, 0, "%s", r.err);
    result_free(&r);
}

TestSuite(reindex, .init = setup, .fini = teardown, .timeout = 240);

Test(reindex, add_edit_rename_delete_replace)
{
    use_endpoint("m1");
    write_file("docs/alpha.txt", "Alpha speaks of aardvarks.\n");
    write_file("docs/bravo.txt", "Bravo speaks of bison.\n");
    write_file("docs/charlie.md", "# Charlie\n\nCharlie speaks of camels.\n");
    write_file("docs/delta.txt", "Delta speaks of dingos.\n");
    ingest_docs();
    result r;
    cr_expect_eq(embedded(), 4);

    store *st = open_store();
    int64_t bravo_chunk = q_int(st, "SELECT c.id FROM chunks c JOIN files f ON"
                                    " f.doc_id = c.doc_id WHERE f.path = 'docs/bravo.txt'");
    store_close(st);

    /* nothing changed: nothing read, nothing embedded */
    r = DOCQA("reindex");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "reindex: 0 added, 0 changed, 0 removed, 0 renamed, 0 failed "
                            "(4 unchanged) in "),
              "%s", r.out);
    cr_expect_str_eq(r.err, "");
    result_free(&r);
    cr_expect_eq(embedded(), 4);

    write_file("docs/echo.txt", "Echo speaks of emus.\n");          /* add */
    write_file("docs/alpha.txt", "Alpha now speaks of anteaters.\n"); /* edit */
    move_file("docs/bravo.txt", "docs/sub/bravo-moved.txt");         /* rename */
    remove_file("docs/charlie.md");                                  /* delete */
    /* replaced by other bytes of the same size: the mtime tells */
    write_file("docs/delta.txt", "Delta speaks of donkey.\n");
    set_mtime("docs/delta.txt", 1700000000);
    r = DOCQA("reindex");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "reindex: 1 added, 2 changed, 1 removed, 1 renamed, 0 failed "
                            "(0 unchanged, 3 chunks embedded) in "),
              "%s", r.out);
    result_free(&r);
    cr_expect_eq(embedded(), 7, "the rename re-embedded something: %d texts", embedded());

    st = open_store();
    check_consistent(st, "after reindex");
    EXPECT_ROWS(st, "SELECT path FROM files ORDER BY path",
                "docs/alpha.txt\ndocs/delta.txt\ndocs/echo.txt\ndocs/sub/bravo-moved.txt\n");
    EXPECT_ROWS(st, "SELECT status FROM files GROUP BY status", "ok\n");
    cr_expect_eq(q_int(st, "SELECT count(*) FROM documents"), 4);
    cr_expect_eq(q_int(st, "SELECT count(*) FROM chunks"), 4);
    /* the moved file kept its chunk and vector ids */
    cr_expect_eq(q_int(st, "SELECT c.id FROM chunks c JOIN files f ON f.doc_id = c.doc_id"
                           " WHERE f.path = 'docs/sub/bravo-moved.txt'"),
                 bravo_chunk);
    char *chunk_ids = q_rows(st, "SELECT id FROM chunks ORDER BY id");
    EXPECT_ROWS(st, "SELECT chunk_id FROM vectors ORDER BY chunk_id", chunk_ids);
    free(chunk_ids);
    EXPECT_FTS(st, "aardvarks", "");
    EXPECT_FTS(st, "anteaters", "docs/alpha.txt\n");
    EXPECT_FTS(st, "bison", "docs/sub/bravo-moved.txt\n");
    EXPECT_FTS(st, "camels", "");
    EXPECT_FTS(st, "dingos", "");
    EXPECT_FTS(st, "emus", "docs/echo.txt\n");
    store_close(st);
}

Test(reindex, verify_sees_an_edit_that_kept_size_and_mtime)
{
    write_file("docs/a.txt", "The quick brown fox.\n");
    set_mtime("docs/a.txt", 1700000000);
    ingest_docs();
    result r;
    write_file("docs/a.txt", "The quick brown cat.\n");
    set_mtime("docs/a.txt", 1700000000);
    r = DOCQA("reindex");
    cr_expect(strstr(r.out, "0 changed") && strstr(r.out, "(1 unchanged)"), "%s", r.out);
    result_free(&r);
    r = DOCQA("reindex", "--verify");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "0 added, 1 changed, 0 removed, 0 renamed, 0 failed"), "%s", r.out);
    result_free(&r);
    r = DOCQA("reindex", "--verify");
    cr_expect(strstr(r.out, "0 changed") && strstr(r.out, "(1 unchanged)"), "%s", r.out);
    result_free(&r);
    store *st = open_store();
    EXPECT_FTS(st, "cat", "docs/a.txt\n");
    EXPECT_FTS(st, "fox", "");
    store_close(st);
}

Test(reindex, missing_source_folder_keeps_its_files)
{
    write_file("docs/a.txt", "Apples grow on trees.\n");
    write_file("one/b.txt", "Bananas grow in bunches.\n");
    result r = DOCQA("ingest", "--quiet", "docs", "one/b.txt");
    cr_assert_eq(r.status, 0, "%s", r.err);
    result_free(&r);
    move_file("docs/a.txt", "elsewhere/a.txt"); /* moved out of every source: gone */
    char docs[512];
    wpath(docs, sizeof docs, "docs");
    cr_assert_eq(rmdir(docs), 0); /* the folder itself gone, as an unmounted disk */
    r = DOCQA("reindex");
    cr_expect_eq(r.status, 3, "%s", r.err);
    cr_expect(strstr(r.err, "source folder") && strstr(r.err, "is missing"), "%s", r.err);
    cr_expect(strstr(r.out, "0 removed") && strstr(r.out, "1 failed"), "%s", r.out);
    result_free(&r);
    store *st = open_store();
    EXPECT_ROWS(st, "SELECT path FROM files ORDER BY path", "docs/a.txt\none/b.txt\n");
    store_close(st);

    /* a source file that is deleted goes, and so does its source entry */
    remove_file("one/b.txt");
    r = DOCQA("reindex");
    cr_expect_eq(r.status, 3, "%s", r.err);
    cr_expect(strstr(r.out, "1 removed"), "%s", r.out);
    result_free(&r);
    st = open_store();
    EXPECT_ROWS(st, "SELECT path FROM files ORDER BY path", "docs/a.txt\n");
    EXPECT_ROWS(st, "SELECT path || ' ' || is_dir FROM roots ORDER BY path", "docs 1\n");
    store_close(st);

    /* back again: nothing to do */
    move_file("elsewhere/a.txt", "docs/a.txt");
    set_mtime("docs/a.txt", 1700000000);
    r = DOCQA("reindex");
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_expect(strstr(r.out, "0 added, 0 changed") && strstr(r.out, "(1 unchanged)"), "%s", r.out);
    result_free(&r);

    /* gone for good: --drop-missing removes its files and forgets it */
    remove_file("docs/a.txt");
    cr_assert_eq(rmdir(docs), 0);
    r = DOCQA("reindex", "--drop-missing");
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_expect(strstr(r.out, "0 added, 0 changed, 1 removed"), "%s", r.out);
    result_free(&r);
    st = open_store();
    EXPECT_ROWS(st, "SELECT path FROM files", "");
    EXPECT_ROWS(st, "SELECT path FROM roots", "");
    store_close(st);
}

Test(reindex, an_emptied_folder_or_most_of_the_store_gone_is_kept)
{
    write_file("mnt/a.txt", "Apples grow on trees.\n");
    write_file("mnt/b.txt", "Bananas grow in bunches.\n");
    write_file("docs/c.txt", "Cherries are small.\n");
    result r = DOCQA("ingest", "--quiet", "mnt", "docs");
    cr_assert_eq(r.status, 0, "%s", r.err);
    result_free(&r);
    /* the mount point stays, the disk is not mounted: an empty folder */
    remove_file("mnt/a.txt");
    remove_file("mnt/b.txt");
    r = DOCQA("reindex");
    cr_expect_eq(r.status, 3, "%s", r.err);
    cr_expect(strstr(r.err, "is empty but 2 stored files came from it"), "%s", r.err);
    cr_expect(strstr(r.out, "0 removed"), "%s", r.out);
    result_free(&r);
    store *st = open_store();
    EXPECT_ROWS(st, "SELECT path FROM files ORDER BY path", "docs/c.txt\nmnt/a.txt\nmnt/b.txt\n");
    store_close(st);

    /* most of the store gone at once, folders not empty: kept too */
    write_file("mnt/d.txt", "Dates are sweet.\n");
    remove_file("docs/c.txt");
    write_file("docs/e.txt", "Elderberries are dark.\n");
    r = DOCQA("reindex");
    cr_expect_eq(r.status, 3, "%s", r.err);
    cr_expect(strstr(r.err, "3 of 5 stored files are gone from disk, more than 50%"), "%s", r.err);
    result_free(&r);
    st = open_store();
    EXPECT_ROWS(st, "SELECT count(*) FROM files", "5\n");
    store_close(st);

    /* told so: they go */
    r = DOCQA("reindex", "--drop-missing");
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_expect(strstr(r.out, "3 removed"), "%s", r.out);
    result_free(&r);
}

Test(reindex, nested_sources_are_walked_once)
{
    write_file("docs/a.txt", "Apples grow on trees.\n");
    write_file("docs/sub/b.txt", "Bananas grow in bunches.\n");
    ingest_docs();
    result r;
    r = DOCQA("ingest", "--quiet", "docs/sub", "docs/sub/b.txt");
    cr_assert_eq(r.status, 0, "%s", r.err);
    result_free(&r);
    r = DOCQA("reindex");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "0 failed (2 unchanged)"), "%s", r.out);
    result_free(&r);
}

Test(reindex, without_sources_or_store)
{
    result r = DOCQA("reindex");
    cr_expect_eq(r.status, 1, "%s%s", r.out, r.err);
    cr_expect(strstr(r.err, "docqa: "), "%s", r.err);
    result_free(&r);
    r = DOCQA("reindex", "somepath");
    cr_expect_eq(r.status, 2);
    result_free(&r);

    /* a store from before sources were recorded: its files are checked */
    write_file("docs/a.txt", "Some text to index here.\n");
    write_file("docs/b.txt", "Other words entirely.\n");
    r = DOCQA("ingest", "--quiet", "docs");
    cr_assert_eq(r.status, 0, "%s", r.err);
    result_free(&r);
    store *st = open_store();
    cr_assert_eq(sqlite3_exec(store_db(st), "DELETE FROM roots", NULL, NULL, NULL), SQLITE_OK);
    store_close(st);
    remove_file("docs/b.txt");
    write_file("docs/a.txt", "Some other text to index here.\n");
    write_file("docs/c.txt", "Not found without a source.\n");
    r = DOCQA("reindex");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "no source folders recorded"), "%s", r.err);
    cr_expect(strstr(r.out, "0 added, 1 changed, 1 removed, 0 renamed, 0 failed"), "%s", r.out);
    result_free(&r);
    st = open_store();
    EXPECT_ROWS(st, "SELECT path FROM files ORDER BY path", "docs/a.txt\n");
    store_close(st);

    /* with nothing stored and no sources there is nothing to do: an error */
    st = open_store();
    cr_assert_eq(sqlite3_exec(store_db(st), "DELETE FROM files; DELETE FROM documents", NULL,
                              NULL, NULL),
                 SQLITE_OK);
    store_close(st);
    r = DOCQA("reindex");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "no sources recorded"), "%s", r.err);
    result_free(&r);
}

static void write_words(const char *name, const char *word, int n)
{
    dq_buf b = DQ_BUF_INIT;
    for (int i = 0; i < n; i++)
        dq_buf_printf(&b, "%s%d is a word%s", word, i, i % 8 == 7 ? ".\n\n" : ". ");
    write_file(name, b.data);
    dq_buf_free(&b);
}

Test(reindex, settings_change_redoes_only_what_it_must)
{
    use_endpoint("m1");
    write_words("docs/a.txt", "alpha", 60);
    write_words("docs/b.txt", "beta", 60);
    ingest_docs();
    result r;
    store *st = open_store();
    int64_t before = q_int(st, "SELECT count(*) FROM chunks");
    store_close(st);
    cr_expect_eq(embedded(), before);

    /* new chunking: every document re-chunked, the new chunks embedded */
    r = DOCQA("reindex", "--chunk-words", "40");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "chunking settings changed (chunk_cjk=350 chunk_words=250 "
                            "overlap=0.15 -> chunk_cjk=350 chunk_words=40 overlap=0.15)"),
              "%s", r.err);
    cr_expect(strstr(r.out, "(0 unchanged, 2 re-chunked"), "%s", r.out);
    result_free(&r);
    st = open_store();
    check_consistent(st, "after re-chunking");
    int64_t after = q_int(st, "SELECT count(*) FROM chunks");
    cr_expect_gt(after, before);
    cr_expect_eq(q_int(st, "SELECT count(*) FROM vectors"), after);
    cr_expect_eq(q_int(st, "SELECT count(*) FROM documents WHERE split ="
                           " 'chunk_cjk=350 chunk_words=40 overlap=0.15'"),
                 2);
    store_close(st);
    cr_expect_eq(embedded(), before + after);

    /* the settings stick: the next run has nothing to do, and ingest
     * follows them unless told otherwise, which it refuses */
    r = DOCQA("reindex");
    cr_expect(strstr(r.out, "(2 unchanged)"), "%s", r.out);
    cr_expect_str_eq(r.err, "");
    result_free(&r);
    write_words("docs/c.txt", "gamma", 60);
    r = DOCQA("ingest", "--chunk-words", "100", "docs");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "this store was chunked with chunk_cjk=350 chunk_words=40"), "%s",
              r.err);
    result_free(&r);
    r = DOCQA("ingest", "--quiet", "docs/c.txt");
    cr_expect_eq(r.status, 0, "%s", r.err);
    result_free(&r);
    remove_file("docs/c.txt");
    r = DOCQA("reindex", "--quiet");
    cr_expect_eq(r.status, 0, "%s", r.err);
    result_free(&r);
    st = open_store();
    cr_expect_eq(q_int(st, "SELECT count(*) FROM documents"), 2);
    cr_expect_eq(q_int(st, "SELECT count(*) FROM documents WHERE split ="
                           " 'chunk_cjk=350 chunk_words=40 overlap=0.15'"),
                 2);
    cr_expect_eq(q_int(st, "SELECT count(*) FROM chunks"), after);
    store_close(st);
    int gamma_chunks = embedded() - (int)(before + after);
    cr_expect_gt(gamma_chunks, 0);
    __atomic_sub_fetch(&counter.texts, gamma_chunks, __ATOMIC_SEQ_CST); /* as if c.txt never was */

    /* another embedding model: every chunk embedded again, nothing re-chunked */
    use_endpoint("m2");
    r = DOCQA("reindex");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "embedding model changed"), "%s", r.err);
    result_free(&r);
    cr_expect_eq(embedded(), before + 2 * after);
    st = open_store();
    cr_expect_eq(q_int(st, "SELECT count(*) FROM vectors WHERE model LIKE '%:m2'"), after);
    cr_expect_eq(q_int(st, "SELECT count(*) FROM chunks"), after);
    store_close(st);
}

Test(reindex, status_quiet_and_log)
{
    write_file("docs/good.txt", "A perfectly good file.\n");
    write_file("docs/bad.pdf", "this is not a pdf at all");
    result r = DOCQA("ingest", "--quiet", "docs");
    cr_assert_eq(r.status, 3, "%s", r.err);
    result_free(&r);
    r = DOCQA("status");
    cr_expect(strstr(r.out, "reindexed:  never"), "%s", r.out);
    result_free(&r);
    r = DOCQA("reindex", "--quiet");
    cr_expect_eq(r.status, 3);
    cr_expect(strstr(r.err, "'docs/bad.pdf'"), "%s", r.err);
    cr_expect(strstr(r.out, "1 failed"), "%s", r.out);
    result_free(&r);
    r = DOCQA("reindex", "--quiet", "--log", "reindex.log");
    cr_expect_eq(r.status, 3);
    cr_expect_str_eq(r.err, "");
    result_free(&r);
    char log[512];
    wpath(log, sizeof log, "reindex.log");
    char *text = slurp(log);
    cr_expect(strstr(text, "docqa: 'docs/bad.pdf': not a PDF file\n"), "%s", text);
    cr_expect(strstr(text, "Z reindex: 0 added, 0 changed, 0 removed, 0 renamed, 1 failed "
                           "(1 unchanged) in "),
              "%s", text);
    free(text);

    r = DOCQA("status");
    cr_expect(strstr(r.out, "some files failed: 0 added, 0 changed, 0 removed, 0 renamed, "
                            "1 failed (1 unchanged)"),
              "%s", r.out);
    cr_expect(strstr(r.out, "docs/bad.pdf: not a PDF file (failing for 3 runs)"), "%s", r.out);
    result_free(&r);

    /* fixed: quiet means silent */
    remove_file("docs/bad.pdf");
    r = DOCQA("reindex", "--quiet");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_str_eq(r.out, "");
    cr_expect_str_eq(r.err, "");
    result_free(&r);
    r = DOCQA("status", "--json");
    cr_expect(strstr(r.out, "\"status\":\t\"ok\""), "%s", r.out);
    cr_expect(strstr(r.out, "\"summary\":\t\"0 added, 0 changed, 1 removed, 0 renamed, 0 failed"),
              "%s", r.out);
    result_free(&r);
}

/* Holds the writer lock the way a running ingest does. */
static int hold_lock(void)
{
    char path[512];
    wpath(path, sizeof path, ".docqa/" STORE_LOCKNAME);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    return fd;
}

Test(reindex, one_writer_at_a_time)
{
    write_file("docs/a.txt", "Locks keep writers apart.\n");
    ingest_docs();
    result r;
    int fd = hold_lock();
    r = DOCQA("reindex", "--no-wait");
    cr_expect_eq(r.status, 5, "%s", r.err);
    cr_expect(strstr(r.err, "is being written by another docqa ingest or reindex"), "%s", r.err);
    result_free(&r);
    r = DOCQA("ingest", "--no-wait", "docs");
    cr_expect_eq(r.status, 5, "%s", r.err);
    result_free(&r);
    /* readers are not locked out */
    r = DOCQA("search", "writers");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "docs/a.txt"), "%s", r.out);
    result_free(&r);

    /* without --no-wait it waits, then runs */
    pid_t pid = spawn("waiter", (const char *const[]){"reindex", NULL});
    usleep(300 * 1000);
    cr_expect_eq(waitpid(pid, NULL, WNOHANG), 0, "reindex did not wait for the lock");
    close(fd);
    r = finish("waiter", pid);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "waiting for another ingest or reindex"), "%s", r.err);
    cr_expect(strstr(r.out, "(1 unchanged)"), "%s", r.out);
    result_free(&r);
}

/* ---- kill -9 at random moments ------------------------------------------ */

/* A small deterministic generator, so a failing run can be replayed. */
static uint32_t rng_state;
static uint32_t rng(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

#define N_SLOTS 48

/* Writes slot's file with a few hundred words of fresh text (2-3 chunks). */
static void write_slot(const char *name)
{
    dq_buf b = DQ_BUF_INIT;
    int words = 300 + (int)(rng() % 400);
    uint32_t topic = rng();
    for (int i = 0; i < words; i++)
        dq_buf_printf(&b, "w%u%s", (topic + rng() % 50) % 100000,
                      i % 12 == 11 ? ".\n\n" : " ");
    write_file(name, b.data);
    dq_buf_free(&b);
}

static bool slot_exists(const char *name)
{
    char p[512];
    wpath(p, sizeof p, name);
    return access(p, F_OK) == 0;
}

static void slot_name(char *out, size_t n, int slot)
{
    /* Two folders, so a rename is sometimes a move between them. */
    snprintf(out, n, "docs/%s/f%02d.txt", slot % 3 ? "a" : "b", slot);
}

/* A few random edits: add, edit, rename, delete, copy, replace. */
static void mutate(int n_ops)
{
    for (int k = 0; k < n_ops; k++) {
        char a[64], b[64];
        slot_name(a, sizeof a, (int)(rng() % N_SLOTS));
        slot_name(b, sizeof b, (int)(rng() % N_SLOTS));
        bool has_a = slot_exists(a), has_b = slot_exists(b);
        switch (rng() % 5) {
        case 0: /* add or edit */
            write_slot(a);
            break;
        case 1: /* rename (over b: a replace) */
            if (has_a && strcmp(a, b))
                move_file(a, b);
            else
                write_slot(a);
            break;
        case 2: /* delete */
            if (has_a)
                remove_file(a);
            break;
        case 3: /* copy */
            if (has_a && !has_b) {
                char pa[512];
                wpath(pa, sizeof pa, a);
                char *text = slurp(pa);
                write_file(b, text);
                free(text);
            }
            break;
        default: /* edit in place */
            if (has_a)
                write_slot(a);
            break;
        }
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "path sha\n" of every file under docs/ on disk, as reindex should record. */
static char *disk_listing(void)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_puts(&b, "");
    char **names = dq_calloc(N_SLOTS, sizeof *names);
    size_t n = 0;
    for (int s = 0; s < N_SLOTS; s++) {
        char name[64];
        slot_name(name, sizeof name, s);
        if (slot_exists(name))
            names[n++] = dq_strdup(name);
    }
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char p[512], sha[65];
        wpath(p, sizeof p, names[i]);
        cr_assert_eq(dq_sha256_file(p, sha), 0);
        dq_buf_printf(&b, "%s %s\n", names[i], sha);
        free(names[i]);
    }
    free(names);
    return dq_buf_take(&b);
}

/* After an uninterrupted reindex the store matches the folder exactly, and
 * its chunks are the ones a fresh ingest of the folder makes. */
static void check_final(const char *when)
{
    result r = DOCQA("reindex", "--quiet");
    cr_assert_eq(r.status, 0, "%s: %s%s", when, r.out, r.err);
    result_free(&r);
    char *disk = disk_listing();
    store *st = open_store();
    check_consistent(st, when);
    char *files = q_rows(st, "SELECT path || ' ' || sha256 FROM files ORDER BY path");
    cr_assert_str_eq(files, disk, "%s: files", when);
    free(files);
    free(disk);
    cr_assert_eq(q_int(st, "SELECT count(*) FROM vectors"),
                 q_int(st, "SELECT count(*) FROM chunks"), "%s: chunks without vectors", when);
    cr_assert_eq(q_int(st, "SELECT count(DISTINCT model) FROM vectors"), 1, "%s", when);
    char *chunks = q_rows(st, "SELECT text FROM chunks ORDER BY text");

    /* the fresh ingest chunks with the settings the store has now */
    char *split = NULL, words[16];
    store_get_meta(st, "split", &split);
    char *w = split ? strstr(split, "chunk_words=") : NULL;
    cr_assert(w, "%s: no chunking settings", when);
    snprintf(words, sizeof words, "%d", atoi(w + strlen("chunk_words=")));
    free(split);
    store_close(st);

    char fresh[512];
    wpath(fresh, sizeof fresh, "fresh");
    tmpdir_remove(fresh);
    r = DOCQA("--store", "fresh/.docqa", "ingest", "--quiet", "--no-embed", "--chunk-words", words,
              "docs");
    cr_assert_eq(r.status, 0, "%s: %s", when, r.err);
    result_free(&r);
    dq_mkdirs(fresh);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/.docqa", fresh);
    store *other = store_open(dir, 0);
    cr_assert(other, "%s", dq_last_error());
    char *want = q_rows(other, "SELECT text FROM chunks ORDER BY text");
    store_close(other);
    cr_assert_str_eq(chunks, want, "%s: chunks differ from a fresh ingest", when);
    free(chunks);
    free(want);
}

Test(reindex, kill9_at_random_moments)
{
    use_endpoint("m1");
    rng_state = 20261123;
    for (int s = 0; s < N_SLOTS; s += 2) {
        char name[64];
        slot_name(name, sizeof name, s);
        write_slot(name);
    }
    ingest_docs();
    result r;
    /* How long a run takes here (sanitizers, a busy machine): the kills are
     * spread over it. */
    mutate(8);
    double t = dq_now();
    r = DOCQA("reindex", "--quiet");
    double span = dq_now() - t;
    cr_assert_eq(r.status, 0, "%s", r.err);
    result_free(&r);
    check_final("first reindex");

    enum { RUNS = 50 };
    int killed_mid_run = 0;
    for (int i = 0; i < RUNS; i++) {
        mutate(8);
        const char *const reindex[] = {"reindex", "--quiet", NULL};
        const char *const ingest[] = {"ingest", "--quiet", "docs", NULL};
        /* now and then new chunking settings or another embedding model, so
         * kills land in a re-chunk or re-embed of everything too */
        const char *const rechunk[] = {"reindex", "--quiet", "--chunk-words",
                                       i % 20 == 5 ? "100" : "250", NULL};
        if (i % 10 == 7)
            use_endpoint(i % 20 == 7 ? "m2" : "m1");
        pid_t pid = spawn_to_kill("crash", i % 10 == 5 ? rechunk : i % 4 == 3 ? ingest : reindex);
        usleep((useconds_t)((double)(rng() % 1000) / 1000.0 * span * 1e6));
        if (waitpid(pid, NULL, WNOHANG) == 0) {
            killed_mid_run++;
            kill(pid, SIGKILL);
        }
        result k = finish("crash", pid);
        result_free(&k);
        char when[64];
        snprintf(when, sizeof when, "after kill %d", i);
        store *st = open_store();
        check_consistent(st, when);
        store_close(st);
        if (i % 10 == 9) {
            snprintf(when, sizeof when, "after the reindex following kill %d", i);
            check_final(when);
        }
    }
    fprintf(stderr, "kill9_at_random_moments: %d runs, %d killed mid-run, 0 failures "
                    "(runs last %.3f s here)\n",
            RUNS, killed_mid_run, span);
    cr_expect_geq(killed_mid_run, RUNS / 4, "too few kills landed mid-run to test anything");
}

/* ---- readers during writers --------------------------------------------- */

#define N_READ_FILES 16

static void write_version(int file, int version)
{
    char name[64];
    snprintf(name, sizeof name, "docs/f%02d.txt", file);
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "commonword file%02d ver%d", file, version);
    for (int i = 0; i < version * 3; i++)
        dq_buf_puts(&b, " padding");
    dq_buf_puts(&b, ".\n");
    write_file(name, b.data);
    dq_buf_free(&b);
}

/* Checks one search's JSON: every file exactly once, each hit's text the
 * file's own (of some version). Returns NULL or what is wrong. */
static const char *bad_search(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    cJSON *res = cJSON_GetObjectItem(j, "results");
    const char *why = NULL;
    bool seen[N_READ_FILES] = {false};
    if (cJSON_GetArraySize(res) != N_READ_FILES)
        why = "wrong number of hits";
    for (int i = 0; !why && i < cJSON_GetArraySize(res); i++) {
        cJSON *h = cJSON_GetArrayItem(res, i);
        const char *path = cJSON_GetStringValue(cJSON_GetObjectItem(h, "path"));
        const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(h, "text"));
        int n = -1;
        char want[32];
        if (!path || !text || sscanf(path, "docs/f%d.txt", &n) != 1 || n < 0 ||
            n >= N_READ_FILES || seen[n])
            why = "a hit with a wrong or repeated path";
        else if (snprintf(want, sizeof want, "file%02d ver", n), !strstr(text, want))
            why = "a hit whose text is another file's";
        else
            seen[n] = true;
    }
    cJSON_Delete(j);
    return why;
}

/* The reader process: searches until workdir/stop exists. Exit status 0
 * when every search was whole; writes the number done to .reader.count. */
static void reader_loop(void)
{
    char stop[512], out[512], count[512];
    wpath(stop, sizeof stop, "stop");
    wpath(out, sizeof out, ".reader.out");
    wpath(count, sizeof count, ".reader.count");
    int done = 0;
    while (access(stop, F_OK) != 0) {
        pid_t pid = fork();
        if (pid == 0) {
            int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (o < 0 || chdir(workdir) < 0)
                _exit(99);
            dup2(o, 1);
            dup2(o, 2);
            execl(docqa_bin(), "docqa", "search", "--json", "-k", "100", "commonword",
                  (char *)NULL);
            _exit(98);
        }
        int st;
        waitpid(pid, &st, 0);
        dq_buf b = DQ_BUF_INIT;
        dq_read_file(out, &b);
        const char *why = !WIFEXITED(st) || WEXITSTATUS(st) != 0 ? "search failed"
                                                                  : bad_search(b.data);
        if (why) {
            fprintf(stderr, "reader: %s:\n%s\n", why, b.data);
            _exit(1);
        }
        dq_buf_free(&b);
        done++;
    }
    FILE *f = fopen(count, "w");
    if (f) {
        fprintf(f, "%d", done);
        fclose(f);
    }
    _exit(0);
}

/* Waits until some process holds the store's writer lock. */
static void wait_for_writer(void)
{
    char path[512];
    wpath(path, sizeof path, ".docqa/" STORE_LOCKNAME);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    cr_assert(fd >= 0);
    for (int i = 0; i < 5000; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
            break; /* held elsewhere */
        flock(fd, LOCK_UN);
        usleep(1000);
    }
    close(fd);
}

Test(reindex, two_writers_and_readers)
{
    use_endpoint("m1");
    for (int i = 0; i < N_READ_FILES; i++)
        write_version(i, 1);
    ingest_docs();
    result r;

    pid_t reader = fork();
    cr_assert(reader >= 0);
    if (reader == 0)
        reader_loop();

    /* Slow embeddings keep the first writer in flight while the second
     * tries. */
    __atomic_store_n(&counter.delay_ms, 300, __ATOMIC_SEQ_CST);
    for (int round = 2; round <= 5; round++) {
        for (int i = 0; i < N_READ_FILES; i++)
            write_version(i, round);
        pid_t a = spawn("a", (const char *const[]){"reindex", NULL});
        wait_for_writer();
        pid_t b = spawn("b", (const char *const[]){"reindex", "--no-wait", NULL});
        pid_t c = spawn("c", (const char *const[]){"reindex", NULL});
        r = finish("b", b);
        cr_expect_eq(r.status, 5, "round %d, --no-wait: %s%s", round, r.out, r.err);
        result_free(&r);
        r = finish("a", a);
        cr_expect_eq(r.status, 0, "round %d: %s", round, r.err);
        cr_expect(strstr(r.out, "0 added, 16 changed, 0 removed, 0 renamed, 0 failed"),
                  "round %d: %s", round, r.out);
        result_free(&r);
        r = finish("c", c);
        cr_expect_eq(r.status, 0, "round %d: %s", round, r.err);
        cr_expect(strstr(r.out, "(16 unchanged)"), "round %d: %s", round, r.out);
        result_free(&r);
    }
    write_file("stop", "");
    int st;
    waitpid(reader, &st, 0);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a reader saw an inconsistent store");
    char count[512];
    wpath(count, sizeof count, ".reader.count");
    char *n = slurp(count);
    cr_expect_gt(atoi(n), 0, "no search ran during the writes");
    fprintf(stderr, "two_writers_and_readers: %s searches, all whole\n", n);
    free(n);
    store *s = open_store();
    check_consistent(s, "after the writers");
    cr_expect_eq(q_int(s, "SELECT count(*) FROM vectors"), N_READ_FILES);
    store_close(s);
}

Test(reindex, renamed_file_is_rechunked_too)
{
    write_words("docs/a.txt", "alpha", 60);
    write_words("docs/b.txt", "beta", 60);
    ingest_docs();
    result r;
    /* the old path is gone, so only the document says it is stale */
    move_file("docs/a.txt", "docs/moved/a.txt");
    r = DOCQA("reindex", "--chunk-words", "40");
    cr_expect_eq(r.status, 0, "%s", r.err);
    result_free(&r);
    store *st = open_store();
    EXPECT_ROWS(st, "SELECT split FROM documents",
                "chunk_cjk=350 chunk_words=40 overlap=0.15\n"
                "chunk_cjk=350 chunk_words=40 overlap=0.15\n");
    EXPECT_ROWS(st, "SELECT path FROM files ORDER BY path", "docs/b.txt\ndocs/moved/a.txt\n");
    cr_expect_gt(q_int(st, "SELECT count(*) FROM chunks"), 2);
    store_close(st);
}
