/* test_extract.c - ingest_extract() via MuPDF: generated PDFs, EPUB/FB2/XHTML, bad inputs. */
#include "common/common.h"
#include "ingest/ingest.h"
#include "ingest/memcap.h"
#include "support/pdfgen.h"
#include "support/tmpdir.h"

#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

static char dir[] = "/tmp/dq_extract_XXXXXX";

static void setup(void)
{
    strcpy(dir, "/tmp/dq_extract_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    cr_expect_eq(tmpdir_remove(dir), 0);
}

TestSuite(extract, .init = setup, .fini = teardown);

static const char *path_in(const char *name)
{
    return tmpdir_path(dir, name);
}

static void write_text_file(const char *path, const char *text)
{
    cr_assert_eq(pdfgen_write_bytes(path, text, strlen(text)), 0, "%s", dq_last_error());
}

static const ingest_line *line_at(const ingest_raw_doc *d, size_t page, size_t block, size_t line)
{
    cr_assert_lt(page, d->n_pages);
    cr_assert_lt(block, d->pages[page].n_blocks, "page %zu has %zu blocks", page + 1,
                 d->pages[page].n_blocks);
    cr_assert_lt(line, d->pages[page].blocks[block].n_lines);
    return &d->pages[page].blocks[block].lines[line];
}

/* All the text of a page, lines joined by '\n'. Caller frees. */
static char *page_text(const ingest_raw_page *p)
{
    dq_buf b = DQ_BUF_INIT;
    for (size_t i = 0; i < p->n_blocks; i++)
        for (size_t j = 0; j < p->blocks[i].n_lines; j++) {
            if (b.len)
                dq_buf_putc(&b, '\n');
            dq_buf_puts(&b, p->blocks[i].lines[j].text);
        }
    return dq_buf_take(&b);
}

static void assert_empty(const ingest_raw_doc *d)
{
    cr_assert_eq(d->n_pages, 0);
    cr_assert_null(d->pages);
    cr_assert_null(d->format);
    cr_assert_null(d->title);
}

/* Every line of d is valid UTF-8 without control characters. */
static void assert_clean_utf8(const ingest_raw_doc *d)
{
    for (size_t p = 0; p < d->n_pages; p++)
        for (size_t b = 0; b < d->pages[p].n_blocks; b++)
            for (size_t l = 0; l < d->pages[p].blocks[b].n_lines; l++) {
                const char *t = d->pages[p].blocks[b].lines[l].text;
                cr_assert(utf8_valid(t, strlen(t)), "invalid UTF-8 in '%s'", t);
                for (const char *c = t; *c; c++)
                    cr_assert_geq((unsigned char)*c, 0x20, "control char in '%s'", t);
            }
}

static const pdfgen_line report_p1[] = {
    {"Annual Report", 20, true},
    {"", 11, false},
    {"Revenue grew by 12 percent in 2024.", 11, false},
    {"Costs were flat.", 11, false},
};
static const pdfgen_line report_p2[] = {
    {"Outlook", 20, true},
    {"", 11, false},
    {"We expect growth to continue.", 11, false},
};
static const pdfgen_page report[] = {{report_p1, 4, false}, {report_p2, 3, false}};

Test(extract, english_two_pages)
{
    const char *pdf = path_in("report.pdf");
    cr_assert_eq(pdfgen_write(pdf, report, 2, NULL), 0, "%s", dq_last_error());
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), 0, "%s", dq_last_error());
    cr_assert_str_eq(d.format, "pdf");
    cr_assert_null(d.title);
    cr_assert_eq(d.n_pages, 2);
    cr_assert_eq(d.pages[0].number, 1);
    cr_assert_eq(d.pages[1].number, 2);
    cr_assert_float_eq(d.pages[0].width, 595, 0.5);
    cr_assert_float_eq(d.pages[0].height, 842, 0.5);

    /* MuPDF puts the heading in its own block and the two body lines, one
     * leading apart, together in the next. */
    cr_assert_eq(d.pages[0].n_blocks, 2);
    const ingest_line *h = line_at(&d, 0, 0, 0);
    cr_assert_str_eq(h->text, "Annual Report");
    cr_assert_float_eq(h->size, 20, 0.01);
    cr_assert(h->bold);
    const ingest_line *b1 = line_at(&d, 0, 1, 0), *b2 = line_at(&d, 0, 1, 1);
    cr_assert_str_eq(b1->text, "Revenue grew by 12 percent in 2024.");
    cr_assert_str_eq(b2->text, "Costs were flat.");
    cr_assert_float_eq(b1->size, 11, 0.01);
    cr_assert_not(b1->bold);
    cr_assert_eq(h->heading, 0);
    /* Boxes: top-down page coordinates, left margin 72 pt. */
    cr_assert_float_eq(h->x0, 72, 1.5);
    cr_assert_lt(h->y0, b1->y0);
    cr_assert_lt(b1->y1, b2->y1);
    cr_assert_gt(b1->x1, b2->x1); /* the longer line is wider */

    cr_assert_str_eq(line_at(&d, 1, 0, 0)->text, "Outlook");
    cr_assert(line_at(&d, 1, 0, 0)->bold);
    cr_assert_str_eq(line_at(&d, 1, 1, 0)->text, "We expect growth to continue.");
    assert_clean_utf8(&d);
    ingest_raw_doc_free(&d);
    assert_empty(&d);
}

/* Removes spaces that sit between two CJK characters (MuPDF could insert
 * them at glyph gaps; 1.21 with this font does not, see below). */
static char *strip_cjk_spaces(const char *s)
{
    dq_buf b = DQ_BUF_INIT;
    size_t n = strlen(s);
    uint32_t prev = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        cr_assert_gt(k, 0);
        if (cp == ' ' && (uc_is_cjk(prev) || uc_is_cjk_punct(prev))) {
            uint32_t next = 0;
            size_t j = i;
            while (j < n && s[j] == ' ')
                j++;
            if (j < n && utf8_decode(s + j, n - j, &next) > 0 &&
                (uc_is_cjk(next) || uc_is_cjk_punct(next))) {
                i = j;
                continue;
            }
        }
        dq_buf_append(&b, s + i, (size_t)k);
        prev = cp;
        i += (size_t)k;
    }
    return dq_buf_take(&b);
}

