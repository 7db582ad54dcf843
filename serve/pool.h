/* pool.h - the store connections and LLM clients requests borrow.
 *
 * Neither is for two threads at once (an SQLite connection, a curl handle),
 * so a request takes one for its duration and gives it back; idle ones are
 * kept (up to a bound) so a request rarely pays for opening the store, and an
 * LLM client keeps its keep-alive connection to the LLM server.
 */
#ifndef DQ_SERVE_POOL_H
#define DQ_SERVE_POOL_H

#include <pthread.h>

#include "generate/llm.h"
#include "index/index.h"

struct store_waiter;

typedef struct {
    pthread_mutex_t lock;
    char *store_dir;  /* owned */
    store **idle;     /* (n_idle) read-only connections */
    size_t n_idle, cap_idle;
    size_t max_lent;  /* connections out at once; more requests wait their turn */
    size_t n_lent;
    struct store_waiter *first, *last; /* requests waiting, in arrival order */
} store_pool;

/* An empty pool of read-only connections to the store in store_dir, at
 * most max_lent (0: 16) lent at once. The bound is what makes a burst of
 * requests queue instead of running hundreds of searches side by side,
 * each with its own SQLite cache: memory stays bounded whatever the number
 * of connections, and waiting requests are served first come, first served
 * so no request starves. */
void store_pool_init(store_pool *p, const char *store_dir, size_t max_lent);
/* Closes the idle connections; those lent must be back. */
void store_pool_free(store_pool *p);
/* A connection from the pool or newly opened, after waiting for one of the
 * max_lent to come back when all are out; NULL with the error set. */
store *store_pool_acquire(store_pool *p);
/* Gives st back (NULL: nothing). */
void store_pool_release(store_pool *p, store *st);

typedef struct {
    pthread_mutex_t lock;
    llm_params params; /* strings owned by the pool */
    char *url, *model, *key;
    llm_client **idle; /* (n_idle) */
    size_t n_idle, cap_idle;
} llm_pool;

/* A pool of clients made with params (copied); first, when not NULL, is a
 * client already made with them and becomes the pool's. */
void llm_pool_init(llm_pool *p, const llm_params *params, llm_client *first);
void llm_pool_free(llm_pool *p);
/* A client for one request, or NULL with the error set. */
llm_client *llm_pool_acquire(llm_pool *p);
void llm_pool_release(llm_pool *p, llm_client *c);

#endif
