/* openai.c - the OpenAI-compatible endpoints, where docqa is the "model":
 * GET /v1/models and POST /v1/chat/completions (stream or not).
 *
 * The last user message is the question and the messages before it are the
 * history. The answer text carries [n] markers and ends with a "Sources:"
 * list, so any chat client shows where it came from; the same sources come
 * back structured in a "sources" field (on the completion, or on the last
 * chunk of a stream), which clients that know docqa can read.
 */
#include "serve/handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/answer.h"
#include "serve/context.h"
#include "serve/stream.h"

#define MODEL_ID "docqa"

enum MHD_Result openai_models(serve_request *rq)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", MODEL_ID);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "docqa");
    cJSON_AddItemToArray(data, m);
    return serve_reply_json(rq, 200, o);
}

typedef struct {
    serve_server *srv;
    cJSON *body;          /* owns the strings the turns point at */
    serve_turn *turns;    /* (n_turns) all messages */
    size_t n_turns;
    serve_ask ask;
    char id[48];
    long long created;
} chat_call;

static void chat_call_free(void *p)
{
    chat_call *c = p;
    cJSON_Delete(c->body);
    free(c->turns);
    free(c);
}

/* "\n\nSources:\n[1] lease.pdf p. 3, 第三章" */
static char *sources_footer(const cJSON *sources)
{
    dq_buf b = DQ_BUF_INIT;
    const cJSON *s;
    cJSON_ArrayForEach(s, sources) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "number");
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(s, "label");
        if (!b.len)
            dq_buf_puts(&b, "\n\nSources:");
        dq_buf_printf(&b, "\n[%d] %s", n ? n->valueint : 0,
                      cJSON_IsString(label) ? label->valuestring : "");
    }
    return dq_buf_take(&b);
}

static cJSON *chunk_base(const chat_call *c, const char *object)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)c->created);
    cJSON_AddStringToObject(o, "model", MODEL_ID);
    return o;
}

static cJSON *delta_chunk(const chat_call *c, const char *role, const char *content,
                          const char *finish)
{
    cJSON *o = chunk_base(c, "chat.completion.chunk");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *d = cJSON_AddObjectToObject(ch, "delta");
    if (role)
        cJSON_AddStringToObject(d, "role", role);
    if (content)
        cJSON_AddStringToObject(d, "content", content);
    if (finish)
        cJSON_AddStringToObject(ch, "finish_reason", finish);
    else
        cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(choices, ch);
    return o;
}

typedef struct {
    chat_call *c;
    serve_stream *s;
} chat_stream;

static int chat_delta(void *ctx, const char *text, size_t n)
{
    chat_stream *cs = ctx;
    char *t = dq_strndup(text, n);
    int rc = stream_write_event(cs->s, delta_chunk(cs->c, NULL, t, NULL));
    free(t);
    return rc;
}

/* OpenAI's chunks have no place for a queue position, so it goes out as an
 * SSE comment, which clients skip: a waiting request shows it is alive and
 * where it stands, with the numbers /health uses. */
static void chat_queued(void *ctx, unsigned long request, int ahead)
{
    chat_stream *cs = ctx;
    char line[96];
    int n = snprintf(line, sizeof line, ": queued request %lu, %d ahead\n\n", request, ahead);
    stream_write(cs->s, line, (size_t)n);
}

static void chat_produce(serve_stream *s, void *arg)
{
    chat_call *c = arg;
    if (stream_write_event(s, delta_chunk(c, "assistant", "", NULL)) < 0)
        return;
    rag_reply a = {0};
    int rc = serve_answer_run(c->srv, &c->ask, chat_delta, chat_queued, &(chat_stream){c, s}, &a);
    if (rc < 0 && rc != RAG_ERR_STOPPED) {
        /* Headers are gone already: OpenAI's streams report errors as an
         * event with an "error" object. */
        char *shown = serve_public_text(c->srv, dq_last_error());
        cJSON *e = cJSON_CreateObject();
        cJSON *err = cJSON_AddObjectToObject(e, "error");
        cJSON_AddStringToObject(err, "message", shown);
        free(shown);
        cJSON_AddStringToObject(err, "type", "server_error");
        stream_write_event(s, e);
        stream_write(s, "data: [DONE]\n\n", 14);
    } else if (rc == 0) {
        cJSON *sources = rag_sources_json(&a);
        char *footer = sources_footer(sources);
        if (*footer)
            stream_write_event(s, delta_chunk(c, NULL, footer, NULL));
        free(footer);
        cJSON *last = delta_chunk(c, NULL, NULL, "stop");
        cJSON_AddItemToObject(last, "sources", sources);
        stream_write_event(s, last);
        stream_write(s, "data: [DONE]\n\n", 14);
    }
    rag_reply_free(&a);
}

