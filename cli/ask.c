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

static void print_json(const char *question, const rag_reply *r, const char *model)
{
    cJSON *root = rag_reply_json(question, r, model);
    char *out = rag_json_print(root, true);
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
            print_json(question.data, &r,
                       s->llm_params.model_file ? s->llm_params.model_file : s->llm_params.model);
        } else {
            rag_print_sources(stdout, &r);
            if (r.llm.reply.finish_reason && !strcmp(r.llm.reply.finish_reason, "length"))
                cli_error("the answer was cut off at its token budget; raise [llm] max_tokens");
        }
    } else if (rc == 0) {
        if (r.llm_error)
            cli_error("%s; answering from the passages instead (extractive)", r.llm_error);
        if (json)
            print_json(question.data, &r, NULL);
        else if (r.no_document)
            puts(r.text); /* the document asked about is not in the store: said, not answered */
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
