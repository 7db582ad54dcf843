/* server.c - the daemon: start and graceful stop and the request life cycle
 * (auth, body limits, routing, access log). The helpers handlers answer with
 * are in http.c and pool.c, so the daemon depends on handlers and they do
 * not depend on it.
 *
 * libmicrohttpd calls on_request several times per request: first with no
 * body (checks happen here, so a refused upload is not read at all), then
 * with each piece of body, then once with none left (the handler runs).
 * The access log line is written when MHD reports the request complete; it
 * holds the method, the path without its query string (questions can be
 * private) and never a header, so tokens stay out of logs.
 */
#include "serve/context.h"
#include "serve/handlers.h"
#include "serve/http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

serve_params serve_default_params(void)
{
    return (serve_params){
        .host = "127.0.0.1",
        .port = 8080,
        .max_body_bytes = 1 << 20,
        .max_upload_bytes = (size_t)200 << 20,
        .max_jobs = 2,
        .max_connections = 1024,
        .max_per_client = 512,
        .idle_timeout_s = 30,
        .request_timeout_s = 30,
        .max_readers = 16,
        .search_cache = 256,
        .drain_timeout_s = 30,
    };
}

bool serve_host_is_loopback(const char *host)
{
    if (!host)
        return true;
    if (!strcmp(host, "localhost") || !strcmp(host, "::1"))
        return true;
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* ---- auth ---------------------------------------------------------------- */

/* Time depends on the expected token's length only, never on where the
 * first wrong byte is. */
static bool token_equal(const char *given, const char *want)
{
    size_t n = strlen(want), m = strlen(given);
    unsigned char diff = n != m;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < m ? given[i] : 0);
    return diff == 0;
}

static bool needs_token(const char *url)
{
    return !strncmp(url, "/api/", 5) || !strncmp(url, "/v1/", 4);
}

static bool authorized(serve_request *rq)
{
    serve_server *srv = rq->srv;
    if (!srv->token || !needs_token(rq->url))
        return true;
    const char *h = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    return token_equal(h, srv->token);
}

/* ---- cross-site requests ------------------------------------------------- */

/* A browser lets any page it shows send requests to 127.0.0.1, and DNS
 * rebinding lets a page read the replies (its own name, now pointing at
 * 127.0.0.1, is same-origin to it). The Host header tells them apart: it
 * carries the name the browser resolved. So the server answers only Host
 * names it is known by, refuses state-changing requests that a browser says
 * come from another origin, and reads JSON bodies only when they say they
 * are JSON (a cross-site form cannot send that type without a preflight). */

static bool is_wildcard(const char *host)
{
    return !*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "::");
}

/* name (n bytes) equals one of the comma-separated entries of list,
 * ignoring case, spaces around entries and brackets around IPv6 ones. */
static bool name_in_list(const char *name, size_t n, const char *list)
{
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *e = p;
        while (len && *e == ' ')
            e++, len--;
        while (len && e[len - 1] == ' ')
            len--;
        if (len >= 2 && e[0] == '[' && e[len - 1] == ']')
            e++, len -= 2;
        if (len == n && len && strncasecmp(e, name, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

static bool host_allowed(const serve_server *srv, const char *h)
{
    const char *name = h, *colon;
    size_t n;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (!close)
            return false;
        name = h + 1;
        n = (size_t)(close - name);
        colon = close[1] == ':' ? close + 1 : NULL;
        if (!colon && close[1])
            return false;
    } else {
        colon = strchr(h, ':');
        if (colon && strchr(colon + 1, ':'))
            return false;
        n = colon ? (size_t)(colon - h) : strlen(h);
    }
    long port = 80;
    if (colon) {
        char *end;
        port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end)
            return false;
    }
    if (!n || n > 255)
        return false;
    if (srv->allow_hosts && name_in_list(name, n, srv->allow_hosts))
        return true; /* behind a proxy: any port */
    bool own = name_in_list(name, n, "127.0.0.1,localhost,::1") ||
               name_in_list(name, n, srv->host);
    return own && port == srv->port;
}

static bool changes_state(const char *method)
{
    return strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "OPTIONS");
}

