/* router.c - method and path to handler. Paths carry ids only (documents,
 * jobs), parsed strictly, so no request names a file on disk. */
#include "serve/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses "<prefix><digits><suffix>" exactly; false otherwise. */
static bool parse_id(const char *url, const char *prefix, const char *suffix, long long *id,
                     const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(url, prefix, n) != 0)
        return false;
    const char *p = url + n;
    if (*p < '0' || *p > '9')
        return false;
    char *end;
    long long v = strtoll(p, &end, 10);
    if (v < 0 || end - p > 15)
        return false;
    if (suffix) {
        size_t m = strlen(suffix);
        if (strncmp(end, suffix, m) != 0)
            return false;
        end += m;
    }
    *id = v;
    if (rest)
        *rest = end;
    else if (*end)
        return false;
    return true;
}

static enum MHD_Result wrong_method(serve_request *rq, const char *allowed)
{
    struct MHD_Response *r = NULL;
    char body[160];
    int n = snprintf(body, sizeof body,
                     "{\"error\":{\"message\":\"%s is not allowed here (use %s)\","
                     "\"type\":\"invalid_request_error\",\"code\":405}}",
                     rq->method, allowed);
    r = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header(r, "Allow", allowed);
    rq->bytes = (size_t)n;
    return serve_reply_response(rq, 405, r);
}

enum MHD_Result serve_route(serve_request *rq)
{
    const char *u = rq->url, *m = rq->method;
    bool get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST");
    long long id, page;
    const char *rest;

    if (!strcmp(u, "/health"))
        return get ? api_health(rq) : wrong_method(rq, "GET");
    if (!strcmp(u, "/api/search"))
        return get || post ? api_search(rq) : wrong_method(rq, "GET, POST");
    if (!strcmp(u, "/api/ask"))
        return post ? api_ask(rq) : wrong_method(rq, "POST");
    if (!strcmp(u, "/api/documents"))
        return get ? api_documents(rq) : wrong_method(rq, "GET");
    if (parse_id(u, "/api/documents/", "/pages/", &id, &rest) &&
        parse_id(rest, "", ".png", &page, NULL))
        return get ? api_page_png(rq, id, (long)page) : wrong_method(rq, "GET");
    if (!strcmp(u, "/api/ingest"))
        return wrong_method(rq, "POST"); /* POST is taken by the upload path */
    if (!strcmp(u, "/api/jobs"))
        return get ? api_jobs(rq, -1) : wrong_method(rq, "GET");
    if (parse_id(u, "/api/jobs/", NULL, &id, NULL))
        return get ? api_jobs(rq, id) : wrong_method(rq, "GET");
    if (!strcmp(u, "/v1/models"))
        return get ? openai_models(rq) : wrong_method(rq, "GET");
    if (!strcmp(u, "/v1/chat/completions"))
        return post ? openai_chat(rq) : wrong_method(rq, "POST");
    if (get && strncmp(u, "/api/", 5) && strncmp(u, "/v1/", 4))
        return static_asset(rq, u);
    return serve_reply_error(rq, 404, "no such endpoint: %s %s", m, u);
}
