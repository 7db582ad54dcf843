/* pool.c - a small fixed pthread pool for the forward pass's parallel loops.
 *
 * One job at a time: bert_pool_run publishes (fn, ctx, n_tasks) under a
 * generation number, workers and the caller take task indices from an atomic
 * counter, and the caller sleeps until the last task is finished. Jobs are
 * coarse (a GEMM slice, a batch of attention heads), so a condition variable
 * costs little against them. A session's encoders and its LLM share one
 * pool and may run on different threads (a server's requests): a job holds
 * `turn` from start to end, so the other caller waits for it, not for a
 * whole forward pass.
 */
#include "embed/kernels.h"

#include "common/common.h"

#include <stdlib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

struct bert_pool {
    int n_threads;
    pthread_mutex_t turn; /* held by the caller whose job runs */
    pthread_t *threads; /* (n_threads - 1) workers */
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    unsigned long generation; /* bumped for each job, under mu */
    bool quit;
    /* the current job, written under mu before generation is bumped */
    bert_task_fn fn;
    void *ctx;
    int n_tasks;
    atomic_int next; /* next task index to take */
    /* workers not yet finished with the current job, under mu: the caller
     * waits for all of them so that no straggler can take an index of the
     * next job while still holding this job's function */
    int busy;
    float **scratch; /* (n_scratch) buffers of BERT_POOL_SCRATCH floats */
    int n_scratch;
};

typedef struct {
    bert_pool *p;
    int id;
} worker_arg;

static void pool_work(bert_pool *p, bert_task_fn fn, void *ctx, int n_tasks, int thread)
{
    for (;;) {
        int t = atomic_fetch_add(&p->next, 1);
        if (t >= n_tasks)
            break;
        fn(ctx, t, thread);
    }
}

static void *pool_main(void *arg)
{
    worker_arg *wa = arg;
    bert_pool *p = wa->p;
    int id = wa->id;
    free(wa);
    /* Jobs are numbered from 1: a job published before this thread got
     * here must still be seen as new. */
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->start, &p->mu);
        if (p->quit)
            break;
        seen = p->generation;
        bert_task_fn fn = p->fn;
        void *ctx = p->ctx;
        int n_tasks = p->n_tasks;
        pthread_mutex_unlock(&p->mu);
        pool_work(p, fn, ctx, n_tasks, id);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

bert_pool *bert_pool_new(int n_threads)
{
    if (n_threads < 1)
        n_threads = 1;
    bert_pool *p = dq_calloc(1, sizeof *p);
    p->n_threads = 1;
    pthread_mutex_init(&p->turn, NULL);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next, 0);
    p->threads = dq_calloc((size_t)n_threads, sizeof *p->threads);
    p->scratch = dq_calloc((size_t)n_threads, sizeof *p->scratch);
    for (int i = 0; i < n_threads; i++) {
        p->scratch[i] = aligned_alloc(64, BERT_POOL_SCRATCH * sizeof(float));
        if (!p->scratch[i])
            abort(); /* out of memory, as dq_malloc does */
    }
    p->n_scratch = n_threads;
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = dq_malloc(sizeof *wa);
        wa->p = p;
        wa->id = i;
        int rc = pthread_create(&p->threads[i - 1], NULL, pool_main, wa);
        if (rc != 0) {
            free(wa);
            bert_pool_free(p);
            dq_set_error("cannot start thread %d of %d: %s", i + 1, n_threads, strerror(rc));
            return NULL;
        }
        p->n_threads = i + 1;
    }
    return p;
}

void bert_pool_free(bert_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++)
        pthread_join(p->threads[i - 1], NULL);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->turn);
    for (int i = 0; i < p->n_scratch; i++)
        free(p->scratch[i]);
    free(p->scratch);
    free(p->threads);
    free(p);
}

float *bert_pool_scratch(bert_pool *p, int thread)
{
    return p->scratch[thread];
}

int bert_pool_size(const bert_pool *p)
{
    return p ? p->n_threads : 1;
}

void bert_pool_run(bert_pool *p, bert_task_fn fn, void *ctx, int n_tasks)
{
    if (n_tasks <= 0)
        return;
    if (!p) {
        for (int t = 0; t < n_tasks; t++)
            fn(ctx, t, 0);
        return;
    }
    /* even a job run inline uses thread 0's scratch, which is the pool's */
    pthread_mutex_lock(&p->turn);
    if (p->n_threads == 1 || n_tasks == 1) {
        for (int t = 0; t < n_tasks; t++)
            fn(ctx, t, 0);
        pthread_mutex_unlock(&p->turn);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    p->busy = p->n_threads - 1;
    atomic_store(&p->next, 0);
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);

    pool_work(p, fn, ctx, n_tasks, 0);

    pthread_mutex_lock(&p->mu);
    while (p->busy > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->turn);
}
