/* test_tables.c - tables on PDF pages (ingest/tables.c): rows with their
 * headers, ruled and unruled, across pages, beside prose; the splitter's
 * handling of rows; and rows of real filings when ../shared is there. */
#include "common/common.h"
#include "ingest/ingest.h"
#include "support/pdfgen.h"
#include "support/run.h"
#include "support/tmpdir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/dq_tables_XXXXXX";

static void setup(void)
{
    strcpy(dir, "/tmp/dq_tables_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    cr_expect_eq(tmpdir_remove(dir), 0);
}

TestSuite(tables, .init = setup, .fini = teardown);

static const char *path_in(const char *name)
{
    return tmpdir_path(dir, name);
}

/* ---- building pages ------------------------------------------------------ */

typedef struct {
    pdfgen_item *items;
    size_t n, cap;
} layout;

static void text_at(layout *l, int page, float x, float y, const char *text)
{
    DQ_GROW(l->items, l->cap, l->n + 1);
    l->items[l->n++] = (pdfgen_item){page, x, y, text, 10, 0, 0};
}

/* Text whose right edge is at x (Helvetica digits and signs are 0.556 em,
 * parentheses and commas less: close enough for right alignment). */
static void right_at(layout *l, int page, float x, float y, const char *text)
{
    text_at(l, page, x - 5.56f * (float)strlen(text), y, text);
}

static void rule(layout *l, int page, float x0, float y0, float x1, float y1)
{
    DQ_GROW(l->items, l->cap, l->n + 1);
    l->items[l->n++] = (pdfgen_item){page, x0, y0, NULL, 0, x1, y1};
}

/* Writes l's n_pages to path as a PDF and frees its items. */
static void write_layout(layout *l, const char *path, int n_pages)
{
    cr_assert_eq(pdfgen_write_items(path, l->items, l->n, n_pages), 0, "%s", dq_last_error());
    free(l->items);
    *l = (layout){0};
}

typedef struct {
    const char *label, *a, *b;
} fin_row;

static const fin_row cash_flow[] = {
    {"Net income", "$ 1,000", "$ 900"},
    {"Depreciation and amortization", "250", "240"},
    {"Purchases of property, plant and equipment", "(1,577)", "(1,373)"},
    {"Proceeds from sales of assets", "12", "8"},
    {"Net cash used in investing activities", "(1,565)", "(1,365)"},
};

/* Rows of a statement from y on: label at 72, "$" set apart from its
 * number, numbers right-aligned at 430 and 510. */
static float statement_rows(layout *l, int page, float y, const fin_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++, y += 15) {
        text_at(l, page, 72, y, rows[i].label);
        const char *a = rows[i].a, *b = rows[i].b;
        if (a[0] == '$') {
            text_at(l, page, 380, y, "$");
            a += 2;
        }
        if (b[0] == '$') {
            text_at(l, page, 460, y, "$");
            b += 2;
        }
        right_at(l, page, 430, y, a);
        right_at(l, page, 510, y, b);
    }
    return y;
}

/* ---- reading them back --------------------------------------------------- */

typedef struct {
    ingest_raw_doc raw;
    ingest_doc doc;
} read_doc;

static void read_pdf(const char *path, read_doc *d)
{
    cr_assert_eq(ingest_extract(path, NULL, &d->raw), 0, "%s", dq_last_error());
    cr_assert_eq(ingest_clean(&d->raw, &d->doc), 0);
}

static void read_free(read_doc *d)
{
    ingest_doc_free(&d->doc);
    ingest_raw_doc_free(&d->raw);
}

/* The paragraph of page (1-based) equal to text, or NULL. */
static const ingest_para *para_eq(const ingest_doc *doc, int page, const char *text)
{
    for (size_t p = 0; p < doc->n_pages; p++)
        for (size_t i = 0; i < doc->pages[p].n_paras && doc->pages[p].number == page; i++)
            if (!strcmp(doc->pages[p].paras[i].text, text))
                return &doc->pages[p].paras[i];
    return NULL;
}

static char *dump(const ingest_doc *doc)
{
    dq_buf b = DQ_BUF_INIT;
    for (size_t p = 0; p < doc->n_pages; p++)
        for (size_t i = 0; i < doc->pages[p].n_paras; i++)
            dq_buf_printf(&b, "p%d t%d: %s\n", doc->pages[p].number, doc->pages[p].paras[i].table,
                          doc->pages[p].paras[i].text);
    return dq_buf_take(&b);
}

