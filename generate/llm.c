/* llm.c - the OpenAI-compatible chat client: POST {base}/chat/completions
 * with libcurl, the reply streamed as Server-Sent Events (generate/sse.c) or
 * read whole, decoded with cJSON.
 *
 * One curl easy handle per client, reset and reused per request so a
 * keep-alive connection to the server is too; a client is not for concurrent
 * use. curl's write callback feeds the SSE parser, whose events are decoded
 * as they complete and whose content goes to the caller's token callback at
 * once, a multi-byte character split across events held back until whole.
 * Whether a reply is a stream is decided by its status and Content-Type, not
 * by what was asked: an error status or a JSON reply to a streaming request
 * (a server that ignores "stream") is read whole and decoded as such.
 * Timeouts: a request fails when no byte arrives for timeout_s: a long
 * streamed answer that keeps coming is fine, a whole one must come within.
 */
#include "generate/llm.h"

#include "generate/llm_local.h"

#include "common/common.h"
#include "generate/sse.h"
#include "net/net.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A whole (non-streamed) reply or an error body is read into memory; this
 * caps it far above any real answer so a broken server cannot fill memory. */
#define RAW_MAX ((size_t)64 << 20)

struct llm_client {
    llm_local *local;   /* the in-process backend, or NULL for HTTP (the rest) */
    char *base;         /* base URL, trailing '/' removed, as the user gave it */
    char *shown;        /* base redacted (net_url_redact): what messages show */
    char *chat_url;     /* base + "/chat/completions" */
    char *models_url;   /* base + "/models" */
    char *tokenize_url; /* the server root (base less "/v1") + "/tokenize" */
    char *model;        /* or NULL */
    char *api_key;      /* or NULL; only ever put in the Authorization header */
    double temperature;
    int max_tokens;
    int timeout_s;
    int connect_timeout_s;
    int tokenize; /* 0 not tried, 1 works, -1 the server has none */
    CURL *curl;
};

llm_params llm_default_params(void)
{
    return (llm_params){
        .base_url = "http://127.0.0.1:8080/v1",
        .model = NULL,
        .api_key = NULL,
        .temperature = 0.2,
        .max_tokens = 512,
        .timeout_s = 120,
        .connect_timeout_s = 5,
    };
}

const char *llm_status_name(llm_status s)
{
    switch (s) {
    case LLM_OK: return "ok";
    case LLM_ERR_CONNECT: return "connect";
    case LLM_ERR_TIMEOUT: return "timeout";
    case LLM_ERR_HTTP: return "http";
    case LLM_ERR_PROTOCOL: return "protocol";
    case LLM_ERR_CANCELLED: return "cancelled";
    case LLM_ERR_OVERFLOW: return "overflow";
    case LLM_ERR_OTHER: break;
    }
    return "other";
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

bool llm_params_configured(const llm_params *p)
{
    return (p->model_file && *p->model_file) || (p->base_url && *p->base_url);
}

bool llm_is_model_file(const char *model)
{
    size_t n = model ? strlen(model) : 0;
    return n > 5 && !strcasecmp(model + n - 5, ".gguf");
}

llm_client *llm_new(const llm_params *params)
{
    if (params && params->model_file && *params->model_file) {
        llm_local *l = llm_local_new(params);
        if (!l)
            return NULL;
        llm_client *c = dq_calloc(1, sizeof *c);
        c->local = l;
        return c;
    }
    if (!params || !params->base_url || !*params->base_url) {
        dq_set_error("no LLM url given");
        return NULL;
    }
    if (strncmp(params->base_url, "http://", 7) && strncmp(params->base_url, "https://", 8)) {
        char *shown = net_url_redact(params->base_url);
        dq_set_error("LLM url '%s' must start with http:// or https://", shown);
        free(shown);
        return NULL;
    }
    if (params->max_tokens < 1 || params->timeout_s < 1 || params->connect_timeout_s < 1 ||
        !(params->temperature >= 0 && params->temperature <= 2)) {
        dq_set_error("LLM settings out of range: max_tokens and timeouts must be positive, "
                     "temperature 0-2");
        return NULL;
    }
    llm_client *c = dq_calloc(1, sizeof *c);
    size_t n = strlen(params->base_url);
    while (n > 0 && params->base_url[n - 1] == '/')
        n--;
    /* a base written as the full endpoint is accepted too */
    if (ends_with(params->base_url, n, "/chat/completions"))
        n -= strlen("/chat/completions");
    c->base = dq_strndup(params->base_url, n);
    c->shown = net_url_redact(c->base);
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "%s/chat/completions", c->base);
    c->chat_url = dq_buf_take(&b);
    dq_buf_printf(&b, "%s/models", c->base);
    c->models_url = dq_buf_take(&b);
    size_t root = ends_with(c->base, n, "/v1") ? n - 3 : n;
    dq_buf_append(&b, c->base, root);
    dq_buf_puts(&b, "/tokenize");
    c->tokenize_url = dq_buf_take(&b);
    c->model = params->model && *params->model ? dq_strdup(params->model) : NULL;
    c->api_key = params->api_key && *params->api_key ? dq_strdup(params->api_key) : NULL;
    c->temperature = params->temperature;
    c->max_tokens = params->max_tokens;
    c->timeout_s = params->timeout_s;
    c->connect_timeout_s = params->connect_timeout_s;
    c->curl = net_handle_new();
    if (!c->curl) {
        llm_free(c);
        return NULL;
    }
    return c;
}

