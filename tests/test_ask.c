/* test_ask.c - `docqa ask` and `docqa chat` with an LLM end to end: the
 * built binary against a loopback server playing llama-server, checking the
 * exact text printed, citations, the extractive fallback and exit codes. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "support/httpd.h"
#include "support/run.h"
#include "support/tmpdir.h"

/* ---- the server: /tokenize missing (as Ollama), chat replays a script --- */

typedef struct {
    int status;
    const char *content_type;
    const char *body; /* the reply to chat requests, in order; NULL ends */
    const char *bodies[4];
    int stall_after, stall_ms;
    int chats;          /* chat requests seen */
    char *last_request; /* body of the last chat request, owned */
    char *requests[4];  /* bodies of the first chat requests, owned */
    const char *rewrite; /* the answer to non-streamed requests (chat's rewrite) */
    char *rewrite_request;
} llm_script;

static void handle(void *ctx, const httpd_request *req, httpd_response *resp)
{
    llm_script *s = ctx;
    if (strstr(req->path, "/tokenize")) {
        resp->status = 404;
        dq_buf_puts(&resp->body, "404 page not found");
        return;
    }
    if (strstr(req->path, "/models")) {
        dq_buf_puts(&resp->body, "{\"object\":\"list\",\"data\":[{\"id\":\"qwen2.5-7b\","
                                 "\"object\":\"model\",\"owned_by\":\"llamacpp\"}]}");
        return;
    }
    if (s->rewrite && memmem(req->body, req->body_len, "\"stream\":false", 14)) {
        /* chat's follow-up rewrite: a whole reply */
        dq_buf_printf(&resp->body,
                      "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                      "\"content\":\"%s\"},\"finish_reason\":\"stop\"}]}",
                      s->rewrite);
        free(s->rewrite_request);
        s->rewrite_request = dq_strndup(req->body, req->body_len);
        return;
    }
    int i = s->chats++;
    free(s->last_request);
    s->last_request = dq_strndup(req->body, req->body_len);
    if (i < 4)
        s->requests[i] = dq_strndup(req->body, req->body_len);
    resp->status = s->status ? s->status : 200;
    snprintf(resp->content_type, sizeof resp->content_type, "%s",
             s->content_type ? s->content_type : "text/event-stream");
    const char *body = i < 4 && s->bodies[i] ? s->bodies[i] : s->body;
    dq_buf_puts(&resp->body, body ? body : "");
    resp->chunked = true;
    resp->stall_after = s->stall_after;
    resp->stall_ms = s->stall_ms;
}

static char workdir[256];
static httpd *server;
static llm_script script;
static char url_env[128];

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", workdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

static run_result run(const char *input, const char *interrupt_at, const char *const *args)
{
    const char *env[] = {url_env, NULL};
    run_opts o = {.workdir = workdir, .env = env, .input = input, .interrupt_at = interrupt_at};
    return run_docqa(&o, args);
}

#define ASK(...) run(NULL, NULL, (const char *const[]){__VA_ARGS__, NULL})

static const char *lease_md =
    "# 房屋租赁合同\n\n"
    "## 第三章 违约责任\n\n"
    "### 3.2 违约金\n\n"
    "乙方逾期支付租金的，每逾期一日应按月租金的千分之五向甲方支付违约金。"
    "违约金总额不超过三个月租金。\n";

static const char *manual_txt =
    "Warranty\n\n"
    "The warranty period is 24 months from the date of purchase. Keep your receipt.\n";

static void setup(void)
{
    snprintf(workdir, sizeof workdir, "/tmp/docqa-ask-XXXXXX");
    cr_assert(mkdtemp(workdir));
    memset(&script, 0, sizeof script);
    server = httpd_start(handle, &script);
    cr_assert(server);
    snprintf(url_env, sizeof url_env, "DOCQA_LLM_URL=%s/v1", httpd_url(server));
    write_file("lease.md", lease_md);
    write_file("manual.txt", manual_txt);
    run_result r = ASK("ingest", "lease.md", "manual.txt");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
}

