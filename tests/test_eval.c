/* test_eval.c - the eval stage: CSV layouts and malformed rows, the answer
 * letter parser, C-Eval's prompt byte for byte, scoring, reports, EM/F1, and
 * whole runs against the loopback LLM server scripted to answer known
 * letters and garbage (accuracies, parse failures, the cache, resume), in
 * the library and through `docqa eval`. */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "eval/eval.h"
#include "index/index.h"
#include "support/httpd.h"
#include "support/run.h"
#include "support/tmpdir.h"

/* ---- CSV ----------------------------------------------------------------- */

static const char ceval_csv[] =
    "\xEF\xBB\xBF"
    "id,question,A,B,C,D,answer,explanation\r\n"
    "0,\"1+1=____\",1,2,3,4,B,\"1. 一加一\n2. 等于二\"\r\n"
    "1,\"他说\"\"好\"\"，对吗\",对,错,\"不,知道\",无,A,\r\n";

Test(csv, ceval_layout_quotes_multiline_bom)
{
    eval_set set = {0};
    cr_assert_eq(eval_read_csv_text("data/computer_network_val.csv", ceval_csv,
                                    sizeof ceval_csv - 1, &set),
                 0);
    cr_assert_eq(set.n, 2);
    cr_assert_eq(set.n_warnings, 0);
    const eval_question *q = &set.items[0];
    cr_assert_str_eq(q->subject, "computer_network");
    cr_assert_str_eq(q->split, "val");
    cr_assert_str_eq(q->id, "0");
    cr_assert_str_eq(q->question, "1+1=____");
    cr_assert_str_eq(q->choices[1], "2");
    cr_assert_eq(q->answer, 'B');
    cr_assert_str_eq(q->explanation, "1. 一加一\n2. 等于二");
    cr_assert_eq(q->line, 2);
    q = &set.items[1];
    cr_assert_str_eq(q->question, "他说\"好\"，对吗");
    cr_assert_str_eq(q->choices[2], "不,知道");
    cr_assert_eq(q->answer, 'A');
    cr_assert_null(q->explanation);
    cr_assert_eq(q->line, 4); /* the row before spans lines 2-3 */
    eval_set_free(&set);
}

Test(csv, cmmlu_mmlu_and_test_layouts)
{
    eval_set set = {0};
    const char cmmlu[] = ",Question,A,B,C,D,Answer\n0,问题一,甲,乙,丙,丁,D\n1,问题二,甲,乙,丙,丁,c\n";
    cr_assert_eq(eval_read_csv_text("agronomy.csv", cmmlu, sizeof cmmlu - 1, &set), 0);
    const char mmlu[] = "What is 2+2?,3,4,5,6,B\n\"Pick, one\",w,x,y,z,A\n";
    cr_assert_eq(eval_read_csv_text("abstract_algebra_test.csv", mmlu, sizeof mmlu - 1, &set), 0);
    const char test[] = "id,question,A,B,C,D\n7,题,a,b,c,d\n";
    cr_assert_eq(eval_read_csv_text("law_test.csv", test, sizeof test - 1, &set), 0);
    cr_assert_eq(set.n, 5);
    cr_assert_eq(set.n_warnings, 0);
    cr_assert_str_eq(set.items[0].subject, "agronomy");
    cr_assert_str_eq(set.items[0].split, "");
    cr_assert_str_eq(set.items[0].id, "0");
    cr_assert_str_eq(set.items[0].question, "问题一");
    cr_assert_eq(set.items[0].answer, 'D');
    cr_assert_eq(set.items[1].answer, 'C');
    cr_assert_str_eq(set.items[2].subject, "abstract_algebra");
    cr_assert_str_eq(set.items[2].split, "test");
    cr_assert_str_eq(set.items[2].id, "0");
    cr_assert_str_eq(set.items[2].question, "What is 2+2?");
    cr_assert_str_eq(set.items[2].choices[3], "6");
    cr_assert_eq(set.items[2].answer, 'B');
    cr_assert_str_eq(set.items[3].id, "1");
    cr_assert_str_eq(set.items[3].question, "Pick, one");
    cr_assert_str_eq(set.items[4].id, "7");
    cr_assert_eq(set.items[4].answer, 0, "a test split has no answers");
    eval_set_free(&set);
}

Test(csv, malformed_rows_are_reported_and_skipped)
{
    const char text[] = "id,question,A,B,C,D,answer\n"
                        "0,好题,a,b,c,d,A\n"
                        "1,少了字段,a,b\n"
                        "2,答案不对,a,b,c,d,E\n"
                        "3,,a,b,c,d,A\n"
                        "4,\"bad \xff byte\",a,b,c,d,A\n"
                        "5,又一好题,a,b,c,d,C\n"
                        "6,\"never closed,a,b,c,d,A\n"
                        "7,lost,a,b,c,d,A\n";
    eval_set set = {0};
    cr_assert_eq(eval_read_csv_text("x/logic_dev.csv", text, sizeof text - 1, &set), 0);
    cr_assert_eq(set.n, 2);
    cr_assert_str_eq(set.items[0].id, "0");
    cr_assert_str_eq(set.items[1].id, "5");
    cr_assert_eq(set.items[1].line, 7);
    cr_assert_eq(set.n_warnings, 5);
    cr_assert_str_eq(set.warnings[0], "x/logic_dev.csv:3: expected 7 fields, found 4");
    cr_assert_str_eq(set.warnings[1], "x/logic_dev.csv:4: answer 'E' is not one of A, B, C, D");
    cr_assert_str_eq(set.warnings[2], "x/logic_dev.csv:5: empty question");
    cr_assert_str_eq(set.warnings[3], "x/logic_dev.csv:6: field 2 is not valid UTF-8");
    cr_assert_str_eq(set.warnings[4],
                     "x/logic_dev.csv:8: quoted field never closes; rest of file skipped");
    eval_set_free(&set);
}

Test(csv, real_ceval_dev_file)
{
    eval_set set = {0};
    cr_assert_eq(eval_read_csv(DQ_SOURCE_DIR "/tests/fixtures/ceval/computer_network_dev.csv",
                               &set),
                 0);
    cr_assert_eq(set.n, 5);
    cr_assert_eq(set.n_warnings, 0);
    for (size_t i = 0; i < set.n; i++) {
        char id[32];
        snprintf(id, sizeof id, "%zu", i);
        cr_assert_str_eq(set.items[i].id, id);
        cr_assert(set.items[i].answer >= 'A' && set.items[i].answer <= 'D');
    }
    eval_set_free(&set);
}

