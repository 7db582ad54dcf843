/* pages.h - private: a PDF's text pass split by page range across processes.
 *
 * extract.c reads a PDF in two steps: the text pass, page by page (MuPDF's
 * structured text, each page's lines, ruling lines and character counts, on
 * its own), then the passes over the whole document in page order (tables
 * that continue across pages, pages whose text layer is unreadable, OCR, the
 * verdict on a document without text). With ingest_params.page_parts > 1 a
 * PDF of many pages has its text pass done in parts: the pages after the
 * first part go, range by range, to worker processes (isolate.c) that each
 * open the file again, and the parts are joined in page order before the
 * document-level passes, so the document is the one a single pass makes.
 */
#ifndef DQ_INGEST_PAGES_H
#define DQ_INGEST_PAGES_H

#include "ingest/ingest.h"
#include "ingest/quality.h"
#include "ingest/tables.h"

/* Totals over the pages read, to tell "no text" failures apart. */
typedef struct {
    size_t chars;          /* non-space characters kept */
    size_t images;         /* image blocks seen */
    int failed_pages;      /* pages that threw */
    char first_error[256]; /* message of the first page that threw */
} extract_stats;

/* What the text pass over a range of pages found. Owns all. */
typedef struct {
    ingest_raw_doc raw;    /* the range's pages, blocks as extracted (tables not yet
                            * found); the title when the range is the first */
    table_rules *rules;    /* (raw.n_pages) each page's ruling lines */
    text_quality *quality; /* (raw.n_pages) each page's characters, for quality_verdict */
    size_t *page_chars;    /* (raw.n_pages) the characters each page kept */
    bool *loaded;          /* (raw.n_pages) the page was read (false: it threw) */
    size_t n_alloc;        /* the entries of the arrays above: raw.n_pages, or more
                            * when the range stopped at a limit */
    extract_stats stats;
    char warning[256];     /* MuPDF's last warning on these pages, "" when none */
} page_part;

void page_part_free(page_part *p);

/* The text pass over pages [from, to) (0-based) of the PDF at path, in this
 * process. -1 with the error set (a limit of params, a damaged file). */
int page_part_read(const char *path, const ingest_params *params, int from, int to,
                   page_part *out);

/* isolate.c: page_part_read() of each range bounds[i] .. bounds[i + 1]
 * (i < n) in a process of its own, started now. */
typedef struct page_workers page_workers;
page_workers *page_workers_start(const char *path, const ingest_params *params,
                                 const int *bounds, size_t n);
/* Waits for the workers and fills out (n parts, in order); -1 with the
 * error of the first range that failed (out is then empty). Frees w. */
int page_workers_finish(page_workers *w, page_part *out);
/* Kills the workers and frees w; NULL is a no-op. */
void page_workers_cancel(page_workers *w);

#endif
