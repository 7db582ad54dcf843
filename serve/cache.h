/* cache.h - /api/search replies kept for repeated identical queries.
 *
 * A search reads nothing but the store and the session's fixed settings,
 * so the same query, top_k and scope against the same store give the same
 * reply. Each entry is tagged with the store's data version
 * (store_data_version), and the first lookup that sees a new version drops
 * every entry: a write by any process (an ingest job, a cron reindex) is
 * never answered from the cache. Bounded by entries and bytes, least
 * recently used first out.
 */
#ifndef DQ_SERVE_CACHE_H
#define DQ_SERVE_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cache_entry cache_entry;
typedef struct cache_flight cache_flight;

typedef struct {
    pthread_mutex_t lock;     /* everything below */
    size_t max_entries;       /* 0: the cache is off */
    size_t max_bytes;         /* replies and keys together */
    size_t n, bytes;
    int64_t version;          /* of the store the entries were made from */
    cache_entry **buckets;    /* (n_buckets) chains by key hash */
    size_t n_buckets;
    cache_entry *recent, *stale; /* use order: most and least recent */
    cache_flight *flights;    /* searches being run for a key, which others wait for */
    pthread_cond_t landed;    /* broadcast when a flight ends */
    uint64_t hits, misses;
} search_cache;

/* A cache of at most max_entries replies and max_bytes (0 entries: off). */
void search_cache_init(search_cache *c, size_t max_entries, size_t max_bytes);
void search_cache_free(search_cache *c);
/* The reply stored for key made from the store at version (a malloc'd
 * copy, *len its length), or NULL: then the caller runs the search and must
 * call search_cache_put (with its reply, or NULL on failure). While one
 * caller runs a key's search, others asking for the same key wait for its
 * reply instead of running it again: a burst of identical queries costs one
 * search. A new version empties the cache. NULL at once when off. */
char *search_cache_get(search_cache *c, int64_t version, const char *key, size_t *len);
/* Stores a copy of reply for key, made from the store at version or later
 * (not when the cache has since seen another version, or reply is NULL or
 * larger than a quarter of max_bytes), and wakes those waiting for it. */
void search_cache_put(search_cache *c, int64_t version, const char *key, const char *reply,
                      size_t len);

#endif
