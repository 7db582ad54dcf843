/* test_serve.c - docqa serve over loopback with libcurl: the JSON API, the
 * OpenAI-compatible endpoint (plain and streamed), history, errors, tokens,
 * limits, uploads as ingest jobs, page images, concurrent reads during an
 * ingest, and a graceful stop on SIGTERM.
 *
 * Each test gets a fresh store made by the real `docqa ingest` ($DOCQA_BIN)
 * from PDFs written with MuPDF and a text file, and a server on port 0. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "pipeline/pipeline.h"
#include "ingest/ingest.h"
#include "serve/cache.h"
#include "serve/context.h"
#include "serve/http.h"
#include "serve/pool.h"
#include "serve/serve.h"
#include "support/httpd.h"
#include "support/lmgen.h"
#include "support/pdfgen.h"
#include "support/tmpdir.h"

static char workdir[256];
static char store_path[300];
static serve_server *srv;
static char base[64];

static const char *docqa_bin(void)
{
    const char *b = getenv("DOCQA_BIN");
    return b && *b ? b : DQ_BINARY_DIR "/docqa";
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", workdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    fwrite(text, 1, strlen(text), f);
    fclose(f);
}

/* Runs docqa with args in workdir; returns its exit status. */
static int run_docqa(const char *const *args)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        if (chdir(workdir) < 0)
            _exit(99);
        const char *argv[32];
        int n = 0;
        argv[n++] = "docqa";
        for (int i = 0; args[i] && n < 31; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(docqa_bin(), (char *const *)argv);
        _exit(98);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static rag_session *rag;
static dq_config rag_cfg;

/* The answer session servers borrow: the store's config, with llm_url (NULL:
 * none) as its LLM. One per test: servers started later share it. */
static void use_session(const char *llm_url)
{
    cr_assert_null(rag, "one session per test");
    cr_assert_eq(dq_config_load(&rag_cfg, store_path), 0, "%s", dq_last_error());
    free(rag_cfg.llm_url);
    rag_cfg.llm_url = llm_url ? dq_strdup(llm_url) : NULL;
    rag_session_params sp = {.store_dir = store_path, .config = &rag_cfg};
    cr_assert_eq(rag_session_build(&sp, &rag), 0, "%s", dq_last_error());
}

/* The same with an in-process model file as the LLM. */
static void use_session_model(const char *file)
{
    cr_assert_null(rag, "one session per test");
    cr_assert_eq(dq_config_load(&rag_cfg, store_path), 0, "%s", dq_last_error());
    free(rag_cfg.llm_model);
    rag_cfg.llm_model = dq_strdup(file);
    rag_cfg.llm_max_tokens = 8; /* a random model says nothing worth waiting for */
    rag_session_params sp = {.store_dir = store_path, .config = &rag_cfg};
    cr_assert_eq(rag_session_build(&sp, &rag), 0, "%s", dq_last_error());
}

static serve_params params(void)
{
    if (!rag)
        use_session(NULL);
    serve_params p = serve_default_params();
    p.session = rag;
    p.port = 0;
    p.store_dir = store_path;
    p.docqa_bin = docqa_bin();
    p.drain_timeout_s = 10;
    return p;
}

static void start(const serve_params *p)
{
    srv = serve_start(p);
    cr_assert(srv, "serve_start: %s", dq_last_error());
    snprintf(base, sizeof base, "http://127.0.0.1:%d", serve_port(srv));
}

static void setup(void)
{
    snprintf(workdir, sizeof workdir, "/tmp/docqa-serve-XXXXXX");
    cr_assert(mkdtemp(workdir));
    snprintf(store_path, sizeof store_path, "%s/.docqa", workdir);
    char path[512];
    snprintf(path, sizeof path, "%s/manual.pdf", workdir);
    const char *manual[] = {
        "# Setup\nPlug the adapter into the base and touch the switch to turn the lamp on.",
        "# Warranty\nThe warranty period is 24 months from the date of purchase.\n"
        "Keep your receipt as proof of purchase.",
    };
    cr_assert_eq(pdfgen_write_simple(path, manual, 2), 0, "%s", dq_last_error());
    snprintf(path, sizeof path, "%s/lease.pdf", workdir);
    const char *lease[] = {
        "# 第三章 违约责任\n乙方逾期支付租金的，应按月租金的千分之五支付违约金。"};
    cr_assert_eq(pdfgen_write_simple(path, lease, 1), 0, "%s", dq_last_error());
    write_file("notes.txt", "Deposit\n\nThe security deposit is 5000 yuan and is paid back when "
                            "the lease ends.\n");
    cr_assert_eq(run_docqa((const char *[]){"--store", store_path, "ingest", "-q", "manual.pdf",
                                            "lease.pdf", "notes.txt", NULL}),
                 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srv = NULL;
}

static void teardown(void)
{
    serve_stop(srv);
    srv = NULL;
    rag_session_free(rag);
    rag = NULL;
    dq_config_free(&rag_cfg);
    curl_global_cleanup();
    cr_expect_eq(tmpdir_remove(workdir), 0);
}

TestSuite(serve, .init = setup, .fini = teardown, .timeout = 120);

/* ---- a small client ------------------------------------------------------ */

typedef struct {
    long status;
    dq_buf body;
    dq_buf headers;
    cJSON *json; /* body parsed, when it is JSON */
} resp;

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
    dq_buf_append(ctx, p, size * n);
    return size * n;
}

typedef struct {
    const char *method;
    const char *body;         /* NULL: none */
    const char *token;        /* Bearer token, or NULL */
    const char *content_type; /* default application/json for bodies */
    curl_mime *(*mime)(CURL *c, void *ctx);
    void *mime_ctx;
    const char *header, *header2; /* more request headers ("Origin: ..."), or NULL */
} req_opts;

static resp request(const char *path, const req_opts *o)
{
    resp r = {0};
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    struct curl_slist *h = NULL;
    char auth[256], ct[128];
    if (o && o->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->token);
        h = curl_slist_append(h, auth);
    }
    curl_mime *mime = NULL;
    if (o && o->mime) {
        mime = o->mime(c, o->mime_ctx);
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    } else if (o && o->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body);
        snprintf(ct, sizeof ct, "Content-Type: %s",
                 o->content_type ? o->content_type : "application/json");
        h = curl_slist_append(h, ct);
    }
    h = curl_slist_append(h, "Expect:");
    if (o && o->header)
        h = curl_slist_append(h, o->header);
    if (o && o->header2)
        h = curl_slist_append(h, o->header2);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (o && o->method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o->method);
    CURLcode rc = curl_easy_perform(c);
    cr_assert_eq(rc, CURLE_OK, "%s: %s", path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_mime_free(mime);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (r.body.data)
        r.json = cJSON_Parse(r.body.data);
    return r;
}

static resp get(const char *path)
{
    return request(path, NULL);
}

static resp post(const char *path, const char *body)
{
    return request(path, &(req_opts){.body = body});
}

static void resp_free(resp *r)
{
    dq_buf_free(&r->body);
    dq_buf_free(&r->headers);
    cJSON_Delete(r->json);
}

static const cJSON *at(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    cr_assert(v, "no '%s' in %s", key, o ? cJSON_PrintUnformatted(o) : "(null)");
    return v;
}

static const char *str_at(const cJSON *o, const char *key)
{
    const cJSON *v = at(o, key);
    cr_assert(cJSON_IsString(v), "'%s' is not a string", key);
    return v->valuestring;
}

static double num_at(const cJSON *o, const char *key)
{
    const cJSON *v = at(o, key);
    cr_assert(cJSON_IsNumber(v), "'%s' is not a number", key);
    return v->valuedouble;
}

/* The error message of an OpenAI-shaped error body. */
static const char *error_message(const resp *r)
{
    cr_assert(r->json, "not JSON: %s", r->body.data);
    return str_at(at(r->json, "error"), "message");
}

/* Splits an SSE body into the JSON of its "data:" lines; *done set when the
 * stream ended with "data: [DONE]". */
static size_t sse_events(const char *body, cJSON **out, size_t cap, bool *done)
{
    size_t n = 0;
    *done = false;
    const char *p = body;
    while (p && *p) {
        cr_assert(!strncmp(p, "data: ", 6), "not an SSE data line: %.60s", p);
        const char *end = strstr(p, "\n\n");
        cr_assert(end, "an event does not end with a blank line");
        char *line = dq_strndup(p + 6, (size_t)(end - p - 6));
        if (!strcmp(line, "[DONE]")) {
            *done = true;
            cr_assert_eq(end[2], '\0', "events after [DONE]");
        } else {
            cr_assert(n < cap);
            out[n] = cJSON_Parse(line);
            cr_assert(out[n], "event is not JSON: %s", line);
            n++;
        }
        free(line);
        p = end + 2;
    }
    return n;
}

/* ---- the JSON API -------------------------------------------------------- */

static void start_default(void)
{
    serve_params p = params();
    start(&p);
}

Test(serve, health_counts_the_store)
{
    start_default();
    resp r = get("/health");
    cr_assert_eq(r.status, 200);
    cr_expect_str_eq(str_at(r.json, "status"), "ok");
    cr_expect_eq(num_at(r.json, "documents"), 3);
    cr_expect_eq(num_at(r.json, "failed"), 0);
    resp_free(&r);
}

Test(serve, search_returns_hits_with_file_page_and_snippet)
{
    start_default();
    resp r = get("/api/search?q=warranty%20period&k=2");
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    const cJSON *hits = at(r.json, "results");
    cr_assert_geq(cJSON_GetArraySize(hits), 1);
    cr_assert_leq(cJSON_GetArraySize(hits), 2);
    const cJSON *h = cJSON_GetArrayItem(hits, 0);
    cr_expect_str_eq(str_at(h, "path"), "manual.pdf");
    cr_expect_eq(num_at(h, "page_start"), 2);
    cr_expect_str_eq(str_at(h, "section"), "Warranty");
    cr_expect(strstr(str_at(h, "snippet"), "24 months"));
    /* highlights are byte ranges of the snippet holding the query's words */
    const cJSON *hl = cJSON_GetArrayItem(at(h, "highlights"), 0);
    const char *snip = str_at(h, "snippet");
    int s0 = cJSON_GetArrayItem(hl, 0)->valueint, s1 = cJSON_GetArrayItem(hl, 1)->valueint;
    cr_expect(!strncasecmp(snip + s0, "warranty", (size_t)(s1 - s0)) ||
              !strncasecmp(snip + s0, "period", (size_t)(s1 - s0)));
    cr_expect(num_at(h, "chunk_id") > 0 && num_at(h, "doc_id") > 0);
    resp_free(&r);

    /* the same search as a POST body, in Chinese */
    r = post("/api/search", "{\"query\": \"违约金\", \"top_k\": 1}");
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    hits = at(r.json, "results");
    cr_assert_eq(cJSON_GetArraySize(hits), 1);
    cr_expect_str_eq(str_at(cJSON_GetArrayItem(hits, 0), "path"), "lease.pdf");
    resp_free(&r);

    /* nothing matches: an empty list, not an error */
    r = get("/api/search?q=zeppelin");
    cr_assert_eq(r.status, 200);
    cr_expect_eq(cJSON_GetArraySize(at(r.json, "results")), 0);
    resp_free(&r);
}

/* A repeated search is answered from the cache, byte for byte the same,
 * until the store changes: an ingest by another process (any commit) makes
 * the next identical search run again and see the new document. */
