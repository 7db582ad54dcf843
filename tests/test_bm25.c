/* test_bm25.c - the BM25 file beside the store (index/bm25*.c): the same
 * rows, order and scores (to the bit) as FTS5 on generated stores, through
 * ingest, deletion and re-chunking; a file brought up to date from the
 * change log byte for byte the one built from FTS5; FTS5 again whenever the
 * file is stale, missing, truncated or damaged, or the expression is not
 * one it scores. */
#include <criterion/criterion.h>
#include <stddef.h>

#include "common/common.h"
#include "index/bm25.h"
#include "index/index.h"
#include "index/store_impl.h"
#include "support/storegen.h"
#include "support/tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];
static store *st;
static uint64_t rng = 7;

static void setup(void)
{
    strcpy(tmpdir, "/tmp/dq_bm25_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    st = store_open(tmpdir_path(tmpdir, ".docqa"), STORE_CREATE);
    cr_assert_not_null(st, "store_open: %s", dq_last_error());
    rng = 7;
}

static void teardown(void)
{
    store_close(st);
    tmpdir_remove(tmpdir);
}

TestSuite(bm25, .init = setup, .fini = teardown);

static uint32_t next_rand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

/* Words with a steep frequency curve, so some are in most chunks (their
 * idf hits FTS5's floor) and some in one; a few Chinese runs for bigrams. */
static const char *const words[] = {
    "the",   "report", "total", "revenue", "balance", "sheet", "sheets", "cash",  "flow",
    "net",   "income", "2019",  "2020",    "3",       "lease", "term",   "party", "notice",
    "rent",  "deposit", "合同", "违约金",  "租赁",    "期限",  "甲方",   "乙方",  "zenith",
    "quartz", "ledger", "ember",
};
enum { N_WORDS = sizeof words / sizeof *words };

static const char *pick_word(void)
{
    /* index ~ u^3: the first words far more often than the last */
    double u = (double)next_rand() / 2147483648.0;
    size_t i = (size_t)(u * u * u * N_WORDS);
    return words[i < N_WORDS ? i : N_WORDS - 1];
}

static void random_text(dq_buf *b, int n_words)
{
    dq_buf_clear(b);
    for (int i = 0; i < n_words; i++) {
        if (i)
            dq_buf_puts(b, next_rand() % 9 == 0 ? ", " : " ");
        dq_buf_puts(b, pick_word());
    }
}

/* A document of n chunks at path (sections on some); the texts repeat now
 * and then, so scores tie. */
static void put_random_doc(const char *path, size_t n, bool rebuild)
{
    char *texts[16], *sections[16];
    dq_buf b = DQ_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (i && next_rand() % 5 == 0) {
            texts[i] = dq_strdup(texts[i - 1]);
        } else {
            random_text(&b, 3 + (int)(next_rand() % 40));
            texts[i] = dq_buf_take(&b);
        }
        random_text(&b, next_rand() % 3 == 0 ? 1 + (int)(next_rand() % 3) : 0);
        sections[i] = b.data ? dq_buf_take(&b) : dq_strdup("");
    }
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(storegen_put_sections(st, path, (const char *const *)texts,
                                       (const char *const *)sections, n, rebuild),
                 0, "%s", dq_last_error());
    cr_assert_eq(store_commit(st), 0);
    for (size_t i = 0; i < n; i++) {
        free(texts[i]);
        free(sections[i]);
    }
    dq_buf_free(&b);
}

static void put_docs(size_t n_docs, const char *prefix)
{
    char path[64];
    for (size_t d = 0; d < n_docs; d++) {
        snprintf(path, sizeof path, "%s%03zu.txt", prefix, d);
        put_random_doc(path, 1 + next_rand() % 16, false);
    }
}

/* A MATCH expression as retrieve/query.c writes them: quoted terms OR-ed,
 * now and then a word pair and a section group. */
