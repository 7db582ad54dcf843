/* error.c - the thread-local "last error" that failing functions leave behind. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

void dq_set_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
}

const char *dq_last_error(void)
{
    return last_error;
}
