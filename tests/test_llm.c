/* test_llm.c - the event-stream parser, and the chat client against a
 * loopback server replaying what llama-server, Ollama and vLLM send: split
 * events, split UTF-8, errors mid-stream, stalls, refusals, logprobs. */
#include <criterion/criterion.h>

#include "common/common.h"
#include "generate/llm.h"
#include "generate/sse.h"
#include "support/httpd.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the SSE parser ---------------------------------------------------- */

static int collect_event(void *ctx, const char *event, const char *data, size_t len)
{
    dq_buf *b = ctx;
    cr_assert_eq(strlen(data), len);
    dq_buf_printf(b, "<%s|%s>", event, data);
    return 0;
}

/* Feeds s in pieces of every size from 1 byte up and checks each gives want. */
static void check_all_splits(const char *s, const char *want)
{
    size_t n = strlen(s);
    for (size_t step = 1; step <= n; step++) {
        dq_buf got = DQ_BUF_INIT;
        sse_parser p;
        sse_init(&p, collect_event, &got);
        for (size_t i = 0; i < n; i += step)
            cr_assert_eq(sse_feed(&p, s + i, i + step <= n ? step : n - i), 0);
        cr_assert_eq(sse_finish(&p), 0);
        cr_assert_str_eq(got.data ? got.data : "", want, "step %zu", step);
        sse_free(&p);
        dq_buf_free(&got);
    }
}

Test(sse, lf_crlf_cr_comments_and_multiline_data)
{
    check_all_splits(": keep-alive\n\ndata: one\n\ndata:two\r\n\r\n"
                     "data: a\ndata:  b\n\nevent: ping\ndata: x\r\rid: 7\nretry: 10\ndata: y\n\n"
                     "data\n\n: comment only\n\n",
                     "<message|one><message|two><message|a\n b><ping|x><message|y><message|>");
}

Test(sse, llama_server_error_line_is_an_error_event)
{
    check_all_splits("data: {\"a\":1}\n\nerror: {\"code\":500,\"message\":\"boom\"}\n\n",
                     "<message|{\"a\":1}><error|{\"code\":500,\"message\":\"boom\"}>");
}

Test(sse, last_event_without_blank_line_is_dispatched_at_finish)
{
    check_all_splits("data: [DONE]", "<message|[DONE]>");
    check_all_splits("data: x\n", "<message|x>");
}

Test(sse, utf8_splits_inside_data_are_joined)
{
    check_all_splits("data: 你好，世界\n\n", "<message|你好，世界>");
}

/* Random streams built from the pieces that matter, fed whole and in random
 * cuts, give the same events (tests/fuzz/sse_fuzz.c does this unguided). */
Test(sse, random_cuts_give_the_same_events)
{
    static const char *const parts[] = {"data:", "data: ", "event: e", "error: ", ": c", "id: 1",
                                        "x", "你", "\n", "\r", "\r\n", "\n\n", "[DONE]", "{}"};
    unsigned seed = 12345;
    for (int round = 0; round < 500; round++) {
        dq_buf s = DQ_BUF_INIT;
        int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 40;
        for (int i = 0; i < n; i++)
            dq_buf_puts(&s, parts[((seed = seed * 1103515245u + 12345u) >> 16) % 14]);
        dq_buf whole = DQ_BUF_INIT, cut = DQ_BUF_INIT;
        sse_parser p;
        sse_init(&p, collect_event, &whole);
        sse_feed(&p, s.data, s.len);
        sse_finish(&p);
        sse_free(&p);
        sse_init(&p, collect_event, &cut);
        for (size_t i = 0; i < s.len;) {
            size_t step = 1 + ((seed = seed * 1103515245u + 12345u) >> 16) % 5;
            if (step > s.len - i)
                step = s.len - i;
            sse_feed(&p, s.data + i, step);
            i += step;
        }
        sse_finish(&p);
        sse_free(&p);
        cr_assert_str_eq(cut.data ? cut.data : "", whole.data ? whole.data : "", "stream '%s'", s.data);
        dq_buf_free(&s);
        dq_buf_free(&whole);
        dq_buf_free(&cut);
    }
}

static int stop_at_second(void *ctx, const char *event, const char *data, size_t len)
{
    (void)event, (void)data, (void)len;
    return ++*(int *)ctx == 2 ? 7 : 0;
}

Test(sse, callback_stops_the_parser)
{
    int calls = 0;
    sse_parser p;
    sse_init(&p, stop_at_second, &calls);
    cr_assert_eq(sse_feed(&p, "data: a\n\ndata: b\n\ndata: c\n\n", 27), 7);
    cr_assert_eq(calls, 2);
    sse_free(&p);
}

Test(sse, overlong_line_is_an_error)
{
    dq_buf got = DQ_BUF_INIT;
    sse_parser p;
    sse_init(&p, collect_event, &got);
    p.max_line = 8;
    cr_assert_eq(sse_feed(&p, "data: 1234", 10), -1);
    cr_assert_str_eq(dq_last_error(), "event-stream line longer than 8 bytes");
    sse_free(&p);
    dq_buf_free(&got);
}

