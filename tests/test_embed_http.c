/* test_embed_http.c - the /v1/embeddings client against a loopback server
 * that plays a well-behaved endpoint and each way a real one goes wrong. */
#include <criterion/criterion.h>

#include "common/common.h"
#include "embed/embed.h"
#include "support/httpd.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OK, FAIL_500, FAIL_502_TEXT, NOT_JSON, NO_DATA, DROP_ONE, DIM_CHANGE, NO_INDEX,
       HUGE, INFINITE, FLOAT_OVERFLOW, DATA_NOT_ARRAY, NESTED, BAD_INDEX, STR_INDEX };

typedef struct {
    int mode;
    int dim;
    bool shuffle; /* answer in reverse order, with "index" */
    int delay_ms;
    int calls;
    /* what the server saw in the last request */
    char auth[128];
    bool had_auth;
    char model[64];
    bool had_model;
    char path[128];
    char method[16];
    int max_inputs;
    int total_inputs;
} endpoint;

/* The vector for "t<k>" is (10k, 10k+1, ...), so order mistakes show. */
static float value_for(int k, int j)
{
    return (float)(k * 10 + j);
}

static void handle(void *ctx, const httpd_request *req, httpd_response *resp)
{
    endpoint *e = ctx;
    e->calls++;
    snprintf(e->path, sizeof e->path, "%s", req->path);
    snprintf(e->method, sizeof e->method, "%s", req->method);
    e->had_auth = httpd_header(req, "Authorization", e->auth, sizeof e->auth);
    resp->delay_ms = e->delay_ms;

    /* No Criterion asserts here: this is the server's thread. A bad request
     * gets a 400, which the test then sees as an error. */
    cJSON *in = cJSON_ParseWithLength(req->body, req->body_len);
    cJSON *input = cJSON_GetObjectItem(in, "input");
    if (!cJSON_IsArray(input)) {
        resp->status = 400;
        dq_buf_puts(&resp->body, "{\"error\":{\"message\":\"test server: bad request\"}}");
        cJSON_Delete(in);
        return;
    }
    cJSON *model = cJSON_GetObjectItem(in, "model");
    e->had_model = cJSON_IsString(model);
    snprintf(e->model, sizeof e->model, "%s", e->had_model ? model->valuestring : "");
    int n = cJSON_GetArraySize(input);
    e->total_inputs += n;
    if (n > e->max_inputs)
        e->max_inputs = n;

    switch (e->mode) {
    case FAIL_500:
        resp->status = 500;
        dq_buf_puts(&resp->body, "{\"error\":{\"message\":\"model not loaded\",\"type\":\"server_error\"}}");
        goto out;
    case FAIL_502_TEXT:
        resp->status = 502;
        snprintf(resp->content_type, sizeof resp->content_type, "text/plain");
        dq_buf_puts(&resp->body, "bad gateway\nupstream down\r\n");
        goto out;
    case NOT_JSON:
        dq_buf_puts(&resp->body, "{\"data\": [ {\"embedding\": [1, 2,");
        goto out;
    case NO_DATA:
        dq_buf_puts(&resp->body, "{\"object\": \"list\"}");
        goto out;
    case HUGE: /* valid JSON, but 40 MB of it */
        dq_buf_puts(&resp->body, "{\"data\": [");
        for (int i = 0; i < 40 * 1024; i++) {
            char pad[1024];
            memset(pad, ' ', sizeof pad);
            dq_buf_append(&resp->body, pad, sizeof pad);
        }
        dq_buf_puts(&resp->body, "]}");
        goto out;
    case INFINITE:
        dq_buf_puts(&resp->body, "{\"data\":[{\"index\":0,\"embedding\":[1,1e999]}]}");
        goto out;
    case FLOAT_OVERFLOW:
        dq_buf_puts(&resp->body, "{\"data\":[{\"index\":0,\"embedding\":[1,-1e39]}]}");
        goto out;
    case BAD_INDEX:
        dq_buf_puts(&resp->body, "{\"data\":[{\"index\":5,\"embedding\":[1,2]}]}");
        goto out;
    case STR_INDEX:
        dq_buf_puts(&resp->body, "{\"data\":[{\"index\":\"0\",\"embedding\":[1,2]}]}");
        goto out;
    case DATA_NOT_ARRAY:
        dq_buf_puts(&resp->body, "{\"data\":{\"embedding\":[1,2]}}");
        goto out;
    case NESTED:
        dq_buf_puts(&resp->body, "{\"data\":[[[{\"embedding\":[[1],{\"a\":[2]}]}]]]}");
        goto out;
    default:
        break;
    }
    int dim = e->dim;
    if (e->mode == DIM_CHANGE && e->calls > 1)
        dim = e->dim / 2;
    int n_out = e->mode == DROP_ONE ? n - 1 : n;
    dq_buf *b = &resp->body;
    dq_buf_puts(b, "{\"object\":\"list\",\"data\":[");
    for (int r = 0; r < n_out; r++) {
        int i = e->shuffle ? n_out - 1 - r : r;
        const char *text = cJSON_GetArrayItem(input, i)->valuestring;
        int k = text[0] ? atoi(text + 1) : 0;
        dq_buf_printf(b, "%s{\"object\":\"embedding\",", r ? "," : "");
        if (e->mode != NO_INDEX)
            dq_buf_printf(b, "\"index\":%d,", i);
        dq_buf_puts(b, "\"embedding\":[");
        for (int j = 0; j < dim; j++)
            dq_buf_printf(b, "%s%g", j ? "," : "", value_for(k, j));
        dq_buf_puts(b, "]}");
    }
    dq_buf_puts(b, "],\"model\":\"m\",\"usage\":{\"prompt_tokens\":1,\"total_tokens\":1}}");
out:
    cJSON_Delete(in);
}

