/* cache.c - /api/search replies kept for repeated identical queries,
 * dropped whenever the store changes (see cache.h). */
#include "serve/cache.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"

struct cache_entry {
    char *key;                 /* owned */
    char *reply;               /* owned, len bytes */
    size_t len;
    uint64_t hash;
    cache_entry *chain;        /* next in its bucket */
    cache_entry *newer, *older; /* use order */
};

static uint64_t key_hash(const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h;
}

static size_t entry_bytes(const cache_entry *e)
{
    return sizeof *e + strlen(e->key) + 1 + e->len;
}

void search_cache_init(search_cache *c, size_t max_entries, size_t max_bytes)
{
    *c = (search_cache){.max_entries = max_entries, .max_bytes = max_bytes};
    pthread_mutex_init(&c->lock, NULL);
    if (max_entries) {
        c->n_buckets = 1;
        while (c->n_buckets < max_entries)
            c->n_buckets <<= 1;
        c->buckets = dq_calloc(c->n_buckets, sizeof *c->buckets);
    }
}

static void unlink_use(search_cache *c, cache_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->recent = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->stale = e->newer;
    e->newer = e->older = NULL;
}

static void push_recent(search_cache *c, cache_entry *e)
{
    e->older = c->recent;
    e->newer = NULL;
    if (c->recent)
        c->recent->newer = e;
    else
        c->stale = e;
    c->recent = e;
}

static void drop_entry(search_cache *c, cache_entry *e)
{
    cache_entry **p = &c->buckets[e->hash & (c->n_buckets - 1)];
    while (*p != e)
        p = &(*p)->chain;
    *p = e->chain;
    unlink_use(c, e);
    c->n--;
    c->bytes -= entry_bytes(e);
    free(e->key);
    free(e->reply);
    free(e);
}

static void drop_all(search_cache *c)
{
    while (c->stale)
        drop_entry(c, c->stale);
}

void search_cache_free(search_cache *c)
{
    if (c->buckets)
        drop_all(c);
    free(c->buckets);
    pthread_mutex_destroy(&c->lock);
    *c = (search_cache){0};
}

static cache_entry *find(search_cache *c, const char *key, uint64_t h)
{
    for (cache_entry *e = c->buckets[h & (c->n_buckets - 1)]; e; e = e->chain)
        if (e->hash == h && !strcmp(e->key, key))
            return e;
    return NULL;
}

char *search_cache_get(search_cache *c, int64_t version, const char *key, size_t *len)
{
    if (!c->max_entries)
        return NULL;
    char *copy = NULL;
    pthread_mutex_lock(&c->lock);
    if (version != c->version) {
        drop_all(c);
        c->version = version;
    }
    cache_entry *e = find(c, key, key_hash(key));
    if (e) {
        unlink_use(c, e);
        push_recent(c, e);
        copy = dq_malloc(e->len + 1);
        memcpy(copy, e->reply, e->len);
        copy[e->len] = '\0';
        *len = e->len;
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->lock);
    return copy;
}

void search_cache_put(search_cache *c, int64_t version, const char *key, const char *reply,
                      size_t len)
{
    if (!c->max_entries || len > c->max_bytes / 4)
        return;
    pthread_mutex_lock(&c->lock);
    uint64_t h = key_hash(key);
    if (version == c->version && !find(c, key, h)) {
        cache_entry *e = dq_calloc(1, sizeof *e);
        e->key = dq_strdup(key);
        e->reply = dq_malloc(len ? len : 1);
        memcpy(e->reply, reply, len);
        e->len = len;
        e->hash = h;
        size_t b = entry_bytes(e);
        while (c->stale && (c->n + 1 > c->max_entries || c->bytes + b > c->max_bytes))
            drop_entry(c, c->stale);
        cache_entry **bucket = &c->buckets[h & (c->n_buckets - 1)];
        e->chain = *bucket;
        *bucket = e;
        push_recent(c, e);
        c->n++;
        c->bytes += b;
    }
    pthread_mutex_unlock(&c->lock);
}
