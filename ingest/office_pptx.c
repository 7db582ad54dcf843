/* office_pptx.c - PowerPoint decks (PPTX): one unit per slide, title first, then notes.
 *
 * Slides come in the order of presentation.xml's slide list and keep their
 * number in it ("slide 7" is the seventh slide as PowerPoint numbers it);
 * hidden slides are skipped. The title placeholder is the slide's heading.
 * Other shapes are read top to bottom, then left to right, when every one
 * has a position; a placeholder that inherits its position from the layout
 * has none here, and then the slide's own order (the order they were drawn)
 * is kept. Tables become rows in the shared table row format; groups are
 * read inside. Speaker notes follow the slide's text, marked "Notes:".
 */
#include "ingest/office.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    long long y, x; /* EMU; valid when placed */
    bool placed;
    fz_xml *shape;
    size_t order;
} shape_ref;

/* The text of a DrawingML text body, one string per paragraph, through emit. */
static int text_body(office_reader *r, fz_xml *body, const char *prefix, int heading)
{
    int rc = 0;
    for (fz_xml *p = fz_xml_down(body); p && rc == 0; p = fz_xml_next(p)) {
        if (!office_is(p, "p"))
            continue;
        dq_buf b = DQ_BUF_INIT;
        if (prefix)
            dq_buf_puts(&b, prefix);
        size_t head = b.len;
        for (fz_xml *run = fz_xml_down(p); run; run = fz_xml_next(run)) {
            if (office_is(run, "br")) {
                dq_buf_putc(&b, ' ');
                continue;
            }
            if (!office_is(run, "r") && !office_is(run, "fld"))
                continue;
            for (fz_xml *t = office_child(run, "t") ? fz_xml_down(office_child(run, "t")) : NULL;
                 t; t = fz_xml_next(t))
                office_put_text(&b, t);
        }
        if (b.len > head)
            rc = office_para(r, b.data, heading, 0);
        dq_buf_free(&b);
    }
    return rc;
}

/* All paragraphs of a text body joined by spaces (a table cell). */
static char *joined_text(fz_xml *body)
{
    dq_buf b = DQ_BUF_INIT;
    for (fz_xml *p = fz_xml_down(body); p; p = fz_xml_next(p)) {
        if (!office_is(p, "p"))
            continue;
        if (b.len)
            dq_buf_putc(&b, ' ');
        for (fz_xml *run = fz_xml_down(p); run; run = fz_xml_next(run)) {
            fz_xml *t = office_child(run, "t");
            for (fz_xml *n = t ? fz_xml_down(t) : NULL; n; n = fz_xml_next(n))
                office_put_text(&b, n);
        }
    }
    return dq_buf_take(&b);
}

static int table(office_reader *r, fz_xml *tbl)
{
    office_table t;
    memset(&t, 0, sizeof t);
    int rc = 0;
    for (fz_xml *tr = fz_xml_down(tbl); tr && rc == 0; tr = fz_xml_next(tr)) {
        if (!office_is(tr, "tr"))
            continue;
        char **cells = NULL;
        size_t n = 0, cap = 0;
        for (fz_xml *tc = fz_xml_down(tr); tc; tc = fz_xml_next(tc)) {
            if (!office_is(tc, "tc"))
                continue;
            DQ_GROW(cells, cap, n + 1);
            cells[n++] = joined_text(office_child(tc, "txBody"));
        }
        rc = office_table_row(r, &t, (const char *const *)cells, n, 0);
        for (size_t i = 0; i < n; i++)
            free(cells[i]);
        free(cells);
    }
    office_table_free(&t);
    return rc;
}

static const char *placeholder(fz_xml *shape)
{
    for (fz_xml *c = fz_xml_down(shape); c; c = fz_xml_next(c)) {
        fz_xml *nv = office_child(c, "nvPr");
        fz_xml *ph = office_child(nv, "ph");
        if (ph) {
            const char *type = office_att(ph, "type");
            return type ? type : "body";
        }
    }
    return NULL;
}

static bool is_title(fz_xml *shape)
{
    const char *ph = placeholder(shape);
    return ph && (!strcmp(ph, "title") || !strcmp(ph, "ctrTitle"));
}

static int cmp_shape(const void *a, const void *b)
{
    const shape_ref *p = a, *q = b;
    /* a row of shapes whose tops are within ~0.25 cm reads left to right */
    if (p->y / 90000 != q->y / 90000)
        return p->y / 90000 < q->y / 90000 ? -1 : 1;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    return p->order < q->order ? -1 : p->order > q->order;
}

static int shapes(office_reader *r, fz_xml *tree, int depth, bool titles);

