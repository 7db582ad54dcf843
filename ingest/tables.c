/* tables.c - tables found on a PDF page, each row kept as one line with its headers.
 *
 * MuPDF hands a table's cells over as separate lines, often in separate
 * blocks and in column order ("2015 2016 2017", then the labels, then the
 * numbers), so cleanup would join them into paragraphs that lose which
 * number sits under which year. Here the page's lines are put back into
 * visual rows (lines whose vertical extents overlap), and a run of rows is a
 * table when at least three of them hold two cells or more, one of them
 * short (a number, a date, a code), with at most two single-cell rows in
 * between (section labels such as "OPERATING ACTIVITIES:"). Columns are the
 * clusters of the x extents of the short cells; the cells left of every
 * column are row labels. Leading rows without a label are the header (a
 * spanning "Year Ended December 31," counts for every column it covers), as
 * is a first row of words over rows of numbers. Lines that touch (a
 * superscript MuPDF set apart) are one cell. A currency sign or a closing
 * ")" or "%" set apart from its number is joined to it. Lines of prose
 * blocks (three or more wide, left-aligned lines) never take part, so the
 * prose column of a two-column page stays text. Ruling lines, where the page
 * has them across a table, make the lines between two rules one row (cells
 * that wrap inside a ruled grid).
 */
#include "ingest/tables.h"

#include "ingest/raw.h"

#include "common/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A cell narrower than this share of the page counts as a short cell. */
#define SHORT_CELL 0.22f
/* Lines at least this share of the page wide, three in a left-aligned block, are prose. */
#define PROSE_LINE 0.30f
/* Cells closer than this share of their line height touch: one piece of text. */
#define TOUCH_GAP 0.1f
enum {
    MIN_TABLE_ROWS = 3, /* rows of two cells or more */
    MAX_LONE_ROWS = 2,  /* single-cell rows in a row inside a table */
    MAX_COLS = 32,
    /* Rows are matched line against line: a page of more lines (a hostile
     * one, or a dense index) is left as text rather than cost seconds. */
    MAX_LINES = 4000,
};

/* ---- the ruling-line device ------------------------------------------- */

typedef struct {
    fz_device super;
    fz_device *target;
    fz_rect page; /* the page's bounds: text far off it is not forwarded */
    table_rules *rules;
    fz_point cur, start;
    fz_matrix ctm;
} rule_device;

static void add_rule(table_rules *r, float x0, float x1, float y)
{
    if (x1 - x0 < 8)
        return;
    DQ_GROW(r->h, r->cap_h, r->n_h + 1);
    r->h[r->n_h++] = (table_rule){x0, y, x1, y};
}

static void segment(rule_device *d, fz_point a, fz_point b)
{
    a = fz_transform_point(a, d->ctm);
    b = fz_transform_point(b, d->ctm);
    if (fabsf(a.y - b.y) < 1)
        add_rule(d->rules, fminf(a.x, b.x), fmaxf(a.x, b.x), (a.y + b.y) / 2);
}

static void walk_moveto(fz_context *ctx, void *arg, float x, float y)
{
    (void)ctx;
    rule_device *d = arg;
    d->cur = d->start = fz_make_point(x, y);
}

static void walk_lineto(fz_context *ctx, void *arg, float x, float y)
{
    (void)ctx;
    rule_device *d = arg;
    fz_point p = fz_make_point(x, y);
    segment(d, d->cur, p);
    d->cur = p;
}

static void walk_curveto(fz_context *ctx, void *arg, float x1, float y1, float x2, float y2,
                         float x3, float y3)
{
    (void)ctx;
    (void)x1, (void)y1, (void)x2, (void)y2;
    rule_device *d = arg;
    d->cur = fz_make_point(x3, y3);
}

static void walk_closepath(fz_context *ctx, void *arg)
{
    rule_device *d = arg;
    walk_lineto(ctx, arg, d->start.x, d->start.y);
}

static void walk_rectto(fz_context *ctx, void *arg, float x0, float y0, float x1, float y1)
{
    walk_moveto(ctx, arg, x0, y0);
    walk_lineto(ctx, arg, x1, y0);
    walk_lineto(ctx, arg, x1, y1);
    walk_lineto(ctx, arg, x0, y1);
    walk_closepath(ctx, arg);
}

static const fz_path_walker walker = {walk_moveto, walk_lineto, walk_curveto, walk_closepath,
                                      NULL,        NULL,        NULL,         walk_rectto};

static void rule_stroke_path(fz_context *ctx, fz_device *dev, const fz_path *path,
                             const fz_stroke_state *stroke, fz_matrix ctm, fz_colorspace *cs,
                             const float *color, float alpha, fz_color_params cp)
{
    (void)stroke, (void)cs, (void)color, (void)alpha, (void)cp;
    rule_device *d = (rule_device *)dev;
    d->ctm = ctm;
    fz_walk_path(ctx, path, &walker, d);
}

/* A filled rectangle a few points high is a rule; a bigger one is a cell's
 * background, whose edges say nothing reliable. */
static void rule_fill_path(fz_context *ctx, fz_device *dev, const fz_path *path, int even_odd,
                           fz_matrix ctm, fz_colorspace *cs, const float *color, float alpha,
                           fz_color_params cp)
{
    (void)even_odd, (void)cs, (void)color, (void)alpha, (void)cp;
    rule_device *d = (rule_device *)dev;
    fz_rect r = fz_bound_path(ctx, path, NULL, ctm);
    if (r.y1 - r.y0 <= 3)
        add_rule(d->rules, r.x0, r.x1, (r.y0 + r.y1) / 2);
}

/* Glyphs whose origins lie further than this many ems beyond the page
 * cannot reach it. They are dropped here, before the stext device stores
 * them: extract.c drops what is off the page on the characters' boxes, but
 * a hostile page of millions of glyphs set off it would first fill MuPDF's
 * memory (MuPDF's own test, FZ_STEXT_MEDIABOX_CLIP, bounds every glyph's
 * outline, a tenth of the whole extraction). */