enum MHD_Result openai_chat(serve_request *rq)
{
    enum MHD_Result ret;
    cJSON *body = serve_parse_body(rq, &ret);
    if (!body)
        return ret;
    chat_call *c = dq_calloc(1, sizeof *c);
    c->srv = rq->srv;
    c->body = body;
    static const char hex[] = "0123456789abcdef";
    unsigned long long r = (unsigned long long)(dq_now() * 1e9) ^ (unsigned long long)(size_t)c;
    char rnd[17];
    for (int i = 0; i < 16; i++, r = r * 6364136223846793005ULL + 1442695040888963407ULL)
        rnd[i] = hex[(r >> 60) & 15];
    rnd[16] = '\0';
    snprintf(c->id, sizeof c->id, "chatcmpl-%s", rnd);
    c->created = (long long)time(NULL);

    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(body, "stream");
    if (serve_parse_turns(msgs, &c->turns, &c->n_turns) < 0) {
        ret = serve_reply_error(rq, 400, "%s", dq_last_error());
        chat_call_free(c);
        return ret;
    }
    if (model && (!cJSON_IsString(model) || strcmp(model->valuestring, MODEL_ID) != 0)) {
        ret = serve_reply_error(rq, 404, "model '%s' does not exist (this server has '" MODEL_ID
                                         "')",
                                cJSON_IsString(model) ? model->valuestring : "?");
        chat_call_free(c);
        return ret;
    }
    if (stream && !cJSON_IsBool(stream)) {
        chat_call_free(c);
        return serve_reply_error(rq, 400, "'stream' must be true or false");
    }
    size_t last = c->n_turns;
    while (last > 0 && strcmp(c->turns[last - 1].role, "user") != 0)
        last--;
    if (last == 0 || !*c->turns[last - 1].content) {
        chat_call_free(c);
        return serve_reply_error(rq, 400, "'messages' has no user message to answer");
    }
    c->ask = (serve_ask){c->turns[last - 1].content, c->turns, last - 1, 0, NULL};

    char *m = retrieve_build_match(c->ask.question);
    bool any_user = false;
    for (size_t i = 0; i + 1 < last; i++)
        any_user |= !strcmp(c->turns[i].role, "user");
    if (!m && !any_user) {
        ret = serve_reply_error(rq, 400, "%s", dq_last_error());
        chat_call_free(c);
        return ret;
    }
    free(m);

    if (cJSON_IsTrue(stream)) {
        struct MHD_Response *resp =
            stream_start(chat_produce, c, chat_call_free, "text/event-stream");
        if (!resp)
            return serve_reply_error(rq, 500, "%s", dq_last_error());
        return serve_reply_response(rq, 200, resp);
    }

    rag_reply a;
    int status = serve_answer_pooled(rq->srv, &c->ask, &a);
    if (status) {
        ret = serve_reply_error(rq, status, "%s", dq_last_error());
    } else {
        cJSON *o = chunk_base(c, "chat.completion");
        cJSON *choices = cJSON_AddArrayToObject(o, "choices");
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", 0);
        cJSON *msg = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON *sources = rag_sources_json(&a);
        char *footer = sources_footer(sources);
        dq_buf content = DQ_BUF_INIT;
        dq_buf_printf(&content, "%s%s", a.text, footer);
        free(footer);
        cJSON_AddStringToObject(msg, "content", content.data);
        dq_buf_free(&content);
        cJSON_AddStringToObject(ch, "finish_reason", "stop");
        cJSON_AddItemToArray(choices, ch);
        cJSON_AddItemToObject(o, "sources", sources);
        ret = serve_reply_json(rq, 200, o);
    }
    rag_reply_free(&a);
    chat_call_free(c);
    return ret;
}