static void expect_row(const ingest_doc *doc, int page, const char *text, int table)
{
    const ingest_para *p = para_eq(doc, page, text);
    char *all = p ? NULL : dump(doc);
    cr_expect_not_null(p, "no row '%s' on page %d in:\n%s", text, page, all ? all : "");
    free(all);
    if (p)
        cr_expect_eq(p->table, table, "'%s'", text);
}

Test(tables, unruled_statement_keeps_numbers_under_their_years)
{
    layout l = {0};
    text_at(&l, 0, 72, 80, "Consolidated Statements of Cash Flows");
    right_at(&l, 0, 430, 130, "2018");
    right_at(&l, 0, 510, 130, "2017");
    float y = statement_rows(&l, 0, 150, cash_flow, 5);
    text_at(&l, 0, 72, y + 30, "The company invested mainly in new stores and distribution centres.");
    const char *pdf = path_in("cash.pdf");
    write_layout(&l, pdf, 1);

    read_doc d;
    read_pdf(pdf, &d);
    expect_row(&d.doc, 1, "2018 | 2017", 1);
    expect_row(&d.doc, 1, "Purchases of property, plant and equipment | 2018: (1,577) | 2017: (1,373)",
               1);
    expect_row(&d.doc, 1, "Net income | 2018: $ 1,000 | 2017: $ 900", 1);
    expect_row(&d.doc, 1, "Net cash used in investing activities | 2018: (1,565) | 2017: (1,365)", 1);
    expect_row(&d.doc, 1, "Consolidated Statements of Cash Flows", 0);
    expect_row(&d.doc, 1, "The company invested mainly in new stores and distribution centres.", 0);
    const ingest_para *row = para_eq(&d.doc, 1, "Depreciation and amortization | 2018: 250 | 2017: 240");
    cr_assert_not_null(row);
    cr_expect_str_eq(row->header, "2018 | 2017");
    cr_expect_null(para_eq(&d.doc, 1, "2018 | 2017")->header);
    /* Rows keep their font size: cleanup reads a page's body size off them. */
    size_t sized = 0;
    for (size_t b = 0; b < d.raw.pages[0].n_blocks; b++) {
        const ingest_block *blk = &d.raw.pages[0].blocks[b];
        for (size_t i = 0; blk->table && i < blk->n_lines; i++)
            sized += blk->lines[i].size == 10;
    }
    cr_expect_eq(sized, 6, "%zu of 6 rows sized", sized);

    /* The citation's highlight covers whole rows, label to last number. */
    chunk_list cl;
    split_params sp = split_default_params();
    cr_assert_eq(split_document(&d.doc, &sp, &cl), 0);
    cr_assert_eq(cl.n, 1);
    cr_expect(cl.items[0].table);
    ingest_box *boxes;
    size_t nb;
    cr_assert_eq(ingest_chunk_boxes(&d.raw, &cl.items[0], &boxes, &nb), 0);
    size_t rows = 0;
    for (size_t i = 0; i < nb; i++)
        rows += boxes[i].x0 <= 73 && boxes[i].x1 >= 490;
    cr_expect_eq(rows, 5, "%zu of %zu boxes span a row", rows, nb);
    free(boxes);
    chunk_list_free(&cl);
    read_free(&d);
}