static void teardown(void)
{
    httpd_stop(server);
    free(script.last_request);
    free(script.rewrite_request);
    for (int i = 0; i < 4; i++)
        free(script.requests[i]);
    cr_expect_eq(tmpdir_remove(workdir), 0);
}

TestSuite(ask, .init = setup, .fini = teardown, .timeout = 60);

#define CHUNK(c)                                                                                   \
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"" c "\"}}],"  \
    "\"object\":\"chat.completion.chunk\"}\n\n"
#define LAST(fin)                                                                                  \
    "data: {\"choices\":[{\"finish_reason\":\"" fin "\",\"index\":0,\"delta\":{}}],"               \
    "\"object\":\"chat.completion.chunk\",\"usage\":{\"completion_tokens\":21,"                   \
    "\"prompt_tokens\":388,\"total_tokens\":409}}\n\ndata: [DONE]\n\n"

Test(ask, streams_the_answer_and_lists_cited_sources)
{
    script.body = CHUNK("逾期每日按月租金的") CHUNK("千分之五支付违约金[1]，") CHUNK("总额不超过三个月租金[1][7]。")
        LAST("stop");
    run_result r = ASK("ask", "违约金怎么算？");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "逾期每日按月租金的千分之五支付违约金[1]，总额不超过三个月租金[1][7]。\n"
                            "\nSources:\n"
                            "[1] lease.md p. 1, 房屋租赁合同 > 第三章 违约责任 > 3.2 违约金\n"
                            "[7] (no such passage: the model cited a number it was not given)\n");
    cr_assert_str_eq(r.err, "");
    /* what the model was sent */
    cJSON *j = cJSON_Parse(script.last_request);
    cJSON *msgs = cJSON_GetObjectItem(j, "messages");
    cr_assert_eq(cJSON_GetArraySize(msgs), 2);
    const char *sys = cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "content")->valuestring;
    const char *user = cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 1), "content")->valuestring;
    cr_assert(strstr(sys, "文档中没有找到答案"));
    cr_assert(strstr(user, "<passage id=\"1\" source=\"lease.md p. 1, 房屋租赁合同 > 第三章 违约责任 > 3.2 违约金\">\n"),
              "%s", user);
    cr_assert(strstr(user, "问题：违约金怎么算？"));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "stream")));
    cJSON_Delete(j);
    run_result_free(&r);
}

Test(ask, control_characters_never_reach_the_terminal)
{
    script.body = CHUNK("24 \\u001b[2Jmonths\\r\\u0007 [1].") LAST("stop");
    run_result r = ASK("ask", "How long is the warranty period?");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "24 [2Jmonths [1].\n\nSources:\n[1] manual.txt p. 1\n");
    run_result_free(&r);
    script.status = 500;
    script.content_type = "text/plain";
    script.body = "\x1b]0;pwned\x07 crash";
    r = ASK("ask", "How long is the warranty period?");
    cr_assert(strstr(r.err, "answered HTTP 500: ]0;pwned  crash; answering"), "%s", r.err);
    run_result_free(&r);
}

