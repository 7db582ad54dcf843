/* ingest.h - from a file on disk to clean, page-numbered text and chunks.
 *
 * Three steps, each returning its product to the caller (the CLI wires them):
 *   ingest_extract()  file -> ingest_raw_doc: lines per page with font size and
 *                     weight, as MuPDF (PDF, EPUB, XPS, CBZ, FB2) or the plain
 *                     text reader (.txt, .md; GB18030/GBK converted) saw them;
 *   ingest_clean()    raw -> ingest_doc: paragraphs per page, CJK spacing fixed,
 *                     hyphenation joined, page numbers and running headers and
 *                     footers dropped, full-width ASCII folded, headings found;
 *   split_document()  ingest_doc -> chunks sized for a BERT encoder, each with
 *                     its section path and page span.
 * Nothing outside ingest/ sees MuPDF: its exceptions stop here and become
 * dq_set_error() messages.
 */
#ifndef DQ_INGEST_H
#define DQ_INGEST_H

#include <stdbool.h>
#include <stddef.h>

/* ---- extraction --------------------------------------------------------- */

typedef struct {
    char *text;           /* UTF-8, one visual line, no '\n' */
    float size;           /* dominant font size in points (a table row: its label's);
                           * 0 when unknown (text files) */
    bool bold;            /* dominant font is bold */
    int heading;          /* heading level the source declares (Markdown '#', a Word
                           * heading style), else 0 */
    int loc;              /* where the source numbers it: the spreadsheet row; else 0 */
    float x0, y0, x1, y1; /* bounding box on the page, points; all 0 when unknown */
} ingest_line;

typedef struct {
    ingest_line *lines; /* (n_lines) */
    size_t n_lines;
    /* 0 for text; else the document-wide number (1, 2, ...) of the table
     * whose rows these lines are, one line per row as ingest/table.h writes
     * them (label, then cells with their column headers), its header line
     * first where the table starts. */
    int table;
    char *header; /* the table's header line, owned; NULL when it has none */
} ingest_block; /* a block of lines MuPDF grouped together, a table, or a text paragraph */

typedef struct {
    int number;            /* 1-based page number */
    float width, height;   /* points; 0 for text files */
    ingest_block *blocks;  /* (n_blocks) */
    size_t n_blocks;
    bool scanned;          /* images and (almost) no text layer: what --ocr auto reads */
    int ocr;               /* 1: text below came from OCR; -1: OCR found no text; 0: not OCR'd */
    float ocr_conf;        /* Tesseract's mean word confidence, 0-100, when ocr == 1 */
    char *label;           /* the unit's name where it is not a page ("sheet 报价单",
                            * "slide 7"), else NULL */
    /* Why the text layer is not the page's text ("font without ToUnicode"),
     * NULL when it is; such a page keeps no text from it, and is OCR'd
     * (ocr != 0) unless OCR is off. A static string. */
    const char *unreadable;
    int dropped;           /* unmapped glyphs (U+FFFD) left out of a readable page */
} ingest_raw_page;

/* How a document's passages are cited. */
typedef enum {
    CITE_PAGES,    /* "p. 3": paged formats and text files */
    CITE_UNITS,    /* each page is a unit with a label (a sheet, a slide); lines
                    * with a loc add "rows 12-40" */
    CITE_SECTIONS, /* reflowing text (DOCX, ODT): "§3.2 ¶4", with "p. 3" in
                    * front when the file recorded where its pages broke */
} ingest_cite;

typedef struct {
    char *format;           /* "pdf", "epub", "xps", "cbz", "fb2", "html", "txt", "md",
                             * "docx", "xlsx", "pptx", "odt", "ods", "odp" */
    char *title;            /* document metadata title, or NULL */
    ingest_raw_page *pages; /* (n_pages) */
    size_t n_pages;
    ingest_cite cite;
    bool styled;            /* headings are declared by the source (Office styles) and
                             * none are guessed from numbering or fonts */
} ingest_raw_doc;

