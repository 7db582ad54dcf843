/* ocr_bench.c - OCR speed and accuracy on scans made from PDFs with a text layer.
 *
 * bench/ocr runs it. Each PDF named is "scanned": every page rendered grey at
 * --scan-dpi and written as an image-only PDF (tests/support/scangen.c). The
 * scan then goes through ingest_extract_ocr() at --dpi, and each page's OCR
 * text is compared with the original's text layer: the character error rate
 * is the edit distance over the text layer's length, whitespace left out
 * (line breaks and CJK spacing are layout, not recognition). One key=value
 * line per file and one for the total go to stdout.
 *
 * For the peer row of bench/ocr: --keep-scans DIR keeps each scan as
 * DIR/<name>; --texts DIR skips OCR and scores DIR/<name>-<page>.txt (the
 * tesseract command's output, page 1-based) against the text layer instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/common.h"
#include "ingest/ingest.h"
#include "support/scangen.h"

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static char *read_text(const char *path)
{
    dq_buf b = DQ_BUF_INIT;
    if (dq_read_file(path, &b) < 0)
        fprintf(stderr, "ocr_bench: %s\n", dq_last_error());
    if (!b.data)
        dq_buf_puts(&b, "");
    return dq_buf_take(&b);
}

static char *page_text(const ingest_raw_page *p)
{
    dq_buf b = DQ_BUF_INIT;
    for (size_t i = 0; i < p->n_blocks; i++)
        for (size_t k = 0; k < p->blocks[i].n_lines; k++)
            dq_buf_printf(&b, "%s\n", p->blocks[i].lines[k].text);
    if (!b.data)
        dq_buf_puts(&b, "");
    return dq_buf_take(&b);
}

/* Code points other than white space. */
static long count_chars(const char *s)
{
    long n = 0;
    for (; *s; s++)
        n += !strchr(" \n\t\r", *s) && ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

typedef struct {
    long pages, ocr_pages, chars;
    double errors; /* edit operations */
    double wall, cpu, conf_sum;
} totals;

static void print_line(const char *name, const totals *t)
{
    printf("file=%s pages=%ld ocr_pages=%ld wall_s=%.2f cpu_s=%.2f pages_per_s=%.3f "
           "cpu_s_per_page=%.3f chars=%ld cer=%.4f mean_conf=%.1f\n",
           name, t->pages, t->ocr_pages, t->wall, t->cpu, t->wall > 0 ? t->pages / t->wall : 0,
           t->pages ? t->cpu / t->pages : 0, t->chars, t->chars ? t->errors / t->chars : 0,
           t->ocr_pages ? t->conf_sum / t->ocr_pages : 0);
}

int main(int argc, char **argv)
{
    ocr_params op = ocr_default_params();
    int scan_dpi = 300;
    const char *keep_dir = NULL, *texts_dir = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--dpi") && i + 1 < argc)
            op.dpi = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--scan-dpi") && i + 1 < argc)
            scan_dpi = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            op.threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lang") && i + 1 < argc)
            op.langs = argv[++i];
        else if (!strcmp(argv[i], "--keep-scans") && i + 1 < argc)
            keep_dir = argv[++i];
        else if (!strcmp(argv[i], "--texts") && i + 1 < argc)
            texts_dir = argv[++i];
        else {
            fprintf(stderr, "usage: ocr_bench [--dpi N] [--scan-dpi N] [--threads N] "
                            "[--lang L] [--keep-scans DIR | --texts DIR] FILE.pdf...\n");
            return 2;
        }
    }
    if (i == argc || op.dpi < 50 || scan_dpi < 50) {
        fprintf(stderr, "ocr_bench: name PDFs with a text layer (dpi at least 50)\n");
        return 2;
    }
    char dir[] = "/tmp/docqa-ocr-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("ocr_bench: mkdtemp");
        return 1;
    }
    totals all = {0};
    int rc = 0;
    for (; i < argc; i++) {
        const char *path = argv[i];
        ingest_raw_doc truth = {0}, got = {0};
        if (ingest_extract(path, NULL, &truth) < 0) {
            fprintf(stderr, "ocr_bench: '%s': %s\n", path, dq_last_error());
            rc = 1;
            continue;
        }
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (texts_dir) {
            totals t = {0};
            for (size_t p = 0; p < truth.n_pages; p++) {
                char tp[512];
                snprintf(tp, sizeof tp, "%s/%s-%zu.txt", texts_dir, base, p + 1);
                char *want = page_text(&truth.pages[p]), *have = read_text(tp);
                long n = count_chars(want);
                t.pages++;
                t.chars += n;
                t.errors += scangen_cer(want, have) * (double)n;
                free(want);
                free(have);
            }
            print_line(base, &t);
            all.pages += t.pages;
            all.chars += t.chars;
            all.errors += t.errors;
            ingest_raw_doc_free(&truth);
            continue;
        }
        char scan[512];
        if (keep_dir)
            snprintf(scan, sizeof scan, "%s/%s", keep_dir, base);
        else
            snprintf(scan, sizeof scan, "%s/scan.pdf", dir);
        if (scangen_scan_pdf(path, scan, scan_dpi) < 0) {
            fprintf(stderr, "ocr_bench: '%s': %s\n", path, dq_last_error());
            ingest_raw_doc_free(&truth);
            rc = 1;
            continue;
        }
        totals t = {0};
        double w0 = dq_now(), c0 = cpu_seconds();
        int ok = ingest_extract_ocr(scan, NULL, &op, &got);
        t.wall = dq_now() - w0;
        t.cpu = cpu_seconds() - c0;
        if (ok < 0 || got.n_pages != truth.n_pages) {
            fprintf(stderr, "ocr_bench: scan of '%s': %s\n", path,
                    ok < 0 ? dq_last_error() : "page count differs");
            rc = 1;
        } else {
            for (size_t p = 0; p < truth.n_pages; p++) {
                char *want = page_text(&truth.pages[p]);
                char *have = page_text(&got.pages[p]);
                long n = count_chars(want);
                t.pages++;
                t.ocr_pages += got.pages[p].ocr == 1;
                t.conf_sum += got.pages[p].ocr == 1 ? got.pages[p].ocr_conf : 0;
                t.chars += n;
                t.errors += scangen_cer(want, have) * (double)n;
                free(want);
                free(have);
            }
            print_line(base, &t);
            all.pages += t.pages;
            all.ocr_pages += t.ocr_pages;
            all.chars += t.chars;
            all.errors += t.errors;
            all.wall += t.wall;
            all.cpu += t.cpu;
            all.conf_sum += t.conf_sum;
        }
        if (!keep_dir)
            unlink(scan);
        ingest_raw_doc_free(&truth);
        ingest_raw_doc_free(&got);
    }
    rmdir(dir);
    print_line("total", &all);
    return rc;
}
