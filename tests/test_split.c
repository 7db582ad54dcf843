/* test_split.c - split_document(): budgets, break preference, sections, pages, overlap. */
#include "common/common.h"
#include "ingest/ingest.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building cleaned documents by hand --------------------------------- */

static void add_para(ingest_doc *doc, int page_number, const char *text, int heading)
{
    if (doc->n_pages == 0 || doc->pages[doc->n_pages - 1].number != page_number) {
        doc->pages = dq_realloc(doc->pages, (doc->n_pages + 1) * sizeof *doc->pages);
        memset(&doc->pages[doc->n_pages], 0, sizeof *doc->pages);
        doc->pages[doc->n_pages++].number = page_number;
    }
    ingest_page *p = &doc->pages[doc->n_pages - 1];
    p->paras = dq_realloc(p->paras, (p->n_paras + 1) * sizeof *p->paras);
    p->paras[p->n_paras++] = (ingest_para){.text = dq_strdup(text), .heading = heading};
}

static split_params params(int cjk, int words, float overlap)
{
    split_params p = {cjk, words, overlap};
    return p;
}

/* Every chunk as "<ordinal>:<pages>:<section>:<text>|". */
static char *dump(const chunk_list *cl)
{
    dq_buf b = DQ_BUF_INIT;
    for (size_t i = 0; i < cl->n; i++) {
        const chunk *c = &cl->items[i];
        cr_assert(utf8_valid(c->text, strlen(c->text)));
        cr_assert(utf8_valid(c->section, strlen(c->section)));
        cr_assert_eq(c->ordinal, (int)i);
        dq_buf_printf(&b, "%d:%d-%d:%s:%s|", c->ordinal, c->page_start, c->page_end, c->section,
                      c->text);
    }
    return dq_buf_take(&b);
}

static char *split_dump(const ingest_doc *doc, split_params p, chunk_list *cl)
{
    cr_assert_eq(split_document(doc, &p, cl), 0, "%s", dq_last_error());
    return dump(cl);
}

/* ---- tests -------------------------------------------------------------- */

Test(split, default_params)
{
    split_params p = split_default_params();
    cr_assert_eq(p.chunk_cjk, 350);
    cr_assert_eq(p.chunk_words, 250);
    cr_assert_float_eq(p.overlap, 0.15f, 1e-6);
}

Test(split, paragraphs_then_sentences)
{
    ingest_doc doc = {0};
    add_para(&doc, 1, "One two three four.", 0);
    add_para(&doc, 1, "Five six seven eight nine.", 0);
    add_para(&doc, 1, "Ten eleven twelve.", 0);
    add_para(&doc, 1, "A b c d e f g h. I j k l. M n o p q.", 0);
    chunk_list cl;
    char *d = split_dump(&doc, params(100, 10, 0), &cl);
    cr_assert_str_eq(d, "0:1-1::One two three four.\nFive six seven eight nine.|"
                        "1:1-1::Ten eleven twelve.|"
                        "2:1-1::A b c d e f g h.|"
                        "3:1-1::I j k l. M n o p q.|");
    free(d);
    chunk_list_free(&cl);
    chunk_list_free(&cl);
    ingest_doc_free(&doc);
}

Test(split, clauses_then_words)
{
    ingest_doc doc = {0};
    add_para(&doc, 1, "Alpha beta gamma delta, epsilon zeta eta theta iota, kappa lambda mu nu xi.",
             0);
    dq_buf long_sentence = DQ_BUF_INIT;
    for (int i = 1; i <= 25; i++)
        dq_buf_printf(&long_sentence, "%sw%d", i > 1 ? " " : "", i);
    add_para(&doc, 2, long_sentence.data, 0);
    dq_buf_free(&long_sentence);
    chunk_list cl;
    char *d = split_dump(&doc, params(100, 10, 0), &cl);
    cr_assert_str_eq(d, "0:1-1::Alpha beta gamma delta, epsilon zeta eta theta iota,|"
                        "1:1-1::kappa lambda mu nu xi.|"
                        "2:2-2::w1 w2 w3 w4 w5 w6 w7 w8 w9 w10|"
                        "3:2-2::w11 w12 w13 w14 w15 w16 w17 w18 w19 w20|"
                        "4:2-2::w21 w22 w23 w24 w25|");
    free(d);
    chunk_list_free(&cl);
    ingest_doc_free(&doc);
}

