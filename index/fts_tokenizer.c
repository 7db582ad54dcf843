/* fts_tokenizer.c - the "docqa" FTS5 tokenizer: text_terms() behind FTS5's API.
 *
 * Documents are indexed with CJK unigrams and bigrams (each bigram colocated
 * with the unigram that starts it); queries are cut into bigrams only, so a
 * two-character query like 合同 matches the adjacent pair and nothing else,
 * and a longer run becomes a phrase of overlapping bigrams that matches the
 * contiguous string. A lone CJK character in a query stays a unigram.
 */
#include "index/bm25.h"
#include "index/store_impl.h"

#include "common/common.h"

#include <string.h>

typedef struct {
    void *ctx;
    fts_token_fn emit;
} token_sink;

/* A connection's tokenizers share one object: its fts_memo (index/fts_memo.c)
 * on a writable store's connection, else this placeholder, which records
 * nothing. */
static int tokenizer_instance;

static int tok_create(void *user, const char **argv, int argc, Fts5Tokenizer **out)
{
    (void)argv;
    (void)argc;
    *out = (Fts5Tokenizer *)(user ? user : &tokenizer_instance);
    return SQLITE_OK;
}

static void tok_delete(Fts5Tokenizer *tok)
{
    (void)tok;
}

static int on_term(void *ctx, const dq_term *t)
{
    token_sink *sink = ctx;
    return sink->emit(sink->ctx, t->colocated ? FTS5_TOKEN_COLOCATED : 0, t->text, t->len,
                      t->start, t->end);
}

int store_fts_tokenize(void *ctx, int flags, const char *text, int n, fts_token_fn emit)
{
    if (!text || n <= 0)
        return SQLITE_OK;
    int mode = (flags & FTS5_TOKENIZE_QUERY) ? TERMS_BIGRAMS : TERMS_UNIGRAMS | TERMS_BIGRAMS;
    token_sink sink = {ctx, emit};
    return text_terms(text, (size_t)n, mode, on_term, &sink);
}

static int tok_tokenize(Fts5Tokenizer *tok, void *ctx, int flags, const char *text, int n,
                        fts_token_fn emit)
{
    if ((void *)tok == (void *)&tokenizer_instance)
        return store_fts_tokenize(ctx, flags, text, n, emit);
    return fts_memo_tokenize((fts_memo *)tok, ctx, flags, text, n, emit);
}

static fts5_api *fts5_api_of(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &s, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_pointer(s, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(s);
    sqlite3_finalize(s);
    return api;
}

int store_register_tokenizer(sqlite3 *db, fts_memo *memo)
{
    fts5_api *api = fts5_api_of(db);
    if (!api || api->iVersion < 2) {
        dq_set_error("cannot register the docqa tokenizer: SQLite has no FTS5");
        return -1;
    }
    static fts5_tokenizer methods = {tok_create, tok_delete, tok_tokenize};
    if (api->xCreateTokenizer(api, "docqa", memo, &methods, NULL) != SQLITE_OK) {
        dq_set_error("cannot register the docqa tokenizer: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (api->xCreateFunction(api, "docqa_phrase_tf", NULL, bm25_phrase_tf, NULL) != SQLITE_OK) {
        dq_set_error("cannot register docqa_phrase_tf: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}
