/* test_ingest.c - the ingest stage as a whole: PDFs written with MuPDF's own
 * writer go through extract -> clean -> split, and the chunks come out with
 * running headers and page numbers gone, hyphenated words joined, Chinese
 * intact, and the right section paths and page spans. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "ingest/ingest.h"
#include "support/pdfgen.h"
#include "support/tmpdir.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/docqa-ingest-XXXXXX");
    cr_assert(mkdtemp(dir));
}

static void teardown(void)
{
    cr_expect_eq(tmpdir_remove(dir), 0);
}

TestSuite(ingest, .init = setup, .fini = teardown);

/* Runs the whole stage on path with small chunks so boundaries show. */
static void run_pipeline(const char *path, ingest_doc *doc, chunk_list *chunks)
{
    ingest_raw_doc raw = {0};
    cr_assert_eq(ingest_extract(path, NULL, &raw), 0, "%s", dq_last_error());
    cr_assert_eq(ingest_clean(&raw, doc), 0, "%s", dq_last_error());
    split_params sp = split_default_params();
    cr_assert_eq(split_document(doc, &sp, chunks), 0, "%s", dq_last_error());
    ingest_raw_doc_free(&raw);
}

static bool any_chunk_contains(const chunk_list *chunks, const char *needle)
{
    for (size_t i = 0; i < chunks->n; i++)
        if (strstr(chunks->items[i].text, needle))
            return true;
    return false;
}

Test(ingest, english_report_headers_hyphens_sections)
{
    char path[128];
    snprintf(path, sizeof path, "%s/report.pdf", dir);
    char footers[4][32];
    pdfgen_line lines[4][9];
    pdfgen_page pages[4];
    for (int p = 0; p < 4; p++) {
        snprintf(footers[p], sizeof footers[p], "Page %d of 4", p + 1);
        int n = 0;
        lines[p][n++] = (pdfgen_line){"ACME Corporation Annual Report 2026", 9, false};
        lines[p][n++] = (pdfgen_line){"", 0, false};
        if (p == 0) {
            lines[p][n++] = (pdfgen_line){"1 Overview", 18, true};
            lines[p][n++] = (pdfgen_line){"The annual report describes the infor-", 11, false};
            lines[p][n++] = (pdfgen_line){"mation systems that the company runs.", 11, false};
        } else if (p == 2) {
            lines[p][n++] = (pdfgen_line){"2 Finances", 18, true};
            lines[p][n++] = (pdfgen_line){"Revenue grew by twelve percent this year.", 11, false};
            lines[p][n++] = (pdfgen_line){"Costs stayed flat across all divisions.", 11, false};
        } else {
            lines[p][n++] = (pdfgen_line){"Staff numbers rose in every region we serve.", 11, false};
            lines[p][n++] = (pdfgen_line){"New offices opened in three more cities.", 11, false};
        }
        lines[p][n++] = (pdfgen_line){"", 0, false};
        lines[p][n++] = (pdfgen_line){footers[p], 9, false};
        pages[p] = (pdfgen_page){lines[p], (size_t)n, false};
    }
    cr_assert_eq(pdfgen_write(path, pages, 4, NULL), 0, "%s", dq_last_error());

    ingest_doc doc = {0};
    chunk_list chunks = {0};
    run_pipeline(path, &doc, &chunks);

    cr_expect(!any_chunk_contains(&chunks, "ACME Corporation"), "running header kept");
    cr_expect(!any_chunk_contains(&chunks, "of 4"), "page-number footer kept");
    cr_expect(any_chunk_contains(&chunks, "describes the information systems"),
              "hyphenated word not joined");
    cr_assert_eq(chunks.n, 2, "one chunk per section, got %zu", chunks.n);
    cr_expect_str_eq(chunks.items[0].section, "1 Overview");
    cr_expect_eq(chunks.items[0].page_start, 1);
    cr_expect_eq(chunks.items[0].page_end, 2, "section 1 runs onto page 2");
    cr_expect(strstr(chunks.items[0].text, "Staff numbers rose"));
    cr_expect_str_eq(chunks.items[1].section, "2 Finances");
    cr_expect_eq(chunks.items[1].page_start, 3);
    cr_expect_eq(chunks.items[1].page_end, 4);
    chunk_list_free(&chunks);
    ingest_doc_free(&doc);
}