/* True when the file name's extension is one docqa can ingest. */
bool ingest_supported(const char *path);

/* Extracts every page of path. password may be NULL. On failure returns -1
 * with a one-line reason set ("file is encrypted (use --password)", "not a PDF
 * file", "empty file", "no text layer (scanned images?); OCR not available",
 * "damaged file: ..."); out is then empty. A document from which no text at
 * all comes out is a failure, never an empty success. */
int ingest_extract(const char *path, const char *password, ingest_raw_doc *out);

/* ---- OCR (ocr.c) ---------------------------------------------------------- */

typedef enum {
    OCR_AUTO,   /* only pages with images and no text layer (page->scanned), and
                 * pages whose text layer is unreadable (page->unreadable) */
    OCR_ALWAYS, /* every page of a paged document, replacing its text layer */
    OCR_NEVER,
} ocr_mode;

typedef struct {
    ocr_mode mode;     /* default OCR_AUTO */
    const char *langs; /* Tesseract languages joined by '+', default "chi_sim+eng" */
    int dpi;           /* render resolution, default 300 */
    int threads;       /* workers, each with its own MuPDF context and Tesseract; 0: one per core */
    /* Called on the calling thread as pages finish (done of total, and how
     * many pages are being OCR'd); a non-zero return stops OCR and the
     * extraction fails with "interrupted". May be NULL. */
    int (*progress)(void *user, int done, int total);
    void *user;
} ocr_params;

ocr_params ocr_default_params(void);

/* Limits that keep one hostile or pathological file from exhausting memory or
 * stalling a run; 0 turns a limit off. A file over a limit fails with a
 * message naming the limit and the docqa ingest flag that raises it. */
typedef struct {
    const char *password;     /* for encrypted PDFs, or NULL */
    long long max_file_bytes; /* larger files are refused unread; default 512 MB */
    int max_pages;            /* documents with more pages are refused; default 10000 */
    long max_page_chars;      /* non-space characters on one page (PDF, EPUB...; text
                               * files have no pages); default 200000 */
    double max_seconds;       /* extraction time per document, enforced inside a page
                               * through MuPDF's cookie; default 120 (OCR comes after,
                               * outside this budget) */
    const ocr_params *ocr;    /* OCR of scanned pages, as ocr->mode asks; NULL: none */
    long long max_doc_bytes;  /* memory MuPDF may hold for one document: what a compressed
                               * bomb (an EPUB part expanding to 1 GB) or a layout of
                               * millions of boxes would take; default 512 MB */
    int page_parts;           /* a PDF's pages may be read by up to this many processes at
                               * once (isolate.c), each with these limits; 0 or 1: one */
} ingest_params;

ingest_params ingest_default_params(void);

/* ingest_extract() under params' limits, password and OCR. */
int ingest_extract_params(const char *path, const ingest_params *params, ingest_raw_doc *out);
void ingest_raw_doc_free(ingest_raw_doc *doc);

/* ingest_extract_params() in a child process (isolate.c): a parser that
 * crashes or is killed costs this file only, which then fails with the
 * signal named ("the reader crashed on this file (SEGV, signal 11)"). */
int ingest_extract_isolated(const char *path, const ingest_params *params, ingest_raw_doc *out);

/* ingest_extract() that reads pages without a text layer with Tesseract, as
 * ocr->mode asks (NULL: no OCR, as ingest_extract). OCR'd pages carry ocr = 1
 * and their confidence; scanned pages where OCR found nothing have no blocks
 * and ocr = -1. A document where neither the text layer nor OCR gave any text
 * fails ("OCR found no text on 3 scanned pages"). */
int ingest_extract_ocr(const char *path, const char *password, const ocr_params *ocr,
                       ingest_raw_doc *out);


/* ---- cleanup ------------------------------------------------------------ */

