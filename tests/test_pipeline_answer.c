/* test_pipeline_answer.c - pipeline/session.c and answer.c: the one answer
 * turn of ask, chat and serve, on a small store and a loopback LLM: the
 * extractive answer and its "not found", follow-ups made standalone with and
 * without the LLM, the LLM's streamed answer with history and citations,
 * falling back when it cannot be reached, the failures as codes, and the
 * retrieval step alone (what eval ceval --rag sends). */
#include "common/common.h"
#include "pipeline/pipeline.h"
#include "support/httpd.h"
#include "support/lmgen.h"
#include "support/storegen.h"
#include "support/tmpdir.h"

#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[64];
static char dir[96];

static const char *const lease[] = {
    "第三条 乙方逾期支付租金的，每逾期一日应按月租金的千分之五向甲方支付违约金。",
    "第四条 违约金总额不超过三个月租金。押金为五千元，租期届满后退还。",
};
static const char *const manual[] = {
    "The warranty period is 24 months from the date of purchase. Keep your receipt.",
    "To clean the device, unplug it and wipe it with a dry cloth.",
};

static void put_doc(store *st, const char *path, const char *const *texts, size_t n)
{
    cr_assert_eq(storegen_put_texts(st, path, texts, n), 0, "%s", dq_last_error());
}

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/dq-test-answer-%d", (int)getpid());
    snprintf(dir, sizeof dir, "%s/.docqa", root);
    cr_assert_eq(dq_mkdirs(root), 0);
    char xdg[96];
    snprintf(xdg, sizeof xdg, "%s/xdg", root);
    setenv("XDG_CONFIG_HOME", xdg, 1); /* no user config */
    static const char *const env[] = {"DOCQA_EMBED_MODEL", "DOCQA_EMBED_URL", "DOCQA_LLM_URL",
                                      "DOCQA_LLM_MODEL", "DOCQA_LLM_API_KEY"};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++)
        unsetenv(env[i]);
    store *st = store_open(dir, STORE_CREATE);
    cr_assert_not_null(st, "%s", dq_last_error());
    cr_assert_eq(store_begin(st), 0);
    put_doc(st, "lease.txt", lease, 2);
    put_doc(st, "manual.txt", manual, 2);
    cr_assert_eq(store_commit(st), 0, "%s", dq_last_error());
    store_close(st);
}

static void teardown(void)
{
    tmpdir_remove(root);
}

TestSuite(answer, .init = setup, .fini = teardown, .timeout = 60);

/* ---- a loopback LLM ------------------------------------------------------ */

typedef struct {
    int status;          /* of chat answers; 0: 200 */
    const char *answer;  /* streamed in two pieces */
    const char *rewrite; /* the reply to a follow-up rewrite (a non-streamed request) */
    int chats;           /* streamed requests seen */
    int rewrites;        /* non-streamed requests seen */
    char *last_chat;     /* the last streamed request's body */
} fake_llm;

#define CHUNK(c) "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" c "\"}}]}\n\n"