static int shape(office_reader *r, fz_xml *s, int depth)
{
    if (office_is(s, "sp"))
        return text_body(r, office_child(s, "txBody"), NULL, 0);
    if (office_is(s, "grpSp"))
        return depth < 32 ? shapes(r, s, depth + 1, false) : 0;
    if (office_is(s, "graphicFrame")) {
        fz_xml *data = office_child(office_child(s, "graphic"), "graphicData");
        fz_xml *tbl = office_child(data, "tbl");
        return tbl ? table(r, tbl) : 0;
    }
    return 0;
}

/* The shapes of a tree (slide or group): titles first when asked, then the
 * rest in reading order. */
static int shapes(office_reader *r, fz_xml *tree, int depth, bool titles)
{
    shape_ref *refs = NULL;
    size_t n = 0, cap = 0;
    bool all_placed = true;
    int rc = 0;
    for (fz_xml *s = fz_xml_down(tree); s && rc == 0; s = fz_xml_next(s)) {
        if (!office_is(s, "sp") && !office_is(s, "grpSp") && !office_is(s, "graphicFrame"))
            continue;
        if (titles && is_title(s)) {
            rc = text_body(r, office_child(s, "txBody"), NULL, 1);
            continue;
        }
        fz_xml *pr = office_child(s, office_is(s, "grpSp") ? "grpSpPr" : "spPr");
        fz_xml *xfrm = office_child(pr, "xfrm");
        if (!xfrm)
            xfrm = office_child(s, "xfrm"); /* graphicFrame keeps it outside spPr */
        fz_xml *off = office_child(xfrm, "off");
        DQ_GROW(refs, cap, n + 1);
        shape_ref *ref = &refs[n];
        ref->shape = s;
        ref->order = n++;
        ref->placed = off && office_att(off, "x") && office_att(off, "y");
        ref->x = ref->placed ? atoll(office_att(off, "x")) : 0;
        ref->y = ref->placed ? atoll(office_att(off, "y")) : 0;
        all_placed &= ref->placed;
    }
    if (all_placed && n > 1)
        qsort(refs, n, sizeof *refs, cmp_shape);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = shape(r, refs[i].shape, depth);
    free(refs);
    return rc;
}

static int notes(office_reader *r, const char *slide_part)
{
    char *part = office_rel_target(r, slide_part, NULL, "/notesSlide");
    fz_xml *doc = part ? office_read_xml(r, part, false) : NULL;
    free(part);
    if (!doc)
        return r->err[0] ? -1 : 0;
    fz_xml *tree = office_child(office_child(fz_xml_root(doc), "cSld"), "spTree");
    int rc = 0;
    for (fz_xml *s = fz_xml_down(tree); s && rc == 0; s = fz_xml_next(s)) {
        const char *ph = placeholder(s);
        if (office_is(s, "sp") && ph && !strcmp(ph, "body"))
            rc = text_body(r, office_child(s, "txBody"), "Notes: ", 0);
    }
    office_drop_xml(r, doc);
    return rc;
}

int office_read_pptx(office_reader *r)
{
    r->out->cite = CITE_UNITS;
    char *pres = office_main_part(r, "ppt/presentation.xml");
    fz_xml *doc = office_read_xml(r, pres, true);
    int rc = doc ? 0 : -1;
    /* Every slide's part first, while the presentation's relationships are
     * the ones cached: each slide's notes are looked up in its own. */
    char **parts = NULL;
    size_t n = 0, cap = 0;
    fz_xml *list = doc ? office_child(fz_xml_root(doc), "sldIdLst") : NULL;
    for (fz_xml *id = list ? fz_xml_down(list) : NULL; id; id = fz_xml_next(id)) {
        const char *rid = fz_xml_att(id, "r:id");
        if (!office_is(id, "sldId") || !rid)
            continue;
        DQ_GROW(parts, cap, n + 1);
        parts[n++] = office_rel_target(r, pres, rid, NULL);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        int number = (int)i + 1;
        char *part = parts[i];
        fz_xml *slide = part ? office_read_xml(r, part, false) : NULL;
        if (!slide && r->err[0])
            rc = -1;
        fz_xml *root = slide ? fz_xml_root(slide) : NULL;
        const char *show = office_att(root, "show");
        if (root && !(show && (!strcmp(show, "0") || !strcmp(show, "false")))) {
            char label[32];
            snprintf(label, sizeof label, "slide %d", number);
            office_unit(r, number, label);
            rc = shapes(r, office_child(office_child(root, "cSld"), "spTree"), 0, true);
            if (rc == 0)
                rc = notes(r, part);
        }
        office_drop_xml(r, slide);
    }
    for (size_t i = 0; i < n; i++)
        free(parts[i]);
    free(parts);
    office_drop_xml(r, doc);
    free(pres);
    return rc;
}
