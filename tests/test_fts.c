/* test_fts.c - the docqa FTS5 tokenizer and store_search_fts(): Chinese
 * bigrams, English case folding, numbers, BM25 order, errors. */
#include <criterion/criterion.h>

#include "common/common.h"
#include "index/index.h"
#include "index/store_impl.h"
#include "support/tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[64];
static store *st;

static void setup(void)
{
    strcpy(tmpdir, "/tmp/dq_fts_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    char dir[128];
    snprintf(dir, sizeof dir, "%s/.docqa", tmpdir);
    st = store_open(dir, STORE_CREATE);
    cr_assert_not_null(st, "store_open: %s", dq_last_error());
}

static void teardown(void)
{
    store_close(st);
    tmpdir_remove(tmpdir);
}

TestSuite(fts, .init = setup, .fini = teardown);

/* Stores one document at path whose chunks are texts[i] (section sections[i]
 * when given) and returns the first chunk's id. */
static int64_t put_doc(const char *path, const char *const *texts, const char *const *sections,
                       size_t n)
{
    dq_sha256 h;
    dq_sha256_init(&h);
    dq_sha256_update(&h, path, strlen(path));
    for (size_t i = 0; i < n; i++)
        dq_sha256_update(&h, texts[i], strlen(texts[i]));
    uint8_t d[32];
    char hex[65];
    dq_sha256_final(&h, d);
    dq_hex(d, 32, hex);
    store_chunk_in chunks[16];
    cr_assert(n <= 16);
    for (size_t i = 0; i < n; i++)
        chunks[i] = (store_chunk_in){.text = texts[i],
                                     .section = sections ? sections[i] : "",
                                     .page_start = 1,
                                     .page_end = 1,
                                     .ordinal = (int)i,
                                     .label = NULL};
    store_doc_info info = {hex, "txt", path, 1};
    const char *pages[] = {"page"};
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_put_document(st, path, 10, 1000, &info, pages, chunks, n), 0, "%s",
                 dq_last_error());
    cr_assert_eq(store_commit(st), 0);
    int64_t first = 0;
    sqlite3_stmt *s;
    sqlite3_prepare_v2(store_db(st),
                       "SELECT min(c.id) FROM chunks c JOIN files f ON f.doc_id = c.doc_id"
                       " WHERE f.path = ?1",
                       -1, &s, NULL);
    sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
        first = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return first;
}

static int64_t put1(const char *path, const char *text)
{
    return put_doc(path, &text, NULL, 1);
}

static void search(const char *q, store_hits *h)
{
    int rc = store_search_fts(st, q, 10, h);
    cr_assert_eq(rc, 0, "search '%s': %s", q, dq_last_error());
}

Test(fts, chinese_two_chars_match_only_adjacent)
{
    int64_t a = put1("a.txt", "本合同自签订之日起生效");
    int64_t b = put1("b.txt", "我们合作愉快，同意全部条款");
    store_hits h;
    search("合同", &h);
    cr_assert_eq(h.n, 1);
    cr_assert_eq(h.items[0].chunk_id, a);
    cr_assert_str_eq(h.items[0].path, "a.txt");
    cr_assert_str_eq(h.items[0].text, "本合同自签订之日起生效");
    cr_assert_gt(h.items[0].score, 0.0);
    store_hits_free(&h);

    search("合作", &h);
    cr_assert_eq(h.n, 1);
    cr_assert_eq(h.items[0].chunk_id, b);
    store_hits_free(&h);
}

Test(fts, chinese_longer_query_is_a_contiguous_phrase)
{
    int64_t a = put1("a.txt", "本合同自签订之日起生效");
    put1("b.txt", "合同已签字，订单之日起发货");
    store_hits h;
    search("签订之日", &h);
    cr_assert_eq(h.n, 1);
    cr_assert_eq(h.items[0].chunk_id, a);
    store_hits_free(&h);
    /* every bigram of 合同生效 is absent or not in sequence */
    search("合同生效", &h);
    cr_assert_eq(h.n, 0);
    store_hits_free(&h);
}

Test(fts, single_chinese_character)
{
    put1("a.txt", "本合同自签订之日起生效");
    put1("b.txt", "我们合作愉快，同意全部条款");
    put1("c.txt", "没有相关的字");
    store_hits h;
    search("同", &h);
    cr_assert_eq(h.n, 2);
    store_hits_free(&h);
    search("效", &h);
    cr_assert_eq(h.n, 1);
    cr_assert_str_eq(h.items[0].path, "a.txt");
    store_hits_free(&h);
}

