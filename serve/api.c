/* api.c - docqa's own JSON API: /health, /api/search, /api/ask, /api/jobs.
 *
 * /api/ask streams as Server-Sent Events when asked ("stream": true): one
 * {"type":"delta","text":...} event per piece of answer, then
 * {"type":"done", ...} with the whole answer and its sources (or
 * {"type":"error","message":...}). The web page reads this with fetch().
 */
#include "serve/handlers.h"

#include <stdlib.h>
#include <string.h>

#include "serve/answer.h"
#include "serve/context.h"
#include "serve/jobs.h"
#include "serve/stream.h"

/* The counts a second old at most, from /health's own connection: under
 * load, /health answers without waiting for a pooled connection and a
 * poller costs one count query a second, not one per request. */
static int health_stats(serve_server *srv, store_stats *out)
{
    int rc = 0;
    pthread_mutex_lock(&srv->own_lock);
    double now = dq_now();
    if (now - srv->health_at >= 1.0) {
        if ((rc = store_get_stats(srv->own_store, &srv->health_stats)) == 0)
            srv->health_at = now;
    }
    *out = srv->health_stats;
    pthread_mutex_unlock(&srv->own_lock);
    return rc;
}

/* The store's data version from the server's own connection. */
static int store_version(serve_server *srv, int64_t *out)
{
    pthread_mutex_lock(&srv->own_lock);
    int rc = store_data_version(srv->own_store, out);
    pthread_mutex_unlock(&srv->own_lock);
    return rc;
}

enum MHD_Result api_health(serve_request *rq)
{
    store_stats s;
    if (health_stats(rq->srv, &s) < 0)
        return serve_reply_error(rq, 503, "store unavailable: %s", dq_last_error());
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "ok");
    cJSON_AddNumberToObject(o, "documents", (double)s.documents);
    cJSON_AddNumberToObject(o, "chunks", (double)s.chunks);
    cJSON_AddNumberToObject(o, "failed", (double)s.failed);
    if (rq->srv->shared_llm) { /* one in-process model: who runs, who waits, in order */
        llm_queue_info q;
        llm_queue_state(rq->srv->shared_llm, &q);
        cJSON *l = cJSON_AddObjectToObject(o, "llm");
        cJSON_AddStringToObject(l, "backend", "in-process");
        cJSON_AddBoolToObject(l, "running", q.running);
        if (q.running) {
            cJSON_AddNumberToObject(l, "request", (double)q.running_id);
            cJSON_AddNumberToObject(l, "running_s", q.running_s);
            cJSON_AddNumberToObject(l, "generated_tokens", q.generated);
        }
        cJSON_AddNumberToObject(l, "queued", q.queued);
        cJSON *ids = cJSON_AddArrayToObject(l, "queue");
        for (int i = 0; i < q.queued && i < 1000; i++)
            cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)(q.next_id + (unsigned long)i)));
    }
    return serve_reply_json(rq, 200, o);
}

/* top_k from a JSON number or query string; 0 when absent, -1 when bad. */
static int parse_k(const cJSON *num, const char *str)
{
    double v;
    if (num) {
        if (!cJSON_IsNumber(num))
            return -1;
        v = num->valuedouble;
    } else if (str) {
        char *end;
        v = strtod(str, &end);
        if (end == str || *end)
            return -1;
    } else {
        return 0;
    }
    return v >= 1 && v <= 100 && v == (int)v ? (int)v : -1;
}

static enum MHD_Result search_json_reply(serve_request *rq, const char *text, bool hit)
{
    struct MHD_Response *r =
        serve_response_copy(rq, "application/json; charset=utf-8", text, strlen(text));
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "X-Docqa-Cache", hit ? "hit" : "miss");
    return serve_reply_response(rq, 200, r);
}

/* The search's reply: from the cache when the same search was answered
 * since the store last changed, else run on a pooled connection. */
