/* fuzz_office.c - libFuzzer harness: XML parts of an Office file through its reader, cleanup and splitting.
 *
 * Deflated ZIPs are a poor thing to mutate, so the input is the XML itself:
 * the first byte picks the format (DOCX, XLSX, PPTX, ODT, ODS, ODP), the rest
 * is its parts separated by NUL bytes, which the harness stores in a ZIP
 * (uncompressed, with the relationships that tie them together) and hands to
 * office_parse(). Whatever the reader accepts goes through ingest_clean()
 * and split_document(); lines and chunks must be valid UTF-8 with sane page
 * spans, and each chunk of a sheet or slide must carry its label.
 */
#include "common/common.h"
#include "ingest/ingest.h"
#include "ingest/office.h"

#include <mupdf/fitz.h>

#include <stdlib.h>
#include <string.h>

#define RELS_NS "http://schemas.openxmlformats.org/package/2006/relationships"
#define REL_T "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"

typedef struct {
    const char *name;
    const char *fixed; /* content when not taken from the input */
} part;

/* The parts of each format: NULL fixed ones come from the input, in order. */
static const part docx_parts[] = {
    {"_rels/.rels", "<Relationships xmlns=\"" RELS_NS "\"><Relationship Id=\"r1\" Type=\"" REL_T
                    "officeDocument\" Target=\"word/document.xml\"/></Relationships>"},
    {"word/_rels/document.xml.rels",
     "<Relationships xmlns=\"" RELS_NS "\"><Relationship Id=\"h\" Type=\"" REL_T
     "header\" Target=\"header1.xml\"/></Relationships>"},
    {"word/document.xml", NULL},  {"word/styles.xml", NULL}, {"word/numbering.xml", NULL},
    {"word/footnotes.xml", NULL}, {"word/header1.xml", NULL}};
static const part xlsx_parts[] = {
    {"xl/_rels/workbook.xml.rels",
     "<Relationships xmlns=\"" RELS_NS "\"><Relationship Id=\"s1\" Type=\"" REL_T
     "worksheet\" Target=\"worksheets/sheet1.xml\"/><Relationship Id=\"s2\" Type=\"" REL_T
     "worksheet\" Target=\"worksheets/sheet2.xml\"/><Relationship Id=\"ss\" Type=\"" REL_T
     "sharedStrings\" Target=\"sharedStrings.xml\"/><Relationship Id=\"st\" Type=\"" REL_T
     "styles\" Target=\"styles.xml\"/></Relationships>"},
    {"xl/workbook.xml", NULL},          {"xl/worksheets/sheet1.xml", NULL},
    {"xl/sharedStrings.xml", NULL},     {"xl/styles.xml", NULL},
    {"xl/worksheets/sheet2.xml", NULL}};
static const part pptx_parts[] = {
    {"ppt/_rels/presentation.xml.rels",
     "<Relationships xmlns=\"" RELS_NS "\"><Relationship Id=\"a\" Type=\"" REL_T
     "slide\" Target=\"slides/slide1.xml\"/><Relationship Id=\"b\" Type=\"" REL_T
     "slide\" Target=\"slides/slide2.xml\"/></Relationships>"},
    {"ppt/slides/_rels/slide1.xml.rels",
     "<Relationships xmlns=\"" RELS_NS "\"><Relationship Id=\"n\" Type=\"" REL_T
     "notesSlide\" Target=\"../notesSlides/notesSlide1.xml\"/></Relationships>"},
    {"ppt/presentation.xml", NULL},
    {"ppt/slides/slide1.xml", NULL},
    {"ppt/notesSlides/notesSlide1.xml", NULL},
    {"ppt/slides/slide2.xml", NULL}};
static const part odf_parts[] = {
    {"content.xml", NULL}, {"styles.xml", NULL}, {"META-INF/manifest.xml", NULL}};

static void add(fz_context *ctx, fz_zip_writer *zip, const char *name, const void *data, size_t n)
{
    fz_buffer *buf = fz_new_buffer_from_copied_data(ctx, data, n);
    fz_try(ctx)
        fz_write_zip_entry(ctx, zip, name, buf, 0);
    fz_always(ctx)
        fz_drop_buffer(ctx, buf);
    fz_catch(ctx)
        fz_rethrow(ctx);
}

