/* ocr.h - what extract.c asks of ocr.c: which pages are scans, and reading them.
 *
 * Private to ingest/: the text pass (extract.c) marks scanned pages while it
 * walks the structured text, then hands the whole raw document to
 * ocr_document(), which renders and reads the selected pages on worker
 * threads and writes their text back as blocks and lines.
 */
#ifndef DQ_INGEST_OCR_H
#define DQ_INGEST_OCR_H

#include "ingest/ingest.h"

#include <mupdf/fitz.h>

/* True when a page of bounds whose structured text is st, with text_chars
 * non-space characters of text, is a scan: images cover a fair part of it
 * and the text is too little to be its content (a stamp, a page number). */
bool ocr_page_is_scan(const fz_stext_page *st, fz_rect bounds, size_t text_chars);

/* Reads the pages of doc (extracted from path) that ocr->mode selects with
 * Tesseract, replacing their blocks and setting ocr/ocr_conf. Returns the
 * number of non-space characters OCR produced (0 when no page was selected)
 * and sets *n_empty to the pages where it found none; -1 with the error set
 * when OCR cannot start (missing languages) or was interrupted. */
long ocr_document(const char *path, const char *password, const ocr_params *ocr,
                  ingest_raw_doc *doc, int *n_empty);

#endif