static void random_match(dq_buf *m)
{
    dq_buf_clear(m);
    int n = 1 + (int)(next_rand() % 10);
    for (int i = 0; i < n; i++)
        dq_buf_printf(m, "%s\"%s\"", i ? " OR " : "", pick_word());
    if (next_rand() % 3 == 0)
        dq_buf_printf(m, " OR \"%s %s\"", pick_word(), pick_word());
    if (next_rand() % 4 == 0)
        dq_buf_printf(m, " OR section : (\"%s\" OR \"%s\")", pick_word(), pick_word());
    else if (next_rand() % 4 == 0) /* an instruction's pair, in the section path only */
        dq_buf_printf(m, " OR section : (\"%s\" OR \"%s %s\")", pick_word(), pick_word(),
                      pick_word());
}

static int64_t *doc_ids(size_t *n)
{
    sqlite3_stmt *s;
    sqlite3_prepare_v2(store_db(st), "SELECT id FROM documents ORDER BY id", -1, &s, NULL);
    int64_t *ids = NULL;
    size_t cap = 0;
    *n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        DQ_GROW(ids, cap, *n + 1);
        ids[(*n)++] = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return ids;
}

/* Searches match through FTS5 and through the file: the same rows, in the
 * same order, with the same scores. Returns whether the file answered. */
static bool same_as_fts5(const char *match, int k, const int64_t *docs, size_t n_docs)
{
    store_hits want, got;
    store_use_bm25_file(st, false);
    cr_assert_eq(store_search_fts_in(st, match, k, docs, n_docs, &want), 0, "%s",
                 dq_last_error());
    store_use_bm25_file(st, true);
    bool served = store_bm25_search(st, match, k, docs, n_docs, &got) == 1;
    if (!served)
        cr_assert_eq(store_search_fts_in(st, match, k, docs, n_docs, &got), 0);
    cr_assert_eq(got.n, want.n, "%s: %zu rows, FTS5 %zu", match, got.n, want.n);
    for (size_t i = 0; i < got.n; i++) {
        cr_assert_eq(got.items[i].chunk_id, want.items[i].chunk_id,
                     "%s (k %d): rank %zu is chunk %lld (%.17g), FTS5 %lld (%.17g)", match, k,
                     i, (long long)got.items[i].chunk_id, got.items[i].score,
                     (long long)want.items[i].chunk_id, want.items[i].score);
        cr_assert(got.items[i].score == want.items[i].score, "%s: rank %zu %.17g vs %.17g",
                  match, i, got.items[i].score, want.items[i].score);
        cr_assert_str_eq(got.items[i].text, want.items[i].text);
    }
    store_hits_free(&want);
    store_hits_free(&got);
    return served;
}

/* Many random expressions, all answered by the file and all as FTS5's. */
static void check_queries(int n, bool expect_served)
{
    static const int ks[] = {1, 3, 10, 50};
    dq_buf m = DQ_BUF_INIT;
    for (int i = 0; i < n; i++) {
        random_match(&m);
        bool served = same_as_fts5(m.data, ks[i % 4], NULL, 0);
        cr_assert_eq(served, expect_served, "query %d %s: served %d", i, m.data, served);
    }
    dq_buf_free(&m);
}

static store_bm25_action sync_action(void)
{
    store_bm25_report rep;
    cr_assert_eq(store_bm25_sync(st, &rep), 0, "%s", dq_last_error());
    return rep.action;
}

static void write_bytes_at(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static void exec_sql(const char *sql)
{
    cr_assert_eq(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(store_db(st)));
}

/* The file the last sync left is byte for byte the one a build from FTS5
 * writes now. */
static void file_is_full_build(void)
{
    dq_buf have = DQ_BUF_INIT, want = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(tmpdir_path(tmpdir, ".docqa/" BM25_FILE), &have), 0);
    cr_assert_eq(bm25_build(store_db(st), &want), 1, "%s", dq_last_error());
    cr_assert_eq(have.len, want.len, "updated %zu bytes, built %zu", have.len, want.len);
    size_t i = 0;
    while (i < have.len && have.data[i] == want.data[i])
        i++;
    cr_assert_eq(i, have.len, "the updated file differs from the built one at byte %zu", i);
    dq_buf_free(&have);
    dq_buf_free(&want);
}