Test(fts, english_is_case_insensitive)
{
    int64_t a = put1("a.txt", "The Warranty period is TWO years.");
    put1("b.txt", "Nothing to see here.");
    const char *queries[] = {"warranty", "Warranty", "WARRANTY", "two years"};
    for (size_t i = 0; i < 4; i++) {
        store_hits h;
        search(queries[i], &h);
        cr_assert_eq(h.n, 1, "query %s", queries[i]);
        cr_assert_eq(h.items[0].chunk_id, a);
        store_hits_free(&h);
    }
}

Test(fts, numbers_stay_whole)
{
    int64_t a = put1("a.txt", "The rate is 3.5 percent since 2024, on 1,000 yuan.");
    store_hits h;
    search("\"3.5\"", &h);
    cr_assert_eq(h.n, 1);
    cr_assert_eq(h.items[0].chunk_id, a);
    store_hits_free(&h);
    search("2024", &h);
    cr_assert_eq(h.n, 1);
    store_hits_free(&h);
    search("\"1,000\"", &h);
    cr_assert_eq(h.n, 1);
    store_hits_free(&h);
    /* "3" alone is not a term of "3.5" */
    search("3", &h);
    cr_assert_eq(h.n, 0);
    store_hits_free(&h);
}

Test(fts, bm25_ranks_more_occurrences_first)
{
    const char *texts[] = {
        "the penalty is stated once in this clause about delivery and other matters",
        "penalty penalty penalty: the penalty applies to late delivery",
        "no relevant words in this one at all",
    };
    int64_t first = put_doc("a.txt", texts, NULL, 3);
    store_hits h;
    search("penalty", &h);
    cr_assert_eq(h.n, 2);
    cr_assert_eq(h.items[0].chunk_id, first + 1);
    cr_assert_eq(h.items[1].chunk_id, first);
    cr_assert_gt(h.items[0].score, h.items[1].score);
    cr_assert_eq(h.items[0].ordinal, 1);
    store_hits_free(&h);
}

Test(fts, limit_k)
{
    const char *texts[] = {"apple one", "apple two", "apple three", "apple four"};
    put_doc("a.txt", texts, NULL, 4);
    store_hits h;
    cr_assert_eq(store_search_fts(st, "apple", 3, &h), 0);
    cr_assert_eq(h.n, 3);
    store_hits_free(&h);
}

Test(fts, section_text_is_searchable)
{
    const char *texts[] = {"the parties agree as follows", "unrelated words"};
    const char *sections[] = {"第五条 违约责任", ""};
    int64_t first = put_doc("a.txt", texts, sections, 2);
    store_hits h;
    search("违约", &h);
    cr_assert_eq(h.n, 1);
    cr_assert_eq(h.items[0].chunk_id, first);
    cr_assert_str_eq(h.items[0].section, "第五条 违约责任");
    store_hits_free(&h);
    search("unrelated", &h);
    cr_assert_eq(h.n, 1);
    cr_assert_str_eq(h.items[0].section, "");
    store_hits_free(&h);
}

Test(fts, malformed_query_is_an_error)
{
    put1("a.txt", "some text");
    store_hits h = {NULL, 5};
    cr_assert_eq(store_search_fts(st, "\"unterminated", 10, &h), -1);
    cr_assert_eq(h.n, 0);
    cr_assert_null(h.items);
    cr_assert(strncmp(dq_last_error(), "bad search query: ", 18) == 0, "got '%s'",
              dq_last_error());
    cr_assert_eq(store_search_fts(st, "AND OR", 10, &h), -1);
    cr_assert(strncmp(dq_last_error(), "bad search query: ", 18) == 0, "got '%s'",
              dq_last_error());
    /* the store still works afterwards */
    search("text", &h);
    cr_assert_eq(h.n, 1);
    store_hits_free(&h);
}

Test(fts, no_match_is_empty_not_error)
{
    put1("a.txt", "some text");
    store_hits h;
    cr_assert_eq(store_search_fts(st, "absent", 10, &h), 0);
    cr_assert_eq(h.n, 0);
    store_hits_free(&h);
}

