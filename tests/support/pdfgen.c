/* pdfgen.c - test PDFs (text, images, title, encryption) and EPUBs written with MuPDF.
 *
 * Pages are drawn through pdf_page_write()'s device (top-left origin, y
 * down), which is the same path `mutool create` and the PDF document writer
 * use; the document is then saved with pdf_save_document() so the Info
 * dictionary and encryption can be set, which fz_document_writer cannot do.
 */
#include "support/pdfgen.h"

#include "common/common.h"

#include <mupdf/fitz.h>
#include <mupdf/pdf.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define PAGE_W 595.0f
#define PAGE_H 842.0f
#define MARGIN 72.0f

static void quiet(void *user, const char *message)
{
    (void)user;
    (void)message;
}

typedef struct {
    fz_font *helv, *helv_bold, *cjk;
} fonts;

typedef struct {
    int cp, gid;
    fz_font *font;
    float adv; /* points */
} glyph;

/* Writing state: the document, the open page's device and the cursor. */
typedef struct {
    pdf_document *doc;
    fz_device *dev;
    pdf_obj *resources;
    fz_buffer *contents;
    float y; /* top of the next line, points from the top */
} writer;

static void begin_page(fz_context *ctx, writer *w)
{
    w->dev = pdf_page_write(ctx, w->doc, fz_make_rect(0, 0, PAGE_W, PAGE_H), &w->resources,
                            &w->contents);
    w->y = MARGIN;
}

static void end_page(fz_context *ctx, writer *w)
{
    if (!w->dev)
        return;
    fz_close_device(ctx, w->dev);
    fz_drop_device(ctx, w->dev);
    w->dev = NULL;
    pdf_obj *page = pdf_add_page(ctx, w->doc, fz_make_rect(0, 0, PAGE_W, PAGE_H), 0, w->resources,
                                 w->contents);
    pdf_insert_page(ctx, w->doc, -1, page);
    pdf_drop_obj(ctx, page);
    pdf_drop_obj(ctx, w->resources);
    fz_drop_buffer(ctx, w->contents);
    w->resources = NULL;
    w->contents = NULL;
}

/* Draws g[0..n) as one line at the cursor, starting a new page if it does not fit. */
static void draw_glyphs(fz_context *ctx, writer *w, const glyph *g, size_t n, float size)
{
    if (w->y + size * 1.5f > PAGE_H - MARGIN && w->y > MARGIN) {
        end_page(ctx, w);
        begin_page(ctx, w);
    }
    float baseline = w->y + size;
    float x = MARGIN;
    fz_text *text = fz_new_text(ctx);
    fz_try(ctx)
    {
        for (size_t i = 0; i < n; i++) {
            fz_matrix trm = fz_make_matrix(size, 0, 0, -size, x, baseline);
            fz_show_glyph(ctx, text, g[i].font, trm, g[i].gid, g[i].cp, 0, 0, FZ_BIDI_LTR,
                          FZ_LANG_UNSET);
            x += g[i].adv;
        }
        const float black = 0;
        fz_fill_text(ctx, w->dev, text, fz_identity, fz_device_gray(ctx), &black, 1,
                     fz_default_color_params);
    }
    fz_always(ctx) fz_drop_text(ctx, text);
    fz_catch(ctx) fz_rethrow(ctx);
    w->y += size * 1.5f;
}

/* Lays out one line of text, wrapping at the last space that fits (or at
 * any character when there is none, as Chinese has none). */