void llm_free(llm_client *c)
{
    if (!c)
        return;
    llm_local_free(c->local);
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->base);
    free(c->shown);
    free(c->chat_url);
    free(c->models_url);
    free(c->tokenize_url);
    free(c->model);
    free(c->api_key);
    free(c);
}

const char *llm_base_url(const llm_client *c)
{
    return c->local ? llm_local_path(c->local) : c->shown;
}

bool llm_is_local(const llm_client *c)
{
    return c && c->local;
}

void llm_queue_state(llm_client *c, llm_queue_info *out)
{
    *out = (llm_queue_info){0};
    if (c && c->local)
        llm_local_queue_state(c->local, out);
}

bool llm_unreachable(llm_status st, const llm_reply *r)
{
    if (r->text && *r->text)
        return false;
    if (st == LLM_ERR_CONNECT || st == LLM_ERR_TIMEOUT)
        return true;
    return st == LLM_ERR_HTTP && r->http_status >= 500 && r->http_status <= 599;
}

void llm_reply_free(llm_reply *r)
{
    if (!r)
        return;
    free(r->text);
    free(r->finish_reason);
    for (size_t i = 0; i < r->n_top; i++)
        free(r->top[i].token);
    free(r->top);
    memset(r, 0, sizeof *r);
    r->prompt_tokens = r->completion_tokens = -1;
}

/* ---- one request ------------------------------------------------------- */

typedef struct {
    llm_client *c;
    const llm_request *req;
    llm_token_cb cb;
    void *ctx;
    llm_reply *out; /* NULL for requests other than chat */
    bool want_stream;
    sse_parser sse;
    dq_buf text;    /* the answer so far */
    dq_buf pending; /* an incomplete UTF-8 tail held back from the callback */
    dq_buf raw;     /* the body, when it is not an event stream */
    bool started;   /* the first body byte arrived and the mode was chosen */
    bool is_sse;
    long http_status;
    bool done;         /* "data: [DONE]" */
    bool timed_out;    /* no byte for timeout_s */
    double last_byte;  /* when the last body byte (or the request) went */
    long timeout_s;
    bool cancelled;    /* the callback or should_stop asked to stop */
    llm_status failed; /* set by the callbacks with a message in failure */
    char *failure;
    double t0;
} call;

