/* fuzz_fts.c - libFuzzer harness: the docqa FTS5 tokenizer and the MATCH expression built from a question.
 *
 * The input is split at its first NUL: before it a chunk's text, after it a
 * user's question (the whole input is both when there is no NUL). The text
 * is indexed through the "docqa" tokenizer in an in-memory FTS5 table, as
 * the store does; retrieve_build_match() turns the question into a MATCH
 * expression, which must always be valid FTS5 syntax: any SQL error from
 * user text (quotes, NEAR, *, parentheses, column filters) is a bug. The
 * snippet builder runs on the text with the question as well.
 */
#include "common/common.h"
#include "index/store_impl.h"
#include "retrieve/retrieve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sqlite3 *db;
static sqlite3_stmt *ins, *query, *wipe;

static void setup(void)
{
    if (sqlite3_open(":memory:", &db) != SQLITE_OK || store_register_tokenizer(db, NULL) < 0 ||
        sqlite3_exec(db,
                     "CREATE VIRTUAL TABLE fts USING fts5(text, section, tokenize='docqa');"
                     "INSERT INTO fts(fts, rank) VALUES('rank', 'bm25(1.0, 0.5)');",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO fts(rowid, text, section) VALUES (1, ?1, ?2)", -1,
                           &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT rowid, rank, highlight(fts, 0, '[', ']') FROM fts "
                           "WHERE fts MATCH ?1 ORDER BY rank LIMIT 5",
                           -1, &query, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM fts", -1, &wipe, NULL) != SQLITE_OK) {
        fprintf(stderr, "fuzz_fts: setup failed: %s %s\n", sqlite3_errmsg(db), dq_last_error());
        abort();
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (!db)
        setup();
    const char *s = (const char *)data;
    const char *nul = memchr(s, '\0', size);
    size_t text_n = nul ? (size_t)(nul - s) : size;
    char *question = nul ? dq_strndup(nul + 1, size - text_n - 1) : dq_strndup(s, size);

    sqlite3_bind_text(ins, 1, s, (int)text_n, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 2, question, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(ins) != SQLITE_DONE) {
        fprintf(stderr, "insert failed: %s\n", sqlite3_errmsg(db));
        abort();
    }
    sqlite3_reset(ins);

    char *match = retrieve_build_match(question);
    if (match) {
        sqlite3_bind_text(query, 1, match, -1, SQLITE_TRANSIENT);
        int rc;
        while ((rc = sqlite3_step(query)) == SQLITE_ROW)
            ;
        if (rc != SQLITE_DONE) {
            fprintf(stderr, "MATCH %s failed: %s\n", match, sqlite3_errmsg(db));
            abort();
        }
        sqlite3_reset(query);
        free(match);
    }
    char *text = utf8_sanitize(s, text_n);
    free(retrieve_snippet(text, question, 1 + (int)(size % 200)));
    free(text);
    free(question);
    sqlite3_step(wipe);
    sqlite3_reset(wipe);
    return 0;
}
