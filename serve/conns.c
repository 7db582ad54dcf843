/* conns.c - the server's open connections: the oldest idle one makes room,
 * a request that arrives too slowly is cut (see conns.h). */
#include "serve/conns.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/common.h"

typedef enum { CONN_IDLE, CONN_RECEIVING, CONN_BUSY } conn_state;

struct serve_conn {
    int fd;
    conn_state state;
    double since;      /* idle: when it became idle; receiving: the request line's arrival */
    double deadline;   /* receiving: the whole request by then */
    bool closing;      /* shut down by us, waiting for libmicrohttpd to close it */
    serve_conn *prev, *next; /* prev: idle longer */
};

/* The reaper's period: a slow request is cut at most this late. */
static const double REAP_PERIOD_S = 0.25;

static void unlink_conn(serve_conns *c, serve_conn *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->oldest = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->newest = e->prev;
    e->prev = e->next = NULL;
}

static void append_conn(serve_conns *c, serve_conn *e)
{
    e->prev = c->newest;
    e->next = NULL;
    if (c->newest)
        c->newest->next = e;
    else
        c->oldest = e;
    c->newest = e;
}

/* Caller holds the lock, which keeps the socket open (see conns.h). */
static void close_conn(serve_conn *e)
{
    if (e->closing)
        return;
    e->closing = true;
    shutdown(e->fd, SHUT_RDWR);
}

static bool past_deadline(const serve_conns *c, const serve_conn *e, double now)
{
    if (e->closing)
        return false;
    if (e->state == CONN_RECEIVING)
        return now > e->deadline;
    /* Idle, or sending a request line slower than a byte per idle_s would
     * be (no silence long enough for libmicrohttpd's timeout): the line
     * must follow the silence within request_s. */
    return e->state == CONN_IDLE && now - e->since > c->p.idle_s + c->p.request_s;
}

static void *reaper_main(void *arg)
{
    serve_conns *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        double now = dq_now();
        for (serve_conn *e = c->oldest; e; e = e->next)
            if (past_deadline(c, e, now))
                close_conn(e);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)(REAP_PERIOD_S * 1e9);
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->wake, &c->lock, &until);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int serve_conns_init(serve_conns *c, const serve_conns_params *p)
{
    *c = (serve_conns){.p = *p};
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    int err = pthread_create(&c->reaper, NULL, reaper_main, c);
    if (err) {
        dq_set_error("cannot start the connection reaper: %s", strerror(err));
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        return -1;
    }
    c->reaper_running = true;
    return 0;
}

void serve_conns_free(serve_conns *c)
{
    if (!c->reaper_running)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->reaper, NULL);
    while (c->oldest) { /* none after MHD_stop_daemon; kept safe anyway */
        serve_conn *e = c->oldest;
        unlink_conn(c, e);
        free(e);
    }
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    c->reaper_running = false;
}

serve_conn *serve_conns_opened(serve_conns *c, int fd)
{
    serve_conn *e = dq_calloc(1, sizeof *e);
    e->fd = fd;
    e->state = CONN_IDLE;
    e->since = dq_now();
    pthread_mutex_lock(&c->lock);
    c->n_open++;
    if (c->p.soft_limit > 0 && c->n_open > (size_t)c->p.soft_limit) {
        for (serve_conn *o = c->oldest; o; o = o->next)
            if (o->state == CONN_IDLE && !o->closing) {
                close_conn(o);
                break;
            }
    }
    append_conn(c, e);
    pthread_mutex_unlock(&c->lock);
    return e;
}

void serve_conns_closed(serve_conns *c, serve_conn *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&c->lock);
    unlink_conn(c, e);
    c->n_open--;
    pthread_mutex_unlock(&c->lock);
    free(e);
}

void serve_conns_request_line(serve_conns *c, serve_conn *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&c->lock);
    e->state = CONN_RECEIVING;
    e->since = dq_now();
    e->deadline = e->since + c->p.request_s;
    pthread_mutex_unlock(&c->lock);
}

void serve_conns_headers(serve_conns *c, serve_conn *e, unsigned long long body_bytes)
{
    if (!e || !body_bytes || c->p.min_body_rate <= 0)
        return;
    pthread_mutex_lock(&c->lock);
    e->deadline += (double)body_bytes / c->p.min_body_rate;
    pthread_mutex_unlock(&c->lock);
}

void serve_conns_received(serve_conns *c, serve_conn *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&c->lock);
    e->state = CONN_BUSY;
    pthread_mutex_unlock(&c->lock);
}

void serve_conns_idle(serve_conns *c, serve_conn *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&c->lock);
    e->state = CONN_IDLE;
    e->since = dq_now();
    unlink_conn(c, e);
    append_conn(c, e);
    pthread_mutex_unlock(&c->lock);
}