static void handle(void *ctx, const httpd_request *req, httpd_response *resp)
{
    fake_llm *f = ctx;
    if (strstr(req->path, "/tokenize")) {
        resp->status = 404;
        return;
    }
    if (memmem(req->body, req->body_len, "\"stream\":false", 14)) {
        f->rewrites++;
        dq_buf_printf(&resp->body,
                      "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                      "\"content\":\"%s\"},\"finish_reason\":\"stop\"}]}",
                      f->rewrite ? f->rewrite : "");
        return;
    }
    f->chats++;
    free(f->last_chat);
    f->last_chat = dq_strndup(req->body, req->body_len);
    if (f->status) {
        resp->status = f->status;
        snprintf(resp->content_type, sizeof resp->content_type, "text/plain");
        dq_buf_puts(&resp->body, "the model is busy");
        return;
    }
    snprintf(resp->content_type, sizeof resp->content_type, "text/event-stream");
    size_t half = strlen(f->answer) / 2;
    while (half > 0 && ((unsigned char)f->answer[half] & 0xC0) == 0x80)
        half--;
    dq_buf_printf(&resp->body, CHUNK("%.*s") CHUNK("%s"), (int)half, f->answer, f->answer + half);
    dq_buf_puts(&resp->body, "data: {\"choices\":[{\"index\":0,\"delta\":{},"
                             "\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
}

/* Writes the store's config with [llm] url (NULL: no config). */
static void set_llm_url(const char *url)
{
    char path[160];
    snprintf(path, sizeof path, "%s/config", dir);
    FILE *fp = fopen(path, "w");
    cr_assert(fp);
    if (url)
        fprintf(fp, "[llm]\nurl = %s\n", url);
    fclose(fp);
}

static rag_session *build(bool no_llm)
{
    rag_session_params p = {.store_dir = dir, .no_llm = no_llm};
    rag_session *s;
    cr_assert_eq(rag_session_build(&p, &s), 0, "%s", dq_last_error());
    return s;
}

typedef struct {
    dq_buf text;
    int pieces;
    int stop_after; /* > 0: ask to stop after this many pieces */
} sink;

static int on_piece(void *ctx, const char *piece, size_t len)
{
    sink *k = ctx;
    dq_buf_append(&k->text, piece, len);
    k->pieces++;
    return k->stop_after > 0 && k->pieces >= k->stop_after;
}

/* ---- extractive ---------------------------------------------------------- */

Test(answer, extractive_answer_cites_its_passage)
{
    set_llm_url(NULL);
    rag_session *s = build(false);
    cr_assert_null(s->llm);
    sink k = {DQ_BUF_INIT, 0, 0};
    rag_turn t = {.question = "How long is the warranty period?", .on_piece = on_piece,
                  .ctx = &k, .extractive_pieces = true};
    rag_reply r;
    cr_assert_eq(rag_answer_turn(s, &t, &r), 0, "%s", dq_last_error());
    cr_expect_eq(r.mode, RAG_EXTRACTIVE);
    cr_expect(r.found);
    cr_expect_str_eq(r.query, t.question);
    cr_expect(strstr(r.text, "24 months") && strstr(r.text, " [1]"), "%s", r.text);
    cr_assert_geq(r.n_sources, 1);
    cr_expect_str_eq(r.sources[0].path, "manual.txt");
    cr_expect_eq(r.sources[0].number, 1);
    cr_expect_str_eq(k.text.data, r.text, "the whole text went to the piece callback once");
    cr_expect_null(r.llm_error);
    rag_reply_free(&r);
    dq_buf_free(&k.text);
    rag_session_free(s);
}

Test(answer, not_found_is_said_in_the_question_language)
{
    rag_session *s = build(true);
    const char *qs[] = {"Who painted the ceiling of the chapel?", "量子色动力学的渐近自由是什么"};
    const char *want[] = {"The documents do not say.", "文档中没有找到答案。"};
    for (int i = 0; i < 2; i++) {
        rag_turn t = {.question = qs[i]};
        rag_reply r;
        cr_assert_eq(rag_answer_turn(s, &t, &r), 0, "%s", dq_last_error());
        cr_expect_not(r.found);
        cr_expect_str_eq(r.text, want[i]);
        cr_expect_str_eq(rag_not_found(qs[i]), want[i], "one sentence for every path");
        cr_expect_eq(r.n_sources, 0);
        rag_reply_free(&r);
    }
    rag_session_free(s);
}

Test(answer, failures_are_codes)
{
    rag_session *s = build(true);
    rag_turn t = {.question = "？！ ..."};
    rag_reply r;
    cr_expect_eq(rag_answer_turn(s, &t, &r), RAG_ERR_NO_QUERY);
    cr_expect(strstr(dq_last_error(), "no searchable words"), "%s", dq_last_error());
    rag_reply_free(&r);
    rag_session_free(s);

    rag_session_params p = {.store_dir = dir, .flags = {.mode = "fuzzy"}};
    cr_expect_eq(rag_session_build(&p, &s), RAG_ERR_SETTING);
    cr_expect_null(s);
    p.flags.mode = "dense"; /* no embedding model configured */
    cr_expect_eq(rag_session_build(&p, &s), RAG_ERR_SETTING);
    cr_expect(strstr(dq_last_error(), "needs an embedding model"), "%s", dq_last_error());
    p.flags.mode = NULL;
    p.store_dir = root; /* no store there */
    cr_expect_eq(rag_session_build(&p, &s), RAG_ERR);
}

Test(answer, a_lent_store_is_used_and_left_open)
{
    store *st = store_open(dir, STORE_READONLY);
    cr_assert_not_null(st, "%s", dq_last_error());
    rag_session_params p = {.st = st};
    rag_session *s;
    cr_assert_eq(rag_session_build(&p, &s), 0, "%s", dq_last_error());
    cr_expect_eq(s->st, st);
    rag_session_free(s);
    store_stats ss;
    cr_expect_eq(store_get_stats(st, &ss), 0, "the caller's store is still open");
    cr_expect_eq(ss.chunks, 4);
    store_close(st);
}

/* ---- retrieval alone (eval ceval --rag) ------------------------------------ */

Test(answer, retrieval_alone_is_the_answer_turns_retrieval)
{
    set_llm_url(NULL);
    rag_session *s = build(true);
    rag_turn t = {.question = "How long is the warranty period?"};
    rag_reply r;
    cr_assert_eq(rag_answer_turn(s, &t, &r), 0, "%s", dq_last_error());
    retrieve_result res = {0};
    cr_assert_eq(rag_session_retrieve(s, NULL, t.question, 0, NULL, &res), 0, "%s", dq_last_error());
    cr_assert_eq(res.n, r.hits.n);
    for (size_t i = 0; i < res.n; i++)
        cr_expect_eq(res.items[i].chunk.chunk_id, r.hits.items[i].chunk.chunk_id);
    retrieve_result_free(&res);
    cr_assert_eq(rag_session_retrieve(s, NULL, t.question, 1, NULL, &res), 0, "%s", dq_last_error());
    cr_expect_eq(res.n, 1);
    cr_expect_str_eq(res.items[0].chunk.path, "manual.txt");
    retrieve_result_free(&res);
    rag_reply_free(&r);
    rag_session_free(s);

    /* the config's [retrieve] settings apply: nothing scores that high */
    char path[160];
    snprintf(path, sizeof path, "%s/config", dir);
    FILE *fp = fopen(path, "w");
    cr_assert(fp);
    fputs("[retrieve]\nmin_score = 1000\n", fp);
    fclose(fp);
    s = build(true);
    cr_assert_eq(rag_session_retrieve(s, NULL, t.question, 0, NULL, &res), 0, "%s", dq_last_error());
    cr_expect_eq(res.n, 0);
    cr_expect_geq(res.below_threshold, 1);
    retrieve_result_free(&res);
    rag_session_free(s);
}

/* ---- follow-ups ---------------------------------------------------------- */

static const llm_message first_turn[] = {
    {"user", "违约金怎么算？"},
    {"assistant", "每日按月租金的千分之五 [1]"},
};

Test(answer, follow_up_without_llm_is_searched_with_the_last_question)
{
    rag_session *s = build(true);
    rag_turn t = {.question = "那上限呢？", .history = first_turn, .n_history = 2};
    rag_reply r;
    cr_assert_eq(rag_answer_turn(s, &t, &r), 0, "%s", dq_last_error());
    cr_expect_str_eq(r.query, "违约金怎么算？ 那上限呢？");
    cr_expect(r.found);
    rag_reply_free(&r);

    /* the caller's own standalone query of the last turn wins */
    t.prev_query = "违约金总额";
    cr_assert_eq(rag_answer_turn(s, &t, &r), 0);
    cr_expect_str_eq(r.query, "违约金总额 那上限呢？");
    rag_reply_free(&r);

    /* a question that stands on its own is searched as asked */
    t = (rag_turn){.question = "How long is the warranty period?", .history = first_turn,
                   .n_history = 2};
    cr_assert_eq(rag_answer_turn(s, &t, &r), 0);
    cr_expect_str_eq(r.query, "How long is the warranty period?");
    rag_reply_free(&r);
    rag_session_free(s);
}

/* ---- the LLM ------------------------------------------------------------- */

static httpd *start_llm(fake_llm *f)
{
    httpd *h = httpd_start(handle, f);
    cr_assert(h, "%s", dq_last_error());
    char url[128];
    snprintf(url, sizeof url, "%s/v1", httpd_url(h));
    set_llm_url(url);
    return h;
}

Test(answer, llm_answer_streams_and_reads_its_citations)
{
    fake_llm f = {.answer = "每日按月租金的千分之五[1]。"};
    httpd *h = start_llm(&f);
    rag_session *s = build(false);
    cr_assert_not_null(s->llm);
    sink k = {DQ_BUF_INIT, 0, 0};
    rag_turn t = {.question = "违约金怎么算？", .on_piece = on_piece, .ctx = &k};
    rag_reply r;
    cr_assert_eq(rag_answer_turn(s, &t, &r), 0, "%s", dq_last_error());
    cr_expect_eq(r.mode, RAG_LLM);
    cr_expect_str_eq(r.text, f.answer);
    cr_expect_str_eq(k.text.data, f.answer);
    cr_expect_geq(k.pieces, 2, "streamed, not whole");
    cr_expect(r.found);
    cr_assert_eq(r.llm.cites.n_cited, 1);
    cr_expect_str_eq(r.sources[r.llm.cites.cited[0] - 1].path, "lease.txt");
    cr_expect_eq(r.llm.status, LLM_OK);
    cr_expect_eq(f.rewrites, 0, "a first question needs no rewrite");
    cr_expect_eq(f.chats, 1);
    rag_reply_free(&r);
    dq_buf_free(&k.text);
    rag_session_free(s);
    httpd_stop(h);
    free(f.last_chat);
}

Test(answer, llm_rewrites_a_follow_up_and_sees_the_history)
{
    /* the model quoted its rewrite, JSON-escaped */
    fake_llm f = {.answer = "不超过三个月租金[1]。", .rewrite = "\\\"违约金总额上限是多少？\\\""};
    httpd *h = start_llm(&f);
    rag_session *s = build(false);
    llm_message hist[] = {
        {"system", "You are a chat UI's helper."}, /* a client's own: left out */
        first_turn[0],
        first_turn[1],
    };
    rag_turn t = {.question = "那上限呢？", .history = hist, .n_history = 3};
    rag_reply r;
    cr_assert_eq(rag_answer_turn(s, &t, &r), 0, "%s", dq_last_error());
    cr_expect_str_eq(r.query, "违约金总额上限是多少？", "the rewrite, unquoted");
    cr_expect_eq(f.rewrites, 1);
    cr_expect_str_eq(r.text, f.answer);
    cJSON *sent = cJSON_Parse(f.last_chat);
    const cJSON *msgs = cJSON_GetObjectItem(sent, "messages");
    cr_assert_eq(cJSON_GetArraySize(msgs), 4);
    const char *roles[] = {"system", "user", "assistant", "user"};
    for (int i = 0; i < 4; i++)
        cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, i), "role")->valuestring,
                         roles[i]);
    const char *sys = cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "content")->valuestring;
    cr_expect_null(strstr(sys, "chat UI's helper"));
    const char *q = cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 3), "content")->valuestring;
    cr_expect(strstr(q, "那上限呢？") && strstr(q, "<passage"), "the question as asked: %s", q);
    cJSON_Delete(sent);
    rag_reply_free(&r);
    rag_session_free(s);
    httpd_stop(h);
    free(f.last_chat);
}