static void call_fail(call *k, llm_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void call_fail(call *k, llm_status st, const char *fmt, ...)
{
    if (k->failed)
        return; /* the first failure is the cause */
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    k->failed = st;
    k->failure = dq_strdup(tmp);
}

/* The server's own words from an error body: OpenAI's and llama-server's
 * {"error": {"message"}}, Ollama's {"error": "..."}, vLLM's {"message"},
 * FastAPI's {"detail"}; else the body's first line. Caller frees. */
static char *error_text(const char *body, size_t n)
{
    cJSON *j = cJSON_ParseWithLength(body, n);
    const char *msg = NULL;
    if (j) {
        cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        if (cJSON_IsString(e))
            msg = e->valuestring;
        else if (cJSON_IsObject(e) && cJSON_IsString(cJSON_GetObjectItem(e, "message")))
            msg = cJSON_GetObjectItem(e, "message")->valuestring;
        else if (cJSON_IsString(cJSON_GetObjectItem(j, "message")))
            msg = cJSON_GetObjectItem(j, "message")->valuestring;
        else if (cJSON_IsString(cJSON_GetObjectItem(j, "detail")))
            msg = cJSON_GetObjectItem(j, "detail")->valuestring;
        else if (cJSON_IsArray(cJSON_GetObjectItem(j, "detail"))) {
            cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "detail"), 0);
            if (cJSON_IsString(cJSON_GetObjectItem(d0, "msg")))
                msg = cJSON_GetObjectItem(d0, "msg")->valuestring;
        }
    }
    dq_buf b = DQ_BUF_INIT;
    if (!msg) {
        msg = body;
        while (n > 0 && (*msg == ' ' || *msg == '\n' || *msg == '\r' || *msg == '\t'))
            msg++, n--;
        const char *nl = memchr(msg, '\n', n);
        if (nl)
            n = (size_t)(nl - msg);
    } else {
        n = strlen(msg);
    }
    /* one line, bounded, no control characters: a message is for a terminal */
    if (n > 300) {
        n = 300;
        while (n > 0 && ((unsigned char)msg[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        char c = (unsigned char)msg[i] < 0x20 || msg[i] == 0x7f ? ' ' : msg[i];
        if (c != ' ' || b.len > 0)
            dq_buf_putc(&b, c);
    }
    while (b.len > 0 && b.data[b.len - 1] == ' ')
        b.data[--b.len] = '\0';
    cJSON_Delete(j);
    char *s = dq_buf_take(&b);
    if (!utf8_valid(s, strlen(s))) {
        char *t = utf8_sanitize(s, strlen(s));
        free(s);
        s = t;
    }
    return s;
}

/* Gives the callback what of pending is whole characters. */
static int emit(call *k, const char *piece, size_t n, bool final)
{
    dq_buf_append(&k->pending, piece, n);
    if (final && k->pending.len) {
        /* a character the stream never finished is one U+FFFD */
        size_t ok = sse_utf8_complete(k->pending.data, k->pending.len);
        if (ok < k->pending.len) {
            k->pending.len = ok;
            dq_buf_puts(&k->pending, "\xef\xbf\xbd");
        }
    }
    size_t whole = final ? k->pending.len : sse_utf8_complete(k->pending.data, k->pending.len);
    if (whole == 0)
        return 0;
    const char *s = k->pending.data;
    char *fixed = NULL;
    if (!utf8_valid(s, whole)) {
        fixed = utf8_sanitize(s, whole);
        s = fixed;
        whole = strlen(fixed);
    }
    if (k->text.len == 0 && whole > 0 && k->out)
        k->out->first_token_s = dq_now() - k->t0;
    dq_buf_append(&k->text, s, whole);
    int rc = k->cb && whole ? k->cb(k->ctx, s, whole) : 0;
    free(fixed);
    size_t used = final ? k->pending.len : sse_utf8_complete(k->pending.data, k->pending.len);
    size_t rest = k->pending.len - used;
    memmove(k->pending.data, k->pending.data + used, rest);
    k->pending.len = rest;
    k->pending.data[rest] = '\0';
    if (rc) {
        k->cancelled = true;
        return 1;
    }
    return 0;
}

static void set_string(char **field, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        free(*field);
        *field = dq_strdup(v->valuestring);
    }
}

/* Token counts from OpenAI's "usage" or, when a server sends none,
 * llama-server's "timings". */
static void read_counts(llm_reply *out, const cJSON *root)
{
    const cJSON *u = cJSON_GetObjectItem(root, "usage");
    if (cJSON_IsObject(u)) {
        const cJSON *p = cJSON_GetObjectItem(u, "prompt_tokens");
        const cJSON *q = cJSON_GetObjectItem(u, "completion_tokens");
        if (cJSON_IsNumber(p))
            out->prompt_tokens = p->valueint;
        if (cJSON_IsNumber(q))
            out->completion_tokens = q->valueint;
    }
    const cJSON *t = cJSON_GetObjectItem(root, "timings");
    if (cJSON_IsObject(t)) {
        const cJSON *p = cJSON_GetObjectItem(t, "prompt_n");
        const cJSON *q = cJSON_GetObjectItem(t, "predicted_n");
        /* llama-server's prompt_n counts only tokens not already cached, so
         * usage wins when both are present */
        if (out->prompt_tokens < 0 && cJSON_IsNumber(p))
            out->prompt_tokens = p->valueint;
        if (out->completion_tokens < 0 && cJSON_IsNumber(q))
            out->completion_tokens = q->valueint;
    }
}

static void add_top(llm_reply *out, const char *token, double logprob)
{
    out->top = dq_realloc(out->top, (out->n_top + 1) * sizeof *out->top);
    out->top[out->n_top].token = dq_strdup(token);
    out->top[out->n_top].logprob = logprob;
    out->n_top++;
}

static int by_logprob(const void *a, const void *b)
{
    double x = ((const llm_logprob *)a)->logprob, y = ((const llm_logprob *)b)->logprob;
    return x > y ? -1 : x < y;
}

/* The first generated token's alternatives: OpenAI's (vLLM, llama-server's
 * /v1) choices[0].logprobs.content[0].top_logprobs[{token, logprob}], or
 * llama-server's native completion_probabilities[0] with top_logprobs
 * [{token, logprob}] or, in older builds, probs[{tok_str, prob}]. */
static void read_logprobs(llm_reply *out, const cJSON *root, const cJSON *choice)
{
    if (out->n_top > 0)
        return;
    const cJSON *tops = NULL;
    const cJSON *lp = cJSON_GetObjectItem(choice, "logprobs");
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(lp, "content"), 0);
    if (first)
        tops = cJSON_GetObjectItem(first, "top_logprobs");
    const cJSON *legacy = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "completion_probabilities"), 0);
    if (!cJSON_IsArray(tops) && legacy) {
        tops = cJSON_GetObjectItem(legacy, "top_logprobs");
        if (!cJSON_IsArray(tops))
            tops = cJSON_GetObjectItem(legacy, "probs");
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, tops)
    {
        const cJSON *tok = cJSON_GetObjectItem(e, "token");
        if (!cJSON_IsString(tok))
            tok = cJSON_GetObjectItem(e, "tok_str");
        const cJSON *l = cJSON_GetObjectItem(e, "logprob");
        const cJSON *p = cJSON_GetObjectItem(e, "prob");
        if (!cJSON_IsString(tok))
            continue;
        if (cJSON_IsNumber(l))
            add_top(out, tok->valuestring, l->valuedouble);
        else if (cJSON_IsNumber(p))
            add_top(out, tok->valuestring, p->valuedouble > 0 ? log(p->valuedouble) : -INFINITY);
    }
    if (out->n_top > 1)
        qsort(out->top, out->n_top, sizeof *out->top, by_logprob);
}

