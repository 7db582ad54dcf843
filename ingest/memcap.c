/* memcap.c - the counting allocator behind every reader's fz_context (see memcap.h). */
#include "ingest/memcap.h"

#include "common/common.h"

#include <stdlib.h>
#include <string.h>

/* A sanitizer build marks the slabs' free bytes, so ASan still sees a read
 * of a small block after its free (or past its end) as it would malloc's. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define MEM_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define MEM_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define MEM_POISON(p, n) ((void)(p), (void)(n))
#define MEM_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Each block carries its size in a header of 16 bytes, which keeps malloc's
 * alignment. Blocks up to MEM_ZEROED bytes are handed out zeroed (memcap.h).
 * Blocks up to SMALL_MAX bytes come from the memcap's own slabs (memcap.h). */
enum {
    MEM_HEAD = 16,
    MEM_ZEROED = 1024,
    SMALL_STEP = 16,
    SMALL_MAX = SMALL_STEP * MEMCAP_SMALL_CLASSES,
    SLAB_BYTES = 64 << 10
};

/* A slab: its link, then blocks carved from the rest; 16-byte aligned. */
struct memcap_slab {
    memcap_slab *next;
    max_align_t align[];
};

memcap memcap_make(long long cap_bytes)
{
    memcap m = {.cap = cap_bytes > 0 ? (size_t)cap_bytes : 0};
    return m;
}

void memcap_free(memcap *m)
{
    if (!m)
        return;
    for (memcap_slab *s = m->slabs, *next; s; s = next) {
        next = s->next;
        MEM_UNPOISON(s, SLAB_BYTES); /* malloc's own again */
        free(s);
    }
    m->slabs = NULL;
    m->slab_bytes = 0;
    m->bump = m->bump_end = NULL;
    memset(m->free_list, 0, sizeof m->free_list);
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

/* The size class of a small block of size bytes (1..SMALL_MAX; 0 counts as 1). */
static size_t small_class(size_t size)
{
    return size ? (size - 1) / SMALL_STEP : 0;
}

/* A block of class c from its free list or the current slab (a new one when
 * it is used up); NULL when malloc fails. A free block's link to the next
 * sits in its header. */
static char *small_take(memcap *m, size_t c)
{
    size_t bytes = MEM_HEAD + (c + 1) * SMALL_STEP;
    char *p = m->free_list[c];
    if (p) {
        memcpy(&m->free_list[c], p, sizeof(void *));
        MEM_UNPOISON(p + MEM_HEAD, bytes - MEM_HEAD);
        return p;
    }
    if ((size_t)(m->bump_end - m->bump) < bytes) {
        /* The cap counts the bytes asked for, while a 1-byte block takes
         * 32 and each class keeps its own peak: blocks of one class after
         * another held 70 times the cap in slabs (measured). The slabs
         * stop at twice the cap, the room isolate.c's backstop gives. */
        if (m->cap && (m->slab_bytes + SLAB_BYTES) / 2 > m->cap)
            return NULL;
        memcap_slab *s = malloc(SLAB_BYTES);
        if (!s)
            return NULL;
        m->slab_bytes += SLAB_BYTES;
        s->next = m->slabs;
        m->slabs = s;
        m->bump = (char *)s->align;
        m->bump_end = (char *)s + SLAB_BYTES;
        MEM_POISON(m->bump, (size_t)(m->bump_end - m->bump));
    }
    p = m->bump;
    m->bump += bytes;
    MEM_UNPOISON(p, bytes);
    return p;
}

static void small_give(memcap *m, char *p, size_t size)
{
    size_t c = small_class(size);
    memcpy(p, &m->free_list[c], sizeof(void *));
    m->free_list[c] = p;
    MEM_POISON(p + MEM_HEAD, (c + 1) * SMALL_STEP);
}

static void *cap_malloc(void *user, size_t size)
{
    memcap *m = user;
    if (!room_for(m, size) || size > SIZE_MAX - MEM_HEAD)
        return NULL;
    /* malloc, not calloc: glibc's calloc never takes a block from the
     * thread's cache. */
    char *p = size <= SMALL_MAX ? small_take(m, small_class(size)) : malloc(size + MEM_HEAD);
    if (!p) { /* the slabs' limit, or the process's own (isolate.c's backstop) */
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
    if (size <= SMALL_MAX)
        small_give(m, p, size);
    else
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
    if (was > SMALL_MAX && size > SMALL_MAX) {
        char *q = realloc(p, size + MEM_HEAD);
        if (!q) {
            m->hit = true;
            return NULL;
        }
        memcpy(q, &size, sizeof size);
        m->used = m->used - was + size;
        return q + MEM_HEAD;
    }
    if (was <= SMALL_MAX && size <= SMALL_MAX && small_class(was) == small_class(size)) {
        memcpy(p, &size, sizeof size); /* the block has room already */
        m->used = m->used - was + size;
        return old;
    }
    /* Between the slabs and malloc, or another class: a new block, counted
     * as the old one growing. */
    m->used -= was;
    char *q = cap_malloc(user, size);
    m->used += was;
    if (!q)
        return NULL;
    memcpy(q, old, was < size ? was : size);
    cap_free(user, old);
    return q;
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
    if (!ctx) {
        memcap_free(m);
        dq_set_error("cannot start MuPDF: out of memory");
    }
    return ctx;
}

void memcap_drop_context(memcap *m, fz_context *ctx)
{
    fz_drop_context(ctx);
    memcap_free(m);
}

void memcap_set_error(const memcap *m)
{
    long long mb = (long long)(m->cap >> 20);
    dq_set_error("needs more than %lld MB of memory to read, over the limit of %lld MB per "
                 "document (--max-doc-memory); a compressed bomb?",
                 mb, mb);
}