Test(csv, subject_of_path)
{
    char *s, *sp;
    eval_subject_of("/a/b/high_school_physics_test.csv", &s, &sp);
    cr_assert_str_eq(s, "high_school_physics");
    cr_assert_str_eq(sp, "test");
    free(s);
    free(sp);
    eval_subject_of("nutrition.csv", &s, &sp);
    cr_assert_str_eq(s, "nutrition");
    cr_assert_str_eq(sp, "");
    free(s);
    free(sp);
}

/* ---- letters ------------------------------------------------------------- */

Test(letter, parse_table)
{
    static const struct {
        const char *text;
        char want;
    } cases[] = {
        {"B", 'B'},
        {"B.", 'B'},
        {" (C)", 'C'},
        {"（Ｄ）", 'D'},
        {"A、对", 'A'},
        {"**C**", 'C'},
        {"答案是 B", 'B'},
        {"答案：C", 'C'},
        {"正确答案应该是(D)。", 'D'},
        {"选B", 'B'},
        {"故选：A", 'A'},
        {"The answer is C.", 'C'},
        {"answer: d", 0},
        {"Answer: D", 'D'},
        {"让我们一步一步思考，\n1. A 不对，B 也不对\n所以答案是C。", 'C'},
        {"我认为 B 正确", 'B'},
        {"A 或 B 都有可能", 0},
        {"我不知道", 0},
        {"", 0},
        {"A lot of things", 0},
        {"Because", 0},
        {"选项B是对的", 'B'},
        {"E", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_expect_eq(eval_parse_letter(cases[i].text), cases[i].want, "'%s': got %c want %c",
                     cases[i].text, eval_parse_letter(cases[i].text) ?: '0',
                     cases[i].want ?: '0');
}

Test(letter, logprobs_and_choice)
{
    llm_logprob top[] = {{" B", -0.2}, {"A", -1.9}, {"(C)", -3.0}, {"答案", -4.0}};
    cr_assert_eq(eval_logprob_letter(top, 4), 'B');
    llm_logprob words[] = {{"答案", -0.1}, {"C", -3.0}, {"A", -2.5}};
    cr_assert_eq(eval_logprob_letter(words, 3), 'A');
    cr_assert_eq(eval_logprob_letter(words, 1), 0);

    eval_method how;
    llm_reply r = {.text = "B", .top = top, .n_top = 4};
    cr_assert_eq(eval_choose(&r, &how), 'B');
    cr_assert_eq(how, EVAL_BY_LOGPROB);
    /* a wordy opening: the text's explicit answer wins over stray letters */
    llm_reply w = {.text = "答案是C", .top = words, .n_top = 3};
    cr_assert_eq(eval_choose(&w, &how), 'C');
    cr_assert_eq(how, EVAL_BY_TEXT);
    /* no letter in the text: the alternatives decide */
    llm_reply g = {.text = "答案嘛……", .top = words, .n_top = 3};
    cr_assert_eq(eval_choose(&g, &how), 'A');
    cr_assert_eq(how, EVAL_BY_LOGPROB);
    /* in process every letter was scored exactly: the distribution decides
     * even when the text names another letter */
    llm_reply exact = {.text = "答案是C", .top = words, .n_top = 3, .scored = true};
    cr_assert_eq(eval_choose(&exact, &how), 'A');
    cr_assert_eq(how, EVAL_BY_LOGPROB);
    llm_reply none = {.text = "不知道"};
    cr_assert_eq(eval_choose(&none, &how), 0);
    cr_assert_eq(how, EVAL_BY_NONE);
}

/* ---- prompts ------------------------------------------------------------- */

static eval_question mkq(const char *subject, const char *id, const char *question, char answer,
                         const char *explanation)
{
    eval_question q = {0};
    q.subject = (char *)subject;
    q.split = (char *)"val";
    q.id = (char *)id;
    q.question = (char *)question;
    static char *ch[4] = {"甲", "乙", "丙", "丁"};
    for (int k = 0; k < 4; k++)
        q.choices[k] = ch[k];
    q.answer = answer;
    q.explanation = (char *)explanation;
    q.file = (char *)"f.csv";
    return q;
}

Test(prompt, two_shot_exact)
{
    eval_question d1 = mkq("law", "0", "例一____", 'B', "因为乙");
    eval_question d2 = mkq("law", "1", "例二____", 'D', NULL);
    eval_question q = mkq("law", "9", "问题____", 'A', NULL);
    const eval_question *shots[] = {&d1, &d2};
    eval_prompt p;
    eval_build_prompt(&q, "法学", shots, 2, false, NULL, &p);
    cr_assert_eq(p.n, 6);
    const char *head = "以下是中国关于法学考试的单项选择题，请选出其中的正确答案。";
    cr_assert_str_eq(p.msgs[0].role, "system");
    char want[512];
    snprintf(want, sizeof want, "你是一个中文人工智能助手，%s", head);
    cr_assert_str_eq(p.msgs[0].content, want);
    cr_assert_str_eq(p.msgs[1].role, "user");
    snprintf(want, sizeof want, "%s\n\n例一____\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案：", head);
    cr_assert_str_eq(p.msgs[1].content, want);
    cr_assert_str_eq(p.msgs[2].role, "assistant");
    cr_assert_str_eq(p.msgs[2].content, "B");
    cr_assert_str_eq(p.msgs[3].content, "例二____\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案：");
    cr_assert_str_eq(p.msgs[4].content, "D");
    cr_assert_str_eq(p.msgs[5].role, "user");
    cr_assert_str_eq(p.msgs[5].content, "问题____\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案：");
    eval_prompt_free(&p);

    eval_build_prompt(&q, "法学", shots, 1, true, NULL, &p);
    cr_assert_eq(p.n, 4);
    cr_assert_str_eq(p.msgs[2].content, "让我们一步一步思考，\n因为乙\n所以答案是B。");
    eval_prompt_free(&p);
}

Test(prompt, zero_shot_with_passages)
{
    eval_question q = mkq("law", "9", "问题", 'A', NULL);
    eval_prompt p;
    eval_build_prompt(&q, "法学", NULL, 0, false, "以下资料可能与题目有关：\n[1] 资料\n\n", &p);
    cr_assert_eq(p.n, 2);
    cr_assert_str_eq(p.msgs[1].content,
                     "以下是中国关于法学考试的单项选择题，请选出其中的正确答案。\n\n"
                     "以下资料可能与题目有关：\n[1] 资料\n\n"
                     "问题\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案：");
    char k1[65], k2[65], k3[65], k4[65];
    eval_prompt_key(&p, "qwen", "s", k1);
    eval_prompt_key(&p, "qwen", "s", k2);
    eval_prompt_key(&p, "llama", "s", k3);
    eval_prompt_key(&p, "qwen", "t", k4);
    cr_assert_str_eq(k1, k2);
    cr_assert_str_neq(k1, k3);
    cr_assert_str_neq(k1, k4);
    cr_assert_eq(strlen(k1), 64);
    eval_prompt_free(&p);
}

Test(prompt, passages_cut_and_flattened)
{
    store_hit h[2] = {{.text = "第一段\n有换行"}, {.text = "一二三四五六"}};
    retrieve_hit items[2] = {{.chunk = h[0]}, {.chunk = h[1]}};
    retrieve_result res = {.items = items, .n = 2};
    char *s = eval_format_passages(&res, 4);
    cr_assert_str_eq(s, "以下资料可能与题目有关：\n[1] 第一段 …\n[2] 一二三四…\n\n");
    free(s);
    retrieve_result empty = {0};
    cr_assert_null(eval_format_passages(&empty, 4));
}

/* ---- scoring and reports ------------------------------------------------- */

/* Two STEM subjects of different sizes and one Humanities subject, and an
 * unknown one: categories are the mean of subject accuracies. */
Test(score, categories_are_means_of_subjects)
{
    eval_question qs[10];
    eval_answer as[10] = {0};
    const char *subj[10] = {"computer_network", "computer_network", "computer_network",
                            "computer_network", "college_physics", "college_physics",
                            "art_studies", "art_studies", "nutrition", "nutrition"};
    const char gold[10] = {'A', 'B', 'C', 'D', 'A', 'B', 'A', 'B', 'C', 'C'};
    const char got[10] = {'A', 'B', 'C', 0, 'A', 'C', 'B', 'B', 'C', 'D'};
    for (int i = 0; i < 10; i++) {
        qs[i] = mkq(subj[i], "x", "q", gold[i], NULL);
        as[i].choice = got[i];
    }
    as[3].method = EVAL_BY_NONE;
    as[5].failed = true;
    as[5].choice = 0;
    eval_set set = {.items = qs, .n = 10};
    eval_scores s;
    eval_score(&set, as, &s);
    cr_assert_eq(s.n_subjects, 4);
    cr_assert_str_eq(s.subjects[0].subject, "computer_network");
    cr_assert_str_eq(s.subjects[0].name, "计算机网络");
    cr_assert_eq(s.subjects[0].category, 0);
    cr_assert_eq(s.subjects[0].correct, 3);
    cr_assert_float_eq(s.subjects[0].accuracy, 0.75, 1e-12);
    cr_assert_eq(s.subjects[0].unparsed, 1);
    cr_assert_float_eq(s.subjects[1].accuracy, 0.5, 1e-12);
    cr_assert_eq(s.subjects[1].failed, 1);
    cr_assert_eq(s.subjects[1].unparsed, 0);
    cr_assert_float_eq(s.subjects[2].accuracy, 0.5, 1e-12);
    cr_assert_eq(s.subjects[2].category, 2);
    cr_assert_eq(s.subjects[3].category, -1);
    cr_assert_str_eq(s.subjects[3].name, "nutrition");
    /* STEM: (0.75 + 0.5) / 2, not 4/6 */
    cr_assert_float_eq(s.categories[0].accuracy, 0.625, 1e-12);
    cr_assert_eq(s.categories[0].subjects, 2);
    cr_assert_eq(s.categories[0].correct, 4);
    cr_assert_eq(s.categories[0].graded, 6);
    cr_assert_eq(s.categories[1].subjects, 0);
    cr_assert_float_eq(s.categories[2].accuracy, 0.5, 1e-12);
    cr_assert_float_eq(s.average, (0.75 + 0.5 + 0.5 + 0.5) / 4, 1e-12);
    cr_assert_float_eq(s.overall, 6.0 / 10, 1e-12);
    cr_assert_eq(s.unparsed, 1);
    cr_assert_eq(s.failed, 1);

    char *csv = eval_report_csv(&s);
    cr_assert(strstr(csv, "subject,computer_network,计算机网络,STEM,4,4,3,1,0,0.7500\n"), "%s",
              csv);
    cr_assert(strstr(csv, "category,,,STEM,,6,4,,,0.6250\n"), "%s", csv);
    cr_assert(strstr(csv, "overall,,,,10,10,6,1,1,0.6000\n"), "%s", csv);
    free(csv);
    char *table = eval_report_table(&s);
    cr_assert(strstr(table, "STEM              62.5%  (2 subjects, 4/6)"), "%s", table);
    cr_assert(strstr(table, "Overall           60.0%  (6/10 questions)"), "%s", table);
    cr_assert(strstr(table, "unparseable answers: 1, failed requests: 1"), "%s", table);
    free(table);
    eval_scores_free(&s);
}

Test(report, submission_and_chart)
{
    eval_question qs[3] = {mkq("law", "0", "q", 0, NULL), mkq("law", "1", "q", 0, NULL),
                           mkq("logic", "5", "q", 0, NULL)};
    eval_answer as[3] = {{.choice = 'C'}, {.choice = 0}, {.choice = 'A'}};
    eval_set set = {.items = qs, .n = 3};
    char *sub = eval_report_submission(&set, as);
    cJSON *j = cJSON_Parse(sub);
    cr_assert_not_null(j);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "law"), "0")->valuestring, "C");
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "law"), "1"));
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "logic"), "5")->valuestring, "A");
    cJSON_Delete(j);
    free(sub);

    const char *labels[] = {"a<b", "c"};
    const char *series[] = {"bm25", "dense"};
    double values[] = {0.5, 1.0, 0.25, 0.0};
    eval_chart c = {.title = "t&t", .labels = labels, .n_labels = 2, .series = series,
                    .n_series = 2, .values = values};
    char *svg = eval_chart_svg(&c);
    cr_assert(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    cr_assert(strstr(svg, ">t&amp;t</text>"));
    cr_assert(strstr(svg, ">a&lt;b</text>"));
    cr_assert(strstr(svg, "width=\"250\" height=\"12\""), "50%% of 500 px");
    cr_assert(strstr(svg, ">25.0%</text>"));
    cr_assert(strstr(svg, "</svg>\n"));
    free(svg);
}