Test(serve, repeated_searches_come_from_the_cache_until_the_store_changes)
{
    start_default();
    resp a = get("/api/search?q=deposit&k=5");
    cr_assert_eq(a.status, 200, "%s", a.body.data);
    cr_expect(strstr(a.headers.data, "X-Docqa-Cache: miss"), "%s", a.headers.data);
    resp b = get("/api/search?q=deposit&k=5");
    cr_expect(strstr(b.headers.data, "X-Docqa-Cache: hit"), "%s", b.headers.data);
    cr_expect_str_eq(b.body.data, a.body.data);
    resp c = get("/api/search?q=deposit&k=4"); /* another k: another search */
    cr_expect(strstr(c.headers.data, "X-Docqa-Cache: miss"), "%s", c.headers.data);
    resp_free(&c);
    c = post("/api/search", "{\"query\": \"deposit\", \"top_k\": 5}");
    cr_expect(strstr(c.headers.data, "X-Docqa-Cache: hit"), "POST is the same search: %s",
              c.headers.data);
    resp_free(&c);
    cr_expect_null(strstr(a.body.data, "refund.txt"));

    write_file("refund.txt", "Deposit refund\n\nThe deposit refund takes ten working days.\n");
    cr_assert_eq(run_docqa((const char *[]){"--store", store_path, "ingest", "-q", "refund.txt",
                                            NULL}),
                 0);
    c = get("/api/search?q=deposit&k=5");
    cr_expect(strstr(c.headers.data, "X-Docqa-Cache: miss"), "after an ingest: %s",
              c.headers.data);
    cr_expect(strstr(c.body.data, "refund.txt"), "%s", c.body.data);
    resp_free(&a);
    resp_free(&b);
    resp_free(&c);
}

typedef struct {
    search_cache *cache;
    int64_t version;
    char *reply;
    volatile bool done;
} cache_waiter;

static void *wait_for_reply(void *arg)
{
    cache_waiter *w = arg;
    size_t len;
    w->reply = search_cache_get(w->cache, w->version, "q", &len);
    w->done = true;
    return NULL;
}

/* Asks for "q" at version on another thread: it must wait (the first asker
 * is running the search) until the put. */
static cache_waiter *start_waiter(search_cache *c, int64_t version, pthread_t *t)
{
    cache_waiter *w = dq_calloc(1, sizeof *w);
    *w = (cache_waiter){.cache = c, .version = version};
    cr_assert_eq(pthread_create(t, NULL, wait_for_reply, w), 0);
    usleep(200 * 1000);
    cr_expect(!w->done, "the second asker waits for the first one's search");
    return w;
}

/* While one request runs a search, an identical one waits for its reply
 * instead of running it again; after a failed search the waiter runs it
 * itself; a new data version empties the cache. */
Test(serve, identical_searches_in_flight_run_once)
{
    search_cache c;
    search_cache_init(&c, 4, 1 << 20);
    size_t len;
    pthread_t t;
    cr_assert_null(search_cache_get(&c, 7, "q", &len), "first: run it");
    cache_waiter *w = start_waiter(&c, 7, &t);
    search_cache_put(&c, 7, "q", "{\"results\":[]}", 14);
    pthread_join(t, NULL);
    cr_expect_str_eq(w->reply ? w->reply : "(null)", "{\"results\":[]}");
    free(w->reply);
    free(w);

    cr_assert_null(search_cache_get(&c, 8, "q", &len), "another version: run it again");
    w = start_waiter(&c, 8, &t);
    search_cache_put(&c, 8, "q", NULL, 0); /* the search failed: nothing stored */
    pthread_join(t, NULL);
    cr_expect_null(w->reply, "after a failure the waiter runs the search itself");
    free(w);
    search_cache_put(&c, 8, "q", "x", 1); /* the waiter's reply */
    char *hit = search_cache_get(&c, 8, "q", &len);
    cr_expect_str_eq(hit ? hit : "(null)", "x");
    cr_expect_eq(len, 1);
    free(hit);
    /* a request that read the version before the last commit misses, and
     * neither drops nor replaces what the newer version cached */
    cr_expect_null(search_cache_get(&c, 7, "q", &len));
    search_cache_put(&c, 7, "q", "old", 3);
    hit = search_cache_get(&c, 8, "q", &len);
    cr_expect_str_eq(hit ? hit : "(null)", "x");
    free(hit);
    search_cache_free(&c);
}

Test(serve, a_search_cache_of_zero_runs_every_search)
{
    serve_params p = params();
    p.search_cache = 0;
    start(&p);
    for (int i = 0; i < 2; i++) {
        resp r = get("/api/search?q=deposit");
        cr_expect_eq(r.status, 200);
        cr_expect(strstr(r.headers.data, "X-Docqa-Cache: miss"), "%s", r.headers.data);
        resp_free(&r);
    }
}

Test(serve, search_errors_are_clear_4xx_json)
{
    start_default();
    struct {
        const char *path;
        long status;
        const char *message;
    } cases[] = {
        {"/api/search", 400, "no query"},
        {"/api/search?q=warranty&k=0", 400, "from 1 to 100"},
        {"/api/search?q=warranty&k=abc", 400, "from 1 to 100"},
        {"/api/search?q=%3F%3F%21", 400, "no searchable words"},
        {"/api/nothing", 404, "no such endpoint"},
        {"/v1/embeddings", 404, "no such endpoint"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        resp r = get(cases[i].path);
        cr_expect_eq(r.status, cases[i].status, "%s: %ld %s", cases[i].path, r.status,
                     r.body.data);
        cr_expect(strstr(error_message(&r), cases[i].message), "%s: %s", cases[i].path,
                  error_message(&r));
        resp_free(&r);
    }
    resp r = request("/api/ask", &(req_opts){.method = "GET"});
    cr_expect_eq(r.status, 405);
    cr_expect(strstr(r.headers.data, "Allow: POST"), "%s", r.headers.data);
    resp_free(&r);
    r = post("/api/ask", "{\"question\": ");
    cr_expect_eq(r.status, 400);
    cr_expect_str_eq(error_message(&r), "the request body must be a JSON object");
    cr_expect_str_eq(str_at(at(r.json, "error"), "type"), "invalid_request_error");
    resp_free(&r);
    r = post("/api/ask", "{\"question\": 42}");
    cr_expect_eq(r.status, 400);
    cr_expect(strstr(error_message(&r), "'question' must be a non-empty string"));
    resp_free(&r);
    r = post("/api/ask", "{\"question\": \"warranty?\", \"history\": [{\"role\": \"robot\", "
                         "\"content\": \"hi\"}]}");
    cr_expect_eq(r.status, 400);
    cr_expect(strstr(error_message(&r), "role 'robot'"), "%s", error_message(&r));
    resp_free(&r);
}

static const char *warranty_answer =
    "The warranty period is 24 months from the date of purchase. [1]";

Test(serve, ask_answers_with_sources)
{
    start_default();
    resp r = post("/api/ask", "{\"question\": \"How long is the warranty period?\"}");
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_expect_str_eq(str_at(r.json, "answer"), warranty_answer);
    cr_expect_str_eq(str_at(r.json, "mode"), "extractive");
    cr_expect(cJSON_IsTrue(at(r.json, "found")));
    const cJSON *srcs = at(r.json, "sources");
    cr_assert_eq(cJSON_GetArraySize(srcs), 1);
    const cJSON *s = cJSON_GetArrayItem(srcs, 0);
    cr_expect_eq(num_at(s, "number"), 1);
    cr_expect_str_eq(str_at(s, "path"), "manual.pdf");
    cr_expect_eq(num_at(s, "page_start"), 2);
    cr_expect_str_eq(str_at(s, "section"), "Warranty");
    cr_expect_str_eq(str_at(s, "label"), "manual.pdf p. 2, Warranty");
    cr_expect(num_at(s, "score") > 0);
    /* the same hit fields as `docqa ask --json` and search */
    cr_expect(cJSON_IsBool(at(s, "ocr")) && cJSON_IsObject(at(s, "scores")));
    cr_expect_eq(num_at(s, "rank"), 1);
    resp_free(&r);

    r = post("/api/ask", "{\"question\": \"Who painted the ceiling of the chapel?\"}");
    cr_assert_eq(r.status, 200);
    cr_expect(cJSON_IsFalse(at(r.json, "found")));
    cr_expect_str_eq(str_at(r.json, "answer"),
                     "The documents do not say.");
    cr_expect_eq(cJSON_GetArraySize(at(r.json, "sources")), 0);
    resp_free(&r);
}

Test(serve, ask_scoped_by_doc)
{
    start_default();
    /* the deposit is only in notes.txt: scoped to the manual, nothing answers */
    resp r = post("/api/ask", "{\"question\": \"How much is the security deposit?\", "
                              "\"doc\": \"manual*\"}");
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_expect(cJSON_IsFalse(at(r.json, "found")));
    cr_expect_str_eq(str_at(at(r.json, "scope"), "kind"), "doc");
    resp_free(&r);
    r = post("/api/ask", "{\"question\": \"How much is the security deposit?\", "
                         "\"doc\": \"notes.txt\"}");
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_expect(cJSON_IsTrue(at(r.json, "found")));
    cr_expect_str_eq(str_at(cJSON_GetArrayItem(at(r.json, "sources"), 0), "path"), "notes.txt");
    resp_free(&r);
    /* a pattern that matches no document is said, in the question's language */
    r = post("/api/ask", "{\"question\": \"押金是多少？\", \"doc\": \"*2019*\"}");
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_expect(cJSON_IsFalse(at(r.json, "found")));
    cr_expect(cJSON_IsTrue(at(r.json, "no_document")));
    cr_expect_str_eq(str_at(r.json, "answer"), "库中没有与“*2019*”匹配的文档。");
    resp_free(&r);
    r = post("/api/ask", "{\"question\": \"How long is the warranty?\", \"doc\": 3}");
    cr_expect_eq(r.status, 400, "%s", r.body.data);
    resp_free(&r);
}

Test(serve, ask_streams_deltas_then_done)
{
    start_default();
    resp r = post("/api/ask",
                  "{\"question\": \"合同的违约金是多少？\", \"stream\": true}");
    cr_assert_eq(r.status, 200);
    cr_expect(strstr(r.headers.data, "Content-Type: text/event-stream"), "%s", r.headers.data);
    cJSON *ev[16];
    bool done;
    size_t n = sse_events(r.body.data, ev, 16, &done);
    cr_assert_geq(n, 2);
    cr_expect(!done, "/api/ask has no [DONE] line; its last event says done");
    dq_buf text = DQ_BUF_INIT;
    for (size_t i = 0; i + 1 < n; i++) {
        cr_expect_str_eq(str_at(ev[i], "type"), "delta");
        dq_buf_puts(&text, str_at(ev[i], "text"));
    }
    const cJSON *last = ev[n - 1];
    cr_expect_str_eq(str_at(last, "type"), "done");
    cr_expect_str_eq(text.data, str_at(last, "answer"));
    cr_expect(strstr(text.data, "违约金") && strstr(text.data, "[1]"), "%s", text.data);
    cr_expect_str_eq(str_at(cJSON_GetArrayItem(at(last, "sources"), 0), "path"), "lease.pdf");
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(ev[i]);
    dq_buf_free(&text);
    resp_free(&r);
}

Test(serve, follow_up_questions_use_the_history)
{
    start_default();
    const char *alone = "{\"question\": \"What about when the tenancy finishes?\"}";
    resp r = post("/api/ask", alone);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_expect(cJSON_IsFalse(at(r.json, "found")));
    resp_free(&r);

    r = post("/api/ask", "{\"question\": \"What about when the tenancy finishes?\", \"history\": "
                         "[{\"role\": \"user\", \"content\": \"How much is the security "
                         "deposit?\"}, {\"role\": \"assistant\", \"content\": \"5000 yuan\"}]}");
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_expect(cJSON_IsTrue(at(r.json, "found")));
    cr_expect_str_eq(str_at(r.json, "search_query"),
                     "How much is the security deposit? What about when the tenancy finishes?");
    cr_expect(strstr(str_at(r.json, "answer"), "5000 yuan"), "%s", str_at(r.json, "answer"));
    cr_expect_str_eq(str_at(cJSON_GetArrayItem(at(r.json, "sources"), 0), "path"), "notes.txt");
    resp_free(&r);
}

/* ---- OpenAI-compatible --------------------------------------------------- */

Test(serve, openai_models_lists_docqa)
{
    start_default();
    resp r = get("/v1/models");
    cr_assert_eq(r.status, 200);
    cr_expect_str_eq(str_at(r.json, "object"), "list");
    const cJSON *m = cJSON_GetArrayItem(at(r.json, "data"), 0);
    cr_expect_str_eq(str_at(m, "id"), "docqa");
    cr_expect_str_eq(str_at(m, "object"), "model");
    resp_free(&r);
}

static const char *chat_body =
    "{\"model\": \"docqa\", \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, "
    "{\"role\": \"user\", \"content\": \"How long is the warranty period?\"}]%s}";

Test(serve, openai_chat_completion)
{
    start_default();
    char body[512];
    snprintf(body, sizeof body, chat_body, "");
    resp r = post("/v1/chat/completions", body);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_expect_str_eq(str_at(r.json, "object"), "chat.completion");
    cr_expect_str_eq(str_at(r.json, "model"), "docqa");
    cr_expect(!strncmp(str_at(r.json, "id"), "chatcmpl-", 9));
    const cJSON *ch = cJSON_GetArrayItem(at(r.json, "choices"), 0);
    cr_expect_str_eq(str_at(ch, "finish_reason"), "stop");
    const cJSON *msg = at(ch, "message");
    cr_expect_str_eq(str_at(msg, "role"), "assistant");
    char want[512];
    snprintf(want, sizeof want, "%s\n\nSources:\n[1] manual.pdf p. 2, Warranty", warranty_answer);
    cr_expect_str_eq(str_at(msg, "content"), want);
    const cJSON *s = cJSON_GetArrayItem(at(r.json, "sources"), 0);
    cr_expect_str_eq(str_at(s, "path"), "manual.pdf");
    cr_expect_eq(num_at(s, "number"), 1);
    resp_free(&r);
}

Test(serve, openai_chat_stream_matches_the_plain_answer)
{
    start_default();
    char body[512];
    snprintf(body, sizeof body, chat_body, ", \"stream\": true");
    resp r = post("/v1/chat/completions", body);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_expect(strstr(r.headers.data, "Content-Type: text/event-stream"));
    cJSON *ev[16];
    bool done;
    size_t n = sse_events(r.body.data, ev, 16, &done);
    cr_expect(done, "the stream ends with data: [DONE]");
    cr_assert_geq(n, 3);
    const char *id = str_at(ev[0], "id");
    dq_buf text = DQ_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_eq(str_at(ev[i], "object"), "chat.completion.chunk");
        cr_expect_str_eq(str_at(ev[i], "id"), id, "one id for every chunk");
        const cJSON *ch = cJSON_GetArrayItem(at(ev[i], "choices"), 0);
        const cJSON *delta = at(ch, "delta");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(delta, "role");
        cr_expect(i == 0 ? cJSON_IsString(role) : role == NULL, "role only in the first chunk");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
        if (content)
            dq_buf_puts(&text, content->valuestring);
        const cJSON *fin = at(ch, "finish_reason");
        if (i + 1 < n) {
            cr_expect(cJSON_IsNull(fin));
        } else {
            cr_expect_str_eq(fin->valuestring, "stop");
            cr_expect_str_eq(str_at(cJSON_GetArrayItem(at(ev[i], "sources"), 0), "path"),
                             "manual.pdf");
        }
    }
    char want[512];
    snprintf(want, sizeof want, "%s\n\nSources:\n[1] manual.pdf p. 2, Warranty", warranty_answer);
    cr_expect_str_eq(text.data, want);
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(ev[i]);
    dq_buf_free(&text);
    resp_free(&r);
}