Test(sse, utf8_complete_holds_back_partial_characters)
{
    const char *s = "a你"; /* 'a' e4 bd a0 */
    cr_assert_eq(sse_utf8_complete(s, 4), 4);
    cr_assert_eq(sse_utf8_complete(s, 3), 1);
    cr_assert_eq(sse_utf8_complete(s, 2), 1);
    cr_assert_eq(sse_utf8_complete(s, 1), 1);
    cr_assert_eq(sse_utf8_complete("\xf0\x9f\x98", 3), 0);
    cr_assert_eq(sse_utf8_complete("\xf0\x9f\x98\x80", 4), 4);
    cr_assert_eq(sse_utf8_complete("\x80\x80", 2), 2); /* stray continuations: not held */
    cr_assert_eq(sse_utf8_complete("ab\xff", 3), 3);
    cr_assert_eq(sse_utf8_complete("", 0), 0);
}

/* ---- the loopback server ---------------------------------------------- */

typedef struct {
    int status;
    const char *content_type;
    const char *body;
    int piece_delay_ms, piece_bytes, stall_after, stall_ms, close_after, delay_ms;
    bool chunked;
    /* what the server saw last */
    char path[128];
    char auth[256];
    bool had_auth;
    char *request; /* body, owned */
} script;

static void handle(void *ctx, const httpd_request *req, httpd_response *resp)
{
    script *s = ctx;
    snprintf(s->path, sizeof s->path, "%s", req->path);
    s->had_auth = httpd_header(req, "Authorization", s->auth, sizeof s->auth);
    free(s->request);
    s->request = dq_strndup(req->body, req->body_len);
    resp->status = s->status ? s->status : 200;
    snprintf(resp->content_type, sizeof resp->content_type, "%s",
             s->content_type ? s->content_type : "text/event-stream");
    dq_buf_puts(&resp->body, s->body ? s->body : "");
    resp->piece_delay_ms = s->piece_delay_ms;
    resp->piece_bytes = s->piece_bytes;
    resp->chunked = s->chunked;
    resp->stall_after = s->stall_after;
    resp->stall_ms = s->stall_ms;
    resp->close_after = s->close_after;
    resp->delay_ms = s->delay_ms;
}

static httpd *server;
static script sc;
static llm_client *client;
static char base[96];

static void start(void)
{
    memset(&sc, 0, sizeof sc);
    server = httpd_start(handle, &sc);
    cr_assert_not_null(server, "%s", dq_last_error());
    snprintf(base, sizeof base, "%s/v1", httpd_url(server));
    llm_params p = llm_default_params();
    p.base_url = base;
    p.model = "qwen2.5-7b";
    p.timeout_s = 1;
    p.connect_timeout_s = 2;
    client = llm_new(&p);
    cr_assert_not_null(client, "%s", dq_last_error());
}

static void stop(void)
{
    llm_free(client);
    httpd_stop(server);
    free(sc.request);
}

TestSuite(llm, .init = start, .fini = stop);

typedef struct {
    dq_buf text;   /* what the callback was given, in order */
    int pieces;
    int stop_after; /* > 0: ask to stop after this many pieces */
} sink;

static int on_token(void *ctx, const char *piece, size_t len)
{
    sink *k = ctx;
    cr_assert(utf8_valid(piece, len), "piece %d is not whole UTF-8", k->pieces);
    dq_buf_append(&k->text, piece, len);
    k->pieces++;
    return k->stop_after > 0 && k->pieces >= k->stop_after;
}

static const llm_message question[] = {
    {"system", "Answer from the passages."},
    {"user", "合同的违约金是多少？"},
};

static llm_status ask(bool stream, sink *k, llm_reply *out)
{
    llm_request req = {.stream = stream};
    return llm_chat(client, question, 2, &req, on_token, k, out);
}

/* llama-server b4000+: a role chunk with null content, content chunks, a
 * last chunk with finish_reason, usage and timings, then [DONE]. */
#define LLAMA_CHUNK(c)                                                                             \
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"" c "\"}}],"  \
    "\"created\":1732000000,\"id\":\"chatcmpl-Xq7\",\"model\":\"qwen2.5-7b\","                     \
    "\"system_fingerprint\":\"b4179-fcd1e43\",\"object\":\"chat.completion.chunk\"}\n\n"
static const char llama_stream[] =
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":null}}],\"created\":1732000000,\"id\":\"chatcmpl-Xq7\",\"model\":\"qwen2.5-7b\","
    "\"system_fingerprint\":\"b4179-fcd1e43\",\"object\":\"chat.completion.chunk\"}\n\n"
    LLAMA_CHUNK("违约") LLAMA_CHUNK("金为") LLAMA_CHUNK("月租金的20%") LLAMA_CHUNK("。[1]")
    "data: {\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"delta\":{}}],"
    "\"created\":1732000000,\"id\":\"chatcmpl-Xq7\",\"model\":\"qwen2.5-7b\","
    "\"system_fingerprint\":\"b4179-fcd1e43\",\"object\":\"chat.completion.chunk\","
    "\"usage\":{\"completion_tokens\":9,\"prompt_tokens\":412,\"total_tokens\":421},"
    "\"timings\":{\"prompt_n\":12,\"prompt_ms\":80.2,\"prompt_per_token_ms\":6.7,"
    "\"prompt_per_second\":149.6,\"predicted_n\":9,\"predicted_ms\":96.1,"
    "\"predicted_per_token_ms\":10.7,\"predicted_per_second\":93.7}}\n\n"
    "data: [DONE]\n\n";

