/* http.c - client for an OpenAI-compatible /v1/embeddings endpoint.
 *
 * Texts go out in batches of params.batch as {"model": m, "input": [...]};
 * the reply's data[] is put back in input order by its "index" field (servers
 * may answer out of order), and every vector must have the dimension the
 * first one had. One curl easy handle per client, reused across requests so
 * keep-alive connections are too; a client is not for concurrent use.
 */
#include "embed/embed.h"

#include "common/common.h"
#include "net/net.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_S 10
/* A reply is read whole into memory, so its size is capped: 16 MiB plus 64
 * bytes per expected number is far beyond any real endpoint's JSON (about
 * 20 bytes a number) yet stops a broken or hostile one from filling memory. */
#define RESPONSE_BASE_BYTES ((size_t)16 << 20)
#define RESPONSE_BYTES_PER_VALUE 64

struct embed_http {
    char *url;      /* the full .../embeddings URL */
    char *shown;    /* url redacted (net_url_redact): for messages and the identity */
    char *model;    /* or NULL */
    char *api_key;  /* or NULL */
    char *identity; /* "http:<shown>:<model>": no password ever lands in a store */
    int timeout_s;
    int batch;
    int dim; /* 0 until the first vector arrives */
    CURL *curl;
    struct curl_slist *headers;
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

embed_http *embed_http_new(const embed_http_params *params)
{
    if (!params || !params->url || !*params->url) {
        dq_set_error("no embeddings endpoint url given");
        return NULL;
    }
    embed_http *c = dq_calloc(1, sizeof *c);
    /* "/embeddings" goes on the path, before any query ("?api-version=" on
     * Azure), and a full URL written with a trailing slash is still full */
    const char *query = strchr(params->url, '?');
    size_t path_len = query ? (size_t)(query - params->url) : strlen(params->url);
    dq_buf url = DQ_BUF_INIT;
    dq_buf_append(&url, params->url, path_len);
    while (url.len > 0 && url.data[url.len - 1] == '/')
        url.data[--url.len] = '\0';
    if (!ends_with(url.data ? url.data : "", "/embeddings"))
        dq_buf_puts(&url, "/embeddings");
    if (query)
        dq_buf_puts(&url, query);
    c->url = dq_buf_take(&url);
    c->shown = net_url_redact(c->url);
    c->model = params->model ? dq_strdup(params->model) : NULL;
    c->api_key = params->api_key && *params->api_key ? dq_strdup(params->api_key) : NULL;
    c->timeout_s = params->timeout_s > 0 ? params->timeout_s : 60;
    c->batch = params->batch > 0 ? params->batch : 32;
    dq_buf id = DQ_BUF_INIT;
    dq_buf_printf(&id, "http:%s:%s", c->shown, c->model ? c->model : "");
    c->identity = dq_buf_take(&id);

    c->curl = net_handle_new();
    if (!c->curl) {
        embed_http_free(c);
        return NULL;
    }
    c->headers = net_json_headers(NULL, c->api_key);
    return c;
}

void embed_http_free(embed_http *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->headers);
    free(c->url);
    free(c->shown);
    free(c->model);
    free(c->api_key);
    free(c->identity);
    free(c);
}

const char *embed_http_identity(const embed_http *c)
{
    return c->identity;
}

typedef struct {
    dq_buf *buf;
    size_t limit;
    bool too_big;
} sink;

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    sink *s = ctx;
    if (s->buf->len + size * n > s->limit) {
        s->too_big = true;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    dq_buf_append(s->buf, p, size * n);
    return size * n;
}

/* The server's own words for an error status: error.message, error (a
 * string), message or detail of a JSON body, else the body itself. */
static void server_message(const dq_buf *body, char *out, size_t cap)
{
    out[0] = '\0';
    cJSON *j = body->data ? cJSON_ParseWithLength(body->data, body->len) : NULL;
    const char *msg = NULL;
    if (j) {
        cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
        cJSON *m = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "message") : err;
        if (!cJSON_IsString(m))
            m = cJSON_GetObjectItemCaseSensitive(j, "message");
        if (!cJSON_IsString(m))
            m = cJSON_GetObjectItemCaseSensitive(j, "detail");
        if (cJSON_IsString(m))
            msg = m->valuestring;
    }
    if (!msg)
        msg = body->data && body->len ? body->data : "(empty body)";
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' '))
        n--;
    if (n > 300)
        n = 300;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, msg, n);
    out[n] = '\0';
    /* an error message is one line: a multi-line body (an HTML page, a
     * stack trace) is folded onto it */
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\n' || out[i] == '\r' || out[i] == '\t')
            out[i] = ' ';
    cJSON_Delete(j);
}

