/* strs.c - dq_strs, a growing array of owned strings (paths, hashes) with
 * sorted membership tests. */
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

void dq_strs_add(dq_strs *l, const char *s)
{
    DQ_GROW(l->items, l->cap, l->n + 1);
    l->items[l->n++] = dq_strdup(s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void dq_strs_sort(dq_strs *l)
{
    if (l->n)
        qsort(l->items, l->n, sizeof *l->items, cmp_str);
}

bool dq_strs_has(const dq_strs *l, const char *s)
{
    return l->n && bsearch(&s, l->items, l->n, sizeof *l->items, cmp_str) != NULL;
}

void dq_strs_free(dq_strs *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}