Test(llm, llama_server_stream)
{
    sc.body = llama_stream;
    sc.chunked = true;
    sc.piece_delay_ms = 1;
    sink k = {0};
    llm_reply r;
    cr_assert_eq(ask(true, &k, &r), LLM_OK, "%s", dq_last_error());
    cr_assert_str_eq(r.text, "违约金为月租金的20%。[1]");
    cr_assert_str_eq(k.text.data, r.text);
    cr_assert_eq(k.pieces, 4);
    cr_assert_str_eq(r.finish_reason, "stop");
    cr_assert_eq(r.prompt_tokens, 412); /* usage wins over timings' uncached prompt_n */
    cr_assert_eq(r.completion_tokens, 9);
    cr_assert(r.first_token_s > 0 && r.first_token_s <= r.total_s);
    cr_assert_str_eq(sc.path, "/v1/chat/completions");
    cr_assert_not(sc.had_auth);
    /* the request as sent */
    cJSON *j = cJSON_Parse(sc.request);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "model")->valuestring, "qwen2.5-7b");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "stream")));
    cr_assert_eq(cJSON_GetObjectItem(j, "max_tokens")->valueint, 512);
    cr_assert_float_eq(cJSON_GetObjectItem(j, "temperature")->valuedouble, 0.2, 1e-9);
    cJSON *msgs = cJSON_GetObjectItem(j, "messages");
    cr_assert_eq(cJSON_GetArraySize(msgs), 2);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 1), "content")->valuestring,
                     "合同的违约金是多少？");
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "role")->valuestring, "system");
    cr_assert_null(cJSON_GetObjectItem(j, "logprobs"));
    cJSON_Delete(j);
    llm_reply_free(&r);
    dq_buf_free(&k.text);
}

/* Ollama's /v1 compatibility layer: every chunk carries role and content,
 * the last one finish_reason, a usage chunk with no choices when asked. */
#define OLLAMA_CHUNK(c, fin)                                                                      \
    "data: {\"id\":\"chatcmpl-512\",\"object\":\"chat.completion.chunk\",\"created\":1732000001," \
    "\"model\":\"qwen2.5:7b\",\"system_fingerprint\":\"fp_ollama\",\"choices\":[{\"index\":0,"     \
    "\"delta\":{\"role\":\"assistant\",\"content\":\"" c "\"},\"finish_reason\":" fin "}]}\n\n"
static const char ollama_stream[] =
    OLLAMA_CHUNK("The warranty", "null") OLLAMA_CHUNK(" lasts 24 months", "null")
    OLLAMA_CHUNK(" [2].", "null") OLLAMA_CHUNK("", "\"stop\"")
    "data: {\"id\":\"chatcmpl-512\",\"object\":\"chat.completion.chunk\",\"created\":1732000001,"
    "\"model\":\"qwen2.5:7b\",\"system_fingerprint\":\"fp_ollama\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":380,\"completion_tokens\":8,\"total_tokens\":388}}\n\n"
    "data: [DONE]\n\n";

Test(llm, ollama_stream_split_into_bytes)
{
    sc.body = ollama_stream;
    sc.chunked = true;
    sc.piece_bytes = 7;
    sink k = {0};
    llm_reply r;
    cr_assert_eq(ask(true, &k, &r), LLM_OK, "%s", dq_last_error());
    cr_assert_str_eq(r.text, "The warranty lasts 24 months [2].");
    cr_assert_str_eq(k.text.data, r.text);
    cr_assert_str_eq(r.finish_reason, "stop");
    cr_assert_eq(r.prompt_tokens, 380);
    cr_assert_eq(r.completion_tokens, 8);
    llm_reply_free(&r);
    dq_buf_free(&k.text);
}

/* vLLM: a first chunk with role and empty content, content chunks with
 * logprobs null, finish_reason on the last, a usage chunk (choices: []),
 * CRLF-free LF framing, then [DONE]. */
#define VLLM_CHUNK(c, fin)                                                                       \
    "data: {\"id\":\"chatcmpl-9f2\",\"object\":\"chat.completion.chunk\",\"created\":1732000002," \
    "\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\""   \
    c "\"},\"logprobs\":null,\"finish_reason\":" fin "}]}\n\n"
