/* stream.c - response bodies produced while they are sent (Server-Sent
 * Events for streamed answers).
 *
 * The producer runs on its own thread and appends to a buffer; MHD's reader
 * callback, on the connection's thread, blocks until there is something to
 * send or the producer is done. When the client goes away MHD frees the
 * response: the free callback marks the stream cancelled (the producer's next
 * stream_write returns -1, which stops retrieval or the LLM), joins the
 * producer and frees everything, so no thread outlives its response.
 */
#include "serve/stream.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "pipeline/pipeline.h"

struct serve_stream {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    dq_buf buf;      /* written, not yet sent: buf.data[off..len) */
    size_t off;
    bool done;       /* the producer returned */
    bool cancelled;  /* the response was freed (client gone or finished) */
    pthread_t thread;
    stream_produce_fn produce;
    void *arg;
    void (*arg_free)(void *);
};

static void *producer_main(void *p)
{
    serve_stream *s = p;
    s->produce(s, s->arg);
    pthread_mutex_lock(&s->lock);
    s->done = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    serve_stream *s = cls;
    pthread_mutex_lock(&s->lock);
    while (s->off == s->buf.len && !s->done)
        pthread_cond_wait(&s->cond, &s->lock);
    ssize_t n;
    if (s->off < s->buf.len) {
        size_t k = s->buf.len - s->off;
        if (k > max)
            k = max;
        memcpy(out, s->buf.data + s->off, k);
        s->off += k;
        if (s->off == s->buf.len) {
            dq_buf_clear(&s->buf);
            s->off = 0;
        }
        n = (ssize_t)k;
    } else {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

static void stream_free(void *cls)
{
    serve_stream *s = cls;
    pthread_mutex_lock(&s->lock);
    s->cancelled = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    if (s->arg_free)
        s->arg_free(s->arg);
    dq_buf_free(&s->buf);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

struct MHD_Response *stream_start(stream_produce_fn produce, void *arg, void (*arg_free)(void *),
                                  const char *content_type)
{
    serve_stream *s = dq_calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->produce = produce;
    s->arg = arg;
    s->arg_free = arg_free;
    if (pthread_create(&s->thread, NULL, producer_main, s) != 0) {
        dq_set_error("cannot start a thread for the answer");
        goto fail;
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, reader, s, stream_free);
    if (!r) {
        dq_set_error("cannot create a streamed response");
        stream_free(s); /* cancels and joins the producer */
        return NULL;
    }
    MHD_add_response_header(r, "Content-Type", content_type);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    return r;
fail:
    if (arg_free)
        arg_free(arg);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
    return NULL;
}

int stream_write(serve_stream *s, const char *data, size_t n)
{
    pthread_mutex_lock(&s->lock);
    int rc = s->cancelled ? -1 : 0;
    if (rc == 0) {
        dq_buf_append(&s->buf, data, n);
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int stream_write_event(serve_stream *s, cJSON *obj)
{
    char *text = rag_json_print(obj, false);
    cJSON_Delete(obj);
    dq_buf ev = DQ_BUF_INIT;
    dq_buf_printf(&ev, "data: %s\n\n", text);
    free(text);
    int rc = stream_write(s, ev.data, ev.len);
    dq_buf_free(&ev);
    return rc;
}