Test(answer, an_llm_that_cannot_answer_leaves_it_to_the_passages)
{
    fake_llm f = {.status = 503};
    httpd *h = start_llm(&f);
    rag_session *s = build(false);
    rag_turn t = {.question = "How long is the warranty period?"};
    rag_reply r;
    cr_assert_eq(rag_answer_turn(s, &t, &r), 0, "%s", dq_last_error());
    cr_expect_eq(r.mode, RAG_EXTRACTIVE);
    cr_expect(strstr(r.text, "24 months"), "%s", r.text);
    cr_expect(r.llm_error && strstr(r.llm_error, "HTTP 503"), "%s", r.llm_error);
    rag_reply_free(&r);

    /* a 4xx is the request's fault: said, not hidden behind another answer */
    f.status = 400;
    cr_assert_eq(rag_answer_turn(s, &t, &r), RAG_ERR_LLM);
    cr_expect_eq(r.llm.status, LLM_ERR_HTTP);
    cr_expect_eq(r.llm.reply.http_status, 400);
    cr_expect(strstr(dq_last_error(), "the model is busy"), "%s", dq_last_error());
    rag_reply_free(&r);
    rag_session_free(s);
    httpd_stop(h);
    free(f.last_chat);

    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", httpd_closed_port());
    set_llm_url(url);
    s = build(false);
    cr_assert_eq(rag_answer_turn(s, &t, &r), 0, "%s", dq_last_error());
    cr_expect_eq(r.mode, RAG_EXTRACTIVE);
    cr_expect(strstr(r.llm_error, "connection refused"), "%s", r.llm_error);
    rag_reply_free(&r);
    t.no_llm = true; /* a face that gave up on it */
    cr_assert_eq(rag_answer_turn(s, &t, &r), 0);
    cr_expect_null(r.llm_error);
    rag_reply_free(&r);
    rag_session_free(s);
}