static const char vllm_stream[] =
    "data: {\"id\":\"chatcmpl-9f2\",\"object\":\"chat.completion.chunk\",\"created\":1732000002,"
    "\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
    "\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
    VLLM_CHUNK("文档", "null") VLLM_CHUNK("中没有", "null") VLLM_CHUNK("答案。", "null")
    VLLM_CHUNK("", "\"length\"")
    "data: {\"id\":\"chatcmpl-9f2\",\"object\":\"chat.completion.chunk\",\"created\":1732000002,"
    "\"model\":\"Qwen/Qwen2.5-7B-Instruct\",\"choices\":[],\"usage\":{\"prompt_tokens\":501,"
    "\"total_tokens\":507,\"completion_tokens\":6}}\n\n"
    "data: [DONE]\n\n";

Test(llm, vllm_stream_split_at_every_third_byte)
{
    sc.body = vllm_stream;
    sc.piece_bytes = 3; /* cuts the CJK characters (3 bytes each) at every offset */
    sc.piece_delay_ms = 1;
    sink k = {0};
    llm_reply r;
    cr_assert_eq(ask(true, &k, &r), LLM_OK, "%s", dq_last_error());
    cr_assert_str_eq(r.text, "文档中没有答案。");
    cr_assert_str_eq(k.text.data, r.text);
    cr_assert_str_eq(r.finish_reason, "length");
    cr_assert_eq(r.prompt_tokens, 501);
    cr_assert_eq(r.completion_tokens, 6);
    llm_reply_free(&r);
    dq_buf_free(&k.text);
}

/* A server that sends a token ending inside a character (raw bytes in the
 * JSON string): the callback gets whole characters only. CRLF framing and
 * keep-alive comments too. */
Test(llm, utf8_split_across_deltas_is_held_back)
{
    sc.body = ": keep-alive\r\n\r\n"
              "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"租\xe9\x87\"}}]}\r\n\r\n"
              ": keep-alive\r\n\r\n"
              "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\x91\xf0\x9f\"}}]}\r\n\r\n"
              "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\x98\x80!\"},"
              "\"finish_reason\":\"stop\"}]}\r\n\r\n"
              "data: [DONE]\r\n\r\n";
    sc.piece_delay_ms = 1;
    sink k = {0};
    llm_reply r;
    cr_assert_eq(ask(true, &k, &r), LLM_OK, "%s", dq_last_error());
    cr_assert_str_eq(r.text, "租金😀!");
    cr_assert_str_eq(k.text.data, "租金😀!");
    cr_assert_eq(k.pieces, 3);
    cr_assert_eq(r.prompt_tokens, -1);
    llm_reply_free(&r);
    dq_buf_free(&k.text);
}

Test(llm, incomplete_character_at_the_end_becomes_replacement)
{
    sc.body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\xe9\x87\"},"
              "\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    sink k = {0};
    llm_reply r;
    cr_assert_eq(ask(true, &k, &r), LLM_OK, "%s", dq_last_error());
    cr_assert_str_eq(r.text, "ok\xef\xbf\xbd");
    cr_assert_str_eq(k.text.data, "ok\xef\xbf\xbd");
    llm_reply_free(&r);
    dq_buf_free(&k.text);
}

static void expect_failure(llm_status want, const char *message, const char *partial)
{
    sink k = {0};
    llm_reply r;
    llm_status st = ask(true, &k, &r);
    cr_assert_eq(st, want, "status %s: %s", llm_status_name(st), dq_last_error());
    char *msg = dq_strdup(dq_last_error());
    char *expect = NULL;
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, message, base);
    expect = dq_buf_take(&b);
    cr_assert_str_eq(msg, expect);
    cr_assert_str_eq(r.text ? r.text : "", partial);
    free(msg);
    free(expect);
    llm_reply_free(&r);
    dq_buf_free(&k.text);
}

Test(llm, llama_server_error_mid_stream)
{
    sc.body = LLAMA_CHUNK("The ") LLAMA_CHUNK("answer")
        "error: {\"code\":500,\"message\":\"the request exceeds the available context size, try "
        "increasing it\",\"type\":\"exceed_context_size_error\"}\n\n";
    sc.chunked = true;
    expect_failure(LLM_ERR_PROTOCOL,
                   "LLM at %s failed mid-answer: the request exceeds the available context size, "
                   "try increasing it",
                   "The answer");
}

Test(llm, vllm_error_object_mid_stream)
{
    sc.body = VLLM_CHUNK("部分", "null")
        "data: {\"object\":\"error\",\"message\":\"CUDA out of memory\",\"type\":\"InternalServerError\","
        "\"param\":null,\"code\":500}\n\n";
    expect_failure(LLM_ERR_PROTOCOL, "LLM at %s failed mid-answer: CUDA out of memory", "部分");
}

Test(llm, ollama_error_mid_stream)
{
    sc.body = OLLAMA_CHUNK("Hi", "null")
        "data: {\"error\":{\"message\":\"an error was encountered while running the model: "
        "unexpected EOF\",\"type\":\"api_error\",\"param\":null,\"code\":null}}\n\n";
    expect_failure(LLM_ERR_PROTOCOL,
                   "LLM at %s failed mid-answer: an error was encountered while running the "
                   "model: unexpected EOF",
                   "Hi");
}

