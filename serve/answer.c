/* answer.c - the question-answering path /api/ask and /v1/chat/completions
 * share: the pipeline's answer turn on a pooled store connection and LLM
 * client, its text passed on in pieces (delta callback) and its sources
 * returned as JSON.
 */
#include "serve/answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/context.h"

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
    cJSON_AddNumberToObject(o, "score", c->score);
    retrieve_snippet_json(o, h->snippet);
    return o;
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
    }
    char *label = answer_format_source(s);
    cJSON_AddStringToObject(o, "label", label);
    free(label);
    return o;
}

/* The answer's sources as JSON: those it cites. */
static cJSON *sources_json(const rag_reply *r)
{
    cJSON *arr = cJSON_CreateArray();
    if (r->mode == RAG_LLM) {
        for (size_t i = 0; i < r->llm.cites.n_cited; i++) {
            int num = r->llm.cites.cited[i];
            cJSON_AddItemToArray(arr, source_json(&r->sources[num - 1], num, &r->hits));
        }
    } else {
        for (size_t i = 0; i < r->n_sources; i++)
            cJSON_AddItemToArray(arr, source_json(&r->sources[i], r->sources[i].number, &r->hits));
    }
    return arr;
}

int serve_answer_run(serve_server *srv, store *st, const serve_ask *ask, serve_delta_fn delta,
                     void *ctx, serve_answer *out)
{
    memset(out, 0, sizeof *out);
    llm_client *llm = NULL;
    if (srv->have_llm && !(llm = llm_pool_acquire(&srv->llms)))
        return RAG_ERR;
    rag_turn t = {
        .question = ask->question,
        .history = ask->history,
        .n_history = ask->n_history,
        .top_k = ask->top_k,
        .no_llm = !srv->have_llm,
        .st = st,
        .llm = llm,
        .on_piece = delta,
        .ctx = ctx,
        .extractive_pieces = true,
    };
    rag_reply r;
    int rc = rag_answer_turn(srv->p.session, &t, &r);
    llm_pool_release(&srv->llms, llm);
    if (rc == 0) {
        out->mode = r.mode == RAG_LLM ? "llm" : "extractive";
        out->found = r.found;
        out->text = r.text;
        r.text = NULL;
        out->search_query = r.query;
        r.query = NULL;
        out->llm_error = r.llm_error;
        r.llm_error = NULL;
        out->sources = sources_json(&r);
    }
    rag_reply_free(&r);
    return rc;
}

int serve_answer_pooled(serve_server *srv, const serve_ask *ask, serve_answer *out)
{
    memset(out, 0, sizeof *out);
    store *st = store_pool_acquire(&srv->stores);
    if (!st) {
        char why[512];
        snprintf(why, sizeof why, "%s", dq_last_error());
        dq_set_error("store unavailable: %s", why);
        return 503;
    }
    int rc = serve_answer_run(srv, st, ask, NULL, NULL, out);
    store_pool_release(&srv->stores, st);
    return rc == RAG_ERR_NO_QUERY ? 400 : rc < 0 ? 500 : 0;
}
