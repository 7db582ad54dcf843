/* test_net.c - net/: the shared request setup (headers, user agent, protocols,
 * timeouts) and the mapping of libcurl's failures, against a loopback server. */
#include "net/net.h"

#include "common/common.h"
#include "support/httpd.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char ua[128], auth[128], type[64], accept[64];
} seen_headers;

static void echo(void *ctx, const httpd_request *req, httpd_response *resp)
{
    seen_headers *h = ctx;
    httpd_header(req, "User-Agent", h->ua, sizeof h->ua);
    httpd_header(req, "Authorization", h->auth, sizeof h->auth);
    httpd_header(req, "Content-Type", h->type, sizeof h->type);
    httpd_header(req, "Accept", h->accept, sizeof h->accept);
    if (!strcmp(req->path, "/slow"))
        resp->delay_ms = 3000;
    if (!strcmp(req->path, "/cut")) {
        dq_buf_puts(&resp->body, "0123456789");
        resp->cut_after = 4;
        return;
    }
    dq_buf_puts(&resp->body, "{}");
}

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

/* One request through the shared setup; the result of it. */
static net_result request(const char *url, const net_request *rq)
{
    CURL *h = net_handle_new();
    cr_assert_not_null(h, "%s", dq_last_error());
    net_request_setup(h, url, rq);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(h);
    net_request_done(h);
    net_result res;
    net_result_of(h, rc, rq->errbuf, &res);
    curl_easy_cleanup(h);
    return res;
}

Test(net, json_headers_user_agent_and_token_reach_the_server)
{
    seen_headers seen = {0};
    httpd *srv = httpd_start(echo, &seen);
    cr_assert_not_null(srv);
    struct curl_slist *hdrs = net_json_headers("text/event-stream", "sk-123");
    char errbuf[CURL_ERROR_SIZE];
    net_request rq = {.connect_timeout_s = 5, .timeout_s = 10, .headers = hdrs, .errbuf = errbuf};
    net_result res = request(httpd_url(srv), &rq);
    cr_expect_eq(res.status, NET_OK, "%s", res.reason);
    cr_expect_str_eq(seen.ua, "docqa");
    cr_expect_str_eq(seen.auth, "Bearer sk-123");
    cr_expect_str_eq(seen.type, "application/json");
    cr_expect_str_eq(seen.accept, "text/event-stream");
    curl_slist_free_all(hdrs);

    /* no token: no Authorization header at all */
    memset(&seen, 0, sizeof seen);
    hdrs = net_json_headers(NULL, "");
    rq = (net_request){.user_agent = "docqa/1 (model pull)", .headers = hdrs};
    res = request(httpd_url(srv), &rq);
    cr_expect_eq(res.status, NET_OK);
    cr_expect_str_eq(seen.auth, "");
    cr_expect_str_eq(seen.ua, "docqa/1 (model pull)");
    curl_slist_free_all(hdrs);
    httpd_stop(srv);
}

Test(net, failures_map_to_statuses)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", httpd_closed_port());
    net_request rq = {.connect_timeout_s = 5};
    net_result res = request(url, &rq);
    cr_expect_eq(res.status, NET_UNREACHABLE);
    cr_expect_eq(res.os_errno, ECONNREFUSED);
    cr_expect(!res.no_host);

    res = request("http://no-such-host.invalid/", &rq);
    cr_expect_eq(res.status, NET_UNREACHABLE);
    cr_expect(res.no_host);

    /* only http and https: a config value cannot make docqa read files */
    res = request("file:///etc/passwd", &rq);
    cr_expect_eq(res.status, NET_BAD_URL, "%s", res.reason);
    res = request("http://[::1", &rq);
    cr_expect_eq(res.status, NET_BAD_URL, "%s", res.reason);
}

Test(net, a_slow_answer_times_out_and_a_cut_one_is_dropped)
{
    seen_headers seen = {0};
    httpd *srv = httpd_start(echo, &seen);
    cr_assert_not_null(srv);
    char url[96];
    snprintf(url, sizeof url, "%s/slow", httpd_url(srv));
    net_request rq = {.connect_timeout_s = 5, .timeout_s = 1};
    net_result res = request(url, &rq);
    cr_expect_eq(res.status, NET_TIMEOUT, "connected, then the limit: %s", res.reason);
    snprintf(url, sizeof url, "%s/cut", httpd_url(srv));
    rq.timeout_s = 10;
    res = request(url, &rq);
    cr_expect_eq(res.status, NET_DROPPED, "%s", res.reason);
    httpd_stop(srv);
}

static void expect_redacted(const char *url, const char *want)
{
    char *got = net_url_redact(url);
    cr_expect_str_eq(got, want, "for %s", url);
    free(got);
}

Test(redact, credentials_and_secret_query_values_go_plain_urls_stay)
{
    expect_redacted("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1");
    expect_redacted("http://user:pw@host/v1", "http://***@host/v1");
    expect_redacted("https://a:b@c@host:9/x?y=1", "https://***@host:9/x?y=1");
    expect_redacted("https://h/v1?api-version=2024&api-key=abc&Token=t#frag",
                    "https://h/v1?api-version=2024&api-key=***&Token=***#frag");
    expect_redacted("https://h/p?sig=1&code&key=", "https://h/p?sig=***&code&key=***");
    expect_redacted("host/path@x", "host/path@x");
    cr_expect_null(net_url_redact(NULL));
}

/* Messages: every URL in the text redacted, a URL inside another's query
 * on its own, the words around them kept. */
Test(redact, every_url_in_a_message)
{
    char *got = net_text_redact("cannot reach 'http://ann:pw@h:8080/v1?api_key=k1&x=2': refused; "
                                "retry https://h2/e?next=http://u:p2@h3/x later");
    cr_expect_str_eq(got, "cannot reach 'http://***@h:8080/v1?api_key=***&x=2': refused; "
                          "retry https://h2/e?next=http://***@h3/x later");
    free(got);
    got = net_text_redact("no URL in /srv/docs/a.pdf");
    cr_expect_str_eq(got, "no URL in /srv/docs/a.pdf");
    free(got);
    cr_expect_null(net_text_redact(NULL));
}
