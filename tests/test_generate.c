/* test_generate.c - extractive answers: sentence choice, citations, dedup, source format,
 * the figure a question asks for in look-alike reports. */
#include <criterion/criterion.h>

#include "common/common.h"
#include "generate/figure.h"
#include "generate/generate.h"
#include "index/index.h"
#include "retrieve/retrieve.h"
#include "support/storegen.h"
#include "support/tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A retrieve_result built by hand: hits in the given order (best first). */
typedef struct {
    int64_t id;
    const char *path, *section, *text;
    int page_start, page_end;
} fake_hit;

static retrieve_result make_hits(const fake_hit *f, size_t n)
{
    retrieve_result r = {0};
    r.items = dq_calloc(n ? n : 1, sizeof *r.items);
    for (size_t i = 0; i < n; i++) {
        store_hit *h = &r.items[i].chunk;
        h->chunk_id = f[i].id;
        h->doc_id = 1;
        h->score = 10.0 - (double)i;
        h->path = dq_strdup(f[i].path);
        h->section = dq_strdup(f[i].section);
        h->text = dq_strdup(f[i].text);
        h->page_start = f[i].page_start;
        h->page_end = f[i].page_end;
        r.items[i].snippet = dq_strdup("");
    }
    r.n = n;
    r.match = dq_strdup("");
    return r;
}

static const fake_hit lease[] = {
    {13, "contracts/lease.pdf", "第五章",
     "第五条 本合同自双方签字之日起生效。合同期满后乙方享有优先续租权。", 5, 5},
    {12, "contracts/lease.pdf", "第三章 > 3.2",
     "第三条 乙方逾期支付租金的，每逾期一日应按月租金的千分之五向甲方支付违约金。"
     "甲方应保证房屋符合安全标准。",
     3, 3},
    {11, "contracts/lease.pdf", "",
     "第一条 租赁期限为三年。本合同一式两份，双方各执一份。", 1, 1},
};

static const fake_hit manual[] = {
    {22, "manual.pdf", "Care",
     "To clean the device, unplug it and wipe it with a dry cloth. Do not use solvents during "
     "the cleaning period.",
     7, 7},
    {21, "manual.pdf", "",
     "Warranty\nThe warranty period is 24 months from the date of purchase. Keep your receipt "
     "as proof of purchase.",
     1, 2},
};

Test(answer, defaults)
{
    answer_params p = answer_default_params();
    cr_assert_eq(p.max_sentences, 3);
    cr_assert_float_eq(p.min_score, 0.2, 1e-9);
}

Test(answer, chinese_penalty_sentence_cites_its_chunk)
{
    retrieve_result r = make_hits(lease, 3);
    answer a;
    cr_assert_eq(answer_extractive("合同的违约金是多少？", &r, NULL, &a), 0);
    cr_assert(a.found);
    /* Sentences that share only 合同 with the question don't pad the answer. */
    cr_assert_eq(a.n_sentences, 1);
    cr_assert_str_eq(a.sentences[0].text,
                     "第三条 乙方逾期支付租金的，每逾期一日应按月租金的千分之五向甲方支付违约金。");
    cr_assert_eq(a.sentences[0].source, 1);
    cr_assert_gt(a.sentences[0].score, 0.5);
    cr_assert_leq(a.sentences[0].score, 1.0);
    cr_assert_eq(a.n_sources, 1);
    cr_assert_eq(a.sources[0].number, 1);
    cr_assert_eq(a.sources[0].chunk_id, 12);
    cr_assert_float_eq(a.sources[0].score, 9.0, 1e-9);
    char *src = answer_format_source(&a.sources[0]);
    cr_assert_str_eq(src, "contracts/lease.pdf p. 3, 第三章 > 3.2");
    free(src);
    answer_free(&a);
    answer_free(&a);
    retrieve_result_free(&r);
}