Test(tables, ruled_grid_with_a_wrapped_cell)
{
    layout l = {0};
    static const float ys[] = {100, 118, 136, 164, 182};
    for (size_t i = 0; i < 5; i++)
        rule(&l, 0, 72, ys[i], 400, ys[i]);
    static const float xs[] = {72, 200, 300, 400};
    for (size_t i = 0; i < 4; i++)
        rule(&l, 0, xs[i], 100, xs[i], 182);
    text_at(&l, 0, 76, 113, "Parameter");
    text_at(&l, 0, 204, 113, "Value");
    text_at(&l, 0, 304, 113, "Unit");
    text_at(&l, 0, 76, 131, "Voltage");
    text_at(&l, 0, 204, 131, "220");
    text_at(&l, 0, 304, 131, "V");
    text_at(&l, 0, 76, 149, "Maximum operating");
    text_at(&l, 0, 76, 160, "temperature");
    text_at(&l, 0, 204, 149, "85");
    text_at(&l, 0, 304, 149, "C");
    text_at(&l, 0, 76, 177, "Weight");
    text_at(&l, 0, 204, 177, "1.2");
    text_at(&l, 0, 304, 177, "kg");
    const char *pdf = path_in("spec.pdf");
    write_layout(&l, pdf, 1);

    read_doc d;
    read_pdf(pdf, &d);
    expect_row(&d.doc, 1, "Parameter | Value | Unit", 1);
    expect_row(&d.doc, 1, "Voltage | Value: 220 | Unit: V", 1);
    expect_row(&d.doc, 1, "Maximum operating temperature | Value: 85 | Unit: C", 1);
    expect_row(&d.doc, 1, "Weight | Value: 1.2 | Unit: kg", 1);
    read_free(&d);
}

/* A superscript inside a row label ("$1.66 2/3 par value") is a line of its
 * own to MuPDF, touching the text on both sides: it stays in the label and
 * founds no column that would push the longer labels of other rows out of
 * the label column. */
Test(tables, superscript_in_a_label_stays_in_it)
{
    layout l = {0};
    right_at(&l, 0, 430, 130, "2018");
    right_at(&l, 0, 510, 130, "2017");
    float y = statement_rows(&l, 0, 150, cash_flow, 5);
    /* Helvetica advances: "Preferred shares, $1.66" is 10.505 em, a 6 pt
     * "2/3" 1.390 em. */
    text_at(&l, 0, 72, y, "Preferred shares, $1.66");
    DQ_GROW(l.items, l.cap, l.n + 1);
    l.items[l.n++] = (pdfgen_item){0, 72 + 105.05f, y - 5, "2/3", 6, 0, 0};
    text_at(&l, 0, 72 + 105.05f + 8.34f, y, " par value");
    right_at(&l, 0, 430, y, "5");
    right_at(&l, 0, 510, y, "5");
    const char *pdf = path_in("super.pdf");
    write_layout(&l, pdf, 1);

    read_doc d;
    read_pdf(pdf, &d);
    expect_row(&d.doc, 1, "Purchases of property, plant and equipment | 2018: (1,577) | 2017: (1,373)",
               1);
    expect_row(&d.doc, 1, "Preferred shares, $1.66 2/3 par value | 2018: 5 | 2017: 5", 1);
    read_free(&d);
}

/* A statement of 45 rows under a spanning header, 40 on page 1 and 5 on
 * page 2 (no header there), then prose. */
static void write_long_statement(const char *pdf, fin_row *rows, char (*labels)[48],
                                 char (*nums)[2][16])
{
    for (int i = 0; i < 45; i++) {
        snprintf(labels[i], 48, "Line item number %d of the statement", i + 1);
        snprintf(nums[i][0], 16, "%d", 1000 + i);
        snprintf(nums[i][1], 16, "%d", 2000 + i);
        rows[i] = (fin_row){labels[i], nums[i][0], nums[i][1]};
    }
    layout l = {0};
    text_at(&l, 0, 72, 60, "Segment information");
    text_at(&l, 0, 380, 80, "Year ended December 31,");
    right_at(&l, 0, 430, 95, "2018");
    right_at(&l, 0, 510, 95, "2017");
    statement_rows(&l, 0, 115, rows, 40);
    float y = statement_rows(&l, 1, 72, rows + 40, 5);
    text_at(&l, 1, 72, y + 30, "Segments are reported as the chief operating decision maker sees them.");
    write_layout(&l, pdf, 2);
}