/* A change, then: searches go to FTS5 until the sync brings the file up to
 * date from the log, to the full build's bytes, and the file answers. */
static void sync_updates(void)
{
    check_queries(5, false);
    cr_assert_eq(sync_action(), STORE_BM25_UPDATED);
    file_is_full_build();
    check_queries(20, true);
}

static void remove_file(const char *path)
{
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_remove_file(st, path), 0, "%s", dq_last_error());
    cr_assert_eq(store_commit(st), 0);
}

Test(bm25, updated_file_is_the_full_build)
{
    /* The first: from the empty file, the log reaching the store's start. */
    put_docs(30, "a");
    sync_updates();
    put_docs(6, "b");
    sync_updates();
    /* A changed file ingested again, a re-chunked one (reindex --force),
     * removed ones (reindex pruning), all before one sync. */
    put_random_doc("a004.txt", 9, false);
    put_random_doc("a011.txt", 5, true);
    remove_file("a002.txt");
    remove_file("b001.txt");
    sync_updates();
    /* The last document's ids, freed, are given to the next one: the same
     * rowids with other text. */
    remove_file("b005.txt");
    put_docs(2, "c");
    sync_updates();
    /* Every row of a term removed, a term longer than FTS5 keeps, CJK
     * bigrams at the start of a column, an empty text. */
    char *huge = dq_malloc(40001);
    memset(huge, 'q', 40000);
    huge[40000] = '\0';
    const char *texts[] = {huge, "合同违约金 zenith", ""};
    const char *sections[] = {"", "租赁合同", "期限"};
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(storegen_put_sections(st, "odd.txt", texts, sections, 3, false), 0);
    cr_assert_eq(store_commit(st), 0);
    free(huge);
    sync_updates();
    remove_file("odd.txt");
    sync_updates();
    /* Nothing left. */
    exec_sql("DELETE FROM files; DELETE FROM documents");
    cr_assert_eq(sync_action(), STORE_BM25_NONE);
    cr_assert_neq(access(tmpdir_path(tmpdir, ".docqa/" BM25_FILE), F_OK), 0);
    /* No file to bring up to date, and the log no longer reaches the
     * store's start: built from FTS5, then updated again. */
    put_docs(3, "d");
    cr_assert_eq(sync_action(), STORE_BM25_BUILT);
    put_docs(3, "e");
    sync_updates();
}

/* The rows a connection's own tokenizer cut are replayed from its memo
 * (index/fts_memo.c); rows another connection wrote are cut again. One
 * update with both, and rows removed after their cut was recorded, still
 * writes the full build's bytes. */
Test(bm25, rows_replayed_and_rows_cut_in_one_update)
{
    put_docs(8, "r");
    sync_updates();
    store *other = store_open(tmpdir_path(tmpdir, ".docqa"), 0);
    cr_assert_not_null(other, "%s", dq_last_error());
    store *mine = st;
    st = other;
    put_docs(5, "s"); /* in the other connection's memo only */
    st = mine;
    store_close(other);
    put_docs(5, "t");
    put_random_doc("r003.txt", 6, true);
    remove_file("t002.txt");
    sync_updates();
}

/* From 2,048 changed rows the update cuts them in two halves on two
 * threads: the same bytes, from the empty file and from an old one. */
Test(bm25, many_changed_rows_are_cut_in_two_parts)
{
    put_docs(300, "w");
    sqlite3_stmt *s;
    sqlite3_prepare_v2(store_db(st), "SELECT count(*) FROM chunks", -1, &s, NULL);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_geq(sqlite3_column_int(s, 0), 2048);
    sqlite3_finalize(s);
    sync_updates();
    remove_file("w007.txt");
    put_random_doc("w100.txt", 11, false);
    put_docs(300, "x");
    sync_updates();
}

/* An update holds the changed rows' text and postings in memory: past 32 MB
 * of changed text the file is built from FTS5, which streams. */