Test(answer, english_warranty_sentence_cites_its_chunk)
{
    retrieve_result r = make_hits(manual, 2);
    answer a;
    answer_params p = answer_default_params();
    cr_assert_eq(answer_extractive("How long is the warranty period?", &r, &p, &a), 0);
    cr_assert(a.found);
    cr_assert_eq(a.n_sentences, 1);
    cr_assert_str_eq(a.sentences[0].text,
                     "The warranty period is 24 months from the date of purchase.");
    cr_assert_eq(a.sentences[0].source, 1);
    /* long, warranty, period: two of three. */
    cr_assert_float_eq(a.sentences[0].score, 2.0 / 3.0, 1e-9);
    cr_assert_eq(a.n_sources, 1);
    cr_assert_eq(a.sources[0].chunk_id, 21);
    char *src = answer_format_source(&a.sources[0]);
    cr_assert_str_eq(src, "manual.pdf pp. 1-2");
    free(src);
    answer_free(&a);

    /* Asking for more coverage than any sentence has finds nothing. */
    p.min_score = 0.9;
    cr_assert_eq(answer_extractive("How long is the warranty period?", &r, &p, &a), 0);
    cr_assert(!a.found);
    cr_assert_eq(a.n_sentences, 0);
    cr_assert_eq(a.n_sources, 0);
    answer_free(&a);
    retrieve_result_free(&r);
}

Test(answer, irrelevant_question_finds_nothing)
{
    retrieve_result r = make_hits(lease, 3);
    answer a;
    cr_assert_eq(answer_extractive("火星有几颗卫星？", &r, NULL, &a), 0);
    cr_assert(!a.found);
    cr_assert_eq(a.n_sentences, 0);
    cr_assert_eq(a.n_sources, 0);
    answer_free(&a);
    cr_assert_eq(answer_extractive("What is the capital of France?", &r, NULL, &a), 0);
    cr_assert(!a.found);
    answer_free(&a);
    retrieve_result_free(&r);

    retrieve_result none = {0};
    cr_assert_eq(answer_extractive("合同的违约金是多少？", &none, NULL, &a), 0);
    cr_assert(!a.found);
    answer_free(&a);
}

Test(answer, overlapping_chunks_cite_a_sentence_once)
{
    const fake_hit overlap[] = {
        {31, "a.txt", "", "Returns are accepted within thirty days. The warranty period is 24 months.",
         0, 0},
        {32, "a.txt", "", "The warranty period is 24 months. Batteries are not covered.", 0, 0},
        {33, "a.txt", "", "Batteries are not covered. An extended warranty period costs extra.",
         0, 0},
    };
    retrieve_result r = make_hits(overlap, 3);
    answer a;
    cr_assert_eq(answer_extractive("What is the warranty period?", &r, NULL, &a), 0);
    cr_assert_eq(a.n_sentences, 2);
    cr_assert_str_eq(a.sentences[0].text, "The warranty period is 24 months.");
    cr_assert_eq(a.sentences[0].source, 1);
    cr_assert_str_eq(a.sentences[1].text, "An extended warranty period costs extra.");
    cr_assert_eq(a.sentences[1].source, 2);
    /* Chunk 32 only repeated a chosen sentence: it is not a source. */
    cr_assert_eq(a.n_sources, 2);
    cr_assert_eq(a.sources[0].chunk_id, 31);
    cr_assert_eq(a.sources[1].chunk_id, 33);
    char *src = answer_format_source(&a.sources[0]);
    cr_assert_str_eq(src, "a.txt");
    free(src);
    answer_free(&a);
    retrieve_result_free(&r);
}

Test(answer, whole_sentence_replaces_a_fragment)
{
    /* The best-ranked chunk starts mid-sentence. */
    const fake_hit overlap[] = {
        {41, "b.txt", "", "warranty period is 24 months. Keep the box.", 0, 0},
        {42, "b.txt", "", "Since 2020 the warranty period is 24 months. Keep the box.", 0, 0},
    };
    retrieve_result r = make_hits(overlap, 2);
    answer a;
    cr_assert_eq(answer_extractive("warranty period", &r, NULL, &a), 0);
    cr_assert_eq(a.n_sentences, 1);
    cr_assert_str_eq(a.sentences[0].text, "Since 2020 the warranty period is 24 months.");
    cr_assert_eq(a.n_sources, 1);
    cr_assert_eq(a.sources[0].chunk_id, 42);
    answer_free(&a);
    retrieve_result_free(&r);
}

