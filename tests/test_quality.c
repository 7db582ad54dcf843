/* test_quality.c - unreadable text layers (ingest/quality.c): pages whose fonts
 * cannot be mapped to Unicode are not taken as text; they are OCR'd, or
 * reported, and the good pages beside them are untouched. PDFs are made
 * here: Chinese pages whose CJK font lost its mapping or got a wrong one,
 * and a download cut before its fonts. */
#include "common/common.h"
#include "ingest/ingest.h"
#include "ingest/quality.h"
#include "support/pdfgen.h"
#include "support/run.h"
#include "support/tmpdir.h"

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/dq_quality_XXXXXX";

static void setup(void)
{
    strcpy(dir, "/tmp/dq_quality_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    cr_expect_eq(tmpdir_remove(dir), 0);
}

TestSuite(quality, .init = setup, .fini = teardown);

static const char *path_in(const char *name)
{
    return tmpdir_path(dir, name);
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

/* The verdict on s as the only page of a document. */
static const char *verdict_of(const char *s, bool cjk_font)
{
    text_quality q = {0};
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        int len;
        uint32_t c = utf8_at(s, n, i, &len);
        if (c == '\n')
            quality_end_word(&q);
        else
            quality_add_char(&q, c, cjk_font);
        i += (size_t)len;
    }
    quality_end_word(&q);
    return quality_verdict(&q, &q);
}

static const char *const en_page =
    "Section 4 Payment Terms\n"
    "The tenant shall pay the monthly rent of 4,500 yuan before the fifth day of each month.\n"
    "Late payment incurs a penalty of 0.05 percent of the amount due per day.";
static const char *const zh_page =
    "第三条 租金及支付方式\n"
    "租金每月人民币肆仟伍佰元整，承租方应于每月五日前支付。\n"
    "逾期支付的，每日按应付金额的万分之五支付违约金。\n"
    "房屋交付时，出租方应保证设施完好。";
/* Mixed Chinese, English and maths, and a code listing: real text that is
 * heavy in symbols. */
static const char *const mixed_page =
    "第二章 模型 Model\n"
    "损失函数 loss = -Σ y_i log(p_i)，其中 α = 0.05，β ∈ [0, 1]。\n"
    "若 x² + y² ≤ r²，则点在圆内；f(x) = ∫₀¹ e^(−t²) dt ≈ 0.7468。\n"
    "The gradient ∂L/∂w = (p − y)·x is averaged over the batch (n = 256).";
static const char *const code_page =
    "for (size_t i = 0; i < n; i++) {\n"
    "    if (a[i] != b[i] && (flags & F_STRICT))\n"
    "        return -1; /* mismatch */\n"
    "    sum += a[i] * b[i];\n"
    "}\n"
    "x = ptr->next ? ptr->next->val : 0; y <<= 2; z ^= ~mask;\n"
    "printf(\"%d %s\\n\", i++, argv[1]); // done\n"
    "#include <stdio.h> $ ./a.out | grep -v '^#' > /dev/null 2>&1";

Test(quality, real_text_passes)
{
    cr_expect_null(verdict_of(en_page, false));
    cr_expect_null(verdict_of(zh_page, true));
    cr_expect_null(verdict_of(mixed_page, false));
    cr_expect_null(verdict_of(code_page, false));
    /* English set in a CJK font (SimSun draws Latin too) is fine. */
    cr_expect_null(verdict_of(en_page, true));
    cr_expect_null(verdict_of("Table of contents ........................ 5\n"
                              "Introduction ---------------------------- 7",
                              false));
    /* A few unmapped glyphs in a good page are dropped, not a verdict. */
    cr_expect_null(verdict_of("\xef\xbf\xbd\xef\xbf\xbd Heading in a font without a map, "
                              "and a paragraph of ordinary text after it.",
                              false));
}

Test(quality, junk_is_caught_with_its_reason)
{
    cr_expect_str_eq(verdict_of("\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                                "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                                " ZL-2026-0318 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
                                true),
                     "font without ToUnicode");
    cr_expect_str_eq(verdict_of("\xef\xbf\xbd\xef\xbf\xbd", false), "font without ToUnicode");
    /* Latin soup from a CJK font's codes read through a wrong map. */
    cr_expect_str_eq(verdict_of("ÄÅÆ¤ÇÈ ÉÊË¦ÌÍÎ ÏĀāĂ ăĄąĆ¨ćĈĉ ĊċČ čĎďĐ", true),
                     "CJK font without a usable ToUnicode");
    /* Two-byte codes read one byte at a time through a substitute font. */
    const char *verdict =
        verdict_of(".D0ƒ+O}AŒ•_.D0ƒ+OX,87,;»0 b?\\Ky\x01\x02AT ˆ‹¨ƒ0¤¦ 0\x03\x04T¸¹", false);
    cr_assert_not_null(verdict);
    cr_expect_str_eq(verdict, "garbled characters (damaged fonts?)");
    cr_expect_str_eq(verdict_of("\xee\x80\x81\xee\x80\x82\xee\x80\x83\xee\x80\x84\xee\x80\x85"
                                "\xee\x80\x86\xee\x80\x87\xee\x80\x88\xee\x80\x89\xee\x80\x8a"
                                "\xee\x80\x8b\xee\x80\x8c abc",
                                false),
                     "font maps to private-use characters");
    cr_expect_null(verdict_of("", false));
}

/* Pages: English, Chinese, English, Chinese. */
static void write_mixed_pdf(const char *path)
{
    const char *pages[] = {en_page, zh_page, en_page, zh_page};
    cr_assert_eq(pdfgen_write_simple(path, pages, 4), 0, "%s", dq_last_error());
}

static void expect_good_pages(const ingest_raw_doc *d, const size_t *idx, size_t n,
                              const char *want)
{
    for (size_t k = 0; k < n; k++) {
        const ingest_raw_page *p = &d->pages[idx[k]];
        cr_expect_null(p->unreadable, "page %d: %s", p->number,
                       p->unreadable ? p->unreadable : "");
        cr_expect_eq(p->ocr, 0);
        char *t = page_text(p);
        cr_expect(strstr(t, want), "page %d: '%s'", p->number, t);
        free(t);
    }
}

static void expect_unreadable(const ingest_raw_doc *d, const size_t *idx, size_t n,
                              const char *why)
{
    for (size_t k = 0; k < n; k++) {
        const ingest_raw_page *p = &d->pages[idx[k]];
        cr_assert_not_null(p->unreadable, "page %d was taken as text", p->number);
        cr_expect_str_eq(p->unreadable, why);
        cr_expect_eq(p->n_blocks, 0, "page %d kept its junk", p->number);
        cr_expect_eq(p->ocr, 0);
    }
}

Test(quality, cjk_font_without_tounicode)
{
    const char *good = path_in("good.pdf"), *bad = path_in("bad.pdf");
    write_mixed_pdf(good);
    cr_assert_eq(pdfgen_damage_cjk_fonts(good, bad, PDFGEN_CJK_NO_TOUNICODE), 0, "%s",
                 dq_last_error());
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(bad, NULL, &d), 0, "%s", dq_last_error());
    cr_assert_eq(d.n_pages, 4);
    expect_good_pages(&d, (size_t[]){0, 2}, 2, "monthly rent of 4,500 yuan");
    expect_unreadable(&d, (size_t[]){1, 3}, 2, "font without ToUnicode");
    ingest_raw_doc_free(&d);

    /* The undamaged file has no false alarm. */
    cr_assert_eq(ingest_extract(good, NULL, &d), 0, "%s", dq_last_error());
    expect_good_pages(&d, (size_t[]){0, 2}, 2, "monthly rent of 4,500 yuan");
    expect_good_pages(&d, (size_t[]){1, 3}, 2, "承租方应于每月五日前支付");
    for (size_t i = 0; i < d.n_pages; i++)
        cr_expect_eq(d.pages[i].dropped, 0);
    ingest_raw_doc_free(&d);
}

