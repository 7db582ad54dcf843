/* answers.c - the store's cache of LLM answers, keyed by model and prompt.
 *
 * A row is written once the answer arrived, each in its own statement, so
 * an interrupted evaluation keeps every answer it paid for.
 */
#include "index/store_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/common.h"

void store_cached_answer_free(store_cached_answer *a)
{
    if (!a)
        return;
    free(a->model);
    free(a->choice);
    free(a->method);
    free(a->text);
    memset(a, 0, sizeof *a);
}

int store_get_cached_answer(store *st, const char *key, store_cached_answer *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_stmt(st, SLOT_ANSWER_GET,
                                 "SELECT model, choice, method, text FROM answer_cache"
                                 " WHERE key = ?1");
    if (!s)
        return -1;
    store_bind_text(s, 1, key);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->model = store_column_dup(s, 0);
        out->choice = store_column_dup(s, 1);
        out->method = store_column_dup(s, 2);
        out->text = store_column_dup(s, 3);
    } else if (rc != SQLITE_DONE) {
        dq_set_error("cannot read cached answer: %s", sqlite3_errmsg(st->db));
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_put_cached_answer(store *st, const char *key, const store_cached_answer *a)
{
    sqlite3_stmt *s = store_stmt(st, SLOT_ANSWER_PUT,
                                 "INSERT OR REPLACE INTO answer_cache(key, model, choice, method,"
                                 " text, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!s)
        return -1;
    store_bind_text(s, 1, key);
    store_bind_text(s, 2, a->model ? a->model : "");
    store_bind_text(s, 3, a->choice ? a->choice : "");
    store_bind_text(s, 4, a->method ? a->method : "none");
    store_bind_text(s, 5, a->text ? a->text : "");
    sqlite3_bind_int64(s, 6, (sqlite3_int64)time(NULL));
    return store_run(st, s, "cannot save cached answer");
}
