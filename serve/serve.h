/* serve.h - `docqa serve`: the store over HTTP for browsers, scripts and any
 * OpenAI client.
 *
 * One libmicrohttpd daemon, a thread per connection, so a streamed answer
 * may block its own thread without holding up other clients. Routes:
 *   GET  /health                          liveness and counts (no token needed)
 *   GET  /                                the web page (HTML/CSS/JS embedded at build time)
 *   GET  /api/search?q=&k=                BM25/hybrid hits with snippets
 *   POST /api/ask                         answer + sources, JSON or SSE ("stream": true)
 *   GET  /api/documents                   files with status, pages and failures
 *   GET  /api/documents/{id}/pages/{n}.png?chunk=ID   a page image, the chunk highlighted
 *   POST /api/ingest                      multipart upload, ingested by a background job
 *   GET  /api/jobs, /api/jobs/{id}        job progress
 *   GET  /v1/models, POST /v1/chat/completions   OpenAI-compatible, "docqa" is the model
 * Answers are the pipeline's answer turn (rag_answer_turn), as in `docqa
 * ask`: from the session's LLM, or extractively when none is set or it
 * cannot be reached before its first token; one LLM client per request in
 * flight (a client is not for concurrent use), kept in a pool for its
 * keep-alive connection.
 * Read requests take a read-only store connection from a small pool (SQLite
 * connections are never shared between threads at once, at most max_readers
 * lent, more requests queue); WAL lets them read while an ingest job writes.
 * Connections: past max_connections a new one closes the oldest idle one,
 * and a request that has not arrived whole in request_timeout_s is cut. Ingest jobs run `docqa ingest` as a child
 * process, so a malicious upload that crashes MuPDF takes down only its job.
 * Library code never prints: the access log and errors go to params.log.
 */
#ifndef DQ_SERVE_H
#define DQ_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/pipeline.h"

typedef void (*serve_log_fn)(void *ctx, const char *line);

typedef struct {
    const char *host;          /* address to bind, default "127.0.0.1" */
    int port;                  /* default 8080; 0 picks a free port (serve_port tells) */
    const char *token;         /* Bearer token for /api and /v1; required off loopback */
    const char *store_dir;     /* the .docqa directory; must exist */
    const char *docqa_bin;     /* the program ingest jobs run (`docqa ingest`) */
    const char *upload_dir;    /* where uploads are saved; NULL: <store_dir>/uploads */
    size_t max_body_bytes;     /* JSON request bodies, default 1 MiB */
    size_t max_upload_bytes;   /* one upload request, default 200 MiB */
    int max_jobs;              /* ingest jobs running at once, default 2 (more: 429) */
    int max_connections;       /* default 1024, lowered to fit the open-file limit; past
                                * it a new connection closes the oldest idle one */
    int max_per_client;        /* connections from one client address, default 512 (more
                                * are closed at once, so one client cannot take them all;
                                * a load test of 256 still leaves room for a monitor) */
    int idle_timeout_s;        /* a connection silent this long is closed, default 30 */
    int request_timeout_s;     /* a request's line, headers and body must arrive within
                                * this (plus 1 s per 64 KiB of declared body), default 30:
                                * a client sending a byte now and then is cut off */
    int search_cache;          /* /api/search replies kept for repeated queries, default
                                * 256 (0: none); any change to the store empties it */
    int max_readers;           /* store connections in use at once, default 16; more
                                * requests wait their turn (first come, first served) */
    int drain_timeout_s;       /* serve_stop waits this long for requests, default 30 */
    const char *allow_hosts;   /* more names the Host header may carry, comma-separated
                                * (a reverse proxy's name); NULL: the listening address only */
    struct rag_session *session; /* answers and searches (not owned): its settings, models
                                  * and LLM; requests bring their own store and LLM client */
    serve_log_fn log;          /* access log and errors, one line each; NULL: silent */
    void *log_ctx;
} serve_params;

serve_params serve_default_params(void);

typedef struct serve_server serve_server;

/* Starts listening. NULL with the error set (port in use, token missing for
 * a non-loopback address, store unreadable). */
serve_server *serve_start(const serve_params *params);
/* The port actually bound. */
int serve_port(const serve_server *srv);
/* Graceful stop: refuses new connections, waits for in-flight requests (up
 * to drain_timeout_s), stops running ingest jobs between files (SIGTERM to
 * the child, which keeps whole documents only), then frees everything.
 * serve_stop(NULL) is a no-op. */
void serve_stop(serve_server *srv);

/* True when host names a loopback address ("127.0.0.1", "::1", "localhost"). */
bool serve_host_is_loopback(const char *host);

#endif
