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

/* A search running for key at version; freed by whoever leaves it last. */
struct cache_flight {
    char *key;                 /* owned */
    int64_t version;
    int waiters;
    bool landed;
    cache_flight *next;
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
    pthread_cond_init(&c->landed, NULL);
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
    pthread_cond_destroy(&c->landed);
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

static cache_flight *find_flight(search_cache *c, const char *key, int64_t version)
{
    for (cache_flight *f = c->flights; f; f = f->next)
        if (f->version == version && !strcmp(f->key, key))
            return f;
    return NULL;
}

/* A copy of key's reply when stored (and it becomes the most recent). */
static char *take_copy(search_cache *c, const char *key, size_t *len)
{
    cache_entry *e = find(c, key, key_hash(key));
    if (!e)
        return NULL;
    unlink_use(c, e);
    push_recent(c, e);
    char *copy = dq_malloc(e->len + 1);
    memcpy(copy, e->reply, e->len);
    copy[e->len] = '\0';
    *len = e->len;
    return copy;
}

char *search_cache_get(search_cache *c, int64_t version, const char *key, size_t *len)
{
    if (!c->max_entries)
        return NULL;
    pthread_mutex_lock(&c->lock);
    if (version < c->version) {
        /* Read before a commit another request has seen: not cached, and
         * no reason to drop what is (data_version only grows). */
        c->misses++;
        pthread_mutex_unlock(&c->lock);
        return NULL;
    }
    if (version > c->version) {
        drop_all(c);
        c->version = version;
    }
    char *copy = take_copy(c, key, len);
    cache_flight *f = copy ? NULL : find_flight(c, key, version);
    if (f) {
        f->waiters++;
        while (!f->landed)
            pthread_cond_wait(&c->landed, &c->lock);
        if (--f->waiters == 0) {
            free(f->key);
            free(f);
        }
        /* Not there when it failed or the store changed meanwhile: this
         * caller runs the search itself (its put finds no flight). */
        copy = take_copy(c, key, len);
    } else if (!copy) {
        f = dq_calloc(1, sizeof *f);
        f->key = dq_strdup(key);
        f->version = version;
        f->next = c->flights;
        c->flights = f;
    }
    if (copy)
        c->hits++;
    else
        c->misses++;
    pthread_mutex_unlock(&c->lock);
    return copy;
}

/* Ends key's flight, if one is running: its waiters wake. */
static void land(search_cache *c, const char *key, int64_t version)
{
    for (cache_flight **p = &c->flights; *p; p = &(*p)->next) {
        cache_flight *f = *p;
        if (f->version != version || strcmp(f->key, key))
            continue;
        *p = f->next;
        f->landed = true;
        if (f->waiters)
            pthread_cond_broadcast(&c->landed);
        else {
            free(f->key);
            free(f);
        }
        return;
    }
}

void search_cache_put(search_cache *c, int64_t version, const char *key, const char *reply,
                      size_t len)
{
    if (!c->max_entries)
        return;
    pthread_mutex_lock(&c->lock);
    uint64_t h = key_hash(key);
    if (reply && len <= c->max_bytes / 4 && version == c->version && !find(c, key, h)) {
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
    land(c, key, version);
    pthread_mutex_unlock(&c->lock);
}