/* ---- EM and F1 ----------------------------------------------------------- */

Test(metrics, exact_match_and_f1)
{
    const char *zh[] = {"光荣和ω-force"};
    cr_assert_float_eq(eval_exact_match("光荣和ω-force。", zh, 1), 1.0, 1e-12);
    const char *zh2[] = {"北京大学"};
    /* 4 gold characters, 6 predicted, 4 shared: P 4/6, R 1 */
    cr_assert_float_eq(eval_f1("他在北京大学", zh2, 1), 2 * (4.0 / 6) / (4.0 / 6 + 1), 1e-12);
    cr_assert_float_eq(eval_exact_match("他在北京大学", zh2, 1), 0.0, 1e-12);
    const char *en[] = {"Denver Broncos", "the Broncos"};
    cr_assert_float_eq(eval_exact_match("The Denver Broncos!", en, 2), 1.0, 1e-12);
    cr_assert_float_eq(eval_f1("Broncos", en, 2), 1.0, 1e-12);
    cr_assert_float_eq(eval_f1("Carolina Panthers", en, 2), 0.0, 1e-12);
    cr_assert_float_eq(eval_f1("anything", en, 0), 0.0, 1e-12);
    cr_assert_float_eq(eval_contains("In 2016 the Denver Broncos won.", en, 2), 1.0, 1e-12);
    cr_assert_float_eq(eval_contains("Denver's Broncos won.", en, 2), 1.0, 1e-12,
                       "'the Broncos' normalises to 'broncos'");
    cr_assert_float_eq(eval_contains("Broncos Denver", (const char *[]){"Denver Broncos"}, 1),
                       0.0, 1e-12);
    cr_assert_float_eq(eval_contains("他在北京大学读书。", zh2, 1), 1.0, 1e-12);
    cr_assert_float_eq(eval_contains("北京的大学", zh2, 1), 0.0, 1e-12);
}

