/* raw.h - private helpers the extractors (extract.c, textfile.c) share to build an ingest_raw_doc.
 *
 * The public structs carry no capacity fields, so arrays grow in powers of two:
 * adding element n reallocates exactly when n is 0 or a power of two >= 4.
 */
#ifndef DQ_INGEST_RAW_H
#define DQ_INGEST_RAW_H

#include "ingest/ingest.h"

/* Appends a page numbered number (0 x 0 points unless set) and returns it. */
ingest_raw_page *raw_add_page(ingest_raw_doc *doc, int number);
/* Appends an empty block to page and returns it. */
ingest_block *raw_add_block(ingest_raw_page *page);
/* Appends a line that takes ownership of text (malloc'ed) and returns it with
 * every other field zero. */
ingest_line *raw_add_line(ingest_block *block, char *text);
/* Frees every block of page and leaves it with none. */
void raw_clear_page(ingest_raw_page *page);
/* Appends src's pages to dst's, which takes them over; src keeps none. */
void raw_move_pages(ingest_raw_doc *dst, ingest_raw_doc *src);
/* Drops the last block of page when it has no lines. */
void raw_drop_empty_block(ingest_raw_page *page);

/* The lower-cased extension of path without the dot ("" when none), written
 * into ext (at most size-1 bytes; longer extensions come back as ""). */
void raw_extension(const char *path, char *ext, size_t size);

/* The plain text reader behind ingest_extract() for .txt/.md/.markdown. */
int textfile_extract(const char *path, bool markdown, ingest_raw_doc *out);
/* The same on len bytes already in memory (the fuzz harness's entry). */
int textfile_parse(const char *data, size_t len, bool markdown, ingest_raw_doc *out);

#endif
