/* stream.h - response bodies written by a producer thread while MHD sends
 * them (stream.c): streamed answers. */
#ifndef DQ_SERVE_STREAM_H
#define DQ_SERVE_STREAM_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stddef.h>

/* A response body written by a producer thread while MHD sends it: the
 * producer calls stream_write as text becomes ready; a client that went away
 * makes stream_write return -1 so the producer stops early. */
typedef struct serve_stream serve_stream;
typedef void (*stream_produce_fn)(serve_stream *s, void *arg);
/* Starts produce(s, arg) on its own thread; arg_free(arg) runs after it. NULL
 * with the error set when the thread cannot start (arg is then freed). */
struct MHD_Response *stream_start(stream_produce_fn produce, void *arg, void (*arg_free)(void *),
                                  const char *content_type);
int stream_write(serve_stream *s, const char *data, size_t n);
/* Writes one Server-Sent Event "data: <json>\n\n" and deletes obj. */
int stream_write_event(serve_stream *s, cJSON *obj);

#endif