Test(split, enormous_cjk_sentence_cut_at_characters)
{
    /* 1000 characters, no punctuation, some of them 4-byte (U+20000). */
    static const char *const chars[] = {"天", "地", "玄", "黄", "𠀀", "宇", "宙", "洪", "荒"};
    dq_buf text = DQ_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        dq_buf_puts(&text, chars[i % 9]);
    ingest_doc doc = {0};
    add_para(&doc, 3, text.data, 0);
    chunk_list cl;
    split_params p = split_default_params();
    cr_assert_eq(split_document(&doc, &p, &cl), 0);
    cr_assert_eq(cl.n, 3);
    dq_buf joined = DQ_BUF_INIT;
    static const size_t expect_chars[] = {350, 350, 300};
    for (size_t i = 0; i < cl.n; i++) {
        const char *t = cl.items[i].text;
        cr_assert(utf8_valid(t, strlen(t)));
        cr_assert_eq(utf8_length(t, strlen(t)), expect_chars[i]);
        cr_assert_eq(cl.items[i].page_start, 3);
        cr_assert_eq(cl.items[i].page_end, 3);
        dq_buf_puts(&joined, t);
    }
    /* Cut points leave no overlap and lose nothing. */
    cr_assert_str_eq(joined.data, text.data);
    dq_buf_free(&joined);
    dq_buf_free(&text);
    chunk_list_free(&cl);
    ingest_doc_free(&doc);
}

Test(split, symbol_runs_make_bounded_chunks)
{
    /* Text with no words at all (a wall of '<', an emoji log) still makes
     * chunks of encoder size: each symbol after the first in a run costs
     * like a CJK character. */
    dq_buf text = DQ_BUF_INIT;
    for (int i = 0; i < 20000; i++)
        dq_buf_putc(&text, '<');
    for (int i = 0; i < 1000; i++)
        dq_buf_puts(&text, "\xF0\x9F\x8E\x89"); /* U+1F389 */
    ingest_doc doc = {0};
    add_para(&doc, 1, text.data, 0);
    chunk_list cl;
    split_params p = split_default_params();
    cr_assert_eq(split_document(&doc, &p, &cl), 0);
    dq_buf joined = DQ_BUF_INIT;
    for (size_t i = 0; i < cl.n; i++) {
        const char *t = cl.items[i].text;
        cr_assert(utf8_valid(t, strlen(t)));
        cr_assert_leq(utf8_length(t, strlen(t)), 351, "chunk %zu has %zu characters", i,
                      utf8_length(t, strlen(t)));
        dq_buf_puts(&joined, t);
    }
    cr_expect_geq(cl.n, 21000 / 351);
    cr_expect_str_eq(joined.data, text.data, "nothing lost");
    dq_buf_free(&joined);
    dq_buf_free(&text);
    chunk_list_free(&cl);
    ingest_doc_free(&doc);
}

Test(split, mixed_chinese_english_budget)
{
    ingest_doc doc = {0};
    /* 5 CJK / 10 + 5 words / 10 = 1 exactly: fits. */
    add_para(&doc, 1, "甲乙丙丁戊 one two three four five", 0);
    add_para(&doc, 1, "己", 0);
    chunk_list cl;
    char *d = split_dump(&doc, params(10, 10, 0), &cl);
    cr_assert_str_eq(d, "0:1-1::甲乙丙丁戊 one two three four five|1:1-1::己|");
    free(d);
    chunk_list_free(&cl);
    ingest_doc_free(&doc);

    /* 10 CJK / 20 + 3 words / 5 = 1.1: the third word moves on. */
    memset(&doc, 0, sizeof doc);
    add_para(&doc, 1, "甲乙丙丁戊六七八九十 alpha beta gamma", 0);
    d = split_dump(&doc, params(20, 5, 0), &cl);
    cr_assert_str_eq(d, "0:1-1::甲乙丙丁戊六七八九十 alpha beta|1:1-1::gamma|");
    free(d);
    chunk_list_free(&cl);
    ingest_doc_free(&doc);
}

