/* answer.c - the question-answering path /api/ask and /v1/chat/completions
 * share: the pipeline's answer turn on a pooled store connection and LLM
 * client, its text passed on in pieces (delta callback).
 */
#include "serve/answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/context.h"

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

static store *borrow_pooled(void *srv)
{
    store *st = store_pool_acquire(&((serve_server *)srv)->stores);
    if (!st) {
        char why[512];
        snprintf(why, sizeof why, "%s", dq_last_error());
        dq_set_error("store unavailable: %s", why);
    }
    return st;
}

static void return_pooled(void *srv, store *st)
{
    store_pool_release(&((serve_server *)srv)->stores, st);
}

int serve_answer_run(serve_server *srv, const serve_ask *ask, serve_delta_fn delta,
                     serve_queued_fn queued, void *ctx, rag_reply *out)
{
    memset(out, 0, sizeof *out);
    llm_client *llm = NULL;
    if (srv->shared_llm)
        llm = srv->shared_llm;
    else if (srv->have_llm && !(llm = llm_pool_acquire(&srv->llms)))
        return RAG_ERR;
    rag_turn t = {
        .question = ask->question,
        .history = ask->history,
        .n_history = ask->n_history,
        .top_k = ask->top_k,
        .doc = ask->doc,
        .no_llm = !srv->have_llm,
        .borrow_store = borrow_pooled,
        .return_store = return_pooled,
        .store_ctx = srv,
        .llm = llm,
        .on_piece = delta,
        .ctx = ctx,
        .extractive_pieces = true,
        .on_queued = queued,
    };
    int rc = rag_answer_turn(srv->p.session, &t, out);
    if (!srv->shared_llm)
        llm_pool_release(&srv->llms, llm);
    return rc;
}

int serve_answer_pooled(serve_server *srv, const serve_ask *ask, rag_reply *out)
{
    int rc = serve_answer_run(srv, ask, NULL, NULL, NULL, out);
    return rc == RAG_ERR_STORE ? 503 : rc == RAG_ERR_NO_QUERY ? 400 : rc < 0 ? 500 : 0;
}
