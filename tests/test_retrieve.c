/* test_retrieve.c - query building, BM25 retrieval over a real store, snippets. */
#include <criterion/criterion.h>

#include "common/common.h"
#include "index/index.h"
#include "retrieve/query.h"
#include "retrieve/retrieve.h"
#include "support/storegen.h"
#include "support/tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HL(s) RETRIEVE_HL_OPEN s RETRIEVE_HL_CLOSE

/* ---- match building ----------------------------------------------------- */

static void assert_match(const char *question, const char *expected)
{
    char *m = retrieve_build_match(question);
    cr_assert_not_null(m, "%s: %s", question, dq_last_error());
    cr_assert_str_eq(m, expected, "question %s", question);
    free(m);
}

Test(match, chinese_drops_question_and_function_words)
{
    /* 合同 同的 的违 违约 约金 金是 是多 多少: 的/是 bigrams straddle words,
     * 多少 asks. */
    assert_match("合同的违约金是多少？", "\"合同\" OR \"违约\" OR \"约金\"");
    assert_match("请问租赁期限是什么时候？", "\"租赁\" OR \"赁期\" OR \"期限\"");
}

Test(match, english_drops_stop_words)
{
    assert_match("How long is the warranty period?", "\"long\" OR \"warranty\" OR \"period\"");
    assert_match("What's the PDF 1.7 spec of Levi's?", "\"pdf\" OR \"1.7\" OR \"spec\" OR \"levi\"");
}

Test(match, mixed_and_duplicates)
{
    assert_match("合同 contract Contract 合同", "\"合同\" OR \"contract\"");
    assert_match("iPhone 15的电池", "\"iphone\" OR \"15\" OR \"电池\"");
}

Test(match, only_stop_words_are_kept)
{
    assert_match("What is it?", "\"what\" OR \"is\" OR \"it\"");
    assert_match("是什么", "\"是什\" OR \"什么\"");
}

Test(match, no_words_is_an_error)
{
    dq_set_error("%s", "");
    cr_assert_null(retrieve_build_match("？！。... --- ?"));
    cr_assert_str_eq(dq_last_error(), "the question has no searchable words");
    cr_assert_null(retrieve_build_match(""));
}

Test(match, years_glued_to_labels_are_their_own_terms)
{
    assert_match("FY2018 capex", "\"fy\" OR \"2018\" OR \"capex\"");
    assert_match("2022Q4 sales", "\"2022\" OR \"q4\" OR \"sales\"");
    /* not a year: a model number stays whole */
    assert_match("A30000 engine", "\"a30000\" OR \"engine\"");
}

Test(match, instruction_clauses_are_not_searched)
{
    assert_match("What was the revenue in 2019? Round your answer to two decimal places.",
                 "\"revenue\" OR \"2019\"");
    assert_match("Based on the details shown in the cash flow statement, what was capex?",
                 "\"capex\"");
    assert_match("违约金是多少？请用中文回答。", "\"违约\" OR \"约金\"");
    /* clauses that say where to look or how to work it out */
    assert_match("We need to calculate a metric by using the ledger. What was the net income?",
                 "\"net\" OR \"income\"");
    assert_match("According to the details in the ledger, how much cash was held?",
                 "\"cash\" OR \"held\"");
    assert_match("By drawing on the ledger, what was the rent?", "\"rent\"");
    /* "by" without a verb's -ing form asks */
    assert_match("By how much did rent rise, in 2019?", "\"rent\" OR \"rise\" OR \"2019\"");
    assert_match("By Beijing time, when did the fair open?",
                 "\"beijing\" OR \"time\" OR \"fair\" OR \"open\"");
    assert_match("Does Acme have a high margin? If margin is not useful, then state that and "
                 "explain why.",
                 "\"acme\" OR \"high\" OR \"margin\" OR \"useful\"");
    /* "calculate" after the question says how; opening it, it asks */
    assert_match("What was the rent? Calculate what was asked using the ledger.", "\"rent\"");
    assert_match("Calculate the gross margin of Acme in 2022, using the ledger.",
                 "\"calculate\" OR \"gross\" OR \"margin\" OR \"acme\" OR \"2022\" OR "
                 "\"using\" OR \"ledger\"");
    /* "we" before a need says how; before what was done, it asks */
    assert_match("We sold 300 units in 2021, how many in 2022?",
                 "\"sold\" OR \"300\" OR \"units\" OR \"2021\" OR \"2022\"");
    /* a question of instructions only still searches */
    assert_match("Answer in English", "\"answer\" OR \"english\"");
}

Test(match, long_documents_add_pairs_numbers_and_the_section)
{
    char *m = query_build_match("total liabilities in the balance sheet", true);
    cr_assert_str_eq(m, "\"total\" OR \"liabilities\" OR \"balance\" OR \"sheet\" OR "
                        "\"total liabilities\" OR \"balance sheet\" OR \"totals\" OR "
                        "\"liability\" OR \"balances\" OR \"sheets\" OR \"total liability\" OR "
                        "\"balance sheets\"");
    free(m);
    /* a stop word or punctuation between two words makes no pair; short
     * words, "ss" endings and numbers have no other number */
    m = query_build_match("tax, loss 2018", true);
    cr_assert_str_eq(m, "\"tax\" OR \"loss\" OR \"2018\" OR \"loss 2018\"");
    free(m);
    /* an instruction's words are searched in the section path only */
    m = query_build_match("Based on the cash flow statement, what was capex?", true);
    cr_assert_str_eq(m, "\"capex\" OR \"capexes\" OR section : (\"based\" OR \"cash\" OR "
                        "\"flow\" OR \"statement\" OR \"cash flow\" OR \"flow statement\" OR "
                        "\"cashes\" OR \"flows\" OR \"statements\" OR \"cash flows\" OR "
                        "\"flow statements\")");
    free(m);
    /* plurals: -ies, -es after a sibilant, plain -s */
    m = query_build_match("companies boxes", true);
    cr_assert_str_eq(m, "\"companies\" OR \"boxes\" OR \"companies boxes\" OR \"company\" OR "
                        "\"box\" OR \"companies box\"");
    free(m);
    /* over short passages: the words alone */
    m = query_build_match("Based on the balance sheet, what were total liabilities?", false);
    cr_assert_str_eq(m, "\"total\" OR \"liabilities\"");
    free(m);
}

/* ---- BM25 over a store -------------------------------------------------- */

static char tmpdir[64];
static store *st;

