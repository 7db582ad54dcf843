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

static void normalize(const char *s, dq_buf *out)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        int len;
        uint32_t cp = uc_fold_fullwidth(utf8_at(s, n, i, &len));
        i += (size_t)len;
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '-' || cp == 0xAD ||
            cp == 0x2010 || cp == 0x2011 || cp == 0xA0 || cp == 0x3000)
            continue;
        char enc[4];
        dq_buf_append(out, enc, (size_t)utf8_encode(cp, enc));
    }
    if (!out->data)
        dq_buf_puts(out, "");
}

static void add_box(ingest_box **out, size_t *n, size_t *cap, int page, const ingest_line *l)
{
    if (*n >= MAX_BOXES)
        return;
    DQ_GROW(*out, *cap, *n + 1);
    (*out)[(*n)++] = (ingest_box){page, l->x0, l->y0, l->x1, l->y1};
}

int ingest_chunk_boxes(const ingest_raw_doc *raw, const chunk *c, ingest_box **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    dq_buf norm = DQ_BUF_INIT, line = DQ_BUF_INIT;
    normalize(c->text ? c->text : "", &norm);
    const char *N = norm.data;
    size_t len = norm.len, cursor = 0;
    bool started = false;
    for (size_t p = 0; p < raw->n_pages && cursor < len; p++) {
        const ingest_raw_page *pg = &raw->pages[p];
        if (pg->number < c->page_start || pg->number > c->page_end)
            continue;
        for (size_t b = 0; b < pg->n_blocks && cursor < len; b++)
            for (size_t k = 0; k < pg->blocks[b].n_lines && cursor < len; k++) {
                const ingest_line *l = &pg->blocks[b].lines[k];
                if (l->x1 <= l->x0 || l->y1 <= l->y0)
                    continue; /* no box (text files) */
                dq_buf_clear(&line);
                normalize(l->text, &line);
                size_t m = line.len;
                if (m == 0)
                    continue;
                const char *hit = strstr(N + cursor, line.data);
                size_t at = hit ? (size_t)(hit - N) : 0;
                if (hit && (at == cursor || (m >= MIN_FREE_MATCH &&
                                             (at - cursor <= MAX_GAP || !started)))) {
                    add_box(out, n, &cap, pg->number, l);
                    cursor = at + m;
                    started = true;
                    continue;
                }
                if (!started) {
                    /* The chunk may begin inside this line: a tail of it is
                     * the chunk's start. */
                    for (size_t j = 1; j + MIN_PARTIAL <= m; j++)
                        if (m - j <= len && !memcmp(line.data + j, N, m - j)) {
                            add_box(out, n, &cap, pg->number, l);
                            cursor = m - j;
                            started = true;
                            break;
                        }
                    continue;
                }
                /* The chunk may end inside this line. */
                size_t rest = len - cursor;
                if (rest >= MIN_PARTIAL && rest < m && !memcmp(line.data, N + cursor, rest)) {
                    add_box(out, n, &cap, pg->number, l);
                    cursor = len;
                }
            }
    }
    dq_buf_free(&norm);
    dq_buf_free(&line);
    return 0;
}
