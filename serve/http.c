/* http.c - replies, request bodies and query strings, and the log: the
 * helpers every handler answers with. Every response carries nosniff and
 * no-referrer; JSON errors take OpenAI's shape so its clients show them. */
#include "serve/http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "serve/context.h"
#include "net/net.h"

void serve_log(serve_server *srv, const char *fmt, ...)
{
    if (!srv->p.log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    srv->p.log(srv->p.log_ctx, line);
}

static void add_common_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

bool serve_client_gone(serve_request *rq)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    char c;
    ssize_t n = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

enum MHD_Result serve_reply_response(serve_request *rq, int status, struct MHD_Response *r)
{
    add_common_headers(r);
    rq->status = status;
    enum MHD_Result ret = MHD_queue_response(rq->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

struct MHD_Response *serve_response_copy(serve_request *rq, const char *content_type,
                                         const void *body, size_t n)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return NULL;
    MHD_add_response_header(r, "Content-Type", content_type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    rq->bytes = n;
    return r;
}

enum MHD_Result serve_reply(serve_request *rq, int status, const char *content_type,
                            const void *body, size_t n)
{
    struct MHD_Response *r = serve_response_copy(rq, content_type, body, n);
    return r ? serve_reply_response(rq, status, r) : MHD_NO;
}

enum MHD_Result serve_reply_json(serve_request *rq, int status, cJSON *root)
{
    char *text = rag_json_print(root, false);
    cJSON_Delete(root);
    enum MHD_Result ret = serve_reply(rq, status, "application/json; charset=utf-8", text,
                                      strlen(text));
    free(text);
    return ret;
}

static const char *error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

/* Removes "prefix/" wherever it is in msg, so a path under it reads as
 * relative ("uploads/x.pdf"), and the folder itself becomes its name. */
static void drop_prefix(char *msg, const char *prefix)
{
    size_t n = prefix ? strlen(prefix) : 0;
    if (n < 2)
        return;
    char *p = msg;
    while ((p = strstr(p, prefix)) != NULL) {
        if (p[n] == '/') {
            memmove(p, p + n + 1, strlen(p + n + 1) + 1);
        } else if (!p[n] || strchr("'\" :,)", p[n])) { /* the folder itself: its name */
            const char *base = strrchr(prefix, '/');
            size_t b = strlen(base + 1);
            memmove(p, p + n - b, strlen(p + n - b) + 1);
            p += b;
        } else {
            p += n;
        }
    }
}

/* Whether the absolute path in s[0..n) is one to show as it is: one of this
 * server's routes (/api/..., /v1/...) or a single name ("/health"). Decided
 * from the text alone: asking the file system would tell any client which
 * paths exist here (a 404 repeats the requested path). */
static bool shown_as_is(const char *s, size_t n)
{
    if ((n >= 4 && !strncmp(s, "/api", 4) && (n == 4 || s[4] == '/')) ||
        (n >= 3 && !strncmp(s, "/v1", 3) && (n == 3 || s[3] == '/')))
        return true;
    return memchr(s + 1, '/', n - 1) == NULL;
}

/* Cuts every absolute path in msg of two names or more, other than a route,
 * to its last name, in place. A path starts a word (after a space, a quote,
 * a bracket or '='); it ends at a space, a quote, a bracket, ':' or ','. */
static void shorten_local_paths(char *msg)
{
    static const char starts[] = " \t\n'\"(=[<", ends[] = " \t\n'\"():,;<>[]";
    for (char *p = msg; (p = strchr(p, '/')) != NULL;) {
        bool word = p == msg || strchr(starts, p[-1]);
        size_t n = strcspn(p, ends);
        if (!word || n < 2 || p[1] == '/' || shown_as_is(p, n)) {
            p += n ? n : 1;
            continue;
        }
        size_t end = n;
        while (n > 1 && p[n - 1] == '/') /* "/srv/docs/" reads "docs" */
            n--;
        const char *name = p + n;
        while (name > p && name[-1] != '/')
            name--;
        size_t keep = (size_t)(p + n - name);
        memmove(p, name, keep);
        memmove(p + keep, p + end, strlen(p + end) + 1);
        p += keep;
    }
}

char *serve_public_text(serve_server *srv, const char *msg)
{
    if (!msg)
        return NULL;
    char *text = net_text_redact(msg);
    /* The root first, so a path in the store reads ".docqa/uploads/x.pdf";
     * then uploads and a store kept elsewhere. */
    drop_prefix(text, srv->paths[0]);
    drop_prefix(text, srv->paths[2]);
    drop_prefix(text, srv->paths[1]);
    drop_prefix(text, srv->upload_dir);
    drop_prefix(text, srv->store_dir);
    shorten_local_paths(text);
    return text;
}

enum MHD_Result serve_reply_error(serve_request *rq, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *shown = serve_public_text(rq->srv, msg);
    cJSON *root = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", shown);
    cJSON_AddStringToObject(err, "type", error_type(status));
    cJSON_AddNumberToObject(err, "code", status);
    if (status >= 500)
        serve_log(rq->srv, "error: %s %s: %s", rq->method, rq->url, shown);
    free(shown);
    return serve_reply_json(rq, status, root);
}

/* application/json, with parameters or not ("; charset=utf-8"). */
static bool is_json_type(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    if (strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    ct += sizeof want - 1;
    return !*ct || *ct == ';' || *ct == ' ';
}

cJSON *serve_parse_body(serve_request *rq, enum MHD_Result *result)
{
    /* A page of another site can send a form or text/plain without asking
     * first, never application/json: the type is part of the protection. */
    if (!is_json_type(MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Content-Type"))) {
        *result = serve_reply_error(rq, 415, "send the body as JSON, with 'Content-Type: "
                                             "application/json'");
        return NULL;
    }
    cJSON *root = rq->body.len ? cJSON_ParseWithLength(rq->body.data, rq->body.len) : NULL;
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        *result = serve_reply_error(rq, 400, "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

const char *serve_arg(serve_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