Test(ask, json_has_answer_citations_sources_timings_tokens)
{
    script.body = CHUNK("The warranty is 24 months [1].") LAST("stop");
    run_result r = ASK("ask", "--json", "How long is the warranty?");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "mode")->valuestring, "llm");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "lang")->valuestring, "en");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "answer")->valuestring, "The warranty is 24 months [1].");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "finish_reason")->valuestring, "stop");
    cJSON *cites = cJSON_GetObjectItem(j, "citations");
    cr_assert_eq(cJSON_GetArraySize(cites), 1);
    cr_assert_eq(cJSON_GetArrayItem(cites, 0)->valueint, 1);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "unknown_citations")), 0);
    cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "sources"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(s0, "path")->valuestring, "manual.txt");
    cr_assert_eq(cJSON_GetObjectItem(s0, "number")->valueint, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(s0, "label")->valuestring, "manual.txt p. 1");
    /* the search hit's fields too: one shape for the CLI and the API */
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(s0, "scores")));
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(s0, "doc_id")));
    cr_assert_geq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "retrieved")), 1);
    cJSON *t = cJSON_GetObjectItem(j, "timings");
    double ft = cJSON_GetObjectItem(t, "first_token_s")->valuedouble;
    double total = cJSON_GetObjectItem(t, "total_s")->valuedouble;
    cr_assert(ft > 0 && ft <= total);
    cr_assert(cJSON_GetObjectItem(t, "retrieve_s")->valuedouble >= 0);
    cJSON *k = cJSON_GetObjectItem(j, "tokens");
    cr_assert_eq(cJSON_GetObjectItem(k, "prompt")->valueint, 388);
    cr_assert_eq(cJSON_GetObjectItem(k, "completion")->valueint, 21);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(k, "prompt_estimate_counted"))); /* no /tokenize */
    cr_assert_gt(cJSON_GetObjectItem(k, "prompt_estimate")->valueint, 100);
    cJSON_Delete(j);
    run_result_free(&r);
}

Test(ask, unreachable_llm_falls_back_to_extractive)
{
    snprintf(url_env, sizeof url_env, "DOCQA_LLM_URL=http://127.0.0.1:%d/v1", httpd_closed_port());
    run_result r = ASK("ask", "How long is the warranty period?");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char want[300];
    snprintf(want, sizeof want,
             "docqa: no LLM at %s (connection refused); start llama-server or set [llm] url; "
             "answering from the passages instead (extractive)\n",
             url_env + strlen("DOCQA_LLM_URL="));
    cr_assert_str_eq(r.err, want);
    cr_assert_str_eq(r.out, "The warranty period is 24 months from the date of purchase. [1]\n"
                            "\nSources:\n[1] manual.txt p. 1\n");
    run_result_free(&r);
    r = ASK("ask", "--json", "How long is the warranty?");
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "mode")->valuestring, "extractive");
    cr_assert(strstr(cJSON_GetObjectItem(j, "llm_error")->valuestring, "connection refused"));
    cJSON_Delete(j);
    run_result_free(&r);
}

Test(ask, server_error_5xx_falls_back_too)
{
    script.status = 503;
    script.content_type = "application/json";
    script.body = "{\"error\":{\"code\":503,\"message\":\"Loading model\",\"type\":\"unavailable_error\"}}";
    run_result r = ASK("ask", "How long is the warranty period?");
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.err, "answered HTTP 503: Loading model; answering from the passages instead"),
              "%s", r.err);
    cr_assert(strstr(r.out, "24 months"));
    run_result_free(&r);
}

Test(ask, http_4xx_is_an_error_with_the_servers_message)
{
    script.status = 404;
    script.content_type = "application/json";
    script.body = "{\"error\":{\"message\":\"model \\\"llama9\\\" not found, try pulling it first\","
                  "\"type\":\"api_error\"}}";
    run_result r = ASK("ask", "How long is the warranty?");
    cr_assert_eq(r.status, 4);
    cr_assert_str_eq(r.out, "");
    char want[300];
    snprintf(want, sizeof want,
             "docqa: LLM at %s answered HTTP 404: model \"llama9\" not found, try pulling it first\n",
             url_env + strlen("DOCQA_LLM_URL="));
    cr_assert_str_eq(r.err, want);
    run_result_free(&r);
}

Test(ask, error_mid_stream_keeps_what_was_printed)
{
    script.body = CHUNK("The warranty") "error: {\"code\":500,\"message\":\"slot unavailable\"}\n\n";
    run_result r = ASK("ask", "How long is the warranty?");
    cr_assert_eq(r.status, 4);
    cr_assert_str_eq(r.out, "The warranty\n");
    cr_assert(strstr(r.err, "failed mid-answer: slot unavailable\n"), "%s", r.err);
    run_result_free(&r);
}