Test(extract, chinese_round_trip)
{
    static const pdfgen_line lines[] = {
        {"第三章 违约责任", 16, true},
        {"", 11, false},
        {"合同的违约金为合同总额的百分之五。", 11, false},
        {"第3条 ABC 规定：甲方应于2024年1月1日前付款。", 11, false},
    };
    const pdfgen_page page = {lines, 4, false};
    const char *pdf = path_in("zh.pdf");
    cr_assert_eq(pdfgen_write(pdf, &page, 1, NULL), 0, "%s", dq_last_error());
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), 0, "%s", dq_last_error());
    static const char expected[] = "第三章 违约责任\n"
                                   "合同的违约金为合同总额的百分之五。\n"
                                   "第3条 ABC 规定：甲方应于2024年1月1日前付款。";
    char *text = page_text(&d.pages[0]);
    char *stripped = strip_cjk_spaces(text), *want = strip_cjk_spaces(expected);
    cr_assert_str_eq(stripped, want);
    /* What MuPDF 1.21 does with the built-in Adobe-GB1 font: it inserts no
     * spaces between CJK characters and keeps the real ones, so the text
     * comes back exactly as written. */
    cr_assert_str_eq(text, expected);
    free(want);
    cr_assert_float_eq(line_at(&d, 0, 0, 0)->size, 16, 0.01);
    cr_assert_float_eq(line_at(&d, 0, 1, 0)->size, 11, 0.01);
    assert_clean_utf8(&d);
    free(text);
    free(stripped);
    ingest_raw_doc_free(&d);
}

Test(extract, metadata_title)
{
    const pdfgen_opts opts = {NULL, "  Quarterly 报告 Q3  "};
    const char *pdf = path_in("title.pdf");
    cr_assert_eq(pdfgen_write(pdf, report, 1, &opts), 0, "%s", dq_last_error());
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), 0, "%s", dq_last_error());
    cr_assert_str_eq(d.title, "Quarterly 报告 Q3");
    cr_assert_eq(d.n_pages, 1);
    ingest_raw_doc_free(&d);
}

Test(extract, long_lines_wrap_and_keep_order)
{
    dq_buf para = DQ_BUF_INIT;
    for (int i = 0; i < 60; i++)
        dq_buf_printf(&para, "%sword%d", i ? " " : "", i);
    const pdfgen_line lines[] = {{para.data, 11, false}};
    const pdfgen_page page = {lines, 1, false};
    const char *pdf = path_in("wrap.pdf");
    cr_assert_eq(pdfgen_write(pdf, &page, 1, NULL), 0, "%s", dq_last_error());
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), 0, "%s", dq_last_error());
    cr_assert_eq(d.n_pages, 1);
    size_t n_lines = 0;
    dq_buf joined = DQ_BUF_INIT;
    for (size_t b = 0; b < d.pages[0].n_blocks; b++)
        for (size_t l = 0; l < d.pages[0].blocks[b].n_lines; l++, n_lines++) {
            if (joined.len)
                dq_buf_putc(&joined, ' ');
            dq_buf_puts(&joined, d.pages[0].blocks[b].lines[l].text);
        }
    cr_assert_gt(n_lines, 2, "a 60-word line must wrap");
    cr_assert_str_eq(joined.data, para.data);
    dq_buf_free(&joined);
    dq_buf_free(&para);
    ingest_raw_doc_free(&d);
}

Test(extract, overflowing_page_continues_on_next)
{
    char texts[60][32];
    pdfgen_line lines[60];
    for (int i = 0; i < 60; i++) {
        snprintf(texts[i], sizeof texts[i], "line number %d", i);
        lines[i] = (pdfgen_line){texts[i], 11, false};
    }
    const pdfgen_page page = {lines, 60, false};
    const char *pdf = path_in("long.pdf");
    cr_assert_eq(pdfgen_write(pdf, &page, 1, NULL), 0, "%s", dq_last_error());
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), 0, "%s", dq_last_error());
    /* 698 pt of text area at 16.5 pt a line holds 42 lines. */
    cr_assert_eq(d.n_pages, 2);
    char *p1 = page_text(&d.pages[0]), *p2 = page_text(&d.pages[1]);
    cr_assert(strncmp(p1, "line number 0\nline number 1\n", 28) == 0, "%s", p1);
    cr_assert_not_null(strstr(p1, "line number 41"));
    cr_assert_null(strstr(p1, "line number 42"));
    cr_assert(strncmp(p2, "line number 42\n", 15) == 0, "%s", p2);
    cr_assert_not_null(strstr(p2, "line number 59"));
    free(p1);
    free(p2);
    ingest_raw_doc_free(&d);
}

Test(extract, fb2_through_mupdf)
{
    const char *fb2 = path_in("book.fb2");
    write_text_file(fb2, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                         "<FictionBook xmlns=\"http://www.gribuser.ru/xml/fictionbook/2.0\">\n"
                         "<description><title-info><book-title>Fox Book</book-title></title-info>"
                         "</description>\n<body><section><title><p>Chapter One</p></title>\n"
                         "<p>The quick brown fox jumps over the lazy dog.</p>\n"
                         "<p>第二段中文内容。</p></section></body></FictionBook>\n");
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(fb2, NULL, &d), 0, "%s", dq_last_error());
    cr_assert_str_eq(d.format, "fb2");
    cr_assert_str_eq(d.title, "Fox Book");
    cr_assert_geq(d.n_pages, 1);
    char *text = page_text(&d.pages[0]);
    cr_assert_str_eq(text, "Chapter One\n"
                           "The quick brown fox jumps over the lazy dog.\n"
                           "第二段中文内容。");
    cr_assert_gt(line_at(&d, 0, 0, 0)->size, line_at(&d, 0, 1, 0)->size);
    free(text);
    ingest_raw_doc_free(&d);
}