Test(answer, sentences_ordered_by_score_and_limited)
{
    const fake_hit h[] = {
        {51, "c.txt", "",
         "Solar panels convert light. Solar panels convert sunlight into electricity efficiently. "
         "Panels convert sunlight into electricity.",
         0, 0},
    };
    retrieve_result r = make_hits(h, 1);
    answer a;
    answer_params p = answer_default_params();
    cr_assert_eq(answer_extractive("do solar panels convert sunlight into electricity", &r, &p, &a),
                 0);
    cr_assert_eq(a.n_sentences, 3);
    cr_assert_str_eq(a.sentences[0].text,
                     "Solar panels convert sunlight into electricity efficiently.");
    cr_assert_float_eq(a.sentences[0].score, 1.0, 1e-9);
    cr_assert_str_eq(a.sentences[1].text, "Panels convert sunlight into electricity.");
    cr_assert_str_eq(a.sentences[2].text, "Solar panels convert light.");
    cr_assert_gt(a.sentences[1].score, a.sentences[2].score);
    cr_assert_eq(a.n_sources, 1);
    answer_free(&a);

    p.max_sentences = 1;
    cr_assert_eq(answer_extractive("do solar panels convert sunlight into electricity", &r, &p, &a),
                 0);
    cr_assert_eq(a.n_sentences, 1);
    answer_free(&a);
    retrieve_result_free(&r);
}

Test(answer, format_source)
{
    answer_source s = {1, "contracts/lease.pdf", "第三章 > 3.2", 3, 3, 7, 1.0, false, NULL};
    char *t = answer_format_source(&s);
    cr_assert_str_eq(t, "contracts/lease.pdf p. 3, 第三章 > 3.2");
    free(t);
    s.page_end = 4;
    t = answer_format_source(&s);
    cr_assert_str_eq(t, "contracts/lease.pdf pp. 3-4, 第三章 > 3.2");
    free(t);
    s.section = "";
    t = answer_format_source(&s);
    cr_assert_str_eq(t, "contracts/lease.pdf pp. 3-4");
    free(t);
    s.page_start = s.page_end = 12;
    t = answer_format_source(&s);
    cr_assert_str_eq(t, "contracts/lease.pdf p. 12");
    free(t);
    /* Office files: the label replaces pages */
    answer_source o = {2, "prices.xlsx", "报价单", 1, 1, 9, 1.0, false, "sheet 报价单, rows 12–40"};
    t = answer_format_source(&o);
    cr_expect_str_eq(t, "prices.xlsx, sheet 报价单, rows 12–40");
    free(t);
    o = (answer_source){3, "deck.pptx", "Pricing", 7, 7, 9, 1.0, false, "slide 7"};
    t = answer_format_source(&o);
    cr_expect_str_eq(t, "deck.pptx, slide 7, Pricing");
    free(t);
    o = (answer_source){4, "contract.docx", "第三章 > 3.2", 1, 1, 9, 1.0, false, "§3.2 ¶4"};
    t = answer_format_source(&o);
    cr_expect_str_eq(t, "contract.docx §3.2 ¶4, 第三章 > 3.2");
    free(t);
    /* A text file has no pages. */
    s.page_start = s.page_end = 0;
    s.section = "Intro";
    t = answer_format_source(&s);
    cr_assert_str_eq(t, "contracts/lease.pdf, Intro");
    free(t);
}

/* ---- end to end over a store ------------------------------------------- */

Test(answer, from_store_through_bm25)
{
    char tmpdir[64] = "/tmp/dq_generate_XXXXXX";
    cr_assert_not_null(mkdtemp(tmpdir));
    char dir[128];
    snprintf(dir, sizeof dir, "%s/.docqa", tmpdir);
    store *st = store_open(dir, STORE_CREATE);
    cr_assert_not_null(st, "%s", dq_last_error());
    store_chunk_in chunks[3];
    const char *pages[5] = {"1", "2", "3", "4", "5"};
    for (int i = 0; i < 3; i++)
        chunks[i] = (store_chunk_in){.text = lease[2 - i].text,
                                     .section = lease[2 - i].section,
                                     .page_start = lease[2 - i].page_start,
                                     .page_end = lease[2 - i].page_end,
                                     .ordinal = i,
                                     .label = NULL};
    store_doc_info info = {"0000000000000000000000000000000000000000000000000000000000000001",
                           "pdf", NULL, 5};
    cr_assert_eq(store_begin(st), 0);
    cr_assert_eq(store_put_document(st, "contracts/lease.pdf", 100, 1000, &info, pages, chunks, 3),
                 0, "%s", dq_last_error());
    cr_assert_eq(store_commit(st), 0);

    retrieve_result r;
    cr_assert_eq(retrieve_bm25(st, "合同的违约金是多少？", NULL, &r), 0, "%s", dq_last_error());
    answer a;
    cr_assert_eq(answer_extractive("合同的违约金是多少？", &r, NULL, &a), 0);
    cr_assert(a.found);
    cr_assert_eq(a.n_sources, 1);
    cr_assert_eq(a.sentences[0].source, 1);
    cr_assert_not_null(strstr(a.sentences[0].text, "违约金"));
    cr_assert_eq(a.sources[0].chunk_id, r.items[0].chunk.chunk_id);
    char *src = answer_format_source(&a.sources[0]);
    cr_assert_str_eq(src, "contracts/lease.pdf p. 3, 第三章 > 3.2");
    free(src);
    answer_free(&a);
    retrieve_result_free(&r);
    store_close(st);
    tmpdir_remove(tmpdir);
}

