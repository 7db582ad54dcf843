/* static.c - the web page's files, embedded in the binary at build time
 * (serve/web/ -> serve_assets.c by cmake/embed_assets.cmake), so docqa serve
 * needs no files beside itself, no Node build and no CDN. */
#include "serve/handlers.h"

#include <string.h>

enum MHD_Result static_asset(serve_request *rq, const char *path)
{
    if (!strcmp(path, "/"))
        path = "/index.html";
    for (size_t i = 0; i < serve_n_assets; i++) {
        const serve_asset *a = &serve_assets[i];
        if (strcmp(a->path, path) != 0)
            continue;
        struct MHD_Response *r =
            MHD_create_response_from_buffer(a->size, (void *)a->data, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Content-Type", a->content_type);
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        /* Everything the page needs comes from this server. */
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' blob: data:; "
                                "style-src 'self'; script-src 'self'; connect-src 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'");
        rq->bytes = a->size;
        return serve_reply_response(rq, 200, r);
    }
    return serve_reply_error(rq, 404, "no such page: %s", path);
}