Test(llm, sse_error_event_mid_stream)
{
    sc.body = "event: error\ndata: overloaded\n\n";
    expect_failure(LLM_ERR_PROTOCOL, "LLM at %s failed mid-answer: overloaded", "");
}

Test(llm, malformed_event)
{
    sc.body = LLAMA_CHUNK("A") "data: {\"choices\": [\n\n";
    expect_failure(LLM_ERR_PROTOCOL,
                   "malformed stream from LLM at %s: event is not JSON: '{\"choices\": ['", "A");
}

Test(llm, not_an_event_stream)
{
    sc.body = "<html>hello</html>";
    sc.content_type = "text/event-stream";
    expect_failure(LLM_ERR_PROTOCOL, "malformed stream from LLM at %s: no events in the reply", "");
}

Test(llm, stream_cut_short_without_done)
{
    sc.body = LLAMA_CHUNK("Half") LLAMA_CHUNK(" an");
    expect_failure(LLM_ERR_PROTOCOL, "stream from LLM at %s ended before the answer was complete",
                   "Half an");
}

Test(llm, connection_closed_mid_stream)
{
    sc.body = llama_stream;
    sc.chunked = true;
    sc.close_after = 3;
    expect_failure(LLM_ERR_PROTOCOL, "LLM at %s closed the connection mid-answer", "违约金为");
}

Test(llm, stalled_stream_times_out)
{
    sc.body = llama_stream;
    sc.chunked = true;
    sc.stall_after = 2;
    sc.stall_ms = 4000;
    expect_failure(LLM_ERR_TIMEOUT, "LLM at %s stalled for 1 s mid-answer", "违约");
}

Test(llm, silent_server_times_out)
{
    sc.body = llama_stream;
    sc.delay_ms = 4000;
    expect_failure(LLM_ERR_TIMEOUT, "LLM at %s did not answer within 1 s", "");
}

Test(llm, http_404_with_openai_error)
{
    sc.status = 404;
    sc.content_type = "application/json";
    sc.body = "{\"error\":{\"message\":\"model \\\"llama3\\\" not found, try pulling it first\","
              "\"type\":\"api_error\",\"param\":null,\"code\":null}}";
    expect_failure(LLM_ERR_HTTP,
                   "LLM at %s answered HTTP 404: model \"llama3\" not found, try pulling it first", "");
}

Test(llm, http_400_from_vllm)
{
    sc.status = 400;
    sc.content_type = "application/json";
    sc.body = "{\"object\":\"error\",\"message\":\"This model's maximum context length is 4096 "
              "tokens.\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}";
    expect_failure(LLM_ERR_HTTP,
                   "LLM at %s answered HTTP 400: This model's maximum context length is 4096 tokens.",
                   "");
}

Test(llm, http_503_plain_text_and_empty)
{
    sc.status = 503;
    sc.content_type = "text/plain";
    sc.body = "\n  Loading model\nplease wait\n";
    expect_failure(LLM_ERR_HTTP, "LLM at %s answered HTTP 503: Loading model", "");
    sc.body = "";
    expect_failure(LLM_ERR_HTTP, "LLM at %s answered HTTP 503: (no message)", "");
}

/* What a caller acts on is the status and the reply's HTTP status, never the
 * message: a 5xx or no server means "answer without the LLM", a 4xx or a
 * failure after text came does not. */
static bool unreachable_after(int status, const char *content_type, const char *body)
{
    sc.status = status;
    sc.content_type = content_type;
    sc.body = body;
    sink k = {0};
    llm_reply r;
    llm_status st = ask(true, &k, &r);
    cr_assert_eq(r.http_status, status);
    bool u = llm_unreachable(st, &r);
    llm_reply_free(&r);
    dq_buf_free(&k.text);
    return u;
}

Test(llm, unreachable_is_a_status_not_a_message)
{
    cr_assert(unreachable_after(503, "text/plain", "Loading model"));
    cr_assert(unreachable_after(502, "text/plain", "bad gateway (HTTP 404 upstream)"));
    cr_assert_not(unreachable_after(404, "text/plain", "answered HTTP 500"));
    cr_assert_not(unreachable_after(400, "application/json", "{\"error\":\"HTTP 503\"}"));
    sc.status = 200;
    sc.content_type = NULL;
    sc.body = LLAMA_CHUNK("The ") "error: {\"code\":503,\"message\":\"overloaded\"}\n\n";
    sc.chunked = true;
    sink k = {0};
    llm_reply r;
    llm_status st = ask(true, &k, &r);
    cr_assert_eq(st, LLM_ERR_PROTOCOL);
    cr_assert_not(llm_unreachable(st, &r), "a failure mid-answer is not a missing LLM");
    llm_reply_free(&r);
    dq_buf_free(&k.text);
    llm_reply none = {0};
    cr_assert(llm_unreachable(LLM_ERR_CONNECT, &none));
    cr_assert(llm_unreachable(LLM_ERR_TIMEOUT, &none));
    cr_assert_not(llm_unreachable(LLM_ERR_CANCELLED, &none));
}

/* A chat with url, where nothing listens, fails to connect with the error
 * naming the URL as shown (secrets redacted); the client's own copy of the
 * URL keeps no password either. */
