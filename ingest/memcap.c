/* memcap.c - the counting allocator behind every reader's fz_context (see memcap.h). */
#include "ingest/memcap.h"

#include "common/common.h"

#include <stdlib.h>
#include <string.h>

/* Each block carries its size in a header of 16 bytes, which keeps malloc's
 * alignment. Blocks up to MEM_ZEROED bytes are handed out zeroed (memcap.h). */
enum { MEM_HEAD = 16, MEM_ZEROED = 1024 };

memcap memcap_make(long long cap_bytes)
{
    memcap m = {0, cap_bytes > 0 ? (size_t)cap_bytes : 0, false};
    return m;
}

/* Whether growing by more bytes stays under the cap (and marks the hit if not). */
static bool room_for(memcap *m, size_t more)
{
    if (m->cap && (more > m->cap || m->used > m->cap - more)) {
        m->hit = true;
        return false;
    }
    return true;
}

static void *cap_malloc(void *user, size_t size)
{
    memcap *m = user;
    if (!room_for(m, size) || size > SIZE_MAX - MEM_HEAD)
        return NULL;
    /* malloc, not calloc: glibc's calloc never takes a block from the
     * thread's cache, and most of MuPDF's blocks are small ones freed soon. */
    char *p = malloc(size + MEM_HEAD);
    if (!p) { /* the process's own limit (isolate.c's backstop) stops the document too */
        m->hit = true;
        return NULL;
    }
    if (size <= MEM_ZEROED)
        memset(p + MEM_HEAD, 0, size);
    memcpy(p, &size, sizeof size);
    m->used += size;
    return p + MEM_HEAD;
}

static void cap_free(void *user, void *ptr)
{
    memcap *m = user;
    if (!ptr)
        return;
    char *p = (char *)ptr - MEM_HEAD;
    size_t size;
    memcpy(&size, p, sizeof size);
    m->used -= size;
    free(p);
}

static void *cap_realloc(void *user, void *old, size_t size)
{
    memcap *m = user;
    if (!old)
        return cap_malloc(user, size);
    if (size == 0) {
        cap_free(user, old);
        return NULL;
    }
    char *p = (char *)old - MEM_HEAD;
    size_t was;
    memcpy(&was, p, sizeof was);
    if ((size > was && !room_for(m, size - was)) || size > SIZE_MAX - MEM_HEAD)
        return NULL;
    char *q = realloc(p, size + MEM_HEAD);
    if (!q) {
        m->hit = true;
        return NULL;
    }
    memcpy(q, &size, sizeof size);
    m->used = m->used - was + size;
    return q + MEM_HEAD;
}

fz_alloc_context memcap_allocator(memcap *m)
{
    fz_alloc_context a = {m, cap_malloc, cap_realloc, cap_free};
    return a;
}

fz_context *memcap_new_context(memcap *m, size_t store_bytes)
{
    fz_alloc_context alloc = memcap_allocator(m); /* MuPDF keeps a copy */
    fz_context *ctx = fz_new_context(&alloc, NULL, store_bytes);
    if (!ctx)
        dq_set_error("cannot start MuPDF: out of memory");
    return ctx;
}

void memcap_set_error(const memcap *m)
{
    long long mb = (long long)(m->cap >> 20);
    dq_set_error("needs more than %lld MB of memory to read, over the limit of %lld MB per "
                 "document (--max-doc-memory); a compressed bomb?",
                 mb, mb);
}