Test(serve, openai_errors)
{
    start_default();
    resp r = post("/v1/chat/completions", "{\"model\": \"gpt-4\", \"messages\": [{\"role\": "
                                          "\"user\", \"content\": \"warranty?\"}]}");
    cr_expect_eq(r.status, 404);
    cr_expect(strstr(error_message(&r), "model 'gpt-4' does not exist"));
    resp_free(&r);
    r = post("/v1/chat/completions", "{\"model\": \"docqa\"}");
    cr_expect_eq(r.status, 400);
    resp_free(&r);
    r = post("/v1/chat/completions",
             "{\"messages\": [{\"role\": \"assistant\", \"content\": \"hello\"}]}");
    cr_expect_eq(r.status, 400);
    cr_expect(strstr(error_message(&r), "no user message"));
    resp_free(&r);
    r = post("/v1/chat/completions",
             "{\"messages\": [{\"role\": \"user\", \"content\": \"warranty\"}], \"stream\": 1}");
    cr_expect_eq(r.status, 400);
    resp_free(&r);
}

/* ---- answers from an LLM ------------------------------------------------- */

/* A stand-in for llama-server: /tokenize is missing (so prompts are
 * estimated) and chat completions stream two pieces of answer. The last
 * chat request's body is kept for the test to read. */
typedef struct {
    dq_buf last_chat;
} fake_llm;

static void fake_llm_handler(void *ctx, const httpd_request *req, httpd_response *resp)
{
    fake_llm *f = ctx;
    if (!strstr(req->path, "/chat/completions")) {
        resp->status = 404;
        dq_buf_puts(&resp->body, "{\"error\": \"not found\"}");
        return;
    }
    dq_buf_clear(&f->last_chat);
    dq_buf_append(&f->last_chat, req->body, req->body_len);
    snprintf(resp->content_type, sizeof resp->content_type, "text/event-stream");
    dq_buf_puts(&resp->body,
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The warranty lasts "
                "\"},\"finish_reason\":null}]}\n\n"
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"24 months [1].\"},"
                "\"finish_reason\":null}]}\n\n"
                "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
                "data: [DONE]\n\n");
    resp->piece_delay_ms = 5;
}

static httpd *start_with_llm(fake_llm *f, const char *url_or_null)
{
    httpd *h = NULL;
    char url[128];
    if (url_or_null) {
        snprintf(url, sizeof url, "%s", url_or_null);
    } else {
        h = httpd_start(fake_llm_handler, f);
        cr_assert(h, "%s", dq_last_error());
        snprintf(url, sizeof url, "%s/v1", httpd_url(h));
    }
    use_session(url);
    serve_params p = params();
    start(&p);
    return h;
}

Test(serve, llm_answers_with_its_citations)
{
    fake_llm f = {DQ_BUF_INIT};
    httpd *h = start_with_llm(&f, NULL);
    resp r = post("/api/ask", "{\"question\": \"How long is the warranty period?\"}");
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_expect_str_eq(str_at(r.json, "mode"), "llm");
    cr_expect_str_eq(str_at(r.json, "answer"), "The warranty lasts 24 months [1].");
    cr_expect(cJSON_IsTrue(at(r.json, "found")));
    const cJSON *src = at(r.json, "sources");
    cr_assert_eq(cJSON_GetArraySize(src), 1);
    cr_expect_str_eq(str_at(cJSON_GetArrayItem(src, 0), "path"), "manual.pdf");
    cr_expect_eq(num_at(cJSON_GetArrayItem(src, 0), "page_start"), 2);
    resp_free(&r);
    /* the model was given the passage and the question */
    cJSON *sent = cJSON_Parse(f.last_chat.data);
    cr_assert(sent, "%s", f.last_chat.data);
    char *text = cJSON_PrintUnformatted(sent);
    cr_expect(strstr(text, "24 months from the date of purchase"), "%s", text);
    cr_expect(strstr(text, "How long is the warranty period?"));
    cr_expect(cJSON_IsTrue(at(sent, "stream")));
    free(text);
    cJSON_Delete(sent);
    serve_stop(srv);
    srv = NULL;
    httpd_stop(h);
    dq_buf_free(&f.last_chat);
}

Test(serve, llm_gets_the_history_and_streams_through_the_openai_endpoint)
{
    fake_llm f = {DQ_BUF_INIT};
    httpd *h = start_with_llm(&f, NULL);
    resp r = post("/v1/chat/completions",
                  "{\"model\": \"docqa\", \"stream\": true, \"messages\": ["
                  "{\"role\": \"system\", \"content\": \"You are a chat UI's helper.\"},"
                  "{\"role\": \"user\", \"content\": \"How long is the warranty period?\"},"
                  "{\"role\": \"assistant\", \"content\": \"24 months.\"},"
                  "{\"role\": \"user\", \"content\": \"And how do I make a claim?\"}]}");
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cJSON *ev[16];
    bool done;
    size_t n = sse_events(r.body.data, ev, 16, &done);
    cr_expect(done);
    dq_buf content = DQ_BUF_INIT;
    int pieces = 0;
    for (size_t i = 0; i < n; i++) {
        const cJSON *d = at(cJSON_GetArrayItem(at(ev[i], "choices"), 0), "delta");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(d, "content");
        if (c && *c->valuestring) {
            dq_buf_puts(&content, c->valuestring);
            pieces++;
        }
    }
    cr_expect_geq(pieces, 3, "the model's two pieces and the sources arrive separately");
    cr_expect_str_eq(content.data, "The warranty lasts 24 months [1].\n\nSources:\n"
                                   "[1] manual.pdf p. 2, Warranty");
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(ev[i]);
    dq_buf_free(&content);
    resp_free(&r);
    /* earlier turns went to the model between docqa's instructions and the
     * question; the client's own system message did not */
    cJSON *sent = cJSON_Parse(f.last_chat.data);
    const cJSON *msgs = at(sent, "messages");
    cr_assert_eq(cJSON_GetArraySize(msgs), 4);
    const char *roles[] = {"system", "user", "assistant", "user"};
    for (int i = 0; i < 4; i++)
        cr_expect_str_eq(str_at(cJSON_GetArrayItem(msgs, i), "role"), roles[i]);
    cr_expect_str_eq(str_at(cJSON_GetArrayItem(msgs, 1), "content"),
                     "How long is the warranty period?");
    cr_expect(!strstr(str_at(cJSON_GetArrayItem(msgs, 0), "content"), "chat UI's helper"));
    cr_expect(strstr(str_at(cJSON_GetArrayItem(msgs, 3), "content"), "And how do I make a claim?"));
    cJSON_Delete(sent);
    serve_stop(srv);
    srv = NULL;
    httpd_stop(h);
    dq_buf_free(&f.last_chat);
}

typedef struct {
    pthread_mutex_t lock;
    dq_buf lines;
} log_sink;

static void log_to_sink(void *ctx, const char *line)
{
    log_sink *k = ctx;
    pthread_mutex_lock(&k->lock);
    dq_buf_printf(&k->lines, "%s\n", line);
    pthread_mutex_unlock(&k->lock);
}

static void slow_llm_handler(void *ctx, const httpd_request *req, httpd_response *resp)
{
    (void)ctx;
    if (!strstr(req->path, "/chat/completions")) {
        resp->status = 404;
        return;
    }
    snprintf(resp->content_type, sizeof resp->content_type, "text/event-stream");
    for (int i = 0; i < 40; i++)
        dq_buf_printf(&resp->body,
                      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"piece %d \"},"
                      "\"finish_reason\":null}]}\n\n",
                      i);
    dq_buf_puts(&resp->body, "data: [DONE]\n\n");
    resp->piece_delay_ms = 100;
}

