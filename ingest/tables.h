/* tables.h - tables found on a PDF page, each row kept as one line with its headers.
 *
 * Private to ingest/. extract.c runs each page through tables_new_device(),
 * which passes text and images on to the structured-text device and keeps
 * the page's ruling lines (stroked lines, thin filled rectangles); then
 * tables_detect() finds tables among the page's lines by column alignment
 * (ruling lines group the lines between them into one row) and replaces
 * their cells by one line per row (table.h), in a block marked as a table.
 */
#ifndef DQ_INGEST_TABLES_H
#define DQ_INGEST_TABLES_H

#include "ingest/ingest.h"
#include "ingest/table.h"

#include <mupdf/fitz.h>

typedef struct {
    float x0, y0, x1, y1;
} table_rule;

typedef struct {
    table_rule *h; /* (n_h) horizontal rules, y0 == y1 */
    size_t n_h, cap_h;
} table_rules;

/* Tables continued across pages: what the last table of the previous page
 * left for the next one. Zero it before the first page. */
typedef struct {
    int next_id;         /* numbers tables over the document, from 1 */
    table_header header; /* the header its cells carry, owned */
    char *line;          /* its header line, owned; NULL when none */
    int id;              /* that table's number, 0 when the page did not end in one */
    size_t n_cols;       /* its columns, label included */
} tables_state;

void tables_state_free(tables_state *st);

/* A device that forwards text and images to target and keeps the ruling
 * lines of the page in rules (cleared by the caller between pages). Glyphs
 * set far off page (its bounds) are not forwarded. */
fz_device *tables_new_device(fz_context *ctx, fz_device *target, fz_rect page,
                             table_rules *rules);
void table_rules_free(table_rules *rules);

/* Finds the tables of page (its lines as extracted, with boxes) and turns
 * each into one block of row lines; a table that opens the page without a
 * header of its own, with as many columns as the one that ended the previous
 * page, continues it (same number, its header carried). Returns the number
 * of tables found. */
int tables_detect(ingest_raw_page *page, const table_rules *rules, tables_state *st);

#endif