static const char *const lease[] = {
    "第一条 租赁期限为三年，自2024年1月1日起至2026年12月31日止。本合同一式两份，双方各执一份。",
    "第三条 乙方逾期支付租金的，每逾期一日应按月租金的千分之五向甲方支付违约金。甲方应保证房屋符合安全标准。",
    "第五条 本合同自双方签字之日起生效。合同期满后乙方享有优先续租权。",
};
static const char *const manual[] = {
    "The warranty period is 24 months from the date of purchase. Keep your receipt as proof of purchase.",
    "To clean the device, unplug it and wipe it with a dry cloth. Do not use solvents during the cleaning period.",
    "Battery life depends on usage. A full charge takes about two hours.",
};

static void put_doc(const char *path, const char *const *texts, size_t n)
{
    cr_assert_eq(storegen_put_texts(st, path, texts, n), 0, "%s", dq_last_error());
}

static void setup(void)
{
    strcpy(tmpdir, "/tmp/dq_retrieve_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    char dir[128];
    snprintf(dir, sizeof dir, "%s/.docqa", tmpdir);
    st = store_open(dir, STORE_CREATE);
    cr_assert_not_null(st, "store_open: %s", dq_last_error());
    cr_assert_eq(store_begin(st), 0);
    put_doc("contracts/lease.txt", lease, 3);
    put_doc("manual.txt", manual, 3);
    cr_assert_eq(store_commit(st), 0, "%s", dq_last_error());
}

static void teardown(void)
{
    store_close(st);
    tmpdir_remove(tmpdir);
}

TestSuite(bm25, .init = setup, .fini = teardown);

Test(bm25, chinese_question_finds_the_penalty_clause)
{
    retrieve_params p = retrieve_default_params();
    cr_assert_eq(p.top_k, 5);
    cr_assert_eq(p.snippet_chars, 120);
    retrieve_result r;
    cr_assert_eq(retrieve_bm25(st, "合同的违约金是多少？", &p, &r), 0, "%s", dq_last_error());
    cr_assert_geq(r.n, 1);
    cr_assert_str_eq(r.items[0].chunk.path, "contracts/lease.txt");
    cr_assert_str_eq(r.items[0].chunk.text, lease[1]);
    cr_assert_eq(r.items[0].chunk.page_start, 2);
    cr_assert_str_eq(r.match, "\"合同\" OR \"违约\" OR \"约金\"");
    cr_assert_not_null(strstr(r.items[0].snippet, HL("违约金")), "%s", r.items[0].snippet);
    /* The other hits hold 合同 only; the manual holds none of the terms. */
    cr_assert_eq(r.n, 3);
    for (size_t i = 1; i < r.n; i++) {
        cr_assert_str_eq(r.items[i].chunk.path, "contracts/lease.txt");
        cr_assert_leq(r.items[i].chunk.score, r.items[0].chunk.score);
    }
    retrieve_result_free(&r);
    retrieve_result_free(&r); /* freed results are empty, freeing again is harmless */
}

Test(bm25, english_question_finds_the_warranty)
{
    retrieve_params p = retrieve_default_params();
    retrieve_result r;
    cr_assert_eq(retrieve_bm25(st, "How long is the warranty period?", &p, &r), 0);
    cr_assert_eq(r.n, 2); /* the warranty and the cleaning "period" */
    cr_assert_str_eq(r.items[0].chunk.text, manual[0]);
    cr_assert_str_eq(r.items[1].chunk.text, manual[1]);
    cr_assert_gt(r.items[0].chunk.score, r.items[1].chunk.score);
    cr_assert_not_null(strstr(r.items[0].snippet, HL("warranty") " " HL("period")), "%s",
                       r.items[0].snippet);
    retrieve_result_free(&r);
}

Test(bm25, top_k_limits_hits)
{
    retrieve_params p = retrieve_default_params();
    p.top_k = 1;
    retrieve_result r;
    cr_assert_eq(retrieve_bm25(st, "合同 违约金", &p, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_assert_str_eq(r.items[0].chunk.text, lease[1]);
    retrieve_result_free(&r);
}

Test(bm25, unrelated_word_is_an_empty_result)
{
    retrieve_result r;
    cr_assert_eq(retrieve_bm25(st, "量子纠缠 photosynthesis", NULL, &r), 0, "%s", dq_last_error());
    cr_assert_eq(r.n, 0);
    cr_assert_not_null(r.match);
    retrieve_result_free(&r);
}

Test(bm25, no_searchable_words_is_an_error)
{
    retrieve_result r;
    cr_assert_eq(retrieve_bm25(st, "？？？", NULL, &r), -1);
    cr_assert_str_eq(dq_last_error(), "the question has no searchable words");
    cr_assert_eq(r.n, 0);
    retrieve_result_free(&r);
}

/* ---- snippets ----------------------------------------------------------- */

/* Checks the snippet is valid UTF-8 and returns its length in characters
 * without markers and ellipses. */
static size_t visible_chars(const char *s)
{
    size_t n = strlen(s);
    cr_assert(utf8_valid(s, n), "invalid UTF-8 in snippet");
    size_t chars = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        cr_assert_gt(k, 0);
        if (cp != 0x2026 && cp != 1 && cp != 2)
            chars++;
        i += (size_t)k;
    }
    return chars;
}

Test(snippet, short_text_is_whole_and_marked)
{
    char *s = retrieve_snippet(lease[1], "合同的违约金是多少？", 120);
    cr_assert_str_eq(s, "第三条 乙方逾期支付租金的，每逾期一日应按月租金的千分之五向甲方支付"
                        HL("违约金") "。甲方应保证房屋符合安全标准。");
    free(s);
}

Test(snippet, long_text_is_cut_around_the_terms)
{
    dq_buf text = DQ_BUF_INIT;
    for (int i = 0; i < 30; i++)
        dq_buf_puts(&text, "本条款适用于所有租户，双方应当遵守相关法律法规。");
    dq_buf_puts(&text, "乙方逾期支付租金的，应向甲方支付违约金。");
    for (int i = 0; i < 30; i++)
        dq_buf_puts(&text, "房屋的维修责任由甲方承担，乙方应妥善使用。");
    char *s = retrieve_snippet(text.data, "违约金", 40);
    cr_assert_not_null(strstr(s, HL("违约金")), "%s", s);
    cr_assert_eq(strncmp(s, "\xe2\x80\xa6", 3), 0, "starts with an ellipsis: %s", s);
    cr_assert_eq(strcmp(s + strlen(s) - 3, "\xe2\x80\xa6"), 0, "ends with an ellipsis: %s", s);
    size_t chars = visible_chars(s);
    cr_assert_leq(chars, 40);
    cr_assert_geq(chars, 30);
    /* The window starts at the clause that leads to the term. */
    cr_assert_not_null(strstr(s, "\xe2\x80\xa6乙方逾期支付租金的，"), "%s", s);
    free(s);
    dq_buf_free(&text);
}

Test(snippet, english_flattens_newlines_and_keeps_words_whole)
{
    const char *text = "Introduction.\n\nThis manual covers setup, cleaning and storage of the "
                       "device in great detail for every model sold since 2019.\nThe warranty "
                       "period is 24 months from the date of purchase.\nKeep the receipt.\n"
                       "Returns are accepted within thirty days of delivery for all orders.";
    char *s = retrieve_snippet(text, "How long is the warranty period?", 60);
    cr_assert_not_null(strstr(s, HL("warranty") " " HL("period") " is 24 months"), "%s", s);
    cr_assert_null(strchr(s, '\n'), "%s", s);
    cr_assert_leq(visible_chars(s), 60);
    /* Starts at the sentence, after an ellipsis for the cut text before it. */
    cr_assert_eq(strncmp(s, "\xe2\x80\xa6The " HL("warranty"), 3 + 4 + 10), 0, "%s", s);
    free(s);
}

Test(snippet, no_match_gives_the_beginning)
{
    char *s = retrieve_snippet("Battery life\ndepends on usage. A full charge takes about two hours.",
                               "warranty", 20);
    cr_assert_str_eq(s, "Battery life depends\xe2\x80\xa6");
    free(s);
}

Test(snippet, surrounding_blanks_are_not_cut_text)
{
    char *s = retrieve_snippet("  \n违约金条款\n\n", "违约金", 120);
    cr_assert_str_eq(s, HL("违约金") "条款");
    free(s);
    s = retrieve_snippet("", "违约金", 120);
    cr_assert_str_eq(s, "");
    free(s);
    s = retrieve_snippet("违约金", "？", 120); /* no question terms: plain text */
    cr_assert_str_eq(s, "违约金");
    free(s);
}

Test(snippet, invalid_utf8_and_control_bytes_never_leak)
{
    /* A stray continuation byte, a truncated sequence and a \x01 that would
     * look like a highlight marker. */
    const char *text = "违约金\x80 条款\x01\xe5\x90 违约金";
    char *s = retrieve_snippet(text, "违约金", 120);
    cr_assert(utf8_valid(s, strlen(s)));
    cr_assert_str_eq(s, HL("违约金") "\xef\xbf\xbd 条款 \xef\xbf\xbd\xef\xbf\xbd " HL("违约金"));
    free(s);
}

Test(snippet, cuts_only_between_characters)
{
    /* Every window size over mixed 1-, 2-, 3- and 4-byte characters. */
    const char *text = "aé违约金😀bcdéf违约金😀 xyz 违约金😀😀 done";
    for (int w = 1; w < 40; w++) {
        char *s = retrieve_snippet(text, "违约金", w);
        visible_chars(s);
        free(s);
    }
}

/* ---- dense and hybrid over constructed vectors ---------------------------- */

#include <cjson/cJSON.h>
#include <math.h>

#include "embed/embed.h"
#include "support/httpd.h"

/* Chunk texts and the vectors stored for them (dim 4): chunks 0 and 1 carry
 * the same text (a copied file), 2 leans toward 0. */
static const char *const fruit[] = {
    "apple orchard harvest season begins in autumn",
    "apple orchard harvest season begins in autumn",
    "banana plantation workers pack boxes",
    "cherry blossom festival with apple cider",
    "durian market prices rose sharply",
    "elderberry syrup recipe for winter",
};
static const float fruit_vec[6][4] = {
    {1, 0, 0, 0}, {1, 0, 0, 0}, {0.8f, 0.6f, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1},
};

/* The fake endpoint's embedding of a query: chosen per test by its text. */
static void query_vec(const char *text, float v[4])
{
    memset(v, 0, 4 * sizeof *v);
    if (!strcmp(text, "fruit trees"))
        v[0] = 1; /* along chunk 0's vector; no word of it is in any chunk */
    else if (!strcmp(text, "apple"))
        v[2] = 1; /* BM25 says apple (0, 1, 3); dense says durian (4) */
    else
        v[0] = v[1] = v[2] = v[3] = 0.5f;
}

static void fruit_embeddings(void *ctx, const httpd_request *req, httpd_response *resp)
{
    (void)ctx;
    cJSON *in = cJSON_Parse(req->body);
    cJSON *texts = cJSON_GetObjectItem(in, "input");
    dq_buf_puts(&resp->body, "{\"data\":[");
    for (int i = 0; i < cJSON_GetArraySize(texts); i++) {
        float v[4];
        query_vec(cJSON_GetArrayItem(texts, i)->valuestring, v);
        dq_buf_printf(&resp->body, "%s{\"index\":%d,\"embedding\":[%g,%g,%g,%g]}", i ? "," : "",
                      i, v[0], v[1], v[2], v[3]);
    }
    dq_buf_puts(&resp->body, "]}");
    cJSON_Delete(in);
}

static httpd *srv;
static embedder *emb;
static int64_t fruit_id[6];

static void hybrid_setup(void)
{
    strcpy(tmpdir, "/tmp/dq_hybrid_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    char dir[128];
    snprintf(dir, sizeof dir, "%s/.docqa", tmpdir);
    st = store_open(dir, STORE_CREATE);
    cr_assert_not_null(st, "store_open: %s", dq_last_error());
    cr_assert_eq(store_begin(st), 0);
    put_doc("a.txt", fruit, 1);
    put_doc("b.txt", fruit + 1, 5);
    cr_assert_eq(store_commit(st), 0, "%s", dq_last_error());
    /* chunk ids in insertion order: a.txt's one chunk, then b.txt's five */
    int64_t first = 0;
    store_hit c;
    for (int64_t id = 1; id < 100 && !first; id++)
        if (store_get_chunk(st, id, &c) == 1) {
            first = id;
            store_hit_free(&c);
        }
    for (int i = 0; i < 6; i++)
        fruit_id[i] = first + i;
    srv = httpd_start(fruit_embeddings, NULL);
    cr_assert_not_null(srv);
    char url[128];
    snprintf(url, sizeof url, "%s/v1", httpd_url(srv));
    embedder_config ec = {.url = url, .remote_model = "fruit"};
    emb = embedder_open(&ec);
    cr_assert_not_null(emb, "%s", dq_last_error());
}

static void embed_fruit(void)
{
    cr_assert_eq(store_begin(st), 0);
    store_hit c;
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(store_get_chunk(st, fruit_id[i], &c), 1);
        cr_assert_str_eq(c.text, fruit[i]);
        store_hit_free(&c);
        cr_assert_eq(store_put_vector(st, fruit_id[i], embedder_identity(emb), fruit_vec[i], 4),
                     0, "%s", dq_last_error());
    }
    cr_assert_eq(store_commit(st), 0);
}

static void hybrid_teardown(void)
{
    embedder_free(emb);
    httpd_stop(srv);
    store_close(st);
    tmpdir_remove(tmpdir);
}

TestSuite(hybrid, .init = hybrid_setup, .fini = hybrid_teardown);

static retrieve_params params(retrieve_mode mode, int k)
{
    retrieve_params p = retrieve_default_params();
    p.mode = mode;
    p.top_k = k;
    p.mmr_lambda = 1.0; /* pure relevance unless a test asks for diversity */
    return p;
}

Test(hybrid, dense_finds_by_vector_and_drops_the_copy)
{
    embed_fruit();
    retrieve_params p = params(RETRIEVE_DENSE, 3);
    retrieve_result r;
    cr_assert_eq(retrieve_search(st, emb, "fruit trees", &p, &r), 0, "%s", dq_last_error());
    cr_expect_eq(r.mode, RETRIEVE_DENSE);
    cr_assert_eq(r.n, 3);
    /* 0 (cos 1), its copy 1 dropped, 2 (cos .8), then 3/4/5 tie at 0: smallest id */
    cr_expect_eq(r.items[0].chunk.chunk_id, fruit_id[0]);
    cr_expect_float_eq(r.items[0].dense, 1.0, 1e-6);
    cr_expect_float_eq(r.items[0].score, 1.0, 1e-6);
    cr_expect(isnan(r.items[0].bm25));
    cr_expect_eq(r.items[0].dense_rank, 1);
    cr_expect_eq(r.items[1].chunk.chunk_id, fruit_id[2]);
    cr_expect_float_eq(r.items[1].dense, 0.8, 1e-6);
    cr_expect_eq(r.items[2].chunk.chunk_id, fruit_id[3]);
    cr_expect_str_eq(r.items[0].chunk.path, "a.txt");
    retrieve_result_free(&r);
}

/* Above the ANN threshold the index holds 8-bit codes; the dense list is
 * re-scored from the float vectors, so scores and order are exact. */
Test(hybrid, quantized_index_ranks_by_exact_scores)
{
    embed_fruit();
    retrieve_params p = params(RETRIEVE_DENSE, 3);
    p.vindex.ann_threshold = 2;
    retrieve_result r;
    cr_assert_eq(retrieve_search(st, emb, "fruit trees", &p, &r), 0, "%s", dq_last_error());
    store_vx_report rep;
    cr_assert_eq(store_vindex_sync(st, embedder_identity(emb), &rep), 0);
    cr_expect(rep.approximate);
    cr_expect(rep.quantized);
    cr_assert_eq(r.n, 3);
    cr_expect_eq(r.items[0].chunk.chunk_id, fruit_id[0]);
    cr_expect_float_eq(r.items[0].dense, 1.0, 1e-6);
    cr_expect_eq(r.items[0].dense_rank, 1);
    cr_expect_eq(r.items[1].chunk.chunk_id, fruit_id[2]);
    cr_expect_float_eq(r.items[1].dense, 0.8, 1e-6);
    cr_expect_eq(r.items[1].dense_rank, 3); /* after the dropped copy */
    cr_expect_eq(r.items[2].chunk.chunk_id, fruit_id[3]);
    retrieve_result_free(&r);
}

Test(hybrid, rrf_puts_the_chunk_both_retrievers_like_first)
{
    embed_fruit();
    retrieve_params p = params(RETRIEVE_AUTO, 4);
    retrieve_result r;
    cr_assert_eq(retrieve_search(st, emb, "apple", &p, &r), 0, "%s", dq_last_error());
    cr_expect_eq(r.mode, RETRIEVE_HYBRID);
    /* BM25 ranks 3, 0, 1 (3 is the shorter text; 1 is 0's copy); dense
     * ranks 4 first, the rest tie at cosine 0 in id order (0 1 2 3 5).
     * RRF: 0 = 1/62 + 1/62 (second in both); 3 = 1/61 + 1/65 (first in one);
     * 1 = 1/63 + 1/63 but a copy of 0; 4 = 1/61; 2 = 1/64; 5 = 1/66. */
    cr_expect_eq(r.items[0].chunk.chunk_id, fruit_id[0]);
    cr_expect_float_eq(r.items[0].fused, 2.0 / 62, 1e-12);
    cr_expect_eq(r.items[0].bm25_rank, 2);
    cr_expect_eq(r.items[0].dense_rank, 2);
    cr_expect_gt(r.items[0].bm25, 0);
    cr_expect_float_eq(r.items[0].score, 0.0, 1e-6); /* hybrid's score: the cosine */
    cr_expect_eq(r.items[1].chunk.chunk_id, fruit_id[3]);
    cr_expect_float_eq(r.items[1].fused, 1.0 / 61 + 1.0 / 65, 1e-12);
    cr_expect_eq(r.items[2].chunk.chunk_id, fruit_id[4]);
    cr_expect_float_eq(r.items[2].dense, 1.0, 1e-6);
    cr_expect(isnan(r.items[2].bm25));
    cr_expect_eq(r.items[2].bm25_rank, 0);
    cr_expect_eq(r.items[3].chunk.chunk_id, fruit_id[2]);
    retrieve_result_free(&r);
}

Test(hybrid, auto_without_vectors_is_bm25_and_dense_needs_them)
{
    retrieve_params p = params(RETRIEVE_AUTO, 3);
    retrieve_result r;
    cr_assert_eq(retrieve_search(st, emb, "apple", &p, &r), 0, "%s", dq_last_error());
    cr_expect_eq(r.mode, RETRIEVE_BM25);
    cr_expect_eq(r.n, 2); /* 3 and 0; 0's copy 1 dropped */
    cr_expect_eq(r.items[0].chunk.chunk_id, fruit_id[3]);
    cr_expect_eq(r.items[1].chunk.chunk_id, fruit_id[0]);
    retrieve_result_free(&r);
    p.mode = RETRIEVE_DENSE;
    cr_expect_eq(retrieve_search(st, emb, "apple", &p, &r), -1);
    cr_expect(strstr(dq_last_error(), "has no vectors from model"), "%s", dq_last_error());
    p.mode = RETRIEVE_HYBRID;
    cr_expect_eq(retrieve_search(st, NULL, "apple", &p, &r), -1);
    cr_expect(strstr(dq_last_error(), "needs an embedding model"), "%s", dq_last_error());
}

Test(hybrid, threshold_says_nothing_relevant)
{
    embed_fruit();
    retrieve_params p = params(RETRIEVE_DENSE, 5);
    p.min_score = 0.5;
    retrieve_result r;
    cr_assert_eq(retrieve_search(st, emb, "fruit trees", &p, &r), 0);
    cr_assert_eq(r.n, 2); /* cos 1 and .8 */
    cr_expect_eq(r.below_threshold, 3);
    cr_expect_float_eq(r.best_dropped, 0.0, 1e-6);
    retrieve_result_free(&r);
    p.min_score = 1.5;
    cr_assert_eq(retrieve_search(st, emb, "fruit trees", &p, &r), 0);
    cr_expect_eq(r.n, 0);
    cr_expect_eq(r.below_threshold, 5);
    cr_expect_float_eq(r.best_dropped, 1.0, 1e-6);
    retrieve_result_free(&r);
}

Test(hybrid, mmr_trades_a_near_neighbour_for_a_new_direction)
{
    embed_fruit();
    retrieve_params p = params(RETRIEVE_DENSE, 2);
    p.mmr_lambda = 0.5;
    retrieve_result r;
    cr_assert_eq(retrieve_search(st, emb, "fruit trees", &p, &r), 0);
    cr_assert_eq(r.n, 2);
    /* pool in rank order 0, 2, 3, 4, 5 (rel 1, .75, .5, .25, 0); after 0:
     * 2 -> .5*.75 - .5*.8 = -.025; 3 -> .25 - 0 = .25 */
    cr_expect_eq(r.items[0].chunk.chunk_id, fruit_id[0]);
    cr_expect_eq(r.items[1].chunk.chunk_id, fruit_id[3]);
    retrieve_result_free(&r);
}

Test(hybrid, removed_document_never_comes_back)
{
    embed_fruit();
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_remove_file(st, "a.txt"), 0);
    cr_assert_eq(store_commit(st), 0);
    retrieve_params p = params(RETRIEVE_DENSE, 6);
    p.dup_threshold = 2; /* keep copies: chunk 1 must now lead on its own */
    retrieve_result r;
    cr_assert_eq(retrieve_search(st, emb, "fruit trees", &p, &r), 0, "%s", dq_last_error());
    cr_assert_eq(r.n, 5);
    cr_expect_eq(r.items[0].chunk.chunk_id, fruit_id[1]);
    for (size_t i = 0; i < r.n; i++)
        cr_expect_neq(r.items[i].chunk.chunk_id, fruit_id[0]);
    retrieve_result_free(&r);
}

Test(hybrid, rerank_orders_by_the_cross_encoder)
{
    embed_fruit();
    bert_params bp = bert_default_params();
    bp.n_threads = 1;
    reranker *rr = reranker_open(DQ_SOURCE_DIR "/tests/fixtures/bert-tiny-rerank", &bp);
    cr_assert_not_null(rr, "%s", dq_last_error());
    /* the logits the reranker gives the five distinct candidates, computed apart */
    const char *texts[] = {fruit[0], fruit[2], fruit[3], fruit[4], fruit[5]};
    int64_t ids[] = {fruit_id[0], fruit_id[2], fruit_id[3], fruit_id[4], fruit_id[5]};
    float logits[5];
    cr_assert_eq(reranker_score(rr, "fruit trees", texts, 5, logits), 0);
    int want[5] = {0, 1, 2, 3, 4};
    for (int i = 1; i < 5; i++) /* insertion sort by logit, stable */
        for (int j = i; j > 0 && logits[want[j]] > logits[want[j - 1]]; j--) {
            int t = want[j];
            want[j] = want[j - 1];
            want[j - 1] = t;
        }
    retrieve_params p = params(RETRIEVE_DENSE, 3);
    p.reranker = rr;
    retrieve_result r;
    cr_assert_eq(retrieve_search(st, emb, "fruit trees", &p, &r), 0, "%s", dq_last_error());
    cr_expect(r.reranked);
    cr_assert_eq(r.n, 3);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(r.items[i].chunk.chunk_id, ids[want[i]], "rank %d", i);
        cr_expect_float_eq(r.items[i].rerank, logits[want[i]], 1e-5);
        cr_expect_float_eq(r.items[i].score, logits[want[i]], 1e-5);
    }
    retrieve_result_free(&r);
    reranker_free(rr);
}

