/* office_docx.c - Word documents (DOCX): paragraphs, headings, lists, tables, notes, boxes.
 *
 * word/document.xml is read in order. A paragraph is a heading when its
 * style, or a style it is based on, has an outline level or is named
 * "heading N" / "标题 N" (Word stores the built-in names in English whatever
 * the user's language, but other producers write them translated). Tracked
 * changes read as if accepted: deleted runs are skipped, inserted runs kept.
 * A field shows its result, not its instruction. Text boxes (both the
 * DrawingML choice and its VML fallback carry the same text: only the choice
 * is read) and footnotes or endnotes follow the paragraph that holds them.
 * Headers and footers come once, at the start, however many pages repeat
 * them. w:lastRenderedPageBreak, where Word recorded its layout, starts a
 * new page, so citations can name the rendered page.
 */
#include "ingest/office.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { MAX_BASED_ON = 16, MAX_ILVL = 9 };

typedef struct {
    const char *id;
    const char *based_on; /* may be NULL */
    int own_level;        /* from its outline level or name, 0 none */
    fz_xml *numpr;        /* its list numbering (List Bullet...), or NULL */
} docx_style;

typedef struct {
    office_reader *r;
    fz_xml *styles_doc, *numbering_doc, *footnotes_doc, *endnotes_doc;
    docx_style *styles; /* (n_styles) sorted by id */
    size_t n_styles;
    office_index nums, abstracts;  /* numbering.xml's w:num by numId, w:abstractNum by id */
    int (*counts)[MAX_ILVL];       /* (nums.n) each list's counters per level */
    office_index footnotes, endnotes; /* by w:id */
    int n_notes; /* notes numbered in reading order, as Word shows them */
    int page;
    bool page_break; /* a rendered page break inside the current paragraph */
    size_t break_at; /* the paragraph's text length where it came */
} docx;

static int para(docx *d, fz_xml *p, int depth);
static int block_children(docx *d, fz_xml *parent, int depth);

/* "heading 2", "Heading2", "标题 2", "标题2" -> 2; "Title" -> 1; else 0. */
static int level_from_name(const char *name)
{
    if (!name)
        return 0;
    const char *rest = NULL;
    if (!strncasecmp(name, "heading", 7))
        rest = name + 7;
    else if (!strncmp(name, "标题", 6))
        rest = name + 6;
    else if (!strcasecmp(name, "title"))
        return 1;
    if (!rest)
        return 0;
    while (*rest == ' ')
        rest++;
    int level = atoi(rest);
    return level >= 1 && level <= 9 ? level : 0;
}

static int outline_level(fz_xml *ppr)
{
    const char *v = office_att(office_child(ppr, "outlineLvl"), "val");
    if (!v)
        return -1;
    int l = atoi(v);
    return l >= 0 && l <= 8 ? l + 1 : 0; /* 9 is "body text" */
}

static int cmp_style(const void *a, const void *b)
{
    return strcmp(((const docx_style *)a)->id, ((const docx_style *)b)->id);
}

static void load_styles(docx *d)
{
    d->styles_doc = office_read_xml(d->r, "word/styles.xml", false);
    fz_xml *root = d->styles_doc ? fz_xml_root(d->styles_doc) : NULL;
    size_t cap = 0;
    for (fz_xml *s = root ? fz_xml_down(root) : NULL; s; s = fz_xml_next(s)) {
        const char *type = office_att(s, "type");
        const char *id = office_att(s, "styleId");
        if (!office_is(s, "style") || !id || (type && strcmp(type, "paragraph")))
            continue;
        int level = outline_level(office_child(s, "pPr"));
        if (level < 0)
            level = level_from_name(office_att(office_child(s, "name"), "val"));
        if (level <= 0)
            level = level_from_name(id);
        DQ_GROW(d->styles, cap, d->n_styles + 1);
        d->styles[d->n_styles++] = (docx_style){id, office_att(office_child(s, "basedOn"), "val"),
                                                level, office_child(office_child(s, "pPr"), "numPr")};
    }
    if (d->n_styles > 1)
        qsort(d->styles, d->n_styles, sizeof *d->styles, cmp_style);
}

static const docx_style *find_style(const docx *d, const char *id)
{
    if (!id || d->n_styles == 0)
        return NULL;
    docx_style probe = {id, NULL, 0, NULL};
    return bsearch(&probe, d->styles, d->n_styles, sizeof *d->styles, cmp_style);
}

/* The heading level of style id, following basedOn (bounded: a cycle of
 * styles must not loop). */
static int style_level(const docx *d, const char *id)
{
    for (int hop = 0; hop < MAX_BASED_ON; hop++) {
        const docx_style *s = find_style(d, id);
        if (!s)
            return level_from_name(id);
        if (s->own_level)
            return s->own_level;
        id = s->based_on;
    }
    return 0;
}