Test(split, page_spans)
{
    ingest_doc doc = {0};
    add_para(&doc, 1, "One two three.", 0);
    add_para(&doc, 2, "Four five six.", 0);
    add_para(&doc, 3, "Seven eight nine ten eleven twelve thirteen fourteen.", 0);
    add_para(&doc, 5, "短句。", 0);
    chunk_list cl;
    char *d = split_dump(&doc, params(100, 10, 0), &cl);
    cr_assert_str_eq(d, "0:1-2::One two three.\nFour five six.|"
                        "1:3-5::Seven eight nine ten eleven twelve thirteen fourteen.\n短句。|");
    free(d);
    chunk_list_free(&cl);
    ingest_doc_free(&doc);
}

Test(split, section_paths)
{
    ingest_doc doc = {0};
    add_para(&doc, 1, "前言内容。", 0);
    add_para(&doc, 1, "第三章 违约责任", 1);
    add_para(&doc, 1, "违约方应当承担责任。", 0);
    add_para(&doc, 1, "3.2 违约金", 2);
    add_para(&doc, 1, "违约金为合同总额的百分之五。", 0);
    add_para(&doc, 2, "违约金应在三十日内支付。", 0);
    add_para(&doc, 2, "3.3 解除", 2);
    add_para(&doc, 2, "3.3.1 条件", 3);
    add_para(&doc, 2, "合同可以解除。", 0);
    add_para(&doc, 2, "第四章 附则", 1);
    add_para(&doc, 3, "本合同一式两份。", 0);
    add_para(&doc, 3, "空节", 2);
    chunk_list cl;
    char *d = split_dump(&doc, split_default_params(), &cl);
    cr_assert_str_eq(d, "0:1-1::前言内容。|"
                        "1:1-1:第三章 违约责任:违约方应当承担责任。|"
                        "2:1-2:第三章 违约责任 > 3.2 违约金:违约金为合同总额的百分之五。\n"
                        "违约金应在三十日内支付。|"
                        "3:2-2:第三章 违约责任 > 3.3 解除 > 3.3.1 条件:合同可以解除。|"
                        "4:3-3:第四章 附则:本合同一式两份。|");
    free(d);
    chunk_list_free(&cl);
    ingest_doc_free(&doc);
}

Test(split, overlap_whole_trailing_sentences)
{
    ingest_doc doc = {0};
    add_para(&doc, 1, "A b. C d e. F g. H i j k.", 0);
    chunk_list cl;
    /* overlap 0.3 of 10 words: "F g." (2) fits, "C d e. F g." (5) does not. */
    char *d = split_dump(&doc, params(100, 10, 0.3f), &cl);
    cr_assert_str_eq(d, "0:1-1::A b. C d e. F g.|1:1-1::F g. H i j k.|");
    free(d);
    chunk_list_free(&cl);
    ingest_doc_free(&doc);

    /* Overlap 0.5 allows "D e. F g." but the next sentence needs the room,
     * so only "F g." comes along. */
    memset(&doc, 0, sizeof doc);
    add_para(&doc, 1, "A b c. D e. F g. H i j k l m n.", 0);
    d = split_dump(&doc, params(100, 10, 0.5f), &cl);
    cr_assert_str_eq(d, "0:1-1::A b c. D e. F g.|1:1-1::F g. H i j k l m n.|");
    free(d);
    chunk_list_free(&cl);
    ingest_doc_free(&doc);

    /* Overlap follows the paragraph it came from; a new paragraph after it
     * starts on its own line, and the overlap's page counts. */
    memset(&doc, 0, sizeof doc);
    add_para(&doc, 1, "Aa bb cc dd ee ff. Gg hh.", 0);
    add_para(&doc, 2, "Ii jj kk ll mm nn oo.", 0);
    d = split_dump(&doc, params(100, 10, 0.3f), &cl);
    cr_assert_str_eq(d, "0:1-1::Aa bb cc dd ee ff. Gg hh.|1:1-2::Gg hh.\nIi jj kk ll mm nn oo.|");
    free(d);
    chunk_list_free(&cl);
    ingest_doc_free(&doc);
}

