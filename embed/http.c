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

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_S 10

struct embed_http {
    char *url;      /* the full .../embeddings URL */
    char *model;    /* or NULL */
    char *api_key;  /* or NULL */
    char *identity; /* "http:<url>:<model>" */
    int timeout_s;
    int batch;
    int dim; /* 0 until the first vector arrives */
    CURL *curl;
    struct curl_slist *headers;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void init_curl(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

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
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK) {
        dq_set_error("cannot initialise libcurl: %s", curl_easy_strerror(curl_init_result));
        return NULL;
    }
    embed_http *c = dq_calloc(1, sizeof *c);
    dq_buf url = DQ_BUF_INIT;
    dq_buf_puts(&url, params->url);
    if (!ends_with(url.data, "/embeddings")) {
        while (url.len > 0 && url.data[url.len - 1] == '/')
            url.data[--url.len] = '\0';
        dq_buf_puts(&url, "/embeddings");
    }
    c->url = dq_buf_take(&url);
    c->model = params->model ? dq_strdup(params->model) : NULL;
    c->api_key = params->api_key && *params->api_key ? dq_strdup(params->api_key) : NULL;
    c->timeout_s = params->timeout_s > 0 ? params->timeout_s : 60;
    c->batch = params->batch > 0 ? params->batch : 32;
    dq_buf id = DQ_BUF_INIT;
    dq_buf_printf(&id, "http:%s:%s", c->url, c->model ? c->model : "");
    c->identity = dq_buf_take(&id);

    c->curl = curl_easy_init();
    if (!c->curl) {
        dq_set_error("cannot create a libcurl handle");
        embed_http_free(c);
        return NULL;
    }
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    /* No "Expect: 100-continue" round trip for large batches. */
    c->headers = curl_slist_append(c->headers, "Expect:");
    if (c->api_key) {
        dq_buf auth = DQ_BUF_INIT;
        dq_buf_printf(&auth, "Authorization: Bearer %s", c->api_key);
        c->headers = curl_slist_append(c->headers, auth.data);
        dq_buf_free(&auth);
    }
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
    free(c->model);
    free(c->api_key);
    free(c->identity);
    free(c);
}

const char *embed_http_identity(const embed_http *c)
{
    return c->identity;
}

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    dq_buf_append(ctx, p, size * n);
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
    cJSON_Delete(j);
}

/* POSTs body and leaves the 2xx response in resp; -1 with the error set. */
static int post(embed_http *c, const char *body, dq_buf *resp)
{
    CURL *h = c->curl;
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)c->timeout_s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* timeouts without SIGALRM, thread-safe */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "docqa");

    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        long os_errno = 0;
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
        curl_off_t connect_us = 0;
        curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
        if (rc == CURLE_OPERATION_TIMEDOUT && connect_us > 0)
            dq_set_error("embeddings endpoint '%s' timed out after %d s", c->url, c->timeout_s);
        else if (rc == CURLE_OPERATION_TIMEDOUT)
            dq_set_error("cannot reach embeddings endpoint '%s': timed out after %d s", c->url,
                         c->timeout_s < CONNECT_TIMEOUT_S ? c->timeout_s : CONNECT_TIMEOUT_S);
        else if (rc == CURLE_COULDNT_CONNECT && os_errno)
            dq_set_error("cannot reach embeddings endpoint '%s': %s", c->url, strerror((int)os_errno));
        else if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT ||
                 rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT)
            dq_set_error("cannot reach embeddings endpoint '%s': %s", c->url,
                         *errbuf ? errbuf : curl_easy_strerror(rc));
        else
            dq_set_error("embeddings endpoint '%s': %s", c->url, *errbuf ? errbuf : curl_easy_strerror(rc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        char msg[320];
        server_message(resp, msg, sizeof msg);
        dq_set_error("embeddings endpoint '%s' returned HTTP %ld: %s", c->url, status, msg);
        return -1;
    }
    return 0;
}

/* Parses one response for n texts into out (n, dim); learns c->dim. */
static int parse_vectors(embed_http *c, const dq_buf *resp, size_t n, float *out, int max_dim)
{
    int ret = -1;
    bool *seen = dq_calloc(n ? n : 1, sizeof *seen);
    cJSON *j = resp->data ? cJSON_ParseWithLength(resp->data, resp->len) : NULL;
    cJSON *data = j ? cJSON_GetObjectItemCaseSensitive(j, "data") : NULL;
    if (!j) {
        dq_set_error("embeddings endpoint '%s': malformed response: not JSON", c->url);
        goto out;
    }
    if (!cJSON_IsArray(data)) {
        dq_set_error("embeddings endpoint '%s': malformed response: no \"data\" array", c->url);
        goto out;
    }
    int got = cJSON_GetArraySize(data);
    if ((size_t)got != n) {
        dq_set_error("embeddings endpoint '%s': expected %zu vectors, got %d", c->url, n, got);
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
                         "\"embedding\" array", c->url, pos);
            goto out;
        }
        size_t at = (size_t)pos;
        if (index) {
            double v = cJSON_IsNumber(index) ? index->valuedouble : -1;
            if (v < 0 || v >= (double)n || v != (double)(size_t)v) {
                dq_set_error("embeddings endpoint '%s': malformed response: data[%d] has index %s "
                             "outside 0..%zu", c->url, pos,
                             cJSON_IsNumber(index) ? "out of range" : "not a number", n - 1);
                goto out;
            }
            at = (size_t)v;
        }
        if (seen[at]) {
            dq_set_error("embeddings endpoint '%s': malformed response: index %zu appears twice",
                         c->url, at);
            goto out;
        }
        seen[at] = true;
        int d = cJSON_GetArraySize(emb);
        if (d == 0) {
            dq_set_error("embeddings endpoint '%s': malformed response: empty vector", c->url);
            goto out;
        }
        if (c->dim == 0) {
            if (d > max_dim) {
                dq_set_error("embeddings endpoint '%s': vector of dimension %d, at most %d expected",
                             c->url, d, max_dim);
                goto out;
            }
            c->dim = d;
        }
        if (d != c->dim) {
            dq_set_error("embeddings endpoint '%s': vector of dimension %d, expected %d", c->url, d,
                         c->dim);
            goto out;
        }
        float *row = out + at * (size_t)c->dim;
        const cJSON *x;
        int k = 0;
        cJSON_ArrayForEach(x, emb)
        {
            if (!cJSON_IsNumber(x)) {
                dq_set_error("embeddings endpoint '%s': malformed response: data[%d] holds a "
                             "non-number", c->url, pos);
                goto out;
            }
            row[k++] = (float)x->valuedouble;
        }
        pos++;
    }
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
                     c->url, c->dim, max_dim);
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
            const char *t = texts[first + i];
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
        if (post(c, body.data, &resp) < 0 ||
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
