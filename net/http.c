/* http.c - the HTTP client setup every docqa client shares: libcurl's global
 * init, the per-request options and the mapping of libcurl's failures. */
#include "net/net.h"

#include "common/common.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void init_curl(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

CURL *net_handle_new(void)
{
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK) {
        dq_set_error("cannot initialise libcurl: %s", curl_easy_strerror(curl_init_result));
        return NULL;
    }
    CURL *h = curl_easy_init();
    if (!h)
        dq_set_error("cannot create a libcurl handle");
    return h;
}

void net_request_setup(CURL *h, const char *url, const net_request *rq)
{
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_USERAGENT, rq->user_agent ? rq->user_agent : "docqa");
    /* timeouts without SIGALRM: thread-safe, as the server's clients need */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    /* no file://, ftp:// or gopher:// reachable from a config value or a
     * redirect */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    if (rq->connect_timeout_s > 0)
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, rq->connect_timeout_s);
    if (rq->timeout_s > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT, rq->timeout_s);
    if (rq->stall_timeout_s > 0) {
        /* a transfer that moves nothing for this long fails; a slow but
         * moving one is left alone, however long it takes */
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, rq->stall_timeout_s);
    }
    if (rq->headers)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, rq->headers);
    if (rq->errbuf) {
        rq->errbuf[0] = '\0';
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, rq->errbuf);
    }
}

void net_request_done(CURL *h)
{
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
}

struct curl_slist *net_json_headers(const char *accept, const char *bearer)
{
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (accept) {
        dq_buf a = DQ_BUF_INIT;
        dq_buf_printf(&a, "Accept: %s", accept);
        hdrs = curl_slist_append(hdrs, a.data);
        dq_buf_free(&a);
    }
    /* no "Expect: 100-continue" round trip before a large body */
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (bearer && *bearer) {
        dq_buf auth = DQ_BUF_INIT;
        dq_buf_printf(&auth, "Authorization: Bearer %s", bearer);
        hdrs = curl_slist_append(hdrs, auth.data);
        memset(auth.data, 0, auth.len); /* a secret: no copy left behind */
        dq_buf_free(&auth);
    }
    return hdrs;
}

void net_result_of(CURL *h, CURLcode rc, const char *errbuf, net_result *out)
{
    memset(out, 0, sizeof *out);
    out->code = rc;
    snprintf(out->reason, sizeof out->reason, "%s",
             errbuf && *errbuf ? errbuf : curl_easy_strerror(rc));
    switch (rc) {
    case CURLE_OK:
        out->status = NET_OK;
        return;
    case CURLE_COULDNT_CONNECT: {
        long os_errno = 0;
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
        out->os_errno = (int)os_errno;
        out->status = NET_UNREACHABLE;
        return;
    }
    case CURLE_COULDNT_RESOLVE_HOST:
        out->no_host = true;
        out->status = NET_UNREACHABLE;
        return;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        out->status = NET_BAD_URL;
        return;
    case CURLE_OPERATION_TIMEDOUT: {
        curl_off_t connect_us = 0;
        curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
        out->status = connect_us > 0 ? NET_TIMEOUT : NET_CONNECT_TIMEOUT;
        return;
    }
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        out->status = NET_DROPPED;
        return;
    default:
        out->status = NET_FAILED;
        return;
    }
}

/* True when a query parameter named key[0..n) may carry a secret. */
static bool secret_param(const char *key, size_t n)
{
    static const char *const words[] = {"key",  "token", "secret",     "pass",
                                        "sig",  "auth",  "credential", "code"};
    char low[64];
    if (n >= sizeof low)
        return true; /* a name that long is nobody's "api-version" */
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)key[i]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strstr(low, words[i]))
            return true;
    return false;
}

char *net_url_redact(const char *url)
{
    if (!url)
        return NULL;
    dq_buf out = DQ_BUF_INIT;
    const char *scheme = strstr(url, "://");
    const char *auth = scheme ? scheme + 3 : url;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = memrchr(auth, '@', auth_len);
    if (at) {
        dq_buf_append(&out, url, (size_t)(auth - url));
        dq_buf_puts(&out, "***");
        auth = at;
    } else {
        auth = url;
    }
    const char *query = strchr(auth, '?');
    if (!query) {
        dq_buf_puts(&out, auth);
        return dq_buf_take(&out);
    }
    dq_buf_append(&out, auth, (size_t)(query - auth) + 1);
    for (const char *p = query + 1; *p;) {
        size_t len = strcspn(p, "&#");
        const char *eq = memchr(p, '=', len);
        if (eq && secret_param(p, (size_t)(eq - p))) {
            dq_buf_append(&out, p, (size_t)(eq - p) + 1);
            dq_buf_puts(&out, "***");
        } else {
            dq_buf_append(&out, p, len);
        }
        p += len;
        if (*p == '#') {
            dq_buf_puts(&out, p);
            break;
        }
        if (*p == '&')
            dq_buf_putc(&out, *p++);
    }
    return dq_buf_take(&out);
}

/* The first http:// or https:// in s, or NULL. */
static const char *next_url(const char *s)
{
    const char *http = strcasestr(s, "http://"), *https = strcasestr(s, "https://");
    return !http ? https : !https ? http : http < https ? http : https;
}

char *net_text_redact(const char *text)
{
    if (!text)
        return NULL;
    dq_buf out = DQ_BUF_INIT;
    const char *p = text;
    for (const char *url; (url = next_url(p)) != NULL;) {
        dq_buf_append(&out, p, (size_t)(url - p));
        /* A URL ends at a space or a quote, or where another begins
         * ("?next=http://u:pw@h" is redacted as a URL of its own). */
        size_t n = strcspn(url, " \t\r\n'\"<>`");
        const char *inner = next_url(url + 1);
        if (inner && (size_t)(inner - url) < n)
            n = (size_t)(inner - url);
        char *one = dq_strndup(url, n);
        char *shown = net_url_redact(one);
        dq_buf_puts(&out, shown);
        free(shown);
        free(one);
        p = url + n;
    }
    dq_buf_puts(&out, p);
    return dq_buf_take(&out);
}