static void draw_line(fz_context *ctx, writer *w, const fonts *f, const pdfgen_line *line,
                      glyph **gbuf, size_t *gcap)
{
    float size = line->size > 0 ? line->size : 11;
    const char *s = line->text ? line->text : "";
    size_t len = strlen(s), n = 0;
    if (len == 0) {
        w->y += size * 1.5f;
        return;
    }
    DQ_GROW(*gbuf, *gcap, len);
    glyph *g = *gbuf;
    fz_font *latin = line->bold ? f->helv_bold : f->helv;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_decode(s + i, len - i, &cp);
        if (k < 0) {
            i++;
            continue;
        }
        i += (size_t)k;
        fz_font *font = latin;
        int gid = fz_encode_character(ctx, font, (int)cp);
        if (gid == 0 && cp != ' ') {
            font = f->cjk;
            gid = fz_encode_character(ctx, font, (int)cp);
        }
        g[n].cp = (int)cp;
        g[n].gid = gid;
        g[n].font = font;
        g[n].adv = fz_advance_glyph(ctx, font, gid, 0) * size;
        n++;
    }
    const float width = PAGE_W - 2 * MARGIN;
    size_t start = 0;
    while (start < n) {
        float x = 0;
        size_t end = start, last_space = 0;
        bool has_space = false;
        while (end < n && (x + g[end].adv <= width || end == start)) {
            if (g[end].cp == ' ' && end > start) {
                last_space = end;
                has_space = true;
            }
            x += g[end].adv;
            end++;
        }
        size_t next = end;
        if (end < n && has_space && g[end].cp != ' ' && g[end].cp < 0x2E80) {
            end = last_space;
            next = last_space + 1;
        }
        while (next < n && g[next].cp == ' ')
            next++;
        draw_glyphs(ctx, w, g + start, end - start, size);
        start = next;
    }
}

static void draw_image(fz_context *ctx, writer *w)
{
    fz_pixmap *pix = fz_new_pixmap(ctx, fz_device_gray(ctx), 64, 64, NULL, 0);
    fz_image *img = NULL;
    fz_var(img);
    fz_try(ctx)
    {
        /* A pattern rather than a flat fill, so it looks like a scan. */
        unsigned char *p = fz_pixmap_samples(ctx, pix);
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 64; x++)
                p[y * 64 + x] = (unsigned char)(((x / 4 + y / 4) % 2) ? 40 : 220);
        img = fz_new_image_from_pixmap(ctx, pix, NULL);
        fz_matrix m =
            fz_make_matrix(PAGE_W - 2 * MARGIN, 0, 0, PAGE_H - 2 * MARGIN, MARGIN, MARGIN);
        fz_fill_image(ctx, w->dev, img, m, 1, fz_default_color_params);
    }
    fz_always(ctx)
    {
        fz_drop_image(ctx, img);
        fz_drop_pixmap(ctx, pix);
    }
    fz_catch(ctx) fz_rethrow(ctx);
}

static void draw_at(fz_context *ctx, writer *w, const fonts *f, const char *s, float size,
                    float x0, float baseline);
static void draw_rule(fz_context *ctx, writer *w, const pdfgen_item *it);

/* Writes n_pages pages: pages[p]'s lines when pages is not NULL, and the
 * items placed on page p. */
