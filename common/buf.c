/* buf.c - growable strings and allocation that aborts on OOM. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void (*oom_handler)(size_t n); /* dq_set_out_of_memory's, or NULL */

void dq_set_out_of_memory(void (*fn)(size_t n))
{
    oom_handler = fn;
}

static void out_of_memory(size_t n)
{
    if (oom_handler)
        oom_handler(n);
    fprintf(stderr, "docqa: out of memory allocating %zu bytes\n", n);
    abort();
}

void *dq_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *dq_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        out_of_memory(n * size);
    return p;
}

void *dq_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n);
    return q;
}

char *dq_strdup(const char *s)
{
    return dq_strndup(s, strlen(s));
}

char *dq_strndup(const char *s, size_t n)
{
    char *p = dq_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void dq_buf_reserve(dq_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = dq_realloc(b->data, cap);
    b->cap = cap;
    /* A reserved but never appended buffer must still read as "". */
    b->data[b->len] = '\0';
}

void dq_buf_append(dq_buf *b, const char *s, size_t n)
{
    dq_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void dq_buf_puts(dq_buf *b, const char *s)
{
    dq_buf_append(b, s, strlen(s));
}

void dq_buf_putc(dq_buf *b, char c)
{
    dq_buf_append(b, &c, 1);
}

void dq_buf_printf(dq_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    dq_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void dq_buf_put_json_string(dq_buf *b, const char *s)
{
    dq_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': dq_buf_puts(b, "\\\""); break;
        case '\\': dq_buf_puts(b, "\\\\"); break;
        case '\n': dq_buf_puts(b, "\\n"); break;
        case '\r': dq_buf_puts(b, "\\r"); break;
        case '\t': dq_buf_puts(b, "\\t"); break;
        default:
            if (*p < 0x20)
                dq_buf_printf(b, "\\u%04x", *p);
            else
                dq_buf_putc(b, (char)*p);
        }
    }
    dq_buf_putc(b, '"');
}

void dq_buf_clear(dq_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *dq_buf_take(dq_buf *b)
{
    char *s = b->data ? b->data : dq_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

void dq_buf_free(dq_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