/* ---- scope: look-alike long reports -------------------------------------- */

static store *sst;
static char sdir[64];

/* A 26-page annual report of company for year: a cover that names both,
 * the same boilerplate on every page, on page 17 its capital expenditure,
 * which every report states in the same words, and on pages 20 and 21 two
 * statements that both hold its total liabilities, under their headings. */
/* Stores a document of n chunks, chunk i with texts[i] (freed here),
 * sections[i] ("" when sections is NULL) and page pages[i] (i + 1 when
 * pages is NULL). */
static void put_chunks(const char *path, char **texts, const char *const *sections,
                       const int *pages, int n)
{
    store_chunk_in *chunks = dq_calloc((size_t)n, sizeof *chunks);
    for (int i = 0; i < n; i++) {
        int page = pages ? pages[i] : i + 1;
        chunks[i] = (store_chunk_in){.text = texts[i],
                                     .section = sections ? sections[i] : "",
                                     .page_start = page,
                                     .page_end = page,
                                     .ordinal = i,
                                     .label = NULL};
    }
    dq_sha256 h;
    dq_sha256_init(&h);
    dq_sha256_update(&h, path, strlen(path));
    uint8_t d[32];
    char hex[65];
    dq_sha256_final(&h, d);
    dq_hex(d, 32, hex);
    store_doc_info info = {hex, "pdf", NULL, n};
    cr_assert_eq(store_put_document(sst, path, 100, 1000, &info, (const char *const *)texts,
                                    chunks, (size_t)n),
                 0, "%s", dq_last_error());
    for (int i = 0; i < n; i++)
        free(texts[i]);
    free(chunks);
}