static void expect_refused(const char *url, const char *shown)
{
    llm_params p = llm_default_params();
    p.base_url = url;
    llm_client *c = llm_new(&p);
    llm_reply r;
    llm_request req = {.stream = true};
    cr_assert_eq(llm_chat(c, question, 2, &req, NULL, NULL, &r), LLM_ERR_CONNECT);
    char want[160];
    snprintf(want, sizeof want,
             "no LLM at %s (connection refused); start llama-server or set [llm] url", shown);
    cr_expect_str_eq(dq_last_error(), want);
    cr_expect(!strstr(llm_base_url(c), "hunter2"));
    llm_reply_free(&r);
    llm_free(c);
}

Test(llm, refused_connection)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", httpd_closed_port());
    expect_refused(url, url);
}

Test(llm, a_password_in_the_url_is_never_in_a_message)
{
    int port = httpd_closed_port();
    char url[96], shown[96];
    snprintf(url, sizeof url, "http://user:hunter2@127.0.0.1:%d/v1", port);
    snprintf(shown, sizeof shown, "http://***@127.0.0.1:%d/v1", port);
    expect_refused(url, shown);
}

Test(llm, callback_stops_the_stream)
{
    sc.body = llama_stream;
    sc.chunked = true;
    sink k = {.stop_after = 2};
    llm_reply r;
    cr_assert_eq(ask(true, &k, &r), LLM_ERR_CANCELLED);
    cr_assert_str_eq(r.text, "违约金为");
    cr_assert_str_eq(dq_last_error(), "cancelled");
    llm_reply_free(&r);
    dq_buf_free(&k.text);
}

static int polls;
static bool stop_soon(void)
{
    return ++polls > 2;
}

/* Nothing arrives for 5 s: only the poll can stop it (a broken poll would
 * end in LLM_OK when the reply comes). */
Test(llm, should_stop_interrupts_the_wait_for_a_first_token)
{
    sc.body = llama_stream;
    sc.delay_ms = 5000;
    polls = 0;
    llm_params p = llm_default_params();
    p.base_url = base;
    p.timeout_s = 30;
    llm_client *c = llm_new(&p);
    llm_request req = {.stream = true, .should_stop = stop_soon};
    llm_reply r;
    cr_assert_eq(llm_chat(c, question, 2, &req, NULL, NULL, &r), LLM_ERR_CANCELLED);
    cr_assert_str_eq(r.text, "");
    cr_assert_gt(polls, 2);
    llm_reply_free(&r);
    llm_free(c);
}

/* llama-server's whole reply. */
static const char llama_whole[] =
    "{\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"B\"},\"logprobs\":{\"content\":[{\"id\":33,\"token\":\"B\",\"bytes\":[66],"
    "\"logprob\":-0.105,\"top_logprobs\":[{\"id\":32,\"token\":\"A\",\"bytes\":[65],\"logprob\":-2.41},"
    "{\"id\":33,\"token\":\"B\",\"bytes\":[66],\"logprob\":-0.105},{\"id\":356,\"token\":\" B\","
    "\"bytes\":[32,66],\"logprob\":-4.2}]}]}}],\"created\":1732000003,\"model\":\"qwen2.5-7b\","
    "\"system_fingerprint\":\"b4179-fcd1e43\",\"object\":\"chat.completion\",\"usage\":"
    "{\"completion_tokens\":1,\"prompt_tokens\":96,\"total_tokens\":97},\"id\":\"chatcmpl-Z1\","
    "\"timings\":{\"prompt_n\":96,\"prompt_ms\":40.0,\"predicted_n\":1,\"predicted_ms\":9.0}}";

Test(llm, whole_reply_with_logprobs)
{
    sc.body = llama_whole;
    sc.content_type = "application/json; charset=utf-8";
    sink k = {0};
    llm_request req = {.stream = false, .max_tokens = 1, .top_logprobs = 3};
    llm_reply r;
    cr_assert_eq(llm_chat(client, question, 2, &req, on_token, &k, &r), LLM_OK, "%s",
                 dq_last_error());
    cr_assert_str_eq(r.text, "B");
    cr_assert_str_eq(k.text.data, "B");
    cr_assert_eq(r.prompt_tokens, 96);
    cr_assert_eq(r.completion_tokens, 1);
    cr_assert_eq(r.n_top, 3);
    cr_assert_str_eq(r.top[0].token, "B"); /* sorted best first */
    cr_assert_float_eq(r.top[0].logprob, -0.105, 1e-9);
    cr_assert_str_eq(r.top[1].token, "A");
    cr_assert_str_eq(r.top[2].token, " B");
    cJSON *j = cJSON_Parse(sc.request);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "stream")));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "logprobs")));
    cr_assert_eq(cJSON_GetObjectItem(j, "top_logprobs")->valueint, 3);
    cr_assert_eq(cJSON_GetObjectItem(j, "max_tokens")->valueint, 1);
    cr_assert_null(cJSON_GetObjectItem(j, "stream_options"));
    cJSON_Delete(j);
    llm_reply_free(&r);
    dq_buf_free(&k.text);
}