/* ---- runs against the loopback LLM --------------------------------------- */

/* The scripted model: the question's first line says what to answer. A
 * question "Q:B" answers "答案是 B", "L:C" answers with logprobs only (text
 * "嗯", alternatives favouring C), "G" answers garbage, "E" a 500. */
typedef struct {
    int delay_ms; /* before each chat answer */
    int requests; /* chat requests (__atomic: read by the test thread) */
    const char *served; /* the id /v1/models lists */
    char last_user[4096];
} model_ctx;

static int chats(model_ctx *m)
{
    return __atomic_load_n(&m->requests, __ATOMIC_SEQ_CST);
}

static void model_handler(void *ctx, const httpd_request *req, httpd_response *resp)
{
    model_ctx *m = ctx;
    if (!strcmp(req->method, "GET") && strstr(req->path, "/models")) {
        dq_buf_printf(&resp->body, "{\"object\":\"list\",\"data\":[{\"id\":\"%s\"}]}",
                      m->served ? m->served : "scripted-1");
        return;
    }
    __atomic_add_fetch(&m->requests, 1, __ATOMIC_SEQ_CST);
    resp->delay_ms = m->delay_ms;
    cJSON *j = cJSON_Parse(req->body);
    cJSON *msgs = cJSON_GetObjectItem(j, "messages");
    const char *last = "";
    cJSON *msg;
    cJSON_ArrayForEach(msg, msgs)
    {
        if (!strcmp(cJSON_GetObjectItem(msg, "role")->valuestring, "user"))
            last = cJSON_GetObjectItem(msg, "content")->valuestring;
    }
    snprintf(m->last_user, sizeof m->last_user, "%s", last);
    /* the question follows the subject line */
    const char *q = strstr(last, "。\n\n");
    q = q ? q + strlen("。\n\n") : last;
    const char *text = "我不知道";
    char buf[64];
    const char *tops = NULL;
    if (!strncmp(q, "Q:", 2)) {
        snprintf(buf, sizeof buf, "答案是 %c", q[2]);
        text = buf;
    } else if (!strncmp(q, "L:", 2)) {
        text = "嗯";
        snprintf(buf, sizeof buf,
                 "[{\"token\":\"%c\",\"logprob\":-0.1},{\"token\":\"A\",\"logprob\":-2.0}]", q[2]);
        tops = buf;
        text = "嗯";
    } else if (q[0] == 'E') {
        resp->status = 500;
        dq_buf_puts(&resp->body, "{\"error\":{\"message\":\"boom\"}}");
        cJSON_Delete(j);
        return;
    }
    dq_buf_puts(&resp->body, "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                             "\"content\":");
    dq_buf_put_json_string(&resp->body, tops ? "嗯" : text);
    dq_buf_puts(&resp->body, "},\"finish_reason\":\"stop\"");
    if (tops)
        dq_buf_printf(&resp->body,
                      ",\"logprobs\":{\"content\":[{\"token\":\"嗯\",\"logprob\":-0.01,"
                      "\"top_logprobs\":%s}]}",
                      tops);
    dq_buf_puts(&resp->body, "}]}");
    cJSON_Delete(j);
}

static char workdir[256];

static void setup_dir(void)
{
    snprintf(workdir, sizeof workdir, "/tmp/docqa-eval-XXXXXX");
    cr_assert(mkdtemp(workdir));
}