/* An error object inside a 200 reply or stream: {"error": ...} (OpenAI,
 * Ollama, llama-server) or vLLM's {"object": "error", "message": ...}. */
static bool is_error_object(const cJSON *j)
{
    const cJSON *o = cJSON_GetObjectItem(j, "object");
    const cJSON *e = cJSON_GetObjectItem(j, "error");
    return (e && !cJSON_IsNull(e)) || (cJSON_IsString(o) && !strcmp(o->valuestring, "error"));
}

static int on_event(void *ctx, const char *event, const char *data, size_t len)
{
    call *k = ctx;
    if (!strcmp(data, "[DONE]")) {
        k->done = true;
        return 0;
    }
    if (k->done)
        return 0; /* nothing counts after [DONE] */
    cJSON *j = cJSON_ParseWithLength(data, len);
    if (!strcmp(event, "error") || (j && is_error_object(j))) {
        char *msg = error_text(data, len);
        call_fail(k, LLM_ERR_PROTOCOL, "LLM at %s failed mid-answer: %s", k->c->shown,
                  *msg ? msg : "(no message)");
        free(msg);
        cJSON_Delete(j);
        return 1;
    }
    if (!cJSON_IsObject(j)) {
        char *head = error_text(data, len < 60 ? len : 60);
        call_fail(k, LLM_ERR_PROTOCOL, "malformed stream from LLM at %s: event is not JSON: '%s'",
                  k->c->shown, head);
        free(head);
        cJSON_Delete(j);
        return 1;
    }
    int rc = 0;
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    if (choice) {
        const cJSON *delta = cJSON_GetObjectItem(choice, "delta");
        const cJSON *content = cJSON_GetObjectItem(delta, "content");
        set_string(&k->out->finish_reason, cJSON_GetObjectItem(choice, "finish_reason"));
        if (k->req->top_logprobs > 0)
            read_logprobs(k->out, j, choice);
        if (cJSON_IsString(content) && *content->valuestring)
            rc = emit(k, content->valuestring, strlen(content->valuestring), false);
    }
    read_counts(k->out, j);
    cJSON_Delete(j);
    return rc;
}

