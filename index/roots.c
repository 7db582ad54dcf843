/* roots.c - the source roots: the files and folders given to `docqa ingest`,
 * which `docqa reindex` walks again to find what was added, changed or
 * deleted since.
 */
#include "index/store_impl.h"

#include "common/common.h"

#include <stdio.h>
#include <time.h>

int store_add_root(store *st, const char *path, bool is_dir)
{
    sqlite3_stmt *s = store_stmt(st, SLOT_ROOT_ADD,
                                 "INSERT INTO roots(path, is_dir, added_at) VALUES (?1, ?2, ?3)"
                                 " ON CONFLICT(path) DO UPDATE SET is_dir = excluded.is_dir");
    if (!s)
        return -1;
    store_bind_text(s, 1, path);
    sqlite3_bind_int(s, 2, is_dir);
    sqlite3_bind_int64(s, 3, (int64_t)time(NULL));
    char what[300];
    snprintf(what, sizeof what, "cannot record source '%s'", path);
    return store_run(st, s, what);
}

int store_remove_root(store *st, const char *path)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "DELETE FROM roots WHERE path = ?1", -1, &s, NULL) !=
        SQLITE_OK)
        return store_fail(st, "cannot forget a source");
    store_bind_text(s, 1, path);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, "cannot forget a source");
}

int store_each_root(store *st, store_root_cb cb, void *ctx)
{
    /* Not a cached statement: cb may call back into the store. */
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT path, is_dir FROM roots ORDER BY path", -1, &s,
                           NULL) != SQLITE_OK)
        return store_fail(st, "cannot list sources");
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ret = cb(ctx, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1) != 0);
        if (ret)
            break;
    }
    if (!ret && rc != SQLITE_DONE)
        ret = store_fail(st, "cannot list sources");
    sqlite3_finalize(s);
    return ret;
}