static enum MHD_Result search_reply(serve_request *rq, const char *q, const retrieve_params *rp)
{
    serve_server *srv = rq->srv;
    int64_t version = 0;
    bool cached = srv->cache.max_entries && store_version(srv, &version) == 0;
    char *key = NULL;
    if (cached) {
        dq_buf k = DQ_BUF_INIT;
        dq_buf_printf(&k, "%d\n%s\n%s", rp->top_k, rp->doc ? rp->doc : "", q);
        key = dq_buf_take(&k);
        size_t len;
        char *text = search_cache_get(&srv->cache, version, key, &len);
        if (text) {
            enum MHD_Result ret = search_json_reply(rq, text, true);
            free(text);
            free(key);
            return ret;
        }
    }
    store *st = store_pool_acquire(&srv->stores);
    if (st && serve_client_gone(rq)) {
        /* It gave up while waiting its turn: under overload, running its
         * search would only make those behind it wait longer. */
        store_pool_release(&srv->stores, st);
        if (cached)
            search_cache_put(&srv->cache, version, key, NULL, 0);
        free(key);
        return MHD_NO;
    }
    retrieve_result res = {0};
    if (!st || rag_session_search(srv->p.session, st, q, rp, &res) < 0) {
        if (cached) /* those waiting for this search run it themselves */
            search_cache_put(&srv->cache, version, key, NULL, 0);
        store_pool_release(&srv->stores, st);
        free(key);
        return st ? serve_reply_error(rq, 500, "search failed: %s", dq_last_error())
                  : serve_reply_error(rq, 503, "store unavailable: %s", dq_last_error());
    }
    store_pool_release(&srv->stores, st);
    cJSON *o = rag_search_json(q, rp, &res);
    retrieve_result_free(&res);
    char *text = rag_json_print(o, false);
    cJSON_Delete(o);
    if (cached)
        search_cache_put(&srv->cache, version, key, text, strlen(text));
    enum MHD_Result ret = search_json_reply(rq, text, false);
    free(text);
    free(key);
    return ret;
}

enum MHD_Result api_search(serve_request *rq)
{
    cJSON *body = NULL;
    const char *q, *doc;
    int k;
    enum MHD_Result ret;
    if (!strcmp(rq->method, "POST")) {
        if (!(body = serve_parse_body(rq, &ret)))
            return ret;
        const cJSON *jq = cJSON_GetObjectItemCaseSensitive(body, "query");
        q = cJSON_IsString(jq) ? jq->valuestring : NULL;
        k = parse_k(cJSON_GetObjectItemCaseSensitive(body, "top_k"), NULL);
        const cJSON *jd = cJSON_GetObjectItemCaseSensitive(body, "doc");
        doc = cJSON_IsString(jd) ? jd->valuestring : NULL;
    } else {
        q = serve_arg(rq, "q");
        k = parse_k(NULL, serve_arg(rq, "k"));
        doc = serve_arg(rq, "doc");
    }
    if (!q || !*q) {
        cJSON_Delete(body);
        return serve_reply_error(rq, 400, "no query: pass ?q=... (or {\"query\": ...})");
    }
    if (k < 0) {
        cJSON_Delete(body);
        return serve_reply_error(rq, 400, "k (top_k) must be a whole number from 1 to 100");
    }
    retrieve_params rp = rq->srv->p.session->retrieve;
    rp.top_k = k ? k : 10;
    if (doc && *doc)
        rp.doc = doc; /* a GLOB over paths and file names: the search's scope */
    char *match = retrieve_build_match(q);
    if (!match) {
        ret = serve_reply_error(rq, 400, "%s", dq_last_error());
        cJSON_Delete(body);
        return ret;
    }
    free(match);
    ret = search_reply(rq, q, &rp);
    cJSON_Delete(body);
    return ret;
}

/* ---- /api/ask ------------------------------------------------------------ */

typedef struct {
    serve_server *srv;
    cJSON *body;       /* owns the strings below */
    serve_turn *history;
    size_t n_history;
    serve_ask ask;
} ask_call;

static void ask_call_free(void *p)
{
    ask_call *c = p;
    cJSON_Delete(c->body);
    free(c->history);
    free(c);
}

/* The reply's JSON, its free-text fields as serve_public_text shows them. */
static cJSON *answer_json(serve_server *srv, const serve_ask *ask, const rag_reply *r)
{
    cJSON *o = rag_reply_json(ask->question, r, srv->p.session->llm_params.model);
    static const char *const fields[] = {"model", "llm_error"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        cJSON *f = cJSON_GetObjectItemCaseSensitive(o, fields[i]);
        if (cJSON_IsString(f)) {
            char *shown = serve_public_text(srv, f->valuestring);
            cJSON_ReplaceItemInObjectCaseSensitive(o, fields[i], cJSON_CreateString(shown));
            free(shown);
        }
    }
    return o;
}

static int delta_event(void *ctx, const char *text, size_t n)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", "delta");
    char *t = dq_strndup(text, n);
    cJSON_AddStringToObject(ev, "text", t);
    free(t);
    return stream_write_event(ctx, ev);
}

