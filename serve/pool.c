/* pool.c - the store connections and LLM clients requests borrow. */
#include "serve/pool.h"

#include <stdbool.h>
#include <stdlib.h>

#include "common/common.h"

/* Idle connections kept: enough for the connections a busy page or a load
 * test holds at once, so a request rarely pays for opening the store. */
enum { POOL_KEEP = 64 };

/* A request waiting for a connection: on its own thread's stack, with its
 * own condition so a release wakes exactly the next one. */
typedef struct store_waiter {
    pthread_cond_t turn;
    bool granted;
    struct store_waiter *next;
} store_waiter;

void store_pool_init(store_pool *p, const char *store_dir, size_t max_lent)
{
    *p = (store_pool){0};
    pthread_mutex_init(&p->lock, NULL);
    p->store_dir = dq_strdup(store_dir);
    p->max_lent = max_lent ? max_lent : 16;
}

void store_pool_free(store_pool *p)
{
    for (size_t i = 0; i < p->n_idle; i++)
        store_close(p->idle[i]);
    free(p->idle);
    free(p->store_dir);
    pthread_mutex_destroy(&p->lock);
    *p = (store_pool){0};
}

/* Hands a free slot to the first waiter, if any. Caller holds the lock. */
static void pass_turn(store_pool *p)
{
    store_waiter *w = p->first;
    if (!w || p->n_lent >= p->max_lent)
        return;
    p->first = w->next;
    if (!p->first)
        p->last = NULL;
    p->n_lent++;
    w->granted = true;
    pthread_cond_signal(&w->turn);
}

store *store_pool_acquire(store_pool *p)
{
    pthread_mutex_lock(&p->lock);
    if (p->n_lent < p->max_lent && !p->first) {
        p->n_lent++;
    } else {
        store_waiter w = {.granted = false};
        pthread_cond_init(&w.turn, NULL);
        if (p->last)
            p->last->next = &w;
        else
            p->first = &w;
        p->last = &w;
        while (!w.granted)
            pthread_cond_wait(&w.turn, &p->lock);
        pthread_cond_destroy(&w.turn);
    }
    store *st = p->n_idle ? p->idle[--p->n_idle] : NULL;
    pthread_mutex_unlock(&p->lock);
    if (!st && !(st = store_open(p->store_dir, STORE_READONLY))) {
        pthread_mutex_lock(&p->lock);
        p->n_lent--;
        pass_turn(p);
        pthread_mutex_unlock(&p->lock);
    }
    return st;
}

void store_pool_release(store_pool *p, store *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->n_idle < POOL_KEEP) {
        DQ_GROW(p->idle, p->cap_idle, p->n_idle + 1);
        p->idle[p->n_idle++] = st;
        st = NULL;
    }
    p->n_lent--;
    pass_turn(p);
    pthread_mutex_unlock(&p->lock);
    store_close(st);
}

void llm_pool_init(llm_pool *p, const llm_params *params, llm_client *first)
{
    *p = (llm_pool){0};
    pthread_mutex_init(&p->lock, NULL);
    p->params = *params;
    p->params.base_url = p->url = params->base_url ? dq_strdup(params->base_url) : NULL;
    p->params.model = p->model = params->model ? dq_strdup(params->model) : NULL;
    p->params.api_key = p->key = params->api_key ? dq_strdup(params->api_key) : NULL;
    llm_pool_release(p, first);
}

void llm_pool_free(llm_pool *p)
{
    for (size_t i = 0; i < p->n_idle; i++)
        llm_free(p->idle[i]);
    free(p->idle);
    free(p->url);
    free(p->model);
    free(p->key);
    pthread_mutex_destroy(&p->lock);
    *p = (llm_pool){0};
}

llm_client *llm_pool_acquire(llm_pool *p)
{
    pthread_mutex_lock(&p->lock);
    llm_client *c = p->n_idle ? p->idle[--p->n_idle] : NULL;
    pthread_mutex_unlock(&p->lock);
    return c ? c : llm_new(&p->params);
}

void llm_pool_release(llm_pool *p, llm_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->n_idle < POOL_KEEP) {
        DQ_GROW(p->idle, p->cap_idle, p->n_idle + 1);
        p->idle[p->n_idle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&p->lock);
    llm_free(c);
}
