/* sse.c - incremental Server-Sent Events parsing.
 *
 * A byte-at-a-time state machine over lines would be simplest, but streams
 * arrive in network-sized pieces, so each feed scans for line ends with
 * memchr and appends whole runs; only the CR/LF pairing crosses feeds, in
 * after_cr. Fields follow the standard: "name: value" with one optional
 * space after the colon, unknown names ignored, "id" and "retry" unused.
 */
#include "generate/sse.h"

#include <string.h>

#define SSE_MAX_LINE ((size_t)16 << 20)

void sse_init(sse_parser *p, sse_event_cb cb, void *ctx)
{
    memset(p, 0, sizeof *p);
    p->cb = cb;
    p->ctx = ctx;
    p->max_line = SSE_MAX_LINE;
}

void sse_free(sse_parser *p)
{
    if (!p)
        return;
    dq_buf_free(&p->line);
    dq_buf_free(&p->data);
    dq_buf_free(&p->event);
}

static int dispatch(sse_parser *p)
{
    int rc = 0;
    if (p->has_data) {
        /* the standard drops the last data line's '\n' */
        if (p->data.len > 0 && p->data.data[p->data.len - 1] == '\n')
            p->data.data[--p->data.len] = '\0';
        const char *type = p->event.len ? p->event.data : "message";
        p->events++;
        rc = p->cb(p->ctx, type, p->data.data ? p->data.data : "", p->data.len);
    }
    dq_buf_clear(&p->data);
    dq_buf_clear(&p->event);
    p->has_data = false;
    return rc;
}

static int process_line(sse_parser *p, const char *s, size_t n)
{
    if (n == 0)
        return dispatch(p);
    if (s[0] == ':')
        return 0; /* a comment: ": keep-alive", ": ping" */
    const char *colon = memchr(s, ':', n);
    size_t name_len = colon ? (size_t)(colon - s) : n;
    const char *value = colon ? colon + 1 : s + n;
    size_t value_len = (size_t)(s + n - value);
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 4 && !memcmp(s, "data", 4)) {
        dq_buf_append(&p->data, value, value_len);
        dq_buf_putc(&p->data, '\n');
        p->has_data = true;
    } else if (name_len == 5 && !memcmp(s, "event", 5)) {
        dq_buf_clear(&p->event);
        dq_buf_append(&p->event, value, value_len);
    } else if (name_len == 5 && !memcmp(s, "error", 5)) {
        /* llama-server: "error: {json}" in place of a data line */
        dq_buf_clear(&p->event);
        dq_buf_puts(&p->event, "error");
        dq_buf_append(&p->data, value, value_len);
        dq_buf_putc(&p->data, '\n');
        p->has_data = true;
    }
    return 0;
}

int sse_feed(sse_parser *p, const char *buf, size_t n)
{
    p->bytes += n;
    size_t i = 0;
    if (p->after_cr && n > 0) {
        p->after_cr = false;
        if (buf[0] == '\n')
            i = 1;
    }
    while (i < n) {
        const char *start = buf + i;
        size_t left = n - i;
        /* the first CR or LF in start[0..left) */
        const char *lf = memchr(start, '\n', left);
        const char *cr = memchr(start, '\r', lf ? (size_t)(lf - start) : left);
        const char *end = cr ? cr : lf;
        if (!end) {
            if (p->line.len + left > p->max_line) {
                dq_set_error("event-stream line longer than %zu bytes", p->max_line);
                return -1;
            }
            dq_buf_append(&p->line, start, left);
            break;
        }
        size_t seg = (size_t)(end - start);
        int rc;
        if (p->line.len) {
            dq_buf_append(&p->line, start, seg);
            rc = process_line(p, p->line.data, p->line.len);
            dq_buf_clear(&p->line);
        } else {
            rc = process_line(p, start, seg);
        }
        i += seg + 1;
        if (*end == '\r') {
            if (i < n) {
                if (buf[i] == '\n')
                    i++;
            } else {
                p->after_cr = true;
            }
        }
        if (rc)
            return rc;
    }
    return 0;
}

int sse_finish(sse_parser *p)
{
    int rc = 0;
    if (p->line.len) {
        rc = process_line(p, p->line.data, p->line.len);
        dq_buf_clear(&p->line);
    }
    if (rc == 0)
        rc = dispatch(p);
    return rc;
}

size_t sse_utf8_complete(const char *s, size_t n)
{
    /* look back over at most 3 continuation bytes for a lead byte */
    size_t k = 0;
    while (k < 3 && k < n && ((unsigned char)s[n - 1 - k] & 0xC0) == 0x80)
        k++;
    if (k == n)
        return n; /* only continuation bytes (or nothing): invalid, not held */
    unsigned char lead = (unsigned char)s[n - 1 - k];
    size_t need = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 && lead < 0xF0 ? 3
                  : lead >= 0xC2 && lead < 0xE0 ? 2 : 0;
    if (need > k + 1)
        return n - 1 - k;
    return n;
}
