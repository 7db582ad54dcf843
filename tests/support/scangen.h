/* scangen.h - image-only PDFs ("scans") made from text pages, for the OCR tests and bench.
 *
 * The pages are first written as text with pdfgen_write() (so Chinese uses
 * MuPDF's built-in CJK font), then each page chosen as scanned is rendered
 * grey at the given resolution and replaced by a page holding nothing but
 * that image; the other pages are copied over with their text layer. The
 * result has no text under the scanned pages, like a scanner's output.
 */
#ifndef DQ_SCANGEN_H
#define DQ_SCANGEN_H

#include "support/pdfgen.h"

/* Writes pages to path. scanned (n_pages) says which pages become images;
 * NULL makes them all images. Each page must fit on one PDF page. Returns 0,
 * or -1 with the error set. */
int scangen_write(const char *path, const pdfgen_page *pages, size_t n_pages,
                  const bool *scanned, int dpi);

/* Writes every page of the PDF src, rendered at dpi, as an image-only page of
 * dst: a scan of an existing document, for the bench. */
int scangen_scan_pdf(const char *src, const char *dst, int dpi);

/* Character error rate of got against want: the Levenshtein distance between
 * the two with all whitespace removed, over want's length, in code points.
 * Whitespace is left out because OCR and the text layer break lines and
 * space CJK text differently, and full-width ASCII forms (U+FF01-FF5E:
 * "，（：") count as their ASCII twins, since a comma is read right
 * whichever width OCR gives it; both are layout, not recognition. */
double scangen_cer(const char *want, const char *got);

#endif
