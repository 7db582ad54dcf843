/* answer.c - the question-answering path /api/ask and /v1/chat/completions
 * share: retrieval over the store, then an answer whose text arrives in
 * pieces (delta callback) and whose sources come back as JSON.
 *
 * History: a follow-up question ("and the deposit?") often has too few words
 * of its own, so when it alone retrieves nothing that answers, retrieval runs
 * again on the previous user turn plus the follow-up.
 */
#include "serve/serve_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void serve_answer_free(serve_answer *a)
{
    if (!a)
        return;
    free(a->text);
    free(a->search_query);
    free(a->llm_error);
    cJSON_Delete(a->sources);
    memset(a, 0, sizeof *a);
}

int serve_parse_turns(const cJSON *arr, serve_turn **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(arr)) {
        dq_set_error("'messages' (or 'history') must be an array of {role, content}");
        return -1;
    }
    size_t count = (size_t)cJSON_GetArraySize(arr), i = 0;
    serve_turn *t = dq_calloc(count ? count : 1, sizeof *t);
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(item, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content");
        if (!cJSON_IsString(role) || !cJSON_IsString(content)) {
            dq_set_error("message %zu needs string 'role' and 'content'", i);
            free(t);
            return -1;
        }
        const char *r = role->valuestring;
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") &&
            strcmp(r, "developer")) {
            dq_set_error("message %zu has role '%s' (want system, user or assistant)", i, r);
            free(t);
            return -1;
        }
        t[i].role = r;
        t[i].content = content->valuestring;
        i++;
    }
    *out = t;
    *n = i;
    return 0;
}

cJSON *serve_hit_json(const retrieve_hit *h)
{
    const store_hit *c = &h->chunk;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "chunk_id", (double)c->chunk_id);
    cJSON_AddNumberToObject(o, "doc_id", (double)c->doc_id);
    cJSON_AddStringToObject(o, "path", c->path ? c->path : "");
    if (c->title)
        cJSON_AddStringToObject(o, "title", c->title);
    else
        cJSON_AddNullToObject(o, "title");
    cJSON_AddStringToObject(o, "section", c->section ? c->section : "");
    cJSON_AddNumberToObject(o, "page_start", c->page_start);
    cJSON_AddNumberToObject(o, "page_end", c->page_end);
    cJSON_AddStringToObject(o, "place", c->label ? c->label : "");
    cJSON_AddNumberToObject(o, "score", c->score);
    retrieve_snippet_json(o, h->snippet);
    return o;
}

static bool has_cjk(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        int len;
        uint32_t cp = utf8_at(s, n, i, &len);
        if (uc_is_cjk(cp))
            return true;
        i += (size_t)len;
    }
    return false;
}

static int retrieve_for(serve_server *srv, store *st, const char *query, int top_k,
                        retrieve_result *res)
{
    retrieve_params rp = srv->p.retrieve;
    if (top_k > 0)
        rp.top_k = top_k;
    return serve_retrieve(srv, st, query, &rp, res);
}

/* A source as JSON: the hit it came from when retrieved, with its number
 * and a one-line label. */
static cJSON *source_json(const answer_source *s, int number, const retrieve_result *res)
{
    const retrieve_hit *h = NULL;
    for (size_t k = 0; k < res->n && !h; k++)
        if (res->items[k].chunk.chunk_id == s->chunk_id)
            h = &res->items[k];
    cJSON *o = h ? serve_hit_json(h) : cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "number", number);
    if (!h) {
        cJSON_AddNumberToObject(o, "chunk_id", (double)s->chunk_id);
        cJSON_AddStringToObject(o, "path", s->path);
        cJSON_AddStringToObject(o, "section", s->section ? s->section : "");
        cJSON_AddNumberToObject(o, "page_start", s->page_start);
        cJSON_AddNumberToObject(o, "page_end", s->page_end);
        cJSON_AddStringToObject(o, "place", s->label ? s->label : "");
    }
    char *label = answer_format_source(s);
    cJSON_AddStringToObject(o, "label", label);
    free(label);
    return o;
}

typedef struct {
    serve_delta_fn delta;
    void *ctx;
    bool sent;      /* some text went to the client */
    bool stopped;   /* the client asked to stop */
} relay;

static int relay_piece(void *p, const char *piece, size_t len)
{
    relay *r = p;
    r->sent = true;
    if (r->delta && r->delta(r->ctx, piece, len))
        r->stopped = true;
    return r->stopped;
}

static int count_tokens(void *ctx, const char *text)
{
    return llm_count_tokens(ctx, text);
}

/* The LLM's answer. 0 done, 1 stopped by the client, -1 failed (error
 * set), 2 the LLM could not be reached before any text (fall back). */
