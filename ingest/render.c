/* render.c - a page of a document as a PNG, with boxes drawn on it (the
 * passage a citation points at).
 *
 * Each call has its own fz_context, so any number of server threads may
 * render at once. Highlights are drawn into the pixmap's samples: a
 * translucent yellow fill, which reads as a grey band without colour, and a
 * solid dark outline two pixels wide, so the passage stands out in print,
 * in greyscale and to colour-blind readers alike.
 */
#include <mupdf/fitz.h>
#include <math.h>
#include <string.h>

#include "common/common.h"
#include "ingest/ingest.h"
#include "ingest/memcap.h"

static void blend(unsigned char *p, int n, const unsigned char rgb[3], int alpha)
{
    for (int c = 0; c < 3 && c < n; c++)
        p[c] = (unsigned char)((p[c] * (255 - alpha) + rgb[c] * alpha) / 255);
}

static void draw_box(fz_pixmap *pix, fz_rect r)
{
    static const unsigned char fill[3] = {255, 214, 0}, edge[3] = {120, 60, 0};
    int w = pix->w, h = pix->h, n = pix->n;
    int x0 = (int)r.x0 - pix->x - 2, x1 = (int)r.x1 - pix->x + 2;
    int y0 = (int)r.y0 - pix->y - 2, y1 = (int)r.y1 - pix->y + 2;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > w) x1 = w;
    if (y1 > h) y1 = h;
    for (int y = y0; y < y1; y++) {
        unsigned char *row = pix->samples + (size_t)y * (size_t)pix->stride;
        for (int x = x0; x < x1; x++) {
            bool border = x < x0 + 2 || x >= x1 - 2 || y < y0 + 2 || y >= y1 - 2;
            if (border)
                blend(row + (size_t)x * (size_t)n, n, edge, 255);
            else
                blend(row + (size_t)x * (size_t)n, n, fill, 90);
        }
    }
}

int ingest_render_page_png(const char *path, const char *password, int page_no, float dpi,
                           const ingest_box *boxes, size_t n_boxes, unsigned char **png,
                           size_t *png_len)
{
    *png = NULL;
    *png_len = 0;
    /* Zeroed small blocks, no cap (the pixel cap bounds a render): MuPDF's
     * page-tree walk reads a block it never filled (memcap.h). */
    memcap mem = memcap_make(0);
    fz_context *ctx = memcap_new_context(&mem, FZ_STORE_DEFAULT);
    if (!ctx)
        return -1;
    /* MuPDF's warnings about damaged files are noise for a rendered page. */
    fz_set_warning_callback(ctx, NULL, NULL);
    fz_set_error_callback(ctx, NULL, NULL);
    fz_document *doc = NULL;
    fz_page *page = NULL;
    fz_pixmap *pix = NULL;
    fz_buffer *buf = NULL;
    int rc = -1;
    fz_var(doc);
    fz_var(page);
    fz_var(pix);
    fz_var(buf);
    fz_try(ctx)
    {
        fz_register_document_handlers(ctx);
        doc = fz_open_document(ctx, path);
        if (fz_needs_password(ctx, doc) &&
            (!password || !fz_authenticate_password(ctx, doc, password)))
            fz_throw(ctx, FZ_ERROR_GENERIC, "\001file is encrypted");
        int n = fz_count_pages(ctx, doc);
        if (page_no < 1 || page_no > n)
            fz_throw(ctx, FZ_ERROR_GENERIC, "\001no page %d (the document has %d)", page_no, n);
        page = fz_load_page(ctx, doc, page_no - 1);
        /* A page may be any size (14400 pt square is legal): past the cap
         * the whole page is drawn smaller, never a part of it. */
        float scale = dpi / 72.0f;
        fz_rect b = fz_bound_page(ctx, page);
        double w = ((double)b.x1 - b.x0) * scale, h = ((double)b.y1 - b.y0) * scale;
        if (w * h > INGEST_RENDER_MAX_PIXELS)
            scale *= (float)sqrt(INGEST_RENDER_MAX_PIXELS / (w * h));
        fz_matrix m = fz_scale(scale, scale);
        pix = fz_new_pixmap_from_page(ctx, page, m, fz_device_rgb(ctx), 0);
        for (size_t i = 0; i < n_boxes; i++)
            if (boxes[i].page == page_no) {
                fz_rect r = {boxes[i].x0, boxes[i].y0, boxes[i].x1, boxes[i].y1};
                draw_box(pix, fz_transform_rect(r, m));
            }
        buf = fz_new_buffer_from_pixmap_as_png(ctx, pix, fz_default_color_params);
        unsigned char *data;
        size_t len = fz_buffer_storage(ctx, buf, &data);
        *png = dq_malloc(len ? len : 1);
        memcpy(*png, data, len);
        *png_len = len;
        rc = 0;
    }
    fz_always(ctx)
    {
        fz_drop_buffer(ctx, buf);
        fz_drop_pixmap(ctx, pix);
        fz_drop_page(ctx, page);
        fz_drop_document(ctx, doc);
    }
    fz_catch(ctx)
    {
        const char *msg = fz_caught_message(ctx);
        if (msg[0] == '\001')
            dq_set_error("cannot render page %d: %s", page_no, msg + 1);
        else
            dq_set_error("cannot render page %d: %s", page_no, msg);
    }
    memcap_drop_context(&mem, ctx);
    return rc;
}
