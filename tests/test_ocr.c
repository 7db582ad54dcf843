/* test_ocr.c - scanned pages read with Tesseract: image-only PDFs made here
 * from rendered text pages (English, and Chinese in MuPDF's CJK font) go
 * through extraction with OCR, and come back with the right text on the
 * right pages, below a stated character error rate. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "ingest/ingest.h"
#include "support/scangen.h"
#include "support/tmpdir.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/docqa-ocr-XXXXXX");
    cr_assert(mkdtemp(dir));
}

static void teardown(void)
{
    cr_expect_eq(tmpdir_remove(dir), 0);
}

TestSuite(ocr, .init = setup, .fini = teardown);

static const char *const en_lines[] = {
    "Section 4 Payment Terms",
    "The tenant shall pay the monthly rent of 4,500 yuan",
    "before the fifth day of each month. Late payment incurs",
    "a penalty of 0.05 percent of the amount due per day.",
};
static const char *const zh_lines[] = {
    "第三条 租金及支付方式",
    "租金每月人民币肆仟伍佰元整，承租方应于每月五日前支付。",
    "逾期支付的，每日按应付金额的万分之五支付违约金。",
    "房屋交付时，出租方应保证设施完好。",
};
static const char *const text_lines[] = {
    "This page has a text layer and is read without OCR.",
};

/* The page's lines as one string, for the error rate. */
static char *joined(const char *const *lines, size_t n)
{
    dq_buf b = DQ_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        dq_buf_printf(&b, "%s\n", lines[i]);
    return dq_buf_take(&b);
}

static char *page_text(const ingest_raw_page *p)
{
    dq_buf b = DQ_BUF_INIT;
    for (size_t i = 0; i < p->n_blocks; i++)
        for (size_t k = 0; k < p->blocks[i].n_lines; k++)
            dq_buf_printf(&b, "%s\n", p->blocks[i].lines[k].text);
    return dq_buf_take(&b);
}

static void fill(pdfgen_line *out, const char *const *lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (pdfgen_line){lines[i], 12, false};
}

/* Pages: 1 English scan, 2 text layer, 3 Chinese scan, 4 blank scan. */
static void write_mixed(const char *path, int dpi)
{
    pdfgen_line en[4], zh[4], tx[1];
    fill(en, en_lines, 4);
    fill(zh, zh_lines, 4);
    fill(tx, text_lines, 1);
    pdfgen_page pages[4] = {{en, 4, false}, {tx, 1, false}, {zh, 4, false}, {NULL, 0, false}};
    bool scanned[4] = {true, false, true, true};
    cr_assert_eq(scangen_write(path, pages, 4, scanned, dpi), 0, "%s", dq_last_error());
}

typedef struct {
    int calls, last_done, total;
} progress_log;

static int on_progress(void *user, int done, int total)
{
    progress_log *log = user;
    log->calls++;
    cr_expect_geq(done, log->last_done);
    log->last_done = done;
    log->total = total;
    return 0;
}

Test(ocr, mixed_document_page_by_page)
{
    char path[128];
    snprintf(path, sizeof path, "%s/mixed.pdf", dir);
    write_mixed(path, 300);

    /* Without OCR the scanned pages have no text at all. */
    ingest_raw_doc raw = {0};
    cr_assert_eq(ingest_extract(path, NULL, &raw), 0, "%s", dq_last_error());
    cr_assert_eq(raw.n_pages, 4);
    cr_expect_eq(raw.pages[0].n_blocks, 0);
    cr_expect(raw.pages[0].scanned && !raw.pages[1].scanned && raw.pages[2].scanned &&
              raw.pages[3].scanned);
    ingest_raw_doc_free(&raw);

    progress_log log = {0, 0, 0};
    ocr_params op = ocr_default_params();
    op.progress = on_progress;
    op.user = &log;
    double t0 = dq_now();
    cr_assert_eq(ingest_extract_ocr(path, NULL, &op, &raw), 0, "%s", dq_last_error());
    double secs = dq_now() - t0;
    cr_assert_eq(raw.n_pages, 4);
    cr_expect_eq(log.total, 3);
    cr_expect_eq(log.last_done, 3);

    cr_expect_eq(raw.pages[0].ocr, 1);
    cr_expect_eq(raw.pages[1].ocr, 0);
    cr_expect_eq(raw.pages[2].ocr, 1);
    cr_expect_eq(raw.pages[3].ocr, -1, "a blank scan is OCR'd and found empty");
    cr_expect_eq(raw.pages[3].n_blocks, 0);
    cr_expect_gt(raw.pages[0].ocr_conf, 80);
    cr_expect_gt(raw.pages[2].ocr_conf, 80);

    char *want_en = joined(en_lines, 4), *want_zh = joined(zh_lines, 4);
    char *got_en = page_text(&raw.pages[0]), *got_zh = page_text(&raw.pages[2]);
    char *got_tx = page_text(&raw.pages[1]);
    double cer_en = scangen_cer(want_en, got_en), cer_zh = scangen_cer(want_zh, got_zh);
    cr_log_info("OCR of 3 pages at 300 dpi: %.1f s; CER en %.4f zh %.4f; conf en %.0f zh %.0f",
                secs, cer_en, cer_zh, (double)raw.pages[0].ocr_conf,
                (double)raw.pages[2].ocr_conf);
    /* Clean renders at 300 dpi: Tesseract 5 reads them nearly perfectly;
     * 2% leaves room for a misread digit or punctuation mark. */
    cr_expect_lt(cer_en, 0.02, "English CER %.4f:\n%s", cer_en, got_en);
    cr_expect_lt(cer_zh, 0.02, "Chinese CER %.4f:\n%s", cer_zh, got_zh);
    cr_expect(strstr(got_en, "monthly rent of 4,500 yuan"), "%s", got_en);
    /* Tesseract spaces out Chinese characters; none of that survives. */
    cr_expect(strstr(got_zh, "承租方应于每月五日前支付"), "%s", got_zh);
    cr_expect(strstr(got_zh, "第三条 租金及支付方式") || strstr(got_zh, "第三条租金及支付方式"),
              "%s", got_zh);
    cr_expect_str_eq(got_tx, "This page has a text layer and is read without OCR.\n");
    /* Lines carry boxes in points, inside the A4 page. */
    const ingest_line *l = &raw.pages[0].blocks[0].lines[0];
    cr_expect(l->x0 > 50 && l->x0 < 100 && l->y1 > l->y0 && l->y1 < 842, "%f %f %f", (double)l->x0,
              (double)l->y0, (double)l->y1);
    free(want_en);
    free(want_zh);
    free(got_en);
    free(got_zh);
    free(got_tx);
    ingest_raw_doc_free(&raw);
}