/* POSTs body and leaves the 2xx response, at most limit bytes, in resp; -1
 * with the error set. */
static int post(embed_http *c, const char *body, dq_buf *resp, size_t limit)
{
    CURL *h = c->curl;
    char errbuf[CURL_ERROR_SIZE] = "";
    sink out = {resp, limit, false};
    net_request rq = {.connect_timeout_s = CONNECT_TIMEOUT_S,
                      .timeout_s = c->timeout_s,
                      .headers = c->headers,
                      .errbuf = errbuf};
    net_request_setup(h, c->url, &rq);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
    CURLcode rc = curl_easy_perform(h);
    net_request_done(h);
    if (out.too_big) {
        dq_set_error("embeddings endpoint '%s': response larger than %zu MB", c->shown,
                     limit >> 20);
        return -1;
    }
    net_result res;
    net_result_of(h, rc, errbuf, &res);
    switch (res.status) {
    case NET_OK:
        break;
    case NET_TIMEOUT:
        dq_set_error("embeddings endpoint '%s' timed out after %d s", c->shown, c->timeout_s);
        return -1;
    case NET_CONNECT_TIMEOUT:
        dq_set_error("cannot reach embeddings endpoint '%s': timed out after %d s", c->shown,
                     c->timeout_s < CONNECT_TIMEOUT_S ? c->timeout_s : CONNECT_TIMEOUT_S);
        return -1;
    case NET_UNREACHABLE:
    case NET_BAD_URL:
        dq_set_error("cannot reach embeddings endpoint '%s': %s", c->shown,
                     res.os_errno ? strerror(res.os_errno) : res.reason);
        return -1;
    default:
        dq_set_error("embeddings endpoint '%s': %s", c->shown, res.reason);
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        char msg[320];
        server_message(resp, msg, sizeof msg);
        dq_set_error("embeddings endpoint '%s' returned HTTP %ld: %s", c->shown, status, msg);
        return -1;
    }
    return 0;
}

