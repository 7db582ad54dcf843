/* scangen.c - text pages rendered to images and wrapped as image-only PDF pages. */
#include "support/scangen.h"

#include "common/common.h"

#include <mupdf/fitz.h>
#include <mupdf/pdf.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void quiet(void *user, const char *message)
{
    (void)user;
    (void)message;
}

/* Appends to dst a page the size of src's page i holding only its image at dpi. */
static void add_scanned_page(fz_context *ctx, pdf_document *dst, fz_document *src, int i, int dpi)
{
    fz_pixmap *pix = NULL;
    fz_image *img = NULL;
    fz_device *dev = NULL;
    pdf_obj *resources = NULL, *page = NULL;
    fz_buffer *contents = NULL;
    fz_var(pix);
    fz_var(img);
    fz_var(dev);
    fz_var(resources);
    fz_var(page);
    fz_var(contents);
    fz_try(ctx)
    {
        fz_page *p = fz_load_page(ctx, src, i);
        fz_rect b = fz_bound_page(ctx, p);
        fz_drop_page(ctx, p);
        float s = (float)dpi / 72.0f;
        pix = fz_new_pixmap_from_page_number(ctx, src, i, fz_scale(s, s), fz_device_gray(ctx), 0);
        img = fz_new_image_from_pixmap(ctx, pix, NULL);
        dev = pdf_page_write(ctx, dst, b, &resources, &contents);
        fz_matrix m = fz_make_matrix(b.x1 - b.x0, 0, 0, b.y1 - b.y0, b.x0, b.y0);
        fz_fill_image(ctx, dev, img, m, 1, fz_default_color_params);
        fz_close_device(ctx, dev);
        page = pdf_add_page(ctx, dst, b, 0, resources, contents);
        pdf_insert_page(ctx, dst, -1, page);
    }
    fz_always(ctx)
    {
        fz_drop_device(ctx, dev);
        pdf_drop_obj(ctx, page);
        pdf_drop_obj(ctx, resources);
        fz_drop_buffer(ctx, contents);
        fz_drop_image(ctx, img);
        fz_drop_pixmap(ctx, pix);
    }
    fz_catch(ctx) fz_rethrow(ctx);
}

/* Copies src to path, pages whose scanned[i] is set (all when scanned is
 * NULL) as images; n_pages, when not 0, is the page count src must have. */
static int scan_file(const char *src_path, const char *path, size_t n_pages, const bool *scanned,
                     int dpi)
{
    fz_context *ctx = fz_new_context(NULL, NULL, FZ_STORE_DEFAULT);
    if (!ctx) {
        dq_set_error("cannot write '%s': out of memory", path);
        return -1;
    }
    fz_set_warning_callback(ctx, quiet, NULL);
    fz_set_error_callback(ctx, quiet, NULL);
    fz_document *src = NULL;
    pdf_document *dst = NULL;
    int rc = 0;
    fz_var(src);
    fz_var(dst);
    fz_try(ctx)
    {
        fz_register_document_handlers(ctx);
        src = fz_open_document(ctx, src_path);
        int n = fz_count_pages(ctx, src);
        if (n_pages && (size_t)n != n_pages)
            fz_throw(ctx, FZ_ERROR_GENERIC, "%zu pages of text laid out on %d PDF pages",
                     n_pages, n);
        dst = pdf_create_document(ctx);
        for (int i = 0; i < n; i++) {
            if (!scanned || scanned[i])
                add_scanned_page(ctx, dst, src, i, dpi);
            else
                pdf_graft_page(ctx, dst, -1, pdf_document_from_fz_document(ctx, src), i);
        }
        pdf_write_options wo = pdf_default_write_options;
        wo.do_compress = 1;
        wo.do_compress_images = 1;
        pdf_save_document(ctx, dst, path, &wo);
    }
    fz_always(ctx)
    {
        pdf_drop_document(ctx, dst);
        fz_drop_document(ctx, src);
    }
    fz_catch(ctx)
    {
        dq_set_error("cannot write '%s': %s", path, fz_caught_message(ctx));
        rc = -1;
    }
    fz_drop_context(ctx);
    return rc;
}

int scangen_write(const char *path, const pdfgen_page *pages, size_t n_pages,
                  const bool *scanned, int dpi)
{
    dq_buf text_path = DQ_BUF_INIT;
    dq_buf_printf(&text_path, "%s.text.pdf", path);
    int rc = pdfgen_write(text_path.data, pages, n_pages, NULL);
    if (rc == 0)
        rc = scan_file(text_path.data, path, n_pages, scanned, dpi);
    unlink(text_path.data);
    dq_buf_free(&text_path);
    return rc;
}

int scangen_scan_pdf(const char *src, const char *dst, int dpi)
{
    return scan_file(src, dst, 0, NULL, dpi);
}

/* s without whitespace, as code points; *n gets the count. */
static uint32_t *code_points(const char *s, size_t *n)
{
    size_t len = strlen(s);
    uint32_t *cps = dq_calloc(len + 1, sizeof *cps);
    *n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = utf8_decode(s + i, len - i, &cp);
        if (k < 0) {
            i++;
            continue;
        }
        i += (size_t)k;
        if (cp >= 0xFF01 && cp <= 0xFF5E)
            cp -= 0xFEE0;
        if (cp != ' ' && cp != '\n' && cp != '\t' && cp != '\r' && cp != '\f' && cp != 0x3000)
            cps[(*n)++] = cp;
    }
    return cps;
}

double scangen_cer(const char *want, const char *got)
{
    size_t n, m;
    uint32_t *a = code_points(want, &n);
    uint32_t *b = code_points(got, &m);
    size_t *row = dq_calloc(m + 1, sizeof *row);
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    double cer = n ? (double)row[m] / (double)n : (m ? 1.0 : 0.0);
    free(row);
    free(a);
    free(b);
    return cer;
}