/* The Origin a browser sends for this server's own page: its scheme (http,
 * or https behind a proxy) and the Host it was asked for. */
static bool origin_is_own(const char *origin, const char *host)
{
    if (!host)
        return false;
    const char *rest = !strncasecmp(origin, "http://", 7)    ? origin + 7
                       : !strncasecmp(origin, "https://", 8) ? origin + 8
                                                             : NULL;
    return rest && !strcasecmp(rest, host);
}

/* Refuses a foreign Host, or a foreign Origin on a state-changing request:
 * MHD_YES when neither. */
static enum MHD_Result cross_site(serve_request *rq, bool *refused)
{
    serve_server *srv = rq->srv;
    const char *host = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Host");
    *refused = true;
    if (srv->check_host && host && !host_allowed(srv, host))
        return serve_reply_error(rq, 403,
                                 "this server does not answer to that Host name (start it "
                                 "with --allow-host NAME to add one)");
    const char *origin = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Origin");
    if (origin && changes_state(rq->method) && !origin_is_own(origin, host))
        return serve_reply_error(rq, 403,
                                 "cross-site request refused: a page of another origin may "
                                 "not %s here",
                                 rq->method);
    *refused = false;
    return MHD_YES;
}

/* ---- the request life cycle --------------------------------------------- */

static bool is_upload(serve_request *rq)
{
    return !strcmp(rq->method, "POST") && !strcmp(rq->url, "/api/ingest");
}

/* Checks made before any body is read. Returns MHD_YES to go on reading, or
 * the result of queueing a refusal (rq->status set). */
static enum MHD_Result admit(serve_request *rq)
{
    serve_server *srv = rq->srv;
    bool refused;
    enum MHD_Result cs = cross_site(rq, &refused);
    if (refused)
        return cs;
    if (!authorized(rq)) {
        struct MHD_Response *r = NULL;
        const char *body = "{\"error\":{\"message\":\"missing or wrong token: send "
                           "'Authorization: Bearer <token>'\",\"type\":\"authentication_error\","
                           "\"code\":401}}";
        r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
        rq->bytes = strlen(body);
        return serve_reply_response(rq, 401, r);
    }
    const char *cl = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Content-Length");
    unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
    size_t limit = is_upload(rq) ? srv->p.max_upload_bytes : srv->p.max_body_bytes;
    if (len > limit)
        return serve_reply_error(rq, 413, "request body of %llu bytes is over the limit of %zu",
                                 len, limit);
    serve_conns_headers(&srv->conns, rq->conn_entry, len); /* the body's time, once allowed */
    if (is_upload(rq))
        return upload_begin(rq);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    serve_server *srv = cls;
    serve_request *rq = *con_cls;
    if (!rq) {
        rq = dq_calloc(1, sizeof *rq);
        rq->srv = srv;
        rq->conn = conn;
        rq->method = method;
        rq->url = url;
        rq->started = dq_now();
        const union MHD_ConnectionInfo *sc =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        rq->conn_entry = sc ? sc->socket_context : NULL;
        *con_cls = rq;
        pthread_mutex_lock(&srv->lock);
        srv->active_requests++;
        pthread_mutex_unlock(&srv->lock);
        return admit(rq);
    }
    if (rq->status) {
        /* Refused at admission: MHD still hands over the body; drop it
         * (it still has to arrive in time). */
        if (!*upload_data_size)
            serve_conns_received(&srv->conns, rq->conn_entry);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->upload)
            return upload_feed(rq, upload_data, n);
        if (rq->too_large || rq->body.len + n > srv->p.max_body_bytes)
            rq->too_large = true;
        else
            dq_buf_append(&rq->body, upload_data, n);
        return MHD_YES;
    }
    /* The whole request is in: from here its time is the handler's (a
     * streamed answer may take minutes), not the client's. */
    serve_conns_received(&srv->conns, rq->conn_entry);
    if (rq->upload)
        return upload_finish(rq);
    if (rq->too_large)
        return serve_reply_error(rq, 413, "request body is over the limit of %zu bytes",
                                 srv->p.max_body_bytes);
    return serve_route(rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    serve_server *srv = cls;
    serve_request *rq = *con_cls;
    if (!rq)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char addr[INET6_ADDRSTRLEN] = "-";
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof addr);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr,
                      sizeof addr);
    }
    serve_log(srv, "%s %s %s %d %zu %.1fms%s", addr, rq->method, rq->url, rq->status, rq->bytes,
              (dq_now() - rq->started) * 1000.0,
              toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (cut short)");
    serve_conns_idle(&srv->conns, rq->conn_entry);
    if (rq->upload)
        upload_free(rq->upload);
    dq_buf_free(&rq->body);
    free(rq);
    *con_cls = NULL;
    pthread_mutex_lock(&srv->lock);
    srv->active_requests--;
    pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->lock);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    serve_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? serve_conns_opened(&srv->conns, ci->connect_fd) : NULL;
    } else {
        serve_conns_closed(&srv->conns, *socket_context);
        *socket_context = NULL;
    }
}

