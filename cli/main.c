/* main.c - the docqa command: one table maps subcommand names to functions,
 * what each needs (store, config, writer lock) and one-line help
 * (git-style: cli/ask.c -> cmd_ask()); cli_setup provides the needs once and
 * the dispatcher frees them after the command. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/common.h"
#include "docqa_version.h" /* DOCQA_COMMIT, written at build time */

#ifndef DOCQA_VERSION
#define DOCQA_VERSION "dev"
#endif

enum {
    STORE = CLI_NEEDS_STORE,
    CREATE = CLI_CREATES_STORE,
    WRITE = CLI_WRITES_STORE,
    CONFIG = CLI_NEEDS_CONFIG,
};

static const struct {
    const char *name;
    cli_command_fn fn;
    unsigned needs;
    const char *help;
} commands[] = {
    {"ingest", cmd_ingest, CREATE | WRITE | CONFIG,
     "add files and folders to the store (incremental)"},
    {"search", cmd_search, STORE | CONFIG,
     "show the chunks that best match a query (BM25, dense, hybrid)"},
    {"ask", cmd_ask, STORE | CONFIG, "answer a question from the documents, with citations"},
    {"chat", cmd_chat, STORE | CONFIG,
     "ask questions in turn, follow-ups understood (interactive)"},
    {"reindex", cmd_reindex, STORE | WRITE | CONFIG,
     "bring the store in line with its source folders (for cron)"},
    {"status", cmd_status, STORE, "show the store: counts, sizes, failed files"},
    {"embed", cmd_embed, CONFIG, "print embedding vectors for texts (check a model by hand)"},
    /* eval's kinds add the store they need (cmd_eval) */
    {"eval", cmd_eval, CONFIG, "measure answers (C-Eval CSVs via an LLM) and retrieval quality"},
    /* index rebuild adds the config it reads */
    {"index", cmd_index, STORE, "check or rebuild the vector index beside the store"},
    /* model reads the config of the --store given only, and only for some actions */
    {"generate", cmd_generate, CONFIG, "run a GGUF model on a prompt by hand (--json: ids, logprobs)"},
    {"model", cmd_model, 0, "get and choose models: pull, list, use, rm, info"},
    {"doctor", cmd_doctor, CONFIG, "check the configured LLM (model file or endpoint) loads and answers"},
    /* an empty store is fine: people upload their documents through the page */
    {"serve", cmd_serve, CREATE | CONFIG,
     "serve the store over HTTP: JSON API, OpenAI endpoint, web page"},
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

/* True when a store may be created in dir: it is missing, empty, or already
 * holds docqa's files. A folder of other files (say --store ~/Documents) is
 * refused rather than having docqa's database scattered among them. */
static bool may_hold_store(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return true; /* missing: store_open creates it */
    bool ok = true;
    struct dirent *e;
    while (ok && (e = readdir(d))) {
        const char *name = e->d_name;
        if (!strncmp(name, STORE_DBNAME, strlen(STORE_DBNAME)))
            break; /* a store already */
        ok = !strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, "config") ||
             !strcmp(name, STORE_LOCKNAME);
    }
    closedir(d);
    return ok;
}

/* The store --store, $DOCQA_STORE or the ".docqa" found upward from the
 * current directory names (with create, ./.docqa when none is found),
 * opened. NULL after printing why. */
static store *open_store(const cli_globals *g, bool create)
{
    char *dir = NULL;
    if (g->store_dir) {
        dir = dq_strdup(g->store_dir);
    } else if (getenv("DOCQA_STORE") && *getenv("DOCQA_STORE")) {
        dir = dq_strdup(getenv("DOCQA_STORE"));
    } else {
        dir = store_find(NULL);
        if (!dir && create) {
            char *cwd = getcwd(NULL, 0);
            dq_buf b = DQ_BUF_INIT;
            dq_buf_printf(&b, "%s/%s", cwd ? cwd : ".", STORE_DIRNAME);
            free(cwd);
            dir = dq_buf_take(&b);
        }
    }
    if (!dir) {
        cli_error("%s", dq_last_error());
        return NULL;
    }
    if (create && !may_hold_store(dir)) {
        cli_error("'%s' is a folder of other files, not a docqa store; name a new or empty "
                  "directory (or one made by docqa) with --store",
                  dir);
        free(dir);
        return NULL;
    }
    store *st = store_open(dir, create ? STORE_CREATE : 0);
    if (!st)
        cli_error("%s", dq_last_error());
    free(dir);
    return st;
}