enum { OFF_PAGE_EMS = 4 };

/* Where the origins of span's glyphs may lie and still reach page. Once
 * per span: every glyph of every page comes through here. */
static fz_rect span_reach(const fz_text_span *span, fz_matrix ctm, fz_rect page)
{
    return fz_expand_rect(page, OFF_PAGE_EMS * fz_matrix_expansion(fz_concat(span->trm, ctm)) + 1);
}

static bool origin_outside(const fz_text_item *it, fz_matrix ctm, fz_rect reach)
{
    /* fz_transform_point_xy()'s arithmetic, inline: it runs for every glyph */
    float x = it->x * ctm.a + it->y * ctm.c + ctm.e;
    float y = it->x * ctm.b + it->y * ctm.d + ctm.f;
    return x < reach.x0 || x > reach.x1 || y < reach.y0 || y > reach.y1;
}

static bool any_far_off(const fz_text *text, fz_matrix ctm, fz_rect page)
{
    for (const fz_text_span *span = text->head; span; span = span->next) {
        fz_rect reach = span_reach(span, ctm, page);
        for (int i = 0; i < span->len; i++)
            if (origin_outside(&span->items[i], ctm, reach))
                return true;
    }
    return false;
}

/* Shows into near the glyphs of text whose origins may reach page. */
static void show_near(fz_context *ctx, fz_text *near, const fz_text *text, fz_matrix ctm,
                      fz_rect page)
{
    for (const fz_text_span *span = text->head; span; span = span->next) {
        fz_rect reach = span_reach(span, ctm, page);
        for (int i = 0; i < span->len; i++) {
            const fz_text_item *it = &span->items[i];
            if (origin_outside(it, ctm, reach))
                continue;
            fz_matrix trm = span->trm;
            trm.e = it->x;
            trm.f = it->y;
            fz_show_glyph(ctx, near, span->font, trm, it->gid, it->ucs, span->wmode,
                          span->bidi_level, (fz_bidi_direction)span->markup_dir,
                          (fz_text_language)span->language);
        }
    }
}

/* text less its glyphs far off the page: text itself (kept) when it has
 * none, else a new text, the caller's to drop either way. */
static fz_text *text_near_page(fz_context *ctx, const fz_text *text, fz_matrix ctm, fz_rect page)
{
    if (!any_far_off(text, ctm, page))
        return fz_keep_text(ctx, text);
    fz_text *near = fz_new_text(ctx);
    fz_try(ctx)
        show_near(ctx, near, text, ctm, page);
    fz_catch(ctx)
    {
        fz_drop_text(ctx, near);
        fz_rethrow(ctx);
    }
    return near;
}

/* The text calls, each forwarding the text near the page. */
#define FORWARD_NEAR(call)                                                     \
    do {                                                                       \
        rule_device *d_ = (rule_device *)dev;                                  \
        fz_text *near = text_near_page(ctx, text, ctm, d_->page);              \
        fz_try(ctx)                                                            \
        {                                                                      \
            if (near->head)                                                    \
                call;                                                          \
        }                                                                      \
        fz_always(ctx) fz_drop_text(ctx, near);                                \
        fz_catch(ctx) fz_rethrow(ctx);                                         \
    } while (0)

static void fwd_fill_text(fz_context *ctx, fz_device *dev, const fz_text *text, fz_matrix ctm,
                          fz_colorspace *cs, const float *color, float alpha, fz_color_params cp)
{
    FORWARD_NEAR(fz_fill_text(ctx, d_->target, near, ctm, cs, color, alpha, cp));
}

static void fwd_stroke_text(fz_context *ctx, fz_device *dev, const fz_text *text,
                            const fz_stroke_state *st, fz_matrix ctm, fz_colorspace *cs,
                            const float *color, float alpha, fz_color_params cp)
{
    FORWARD_NEAR(fz_stroke_text(ctx, d_->target, near, st, ctm, cs, color, alpha, cp));
}

static void fwd_clip_text(fz_context *ctx, fz_device *dev, const fz_text *text, fz_matrix ctm,
                          fz_rect scissor)
{
    FORWARD_NEAR(fz_clip_text(ctx, d_->target, near, ctm, scissor));
}

static void fwd_clip_stroke_text(fz_context *ctx, fz_device *dev, const fz_text *text,
                                 const fz_stroke_state *st, fz_matrix ctm, fz_rect scissor)
{
    FORWARD_NEAR(fz_clip_stroke_text(ctx, d_->target, near, st, ctm, scissor));
}

static void fwd_ignore_text(fz_context *ctx, fz_device *dev, const fz_text *text, fz_matrix ctm)
{
    FORWARD_NEAR(fz_ignore_text(ctx, d_->target, near, ctm));
}

static void fwd_fill_image(fz_context *ctx, fz_device *dev, fz_image *img, fz_matrix ctm,
                           float alpha, fz_color_params cp)
{
    fz_fill_image(ctx, ((rule_device *)dev)->target, img, ctm, alpha, cp);
}

static void fwd_fill_image_mask(fz_context *ctx, fz_device *dev, fz_image *img, fz_matrix ctm,
                                fz_colorspace *cs, const float *color, float alpha,
                                fz_color_params cp)
{
    fz_fill_image_mask(ctx, ((rule_device *)dev)->target, img, ctm, cs, color, alpha, cp);
}

static void fwd_fill_shade(fz_context *ctx, fz_device *dev, fz_shade *shd, fz_matrix ctm,
                           float alpha, fz_color_params cp)
{
    fz_fill_shade(ctx, ((rule_device *)dev)->target, shd, ctm, alpha, cp);
}