static int write_pages(const char *path, const pdfgen_page *pages, size_t n_pages,
                       const pdfgen_item *items, size_t n_items, const pdfgen_opts *opts)
{
    fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
    if (!ctx) {
        dq_set_error("cannot write '%s': out of memory", path);
        return -1;
    }
    fz_set_warning_callback(ctx, quiet, NULL);
    fz_set_error_callback(ctx, quiet, NULL);
    fonts f = {NULL, NULL, NULL};
    writer w = {NULL, NULL, NULL, NULL, 0};
    glyph *gbuf = NULL;
    size_t gcap = 0;
    int rc = 0;
    fz_var(gbuf);
    fz_var(gcap);
    fz_try(ctx)
    {
        f.helv = fz_new_base14_font(ctx, "Helvetica");
        f.helv_bold = fz_new_base14_font(ctx, "Helvetica-Bold");
        f.cjk = fz_new_cjk_font(ctx, FZ_ADOBE_GB);
        w.doc = pdf_create_document(ctx);
        for (size_t p = 0; p < n_pages; p++) {
            begin_page(ctx, &w);
            if (pages && pages[p].image_only)
                draw_image(ctx, &w);
            for (size_t i = 0; pages && !pages[p].image_only && i < pages[p].n_lines; i++)
                draw_line(ctx, &w, &f, &pages[p].lines[i], &gbuf, &gcap);
            for (size_t i = 0; i < n_items; i++) {
                if (items[i].page != (int)p)
                    continue;
                if (items[i].text)
                    draw_at(ctx, &w, &f, items[i].text, items[i].size > 0 ? items[i].size : 10,
                            items[i].x, items[i].y);
                else
                    draw_rule(ctx, &w, &items[i]);
            }
            end_page(ctx, &w);
        }
        if (opts && opts->title) {
            /* A new document has no Info dictionary to set metadata in. */
            pdf_obj *info = pdf_add_new_dict(ctx, w.doc, 2);
            pdf_dict_put_drop(ctx, pdf_trailer(ctx, w.doc), PDF_NAME(Info), info);
            pdf_dict_put_text_string(ctx, info, PDF_NAME(Title), opts->title);
        }
        pdf_write_options wo = pdf_default_write_options;
        wo.do_compress = 1;
        wo.do_compress_fonts = 1;
        wo.do_compress_images = 1;
        if (opts && opts->user_password) {
            wo.do_encrypt = PDF_ENCRYPT_AES_128;
            wo.permissions = -1;
            snprintf(wo.upwd_utf8, sizeof wo.upwd_utf8, "%s", opts->user_password);
            snprintf(wo.opwd_utf8, sizeof wo.opwd_utf8, "owner-%s", opts->user_password);
        }
        pdf_save_document(ctx, w.doc, path, &wo);
    }
    fz_always(ctx)
    {
        if (w.dev) {
            fz_drop_device(ctx, w.dev);
            pdf_drop_obj(ctx, w.resources);
            fz_drop_buffer(ctx, w.contents);
        }
        pdf_drop_document(ctx, w.doc);
        fz_drop_font(ctx, f.helv);
        fz_drop_font(ctx, f.helv_bold);
        fz_drop_font(ctx, f.cjk);
    }
    fz_catch(ctx)
    {
        dq_set_error("cannot write '%s': %s", path, fz_caught_message(ctx));
        rc = -1;
    }
    free(gbuf);
    fz_drop_context(ctx);
    return rc;
}

int pdfgen_write(const char *path, const pdfgen_page *pages, size_t n_pages,
                 const pdfgen_opts *opts)
{
    return write_pages(path, pages, n_pages, NULL, 0, opts);
}

/* A context whose warnings and errors go nowhere, or NULL with the error
 * set for writing path. */
static fz_context *quiet_context(const char *path)
{
    fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
    if (!ctx) {
        dq_set_error("cannot write '%s': out of memory", path);
        return NULL;
    }
    fz_set_warning_callback(ctx, quiet, NULL);
    fz_set_error_callback(ctx, quiet, NULL);
    return ctx;
}

/* A ToUnicode CMap mapping each 256-code row of CJK codes (UTF-16 under
 * UniGB-UTF16-H) to U+0000..U+00FF or U+0100..U+01FF: controls, ASCII,
 * Latin-1 and Latin Extended soup. */
static fz_buffer *soup_cmap(fz_context *ctx)
{
    fz_buffer *buf = fz_new_buffer(ctx, 4096);
    fz_append_string(ctx, buf,
                     "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
                     "/CMapName /Soup def /CMapType 2 def\n"
                     "1 begincodespacerange <0000> <FFFF> endcodespacerange\n");
    fz_append_printf(ctx, buf, "%d beginbfrange\n", 0xA0 - 0x4E + 2);
    for (int hi = 0x4E; hi < 0xA0; hi++) {
        char line[32]; /* fz_append_printf() knows no %X */
        snprintf(line, sizeof line, "<%02X00> <%02XFF> <0%d00>\n", hi, hi, hi & 1);
        fz_append_string(ctx, buf, line);
    }
    fz_append_string(ctx, buf, "<3000> <30FF> <0100>\n<FF00> <FFEF> <0000>\n");
    fz_append_string(ctx, buf, "endbfrange\nendcmap CMapName currentdict /CMap defineresource "
                               "pop end end\n");
    return buf;
}