Test(tables, table_across_pages_carries_its_header)
{
    fin_row rows[45];
    char labels[45][48], nums[45][2][16];
    const char *pdf = path_in("long.pdf");
    write_long_statement(pdf, rows, labels, nums);
    read_doc d;
    read_pdf(pdf, &d);
    expect_row(&d.doc, 1, "Year ended December 31, 2018 | Year ended December 31, 2017", 1);
    expect_row(&d.doc, 1,
               "Line item number 1 of the statement | 2018: 1000 | 2017: 2000",
               1);
    /* Page 2 has no header of its own: the rows carry page 1's. */
    expect_row(&d.doc, 2,
               "Line item number 45 of the statement | 2018: 1044 | 2017: 2044",
               1);
    expect_row(&d.doc, 2, "Segments are reported as the chief operating decision maker sees them.",
               0);

    /* Small chunks: the table spans several; none cuts a row, each that
     * goes on with it starts with the header line, and they say so. */
    split_params sp = split_default_params();
    sp.chunk_words = 60;
    chunk_list cl;
    cr_assert_eq(split_document(&d.doc, &sp, &cl), 0);
    cr_assert_gt(cl.n, 3);
    const char *header = "Year ended December 31, 2018 | Year ended December 31, 2017";
    size_t with_rows = 0;
    for (size_t i = 0; i < cl.n; i++) {
        const char *t = cl.items[i].text;
        if (!strstr(t, "Line item number"))
            continue;
        with_rows++;
        cr_expect(cl.items[i].table, "chunk %zu", i);
        /* A chunk that goes on with the table starts with its header. */
        if (!strstr(t, "Line item number 1 of"))
            cr_expect(!strncmp(t, header, strlen(header)), "chunk %zu starts '%.80s'", i, t);
        /* Every line is the header, a whole row, or prose. */
        char *copy = dq_strdup(t);
        for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
            bool whole = !strcmp(line, header) || strstr(line, " | 2017: 20");
            cr_expect(whole || !strstr(line, "Line item"), "chunk %zu cuts a row: '%s' in\n%s", i, line, t);
        }
        free(copy);
    }
    cr_expect_gt(with_rows, 2);
    chunk_list_free(&cl);
    read_free(&d);
}

Test(tables, two_columns_with_a_table_in_one)
{
    static const char *const prose[] = {
        "The board met four times during the year", "and reviewed the results of each segment",
        "together with the outlook for the coming", "year. It approved the dividend and the",
        "share buyback programme described below,", "and it appointed two new directors.",
    };
    layout l = {0};
    for (size_t i = 0; i < 6; i++)
        text_at(&l, 0, 50, 100 + 13 * (float)i, prose[i]);
    right_at(&l, 0, 470, 100, "2018");
    right_at(&l, 0, 540, 100, "2017");
    static const fin_row rows[] = {
        {"Revenue", "5,120", "4,870"}, {"Cost of sales", "(3,010)", "(2,950)"},
        {"Gross profit", "2,110", "1,920"}, {"Operating income", "830", "760"}};
    for (size_t i = 0; i < 4; i++) {
        float y = 113 + 13 * (float)i;
        text_at(&l, 0, 320, y, rows[i].label);
        right_at(&l, 0, 470, y, rows[i].a);
        right_at(&l, 0, 540, y, rows[i].b);
    }
    const char *pdf = path_in("two.pdf");
    write_layout(&l, pdf, 1);

    read_doc d;
    read_pdf(pdf, &d);
    expect_row(&d.doc, 1, "Revenue | 2018: 5,120 | 2017: 4,870", 1);
    expect_row(&d.doc, 1, "Cost of sales | 2018: (3,010) | 2017: (2,950)", 1);
    expect_row(&d.doc, 1, "Operating income | 2018: 830 | 2017: 760", 1);
    char *all = dump(&d.doc);
    cr_expect(strstr(all, "t0: The board met four times during the year and reviewed the results "
                          "of each segment together with the outlook"),
              "prose column broken:\n%s", all);
    free(all);
    read_free(&d);
}

Test(tables, prose_pages_have_no_tables)
{
    read_doc d;
    read_pdf(DQ_SOURCE_DIR "/samples/manual-en.pdf", &d);
    for (size_t p = 0; p < d.doc.n_pages; p++)
        for (size_t i = 0; i < d.doc.pages[p].n_paras; i++)
            cr_expect_eq(d.doc.pages[p].paras[i].table, 0, "%s", d.doc.pages[p].paras[i].text);
    read_free(&d);
    read_pdf(DQ_SOURCE_DIR "/samples/lease-zh.pdf", &d);
    for (size_t p = 0; p < d.doc.n_pages; p++)
        for (size_t i = 0; i < d.doc.pages[p].n_paras; i++)
            cr_expect_eq(d.doc.pages[p].paras[i].table, 0, "%s", d.doc.pages[p].paras[i].text);
    read_free(&d);
}