/* Takes the store's writer lock, saying so when it has to wait. EXIT_OK,
 * EXIT_LOCKED (held elsewhere and !wait) or EXIT_ERROR, after printing why. */
static int lock_store(store *st, bool wait, bool quiet)
{
    int rc = store_lock(st, false);
    if (rc == 1 && wait) {
        if (!quiet)
            fprintf(stderr, "docqa: waiting for another ingest or reindex of '%s' to finish\n",
                    store_dir(st));
        rc = store_lock(st, true);
    }
    if (rc == 0)
        return EXIT_OK;
    if (rc == 1) {
        cli_error("%s (exit status %d; without --no-wait docqa waits for it)", dq_last_error(),
                  EXIT_LOCKED);
        return EXIT_LOCKED;
    }
    cli_error("%s", dq_last_error());
    return EXIT_ERROR;
}

int cli_setup(cli_globals *g)
{
    if ((g->needs & (CLI_NEEDS_STORE | CLI_CREATES_STORE)) && !g->st) {
        g->st = open_store(g, g->needs & CLI_CREATES_STORE);
        if (!g->st)
            return EXIT_ERROR;
    }
    if ((g->needs & CLI_WRITES_STORE) && !g->locked) {
        int rc = lock_store(g->st, !g->no_wait, g->quiet);
        if (rc != EXIT_OK)
            return rc;
        g->locked = true;
    }
    if ((g->needs & CLI_NEEDS_CONFIG) && !g->have_cfg) {
        /* without a store to open, the config of the one named or found, if any */
        char *dir = g->st          ? dq_strdup(store_dir(g->st))
                    : g->store_dir ? dq_strdup(g->store_dir)
                                   : store_find(NULL);
        int rc = cli_load_config(&g->cfg, dir);
        free(dir);
        if (rc < 0)
            return EXIT_ERROR;
        g->have_cfg = true;
    }
    return EXIT_OK;
}

/* Frees what cli_setup provided. */
static void teardown(cli_globals *g)
{
    dq_config_free(&g->cfg);
    g->have_cfg = false;
    store_close(g->st); /* the writer lock goes with it */
    g->st = NULL;
    g->locked = false;
}

static void print_help(FILE *out)
{
    fprintf(out, "usage: docqa [--store <dir>] <command> [<args>]\n\n"
                 "Ask questions about your documents (PDF, EPUB, XPS, CBZ, FB2, HTML, Markdown,\n"
                 "text, Word, Excel, PowerPoint, OpenDocument) in Chinese or English; answers\n"
                 "cite file and page (sheet, slide or section for Office files).\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "    %-9s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\noptions:\n"
                 "    --store <dir>   the store directory (default: $DOCQA_STORE, else the\n"
                 "                    first .docqa found from the current directory upward)\n"
                 "    --version       print the version\n"
                 "    -h, --help      this help; 'docqa <command> -h' for a command's options\n"
                 "\nexit status: 0 success, 1 error, 2 bad usage, 3 ingest or reindex finished\n"
                 "but some files failed (eval: some requests failed), 4 the LLM could not\n"
                 "answer (unreachable in doctor and eval, refused or failed mid-answer in\n"
                 "ask, a prompt past the model's context in ask and generate), 5 another\n"
                 "ingest or reindex holds the store (with --no-wait),\n"
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
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        if (!strcmp(commands[c].name, name)) {
            g.needs = commands[c].needs;
            int status = commands[c].fn(argc - i, argv + i, &g);
            teardown(&g);
            return status;
        }
    }
    cli_error("'%s' is not a docqa command; see 'docqa --help'", name);
    return EXIT_USAGE;
}