Test(extract, xhtml_through_mupdf)
{
    const char *x = path_in("page.xhtml");
    write_text_file(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>Web Title</title>"
                       "</head>\n<body><h1>Big Heading</h1><p>Paragraph <b>bold word</b> text.</p>"
                       "<p>中文段落。</p></body></html>\n");
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(x, NULL, &d), 0, "%s", dq_last_error());
    cr_assert_str_eq(d.format, "html");
    cr_assert_str_eq(d.title, "Web Title");
    const ingest_line *h = line_at(&d, 0, 0, 0);
    cr_assert_str_eq(h->text, "Big Heading");
    cr_assert(h->bold);
    cr_assert_float_eq(h->size, 24, 0.01); /* MuPDF's default h1: 2em of 12 pt */
    const ingest_line *p = line_at(&d, 0, 1, 0);
    cr_assert_str_eq(p->text, "Paragraph bold word text.");
    cr_assert_not(p->bold); /* 2 of 5 words bold: not dominant */
    cr_assert_float_eq(p->size, 12, 0.01);
    cr_assert_str_eq(line_at(&d, 0, 2, 0)->text, "中文段落。");
    ingest_raw_doc_free(&d);
}

Test(extract, epub_through_mupdf)
{
    static const char *const chapters[] = {
        "<h1>Chapter One</h1><p>The warranty period is two years.</p>",
        "<h1>第二章</h1><p>保修期为两年。</p>",
    };
    const char *epub = path_in("book.epub");
    cr_assert_eq(pdfgen_write_epub(epub, "Warranty Book", chapters, 2), 0, "%s", dq_last_error());
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(epub, NULL, &d), 0, "%s", dq_last_error());
    cr_assert_str_eq(d.format, "epub");
    cr_assert_str_eq(d.title, "Warranty Book");
    /* Each spine item starts a new page in MuPDF's layout. */
    cr_assert_eq(d.n_pages, 2);
    cr_assert_str_eq(line_at(&d, 0, 0, 0)->text, "Chapter One");
    cr_assert(line_at(&d, 0, 0, 0)->bold);
    cr_assert_str_eq(line_at(&d, 0, 1, 0)->text, "The warranty period is two years.");
    cr_assert_str_eq(line_at(&d, 1, 0, 0)->text, "第二章");
    cr_assert_str_eq(line_at(&d, 1, 1, 0)->text, "保修期为两年。");
    cr_assert_eq(d.pages[1].number, 2);
    ingest_raw_doc_free(&d);
}

Test(extract, encrypted_pdf)
{
    const pdfgen_opts opts = {"s3cret", "Secret Title"};
    const char *pdf = path_in("enc.pdf");
    cr_assert_eq(pdfgen_write(pdf, report, 2, &opts), 0, "%s", dq_last_error());

    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), -1);
    cr_assert_str_eq(dq_last_error(), "file is encrypted (use --password)");
    assert_empty(&d);
    ingest_raw_doc_free(&d);

    cr_assert_eq(ingest_extract(pdf, "", &d), -1);
    cr_assert_str_eq(dq_last_error(), "file is encrypted (use --password)");

    cr_assert_eq(ingest_extract(pdf, "wrong", &d), -1);
    cr_assert_str_eq(dq_last_error(), "wrong password");
    assert_empty(&d);

    cr_assert_eq(ingest_extract(pdf, "s3cret", &d), 0, "%s", dq_last_error());
    cr_assert_eq(d.n_pages, 2);
    cr_assert_str_eq(d.title, "Secret Title");
    cr_assert_str_eq(line_at(&d, 0, 0, 0)->text, "Annual Report");
    cr_assert_str_eq(line_at(&d, 1, 1, 0)->text, "We expect growth to continue.");
    ingest_raw_doc_free(&d);

    /* The owner password opens it too. */
    cr_assert_eq(ingest_extract(pdf, "owner-s3cret", &d), 0, "%s", dq_last_error());
    ingest_raw_doc_free(&d);
}

Test(extract, truncated_pdf_fails_clearly)
{
    const char *pdf = path_in("full.pdf"), *cut = path_in("cut.pdf");
    cr_assert_eq(pdfgen_write(pdf, report, 2, NULL), 0, "%s", dq_last_error());
    long size = pdfgen_file_size(pdf);
    cr_assert_gt(size, 1000);
    /* 60% is the case the brief names; the others check no cut crashes or
     * turns into an empty success. */
    static const int percents[] = {60, 5, 30, 90, 99};
    for (size_t i = 0; i < sizeof percents / sizeof percents[0]; i++) {
        cr_assert_eq(pdfgen_write_truncated(pdf, cut, (size_t)(size * percents[i] / 100)), 0);
        ingest_raw_doc d;
        int rc = ingest_extract(cut, NULL, &d);
        if (rc == 0) {
            /* A cut that spares every page's text may still be readable,
             * but then it must carry the text, never an empty success. */
            cr_assert_geq(percents[i], 90, "%d%% cut succeeded", percents[i]);
            cr_assert_gt(d.n_pages, 0);
            ingest_raw_doc_free(&d);
            continue;
        }
        const char *msg = dq_last_error();
        cr_assert(strncmp(msg, "no text found (damaged or empty document)", 41) == 0 ||
                      strncmp(msg, "damaged file: ", 14) == 0,
                  "%d%%: unexpected message '%s'", percents[i], msg);
        cr_assert_null(strchr(msg, '\n'));
        assert_empty(&d);
    }
    cr_assert_eq(pdfgen_write_truncated(pdf, cut, (size_t)(size * 60 / 100)), 0);
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(cut, NULL, &d), -1, "a 60%% PDF must fail");
}

Test(extract, zero_byte_pdf)
{
    const char *pdf = path_in("zero.pdf");
    cr_assert_eq(pdfgen_write_bytes(pdf, "", 0), 0);
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), -1);
    cr_assert_str_eq(dq_last_error(), "empty file");
    assert_empty(&d);
}

Test(extract, text_file_named_pdf)
{
    const char *pdf = path_in("notes.pdf");
    write_text_file(pdf, "These are plain notes, not a PDF at all.\n");
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), -1);
    cr_assert_str_eq(dq_last_error(), "not a PDF file");
    assert_empty(&d);
}

Test(extract, header_only_pdf_is_damaged)
{
    const char *pdf = path_in("hdr.pdf");
    write_text_file(pdf, "%PDF-1.7\n%garbage follows\n");
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), -1);
    cr_assert_str_eq(dq_last_error(), "damaged file: no objects found");
    assert_empty(&d);
}

