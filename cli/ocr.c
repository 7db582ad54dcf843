/* ocr.c - OCR settings for `docqa ingest`, its progress on the bar, and the
 * report of scanned pages where OCR found nothing.
 *
 * Such pages are not stored (an empty page row would look like a blank page
 * that was read); the user hears about each one, with its page numbers, and
 * the file itself is stored with the pages that had text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ocr.h"
#include "common/common.h"

static int parse_mode(const char *s, ocr_mode *out)
{
    if (!strcmp(s, "auto"))
        *out = OCR_AUTO;
    else if (!strcmp(s, "always"))
        *out = OCR_ALWAYS;
    else if (!strcmp(s, "never"))
        *out = OCR_NEVER;
    else
        return -1;
    return 0;
}

bool cli_ocr_mode_ok(const char *mode)
{
    ocr_mode m;
    if (parse_mode(mode, &m) == 0)
        return true;
    cli_error("--ocr must be auto, always or never (not '%s')", mode);
    return false;
}

static int on_progress(void *user, int done, int total)
{
    cli_ocr *o = user;
    progress_ocr(o->prog, o->pages + o->empty + done, done, total);
    return cli_interrupted();
}

int cli_ocr_init(cli_ocr *o, const char *mode, const char *langs, const char *store_dir,
                 progress *prog)
{
    memset(o, 0, sizeof *o);
    o->params = ocr_default_params();
    o->prog = prog;
    cli_config cfg;
    if (cli_config_load(&cfg, store_dir) < 0)
        return -1;
    const char *m = mode ? mode : cfg.ocr_mode;
    int rc = 0;
    if (m && !cli_ocr_mode_ok(m))
        rc = -1;
    else if (m)
        parse_mode(m, &o->params.mode);
    const char *l = langs ? langs : cfg.ocr_lang;
    o->langs = dq_strdup(l ? l : o->params.langs);
    o->params.langs = o->langs;
    o->params.progress = on_progress;
    o->params.user = o;
    cli_config_free(&cfg);
    return rc;
}

void cli_ocr_free(cli_ocr *o)
{
    if (!o)
        return;
    free(o->langs);
    memset(o, 0, sizeof *o);
}

/* One line per page whose unreadable text layer was not replaced by OCR. */
static void report_text_layers(cli_ocr *o, const char *path, const ingest_raw_doc *raw)
{
    for (size_t i = 0; i < raw->n_pages; i++) {
        const ingest_raw_page *p = &raw->pages[i];
        o->dropped += p->dropped;
        if (!p->unreadable)
            continue;
        if (p->ocr > 0) {
            o->unreadable_ocr++;
        } else if (p->ocr == 0) {
            o->unreadable_failed++;
            progress_message(o->prog, "docqa: '%s': page %d: text layer unreadable (%s); run "
                                      "with --ocr auto",
                             path, p->number, p->unreadable);
        }
    }
}

void cli_ocr_pages(cli_ocr *o, const char *path, const ingest_raw_doc *raw, int **page_ocr,
                   float **page_conf)
{
    *page_ocr = NULL;
    *page_conf = NULL;
    report_text_layers(o, path, raw);
    bool any = false;
    for (size_t i = 0; i < raw->n_pages && !any; i++)
        any = raw->pages[i].ocr != 0;
    if (!any)
        return;
    int *po = dq_calloc(raw->n_pages, sizeof *po);
    float *pc = dq_calloc(raw->n_pages, sizeof *pc);
    dq_buf empty = DQ_BUF_INIT;
    int n_empty = 0;
    for (size_t i = 0; i < raw->n_pages; i++) {
        const ingest_raw_page *p = &raw->pages[i];
        po[i] = p->ocr;
        pc[i] = p->ocr_conf;
        if (p->ocr > 0) {
            o->pages++;
            o->conf_sum += p->ocr_conf;
        } else if (p->ocr < 0) {
            o->empty++;
            dq_buf_printf(&empty, "%s%d", n_empty++ ? ", " : "", p->number);
        }
    }
    if (n_empty)
        progress_message(o->prog, "docqa: '%s': OCR found no text on scanned page%s %s (not stored)",
                         path, n_empty == 1 ? "" : "s", empty.data);
    dq_buf_free(&empty);
    *page_ocr = po;
    *page_conf = pc;
}

void cli_ocr_summary(const cli_ocr *o)
{
    if (o->unreadable_ocr || o->unreadable_failed || o->dropped) {
        fprintf(stderr, "text layers: %lld unreadable page%s (%lld read by OCR, %lld not indexed); "
                        "%lld unmapped character%s dropped\n",
                o->unreadable_ocr + o->unreadable_failed,
                o->unreadable_ocr + o->unreadable_failed == 1 ? "" : "s", o->unreadable_ocr,
                o->unreadable_failed, o->dropped, o->dropped == 1 ? "" : "s");
    }
    if (o->pages == 0 && o->empty == 0)
        return;
    fprintf(stderr, "OCR read %lld scanned page%s (mean confidence %.0f%%)", o->pages,
            o->pages == 1 ? "" : "s", o->pages ? o->conf_sum / (double)o->pages : 0.0);
    if (o->empty)
        fprintf(stderr, "; found no text on %lld", o->empty);
    fputc('\n', stderr);
}