static bool check_stop(call *k)
{
    if (k->req && k->req->should_stop && k->req->should_stop())
        k->cancelled = true;
    return k->cancelled;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    call *k = userdata;
    size_t n = size * nmemb;
    if (!k->started) {
        k->started = true;
        curl_easy_getinfo(k->c->curl, CURLINFO_RESPONSE_CODE, &k->http_status);
        const char *type = NULL;
        curl_easy_getinfo(k->c->curl, CURLINFO_CONTENT_TYPE, &type);
        k->is_sse = k->want_stream && k->http_status < 300 && type &&
                    !strncasecmp(type, "text/event-stream", 17);
    }
    k->last_byte = dq_now();
    if (check_stop(k))
        return 0;
    if (!k->is_sse) {
        if (k->raw.len + n > RAW_MAX) {
            call_fail(k, LLM_ERR_PROTOCOL, "reply from LLM at %s is over %zu MiB", k->c->shown,
                      RAW_MAX >> 20);
            return 0;
        }
        dq_buf_append(&k->raw, ptr, n);
        return n;
    }
    int rc = sse_feed(&k->sse, ptr, n);
    if (rc < 0)
        call_fail(k, LLM_ERR_PROTOCOL, "malformed stream from LLM at %s: %s", k->c->shown,
                  dq_last_error());
    return rc ? 0 : n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    call *k = userdata;
    if (check_stop(k))
        return 1;
    /* curl's own LOW_SPEED_TIME averages over several seconds and counts the
     * request's upload, so a stall is timed here, from the last byte */
    if (dq_now() - k->last_byte > (double)k->timeout_s) {
        k->timed_out = true;
        return 1;
    }
    return 0;
}

/* Runs one request on c's handle: POST body (NULL: GET) to url. Maps curl's
 * failures to a status with a message; the HTTP status is in k->http_status
 * and a non-stream body in k->raw. */