/* True for a Type0 font with a CJK character collection (pdf_page_write()
 * writes Helvetica as a Type0 font too, with an Identity ordering). */
static bool is_cjk_font(fz_context *ctx, pdf_obj *font)
{
    if (!pdf_name_eq(ctx, pdf_dict_get(ctx, font, PDF_NAME(Subtype)), PDF_NAME(Type0)))
        return false;
    pdf_obj *desc = pdf_array_get(ctx, pdf_dict_get(ctx, font, PDF_NAME(DescendantFonts)), 0);
    pdf_obj *info = pdf_dict_get(ctx, desc, PDF_NAME(CIDSystemInfo));
    const char *ordering = pdf_to_str_buf(ctx, pdf_dict_get(ctx, info, PDF_NAME(Ordering)));
    return ordering[0] && strcmp(ordering, "Identity") != 0;
}

static void damage_font(fz_context *ctx, pdf_document *doc, pdf_obj *font, pdfgen_damage how)
{
    if (how == PDFGEN_CJK_NO_TOUNICODE) {
        pdf_dict_put(ctx, font, PDF_NAME(Encoding), PDF_NAME(Identity_H));
        pdf_dict_del(ctx, font, PDF_NAME(ToUnicode));
        pdf_obj *desc = pdf_array_get(ctx, pdf_dict_get(ctx, font, PDF_NAME(DescendantFonts)), 0);
        pdf_obj *info = pdf_dict_get(ctx, desc, PDF_NAME(CIDSystemInfo));
        if (info)
            pdf_dict_put_string(ctx, info, PDF_NAME(Ordering), "Identity", 8);
        return;
    }
    fz_buffer *cmap = soup_cmap(ctx);
    fz_try(ctx)
    {
        pdf_obj *ref = pdf_add_stream(ctx, doc, cmap, NULL, 0);
        pdf_dict_put_drop(ctx, font, PDF_NAME(ToUnicode), ref);
    }
    fz_always(ctx) fz_drop_buffer(ctx, cmap);
    fz_catch(ctx) fz_rethrow(ctx);
}

/* Copies src to dst with edit called on each object the file had
 * (num, object, arg), in one MuPDF context. */
typedef void (*object_edit)(fz_context *ctx, pdf_document *doc, int num, pdf_obj *obj,
                            void *arg);

static int rewrite_objects(const char *src, const char *dst, object_edit edit, void *arg)
{
    fz_context *ctx = quiet_context(dst);
    if (!ctx)
        return -1;
    pdf_document *doc = NULL;
    int rc = 0;
    fz_var(doc);
    fz_try(ctx)
    {
        doc = pdf_open_document(ctx, src);
        int n = pdf_xref_len(ctx, doc);
        for (int i = 1; i < n; i++) {
            /* The edits here throw only on running out of memory, which
             * ends the test anyway. */
            pdf_obj *obj = pdf_load_object(ctx, doc, i);
            edit(ctx, doc, i, obj, arg);
            pdf_drop_obj(ctx, obj);
        }
        pdf_write_options wo = pdf_default_write_options;
        wo.do_compress = 1;
        pdf_save_document(ctx, doc, dst, &wo);
    }
    fz_always(ctx) pdf_drop_document(ctx, doc);
    fz_catch(ctx)
    {
        dq_set_error("cannot write '%s': %s", dst, fz_caught_message(ctx));
        rc = -1;
    }
    fz_drop_context(ctx);
    return rc;
}

static void damage_edit(fz_context *ctx, pdf_document *doc, int num, pdf_obj *obj, void *arg)
{
    (void)num;
    if (is_cjk_font(ctx, obj))
        damage_font(ctx, doc, obj, *(const pdfgen_damage *)arg);
}

