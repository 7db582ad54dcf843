/* table.h - one table row as one line of text, with its column headers carried.
 *
 * Private to ingest/ (PDF table detection, and the Office readers' tables):
 * a table's facts live in which number sits under which header, and loose
 * cells lose that the moment the row is cut from its header. So each row
 * becomes one line: its label, then each non-empty cell prefixed by the
 * header of its column,
 *
 *     Purchases of property, plant and equipment | 2018: (1,577) | 2017: (1,373)
 *
 * Rules (table.c pins them, tests/test_table.c tests them):
 * - cells are trimmed and their inner white space (newlines too) becomes one
 *   space; an empty cell is left out, header and all;
 * - the first cell is the row's label and never gets a header;
 * - a cell under an empty header is written bare (one equal to its header
 *   is not: "2017: 2017" is an amount under its year); a header's trailing
 *   ':' is dropped before ": " is added;
 * - several header rows combine per column, top to bottom, joined by a
 *   space, a part equal to the one above it written once ("Year ended" over
 *   "2018" gives "Year ended 2018"); a header cell spanning columns is passed
 *   once per column it spans;
 * - without headers (header NULL or no columns) the cells are joined by " | ";
 * - a row with no non-empty cell gives NULL (no line).
 */
#ifndef DQ_INGEST_TABLE_H
#define DQ_INGEST_TABLE_H

#include <stddef.h>

typedef struct {
    char **cols;   /* (n_cols) header of each column, owned; "" when none */
    size_t n_cols;
} table_header;

/* Adds one header row of n cells (NULL cells are empty) below the rows
 * already in h; h starts zeroed. */
void table_header_add_row(table_header *h, const char *const *cells, size_t n);
void table_header_free(table_header *h);

/* The header's own line (its columns joined by " | "), or NULL when every
 * column is empty; caller frees. A table continued in the next chunk starts
 * with it. */
char *table_header_line(const table_header *h);

/* Row of n cells (NULL cells are empty) as one line, malloc'd, under header
 * h (NULL: none); NULL when every cell is empty. */
char *table_row_line(const table_header *h, const char *const *cells, size_t n);

#endif