/* Called as soon as a request line has arrived, before its headers: the
 * request's clock starts here. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)uri;
    serve_server *srv = cls;
    const union MHD_ConnectionInfo *sc =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    serve_conns_request_line(&srv->conns, sc ? sc->socket_context : NULL);
    return NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    serve_server *srv = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    serve_log(srv, "microhttpd: %s", line);
}

/* ---- start and stop ------------------------------------------------------ */

/* Connections past the soft limit that libmicrohttpd still accepts, each
 * closing an idle one; past this it refuses them (all busy). */
enum { CONNECTION_HEADROOM = 64 };
/* Descriptors kept for the store's connections (a database, its WAL and
 * shared memory each), ingest jobs, uploads and the listening socket. */
enum { FD_RESERVE = 256 };
/* The search cache's memory, whatever its number of entries. */
#define SEARCH_CACHE_BYTES ((size_t)16 << 20)

/* want, lowered so that the connections and the headroom fit the open-file
 * limit with FD_RESERVE to spare (a connection is one descriptor). */
static int connection_budget(int want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        long room = (long)rl.rlim_cur - FD_RESERVE - CONNECTION_HEADROOM;
        if (room < want)
            want = room > 16 ? (int)room : 16;
    }
    return want;
}

static void server_free(serve_server *srv)
{
    serve_conns_free(&srv->conns);
    store_close(srv->own_store);
    search_cache_free(&srv->cache);
    pthread_mutex_destroy(&srv->own_lock);
    store_pool_free(&srv->stores);
    if (srv->have_llm && !srv->shared_llm)
        llm_pool_free(&srv->llms);
    free(srv->host);
    free(srv->token);
    free(srv->store_dir);
    free(srv->docqa_bin);
    free(srv->upload_dir);
    free(srv->allow_hosts);
    for (size_t i = 0; i < sizeof srv->paths / sizeof *srv->paths; i++)
        free(srv->paths[i]);
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->idle);
    pthread_mutex_destroy(&srv->jobs.lock);
    free(srv);
}

