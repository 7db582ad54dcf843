/* office_odf.c - OpenDocument (ODT, ODS, ODP): LibreOffice's formats, read like their OOXML twins.
 *
 * All three keep their body in content.xml. ODT: text:h carries its own
 * outline level, lists are marked "• ", notes and text boxes follow their
 * paragraph, tracked changes are read as accepted (deleted text lives apart
 * in text:tracked-changes, which is skipped), headers and footers come once
 * from the master pages in styles.xml, and text:soft-page-break (where
 * LibreOffice last laid out a page) starts a new page. ODS: one unit per
 * sheet, as XLSX; cells already hold the text as displayed (text:p), merged
 * cells repeat the covering cell's value, and repeated rows and columns are
 * expanded only where they hold text. ODP: one unit per draw:page, the
 * title frame as heading, speaker notes marked "Notes:".
 */
#include "ingest/office.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_COLS = 16384, MAX_REPEAT = 1000 };

typedef struct {
    office_reader *r;
    int n_notes;
    int page;
    bool page_break;
    size_t break_at; /* the paragraph's text length where it came */
} odf;

static int blocks(odf *o, fz_xml *parent, int depth, const char *prefix);

static void plain(odf *o, fz_xml *x, dq_buf *b, int depth);

/* Inline content of a paragraph into b. */
static void inline_text(odf *o, fz_xml *x, dq_buf *b, int depth)
{
    for (fz_xml *c = fz_xml_down(x); c; c = fz_xml_next(c)) {
        if (!fz_xml_tag(c)) {
            office_put_text(b, c);
        } else if (office_is(c, "s") || office_is(c, "tab") || office_is(c, "line-break")) {
            dq_buf_putc(b, ' ');
        } else if (office_is(c, "soft-page-break")) {
            if (!o->page_break)
                o->break_at = b->len;
            o->page_break = true;
        } else if (office_is(c, "note")) {
            const char *cls = office_att(c, "note-class");
            bool end = cls && !strcmp(cls, "endnote");
            dq_buf n = DQ_BUF_INIT;
            dq_buf_printf(&n, "[%s %d] ", end ? "endnote" : "footnote", ++o->n_notes);
            size_t head = n.len;
            plain(o, office_child(c, "note-body"), &n, depth + 1);
            if (n.len > head)
                office_defer(o->r, dq_buf_take(&n));
            dq_buf_free(&n);
        } else if (office_is(c, "frame") || office_is(c, "text-box") ||
                   office_is(c, "custom-shape")) {
            dq_buf box = DQ_BUF_INIT;
            plain(o, c, &box, depth + 1);
            if (box.len)
                office_defer(o->r, dq_buf_take(&box));
            dq_buf_free(&box);
        } else if (office_is(c, "annotation") || office_is(c, "note-citation") ||
                   office_is(c, "tracked-changes")) {
            /* comments, note numbers, deleted text */
        } else {
            inline_text(o, c, b, depth + 1);
        }
    }
}

/* Every paragraph under x joined by spaces. */
static void plain(odf *o, fz_xml *x, dq_buf *b, int depth)
{
    for (fz_xml *c = x ? fz_xml_down(x) : NULL; c; c = fz_xml_next(c)) {
        if (office_is(c, "p") || office_is(c, "h")) {
            if (b->len)
                dq_buf_putc(b, ' ');
            inline_text(o, c, b, depth + 1);
        } else if (fz_xml_tag(c) && !office_is(c, "tracked-changes")) {
            plain(o, c, b, depth + 1);
        }
    }
}

static void next_page(odf *o)
{
    o->page++;
    office_unit(o->r, o->page, NULL);
}