static size_t stop_after_first(char *p, size_t size, size_t n, void *ctx)
{
    dq_buf *b = ctx;
    dq_buf_append(b, p, size * n);
    return strstr(b->data, "piece 0") ? 0 : size * n; /* 0: curl aborts the transfer */
}

/* Servers started after this answer through slow_llm_handler's endpoint;
 * stop it with httpd_stop. */
static httpd *use_slow_llm(void)
{
    httpd *h = httpd_start(slow_llm_handler, NULL);
    cr_assert(h);
    char url[128];
    snprintf(url, sizeof url, "%s/v1", httpd_url(h));
    use_session(url);
    return h;
}

Test(serve, a_client_that_leaves_mid_stream_stops_its_answer)
{
    httpd *h = use_slow_llm();
    log_sink sink = {PTHREAD_MUTEX_INITIALIZER, DQ_BUF_INIT};
    serve_params p = params();
    p.log = log_to_sink;
    p.log_ctx = &sink;
    start(&p);
    CURL *c = curl_easy_init();
    char u[128];
    snprintf(u, sizeof u, "%s/v1/chat/completions", base);
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                     "{\"stream\": true, \"messages\": [{\"role\": \"user\", \"content\": "
                     "\"How long is the warranty period?\"}]}");
    struct curl_slist *json = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, json);
    dq_buf got = DQ_BUF_INIT;
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stop_after_first);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    cr_expect_eq(curl_easy_perform(c), CURLE_WRITE_ERROR);
    curl_easy_cleanup(c);
    curl_slist_free_all(json);
    cr_expect(strstr(got.data, "piece 0"));
    cr_expect(!strstr(got.data, "piece 39"), "the client left early");
    dq_buf_free(&got);
    /* the server notices, logs the request as cut short and is still fine */
    for (;;) {
        pthread_mutex_lock(&sink.lock);
        bool seen = sink.lines.data && strstr(sink.lines.data, "POST /v1/chat/completions 200");
        pthread_mutex_unlock(&sink.lock);
        if (seen)
            break;
        usleep(20 * 1000);
    }
    cr_expect(strstr(sink.lines.data, "(cut short)"), "%s", sink.lines.data);
    resp r = get("/health");
    cr_expect_eq(r.status, 200);
    resp_free(&r);
    serve_stop(srv);
    srv = NULL;
    httpd_stop(h);
    dq_buf_free(&sink.lines);
}

static int connect_from(int host);

/* A search whose client leaves while it waits for a store connection is
 * dropped without being run (a load tester's timed-out requests would
 * otherwise cost the server as much as answered ones): logged as cut short
 * with no status, where a run search would log 200. */
Test(serve, a_search_whose_client_left_while_queued_is_not_run)
{
    log_sink sink = {PTHREAD_MUTEX_INITIALIZER, DQ_BUF_INIT};
    serve_params p = params();
    p.max_readers = 1;
    p.search_cache = 0;
    p.log = log_to_sink;
    p.log_ctx = &sink;
    start(&p);
    store *held = store_pool_acquire(&srv->stores); /* the only one */
    cr_assert(held, "%s", dq_last_error());
    int fd = connect_from(1);
    char req[256];
    int n = snprintf(req, sizeof req, "GET /api/search?q=warranty HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
                     serve_port(srv));
    cr_assert_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    usleep(300 * 1000); /* it waits for the connection held above */
    close(fd);
    usleep(100 * 1000);
    store_pool_release(&srv->stores, held);
    bool logged = false;
    for (int i = 0; i < 100 && !logged; i++) {
        pthread_mutex_lock(&sink.lock);
        logged = sink.lines.data && strstr(sink.lines.data, "/api/search");
        pthread_mutex_unlock(&sink.lock);
        if (!logged)
            usleep(50 * 1000);
    }
    pthread_mutex_lock(&sink.lock);
    cr_expect(logged && strstr(sink.lines.data, "GET /api/search 0 0 "), "%s",
              sink.lines.data ? sink.lines.data : "(no log)");
    pthread_mutex_unlock(&sink.lock);
    resp r = get("/api/search?q=warranty");
    cr_expect_eq(r.status, 200, "%s", r.body.data);
    resp_free(&r);
    serve_stop(srv);
    srv = NULL;
    dq_buf_free(&sink.lines);
}

Test(serve, unreachable_llm_falls_back_to_extractive)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", httpd_closed_port());
    start_with_llm(NULL, url);
    resp r = post("/api/ask", "{\"question\": \"How long is the warranty period?\"}");
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_expect_str_eq(str_at(r.json, "mode"), "extractive");
    cr_expect_str_eq(str_at(r.json, "answer"), warranty_answer);
    cr_expect(strlen(str_at(r.json, "llm_error")) > 0);
    resp_free(&r);
}

/* The LLM's URL carries a password and a key: neither reaches a client, in
 * a plain reply or in the streamed one's final event. */
Test(serve, llm_errors_hold_no_url_secret_plain_or_streamed)
{
    char url[128];
    snprintf(url, sizeof url, "http://ann:pw123@127.0.0.1:%d/v1?api_key=k456",
             httpd_closed_port());
    start_with_llm(NULL, url);
    const char *bodies[] = {"{\"question\": \"How long is the warranty period?\"}",
                            "{\"question\": \"How long is the warranty period?\", "
                            "\"stream\": true}"};
    for (int i = 0; i < 2; i++) {
        resp r = post("/api/ask", bodies[i]);
        cr_assert_eq(r.status, 200, "%s", r.body.data);
        cr_expect(strstr(r.body.data, "llm_error"), "%s", r.body.data);
        cr_expect(strstr(r.body.data, "***"), "%s", r.body.data);
        cr_expect(!strstr(r.body.data, "pw123") && !strstr(r.body.data, "k456"), "%s",
                  r.body.data);
        resp_free(&r);
    }
}

/* ---- security and limits ------------------------------------------------- */

Test(serve, token_guards_the_api_but_not_health)
{
    serve_params p = params();
    p.token = "s3cret-token";
    start(&p);
    resp r = get("/api/search?q=warranty");
    cr_expect_eq(r.status, 401);
    cr_expect(strstr(r.headers.data, "WWW-Authenticate: Bearer"));
    cr_expect_str_eq(str_at(at(r.json, "error"), "type"), "authentication_error");
    resp_free(&r);
    const char *wrong[] = {"s3cret-tokeX", "s3cret-token2", "s3cret", ""};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        r = request("/v1/models", &(req_opts){.token = wrong[i]});
        cr_expect_eq(r.status, 401, "token '%s'", wrong[i]);
        resp_free(&r);
    }
    r = request("/api/search?q=warranty", &(req_opts){.token = "s3cret-token"});
    cr_expect_eq(r.status, 200);
    resp_free(&r);
    /* an upload without the token is refused before its body is read */
    r = request("/api/ingest", &(req_opts){.body = "x", .content_type = "multipart/form-data; "
                                                                         "boundary=b"});
    cr_expect_eq(r.status, 401);
    resp_free(&r);
    r = get("/health");
    cr_expect_eq(r.status, 200);
    resp_free(&r);
    r = get("/");
    cr_expect_eq(r.status, 200, "the page itself holds no data");
    resp_free(&r);
}

Test(serve, refuses_to_listen_off_loopback_without_a_token)
{
    serve_params p = params();
    p.host = "0.0.0.0";
    cr_assert_null(serve_start(&p));
    cr_expect(strstr(dq_last_error(), "needs a token"), "%s", dq_last_error());
    cr_expect(serve_host_is_loopback("127.0.0.1") && serve_host_is_loopback("127.1.2.3") &&
              serve_host_is_loopback("::1") && serve_host_is_loopback("localhost"));
    cr_expect(!serve_host_is_loopback("0.0.0.0") && !serve_host_is_loopback("192.168.1.2") &&
              !serve_host_is_loopback("::"));
}

Test(serve, a_port_in_use_is_a_clear_error)
{
    start_default();
    serve_params p = params();
    p.port = serve_port(srv);
    serve_server *second = serve_start(&p);
    cr_assert_null(second);
    cr_expect(strstr(dq_last_error(), "cannot listen on 127.0.0.1 port"), "%s", dq_last_error());
}

Test(serve, request_body_limit)
{
    serve_params p = params();
    p.max_body_bytes = 100;
    start(&p);
    char body[400];
    snprintf(body, sizeof body, "{\"question\": \"%0300d\"}", 7);
    resp r = post("/api/ask", body);
    cr_expect_eq(r.status, 413);
    cr_expect(strstr(error_message(&r), "over the limit of 100"), "%s", error_message(&r));
    resp_free(&r);
    r = post("/api/ask", "{\"question\": \"warranty period?\"}");
    cr_expect_eq(r.status, 200);
    resp_free(&r);
}

/* ---- documents and page images ------------------------------------------- */

static const cJSON *find_doc(const cJSON *docs, const char *path)
{
    const cJSON *d;
    cJSON_ArrayForEach(d, docs) if (!strcmp(str_at(d, "path"), path)) return d;
    cr_assert_fail("no document '%s'", path);
    return NULL;
}

