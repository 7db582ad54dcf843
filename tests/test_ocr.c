/* test_ocr.c - scanned pages read with Tesseract: image-only PDFs made here
 * from rendered text pages (English, and Chinese in MuPDF's CJK font) go
 * through extraction with OCR, and come back with the right text on the
 * right pages, below a stated character error rate. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "index/index.h" /* STORE_DBNAME */
#include "ingest/ingest.h"
#include "ingest/ocr.h"
#include "support/pdfgen.h"
#include "support/run.h"
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
    "This page has a text layer and is read without OCR. Its words come",
    "straight from the PDF, so nothing here is marked as read from a scan.",
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

/* A structured-text page of images at the given boxes (nothing else). */
static bool scan_with(const fz_rect *images, int n, size_t text_chars)
{
    fz_stext_block blocks[4];
    memset(blocks, 0, sizeof blocks);
    for (int i = 0; i < n; i++) {
        blocks[i].type = FZ_STEXT_BLOCK_IMAGE;
        blocks[i].bbox = images[i];
        blocks[i].next = i + 1 < n ? &blocks[i + 1] : NULL;
    }
    fz_stext_page page;
    memset(&page, 0, sizeof page);
    page.first_block = n ? &blocks[0] : NULL;
    return ocr_page_is_scan(&page, fz_make_rect(0, 0, 600, 800), text_chars);
}

Test(ocr, which_pages_are_scans)
{
    fz_rect full = fz_make_rect(0, 0, 600, 800);
    fz_rect quarter = fz_make_rect(0, 0, 300, 400);         /* 25% of the page */
    fz_rect third = fz_make_rect(0, 0, 600, 240);           /* 30% */
    fz_rect off_page = fz_make_rect(-600, -800, 300, 400);  /* 25% on the page */
    cr_expect_not(scan_with(NULL, 0, 0), "a blank page has nothing to read");
    cr_expect(scan_with(&full, 1, 0));
    cr_expect(scan_with(&full, 1, 31), "a stamp or page number does not make it text");
    cr_expect_not(scan_with(&full, 1, 32));
    cr_expect_not(scan_with(&quarter, 1, 0), "a logo or figure is not a scan");
    cr_expect(scan_with(&third, 1, 0));
    cr_expect(scan_with((fz_rect[]){quarter, fz_make_rect(300, 400, 600, 800)}, 2, 0),
              "strips of one scan add up");
    cr_expect_not(scan_with(&off_page, 1, 0), "only the part on the page counts");
}