int pdfgen_damage_cjk_fonts(const char *src, const char *dst, pdfgen_damage how)
{
    return rewrite_objects(src, dst, damage_edit, &how);
}

/* Points every font resource that refers to object from at object to. */
static void repoint_fonts(fz_context *ctx, pdf_document *doc, int from, pdf_obj *to)
{
    int n = pdf_xref_len(ctx, doc);
    for (int i = 1; i < n; i++) {
        pdf_obj *obj = pdf_load_object(ctx, doc, i);
        pdf_obj *res = pdf_dict_get(ctx, obj, PDF_NAME(Resources));
        pdf_obj *fonts = pdf_dict_get(ctx, res ? res : obj, PDF_NAME(Font));
        for (int k = 0; k < pdf_dict_len(ctx, fonts); k++) {
            pdf_obj *v = pdf_dict_get_val(ctx, fonts, k);
            if (pdf_is_indirect(ctx, v) && pdf_to_num(ctx, v) == from)
                pdf_dict_put(ctx, fonts, pdf_dict_get_key(ctx, fonts, k), to);
        }
        pdf_drop_obj(ctx, obj);
    }
}

/* Moves a Type0 font to a new object at the end; arg is the number of the
 * first one moved (0 until then). */
static void move_edit(fz_context *ctx, pdf_document *doc, int num, pdf_obj *obj, void *arg)
{
    if (!pdf_name_eq(ctx, pdf_dict_get(ctx, obj, PDF_NAME(Subtype)), PDF_NAME(Type0)))
        return;
    int *first_moved = arg;
    pdf_obj *copy = pdf_add_object_drop(ctx, doc, pdf_deep_copy_obj(ctx, obj));
    if (!*first_moved)
        *first_moved = pdf_to_num(ctx, copy);
    repoint_fonts(ctx, doc, num, copy);
    pdf_drop_obj(ctx, copy);
    pdf_delete_object(ctx, doc, num);
}

int pdfgen_write_fonts_last(const char *src, const char *dst, long *font_at)
{
    *font_at = -1;
    int first_moved = 0;
    int rc = rewrite_objects(src, dst, move_edit, &first_moved);
    if (rc == 0) {
        /* The offset of "<num> 0 obj" of the first font moved. */
        dq_buf b = DQ_BUF_INIT;
        char mark[32];
        snprintf(mark, sizeof mark, "\n%d 0 obj", first_moved);
        if (first_moved && dq_read_file(dst, &b) == 0) {
            const char *hit = memmem(b.data, b.len, mark, strlen(mark));
            if (hit)
                *font_at = (long)(hit - b.data) + 1;
        }
        dq_buf_free(&b);
        if (*font_at < 0) {
            dq_set_error("cannot find the moved fonts in '%s'", dst);
            rc = -1;
        }
    }
    return rc;
}

/* Draws text at (x, baseline) in one run, no wrapping. */
static void draw_at(fz_context *ctx, writer *w, const fonts *f, const char *s, float size,
                    float x0, float baseline)
{
    size_t len = strlen(s);
    fz_text *text = fz_new_text(ctx);
    fz_try(ctx)
    {
        float x = x0;
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            int k = utf8_decode(s + i, len - i, &cp);
            if (k < 0) {
                i++;
                continue;
            }
            i += (size_t)k;
            fz_font *font = f->helv;
            int gid = fz_encode_character(ctx, font, (int)cp);
            if (gid == 0 && cp != ' ') {
                font = f->cjk;
                gid = fz_encode_character(ctx, font, (int)cp);
            }
            fz_matrix trm = fz_make_matrix(size, 0, 0, -size, x, baseline);
            fz_show_glyph(ctx, text, font, trm, gid, (int)cp, 0, 0, FZ_BIDI_LTR, FZ_LANG_UNSET);
            x += fz_advance_glyph(ctx, font, gid, 0) * size;
        }
        const float black = 0;
        fz_fill_text(ctx, w->dev, text, fz_identity, fz_device_gray(ctx), &black, 1,
                     fz_default_color_params);
    }
    fz_always(ctx) fz_drop_text(ctx, text);
    fz_catch(ctx) fz_rethrow(ctx);
}