fz_device *tables_new_device(fz_context *ctx, fz_device *target, fz_rect page, table_rules *rules)
{
    rule_device *d = fz_new_derived_device(ctx, rule_device);
    d->target = target;
    d->page = page;
    d->rules = rules;
    d->super.fill_path = rule_fill_path;
    d->super.stroke_path = rule_stroke_path;
    d->super.fill_text = fwd_fill_text;
    d->super.stroke_text = fwd_stroke_text;
    d->super.clip_text = fwd_clip_text;
    d->super.clip_stroke_text = fwd_clip_stroke_text;
    d->super.ignore_text = fwd_ignore_text;
    d->super.fill_image = fwd_fill_image;
    d->super.fill_image_mask = fwd_fill_image_mask;
    d->super.fill_shade = fwd_fill_shade;
    return &d->super;
}

void table_rules_free(table_rules *rules)
{
    if (!rules)
        return;
    free(rules->h);
    memset(rules, 0, sizeof *rules);
}

void tables_state_free(tables_state *st)
{
    if (!st)
        return;
    table_header_free(&st->header);
    free(st->line);
    memset(st, 0, sizeof *st);
}

/* ---- rows and cells --------------------------------------------------- */

typedef struct {
    float x0, y0, x1, y1;
    dq_buf text;
    size_t block; /* where its (first) line came from */
    int col;      /* column; 0 the row label, -1 not assigned */
    float size;   /* its (first) line's font size, 0 when unknown */
} cell;

typedef struct {
    cell *cells; /* (n) left to right */
    size_t n, cap;
    float y0, y1;
    bool table; /* two cells or more, one of them short */
    int side;   /* 0; on a page of two columns, 1 for the right one */
} row;

typedef struct {
    const ingest_line *line;
    size_t block, index;
    int side;
} line_ref;

static int cmp_line_y(const void *a, const void *b)
{
    const line_ref *p = a, *q = b;
    if (p->side != q->side)
        return p->side - q->side;
    float pc = p->line->y0 + p->line->y1, qc = q->line->y0 + q->line->y1;
    if (pc != qc)
        return pc < qc ? -1 : 1;
    return p->line->x0 < q->line->x0 ? -1 : p->line->x0 > q->line->x0;
}

static int cmp_cell_x(const void *a, const void *b)
{
    const cell *p = a, *q = b;
    return p->x0 < q->x0 ? -1 : p->x0 > q->x0;
}

/* True when the lines of block b are prose: three or more, wide and left-aligned. */
static bool prose_block(const ingest_block *b, float page_w)
{
    if (b->n_lines < 3)
        return false;
    size_t wide = 0;
    for (size_t i = 0; i < b->n_lines; i++) {
        const ingest_line *l = &b->lines[i];
        wide += l->x1 - l->x0 >= PROSE_LINE * page_w && fabsf(l->x0 - b->lines[0].x0) < 3;
    }
    return 3 * wide >= 2 * b->n_lines;
}

static void cell_free(cell *c)
{
    dq_buf_free(&c->text);
}

static void rows_free(row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < rows[i].n; k++)
            cell_free(&rows[i].cells[k]);
        free(rows[i].cells);
    }
    free(rows);
}

static void cell_join(cell *into, const cell *from, bool space)
{
    if (space && into->text.len && from->text.len)
        dq_buf_putc(&into->text, ' ');
    dq_buf_append(&into->text, from->text.data ? from->text.data : "", from->text.len);
    into->x0 = fminf(into->x0, from->x0);
    into->y0 = fminf(into->y0, from->y0);
    into->x1 = fmaxf(into->x1, from->x1);
    into->y1 = fmaxf(into->y1, from->y1);
}

static bool is_text(const cell *c, const char *s)
{
    return c->text.len == strlen(s) && !memcmp(c->text.data, s, c->text.len);
}

static bool is_currency(const char *s, size_t n)
{
    return (n == 1 && *s == '$') || (n == 3 && (!memcmp(s, "€", 3))) ||
           (n == 2 && (!memcmp(s, "£", 2) || !memcmp(s, "¥", 2)));
}

/* Cells of r that touch (no space between them) are one: MuPDF starts a
 * new line where the baseline or font shifts inside a line of text ("$1.66"
 * then a superscript "2/3", "Other assets" then "(b)"), and such a piece,
 * being short, would otherwise found a column of its own and push every
 * longer row label into it. */
static void join_touching(row *r)
{
    for (size_t k = 0; k + 1 < r->n;) {
        cell *c = &r->cells[k];
        const cell *next = &r->cells[k + 1];
        float h = fminf(c->y1 - c->y0, next->y1 - next->y0);
        if (next->x0 - c->x1 >= TOUCH_GAP * h) {
            k++;
            continue;
        }
        cell_join(c, next, true);
        cell_free(&r->cells[k + 1]);
        memmove(&r->cells[k + 1], &r->cells[k + 2], (r->n - k - 2) * sizeof *r->cells);
        r->n--;
    }
}

/* "$" before its number, ")" or "%" after it, are one cell with it; a "$"
 * that MuPDF put at the end of the number before goes to its own. */
static void join_signs(row *r)
{
    for (size_t k = 0; k + 1 < r->n; k++) {
        dq_buf *t = &r->cells[k].text;
        for (size_t n = 1; n <= 3 && n + 1 < t->len; n++) {
            if (t->data[t->len - n - 1] != ' ' || !is_currency(t->data + t->len - n, n))
                continue;
            dq_buf moved = DQ_BUF_INIT;
            dq_buf_append(&moved, t->data + t->len - n, n);
            dq_buf_putc(&moved, ' ');
            dq_buf_append(&moved, r->cells[k + 1].text.data, r->cells[k + 1].text.len);
            dq_buf_free(&r->cells[k + 1].text);
            r->cells[k + 1].text = moved;
            t->len -= n + 1;
            t->data[t->len] = '\0';
            break;
        }
    }
    for (size_t k = 0; k + 1 < r->n;) {
        cell *c = &r->cells[k];
        if (is_text(c, "$") || is_text(c, "€") || is_text(c, "£") || is_text(c, "¥")) {
            cell_join(c, &r->cells[k + 1], true);
        } else if (is_text(&r->cells[k + 1], ")") || is_text(&r->cells[k + 1], "%")) {
            cell_join(c, &r->cells[k + 1], false);
        } else {
            k++;
            continue;
        }
        cell_free(&r->cells[k + 1]);
        memmove(&r->cells[k + 1], &r->cells[k + 2], (r->n - k - 2) * sizeof *r->cells);
        r->n--;
    }
}