/* Where the answer waits: its number in the model's queue (as /health
 * shows it) and how many requests are ahead. */
static void queued_event(void *ctx, unsigned long request, int ahead)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", "queued");
    cJSON_AddNumberToObject(ev, "request", (double)request);
    cJSON_AddNumberToObject(ev, "ahead", ahead);
    stream_write_event(ctx, ev);
}

static void error_event(serve_server *srv, serve_stream *s, const char *msg)
{
    char *shown = serve_public_text(srv, msg);
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", "error");
    cJSON_AddStringToObject(ev, "message", shown);
    free(shown);
    stream_write_event(s, ev);
}

static void ask_produce(serve_stream *s, void *arg)
{
    ask_call *c = arg;
    rag_reply a;
    int rc = serve_answer_run(c->srv, &c->ask, delta_event, queued_event, s, &a);
    if (rc == 0) {
        cJSON *ev = answer_json(c->srv, &c->ask, &a);
        cJSON_AddStringToObject(ev, "type", "done");
        stream_write_event(s, ev);
    } else if (rc != RAG_ERR_STOPPED) { /* stopped: the client went away */
        error_event(c->srv, s, dq_last_error());
    }
    rag_reply_free(&a);
}

enum MHD_Result api_ask(serve_request *rq)
{
    enum MHD_Result ret;
    cJSON *body = serve_parse_body(rq, &ret);
    if (!body)
        return ret;
    ask_call *c = dq_calloc(1, sizeof *c);
    c->srv = rq->srv;
    c->body = body;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(body, "question");
    const cJSON *hist = cJSON_GetObjectItemCaseSensitive(body, "history");
    int k = parse_k(cJSON_GetObjectItemCaseSensitive(body, "top_k"), NULL);
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(body, "stream");
    const cJSON *doc = cJSON_GetObjectItemCaseSensitive(body, "doc");
    if (!cJSON_IsString(q) || !*q->valuestring) {
        ask_call_free(c);
        return serve_reply_error(rq, 400, "'question' must be a non-empty string");
    }
    if (hist && serve_parse_turns(hist, &c->history, &c->n_history) < 0) {
        ret = serve_reply_error(rq, 400, "'history': %s", dq_last_error());
        ask_call_free(c);
        return ret;
    }
    if (k < 0) {
        ask_call_free(c);
        return serve_reply_error(rq, 400, "top_k must be a whole number from 1 to 100");
    }
    if (stream && !cJSON_IsBool(stream)) {
        ask_call_free(c);
        return serve_reply_error(rq, 400, "'stream' must be true or false");
    }
    if (doc && !cJSON_IsString(doc)) {
        ask_call_free(c);
        return serve_reply_error(rq, 400, "'doc' must be a string (a file name pattern)");
    }
    c->ask = (serve_ask){q->valuestring, c->history, c->n_history, k,
                         doc && *doc->valuestring ? doc->valuestring : NULL};

    if (cJSON_IsTrue(stream)) {
        /* Checked here so a bad question is a 400, not an event. */
        char *m = retrieve_build_match(q->valuestring);
        if (!m && !c->n_history) {
            ret = serve_reply_error(rq, 400, "%s", dq_last_error());
            ask_call_free(c);
            return ret;
        }
        free(m);
        struct MHD_Response *r = stream_start(ask_produce, c, ask_call_free, "text/event-stream");
        if (!r)
            return serve_reply_error(rq, 500, "%s", dq_last_error());
        return serve_reply_response(rq, 200, r);
    }

    rag_reply a;
    int status = serve_answer_pooled(rq->srv, &c->ask, &a);
    if (status) {
        ret = serve_reply_error(rq, status, "%s", dq_last_error());
    } else {
        ret = serve_reply_json(rq, 200, answer_json(c->srv, &c->ask, &a));
    }
    rag_reply_free(&a);
    ask_call_free(c);
    return ret;
}

enum MHD_Result api_jobs(serve_request *rq, long long job_id)
{
    store *st = store_pool_acquire(&rq->srv->stores);
    if (!st)
        return serve_reply_error(rq, 503, "store unavailable: %s", dq_last_error());
    cJSON *o;
    int found = jobs_describe(rq->srv, job_id, st, &o);
    store_pool_release(&rq->srv->stores, st);
    if (!found)
        return serve_reply_error(rq, 404, "no job %lld", job_id);
    if (job_id < 0) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddItemToObject(root, "jobs", o);
        o = root;
    }
    return serve_reply_json(rq, 200, o);
}