/* The numbering a paragraph of style id inherits, or NULL. */
static fz_xml *style_numpr(const docx *d, const char *id)
{
    for (int hop = 0; hop < MAX_BASED_ON; hop++) {
        const docx_style *s = find_style(d, id);
        if (!s)
            return NULL;
        if (s->numpr)
            return s->numpr;
        id = s->based_on;
    }
    return NULL;
}

/* ---- lists ---------------------------------------------------------------- */

static void load_numbering(docx *d)
{
    d->numbering_doc = office_read_xml(d->r, "word/numbering.xml", false);
    fz_xml *root = d->numbering_doc ? fz_xml_root(d->numbering_doc) : NULL;
    office_index_build(&d->nums, root, "num", "numId");
    office_index_build(&d->abstracts, root, "abstractNum", "abstractNumId");
    d->counts = dq_calloc(d->nums.n ? d->nums.n : 1, sizeof *d->counts);
}

/* The w:lvl of level ilvl among an abstractNum's first children (Word
 * writes nine; a hostile list of millions is not searched per paragraph). */
static fz_xml *find_level(fz_xml *abs, int ilvl)
{
    int seen = 0;
    for (fz_xml *x = abs ? fz_xml_down(abs) : NULL; x && seen < 64; x = fz_xml_next(x), seen++) {
        const char *v = office_att(x, "ilvl");
        if (office_is(x, "lvl") && v && atoi(v) == ilvl)
            return x;
    }
    return NULL;
}

/* The list marker for a numbered paragraph ("•", "3.", "2.1."), into m. */
static void list_marker(docx *d, fz_xml *numpr, dq_buf *m)
{
    const char *num_id = office_att(office_child(numpr, "numId"), "val");
    const char *ilvl_s = office_att(office_child(numpr, "ilvl"), "val");
    int ilvl = ilvl_s ? atoi(ilvl_s) : 0;
    if (!num_id || !strcmp(num_id, "0") || ilvl < 0 || ilvl >= MAX_ILVL)
        return;
    long at = office_index_find(&d->nums, num_id);
    if (at < 0) { /* a list numbering.xml does not define: a plain bullet */
        dq_buf_puts(m, "• ");
        return;
    }
    fz_xml *num = d->nums.items[at].node;
    const char *abs_id = office_att(office_child(num, "abstractNumId"), "val");
    long abs_at = office_index_find(&d->abstracts, abs_id);
    fz_xml *lvl = find_level(abs_at < 0 ? NULL : d->abstracts.items[abs_at].node, ilvl);
    const char *fmt = office_att(office_child(lvl, "numFmt"), "val");
    const char *text = office_att(office_child(lvl, "lvlText"), "val");

    int *count = d->counts[at];
    count[ilvl]++;
    for (int i = ilvl + 1; i < MAX_ILVL; i++)
        count[i] = 0;
    if (!fmt || !strcmp(fmt, "bullet") || !text) {
        dq_buf_puts(m, "• ");
        return;
    }
    if (!strcmp(fmt, "none"))
        return;
    /* lvlText "%1.%2." names the counters of levels 1 and 2. */
    for (const char *p = text; *p; p++) {
        if (p[0] == '%' && p[1] >= '1' && p[1] <= '9') {
            int k = p[1] - '1';
            dq_buf_printf(m, "%d", count[k] ? count[k] : 1);
            p++;
        } else {
            dq_buf_putc(m, *p);
        }
    }
    dq_buf_putc(m, ' ');
}

/* ---- runs ----------------------------------------------------------------- */

/* The paragraphs under x (a text box, a note, a table cell) as one string. */
static void plain_text(docx *d, fz_xml *x, dq_buf *out, int depth);

static bool run_hidden(fz_xml *run)
{
    fz_xml *v = office_child(office_child(run, "rPr"), "vanish");
    const char *val = office_att(v, "val");
    return v && !(val && (!strcmp(val, "0") || !strcmp(val, "false")));
}

static void note(docx *d, const char *id, bool endnote, int depth)
{
    const office_index *ix = endnote ? &d->endnotes : &d->footnotes;
    long at = office_index_find(ix, id);
    if (at < 0)
        return;
    fz_xml *n = ix->items[at].node;
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "[%s %d] ", endnote ? "endnote" : "footnote", ++d->n_notes);
    size_t head = b.len;
    plain_text(d, n, &b, depth + 1);
    if (b.len > head)
        office_defer(d->r, dq_buf_take(&b));
    dq_buf_free(&b);
}