Test(split, no_overlap_when_sentence_too_big_or_new_section)
{
    ingest_doc doc = {0};
    add_para(&doc, 1, "A b c d e f g h.", 0);
    add_para(&doc, 1, "I j k l.", 0);
    add_para(&doc, 1, "Heading", 1);
    add_para(&doc, 1, "M n.", 0);
    chunk_list cl;
    char *d = split_dump(&doc, params(100, 10, 0.3f), &cl);
    cr_assert_str_eq(d, "0:1-1::A b c d e f g h.|1:1-1::I j k l.|2:1-1:Heading:M n.|");
    free(d);
    chunk_list_free(&cl);
    ingest_doc_free(&doc);
}

Test(split, chinese_overlap_and_default_budget)
{
    /* 40 sentences of 20 characters and a full stop (which costs nothing):
     * 17 sentences fill a chunk (340 <= 350), and 2 sentences (40 <= 52.5)
     * overlap into the next: 17, 2 + 15, 2 + 8 sentences. */
    dq_buf para = DQ_BUF_INIT;
    for (int i = 0; i < 40; i++) {
        for (int k = 0; k < 20; k++)
            dq_buf_puts(&para, i % 2 ? "甲" : "乙");
        dq_buf_puts(&para, "。");
    }
    ingest_doc doc = {0};
    add_para(&doc, 1, para.data, 0);
    chunk_list cl;
    split_params p = split_default_params();
    cr_assert_eq(split_document(&doc, &p, &cl), 0);
    cr_assert_eq(cl.n, 3);
    cr_assert_eq(utf8_length(cl.items[0].text, strlen(cl.items[0].text)), 17 * 21);
    cr_assert_eq(utf8_length(cl.items[1].text, strlen(cl.items[1].text)), 17 * 21);
    cr_assert_eq(utf8_length(cl.items[2].text, strlen(cl.items[2].text)), 10 * 21);
    /* chunk 1 starts with the last two sentences of chunk 0 */
    size_t two = 2 * 21 * 3;
    size_t tail = strlen(cl.items[0].text) - two;
    cr_assert_eq(strncmp(cl.items[1].text, cl.items[0].text + tail, two), 0);
    tail = strlen(cl.items[1].text) - two;
    cr_assert_eq(strncmp(cl.items[2].text, cl.items[1].text + tail, two), 0);
    /* and nothing else repeats: 40 sentences + 2 overlaps of 2 */
    size_t total = 0;
    for (size_t i = 0; i < cl.n; i++)
        total += utf8_length(cl.items[i].text, strlen(cl.items[i].text));
    cr_assert_eq(total, (40 + 4) * 21);
    dq_buf_free(&para);
    chunk_list_free(&cl);
    ingest_doc_free(&doc);
}

Test(split, empty_and_headings_only_and_bad_params)
{
    ingest_doc doc = {0};
    chunk_list cl;
    split_params p = split_default_params();
    cr_assert_eq(split_document(&doc, &p, &cl), 0);
    cr_assert_eq(cl.n, 0);
    chunk_list_free(&cl);

    add_para(&doc, 1, "Only a heading", 1);
    add_para(&doc, 1, "", 0);
    cr_assert_eq(split_document(&doc, NULL, &cl), 0);
    cr_assert_eq(cl.n, 0);
    chunk_list_free(&cl);

    p.chunk_cjk = 0;
    cr_assert_eq(split_document(&doc, &p, &cl), -1);
    cr_assert(strstr(dq_last_error(), "chunk_cjk") != NULL);
    cr_assert_eq(cl.n, 0);
    chunk_list_free(NULL);
    ingest_doc_free(&doc);
}