Test(bm25, much_changed_text_means_a_full_build)
{
    put_docs(3, "a");
    cr_assert_eq(sync_action(), STORE_BM25_UPDATED);
    size_t n = (33u << 20);
    char *big = dq_malloc(n + 1);
    memset(big, 'q', n);
    big[n] = '\0';
    const char *texts[] = {big};
    const char *sections[] = {""};
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(storegen_put_sections(st, "big.txt", texts, sections, 1, false), 0);
    cr_assert_eq(store_commit(st), 0);
    free(big);
    cr_assert_eq(sync_action(), STORE_BM25_BUILT);
    put_docs(2, "b");
    sync_updates();
}

Test(bm25, the_log_is_trimmed_and_a_gap_means_a_full_build)
{
    put_docs(10, "g");
    cr_assert_eq(sync_action(), STORE_BM25_UPDATED);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(store_db(st), "SELECT count(*) FROM fts_log", -1, &s, NULL);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(s, 0), 0, "the log is kept after the file saw it");
    sqlite3_finalize(s);
    /* Changes whose log entries are gone: the file cannot be updated. */
    put_docs(3, "h");
    exec_sql("DELETE FROM fts_log");
    cr_assert_eq(sync_action(), STORE_BM25_BUILT);
    check_queries(10, true);
    /* No file and a log that no longer reaches the store's start. */
    cr_assert_eq(unlink(tmpdir_path(tmpdir, ".docqa/" BM25_FILE)), 0);
    put_docs(1, "i");
    cr_assert_eq(sync_action(), STORE_BM25_BUILT);
    /* Entries logged again for rows the file holds (a writer killed between
     * the file's rename and the log's trim replays them): harmless. */
    exec_sql("INSERT INTO fts_log(chunk_id) SELECT id FROM chunks WHERE id % 3 = 0");
    cr_assert_eq(sync_action(), STORE_BM25_CURRENT);
    put_docs(2, "j");
    sync_updates();
}

Test(bm25, an_upgraded_store_logs_the_rows_it_had)
{
    put_docs(12, "u");
    cr_assert_eq(sync_action(), STORE_BM25_UPDATED);
    /* The store as schema 11 left it: no log, and a file of version 1 (here
     * one that does not open). */
    exec_sql("DROP TRIGGER chunks_log_ai; DROP TRIGGER chunks_log_ad; DROP TRIGGER chunks_log_au;"
             "DROP TABLE fts_log; PRAGMA user_version = 11");
    store_close(st);
    write_bytes_at(tmpdir_path(tmpdir, ".docqa/" BM25_FILE), "DQBM25\r\n\1", 9);
    st = store_open(tmpdir_path(tmpdir, ".docqa"), 0);
    cr_assert_not_null(st, "%s", dq_last_error());
    check_queries(5, false);
    cr_assert_eq(sync_action(), STORE_BM25_UPDATED);
    file_is_full_build();
    check_queries(20, true);
}