static int para(odf *o, fz_xml *p, int heading, const char *prefix, int depth)
{
    dq_buf b = DQ_BUF_INIT;
    if (prefix)
        dq_buf_puts(&b, prefix);
    size_t head = b.len;
    o->page_break = false;
    inline_text(o, p, &b, depth + 1);
    bool before = o->page_break && o->break_at <= head;
    if (before && o->page > 0)
        next_page(o);
    int rc = b.len > head ? office_para(o->r, b.data, heading, 0) : 0;
    dq_buf_free(&b);
    if (rc == 0)
        rc = office_flush_deferred(o->r, true);
    if (o->page_break && !before && o->page > 0)
        next_page(o);
    return rc;
}

/* ---- tables (ODT tables and ODS sheets) ---------------------------------- */

typedef struct {
    char **vals; /* (n) the covering cell's value per column, for merges below */
    int *rows;   /* rows each still covers */
    size_t n;
} cover;

static void cover_set(cover *cv, size_t col, const char *v, int rows)
{
    if (col >= cv->n) {
        size_t n = col + 1;
        cv->vals = dq_realloc(cv->vals, n * sizeof *cv->vals);
        cv->rows = dq_realloc(cv->rows, n * sizeof *cv->rows);
        memset(cv->vals + cv->n, 0, (n - cv->n) * sizeof *cv->vals);
        memset(cv->rows + cv->n, 0, (n - cv->n) * sizeof *cv->rows);
        cv->n = n;
    }
    free(cv->vals[col]);
    cv->vals[col] = v ? dq_strdup(v) : NULL;
    cv->rows[col] = rows;
}

static void cover_free(cover *cv)
{
    for (size_t i = 0; i < cv->n; i++)
        free(cv->vals[i]);
    free(cv->vals);
    free(cv->rows);
}

static int att_int(fz_xml *x, const char *name, int dflt, int max)
{
    const char *v = office_att(x, name);
    long n = v ? atol(v) : dflt;
    return n < 1 ? 1 : n > max ? max : (int)n;
}

/* One table:table-row into cells (n set); true when any cell has text. */
static bool row_cells(odf *o, fz_xml *row, cover *cv, char ***cells, size_t *cap, size_t *n,
                      int depth)
{
    bool any = false;
    size_t col = 0;
    *n = 0;
    for (fz_xml *c = fz_xml_down(row); c && col < MAX_COLS; c = fz_xml_next(c)) {
        bool covered = office_is(c, "covered-table-cell");
        if (!covered && !office_is(c, "table-cell"))
            continue;
        int rep = att_int(c, "number-columns-repeated", 1, MAX_COLS);
        dq_buf b = DQ_BUF_INIT;
        if (!covered)
            plain(o, c, &b, depth + 1);
        int span_c = covered ? 1 : att_int(c, "number-columns-spanned", 1, 1024);
        int span_r = covered ? 1 : att_int(c, "number-rows-spanned", 1, 1 << 20);
        const char *text = b.len ? b.data : NULL;
        if (!covered && !text && span_c == 1 && span_r == 1) {
            col += (size_t)rep; /* empty cells, often thousands repeated */
            dq_buf_free(&b);
            continue;
        }
        for (int k = 0; k < rep && col < MAX_COLS; k++, col++) {
            const char *v = text;
            if (covered && col < cv->n && cv->rows[col] > 0)
                v = cv->vals[col];
            if (!covered && (span_c > 1 || span_r > 1))
                for (int s = 0; s < span_c; s++)
                    cover_set(cv, col + (size_t)s, v, span_r);
            if (v) {
                DQ_GROW(*cells, *cap, col + 1);
                for (size_t i = *n; i < col; i++)
                    (*cells)[i] = NULL;
                (*cells)[col] = dq_strdup(v);
                *n = col + 1;
                any = true;
            }
        }
        dq_buf_free(&b);
    }
    /* the rows a vertical merge still covers, less this one */
    for (size_t i = 0; i < cv->n; i++)
        if (cv->rows[i] > 0)
            cv->rows[i]--;
    return any;
}