static void draw_rule(fz_context *ctx, writer *w, const pdfgen_item *it)
{
    fz_path *path = fz_new_path(ctx);
    fz_stroke_state *stroke = fz_new_stroke_state(ctx);
    fz_try(ctx)
    {
        stroke->linewidth = 0.5f;
        fz_moveto(ctx, path, it->x, it->y);
        fz_lineto(ctx, path, it->x1, it->y1);
        const float black = 0;
        fz_stroke_path(ctx, w->dev, path, stroke, fz_identity, fz_device_gray(ctx), &black, 1,
                       fz_default_color_params);
    }
    fz_always(ctx)
    {
        fz_drop_stroke_state(ctx, stroke);
        fz_drop_path(ctx, path);
    }
    fz_catch(ctx) fz_rethrow(ctx);
}

int pdfgen_write_items(const char *path, const pdfgen_item *items, size_t n, int n_pages)
{
    return write_pages(path, NULL, n_pages > 0 ? (size_t)n_pages : 0, items, n, NULL);
}

int pdfgen_write_simple(const char *path, const char *const *page_texts, size_t n_pages)
{
    pdfgen_page *pages = dq_calloc(n_pages ? n_pages : 1, sizeof *pages);
    char **copies = dq_calloc(n_pages ? n_pages : 1, sizeof *copies);
    for (size_t p = 0; p < n_pages; p++) {
        copies[p] = dq_strdup(page_texts[p]);
        size_t n = 1;
        for (const char *c = copies[p]; *c; c++)
            n += *c == '\n';
        pdfgen_line *lines = dq_calloc(n, sizeof *lines);
        size_t i = 0;
        for (char *s = copies[p], *nl; s; s = nl ? nl + 1 : NULL) {
            nl = strchr(s, '\n');
            if (nl)
                *nl = '\0';
            bool heading = strncmp(s, "# ", 2) == 0;
            lines[i].text = heading ? s + 2 : s;
            lines[i].size = heading ? 18 : 11;
            lines[i].bold = heading;
            i++;
        }
        pages[p].lines = lines;
        pages[p].n_lines = i;
    }
    int rc = pdfgen_write(path, pages, n_pages, NULL);
    for (size_t p = 0; p < n_pages; p++) {
        free((void *)pages[p].lines);
        free(copies[p]);
    }
    free(pages);
    free(copies);
    return rc;
}

static void zip_put(fz_context *ctx, fz_zip_writer *zip, const char *name, const char *text,
                    int compress)
{
    fz_buffer *buf = fz_new_buffer_from_copied_data(ctx, (const unsigned char *)text, strlen(text));
    fz_try(ctx) fz_write_zip_entry(ctx, zip, name, buf, compress);
    fz_always(ctx) fz_drop_buffer(ctx, buf);
    fz_catch(ctx) fz_rethrow(ctx);
}