Test(serve, documents_and_page_images_with_highlights)
{
    start_default();
    resp r = get("/api/documents");
    cr_assert_eq(r.status, 200);
    const cJSON *docs = at(r.json, "documents");
    cr_expect_eq(cJSON_GetArraySize(docs), 3);
    const cJSON *manual = find_doc(docs, "manual.pdf");
    cr_expect_str_eq(str_at(manual, "status"), "ok");
    cr_expect_eq(num_at(manual, "pages"), 2);
    cr_expect_str_eq(str_at(manual, "format"), "pdf");
    int manual_id = (int)num_at(manual, "doc_id");
    int notes_id = (int)num_at(find_doc(docs, "notes.txt"), "doc_id");
    resp_free(&r);

    r = get("/api/search?q=warranty%20period&k=1");
    int chunk = (int)num_at(cJSON_GetArrayItem(at(r.json, "results"), 0), "chunk_id");
    resp_free(&r);
    r = get("/api/search?q=deposit&k=1");
    int other_chunk = (int)num_at(cJSON_GetArrayItem(at(r.json, "results"), 0), "chunk_id");
    resp_free(&r);

    char path[128];
    snprintf(path, sizeof path, "/api/documents/%d/pages/2.png?chunk=%d", manual_id, chunk);
    r = get(path);
    cr_assert_eq(r.status, 200, "%s", r.body.data);
    cr_expect(strstr(r.headers.data, "Content-Type: image/png"));
    cr_assert_gt(r.body.len, 1000);
    cr_expect(!memcmp(r.body.data, "\x89PNG\r\n\x1a\n", 8));
    /* the chunk's two lines of text on page 2 are drawn */
    cr_expect(strstr(r.headers.data, "X-Docqa-Highlights: 2"), "%s", r.headers.data);
    resp_free(&r);
    snprintf(path, sizeof path, "/api/documents/%d/pages/1.png?chunk=%d", manual_id, chunk);
    r = get(path);
    cr_expect_eq(r.status, 200);
    cr_expect(strstr(r.headers.data, "X-Docqa-Highlights: 0"), "the chunk is not on page 1");
    resp_free(&r);
    /* a whole-page hit names its chunks: all their lines are drawn */
    snprintf(path, sizeof path, "/api/documents/%d/pages/2.png?chunk=%d,%d", manual_id, chunk,
             chunk);
    r = get(path);
    cr_expect_eq(r.status, 200, "%s", r.body.data);
    cr_expect(strstr(r.headers.data, "X-Docqa-Highlights: 4"), "%s", r.headers.data);
    resp_free(&r);
    const char *bad_lists[] = {"%d,", "%d,,1", ",%d", "%d,-1", "%d,x", "%d%%201"};
    for (size_t i = 0; i < sizeof bad_lists / sizeof *bad_lists; i++) {
        char arg[64], url[192];
        snprintf(arg, sizeof arg, bad_lists[i], chunk);
        snprintf(url, sizeof url, "/api/documents/%d/pages/2.png?chunk=%s", manual_id, arg);
        r = get(url);
        cr_expect_eq(r.status, 400, "%s: %ld", url, r.status);
        resp_free(&r);
    }
    snprintf(path, sizeof path, "/api/documents/%d/pages/1.png?chunk=%d,%d", manual_id, chunk,
             other_chunk);
    r = get(path);
    cr_expect_eq(r.status, 404, "a chunk of another document in the list");
    resp_free(&r);

    struct {
        char path[128];
        long status;
    } bad[5];
    snprintf(bad[0].path, 128, "/api/documents/%d/pages/3.png", manual_id);
    bad[0].status = 404;
    snprintf(bad[1].path, 128, "/api/documents/999/pages/1.png");
    bad[1].status = 404;
    snprintf(bad[2].path, 128, "/api/documents/%d/pages/1.png?chunk=%d", manual_id, other_chunk);
    bad[2].status = 404;
    snprintf(bad[3].path, 128, "/api/documents/%d/pages/1.png", notes_id);
    bad[3].status = 404;
    snprintf(bad[4].path, 128, "/api/documents/%d/pages/1.png?dpi=5000", manual_id);
    bad[4].status = 400;
    for (size_t i = 0; i < 5; i++) {
        r = get(bad[i].path);
        cr_expect_eq(r.status, bad[i].status, "%s: %ld %s", bad[i].path, r.status, r.body.data);
        resp_free(&r);
    }
    /* paths are ids, never file names */
    const char *traversal[] = {"/api/documents/../../etc/passwd", "/api/documents/1/pages/../x",
                               "/api/documents/%2e%2e/pages/1.png", "/api/documents/1x/pages/1.png",
                               "/api/documents/-1/pages/1.png", "/api/documents/1/pages/1.png/x"};
    for (size_t i = 0; i < sizeof traversal / sizeof traversal[0]; i++) {
        r = get(traversal[i]);
        cr_expect_eq(r.status, 404, "%s: %ld", traversal[i], r.status);
        resp_free(&r);
    }
}

/* The width and height of a PNG (its IHDR chunk). */
static void png_size(const resp *r, unsigned *w, unsigned *h)
{
    const unsigned char *p = (const unsigned char *)r->body.data;
    cr_assert(r->body.len > 24 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8), "not a PNG");
    *w = (unsigned)p[16] << 24 | (unsigned)p[17] << 16 | (unsigned)p[18] << 8 | p[19];
    *h = (unsigned)p[20] << 24 | (unsigned)p[21] << 16 | (unsigned)p[22] << 8 | p[23];
}

/* A few hundred bytes of PDF may declare a page of any size: 5000 pt square
 * is 58 million pixels at the default 110 dpi, 300 million at 300 dpi. The
 * render is scaled down to the cap, whole, and comes back quickly. */
Test(serve, a_giant_page_renders_within_the_pixel_cap)
{
    const char *content = "BT /F1 24 Tf 72 4900 Td (The giant page says the warranty is void.) "
                          "Tj ET";
    char pdf[1024];
    int n = snprintf(pdf, sizeof pdf,
                     "%%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                     "2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
                     "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 5000 5000]"
                     "/Resources<</Font<</F1 5 0 R>>>>/Contents 4 0 R>>endobj\n"
                     "4 0 obj<</Length %zu>>stream\n%s\nendstream endobj\n"
                     "5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
                     "trailer<</Root 1 0 R>>\n%%%%EOF\n",
                     strlen(content), content);
    char path[512];
    snprintf(path, sizeof path, "%s/giant.pdf", workdir);
    cr_assert_eq(pdfgen_write_bytes(path, pdf, (size_t)n), 0);
    cr_assert_eq(run_docqa((const char *[]){"--store", store_path, "ingest", "-q", "giant.pdf",
                                            NULL}),
                 0);
    start_default();
    resp r = get("/api/documents");
    int id = (int)num_at(find_doc(at(r.json, "documents"), "giant.pdf"), "doc_id");
    resp_free(&r);
    const char *dpis[] = {"", "?dpi=300"};
    for (size_t i = 0; i < 2; i++) {
        char url[128];
        snprintf(url, sizeof url, "/api/documents/%d/pages/1.png%s", id, dpis[i]);
        double t0 = dq_now();
        r = get(url);
        double took = dq_now() - t0;
        cr_assert_eq(r.status, 200, "%s", r.body.data);
        unsigned w, h;
        png_size(&r, &w, &h);
        cr_expect_leq((double)w * h, INGEST_RENDER_MAX_PIXELS, "%ux%u", w, h);
        cr_expect_geq(w, 4900, "the whole page, scaled: %ux%u", w, h);
        cr_expect_eq(w, h);
        cr_expect_lt(took, 20.0, "%.1f s", took); /* it took 15 s at 58 Mpx and 2.6 GB */
        resp_free(&r);
    }
}

/* Replies name documents by id and files relative to the store, never by
 * an absolute path of the server. */
Test(serve, error_replies_hold_no_server_path)
{
    start_default();
    resp r = get("/api/documents");
    int id = (int)num_at(find_doc(at(r.json, "documents"), "manual.pdf"), "doc_id");
    resp_free(&r);
    char path[512];
    snprintf(path, sizeof path, "%s/manual.pdf", workdir);
    cr_assert_eq(pdfgen_write_bytes(path, "%PDF-1.4 garbage", 16), 0); /* damaged since */
    char url[128];
    snprintf(url, sizeof url, "/api/documents/%d/pages/1.png", id);
    r = get(url);
    cr_expect_geq(r.status, 400);
    cr_expect(!strstr(r.body.data, workdir), "%s", r.body.data);
    cr_expect(!strstr(r.body.data, "/tmp/"), "%s", r.body.data);
    resp_free(&r);
    unlink(path); /* gone */
    r = get(url);
    cr_expect_geq(r.status, 400);
    cr_expect(strstr(r.body.data, "manual.pdf"), "%s", r.body.data);
    cr_expect(!strstr(r.body.data, workdir), "%s", r.body.data);
    resp_free(&r);
    /* what a client is shown of any message: the store's folders taken out,
     * another local path cut to its name, URL secrets redacted, and an API
     * route left alone */
    char msg[2048];
    snprintf(msg, sizeof msg,
             "cannot open '%s/.docqa/docqa.db': gone; '%s/.docqa/uploads/a.pdf'; cannot load "
             "model /usr/share/qwen.gguf: bad magic; http://ann:pw123@llm.example/v1?api_key=k456 "
             "refused; POST /api/ask",
             workdir, workdir);
    char *shown = serve_public_text(srv, msg);
    cr_expect(!strstr(shown, workdir), "%s", shown);
    cr_expect(!strstr(shown, "pw123") && !strstr(shown, "k456"), "%s", shown);
    cr_expect(strstr(shown, "'.docqa/docqa.db'"), "%s", shown);
    cr_expect(strstr(shown, "model qwen.gguf: bad magic"), "%s", shown);
    cr_expect(strstr(shown, "http://***@llm.example/v1?api_key=*** refused"), "%s", shown);
    cr_expect(strstr(shown, "POST /api/ask"), "%s", shown);
    free(shown);
    /* whether a path exists here cannot be learnt from a 404: an existing and
     * a missing one, in a folder that exists or not, read the same */
    const char *probes[] = {"/etc/passwd", "/etc/no-such-file", "/no-such-dir/passwd"};
    const char *names[] = {"passwd", "no-such-file", "passwd"};
    for (int i = 0; i < 3; i++) {
        r = get(probes[i]);
        cr_expect_eq(r.status, 404);
        char want[64];
        snprintf(want, sizeof want, "no such page: %s\"", names[i]);
        cr_expect(strstr(r.body.data, want), "%s: %s", probes[i], r.body.data);
        resp_free(&r);
    }
}

/* ---- uploads and jobs ---------------------------------------------------- */

typedef struct {
    const char *name;
    const char *data;
    size_t len;
    const char *field;
} part;

static curl_mime *one_part(CURL *c, void *ctx)
{
    const part *p = ctx;
    curl_mime *m = curl_mime_init(c);
    curl_mimepart *mp = curl_mime_addpart(m);
    curl_mime_name(mp, p->field ? p->field : "file");
    curl_mime_filename(mp, p->name);
    curl_mime_data(mp, p->data, p->len);
    return m;
}

static resp upload(const char *name, const char *data, size_t len)
{
    part p = {name, data, len, NULL};
    return request("/api/ingest", &(req_opts){.mime = one_part, .mime_ctx = &p});
}

/* ---- cross-site requests ------------------------------------------------ */

/* The status of GET path sent with one more header. */
static long status_with(const char *path, const char *header)
{
    resp r = request(path, &(req_opts){.header = header});
    long st = r.status;
    resp_free(&r);
    return st;
}

/* DNS rebinding: a page whose name now resolves to 127.0.0.1 sends its own
 * name as Host. Only the listening address's names (and --allow-host's) are
 * answered. */
Test(serve, foreign_host_is_refused)
{
    start_default();
    int port = serve_port(srv);
    char h[128];
    snprintf(h, sizeof h, "Host: attacker.example:%d", port);
    cr_expect_eq(status_with("/api/documents", h), 403);
    cr_expect_eq(status_with("/health", h), 403);
    cr_expect_eq(status_with("/", h), 403);
    resp r = request("/api/documents", &(req_opts){.header = h});
    cr_expect(strstr(error_message(&r), "--allow-host"), "%s", r.body.data);
    resp_free(&r);
    cr_expect_eq(status_with("/health", "Host: attacker.example"), 403);
    snprintf(h, sizeof h, "Host: 127.0.0.1:%d", port + 1 > 65535 ? 1 : port + 1);
    cr_expect_eq(status_with("/health", h), 403, "another port is another origin");
    cr_expect_eq(status_with("/health", "Host: 127.0.0.1:80:1"), 403);
    cr_expect_eq(status_with("/health", "Host: [::1"), 403);
    const char *own[] = {"127.0.0.1", "localhost", "LOCALHOST", "[::1]"};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++) {
        snprintf(h, sizeof h, "Host: %s:%d", own[i], port);
        cr_expect_eq(status_with("/api/documents", h), 200, "%s", h);
    }
    serve_stop(srv);

    /* A reverse proxy's names, repeated or comma-separated on the command
     * line, arrive here comma-separated; any port (the proxy's). */
    serve_params p = params();
    p.allow_hosts = "docs.example.com, [fd00::5] ,wiki.example";
    start(&p);
    cr_expect_eq(status_with("/api/documents", "Host: docs.example.com"), 200);
    cr_expect_eq(status_with("/api/documents", "Host: Wiki.Example:443"), 200);
    cr_expect_eq(status_with("/api/documents", "Host: [fd00::5]:8443"), 200);
    cr_expect_eq(status_with("/api/documents", "Host: example.com"), 403);
    cr_expect_eq(status_with("/api/documents", "Host: docs.example.com.evil"), 403);
}

/* Any page the user visits can POST to 127.0.0.1 (a form, or fetch in
 * no-cors mode); the browser says where it comes from in Origin. */