static int table(odf *o, fz_xml *tbl, bool sheet, int depth)
{
    office_table t;
    memset(&t, 0, sizeof t);
    cover cv = {NULL, NULL, 0};
    char **cells = NULL;
    size_t cap = 0, n = 0;
    int row_no = 0, rc = 0;
    /* rows sit directly in the table or inside header-rows / row-groups */
    fz_xml *stack[8];
    int sp = 0;
    fz_xml *x = fz_xml_down(tbl);
    while (rc == 0) {
        if (!x) {
            if (sp == 0)
                break;
            x = fz_xml_next(stack[--sp]);
            continue;
        }
        if ((office_is(x, "table-header-rows") || office_is(x, "table-row-group") ||
             office_is(x, "table-rows")) &&
            sp < 8) {
            stack[sp++] = x;
            x = fz_xml_down(x);
            continue;
        }
        if (office_is(x, "table-row")) {
            int rep = att_int(x, "number-rows-repeated", 1, 1 << 20);
            bool any = row_cells(o, x, &cv, &cells, &cap, &n, depth + 1);
            /* a repeated row with text is written MAX_REPEAT times at most */
            for (int k = 0; any && k < rep && k < MAX_REPEAT && rc == 0; k++) {
                rc = office_table_row(o->r, &t, (const char *const *)cells, n,
                                      sheet ? row_no + k + 1 : 0);
                if (rc == 0 && !sheet)
                    rc = office_flush_deferred(o->r, true);
            }
            row_no += rep;
            for (size_t i = 0; i < n; i++)
                free(cells[i]);
        }
        x = fz_xml_next(x);
    }
    free(cells);
    cover_free(&cv);
    office_table_free(&t);
    return rc;
}

/* ---- ODT ------------------------------------------------------------------ */

static int blocks(odf *o, fz_xml *parent, int depth, const char *prefix)
{
    int rc = 0;
    for (fz_xml *c = fz_xml_down(parent); c && rc == 0; c = fz_xml_next(c)) {
        if (office_is(c, "h")) {
            rc = para(o, c, att_int(c, "outline-level", 1, 9), NULL, depth + 1);
        } else if (office_is(c, "p")) {
            rc = para(o, c, 0, prefix, depth + 1);
            prefix = NULL;
        } else if (office_is(c, "list")) {
            for (fz_xml *item = fz_xml_down(c); item && rc == 0; item = fz_xml_next(item))
                if (office_is(item, "list-item") || office_is(item, "list-header"))
                    rc = blocks(o, item, depth + 1, "• ");
        } else if (office_is(c, "table")) {
            rc = table(o, c, false, depth + 1);
        } else if (office_is(c, "soft-page-break")) {
            if (o->page > 0)
                next_page(o);
        } else if (office_is(c, "section")) {
            rc = blocks(o, c, depth + 1, NULL);
        }
    }
    return rc;
}

static int master_pages(odf *o)
{
    fz_xml *doc = office_read_xml(o->r, "styles.xml", false);
    if (!doc)
        return o->r->err[0] ? -1 : 0;
    fz_xml *ms = office_child(fz_xml_root(doc), "master-styles");
    char **seen = NULL;
    size_t n_seen = 0, cap = 0;
    int rc = 0;
    for (fz_xml *mp = fz_xml_down(ms); mp && rc == 0; mp = fz_xml_next(mp)) {
        for (fz_xml *hf = fz_xml_down(mp); hf && rc == 0; hf = fz_xml_next(hf)) {
            if (!office_is(hf, "header") && !office_is(hf, "footer"))
                continue;
            dq_buf b = DQ_BUF_INIT;
            plain(o, hf, &b, 1);
            bool dup = false;
            for (size_t k = 0; k < n_seen && !dup; k++)
                dup = !strcmp(seen[k], b.data ? b.data : "");
            if (b.len && !dup && n_seen < 64) {
                rc = office_para(o->r, b.data, 0, 0);
                DQ_GROW(seen, cap, n_seen + 1);
                seen[n_seen++] = dq_buf_take(&b);
            }
            dq_buf_free(&b);
        }
    }
    for (size_t i = 0; i < n_seen; i++)
        free(seen[i]);
    free(seen);
    office_flush_deferred(o->r, false);
    o->n_notes = 0;
    office_drop_xml(o->r, doc);
    return rc;
}

