/* office_xlsx.c - Excel workbooks (XLSX): one unit per visible sheet, one line per row.
 *
 * Sheets come in the workbook's order; hidden and very hidden sheets are
 * skipped (they hold lookup tables and scratch work, not what the reader
 * sees). The sheet's name is its heading, its first row with text the table
 * header, and every later row one line in the shared table row format, so
 * each row carries its column headers into whatever chunk it lands in. Cells
 * show what Excel shows: shared and inline strings, numbers and dates through
 * their number format (office_numfmt.c), formulas through the value Excel
 * cached when it saved, booleans as TRUE/FALSE. A merged range shows its
 * top-left value in every cell it covers, so a row keeps the label of a
 * category merged down the first column.
 */
#include "ingest/office.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_COLS = 16384, MAX_MERGES = 4096 };

typedef struct {
    int r0, c0, r1, c1; /* 1-based rows, 0-based columns, inclusive */
    char *value;        /* the top-left cell's text, once its row is read */
} merge_range;

typedef struct {
    office_reader *r;
    char **strings; /* (n_strings) the shared-string table */
    size_t n_strings;
    int *xf_fmt; /* (n_xf) number format id of each cell style */
    size_t n_xf;
    office_entry *fmts; /* (n_fmts) custom number formats, code by id ("164"), sorted */
    size_t n_fmts;
    bool date1904;
    fz_xml *styles_doc; /* the formats' nodes live in it */
} xlsx;

/* The text of a string item (<si> or <is>): its <t> and its runs' <t>,
 * without phonetic guides (<rPh>). */
static void string_item(fz_xml *si, dq_buf *b)
{
    for (fz_xml *c = fz_xml_down(si); c; c = fz_xml_next(c)) {
        if (office_is(c, "t")) {
            for (fz_xml *t = fz_xml_down(c); t; t = fz_xml_next(t))
                office_put_text(b, t);
        } else if (office_is(c, "r")) {
            string_item(c, b);
        }
    }
}

static int load_strings(xlsx *x, const char *wb)
{
    char *part = office_rel_target(x->r, wb, NULL, "/sharedStrings");
    fz_xml *doc = part ? office_read_xml(x->r, part, false) : NULL;
    free(part);
    if (!doc)
        return x->r->err[0] ? -1 : 0;
    size_t cap = 0;
    int rc = 0;
    for (fz_xml *si = fz_xml_down(fz_xml_root(doc)); si; si = fz_xml_next(si)) {
        if (!office_is(si, "si"))
            continue;
        if (x->n_strings >= OFFICE_MAX_STRINGS) {
            rc = office_fail(x->r, "shared-string table has over %d strings (the limit)",
                             (int)OFFICE_MAX_STRINGS);
            break;
        }
        dq_buf b = DQ_BUF_INIT;
        string_item(si, &b);
        DQ_GROW(x->strings, cap, x->n_strings + 1);
        x->strings[x->n_strings++] = dq_buf_take(&b);
    }
    office_drop_xml(x->r, doc);
    return rc;
}

static void load_styles(xlsx *x, const char *wb)
{
    char *part = office_rel_target(x->r, wb, NULL, "/styles");
    fz_xml *doc = part ? office_read_xml(x->r, part, false) : NULL;
    free(part);
    if (!doc)
        return;
    fz_xml *root = fz_xml_root(doc);
    office_index ix;
    office_index_build(&ix, office_child(root, "numFmts"), "numFmt", "numFmtId");
    x->fmts = ix.items; /* key: the id, node: the numFmt (lives with doc) */
    x->n_fmts = ix.n;
    x->styles_doc = doc;
    size_t cap = 0;
    for (fz_xml *f = fz_xml_down(office_child(root, "cellXfs")); f; f = fz_xml_next(f)) {
        if (!office_is(f, "xf"))
            continue;
        const char *id = office_att(f, "numFmtId");
        DQ_GROW(x->xf_fmt, cap, x->n_xf + 1);
        x->xf_fmt[x->n_xf++] = id ? atoi(id) : 0;
    }
}

