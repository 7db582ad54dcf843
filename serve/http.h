/* http.h - what every handler answers a request with: the request as the
 * daemon hands it over, JSON and error replies, the body and the query
 * string, and the server's log.
 *
 * A request lives in one serve_request from its first byte to the response's
 * completion; handlers take what they need from it and queue exactly one
 * response (serve_reply_* helpers), returning MHD_YES/MHD_NO as MHD wants.
 */
#ifndef DQ_SERVE_HTTP_H
#define DQ_SERVE_HTTP_H

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "common/common.h"
#include "serve/serve.h"

typedef struct serve_request {
    serve_server *srv;
    struct MHD_Connection *conn;
    const char *method, *url;
    double started;
    int status;                 /* of the queued response, for the access log */
    size_t bytes;               /* response body bytes when known */
    dq_buf body;                /* a JSON request body, up to max_body_bytes */
    bool too_large;             /* the body passed the limit: answer 413 */
    struct upload *upload;      /* POST /api/ingest in progress (upload.c) */
    struct serve_conn *conn_entry; /* its connection in srv->conns (NULL: untracked) */
} serve_request;

/* A response with body (copied), its type and no-store, for a caller that
 * adds headers before serve_reply_response; NULL when out of memory. */
struct MHD_Response *serve_response_copy(serve_request *rq, const char *content_type,
                                         const void *body, size_t n);
/* Queues a response with body (copied) and status; records status for the log. */
enum MHD_Result serve_reply(serve_request *rq, int status, const char *content_type,
                            const void *body, size_t n);
/* msg as a client may see it (error replies, streamed error events, job
 * replies, llm_error): the server's own folders (store, uploads) taken out,
 * so a path under them reads store-relative; any other absolute path that
 * names something on this machine (a model file, a folder outside the store)
 * cut to its last name; URL credentials and secret query values redacted
 * (net_text_redact). Caller frees; NULL for NULL. */
char *serve_public_text(serve_server *srv, const char *msg);
/* Queues root as JSON and deletes it. */
enum MHD_Result serve_reply_json(serve_request *rq, int status, cJSON *root);
/* Queues {"error": {"message", "type", "code"}} (OpenAI's error shape),
 * the message as serve_public_text shows it. */
enum MHD_Result serve_reply_error(serve_request *rq, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Queues a response built elsewhere (a stream), taking ownership. */
enum MHD_Result serve_reply_response(serve_request *rq, int status, struct MHD_Response *r);

/* True when the client has closed its connection (a load tester giving up
 * on a request that waited too long): the request need not be answered. */
bool serve_client_gone(serve_request *rq);

/* Parses rq->body as a JSON object; NULL after queueing a 400 (*result set). */
cJSON *serve_parse_body(serve_request *rq, enum MHD_Result *result);
/* A query-string argument, or NULL. */
const char *serve_arg(serve_request *rq, const char *name);

/* Writes one log line through params.log (printf-style). */
void serve_log(serve_server *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