/* ---- ODS and ODP ---------------------------------------------------------- */

/* Is the sheet's automatic style (styles: indexed by name) display="false"? */
static bool sheet_hidden(const office_index *styles, fz_xml *tbl)
{
    long at = office_index_find(styles, office_att(tbl, "style-name"));
    if (at < 0)
        return false;
    fz_xml *props = office_child(styles->items[at].node, "table-properties");
    const char *d = office_att(props, "display");
    return d && !strcmp(d, "false");
}

static int frames(odf *o, fz_xml *page, int depth, const char *prefix)
{
    int rc = 0;
    for (fz_xml *f = fz_xml_down(page); f && rc == 0; f = fz_xml_next(f)) {
        if (!fz_xml_tag(f) || office_is(f, "notes") || office_is(f, "forms"))
            continue;
        const char *cls = office_att(f, "class");
        bool title = cls && !strcmp(cls, "title");
        fz_xml *tbl = office_child(f, "table");
        fz_xml *box = office_child(f, "text-box");
        fz_xml *body = box ? box : f;
        if (tbl) {
            rc = table(o, tbl, false, depth + 1);
        } else if (office_is(f, "g")) {
            rc = depth < 32 ? frames(o, f, depth + 1, prefix) : 0;
        } else if (title) {
            for (fz_xml *p = fz_xml_down(body); p && rc == 0; p = fz_xml_next(p))
                if (office_is(p, "p") || office_is(p, "h"))
                    rc = para(o, p, 1, NULL, depth + 1);
        } else {
            rc = blocks(o, body, depth + 1, prefix);
        }
    }
    return rc;
}

int office_read_odf(office_reader *r, office_kind kind)
{
    odf o;
    memset(&o, 0, sizeof o);
    o.r = r;
    r->out->cite = kind == OFFICE_ODT ? CITE_SECTIONS : CITE_UNITS;
    fz_xml *doc = office_read_xml(r, "content.xml", true);
    if (!doc)
        return -1;
    fz_xml *root = fz_xml_root(doc);
    fz_xml *body = office_child(root, "body");
    int rc = 0;
    if (kind == OFFICE_ODT) {
        o.page = 1;
        office_unit(r, 1, NULL);
        rc = master_pages(&o);
        if (rc == 0)
            rc = blocks(&o, office_child(body, "text"), 1, NULL);
    } else if (kind == OFFICE_ODS) {
        office_index styles;
        office_index_build(&styles, office_child(root, "automatic-styles"), "style", "name");
        int number = 0;
        for (fz_xml *t = fz_xml_down(office_child(body, "spreadsheet")); t && rc == 0;
             t = fz_xml_next(t)) {
            if (!office_is(t, "table"))
                continue;
            number++;
            if (sheet_hidden(&styles, t))
                continue;
            const char *name = office_att(t, "name");
            char label[600];
            snprintf(label, sizeof label, "sheet %s", name ? name : "");
            office_unit(r, number, label);
            rc = office_para(r, name ? name : "", 1, 0);
            if (rc == 0)
                rc = table(&o, t, true, 1);
        }
        office_index_free(&styles);
    } else {
        int number = 0;
        for (fz_xml *pg = fz_xml_down(office_child(body, "presentation")); pg && rc == 0;
             pg = fz_xml_next(pg)) {
            if (!office_is(pg, "page"))
                continue;
            char label[32];
            snprintf(label, sizeof label, "slide %d", ++number);
            office_unit(r, number, label);
            rc = frames(&o, pg, 1, NULL);
            if (rc == 0)
                rc = frames(&o, office_child(pg, "notes"), 1, "Notes: ");
        }
    }
    office_drop_xml(r, doc);
    return rc;
}