/* The parts of kind, *n set. */
static const part *parts_of(office_kind kind, size_t *n)
{
    switch (kind) {
    case OFFICE_DOCX:
        *n = sizeof docx_parts / sizeof *docx_parts;
        return docx_parts;
    case OFFICE_XLSX:
        *n = sizeof xlsx_parts / sizeof *xlsx_parts;
        return xlsx_parts;
    case OFFICE_PPTX:
        *n = sizeof pptx_parts / sizeof *pptx_parts;
        return pptx_parts;
    default:
        *n = sizeof odf_parts / sizeof *odf_parts;
        return odf_parts;
    }
}

/* Writes kind's parts, the input's cut at NUL bytes, into zip (throws). */
static void write_parts(fz_context *ctx, fz_zip_writer *zip, office_kind kind,
                        const unsigned char *data, size_t size)
{
    size_t n_parts;
    const part *parts = parts_of(kind, &n_parts);
    size_t at = 0;
    for (size_t i = 0; i < n_parts; i++) {
        if (parts[i].fixed) {
            add(ctx, zip, parts[i].name, parts[i].fixed, strlen(parts[i].fixed));
            continue;
        }
        if (at > size)
            continue;
        const unsigned char *end = memchr(data + at, 0, size - at);
        size_t len = end ? (size_t)(end - (data + at)) : size - at;
        add(ctx, zip, parts[i].name, data + at, len);
        at += len + 1;
    }
}

/* The input's parts as a ZIP in memory, or NULL. */
static fz_buffer *make_zip(fz_context *ctx, office_kind kind, const unsigned char *data,
                           size_t size)
{
    fz_buffer *out = NULL;
    fz_output *o = NULL;
    fz_zip_writer *zip = NULL;
    fz_var(out);
    fz_var(o);
    fz_var(zip);
    fz_try(ctx)
    {
        out = fz_new_buffer(ctx, size + 1024);
        o = fz_new_output_with_buffer(ctx, out);
        zip = fz_new_zip_writer_with_output(ctx, o);
        o = NULL; /* the writer owns it now */
        write_parts(ctx, zip, kind, data, size);
        fz_close_zip_writer(ctx, zip);
    }
    fz_always(ctx)
    {
        fz_drop_zip_writer(ctx, zip);
        fz_drop_output(ctx, o);
    }
    fz_catch(ctx)
    {
        fz_drop_buffer(ctx, out);
        return NULL;
    }
    return out;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    office_kind kind = (office_kind)(data[0] % 6);
    fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
    if (!ctx)
        return 0;
    fz_buffer *zip = make_zip(ctx, kind, data + 1, size - 1);
    if (!zip) {
        fz_drop_context(ctx);
        return 0;
    }
    ingest_params lim = ingest_default_params();
    lim.max_doc_bytes = 256 << 20; /* under libFuzzer's own RSS limit */
    ingest_raw_doc raw;
    int rc = office_parse(zip->data, zip->len, kind, &lim, &raw);
    fz_drop_buffer(ctx, zip);
    fz_drop_context(ctx);
    if (rc < 0) {
        if (raw.n_pages != 0 || !dq_last_error()[0])
            abort(); /* a failure leaves nothing and says why */
        return 0;
    }
    for (size_t p = 0; p < raw.n_pages; p++)
        for (size_t b = 0; b < raw.pages[p].n_blocks; b++)
            for (size_t l = 0; l < raw.pages[p].blocks[b].n_lines; l++) {
                const char *t = raw.pages[p].blocks[b].lines[l].text;
                if (!t[0] || !utf8_valid(t, strlen(t)) || strchr(t, '\n'))
                    abort();
            }
    ingest_doc doc;
    if (ingest_clean(&raw, &doc) == 0) {
        chunk_list chunks;
        split_params sp = split_default_params();
        sp.chunk_cjk = 30;
        sp.chunk_words = 20;
        if (split_document(&doc, &sp, &chunks) == 0) {
            for (size_t i = 0; i < chunks.n; i++) {
                const chunk *c = &chunks.items[i];
                if (!utf8_valid(c->text, strlen(c->text)) || !utf8_valid(c->label, strlen(c->label)) ||
                    c->page_start > c->page_end || c->page_start < 1 ||
                    (raw.cite == CITE_UNITS && !c->label[0]) ||
                    (raw.cite == CITE_SECTIONS && !strstr(c->label, "¶")))
                    abort();
            }
            chunk_list_free(&chunks);
        }
    }
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
    return 0;
}
