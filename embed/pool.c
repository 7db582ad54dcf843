/* pool.c - a small fixed pthread pool for the forward pass's parallel loops.
 *
 * One job at a time. bert_pool_run publishes (fn, ctx, n_tasks) and then a
 * ticket word that holds the job's number, its task count and the next task
 * index; workers and the caller take tasks by compare-and-swap on the
 * ticket, so a worker that wakes late can only take tasks of the job it saw,
 * and the caller waits for the tasks that were taken, never for a worker
 * that took none (under load a sleeping worker may wake long after the
 * caller has run every task itself).
 *
 * An LLM's decode step is about a hundred jobs of a few hundred
 * microseconds, with a few microseconds of serial work between them: waking
 * a worker through the kernel took longer than that gap, so workers and the
 * caller first spin for POOL_SPIN_NS on the ticket or the count of finished
 * tasks, and only then sleep on a condition variable (a BERT batch's jobs
 * are coarse and see no difference). A session's encoders and its LLM share
 * one pool and may run on different threads (a server's requests): a job
 * holds `turn` from start to end, so the other caller waits for it, not for
 * a whole forward pass.
 */
#include "embed/kernels.h"

#include "common/common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* How long an idle worker, or a caller whose tasks are all taken, spins
 * before it sleeps: longer than the serial work between two of decode's
 * jobs, short enough that on a loaded machine the threads give their cores
 * back soon (spinning 100 us, decode's steps there were slower than with
 * the old pool, which slept at once). */
#define POOL_SPIN_NS 30000

/* The ticket: job number in the top TICKET_JOB_BITS, then the job's task
 * count, then the next task index (TICKET_TASK_BITS each). */
enum { TICKET_TASK_BITS = 20, TICKET_JOB_BITS = 64 - 2 * TICKET_TASK_BITS };
#define TICKET_TASK_MASK ((UINT64_C(1) << TICKET_TASK_BITS) - 1)
#define POOL_MAX_TASKS ((int)TICKET_TASK_MASK)

struct bert_pool {
    int n_threads;
    pthread_mutex_t turn; /* held by the caller whose job runs */
    pthread_t *threads;   /* (n_threads - 1) workers */
    /* the current job, written before its ticket is published (atomic
     * because a worker late for the job before may read them while they are
     * written; it then fails to take a task of either job) */
    _Atomic(bert_task_fn) fn;
    _Atomic(void *) ctx;
    _Atomic uint64_t ticket;
    atomic_int finished;  /* tasks of the current job done */
    atomic_bool quit;
    /* sleeping: a worker or the caller adds itself to sleepers or sets
     * caller_sleeps under mu, then checks again what it waits for; the
     * other side changes that first and then looks at these (seq_cst on
     * both sides, so one of them sees the other) */
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    atomic_int sleepers;
    atomic_bool caller_sleeps;
    float **scratch; /* (n_scratch) buffers of BERT_POOL_SCRATCH floats */
    int n_scratch;
};

typedef struct {
    bert_pool *p;
    int id;
} worker_arg;

static uint64_t ticket_job(uint64_t t) { return t >> (2 * TICKET_TASK_BITS); }
static int ticket_tasks(uint64_t t) { return (int)(t >> TICKET_TASK_BITS & TICKET_TASK_MASK); }
static int ticket_next(uint64_t t) { return (int)(t & TICKET_TASK_MASK); }

static uint64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spins until done(p, arg) or POOL_SPIN_NS have passed; true if done. */
static bool spin_until(bert_pool *p, bool (*done)(bert_pool *, uint64_t), uint64_t arg)
{
    uint64_t t0 = 0;
    for (unsigned i = 0;; i++) {
        if (done(p, arg))
            return true;
        cpu_relax();
        if (i % 64 == 63) {
            uint64_t t = clock_ns();
            if (!t0)
                t0 = t;
            else if (t - t0 > POOL_SPIN_NS)
                return false;
        }
    }
}