/* vLLM streams logprobs with each chunk; the first token's are kept. */
Test(llm, streamed_logprobs_from_vllm)
{
    sc.body = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
              "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
              "\"finish_reason\":null}]}\n\n"
              "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
              "\"delta\":{\"content\":\"C\"},\"logprobs\":{\"content\":[{\"token\":\"C\",\"logprob\":"
              "-0.01,\"bytes\":[67],\"top_logprobs\":[{\"token\":\"C\",\"logprob\":-0.01,\"bytes\":[67]},"
              "{\"token\":\"D\",\"logprob\":-5.5,\"bytes\":[68]}]}]},\"finish_reason\":null}]}\n\n"
              "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
              "\"delta\":{\"content\":\".\"},\"logprobs\":{\"content\":[{\"token\":\".\",\"logprob\":"
              "-0.2,\"bytes\":[46],\"top_logprobs\":[{\"token\":\".\",\"logprob\":-0.2,\"bytes\":[46]}]}]},"
              "\"finish_reason\":\"stop\"}]}\n\n"
              "data: [DONE]\n\n";
    llm_request req = {.stream = true, .top_logprobs = 2};
    llm_reply r;
    cr_assert_eq(llm_chat(client, question, 2, &req, NULL, NULL, &r), LLM_OK, "%s", dq_last_error());
    cr_assert_str_eq(r.text, "C.");
    cr_assert_eq(r.n_top, 2);
    cr_assert_str_eq(r.top[0].token, "C");
    cr_assert_str_eq(r.top[1].token, "D");
    cr_assert_float_eq(r.top[1].logprob, -5.5, 1e-9);
    llm_reply_free(&r);
}

/* llama-server's native format, older builds: probabilities, not logs. */
Test(llm, legacy_llama_server_probs)
{
    sc.body = "{\"choices\":[{\"finish_reason\":\"length\",\"index\":0,\"message\":{\"role\":"
              "\"assistant\",\"content\":\"A\"}}],\"completion_probabilities\":[{\"content\":\"A\","
              "\"probs\":[{\"tok_str\":\"A\",\"prob\":0.75},{\"tok_str\":\"B\",\"prob\":0.25}]}]}";
    sc.content_type = "application/json";
    llm_request req = {.top_logprobs = 2};
    llm_reply r;
    cr_assert_eq(llm_chat(client, question, 2, &req, NULL, NULL, &r), LLM_OK, "%s", dq_last_error());
    cr_assert_eq(r.n_top, 2);
    cr_assert_str_eq(r.top[0].token, "A");
    cr_assert_float_eq(r.top[0].logprob, log(0.75), 1e-9);
    cr_assert_float_eq(r.top[1].logprob, log(0.25), 1e-9);
    cr_assert_str_eq(r.finish_reason, "length");
    llm_reply_free(&r);
}

Test(llm, json_reply_to_a_streaming_request_is_read_whole)
{
    sc.body = "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"整段\"},"
              "\"finish_reason\":\"stop\"}]}";
    sc.content_type = "application/json";
    sink k = {0};
    llm_reply r;
    cr_assert_eq(ask(true, &k, &r), LLM_OK, "%s", dq_last_error());
    cr_assert_str_eq(r.text, "整段");
    cr_assert_str_eq(k.text.data, "整段");
    llm_reply_free(&r);
    dq_buf_free(&k.text);
}

Test(llm, whole_reply_malformed)
{
    sc.content_type = "application/json";
    sc.body = "{\"choices\":[]}";
    llm_reply r;
    llm_request req = {0};
    cr_assert_eq(llm_chat(client, question, 2, &req, NULL, NULL, &r), LLM_ERR_PROTOCOL);
    char want[200];
    snprintf(want, sizeof want, "malformed reply from LLM at %s: no choices[0].message.content", base);
    cr_assert_str_eq(dq_last_error(), want);
    llm_reply_free(&r);
    sc.body = "not json at all";
    cr_assert_eq(llm_chat(client, question, 2, &req, NULL, NULL, &r), LLM_ERR_PROTOCOL);
    snprintf(want, sizeof want, "malformed reply from LLM at %s: not JSON: 'not json at all'", base);
    cr_assert_str_eq(dq_last_error(), want);
    llm_reply_free(&r);
}

Test(llm, api_key_goes_in_the_authorization_header)
{
    llm_params p = llm_default_params();
    p.base_url = base;
    p.api_key = "sk-test-123";
    p.temperature = 0;
    llm_client *c = llm_new(&p);
    sc.body = ollama_stream;
    llm_request req = {.stream = true};
    llm_reply r;
    cr_assert_eq(llm_chat(c, question, 2, &req, NULL, NULL, &r), LLM_OK, "%s", dq_last_error());
    cr_assert(sc.had_auth);
    cr_assert_str_eq(sc.auth, "Bearer sk-test-123");
    cJSON *j = cJSON_Parse(sc.request);
    cr_assert_null(cJSON_GetObjectItem(j, "model")); /* none set: the server's default */
    cJSON_Delete(j);
    llm_reply_free(&r);
    llm_free(c);
}