static llm_status perform(call *k, const char *url, const char *body, long timeout_s)
{
    llm_client *c = k->c;
    CURL *h = c->curl;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers =
        net_json_headers(k->want_stream ? "text/event-stream" : "application/json", c->api_key);
    /* No overall timeout: a streamed answer may take minutes; on_progress
     * fails a call that goes timeout_s without a byte. */
    net_request rq = {.connect_timeout_s = c->connect_timeout_s,
                      .headers = headers,
                      .errbuf = errbuf};
    net_request_setup(h, url, &rq);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, k);
    k->t0 = k->last_byte = dq_now();
    k->timeout_s = timeout_s;
    CURLcode rc = curl_easy_perform(h);
    net_request_done(h);
    curl_slist_free_all(headers);
    if (!k->started)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &k->http_status);

    if (k->failed) {
        dq_set_error("%s", k->failure);
        return k->failed;
    }
    if (k->cancelled) {
        dq_set_error("cancelled");
        return LLM_ERR_CANCELLED;
    }
    if (k->timed_out)
        rc = CURLE_OPERATION_TIMEDOUT;
    net_result res;
    net_result_of(h, rc, errbuf, &res);
    switch (res.status) {
    case NET_OK:
        return LLM_OK;
    case NET_UNREACHABLE:
        if (res.no_host)
            dq_set_error("no LLM at %s (cannot resolve host); start llama-server or set [llm] "
                         "url",
                         c->shown);
        else
            dq_set_error("no LLM at %s (%s); start llama-server or set [llm] url", c->shown,
                         res.os_errno == ECONNREFUSED ? "connection refused" : res.reason);
        return LLM_ERR_CONNECT;
    case NET_CONNECT_TIMEOUT:
        dq_set_error("no LLM at %s (no connection within %d s); start llama-server or set "
                     "[llm] url",
                     c->shown, k->timed_out ? (int)timeout_s : c->connect_timeout_s);
        return LLM_ERR_TIMEOUT;
    case NET_TIMEOUT:
        if (!k->started)
            dq_set_error("LLM at %s did not answer within %ld s", c->shown, timeout_s);
        else
            dq_set_error("LLM at %s stalled for %ld s mid-answer", c->shown, timeout_s);
        return LLM_ERR_TIMEOUT;
    case NET_DROPPED:
        dq_set_error("LLM at %s closed the connection %s", c->shown,
                     k->started ? "mid-answer" : "without answering");
        return LLM_ERR_PROTOCOL;
    default:
        dq_set_error("LLM at %s: %s", c->shown, res.reason);
        return LLM_ERR_OTHER;
    }
}

static llm_status http_error(call *k)
{
    char *msg = error_text(k->raw.data ? k->raw.data : "", k->raw.len);
    dq_set_error("LLM at %s answered HTTP %ld: %s", k->c->shown, k->http_status,
                 *msg ? msg : "(no message)");
    free(msg);
    return LLM_ERR_HTTP;
}