static endpoint ep;
static httpd *srv;
static char base[128];

static void start(void)
{
    setenv("no_proxy", "127.0.0.1", 1); /* a proxy from the environment must not get these */
    memset(&ep, 0, sizeof ep);
    ep.dim = 8;
    srv = httpd_start(handle, &ep);
    cr_assert_not_null(srv, "%s", dq_last_error());
    snprintf(base, sizeof base, "%s/v1", httpd_url(srv));
}

static void stop(void)
{
    httpd_stop(srv);
    srv = NULL;
}

TestSuite(embed_http, .init = start, .fini = stop, .timeout = 30);

static const char *texts7[] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6"};

static void check_vectors(const float *out, size_t n, int dim)
{
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < dim; j++)
            cr_assert_float_eq(out[i * (size_t)dim + (size_t)j], value_for((int)i, j), 1e-6,
                               "text %zu, component %d: %g", i, j, out[i * (size_t)dim + (size_t)j]);
}

static embed_http *client(const char *url, const char *key, int batch, int timeout_s)
{
    embed_http_params p = {.url = url, .model = "bge-m3", .api_key = key, .batch = batch,
                           .timeout_s = timeout_s};
    embed_http *c = embed_http_new(&p);
    cr_assert_not_null(c, "%s", dq_last_error());
    return c;
}

Test(embed_http, vectors_ordered_by_index)
{
    ep.shuffle = true;
    embed_http *c = client(base, NULL, 32, 10);
    float out[7 * 16];
    int dim = 0;
    cr_assert_eq(embed_http_encode(c, texts7, 5, out, 16, &dim), 0, "%s", dq_last_error());
    cr_assert_eq(dim, 8);
    check_vectors(out, 5, 8);
    cr_assert_eq(httpd_requests(srv), 1);
    cr_assert_str_eq(ep.method, "POST");
    cr_assert_str_eq(ep.path, "/v1/embeddings");
    cr_assert_str_eq(ep.model, "bge-m3");
    cr_assert_not(ep.had_auth);
    embed_http_free(c);
}

Test(embed_http, batches_of_params_batch)
{
    embed_http *c = client(base, NULL, 3, 10);
    float out[7 * 8];
    int dim = 0;
    cr_assert_eq(embed_http_encode(c, texts7, 7, out, 8, &dim), 0, "%s", dq_last_error());
    cr_assert_eq(httpd_requests(srv), 3);
    cr_assert_eq(ep.max_inputs, 3);
    cr_assert_eq(ep.total_inputs, 7);
    cr_assert_eq(dim, 8);
    check_vectors(out, 7, 8);
    embed_http_free(c);
}