Test(quality, wrong_tounicode_map)
{
    const char *good = path_in("good.pdf"), *bad = path_in("bad.pdf");
    write_mixed_pdf(good);
    cr_assert_eq(pdfgen_damage_cjk_fonts(good, bad, PDFGEN_CJK_BAD_TOUNICODE), 0, "%s",
                 dq_last_error());
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(bad, NULL, &d), 0, "%s", dq_last_error());
    expect_good_pages(&d, (size_t[]){0, 2}, 2, "monthly rent of 4,500 yuan");
    expect_unreadable(&d, (size_t[]){1, 3}, 2, "CJK font without a usable ToUnicode");
    ingest_raw_doc_free(&d);
}

Test(quality, no_readable_page_fails_the_document)
{
    const char *good = path_in("good.pdf"), *bad = path_in("bad.pdf");
    const char *pages[] = {zh_page, zh_page};
    cr_assert_eq(pdfgen_write_simple(good, pages, 2), 0, "%s", dq_last_error());
    cr_assert_eq(pdfgen_damage_cjk_fonts(good, bad, PDFGEN_CJK_NO_TOUNICODE), 0);
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(bad, NULL, &d), -1);
    cr_expect_str_eq(dq_last_error(), "text layer unreadable on all 2 pages (font without "
                                      "ToUnicode); run with --ocr auto");
    cr_expect_eq(d.n_pages, 0);
}

