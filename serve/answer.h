/* answer.h - the question-answering path /api/ask and /v1/chat/completions
 * share (answer.c): the answer turn on pooled connections. */
#ifndef DQ_SERVE_ANSWER_H
#define DQ_SERVE_ANSWER_H

#include <cjson/cJSON.h>

#include "index/index.h"
#include "retrieve/retrieve.h"
#include "serve/serve.h"

/* A message of the history a client sends: role and content. */
typedef llm_message serve_turn;

typedef struct {
    const char *question;
    const serve_turn *history; /* (n_history) earlier turns, oldest first */
    size_t n_history;
    int top_k;                 /* 0: the session's */
    const char *doc;           /* a GLOB over paths and file names; NULL: all */
} serve_ask;

/* Called with each piece of answer text as it is ready; non-zero stops. */
typedef int (*serve_delta_fn)(void *ctx, const char *text, size_t n);
/* Told where the request joined an in-process model's queue. */
typedef void (*serve_queued_fn)(void *ctx, unsigned long request, int ahead);

/* Retrieves and answers (rag_answer_turn), calling delta with the text as it
 * is produced and queued (may be NULL) as it waits for the model. A store is
 * taken from the pool for the retrieval alone, so searches never wait
 * behind generation. Returns 0, or a RAG_ERR_* code with the error set
 * (RAG_ERR_STOPPED: delta asked to stop; RAG_ERR_STORE: no store). */
int serve_answer_run(serve_server *srv, const serve_ask *ask, serve_delta_fn delta,
                     serve_queued_fn queued, void *ctx, rag_reply *out);
/* serve_answer_run for a handler that replies once. Returns 0 with out
 * filled, or the HTTP status the failure means (503 no store, 400 no
 * searchable words, 500 otherwise) with the error set; out is safe to free
 * either way. */
int serve_answer_pooled(serve_server *srv, const serve_ask *ask, rag_reply *out);
/* Reads "history"/"messages" style arrays: each item {role, content}; role
 * one of system/user/assistant. -1 with the error set on a malformed item. */
int serve_parse_turns(const cJSON *arr, serve_turn **out, size_t *n);

#endif