static void put_report(const char *path, const char *company, int year, int capex)
{
    enum { PAGES = 26 };
    char *texts[PAGES];
    const char *sections[PAGES];
    for (int i = 0; i < PAGES; i++)
        sections[i] = i < 19 ? "MANAGEMENT'S DISCUSSION" : "FINANCIAL STATEMENTS";
    sections[19] = "FINANCIAL STATEMENTS > CONSOLIDATED STATEMENTS OF CASH FLOWS";
    sections[20] = "FINANCIAL STATEMENTS > CONSOLIDATED BALANCE SHEETS";
    for (int i = 0; i < PAGES; i++) {
        dq_buf b = DQ_BUF_INIT;
        if (i == 0)
            dq_buf_printf(&b, "ANNUAL REPORT\nFor the fiscal year ended December 31, %d\n%s\n"
                              "(Exact name of registrant as specified in its charter)\n",
                          year, company);
        else if (i == 16)
            dq_buf_printf(&b, "Capital expenditures were $%d million in %d, mainly for new "
                              "plants and equipment.\n",
                          capex, year);
        else if (i == 19)
            dq_buf_printf(&b, "Change in total liabilities | %d: %d | %d: %d\n"
                              "Change in total assets | %d: %d | %d: %d\n",
                          year, capex / 10, year - 1, capex / 20, year, capex / 8, year - 1,
                          capex / 16);
        else if (i == 20)
            dq_buf_printf(&b, "Cash and cash equivalents | 1,250 | 1,180\n"
                              "Inventories | 2,310 | 2,240\n"
                              "Goodwill and other intangible assets | 3,400 | 3,390\n"
                              "Total liabilities | %d: %d,100 | %d: %d,900\n"
                              "Total assets | %d: %d,500 | %d: %d,700\n",
                          year, capex, year - 1, capex - 50, year, capex + 90, year - 1,
                          capex + 20);
        else
            dq_buf_printf(&b, "Segment results for page %d: operating income and net sales "
                              "by region, with the same notes on every page.\n",
                          i + 1);
        for (int k = 0; k < 12; k++)
            dq_buf_puts(&b, "The accompanying notes are an integral part of these financial "
                            "statements and describe the accounting policies applied. ");
        texts[i] = dq_buf_take(&b);
    }
    put_chunks(path, texts, sections, NULL, PAGES);
}

