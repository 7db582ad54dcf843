/* model.c - `docqa model info DIR`: what docqa found in a model folder (an
 * embedding model or a cross-encoder reranker). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "common/common.h"

static const char *const model_usage[] = {
    "docqa model info [<options>] <dir>",
    NULL,
};

int cmd_model(int argc, char **argv, cli_globals *g)
{
    (void)g;
    bool int8 = false;
    const cli_option opts[] = {
        OPT_BOOLEAN(0, "int8", &int8, "load with int8 linear layers, as [embed] int8 = true does"),
        OPT_FINISH,
    };
    int n_args;
    int p = parse_options(argc, argv, opts, model_usage, &n_args);
    if (p != PARSE_OK)
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (n_args >= 1 && strcmp(argv[0], "info") != 0) {
        cli_error("unknown model subcommand '%s'", argv[0]);
        return EXIT_USAGE;
    }
    if (n_args != 2) {
        print_usage(stderr, model_usage, opts);
        return EXIT_USAGE;
    }
    bert_params bp = bert_default_params();
    bp.int8 = int8;
    if (reranker_folder(argv[1])) {
        /* a cross-encoder: same engine, a classification head on top */
        reranker *r = reranker_open(argv[1], &bp);
        if (!r) {
            cli_error("%s", dq_last_error());
            return EXIT_ERROR;
        }
        char *text = reranker_describe(r);
        fputs(text, stdout);
        free(text);
        reranker_free(r);
        return EXIT_OK;
    }
    bert_model *m = bert_load(argv[1], &bp);
    if (!m) {
        cli_error("%s", dq_last_error());
        return EXIT_ERROR;
    }
    char *text = bert_describe(m);
    fputs(text, stdout);
    if (text[0] && text[strlen(text) - 1] != '\n')
        putchar('\n');
    free(text);
    bert_free(m);
    return EXIT_OK;
}