static const char *format_code(const xlsx *x, const char *style)
{
    long s = style ? atol(style) : 0;
    if (s < 0 || (size_t)s >= x->n_xf)
        return NULL;
    int id = x->xf_fmt[s];
    char key[16];
    snprintf(key, sizeof key, "%d", id);
    office_index ix = {x->fmts, x->n_fmts};
    long at = office_index_find(&ix, key);
    const char *code = at < 0 ? NULL : office_att(x->fmts[at].node, "formatCode");
    return code ? code : office_builtin_format(id);
}

/* "AB12" -> column 27 (0-based), row 12; false when malformed. */
static bool parse_ref(const char *ref, int *col, int *row)
{
    int c = 0, r = 0, letters = 0;
    for (; *ref >= 'A' && *ref <= 'Z' && letters < 4; ref++, letters++)
        c = c * 26 + (*ref - 'A' + 1);
    for (; *ref >= '0' && *ref <= '9' && r < 10000000; ref++)
        r = r * 10 + (*ref - '0');
    if (*ref || letters == 0 || c > MAX_COLS || r < 1)
        return false;
    *col = c - 1;
    *row = r;
    return true;
}

/* The text a cell shows (caller frees), or NULL when empty. */
static char *cell_text(const xlsx *x, fz_xml *c)
{
    const char *t = office_att(c, "t");
    fz_xml *v = office_child(c, "v");
    dq_buf b = DQ_BUF_INIT;
    if (t && !strcmp(t, "inlineStr")) {
        string_item(office_child(c, "is"), &b);
        return dq_buf_take(&b);
    }
    if (!v)
        return NULL;
    for (fz_xml *n = fz_xml_down(v); n; n = fz_xml_next(n))
        office_put_text(&b, n);
    char *raw = dq_buf_take(&b);
    if (t && !strcmp(t, "s")) {
        long i = atol(raw);
        free(raw);
        return i >= 0 && (size_t)i < x->n_strings ? dq_strdup(x->strings[i]) : NULL;
    }
    if (t && !strcmp(t, "b")) {
        bool on = raw[0] == '1';
        free(raw);
        return dq_strdup(on ? "TRUE" : "FALSE");
    }
    if (t && strcmp(t, "n")) /* str (a formula's text), e (#DIV/0!), d (ISO date) */
        return raw;
    char *end;
    double d = strtod(raw, &end);
    if (end == raw)
        return raw;
    free(raw);
    return office_format_number(d, format_code(x, office_att(c, "s")), x->date1904);
}

static size_t load_merges(fz_xml *root, merge_range *m)
{
    size_t n = 0;
    for (fz_xml *mc = fz_xml_down(office_child(root, "mergeCells")); mc && n < MAX_MERGES;
         mc = fz_xml_next(mc)) {
        const char *ref = office_att(mc, "ref");
        char a[32], b[32];
        const char *colon = ref ? strchr(ref, ':') : NULL;
        if (!office_is(mc, "mergeCell") || !colon || colon - ref >= 32 || strlen(colon) >= 32)
            continue;
        snprintf(a, sizeof a, "%.*s", (int)(colon - ref), ref);
        snprintf(b, sizeof b, "%s", colon + 1);
        merge_range g = {0, 0, 0, 0, NULL};
        if (parse_ref(a, &g.c0, &g.r0) && parse_ref(b, &g.c1, &g.r1) && g.r0 <= g.r1 &&
            g.c0 <= g.c1)
            m[n++] = g;
    }
    return n;
}

static int cmp_merge(const void *a, const void *b)
{
    const merge_range *p = a, *q = b;
    return (p->r0 > q->r0) - (p->r0 < q->r0);
}