/* Takes and runs tasks of job `job` until none is left. */
static void pool_work(bert_pool *p, uint64_t job, int thread)
{
    bert_task_fn fn = atomic_load(&p->fn);
    void *ctx = atomic_load(&p->ctx);
    uint64_t t = atomic_load(&p->ticket);
    for (;;) {
        if (ticket_job(t) != job || ticket_next(t) >= ticket_tasks(t))
            return;
        if (!atomic_compare_exchange_weak(&p->ticket, &t, t + 1))
            continue;
        fn(ctx, ticket_next(t), thread);
        if (atomic_fetch_add(&p->finished, 1) + 1 == ticket_tasks(t) && atomic_load(&p->caller_sleeps)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
        t = atomic_load(&p->ticket);
    }
}

static bool job_other_than(bert_pool *p, uint64_t seen)
{
    return atomic_load(&p->quit) || ticket_job(atomic_load(&p->ticket)) != seen;
}

static void *pool_main(void *arg)
{
    worker_arg *wa = arg;
    bert_pool *p = wa->p;
    int id = wa->id;
    free(wa);
    /* Jobs are numbered from 1: a job published before this thread got
     * here must still be seen as new. */
    uint64_t seen = 0;
    for (;;) {
        if (!spin_until(p, job_other_than, seen)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (!job_other_than(p, seen))
                pthread_cond_wait(&p->start, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit))
            break;
        seen = ticket_job(atomic_load(&p->ticket));
        pool_work(p, seen, id);
    }
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
    atomic_init(&p->fn, NULL);
    atomic_init(&p->ctx, NULL);
    atomic_init(&p->ticket, 0);
    atomic_init(&p->finished, 0);
    atomic_init(&p->quit, false);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_sleeps, false);
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
    atomic_store(&p->quit, true);
    pthread_mutex_lock(&p->mu);
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

static bool all_finished(bert_pool *p, uint64_t n_tasks)
{
    return atomic_load(&p->finished) == (int)n_tasks;
}

/* One job of n_tasks <= POOL_MAX_TASKS on all threads, under turn. */
static void pool_job(bert_pool *p, bert_task_fn fn, void *ctx, int n_tasks)
{
    atomic_store(&p->fn, fn);
    atomic_store(&p->ctx, ctx);
    atomic_store(&p->finished, 0);
    uint64_t job = (ticket_job(atomic_load(&p->ticket)) + 1) & ((UINT64_C(1) << TICKET_JOB_BITS) - 1);
    atomic_store(&p->ticket, job << 2 * TICKET_TASK_BITS | (uint64_t)n_tasks << TICKET_TASK_BITS);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->start);
        pthread_mutex_unlock(&p->mu);
    }
    pool_work(p, job, 0);
    if (!spin_until(p, all_finished, (uint64_t)n_tasks)) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_sleeps, true);
        while (!all_finished(p, (uint64_t)n_tasks))
            pthread_cond_wait(&p->done, &p->mu);
        atomic_store(&p->caller_sleeps, false);
        pthread_mutex_unlock(&p->mu);
    }
}

/* Tasks first.. of a job too long for one ticket. */
typedef struct {
    bert_task_fn fn;
    void *ctx;
    int first;
} offset_job;

static void offset_task(void *ctx, int task, int thread)
{
    const offset_job *j = ctx;
    j->fn(j->ctx, j->first + task, thread);
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
    } else if (n_tasks <= POOL_MAX_TASKS) {
        pool_job(p, fn, ctx, n_tasks);
    } else {
        for (int first = 0; first < n_tasks; first += POOL_MAX_TASKS) {
            offset_job j = {fn, ctx, first};
            pool_job(p, offset_task, &j,
                     n_tasks - first < POOL_MAX_TASKS ? n_tasks - first : POOL_MAX_TASKS);
        }
    }
    pthread_mutex_unlock(&p->turn);
}