static void scope_setup(void)
{
    strcpy(sdir, "/tmp/dq_scope_XXXXXX");
    cr_assert_not_null(mkdtemp(sdir));
    char dir[128];
    snprintf(dir, sizeof dir, "%s/.docqa", sdir);
    sst = store_open(dir, STORE_CREATE);
    cr_assert_not_null(sst, "store_open: %s", dq_last_error());
    cr_assert_eq(store_begin(sst), 0);
    put_report("reports/r1.pdf", "ACME CORPORATION", 2018, 410);
    put_report("reports/r2.pdf", "ACME CORPORATION", 2019, 520);
    put_report("reports/r3.pdf", "BOREALIS INDUSTRIES", 2018, 630);
    put_report("reports/r4.pdf", "BOREALIS INDUSTRIES", 2019, 740);
    put_report("reports/r5.pdf", "CASCADE FOODS", 2019, 850);
    cr_assert_eq(store_commit(sst), 0, "%s", dq_last_error());
}

static void scope_teardown(void)
{
    store_close(sst);
    tmpdir_remove(sdir);
}

TestSuite(scope, .init = scope_setup, .fini = scope_teardown);

/* Whether some hit comes from a report other than path. */
static bool other_reports(const retrieve_result *r, const char *path)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i].chunk.path, path))
            return true;
    return false;
}