Test(quality, download_cut_before_its_fonts)
{
    const char *good = path_in("good.pdf"), *last = path_in("last.pdf"), *cut = path_in("cut.pdf");
    const char *pages[] = {zh_page, zh_page, zh_page};
    cr_assert_eq(pdfgen_write_simple(good, pages, 3), 0, "%s", dq_last_error());
    long at;
    cr_assert_eq(pdfgen_write_fonts_last(good, last, &at), 0, "%s", dq_last_error());
    ingest_raw_doc d;
    /* Whole, the moved file reads as before. */
    cr_assert_eq(ingest_extract(last, NULL, &d), 0, "%s", dq_last_error());
    expect_good_pages(&d, (size_t[]){0, 1, 2}, 3, "承租方应于每月五日前支付");
    ingest_raw_doc_free(&d);
    cr_assert_eq(pdfgen_write_truncated(last, cut, (size_t)at), 0);
    int rc = ingest_extract(cut, NULL, &d);
    if (rc == 0) {
        for (size_t i = 0; i < d.n_pages; i++) {
            char *t = page_text(&d.pages[i]);
            cr_expect(d.pages[i].unreadable, "page %zu taken as text: '%s'", i + 1, t);
            free(t);
        }
        ingest_raw_doc_free(&d);
    } else {
        cr_expect(strstr(dq_last_error(), "text layer unreadable") ||
                      strstr(dq_last_error(), "no text found"),
                  "%s", dq_last_error());
    }
}

Test(quality, unreadable_page_is_ocr_d_instead)
{
    const char *good = path_in("good.pdf"), *bad = path_in("bad.pdf");
    write_mixed_pdf(good);
    cr_assert_eq(pdfgen_damage_cjk_fonts(good, bad, PDFGEN_CJK_BAD_TOUNICODE), 0);
    ocr_params ocr = ocr_default_params();
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract_ocr(bad, NULL, &ocr, &d), 0, "%s", dq_last_error());
    expect_good_pages(&d, (size_t[]){0, 2}, 2, "monthly rent of 4,500 yuan");
    for (size_t i = 1; i < 4; i += 2) {
        const ingest_raw_page *p = &d.pages[i];
        cr_expect_str_eq(p->unreadable, "CJK font without a usable ToUnicode");
        cr_expect_eq(p->ocr, 1, "page %d not OCR'd", p->number);
        char *t = page_text(p);
        cr_expect(strstr(t, "租金") && strstr(t, "违约金"), "page %d: '%s'", p->number, t);
        free(t);
    }
    ingest_raw_doc_free(&d);
}

/* Runs docqa in dir with args (NULL-terminated), store in dir/.docqa. */
static run_result docqa_argv(const char *const *args)
{
    return run_docqa(&(run_opts){.workdir = dir}, args);
}

#define DOCQA(...) docqa_argv((const char *const[]){__VA_ARGS__, NULL})

/* Every chunk text in the store of dir, joined by '\n'. */
static char *stored_chunks(void)
{
    char db[320];
    snprintf(db, sizeof db, "%s/.docqa/docqa.sqlite", dir);
    sqlite3 *h = NULL;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT text FROM chunks ORDER BY id", -1, &s, NULL),
                 SQLITE_OK);
    dq_buf b = DQ_BUF_INIT;
    while (sqlite3_step(s) == SQLITE_ROW)
        dq_buf_printf(&b, "%s\n", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(h);
    return dq_buf_take(&b);
}