Test(ask, ctrl_c_while_streaming_stops_cleanly)
{
    script.body = CHUNK("The warranty") CHUNK(" is") LAST("stop");
    script.stall_after = 1;
    script.stall_ms = 8000;
    run_result r = run(NULL, "The warranty", (const char *const[]){"ask", "warranty?", NULL});
    cr_assert_eq(r.status, 130, "%d %s", r.status, r.err);
    cr_assert_str_eq(r.out, "The warranty\n");
    cr_assert_str_eq(r.err, "docqa: interrupted\n");
    run_result_free(&r);
}

Test(ask, nothing_retrieved_says_so_without_asking_the_model)
{
    run_result r = ASK("ask", "zebra xylophone?");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "The documents do not say.\n");
    cr_assert_eq(script.chats, 0);
    run_result_free(&r);
}

Test(ask, no_llm_flag_and_config_errors)
{
    run_result r = ASK("ask", "--no-llm", "How long is the warranty?");
    cr_assert_eq(r.status, 0);
    cr_assert_eq(script.chats, 0);
    cr_assert(strstr(r.out, "[1] manual.txt"));
    run_result_free(&r);
    /* a key in a config file is refused: it would sit next to the store */
    write_file(".docqa/config", "[llm]\napi_key = sk-123\n");
    r = ASK("ask", "How long is the warranty?");
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "line 2: unknown or invalid setting 'llm.api_key = sk-123'"), "%s", r.err);
    run_result_free(&r);
    write_file(".docqa/config", "[llm]\ncontext = 600\nmax_tokens = 500\n");
    r = ASK("ask", "How long is the warranty?");
    cr_assert_eq(r.status, 1);
    cr_assert_str_eq(r.err, "docqa: [llm] context (600 tokens) leaves no room for passages after "
                            "the answer's 500; raise context or lower max_tokens\n");
    cr_assert_eq(script.chats, 0);
    run_result_free(&r);
    write_file(".docqa/config", "[llm]\ntemperature = 7\n");
    r = ASK("ask", "How long is the warranty?");
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "'llm.temperature = 7'"), "%s", r.err);
    run_result_free(&r);
    /* settings from the file reach the request; the key from the environment */
    write_file(".docqa/config", "[llm]\nmodel = qwen2.5-7b\ntemperature = 0\nmax_tokens = 99\n");
    script.body = CHUNK("24 months [1].") LAST("stop");
    const char *env[] = {url_env, "DOCQA_LLM_API_KEY=sk-secret", NULL};
    run_opts o = {.workdir = workdir, .env = env};
    r = run_docqa(&o, (const char *const[]){"ask", "warranty?", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cJSON *j = cJSON_Parse(script.last_request);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "model")->valuestring, "qwen2.5-7b");
    cr_assert_eq(cJSON_GetObjectItem(j, "max_tokens")->valueint, 99);
    cr_assert_float_eq(cJSON_GetObjectItem(j, "temperature")->valuedouble, 0, 1e-9);
    cJSON_Delete(j);
    run_result_free(&r);
}

Test(ask, user_prompt_template_is_used)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/.config/docqa/prompts", workdir);
    cr_assert_eq(dq_mkdirs(dir), 0);
    write_file(".config/docqa/prompts/en.txt", "Answer like a pirate.\n[user]\n{question}\n---\n{passages}\n");
    script.body = CHUNK("Arr, 24 months [1].") LAST("stop");
    run_result r = ASK("ask", "How long is the warranty?");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cJSON *j = cJSON_Parse(script.last_request);
    cJSON *msgs = cJSON_GetObjectItem(j, "messages");
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "content")->valuestring,
                     "Answer like a pirate.");
    cr_assert(!strncmp(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 1), "content")->valuestring,
                       "How long is the warranty?\n---\n<passage id=\"1\"", 42));
    cJSON_Delete(j);
    run_result_free(&r);
}

/* ---- chat ------------------------------------------------------------- */