/* True when the lines refs[0..n) on one side of a gutter are prose: most
 * of them fill the width the side's lines span. */
static bool prose_side(const line_ref *refs, size_t n, int side)
{
    float x0 = INFINITY, x1 = -INFINITY;
    size_t count = 0, full = 0;
    for (size_t i = 0; i < n; i++) {
        if (refs[i].side != side)
            continue;
        x0 = fminf(x0, refs[i].line->x0);
        x1 = fmaxf(x1, refs[i].line->x1);
        count++;
    }
    for (size_t i = 0; i < n; i++)
        full += refs[i].side == side && refs[i].line->x1 - refs[i].line->x0 >= 0.8f * (x1 - x0);
    return count >= 4 && 5 * full >= 3 * count;
}

/* True when a fifth of the lines on side hold words (three letters or more). */
static bool wordy_side(const line_ref *refs, size_t n, int side)
{
    size_t count = 0, words = 0;
    for (size_t i = 0; i < n; i++) {
        if (refs[i].side != side)
            continue;
        count++;
        size_t letters = 0;
        for (const char *t = refs[i].line->text; *t; t++)
            letters += (*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t & 0x80);
        words += letters >= 3;
    }
    return count && 5 * words >= count;
}

/* A page of two columns, one of them prose: the x of a gutter between 30%
 * and 70% of the page that no line crosses, with lines on both sides, else
 * 0. Its two sides are read as separate pages, so a prose line never joins
 * the row of a table beside it. */
static float find_gutter(line_ref *refs, size_t n, float page_w)
{
    float best = 0, best_run = 0, run_start = 0;
    bool in_run = false;
    for (float g = 0.3f * page_w; g <= 0.7f * page_w; g += 2) {
        bool crossed = false;
        for (size_t i = 0; i < n && !crossed; i++)
            crossed = refs[i].line->x0 < g && refs[i].line->x1 > g;
        if (!crossed && !in_run)
            run_start = g;
        in_run = !crossed;
        if (in_run && g - run_start >= best_run) {
            best_run = g - run_start;
            best = (run_start + g) / 2;
        }
    }
    if (best_run < 8)
        return 0;
    size_t left = 0;
    for (size_t i = 0; i < n; i++) {
        refs[i].side = refs[i].line->x0 >= best;
        left += refs[i].side == 0;
    }
    /* Row labels and their numbers look like this too; a second column
     * has words of its own. */
    if (left >= 4 && n - left >= 4 && ((prose_side(refs, n, 0) && wordy_side(refs, n, 1)) ||
                                       (prose_side(refs, n, 1) && wordy_side(refs, n, 0))))
        return best;
    for (size_t i = 0; i < n; i++)
        refs[i].side = 0;
    return 0;
}

/* The page's lines outside prose blocks as rows of cells, top to bottom. */
static row *build_rows(const ingest_raw_page *page, size_t *n_rows)
{
    size_t n = 0;
    for (size_t b = 0; b < page->n_blocks; b++)
        n += page->blocks[b].n_lines;
    line_ref *refs = dq_calloc(n ? n : 1, sizeof *refs);
    n = 0;
    for (size_t b = 0; b < page->n_blocks; b++) {
        const ingest_block *blk = &page->blocks[b];
        for (size_t i = 0; i < blk->n_lines; i++)
            if (blk->lines[i].x1 > blk->lines[i].x0 && blk->lines[i].text[0])
                refs[n++] = (line_ref){&blk->lines[i], b, i, 0};
    }
    find_gutter(refs, n, page->width);
    /* Then leave out prose blocks and tables found already. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const ingest_block *blk = &page->blocks[refs[i].block];
        if (!blk->table && !prose_block(blk, page->width))
            refs[kept++] = refs[i];
    }
    n = kept;
    qsort(refs, n, sizeof *refs, cmp_line_y);
    row *rows = NULL;
    size_t nr = 0, cap = 0;
    for (size_t i = 0; i < n; i++) {
        const ingest_line *l = refs[i].line;
        float h = l->y1 - l->y0, c = (l->y0 + l->y1) / 2;
        row *r = nr ? &rows[nr - 1] : NULL;
        /* Same row when the centre lies inside the row's extent and the
         * line overlaps no cell of it. */
        bool same = r && r->side == refs[i].side && c > r->y0 && c < r->y1 &&
                    h < 2.5f * (r->y1 - r->y0);
        for (size_t k = 0; same && r && k < r->n; k++)
            same = l->x0 >= r->cells[k].x1 - 1 || l->x1 <= r->cells[k].x0 + 1;
        if (!same) {
            DQ_GROW(rows, cap, nr + 1);
            r = &rows[nr++];
            memset(r, 0, sizeof *r);
            r->side = refs[i].side;
            r->y0 = l->y0;
            r->y1 = l->y1;
        }
        DQ_GROW(r->cells, r->cap, r->n + 1);
        cell *cl = &r->cells[r->n++];
        memset(cl, 0, sizeof *cl);
        *cl = (cell){l->x0, l->y0, l->x1, l->y1, DQ_BUF_INIT, refs[i].block, -1, l->size};
        dq_buf_puts(&cl->text, l->text);
        r->y0 = fminf(r->y0, l->y0);
        r->y1 = fmaxf(r->y1, l->y1);
    }
    free(refs);
    for (size_t i = 0; i < nr; i++) {
        row *r = &rows[i];
        qsort(r->cells, r->n, sizeof *r->cells, cmp_cell_x);
        join_signs(r);
        join_touching(r);
        for (size_t k = 1; k < r->n && !r->table; k++)
            r->table = r->cells[k].x1 - r->cells[k].x0 <= SHORT_CELL * page->width;
    }
    *n_rows = nr;
    return rows;
}

