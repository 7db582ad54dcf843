/* conns.h - the server's open connections: how many, which are idle, and
 * how long the request each one is receiving has taken.
 *
 * libmicrohttpd bounds connections per address and closes a connection
 * after a silence, but it neither closes an idle connection to make room
 * for a new one nor limits the total time a request takes to arrive (a
 * client that sends a byte every few seconds is never silent). This table
 * does both: past the soft limit a new connection closes the oldest idle
 * one, and a reaper thread cuts a connection whose request has not arrived
 * whole in time. A connection is closed with shutdown(2), under the lock
 * that its removal (MHD_CONNECTION_NOTIFY_CLOSED, before libmicrohttpd
 * closes the socket) also takes, so a socket number is never reused under
 * us.
 */
#ifndef DQ_SERVE_CONNS_H
#define DQ_SERVE_CONNS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct serve_conn serve_conn;

typedef struct {
    int soft_limit;          /* past it, a new connection closes the oldest idle one */
    double idle_s;           /* libmicrohttpd's silence timeout, seconds */
    double request_s;        /* request line, headers and body arrive within this */
    double min_body_rate;    /* bytes/s a declared body adds to request_s */
} serve_conns_params;

typedef struct {
    serve_conns_params p;
    pthread_mutex_t lock;    /* everything below */
    pthread_cond_t wake;     /* the reaper's sleep; signalled to stop it */
    serve_conn *oldest, *newest; /* open connections, by the time they became idle */
    size_t n_open;
    bool stopping;
    bool reaper_running;
    pthread_t reaper;
} serve_conns;

/* Starts the table and its reaper thread; 0, or -1 with the error set. */
int serve_conns_init(serve_conns *c, const serve_conns_params *p);
/* Stops the reaper; the connections must all be closed (the daemon stopped). */
void serve_conns_free(serve_conns *c);

/* A connection opened on socket fd: its entry, to keep as MHD's socket
 * context. Closes the oldest idle connection when past the soft limit. */
serve_conn *serve_conns_opened(serve_conns *c, int fd);
/* The connection closed: frees its entry (NULL: nothing). */
void serve_conns_closed(serve_conns *c, serve_conn *e);
/* Its request line has arrived: the request's clock starts. */
void serve_conns_request_line(serve_conns *c, serve_conn *e);
/* Its headers are in and declare body_bytes of body: the deadline grows by
 * the time that body may take at min_body_rate. */
void serve_conns_headers(serve_conns *c, serve_conn *e, unsigned long long body_bytes);
/* The whole request has arrived; its handler and response are not timed. */
void serve_conns_received(serve_conns *c, serve_conn *e);
/* The response is sent: idle again, newest in the eviction order. */
void serve_conns_idle(serve_conns *c, serve_conn *e);

#endif