/* ---- figures: the line that states the amount asked for ------------------ */

static figure_kind figure_of(const char *line, const char *question)
{
    figure_question q;
    figure_question_read(question, &q);
    return figure_in_line(line, strlen(line), &q);
}

Test(figure, question_periods_and_quantity_words)
{
    figure_question q;
    figure_question_read("What was Acme's FY2018 capex, versus 2017 and FY2018?", &q);
    cr_assert_eq(q.n_years, 2);
    cr_assert_str_eq(q.years[0], "2018");
    cr_assert_str_eq(q.years[1], "2017");
    cr_assert(q.asks);
    figure_question_read("How many plants does Acme run?", &q);
    cr_assert_eq(q.n_years, 0);
    cr_assert(q.asks);
    figure_question_read("公司的违约金是多少？", &q);
    cr_assert(q.asks);
    figure_question_read("Who audits Acme's 10-K?", &q); /* 10-K is no year, who no amount */
    cr_assert_eq(q.n_years, 0);
    cr_assert_not(q.asks);
    figure_question_read("火星有几颗卫星？", &q);
    cr_assert(q.asks);
    figure_question_read("几乎所有条款都适用吗？", &q); /* 几乎: almost */
    cr_assert_not(q.asks);
    figure_question_read("茶几的保修条款是什么？", &q); /* 茶几: a tea table */
    cr_assert_not(q.asks);
}

Test(figure, rows_sentences_headers_and_words_with_digits)
{
    const char *q = "What were the FY2018 purchases of property?";
    cr_assert_eq(figure_of("Purchases of property | 2018: (1,577) | 2017: (1,373)", q),
                 FIGURE_ASKED);
    cr_assert_eq(figure_of("Purchases of property | 2017: (1,373) | 2016: (1,420)", q),
                 FIGURE_SOME);
    cr_assert_eq(figure_of("Purchases of property | (1,577) | (1,373)", q), FIGURE_SOME);
    /* header rows: years, and cells of words around a date */
    cr_assert_eq(figure_of("Purchases of property | 2018 | 2017", q), FIGURE_NONE);
    cr_assert_eq(figure_of("Revenues | Year ended May 31, 2019 | Year ended May 31, 2018", q),
                 FIGURE_NONE);
    cr_assert_eq(figure_of("Filings | 3M: 10-K | Acme: Q2 | 2018: FY2018", q), FIGURE_NONE);
    cr_assert_eq(figure_of("营业收入 | 2018年: 1,234万元 | 2017年: 1,100万元", "2018年营业收入是多少？"),
                 FIGURE_ASKED);
    /* a sentence's numbers are not told apart: only rows count */
    cr_assert_eq(figure_of("In 2018 purchases of property were $1,577 million.", q), FIGURE_NONE);
}

/* Three look-alike 12-page annual reports a company: a cover that names
 * company and year, prose that talks about the same items in more of the
 * question's words than any table, and a cash-flow page whose rows state
 * the amounts of this year and the last. */
