/* ocr.h - what `docqa ingest` does around OCR: settings, progress, reporting. */
#ifndef DQ_CLI_OCR_H
#define DQ_CLI_OCR_H

#include "cli/cli.h"
#include "ingest/ingest.h"

typedef struct {
    ocr_params params; /* handed to ingest_extract_ocr(); params.langs points into langs */
    char *langs;       /* owned */
    progress *prog;    /* the run's bar (not owned) */
    long long pages;   /* pages of stored files read by OCR */
    long long empty;   /* scanned pages of stored files where OCR found nothing */
    double conf_sum;   /* sum of the confidences of those pages */
    long long unreadable_ocr;    /* pages of stored files whose unreadable text layer OCR replaced */
    long long unreadable_failed; /* the same, not OCR'd (no text stored) */
    long long dropped;           /* unmapped glyphs left out of readable pages */
} cli_ocr;

/* False after printing a usage error when mode is not auto, always or never. */
bool cli_ocr_mode_ok(const char *mode);

/* Settings from --ocr/--ocr-lang (NULL when not given), else the config's
 * [ocr] mode/lang, else auto and chi_sim+eng. -1 after printing a usage
 * error (bad mode) or a config error. */
int cli_ocr_init(cli_ocr *o, const char *mode, const char *langs, const char *store_dir,
                 progress *prog);
void cli_ocr_free(cli_ocr *o);

/* For a file about to be stored: counts its OCR'd pages, reports the
 * scanned pages where OCR found nothing and the pages whose text layer was
 * unreadable and not OCR'd, and returns the per-page arrays
 * store_doc_info wants ((n_pages) each, caller frees), or NULLs when no page
 * was OCR'd. */
void cli_ocr_pages(cli_ocr *o, const char *path, const ingest_raw_doc *raw, int **page_ocr,
                   float **page_conf);

/* One summary line on stderr when the run OCR'd anything. */
void cli_ocr_summary(const cli_ocr *o);

#endif