int pdfgen_write_epub(const char *path, const char *title, const char *const *chapters,
                      size_t n_chapters)
{
    fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
    if (!ctx) {
        dq_set_error("cannot write '%s': out of memory", path);
        return -1;
    }
    fz_set_warning_callback(ctx, quiet, NULL);
    fz_set_error_callback(ctx, quiet, NULL);
    dq_buf opf = DQ_BUF_INIT, page = DQ_BUF_INIT;
    dq_buf_printf(&opf,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<package xmlns=\"http://www.idpf.org/2007/opf\" version=\"2.0\" "
                  "unique-identifier=\"id\"><metadata "
                  "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>%s</dc:title>"
                  "<dc:identifier id=\"id\">docqa-test</dc:identifier><dc:language>en</dc:language>"
                  "</metadata><manifest>",
                  title ? title : "");
    for (size_t i = 0; i < n_chapters; i++)
        dq_buf_printf(&opf,
                      "<item id=\"c%zu\" href=\"c%zu.xhtml\" "
                      "media-type=\"application/xhtml+xml\"/>",
                      i, i);
    dq_buf_puts(&opf, "</manifest><spine>");
    for (size_t i = 0; i < n_chapters; i++)
        dq_buf_printf(&opf, "<itemref idref=\"c%zu\"/>", i);
    dq_buf_puts(&opf, "</spine></package>\n");
    fz_zip_writer *zip = NULL;
    int rc = 0;
    fz_var(zip);
    fz_try(ctx)
    {
        zip = fz_new_zip_writer(ctx, path);
        /* The spec wants "mimetype" first and stored uncompressed. */
        zip_put(ctx, zip, "mimetype", "application/epub+zip", 0);
        zip_put(ctx, zip, "META-INF/container.xml",
                "<?xml version=\"1.0\"?>\n<container version=\"1.0\" "
                "xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles>"
                "<rootfile full-path=\"content.opf\" "
                "media-type=\"application/oebps-package+xml\"/></rootfiles></container>\n",
                1);
        zip_put(ctx, zip, "content.opf", opf.data, 1);
        for (size_t i = 0; i < n_chapters; i++) {
            char name[32];
            snprintf(name, sizeof name, "c%zu.xhtml", i);
            dq_buf_clear(&page);
            dq_buf_printf(&page,
                          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                          "<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>%zu</title>"
                          "</head><body>%s</body></html>\n",
                          i + 1, chapters[i]);
            zip_put(ctx, zip, name, page.data, 1);
        }
        fz_close_zip_writer(ctx, zip);
    }
    fz_always(ctx) fz_drop_zip_writer(ctx, zip);
    fz_catch(ctx)
    {
        dq_set_error("cannot write '%s': %s", path, fz_caught_message(ctx));
        rc = -1;
    }
    dq_buf_free(&opf);
    dq_buf_free(&page);
    fz_drop_context(ctx);
    return rc;
}

