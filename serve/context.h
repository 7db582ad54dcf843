/* context.h - the running server as its handlers see it: the parameters,
 * the pools requests borrow from, the ingest jobs. The daemon (server.c)
 * builds and frees it; handlers only read it and use the pools and jobs
 * through their own functions.
 */
#ifndef DQ_SERVE_CONTEXT_H
#define DQ_SERVE_CONTEXT_H

#include <pthread.h>

#include "serve/cache.h"
#include "serve/conns.h"
#include "serve/jobs.h"
#include "serve/pool.h"
#include "serve/serve.h"

struct serve_server {
    serve_params p;         /* strings below point into owned copies */
    char *host, *token, *store_dir, *docqa_bin, *upload_dir, *allow_hosts;
    char *paths[3];         /* absolute folders error replies must not show: the store's
                             * root, the store, the uploads (NULL when unknown) */
    bool check_host;        /* false: bound to every address with a token, no allow-list */
    struct MHD_Daemon *daemon;
    int port;

    pthread_mutex_t lock;   /* active_requests */
    pthread_cond_t idle;    /* signalled when active_requests drops */
    int active_requests;

    serve_conns conns;      /* open connections: eviction and request deadlines */

    pthread_mutex_t own_lock; /* the three below */
    store *own_store;       /* the server's own connection, never lent: /health's counts
                             * and the store's data version, so neither queues behind
                             * searches */
    store_stats health_stats; /* as of health_at */
    double health_at;
    search_cache cache;     /* /api/search replies by query, for the current data version */

    store_pool stores;      /* read-only connections */
    bool have_llm;          /* the session has an LLM */
    llm_pool llms;          /* when have_llm over HTTP: clients made with the session's settings */
    llm_client *shared_llm; /* an in-process model: the session's one client, requests queue on it */
    serve_jobs jobs;
};

#endif