Test(quality, cli_reports_ocrs_and_counts_unreadable_pages)
{
    char path[300];
    snprintf(path, sizeof path, "%s/good.pdf", dir);
    write_mixed_pdf(path);
    snprintf(path, sizeof path, "%s/bad.pdf", dir);
    cr_assert_eq(pdfgen_damage_cjk_fonts(path_in("good.pdf"), path, PDFGEN_CJK_BAD_TOUNICODE), 0);
    cr_assert_eq(unlink(path_in("good.pdf")), 0);

    /* OCR off: the good pages are stored, the others reported. */
    run_result r = DOCQA("ingest", "--ocr", "never", "--no-embed", "bad.pdf");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "docqa: 'bad.pdf': page 2: text layer unreadable (CJK font without a "
                            "usable ToUnicode); run with --ocr auto"),
              "%s", r.err);
    cr_expect(strstr(r.err, "page 4: text layer unreadable"), "%s", r.err);
    cr_expect(strstr(r.err, "text layers: 2 unreadable pages (0 read by OCR, 2 not indexed)"),
              "%s", r.err);
    run_result_free(&r);
    char *chunks = stored_chunks();
    cr_expect(strstr(chunks, "monthly rent"), "%s", chunks);
    /* No soup reached the index: nothing past ASCII at all in these pages. */
    for (const char *c = chunks; *c; c++)
        cr_assert_lt((unsigned char)*c, 0x80, "junk in the index: %s", chunks);
    free(chunks);
    r = DOCQA("status");
    cr_expect(strstr(r.out, "unreadable: 2 pages whose text layer is not their text: 0 read by "
                            "OCR, 2 not indexed"),
              "%s", r.out);
    run_result_free(&r);

    /* The default, --ocr auto: those pages are read from their image. */
    r = DOCQA("ingest", "--force", "--no-embed", "bad.pdf");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_null(strstr(r.err, "text layer unreadable ("), "%s", r.err);
    run_result_free(&r);
    r = DOCQA("search", "承租方应于每月五日前");
    cr_expect(strstr(r.out, "bad.pdf  p. 2 (OCR)") || strstr(r.out, "bad.pdf  p. 4 (OCR)"), "%s",
              r.out);
    run_result_free(&r);
    r = DOCQA("search", "monthly rent");
    cr_expect(!strncmp(r.out, "1. bad.pdf  p. 1  ", 18) || !strncmp(r.out, "1. bad.pdf  p. 3  ", 18),
              "the text-layer page first: %s", r.out);
    run_result_free(&r);
    r = DOCQA("status", "--json");
    cr_expect(strstr(r.out, "\"unreadable_ocr_pages\":\t2,"), "%s", r.out);
    cr_expect(strstr(r.out, "\"unreadable_pages\":\t0,"), "%s", r.out);
    cr_expect(strstr(r.out, "\"ocr_pages\":\t0,"), "scans are counted apart: %s", r.out);
    run_result_free(&r);
}

/* No page of path is taken for unreadable, and none drops characters
 * unless allow_dropped. */
static void expect_no_alarm(const char *path, bool allow_dropped)
{
    ingest_raw_doc d;
    cr_assert_eq(ingest_extract(path, NULL, &d), 0, "%s: %s", path, dq_last_error());
    for (size_t i = 0; i < d.n_pages; i++) {
        cr_expect_null(d.pages[i].unreadable, "%s page %d: %s", path, d.pages[i].number,
                       d.pages[i].unreadable);
        if (!allow_dropped)
            cr_expect_eq(d.pages[i].dropped, 0, "%s page %d", path, d.pages[i].number);
    }
    ingest_raw_doc_free(&d);
}

Test(quality, no_false_alarm_on_good_pdfs)
{
    expect_no_alarm(DQ_SOURCE_DIR "/samples/lease-zh.pdf", false);
    expect_no_alarm(DQ_SOURCE_DIR "/samples/manual-en.pdf", false);
    /* Mixed Chinese, English and maths, and code, in one document and alone. */
    const char *pages[] = {mixed_page, code_page, en_page, zh_page};
    cr_assert_eq(pdfgen_write_simple(path_in("mixed.pdf"), pages, 4), 0);
    expect_no_alarm(path_in("mixed.pdf"), false);
    cr_assert_eq(pdfgen_write_simple(path_in("code.pdf"), pages + 1, 1), 0);
    expect_no_alarm(path_in("code.pdf"), false);
    cr_assert_eq(pdfgen_write_simple(path_in("maths.pdf"), pages, 1), 0);
    expect_no_alarm(path_in("maths.pdf"), false);
}

/* Real filings, when the development sets sit beside the clone (CI has them
 * in ../shared; $DOCQA_SHARED names another place). */
Test(quality, no_false_alarm_on_filings)
{
    static const char *const filings[] = {"AMAZON_2017_10K.pdf", "JPMORGAN_2022Q2_10Q.pdf",
                                          "JOHNSON_JOHNSON_2023Q2_EARNINGS.pdf"};
    const char *shared = getenv("DOCQA_SHARED");
    char pdfs[512], path[640];
    snprintf(pdfs, sizeof pdfs, "%s/eval/financebench-dev/pdfs",
             shared && *shared ? shared : DQ_SOURCE_DIR "/../shared");
    if (access(pdfs, R_OK) != 0)
        cr_skip_test("no %s", pdfs);
    for (size_t i = 0; i < sizeof filings / sizeof *filings; i++) {
        snprintf(path, sizeof path, "%s/%s", pdfs, filings[i]);
        expect_no_alarm(path, true);
    }
}
