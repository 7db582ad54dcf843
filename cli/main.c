/* main.c - the docqa command: one table maps subcommand names to functions
 * and one-line help (git-style: cli/ask.c -> cmd_ask()). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"
#include "docqa_version.h" /* DOCQA_COMMIT, written at build time */

#ifndef DOCQA_VERSION
#define DOCQA_VERSION "dev"
#endif

static const struct {
    const char *name;
    cli_command_fn fn;
    const char *help;
} commands[] = {
    {"ingest", cmd_ingest, "add files and folders to the store (incremental)"},
    {"search", cmd_search, "show the chunks that best match a query (BM25, dense, hybrid)"},
    {"ask", cmd_ask, "answer a question from the documents, with citations"},
    {"chat", cmd_chat, "ask questions in turn, follow-ups understood (interactive)"},
    {"reindex", cmd_reindex, "bring the store in line with its source folders (for cron)"},
    {"status", cmd_status, "show the store: counts, sizes, failed files"},
    {"embed", cmd_embed, "print embedding vectors for texts (check a model by hand)"},
    {"eval", cmd_eval, "measure answers (C-Eval CSVs via an LLM) and retrieval quality"},
    {"index", cmd_index, "check or rebuild the vector index beside the store"},
    {"model", cmd_model, "get and choose models: pull, list, use, rm, info"},
    {"doctor", cmd_doctor, "check the configured LLM endpoint answers and has the model"},
    {"serve", cmd_serve, "serve the store over HTTP: JSON API, OpenAI endpoint, web page"},
};

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("docqa: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void print_help(FILE *out)
{
    fprintf(out, "usage: docqa [--store <dir>] <command> [<args>]\n\n"
                 "Ask questions about your documents (PDF, EPUB, XPS, CBZ, FB2, HTML, Markdown,\n"
                 "text) in Chinese or English; answers cite file and page.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "    %-8s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\noptions:\n"
                 "    --store <dir>   the store directory (default: $DOCQA_STORE, else the\n"
                 "                    first .docqa found from the current directory upward)\n"
                 "    --version       print the version\n"
                 "    -h, --help      this help; 'docqa <command> -h' for a command's options\n"
                 "\nexit status: 0 success, 1 error, 2 bad usage, 3 ingest or reindex finished\n"
                 "but some files failed (eval: some requests failed), 4 the LLM could not\n"
                 "answer (unreachable in doctor and eval, refused or failed mid-answer in\n"
                 "ask), 5 another ingest or reindex holds the store (with --no-wait),\n"
                 "130 interrupted.\n");
}

int main(int argc, char **argv)
{
    cli_globals g = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            print_help(stdout);
            return EXIT_OK;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("docqa %s (commit %s)\n", DOCQA_VERSION, DOCQA_COMMIT);
            return EXIT_OK;
        }
        if (!strcmp(argv[i], "--store")) {
            if (i + 1 >= argc) {
                cli_error("option '--store' requires a value");
                return EXIT_USAGE;
            }
            g.store_dir = argv[++i];
        } else if (!strncmp(argv[i], "--store=", 8)) {
            g.store_dir = argv[i] + 8;
        } else {
            cli_error("unknown option '%s'", argv[i]);
            print_help(stderr);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[i];
    if (!strcmp(name, "help")) {
        print_help(stdout);
        return EXIT_OK;
    }
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
        if (!strcmp(commands[c].name, name))
            return commands[c].fn(argc - i, argv + i, &g);
    cli_error("'%s' is not a docqa command; see 'docqa --help'", name);
    return EXIT_USAGE;
}
