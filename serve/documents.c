/* documents.c - GET /api/documents (files, status, pages, failures) and
 * GET /api/documents/{id}/pages/{n}.png (the page rendered by MuPDF, with
 * the boxes of ?chunk=ID drawn on it).
 *
 * Documents are addressed by id only: the file rendered is the one the store
 * records for that id, under the store's root, so no request can name a path.
 */
#include "serve/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "serve/context.h"

typedef struct {
    store *st;
    cJSON *arr;
} list_ctx;

static int add_file(void *ctx, const store_file *f)
{
    list_ctx *lc = ctx;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "file_id", (double)f->id);
    cJSON_AddStringToObject(o, "path", f->path);
    cJSON_AddStringToObject(o, "status", f->status ? f->status : "");
    if (f->error)
        cJSON_AddStringToObject(o, "error", f->error);
    else
        cJSON_AddNullToObject(o, "error");
    cJSON_AddNumberToObject(o, "size", (double)f->size);
    cJSON_AddNumberToObject(o, "mtime", (double)f->mtime);
    if (f->doc_id) {
        store_document d;
        int rc = store_get_document(lc->st, f->doc_id, &d);
        if (rc < 0) {
            cJSON_Delete(o);
            return -1;
        }
        cJSON_AddNumberToObject(o, "doc_id", (double)f->doc_id);
        if (rc > 0) {
            cJSON_AddNumberToObject(o, "pages", d.n_pages);
            cJSON_AddStringToObject(o, "format", d.format ? d.format : "");
            if (d.title)
                cJSON_AddStringToObject(o, "title", d.title);
            else
                cJSON_AddNullToObject(o, "title");
        }
        store_document_free(&d);
    } else {
        cJSON_AddNullToObject(o, "doc_id");
    }
    cJSON_AddItemToArray(lc->arr, o);
    return 0;
}

enum MHD_Result api_documents(serve_request *rq)
{
    store *st = store_pool_acquire(&rq->srv->stores);
    if (!st)
        return serve_reply_error(rq, 503, "store unavailable: %s", dq_last_error());
    cJSON *root = cJSON_CreateObject();
    list_ctx lc = {st, cJSON_AddArrayToObject(root, "documents")};
    int rc = store_each_file(st, add_file, &lc);
    store_pool_release(&rq->srv->stores, st);
    if (rc != 0) {
        cJSON_Delete(root);
        return serve_reply_error(rq, 500, "cannot list documents: %s", dq_last_error());
    }
    return serve_reply_json(rq, 200, root);
}