/* Pages: 1 English scan, 2 text layer, 3 Chinese scan, 4 blank scan. */
static void write_mixed(const char *path, int dpi)
{
    pdfgen_line en[4], zh[4], tx[2];
    fill(en, en_lines, 4);
    fill(zh, zh_lines, 4);
    fill(tx, text_lines, 2);
    pdfgen_page pages[4] = {{en, 4, false}, {tx, 2, false}, {zh, 4, false}, {NULL, 0, false}};
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
    /* Clean renders at 300 dpi. English comes back exact (CER 0 measured);
     * 2% leaves room for one misread character. Debian's chi_sim model reads
     * this page at 5.1% (支 as 文 three times, 仟 as 什): the bound is 8%. */
    cr_expect_lt(cer_en, 0.02, "English CER %.4f:\n%s", cer_en, got_en);
    cr_expect_lt(cer_zh, 0.08, "Chinese CER %.4f:\n%s", cer_zh, got_zh);
    cr_expect(strstr(got_en, "monthly rent of 4,500 yuan"), "%s", got_en);
    /* Tesseract spaces out Chinese characters; none of that survives. */
    cr_expect(strstr(got_zh, "承租方应于每月五日前"), "%s", got_zh);
    cr_expect(strstr(got_zh, "出租方应保证设施完好"), "%s", got_zh);
    cr_expect_str_eq(got_tx, "This page has a text layer and is read without OCR. Its words come\n"
                             "straight from the PDF, so nothing here is marked as read from a "
                             "scan.\n");
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

Test(ocr, blank_scan_is_a_failure_not_an_empty_document)
{
    char path[128];
    snprintf(path, sizeof path, "%s/blank.pdf", dir);
    pdfgen_page page = {NULL, 0, false};
    cr_assert_eq(scangen_write(path, &page, 1, NULL, 150), 0, "%s", dq_last_error());
    ingest_raw_doc raw = {0};
    ocr_params op = ocr_default_params();
    cr_assert_eq(ingest_extract_ocr(path, NULL, &op, &raw), -1);
    cr_expect_str_eq(dq_last_error(), "OCR found no text on 1 scanned page");
    cr_expect_eq(raw.n_pages, 0);
    op.mode = OCR_NEVER;
    cr_assert_eq(ingest_extract_ocr(path, NULL, &op, &raw), -1);
    cr_expect_str_eq(dq_last_error(), "no text layer (scanned images?); OCR is off (--ocr never)");
}

Test(ocr, bad_languages_fail_the_file)
{
    char path[128];
    snprintf(path, sizeof path, "%s/scan.pdf", dir);
    pdfgen_line en[4];
    fill(en, en_lines, 4);
    pdfgen_page page = {en, 4, false};
    cr_assert_eq(scangen_write(path, &page, 1, NULL, 150), 0, "%s", dq_last_error());
    ingest_raw_doc raw = {0};
    ocr_params op = ocr_default_params();
    op.langs = "eng+../../etc/x";
    cr_assert_eq(ingest_extract_ocr(path, NULL, &op, &raw), -1);
    cr_expect_str_eq(dq_last_error(),
                     "bad OCR languages 'eng+../../etc/x' (want names joined by '+', as "
                     "chi_sim+eng)");
    op.langs = "eng+";
    cr_assert_eq(ingest_extract_ocr(path, NULL, &op, &raw), -1);
    op.langs = "docqa_no_such_lang";
    cr_assert_eq(ingest_extract_ocr(path, NULL, &op, &raw), -1);
    cr_expect_str_eq(dq_last_error(),
                     "cannot load OCR languages 'docqa_no_such_lang' (install "
                     "tesseract-ocr-<lang>, or set --ocr-lang)");
}

Test(ocr, always_reads_text_pages_too)
{
    char path[128];
    snprintf(path, sizeof path, "%s/text.pdf", dir);
    pdfgen_line en[4];
    fill(en, en_lines, 4);
    pdfgen_page page = {en, 4, false};
    cr_assert_eq(pdfgen_write(path, &page, 1, NULL), 0, "%s", dq_last_error());
    ingest_raw_doc raw = {0};
    ocr_params op = ocr_default_params();
    op.langs = "eng";
    cr_assert_eq(ingest_extract_ocr(path, NULL, &op, &raw), 0, "%s", dq_last_error());
    cr_expect_eq(raw.pages[0].ocr, 0, "auto leaves a text page alone");
    cr_expect_not(raw.pages[0].scanned);
    ingest_raw_doc_free(&raw);
    op.mode = OCR_ALWAYS;
    cr_assert_eq(ingest_extract_ocr(path, NULL, &op, &raw), 0, "%s", dq_last_error());
    cr_expect_eq(raw.pages[0].ocr, 1);
    char *want = joined(en_lines, 4), *got = page_text(&raw.pages[0]);
    double cer = scangen_cer(want, got);
    cr_expect_lt(cer, 0.02, "CER %.4f:\n%s", cer, got);
    free(want);
    free(got);
    ingest_raw_doc_free(&raw);
}

/* ---- the docqa command ---------------------------------------------------- */

/* Runs docqa in dir with args (NULL-terminated), store in dir/.docqa. */
static run_result docqa_argv(const char *const *args)
{
    return run_docqa(&(run_opts){.workdir = dir}, args);
}

#define DOCQA(...) docqa_argv((const char *const[]){__VA_ARGS__, NULL})

/* The output line of a search hit naming page_label ("p. 1 (OCR)"). */
static bool hit_on(const char *out, const char *page_label)
{
    char want[64];
    snprintf(want, sizeof want, "mixed.pdf  %s  ", page_label);
    return strstr(out, want) != NULL;
}

Test(ocr, cli_ingest_search_ask_status)
{
    char path[128];
    snprintf(path, sizeof path, "%s/mixed.pdf", dir);
    write_mixed(path, 300);

    /* Small chunks with no overlap, so each page's text has chunks of its own. */
    run_result r = DOCQA("ingest", "--chunk-words", "15", "--chunk-cjk", "20", "--overlap", "0",
                         "mixed.pdf");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "docqa: 'mixed.pdf': OCR found no text on scanned page 4 (not stored)"),
              "%s", r.err);
    cr_expect(strstr(r.err, "OCR read 2 scanned pages (mean confidence "), "%s", r.err);
    run_result_free(&r);

    r = DOCQA("search", "monthly rent");
    cr_expect(hit_on(r.out, "p. 1 (OCR)"), "%s", r.out);
    run_result_free(&r);
    r = DOCQA("search", "承租方应于每月五日前");
    cr_expect(hit_on(r.out, "p. 3 (OCR)"), "%s", r.out);
    cr_expect_not(hit_on(r.out, "p. 1 (OCR)"), "%s", r.out);
    run_result_free(&r);
    r = DOCQA("search", "text layer");
    cr_expect(hit_on(r.out, "p. 2"), "%s", r.out);
    run_result_free(&r);
    r = DOCQA("search", "--json", "monthly rent");
    cr_expect(strstr(r.out, "\"ocr\":\ttrue"), "%s", r.out);
    run_result_free(&r);

    r = DOCQA("ask", "What is the penalty for late payment?");
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "mixed.pdf p. 1 (OCR)"), "%s", r.out);
    run_result_free(&r);

    r = DOCQA("status");
    cr_expect(strstr(r.out, "ocr:        2 pages read from scans (mean confidence "), "%s", r.out);
    cr_expect(strstr(r.out, "), 1 scanned pages with no text found"), "%s", r.out);
    cr_expect(strstr(r.out, "documents:  1 distinct, 3 pages,"), "page 4 has no row: %s", r.out);
    run_result_free(&r);
    r = DOCQA("status", "--json");
    cr_expect(strstr(r.out, "\"ocr_pages\":\t2,"), "%s", r.out);
    cr_expect(strstr(r.out, "\"ocr_empty_pages\":\t1,"), "%s", r.out);
    run_result_free(&r);
}

