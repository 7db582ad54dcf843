/* cli.h - what the docqa subcommands share: the command table's signature,
 * store and config lookup, progress display and exit codes. Only cli/ prints. */
#ifndef DQ_CLI_H
#define DQ_CLI_H

#include <stdbool.h>

#include "embed/embed.h"
#include "index/index.h"

/* Exit codes, documented in README.md and `docqa --help`. */
enum {
    EXIT_OK = 0,
    EXIT_ERROR = 1,   /* the command could not do its work */
    EXIT_USAGE = 2,   /* bad command line */
    EXIT_PARTIAL = 3, /* ingest finished, but some files failed (eval: some requests) */
    EXIT_LLM = 4,     /* the LLM refused or failed mid-answer (ask, chat); doctor: any LLM fault;
                       * eval: unreachable */
    EXIT_INTERRUPTED = 130,
};

/* Options every subcommand understands, parsed before the subcommand too
 * (`docqa --store DIR ask ...`). */
typedef struct {
    const char *store_dir; /* --store, else $DOCQA_STORE, else found upward */
} cli_globals;

typedef int (*cli_command_fn)(int argc, char **argv, cli_globals *g);

int cmd_ingest(int argc, char **argv, cli_globals *g);
int cmd_search(int argc, char **argv, cli_globals *g);
int cmd_ask(int argc, char **argv, cli_globals *g);
int cmd_status(int argc, char **argv, cli_globals *g);
int cmd_embed(int argc, char **argv, cli_globals *g);
int cmd_model(int argc, char **argv, cli_globals *g);
int cmd_chat(int argc, char **argv, cli_globals *g);
int cmd_doctor(int argc, char **argv, cli_globals *g);
int cmd_eval(int argc, char **argv, cli_globals *g);

/* Prints "docqa: <message>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Opens the store for reading and querying: --store, $DOCQA_STORE, or
 * ".docqa" found upward from the current directory. NULL after printing why. */
store *cli_open_store(const cli_globals *g, bool create);

/* ---- configuration ------------------------------------------------------ */

/* docqa's settings, read from ~/.config/docqa/config then <store>/config
 * (later wins), then the environment (DOCQA_EMBED_MODEL, DOCQA_EMBED_URL,
 * DOCQA_EMBED_API_KEY), then command-line flags. Strings are owned. */
typedef struct {
    char *embed_model;  /* [embed] model = DIR */
    char *embed_url;    /* [embed] url = http://127.0.0.1:8080/v1 */
    char *embed_remote; /* [embed] remote_model = NAME */
    char *embed_key;    /* [embed] api_key = KEY */
    bool embed_int8;    /* [embed] int8 = true */
    int embed_threads;  /* [embed] threads = N (0: all cores) */
    /* [llm]: an OpenAI-compatible chat endpoint; with no url, answers are
     * extractive. Numbers are 0 when unset (cli/llm.c supplies defaults). */
    char *llm_url;          /* [llm] url, $DOCQA_LLM_URL */
    char *llm_model;        /* [llm] model, $DOCQA_LLM_MODEL */
    char *llm_key;          /* $DOCQA_LLM_API_KEY only, never from a file */
    char *llm_prompts;      /* [llm] prompts = DIR holding zh.txt / en.txt */
    double llm_temperature; /* [llm] temperature (-1: unset) */
    int llm_max_tokens;     /* [llm] max_tokens: the answer's budget */
    int llm_context;        /* [llm] context: the model's window in tokens */
    int llm_timeout;        /* [llm] timeout: seconds without a byte */
    int llm_connect_timeout; /* [llm] connect_timeout: seconds */
} cli_config;

/* Reads the config files (store_dir may be NULL). -1 after printing the
 * file and line of a malformed entry. */
int cli_config_load(cli_config *cfg, const char *store_dir);
void cli_config_free(cli_config *cfg);
/* The embedder the config names, or NULL when none is configured (*err false)
 * or it failed to load (*err true, message printed). */
embedder *cli_open_embedder(const cli_config *cfg, bool *err);

/* ---- the LLM (cli/llm.c) ------------------------------------------------ */

struct llm_client;
/* The chat client the config names, or NULL when none is configured (*err
 * false) or the settings are bad (*err true, message printed). */
struct llm_client *cli_open_llm(const cli_config *cfg, bool *err);

/* Embeds every chunk that has no vector from e yet (re-embedding all when the
 * store's model changed); progress on a terminal. -1 after printing why. */
int cli_embed_missing(store *st, embedder *e, bool quiet);

/* Renders a retrieve snippet for a terminal (bold colour), or with **marks**
 * when stdout is not one. Caller frees. */
char *cli_render_snippet(const char *snippet, bool tty);

/* Adds "page_start"/"page_end" to a JSON object. */
struct cJSON;
void cli_add_page_span(struct cJSON *obj, int page_start, int page_end);

/* ---- progress ----------------------------------------------------------- */

/* A one-line progress bar on stderr, drawn only when stderr is a terminal and
 * not quiet; messages printed through progress_message() appear above it. */
typedef struct {
    bool active;
    const char *what;   /* "ingest", "embed" */
    const char *unit;   /* "files", "chunks" */
    double started;
    double last_draw;
    long long total_units, done_units; /* for the bar and ETA (bytes, chunks) */
    int items_total, items_done;
    long long pages;
} progress;

void progress_start(progress *p, const char *what, const char *unit, bool quiet,
                    int items_total, long long total_units);
void progress_update(progress *p, int items_done, long long done_units, long long pages);
void progress_message(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void progress_finish(progress *p);

/* True when the user pressed Ctrl-C (SIGINT/SIGTERM); long loops check it
 * between files so the store is left with whole documents only. */
bool cli_interrupted(void);
void cli_catch_signals(void);
/* Forgets a Ctrl-C that has been dealt with (chat: one stops an answer, not
 * the session). */
void cli_clear_interrupt(void);

#endif
