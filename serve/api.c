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

enum MHD_Result api_health(serve_request *rq)
{
    store *st = store_pool_acquire(&rq->srv->stores);
    if (!st)
        return serve_reply_error(rq, 503, "store unavailable: %s", dq_last_error());
    store_stats s;
    int rc = store_get_stats(st, &s);
    store_pool_release(&rq->srv->stores, st);
    if (rc < 0)
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
    store *st = store_pool_acquire(&rq->srv->stores);
    if (!st) {
        cJSON_Delete(body);
        return serve_reply_error(rq, 503, "store unavailable: %s", dq_last_error());
    }
    retrieve_result res = {0};
    if (rag_session_search(rq->srv->p.session, st, q, &rp, &res) < 0) {
        store_pool_release(&rq->srv->stores, st);
        ret = serve_reply_error(rq, 500, "search failed: %s", dq_last_error());
        cJSON_Delete(body);
        return ret;
    }
    store_pool_release(&rq->srv->stores, st);
    cJSON *o = rag_search_json(q, &rp, &res);
    retrieve_result_free(&res);
    cJSON_Delete(body);
    return serve_reply_json(rq, 200, o);
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

static cJSON *answer_json(serve_server *srv, const serve_ask *ask, const rag_reply *r)
{
    return rag_reply_json(ask->question, r, srv->p.session->llm_params.model);
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

static void error_event(serve_stream *s, const char *msg)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", "error");
    cJSON_AddStringToObject(ev, "message", msg);
    stream_write_event(s, ev);
}

static void ask_produce(serve_stream *s, void *arg)
{
    ask_call *c = arg;
    store *st = store_pool_acquire(&c->srv->stores);
    if (!st) {
        error_event(s, dq_last_error());
        return;
    }
    rag_reply a;
    int rc = serve_answer_run(c->srv, st, &c->ask, delta_event, queued_event, s, &a);
    store_pool_release(&c->srv->stores, st);
    if (rc == 0) {
        cJSON *ev = answer_json(c->srv, &c->ask, &a);
        cJSON_AddStringToObject(ev, "type", "done");
        stream_write_event(s, ev);
    } else if (rc != RAG_ERR_STOPPED) { /* stopped: the client went away */
        error_event(s, dq_last_error());
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
