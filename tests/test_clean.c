/* test_clean.c - ingest_clean(): spacing, folding, joins, page furniture, headings, title. */
#include "common/common.h"
#include "ingest/ingest.h"
#include "ingest/raw.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building raw documents by hand ------------------------------------ */

static ingest_raw_page *pdf_page(ingest_raw_doc *d, int number)
{
    ingest_raw_page *p = raw_add_page(d, number);
    p->width = 595;
    p->height = 842;
    return p;
}

/* A boxed line of a justified page: from x0 to the right margin at 500,
 * 1.2 x size tall, top at y. */
static ingest_line *pline(ingest_block *b, const char *text, float size, float x0, float y)
{
    ingest_line *l = raw_add_line(b, dq_strdup(text));
    l->size = size;
    l->x0 = x0;
    l->y0 = y;
    l->x1 = 500;
    l->y1 = y + size * 1.2f;
    return l;
}

static ingest_line *tline(ingest_block *b, const char *text)
{
    return raw_add_line(b, dq_strdup(text));
}

static void assert_doc_valid(const ingest_doc *doc)
{
    for (size_t p = 0; p < doc->n_pages; p++)
        for (size_t i = 0; i < doc->pages[p].n_paras; i++) {
            const char *t = doc->pages[p].paras[i].text;
            cr_assert(utf8_valid(t, strlen(t)), "invalid UTF-8 in '%s'", t);
            cr_assert_null(strchr(t, '\n'));
        }
}

/* All paragraphs of the doc as "[h]text|" with h the heading level. */
static char *dump(const ingest_doc *doc)
{
    assert_doc_valid(doc);
    dq_buf b = DQ_BUF_INIT;
    for (size_t p = 0; p < doc->n_pages; p++)
        for (size_t i = 0; i < doc->pages[p].n_paras; i++)
            dq_buf_printf(&b, "[%d]%s|", doc->pages[p].paras[i].heading,
                          doc->pages[p].paras[i].text);
    return dq_buf_take(&b);
}

static char *clean_dump(ingest_raw_doc *raw, ingest_doc *doc)
{
    cr_assert_eq(ingest_clean(raw, doc), 0);
    return dump(doc);
}

/* Cleans raw, expects its paragraphs to dump as want, and frees raw. */
static void expect_paras(ingest_raw_doc *raw, const char *want)
{
    ingest_doc doc;
    char *d = clean_dump(raw, &doc);
    cr_expect_str_eq(d, want);
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(raw);
}

/* ---- spacing and folding ------------------------------------------------ */

Test(clean, cjk_spaces_fullwidth_and_whitespace)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *p = pdf_page(&raw, 1);
    float y = 100;
    /* Each line its own block, far apart: one paragraph each. */
    pline(raw_add_block(p), "合 同 双 方 ， 同 意 以 下 条 款 。", 10, 72, y += 30);
    pline(raw_add_block(p), "使 用 BERT 模 型 和 PDF 文 件", 10, 72, y += 30);
    pline(raw_add_block(p), "第 三 章  违 约 责 任", 10, 72, y += 30);
    pline(raw_add_block(p), "ＡＢＣ１２３　价格 ： １００元", 10, 72, y += 30);
    pline(raw_add_block(p), "  a    b\t c  ", 10, 72, y += 30);
    pline(raw_add_block(p), "他说 “你好” 然后 （注） 结束", 10, 72, y += 30);
    pline(raw_add_block(p), "Hello , 世界 . OK", 10, 72, y += 30);
    pline(raw_add_block(p), "   ", 10, 72, y += 30);
    /* Where the line's CJK characters touch, a space between them is real. */
    pline(raw_add_block(p), "签订日期：2026年2月20日 签订地点：江州市", 10, 72, y += 30);
    pline(raw_add_block(p), "日期　地点", 10, 72, y += 30);
    ingest_doc doc;
    char *d = clean_dump(&raw, &doc);
    cr_assert_str_eq(d, "[0]合同双方，同意以下条款。|"
                        "[0]使用 BERT 模型和 PDF 文件|"
                        "[1]第三章 违约责任|"
                        "[0]ABC123 价格：100元|"
                        "[0]a b c|"
                        "[0]他说“你好”然后（注）结束|"
                        "[0]Hello , 世界 . OK|"
                        "[0]签订日期：2026年2月20日 签订地点：江州市|"
                        "[0]日期 地点|");
    cr_assert_eq(doc.n_pages, 1);
    cr_assert_eq(doc.pages[0].number, 1);
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