static void teardown_dir(void)
{
    cr_expect_eq(tmpdir_remove(workdir), 0);
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", workdir, name);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    dq_mkdirs(path);
    *slash = '/';
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

/* computer_network (STEM): 4 questions, 3 right, 1 garbage.
 * art_studies (Humanities): 3 questions, logprob right, text wrong, garbage.
 * Expected: 75% and 33.3%; 2 unparseable. */
static const char net_csv[] = "id,question,A,B,C,D,answer\n"
                              "0,Q:A,a,b,c,d,A\n"
                              "1,Q:B,a,b,c,d,B\n"
                              "2,L:D,a,b,c,d,D\n"
                              "3,G,a,b,c,d,C\n";
static const char art_csv[] = "id,question,A,B,C,D,answer\n"
                              "0,L:B,a,b,c,d,B\n"
                              "1,Q:A,a,b,c,d,C\n"
                              "2,G,a,b,c,d,D\n";

static void load_fixture(eval_set *set)
{
    cr_assert_eq(eval_read_csv_text("val/computer_network_val.csv", net_csv, sizeof net_csv - 1,
                                    set),
                 0);
    cr_assert_eq(eval_read_csv_text("val/art_studies_val.csv", art_csv, sizeof art_csv - 1, set),
                 0);
    cr_assert_eq(set->n, 7);
}

static void check_scores(const eval_set *set, const eval_answer *as)
{
    eval_scores s;
    eval_score(set, as, &s);
    cr_assert_eq(s.subjects[0].correct, 3);
    cr_assert_float_eq(s.subjects[0].accuracy, 0.75, 1e-12);
    cr_assert_float_eq(s.subjects[1].accuracy, 1.0 / 3, 1e-12);
    cr_assert_float_eq(s.categories[0].accuracy, 0.75, 1e-12);
    cr_assert_float_eq(s.categories[2].accuracy, 1.0 / 3, 1e-12);
    cr_assert_float_eq(s.average, (0.75 + 1.0 / 3) / 2, 1e-12);
    cr_assert_eq(s.unparsed, 2);
    cr_assert_eq(s.failed, 0);
    eval_scores_free(&s);
}

static void free_answers(eval_answer *as, size_t n)
{
    for (size_t i = 0; i < n; i++)
        eval_answer_free(&as[i]);
}

Test(run, scripted_model_cache_and_parallel, .init = setup_dir, .fini = teardown_dir)
{
    model_ctx m = {0};
    httpd *srv = httpd_start(model_handler, &m);
    cr_assert_not_null(srv);
    char url[128], sdir[300];
    snprintf(url, sizeof url, "%s/v1", httpd_url(srv));
    snprintf(sdir, sizeof sdir, "%s/.docqa", workdir);
    store *st = store_open(sdir, STORE_CREATE);
    cr_assert_not_null(st, "%s", dq_last_error());

    eval_set set = {0};
    load_fixture(&set);
    eval_run_params p = eval_default_run_params();
    p.llm.base_url = url;
    p.llm.model = "scripted";
    p.parallel = 3;
    eval_answer as[7] = {0};
    eval_run_stats stats;
    cr_assert_eq(eval_run_ceval(st, &set, NULL, &p, NULL, as, &stats), 0, "%s",
                 dq_last_error());
    cr_assert_eq(stats.requests, 7);
    cr_assert_eq(stats.cached, 0);
    cr_assert_eq(chats(&m), 7);
    cr_assert_eq(as[0].choice, 'A');
    cr_assert_eq(as[0].method, EVAL_BY_TEXT);
    cr_assert_eq(as[2].choice, 'D');
    cr_assert_eq(as[2].method, EVAL_BY_LOGPROB);
    cr_assert_eq(as[3].choice, 0);
    cr_assert_str_eq(as[3].text, "我不知道");
    check_scores(&set, as);
    free_answers(as, 7);

    /* the same run again: every answer from the store, no request */
    cr_assert_eq(eval_run_ceval(st, &set, NULL, &p, NULL, as, &stats), 0);
    cr_assert_eq(stats.requests, 0);
    cr_assert_eq(stats.cached, 7);
    cr_assert_eq(chats(&m), 7);
    cr_assert(as[2].cached);
    cr_assert_eq(as[2].method, EVAL_BY_LOGPROB);
    check_scores(&set, as);
    free_answers(as, 7);

    /* another model is another cache key */
    p.llm.model = "other";
    p.parallel = 1;
    cr_assert_eq(eval_run_ceval(st, &set, NULL, &p, NULL, as, &stats), 0);
    cr_assert_eq(stats.requests, 7);
    cr_assert_eq(chats(&m), 14);
    free_answers(as, 7);

    eval_set_free(&set);
    store_close(st);
    httpd_stop(srv);
}

/* The server that the stop below watches: a run stops once it has asked
 * three questions. Checked by the workers before each request, so exactly
 * three are sent however far the collecting thread lags. */
static model_ctx *watched;

static bool three_asked(void)
{
    return chats(watched) >= 3;
}

Test(run, interrupted_run_resumes, .init = setup_dir, .fini = teardown_dir)
{
    model_ctx m = {0};
    watched = &m;
    httpd *srv = httpd_start(model_handler, &m);
    char url[128], sdir[300];
    snprintf(url, sizeof url, "%s/v1", httpd_url(srv));
    snprintf(sdir, sizeof sdir, "%s/.docqa", workdir);
    store *st = store_open(sdir, STORE_CREATE);
    eval_set set = {0};
    load_fixture(&set);
    eval_run_params p = eval_default_run_params();
    p.llm.base_url = url;
    eval_answer as[7] = {0};
    eval_run_stats stats;
    eval_hooks hooks = {.stop_now = three_asked};
    cr_assert_eq(eval_run_ceval(st, &set, NULL, &p, &hooks, as, &stats), 0);
    cr_assert(stats.stopped);
    cr_assert_eq(chats(&m), 3);
    /* the third may be cut off by the same stop while its answer is on the
     * way: then it is failed and not cached */
    int kept = 0;
    for (int i = 0; i < 7; i++)
        kept += !as[i].failed;
    cr_assert(kept == 2 || kept == 3, "%d", kept);
    cr_assert(!as[0].failed && !as[1].failed);
    cr_assert(as[6].failed, "never asked");
    cr_assert_null(as[6].text);
    free_answers(as, 7);

    cr_assert_eq(eval_run_ceval(st, &set, NULL, &p, NULL, as, &stats), 0);
    cr_assert_eq(stats.cached, kept);
    cr_assert_eq(stats.requests, 7 - kept);
    cr_assert_eq(chats(&m), 3 + 7 - kept);
    char want[200];
    snprintf(want, sizeof want, "%s scripted-1", url);
    cr_assert_str_eq(stats.model, want, "no --model: the URL and what /models lists");
    check_scores(&set, as);
    free_answers(as, 7);

    /* another model loaded behind the same URL is not answered from the cache */
    m.served = "scripted-2";
    cr_assert_eq(eval_run_ceval(st, &set, NULL, &p, NULL, as, &stats), 0);
    cr_assert_eq(stats.cached, 0);
    cr_assert_eq(chats(&m), 3 + 7 - kept + 7);
    check_scores(&set, as);
    free_answers(as, 7);
    eval_set_free(&set);
    store_close(st);
    httpd_stop(srv);
}

Test(run, shots_from_dev_and_failures, .init = setup_dir, .fini = teardown_dir)
{
    model_ctx m = {0};
    httpd *srv = httpd_start(model_handler, &m);
    char url[128], sdir[300];
    snprintf(url, sizeof url, "%s/v1", httpd_url(srv));
    snprintf(sdir, sizeof sdir, "%s/.docqa", workdir);
    store *st = store_open(sdir, STORE_CREATE);
    eval_set set = {0}, dev = {0};
    const char q[] = "id,question,A,B,C,D,answer\n0,E,a,b,c,d,A\n";
    cr_assert_eq(eval_read_csv_text("law_val.csv", q, sizeof q - 1, &set), 0);
    eval_run_params p = eval_default_run_params();
    p.llm.base_url = url;
    p.shots = 2;
    eval_answer as[1] = {0};
    eval_run_stats stats;
    /* no dev split: refused before any request */
    cr_assert_eq(eval_run_ceval(st, &set, &dev, &p, NULL, as, &stats), -1);
    cr_assert(strstr(dq_last_error(), "no dev examples for subject 'law'"), "%s",
              dq_last_error());
    cr_assert_eq(chats(&m), 0);

    const char d[] = "id,question,A,B,C,D,answer\n0,例一,a,b,c,d,B\n1,例二,a,b,c,d,C\n"
                     "2,例三,a,b,c,d,D\n";
    cr_assert_eq(eval_read_csv_text("law_dev.csv", d, sizeof d - 1, &dev), 0);
    cr_assert_eq(eval_run_ceval(st, &set, &dev, &p, NULL, as, &stats), 0);
    cr_assert_eq(stats.failed, 1);
    cr_assert(as[0].failed);
    cr_assert_str_eq(m.last_user, "E\nA. a\nB. b\nC. c\nD. d\n答案：");
    free_answers(as, 1);
    /* a failed request is not cached: asked again */
    cr_assert_eq(eval_run_ceval(st, &set, &dev, &p, NULL, as, &stats), 0);
    cr_assert_eq(stats.failed, 1);
    cr_assert_eq(chats(&m), 2);
    free_answers(as, 1);

    /* nobody listening stops the run */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", httpd_closed_port());
    cr_assert_eq(eval_run_ceval(st, &set, &dev, &p, NULL, as, &stats), -1);
    free_answers(as, 1);
    eval_set_free(&set);
    eval_set_free(&dev);
    store_close(st);
    httpd_stop(srv);
}

/* ---- the command --------------------------------------------------------- */

static char *slurp(const char *path)
{
    dq_buf b = DQ_BUF_INIT;
    dq_read_file(path, &b);
    return dq_buf_take(&b);
}

static pid_t docqa_start(const char *const *args)
{
    return run_docqa_start(&(run_opts){.workdir = workdir}, args);
}

static run_result docqa_wait(pid_t pid)
{
    return run_docqa_finish(&(run_opts){.workdir = workdir}, pid);
}

static run_result docqa(const char *const *args)
{
    return run_docqa(&(run_opts){.workdir = workdir}, args);
}

#define DOCQA(...) docqa((const char *const[]){__VA_ARGS__, NULL})

Test(cli, ceval_end_to_end, .init = setup_dir, .fini = teardown_dir)
{
    model_ctx m = {0};
    httpd *srv = httpd_start(model_handler, &m);
    char url[128];
    snprintf(url, sizeof url, "%s/v1", httpd_url(srv));
    write_file("val/computer_network_val.csv", net_csv);
    write_file("val/art_studies_val.csv", art_csv);
    write_file("val/art_studies_dev.csv", "id,question,A,B,C,D,answer\n0,例,a,b,c,d,B\n");
    write_file("val/bad_val.csv", "id,question,A,B,C,D,answer\n0,Q:A,a,b\n");
    write_file("test/law_test.csv", "id,question,A,B,C,D\n0,Q:B,a,b,c,d\n1,G,a,b,c,d\n");

    run_result r = DOCQA("eval", "ceval", "val", "--url", url, "-j", "2", "-q");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "val/bad_val.csv:2: expected 7 fields, found 4 (row skipped)"), "%s",
              r.err);
    cr_assert(strstr(r.out, "STEM              75.0%  (1 subject, 3/4)"), "%s", r.out);
    cr_assert(strstr(r.out, "Humanities        33.3%  (1 subject, 1/3)"), "%s", r.out);
    cr_assert(strstr(r.out, "unparseable answers: 2\n"), "%s", r.out);
    cr_assert_eq(chats(&m), 7, "the dev file gives examples, not questions");
    run_result_free(&r);
    char path[400];
    snprintf(path, sizeof path, "%s/docqa-eval/ceval.json", workdir);
    char *js = slurp(path);
    cJSON *j = cJSON_Parse(js);
    cr_assert_not_null(j, "%s", js);
    cr_assert_float_eq(cJSON_GetObjectItem(j, "average")->valuedouble, (0.75 + 1.0 / 3) / 2,
                       1e-9);
    cr_assert_eq(cJSON_GetObjectItem(j, "unparsed")->valueint, 2);
    cJSON_Delete(j);
    free(js);
    snprintf(path, sizeof path, "%s/docqa-eval/ceval.svg", workdir);
    char *svg = slurp(path);
    cr_assert(strstr(svg, "计算机网络 computer_network"));
    free(svg);

    /* re-run: instant, from the cache */
    r = DOCQA("eval", "ceval", "val", "--url", url, "-q", "--json");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(chats(&m), 7);
    j = cJSON_Parse(r.out);
    cr_assert_eq(cJSON_GetObjectItem(j, "questions")->valueint, 7, "%s", r.out);
    cJSON_Delete(j);
    run_result_free(&r);

    /* --limit: the first n of each file */
    r = DOCQA("eval", "ceval", "val", "--url", url, "-q", "--json", "--limit", "2");
    cr_assert_eq(r.status, 0, "%s", r.err);
    j = cJSON_Parse(r.out);
    cr_assert_eq(cJSON_GetObjectItem(j, "questions")->valueint, 4, "%s", r.out);
    cr_assert_float_eq(cJSON_GetObjectItem(j, "overall")->valuedouble, 3.0 / 4, 1e-9);
    cJSON_Delete(j);
    cr_assert_eq(chats(&m), 7);
    run_result_free(&r);

    /* one shot for art_studies from its dev file: only those prompts change */
    r = DOCQA("eval", "ceval", "val", "--url", url, "-q", "--shots", "1", "--subject",
              "art_studies");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(chats(&m), 10);
    cr_assert(strstr(m.last_user, "\n\n") == NULL, "the last turn is the question alone");
    run_result_free(&r);

    /* the test split: a submission file */
    r = DOCQA("eval", "ceval", "test/law_test.csv", "--url", url, "-q", "-o", "sub");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    snprintf(path, sizeof path, "%s/sub/submission.json", workdir);
    char *sub = slurp(path);
    j = cJSON_Parse(sub);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "law"), "0")->valuestring, "B");
    cr_assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "law"), "1"));
    cJSON_Delete(j);
    free(sub);
    httpd_stop(srv);

    /* nobody listening */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", httpd_closed_port());
    r = DOCQA("eval", "ceval", "val", "--url", url, "-q", "--no-cache");
    cr_assert_eq(r.status, 4, "the LLM could not answer");
    cr_assert(strstr(r.err, "docqa: "), "%s", r.err);
    run_result_free(&r);

    r = DOCQA("eval", "ceval", "val");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "no LLM: pass --url"), "%s", r.err);
    run_result_free(&r);
    r = DOCQA("eval", "nope");
    cr_assert_eq(r.status, 2);
    run_result_free(&r);
}