static void search(const char *q, const char *doc, retrieve_result *r)
{
    retrieve_params p = retrieve_default_params();
    p.mode = RETRIEVE_BM25;
    p.doc = doc;
    cr_assert_eq(retrieve_search(sst, NULL, q, &p, r), 0, "%s", dq_last_error());
}

Test(scope, company_and_year_pick_one_report_and_its_page)
{
    retrieve_result r;
    search("What were Acme's capital expenditures in FY2018?", NULL, &r);
    cr_assert_eq(r.scope.kind, RETRIEVE_SCOPE_NAMED);
    cr_assert_eq(r.scope.n_docs, 1);
    cr_assert_str_eq(r.scope.paths[0], "reports/r1.pdf");
    cr_assert_str_eq(r.scope.why, "the question names 'acme', '2018'");
    cr_assert_geq(r.n, 1);
    cr_assert_str_eq(r.items[0].chunk.path, "reports/r1.pdf");
    cr_assert_eq(r.items[0].chunk.page_start, 17);
    cr_assert_not_null(strstr(r.items[0].chunk.text, "$410 million"));
    retrieve_result_free(&r);
    /* unscoped, the look-alike pages of the other reports tie on words */
    retrieve_params p = retrieve_default_params();
    p.mode = RETRIEVE_BM25;
    p.no_scope = true;
    cr_assert_eq(retrieve_search(sst, NULL, "What were Acme's capital expenditures in FY2018?",
                                 &p, &r),
                 0);
    cr_assert_eq(r.scope.kind, RETRIEVE_SCOPE_NONE);
    cr_assert(other_reports(&r, "reports/r1.pdf"));
    retrieve_result_free(&r);
}

/* The statement a question names is matched against the section path, in
 * either number ("balance sheet" -> "BALANCE SHEETS"), even when it is named
 * in an instruction: of two statements that hold the same words, the one
 * under the named heading comes first. */
Test(scope, named_statement_finds_the_page_under_its_heading)
{
    retrieve_result r;
    search("What were Borealis's total liabilities in FY2019? Base your answer on the balance "
           "sheet.",
           NULL, &r);
    cr_assert_geq(r.n, 2);
    cr_assert_str_eq(r.items[0].chunk.path, "reports/r4.pdf");
    cr_assert_eq(r.items[0].chunk.page_start, 21, "page %d", r.items[0].chunk.page_start);
    cr_assert_not_null(strstr(r.items[0].chunk.text, "740,100"));
    retrieve_result_free(&r);
    /* the other statement's name finds the other page */
    search("What was Borealis's change in total liabilities in FY2019 in the cash flow "
           "statement?",
           NULL, &r);
    cr_assert_geq(r.n, 1);
    cr_assert_eq(r.items[0].chunk.page_start, 20, "page %d", r.items[0].chunk.page_start);
    retrieve_result_free(&r);
}

/* Inside a long document the page that holds most of the question beats a
 * page that repeats one rare word of it (a schedule's label), which plain
 * BM25 ranks first. */
