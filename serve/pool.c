/* pool.c - the store connections and LLM clients requests borrow. */
#include "serve/pool.h"

#include <stdlib.h>

#include "common/common.h"

/* Idle connections kept: enough for the connections a busy page or a load
 * test holds at once, so a request rarely pays for opening the store. */
enum { POOL_KEEP = 64 };

void store_pool_init(store_pool *p, const char *store_dir)
{
    *p = (store_pool){0};
    pthread_mutex_init(&p->lock, NULL);
    p->store_dir = dq_strdup(store_dir);
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

store *store_pool_acquire(store_pool *p)
{
    pthread_mutex_lock(&p->lock);
    store *st = p->n_idle ? p->idle[--p->n_idle] : NULL;
    pthread_mutex_unlock(&p->lock);
    return st ? st : store_open(p->store_dir, STORE_READONLY);
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