Test(extract, image_only_pdf)
{
    const pdfgen_page scan[] = {{NULL, 0, true}, {NULL, 0, true}};
    const char *pdf = path_in("scan.pdf");
    cr_assert_eq(pdfgen_write(pdf, scan, 2, NULL), 0, "%s", dq_last_error());
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), -1);
    cr_assert_str_eq(dq_last_error(), "no text layer (scanned images?); OCR not available");
    assert_empty(&d);
}

Test(extract, image_page_among_text_pages_is_empty_page)
{
    const pdfgen_page mixed[] = {{report_p1, 4, false}, {NULL, 0, true}, {report_p2, 3, false}};
    const char *pdf = path_in("mixed.pdf");
    cr_assert_eq(pdfgen_write(pdf, mixed, 3, NULL), 0, "%s", dq_last_error());
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), 0, "%s", dq_last_error());
    cr_assert_eq(d.n_pages, 3);
    cr_assert_eq(d.pages[1].number, 2);
    cr_assert_eq(d.pages[1].n_blocks, 0);
    cr_assert_str_eq(line_at(&d, 2, 0, 0)->text, "Outlook");
    ingest_raw_doc_free(&d);
}

Test(extract, blank_pdf_has_no_text)
{
    const pdfgen_page blank[] = {{NULL, 0, false}};
    const char *pdf = path_in("blank.pdf");
    cr_assert_eq(pdfgen_write(pdf, blank, 1, NULL), 0, "%s", dq_last_error());
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), -1);
    cr_assert_str_eq(dq_last_error(), "no text found (damaged or empty document)");
    assert_empty(&d);
}

/* Writes a classic uncompressed PDF whose objects 1..n are objs[0..n), with
 * a correct xref, so a test can break exactly one thing. */
static void write_raw_pdf(const char *path, const char *const *objs, size_t n)
{
    dq_buf b = DQ_BUF_INIT;
    long offs[16];
    cr_assert_leq(n, 16);
    dq_buf_puts(&b, "%PDF-1.4\n");
    for (size_t i = 0; i < n; i++) {
        offs[i] = (long)b.len;
        dq_buf_printf(&b, "%zu 0 obj\n%s\nendobj\n", i + 1, objs[i]);
    }
    long xref = (long)b.len;
    dq_buf_printf(&b, "xref\n0 %zu\n0000000000 65535 f \n", n + 1);
    for (size_t i = 0; i < n; i++)
        dq_buf_printf(&b, "%010ld 00000 n \n", offs[i]);
    dq_buf_printf(&b, "trailer\n<< /Size %zu /Root 1 0 R >>\nstartxref\n%ld\n%%%%EOF\n", n + 1,
                  xref);
    cr_assert_eq(pdfgen_write_bytes(path, b.data, b.len), 0);
    dq_buf_free(&b);
}

#define RAW_PAGE(contents)                                                                       \
    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> " \
    ">> /Contents " contents " >>"

/* name, a one-page PDF in Helvetica whose content stream is the object contents. */
static const char *write_one_page_pdf(const char *name, const char *contents)
{
    const char *const objs[] = {
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        RAW_PAGE("5 0 R"),
        contents,
    };
    const char *pdf = path_in(name);
    write_raw_pdf(pdf, objs, 5);
    return pdf;
}

Test(extract, page_runs_with_what_it_inherits_and_without_its_annotations)
{
    /* Resources, media box and rotation come from the page tree (the text
     * is in a form XObject found only there); the page is a transparency
     * group and holds a link whose destination is broken and a form field:
     * its text is read all the same, on the rotated page. */
    static const char *const objs[] = {
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [4 0 R] /Count 1 /MediaBox [0 0 612 792] /Rotate 90"
        " /Resources << /Font << /F1 3 0 R >> /XObject << /Fm1 8 0 R >> >> >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        "<< /Type /Page /Parent 2 0 R /Contents 5 0 R /Group << /S /Transparency >>"
        " /Annots [6 0 R 7 0 R] >>",
        "<< /Length 8 >>\nstream\n/Fm1 Do\nendstream",
        "<< /Type /Annot /Subtype /Link /Rect [72 690 200 712] /Dest [99 0 R /XYZ 0 0 0] >>",
        "<< /Type /Annot /Subtype /Widget /FT /Tx /T (field) /V (Field value)"
        " /Rect [72 600 200 620] >>",
        "<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Length 51 >>\nstream\n"
        "BT /F1 12 Tf 72 700 Td (Inherited resources) Tj ET\nendstream",
    };
    const char *pdf = path_in("inherits.pdf");
    write_raw_pdf(pdf, objs, 8);
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), 0, "%s", dq_last_error());
    cr_assert_eq(d.n_pages, 1);
    cr_assert_eq(d.pages[0].n_blocks, 1);
    cr_assert_eq(d.pages[0].blocks[0].n_lines, 1);
    cr_assert_str_eq(line_at(&d, 0, 0, 0)->text, "Inherited resources");
    cr_assert_float_eq(d.pages[0].width, 792, 0.5);
    cr_assert_float_eq(d.pages[0].height, 612, 0.5);
    /* Rotated a quarter turn clockwise, the line runs down the page. */
    const ingest_line *l = line_at(&d, 0, 0, 0);
    cr_assert_gt(l->y1 - l->y0, l->x1 - l->x0);
    ingest_raw_doc_free(&d);
}

Test(extract, page_that_throws_is_skipped)
{
    /* The page tree claims 3 pages but holds 2: loading page 3 throws
     * "cannot find page 3 in page tree" while pages 1 and 2 are fine. */
    static const char *const objs[] = {
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [4 0 R 6 0 R] /Count 3 >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        RAW_PAGE("5 0 R"),
        "<< /Length 44 >>\nstream\nBT /F1 12 Tf 72 700 Td (Page one text) Tj ET\nendstream",
        RAW_PAGE("7 0 R"),
        "<< /Length 44 >>\nstream\nBT /F1 12 Tf 72 700 Td (Page two text) Tj ET\nendstream",
    };
    const char *pdf = path_in("throws.pdf");
    write_raw_pdf(pdf, objs, 7);
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), 0, "%s", dq_last_error());
    cr_assert_eq(d.n_pages, 3);
    cr_assert_str_eq(line_at(&d, 0, 0, 0)->text, "Page one text");
    cr_assert_float_eq(line_at(&d, 0, 0, 0)->size, 12, 0.01);
    cr_assert_not(line_at(&d, 0, 0, 0)->bold);
    cr_assert_float_eq(d.pages[0].width, 612, 0.5);
    cr_assert_str_eq(line_at(&d, 1, 0, 0)->text, "Page two text");
    cr_assert_eq(d.pages[2].number, 3);
    cr_assert_eq(d.pages[2].n_blocks, 0);
    ingest_raw_doc_free(&d);
}