Test(embed_http, no_index_field_means_response_order)
{
    ep.mode = NO_INDEX;
    embed_http *c = client(base, NULL, 4, 10);
    float out[7 * 8];
    int dim = 0;
    cr_assert_eq(embed_http_encode(c, texts7, 7, out, 8, &dim), 0, "%s", dq_last_error());
    check_vectors(out, 7, 8);
    embed_http_free(c);
}

Test(embed_http, bearer_token_and_full_url)
{
    char url[160];
    snprintf(url, sizeof url, "%s/embeddings", base);
    embed_http *c = client(url, "sk-test-123", 32, 10);
    float out[2 * 8];
    int dim = 0;
    cr_assert_eq(embed_http_encode(c, texts7, 2, out, 8, &dim), 0, "%s", dq_last_error());
    cr_assert(ep.had_auth);
    cr_assert_str_eq(ep.auth, "Bearer sk-test-123");
    cr_assert_str_eq(ep.path, "/v1/embeddings");
    char want[200];
    snprintf(want, sizeof want, "http:%s/embeddings:bge-m3", base);
    cr_assert_str_eq(embed_http_identity(c), want);
    embed_http_free(c);

    /* a trailing slash on the base and no model */
    snprintf(url, sizeof url, "%s/", base);
    embed_http_params p = {.url = url};
    c = embed_http_new(&p);
    cr_assert_not_null(c);
    cr_assert_eq(embed_http_encode(c, texts7, 1, out, 8, &dim), 0, "%s", dq_last_error());
    cr_assert_str_eq(ep.path, "/v1/embeddings");
    cr_assert_not(ep.had_model);
    snprintf(want, sizeof want, "http:%s/embeddings:", base);
    cr_assert_str_eq(embed_http_identity(c), want);
    embed_http_free(c);

    /* a full URL with a trailing slash used to become .../embeddings/embeddings,
     * and a query string got "/embeddings" appended after it */
    snprintf(url, sizeof url, "%s/embeddings/", base);
    p.url = url;
    c = embed_http_new(&p);
    cr_assert_not_null(c);
    cr_assert_eq(embed_http_encode(c, texts7, 1, out, 8, &dim), 0, "%s", dq_last_error());
    cr_assert_str_eq(ep.path, "/v1/embeddings");
    embed_http_free(c);
    snprintf(url, sizeof url, "%s?api-version=2024-02-01", base);
    c = embed_http_new(&p);
    cr_assert_not_null(c);
    cr_assert_eq(embed_http_encode(c, texts7, 1, out, 8, &dim), 0, "%s", dq_last_error());
    cr_assert_str_eq(ep.path, "/v1/embeddings?api-version=2024-02-01");
    embed_http_free(c);
}

Test(embed_http, empty_input_sends_nothing)
{
    embed_http *c = client(base, NULL, 32, 10);
    float out[1];
    int dim = -1;
    cr_assert_eq(embed_http_encode(c, texts7, 0, out, 8, &dim), 0);
    cr_assert_eq(dim, 0);
    cr_assert_eq(httpd_requests(srv), 0);
    embed_http_free(c);
}

static void expect_error(const char *want_sub)
{
    cr_assert(strstr(dq_last_error(), want_sub), "error \"%s\" lacks \"%s\"", dq_last_error(), want_sub);
}

Test(embed_http, http_500_carries_server_message)
{
    ep.mode = FAIL_500;
    embed_http *c = client(base, NULL, 32, 10);
    float out[3 * 8];
    int dim = 0;
    cr_assert_lt(embed_http_encode(c, texts7, 3, out, 8, &dim), 0);
    expect_error("returned HTTP 500: model not loaded");
    expect_error(httpd_url(srv));
    embed_http_free(c);

    ep.mode = FAIL_502_TEXT;
    c = client(base, NULL, 32, 10);
    cr_assert_lt(embed_http_encode(c, texts7, 3, out, 8, &dim), 0);
    expect_error("returned HTTP 502: bad gateway");
    cr_assert_neq(dq_last_error()[strlen(dq_last_error()) - 1], '\n');
    /* a multi-line body is folded onto the error's one line */
    expect_error("returned HTTP 502: bad gateway upstream down");
    cr_assert_null(strpbrk(dq_last_error(), "\r\n"), "%s", dq_last_error());
    embed_http_free(c);
}

