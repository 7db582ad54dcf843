/* answer.c - the question-answering path /api/ask and /v1/chat/completions
 * share: retrieval over the store, then an answer whose text arrives in
 * pieces (delta callback) and whose sources come back as JSON.
 *
 * History: a follow-up question ("and the deposit?") often has too few words
 * of its own, so when it alone retrieves nothing that answers, retrieval runs
 * again on the previous user turn plus the follow-up.
 */
#include "serve/serve_impl.h"

#include <stdlib.h>
#include <string.h>

void serve_answer_free(serve_answer *a)
{
    if (!a)
        return;
    free(a->text);
    free(a->search_query);
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

static void add_snippet(cJSON *obj, const char *snippet)
{
    dq_buf plain = DQ_BUF_INIT;
    cJSON *ranges = cJSON_CreateArray();
    size_t start = 0;
    for (const char *p = snippet ? snippet : ""; *p; p++) {
        if (*p == RETRIEVE_HL_OPEN[0]) {
            start = plain.len;
        } else if (*p == RETRIEVE_HL_CLOSE[0]) {
            cJSON *r = cJSON_CreateArray();
            cJSON_AddItemToArray(r, cJSON_CreateNumber((double)start));
            cJSON_AddItemToArray(r, cJSON_CreateNumber((double)plain.len));
            cJSON_AddItemToArray(ranges, r);
        } else {
            dq_buf_putc(&plain, *p);
        }
    }
    cJSON_AddStringToObject(obj, "snippet", plain.data ? plain.data : "");
    cJSON_AddItemToObject(obj, "highlights", ranges);
    dq_buf_free(&plain);
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
    add_snippet(o, h->snippet);
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

/* Retrieval plus the extractive answer for query. */
static int retrieve_and_answer(serve_server *srv, store *st, const char *query, int top_k,
                               retrieve_result *res, answer *a)
{
    retrieve_params rp = srv->p.retrieve;
    if (top_k > 0)
        rp.top_k = top_k;
    if (retrieve_search(st, NULL, query, &rp, res) < 0)
        return -1;
    return answer_extractive(query, res, &srv->p.answer, a);
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
    int rc = retrieve_and_answer(srv, st, query.data, ask->top_k, &res, &a);
    if ((rc < 0 || !a.found) && prev_user) {
        answer_free(&a);
        retrieve_result_free(&res);
        dq_buf_clear(&query);
        dq_buf_printf(&query, "%s %s", prev_user, ask->question);
        rc = retrieve_and_answer(srv, st, query.data, ask->top_k, &res, &a);
    }
    if (rc < 0)
        goto done;

    out->mode = "extractive";
    out->found = a.found;
    out->search_query = dq_strdup(query.data);
    dq_buf text = DQ_BUF_INIT;
    if (!a.found) {
        dq_buf_puts(&text, has_cjk(ask->question) ? "文档中没有能回答这个问题的段落。"
                                                  : "No passage in the documents answers "
                                                    "this question.");
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
    for (size_t i = 0; i < a.n_sources; i++) {
        const answer_source *s = &a.sources[i];
        const retrieve_hit *h = NULL;
        for (size_t k = 0; k < res.n && !h; k++)
            if (res.items[k].chunk.chunk_id == s->chunk_id)
                h = &res.items[k];
        cJSON *o = h ? serve_hit_json(h) : cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "number", s->number);
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
        cJSON_AddItemToArray(out->sources, o);
    }
done:
    answer_free(&a);
    retrieve_result_free(&res);
    dq_buf_free(&query);
    return rc;
}