/* Decodes a whole chat completion reply. */
static llm_status read_whole(call *k)
{
    cJSON *j = cJSON_ParseWithLength(k->raw.data ? k->raw.data : "", k->raw.len);
    if (!cJSON_IsObject(j)) {
        char *head = error_text(k->raw.data ? k->raw.data : "", k->raw.len < 60 ? k->raw.len : 60);
        dq_set_error("malformed reply from LLM at %s: not JSON: '%s'", k->c->shown, head);
        free(head);
        cJSON_Delete(j);
        return LLM_ERR_PROTOCOL;
    }
    if (is_error_object(j)) {
        char *msg = error_text(k->raw.data, k->raw.len);
        dq_set_error("LLM at %s failed: %s", k->c->shown, msg);
        free(msg);
        cJSON_Delete(j);
        return LLM_ERR_PROTOCOL;
    }
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
    const cJSON *content = cJSON_GetObjectItem(cJSON_GetObjectItem(choice, "message"), "content");
    if (!choice || !(cJSON_IsString(content) || cJSON_IsNull(content))) {
        dq_set_error("malformed reply from LLM at %s: no choices[0].message.content", k->c->shown);
        cJSON_Delete(j);
        return LLM_ERR_PROTOCOL;
    }
    set_string(&k->out->finish_reason, cJSON_GetObjectItem(choice, "finish_reason"));
    if (k->req->top_logprobs > 0)
        read_logprobs(k->out, j, choice);
    read_counts(k->out, j);
    int rc = 0;
    if (cJSON_IsString(content))
        rc = emit(k, content->valuestring, strlen(content->valuestring), true);
    cJSON_Delete(j);
    if (rc) {
        dq_set_error("cancelled");
        return LLM_ERR_CANCELLED;
    }
    return LLM_OK;
}

static char *chat_body(const llm_client *c, const llm_message *msgs, size_t n, const llm_request *req)
{
    cJSON *root = cJSON_CreateObject();
    if (c->model)
        cJSON_AddStringToObject(root, "model", c->model);
    cJSON *arr = cJSON_AddArrayToObject(root, "messages");
    for (size_t i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", msgs[i].role);
        cJSON_AddStringToObject(m, "content", msgs[i].content ? msgs[i].content : "");
        cJSON_AddItemToArray(arr, m);
    }
    cJSON_AddBoolToObject(root, "stream", req->stream);
    if (req->stream) {
        /* vLLM and OpenAI send token counts in a last chunk only when asked;
         * llama-server sends them (and "timings") regardless */
        cJSON *so = cJSON_AddObjectToObject(root, "stream_options");
        cJSON_AddBoolToObject(so, "include_usage", true);
    }
    cJSON_AddNumberToObject(root, "max_tokens", req->max_tokens > 0 ? req->max_tokens : c->max_tokens);
    cJSON_AddNumberToObject(root, "temperature", c->temperature);
    if (req->top_logprobs > 0) {
        cJSON_AddBoolToObject(root, "logprobs", true);
        cJSON_AddNumberToObject(root, "top_logprobs", req->top_logprobs);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) {
        fprintf(stderr, "docqa: out of memory\n");
        abort();
    }
    return s;
}

static void call_free(call *k)
{
    sse_free(&k->sse);
    dq_buf_free(&k->text);
    dq_buf_free(&k->pending);
    dq_buf_free(&k->raw);
    free(k->failure);
}

llm_status llm_chat(llm_client *c, const llm_message *msgs, size_t n, const llm_request *req,
                    llm_token_cb cb, void *ctx, llm_reply *out)
{
    memset(out, 0, sizeof *out);
    out->prompt_tokens = out->completion_tokens = -1;
    llm_request dflt = {0};
    if (!req)
        req = &dflt;
    if (!c || n == 0) {
        dq_set_error("no messages to send to the LLM");
        return LLM_ERR_OTHER;
    }
    if (c->local)
        return llm_local_chat(c->local, msgs, n, req, cb, ctx, out);
    call k = {.c = c, .req = req, .cb = cb, .ctx = ctx, .out = out, .want_stream = req->stream};
    sse_init(&k.sse, on_event, &k);
    char *body = chat_body(c, msgs, n, req);
    llm_status st = perform(&k, c->chat_url, body, c->timeout_s);
    free(body);
    if (st == LLM_OK) {
        if (k.http_status >= 400 || k.http_status < 200)
            st = http_error(&k);
        else if (!k.started) {
            dq_set_error("LLM at %s sent an empty reply", c->shown);
            st = LLM_ERR_PROTOCOL;
        } else if (!k.is_sse)
            st = read_whole(&k);
        else {
            int rc = sse_finish(&k.sse);
            if (k.failed) {
                dq_set_error("%s", k.failure);
                st = k.failed;
            } else if (rc || k.cancelled) {
                dq_set_error("cancelled");
                st = LLM_ERR_CANCELLED;
            } else if (k.sse.events == 0) {
                dq_set_error("malformed stream from LLM at %s: no events in the reply", c->shown);
                st = LLM_ERR_PROTOCOL;
            } else if (!k.done && !out->finish_reason) {
                dq_set_error("stream from LLM at %s ended before the answer was complete",
                             c->shown);
                st = LLM_ERR_PROTOCOL;
            }
        }
    }
    if (k.pending.len && (st == LLM_OK || st == LLM_ERR_CANCELLED)) {
        /* an incomplete character at the very end becomes U+FFFD */
        llm_token_cb keep = k.cb;
        if (st == LLM_ERR_CANCELLED)
            k.cb = NULL;
        emit(&k, "", 0, true);
        k.cb = keep;
    }
    out->total_s = dq_now() - k.t0;
    out->http_status = (int)k.http_status;
    out->text = dq_buf_take(&k.text);
    call_free(&k);
    return st;
}