Test(llm, base_url_forms)
{
    llm_params p = llm_default_params();
    p.base_url = "ftp://x";
    cr_assert_null(llm_new(&p));
    cr_assert_str_eq(dq_last_error(), "LLM url 'ftp://x' must start with http:// or https://");
    p.base_url = "http://h:1/v1/";
    p.max_tokens = 0;
    cr_assert_null(llm_new(&p));
    p.max_tokens = 10;
    llm_client *c = llm_new(&p);
    cr_assert_str_eq(llm_base_url(c), "http://h:1/v1");
    llm_free(c);
    p.base_url = "http://h:1/v1/chat/completions";
    c = llm_new(&p);
    cr_assert_str_eq(llm_base_url(c), "http://h:1/v1");
    llm_free(c);
    llm_free(NULL);
}

Test(llm, models_list)
{
    sc.content_type = "application/json";
    sc.body = "{\"object\":\"list\",\"data\":[{\"id\":\"qwen2.5-7b\",\"object\":\"model\","
              "\"created\":1732000000,\"owned_by\":\"llamacpp\",\"meta\":{\"n_ctx_train\":32768}},"
              "{\"id\":\"bge-m3\",\"object\":\"model\"}]}";
    char **ids;
    size_t n;
    cr_assert_eq(llm_models(client, &ids, &n), LLM_OK, "%s", dq_last_error());
    cr_assert_str_eq(sc.path, "/v1/models");
    cr_assert_eq(n, 2);
    cr_assert_str_eq(ids[0], "qwen2.5-7b");
    cr_assert_str_eq(ids[1], "bge-m3");
    llm_models_free(ids, n);
    sc.status = 401;
    sc.body = "{\"error\":{\"message\":\"Invalid API Key\",\"type\":\"authentication_error\"}}";
    cr_assert_eq(llm_models(client, &ids, &n), LLM_ERR_HTTP);
    char want[160];
    snprintf(want, sizeof want, "LLM at %s answered HTTP 401: Invalid API Key", base);
    cr_assert_str_eq(dq_last_error(), want);
    cr_assert_eq(n, 0);
}

Test(llm, tokenize_on_llama_server_and_absent_elsewhere)
{
    sc.content_type = "application/json";
    sc.body = "{\"tokens\":[101,2023,2003,102]}";
    cr_assert_eq(llm_count_tokens(client, "这是一个"), 4);
    cr_assert_str_eq(sc.path, "/tokenize");
    cJSON *j = cJSON_Parse(sc.request);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "content")->valuestring, "这是一个");
    cJSON_Delete(j);
    sc.body = "{\"count\":7,\"max_model_len\":4096,\"tokens\":[1,2,3,4,5,6,7]}"; /* vLLM */
    cr_assert_eq(llm_count_tokens(client, "x"), 7);

    llm_params p = llm_default_params();
    p.base_url = base;
    llm_client *c = llm_new(&p);
    sc.status = 404;
    sc.body = "404 page not found"; /* Ollama */
    int before = httpd_requests(server);
    cr_assert_eq(llm_count_tokens(c, "x"), -1);
    cr_assert_eq(llm_count_tokens(c, "y"), -1);
    cr_assert_eq(httpd_requests(server), before + 1); /* remembered, not asked again */
    llm_free(c);
}

Test(llm, empty_reply)
{
    sc.body = "";
    sc.chunked = true;
    expect_failure(LLM_ERR_PROTOCOL, "LLM at %s sent an empty reply", "");
}

/* llama-server builds before "usage" in streams: counts from "timings";
 * an "error": null field is not an error. */
Test(llm, counts_from_timings_alone)
{
    sc.body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"}}],\"error\":null}\n\n"
              "data: {\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"delta\":{}}],"
              "\"timings\":{\"prompt_n\":77,\"predicted_n\":1}}\n\ndata: [DONE]\n\n";
    sink k = {0};
    llm_reply r;
    cr_assert_eq(ask(true, &k, &r), LLM_OK, "%s", dq_last_error());
    cr_assert_str_eq(r.text, "ok");
    cr_assert_eq(r.prompt_tokens, 77);
    cr_assert_eq(r.completion_tokens, 1);
    llm_reply_free(&r);
    dq_buf_free(&k.text);
}

/* Newer vLLM (ErrorResponse(error=ErrorInfo(...))) and older builds that
 * wrapped the object: {"error": {...}} mid-stream. */
Test(llm, vllm_nested_error_mid_stream)
{
    sc.body = VLLM_CHUNK("x", "null")
        "data: {\"error\": {\"message\": \"The decoder prompt (length 9000) is longer than the "
        "maximum model length of 8192.\", \"type\": \"BadRequestError\", \"param\": null, \"code\": 400}}\n\n"
        "data: [DONE]\n\n";
    expect_failure(LLM_ERR_PROTOCOL,
                   "LLM at %s failed mid-answer: The decoder prompt (length 9000) is longer than the "
                   "maximum model length of 8192.",
                   "x");
}