static uint32_t rng_next(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 8;
}

static void strip_spaces(const char *s, dq_buf *out)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\n')
            dq_buf_putc(out, *s);
}

Test(split, random_mixed_text_loses_nothing)
{
    /* Tiny budgets force every break level, including cuts inside clauses;
     * without overlap the chunks must hold exactly the paragraphs' text. */
    static const char *const atoms[] = {"合",    "同",  "违", "约",    "金", "𠀀", "word",
                                        "Latin", "3.5", " ",  " ",     "，", "。", ", ",
                                        ". ",    "; ",  "！", "e.g. ", "“",  "”",  "é"};
    uint32_t state = 7;
    for (int round = 0; round < 20; round++) {
        ingest_doc doc = {0};
        dq_buf all = DQ_BUF_INIT;
        int n_paras = 1 + (int)(rng_next(&state) % 6);
        for (int i = 0; i < n_paras; i++) {
            dq_buf para = DQ_BUF_INIT;
            int n_atoms = 1 + (int)(rng_next(&state) % 120);
            for (int k = 0; k < n_atoms; k++)
                dq_buf_puts(&para, atoms[rng_next(&state) % (sizeof atoms / sizeof atoms[0])]);
            bool heading = rng_next(&state) % 7 == 0;
            add_para(&doc, 1 + i / 2, para.data, heading ? 1 + (int)(rng_next(&state) % 3) : 0);
            if (!heading)
                strip_spaces(para.data, &all);
            dq_buf_free(&para);
        }
        chunk_list cl;
        split_params p =
            params(1 + (int)(rng_next(&state) % 8), 1 + (int)(rng_next(&state) % 5), 0);
        cr_assert_eq(split_document(&doc, &p, &cl), 0);
        dq_buf got = DQ_BUF_INIT;
        for (size_t i = 0; i < cl.n; i++) {
            const char *t = cl.items[i].text;
            cr_assert(utf8_valid(t, strlen(t)), "round %d chunk %zu", round, i);
            cr_assert_gt(strlen(t), 0);
            cr_assert_neq(t[0], ' ');
            cr_assert_leq(cl.items[i].page_start, cl.items[i].page_end);
            strip_spaces(t, &got);
        }
        cr_assert_str_eq(got.data ? got.data : "", all.data ? all.data : "", "round %d", round);
        dq_buf_free(&got);
        dq_buf_free(&all);
        chunk_list_free(&cl);

        /* With overlap, every chunk still fits the budget or is one cut piece. */
        p.overlap = 0.5f;
        cr_assert_eq(split_document(&doc, &p, &cl), 0);
        for (size_t i = 0; i < cl.n; i++)
            cr_assert(utf8_valid(cl.items[i].text, strlen(cl.items[i].text)));
        chunk_list_free(&cl);
        ingest_doc_free(&doc);
    }
}

Test(split, deterministic)
{
    ingest_doc doc = {0};
    for (int i = 0; i < 30; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "段落%d的内容很长，包括 English words number %d. 第二句话。", i,
                 i);
        add_para(&doc, 1 + i / 7, buf, i % 11 == 5 ? 2 : 0);
    }
    chunk_list a, b;
    split_params p = params(40, 30, 0.15f);
    char *da = split_dump(&doc, p, &a);
    char *db = split_dump(&doc, p, &b);
    cr_assert_str_eq(da, db);
    cr_assert_gt(a.n, 3);
    free(da);
    free(db);
    chunk_list_free(&a);
    chunk_list_free(&b);
    ingest_doc_free(&doc);
}
