/* sse.h - an incremental Server-Sent Events parser (the text/event-stream
 * format of the WHATWG HTML standard) and a UTF-8 hold-back helper, for the
 * streamed replies of OpenAI-compatible chat endpoints.
 *
 * Bytes go in as they arrive, in pieces of any size: a line, an event, a
 * CRLF pair or a multi-byte character may be split across any two feeds.
 * Lines end with LF, CRLF or CR; ":" lines are comments (keep-alives);
 * "data:" lines of one event are joined with "\n"; a blank line dispatches.
 * llama-server reports a failure mid-stream as an "error: {...}" line, which
 * the standard would ignore; here it dispatches as an event named "error".
 */
#ifndef DQ_SSE_H
#define DQ_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/common.h"

/* Called with each complete event: its type ("message" unless an "event:"
 * field named one) and its data (len bytes, NUL-terminated). A non-zero
 * return stops the parser; sse_feed returns it. */
typedef int (*sse_event_cb)(void *ctx, const char *event, const char *data, size_t len);

/* Owns its buffers; zero-initialise with sse_init, release with sse_free. */
typedef struct {
    sse_event_cb cb;
    void *ctx;
    dq_buf line;     /* the line being read */
    dq_buf data;     /* data lines of the event being read, each + '\n' */
    dq_buf event;    /* its "event:" type, empty for "message" */
    bool has_data;   /* a data (or error) field was seen */
    bool after_cr;   /* the last byte was CR: a following LF belongs to it */
    size_t max_line; /* longest line accepted (bytes), default 16 MiB */
    size_t events;   /* events dispatched so far */
    size_t bytes;    /* bytes fed so far */
} sse_parser;

void sse_init(sse_parser *p, sse_event_cb cb, void *ctx);
void sse_free(sse_parser *p);

/* Feeds n bytes. Returns 0, the callback's non-zero value, or -1 with the
 * error set when a line exceeds max_line. */
int sse_feed(sse_parser *p, const char *buf, size_t n);

/* At end of stream: dispatches an event whose blank line never came (a
 * server that closes right after its last "data:" line), as clients in
 * practice do. Same returns as sse_feed. */
int sse_finish(sse_parser *p);

/* The length of the longest prefix of s[0..n) that does not end inside a
 * multi-byte UTF-8 character: a trailing lead byte and its continuation bytes
 * so far are held back until the rest arrives. Invalid bytes are not held. */
size_t sse_utf8_complete(const char *s, size_t n);

#endif
