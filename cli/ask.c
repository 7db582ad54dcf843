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

static void print_json(const char *question, const retrieve_result *res, const answer *a,
                       const char *llm_error)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "question", question);
    cJSON_AddStringToObject(root, "mode", "extractive");
    if (llm_error)
        cJSON_AddStringToObject(root, "llm_error", llm_error);
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
        cli_add_page_span(o, s->page_start, s->page_end, s->label);
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
        cli_add_page_span(o, h->page_start, h->page_end, h->label);
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

static bool cited(const rag_answer *ans, int number)
{
    for (size_t i = 0; i < ans->cites.n_cited; i++)
        if (ans->cites.cited[i] == number)
            return true;
    return false;
}

static void print_llm_json(const char *question, const char *model, const rag_answer *ans,
                           double retrieve_s)
{
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
        cli_add_page_span(o, s->page_start, s->page_end, s->label);
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

/* Answers with the LLM. Returns an exit status, or -1 to fall back to the
 * extractive answer (*llm_error then says why, owned). */
static int ask_llm(llm_client *llm, const cli_config *cfg, const char *question,
                   const retrieve_result *res, double retrieve_s, bool json, char **llm_error)
{
    rag_answer ans;
    if (rag_generate(llm, cfg, question, res, NULL, 0, json ? NULL : stdout, &ans) < 0) {
        rag_answer_free(&ans);
        return EXIT_ERROR;
    }
    int status = EXIT_OK;
    const char *text = ans.reply.text ? ans.reply.text : "";
    if (!json && *text && text[strlen(text) - 1] != '\n')
        putchar('\n');
    fflush(stdout);
    if (ans.status == LLM_OK) {
        if (json) {
            print_llm_json(question, cfg->llm_model, &ans, retrieve_s);
        } else {
            rag_print_sources(stdout, &ans);
            if (ans.reply.finish_reason && !strcmp(ans.reply.finish_reason, "length"))
                cli_error("the answer was cut off at its token budget; raise [llm] max_tokens");
        }
    } else if (ans.status == LLM_ERR_CANCELLED) {
        cli_error("interrupted");
        status = EXIT_INTERRUPTED;
    } else if (rag_unreachable(&ans)) {
        *llm_error = dq_strdup(ans.error);
        status = -1;
    } else {
        cli_error("%s", ans.error);
        status = EXIT_LLM;
    }
    rag_answer_free(&ans);
    return status;
}

static const char *const ask_usage[] = {
    "docqa ask [<options>] <question>",
    NULL,
};

int cmd_ask(int argc, char **argv, cli_globals *g)
{
    bool json = false, no_llm = false;
    retrieve_params rp = retrieve_default_params();
    answer_params ap = answer_default_params();
    cli_retrieval_flags rf = {0};
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_NUMBER('k', "top", &rp.top_k, "n", "chunks to read the answer from (5)"),
        CLI_RETRIEVAL_OPTIONS(&rf),
        OPT_NUMBER(0, "sentences", &ap.max_sentences, "n", "most sentences in the answer (3)"),
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
    if (rp.top_k < 1 || rp.top_k > 100 || ap.max_sentences < 1 || ap.max_sentences > 20) {
        cli_error("--top must be 1-100 and --sentences 1-20");
        return EXIT_USAGE;
    }
    dq_buf question = DQ_BUF_INIT;
    for (int i = 0; i < n_args; i++)
        dq_buf_printf(&question, "%s%s", i ? " " : "", argv[i]);

    store *st = cli_open_store(g, false);
    if (!st) {
        dq_buf_free(&question);
        return EXIT_ERROR;
    }
    int status = EXIT_OK;
    cli_config cfg;
    llm_client *llm = NULL;
    bool err = cli_config_load(&cfg, store_dir(st)) < 0;
    if (!err && !no_llm)
        llm = cli_open_llm(&cfg, &err);
    if (err) {
        cli_config_free(&cfg);
        store_close(st);
        dq_buf_free(&question);
        return EXIT_ERROR;
    }
    cli_catch_signals();
    retrieve_result res = {0};
    answer a = {0};
    char *llm_error = NULL;
    embedder *emb = NULL;
    status = cli_retrieval_setup(st, &rf, &rp, &emb);
    if (status != EXIT_OK)
        goto done; /* printed */
    double t0 = dq_now();
    if (retrieve_search(st, emb, question.data, &rp, &res) < 0) {
        cli_error("search failed: %s", dq_last_error());
        status = EXIT_ERROR;
        goto done;
    }
    if (llm) {
        status = ask_llm(llm, &cfg, question.data, &res, dq_now() - t0, json, &llm_error);
        if (status >= 0)
            goto done;
        cli_error("%s; answering from the passages instead (extractive)", llm_error);
        status = EXIT_OK;
    }
    if (answer_extractive(question.data, &res, &ap, &a) < 0) {
        cli_error("cannot answer: %s", dq_last_error());
        status = EXIT_ERROR;
    } else if (json) {
        print_json(question.data, &res, &a, llm_error);
    } else {
        rag_print_extractive(stdout, &a);
    }
done:
    free(llm_error);
    answer_free(&a);
    retrieve_result_free(&res);
    llm_free(llm);
    cli_config_free(&cfg);
    embedder_free(emb);
    reranker_free(rp.reranker);
    store_close(st);
    dq_buf_free(&question);
    return status;
}
