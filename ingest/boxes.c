/* boxes.c - where a chunk's text lies on its pages: the bounding boxes of
 * the extracted lines that the chunk holds, so a citation can be shown as a
 * highlight on the rendered page.
 *
 * Cleanup joins hyphenated words, fixes CJK spacing, folds full-width forms
 * and drops running headers, and the splitter cuts chunks mid-line with
 * overlap, so chunk text is not a concatenation of raw lines. Both sides are
 * therefore compared in a normal form (no spaces or hyphens, full-width
 * folded), walking the lines of the chunk's pages in order with a cursor in
 * the chunk: a line counts when it appears close after the cursor. A line
 * cut by the chunk's start (its tail begins the chunk) or end (the chunk's
 * tail begins it) counts too. Short lines (page numbers, "1.") count only
 * right at the cursor, so they cannot pull the cursor to a chance match.
 */
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "ingest/ingest.h"

enum {
    MIN_FREE_MATCH = 6, /* bytes a line needs to match away from the cursor */
    MAX_GAP = 160,      /* bytes of chunk a matched line may skip (dropped text) */
    MIN_PARTIAL = 6,    /* bytes a cut line must share with the chunk */
    MAX_BOXES = 400,
};

static bool ascii_skipped(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '-';
}

static void normalize(const char *s, dq_buf *out)
{
    size_t n = strlen(s);
    /* Written in place: an ASCII byte (most are) gives at most one byte, a
     * longer character at most 3 (an invalid byte becomes U+FFFD). */
    dq_buf_reserve(out, n);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (!ascii_skipped(c))
                out->data[out->len++] = (char)c;
            i++;
            continue;
        }
        int len;
        uint32_t cp = uc_fold_fullwidth(utf8_at(s, n, i, &len));
        i += (size_t)len;
        if ((cp < 0x80 && ascii_skipped((unsigned char)cp)) || cp == 0xAD || cp == 0x2010 ||
            cp == 0x2011 || cp == 0xA0 || cp == 0x3000)
            continue;
        if (out->len + (n - i) + 4 >= out->cap) /* room for the rest of s, and this */
            dq_buf_reserve(out, n - i + 4);
        out->len += (size_t)utf8_encode(cp, out->data + out->len);
    }
    out->data[out->len] = '\0';
}

static void add_box(ingest_box **out, size_t *n, size_t *cap, int page, const ingest_line *l)
{
    if (*n >= MAX_BOXES)
        return;
    DQ_GROW(*out, *cap, *n + 1);
    (*out)[(*n)++] = (ingest_box){page, l->x0, l->y0, l->x1, l->y1};
}

/* The document's lines with a box, each normalised once: a page's lines are
 * walked again for every chunk on it. */
typedef struct {
    const ingest_line *line;
    int page;   /* its page's number */
    size_t off; /* its normal form in text, NUL-terminated */
    size_t len;
} norm_line;

typedef struct {
    dq_buf text;       /* the lines' normal forms, each followed by a NUL */
    norm_line *lines;  /* (n) in reading order */
    size_t n, cap;
    size_t *page_first; /* (n_pages + 1) the first line of each page, then n */
} norm_doc;

static void norm_doc_build(const ingest_raw_doc *raw, norm_doc *d)
{
    memset(d, 0, sizeof *d);
    d->page_first = dq_malloc((raw->n_pages + 1) * sizeof *d->page_first);
    for (size_t p = 0; p < raw->n_pages; p++) {
        const ingest_raw_page *pg = &raw->pages[p];
        d->page_first[p] = d->n;
        for (size_t b = 0; b < pg->n_blocks; b++)
            for (size_t k = 0; k < pg->blocks[b].n_lines; k++) {
                const ingest_line *l = &pg->blocks[b].lines[k];
                if (l->x1 <= l->x0 || l->y1 <= l->y0)
                    continue; /* no box (text files) */
                size_t off = d->text.len;
                normalize(l->text, &d->text);
                size_t len = d->text.len - off;
                dq_buf_append(&d->text, "", 1);
                if (len == 0)
                    continue;
                DQ_GROW(d->lines, d->cap, d->n + 1);
                d->lines[d->n++] = (norm_line){l, pg->number, off, len};
            }
    }
    d->page_first[raw->n_pages] = d->n;
}

static void norm_doc_free(norm_doc *d)
{
    dq_buf_free(&d->text);
    free(d->lines);
    free(d->page_first);
}

static void chunk_boxes(const ingest_raw_doc *raw, const norm_doc *d, const chunk *c,
                        dq_buf *norm, ingest_box **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    dq_buf_clear(norm);
    normalize(c->text ? c->text : "", norm);
    const char *N = norm->data;
    size_t len = norm->len, cursor = 0;
    bool started = false;
    for (size_t p = 0; p < raw->n_pages && cursor < len; p++) {
        const ingest_raw_page *pg = &raw->pages[p];
        if (pg->number < c->page_start || pg->number > c->page_end)
            continue;
        for (size_t i = d->page_first[p]; i < d->page_first[p + 1] && cursor < len; i++) {
            const ingest_line *l = d->lines[i].line;
            const char *L = d->text.data + d->lines[i].off;
            size_t m = d->lines[i].len;
            /* Most lines come right at the cursor: strstr() would find
             * them there too, at the cost of setting up its search. */
            const char *hit = len - cursor >= m && !memcmp(N + cursor, L, m)
                                  ? N + cursor
                                  : strstr(N + cursor, L);
            size_t at = hit ? (size_t)(hit - N) : 0;
            if (hit && (at == cursor ||
                        (m >= MIN_FREE_MATCH && (at - cursor <= MAX_GAP || !started)))) {
                add_box(out, n, &cap, pg->number, l);
                cursor = at + m;
                started = true;
                continue;
            }
            if (!started) {
                /* The chunk may begin inside this line: a tail of it is
                 * the chunk's start. */
                for (size_t j = 1; j + MIN_PARTIAL <= m; j++)
                    if (m - j <= len && !memcmp(L + j, N, m - j)) {
                        add_box(out, n, &cap, pg->number, l);
                        cursor = m - j;
                        started = true;
                        break;
                    }
                continue;
            }
            /* The chunk may end inside this line. */
            size_t rest = len - cursor;
            if (rest >= MIN_PARTIAL && rest < m && !memcmp(L, N + cursor, rest)) {
                add_box(out, n, &cap, pg->number, l);
                cursor = len;
            }
        }
    }
}

/* The boxes of the n chunks at items into out (n). */
static void boxes_of(const ingest_raw_doc *raw, const chunk *items, size_t n, ingest_boxes *out)
{
    norm_doc d;
    norm_doc_build(raw, &d);
    dq_buf norm = DQ_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        chunk_boxes(raw, &d, &items[i], &norm, &out[i].items, &out[i].n);
    dq_buf_free(&norm);
    norm_doc_free(&d);
}

void ingest_doc_boxes(const ingest_raw_doc *raw, const chunk_list *chunks, ingest_boxes *out)
{
    boxes_of(raw, chunks->items, chunks->n, out);
}

int ingest_chunk_boxes(const ingest_raw_doc *raw, const chunk *c, ingest_box **out, size_t *n)
{
    ingest_boxes b;
    boxes_of(raw, c, 1, &b);
    *out = b.items;
    *n = b.n;
    return 0;
}