Test(cli, retrieval_end_to_end, .init = setup_dir, .fini = teardown_dir)
{
    write_file("docs/zh-1.txt", "长城是中国古代的军事防御工程，修建于春秋战国时期。\n");
    write_file("docs/zh-2.txt", "熊猫主要生活在四川的竹林里，以竹子为食。\n");
    write_file("docs/en-1.txt", "The Eiffel Tower was completed in 1889 in Paris.\n");
    write_file("q.jsonl",
               "{\"id\":\"1\",\"question\":\"长城修建于什么时期？\",\"answers\":[\"春秋战国时期\"],"
               "\"doc\":\"zh-1.txt\"}\n"
               "{\"id\":\"2\",\"question\":\"熊猫以什么为食？\",\"answers\":[\"竹子\"],"
               "\"doc\":\"zh-2.txt\"}\n"
               "not json\n"
               "{\"id\":\"3\",\"question\":\"When was the Eiffel Tower completed?\","
               "\"answers\":[\"1889\"],\"doc\":\"en-1.txt\"}\n"
               "{\"id\":\"4\",\"question\":\"熊猫生活在哪里？\",\"answers\":[\"四川\"],"
               "\"doc\":\"zh-1.txt\"}\n");
    run_result r = DOCQA("ingest", "-q", "docs");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    r = DOCQA("eval", "retrieval", "q.jsonl", "--mode", "bm25", "--json", "-q");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "q.jsonl:3: not a JSON object (line skipped)"), "%s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    cJSON *modes = cJSON_GetObjectItem(j, "modes");
    cr_assert_eq(cJSON_GetArraySize(modes), 1);
    cJSON *bm = cJSON_GetArrayItem(modes, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(bm, "mode")->valuestring, "bm25");
    cr_assert_eq(cJSON_GetObjectItem(bm, "questions")->valueint, 4);
    /* question 4 names the wrong document on purpose: its gold doc is not
     * retrieved first, so hit@1 is 3/4 */
    cr_assert_float_eq(cJSON_GetObjectItem(bm, "hit@1")->valuedouble, 0.75, 1e-9);
    cJSON_Delete(j);
    run_result_free(&r);
    char path[400];
    snprintf(path, sizeof path, "%s/docqa-eval/retrieval.csv", workdir);
    char *csv = slurp(path);
    cr_assert(!strncmp(csv, "mode,questions,failed,hit@1", 27), "%s", csv);
    cr_assert(strstr(csv, "\nbm25,4,0,0.7500,"), "%s", csv);
    free(csv);

    r = DOCQA("eval", "retrieval", "q.jsonl", "--mode", "bm25,sparse");
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "unknown mode 'sparse'"), "%s", r.err);
    run_result_free(&r);
}