/* Formats MuPDF lays out in pages; text files have no page images. */
static bool renderable(const char *format)
{
    static const char *const ok[] = {"pdf", "epub", "xps", "cbz", "fb2"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (format && !strcmp(format, ok[i]))
            return true;
    return false;
}

/* Replaces file (an absolute path) with its base name throughout msg. */
static void name_only(char *msg, const char *file)
{
    if (!file || !*file)
        return;
    const char *slash = strrchr(file, '/');
    const char *base = slash ? slash + 1 : file;
    size_t n = strlen(file), b = strlen(base);
    for (char *p = strstr(msg, file); p && n > b; p = strstr(p, file)) {
        memmove(p, p + n - b, strlen(p + n - b) + 1);
        p += b;
    }
}

/* A hit that is a whole page names its chunks (page_chunks): the page is
 * drawn with all their lines. */
enum { MAX_PAGE_CHUNKS = 32 };

/* "12" or "12,13,15": positive ids, at most MAX_PAGE_CHUNKS. */
static int parse_chunk_ids(const char *arg, long long *ids, size_t *n)
{
    const char *p = arg;
    *n = 0;
    for (;;) {
        char *end;
        if (*n == MAX_PAGE_CHUNKS || *p < '0' || *p > '9')
            return -1;
        long long id = strtoll(p, &end, 10);
        if (id <= 0)
            return -1;
        ids[(*n)++] = id;
        if (!*end)
            return 0;
        if (*end != ',')
            return -1;
        p = end + 1;
    }
}

enum MHD_Result api_page_png(serve_request *rq, long long doc_id, long page)
{
    const char *chunk_arg = serve_arg(rq, "chunk");
    const char *dpi_arg = serve_arg(rq, "dpi");
    long long chunks[MAX_PAGE_CHUNKS];
    size_t n_chunks = 0;
    double dpi = 110;
    if (chunk_arg && parse_chunk_ids(chunk_arg, chunks, &n_chunks) < 0)
        return serve_reply_error(rq, 400, "chunk must be a chunk id, or up to %d joined by commas",
                                 MAX_PAGE_CHUNKS);
    if (dpi_arg) {
        char *end;
        dpi = strtod(dpi_arg, &end);
        if (end == dpi_arg || *end || !(dpi >= 36 && dpi <= 300))
            return serve_reply_error(rq, 400, "dpi must be from 36 to 300");
    }
    store *st = store_pool_acquire(&rq->srv->stores);
    if (!st)
        return serve_reply_error(rq, 503, "store unavailable: %s", dq_last_error());
    enum MHD_Result ret;
    store_document d;
    store_box *boxes = NULL;
    size_t n_boxes = 0;
    char *path = NULL;
    int rc = store_get_document(st, doc_id, &d);
    if (rc < 0) {
        /* MuPDF's reason may name the file: by its name only, as the file
         * may lie outside the store's folder. */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", dq_last_error());
        name_only(msg, path);
        ret = serve_reply_error(rq, 500, "document %lld: %s", doc_id, msg);
        goto done;
    }
    if (rc == 0 || !d.path) {
        ret = serve_reply_error(rq, 404, "no document %lld", doc_id);
        goto done;
    }
    if (!renderable(d.format)) {
        ret = serve_reply_error(rq, 404, "document %lld is a %s file, which has no page images",
                                doc_id, d.format ? d.format : "text");
        goto done;
    }
    if (page < 1 || page > d.n_pages) {
        ret = serve_reply_error(rq, 404, "document %lld has no page %ld (it has %d)", doc_id,
                                page, d.n_pages);
        goto done;
    }
    for (size_t c = 0; c < n_chunks; c++) {
        long long chunk_id = chunks[c];
        store_hit h;
        int found = store_get_chunk(st, chunk_id, &h);
        bool mine = found > 0 && h.doc_id == doc_id;
        store_hit_free(&h);
        store_box *more = NULL;
        size_t n_more = 0;
        if (found < 0 ||
            (mine && store_get_chunk_boxes(st, chunk_id, (int)page, &more, &n_more) < 0)) {
            ret = serve_reply_error(rq, 500, "%s", dq_last_error());
            goto done;
        }
        if (!mine) {
            ret = serve_reply_error(rq, 404, "document %lld has no chunk %lld", doc_id, chunk_id);
            goto done;
        }
        boxes = dq_realloc(boxes, (n_boxes + n_more + 1) * sizeof *boxes);
        if (n_more)
            memcpy(boxes + n_boxes, more, n_more * sizeof *more);
        n_boxes += n_more;
        free(more);
    }
    path = store_abs_path(store_root(st), d.path);
    store_pool_release(&rq->srv->stores, st);
    st = NULL;

    ingest_box *ib = dq_calloc(n_boxes ? n_boxes : 1, sizeof *ib);
    for (size_t i = 0; i < n_boxes; i++)
        ib[i] = (ingest_box){boxes[i].page, boxes[i].x0, boxes[i].y0, boxes[i].x1, boxes[i].y1};
    unsigned char *png = NULL;
    size_t png_len = 0;
    rc = ingest_render_page_png(path, NULL, (int)page, (float)dpi, ib, n_boxes, &png,
                                &png_len);
    free(ib);
    if (rc < 0) {
        /* MuPDF's reason may name the file: by its name only, as the file
         * may lie outside the store's folder. */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", dq_last_error());
        name_only(msg, path);
        ret = serve_reply_error(rq, 500, "document %lld: %s", doc_id, msg);
        goto done;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(png_len, png, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "image/png");
    MHD_add_response_header(r, "Cache-Control", "private, max-age=300");
    char nb[32];
    snprintf(nb, sizeof nb, "%zu", n_boxes);
    MHD_add_response_header(r, "X-Docqa-Highlights", nb);
    rq->bytes = png_len;
    ret = serve_reply_response(rq, 200, r);
done:
    store_pool_release(&rq->srv->stores, st);
    store_document_free(&d);
    free(boxes);
    free(path);
    return ret;
}