Test(bm25, same_rows_order_and_scores_as_fts5)
{
    put_docs(40, "a");
    cr_assert_eq(sync_action(), STORE_BM25_UPDATED);
    cr_assert_eq(sync_action(), STORE_BM25_CURRENT);
    /* It holds the documents' words: the owner's only, like the store. */
    struct stat sb;
    cr_assert_eq(stat(tmpdir_path(tmpdir, ".docqa/" BM25_FILE), &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    check_queries(300, true);
    /* A term no row holds, and one in every row's company. */
    cr_assert(same_as_fts5("\"nosuchword\"", 10, NULL, 0));
    cr_assert(same_as_fts5("\"nosuchword\" OR \"the\"", 10, NULL, 0));
    cr_assert(same_as_fts5("\"合同\" OR \"违约\" OR \"约金\" OR \"租\"", 10, NULL, 0));
}

Test(bm25, scoped_searches)
{
    put_docs(30, "s");
    sync_action();
    size_t n;
    int64_t *ids = doc_ids(&n);
    dq_buf m = DQ_BUF_INIT;
    for (int i = 0; i < 100; i++) {
        random_match(&m);
        size_t first = next_rand() % n, len = 1 + next_rand() % 3;
        if (first + len > n)
            len = n - first;
        cr_assert(same_as_fts5(m.data, 10, ids + first, len));
    }
    dq_buf_free(&m);
    free(ids);
}

Test(bm25, stale_after_each_change_until_synced)
{
    put_docs(20, "b");
    sync_action();
    check_queries(20, true);

    /* Ingest: a commit the file has not seen (as after a crash between the
     * commit and the file's write) is answered by FTS5. */
    put_docs(5, "c");
    check_queries(20, false);
    cr_assert_eq(sync_action(), STORE_BM25_UPDATED);
    check_queries(50, true);

    /* Deletion. */
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_remove_file(st, "b003.txt"), 0);
    cr_assert_eq(store_remove_file(st, "c001.txt"), 0);
    cr_assert_eq(store_commit(st), 0);
    check_queries(20, false);
    sync_action();
    check_queries(50, true);

    /* Re-chunking a document (reindex --force). */
    put_random_doc("b005.txt", 7, true);
    check_queries(10, false);
    sync_action();
    check_queries(50, true);
}

Test(bm25, another_process_rebuilds_the_file)
{
    put_docs(10, "p");
    sync_action();
    check_queries(5, true);
    /* A second connection (the writer) changes the store and rebuilds the
     * file; this one loads the new file on its next search. */
    store *w = store_open(tmpdir_path(tmpdir, ".docqa"), 0);
    cr_assert_not_null(w, "%s", dq_last_error());
    store *mine = st;
    st = w;
    put_docs(3, "q");
    sync_action();
    st = mine;
    check_queries(30, true);
    store_close(w);
}

/* A file of version 1 (the store upgraded by a newer docqa, its file
 * written by the older one) still answers while it is current, and the
 * next change builds a version 2 file from FTS5. */
Test(bm25, a_version_1_file_answers_until_the_next_change)
{
    put_docs(20, "v");
    sync_action();
    char path[128];
    snprintf(path, sizeof path, "%s", tmpdir_path(tmpdir, ".docqa/" BM25_FILE));
    dq_buf v2 = DQ_BUF_INIT, v1 = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(path, &v2), 0);
    /* version 1's layout: the header without log_seq and schema, so every
     * offset in it 16 bytes smaller; the rest the same bytes */
    bm25_header h = *(const bm25_header *)v2.data;
    h.version = 1;
    uint64_t *offs[] = {&h.off_rows, &h.off_terms, &h.off_strings, &h.off_postings, &h.size};
    for (size_t i = 0; i < sizeof offs / sizeof *offs; i++)
        *offs[i] -= 16;
    dq_buf_append(&v1, (const char *)&h, offsetof(bm25_header, log_seq));
    dq_buf_append(&v1, (const char *)&h.checksum, sizeof h.checksum);
    dq_buf_append(&v1, v2.data + sizeof h, v2.len - sizeof h);
    cr_assert_eq(v1.len, h.size);
    store_close(st);
    write_bytes_at(path, v1.data, v1.len);
    st = store_open(tmpdir_path(tmpdir, ".docqa"), 0);
    cr_assert_not_null(st, "%s", dq_last_error());
    check_queries(30, true);
    cr_assert_eq(sync_action(), STORE_BM25_CURRENT);
    put_docs(2, "w");
    cr_assert_eq(sync_action(), STORE_BM25_BUILT);
    file_is_full_build();
    check_queries(10, true);
    dq_buf_free(&v1);
    dq_buf_free(&v2);
}