Test(ocr, cli_modes_languages_and_config)
{
    char path[128];
    snprintf(path, sizeof path, "%s/scan.pdf", dir);
    pdfgen_line en[4];
    fill(en, en_lines, 4);
    pdfgen_page page = {en, 4, false};
    cr_assert_eq(scangen_write(path, &page, 1, NULL, 200), 0, "%s", dq_last_error());

    /* A bad mode is a usage error before any store exists. */
    run_result r = DOCQA("ingest", "--ocr", "sometimes", "scan.pdf");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "docqa: --ocr must be auto, always or never (not 'sometimes')"), "%s",
              r.err);
    char store[128];
    snprintf(store, sizeof store, "%s/.docqa", dir);
    cr_expect_neq(access(store, F_OK), 0);
    run_result_free(&r);

    r = DOCQA("ingest", "--ocr", "never", "scan.pdf");
    cr_expect_eq(r.status, 3, "%s", r.err);
    cr_expect(strstr(r.err, "scan.pdf: no text layer (scanned images?); OCR is off (--ocr never)"),
              "%s", r.err);
    run_result_free(&r);

    r = DOCQA("ingest", "--ocr-lang", "docqa_no_such_lang", "scan.pdf");
    cr_expect_eq(r.status, 3, "%s", r.err);
    cr_expect(strstr(r.err, "cannot load OCR languages 'docqa_no_such_lang'"), "%s", r.err);
    run_result_free(&r);

    /* The store's config sets the mode; the flag still wins, and retries a
     * file that failed, as --force does. */
    char cfg[160];
    snprintf(cfg, sizeof cfg, "%s/.docqa/config", dir);
    FILE *f = fopen(cfg, "w");
    cr_assert(f);
    fputs("[ocr]\nmode = never\nlang = eng\n", f);
    fclose(f);
    r = DOCQA("ingest", "--force", "scan.pdf");
    cr_expect_eq(r.status, 3, "%s", r.err);
    cr_expect(strstr(r.err, "OCR is off (--ocr never)"), "%s", r.err);
    run_result_free(&r);
    r = DOCQA("ingest", "--ocr", "auto", "scan.pdf");
    cr_expect_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    r = DOCQA("search", "penalty");
    cr_expect(strstr(r.out, "scan.pdf  p. 1 (OCR)"), "%s", r.out);
    run_result_free(&r);
}