Test(extract, invisible_ocr_layer_is_text)
{
    /* Render mode 3 (invisible), as OCR tools write over a scan. */
    const char *pdf = write_one_page_pdf(
        "ocr.pdf", "<< /Length 54 >>\nstream\nBT 3 Tr /F1 12 Tf 72 700 Td (Invisible OCR text) "
                   "Tj ET\nendstream");
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), 0, "%s", dq_last_error());
    cr_assert_str_eq(line_at(&d, 0, 0, 0)->text, "Invisible OCR text");
    ingest_raw_doc_free(&d);
}

Test(extract, text_off_the_page_is_dropped)
{
    /* Text set beside and below the page is not the page's; a line that
     * runs over the page's edge keeps what is on it. */
    const char *pdf = write_one_page_pdf("offpage.pdf",
                                         "<< /Length 195 >>\nstream\n"
                                         "BT /F1 12 Tf 72 700 Td (Kept on the page) Tj ET\n"
                                         "BT /F1 12 Tf 700 600 Td (Right of the page) Tj ET\n"
                                         "BT /F1 12 Tf 72 -40 Td (Below the page) Tj ET\n"
                                         "BT /F1 12 Tf 560 500 Td (Edge crossing text) Tj ET\n"
                                         "endstream");
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), 0, "%s", dq_last_error());
    char *text = page_text(&d.pages[0]);
    cr_assert(strstr(text, "Kept on the page"), "%s", text);
    cr_assert_not(strstr(text, "Right"), "%s", text);
    cr_assert_not(strstr(text, "Below"), "%s", text);
    /* "Edge cr" ends near x = 608 in Helvetica at 12 points. */
    cr_assert(strstr(text, "Edge cr"), "%s", text);
    cr_assert_not(strstr(text, "crossing"), "%s", text);
    free(text);
    const ingest_line *edge = NULL;
    for (size_t b = 0; b < d.pages[0].n_blocks; b++)
        for (size_t l = 0; l < d.pages[0].blocks[b].n_lines; l++)
            if (!strncmp(d.pages[0].blocks[b].lines[l].text, "Edge", 4))
                edge = &d.pages[0].blocks[b].lines[l];
    cr_assert_not_null(edge);
    cr_assert_float_eq(edge->x0, 560, 0.5);
    cr_assert_leq(edge->x1, 612 + 12);
    ingest_raw_doc_free(&d);
}

Test(extract, glyphs_far_off_the_page_cost_no_memory)
{
    /* 400,000 glyphs set far right of the page would take about 30 MB of
     * MuPDF's page text before the characters' boxes could drop them: they
     * are left out as the page runs, so a 16 MB limit still reads it. They
     * come in 40 text objects: MuPDF grows one object's glyph list a few
     * dozen glyphs at a time, which one 400,000-glyph string makes quadratic
     * under ASan's realloc (minutes on a loaded machine). */
    enum { OBJECTS = 40, GLYPHS = 10000 };
    const char *head = "BT /F1 12 Tf 72 700 Td (Kept on the page) Tj ET\n";
    const char *open = "BT /F1 12 Tf 5000 500 Td (";
    const char *close = ") Tj ET\n";
    size_t each = strlen(open) + GLYPHS + strlen(close);
    size_t len = strlen(head) + OBJECTS * each;
    char *obj = malloc(len + 64);
    cr_assert_not_null(obj);
    char *p = obj + sprintf(obj, "<< /Length %zu >>\nstream\n%s", len, head);
    for (int i = 0; i < OBJECTS; i++) {
        p += sprintf(p, "%s", open);
        memset(p, 'x', GLYPHS);
        p += GLYPHS;
        p += sprintf(p, "%s", close);
    }
    sprintf(p, "\nendstream");
    const char *pdf = write_one_page_pdf("faroff.pdf", obj);
    free(obj);
    ingest_params params = ingest_default_params();
    params.max_doc_bytes = 16 << 20;
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract_params(pdf, &params, &d), 0, "%s", dq_last_error());
    char *text = page_text(&d.pages[0]);
    cr_assert_str_eq(text, "Kept on the page", "%s", text);
    free(text);
    ingest_raw_doc_free(&d);
}

Test(extract, broken_page_tree_is_damaged)
{
    static const char *const objs[] = {
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [] /Count 2 >>",
    };
    const char *pdf = path_in("tree.pdf");
    write_raw_pdf(pdf, objs, 2);
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(pdf, NULL, &d), -1);
    cr_assert_str_eq(dq_last_error(), "damaged file: malformed page tree");
    assert_empty(&d);
}

Test(extract, missing_file_and_unsupported)
{
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(path_in("nothere.pdf"), NULL, &d), -1);
    cr_assert_str_eq(dq_last_error(), "No such file or directory");
    assert_empty(&d);
    cr_assert_eq(ingest_extract(path_in("report.key"), NULL, &d), -1);
    cr_assert_str_eq(dq_last_error(), "unsupported file type '.key'");
    cr_assert_eq(ingest_extract(dir, NULL, &d), -1);
    cr_assert_str_eq(dq_last_error(), "unsupported file type (no extension)");
    char sub[300];
    snprintf(sub, sizeof sub, "%s/folder.pdf", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    cr_assert_eq(ingest_extract(sub, NULL, &d), -1);
    cr_assert_str_eq(dq_last_error(), "is a directory");
}

