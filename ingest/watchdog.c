/* watchdog.c - a per-document timer thread that trips MuPDF's cookie abort.
 *
 * MuPDF's interpreter polls fz_cookie.abort between content-stream operators,
 * which is the only way to stop inside one page of a pathological PDF (a
 * million glyphs, a deep pattern recursion). The cookie is documented as
 * written from another thread, so one thread per document waits on a
 * condition variable until the deadline or until the document is done.
 */
#include "ingest/watchdog.h"

#include "common/common.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct watchdog {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled by watchdog_stop() */
    struct timespec deadline; /* CLOCK_MONOTONIC */
    bool stopping;     /* under mu */
    bool fired;        /* under mu */
    int *flag;
};

static void *watch(void *arg)
{
    watchdog *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        int rc = pthread_cond_timedwait(&w->cv, &w->mu, &w->deadline);
        if (rc == ETIMEDOUT && !w->stopping) {
            __atomic_store_n(w->flag, 1, __ATOMIC_RELAXED);
            w->fired = true;
            break;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

watchdog *watchdog_start(double seconds, int *flag)
{
    if (!(seconds > 0))
        return NULL;
    watchdog *w = dq_calloc(1, sizeof *w);
    w->flag = flag;
    clock_gettime(CLOCK_MONOTONIC, &w->deadline);
    double whole = (double)(long)seconds;
    w->deadline.tv_sec += (time_t)whole;
    w->deadline.tv_nsec += (long)((seconds - whole) * 1e9);
    if (w->deadline.tv_nsec >= 1000000000L) {
        w->deadline.tv_sec++;
        w->deadline.tv_nsec -= 1000000000L;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    if (pthread_create(&w->thread, NULL, watch, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

bool watchdog_stop(watchdog *w)
{
    if (!w)
        return false;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    bool fired = w->fired;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
    return fired;
}