Test(answer, the_piece_callback_stops_the_answer)
{
    fake_llm f = {.answer = "The warranty lasts 24 months [1]."};
    httpd *h = start_llm(&f);
    rag_session *s = build(false);
    sink k = {DQ_BUF_INIT, 0, 1};
    rag_turn t = {.question = "How long is the warranty period?", .on_piece = on_piece,
                  .ctx = &k};
    rag_reply r;
    cr_expect_eq(rag_answer_turn(s, &t, &r), RAG_ERR_STOPPED);
    cr_expect_eq(k.pieces, 1);
    rag_reply_free(&r);
    dq_buf_free(&k.text);
    rag_session_free(s);
    httpd_stop(h);
    free(f.last_chat);
}

/* ---- one pool of threads for the encoder and the in-process LLM ------------- */

static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

typedef struct {
    rag_session *s;
    int rounds;
    float vec[4][64]; /* bert-tiny-cls: 64 dimensions */
    char *answer;
    int rc;
} pool_user;

static void *encode_loop(void *arg)
{
    pool_user *u = arg;
    static const char *const texts[] = {"押金是多少", "deposit", "合同的违约金", "warranty"};
    for (int r = 0; r < u->rounds && u->rc == 0; r++)
        u->rc = embedder_encode(u->s->emb, texts, 4, &u->vec[0][0]);
    return NULL;
}