/* Appends the text of the inline content x to out. */
static void runs(docx *d, fz_xml *x, dq_buf *out, int depth)
{
    for (fz_xml *c = fz_xml_down(x); c; c = fz_xml_next(c)) {
        if (!fz_xml_tag(c))
            continue;
        if (office_is(c, "t")) {
            for (fz_xml *t = fz_xml_down(c); t; t = fz_xml_next(t))
                office_put_text(out, t);
        } else if (office_is(c, "tab") || office_is(c, "br") || office_is(c, "cr")) {
            dq_buf_putc(out, ' ');
        } else if (office_is(c, "noBreakHyphen")) {
            dq_buf_putc(out, '-');
        } else if (office_is(c, "lastRenderedPageBreak")) {
            if (!d->page_break)
                d->break_at = out->len;
            d->page_break = true;
        } else if (office_is(c, "footnoteReference") || office_is(c, "endnoteReference")) {
            const char *id = office_att(c, "id");
            if (id)
                note(d, id, office_is(c, "endnoteReference"), depth);
        } else if (office_is(c, "txbxContent")) {
            dq_buf box = DQ_BUF_INIT;
            plain_text(d, c, &box, depth + 1);
            if (box.len)
                office_defer(d->r, dq_buf_take(&box));
            dq_buf_free(&box);
        } else if (office_is(c, "r")) {
            if (!run_hidden(c))
                runs(d, c, out, depth + 1);
        } else if (office_is(c, "del") || office_is(c, "moveFrom") || office_is(c, "delText") ||
                   office_is(c, "instrText") || office_is(c, "rPr") || office_is(c, "pPr") ||
                   office_is(c, "Fallback")) {
            /* deleted text, field instructions, properties, duplicate VML */
        } else {
            /* ins, moveTo, hyperlink, fldSimple, smartTag, sdt, drawing,
             * AlternateContent's Choice...: their text is shown */
            runs(d, c, out, depth + 1);
        }
    }
}

static void plain_text(docx *d, fz_xml *x, dq_buf *out, int depth)
{
    for (fz_xml *c = fz_xml_down(x); c; c = fz_xml_next(c)) {
        if (office_is(c, "p")) {
            if (out->len)
                dq_buf_putc(out, ' ');
            runs(d, c, out, depth + 1);
        } else if (fz_xml_tag(c) && !office_is(c, "pPr")) {
            plain_text(d, c, out, depth + 1);
        }
    }
}

/* ---- blocks --------------------------------------------------------------- */

static void next_page(docx *d)
{
    d->page++;
    office_unit(d->r, d->page, NULL);
}

static int para(docx *d, fz_xml *p, int depth)
{
    fz_xml *ppr = office_child(p, "pPr");
    int level = outline_level(ppr);
    if (level < 0)
        level = style_level(d, office_att(office_child(ppr, "pStyle"), "val"));
    dq_buf text = DQ_BUF_INIT;
    fz_xml *numpr = office_child(ppr, "numPr");
    if (!numpr)
        numpr = style_numpr(d, office_att(office_child(ppr, "pStyle"), "val"));
    if (numpr)
        list_marker(d, numpr, &text);
    size_t marker = text.len;
    d->page_break = false;
    runs(d, p, &text, depth + 1);
    /* Word writes the break where the new page begins, nearly always
     * before the paragraph's first text. */
    bool before = d->page_break && d->break_at <= marker;
    if (before)
        next_page(d);
    int rc = text.len > marker ? office_para(d->r, text.data, level, 0) : 0;
    dq_buf_free(&text);
    if (rc == 0)
        rc = office_flush_deferred(d->r, true);
    if (d->page_break && !before)
        next_page(d);
    return rc;
}

static int table(docx *d, fz_xml *tbl, int depth)
{
    office_table t;
    memset(&t, 0, sizeof t);
    char **above = NULL; /* last row's text per grid column, for vertical merges */
    size_t n_above = 0;
    int rc = 0;
    for (fz_xml *tr = fz_xml_down(tbl); tr && rc == 0; tr = fz_xml_next(tr)) {
        if (!office_is(tr, "tr"))
            continue;
        char **cells = NULL;
        size_t n = 0, cap = 0;
        for (fz_xml *tc = fz_xml_down(tr); tc; tc = fz_xml_next(tc)) {
            if (!office_is(tc, "tc"))
                continue;
            fz_xml *pr = office_child(tc, "tcPr");
            const char *span_s = office_att(office_child(pr, "gridSpan"), "val");
            int span = span_s ? atoi(span_s) : 1;
            span = span < 1 ? 1 : span > 64 ? 64 : span;
            fz_xml *vm = office_child(pr, "vMerge");
            const char *vm_val = office_att(vm, "val");
            bool cont = vm && !(vm_val && !strcmp(vm_val, "restart"));
            char *text;
            if (cont) {
                text = dq_strdup(n < n_above && above[n] ? above[n] : "");
            } else {
                dq_buf b = DQ_BUF_INIT;
                plain_text(d, tc, &b, depth + 1);
                text = dq_buf_take(&b);
            }
            DQ_GROW(cells, cap, n + (size_t)span);
            cells[n++] = text;
            /* A header cell spanning columns names each of them. */
            for (int k = 1; k < span; k++)
                cells[n++] = t.has_header ? NULL : dq_strdup(text);
        }
        rc = office_table_row(d->r, &t, (const char *const *)cells, n, 0);
        if (rc == 0)
            rc = office_flush_deferred(d->r, true);
        for (size_t i = 0; i < n_above; i++)
            free(above[i]);
        free(above);
        above = cells;
        n_above = n;
    }
    for (size_t i = 0; i < n_above; i++)
        free(above[i]);
    free(above);
    office_table_free(&t);
    return rc;
}

