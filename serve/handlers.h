/* handlers.h - the route handlers (one file each area) and the router that
 * picks them; the daemon (server.c) calls these and nothing below them.
 *
 * Handlers depend on the helpers (http.h, pool.h, stream.h, answer.h,
 * jobs.h) and the server's state (context.h), never on the daemon.
 */
#ifndef DQ_SERVE_HANDLERS_H
#define DQ_SERVE_HANDLERS_H

#include "serve/http.h"

/* Routes a complete request (body read) to its handler. */
enum MHD_Result serve_route(serve_request *rq);

enum MHD_Result api_health(serve_request *rq);
enum MHD_Result api_search(serve_request *rq);
enum MHD_Result api_ask(serve_request *rq);
enum MHD_Result api_documents(serve_request *rq);
enum MHD_Result api_page_png(serve_request *rq, long long doc_id, long page);
enum MHD_Result api_jobs(serve_request *rq, long long job_id); /* job_id < 0: all */
enum MHD_Result openai_models(serve_request *rq);
enum MHD_Result openai_chat(serve_request *rq);
enum MHD_Result static_asset(serve_request *rq, const char *path);

/* upload.c: the multipart body of POST /api/ingest, fed piece by piece. */
enum MHD_Result upload_begin(serve_request *rq);
enum MHD_Result upload_feed(serve_request *rq, const char *data, size_t n);
enum MHD_Result upload_finish(serve_request *rq);
void upload_free(struct upload *u);

/* Embedded web assets (generated from serve/web/ by CMake). */
typedef struct {
    const char *path;          /* "/", "/app.js" */
    const char *content_type;
    const unsigned char *data; /* (size) */
    size_t size;
} serve_asset;
extern const serve_asset serve_assets[];
extern const size_t serve_n_assets;

#endif