Test(serve, foreign_origin_cannot_change_state)
{
    start_default();
    char own[128];
    snprintf(own, sizeof own, "Origin: http://127.0.0.1:%d", serve_port(srv));
    const char *ask = "{\"question\": \"How long is the warranty period?\"}";
    const char *foreign[] = {"Origin: http://attacker.example", "Origin: null",
                             "Origin: http://127.0.0.1:1", "Origin: file://"};
    for (size_t i = 0; i < sizeof foreign / sizeof *foreign; i++) {
        resp r = request("/api/ask", &(req_opts){.body = ask, .header = foreign[i]});
        cr_expect_eq(r.status, 403, "%s: %s", foreign[i], r.body.data);
        resp_free(&r);
    }
    /* An upload planted from another site: refused before a byte is saved,
     * and no job starts. */
    part pt = {"planted.txt", "Plant\n\nThe warranty period is 99 years.\n", 40, NULL};
    resp r = request("/api/ingest", &(req_opts){.mime = one_part, .mime_ctx = &pt,
                                                .header = foreign[0]});
    cr_expect_eq(r.status, 403, "%s", r.body.data);
    resp_free(&r);
    r = get("/api/jobs");
    cr_expect_eq(cJSON_GetArraySize(at(r.json, "jobs")), 0, "%s", r.body.data);
    resp_free(&r);
    r = request("/v1/chat/completions",
                &(req_opts){.body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                            .header = foreign[0]});
    cr_expect_eq(r.status, 403);
    resp_free(&r);
    /* The page itself (same origin, http or https behind a proxy) and
     * clients that send no Origin go on working; reads are left to the
     * browser's same-origin rule. */
    r = request("/api/ask", &(req_opts){.body = ask, .header = own});
    cr_expect_eq(r.status, 200, "%s", r.body.data);
    resp_free(&r);
    char own_tls[128];
    snprintf(own_tls, sizeof own_tls, "Origin: HTTPS://127.0.0.1:%d", serve_port(srv));
    r = request("/api/ask", &(req_opts){.body = ask, .header = own_tls});
    cr_expect_eq(r.status, 200, "%s", r.body.data);
    resp_free(&r);
    r = post("/api/ask", ask);
    cr_expect_eq(r.status, 200);
    resp_free(&r);
    cr_expect_eq(status_with("/api/documents", foreign[0]), 200);
}

/* A cross-site form can send text/plain or a form type without a
 * preflight, never application/json. */
Test(serve, json_bodies_need_the_json_type)
{
    start_default();
    const char *ask = "{\"question\": \"How long is the warranty period?\"}";
    const char *bad[] = {"text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", "application/jsonx"};
    const char *paths[] = {"/api/ask", "/api/search", "/v1/chat/completions"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        for (size_t j = 0; j < sizeof paths / sizeof *paths; j++) {
            resp r = request(paths[j], &(req_opts){.body = ask, .content_type = bad[i]});
            cr_expect_eq(r.status, 415, "%s %s: %s", paths[j], bad[i], r.body.data);
            resp_free(&r);
        }
    resp r = request("/api/ask", &(req_opts){.body = ask,
                                             .content_type = "Application/JSON; charset=utf-8"});
    cr_expect_eq(r.status, 200, "%s", r.body.data);
    resp_free(&r);
}

/* ---- exhaustion --------------------------------------------------------- */

/* 200 connections that never send a byte, from one address (127.0.0.2,
 * loopback too): the server keeps at most max_per_client (32 here) of them, so
 * /health and the API still answer other clients at once, and it closes the
 * idle ones after idle_timeout_s. */
Test(serve, idle_connections_do_not_starve_others)
{
    serve_params p = params();
    p.idle_timeout_s = 2;
    p.max_per_client = 32;
    start(&p);
    enum { N = 200 };
    int fds[N];
    struct sockaddr_in from = {.sin_family = AF_INET};
    from.sin_addr.s_addr = htonl(0x7f000002);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)serve_port(srv))};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert_geq(fds[i], 0);
        cr_assert_eq(bind(fds[i], (struct sockaddr *)&from, sizeof from), 0);
        cr_assert_eq(connect(fds[i], (struct sockaddr *)&to, sizeof to), 0);
    }
    usleep(200 * 1000); /* the server has accepted (or closed) them */
    for (int i = 0; i < 5; i++) {
        double t0 = dq_now();
        resp r = get("/health");
        cr_expect_eq(r.status, 200);
        cr_expect_lt(dq_now() - t0, 1.0, "/health took %.2f s", dq_now() - t0);
        resp_free(&r);
        r = get("/api/documents");
        cr_expect_eq(r.status, 200);
        resp_free(&r);
    }
    /* every one of them is closed by the server: at once past the limit,
     * after the idle timeout within it (the test's timeout bounds this) */
    for (int i = 0; i < N; i++) {
        char c;
        struct timeval tv = {10, 0};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        cr_expect_leq(read(fds[i], &c, 1), 0, "connection %d is still open", i);
        close(fds[i]);
    }
}

typedef struct {
    store_pool *pool;
    int order;           /* when it got its connection: 1, 2, ... */
    int *next_order;
    pthread_mutex_t *lock;
} pool_borrower;

static void *borrow(void *arg)
{
    pool_borrower *b = arg;
    store *st = store_pool_acquire(b->pool);
    cr_assert(st, "%s", dq_last_error());
    pthread_mutex_lock(b->lock);
    b->order = ++*b->next_order;
    pthread_mutex_unlock(b->lock);
    store_pool_release(b->pool, st);
    return NULL;
}

/* The pool lends at most max_lent connections: the next requests wait, and
 * get theirs in the order they asked, as connections come back. */
Test(serve, store_connections_are_lent_in_turn)
{
    store_pool pool;
    store_pool_init(&pool, store_path, 2);
    store *a = store_pool_acquire(&pool), *b = store_pool_acquire(&pool);
    cr_assert(a && b, "%s", dq_last_error());
    enum { N = 3 };
    pool_borrower w[N];
    pthread_t t[N];
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    int next_order = 0;
    for (int i = 0; i < N; i++) {
        w[i] = (pool_borrower){.pool = &pool, .next_order = &next_order, .lock = &lock};
        cr_assert_eq(pthread_create(&t[i], NULL, borrow, &w[i]), 0);
        usleep(100 * 1000); /* they queue in this order */
    }
    pthread_mutex_lock(&lock);
    cr_expect_eq(next_order, 0, "a third connection was lent while two were out");
    pthread_mutex_unlock(&lock);
    store_pool_release(&pool, a);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++)
        cr_expect_eq(w[i].order, i + 1, "waiter %d was served %d", i, w[i].order);
    store_pool_release(&pool, b);
    store_pool_free(&pool);
}

/* A connection to the server from loopback address 127.0.0.<host>. */
static int connect_from(int host)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    struct sockaddr_in from = {.sin_family = AF_INET};
    from.sin_addr.s_addr = htonl(0x7f000000u | (unsigned)host);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)serve_port(srv))};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof from), 0, "bind: %s", strerror(errno));
    cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

/* True when the server has closed fd (EOF or reset), waiting up to wait_s. */
static bool closed_by_server(int fd, double wait_s)
{
    struct timeval tv = {(time_t)wait_s, (suseconds_t)((wait_s - (time_t)wait_s) * 1e6)};
    if (wait_s <= 0)
        tv.tv_usec = 1000;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* The open-file limit raised so the test can hold n more sockets. */
static void need_descriptors(rlim_t n)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < n + 256) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > n + 256 ? n + 256 : rl.rlim_max;
        cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit: %s", strerror(errno));
    }
    if (rl.rlim_cur < n + 64) /* a hard limit set below what the test holds */
        cr_skip_test("the open-file limit (%llu) is below the %llu this test holds",
                     (unsigned long long)rl.rlim_cur, (unsigned long long)n);
}

/* 1,000 connections that never send a byte, 25 from each of 40 loopback
 * addresses, as a botnet would hold them: /health and the API still answer
 * at once, because the server holds that many (the limit is an fd budget,
 * not 128) and /health never waits for a pooled store connection. */
Test(serve, health_answers_under_a_thousand_idle_connections)
{
    enum { N = 1000, PER_ADDR = 25 };
    need_descriptors(2 * N);
    start_default();
    int *fds = dq_calloc(N, sizeof *fds);
    for (int i = 0; i < N; i++)
        fds[i] = connect_from(10 + i / PER_ADDR);
    usleep(300 * 1000);
    for (int i = 0; i < 5; i++) {
        double t0 = dq_now();
        resp r = get("/health");
        cr_expect_eq(r.status, 200, "%s", r.body.data);
        cr_expect_lt(dq_now() - t0, 1.0, "/health took %.2f s", dq_now() - t0);
        resp_free(&r);
        r = get("/api/search?q=warranty");
        cr_expect_eq(r.status, 200, "%s", r.body.data);
        resp_free(&r);
    }
    int open = 0;
    for (int i = 0; i < N; i++)
        open += !closed_by_server(fds[i], 0);
    cr_expect_eq(open, N, "the server dropped %d idle connections it had room for", N - open);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    free(fds);
}

/* Past max_connections a new connection closes the oldest idle one: 300
 * idle connections against a limit of 100 leave the newest 100 open, and a
 * client arriving after them is served at once. */
Test(serve, a_full_server_closes_its_oldest_idle_connections)
{
    enum { N = 300, LIMIT = 100 };
    need_descriptors(2 * N);
    serve_params p = params();
    p.max_connections = LIMIT;
    start(&p);
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = connect_from(10 + i / 20);
        usleep(1000); /* accepted in this order */
    }
    usleep(300 * 1000);
    resp r = get("/health");
    cr_expect_eq(r.status, 200, "%s", r.body.data);
    resp_free(&r);
    int oldest_closed = 0, newest_open = 0;
    for (int i = 0; i < N - LIMIT; i++)
        oldest_closed += closed_by_server(fds[i], 0.5);
    for (int i = N - LIMIT + 5; i < N; i++) /* a few: /health's own connection took a place */
        newest_open += !closed_by_server(fds[i], 0);
    cr_expect_eq(oldest_closed, N - LIMIT, "%d of the oldest %d are still open",
                 N - LIMIT - oldest_closed, N - LIMIT);
    cr_expect_eq(newest_open, LIMIT - 5, "%d of the newest were closed", LIMIT - 5 - newest_open);
    for (int i = 0; i < N; i++)
        close(fds[i]);
}

/* Sends text one byte every gap_s until the server closes the connection or
 * the text ends; the seconds it took the server to cut it off (-1: never). */
static double drip(int fd, const char *text, double gap_s)
{
    double t0 = dq_now();
    for (const char *c = text; *c; c++) {
        if (send(fd, c, 1, MSG_NOSIGNAL) != 1)
            return dq_now() - t0;
        if (closed_by_server(fd, gap_s))
            return dq_now() - t0;
    }
    return -1;
}

/* The idle timeout counts silence only: a client that sends its headers, or
 * its body, a byte at a time never goes silent. The whole request must
 * arrive within request_timeout_s, so it is cut off (here after 1 s) while
 * the idle timeout (30 s) would never fire, and others are served meanwhile. */