/* ---- models and tokenize ----------------------------------------------- */

void llm_models_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

llm_status llm_models(llm_client *c, char ***ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    if (c->local) { /* the one model there is: its file's name */
        const char *path = llm_local_path(c->local), *slash = strrchr(path, '/');
        *ids = dq_calloc(1, sizeof **ids);
        (*ids)[0] = dq_strdup(slash ? slash + 1 : path);
        *n = 1;
        return LLM_OK;
    }
    llm_request req = {0};
    call k = {.c = c, .req = &req};
    llm_status st = perform(&k, c->models_url, NULL, c->timeout_s);
    if (st == LLM_OK && (k.http_status >= 400 || k.http_status < 200))
        st = http_error(&k);
    if (st == LLM_OK) {
        cJSON *j = cJSON_ParseWithLength(k.raw.data ? k.raw.data : "", k.raw.len);
        cJSON *data = cJSON_GetObjectItem(j, "data");
        if (!cJSON_IsArray(data)) {
            dq_set_error("malformed reply from LLM at %s: /models has no data list", c->shown);
            st = LLM_ERR_PROTOCOL;
        } else {
            const cJSON *e;
            size_t cap = 0;
            cJSON_ArrayForEach(e, data)
            {
                const cJSON *id = cJSON_GetObjectItem(e, "id");
                if (!cJSON_IsString(id))
                    continue;
                DQ_GROW(*ids, cap, *n + 1);
                (*ids)[(*n)++] = dq_strdup(id->valuestring);
            }
        }
        cJSON_Delete(j);
    }
    call_free(&k);
    return st;
}

int llm_count_tokens(llm_client *c, const char *text)
{
    if (c->local)
        return llm_local_count_tokens(c->local, text);
    if (c->tokenize < 0)
        return -1;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "content", text); /* llama-server */
    cJSON_AddStringToObject(root, "prompt", text);  /* vLLM */
    if (c->model)
        cJSON_AddStringToObject(root, "model", c->model);
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    llm_request req = {0};
    call k = {.c = c, .req = &req};
    llm_status st = perform(&k, c->tokenize_url, body, c->connect_timeout_s);
    free(body);
    int count = -1;
    if (st == LLM_OK && k.http_status == 200) {
        cJSON *j = cJSON_ParseWithLength(k.raw.data ? k.raw.data : "", k.raw.len);
        const cJSON *cnt = cJSON_GetObjectItem(j, "count");
        const cJSON *toks = cJSON_GetObjectItem(j, "tokens");
        if (cJSON_IsNumber(cnt))
            count = cnt->valueint;
        else if (cJSON_IsArray(toks))
            count = cJSON_GetArraySize(toks);
        cJSON_Delete(j);
    }
    /* any failure means "estimate instead", for this and every later call */
    c->tokenize = count >= 0 ? 1 : -1;
    call_free(&k);
    return count;
}