Test(fts, tokenizer_terms_via_vocab)
{
    int64_t id = put1("a.txt", "合同ABC 3.5");
    sqlite3 *db = store_db(st);
    /* instance rows give each term's token position: bigrams share theirs */
    const char *vocab = "CREATE VIRTUAL TABLE temp.inst USING fts5vocab(main, fts, instance)";
    cr_assert_eq(sqlite3_exec(db, vocab, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    const char *sql = "SELECT term, offset FROM temp.inst WHERE doc = ?1 AND col = 'text'"
                      " ORDER BY offset, term";
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_bind_int64(s, 1, id);
    const char *want_term[] = {"合", "合同", "同", "abc", "3.5"};
    int want_pos[] = {0, 0, 1, 2, 3};
    int n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        cr_assert_lt(n, 5);
        cr_assert_str_eq((const char *)sqlite3_column_text(s, 0), want_term[n]);
        cr_assert_eq(sqlite3_column_int(s, 1), want_pos[n], "term %s", want_term[n]);
        n++;
    }
    cr_assert_eq(n, 5);
    sqlite3_finalize(s);
}

Test(fts, term_doc_freq)
{
    const char *texts[] = {"本合同自签订之日起生效", "合同 contract", "合作 contract Contract"};
    put_doc("a.txt", texts, NULL, 3);
    int64_t n, df;
    cr_assert_eq(store_term_doc_freq(st, "合同", &n, &df), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(df, 2);
    cr_assert_eq(store_term_doc_freq(st, "contract", &n, &df), 0);
    cr_assert_eq(df, 2);
    cr_assert_eq(store_term_doc_freq(st, "合", &n, &df), 0);
    cr_assert_eq(df, 3);
    cr_assert_eq(store_term_doc_freq(st, "missing", &n, &df), 0);
    cr_assert_eq(df, 0);
}

Test(fts, get_chunk)
{
    int64_t id = put1("a.txt", "hello chunk");
    store_hit hit;
    cr_assert_eq(store_get_chunk(st, id, &hit), 1);
    cr_assert_str_eq(hit.text, "hello chunk");
    cr_assert_str_eq(hit.path, "a.txt");
    cr_assert_str_eq(hit.title, "a.txt");
    cr_assert_eq(hit.doc_id > 0, 1);
    store_hit_free(&hit);
    cr_assert_null(hit.text);
    cr_assert_eq(store_get_chunk(st, id + 100, &hit), 0);
}

/* The section path weighs 3 to the text's 1 (schema 10): the chunk under
 * the heading that names the term ranks above one that mentions it once. */
Test(fts, section_outweighs_text)
{
    const char *texts[] = {"违约 clause one two", "clause one two three"};
    const char *sections[] = {"", "第三章 违约责任"};
    int64_t first = put_doc("a.txt", texts, sections, 2);
    store_hits h;
    search("违约", &h);
    cr_assert_eq(h.n, 2);
    cr_assert_eq(h.items[0].chunk_id, first + 1);
    cr_assert_gt(h.items[0].score, h.items[1].score);
    store_hits_free(&h);
}

Test(fts, bad_utf8_and_empty_text)
{
    const char *texts[] = {"abc\xff\xfe合同\xe5", ""};
    put_doc("a.txt", texts, NULL, 2);
    store_hits h;
    search("合同", &h);
    cr_assert_eq(h.n, 1);
    store_hits_free(&h);
    search("abc", &h);
    cr_assert_eq(h.n, 1);
    store_hits_free(&h);
    cr_assert_eq(sqlite3_exec(store_db(st), "INSERT INTO fts(fts) VALUES('integrity-check')", NULL,
                              NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(store_db(st)));
}

Test(fts, prefix_and_column_filter)
{
    const char *texts[] = {"warranty terms apply", "nothing"};
    const char *sections[] = {"", "warrants"};
    int64_t first = put_doc("a.txt", texts, sections, 2);
    store_hits h;
    search("warr*", &h);
    cr_assert_eq(h.n, 2);
    store_hits_free(&h);
    search("section: warrants", &h);
    cr_assert_eq(h.n, 1);
    cr_assert_eq(h.items[0].chunk_id, first + 1);
    store_hits_free(&h);
}

/* ---- the tokenizer's memo (index/fts_memo.c) ------------------------------ */

/* The tokens a cut emits, one "flags:token" line each; rc_after makes the
 * emit fail from that token on (-1: never). */
typedef struct {
    dq_buf lines;
    int n, rc_after;
} token_log;

static int log_token(void *ctx, int tflags, const char *token, int n, int start, int end)
{
    (void)start;
    (void)end;
    token_log *l = ctx;
    if (l->rc_after >= 0 && l->n >= l->rc_after)
        return SQLITE_ABORT;
    l->n++;
    dq_buf_printf(&l->lines, "%d:%.*s\n", tflags & FTS5_TOKEN_COLOCATED, n, token);
    return SQLITE_OK;
}

/* The tokens the memo replays for text, or NULL when it holds none. */
static char *replayed(const fts_memo *m, const char *text)
{
    const uint8_t *toks;
    size_t len;
    if (!fts_memo_find(m, text, strlen(text), &toks, &len))
        return NULL;
    token_log l = {DQ_BUF_INIT, 0, -1};
    cr_assert_eq(fts_memo_replay(m, toks, len, &l, log_token), SQLITE_OK);
    return dq_buf_take(&l.lines);
}

static char *cut(const char *text)
{
    token_log l = {DQ_BUF_INIT, 0, -1};
    cr_assert_eq(store_fts_tokenize(&l, FTS5_TOKENIZE_DOCUMENT, text, (int)strlen(text),
                                    log_token),
                 SQLITE_OK);
    return dq_buf_take(&l.lines);
}

Test(fts, memo_replays_the_cut_of_an_equal_text)
{
    fts_memo *m = fts_memo_new(1 << 20);
    const char *texts[] = {"合同的违约金 Balance Sheet 1,000.50 FY2018", "第三章 违约责任",
                           "Ｆｕｌｌ-width ÉCOLE Ωmega"};
    for (size_t i = 0; i < 3; i++) {
        token_log fts = {DQ_BUF_INIT, 0, -1};
        cr_assert_eq(fts_memo_tokenize(m, &fts, FTS5_TOKENIZE_DOCUMENT, texts[i],
                                       (int)strlen(texts[i]), log_token),
                     SQLITE_OK);
        char *want = cut(texts[i]);
        cr_assert_str_eq(fts.lines.data, want, "FTS5 gets the same tokens");
        char *got = replayed(m, texts[i]);
        cr_assert_not_null(got);
        cr_assert_str_eq(got, want);
        if (i == 0)
            cr_assert(strstr(got, "0:违\n1:违约\n"), "a bigram keeps its colocated flag: %s",
                      got);
        free(got);
        free(want);
        dq_buf_free(&fts.lines);
    }
    /* A copy at another address is found; a text differing in one byte,
     * or only a prefix of a recorded one, is not. */
    char copy[64];
    snprintf(copy, sizeof copy, "%s", texts[1]);
    char *got = replayed(m, copy);
    cr_assert_not_null(got);
    free(got);
    copy[strlen(copy) - 1] ^= 1;
    cr_assert_null(replayed(m, copy));
    cr_assert_null(replayed(m, "第三章"));
    fts_memo_clear(m);
    cr_assert_null(replayed(m, texts[0]));
    fts_memo_free(m);
}

Test(fts, memo_records_only_whole_document_cuts_within_its_limit)
{
    fts_memo *m = fts_memo_new(1 << 20);
    token_log l = {DQ_BUF_INIT, 0, -1};
    const char *q = "违约金 penalty";
    cr_assert_eq(fts_memo_tokenize(m, &l, FTS5_TOKENIZE_QUERY, q, (int)strlen(q), log_token),
                 SQLITE_OK);
    cr_assert_null(replayed(m, q), "a query's cut (bigrams only) is not a document's");
    /* A cut whose emit failed part way is not recorded. */
    token_log stop = {DQ_BUF_INIT, 0, 2};
    const char *t = "one two three four";
    cr_assert_eq(fts_memo_tokenize(m, &stop, FTS5_TOKENIZE_DOCUMENT, t, (int)strlen(t),
                                   log_token),
                 SQLITE_ABORT);
    cr_assert_null(replayed(m, t));
    cr_assert_eq(fts_memo_tokenize(m, &l, FTS5_TOKENIZE_DOCUMENT, t, (int)strlen(t), log_token),
                 SQLITE_OK);
    char *got = replayed(m, t), *want = cut(t);
    cr_assert_str_eq(got, want);
    free(got);
    free(want);
    fts_memo_free(m);
    /* Past its limit the memo records nothing, and FTS5 still gets every token. */
    m = fts_memo_new(64);
    token_log big = {DQ_BUF_INIT, 0, -1};
    const char *long_text = "a text whose cut does not fit in sixty four bytes of memo at all";
    cr_assert_eq(fts_memo_tokenize(m, &big, FTS5_TOKENIZE_DOCUMENT, long_text,
                                   (int)strlen(long_text), log_token),
                 SQLITE_OK);
    want = cut(long_text);
    cr_assert_str_eq(big.lines.data, want);
    free(want);
    cr_assert_null(replayed(m, long_text));
    fts_memo_free(m);
    dq_buf_free(&l.lines);
    dq_buf_free(&stop.lines);
    dq_buf_free(&big.lines);
}