Test(serve, a_drip_fed_request_is_cut_off)
{
    serve_params p = params();
    p.request_timeout_s = 1;
    start(&p);
    const char *slow_headers = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    int fd = connect_from(1);
    const char *headers = strchr(slow_headers, '\n') + 1; /* the request line at once */
    cr_assert_eq(send(fd, slow_headers, (size_t)(headers - slow_headers), MSG_NOSIGNAL),
                 headers - slow_headers);
    double cut = drip(fd, headers, 0.1);
    close(fd);
    cr_expect(cut > 0.8 && cut < 3.0, "headers dripped: cut after %.2f s (-1: never)", cut);

    char slow_body[512];
    snprintf(slow_body, sizeof slow_body,
             "POST /api/search HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
             "Content-Length: 60\r\n\r\n{\"query\": \"warranty period                                \"}",
             serve_port(srv));
    fd = connect_from(1);
    const char *body = strstr(slow_body, "\r\n\r\n") + 4;
    cr_assert_eq(send(fd, slow_body, (size_t)(body - slow_body), MSG_NOSIGNAL),
                 body - slow_body);
    cut = drip(fd, body, 0.1);
    close(fd);
    cr_expect(cut > 0.5 && cut < 3.0, "body dripped: cut after %.2f s (-1: never)", cut);

    /* a request refused before its body (a foreign Origin) is not waited
     * for either: the connection closes after the refusal */
    snprintf(slow_body, sizeof slow_body,
             "POST /api/search HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://evil.example\r\n"
             "Content-Type: application/json\r\nContent-Length: 60\r\n\r\n"
             "{\"query\": \"warranty period                                \"}",
             serve_port(srv));
    fd = connect_from(1);
    body = strstr(slow_body, "\r\n\r\n") + 4;
    cr_assert_eq(send(fd, slow_body, (size_t)(body - slow_body), MSG_NOSIGNAL),
                 body - slow_body);
    cut = -1;
    double t0 = dq_now();
    for (const char *c = body; *c && cut < 0; c++) { /* the reply is not read */
        if (send(fd, c, 1, MSG_NOSIGNAL) != 1)
            cut = dq_now() - t0;
        usleep(100 * 1000);
    }
    close(fd);
    cr_expect(cut >= 0 && cut < 3.0, "refused, body dripped: cut after %.2f s (-1: never)",
              cut);

    /* a request sent at once on a connection that was idle for a while is not cut */
    fd = connect_from(1);
    usleep(1500 * 1000);
    char line[256];
    int n = snprintf(line, sizeof line, "GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n",
                     serve_port(srv));
    cr_assert_eq(send(fd, line, (size_t)n, MSG_NOSIGNAL), n);
    char reply[64] = {0};
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    cr_expect_gt(recv(fd, reply, sizeof reply - 1, 0), 0);
    cr_expect(!strncmp(reply, "HTTP/1.1 200", 12), "%s", reply);
    close(fd);
}

/* Polls a job until it is no longer running (the test's timeout bounds it). */
static cJSON *wait_job(int id)
{
    char path[64];
    snprintf(path, sizeof path, "/api/jobs/%d", id);
    for (;;) {
        resp r = get(path);
        cr_assert_eq(r.status, 200, "%s", r.body.data);
        if (strcmp(str_at(r.json, "state"), "running") != 0) {
            cJSON *j = r.json;
            r.json = NULL;
            resp_free(&r);
            return j;
        }
        resp_free(&r);
        usleep(50 * 1000);
    }
}

Test(serve, upload_is_ingested_in_the_background)
{
    start_default();
    const char *text = "Opening hours\n\nThe reading room opens at nine and closes at eight.\n";
    resp r = upload("../../hours.txt", text, strlen(text));
    cr_assert_eq(r.status, 202, "%s", r.body.data);
    int id = (int)num_at(r.json, "job");
    cr_expect_str_eq(cJSON_GetArrayItem(at(r.json, "files"), 0)->valuestring, "hours.txt",
                     "the name is cut to its last component");
    resp_free(&r);
    cJSON *job = wait_job(id);
    cr_expect_str_eq(str_at(job, "state"), "done");
    cr_expect_eq(num_at(job, "files_done"), 1);
    cr_expect_eq(num_at(job, "files_failed"), 0);
    const cJSON *f = cJSON_GetArrayItem(at(job, "files"), 0);
    cr_expect_str_eq(str_at(f, "status"), "ok");
    cr_expect_str_eq(str_at(f, "path"), ".docqa/uploads/hours.txt");
    cJSON_Delete(job);
    char saved[512];
    snprintf(saved, sizeof saved, "%s/uploads/hours.txt", store_path);
    cr_expect_eq(access(saved, F_OK), 0);

    r = get("/api/search?q=reading%20room");
    cr_assert_eq(r.status, 200);
    cr_expect_str_eq(str_at(cJSON_GetArrayItem(at(r.json, "results"), 0), "path"),
                     ".docqa/uploads/hours.txt");
    resp_free(&r);

    /* the same name again is kept beside the first, not over it */
    r = upload("hours.txt", "Other\n\nA different text about lamps.\n", 35);
    cr_assert_eq(r.status, 202);
    cJSON_Delete(wait_job((int)num_at(r.json, "job")));
    resp_free(&r);
    snprintf(saved, sizeof saved, "%s/uploads/hours (2).txt", store_path);
    cr_expect_eq(access(saved, F_OK), 0);

    /* a broken file: the job finishes, the file is failed with its reason */
    r = upload("broken.pdf", "%PDF-1.7 garbage", 16);
    cr_assert_eq(r.status, 202);
    job = wait_job((int)num_at(r.json, "job"));
    resp_free(&r);
    f = cJSON_GetArrayItem(at(job, "files"), 0);
    cr_expect_str_eq(str_at(f, "status"), "failed");
    cr_expect(strlen(str_at(f, "error")) > 0);
    cJSON_Delete(job);
    r = get("/api/documents");
    const cJSON *d = find_doc(at(r.json, "documents"), ".docqa/uploads/broken.pdf");
    cr_expect_str_eq(str_at(d, "status"), "failed");
    cr_expect(cJSON_IsString(at(d, "error")));
    resp_free(&r);

    r = get("/api/jobs");
    cr_expect_eq(cJSON_GetArraySize(at(r.json, "jobs")), 3);
    resp_free(&r);
    r = get("/api/jobs/99");
    cr_expect_eq(r.status, 404);
    resp_free(&r);
}

Test(serve, upload_refusals)
{
    serve_params p = params();
    p.max_upload_bytes = 4096;
    start(&p);
    resp r = upload("tool.exe", "MZ", 2);
    cr_expect_eq(r.status, 415);
    cr_expect(strstr(error_message(&r), "'tool.exe' is not a file type"));
    resp_free(&r);
    char *big = dq_malloc(10000);
    memset(big, 'a', 10000);
    r = upload("big.txt", big, 10000);
    cr_expect_eq(r.status, 413);
    resp_free(&r);
    free(big);
    r = request("/api/ingest", &(req_opts){.body = "{}"});
    cr_expect_eq(r.status, 415);
    resp_free(&r);
    part field = {NULL, "hello", 5, "comment"};
    r = request("/api/ingest", &(req_opts){.mime = one_part, .mime_ctx = &field});
    cr_expect_eq(r.status, 400);
    cr_expect(strstr(error_message(&r), "no file in the upload"));
    resp_free(&r);
    /* nothing refused was kept */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/uploads", store_path);
    int entries = 0;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A1 '%s' | wc -l", dir);
    FILE *ls = popen(cmd, "r");
    cr_assert(ls);
    cr_assert_eq(fscanf(ls, "%d", &entries), 1);
    pclose(ls);
    cr_expect_eq(entries, 0);
}

/* A docqa stand-in that waits for a line on a FIFO before running the real
 * ingest, so a test holds a job running for as long as it needs. */
static void gated_bin(char *bin, size_t n, char *fifo, size_t m)
{
    snprintf(fifo, m, "%s/gate", workdir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    snprintf(bin, n, "%s/gated-docqa", workdir);
    FILE *f = fopen(bin, "w");
    cr_assert(f);
    fprintf(f, "#!/bin/sh\nread line < '%s'\nexec '%s' \"$@\"\n", fifo, docqa_bin());
    fclose(f);
    chmod(bin, 0700);
}

static void open_gate(const char *fifo)
{
    int fd = open(fifo, O_WRONLY);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "go\n", 3), 3);
    close(fd);
}

Test(serve, concurrent_jobs_are_limited)
{
    char bin[512], fifo[512];
    gated_bin(bin, sizeof bin, fifo, sizeof fifo);
    serve_params p = params();
    p.docqa_bin = bin;
    p.max_jobs = 1;
    start(&p);
    resp r = upload("a.txt", "Alpha\n\nAlpha text about owls.\n", 29);
    cr_assert_eq(r.status, 202);
    int id = (int)num_at(r.json, "job");
    resp_free(&r);
    r = get("/api/jobs/1");
    cr_expect_str_eq(str_at(r.json, "state"), "running");
    cr_expect_str_eq(str_at(cJSON_GetArrayItem(at(r.json, "files"), 0), "status"), "pending");
    cr_expect_eq(num_at(r.json, "files_done"), 0);
    resp_free(&r);
    r = upload("b.txt", "Beta\n\nBeta text about foxes.\n", 28);
    cr_expect_eq(r.status, 429);
    cr_expect(strstr(error_message(&r), "1 ingest jobs are running"), "%s", error_message(&r));
    resp_free(&r);
    open_gate(fifo);
    cJSON *job = wait_job(id);
    cr_expect_str_eq(str_at(job, "state"), "done");
    cJSON_Delete(job);
    r = upload("b.txt", "Beta\n\nBeta text about foxes.\n", 28);
    cr_expect_eq(r.status, 202, "a slot is free again");
    resp_free(&r);
    open_gate(fifo);
}

/* Starts the server with a fake docqa (a shell script of body) for its
 * ingest jobs, uploads one file and returns the job's final state. */
static cJSON *job_run_by(const char *script_name, const char *body, int *id)
{
    char bin[512];
    snprintf(bin, sizeof bin, "%s/%s", workdir, script_name);
    FILE *f = fopen(bin, "w");
    cr_assert(f);
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    chmod(bin, 0700);
    serve_params p = params();
    p.docqa_bin = bin;
    start(&p);
    resp r = upload("a.txt", "Alpha\n\nAlpha text about owls.\n", 29);
    cr_assert_eq(r.status, 202);
    *id = (int)num_at(r.json, "job");
    resp_free(&r);
    return wait_job(*id);
}

Test(serve, a_crashed_job_names_the_signal_and_the_file)
{
    int id;
    cJSON *job = job_run_by("crashing-docqa", "kill -SEGV $$\n", &id);
    cr_expect_str_eq(str_at(job, "state"), "failed");
    cr_expect_eq(num_at(job, "exit_code"), 128 + SIGSEGV);
    cr_expect(strstr(str_at(job, "message"),
                     "docqa ingest was killed by SEGV (signal 11) while reading 'a.txt'"),
              "%s", str_at(job, "message"));
    cJSON_Delete(job);
}

/* A job's message is what docqa ingest wrote; a client sees it without the
 * server's folders or URL secrets. */
Test(serve, job_replies_hold_no_server_path_or_secret)
{
    char models[512], script[1024];
    snprintf(models, sizeof models, "%s/models", workdir);
    cr_assert_eq(mkdir(models, 0700), 0);
    snprintf(script, sizeof script, "echo \"docqa: $*: cannot reach http://ann:pw123@embed.example/v1"
             "?key=k456 (model %s/bert)\" >&2\nexit 1\n", models);
    int id;
    cJSON *job = job_run_by("failing-docqa", script, &id);
    const char *msg = str_at(job, "message");
    cr_expect_str_eq(str_at(job, "state"), "failed");
    cr_expect(strstr(msg, "cannot reach http://***@embed.example/v1?key=***"), "%s", msg);
    cr_expect(strstr(msg, "(model models/bert)"), "%s", msg); /* under the store's root */
    cr_expect(!strstr(msg, workdir), "%s", msg);
    cJSON_Delete(job);
    char url[64];
    snprintf(url, sizeof url, "/api/jobs/%d", id);
    resp r = get(url);
    cr_expect(!strstr(r.body.data, workdir) && !strstr(r.body.data, "pw123"), "%s", r.body.data);
    resp_free(&r);
}