/* The nearest horizontal rules above and below the centre of row r (the
 * page's top and bottom when none) among those that span most of [x0, x1]. */
static void rules_around(const table_rules *rules, const row *r, float x0, float x1, float *above,
                         float *below)
{
    float c = (r->y0 + r->y1) / 2;
    *above = -INFINITY;
    *below = INFINITY;
    for (size_t i = 0; i < rules->n_h; i++) {
        const table_rule *h = &rules->h[i];
        if (fminf(h->x1, x1) - fmaxf(h->x0, x0) < 0.6f * (x1 - x0))
            continue;
        if (h->y0 < c)
            *above = fmaxf(*above, h->y0);
        else
            *below = fminf(*below, h->y0);
    }
}

/* ---- one table -------------------------------------------------------- */

typedef struct {
    float x0, x1;
} span;

static bool numeric(const char *s)
{
    size_t digits = 0, letters = 0;
    for (; *s; s++) {
        digits += *s >= '0' && *s <= '9';
        letters += (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z');
    }
    return digits > 0 && letters <= digits;
}

static int cmp_span_width(const void *a, const void *b)
{
    const span *p = a, *q = b;
    float wp = p->x1 - p->x0, wq = q->x1 - q->x0;
    return wp < wq ? -1 : wp > wq;
}

static int cmp_span_x(const void *a, const void *b)
{
    const span *p = a, *q = b;
    return p->x0 < q->x0 ? -1 : p->x0 > q->x0;
}

/* Columns of rows[a..b), left to right: clusters of the x extents of the
 * short cells of rows with two cells or more, narrowest first, so a cell
 * that spans two clusters (a header over both years) joins neither.
 * *label_end is where row labels must end. */
static size_t find_columns(row *rows, size_t a, size_t b, float page_w, span *cols,
                           float *label_end)
{
    size_t n_cand = 0;
    float left = INFINITY;
    for (size_t i = a; i < b; i++) {
        n_cand += rows[i].n;
        left = fminf(left, rows[i].cells[0].x0);
    }
    span *cand = dq_calloc(n_cand ? n_cand : 1, sizeof *cand);
    n_cand = 0;
    /* Body rows (a label at the left) place the columns; headers are often
     * centred over a "$" and its number rather than over the number. */
    for (size_t i = a; i < b; i++)
        for (size_t k = 1; k < rows[i].n && rows[i].cells[0].x0 < left + 0.2f * page_w; k++) {
            cell *c = &rows[i].cells[k];
            if (c->x1 - c->x0 <= SHORT_CELL * page_w)
                cand[n_cand++] = (span){c->x0, c->x1};
        }
    qsort(cand, n_cand, sizeof *cand, cmp_span_width);
    size_t n = 0;
    for (size_t i = 0; i < n_cand; i++) {
        size_t hit = 0, at = 0;
        for (size_t j = 0; j < n; j++)
            if (cand[i].x0 < cols[j].x1 - 1 && cand[i].x1 > cols[j].x0 + 1)
                hit++, at = j;
        if (hit == 1) {
            cols[at].x0 = fminf(cols[at].x0, cand[i].x0);
            cols[at].x1 = fmaxf(cols[at].x1, cand[i].x1);
        } else if (hit == 0 && n < MAX_COLS) {
            cols[n++] = cand[i];
        }
    }
    free(cand);
    qsort(cols, n, sizeof *cols, cmp_span_x);
    /* A row's first cell is its label when it ends before every column. */
    *label_end = n ? cols[0].x0 + 2 : INFINITY;
    return n;
}

/* Assigns each cell of r a column: 0 for its label, else the value column
 * it overlaps most (1-based). */
static void assign(row *r, const span *cols, size_t n_cols, float label_end)
{
    for (size_t k = 0; k < r->n; k++) {
        cell *c = &r->cells[k];
        if (k == 0 && c->x1 <= label_end) {
            c->col = 0;
            continue;
        }
        float best = 0;
        c->col = -1;
        for (size_t j = 0; j < n_cols; j++) {
            float o = fminf(c->x1, cols[j].x1) - fmaxf(c->x0, cols[j].x0);
            if (o > best) {
                best = o;
                c->col = (int)j + 1;
            }
        }
        /* In a gap: the nearest column. */
        float gap = INFINITY;
        for (size_t j = 0; j < n_cols && best <= 0; j++) {
            float d = fmaxf(cols[j].x0 - c->x1, c->x0 - cols[j].x1);
            if (d < gap) {
                gap = d;
                c->col = (int)j + 1;
            }
        }
        if (c->col < 0)
            c->col = 0;
    }
}

/* The texts of r by column, (n_cols + 1) entries, in buf (cleared). */
static void row_texts(const row *r, size_t n_cols, dq_buf *buf, const char **out)
{
    for (size_t j = 0; j <= n_cols; j++) {
        dq_buf_clear(&buf[j]);
        dq_buf_puts(&buf[j], "");
    }
    for (size_t k = 0; k < r->n; k++) {
        const cell *c = &r->cells[k];
        dq_buf *b = &buf[c->col];
        if (b->len)
            dq_buf_putc(b, ' ');
        dq_buf_append(b, c->text.data ? c->text.data : "", c->text.len);
    }
    for (size_t j = 0; j <= n_cols; j++)
        out[j] = buf[j].data;
}

/* A header row's texts: a cell spanning several columns counts for each. */
static void header_texts(const row *r, const span *cols, size_t n_cols, dq_buf *buf,
                         const char **out)
{
    row_texts(r, n_cols, buf, out);
    for (size_t k = 0; k < r->n; k++) {
        const cell *c = &r->cells[k];
        if (c->col == 0)
            continue;
        for (size_t j = 0; j < n_cols; j++) {
            /* A header row of one cell ("Year Ended December 31,") heads
             * every column, however narrow it is set. */
            float mid = (cols[j].x0 + cols[j].x1) / 2;
            bool covers = r->n == 1 || (mid >= c->x0 && mid <= c->x1);
            if ((int)j + 1 != c->col && covers && !buf[j + 1].len) {
                dq_buf_append(&buf[j + 1], c->text.data, c->text.len);
                out[j + 1] = buf[j + 1].data;
            }
        }
    }
}

/* True for a short caption such as "Year Ended December 31," or "(in
 * millions)", not a line of code ("> x <- array(1:20)") or a sentence. */
static bool heading_words(const char *s)
{
    size_t words = 1;
    for (; *s; s++) {
        if (strchr("=<>{};[]", *s))
            return false;
        words += *s == ' ';
    }
    return words <= 8;
}

/* True when every cell of r reads as a caption. */
static bool captions(const row *r)
{
    for (size_t k = 0; k < r->n; k++)
        if (!heading_words(r->cells[k].text.data ? r->cells[k].text.data : ""))
            return false;
    return true;
}

/* A column that only header rows use ("2018" centred over a "$" and its
 * number, which sit a little apart) heads the next column to its right
 * that only body rows use: their cells move there. */
static void merge_header_columns(row *rows, size_t a, size_t body, size_t b, size_t n_cols)
{
    bool in_head[MAX_COLS + 1] = {false}, in_body[MAX_COLS + 1] = {false};
    /* A lone spanning caption belongs to no one column. */
    for (size_t r = a; r < b; r++)
        for (size_t k = 0; k < rows[r].n && (r >= body || rows[r].n > 1); k++)
            (r < body ? in_head : in_body)[rows[r].cells[k].col] = true;
    for (size_t j = 1; j <= n_cols; j++) {
        if (!in_head[j] || in_body[j])
            continue;
        size_t to = j + 1;
        while (to <= n_cols && (in_head[to] || !in_body[to]))
            to++;
        if (to > n_cols)
            continue;
        for (size_t r = a; r < body; r++)
            for (size_t k = 0; k < rows[r].n; k++)
                if (rows[r].cells[k].col == (int)j)
                    rows[r].cells[k].col = (int)to;
        in_head[to] = true;
    }
}

/* Adds a header row to full, and to cells when its value columns differ. */
static void add_header_row(table_header *full, table_header *cells, const char **texts, size_t n)
{
    table_header_add_row(full, texts, n);
    bool same = true;
    for (size_t j = 2; j < n && same; j++)
        same = !strcmp(texts[j], texts[1]);
    if (!same || n <= 2)
        table_header_add_row(cells, texts, n);
}

static bool has_label(const row *r)
{
    return r->n > 0 && r->cells[0].col == 0;
}

/* An amount: a number that is not a year ("2018") or a day ("May 31,"). */
static bool amount(const char *s)
{
    dq_buf b = DQ_BUF_INIT;
    for (const char *p = s; *p;) {
        size_t d = strspn(p, "0123456789");
        bool year = d == 4 && (!strncmp(p, "19", 2) || !strncmp(p, "20", 2));
        if (d && !year)
            dq_buf_append(&b, p, d);
        if (!d)
            dq_buf_putc(&b, *p);
        p += d ? d : 1;
    }
    bool yes = b.data && numeric(b.data);
    dq_buf_free(&b);
    return yes;
}

static bool all_words(const row *r)
{
    for (size_t k = 0; k < r->n; k++)
        if (numeric(r->cells[k].text.data ? r->cells[k].text.data : ""))
            return false;
    return true;
}

static bool any_numeric_value(const row *r)
{
    for (size_t k = 0; k < r->n; k++)
        if (r->cells[k].col > 0 && numeric(r->cells[k].text.data ? r->cells[k].text.data : ""))
            return true;
    return false;
}

/* A header row: value cells, none of them an amount ("(In millions) |
 * 2018 | 2017", "Year Ended May 31,"). */
static bool header_like(const row *r)
{
    size_t values = 0;
    for (size_t k = 0; k < r->n; k++) {
        if (r->cells[k].col == 0)
            continue;
        values++;
        if (amount(r->cells[k].text.data ? r->cells[k].text.data : ""))
            return false;
    }
    return values > 0;
}

/* A label-only row whose label runs on in the next row ("...website
 * development, and" / "other amortization ...") joins it. */
static bool label_runs_on(const row *r, const row *next)
{
    if (r->n != 1 || !has_label(r) || !next->n || !has_label(next))
        return false;
    const dq_buf *t = &r->cells[0].text;
    char first = next->cells[0].text.data ? next->cells[0].text.data[0] : 0;
    return t->len && t->data[t->len - 1] != ':' && first >= 'a' && first <= 'z' &&
           next->y0 - r->y1 < 0.6f * (r->y1 - r->y0);
}

typedef struct {
    ingest_block block; /* the table's rows */
    size_t at;          /* the page block it goes before */
} found_table;

static void add_row_line(ingest_block *blk, char *text, float x0, float y0, float x1, float y1,
                         float size)
{
    ingest_line *l = raw_add_line(blk, text);
    l->x0 = x0, l->y0 = y0, l->x1 = x1, l->y1 = y1;
    l->size = size;
}

/* Makes rows[a..b) one table block; its cells' lines are marked in used. */
static void make_table(row *rows, size_t a, size_t b, const ingest_raw_page *page,
                       tables_state *st, bool opens_page, found_table *out)
{
    span cols[MAX_COLS];
    float label_end;
    size_t n_cols = find_columns(rows, a, b, page->width, cols, &label_end);
    for (size_t i = a; i < b; i++)
        assign(&rows[i], cols, n_cols, label_end);

    dq_buf buf[MAX_COLS + 1];
    const char *texts[MAX_COLS + 1];
    memset(buf, 0, sizeof buf);
    /* The whole header makes the table's header line; the cells carry only
     * the header rows that tell columns apart ("2018", "2017"), not one
     * that reads the same over all of them ("Year Ended December 31,"),
     * which would repeat in every cell for no information. */
    table_header full = {0}, header = {0};
    size_t i = a;
    /* Leading rows without a label are the header; so is a first row of
     * words over rows with numbers. */
    /* A labelled row without amounts heads a table of amounts only: in a
     * table of words (a list of definitions) it is the first entry. */
    bool amounts = false;
    for (size_t r = a; r < b && !amounts; r++)
        amounts = has_label(&rows[r]) && !header_like(&rows[r]) && any_numeric_value(&rows[r]);
    while (i < b && (!has_label(&rows[i]) || (amounts && header_like(&rows[i]))) &&
           captions(&rows[i]) && i - a < 3)
        i++;
    if (i == a && b - a > 1 && all_words(&rows[a]) && any_numeric_value(&rows[a + 1]))
        i++;
    size_t header_rows = i - a;
    merge_header_columns(rows, a, i, b, n_cols);
    for (size_t r = a; r < i; r++) {
        header_texts(&rows[r], cols, n_cols, buf, texts);
        add_header_row(&full, &header, texts, n_cols + 1);
    }
    bool continued = false;
    if (header_rows == 0 && opens_page && st->id && st->n_cols == n_cols + 1) {
        continued = true;
        for (size_t j = 0; j < st->header.n_cols; j++)
            texts[j] = st->header.cols[j];
        table_header_add_row(&header, texts, st->header.n_cols);
    }

    ingest_block *blk = &out->block;
    memset(blk, 0, sizeof *blk);
    blk->table = continued ? st->id : ++st->next_id;
    blk->header = continued ? (st->line ? dq_strdup(st->line) : NULL) : table_header_line(&full);
    table_header_free(&full);
    out->at = rows[a].cells[0].block;
    if (header_rows && blk->header) {
        float x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
        for (size_t r = a; r < a + header_rows; r++) {
            for (size_t k = 0; k < rows[r].n; k++) {
                x0 = fminf(x0, rows[r].cells[k].x0);
                x1 = fmaxf(x1, rows[r].cells[k].x1);
            }
            y0 = fminf(y0, rows[r].y0);
            y1 = fmaxf(y1, rows[r].y1);
        }
        add_row_line(blk, dq_strdup(blk->header), x0, y0, x1, y1, rows[a].cells[0].size);
    }
    dq_buf label = DQ_BUF_INIT;
    for (; i < b; i++) {
        row *r = &rows[i];
        for (size_t k = 0; k < r->n; k++)
            out->at = r->cells[k].block < out->at ? r->cells[k].block : out->at;
        if (i + 1 < b && label_runs_on(r, &rows[i + 1])) {
            dq_buf *next = &rows[i + 1].cells[0].text;
            dq_buf_clear(&label);
            dq_buf_append(&label, r->cells[0].text.data, r->cells[0].text.len);
            dq_buf_putc(&label, ' ');
            dq_buf_append(&label, next->data, next->len);
            dq_buf_clear(next);
            dq_buf_append(next, label.data, label.len);
            rows[i + 1].cells[0].x0 = fminf(rows[i + 1].cells[0].x0, r->cells[0].x0);
            rows[i + 1].cells[0].x1 = fmaxf(rows[i + 1].cells[0].x1, r->cells[0].x1);
            rows[i + 1].y0 = fminf(rows[i + 1].y0, r->y0);
            continue;
        }
        row_texts(r, n_cols, buf, texts);
        char *line = table_row_line(&header, texts, n_cols + 1);
        if (!line)
            continue;
        float x0 = INFINITY, x1 = -INFINITY;
        for (size_t k = 0; k < r->n; k++) {
            x0 = fminf(x0, r->cells[k].x0);
            x1 = fmaxf(x1, r->cells[k].x1);
        }
        add_row_line(blk, line, x0, r->y0, x1, r->y1, r->cells[0].size);
    }
    dq_buf_free(&label);
    for (size_t j = 0; j <= MAX_COLS; j++)
        dq_buf_free(&buf[j]);
    table_header_free(&st->header);
    st->header = header;
    free(st->line);
    st->line = blk->header ? dq_strdup(blk->header) : NULL;
    st->id = blk->table;
    st->n_cols = n_cols + 1;
}

/* ---- the page --------------------------------------------------------- */

/* Removes from page every line that lies inside one of the tables' rows
 * (the cells they were made from) and inserts the tables' blocks. */
static void replace_lines(ingest_raw_page *page, found_table *tables, size_t n)
{
    ingest_raw_page fresh = {0};
    for (size_t b = 0; b <= page->n_blocks; b++) {
        for (size_t t = 0; t < n; t++) {
            if (tables[t].at != b)
                continue;
            ingest_block *dst = raw_add_block(&fresh);
            *dst = tables[t].block;
        }
        if (b == page->n_blocks)
            break;
        ingest_block *src = &page->blocks[b];
        ingest_block *dst = NULL;
        for (size_t i = 0; i < src->n_lines; i++) {
            const ingest_line *l = &src->lines[i];
            float cx = (l->x0 + l->x1) / 2, cy = (l->y0 + l->y1) / 2;
            bool inside = false;
            for (size_t t = 0; t < n && !inside; t++)
                for (size_t k = 0; k < tables[t].block.n_lines && !inside; k++) {
                    const ingest_line *r = &tables[t].block.lines[k];
                    inside = cx >= r->x0 && cx <= r->x1 && cy >= r->y0 && cy <= r->y1;
                }
            if (inside && !src->table) {
                free(src->lines[i].text);
                continue;
            }
            if (!dst) {
                dst = raw_add_block(&fresh);
                dst->table = src->table;
                dst->header = src->header;
                src->header = NULL;
            }
            *raw_add_line(dst, NULL) = *l;
        }
        free(src->lines);
        free(src->header);
    }
    free(page->blocks);
    page->blocks = fresh.blocks;
    page->n_blocks = fresh.n_blocks;
}

int tables_detect(ingest_raw_page *page, const table_rules *rules, tables_state *st)
{
    int prev_id = st->id;
    st->id = 0;
    size_t n_lines = 0;
    for (size_t b = 0; b < page->n_blocks; b++)
        n_lines += page->blocks[b].n_lines;
    if (page->width <= 0 || n_lines > MAX_LINES)
        return 0;
    size_t n_rows;
    row *rows = build_rows(page, &n_rows);
    /* Ruled tables: rows between the same two rules are one row. */
    if (rules && rules->n_h >= 3) {
        for (size_t i = 0; i + 1 < n_rows;) {
            row *r = &rows[i], *nx = &rows[i + 1];
            float x0 = fminf(r->cells[0].x0, nx->cells[0].x0);
            float x1 = fmaxf(r->cells[r->n - 1].x1, nx->cells[nx->n - 1].x1);
            float a0, b0, a1, b1;
            rules_around(rules, r, x0, x1, &a0, &b0);
            rules_around(rules, nx, x0, x1, &a1, &b1);
            /* A wrapped cell's next line sits close below, between the same
             * two rules, in a band a few lines high. */
            float h = r->y1 - r->y0;
            bool ruled = a0 == a1 && b0 == b1 && isfinite(a0) && isfinite(b0) &&
                         b0 - a0 < 4.5f * h && r->n > 1 && nx->n <= r->n &&
                         nx->y0 - r->y1 < 0.35f * h;
            if (!ruled) {
                i++;
                continue;
            }
            /* Each cell of the next row joins the cell above it, or is added. */
            for (size_t k = 0; k < nx->n; k++) {
                cell *c = &nx->cells[k];
                size_t j = 0;
                while (j < r->n && !(c->x0 < r->cells[j].x1 && c->x1 > r->cells[j].x0))
                    j++;
                if (j < r->n) {
                    cell_join(&r->cells[j], c, true);
                    cell_free(c);
                } else {
                    DQ_GROW(r->cells, r->cap, r->n + 1);
                    r->cells[r->n++] = *c;
                    qsort(r->cells, r->n, sizeof *r->cells, cmp_cell_x);
                }
            }
            r->y1 = fmaxf(r->y1, nx->y1);
            free(nx->cells);
            memmove(&rows[i + 1], &rows[i + 2], (n_rows - i - 2) * sizeof *rows);
            n_rows--;
        }
    }
    found_table *tables = NULL;
    size_t n_tables = 0, cap = 0;
    for (size_t a = 0; a < n_rows;) {
        if (!rows[a].table) {
            a++;
            continue;
        }
        /* Extend over table rows, and up to MAX_LONE_ROWS other rows that
         * a table row follows, while the vertical gaps stay small. */
        size_t b = a + 1, last = a, n_table = 1;
        float h = rows[a].y1 - rows[a].y0;
        while (b < n_rows && b - last <= MAX_LONE_ROWS + 1 && rows[b].side == rows[a].side &&
               rows[b].y0 - rows[b - 1].y1 < 2.5f * h) {
            if (rows[b].table) {
                last = b;
                n_table++;
            }
            b++;
        }
        b = last + 1;
        if (n_table < MIN_TABLE_ROWS) {
            a = b;
            continue;
        }
        /* A spanning header ("Year Ended December 31,") sits just above,
         * over the value columns (a centred title does not). */
        float values = INFINITY;
        for (size_t i = a; i < b; i++)
            if (rows[i].table && rows[i].n > 1)
                values = fminf(values, rows[i].cells[1].x0);
        while (a > 0 && rows[a - 1].n == 1 && rows[a - 1].side == rows[a].side &&
               heading_words(rows[a - 1].cells[0].text.data) &&
               rows[a - 1].cells[0].x0 > values - 0.1f * page->width &&
               rows[a].y0 - rows[a - 1].y1 < 1.5f * h && rows[a].y0 > rows[a - 1].y1 - 1)
            a--;
        bool opens = true;
        for (size_t i = 0; i < a && opens; i++)
            opens = rows[i].y1 < 0.12f * page->height; /* only running heads above */
        DQ_GROW(tables, cap, n_tables + 1);
        if (n_tables == 0)
            st->id = prev_id;
        make_table(rows, a, b, page, st, opens && n_tables == 0, &tables[n_tables]);
        if (tables[n_tables].block.n_lines == 0) {
            free(tables[n_tables].block.header);
            free(tables[n_tables].block.lines);
        } else {
            n_tables++;
        }
        a = b;
    }
    /* The page ends in a table when nothing but page furniture follows it. */
    bool ends = false;
    if (n_tables) {
        ends = true;
        const ingest_line *lastrow =
            &tables[n_tables - 1].block.lines[tables[n_tables - 1].block.n_lines - 1];
        for (size_t i = 0; i < n_rows && ends; i++)
            ends = rows[i].y0 <= lastrow->y1 || rows[i].y0 > 0.88f * page->height;
    }
    if (!ends)
        st->id = 0;
    rows_free(rows, n_rows);
    if (n_tables)
        replace_lines(page, tables, n_tables);
    free(tables);
    return (int)n_tables;
}