Test(embed_http, malformed_responses)
{
    ep.mode = NOT_JSON;
    embed_http *c = client(base, NULL, 32, 10);
    float out[3 * 8];
    int dim = 0;
    cr_assert_lt(embed_http_encode(c, texts7, 3, out, 8, &dim), 0);
    expect_error("malformed response: not JSON");
    ep.mode = NO_DATA;
    cr_assert_lt(embed_http_encode(c, texts7, 3, out, 8, &dim), 0);
    expect_error("malformed response: no \"data\" array");
    embed_http_free(c);
}

/* A reply is read into memory whole: one far larger than the vectors asked
 * for is cut off with an error instead of growing without bound. */
Test(embed_http, oversized_response_is_refused)
{
    ep.mode = HUGE;
    embed_http *c = client(base, NULL, 32, 20);
    float out[8];
    int dim = 0;
    cr_assert_lt(embed_http_encode(c, texts7, 1, out, 8, &dim), 0);
    expect_error("response larger than 16 MB");
    embed_http_free(c);
}

Test(embed_http, non_finite_and_garbage_values)
{
    embed_http *c = client(base, NULL, 32, 10);
    float out[8];
    int dim = 0;
    ep.mode = INFINITE;
    cr_assert_lt(embed_http_encode(c, texts7, 1, out, 8, &dim), 0);
    expect_error("data[0] holds a value that is not a finite float");
    ep.mode = FLOAT_OVERFLOW;
    cr_assert_lt(embed_http_encode(c, texts7, 1, out, 8, &dim), 0);
    expect_error("data[0] holds a value that is not a finite float");
    ep.mode = BAD_INDEX;
    cr_assert_lt(embed_http_encode(c, texts7, 1, out, 8, &dim), 0);
    expect_error("data[0] has an index that is out of range (need 0..0)");
    ep.mode = STR_INDEX;
    cr_assert_lt(embed_http_encode(c, texts7, 1, out, 8, &dim), 0);
    expect_error("data[0] has an index that is not a number (need 0..0)");
    ep.mode = DATA_NOT_ARRAY;
    cr_assert_lt(embed_http_encode(c, texts7, 1, out, 8, &dim), 0);
    expect_error("no \"data\" array");
    ep.mode = NESTED;
    cr_assert_lt(embed_http_encode(c, texts7, 1, out, 8, &dim), 0);
    expect_error("data[0] has no \"embedding\" array");
    /* the failed replies above had 2-dimensional vectors: they must not have
     * fixed the client's dimension; and a NULL text goes as "" (bert_encode's
     * rule) rather than crashing */
    ep.mode = OK;
    const char *null_text[] = {NULL};
    cr_assert_eq(embed_http_encode(c, null_text, 1, out, 8, &dim), 0, "%s", dq_last_error());
    cr_assert_eq(dim, 8);
    check_vectors(out, 1, 8);
    embed_http_free(c);
}

Test(embed_http, wrong_count)
{
    ep.mode = DROP_ONE;
    embed_http *c = client(base, NULL, 32, 10);
    float out[3 * 8];
    int dim = 0;
    cr_assert_lt(embed_http_encode(c, texts7, 3, out, 8, &dim), 0);
    expect_error("expected 3 vectors, got 2");
    embed_http_free(c);
}

Test(embed_http, dimension_change_between_batches)
{
    ep.mode = DIM_CHANGE;
    embed_http *c = client(base, NULL, 2, 10);
    float out[4 * 8];
    int dim = 0;
    cr_assert_lt(embed_http_encode(c, texts7, 4, out, 8, &dim), 0);
    expect_error("vector of dimension 4, expected 8");
    cr_assert_eq(httpd_requests(srv), 2);
    embed_http_free(c);
}

Test(embed_http, dimension_over_max)
{
    embed_http *c = client(base, NULL, 32, 10);
    float out[2 * 4];
    int dim = 0;
    cr_assert_lt(embed_http_encode(c, texts7, 2, out, 4, &dim), 0);
    expect_error("vector of dimension 8");
    embed_http_free(c);
}