serve_server *serve_start(const serve_params *params)
{
    const char *host = params->host ? params->host : "127.0.0.1";
    const char *token = params->token && *params->token ? params->token : NULL;
    if (!serve_host_is_loopback(host) && !token) {
        dq_set_error("binding to '%s' (not loopback) needs a token: pass --token or set "
                     "DOCQA_TOKEN",
                     host);
        return NULL;
    }
    if (!params->store_dir || !params->docqa_bin || !params->session) {
        dq_set_error("serve needs a store directory, an answer session and the docqa program");
        return NULL;
    }
    if (params->port < 0 || params->port > 65535) {
        dq_set_error("port %d is out of range (0-65535)", params->port);
        return NULL;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", params->port);
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        dq_set_error("cannot resolve '%s': %s", host, gai_strerror(gai));
        return NULL;
    }
    /* Opening once up front makes a missing or foreign store fail here, not
     * on the first request. */
    store *probe = store_open(params->store_dir, STORE_READONLY);
    if (!probe) {
        freeaddrinfo(ai);
        return NULL;
    }

    serve_server *srv = dq_calloc(1, sizeof *srv);
    srv->p = *params;
    srv->host = dq_strdup(host);
    srv->token = token ? dq_strdup(token) : NULL;
    srv->store_dir = dq_strdup(params->store_dir);
    srv->docqa_bin = dq_strdup(params->docqa_bin);
    dq_buf up = DQ_BUF_INIT;
    if (params->upload_dir)
        dq_buf_puts(&up, params->upload_dir);
    else
        dq_buf_printf(&up, "%s/uploads", srv->store_dir);
    /* Absolute and resolved, so job progress finds the paths ingest records. */
    char *real = dq_mkdirs(up.data) == 0 ? realpath(up.data, NULL) : NULL;
    srv->upload_dir = real ? real : dq_buf_take(&up);
    dq_buf_free(&up);
    srv->p.host = srv->host;
    srv->p.token = srv->token;
    srv->p.store_dir = srv->store_dir;
    srv->p.docqa_bin = srv->docqa_bin;
    srv->p.upload_dir = srv->upload_dir;
    srv->allow_hosts = params->allow_hosts && *params->allow_hosts
                           ? dq_strdup(params->allow_hosts)
                           : NULL;
    srv->p.allow_hosts = srv->allow_hosts;
    /* Bound to every address, a token guards it and the names it is reached
     * by are not known here: Host is checked only against an allow-list. */
    srv->check_host = !is_wildcard(host) || !token || srv->allow_hosts;
    if (params->session->llm) {
        srv->have_llm = true;
        if (llm_is_local(params->session->llm)) /* loaded once, shared: not pooled */
            srv->shared_llm = params->session->llm;
        else
            llm_pool_init(&srv->llms, &params->session->llm_params, NULL);
    }
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->idle, NULL);
    jobs_init(&srv->jobs);
    store_pool_init(&srv->stores, srv->store_dir,
                    params->max_readers > 0 ? (size_t)params->max_readers : 16);
    srv->paths[0] = realpath(store_root(probe), NULL);
    srv->paths[1] = realpath(srv->store_dir, NULL);
    srv->paths[2] = dq_strdup(srv->upload_dir);
    pthread_mutex_init(&srv->own_lock, NULL);
    srv->own_store = probe;
    search_cache_init(&srv->cache, params->search_cache > 0 ? (size_t)params->search_cache : 0,
                      SEARCH_CACHE_BYTES);
    srv->health_at = -1e9;
    srv->port = params->port;

    int idle_s = params->idle_timeout_s > 0 ? params->idle_timeout_s : 30;
    serve_conns_params cp = {
        .soft_limit = connection_budget(params->max_connections > 0 ? params->max_connections
                                                                    : 1024),
        .idle_s = idle_s,
        .request_s = params->request_timeout_s > 0 ? params->request_timeout_s : 30,
        .min_body_rate = 64 * 1024,
    };
    if (serve_conns_init(&srv->conns, &cp) < 0) {
        freeaddrinfo(ai);
        server_free(srv);
        return NULL;
    }

    /* poll(), not select(): a thousand connections pass FD_SETSIZE. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)params->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_error, srv, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_URI_LOG_CALLBACK,
        on_request_line, srv, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(cp.soft_limit + CONNECTION_HEADROOM), MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)(params->max_per_client > 0 ? params->max_per_client : 512),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)idle_s, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!srv->daemon) {
        dq_set_error("cannot listen on %s port %d (in use, or not an address of this machine?)",
                     host, params->port);
        server_free(srv);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : params->port;
    return srv;
}

int serve_port(const serve_server *srv)
{
    return srv->port;
}

void serve_stop(serve_server *srv)
{
    if (!srv)
        return;
    /* Stop accepting, let requests in flight finish, then close. */
    MHD_socket s = MHD_quiesce_daemon(srv->daemon);
    if (s != MHD_INVALID_SOCKET)
        close(s);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += srv->p.drain_timeout_s > 0 ? srv->p.drain_timeout_s : 30;
    pthread_mutex_lock(&srv->lock);
    while (srv->active_requests > 0)
        if (pthread_cond_timedwait(&srv->idle, &srv->lock, &until) != 0)
            break;
    pthread_mutex_unlock(&srv->lock);
    MHD_stop_daemon(srv->daemon);
    jobs_shutdown(&srv->jobs);
    server_free(srv);
}