Test(scope, long_document_page_holding_the_question_beats_a_repeated_word)
{
    enum { PAGES = 26 };
    char *texts[PAGES];
    for (int i = 0; i < PAGES; i++) {
        dq_buf b = DQ_BUF_INIT;
        if (i == 4)
            dq_buf_puts(&b, "Warehouses: warehouses, warehouses.");
        else if (i == 9)
            dq_buf_puts(&b, "In 2019 our sites had 12,000 employees, who worked there.");
        else
            dq_buf_printf(&b, "Employees at the sites worked on other matters, as "
                              "page %d of this manual describes.",
                          i + 1);
        texts[i] = dq_buf_take(&b);
    }
    put_chunks("manuals/site.pdf", texts, NULL, NULL, PAGES);
    retrieve_result r;
    search("How many employees worked in the warehouses in 2019?", "*site.pdf", &r);
    cr_assert_geq(r.n, 2);
    cr_assert_eq(r.items[0].chunk.page_start, 10, "page %d", r.items[0].chunk.page_start);
    retrieve_result_free(&r);
}

/* A year names a document less than a company does: another company's
 * report that holds only a rarer year the question also names (the earlier
 * year of a comparison) stays out of the scope. */
Test(scope, a_report_holding_only_a_named_year_is_not_named)
{
    cr_assert_eq(store_begin(sst), 0);
    put_report("reports/r6.pdf", "DELTA MINING", 2016, 960);
    cr_assert_eq(store_commit(sst), 0, "%s", dq_last_error());
    retrieve_result r;
    search("What were Borealis's capital expenditures in FY2019, against FY2016?", NULL, &r);
    cr_assert_eq(r.scope.kind, RETRIEVE_SCOPE_NAMED);
    cr_assert_eq(r.scope.n_docs, 1);
    cr_assert_str_eq(r.scope.paths[0], "reports/r4.pdf");
    retrieve_result_free(&r);
}

/* A 24-chunk manual at path, a chunk a page, except that chunk `second`
 * is the second chunk of the page before it; chunk i holds text[i] where
 * given, else filler (a printf format taking the page number). */
static void put_manual(const char *path, const char *const text[24], int second,
                       const char *filler)
{
    enum { CHUNKS = 24 };
    char *texts[CHUNKS];
    int pages[CHUNKS];
    for (int i = 0; i < CHUNKS; i++) {
        pages[i] = i == second ? i : i + 1;
        if (text[i]) {
            texts[i] = dq_strdup(text[i]);
        } else {
            dq_buf b = DQ_BUF_INIT;
            dq_buf_printf(&b, filler, pages[i]);
            texts[i] = dq_buf_take(&b);
        }
    }
    put_chunks(path, texts, NULL, pages, CHUNKS);
}

/* Two chunks of one page are one place to a reader who is cited pages: the
 * second best chunk of the best page comes after the best chunk of another
 * page that also answers. */
Test(scope, a_second_chunk_of_a_page_comes_after_another_page)
{
    const char *text[24] = {
        [2] = "To replace the impeller seal, drain the pump and lift the impeller seal cover; "
              "the impeller seal is replaced whole.",
        [3] = "Impeller seal kits list the impeller seal, its springs and the gasket replaced "
              "with it.", /* the second chunk of page 3 */
        [7] = "Worn impeller seal: the seal is replaced by the service partner.",
    };
    put_manual("manuals/pump.pdf", text, 3,
               "Page %d covers the cabinet, the wiring and the seal of the door of the pump "
               "housing in general terms.");
    retrieve_params p = retrieve_default_params();
    p.mode = RETRIEVE_BM25;
    p.doc = "*pump.pdf";
    p.top_k = 2;
    retrieve_result r;
    cr_assert_eq(retrieve_search(sst, NULL, "How is the impeller seal replaced?", &p, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.items[0].chunk.page_start, 3);
    cr_assert_eq(r.items[1].chunk.page_start, 8, "page %d", r.items[1].chunk.page_start);
    retrieve_result_free(&r);
    /* without diversity the page's two chunks lead */
    p.mmr_lambda = 1.0;
    cr_assert_eq(retrieve_search(sst, NULL, "How is the impeller seal replaced?", &p, &r), 0);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.items[1].chunk.page_start, 3, "page %d", r.items[1].chunk.page_start);
    retrieve_result_free(&r);
}

/* Page as a unit: when a page's answer is spread over two chunks, the best
 * of them takes in the other, and the hit is the whole page (its chunks
 * named, in reading order); a chunk that holds the question alone stays a
 * chunk. */
Test(scope, a_page_whose_chunks_together_answer_is_one_hit)
{
    const char *text[24] = {
        [4] = "The flow valve sits on the left of the pump, under its cover.",
        [5] = "Tighten it to the torque the gauge shows, then close the cover.", /* page 5 too */
        [9] = "The flow valve of the spare pump is the same part.",
    };
    put_manual("manuals/valve.pdf", text, 5,
               "Page %d covers the cabinet and the wiring of the pump housing.");
    retrieve_params p = retrieve_default_params();
    p.mode = RETRIEVE_BM25;
    p.doc = "*valve.pdf";
    p.top_k = 2;
    retrieve_result r;
    cr_assert_eq(retrieve_search(sst, NULL, "What torque does the gauge give the flow valve?", &p,
                                 &r), 0);
    cr_assert_eq(r.n, 2);
    int at5 = r.items[0].chunk.page_start == 5 ? 0 : 1, other = 1 - at5;
    const retrieve_hit *h = &r.items[at5];
    cr_assert_eq(h->chunk.page_start, 5);
    cr_assert_eq(h->n_page_chunks, 2);
    cr_expect_lt(h->page_chunks[0], h->page_chunks[1], "in reading order");
    cr_expect(h->chunk.chunk_id == h->page_chunks[0] || h->chunk.chunk_id == h->page_chunks[1]);
    cr_expect(strstr(h->chunk.text, "flow valve sits") && strstr(h->chunk.text, "gauge shows"),
              "%s", h->chunk.text);
    cr_expect(strstr(h->chunk.text, "flow valve sits") < strstr(h->chunk.text, "gauge shows"));
    cr_expect_eq(r.items[other].chunk.page_start, 10);
    cr_expect_eq(r.items[other].n_page_chunks, 0, "page 10's one chunk stays a chunk");
    cr_expect_null(r.items[other].page_chunks);
    retrieve_result_free(&r);
}

/* A word no chunk holds in any form ("cyclicality") is searched through the
 * indexed words of its stem ("cyclical"); a word the store holds is not. */
