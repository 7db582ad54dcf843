/* ask.c - `docqa ask "..."`: retrieve, then answer with [n] citations and a
 * sources list. With no LLM configured the answer is extractive: sentences
 * from the documents themselves, never invented text. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "common/common.h"
#include "generate/generate.h"

static void print_json(const char *question, const retrieve_result *res, const answer *a)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "question", question);
    cJSON_AddStringToObject(root, "mode", "extractive");
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

static void print_text(const answer *a)
{
    if (!a->found) {
        puts("No passage in the documents answers this question.");
        return;
    }
    for (size_t i = 0; i < a->n_sentences; i++)
        printf("%s [%d]\n", a->sentences[i].text, a->sentences[i].source);
    puts("\nSources:");
    for (size_t i = 0; i < a->n_sources; i++) {
        char *line = answer_format_source(&a->sources[i]);
        printf("[%d] %s\n", a->sources[i].number, line);
        free(line);
    }
}

static const char *const ask_usage[] = {
    "docqa ask [<options>] <question>",
    NULL,
};

int cmd_ask(int argc, char **argv, cli_globals *g)
{
    bool json = false;
    retrieve_params rp = retrieve_default_params();
    answer_params ap = answer_default_params();
    cli_retrieval_flags rf = {0};
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_NUMBER('k', "top", &rp.top_k, "n", "chunks to read the answer from (5)"),
        CLI_RETRIEVAL_OPTIONS(&rf),
        OPT_NUMBER(0, "sentences", &ap.max_sentences, "n", "most sentences in the answer (3)"),
        OPT_BOOLEAN(0, "json", &json, "print answer, sources and scores as JSON"),
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
    retrieve_result res = {0};
    answer a = {0};
    embedder *emb = NULL;
    int status = cli_retrieval_setup(st, &rf, &rp, &emb);
    if (status != EXIT_OK) {
        /* printed */
    } else if (retrieve_search(st, emb, question.data, &rp, &res) < 0) {
        cli_error("search failed: %s", dq_last_error());
        status = EXIT_ERROR;
    } else if (answer_extractive(question.data, &res, &ap, &a) < 0) {
        cli_error("cannot answer: %s", dq_last_error());
        status = EXIT_ERROR;
    } else if (json) {
        print_json(question.data, &res, &a);
    } else {
        print_text(&a);
    }
    answer_free(&a);
    retrieve_result_free(&res);
    embedder_free(emb);
    reranker_free(rp.reranker);
    store_close(st);
    dq_buf_free(&question);
    return status;
}