Test(bm25, truncated_or_damaged_file_falls_back)
{
    put_docs(20, "t");
    sync_action();
    char path[128];
    snprintf(path, sizeof path, "%s", tmpdir_path(tmpdir, ".docqa/" BM25_FILE));
    dq_buf good = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(path, &good), 0);
    const bm25_header *h = (const bm25_header *)good.data;
    cr_assert_eq(h->size, good.len);

    /* Truncated anywhere: refused, FTS5 answers. */
    size_t cuts[] = {0, 7, sizeof(bm25_header) - 1, sizeof(bm25_header), good.len / 2,
                     good.len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        store_close(st);
        write_bytes_at(path, good.data, cuts[i]);
        st = store_open(tmpdir_path(tmpdir, ".docqa"), 0);
        check_queries(3, false);
    }

    /* Random bytes over the postings (the stamp still current): never a
     * crash or a read outside the file; a damaged entry that is noticed
     * sends the search to FTS5. */
    dq_buf bad = DQ_BUF_INIT;
    dq_buf m = DQ_BUF_INIT;
    for (int round = 0; round < 40; round++) {
        dq_buf_clear(&bad);
        dq_buf_append(&bad, good.data, good.len);
        size_t from = round % 2 ? h->off_terms : h->off_postings;
        for (int j = 0; j < 20; j++)
            bad.data[from + next_rand() % (bad.len - from)] = (char)next_rand();
        store_close(st);
        write_bytes_at(path, bad.data, bad.len);
        st = store_open(tmpdir_path(tmpdir, ".docqa"), 0);
        for (int q = 0; q < 5; q++) {
            random_match(&m);
            store_hits got;
            if (store_bm25_search(st, m.data, 10, NULL, 0, &got) == 1)
                store_hits_free(&got);
        }
    }
    /* The writer replaces a damaged file, and removes the copy a writer
     * killed while writing left. */
    char stale[160];
    snprintf(stale, sizeof stale, "%s.tmp.99999", path);
    write_bytes_at(stale, good.data, 64);
    cr_assert_eq(sync_action(), STORE_BM25_BUILT);
    cr_assert_neq(access(stale, F_OK), 0, "a killed writer's copy is left");
    check_queries(20, true);
    dq_buf_free(&m);
    dq_buf_free(&bad);
    dq_buf_free(&good);
}

Test(bm25, expressions_it_does_not_score_go_to_fts5)
{
    put_docs(10, "x");
    sync_action();
    static const char *const others[] = {
        "\"total\" AND \"cash\"", "\"total\" NOT \"cash\"", "text : \"total\"",
        "\"total\" OR section : (\"cash\") OR \"net\"", "total", "\"tot\"*", "\"\"",
    };
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        store_hits h;
        cr_assert_eq(store_bm25_search(st, others[i], 10, NULL, 0, &h), 0, "%s", others[i]);
        cr_assert_eq(store_search_fts(st, others[i], 10, &h), 0, "%s: %s", others[i],
                     dq_last_error());
        store_hits_free(&h);
    }
    /* A malformed expression is still FTS5's error. */
    store_hits h;
    cr_assert_eq(store_search_fts(st, "\"unterminated", 10, &h), -1);
}

Test(bm25, empty_store_has_no_file)
{
    cr_assert_eq(sync_action(), STORE_BM25_NONE);
    cr_assert_neq(access(tmpdir_path(tmpdir, ".docqa/" BM25_FILE), F_OK), 0);
    store_hits h;
    cr_assert_eq(store_search_fts(st, "\"total\"", 10, &h), 0);
    cr_assert_eq(h.n, 0);
    store_hits_free(&h);
}

Test(bm25, one_mapping_per_process)
{
    put_docs(5, "m");
    sync_action();
    const char *path = tmpdir_path(tmpdir, ".docqa/" BM25_FILE);
    bm25_file *a = bm25_file_open(path), *b = bm25_file_open(path);
    cr_assert_not_null(a, "%s", dq_last_error());
    cr_assert_eq(a, b, "a second connection maps the file again");
    bm25_file_free(a);
    cr_assert_not_null(bm25_file_find(b, "the", 3), "freed while still held");
    bm25_file_free(b);
}

Test(bm25, a_new_ranking_makes_the_file_stale)
{
    put_docs(10, "r");
    sync_action();
    check_queries(5, true);
    /* Another weight for the section path, as a ranking change would set. */
    const char *sql = "INSERT INTO fts(fts, rank) VALUES('rank', 'bm25(1.0, 5.0)')";
    cr_assert_eq(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
    check_queries(10, false);
    cr_assert_eq(sync_action(), STORE_BM25_UPDATED);
    file_is_full_build();
    check_queries(50, true);
}
