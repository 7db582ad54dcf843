/* ask.c - `docqa ask "..."`: retrieve, then answer with [n] citations and a
 * sources list. With an LLM configured ([llm] url) the answer is the model's,
 * streamed as it comes and checked for citations to passages it was never
 * given; when the LLM cannot be reached the answer falls back, with a notice,
 * to the extractive one: sentences from the documents themselves, never
 * invented text. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/rag.h"
#include "common/common.h"
#include "generate/generate.h"

static void print_json(const char *question, const rag_reply *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "question", question);
    const answer *a = &r->extractive;
    const retrieve_result *res = &r->hits;
    cJSON_AddStringToObject(root, "mode", "extractive");
    if (r->llm_error)
        cJSON_AddStringToObject(root, "llm_error", r->llm_error);
    cJSON_AddBoolToObject(root, "found", a->found);
    dq_buf text = DQ_BUF_INIT;
    cJSON *sents = cJSON_AddArrayToObject(root, "sentences");
    for (size_t i = 0; i < a->n_sentences; i++) {
        const answer_sentence *s = &a->sentences[i];
        dq_buf_printf(&text, "%s%s[%d]", i ? " " : "", s->text, s->source);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", s->text);
        cJSON_AddNumberToObject(o, "source", s->source);
        cJSON_AddNumberToObject(o, "score", s->score);
        cJSON_AddItemToArray(sents, o);
    }
    cJSON_AddStringToObject(root, "answer", text.data ? text.data : "");
    dq_buf_free(&text);
    cJSON *srcs = cJSON_AddArrayToObject(root, "sources");
    for (size_t i = 0; i < a->n_sources; i++) {
        const answer_source *s = &a->sources[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "number", s->number);
        cJSON_AddStringToObject(o, "path", s->path);
        cli_add_page_span(o, s->page_start, s->page_end);
        cJSON_AddBoolToObject(o, "ocr", s->ocr);
        cJSON_AddStringToObject(o, "section", s->section ? s->section : "");
        cJSON_AddNumberToObject(o, "chunk_id", (double)s->chunk_id);
        cJSON_AddNumberToObject(o, "score", s->score);
        cJSON_AddItemToArray(srcs, o);
    }
    cJSON *hits = cJSON_AddArrayToObject(root, "retrieved");
    for (size_t i = 0; i < res->n; i++) {
        const store_hit *h = &res->items[i].chunk;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "chunk_id", (double)h->chunk_id);
        cJSON_AddStringToObject(o, "path", h->path);
        cli_add_page_span(o, h->page_start, h->page_end);
        cJSON_AddNumberToObject(o, "score", h->score);
        cJSON_AddItemToArray(hits, o);
    }
    char *out = cJSON_Print(root);
    puts(out);
    free(out);
    cJSON_Delete(root);
}

static void add_numbers(cJSON *obj, const char *name, const int *v, size_t n)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, name);
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(v[i]));
}

static bool cited(const llm_answer *ans, int number)
{
    for (size_t i = 0; i < ans->cites.n_cited; i++)
        if (ans->cites.cited[i] == number)
            return true;
    return false;
}

static void print_llm_json(const char *question, const char *model, const rag_reply *r)
{
    const llm_answer *ans = &r->llm;
    double retrieve_s = r->retrieve_s;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "question", question);
    cJSON_AddStringToObject(root, "mode", "llm");
    if (model)
        cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "lang", prompt_lang_name(ans->pr.lang));
    cJSON_AddStringToObject(root, "answer", ans->reply.text ? ans->reply.text : "");
    if (ans->reply.finish_reason)
        cJSON_AddStringToObject(root, "finish_reason", ans->reply.finish_reason);
    else
        cJSON_AddNullToObject(root, "finish_reason");
    add_numbers(root, "citations", ans->cites.cited, ans->cites.n_cited);
    add_numbers(root, "unknown_citations", ans->cites.unknown, ans->cites.n_unknown);
    cJSON *srcs = cJSON_AddArrayToObject(root, "sources");
    for (size_t i = 0; i < ans->pr.n_sources; i++) {
        const answer_source *s = &ans->pr.sources[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "number", s->number);
        cJSON_AddStringToObject(o, "path", s->path);
        cli_add_page_span(o, s->page_start, s->page_end);
        cJSON_AddStringToObject(o, "section", s->section ? s->section : "");
        cJSON_AddNumberToObject(o, "chunk_id", (double)s->chunk_id);
        cJSON_AddNumberToObject(o, "score", s->score);
        cJSON_AddBoolToObject(o, "cited", cited(ans, s->number));
        cJSON_AddItemToArray(srcs, o);
    }
    cJSON_AddNumberToObject(root, "passages_dropped", (double)ans->pr.n_dropped);
    cJSON *t = cJSON_AddObjectToObject(root, "timings");
    cJSON_AddNumberToObject(t, "retrieve_s", retrieve_s);
    cJSON_AddNumberToObject(t, "first_token_s", ans->reply.first_token_s);
    cJSON_AddNumberToObject(t, "total_s", ans->reply.total_s);
    cJSON *k = cJSON_AddObjectToObject(root, "tokens");
    cJSON_AddNumberToObject(k, "prompt_estimate", ans->pr.tokens);
    cJSON_AddBoolToObject(k, "prompt_estimate_counted", ans->pr.counted);
    if (ans->reply.prompt_tokens >= 0)
        cJSON_AddNumberToObject(k, "prompt", ans->reply.prompt_tokens);
    else
        cJSON_AddNullToObject(k, "prompt");
    if (ans->reply.completion_tokens >= 0)
        cJSON_AddNumberToObject(k, "completion", ans->reply.completion_tokens);
    else
        cJSON_AddNullToObject(k, "completion");
    char *out = cJSON_Print(root);
    puts(out);
    free(out);
    cJSON_Delete(root);
}

static const char *const ask_usage[] = {
    "docqa ask [<options>] <question>",
    NULL,
};

int cmd_ask(int argc, char **argv, cli_globals *g)
{
    bool json = false, no_llm = false;
    int top_k = retrieve_default_params().top_k;
    int max_sentences = answer_default_params().max_sentences;
    rag_flags flags = {0};
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_NUMBER('k', "top", &top_k, "n", "chunks to read the answer from (5)"),
        CLI_RETRIEVAL_OPTIONS(&flags),
        OPT_NUMBER(0, "sentences", &max_sentences, "n", "most sentences in the answer (3)"),
        OPT_BOOLEAN(0, "json", &json, "print answer, sources, timings and token counts as JSON"),
        OPT_BOOLEAN(0, "no-llm", &no_llm, "answer extractively even when [llm] is configured"),
        OPT_FINISH,
    };
    int n_args;
    int p = parse_options(argc, argv, opts, ask_usage, &n_args);
    if (p != PARSE_OK)
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (n_args < 1) {
        cli_error("no question given");
        print_usage(stderr, ask_usage, opts);
        return EXIT_USAGE;
    }
    if (top_k < 1 || top_k > 100 || max_sentences < 1 || max_sentences > 20) {
        cli_error("--top must be 1-100 and --sentences 1-20");
        return EXIT_USAGE;
    }
    dq_buf question = DQ_BUF_INIT;
    for (int i = 0; i < n_args; i++)
        dq_buf_printf(&question, "%s%s", i ? " " : "", argv[i]);

    rag_session_params sp = {.flags = flags, .no_llm = no_llm, .top_k = top_k,
                             .max_sentences = max_sentences};
    int status;
    rag_session *s = cli_rag_session(g, &sp, &status);
    if (!s) {
        dq_buf_free(&question);
        return status;
    }
    cli_catch_signals();
    cli_answer_out o = {json ? NULL : stdout, false};
    rag_turn t = cli_rag_turn(question.data, &o);
    rag_reply r;
    int rc = rag_answer_turn(s, &t, &r);
    if (rc == 0 && r.mode == RAG_LLM) {
        if (!json && *r.text && r.text[strlen(r.text) - 1] != '\n')
            putchar('\n');
        fflush(stdout);
        if (json) {
            print_llm_json(question.data, s->llm_params.model, &r);
        } else {
            rag_print_sources(stdout, &r);
            if (r.llm.reply.finish_reason && !strcmp(r.llm.reply.finish_reason, "length"))
                cli_error("the answer was cut off at its token budget; raise [llm] max_tokens");
        }
    } else if (rc == 0) {
        if (r.llm_error)
            cli_error("%s; answering from the passages instead (extractive)", r.llm_error);
        if (json)
            print_json(question.data, &r);
        else
            rag_print_extractive(stdout, question.data, &r.extractive);
    } else {
        if (o.printed)
            putchar('\n');
        fflush(stdout);
        status = rc == RAG_ERR_STOPPED ? EXIT_INTERRUPTED : rc == RAG_ERR_LLM ? EXIT_LLM
                                                                                : EXIT_ERROR;
        cli_error("%s%s", rc == RAG_ERR_NO_QUERY ? "search failed: " : "", dq_last_error());
    }
    rag_reply_free(&r);
    rag_session_free(s);
    dq_buf_free(&question);
    return status;
}
