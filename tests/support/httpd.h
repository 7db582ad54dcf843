/* httpd.h - a tiny HTTP/1.1 server on 127.0.0.1 for tests of HTTP clients
 * (the embeddings endpoint, the LLM client).
 *
 * One thread accepts one connection at a time on an ephemeral port, reads a
 * request (Content-Length bodies), calls the test's handler, writes its
 * response and closes the connection (Connection: close).
 */
#ifndef DQ_TEST_HTTPD_H
#define DQ_TEST_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "common/common.h"

typedef struct {
    const char *method;  /* "POST" */
    const char *path;    /* "/v1/embeddings", query string included */
    const char *headers; /* the raw header lines, "Name: value\r\n" each */
    const char *body;    /* (body_len) bytes, NUL-terminated */
    size_t body_len;
} httpd_request;

typedef struct {
    int status;             /* 200 unless the handler sets it */
    char content_type[64];  /* "application/json" unless set */
    dq_buf body;            /* the handler appends; the server frees it */
    int delay_ms;           /* wait this long before answering */
    /* > 0: send the body in pieces cut after each blank line ("\n\n", as
     * server-sent events end), sleeping this long before each piece */
    int piece_delay_ms;
    /* > 0: cut the body into pieces of this many bytes instead (a line, an
     * event, a UTF-8 character split across reads), piece_delay_ms apart */
    int piece_bytes;
    /* Transfer-Encoding: chunked, one chunk a piece (as llama-server, vLLM
     * and Ollama stream), instead of Content-Length */
    bool chunked;
    /* > 0: after this many pieces, wait stall_ms with the connection open
     * (a stalled server) */
    int stall_after;
    int stall_ms;
    /* > 0: after this many pieces, close the connection mid-body */
    int close_after;
} httpd_response;

/* Runs on the server thread, one request at a time. */
typedef void (*httpd_handler)(void *ctx, const httpd_request *req, httpd_response *resp);

typedef struct httpd httpd;

/* Starts listening; NULL with the error set when it cannot. */
httpd *httpd_start(httpd_handler handler, void *ctx);
/* Stops the thread (cutting short a pending delay) and frees the server;
 * httpd_stop(NULL) is a no-op. */
void httpd_stop(httpd *s);
int httpd_port(const httpd *s);
/* "http://127.0.0.1:<port>" */
const char *httpd_url(const httpd *s);
/* Requests read completely so far. */
int httpd_requests(const httpd *s);

/* Copies the value of header name (case-insensitive) into out; false when
 * the request has no such header. */
bool httpd_header(const httpd_request *req, const char *name, char *out, size_t cap);

/* A port on 127.0.0.1 where nothing listens (for "connection refused"). */
int httpd_closed_port(void);

#endif
