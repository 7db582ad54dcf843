/* sse_fuzz.c - libFuzzer target for the SSE parser: any bytes, fed whole and
 * fed in pieces cut where the input's own bytes say, must give the same
 * events, and nothing may crash or leak. Build and run with
 * scripts/fuzz-sse.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "generate/sse.h"

static int collect(void *ctx, const char *event, const char *data, size_t len)
{
    dq_buf *b = ctx;
    if (strlen(data) != len && memchr(data, '\0', len) == NULL)
        abort(); /* data must be NUL-terminated at len */
    dq_buf_printf(b, "%zu:%s|%zu:", strlen(event), event, len);
    dq_buf_append(b, data, len);
    dq_buf_putc(b, '\n');
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
    dq_buf whole = DQ_BUF_INIT, pieces = DQ_BUF_INIT;
    sse_parser p;
    sse_init(&p, collect, &whole);
    p.max_line = 4096;
    int a = sse_feed(&p, (const char *)in, n);
    if (a == 0)
        a = sse_finish(&p);
    sse_free(&p);
    sse_init(&p, collect, &pieces);
    p.max_line = 4096;
    int b = 0;
    size_t i = 0, k = 0;
    while (i < n && b == 0) {
        size_t step = 1 + (in[k++ % n] % 7);
        if (step > n - i)
            step = n - i;
        b = sse_feed(&p, (const char *)in + i, step);
        i += step;
    }
    if (b == 0)
        b = sse_finish(&p);
    sse_free(&p);
    if (a != b || whole.len != pieces.len ||
        (whole.len && memcmp(whole.data, pieces.data, whole.len) != 0))
        abort();
    size_t cut = sse_utf8_complete((const char *)in, n);
    if (cut > n || n - cut > 3)
        abort();
    dq_buf_free(&whole);
    dq_buf_free(&pieces);
    return 0;
}