static void put_report(store *st, const char *path, const char *company, int year, int capex)
{
    enum { PAGES = 12 };
    char *texts[PAGES];
    for (int i = 0; i < PAGES; i++) {
        dq_buf b = DQ_BUF_INIT;
        if (i == 0)
            dq_buf_printf(&b, "ANNUAL REPORT\nFor the fiscal year ended December 31, %d\n%s\n",
                          year, company);
        else if (i == 4)
            dq_buf_printf(&b, "Liquidity. In %d purchases of property, plant and equipment were "
                              "higher than planned, as %s built new plants and expects capital "
                              "expenditures to grow again next year.\n",
                          year, company);
        else if (i == 8)
            dq_buf_printf(&b, "CONSOLIDATED STATEMENT OF CASH FLOWS\n"
                              "Net income | %d: 4,210 | %d: 3,990\n"
                              "Depreciation | %d: 1,020 | %d: 980\n"
                              "Capital expenditures\n"
                              "Purchases of property, plant and equipment | %d: (%d) | %d: (%d)\n"
                              "Disposals\n"
                              "Proceeds from sale of property, plant and equipment | %d: 64 | "
                              "%d: 51\n",
                          year, year - 1, year, year - 1, year, capex, year - 1, capex - 111,
                          year, year - 1);
        else
            dq_buf_printf(&b, "Segment results for page %d: operating income and net sales by "
                              "region, as every page of %s's report states them.\n",
                          i + 1, company);
        texts[i] = dq_buf_take(&b);
    }
    cr_assert_eq(storegen_put_texts(st, path, (const char *const *)texts, PAGES), 0, "%s",
                 dq_last_error());
    for (int i = 0; i < PAGES; i++)
        free(texts[i]);
}

static store *fst;
static char fdir[64];

static void reports_setup(void)
{
    strcpy(fdir, "/tmp/dq_figure_XXXXXX");
    cr_assert_not_null(mkdtemp(fdir));
    char dir[128];
    snprintf(dir, sizeof dir, "%s/.docqa", fdir);
    fst = store_open(dir, STORE_CREATE);
    cr_assert_not_null(fst, "%s", dq_last_error());
    cr_assert_eq(store_begin(fst), 0);
    put_report(fst, "reports/acme-2018.txt", "ACME CORPORATION", 2018, 1577);
    put_report(fst, "reports/acme-2019.txt", "ACME CORPORATION", 2019, 1688);
    put_report(fst, "reports/borealis-2018.txt", "BOREALIS INDUSTRIES", 2018, 2466);
    cr_assert_eq(store_commit(fst), 0, "%s", dq_last_error());
}

static void reports_teardown(void)
{
    store_close(fst);
    tmpdir_remove(fdir);
}

/* The extractive answer from BM25's top 5, as ask gives it. */
static void ask_reports(const char *question, retrieve_result *r, answer *a)
{
    retrieve_params p = retrieve_default_params();
    p.mode = RETRIEVE_BM25;
    p.top_k = 5;
    cr_assert_eq(retrieve_search(fst, NULL, question, &p, r), 0, "%s", dq_last_error());
    cr_assert_eq(answer_extractive(question, r, NULL, a), 0);
}

Test(figure, the_row_of_the_period_asked_beats_wordier_prose, .init = reports_setup,
     .fini = reports_teardown)
{
    retrieve_result r;
    answer a;
    ask_reports("How much did Acme spend on purchases of property, plant and equipment in "
                "FY2018?",
                &r, &a);
    cr_assert(a.found);
    cr_assert(a.n_sentences >= 1);
    cr_assert_str_eq(a.sentences[0].text, "Purchases of property, plant and equipment | "
                                          "2018: (1577) | 2017: (1466)");
    const answer_source *src = &a.sources[a.sentences[0].source - 1];
    cr_assert_str_eq(src->path, "reports/acme-2018.txt");
    cr_assert_eq(src->page_start, 9);
    answer_free(&a);
    retrieve_result_free(&r);
}

Test(figure, a_row_is_about_the_caption_it_hangs_under, .init = reports_setup,
     .fini = reports_teardown)
{
    retrieve_result r;
    answer a;
    /* the row's label shares no word with the question; its caption does */
    ask_reports("What were Borealis's capital expenditures in FY2018?", &r, &a);
    cr_assert(a.found);
    cr_assert_str_eq(a.sentences[0].text, "Purchases of property, plant and equipment | "
                                          "2018: (2466) | 2017: (2355)");
    cr_assert_str_eq(a.sources[a.sentences[0].source - 1].path, "reports/borealis-2018.txt");
    answer_free(&a);
    retrieve_result_free(&r);
}

Test(figure, no_amount_asked_keeps_the_best_worded_sentence, .init = reports_setup,
     .fini = reports_teardown)
{
    retrieve_result r;
    answer a;
    ask_reports("Why were Acme's purchases of property, plant and equipment higher than "
                "planned?",
                &r, &a);
    cr_assert(a.found);
    cr_assert(strstr(a.sentences[0].text, "higher than planned"), "%s", a.sentences[0].text);
    answer_free(&a);
    retrieve_result_free(&r);
}