static int answer_with_llm(serve_server *srv, const serve_ask *ask, const retrieve_result *res,
                           serve_delta_fn delta, void *ctx, serve_answer *out)
{
    llm_client *llm = serve_llm_acquire(srv);
    if (!llm)
        return -1;
    /* The client's own system message (Open WebUI sends one) is left out:
     * docqa's prompt sets the rules for quoting the passages. */
    llm_message *hist = dq_calloc(ask->n_history + 1, sizeof *hist);
    size_t n = 0;
    for (size_t i = 0; i < ask->n_history; i++)
        if (!strcmp(ask->history[i].role, "user") || !strcmp(ask->history[i].role, "assistant"))
            hist[n++] = (llm_message){ask->history[i].role, ask->history[i].content};
    prompt_params pp = srv->p.prompt;
    pp.answer_tokens = srv->llm.max_tokens > 0 ? srv->llm.max_tokens : pp.answer_tokens;
    pp.count = count_tokens;
    pp.count_ctx = llm;
    relay r = {delta, ctx, false, false};
    llm_answer la;
    int rc = llm_answer_generate(llm, ask->question, res, hist, n, &pp, NULL, relay_piece, &r, &la);
    free(hist);
    serve_llm_release(srv, llm);
    if (rc < 0) {
        llm_answer_free(&la);
        return -1;
    }
    if (la.status != LLM_OK) {
        /* refused, timed out or 5xx before any text: as `docqa ask` does */
        bool unreachable =
            !r.sent && (la.status == LLM_ERR_CONNECT || la.status == LLM_ERR_TIMEOUT ||
                        (la.status == LLM_ERR_HTTP && la.error && strstr(la.error, "HTTP 5")));
        if (r.stopped || la.status == LLM_ERR_CANCELLED)
            rc = 1;
        else if (unreachable)
            rc = 2, out->llm_error = dq_strdup(la.error ? la.error : "unreachable");
        else
            rc = -1, dq_set_error("%s", la.error ? la.error : "the LLM failed");
        llm_answer_free(&la);
        return rc;
    }
    out->mode = "llm";
    out->text = dq_strdup(la.reply.text ? la.reply.text : "");
    out->found = la.cites.n_cited > 0;
    out->sources = cJSON_CreateArray();
    for (size_t i = 0; i < la.cites.n_cited; i++) {
        int num = la.cites.cited[i];
        cJSON_AddItemToArray(out->sources, source_json(&la.pr.sources[num - 1], num, res));
    }
    llm_answer_free(&la);
    return 0;
}

int serve_answer_run(serve_server *srv, store *st, const serve_ask *ask, serve_delta_fn delta,
                     void *ctx, serve_answer *out)
{
    memset(out, 0, sizeof *out);
    char *match = retrieve_build_match(ask->question);
    const char *prev_user = NULL;
    for (size_t i = ask->n_history; i-- > 0;)
        if (!strcmp(ask->history[i].role, "user")) {
            prev_user = ask->history[i].content;
            break;
        }
    if (!match && !prev_user)
        return -2; /* the error says the question has no searchable words */
    free(match);

    retrieve_result res = {0};
    answer a = {0};
    dq_buf query = DQ_BUF_INIT;
    dq_buf_puts(&query, ask->question);
    int rc = retrieve_for(srv, st, query.data, ask->top_k, &res);
    if (rc == 0 && !srv->have_llm)
        rc = answer_extractive(query.data, &res, &srv->p.answer, &a);
    bool weak = rc < 0 || res.n == 0 || (!srv->have_llm && !a.found);
    if (weak && prev_user) {
        answer_free(&a);
        memset(&a, 0, sizeof a);
        retrieve_result_free(&res);
        dq_buf_clear(&query);
        dq_buf_printf(&query, "%s %s", prev_user, ask->question);
        rc = retrieve_for(srv, st, query.data, ask->top_k, &res);
        if (rc == 0 && !srv->have_llm)
            rc = answer_extractive(query.data, &res, &srv->p.answer, &a);
    }
    if (rc < 0)
        goto done;
    out->search_query = dq_strdup(query.data);

    if (srv->have_llm) {
        rc = answer_with_llm(srv, ask, &res, delta, ctx, out);
        if (rc != 2)
            goto done;
        /* unreachable before any text: answer extractively, saying why */
        char *why = out->llm_error;
        out->llm_error = NULL;
        serve_answer_free(out);
        out->llm_error = why;
        out->search_query = dq_strdup(query.data);
        rc = answer_extractive(query.data, &res, &srv->p.answer, &a);
        if (rc < 0)
            goto done;
    }

    out->mode = "extractive";
    out->found = a.found;
    dq_buf text = DQ_BUF_INIT;
    if (!a.found) {
        dq_buf_puts(&text, has_cjk(ask->question)
                               ? "文档中没有能回答这个问题的段落。"
                               : "No passage in the documents answers this question.");
        if (delta && delta(ctx, text.data, text.len))
            rc = 1;
    }
    for (size_t i = 0; i < a.n_sentences && rc == 0; i++) {
        size_t from = text.len;
        dq_buf_printf(&text, "%s%s [%d]", i ? " " : "", a.sentences[i].text,
                      a.sentences[i].source);
        if (delta && delta(ctx, text.data + from, text.len - from))
            rc = 1;
    }
    out->text = dq_buf_take(&text);
    out->sources = cJSON_CreateArray();
    for (size_t i = 0; i < a.n_sources; i++)
        cJSON_AddItemToArray(out->sources,
                             source_json(&a.sources[i], a.sources[i].number, &res));
done:
    answer_free(&a);
    retrieve_result_free(&res);
    dq_buf_free(&query);
    return rc;
}

int serve_answer_pooled(serve_server *srv, const serve_ask *ask, serve_answer *out)
{
    memset(out, 0, sizeof *out);
    store *st = serve_store_acquire(srv);
    if (!st) {
        char why[512];
        snprintf(why, sizeof why, "%s", dq_last_error());
        dq_set_error("store unavailable: %s", why);
        return 503;
    }
    int rc = serve_answer_run(srv, st, ask, NULL, NULL, out);
    serve_store_release(srv, st);
    return rc == -2 ? 400 : rc < 0 ? 500 : 0;
}