Test(ocr, cli_ctrl_c_during_ocr_records_nothing)
{
    char path[128];
    snprintf(path, sizeof path, "%s/long.pdf", dir);
    pdfgen_line en[4];
    fill(en, en_lines, 4);
    pdfgen_page pages[8];
    for (int i = 0; i < 8; i++)
        pages[i] = (pdfgen_page){en, 4, false};
    cr_assert_eq(scangen_write(path, pages, 8, NULL, 300), 0, "%s", dq_last_error());
    run_opts o = {.workdir = dir};
    pid_t pid = run_docqa_start(&o, (const char *const[]){"ingest", "--ocr-lang", "eng",
                                                           "long.pdf", NULL});
    cr_assert(pid >= 0);
    /* The store exists once docqa catches signals and is about to read; eight
     * pages of OCR then take seconds, so the signal lands while they are read
     * (a fixed delay from the start raced a slow sanitizer start-up). */
    char db[160];
    snprintf(db, sizeof db, "%s/.docqa/%s", dir, STORE_DBNAME);
    for (int waited = 0; waited < 20000 && access(db, F_OK) != 0; waited += 5)
        usleep(5 * 1000);
    usleep(300 * 1000);
    kill(pid, SIGINT);
    run_result done = run_docqa_finish(&o, pid);
    cr_assert_eq(done.signal, 0, "docqa must exit on Ctrl-C, not die of it");
    cr_expect_eq(done.status, 130, "%s", done.err);
    run_result_free(&done);
    /* Not recorded as failed: the next run reads the file again. */
    run_result r = DOCQA("status", "--json");
    cr_expect(strstr(r.out, "\"files\":\t0,"), "%s", r.out);
    run_result_free(&r);
}

Test(ocr, always_keeps_a_text_layer_ocr_cannot_see)
{
    /* Invisible text (render mode 3) over nothing, as OCR tools leave it: the
     * page renders blank, so OCR finds nothing and the text layer stays. */
    static const char pdf[] =
        "%PDF-1.4\n"
        "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        "2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        "3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
        " /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >> endobj\n"
        "4 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj\n"
        "5 0 obj << /Length 54 >>\nstream\n"
        "BT 3 Tr /F1 12 Tf 72 700 Td (Invisible OCR text) Tj ET\n"
        "endstream endobj\n"
        "trailer << /Root 1 0 R >>\n%%EOF\n";
    char path[128];
    snprintf(path, sizeof path, "%s/invisible.pdf", dir);
    cr_assert_eq(pdfgen_write_bytes(path, pdf, sizeof pdf - 1), 0, "%s", dq_last_error());
    ingest_raw_doc raw = {0};
    ocr_params op = ocr_default_params();
    op.mode = OCR_ALWAYS;
    op.langs = "eng";
    cr_assert_eq(ingest_extract_ocr(path, NULL, &op, &raw), 0, "%s", dq_last_error());
    cr_assert_eq(raw.n_pages, 1);
    cr_expect_eq(raw.pages[0].ocr, 0);
    char *got = page_text(&raw.pages[0]);
    cr_expect_str_eq(got, "Invisible OCR text\n");
    free(got);
    ingest_raw_doc_free(&raw);
}
