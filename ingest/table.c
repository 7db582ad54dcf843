/* table.c - one table row as one line of text, with its column headers carried.
 *
 * The rules are in table.h. The separator " | " was chosen over tabs because
 * the line goes through the same cleanup, FTS5 tokenizer and prompt as prose:
 * '|' is punctuation to text_terms(), and an LLM reads it as a Markdown table.
 */
#include "ingest/table.h"

#include "common/common.h"

#include <stdlib.h>
#include <string.h>

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Appends s with its ends trimmed and inner white space runs made one space. */
static void put_collapsed(dq_buf *b, const char *s)
{
    bool gap = false;
    size_t start = b->len;
    for (; s && *s; s++) {
        if (is_space(*s)) {
            gap = b->len > start;
            continue;
        }
        if (gap)
            dq_buf_putc(b, ' ');
        gap = false;
        dq_buf_putc(b, *s);
    }
}

/* s collapsed as put_collapsed() does, malloc'd. */
static char *collapsed(const char *s)
{
    dq_buf b = DQ_BUF_INIT;
    put_collapsed(&b, s);
    return dq_buf_take(&b);
}

void table_header_add_row(table_header *h, const char *const *cells, size_t n)
{
    if (n > h->n_cols) {
        h->cols = dq_realloc(h->cols, n * sizeof *h->cols);
        for (size_t i = h->n_cols; i < n; i++)
            h->cols[i] = dq_strdup("");
        h->n_cols = n;
    }
    for (size_t i = 0; i < n; i++) {
        char *part = collapsed(cells[i]);
        char *col = h->cols[i];
        size_t cl = strlen(col), pl = strlen(part);
        /* Producers repeat a header part on the row below ("2018" over
         * "2018"), or span one over both rows; it is written once. */
        bool repeat = pl && cl >= pl && !strcmp(col + cl - pl, part) &&
                      (cl == pl || col[cl - pl - 1] == ' ');
        if (pl && !repeat) {
            dq_buf b = DQ_BUF_INIT;
            dq_buf_puts(&b, col);
            if (cl)
                dq_buf_putc(&b, ' ');
            dq_buf_puts(&b, part);
            free(h->cols[i]);
            h->cols[i] = dq_buf_take(&b);
        }
        free(part);
    }
}

void table_header_free(table_header *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_cols; i++)
        free(h->cols[i]);
    free(h->cols);
    h->cols = NULL;
    h->n_cols = 0;
}

char *table_header_line(const table_header *h)
{
    return h ? table_row_line(NULL, (const char *const *)h->cols, h->n_cols) : NULL;
}

char *table_row_line(const table_header *h, const char *const *cells, size_t n)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf cell = DQ_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        dq_buf_clear(&cell);
        put_collapsed(&cell, cells[i]);
        if (cell.len == 0)
            continue;
        if (b.len)
            dq_buf_puts(&b, " | ");
        const char *head = h && i > 0 && i < h->n_cols ? h->cols[i] : "";
        size_t hl = strlen(head);
        while (hl > 0 && head[hl - 1] == ':')
            hl--;
        if (hl) {
            dq_buf_append(&b, head, hl);
            dq_buf_puts(&b, ": ");
        }
        dq_buf_append(&b, cell.data, cell.len);
    }
    dq_buf_free(&cell);
    if (!b.len) {
        dq_buf_free(&b);
        return NULL;
    }
    return dq_buf_take(&b);
}