static const char *msg_content(cJSON *msgs, int i)
{
    return cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, i), "content")->valuestring;
}

static const char *msg_role(cJSON *msgs, int i)
{
    return cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, i), "role")->valuestring;
}

Test(ask, chat_rewrites_follow_ups_and_keeps_history)
{
    script.bodies[0] = CHUNK("每日按月租金的千分之五[1]。") LAST("stop");
    script.bodies[1] = CHUNK("不超过三个月租金[1]。") LAST("stop");
    script.rewrite = "违约金总额上限是多少？";
    run_result r = run("违约金怎么算？\n那上限呢？\n/sources\n/quit\n", NULL,
                       (const char *const[]){"chat", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.err, "");
    cr_assert_str_eq(r.out, "每日按月租金的千分之五[1]。\n\nSources:\n"
                            "[1] lease.md p. 1, 房屋租赁合同 > 第三章 违约责任 > 3.2 违约金\n\n"
                            "不超过三个月租金[1]。\n\nSources:\n"
                            "[1] lease.md p. 1, 房屋租赁合同 > 第三章 违约责任 > 3.2 违约金\n\n"
                            "[1] lease.md p. 1, 房屋租赁合同 > 第三章 违约责任 > 3.2 违约金\n");
    cr_assert_str_eq(r.err, "");
    cr_assert_eq(script.chats, 2);
    /* the rewrite saw the first turn and the follow-up */
    cJSON *j = cJSON_Parse(script.rewrite_request);
    cJSON *msgs = cJSON_GetObjectItem(j, "messages");
    cr_assert_eq(cJSON_GetArraySize(msgs), 4);
    cr_assert(strstr(msg_content(msgs, 0), "standalone question"));
    cr_assert_str_eq(msg_content(msgs, 1), "违约金怎么算？");
    cr_assert_str_eq(msg_content(msgs, 2), "每日按月租金的千分之五[1]。");
    cr_assert_str_eq(msg_role(msgs, 2), "assistant");
    cr_assert_str_eq(msg_content(msgs, 3), "那上限呢？");
    cJSON_Delete(j);
    /* the second answer: instructions, the first turn, then passages and the question */
    j = cJSON_Parse(script.requests[1]);
    msgs = cJSON_GetObjectItem(j, "messages");
    cr_assert_eq(cJSON_GetArraySize(msgs), 4);
    cr_assert_str_eq(msg_role(msgs, 0), "system");
    cr_assert_str_eq(msg_content(msgs, 1), "违约金怎么算？");
    cr_assert_str_eq(msg_content(msgs, 2), "每日按月租金的千分之五[1]。");
    cr_assert(strstr(msg_content(msgs, 3), "<passage id=\"1\""));
    cr_assert(strstr(msg_content(msgs, 3), "问题：那上限呢？"));
    cJSON_Delete(j);
    run_result_free(&r);
}

Test(ask, chat_commands_and_extractive_follow_ups)
{
    run_result r = run("/sources\nHow long is the warranty period?\n/bogus\nand the receipt?\n"
                       "/clear\n/sources\n",
                       NULL, (const char *const[]){"chat", "--no-llm", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "no sources yet: ask a question first\n"
                            "The warranty period is 24 months from the date of purchase. [1]\n"
                            "\nSources:\n[1] manual.txt p. 1\n\n"
                            /* searched with the question before it: alone,
                             * "and the receipt?" finds "Keep your receipt." */
                            "The warranty period is 24 months from the date of purchase. [1]\n"
                            "\nSources:\n[1] manual.txt p. 1\n\n"
                            "conversation cleared\n"
                            "no sources yet: ask a question first\n");
    cr_assert_str_eq(r.err, "docqa: unknown command '/bogus'; try /help\n");
    cr_assert_eq(script.chats, 0);
    run_result_free(&r);
}

Test(ask, chat_falls_back_once_when_the_llm_is_gone)
{
    snprintf(url_env, sizeof url_env, "DOCQA_LLM_URL=http://127.0.0.1:%d/v1", httpd_closed_port());
    run_result r = run("How long is the warranty period?\nHow long is the warranty period?\n", NULL,
                       (const char *const[]){"chat", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    char want[300];
    snprintf(want, sizeof want,
             "docqa: no LLM at %s (connection refused); start llama-server or set [llm] url; "
             "answering from the passages for the rest of this chat (extractive)\n",
             url_env + strlen("DOCQA_LLM_URL="));
    cr_assert_str_eq(r.err, want);
    const char *one = "The warranty period is 24 months from the date of purchase. [1]\n"
                      "\nSources:\n[1] manual.txt p. 1\n\n";
    char both[600];
    snprintf(both, sizeof both, "%s%s", one, one);
    cr_assert_str_eq(r.out, both);
    run_result_free(&r);
}

Test(ask, doctor_checks_endpoint_and_model)
{
    write_file(".docqa/config", "[llm]\nmodel = qwen2.5-7b\n");
    script.body = CHUNK("OK") LAST("stop");
    run_result r = ASK("doctor");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char want[600];
    snprintf(want, sizeof want, "llm: %s\nmodels: qwen2.5-7b\nmodel: qwen2.5-7b (served)\n",
             url_env + strlen("DOCQA_LLM_URL="));
    cr_assert(!strncmp(r.out, want, strlen(want)), "%s", r.out);
    cr_assert(strstr(r.out, "\nchat: ok (first token in "));
    cr_assert(strstr(r.out, "\ntokenize: not offered (prompt budgets are estimated)\n"));
    run_result_free(&r);
    /* a name not listed: a warning; the chat request decides (llama-server
     * ignores the name, Ollama and vLLM answer 404) */
    write_file(".docqa/config", "[llm]\nmodel = llama9\n");
    r = ASK("doctor");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "model: llama9 (not listed)\nchat: ok"), "%s", r.out);
    snprintf(want, sizeof want, "docqa: model 'llama9' is not among those listed at %s\n",
             url_env + strlen("DOCQA_LLM_URL="));
    cr_assert_str_eq(r.err, want);
    run_result_free(&r);
    script.status = 404;
    script.content_type = "application/json";
    script.body = "{\"error\":{\"message\":\"model \\\"llama9\\\" not found, try pulling it first\"}}";
    r = ASK("doctor");
    cr_assert_eq(r.status, 4);
    cr_assert(strstr(r.err, "answered HTTP 404: model \"llama9\" not found, try pulling it first\n"),
              "%s", r.err);
    run_result_free(&r);
    snprintf(url_env, sizeof url_env, "DOCQA_LLM_URL=http://127.0.0.1:%d/v1", httpd_closed_port());
    r = ASK("doctor");
    cr_assert_eq(r.status, 4);
    cr_assert(strstr(r.err, "(connection refused); start llama-server or set [llm] url\n"));
    run_result_free(&r);
}

Test(ask, doctor_writes_the_prompt_templates_for_editing)
{
    run_result r = ASK("doctor", "--write-prompts");
    cr_assert_eq(r.status, 0, "%s", r.err);
    char want[700];
    snprintf(want, sizeof want, "wrote %s/.config/docqa/prompts/en.txt\nwrote %s/.config/docqa/prompts/zh.txt\n",
             workdir, workdir);
    cr_assert_str_eq(r.out, want);
    run_result_free(&r);
    char path[400];
    snprintf(path, sizeof path, "%s/.config/docqa/prompts/zh.txt", workdir);
    dq_buf b = DQ_BUF_INIT;
    cr_assert_eq(dq_read_file(path, &b), 0);
    cr_assert(strstr(b.data, "[user]\n资料：\n\n{passages}\n\n问题：{question}\n"));
    dq_buf_free(&b);
    /* an edited file is kept, and used */
    write_file(".config/docqa/prompts/en.txt", "Edited.\n");
    r = ASK("doctor", "--write-prompts");
    snprintf(want, sizeof want, "kept %s/.config/docqa/prompts/en.txt\nkept %s/.config/docqa/prompts/zh.txt\n",
             workdir, workdir);
    cr_assert_str_eq(r.out, want);
    run_result_free(&r);
    script.body = CHUNK("24 months [1].") LAST("stop");
    r = ASK("ask", "How long is the warranty period?");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cJSON *j = cJSON_Parse(script.last_request);
    cr_assert_str_eq(msg_content(cJSON_GetObjectItem(j, "messages"), 0), "Edited.");
    cJSON_Delete(j);
    run_result_free(&r);
}

Test(ask, chat_ctrl_c_stops_the_answer_not_the_session)
{
    script.bodies[0] = CHUNK("The warranty") CHUNK(" is") LAST("stop");
    script.bodies[1] = CHUNK("24 months [1].") LAST("stop");
    script.stall_after = 1;
    script.stall_ms = 8000;
    run_result r = run("How long is the warranty period?\n/sources\n", "The warranty",
                       (const char *const[]){"chat", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "The warranty\n\nno sources yet: ask a question first\n");
    cr_assert_str_eq(r.err, "docqa: interrupted\n");
    run_result_free(&r);
}

Test(ask, doc_scope_that_matches_nothing_is_said_not_answered)
{
    script.body = CHUNK("不该被调用") LAST("stop");
    run_result r = ASK("ask", "--doc", "*report-2019*", "违约金怎么算？");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "库中没有与“*report-2019*”匹配的文档。"), "%s", r.out);
    cr_assert_null(script.last_request, "the LLM was asked: %s", script.last_request);
    run_result_free(&r);
    /* a pattern that matches scopes the answer to that document */
    r = ASK("ask", "--no-llm", "--doc", "*manual*", "How long is the warranty period?");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "24 months"), "%s", r.out);
    cr_assert(strstr(r.out, "manual.txt"), "%s", r.out);
    cr_assert_null(strstr(r.out, "lease.md"), "%s", r.out);
    run_result_free(&r);
}

