/* httpd.c - a tiny threaded HTTP/1.1 server on 127.0.0.1 for tests. */
#include "support/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER 65536

struct httpd {
    int fd; /* listening socket */
    int port;
    char url[64];
    httpd_handler handler;
    void *ctx;
    pthread_t thread;
    int stop;     /* set by httpd_stop, read by the thread (__atomic) */
    int requests; /* (__atomic) */
};

static bool stopping(httpd *s)
{
    return __atomic_load_n(&s->stop, __ATOMIC_SEQ_CST) != 0;
}

/* Sleeps ms milliseconds in small steps so httpd_stop is never held up. */
static void nap(httpd *s, int ms)
{
    while (ms > 0 && !stopping(s)) {
        int step = ms < 20 ? ms : 20;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* Waits up to 50 ms for fd to become readable; 1 ready, 0 not yet, -1 stop. */
static int wait_readable(httpd *s, int fd)
{
    if (stopping(s))
        return -1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, 50);
    return r > 0 ? 1 : (r < 0 && errno != EINTR) ? -1 : 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL); /* the client may have gone */
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

bool httpd_header(const httpd_request *req, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *line = req->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        if (!end)
            end = line + strlen(line);
        if ((size_t)(end - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            size_t n = (size_t)(end - v);
            if (cap) {
                if (n >= cap)
                    n = cap - 1;
                memcpy(out, v, n);
                out[n] = '\0';
            }
            return true;
        }
        line = *end ? end + 2 : end;
    }
    return false;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

static void serve(httpd *s, int fd)
{
    dq_buf in = DQ_BUF_INIT;
    char chunk[4096];
    size_t head_end = 0;
    bool continued = false;
    size_t content_length = 0;
    for (;;) {
        if (head_end == 0 && in.data) {
            char *p = strstr(in.data, "\r\n\r\n");
            if (p) {
                head_end = (size_t)(p - in.data) + 4;
                char *cl = NULL;
                for (char *h = strchr(in.data, '\n'); h && h < p; h = strchr(h + 1, '\n'))
                    if (strncasecmp(h + 1, "Content-Length:", 15) == 0)
                        cl = h + 16;
                content_length = cl ? strtoul(cl, NULL, 10) : 0;
                /* curl waits for "100 Continue" on large bodies */
                char *expect = strcasestr(in.data, "\nExpect: 100-continue");
                if (!continued && expect && expect < p) {
                    send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                    continued = true;
                }
            } else if (in.len > MAX_HEADER) {
                goto out;
            }
        }
        if (head_end && in.len >= head_end + content_length)
            break;
        int r = wait_readable(s, fd);
        if (r < 0)
            goto out;
        if (r == 0)
            continue;
        ssize_t k = recv(fd, chunk, sizeof chunk, 0);
        if (k <= 0)
            goto out;
        dq_buf_append(&in, chunk, (size_t)k);
    }
    __atomic_add_fetch(&s->requests, 1, __ATOMIC_SEQ_CST);

    /* Split the head in place: request line, headers, body. */
    char *head = in.data;
    head[head_end + content_length] = '\0'; /* anything pipelined after is ignored */
    head[head_end - 2] = '\0'; /* headers end with their own \r\n */
    char *line_end = strstr(head, "\r\n");
    *line_end = '\0';
    char *method = head;
    char *path = strchr(method, ' ');
    if (!path)
        goto out;
    *path++ = '\0';
    char *version = strchr(path, ' ');
    if (version)
        *version = '\0';
    httpd_request req = {
        .method = method,
        .path = path,
        .headers = line_end + 2,
        .body = in.data + head_end,
        .body_len = content_length,
    };
    httpd_response resp = {.status = 200, .content_type = "application/json"};
    s->handler(s->ctx, &req, &resp);
    nap(s, resp.delay_ms);
    if (!stopping(s)) {
        dq_buf out = DQ_BUF_INIT;
        dq_buf_printf(&out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", resp.status,
                      reason(resp.status), resp.content_type);
        if (resp.chunked)
            dq_buf_puts(&out, "Transfer-Encoding: chunked\r\n");
        else
            dq_buf_printf(&out, "Content-Length: %zu\r\n", resp.body.len);
        dq_buf_puts(&out, "Connection: close\r\n\r\n");
        send_all(fd, out.data, out.len);
        dq_buf_free(&out);
        const char *b = resp.body.data ? resp.body.data : "";
        size_t left = resp.body.len;
        bool cut = resp.piece_delay_ms > 0 || resp.chunked;
        int sent = 0;
        bool whole = true;
        while (left > 0 && !stopping(s)) {
            size_t n = left;
            if (resp.piece_bytes > 0) {
                if ((size_t)resp.piece_bytes < left)
                    n = (size_t)resp.piece_bytes;
            } else if (cut) {
                /* after each blank line, LF or CRLF style */
                const char *lf = strstr(b, "\n\n"), *crlf = strstr(b, "\r\n\r\n");
                size_t a = lf ? (size_t)(lf + 2 - b) : left;
                size_t c = crlf ? (size_t)(crlf + 4 - b) : left;
                n = a < c ? a : c;
                if (n > left)
                    n = left;
            }
            if (resp.close_after > 0 && sent == resp.close_after) {
                whole = false;
                break;
            }
            if (resp.stall_after > 0 && sent == resp.stall_after)
                nap(s, resp.stall_ms);
            nap(s, resp.piece_delay_ms);
            if (stopping(s))
                break;
            int rc;
            if (resp.chunked) {
                char size_line[32];
                int k = snprintf(size_line, sizeof size_line, "%zx\r\n", n);
                rc = send_all(fd, size_line, (size_t)k) || send_all(fd, b, n) ||
                     send_all(fd, "\r\n", 2);
            } else {
                rc = send_all(fd, b, n);
            }
            if (rc != 0) {
                whole = false;
                break;
            }
            b += n;
            left -= n;
            sent++;
        }
        if (resp.chunked && whole && !stopping(s))
            send_all(fd, "0\r\n\r\n", 5);
    }
    dq_buf_free(&resp.body);
out:
    dq_buf_free(&in);
    shutdown(fd, SHUT_WR);
    close(fd);
}

static void *server_main(void *arg)
{
    httpd *s = arg;
    for (;;) {
        int r = wait_readable(s, s->fd);
        if (r < 0)
            break;
        if (r == 0)
            continue;
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0)
            continue;
        /* pieces go out as sent, so a test's split lands in separate reads */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        serve(s, fd);
    }
    return NULL;
}

httpd *httpd_start(httpd_handler handler, void *ctx)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        dq_set_error("cannot create socket: %s", strerror(errno));
        return NULL;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        dq_set_error("cannot listen on 127.0.0.1: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    httpd *s = dq_calloc(1, sizeof *s);
    s->fd = fd;
    s->port = ntohs(a.sin_port);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    s->handler = handler;
    s->ctx = ctx;
    int err = pthread_create(&s->thread, NULL, server_main, s);
    if (err) {
        dq_set_error("cannot start server thread: %s", strerror(err));
        close(fd);
        free(s);
        return NULL;
    }
    return s;
}

void httpd_stop(httpd *s)
{
    if (!s)
        return;
    __atomic_store_n(&s->stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(s->thread, NULL);
    close(s->fd);
    free(s);
}

int httpd_port(const httpd *s)
{
    return s->port;
}

const char *httpd_url(const httpd *s)
{
    return s->url;
}

int httpd_requests(const httpd *s)
{
    return __atomic_load_n(&s->requests, __ATOMIC_SEQ_CST);
}

int httpd_closed_port(void)
{
    /* Bind to an ephemeral port and close without listening: connecting
     * there is refused, and the kernel does not hand the port out again
     * right away. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}
