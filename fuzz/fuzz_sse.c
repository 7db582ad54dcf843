/* fuzz_sse.c - libFuzzer harness: the Server-Sent Events parser on arbitrary streams.
 *
 * The same bytes are fed whole and in pieces cut where the input's own bytes
 * say (1 to 7 bytes at a time): both must give the same events and the same
 * result, every event's data must be NUL-terminated at its length, and the
 * UTF-8 hold-back helper may keep back at most 3 bytes. (After i6's
 * tests/fuzz/sse_fuzz.c, here so `make fuzz` and ctest's replay cover it.)
 */
#include "common/common.h"
#include "generate/sse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int collect(void *ctx, const char *event, const char *data, size_t len)
{
    dq_buf *b = ctx;
    if (data[len] != '\0')
        abort();
    dq_buf_printf(b, "%zu:%s|%zu:", strlen(event), event, len);
    dq_buf_append(b, data, len);
    dq_buf_putc(b, '\n');
    return 0;
}

static int parse(const uint8_t *in, size_t n, bool pieces, dq_buf *out)
{
    sse_parser p;
    sse_init(&p, collect, out);
    p.max_line = 4096;
    int rc = 0;
    if (!pieces) {
        rc = sse_feed(&p, (const char *)in, n);
    } else {
        size_t i = 0, k = 0;
        while (i < n && rc == 0) {
            size_t step = 1 + (in[k++ % n] % 7);
            if (step > n - i)
                step = n - i;
            rc = sse_feed(&p, (const char *)in + i, step);
            i += step;
        }
    }
    if (rc == 0)
        rc = sse_finish(&p);
    sse_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t n)
{
    dq_buf whole = DQ_BUF_INIT, cut = DQ_BUF_INIT;
    int a = parse(in, n, false, &whole);
    int b = parse(in, n, true, &cut);
    if (a != b || whole.len != cut.len || (whole.len && memcmp(whole.data, cut.data, whole.len)))
        abort();
    size_t keep = sse_utf8_complete((const char *)in, n);
    if (keep > n || n - keep > 3)
        abort();
    dq_buf_free(&whole);
    dq_buf_free(&cut);
    return 0;
}