Test(extract, supported_extensions)
{
    static const char *const yes[] = {"a.pdf", "B.PDF", "x/y.epub", "c.xps", "c.oxps", "c.cbz",
                                      "c.fb2", "c.xhtml", "c.html", "c.HTM", "c.txt", "c.md",
                                      "c.Markdown", "a.docx", "a.XLSX", "a.pptx", "a.odt",
                                      "a.ods", "a.odp", "a.doc"};
    static const char *const no[] = {"a.key", "pdf", "a.pdf.bak", "dir.pdf/file", ".md", "a.",
                                     "a.mdx", ""};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        cr_assert(ingest_supported(yes[i]), "%s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        cr_assert_not(ingest_supported(no[i]), "%s", no[i]);
}

Test(extract, free_is_safe_on_empty_and_twice)
{
    ingest_raw_doc d;
    memset(&d, 0, sizeof d);
    ingest_raw_doc_free(&d);
    ingest_raw_doc_free(&d);
    ingest_raw_doc_free(NULL);
}

typedef struct {
    const char *path;
    int rc;
    char first[64];
} thread_job;

static void *extract_thread(void *arg)
{
    thread_job *job = arg;
    for (int i = 0; i < 3; i++) {
        ingest_raw_doc d;
        job->rc |= ingest_extract(job->path, NULL, &d);
        if (d.n_pages > 0 && d.pages[0].n_blocks > 0)
            snprintf(job->first, sizeof job->first, "%s", d.pages[0].blocks[0].lines[0].text);
        ingest_raw_doc_free(&d);
    }
    return NULL;
}

Test(extract, concurrent_calls_are_independent)
{
    const char *pdf = path_in("threads.pdf");
    cr_assert_eq(pdfgen_write(pdf, report, 2, NULL), 0, "%s", dq_last_error());
    pthread_t t[4];
    thread_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (thread_job){pdf, 0, ""};
        cr_assert_eq(pthread_create(&t[i], NULL, extract_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(jobs[i].rc, 0);
        cr_assert_str_eq(jobs[i].first, "Annual Report");
    }
}

/* The counting allocator hands out small blocks zeroed even when malloc
 * recycles dirty ones (what keeps MuPDF's page-tree cycle check from reading
 * stale object numbers in its 16-entry block: memcap.h), counts what is
 * held, and refuses past the cap. */
Test(extract, memcap_zeroes_counts_and_refuses)
{
    memcap m = memcap_make(1 << 20);
    fz_alloc_context a = memcap_allocator(&m);
    for (int round = 0; round < 3; round++) {
        int *list = a.malloc(a.user, 16 * sizeof *list);
        cr_assert_not_null(list);
        for (int i = 0; i < 16; i++)
            cr_expect_eq(list[i], 0, "round %d, entry %d", round, i);
        for (int i = 0; i < 16; i++)
            list[i] = 1000 + i; /* what the next round must not see */
        list = a.realloc(a.user, list, 64 * sizeof *list);
        cr_assert_not_null(list);
        cr_expect_eq(list[15], 1015);
        cr_expect_eq(m.used, 64 * sizeof *list);
        a.free(a.user, list);
        cr_expect_eq(m.used, 0);
    }
    /* A block that grows from the slabs to malloc and back keeps its bytes. */
    char *grow = a.malloc(a.user, 100);
    memset(grow, 'x', 100);
    grow = a.realloc(a.user, grow, 4000);
    cr_assert_not_null(grow);
    cr_expect(grow[0] == 'x' && grow[99] == 'x');
    memset(grow, 'y', 4000);
    grow = a.realloc(a.user, grow, 200);
    cr_assert_not_null(grow);
    cr_expect(grow[0] == 'y' && grow[199] == 'y');
    cr_expect_eq(m.used, 200);
    a.free(a.user, grow);
    cr_expect_eq(m.used, 0);
    void *big = a.malloc(a.user, 2 << 20);
    cr_expect_null(big);
    cr_expect(m.hit);
    memcap_set_error(&m);
    cr_expect_str_eq(dq_last_error(), "needs more than 1 MB of memory to read, over the limit of "
                                      "1 MB per document (--max-doc-memory); a compressed bomb?");
    memcap_free(&m);
}

/* The cap counts the bytes MuPDF asks for, but a tiny block takes a slab's
 * 32 bytes and each size class keeps its own peak: the slabs stop at twice
 * the cap, so one class after another cannot hold 70 times the cap. */
Test(extract, memcap_bounds_its_slabs)
{
    memcap m = memcap_make(1 << 20);
    fz_alloc_context a = memcap_allocator(&m);
    size_t max = 4 << 20, n;
    void **blocks = dq_malloc(max * sizeof *blocks);
    for (size_t size = 1; size <= 512; size += 16) {
        for (n = 0; n < max && (blocks[n] = a.malloc(a.user, size)); n++)
            ;
        cr_assert_lt(n, max);
        for (size_t i = 0; i < n; i++)
            a.free(a.user, blocks[i]);
    }
    free(blocks);
    cr_expect(m.hit);
    cr_expect_eq(m.used, 0);
    cr_expect_leq(m.slab_bytes, 2u << 20);
    /* Blocks of a class the slabs hold come out again. */
    void *p = a.malloc(a.user, 1);
    cr_expect_not_null(p);
    a.free(a.user, p);
    memcap_free(&m);
    cr_expect_eq(m.slab_bytes, 0);
}

/* A freed small block goes back to its class and comes out again for the
 * next block of that class; in a sanitizer build its bytes are poisoned
 * while it is free, so ASan sees a read after MuPDF dropped an object as
 * it would with malloc's blocks. */
Test(extract, memcap_reuses_freed_blocks_and_shows_them_to_asan)
{
    memcap m = memcap_make(0);
    fz_alloc_context a = memcap_allocator(&m);
    char *b = a.malloc(a.user, 40);
    char *next = a.malloc(a.user, 40);
    cr_assert(b && next);
    a.free(a.user, b);
#if defined(__SANITIZE_ADDRESS__)
    cr_expect(__asan_address_is_poisoned(b) && __asan_address_is_poisoned(b + 47));
    cr_expect(!__asan_address_is_poisoned(next) && !__asan_address_is_poisoned(next + 39));
#endif
    char *again = a.malloc(a.user, 33);
    cr_expect_eq(again, b, "the freed block of the same class");
    cr_expect_eq(again[0], 0);
#if defined(__SANITIZE_ADDRESS__)
    cr_expect(!__asan_address_is_poisoned(again) && !__asan_address_is_poisoned(again + 32));
#endif
    a.free(a.user, again);
    a.free(a.user, next);
    cr_expect_eq(m.used, 0);
    memcap_free(&m);
}

/* ---- a PDF's pages read in parts (ingest_params.page_parts) --------------- */

static void expect_same_doc(const ingest_raw_doc *a, const ingest_raw_doc *b)
{
    cr_assert_eq(a->n_pages, b->n_pages);
    cr_expect_str_eq(a->title ? a->title : "", b->title ? b->title : "");
    for (size_t p = 0; p < a->n_pages; p++) {
        const ingest_raw_page *x = &a->pages[p], *y = &b->pages[p];
        cr_expect_eq(x->number, y->number);
        cr_expect(x->width == y->width && x->height == y->height, "page %zu size", p);
        cr_expect(x->scanned == y->scanned && x->ocr == y->ocr && x->dropped == y->dropped);
        cr_expect(x->unreadable == y->unreadable, "page %zu unreadable", p);
        cr_assert_eq(x->n_blocks, y->n_blocks, "page %zu blocks", p);
        for (size_t k = 0; k < x->n_blocks; k++) {
            const ingest_block *u = &x->blocks[k], *v = &y->blocks[k];
            cr_expect_eq(u->table, v->table, "page %zu block %zu", p, k);
            cr_expect_str_eq(u->header ? u->header : "-", v->header ? v->header : "-");
            cr_assert_eq(u->n_lines, v->n_lines, "page %zu block %zu lines", p, k);
            for (size_t l = 0; l < u->n_lines; l++) {
                const ingest_line *s = &u->lines[l], *t = &v->lines[l];
                cr_expect_str_eq(s->text, t->text);
                cr_expect(s->size == t->size && s->bold == t->bold && s->x0 == t->x0 &&
                              s->y0 == t->y0 && s->x1 == t->x1 && s->y1 == t->y1,
                          "page %zu line '%s'", p, s->text);
            }
        }
    }
}

/* 48 pages of prose, and a statement that starts on page at (0-based) and
 * goes on, without its header, on the next. */
static void write_parted_pdf(const char *pdf, char (*texts)[64], int at)
{
    pdfgen_item items[400];
    size_t n = 0;
    int t = 0;
    for (int p = 0; p < 48; p++) {
        snprintf(texts[t], 64, "Section %d of the manual", p + 1);
        items[n++] = (pdfgen_item){p, 72, 60, texts[t++], 14, 0, 0};
        items[n++] = (pdfgen_item){p, 72, 90, "The text on this page goes on as prose does.",
                                   10, 0, 0};
    }
    items[n++] = (pdfgen_item){at, 380, 120, "Year ended December 31,", 10, 0, 0};
    items[n++] = (pdfgen_item){at, 408, 135, "2018", 10, 0, 0};
    items[n++] = (pdfgen_item){at, 488, 135, "2017", 10, 0, 0};
    for (int r = 0; r < 30; r++) {
        int page = r < 24 ? at : at + 1;
        float y = r < 24 ? 155 + 20.0f * (float)r : 120 + 20.0f * (float)(r - 24);
        snprintf(texts[t], 64, "Line item number %d", r + 1);
        items[n++] = (pdfgen_item){page, 72, y, texts[t++], 10, 0, 0};
        snprintf(texts[t], 64, "%d", 1000 + r);
        items[n++] = (pdfgen_item){page, 408, y, texts[t++], 10, 0, 0};
        snprintf(texts[t], 64, "%d", 2000 + r);
        items[n++] = (pdfgen_item){page, 488, y, texts[t++], 10, 0, 0};
    }
    cr_assert_eq(pdfgen_write_items(pdf, items, n, 48), 0, "%s", dq_last_error());
}

Test(extract, pages_read_in_parts_make_the_same_document)
{
    char texts[160][64];
    const char *pdf = path_in("parts.pdf");
    /* Page 16 is the last of the first of three parts. */
    write_parted_pdf(pdf, texts, 15);
    ingest_params params = ingest_default_params();
    ingest_raw_doc whole, parted;
    cr_assert_eq(ingest_extract_params(pdf, &params, &whole), 0, "%s", dq_last_error());
    params.page_parts = 3;
    cr_assert_eq(ingest_extract_params(pdf, &params, &parted), 0, "%s", dq_last_error());
    expect_same_doc(&whole, &parted);
    /* The statement is found on both pages, one table: page 17's rows carry
     * page 16's header though another process read page 17. */
    const ingest_raw_page *p16 = &parted.pages[15], *p17 = &parted.pages[16];
    int id16 = 0, id17 = 0;
    const char *header17 = NULL;
    for (size_t k = 0; k < p16->n_blocks; k++)
        id16 = id16 ? id16 : p16->blocks[k].table;
    for (size_t k = 0; k < p17->n_blocks; k++)
        if (p17->blocks[k].table) {
            id17 = p17->blocks[k].table;
            header17 = p17->blocks[k].header;
        }
    cr_expect_gt(id16, 0);
    cr_expect_eq(id17, id16);
    cr_expect_not_null(header17);
    ingest_raw_doc_free(&whole);
    ingest_raw_doc_free(&parted);
}

Test(extract, pages_read_in_parts_fail_as_one_pass_does)
{
    char texts[160][64];
    const char *pdf = path_in("parts.pdf");
    /* Page 40, in the third part, holds the most characters. */
    write_parted_pdf(pdf, texts, 39);
    ingest_params params = ingest_default_params();
    params.max_page_chars = 200;
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract_params(pdf, &params, &d), -1);
    char one_pass[256];
    snprintf(one_pass, sizeof one_pass, "%s", dq_last_error());
    cr_expect(strstr(one_pass, "page 40 has"), "%s", one_pass);
    params.page_parts = 3;
    cr_assert_eq(ingest_extract_params(pdf, &params, &d), -1);
    cr_expect_str_eq(dq_last_error(), one_pass);
}

/* ---- readers forked by a spawner (ingest_spawner) -------------------------- */

/* A spawned reader's setup: creates the file its state names. */
static void create_state_file(void *user, const void *state, size_t n)
{
    (void)user;
    char path[512];
    snprintf(path, sizeof path, "%.*s", (int)n, (const char *)state);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
}

/* Reads path, cleaned and split, in a reader s forks (NULL: this process). */
static int read_spawned(ingest_spawner *s, const char *path, const ingest_params *params,
                        const ingest_spawn_setup *setup, ingest_prepared *out)
{
    split_params split = split_default_params();
    ingest_reader *r = ingest_reader_spawn(s, path, params, &split, setup);
    cr_assert_not_null(r, "%s", dq_last_error());
    return ingest_reader_finish(r, out);
}

static void expect_same_chunks(const ingest_prepared *a, const ingest_prepared *b)
{
    cr_assert_eq(a->chunks.n, b->chunks.n);
    cr_assert_gt(a->chunks.n, 0);
    for (size_t i = 0; i < a->chunks.n; i++) {
        cr_expect_str_eq(a->chunks.items[i].text, b->chunks.items[i].text, "chunk %zu", i);
        cr_expect_eq(a->boxes[i].n, b->boxes[i].n, "chunk %zu boxes", i);
    }
}

/* No child of this process is left: the readers and the spawner were reaped. */
static void expect_no_child(void)
{
    errno = 0;
    cr_expect_eq(waitpid(-1, NULL, WNOHANG), -1, "a child was left behind");
    cr_expect_eq(errno, ECHILD);
}

Test(extract, a_spawned_reader_reads_what_a_forked_one_does_after_its_setup)
{
    char texts[160][64];
    char pdf[512], marker[512];
    snprintf(pdf, sizeof pdf, "%s", path_in("parts.pdf"));
    snprintf(marker, sizeof marker, "%s", path_in("setup-ran"));
    write_parted_pdf(pdf, texts, 15);
    ingest_params params = ingest_default_params();
    ingest_spawner *s = ingest_spawner_new();
    cr_assert_not_null(s);
    ingest_spawn_setup setup = {create_state_file, NULL, marker, strlen(marker)};
    ingest_prepared direct, spawned;
    cr_assert_eq(read_spawned(NULL, pdf, &params, NULL, &direct), 0, "%s", dq_last_error());
    cr_assert_eq(read_spawned(s, pdf, &params, &setup, &spawned), 0, "%s", dq_last_error());
    expect_same_doc(&direct.raw, &spawned.raw);
    expect_same_chunks(&direct, &spawned);
    cr_expect_eq(access(marker, F_OK), 0, "the setup did not run in the reader");
    ingest_prepared_free(&direct);
    ingest_prepared_free(&spawned);
    /* A limit travels with the request: page 16 is over it. */
    params.max_page_chars = 200;
    cr_expect_eq(read_spawned(s, pdf, &params, NULL, &spawned), INGEST_READ_FAILED);
    cr_expect(strstr(dq_last_error(), "page 16 has"), "%s", dq_last_error());
    ingest_spawner_free(s);
    expect_no_child();
}

/* The processes whose parent is this one, zombies included, up to max
 * (from /proc, so that a child of another counts for nothing). */
static size_t children_of_this_process(pid_t *out, size_t max)
{
    DIR *d = opendir("/proc");
    cr_assert_not_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char path[300], line[512];
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        size_t got = f ? fread(line, 1, sizeof line - 1, f) : 0;
        if (f)
            fclose(f);
        line[got] = '\0';
        const char *end = strrchr(line, ')'); /* the name may hold anything */
        int ppid = 0;
        if (end && sscanf(end + 1, " %*c %d", &ppid) == 1 && ppid == getpid() && n < max)
            out[n++] = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    return n;
}

Test(extract, a_spawned_reader_is_this_process_s_child_and_a_dead_spawner_is_not_needed)
{
    char texts[160][64];
    char pdf[512];
    snprintf(pdf, sizeof pdf, "%s", path_in("parts.pdf"));
    write_parted_pdf(pdf, texts, 15);
    ingest_params params = ingest_default_params();
    split_params split = split_default_params();
    ingest_spawner *s = ingest_spawner_new();
    cr_assert_not_null(s);
    pid_t kids[4];
    cr_assert_eq(children_of_this_process(kids, 4), 1);
    pid_t spawner = kids[0];
    /* Waited for and killed by this process, so its child (CLONE_PARENT),
     * not the spawner's; a zombie until finish reaps it. */
    ingest_reader *r = ingest_reader_spawn(s, pdf, &params, &split, NULL);
    cr_assert_not_null(r, "%s", dq_last_error());
    cr_expect_eq(children_of_this_process(kids, 4), 2, "the reader is not this process's child");
    ingest_prepared p;
    cr_expect_eq(ingest_reader_finish(r, &p), 0, "%s", dq_last_error());
    ingest_prepared_free(&p);
    /* The spawner killed (and dead, not reaped): the next reader is forked
     * here, and nothing is left behind. */
    kill(spawner, SIGKILL);
    siginfo_t info;
    cr_assert_eq(waitid(P_PID, (id_t)spawner, &info, WEXITED | WNOWAIT), 0);
    cr_expect_eq(read_spawned(s, pdf, &params, NULL, &p), 0, "%s", dq_last_error());
    cr_expect_eq(p.n_pages, 48);
    ingest_prepared_free(&p);
    ingest_spawner_free(s);
    expect_no_child();
}

Test(extract, a_request_too_large_for_the_spawner_is_forked_here)
{
    char texts[160][64];
    char pdf[512];
    snprintf(pdf, sizeof pdf, "%s", path_in("parts.pdf"));
    write_parted_pdf(pdf, texts, 15);
    /* A password longer than a request may be (the PDF is not encrypted:
     * the password is not asked for). */
    char *password = dq_malloc(64 << 10);
    memset(password, 'x', (64 << 10) - 1);
    password[(64 << 10) - 1] = '\0';
    ingest_params params = ingest_default_params();
    params.password = password;
    ingest_spawner *s = ingest_spawner_new();
    cr_assert_not_null(s);
    ingest_prepared p;
    cr_expect_eq(read_spawned(s, pdf, &params, NULL, &p), 0, "%s", dq_last_error());
    cr_expect_eq(p.n_pages, 48);
    ingest_prepared_free(&p);
    params.password = NULL;
    cr_expect_eq(read_spawned(s, pdf, &params, NULL, &p), 0, "%s", dq_last_error());
    cr_expect_eq(p.n_pages, 48);
    ingest_prepared_free(&p);
    ingest_spawner_free(s);
    free(password);
    expect_no_child();
}