static int block_children(docx *d, fz_xml *parent, int depth)
{
    int rc = 0;
    for (fz_xml *c = fz_xml_down(parent); c && rc == 0; c = fz_xml_next(c)) {
        if (office_is(c, "p"))
            rc = para(d, c, depth + 1);
        else if (office_is(c, "tbl"))
            rc = table(d, c, depth + 1);
        else if (office_is(c, "sdt") || office_is(c, "sdtContent") || office_is(c, "customXml") ||
                 office_is(c, "ins") || office_is(c, "moveTo"))
            rc = block_children(d, c, depth + 1);
    }
    return rc;
}

/* Headers and footers, each distinct text once. */
static int headers_footers(docx *d, const char *main)
{
    static const char *const types[] = {"/header", "/footer"};
    char **seen = NULL;
    size_t n_seen = 0, seen_cap = 0;
    int rc = 0;
    for (int t = 0; t < 2 && rc == 0; t++) {
        size_t n;
        char **parts = office_rel_targets(d->r, main, types[t], &n);
        for (size_t i = 0; i < n; i++) {
            /* three kinds per section; 64 parts are plenty, and bound the
             * duplicate check below */
            fz_xml *x = rc == 0 && i < 64 ? office_read_xml(d->r, parts[i], false) : NULL;
            if (x) {
                dq_buf b = DQ_BUF_INIT;
                plain_text(d, fz_xml_root(x), &b, 1);
                bool dup = false;
                for (size_t k = 0; k < n_seen && !dup; k++)
                    dup = !strcmp(seen[k], b.data ? b.data : "");
                if (b.len && !dup) {
                    rc = office_para(d->r, b.data, 0, 0);
                    DQ_GROW(seen, seen_cap, n_seen + 1);
                    seen[n_seen++] = dq_buf_take(&b);
                }
                dq_buf_free(&b);
                office_drop_xml(d->r, x);
            }
            free(parts[i]);
        }
        free(parts);
    }
    for (size_t i = 0; i < n_seen; i++)
        free(seen[i]);
    free(seen);
    d->n_notes = 0;
    office_flush_deferred(d->r, false);
    return rc;
}

int office_read_docx(office_reader *r)
{
    docx d;
    memset(&d, 0, sizeof d);
    d.r = r;
    r->out->cite = CITE_SECTIONS;
    char *main = office_main_part(r, "word/document.xml");
    fz_xml *doc = office_read_xml(r, main, true);
    int rc = -1;
    if (doc) {
        load_styles(&d);
        load_numbering(&d);
        d.footnotes_doc = office_read_xml(r, "word/footnotes.xml", false);
        d.endnotes_doc = office_read_xml(r, "word/endnotes.xml", false);
        office_index_build(&d.footnotes, d.footnotes_doc ? fz_xml_root(d.footnotes_doc) : NULL,
                           "footnote", "id");
        office_index_build(&d.endnotes, d.endnotes_doc ? fz_xml_root(d.endnotes_doc) : NULL,
                           "endnote", "id");
        d.page = 1;
        office_unit(r, 1, NULL);
        rc = headers_footers(&d, main);
        fz_xml *body = office_child(fz_xml_root(doc), "body");
        if (rc == 0 && !body)
            rc = office_fail(r, "damaged file: no document body");
        if (rc == 0)
            rc = block_children(&d, body, 1);
    }
    free(d.styles);
    free(d.counts);
    office_index_free(&d.nums);
    office_index_free(&d.abstracts);
    office_index_free(&d.footnotes);
    office_index_free(&d.endnotes);
    office_drop_xml(r, d.styles_doc);
    office_drop_xml(r, d.numbering_doc);
    office_drop_xml(r, d.footnotes_doc);
    office_drop_xml(r, d.endnotes_doc);
    office_drop_xml(r, doc);
    free(main);
    return rc;
}
