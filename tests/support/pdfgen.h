/* pdfgen.h - writes test PDFs (and broken files) with MuPDF's own PDF writer.
 *
 * Tests, the CLI end-to-end tests and the bench/sample tools make their inputs
 * here instead of shipping binary fixtures. Pages are A4 (595 x 842 pt) with
 * 72 pt margins; lines go top to bottom, each advancing 1.5 x its size, and
 * wrap at spaces (or between any two characters of Chinese) when too wide. A
 * page whose lines do not fit continues on extra PDF pages.
 *
 * Latin text is set in Helvetica / Helvetica-Bold (MuPDF's base-14 fonts);
 * characters Helvetica lacks use MuPDF's built-in CJK font for Adobe-GB1,
 * written as a non-embedded Adobe-GB1 CID font, so files stay small. There is
 * no bold CJK font: bold only shows on the Latin characters of a line.
 *
 * What MuPDF 1.21 extracts back (checked in tests/test_extract.c): Chinese
 * comes back exactly, character for character, with no spaces inserted
 * between CJK characters; "合同 ABC 第3条" keeps its spaces; font sizes come
 * back as written; Helvetica-Bold reads back as bold.
 */
#ifndef DQ_PDFGEN_H
#define DQ_PDFGEN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *text; /* UTF-8, may mix Chinese and ASCII; "" leaves a blank gap */
    float size;       /* points; 0 means 11 */
    bool bold;
} pdfgen_line;

typedef struct {
    const pdfgen_line *lines; /* (n_lines) */
    size_t n_lines;
    bool image_only; /* draw one grey image filling the text area, no text */
} pdfgen_page;

typedef struct {
    const char *user_password; /* non-NULL: AES-128 encrypted, owner password differs */
    const char *title;         /* Info /Title, or NULL */
} pdfgen_opts;

/* Writes pages to path. opts may be NULL. Returns 0, or -1 with the error set. */
int pdfgen_write(const char *path, const pdfgen_page *pages, size_t n_pages,
                 const pdfgen_opts *opts);

/* Shorthand: one string per page, lines split at '\n'; a line starting with
 * "# " is an 18 pt bold heading (without the "# "), others are 11 pt. */
int pdfgen_write_simple(const char *path, const char *const *page_texts, size_t n_pages);

/* Writes a minimal EPUB 2 (zip via MuPDF's zip writer): one spine item per
 * chapter, each chapter an XHTML body fragment ("<h1>One</h1><p>...</p>"). */
int pdfgen_write_epub(const char *path, const char *title, const char *const *chapters,
                      size_t n_chapters);

/* How pdfgen_damage_cjk_fonts() breaks the CJK fonts of a PDF. */
typedef enum {
    /* Identity-H codes and an Identity ordering with no ToUnicode: MuPDF
     * cannot map a glyph and extracts U+FFFD (the page still renders, with
     * the wrong glyphs). */
    PDFGEN_CJK_NO_TOUNICODE,
    /* A ToUnicode map that sends every CJK code to ASCII, Latin-1 and
     * Latin Extended: the page renders right, its text layer is soup. */
    PDFGEN_CJK_BAD_TOUNICODE,
} pdfgen_damage;

/* Copies src to dst with every CJK font damaged as how says. */
int pdfgen_damage_cjk_fonts(const char *src, const char *dst, pdfgen_damage how);

/* Copies src to dst with its Type0 (CJK) fonts moved to the end of the
 * file, as word processors write them, and sets *font_at to the byte offset
 * where the first of them starts: dst cut there is a download that stopped
 * before the fonts, which MuPDF repairs into pages of soup. */
int pdfgen_write_fonts_last(const char *src, const char *dst, long *font_at);

/* Text placed by hand, or a ruling line, for layouts pdfgen_write() does
 * not make (tables, two columns). */
typedef struct {
    int page;         /* 0-based */
    float x, y;       /* text: start of the baseline; rule: one end; points from the top left */
    const char *text; /* NULL for a rule */
    float size;       /* text size, 0 means 10 */
    float x1, y1;     /* a rule's other end */
} pdfgen_item;

/* Writes n_pages A4 pages holding items (Helvetica, CJK as pdfgen_write()). */
int pdfgen_write_items(const char *path, const pdfgen_item *items, size_t n, int n_pages);

/* Where a Flate bomb sits in a one-page PDF: the page's content stream (a
 * line of text shown again and again), or an embedded TrueType font file
 * (zeros, which MuPDF loads whole before it can tell it is no font). */
typedef enum { PDFGEN_BOMB_CONTENT, PDFGEN_BOMB_FONT } pdfgen_bomb;

/* Writes a one-page PDF whose stream at where inflates to expanded bytes
 * (deflated as it is made: about 1,000 to 1 for zeros). */
int pdfgen_write_flate_bomb(const char *path, pdfgen_bomb where, size_t expanded);

/* Writes n bytes of data to path (n == 0 gives a zero-byte file). */
int pdfgen_write_bytes(const char *path, const void *data, size_t n);
/* Copies the first n bytes of src to dst (a truncated download). */
int pdfgen_write_truncated(const char *src, const char *dst, size_t n);
/* Size of path in bytes, or -1. */
long pdfgen_file_size(const char *path);

#endif