Test(clean, text_files_keep_authors_cjk_spaces)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *p = raw_add_page(&raw, 1);
    ingest_block *b = raw_add_block(p);
    tline(b, "联系人：王堃  服务电话：0791-8888");
    tline(b, "值班电话");
    ingest_doc doc;
    char *d = clean_dump(&raw, &doc);
    cr_assert_str_eq(d, "[0]联系人：王堃 服务电话：0791-8888 值班电话|");
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

Test(clean, invalid_bytes_become_valid_utf8)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *p = raw_add_page(&raw, 1);
    tline(raw_add_block(p), "bad\xFF\xC0\xAF"
                            "byte\xE4\xB8 end\x01\x7F");
    ingest_doc doc;
    char *d = clean_dump(&raw, &doc);
    cr_assert_str_eq(d, "[0]bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                        "byte\xEF\xBF\xBD\xEF\xBF\xBD end|");
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

Test(clean, random_bytes_stay_valid)
{
    uint32_t state = 12345;
    ingest_raw_doc raw = {0};
    for (int pg = 1; pg <= 6; pg++) {
        ingest_raw_page *p = pdf_page(&raw, pg);
        for (int b = 0; b < 4; b++) {
            ingest_block *blk = raw_add_block(p);
            for (int l = 0; l < 4; l++) {
                char line[64];
                size_t n = (state >> 16) % 60;
                for (size_t i = 0; i < n; i++) {
                    state = state * 1103515245u + 12345u;
                    line[i] = (char)(1 + (state >> 16) % 255);
                }
                line[n] = '\0';
                pline(blk, line, 8 + (float)(state % 8), 72, (float)(100 + 60 * b + 13 * l));
            }
        }
    }
    ingest_doc doc;
    cr_assert_eq(ingest_clean(&raw, &doc), 0);
    assert_doc_valid(&doc);
    chunk_list cl;
    split_params sp = {20, 10, 0.2f};
    cr_assert_eq(split_document(&doc, &sp, &cl), 0);
    for (size_t i = 0; i < cl.n; i++)
        cr_assert(utf8_valid(cl.items[i].text, strlen(cl.items[i].text)));
    chunk_list_free(&cl);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

/* ---- joining lines ------------------------------------------------------ */

Test(clean, hyphenation_and_line_joins_in_text_blocks)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *p = raw_add_page(&raw, 1);
    ingest_block *b = raw_add_block(p);
    tline(b, "the age of infor-");
    tline(b, "mation is a well-");
    tline(b, "Known 3-");
    tline(b, "day event");
    b = raw_add_block(p);
    tline(b, "第一行文字");
    tline(b, "第二行文字，");
    tline(b, "then English");
    tline(b, "中文");
    ingest_doc doc;
    char *d = clean_dump(&raw, &doc);
    cr_assert_str_eq(d, "[0]the age of information is a well- Known 3- day event|"
                        "[0]第一行文字第二行文字，then English 中文|");
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

Test(clean, paragraph_breaks_from_boxes)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *p = pdf_page(&raw, 1);
    ingest_block *b = raw_add_block(p);
    /* Tight lines join; a gap larger than a line starts a new paragraph. */
    pline(b, "First paragraph line one", 10, 72, 100);
    pline(b, "continues here.", 10, 72, 113);
    pline(b, "Second paragraph after a gap", 10, 72, 140);
    pline(b, "goes on.", 10, 72, 153);
    /* A sentence end followed by an indented line starts a paragraph. */
    pline(b, "Third paragraph indented and", 10, 92, 166);
    /* No sentence end: an indented line still continues. */
    pline(b, "keeps going", 10, 92, 179);
    /* A sentence that ends on a short line ends the paragraph. */
    pline(b, "to its end.", 10, 72, 192)->x1 = 300;
    pline(b, "Fourth after a short line", 10, 72, 205);
    b = raw_add_block(p);
    pline(b, "第一段第一行", 10, 72, 300);
    pline(b, "第一段结束。", 10, 72, 313);
    pline(b, "第二段缩进开始", 10, 92, 326);
    pline(b, "第二段继续。", 10, 72, 339);
    ingest_doc doc;
    char *d = clean_dump(&raw, &doc);
    cr_assert_str_eq(d, "[0]First paragraph line one continues here.|"
                        "[0]Second paragraph after a gap goes on.|"
                        "[0]Third paragraph indented and keeps going to its end.|"
                        "[0]Fourth after a short line|"
                        "[0]第一段第一行第一段结束。|"
                        "[0]第二段缩进开始第二段继续。|");
    char *pt = ingest_page_text(&doc.pages[0]);
    cr_assert_eq(strncmp(pt, "First paragraph line one continues here.\n\nSecond paragraph", 58),
                 0);
    cr_assert_str_eq(pt + strlen(pt) - strlen("继续。"), "继续。");
    free(pt);
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

Test(clean, double_spaced_block_stays_one_paragraph)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *p = pdf_page(&raw, 1);
    ingest_block *b = raw_add_block(p);
    /* 12pt lines 24pt apart: a 12pt gap everywhere is the line spacing. */
    pline(b, "Double spaced text", 10, 72, 100);
    pline(b, "keeps its lines", 10, 72, 124);
    pline(b, "together.", 10, 72, 148);
    pline(b, "After a wider gap", 10, 72, 190);
    pline(b, "a new one starts.", 10, 72, 214);
    ingest_doc doc;
    char *d = clean_dump(&raw, &doc);
    cr_assert_str_eq(d, "[0]Double spaced text keeps its lines together.|"
                        "[0]After a wider gap a new one starts.|");
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

/* ---- page furniture ----------------------------------------------------- */

Test(clean, page_numbers_dropped_at_page_edges)
{
    static const char *const numbers[] = {
        "12", "- 3 -", "Page 4 of 30", "第 5 页", "第12页 共30页", "12 / 30", "iv", "[ 7 ]"};
    /* Bodies differ in words, not digits, or they would mask to one running line. */
    static const char *const words[] = {"alpha", "bravo",   "charlie", "delta",
                                        "echo",  "foxtrot", "golf",    "hotel"};
    size_t n = sizeof numbers / sizeof numbers[0];
    ingest_raw_doc raw = {0};
    for (size_t i = 0; i < n; i++) {
        ingest_raw_page *p = pdf_page(&raw, (int)i + 1);
        char body[64];
        snprintf(body, sizeof body, "Body text %s.", words[i]);
        if (i % 2 == 0) {
            pline(raw_add_block(p), numbers[i], 9, 290, 40);
            pline(raw_add_block(p), body, 10, 72, 100);
        } else {
            pline(raw_add_block(p), body, 10, 72, 100);
            pline(raw_add_block(p), numbers[i], 9, 290, 800);
        }
    }
    /* A number inside the page body is text, not a page number. */
    ingest_raw_page *p = pdf_page(&raw, 99);
    pline(raw_add_block(p), "Top line.", 10, 72, 100);
    pline(raw_add_block(p), "Second line.", 10, 72, 130);
    pline(raw_add_block(p), "42", 10, 72, 160);
    pline(raw_add_block(p), "Fourth line.", 10, 72, 190);
    pline(raw_add_block(p), "Last line.", 10, 72, 220);
    /* Nor is one that MuPDF hands over last but that sits between lines (a
     * superscript fraction in a table's label). */
    pline(raw_add_block(p), "2/3", 6, 150, 176)->x1 = 160;
    ingest_doc doc;
    cr_assert_eq(ingest_clean(&raw, &doc), 0);
    cr_assert_eq(doc.n_pages, n + 1);
    for (size_t i = 0; i < n; i++) {
        char body[64];
        snprintf(body, sizeof body, "Body text %s.", words[i]);
        cr_assert_eq(doc.pages[i].n_paras, 1, "page %zu: '%s' kept", i + 1, numbers[i]);
        cr_assert_str_eq(doc.pages[i].paras[0].text, body);
    }
    cr_assert_eq(doc.pages[n].number, 99);
    cr_assert_eq(doc.pages[n].n_paras, 6);
    cr_assert_str_eq(doc.pages[n].paras[2].text, "42");
    cr_assert_str_eq(doc.pages[n].paras[5].text, "2/3");
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

Test(clean, running_headers_and_footers_dropped)
{
    ingest_raw_doc raw = {0};
    for (int i = 1; i <= 5; i++) {
        ingest_raw_page *p = pdf_page(&raw, i);
        char buf[96];
        pline(raw_add_block(p), "ACME Corp Annual Report", 9, 72, 30);
        if (i == 3)
            pline(raw_add_block(p), "A note only on page three", 10, 72, 60);
        if (i == 2 || i == 4)
            pline(raw_add_block(p), "Appears on two pages", 10, 72, 60);
        static const char *const bodies[] = {"one", "two", "three", "four", "five"};
        snprintf(buf, sizeof buf, "Body of page %s.", bodies[i - 1]);
        pline(raw_add_block(p), buf, 10, 72, 100);
        snprintf(buf, sizeof buf, "Confidential - revision %d of 2023", i * 7);
        pline(raw_add_block(p), buf, 9, 72, 780);
        snprintf(buf, sizeof buf, "%d", i + 10);
        pline(raw_add_block(p), buf, 9, 290, 800);
    }
    ingest_doc doc;
    char *d = clean_dump(&raw, &doc);
    cr_assert_str_eq(d, "[0]Body of page one.|"
                        "[0]Appears on two pages|[0]Body of page two.|"
                        "[0]A note only on page three|[0]Body of page three.|"
                        "[0]Appears on two pages|[0]Body of page four.|"
                        "[0]Body of page five.|");
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

/* Boilerplate inside the page (a form's note between two paragraphs) on most
 * pages is dropped like a running head; a table's recurring row and a line
 * on under half the pages stay. */
Test(clean, boilerplate_repeated_mid_page_dropped)
{
    ingest_raw_doc raw = {0};
    for (int i = 1; i <= 5; i++) {
        ingest_raw_page *p = pdf_page(&raw, i);
        char buf[96];
        static const char *const bodies[] = {"one", "two", "three", "four", "five"};
        for (int k = 0; k < 3; k++) {
            snprintf(buf, sizeof buf, "Paragraph %d of page %s.", k + 1, bodies[i - 1]);
            pline(raw_add_block(p), buf, 10, 72, 100 + 60 * (float)k);
        }
        if (i != 5)
            pline(raw_add_block(p), "See accompanying notes to the financial statements", 10, 72,
                  130);
        if (i == 2 || i == 4)
            pline(raw_add_block(p), "Continued on the next page", 10, 72, 190);
        ingest_block *t = raw_add_block(p);
        t->table = i;
        pline(t, "Total revenue | 2019: 100 | 2018: 90", 10, 72, 250);
        pline(raw_add_block(p), "Closing paragraph of the page.", 10, 72, 300);
    }
    ingest_doc doc;
    cr_assert_eq(ingest_clean(&raw, &doc), 0);
    for (size_t p = 0; p < doc.n_pages; p++) {
        bool table = false;
        for (size_t k = 0; k < doc.pages[p].n_paras; k++) {
            const char *t = doc.pages[p].paras[k].text;
            cr_assert_null(strstr(t, "accompanying"), "page %zu: %s", p + 1, t);
            table |= strstr(t, "Total revenue") != NULL;
        }
        cr_assert(table, "page %zu lost its table row", p + 1);
    }
    char *d = dump(&doc);
    cr_assert_not_null(strstr(d, "Continued on the next page"));
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

Test(clean, two_page_documents_drop_only_margin_repeats)
{
    /* With two pages a repeat is no pattern, unless it sits in the page
     * margin (top or bottom tenth) on both. */
    ingest_raw_doc raw = {0};
    for (int i = 1; i <= 2; i++) {
        ingest_raw_page *p = pdf_page(&raw, i);
        pline(raw_add_block(p), "Lamp Manual", 9, 72, 30);
        pline(raw_add_block(p), "Same opening line", 10, 72, 100);
        pline(raw_add_block(p), i == 1 ? "Body one." : "Body two.", 10, 72, 130);
    }
    ingest_doc doc;
    char *d = clean_dump(&raw, &doc);
    cr_assert_str_eq(d, "[0]Same opening line|[0]Body one.|[0]Same opening line|[0]Body two.|");
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

/* ---- headings and title ------------------------------------------------- */

Test(clean, headings_by_size_and_bold)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *p = pdf_page(&raw, 1);
    pline(raw_add_block(p), "A Study of Things", 20, 72, 50);
    pline(raw_add_block(p), "Background", 16, 72, 100);
    ingest_block *b = raw_add_block(p);
    pline(b, "Body text that is long enough to set the body size of this document.", 10, 72, 130);
    pline(b, "More body text follows on the next line of the block.", 10, 72, 143);
    pline(raw_add_block(p), "Bold Subtopic", 10, 72, 170)->bold = true;
    pline(raw_add_block(p), "A bold sentence at body size ends with a period.", 10, 72, 190)->bold =
        true;
    pline(raw_add_block(p), "This big line is a sentence and not a heading.", 16, 72, 210);
    pline(raw_add_block(p), "Method", 16, 72, 240);
    pline(raw_add_block(p), "Why does it work?", 16, 72, 244);
    pline(raw_add_block(p), "A bold question at body size?", 10, 72, 248)->bold = true;
    pline(raw_add_block(p), "Even more body text to make ten points the dominant size.", 10, 72,
          260);
    ingest_doc doc;
    char *d = clean_dump(&raw, &doc);
    cr_assert_str_eq(
        d, "[1]A Study of Things|[2]Background|"
           "[0]Body text that is long enough to set the body size of this document. More body "
           "text follows on the next line of the block.|"
           "[3]Bold Subtopic|[0]A bold sentence at body size ends with a period.|"
           "[0]This big line is a sentence and not a heading.|[2]Method|[2]Why does it work?|"
           "[0]A bold question at body size?|"
           "[0]Even more body text to make ten points the dominant size.|");
    cr_assert_str_eq(doc.title, "A Study of Things");
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

/* A statement's title in bold over two lines, then its unit note in bold at
 * the same size: the title is a heading, and the note qualifies it and must
 * not take its place as the section. */
Test(clean, bracketed_unit_note_is_not_a_heading)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *p = pdf_page(&raw, 1);
    ingest_block *t = raw_add_block(p);
    pline(t, "Acme Corporation and Subsidiaries", 10, 200, 36)->bold = true;
    pline(t, "CONSOLIDATED STATEMENTS OF CASH FLOWS", 10, 200, 48)->bold = true;
    pline(raw_add_block(p), "(in millions, except per share data)", 10, 200, 64)->bold = true;
    pline(raw_add_block(p), "（单位：人民币元）", 10, 200, 78)->bold = true;
    ingest_block *b = raw_add_block(p);
    pline(b, "Body text that is long enough to set the body size of this document.", 10, 72, 100);
    pline(b, "More body text follows on the next line of the block.", 10, 72, 113);
    pline(b, "And the body goes on, so that most of the page is not in bold type.", 10, 72,
          126);
    ingest_doc doc;
    char *d = clean_dump(&raw, &doc);
    cr_assert_str_eq(d, "[1]Acme Corporation and Subsidiaries CONSOLIDATED STATEMENTS OF CASH "
                        "FLOWS|"
                        "[0](in millions, except per share data)|[0]（单位：人民币元）|"
                        "[0]Body text that is long enough to set the body size of this document. "
                        "More body text follows on the next line of the block. And the body goes "
                        "on, so that most of the page is not in bold type.|");
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

/* A bold title centred on its page ranks above the flush-left bold headings
 * below it on that page (a statement's title over its "ASSETS"), which
 * would otherwise replace it as the section; on a page with no centred
 * title above them they keep the title's rank. */
Test(clean, centred_bold_title_heads_the_bold_headings_of_its_page)
{
    ingest_raw_doc raw = {0};
    const char *body[] = {"Body text that is long enough to set the body size of this document.",
                          "More body text follows on the next line of the block, at ten points."};
    for (int n = 1; n <= 2; n++) {
        ingest_raw_page *p = pdf_page(&raw, n);
        const char *head = n == 1 ? "CONSOLIDATED BALANCE SHEETS" : "Liquidity";
        ingest_line *title = pline(raw_add_block(p), head, 10, n == 1 ? 220 : 72, 60);
        title->bold = true;
        title->x1 = n == 1 ? 375 : 120;
        ingest_block *b = raw_add_block(p);
        pline(b, body[0], 10, 72, 80);
        pline(b, body[1], 10, 72, 93);
        const char *below = n == 1 ? "ASSETS" : "Sources of Funds";
        ingest_line *sub = pline(raw_add_block(p), below, 10, 72, 120);
        sub->bold = true;
        sub->x1 = 130;
        b = raw_add_block(p);
        pline(b, body[0], 10, 72, 140);
        pline(b, body[1], 10, 72, 153);
    }
    dq_buf want = DQ_BUF_INIT;
    dq_buf_printf(&want, "[1]CONSOLIDATED BALANCE SHEETS|[0]%s %s|[2]ASSETS|[0]%s %s|", body[0],
                  body[1], body[0], body[1]);
    dq_buf_printf(&want, "[1]Liquidity|[0]%s %s|[1]Sources of Funds|[0]%s %s|", body[0], body[1],
                  body[0], body[1]);
    expect_paras(&raw, want.data);
    dq_buf_free(&want);
}

/* A statement set smaller than the document's text: its bold title is at
 * the body size of its page, which its table rows set, and is a heading;
 * a bold line smaller than the text of its own page is not. */
Test(clean, bold_title_at_its_pages_body_size_is_a_heading)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *p = pdf_page(&raw, 1);
    ingest_block *b = raw_add_block(p);
    pline(b, "Body text that is long enough to set the body size of this document.", 10, 72, 80);
    pline(b, "More body text follows on the next line of the block, at ten points.", 10, 72, 93);
    pline(b, "And a third line of it, so that ten points is what most text is set in.", 10, 72,
          106);
    pline(raw_add_block(p), "Small bold aside", 8, 72, 130)->bold = true;
    p = pdf_page(&raw, 2);
    pline(raw_add_block(p), "Consolidated Statements of Income", 8, 72, 60)->bold = true;
    b = raw_add_block(p);
    b->table = 1;
    pline(b, "Net sales | 2020: 11,303 | 2019: 11,503", 8, 72, 80);
    pline(b, "Cost of sales | 2020: 7,772 | 2019: 7,468", 8, 72, 92);
    pline(b, "Gross margin | 2020: 3,531 | 2019: 4,035", 8, 72, 104);
    expect_paras(&raw, "[0]Body text that is long enough to set the body size of this document. "
                       "More body text follows on the next line of the block, at ten points. "
                       "And a third line of it, so that ten points is what most text is set in.|"
                       "[0]Small bold aside|[1]Consolidated Statements of Income|"
                       "[0]Net sales | 2020: 11,303 | 2019: 11,503|"
                       "[0]Cost of sales | 2020: 7,772 | 2019: 7,468|"
                       "[0]Gross margin | 2020: 3,531 | 2019: 4,035|");
}

/* A form's check box ("o", "x" in a larger or bold font) is no heading. */
Test(clean, lone_letter_is_not_a_heading)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *p = pdf_page(&raw, 1);
    pline(raw_add_block(p), "ANNUAL REPORT", 14, 72, 50);
    pline(raw_add_block(p), "o", 14, 72, 70);
    pline(raw_add_block(p), "x", 10, 72, 90)->bold = true;
    ingest_block *b = raw_add_block(p);
    pline(b, "Body text that is long enough to set the body size of this document.", 10, 72, 120);
    pline(b, "More body text follows on the next line of the block, at ten points.", 10, 72, 133);
    expect_paras(&raw, "[1]ANNUAL REPORT|[0]o|[0]x|"
                       "[0]Body text that is long enough to set the body size of this document. "
                       "More body text follows on the next line of the block, at ten points.|");
}

Test(clean, all_bold_document_has_no_bold_headings)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *p = pdf_page(&raw, 1);
    pline(raw_add_block(p), "Short bold line", 10, 72, 100)->bold = true;
    pline(raw_add_block(p), "A long bold paragraph that is the body of this document here.", 10, 72,
          130)
        ->bold = true;
    ingest_doc doc;
    char *d = clean_dump(&raw, &doc);
    cr_assert_str_eq(d, "[0]Short bold line|"
                        "[0]A long bold paragraph that is the body of this document here.|");
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

Test(clean, headings_by_numbering)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *p = raw_add_page(&raw, 1);
    static const char *const lines[] = {
        "第三章 违约责任",
        "3.2 违约金",
        "违约方应当支付违约金。",
        "3.2.1 计算方法",
        "第一节 总则",
        "第五条 付款方式",
        "第五条 甲方应当在收到发票后三十日内支付全部款项，逾期支付的应按日支付万分之五的违约金。",
        "一、定义",
        "（一）合同",
        "(二) 附件",
        "1. Introduction",
        "1.5 million people live here.",
        "3.5%的利率",
        "第三章规定了很多内容，包括付款和违约责任等等很多很多的事项，这是一个很长的句子。",
        "第一章 总则 .......... 1",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        tline(raw_add_block(p), lines[i]);
    ingest_block *b = raw_add_block(p);
    tline(b, "Declared")->heading = 2;
    ingest_doc doc;
    char *d = clean_dump(&raw, &doc);
    cr_assert_str_eq(d, "[1]第三章 违约责任|[2]3.2 违约金|[0]违约方应当支付违约金。|"
                        "[3]3.2.1 计算方法|[2]第一节 总则|[3]第五条 付款方式|"
                        "[0]第五条 甲方应当在收到发票后三十日内支付全部款项，逾期支付的应按日支"
                        "付万分之五的违约金。|"
                        "[2]一、定义|[3]（一）合同|[3](二) 附件|[2]1. Introduction|"
                        "[0]1.5 million people live here.|[0]3.5%的利率|"
                        "[0]第三章规定了很多内容，包括付款和违约责任等等很多很多的事项，这是一个"
                        "很长的句子。|[0]第一章 总则 .......... 1|[2]Declared|");
    cr_assert_str_eq(doc.title, "第三章 违约责任");
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

Test(clean, dotted_numbering_without_chapters_and_markdown)
{
    ingest_raw_doc raw = {0};
    ingest_raw_page *p = raw_add_page(&raw, 1);
    tline(raw_add_block(p), "1. Scope");
    tline(raw_add_block(p), "1.1 Terms");
    tline(raw_add_block(p), "Plain body text.");
    /* The source's declaration wins over the numbering. */
    tline(raw_add_block(p), "2. Declared")->heading = 3;
    ingest_doc doc;
    char *d = clean_dump(&raw, &doc);
    cr_assert_str_eq(d, "[1]1. Scope|[2]1.1 Terms|[0]Plain body text.|[3]2. Declared|");
    cr_assert_str_eq(doc.title, "1. Scope");
    free(d);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

Test(clean, title_from_metadata_or_none)
{
    ingest_raw_doc raw = {0};
    raw.title = dq_strdup("  Ｍｙ　Report ");
    ingest_raw_page *p = raw_add_page(&raw, 1);
    tline(raw_add_block(p), "第一章 总则");
    ingest_doc doc;
    cr_assert_eq(ingest_clean(&raw, &doc), 0);
    cr_assert_str_eq(doc.title, "My Report");
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);

    memset(&raw, 0, sizeof raw);
    p = raw_add_page(&raw, 1);
    tline(raw_add_block(p), "Just a sentence.");
    cr_assert_eq(ingest_clean(&raw, &doc), 0);
    cr_assert_null(doc.title);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

Test(clean, empty_document_and_pages)
{
    ingest_raw_doc raw = {0};
    ingest_doc doc;
    cr_assert_eq(ingest_clean(&raw, &doc), 0);
    cr_assert_eq(doc.n_pages, 0);
    cr_assert_null(doc.title);
    ingest_doc_free(&doc);
    ingest_doc_free(NULL);

    pdf_page(&raw, 1);
    ingest_raw_page *p = pdf_page(&raw, 2);
    pline(raw_add_block(p), " ", 10, 72, 100);
    cr_assert_eq(ingest_clean(&raw, &doc), 0);
    cr_assert_eq(doc.n_pages, 2);
    cr_assert_eq(doc.pages[0].n_paras, 0);
    cr_assert_eq(doc.pages[1].n_paras, 0);
    cr_assert_eq(doc.pages[1].number, 2);
    char *t = ingest_page_text(&doc.pages[1]);
    cr_assert_str_eq(t, "");
    free(t);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}
