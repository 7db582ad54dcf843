/* store.c - finding, opening and closing the store; transactions; meta.
 *
 * One store is one SQLite connection in WAL mode (readers never block the
 * writer, and a kill -9 loses at most the transaction in flight) with
 * foreign keys on, so deleting a document cascades to everything it owns.
 */
#include "index/store_impl.h"

#include "common/common.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

char *store_find(const char *start)
{
    const char *env = getenv("DOCQA_STORE");
    if (env && *env)
        return dq_strdup(env);

    char *dir = realpath(start ? start : ".", NULL);
    if (!dir) {
        dq_set_error("cannot look for a store from '%s': %s", start ? start : ".",
                     strerror(errno));
        return NULL;
    }
    dq_buf cand = DQ_BUF_INIT;
    for (;;) {
        dq_buf_clear(&cand);
        dq_buf_printf(&cand, "%s%s" STORE_DIRNAME, dir, strcmp(dir, "/") == 0 ? "" : "/");
        if (is_dir(cand.data)) {
            free(dir);
            return dq_buf_take(&cand);
        }
        char *slash = strrchr(dir, '/');
        if (!slash || strcmp(dir, "/") == 0)
            break;
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
    free(dir);
    dq_buf_free(&cand);
    dq_set_error("not a docqa store (or any parent up to /): run 'docqa ingest' first");
    return NULL;
}

/* ---- helpers the other index/ files share ------------------------------- */

int store_fail(store *st, const char *what)
{
    dq_set_error("%s: %s", what, sqlite3_errmsg(st->db));
    return -1;
}

int store_query_u64(sqlite3 *db, const char *sql, const char *what, uint64_t *out)
{
    sqlite3_stmt *s = NULL;
    *out = 0;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
        *out = (uint64_t)sqlite3_column_int64(s, 0);
    bool ok = rc == SQLITE_ROW || rc == SQLITE_DONE;
    if (!ok)
        dq_set_error("%s: %s", what, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    return ok ? 0 : -1;
}

sqlite3_stmt *store_stmt(store *st, enum store_slot slot, const char *sql)
{
    sqlite3_stmt *s = st->stmts[slot];
    if (!s) {
        if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
            SQLITE_OK) {
            dq_set_error("cannot prepare statement in store '%s': %s", st->dir,
                         sqlite3_errmsg(st->db));
            return NULL;
        }
        st->stmts[slot] = s;
    } else {
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    return s;
}

int store_bind_text(sqlite3_stmt *s, int i, const char *text)
{
    if (!text)
        return sqlite3_bind_null(s, i);
    return sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

char *store_column_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    if (!t)
        return NULL;
    return dq_strndup((const char *)t, (size_t)sqlite3_column_bytes(s, i));
}

int store_run(store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        store_fail(st, what);
    sqlite3_reset(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int store_exec(store *st, const char *sql, const char *what)
{
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return store_fail(st, what);
    return 0;
}

sqlite3 *store_db(store *st)
{
    return st->db;
}

/* ---- open/close --------------------------------------------------------- */

static char *parent_of(const char *dir)
{
    char *p = dq_strdup(dir);
    char *slash = strrchr(p, '/');
    if (slash == p)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    return p;
}

static int configure(store *st)
{
    if (sqlite3_busy_timeout(st->db, 10000) != SQLITE_OK)
        return -1;
    const char *pragmas = st->readonly ? "PRAGMA foreign_keys = ON;"
                                       : "PRAGMA journal_mode = WAL;"
                                         "PRAGMA synchronous = NORMAL;"
                                         "PRAGMA foreign_keys = ON;";
    if (sqlite3_exec(st->db, pragmas, NULL, NULL, NULL) != SQLITE_OK) {
        dq_set_error("cannot open store '%s': %s", st->dir, sqlite3_errmsg(st->db));
        return -1;
    }
    return 0;
}

/* SQLite's memory statistics take one process-wide mutex on every
 * allocation: with the server's searches on several threads that lock was
 * contended on every step of a query (3-4 % of a search's CPU). docqa reads
 * no statistic, so they are off. A document's chunks go in with one
 * INSERT ... SELECT inside the document's savepoint, so SQLite keeps a
 * statement journal of the pages it changes; past SQLite's 64 kB that
 * journal spilled to a temporary file in /var/tmp, created, written, read
 * and unlinked once per document (3 % of the writer's CPU): up to
 * STMT_JOURNAL_MEM it stays in memory, and past it still spills, so a
 * huge document's costs no more memory than that. This must run before
 * SQLite initialises (a process that already used SQLite keeps its
 * settings: harmless). */
#define STMT_JOURNAL_MEM (8 << 20)
/* The tokenizer's cuts kept for the BM25 update (index/fts_memo.c): the
 * texts, their tokens' ids and the distinct terms take about 1.55 times
 * the text (5.8 MB for the bench corpus's 1,271 pages), so some 7,000 such
 * pages; the update cuts what is past it again. */
#define STORE_MEMO_BYTES ((size_t)32 << 20)

static void sqlite_setup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, STMT_JOURNAL_MEM);
}

store *store_open(const char *dir, int flags)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sqlite_setup);
    bool create = flags & STORE_CREATE;
    bool readonly = (flags & STORE_READONLY) && !create;
    if (create && dq_mkdirs(dir) < 0)
        return NULL;
    if (!is_dir(dir)) {
        dq_set_error("cannot open store '%s': %s", dir,
                     access(dir, F_OK) == 0 ? "not a directory" : "no such directory");
        return NULL;
    }

    store *st = dq_calloc(1, sizeof *st);
    st->readonly = readonly;
    st->lock_fd = -1;
    st->dir = realpath(dir, NULL);
    if (!st->dir) {
        dq_set_error("cannot open store '%s': %s", dir, strerror(errno));
        free(st);
        return NULL;
    }
    st->root = parent_of(st->dir);
    dq_buf path = DQ_BUF_INIT;
    dq_buf_printf(&path, "%s/" STORE_DBNAME, st->dir);
    st->db_path = dq_buf_take(&path);

    if (!create && access(st->db_path, F_OK) != 0) {
        dq_set_error("cannot open store '%s': no %s in it (run 'docqa ingest' first)", st->dir,
                     STORE_DBNAME);
        store_close(st);
        return NULL;
    }
    int oflags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (create)
        oflags |= SQLITE_OPEN_CREATE;
    /* One policy for a store's files: owner only (STORE_FILE_MODE), as the
     * uploads are. SQLite gives the WAL and shared-memory files the mode of
     * the database, so creating it empty with that mode is enough. */
    if (create) {
        int fd = open(st->db_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, STORE_FILE_MODE);
        if (fd >= 0)
            close(fd);
    }
    if (sqlite3_open_v2(st->db_path, &st->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        dq_set_error("cannot open store '%s': %s", st->dir,
                     st->db ? sqlite3_errmsg(st->db) : "out of memory");
        store_close(st);
        return NULL;
    }
    sqlite3_extended_result_codes(st->db, 1);
    if (!readonly)
        st->memo = fts_memo_new(STORE_MEMO_BYTES);
    if (store_register_tokenizer(st->db, st->memo) < 0 || store_register_about(st->db) < 0 ||
        store_register_boxes(st->db) < 0 || store_register_staged(st->db) < 0 ||
        configure(st) < 0 || store_migrate(st) < 0) {
        store_close(st);
        return NULL;
    }
    return st;
}

void store_close(store *st)
{
    if (!st)
        return;
    store_vx_free(st);
    store_bm25_free(st);
    for (int i = 0; i < SLOT_COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    sqlite3_close(st->db);
    fts_memo_free(st->memo); /* after the connection: FTS5 holds it */
    if (st->lock_fd >= 0)
        close(st->lock_fd); /* releases the flock */
    free(st->dir);
    free(st->root);
    free(st->db_path);
    free(st);
}

const char *store_dir(const store *st)
{
    return st->dir;
}

const char *store_root(const store *st)
{
    return st->root;
}

char *store_rel_path(const char *root, const char *abs)
{
    size_t n = strlen(root);
    if (n > 1 && !strncmp(abs, root, n) && abs[n] == '/')
        return dq_strdup(abs + n + 1);
    return dq_strdup(abs);
}

char *store_abs_path(const char *root, const char *path)
{
    if (path[0] == '/')
        return dq_strdup(path);
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "%s/%s", root, path);
    return dq_buf_take(&b);
}

/* ---- the writer lock ---------------------------------------------------- */

int store_lock(store *st, bool wait)
{
    if (st->lock_fd >= 0)
        return 0;
    dq_buf path = DQ_BUF_INIT;
    dq_buf_printf(&path, "%s/" STORE_LOCKNAME, st->dir);
    int fd = open(path.data, O_RDWR | O_CREAT | O_CLOEXEC, STORE_FILE_MODE);
    if (fd < 0) {
        dq_set_error("cannot open lock file '%s': %s", path.data, strerror(errno));
        dq_buf_free(&path);
        return -1;
    }
    int rc;
    while ((rc = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        int busy = errno == EWOULDBLOCK;
        if (!busy)
            dq_set_error("cannot lock '%s': %s", path.data, strerror(errno));
        else
            dq_set_error("store '%s' is being written by another docqa ingest or reindex",
                         st->dir);
        close(fd);
        dq_buf_free(&path);
        return busy ? 1 : -1;
    }
    dq_buf_free(&path);
    st->lock_fd = fd;
    return 0;
}

/* ---- transactions ------------------------------------------------------- */

int store_begin(store *st)
{
    /* IMMEDIATE takes the write lock now, so two writers wait on the busy
     * timeout instead of failing later with SQLITE_BUSY mid-transaction. */
    return store_exec(st, "BEGIN IMMEDIATE", "cannot begin a transaction");
}

int store_commit(store *st)
{
    return store_exec(st, "COMMIT", "cannot commit");
}

int store_rollback(store *st)
{
    if (sqlite3_get_autocommit(st->db))
        return 0;
    return store_exec(st, "ROLLBACK", "cannot roll back");
}

/* ---- meta --------------------------------------------------------------- */

int store_get_meta(store *st, const char *key, char **value)
{
    *value = NULL;
    sqlite3_stmt *s = store_stmt(st, SLOT_META_GET, "SELECT value FROM meta WHERE key = ?1");
    if (!s)
        return -1;
    store_bind_text(s, 1, key);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *value = store_column_dup(s, 0);
    else if (rc != SQLITE_DONE)
        dq_set_error("cannot read setting '%s': %s", key, sqlite3_errmsg(st->db));
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_data_version(store *st, int64_t *out)
{
    sqlite3_stmt *s = store_stmt(st, SLOT_DATA_VERSION, "PRAGMA data_version");
    if (!s)
        return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else
        dq_set_error("cannot read the store's data version: %s", sqlite3_errmsg(st->db));
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

int store_set_meta(store *st, const char *key, const char *value)
{
    sqlite3_stmt *s = store_stmt(st, SLOT_META_SET,
                                 "INSERT INTO meta(key, value) VALUES (?1, ?2)"
                                 " ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    if (!s)
        return -1;
    store_bind_text(s, 1, key);
    store_bind_text(s, 2, value ? value : "");
    char what[256];
    snprintf(what, sizeof what, "cannot save setting '%s'", key);
    return store_run(st, s, what);
}