typedef struct {
    char *text;  /* UTF-8, one paragraph, no '\n' */
    int heading; /* 0 body text; 1, 2, ... heading level (1 = top) */
    int loc;     /* the first line's ingest_line.loc (a spreadsheet row), else 0 */
    int table;   /* 0 text; else the table this row belongs to (ingest_block.table) */
    char *header; /* a table row's header line, owned; NULL for text, for the
                   * header line itself and for tables without one */
} ingest_para;

typedef struct {
    int number;         /* 1-based page number, as in the raw document */
    ingest_para *paras; /* (n_paras) */
    size_t n_paras;
    char *label;        /* the raw page's label, or NULL */
} ingest_page;

typedef struct {
    char *title;        /* metadata title, else the first level-1 heading, else NULL */
    ingest_page *pages; /* (n_pages) */
    size_t n_pages;
    ingest_cite cite;   /* as the raw document's */
} ingest_doc;

int ingest_clean(const ingest_raw_doc *raw, ingest_doc *out);
void ingest_doc_free(ingest_doc *doc);
/* The page's paragraphs joined by "\n\n" (caller frees): what the store keeps
 * as the page's text. */
char *ingest_page_text(const ingest_page *page);

/* ---- splitting ---------------------------------------------------------- */

typedef struct {
    /* A chunk is full when cjk_chars/chunk_cjk + words/chunk_words reaches 1,
     * so pure Chinese gets about chunk_cjk characters, pure English about
     * chunk_words words, and mixed text a proportional blend. */
    int chunk_cjk;   /* default 350 */
    int chunk_words; /* default 250 */
    float overlap;   /* fraction of a chunk repeated at the start of the next, default 0.15 */
} split_params;

split_params split_default_params(void);

typedef struct {
    char *text;     /* UTF-8 */
    char *section;  /* heading path, "第三章 > 3.2 违约责任"; "" when none */
    int page_start; /* first and last page the text comes from */
    int page_end;
    int ordinal;    /* 0-based position in the document */
    char *label;    /* where it is when pages do not say: "sheet 报价单, rows 12–40",
                     * "slide 7", "§3.2 ¶4" (see ingest_cite); "" for paged documents */
    bool table;     /* holds rows of a table */
} chunk;

typedef struct {
    chunk *items; /* (n) */
    size_t n;
} chunk_list;

int split_document(const ingest_doc *doc, const split_params *params, chunk_list *out);
void chunk_list_free(chunk_list *chunks);

/* ---- where text lies on the page ---------------------------------------- */

typedef struct {
    int page;             /* 1-based */
    float x0, y0, x1, y1; /* points, MuPDF's page space (origin top left) */
} ingest_box;

/* The boxes of raw's lines that chunk c (split from raw) holds, in reading
 * order, so a citation can be highlighted on the page; none for documents
 * without line boxes (text files). *out is malloc'd (free it). */
int ingest_chunk_boxes(const ingest_raw_doc *raw, const chunk *c, ingest_box **out, size_t *n);

typedef struct {
    ingest_box *items; /* (n) malloc'd */
    size_t n;
} ingest_boxes;

/* ingest_chunk_boxes() of every chunk of chunks into out (chunks->n), each
 * of raw's lines normalised once for all of them. */
void ingest_doc_boxes(const ingest_raw_doc *raw, const chunk_list *chunks, ingest_boxes *out);

/* ---- reading in child processes (isolate.c) ------------------------------ */

/* A file extracted, cleaned and split: what the store takes. Owns all. */

typedef struct {
    ingest_raw_doc raw;   /* format and the pages' marks (OCR, unreadable, dropped);
                           * from a reader child the pages carry no blocks */
    char *title;          /* the cleaned document's title, or NULL */
    char **page_texts;    /* (n_pages) ingest_page_text() of each cleaned page */
    size_t n_pages;
    chunk_list chunks;
    ingest_boxes *boxes;  /* (chunks.n) ingest_chunk_boxes() of each chunk */
    bool body_text;       /* a paragraph has text: with no chunks, headings alone */
} ingest_prepared;