static int sheet(xlsx *x, const char *part, const char *name, int number)
{
    office_reader *r = x->r;
    fz_xml *doc = office_read_xml(r, part, true);
    if (!doc)
        return -1;
    char label[600];
    snprintf(label, sizeof label, "sheet %s", name);
    office_unit(r, number, label);
    int rc = office_para(r, name, 1, 0);
    fz_xml *root = fz_xml_root(doc);
    merge_range *merges = dq_malloc(MAX_MERGES * sizeof *merges);
    size_t n_merges = load_merges(root, merges);
    qsort(merges, n_merges, sizeof *merges, cmp_merge);
    /* the merges covering the current row: those begun (merges[0..next))
     * and not yet ended */
    size_t *active = dq_malloc(MAX_MERGES * sizeof *active);
    size_t n_active = 0, next = 0;
    office_table t;
    memset(&t, 0, sizeof t);
    char **cells = NULL;
    size_t cells_cap = 0;
    int row_no = 0;
    for (fz_xml *row = fz_xml_down(office_child(root, "sheetData")); row && rc == 0;
         row = fz_xml_next(row)) {
        if (!office_is(row, "row"))
            continue;
        const char *rs = office_att(row, "r");
        row_no = rs ? atoi(rs) : row_no + 1;
        size_t n = 0;
        int col = -1;
        for (fz_xml *c = fz_xml_down(row); c; c = fz_xml_next(c)) {
            if (!office_is(c, "c"))
                continue;
            const char *ref = office_att(c, "r");
            int rr;
            if (!ref || !parse_ref(ref, &col, &rr))
                col++;
            if (col >= MAX_COLS)
                break;
            char *text = cell_text(x, c);
            if (!text)
                continue;
            if ((size_t)col >= n) {
                DQ_GROW(cells, cells_cap, (size_t)col + 1);
                memset(cells + n, 0, ((size_t)col + 1 - n) * sizeof *cells);
                n = (size_t)col + 1;
            }
            free(cells[col]);
            cells[col] = text;
        }
        while (next < n_merges && merges[next].r0 <= row_no)
            active[n_active++] = next++;
        for (size_t a = 0; a < n_active;) {
            merge_range *g = &merges[active[a]];
            if (g->r1 < row_no) {
                active[a] = active[--n_active];
                continue;
            }
            a++;
            if (row_no == g->r0 && !g->value && (size_t)g->c0 < n && cells[g->c0])
                g->value = dq_strdup(cells[g->c0]);
            if (!g->value)
                continue;
            /* Down the first column (a category's label on every row); across
             * only in the header, where each spanned column needs its name. */
            int last = t.has_header ? g->c0 : g->c1;
            if ((size_t)last >= n) {
                DQ_GROW(cells, cells_cap, (size_t)last + 1);
                memset(cells + n, 0, ((size_t)last + 1 - n) * sizeof *cells);
                n = (size_t)last + 1;
            }
            for (int k = g->c0; k <= last; k++)
                if (!cells[k] && (k > g->c0 || row_no > g->r0))
                    cells[k] = dq_strdup(g->value);
        }
        rc = office_table_row(r, &t, (const char *const *)cells, n, row_no);
        for (size_t i = 0; i < n; i++) {
            free(cells[i]);
            cells[i] = NULL;
        }
    }
    free(cells);
    for (size_t m = 0; m < n_merges; m++)
        free(merges[m].value);
    free(merges);
    free(active);
    office_table_free(&t);
    office_drop_xml(r, doc);
    return rc;
}

int office_read_xlsx(office_reader *r)
{
    xlsx x;
    memset(&x, 0, sizeof x);
    x.r = r;
    r->out->cite = CITE_UNITS;
    char *wb = office_main_part(r, "xl/workbook.xml");
    fz_xml *doc = office_read_xml(r, wb, true);
    int rc = doc ? load_strings(&x, wb) : -1;
    if (rc == 0) {
        load_styles(&x, wb);
        fz_xml *root = fz_xml_root(doc);
        const char *d1904 = office_att(office_child(root, "workbookPr"), "date1904");
        x.date1904 = d1904 && (!strcmp(d1904, "1") || !strcmp(d1904, "true"));
        int number = 0;
        for (fz_xml *s = fz_xml_down(office_child(root, "sheets")); s && rc == 0;
             s = fz_xml_next(s)) {
            if (!office_is(s, "sheet"))
                continue;
            number++;
            const char *state = office_att(s, "state");
            const char *name = office_att(s, "name");
            const char *rid = office_att(s, "id");
            if ((state && strcmp(state, "visible")) || !rid)
                continue;
            char *part = office_rel_target(r, wb, rid, NULL);
            if (part)
                rc = sheet(&x, part, name ? name : "", number);
            free(part);
        }
    }
    for (size_t i = 0; i < x.n_strings; i++)
        free(x.strings[i]);
    free(x.strings);
    free(x.fmts);
    office_drop_xml(r, x.styles_doc);
    free(x.xf_fmt);
    office_drop_xml(r, doc);
    free(wb);
    return rc;
}