typedef struct {
    int ok, wrong;
} reader_result;

static void *reader_main(void *p)
{
    reader_result *res = p;
    for (int i = 0; i < 25; i++) {
        resp r = get("/api/search?q=warranty%20period&k=1");
        const cJSON *hit = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "results"), 0);
        const cJSON *path = cJSON_GetObjectItem(hit, "path");
        if (r.status == 200 && cJSON_IsString(path) && !strcmp(path->valuestring, "manual.pdf"))
            res->ok++;
        else if (res->wrong++ == 0)
            fprintf(stderr, "search: %ld %s\n", r.status, r.body.data);
        resp_free(&r);
        r = post("/api/ask", "{\"question\": \"How long is the warranty period?\"}");
        const cJSON *ans = cJSON_GetObjectItem(r.json, "answer");
        if (r.status == 200 && cJSON_IsString(ans) && !strcmp(ans->valuestring, warranty_answer))
            res->ok++;
        else if (res->wrong++ == 0)
            fprintf(stderr, "ask: %ld %s\n", r.status, r.body.data);
        resp_free(&r);
    }
    return NULL;
}

Test(serve, readers_are_served_while_an_ingest_writes)
{
    /* A 40-page upload, held at the gate until the readers run, so its
     * writes overlap their reads. */
    char bin[512], fifo[512];
    gated_bin(bin, sizeof bin, fifo, sizeof fifo);
    serve_params p = params();
    p.docqa_bin = bin;
    start(&p);
    char pdf[512];
    snprintf(pdf, sizeof pdf, "%s/big-src.pdf", workdir);
    const char *pages[40];
    char texts[40][256];
    for (int i = 0; i < 40; i++) {
        /* Pages must differ, or cleanup takes their lines for running headers. */
        static const char *sky[] = {"comets", "meteors", "auroras", "planets", "clouds"};
        static const char *dir[] = {"northern", "eastern", "southern", "western"};
        static const char *who[] = {"Ada", "Boris", "Chen", "Dana", "Emil", "Fern", "Gus"};
        snprintf(texts[i], sizeof texts[i],
                 "# Chapter %d\nOn this night %s saw %s over the %s ridge from the observatory.",
                 i + 1, who[i % 7], sky[i % 5], dir[i % 4]);
        pages[i] = texts[i];
    }
    cr_assert_eq(pdfgen_write_simple(pdf, pages, 40), 0);
    dq_buf data = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(pdf, &data), 0);
    resp r = upload("observatory.pdf", data.data, data.len);
    dq_buf_free(&data);
    cr_assert_eq(r.status, 202);
    int id = (int)num_at(r.json, "job");
    resp_free(&r);

    pthread_t th[4];
    reader_result res[4] = {{0}};
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, reader_main, &res[i]);
    open_gate(fifo);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cJSON *job = wait_job(id);
    cr_expect_str_eq(str_at(job, "state"), "done");
    cJSON_Delete(job);
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(res[i].wrong, 0);
        cr_expect_eq(res[i].ok, 50);
    }
    r = get("/api/search?q=observatory%20comets&k=1");
    cr_expect_str_eq(str_at(cJSON_GetArrayItem(at(r.json, "results"), 0), "path"),
                     ".docqa/uploads/observatory.pdf");
    resp_free(&r);
}

/* ---- shutdown ------------------------------------------------------------ */

static void *stop_main(void *p)
{
    serve_stop(p);
    return NULL;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        cr_assert_gt(w, 0);
        s += w;
        n -= (size_t)w;
    }
}

Test(serve, stop_finishes_requests_in_flight)
{
    start_default();
    /* A raw socket, so the test decides when each byte goes out. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)serve_port(srv))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char *body = "{\"question\": \"How long is the warranty period?\"}";
    char head[256];
    snprintf(head, sizeof head,
             "POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: "
             "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
             serve_port(srv), strlen(body));
    send_all(fd, head, strlen(head));
    send_all(fd, body, 10);
    /* Ordering only (no timing is asserted): the server has the headers
     * before the stop begins. */
    usleep(300 * 1000);
    pthread_t stopper;
    pthread_create(&stopper, NULL, stop_main, srv);
    srv = NULL;
    usleep(300 * 1000);
    send_all(fd, body + 10, strlen(body) - 10);
    dq_buf in = DQ_BUF_INIT;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        dq_buf_append(&in, buf, (size_t)n);
    close(fd);
    pthread_join(stopper, NULL);
    cr_assert(in.data, "no response");
    cr_expect(!strncmp(in.data, "HTTP/1.1 200", 12), "%s", in.data);
    cr_expect(strstr(in.data, "24 months"), "the request in flight was answered");
    dq_buf_free(&in);
    /* and the port is closed now */
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, base);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    dq_buf sink = DQ_BUF_INIT;
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    cr_expect_eq(curl_easy_perform(c), CURLE_COULDNT_CONNECT);
    curl_easy_cleanup(c);
    dq_buf_free(&sink);
}

Test(serve, command_serves_until_sigterm_and_logs_without_secrets)
{
    char err_path[512];
    snprintf(err_path, sizeof err_path, "%s/serve.err", workdir);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(e, 2);
        setenv("DOCQA_TOKEN", "tok-very-secret", 1);
        setenv("HOME", workdir, 1); /* no user config: extractive answers */
        unsetenv("XDG_CONFIG_HOME");
        unsetenv("DOCQA_LLM_URL");
        execl(docqa_bin(), "docqa", "--store", store_path, "serve", "--port", "0", (char *)NULL);
        _exit(98);
    }
    /* The first line names the port. */
    int port = 0;
    for (int tries = 0; tries < 600 && !port; tries++) {
        dq_buf b = DQ_BUF_INIT;
        dq_read_file(err_path, &b);
        const char *p = b.data ? strstr(b.data, "http://127.0.0.1:") : NULL;
        if (p)
            port = atoi(p + strlen("http://127.0.0.1:"));
        dq_buf_free(&b);
        if (!port)
            usleep(50 * 1000);
    }
    cr_assert_gt(port, 0, "serve printed no address");
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    resp r = request("/api/search?q=warranty", &(req_opts){.token = "tok-very-secret"});
    cr_expect_eq(r.status, 200);
    resp_free(&r);
    r = get("/api/search?q=private%20question");
    cr_expect_eq(r.status, 401);
    resp_free(&r);
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    dq_buf log = DQ_BUF_INIT;
    dq_read_file(err_path, &log);
    cr_expect(strstr(log.data, "(token required)"), "%s", log.data);
    cr_expect(strstr(log.data, "GET /api/search 200"), "%s", log.data);
    cr_expect(strstr(log.data, "GET /api/search 401"), "%s", log.data);
    cr_expect(strstr(log.data, "SIGTERM"), "%s", log.data);
    cr_expect(!strstr(log.data, "tok-very-secret"), "the token is not logged");
    cr_expect(!strstr(log.data, "private"), "query strings are not logged");
    dq_buf_free(&log);
}

/* ---- an in-process model ------------------------------------------------- */

static int asks_done; /* under asks_lock */
static pthread_mutex_t asks_lock = PTHREAD_MUTEX_INITIALIZER;

static void *ask_in_thread(void *arg)
{
    resp *r = arg;
    *r = post("/api/ask", "{\"question\": \"How long is the warranty period?\"}");
    pthread_mutex_lock(&asks_lock);
    asks_done++;
    pthread_mutex_unlock(&asks_lock);
    return NULL;
}

static int asks_finished(void)
{
    pthread_mutex_lock(&asks_lock);
    int n = asks_done;
    pthread_mutex_unlock(&asks_lock);
    return n;
}

/* An answer holds its store connection only while it retrieves: with one
 * connection in all, a search is served while a slow LLM (4 s) still writes
 * the answer. */
Test(serve, a_search_does_not_wait_behind_an_answer_being_written)
{
    httpd *h = use_slow_llm();
    serve_params p = params();
    p.max_readers = 1;
    p.search_cache = 0;
    start(&p);
    resp answer;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, ask_in_thread, &answer), 0);
    usleep(800 * 1000); /* retrieved; the answer streams for seconds more */
    resp r = get("/api/search?q=warranty");
    bool ask_running = asks_finished() == 0;
    cr_expect_eq(r.status, 200, "%s", r.body.data);
    cr_expect(ask_running, "the search waited until the answer was written");
    resp_free(&r);
    pthread_join(th, NULL);
    cr_expect_eq(answer.status, 200, "%s", answer.body.data);
    resp_free(&answer);
    serve_stop(srv);
    srv = NULL;
    httpd_stop(h);
}

/* serve loads the model once; concurrent questions queue on it, and /health
 * says which request runs and which wait, by the numbers a streamed answer
 * is told. */
Test(serve, in_process_model_is_shared_and_queues)
{
    const char *m = lmgen_chat_model();
    cr_assert_not_null(m);
    use_session_model(m);
    serve_params p = params();
    start(&p);
    resp rs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, ask_in_thread, &rs[i]);
    int most_queued = 0;
    bool saw_running = false;
    while (asks_finished() < 4) { /* watch /health while they run */
        resp h = get("/health");
        cr_assert_eq(h.status, 200);
        const cJSON *l = at(h.json, "llm");
        cr_expect_str_eq(str_at(l, "backend"), "in-process");
        int q = (int)num_at(l, "queued");
        most_queued = q > most_queued ? q : most_queued;
        saw_running |= cJSON_IsTrue(at(l, "running"));
        /* the waiting requests by number, in the order they will run */
        const cJSON *ids = at(l, "queue");
        cr_expect_eq(cJSON_GetArraySize(ids), q);
        double first = cJSON_IsTrue(at(l, "running")) ? num_at(l, "request") + 1 : 0;
        for (int i = 0; i < cJSON_GetArraySize(ids) && first > 0; i++)
            cr_expect_eq(cJSON_GetArrayItem(ids, i)->valuedouble, first + i, "%s", h.body.data);
        resp_free(&h);
        usleep(1000);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(rs[i].status, 200, "%s", rs[i].body.data);
        cr_expect_str_eq(str_at(rs[i].json, "mode"), "llm", "%s", rs[i].body.data);
        resp_free(&rs[i]);
    }
    cr_expect(saw_running);
    cr_expect_gt(most_queued, 0);
    resp h = get("/health");
    cr_expect_eq(num_at(at(h.json, "llm"), "queued"), 0);
    cr_expect_eq(cJSON_GetArraySize(at(at(h.json, "llm"), "queue")), 0);
    resp_free(&h);
    /* a streamed answer says first where it stands: the fifth request,
     * nothing ahead of it now */
    resp st = post("/api/ask", "{\"question\": \"warranty?\", \"stream\": true}");
    cr_expect_eq(st.status, 200);
    cr_expect(strstr(st.body.data, "data: {\"type\":\"queued\",\"request\":5,\"ahead\":0}"),
              "%s", st.body.data);
    resp_free(&st);
    /* the OpenAI stream says it as a comment, which its clients skip */
    st = post("/v1/chat/completions",
              "{\"messages\": [{\"role\": \"user\", \"content\": \"warranty?\"}], \"stream\": true}");
    cr_expect_eq(st.status, 200);
    cr_expect(strstr(st.body.data, ": queued request 6, 0 ahead\n\n"), "%s", st.body.data);
    resp_free(&st);
}