Test(ingest, chinese_contract_sections_and_pages)
{
    char path[128];
    snprintf(path, sizeof path, "%s/lease.pdf", dir);
    pdfgen_line p1[] = {
        {"房屋租赁合同", 9, false},
        {"", 0, false},
        {"第一章 总则", 16, true},
        {"甲方同意将房屋出租给乙方使用，租期为两年。", 11, false},
        {"", 0, false},
        {"第 1 页", 9, false},
    };
    pdfgen_line p2[] = {
        {"房屋租赁合同", 9, false},
        {"", 0, false},
        {"第三章 违约责任", 16, true},
        {"3.2 违约金", 13, true},
        {"乙方逾期支付租金的，每逾期一日应按月租金的千分之五向甲方支付违约金。", 11, false},
        {"", 0, false},
        {"第 2 页", 9, false},
    };
    pdfgen_line p3[] = {
        {"房屋租赁合同", 9, false},
        {"", 0, false},
        {"违约金总额不超过三个月租金。", 11, false},
        {"", 0, false},
        {"第 3 页", 9, false},
    };
    pdfgen_page pages[] = {{p1, 6, false}, {p2, 7, false}, {p3, 5, false}};
    cr_assert_eq(pdfgen_write(path, pages, 3, NULL), 0, "%s", dq_last_error());

    ingest_doc doc = {0};
    chunk_list chunks = {0};
    run_pipeline(path, &doc, &chunks);

    cr_assert_eq(chunks.n, 2, "got %zu chunks", chunks.n);
    cr_expect_str_eq(chunks.items[0].section, "第一章 总则");
    cr_expect_str_eq(chunks.items[0].text, "甲方同意将房屋出租给乙方使用，租期为两年。");
    cr_expect_str_eq(chunks.items[1].section, "第三章 违约责任 > 3.2 违约金");
    cr_expect_str_eq(chunks.items[1].text,
                     "乙方逾期支付租金的，每逾期一日应按月租金的千分之五向甲方支付违约金。\n"
                     "违约金总额不超过三个月租金。");
    cr_expect_eq(chunks.items[1].page_start, 2);
    cr_expect_eq(chunks.items[1].page_end, 3);
    for (size_t i = 0; i < chunks.n; i++)
        cr_expect(utf8_valid(chunks.items[i].text, strlen(chunks.items[i].text)));
    chunk_list_free(&chunks);
    ingest_doc_free(&doc);
}

/* ---- where chunks lie on the page ---------------------------------------- */

Test(ingest, chunk_boxes_are_the_lines_of_the_chunk)
{
    char path[128];
    snprintf(path, sizeof path, "%s/boxes.pdf", dir);
    const char *pages[] = {
        "# Warranty\nThe warranty period is 24 months from the date of purchase.\n"
        "Keep your receipt as proof of the date of purchase.\n"
        "# Care\nClean the lamp with a soft, dry cloth only.",
        "# 违约责任\n乙方逾期支付租金的，应按月租金的千分之五支付违约金。",
    };
    cr_assert_eq(pdfgen_write_simple(path, pages, 2), 0, "%s", dq_last_error());
    ingest_raw_doc raw = {0};
    ingest_doc doc = {0};
    chunk_list chunks = {0};
    cr_assert_eq(ingest_extract(path, NULL, &raw), 0, "%s", dq_last_error());
    cr_assert_eq(ingest_clean(&raw, &doc), 0);
    split_params sp = split_default_params();
    cr_assert_eq(split_document(&doc, &sp, &chunks), 0);
    /* a heading starts a chunk: Warranty, Care, 违约责任 */
    cr_assert_eq(chunks.n, 3);
    size_t want[] = {2, 1, 1}; /* body lines; headings live in the section path */
    int want_page[] = {1, 1, 2};
    for (size_t i = 0; i < chunks.n; i++) {
        ingest_box *b;
        size_t n;
        cr_assert_eq(ingest_chunk_boxes(&raw, &chunks.items[i], &b, &n), 0);
        cr_expect_eq(n, want[i], "chunk %zu '%s': %zu boxes", i, chunks.items[i].text, n);
        for (size_t k = 0; k < n; k++) {
            cr_expect_eq(b[k].page, want_page[i]);
            cr_expect(b[k].x0 >= 72 - 1 && b[k].x1 <= 595 && b[k].y0 < b[k].y1);
            if (k)
                cr_expect_gt(b[k].y0, b[k - 1].y0, "reading order");
        }
        free(b);
    }
    /* a chunk whose text is not on the page has no box */
    chunk other = {.text = "Nothing like this is printed anywhere.", .section = "",
                   .page_start = 1, .page_end = 2};
    ingest_box *b;
    size_t n;
    cr_assert_eq(ingest_chunk_boxes(&raw, &other, &b, &n), 0);
    cr_expect_eq(n, 0);
    free(b);

    /* the page renders, with and without boxes; a missing page is an error */
    unsigned char *png;
    size_t len;
    ingest_box box = {1, 72, 100, 300, 120};
    cr_assert_eq(ingest_render_page_png(path, NULL, 1, 72, &box, 1, &png, &len), 0, "%s",
                 dq_last_error());
    cr_expect(len > 100 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8));
    free(png);
    cr_expect_eq(ingest_render_page_png(path, NULL, 3, 72, NULL, 0, &png, &len), -1);
    cr_expect(strstr(dq_last_error(), "no page 3 (the document has 2)"), "%s", dq_last_error());
    chunk_list_free(&chunks);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}

Test(ingest, text_files_have_no_boxes)
{
    char path[128];
    snprintf(path, sizeof path, "%s/a.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("Plain text has no page layout, so no boxes.\n", f);
    fclose(f);
    ingest_raw_doc raw = {0};
    ingest_doc doc = {0};
    chunk_list chunks = {0};
    cr_assert_eq(ingest_extract(path, NULL, &raw), 0);
    cr_assert_eq(ingest_clean(&raw, &doc), 0);
    split_params sp = split_default_params();
    cr_assert_eq(split_document(&doc, &sp, &chunks), 0);
    cr_assert_eq(chunks.n, 1);
    ingest_box *b;
    size_t n;
    cr_assert_eq(ingest_chunk_boxes(&raw, &chunks.items[0], &b, &n), 0);
    cr_expect_eq(n, 0);
    free(b);
    chunk_list_free(&chunks);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
}