int pdfgen_write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        dq_set_error("cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    bool ok = n == 0 || fwrite(data, 1, n, f) == n;
    if (fclose(f) != 0 || !ok) {
        dq_set_error("cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int pdfgen_write_truncated(const char *src, const char *dst, size_t n)
{
    dq_buf b = DQ_BUF_INIT;
    if (dq_read_file(src, &b) < 0)
        return -1;
    int rc = pdfgen_write_bytes(dst, b.data, n < b.len ? n : b.len);
    dq_buf_free(&b);
    return rc;
}

long pdfgen_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) < 0 ? -1 : (long)st.st_size;
}

/* Deflates expanded bytes made of unit repeated (zeros when unit is NULL)
 * into out, without ever holding them inflated. */
static int deflate_repeated(const char *unit, size_t expanded, dq_buf *out)
{
    z_stream z = {0};
    if (deflateInit(&z, 9) != Z_OK)
        return -1;
    enum { BLOCK = 1 << 16 };
    unsigned char *in = dq_calloc(BLOCK, 1), *buf = dq_malloc(BLOCK);
    size_t ul = unit ? strlen(unit) : 0;
    for (size_t i = 0; unit && i < BLOCK; i++)
        in[i] = (unsigned char)unit[i % ul];
    size_t block = unit ? BLOCK - BLOCK % ul : BLOCK; /* whole units per block */
    int rc = 0;
    for (size_t done = 0; rc == 0;) {
        size_t n = expanded - done < block ? expanded - done : block;
        done += n;
        z.next_in = in;
        z.avail_in = (uInt)n;
        int flush = done == expanded ? Z_FINISH : Z_NO_FLUSH;
        int zr;
        do {
            z.next_out = buf;
            z.avail_out = BLOCK;
            zr = deflate(&z, flush);
            dq_buf_append(out, (const char *)buf, BLOCK - z.avail_out);
        } while (z.avail_out == 0);
        if (zr == Z_STREAM_END)
            break;
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            rc = -1;
    }
    deflateEnd(&z);
    free(in);
    free(buf);
    return rc;
}

/* Appends object number ++*n to pdf, noting its offset: dict, then the
 * stream's bytes when stream is not NULL. */
static void put_object(dq_buf *pdf, long *offs, int *n, const char *dict, const dq_buf *stream)
{
    offs[(*n)++] = (long)pdf->len;
    dq_buf_printf(pdf, "%d 0 obj\n%s\n", *n, dict);
    if (stream) {
        dq_buf_puts(pdf, "stream\n");
        dq_buf_append(pdf, stream->data, stream->len);
        dq_buf_puts(pdf, "\nendstream\n");
    }
    dq_buf_puts(pdf, "endobj\n");
}

int pdfgen_write_flate_bomb(const char *path, pdfgen_bomb where, size_t expanded)
{
    dq_buf bomb = DQ_BUF_INIT;
    const char *line = "BT /F1 10 Tf 72 700 Td (The lantern is kept in the attic.) Tj ET\n";
    if (deflate_repeated(where == PDFGEN_BOMB_CONTENT ? line : NULL, expanded, &bomb) < 0) {
        dq_buf_free(&bomb);
        dq_set_error("deflate failed");
        return -1;
    }
    dq_buf pdf = DQ_BUF_INIT, text = DQ_BUF_INIT;
    char dict[300];
    long offs[8];
    int n = 0;
    dq_buf_puts(&pdf, "%PDF-1.4\n");
    put_object(&pdf, offs, &n, "<< /Type /Catalog /Pages 2 0 R >>", NULL);
    put_object(&pdf, offs, &n, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", NULL);
    put_object(&pdf, offs, &n,
               "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 "
               "4 0 R >> >> /Contents 5 0 R >>",
               NULL);
    if (where == PDFGEN_BOMB_CONTENT) {
        put_object(&pdf, offs, &n, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
                   NULL);
        snprintf(dict, sizeof dict, "<< /Length %zu /Filter /FlateDecode >>", bomb.len);
        put_object(&pdf, offs, &n, dict, &bomb);
    } else {
        put_object(&pdf, offs, &n,
                   "<< /Type /Font /Subtype /TrueType /BaseFont /Bomb /FirstChar 32 /LastChar "
                   "126 /FontDescriptor 6 0 R >>",
                   NULL);
        dq_buf_puts(&text, "BT /F1 10 Tf 72 700 Td (A small page of text.) Tj ET");
        snprintf(dict, sizeof dict, "<< /Length %zu >>", text.len);
        put_object(&pdf, offs, &n, dict, &text);
        put_object(&pdf, offs, &n,
                   "<< /Type /FontDescriptor /FontName /Bomb /Flags 32 /FontBBox [0 0 1000 1000] "
                   "/ItalicAngle 0 /Ascent 800 /Descent -200 /CapHeight 700 /StemV 80 "
                   "/FontFile2 7 0 R >>",
                   NULL);
        snprintf(dict, sizeof dict, "<< /Length %zu /Length1 %zu /Filter /FlateDecode >>",
                 bomb.len, expanded);
        put_object(&pdf, offs, &n, dict, &bomb);
    }
    long xref = (long)pdf.len;
    dq_buf_printf(&pdf, "xref\n0 %d\n0000000000 65535 f \n", n + 1);
    for (int i = 0; i < n; i++)
        dq_buf_printf(&pdf, "%010ld 00000 n \n", offs[i]);
    dq_buf_printf(&pdf, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%ld\n%%%%EOF\n", n + 1,
                  xref);
    int rc = pdfgen_write_bytes(path, pdf.data, pdf.len);
    dq_buf_free(&pdf);
    dq_buf_free(&text);
    dq_buf_free(&bomb);
    return rc;
}