/* Runs docqa in dir with args (NULL-terminated), store in dir/.docqa. */
static run_result docqa_argv(const char *const *args)
{
    return run_docqa(&(run_opts){.workdir = dir}, args);
}

#define DOCQA(...) docqa_argv((const char *const[]){__VA_ARGS__, NULL})

Test(tables, search_json_says_table)
{
    fin_row rows[45];
    char labels[45][48], nums[45][2][16];
    char pdf[300];
    snprintf(pdf, sizeof pdf, "%s/long.pdf", dir);
    write_long_statement(pdf, rows, labels, nums);
    run_result r = DOCQA("ingest", "--no-embed", "long.pdf");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    r = DOCQA("search", "--json", "line item number 45");
    cr_expect(strstr(r.out, "\"table\":\ttrue"), "%s", r.out);
    cr_expect(strstr(r.out, "Line item number 45 of the statement | 2018: 1044 | 2017: 2044"), "%s",
              r.out);
    run_result_free(&r);
    const char *pages[] = {"A page of prose about the weather, with no table at all."};
    snprintf(pdf, sizeof pdf, "%s/prose.pdf", dir);
    cr_assert_eq(pdfgen_write_simple(pdf, pages, 1), 0);
    r = DOCQA("ingest", "--no-embed", "prose.pdf");
    run_result_free(&r);
    r = DOCQA("search", "--json", "weather");
    cr_expect(strstr(r.out, "\"table\":\tfalse"), "%s", r.out);
    run_result_free(&r);
}

/* Rows of real statements, checked by hand against the filings, when the
 * development sets sit beside the clone (CI has them in ../shared;
 * $DOCQA_SHARED names another place). */
Test(tables, filings_rows_have_the_right_numbers_under_the_right_years)
{
    const char *shared = getenv("DOCQA_SHARED");
    char pdfs[512], path[640];
    snprintf(pdfs, sizeof pdfs, "%s/eval/financebench-dev/pdfs",
             shared && *shared ? shared : DQ_SOURCE_DIR "/../shared");
    if (access(pdfs, R_OK) != 0)
        cr_skip_test("no %s", pdfs);
    static const struct {
        const char *file;
        int page;
        const char *row;
    } pins[] = {
        /* Amazon 2017 10-K, consolidated statements of cash flows. */
        {"AMAZON_2017_10K.pdf", 37, "Net income | 2015: 596 | 2016: 2,371 | 2017: 3,033"},
        {"AMAZON_2017_10K.pdf", 37,
         "Purchases of property and equipment, including internal-use software and website "
         "development | 2015: (5,387) | 2016: (7,804) | 2017: (11,955)"},
        {"AMAZON_2017_10K.pdf", 37, "Year Ended December 31, 2015 | Year Ended December 31, 2016 | "
                                    "Year Ended December 31, 2017"},
        /* Nike 2018 10-K, balance sheet: years centred over "$" and number. */
        {"NIKE_2018_10K.pdf", 48, "Cash and equivalents | 2018: $ 4,249 | 2017: $ 3,808"},
        {"NIKE_2018_10K.pdf", 48, "Property, plant and equipment, net | 2018: 4,454 | 2017: 3,989"},
        /* Boeing 2018 10-K, consolidated statements of cash flows. */
        {"BOEING_2018_10K.pdf", 53,
         "Property, plant and equipment additions | 2018: (1,722) | 2017: (1,739) | 2016: (2,613)"},
        {"BOEING_2018_10K.pdf", 53, "Net earnings | 2018: $10,460 | 2017: $8,458 | 2016: $5,034"},
    };
    for (size_t i = 0; i < sizeof pins / sizeof *pins; i++) {
        snprintf(path, sizeof path, "%s/%s", pdfs, pins[i].file);
        read_doc d;
        read_pdf(path, &d);
        const ingest_para *p = para_eq(&d.doc, pins[i].page, pins[i].row);
        cr_expect_not_null(p, "%s p. %d: no row '%s'", pins[i].file, pins[i].page, pins[i].row);
        if (p)
            cr_expect_gt(p->table, 0);
        read_free(&d);
    }
}