static void *answer_once(void *arg)
{
    pool_user *u = arg;
    llm_message m[] = {{"user", "违约金是多少？"}};
    llm_request req = {.max_tokens = 12};
    llm_reply r;
    u->rc = llm_chat(u->s->llm, m, 1, &req, NULL, NULL, &r) == LLM_OK ? 0 : -1;
    u->answer = dq_strdup(r.text ? r.text : "");
    llm_reply_free(&r);
    return NULL;
}

/* [embed] model and a GGUF [llm] model: the session starts one pool of
 * [embed] threads (3 here: 2 workers), not one each, and the two models run
 * on it from two threads at once with the results they give alone. */
Test(answer, encoder_and_llm_share_one_pool)
{
    const char *gguf = lmgen_chat_model();
    cr_assert_not_null(gguf);
    char path[160];
    snprintf(path, sizeof path, "%s/config", dir);
    FILE *fp = fopen(path, "w");
    cr_assert(fp);
    fprintf(fp, "[embed]\nmodel = %s/tests/fixtures/bert-tiny-cls\nthreads = 3\n"
                "[llm]\nmodel = %s\ntemperature = 0\n",
            DQ_SOURCE_DIR, gguf);
    fclose(fp);
    int before = thread_count();
    rag_session *s = build(false);
    cr_assert_not_null(s->emb);
    cr_assert(llm_is_local(s->llm), "%s", s->llm_error ? s->llm_error : "");
    cr_assert_not_null(s->pool);
    cr_expect_eq(bert_pool_size(s->pool), 3);
    cr_expect_eq(thread_count() - before, 2, "threads started: %d", thread_count() - before);

    pool_user alone_e = {.s = s, .rounds = 1}, alone_l = {.s = s};
    encode_loop(&alone_e);
    answer_once(&alone_l);
    cr_assert_eq(alone_e.rc, 0, "%s", dq_last_error());
    cr_assert_eq(alone_l.rc, 0, "%s", dq_last_error());
    pool_user e = {.s = s, .rounds = 20}, l = {.s = s};
    pthread_t te, tl;
    pthread_create(&te, NULL, encode_loop, &e);
    pthread_create(&tl, NULL, answer_once, &l);
    pthread_join(te, NULL);
    pthread_join(tl, NULL);
    cr_expect_eq(e.rc, 0);
    cr_expect_eq(l.rc, 0);
    cr_expect_eq(memcmp(e.vec, alone_e.vec, sizeof e.vec), 0, "the encoder's vectors changed");
    cr_expect_str_eq(l.answer, alone_l.answer);
    free(alone_l.answer);
    free(l.answer);
    rag_session_free(s);
    cr_expect_eq(thread_count(), before, "the pool's threads are gone");
}