Test(cli, retrieval_reports_pages_beside_documents, .init = setup_dir, .fini = teardown_dir)
{
    /* one text file is one page: the Eiffel file's page 1 is a hit, page 2
     * (which it lacks) is not */
    write_file("docs/en-1.txt", "The Eiffel Tower was completed in 1889 in Paris.\n");
    write_file("docs/en-2.txt", "The Colosseum in Rome was finished in 80 AD.\n");
    write_file("q.jsonl",
               "{\"question\":\"When was the Eiffel Tower completed?\",\"answers\":[\"1889\"],"
               "\"doc\":\"en-1.txt\",\"pages\":[3,1]}\n"
               "{\"question\":\"When was the Colosseum finished?\",\"answers\":[\"80 AD\"],"
               "\"doc\":\"en-2.txt\",\"pages\":[2],\"page\":1}\n"
               "{\"question\":\"Where is the Eiffel Tower?\",\"answers\":[\"Paris\"],"
               "\"doc\":\"en-1.txt\"}\n"
               "{\"question\":\"x\",\"answers\":[],\"doc\":\"en-1.txt\",\"pages\":[0]}\n");
    run_result r = DOCQA("ingest", "-q", "docs");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    r = DOCQA("eval", "retrieval", "q.jsonl", "--json", "-q");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "q.jsonl:4: needs"), "%s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    cJSON *bm = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "modes"), 0);
    cr_assert_eq(cJSON_GetObjectItem(bm, "questions")->valueint, 3);
    cr_assert_float_eq(cJSON_GetObjectItem(bm, "hit@1")->valuedouble, 1.0, 1e-9);
    /* "pages" wins over "page": the Colosseum's gold page 2 is never found */
    cr_assert_eq(cJSON_GetObjectItem(bm, "page_questions")->valueint, 2);
    cr_assert_float_eq(cJSON_GetObjectItem(bm, "page_hit@1")->valuedouble, 0.5, 1e-9);
    cr_assert_float_eq(cJSON_GetObjectItem(bm, "page_hit@10")->valuedouble, 0.5, 1e-9);
    cr_assert_float_eq(cJSON_GetObjectItem(bm, "page_mrr@10")->valuedouble, 0.5, 1e-9);
    cJSON_Delete(j);
    run_result_free(&r);
    r = DOCQA("eval", "retrieval", "q.jsonl", "-q");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\npage@5         0.500\n"), "%s", r.out);
    run_result_free(&r);
}