Test(scope, a_word_no_chunk_holds_finds_its_family)
{
    char *texts[] = {dq_strdup("Historically the aircraft market has been cyclical."),
                     dq_strdup("Our business is subject to rules on exports and to taxes.")};
    put_chunks("notes/risk.pdf", texts, NULL, NULL, 2);
    retrieve_params p = retrieve_default_params();
    p.mode = RETRIEVE_BM25;
    p.doc = "*risk.pdf";
    retrieve_result r;
    cr_assert_eq(retrieve_search(sst, NULL, "Does it show cyclicality?", &p, &r), 0);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.items[0].chunk.page_start, 1, "page %d", r.items[0].chunk.page_start);
    cr_assert_not_null(strstr(r.match, "\"cyclical\""), "%s", r.match);
    retrieve_result_free(&r);
    /* inside a long document a chunk holding the stand-in holds the word,
     * for the share of the question a chunk holds: page 6 holds three of
     * the four words, page 10 two (more often) */
    enum { PAGES = 24 };
    char *pages[PAGES];
    for (int i = 0; i < PAGES; i++) {
        dq_buf b = DQ_BUF_INIT;
        if (i == 5)
            dq_buf_puts(&b, "Historically the airline market has been cyclical, with swings in "
                            "profit across many years of orders and deliveries.");
        else if (i == 9)
            dq_buf_puts(&b, "Airline market: airline market shares, airline market rules.");
        else
            dq_buf_printf(&b, "Page %d covers the cabinet, the wiring and the cyclical checks of the door.", i + 1);
        pages[i] = dq_buf_take(&b);
    }
    put_chunks("notes/airline.pdf", pages, NULL, NULL, PAGES);
    p.doc = "*airline.pdf";
    cr_assert_eq(retrieve_search(sst, NULL, "Is the airline market marked by cyclicality?", &p,
                                 &r),
                 0);
    cr_assert_geq(r.n, 2);
    cr_assert_eq(r.items[0].chunk.page_start, 6, "page %d", r.items[0].chunk.page_start);
    retrieve_result_free(&r);
    cr_assert_eq(retrieve_search(sst, NULL, "Is the business subject to export rules?", &p, &r), 0);
    cr_assert_null(strstr(r.match, "\"exports\" OR \"export"), "%s", r.match);
    retrieve_result_free(&r);
}

Test(scope, company_alone_keeps_all_its_reports)
{
    retrieve_result r;
    search("Borealis capital expenditures", NULL, &r); /* a keyword query: no sentence */
    cr_assert_eq(r.scope.kind, RETRIEVE_SCOPE_NAMED);
    cr_assert_eq(r.scope.n_docs, 2);
    for (size_t i = 0; i < r.n; i++)
        cr_assert(!strcmp(r.items[i].chunk.path, "reports/r3.pdf") ||
                      !strcmp(r.items[i].chunk.path, "reports/r4.pdf"),
                  "%s", r.items[i].chunk.path);
    retrieve_result_free(&r);
}

Test(scope, words_common_to_the_reports_name_none)
{
    retrieve_result r;
    /* "Annual Report" is on every cover; a capital inside a sentence is not
     * enough when the word names no document in particular */
    search("What does the Annual Report say about capital expenditures?", NULL, &r);
    cr_assert_eq(r.scope.kind, RETRIEVE_SCOPE_NONE);
    cr_assert_null(r.scope.why);
    cr_assert(other_reports(&r, "reports/r1.pdf"));
    retrieve_result_free(&r);
}

Test(scope, doc_glob_scopes_by_hand)
{
    retrieve_result r;
    search("capital expenditures", "*r5.pdf", &r);
    cr_assert_eq(r.scope.kind, RETRIEVE_SCOPE_CHOSEN);
    cr_assert_eq(r.scope.n_docs, 1);
    cr_assert_str_eq(r.items[0].chunk.path, "reports/r5.pdf");
    cr_assert_not_null(strstr(r.items[0].chunk.text, "$850 million"));
    for (size_t i = 0; i < r.n; i++)
        cr_assert_str_eq(r.items[i].chunk.path, "reports/r5.pdf");
    retrieve_result_free(&r);
    /* a pattern that matches nothing is an empty result that says so */
    search("capital expenditures", "*missing*", &r);
    cr_assert_eq(r.scope.kind, RETRIEVE_SCOPE_CHOSEN);
    cr_assert_eq(r.scope.n_docs, 0);
    cr_assert_eq(r.n, 0);
    retrieve_result_free(&r);
}

/* ---- scope: a named document that is not in the store -------------------- */

static const char *absent_of(const char *q, retrieve_result *r)
{
    search(q, NULL, r);
    return r->scope.absent;
}

Test(scope, a_company_no_report_is_about_is_said_absent)
{
    retrieve_result r;
    cr_assert_str_eq(absent_of("What were Zenith's capital expenditures in FY2018?", &r),
                     "Zenith 2018");
    cr_assert_eq(r.scope.kind, RETRIEVE_SCOPE_NAMED); /* by the year alone */
    retrieve_result_free(&r);
    cr_assert_str_eq(absent_of("Zenith 2019 capital expenditures", &r), "Zenith 2019");
    retrieve_result_free(&r);
    /* Chinese questions too, by their Latin names */
    cr_assert_str_eq(absent_of("Zenith公司2018年的资本支出是多少？", &r), "Zenith 2018");
    retrieve_result_free(&r);
}

Test(scope, absent_is_not_said_when_the_store_may_hold_it)
{
    retrieve_result r;
    /* a stored company is named, besides the unknown word */
    cr_assert_null(absent_of("How did Acme compare with Zenith in 2018?", &r));
    retrieve_result_free(&r);
    /* no year or other word of the documents' covers: not a question about a report */
    cr_assert_null(absent_of("What were Zenith's capital expenditures?", &r));
    retrieve_result_free(&r);
    /* a plural, possessive or clipped form of a stored word */
    cr_assert_null(absent_of("What were Acmes capital expenditures in 2018?", &r));
    retrieve_result_free(&r);
    cr_assert_null(absent_of("What were the Segments results in 2018?", &r));
    retrieve_result_free(&r);
    /* a word the pages hold, though no cover does */
    cr_assert_null(absent_of("What do the Notes say about Segment results in 2018?", &r));
    retrieve_result_free(&r);
    /* a year alone, a Chinese word, a lower-case word */
    cr_assert_null(absent_of("What were capital expenditures in 2031?", &r));
    retrieve_result_free(&r);
    cr_assert_null(absent_of("天顺公司2018年的资本支出是多少？", &r));
    retrieve_result_free(&r);
    cr_assert_null(absent_of("What were zenith's capital expenditures in 2018?", &r));
    retrieve_result_free(&r);
}