Test(ask, a_report_not_in_the_store_is_said_not_answered)
{
    write_file("acme-2018.txt", "Acme Corporation\nAnnual Report 2018\n\nRevenue was $410 million "
                                "in 2018, up from $380 million.\n");
    write_file("borealis-2018.txt", "Borealis Industries\nAnnual Report 2018\n\nRevenue was $630 "
                                    "million in 2018, up from $600 million.\n");
    run_result r = ASK("ingest", "acme-2018.txt", "borealis-2018.txt");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    script.body = CHUNK("Revenue was $630 million [1].") LAST("stop");
    r = ASK("ask", "What was Zenith's revenue in 2018?");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "No document about 'Zenith 2018' is in the store.\n");
    cr_assert_null(script.last_request, "the LLM was asked: %s", script.last_request);
    run_result_free(&r);
    r = ASK("ask", "--json", "Zenith公司2018年的收入是多少？");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(j, "found")));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "no_document")));
    cr_assert_str_eq(cJSON_GetObjectItem(j, "answer")->valuestring, "库中没有关于“Zenith 2018”的文档。");
    cr_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "scope"), "absent")->valuestring,
        "Zenith 2018");
    cJSON_Delete(j);
    run_result_free(&r);
    /* a stored company's report answers */
    r = ASK("ask", "--no-llm", "What was Acme's revenue in 2018?");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "$410 million"), "%s", r.out);
    run_result_free(&r);
    /* chat says it too, and a --doc that matches nothing */
    r = run("What was Zenith's revenue in 2018?\n", NULL,
            (const char *const[]){"chat", "--no-llm", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "No document about 'Zenith 2018' is in the store."), "%s", r.out);
    run_result_free(&r);
    r = run("How long is the warranty period?\n", NULL,
            (const char *const[]){"chat", "--no-llm", "--doc", "*2019*", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "No document in the store matches '*2019*'."), "%s", r.out);
    run_result_free(&r);
}