Test(cli, ceval_rag_adds_passages, .init = setup_dir, .fini = teardown_dir)
{
    model_ctx m = {0};
    httpd *srv = httpd_start(model_handler, &m);
    char url[128];
    snprintf(url, sizeof url, "%s/v1", httpd_url(srv));
    write_file("law_val.csv", "id,question,A,B,C,D,answer\n"
                              "0,逾期支付租金的违约金是多少？,千分之一,千分之五,百分之一,没有,B\n");
    run_result r = DOCQA("eval", "ceval", "law_val.csv", "--url", url, "--rag", "-q");
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "holds no documents; 'docqa ingest' them first"), "%s", r.err);
    cr_assert_eq(chats(&m), 0);
    run_result_free(&r);

    write_file("docs/lease.txt", "乙方逾期支付租金的，每逾期一日应按月租金的千分之五支付违约金。\n");
    write_file("docs/other.txt", "熊猫以竹子为食。\n");
    r = DOCQA("ingest", "-q", "docs");
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_result_free(&r);
    r = DOCQA("eval", "ceval", "law_val.csv", "--url", url, "--rag", "--rag-k", "1", "-q");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(chats(&m), 1);
    /* the passage is what `search` finds first for the question and its choices */
    run_result sr = DOCQA("search", "--json", "-k", "1",
                          "逾期支付租金的违约金是多少？ 千分之一 千分之五 百分之一 没有");
    cr_assert_eq(sr.status, 0, "%s", sr.err);
    cr_assert(strstr(sr.out, "lease.txt"), "%s", sr.out);
    run_result_free(&sr);
    cr_assert_str_eq(m.last_user,
                     "以下是中国关于法学考试的单项选择题，请选出其中的正确答案。\n\n"
                     "以下资料可能与题目有关：\n"
                     "[1] 乙方逾期支付租金的，每逾期一日应按月租金的千分之五支付违约金。\n\n"
                     "逾期支付租金的违约金是多少？\nA. 千分之一\nB. 千分之五\nC. 百分之一\n"
                     "D. 没有\n答案：");
    run_result_free(&r);
    /* without passages the prompt differs, so it is not answered from the
     * cache; the endpoint comes from the store's config this time */
    char cfg[300];
    snprintf(cfg, sizeof cfg, "[llm]\nurl = %s\n", url);
    write_file(".docqa/config", cfg);
    r = DOCQA("eval", "ceval", "law_val.csv", "-q");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(chats(&m), 2);
    run_result_free(&r);
    /* --rag retrieves as ask does: the config's [retrieve] min_score, which
     * no passage reaches, leaves the question without passages */
    snprintf(cfg, sizeof cfg, "[llm]\nurl = %s\n[retrieve]\nmin_score = 1000\n", url);
    write_file(".docqa/config", cfg);
    r = DOCQA("eval", "ceval", "law_val.csv", "--rag", "-q");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(chats(&m), 2, "the prompt without passages is the cached one");
    run_result_free(&r);
    r = DOCQA("eval", "ceval", "law_val.csv", "--rag", "--no-cache", "-q");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(chats(&m), 3);
    cr_assert(!strstr(m.last_user, "以下资料"), "%s", m.last_user);
    run_result_free(&r);
    httpd_stop(srv);
}

Test(cli, ctrl_c_stops_and_the_next_run_resumes, .init = setup_dir, .fini = teardown_dir)
{
    model_ctx m = {.delay_ms = 500};
    httpd *srv = httpd_start(model_handler, &m);
    char url[128];
    snprintf(url, sizeof url, "%s/v1", httpd_url(srv));
    write_file("logic_val.csv", "id,question,A,B,C,D,answer\n0,Q:A,a,b,c,d,A\n1,Q:B,a,b,c,d,B\n"
                                "2,Q:C,a,b,c,d,C\n3,Q:D,a,b,c,d,D\n4,Q:A,e,f,g,h,A\n"
                                "5,Q:B,e,f,g,h,B\n");
    pid_t pid = docqa_start((const char *const[]){"eval", "ceval", "logic_val.csv", "--url", url,
                                                  "-q", NULL});
    /* the third request is waiting for its answer: two are in */
    for (int i = 0; i < 1000 && chats(&m) < 3; i++)
        usleep(10000);
    cr_assert_eq(chats(&m), 3);
    kill(pid, SIGINT);
    run_result r = docqa_wait(pid);
    cr_assert_eq(r.status, 130, "%s", r.err);
    cr_assert(strstr(r.err, "interrupted: 2 of 6 questions answered and cached"), "%s", r.err);
    cr_assert_eq(r.out[0], '\0', "no scores for a partial run: %s", r.out);
    run_result_free(&r);

    m.delay_ms = 0;
    r = DOCQA("eval", "ceval", "logic_val.csv", "--url", url, "-q");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(chats(&m), 3 + 4, "the cut-off request is asked again, the two answers are not (%d)", chats(&m));
    cr_assert(strstr(r.out, "Overall          100.0%  (6/6 questions)"), "%s", r.out);
    run_result_free(&r);
    httpd_stop(srv);
}