Test(embed_http, connection_refused)
{
    int port = httpd_closed_port();
    cr_assert_gt(port, 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
    embed_http *c = client(url, NULL, 32, 10);
    float out[8];
    int dim = 0;
    cr_assert_lt(embed_http_encode(c, texts7, 1, out, 8, &dim), 0);
    char want[128];
    snprintf(want, sizeof want, "cannot reach embeddings endpoint 'http://127.0.0.1:%d/v1/embeddings': "
                                "Connection refused", port);
    cr_assert_str_eq(dq_last_error(), want);
    embed_http_free(c);
}

Test(embed_http, timeout)
{
    ep.delay_ms = 3000;
    embed_http *c = client(base, NULL, 32, 1);
    float out[8];
    int dim = 0;
    double t0 = dq_now();
    cr_assert_lt(embed_http_encode(c, texts7, 1, out, 8, &dim), 0);
    double took = dq_now() - t0;
    expect_error("timed out after 1 s");
    cr_assert_lt(took, 2.5, "took %.2f s", took);
    cr_assert_geq(took, 0.9, "took %.2f s", took);
    embed_http_free(c);
}

Test(embed_http, bad_params)
{
    embed_http_params p = {.url = NULL};
    cr_assert_null(embed_http_new(&p));
    embed_http_free(NULL);
}

/* ---- the embedder facade over an endpoint -------------------------------- */

Test(embed_http, embedder_over_http)
{
    embedder_config cfg = {.url = base, .remote_model = "bge-m3", .bert = bert_default_params()};
    embedder *e = embedder_open(&cfg);
    cr_assert_not_null(e, "%s", dq_last_error());
    cr_assert_eq(httpd_requests(srv), 0); /* opening does not touch the network */
    cr_assert_eq(embedder_dim(e), 8);
    cr_assert_eq(embedder_dim(e), 8);
    cr_assert_eq(httpd_requests(srv), 1); /* one probe, remembered */
    char want[200];
    snprintf(want, sizeof want, "http:%s/embeddings:bge-m3", base);
    cr_assert_str_eq(embedder_identity(e), want);
    float out[7 * 8];
    cr_assert_eq(embedder_encode(e, texts7, 7, out), 0, "%s", dq_last_error());
    check_vectors(out, 7, 8);
    embedder_free(e);
    embedder_free(NULL);
}

Test(embed_http, embedder_errors)
{
    embedder_config cfg = {.bert = bert_default_params()};
    cr_assert_null(embedder_open(&cfg));
    cr_assert_str_eq(dq_last_error(), "no embedding model configured");
    cr_assert_null(embedder_open(NULL));

    ep.mode = FAIL_500;
    cfg.url = base;
    embedder *e = embedder_open(&cfg);
    cr_assert_not_null(e);
    cr_assert_lt(embedder_dim(e), 0);
    expect_error("model not loaded");
    float out[8];
    cr_assert_lt(embedder_encode(e, texts7, 1, out), 0);
    embedder_free(e);

    cfg.url = NULL;
    cfg.model_dir = "/nonexistent/model";
    cr_assert_null(embedder_open(&cfg));
    expect_error("/nonexistent/model");
}

Test(embed_http, credentials_never_reach_the_identity_or_a_message)
{
    embed_http *c = client("http://user:hunter2@127.0.0.1:1/v1?api-key=s3cret&api-version=2", NULL,
                           32, 2);
    cr_expect_str_eq(embed_http_identity(c),
                     "http:http://***@127.0.0.1:1/v1/embeddings?api-key=***&api-version=2:bge-m3");
    float out[16];
    int dim = 0;
    cr_assert_lt(embed_http_encode(c, texts7, 1, out, 16, &dim), 0);
    cr_expect(!strstr(dq_last_error(), "hunter2") && !strstr(dq_last_error(), "s3cret"), "%s",
              dq_last_error());
    cr_expect(strstr(dq_last_error(), "http://***@127.0.0.1:1/"), "%s", dq_last_error());
    embed_http_free(c);
}