/* Parses one response for n texts into out (n, dim); learns c->dim. */
static int parse_vectors(embed_http *c, const dq_buf *resp, size_t n, float *out, int max_dim)
{
    int ret = -1;
    /* learned into a local: a malformed first reply must not fix c->dim */
    int dim = c->dim;
    bool *seen = dq_calloc(n ? n : 1, sizeof *seen);
    cJSON *j = resp->data ? cJSON_ParseWithLength(resp->data, resp->len) : NULL;
    cJSON *data = j ? cJSON_GetObjectItemCaseSensitive(j, "data") : NULL;
    if (!j) {
        dq_set_error("embeddings endpoint '%s': malformed response: not JSON", c->shown);
        goto out;
    }
    if (!cJSON_IsArray(data)) {
        dq_set_error("embeddings endpoint '%s': malformed response: no \"data\" array", c->shown);
        goto out;
    }
    int got = cJSON_GetArraySize(data);
    if ((size_t)got != n) {
        dq_set_error("embeddings endpoint '%s': expected %zu vectors, got %d", c->shown, n, got);
        goto out;
    }
    int pos = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, data)
    {
        const cJSON *emb = cJSON_GetObjectItemCaseSensitive(item, "embedding");
        const cJSON *index = cJSON_GetObjectItemCaseSensitive(item, "index");
        if (!cJSON_IsArray(emb)) {
            dq_set_error("embeddings endpoint '%s': malformed response: data[%d] has no "
                         "\"embedding\" array", c->shown, pos);
            goto out;
        }
        size_t at = (size_t)pos;
        if (index) {
            double v = cJSON_IsNumber(index) ? index->valuedouble : -1;
            if (v < 0 || v >= (double)n || v != (double)(size_t)v) {
                dq_set_error("embeddings endpoint '%s': malformed response: data[%d] has an "
                             "index that is %s (need 0..%zu)", c->shown, pos,
                             cJSON_IsNumber(index) ? "out of range" : "not a number", n - 1);
                goto out;
            }
            at = (size_t)v;
        }
        if (seen[at]) {
            dq_set_error("embeddings endpoint '%s': malformed response: index %zu appears twice",
                         c->shown, at);
            goto out;
        }
        seen[at] = true;
        int d = cJSON_GetArraySize(emb);
        if (d == 0) {
            dq_set_error("embeddings endpoint '%s': malformed response: empty vector", c->shown);
            goto out;
        }
        if (dim == 0) {
            if (d > max_dim) {
                dq_set_error("embeddings endpoint '%s': vector of dimension %d, at most %d expected",
                             c->shown, d, max_dim);
                goto out;
            }
            dim = d;
        }
        if (d != dim) {
            dq_set_error("embeddings endpoint '%s': vector of dimension %d, expected %d", c->shown, d,
                         dim);
            goto out;
        }
        float *row = out + at * (size_t)dim;
        const cJSON *x;
        int k = 0;
        cJSON_ArrayForEach(x, emb)
        {
            if (!cJSON_IsNumber(x)) {
                dq_set_error("embeddings endpoint '%s': malformed response: data[%d] holds a "
                             "non-number", c->shown, pos);
                goto out;
            }
            /* 1e999 parses as infinity, 1e39 overflows a float: either would
             * turn every cosine with this vector into NaN */
            double v = x->valuedouble;
            if (!isfinite(v) || fabs(v) > FLT_MAX) {
                dq_set_error("embeddings endpoint '%s': malformed response: data[%d] holds a "
                             "value that is not a finite float", c->shown, pos);
                goto out;
            }
            row[k++] = (float)v;
        }
        pos++;
    }
    c->dim = dim;
    ret = 0;
out:
    cJSON_Delete(j);
    free(seen);
    return ret;
}

int embed_http_encode(embed_http *c, const char *const *texts, size_t n, float *out, int max_dim,
                      int *dim)
{
    dq_buf body = DQ_BUF_INIT, resp = DQ_BUF_INIT;
    int ret = 0;
    if (c->dim > max_dim) {
        dq_set_error("embeddings endpoint '%s' gives vectors of dimension %d, at most %d expected",
                     c->shown, c->dim, max_dim);
        return -1;
    }
    for (size_t first = 0; first < n; first += (size_t)c->batch) {
        size_t m = n - first < (size_t)c->batch ? n - first : (size_t)c->batch;
        dq_buf_clear(&body);
        dq_buf_clear(&resp);
        dq_buf_putc(&body, '{');
        if (c->model) {
            dq_buf_puts(&body, "\"model\":");
            dq_buf_put_json_string(&body, c->model);
            dq_buf_putc(&body, ',');
        }
        dq_buf_puts(&body, "\"input\":[");
        for (size_t i = 0; i < m; i++) {
            const char *t = texts[first + i] ? texts[first + i] : ""; /* as bert_encode */
            if (i)
                dq_buf_putc(&body, ',');
            if (utf8_valid(t, strlen(t))) {
                dq_buf_put_json_string(&body, t);
            } else {
                /* JSON must be UTF-8: bad bytes go as U+FFFD */
                char *fixed = utf8_sanitize(t, strlen(t));
                dq_buf_put_json_string(&body, fixed);
                free(fixed);
            }
        }
        dq_buf_puts(&body, "]}");
        /* The first batch learns dim; first is 0 then, so the offset holds. */
        size_t limit = RESPONSE_BASE_BYTES;
        size_t values = m * (size_t)(c->dim ? c->dim : max_dim);
        if (values < (SIZE_MAX - limit) / RESPONSE_BYTES_PER_VALUE)
            limit += values * RESPONSE_BYTES_PER_VALUE;
        else
            limit = SIZE_MAX;
        if (post(c, body.data, &resp, limit) < 0 ||
            parse_vectors(c, &resp, m, out + first * (size_t)c->dim, max_dim) < 0) {
            ret = -1;
            break;
        }
    }
    dq_buf_free(&body);
    dq_buf_free(&resp);
    if (ret == 0 && dim)
        *dim = c->dim;
    return ret;
}
