/* error.c - the thread-local "last error" that failing functions leave behind. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[1024];

void dq_set_error(const char *fmt, ...)
{
    /* Formatted aside first: callers wrap the last message in a new one
     * (dq_set_error("%s: %s", path, dq_last_error())), and vsnprintf must
     * not read the buffer it writes. */
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof msg);
}

const char *dq_last_error(void)
{
    return last_error;
}