/* Cleans and splits p->raw (filled by the caller) into the rest of p. -1
 * with the error set; p->raw stays p's either way. */
int ingest_prepare(const split_params *split, ingest_prepared *p);
void ingest_prepared_free(ingest_prepared *p);

/* ingest_extract_params() (and ingest_prepare() with split) in a child
 * process: one running per reader, so a caller may run several at once from
 * one thread. NULL with the error set when no child could start. */
typedef struct ingest_reader ingest_reader;
ingest_reader *ingest_reader_start(const char *path, const ingest_params *params,
                                   const split_params *split);

/* A small process that forks readers for its caller (isolate.c): forked
 * while the caller's memory is small, so that a writer which has grown
 * since neither forks nor has its pages copied on write. A spawned reader
 * is the caller's own child, as one from ingest_reader_start(). NULL when
 * none could start (readers are then forked directly). */
typedef struct ingest_spawner ingest_spawner;
ingest_spawner *ingest_spawner_new(void);
/* Ends the spawner and waits for it; NULL is a no-op. */
void ingest_spawner_free(ingest_spawner *s);

/* A spawned reader runs in a copy of its caller's memory as it was at
 * ingest_spawner_new(): fn(user, state, n) runs in it first, to bring what
 * the reader's callbacks (OCR progress) read up to date; state's n bytes
 * are copied to it. fn NULL: nothing runs; nor does fn in a reader this
 * process forks itself, whose memory is as it is now. */
typedef struct {
    void (*fn)(void *user, const void *state, size_t n);
    void *user;        /* a pointer into the caller's memory as it was then */
    const void *state; /* (n) */
    size_t n;
} ingest_spawn_setup;

/* ingest_reader_start() with split (not NULL), the reader forked by s; by
 * this process when s is NULL or failed. params' callbacks and setup->user
 * must be as they were at ingest_spawner_new(). */
ingest_reader *ingest_reader_spawn(ingest_spawner *s, const char *path,
                                   const ingest_params *params, const split_params *split,
                                   const ingest_spawn_setup *setup);

/* The descriptor to poll for POLLIN. */
int ingest_reader_fd(const ingest_reader *r);
/* Takes what the child wrote so far without blocking: 1 once it wrote all. */
int ingest_reader_pump(ingest_reader *r);
/* The bytes the child wrote so far: about what its document will hold. */
size_t ingest_reader_bytes(const ingest_reader *r);

enum { INGEST_READ_FAILED = -1, INGEST_PREP_FAILED = -2 };

/* Waits for the child and frees r. 0 with out filled; INGEST_READ_FAILED
 * (extraction failed, or the child crashed or was killed: the error names
 * the signal) or INGEST_PREP_FAILED (cleanup or splitting failed), with the
 * error set and out empty. */
int ingest_reader_finish(ingest_reader *r, ingest_prepared *out);
/* Kills the child, waits for it and frees r; NULL is a no-op. */
void ingest_reader_cancel(ingest_reader *r);

/* The most pixels one render makes (25 million: an A4 page at 520 dpi);
 * a larger page is drawn at a lower dpi to fit. */
#define INGEST_RENDER_MAX_PIXELS 25e6

/* Renders page page_no (1-based) of path at dpi to PNG with boxes on that
 * page highlighted (filled and outlined), scaled down to at most
 * INGEST_RENDER_MAX_PIXELS. *png is malloc'd. -1 with the error set
 * ("cannot render page 9: no page 9 (the document has 3)"; the path is not
 * in it, as servers pass it on). */
int ingest_render_page_png(const char *path, const char *password, int page_no, float dpi,
                           const ingest_box *boxes, size_t n_boxes, unsigned char **png,
                           size_t *png_len);

#endif
