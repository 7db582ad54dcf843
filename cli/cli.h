/* cli.h - what the docqa subcommands share: the command table's signature,
 * store and config lookup, progress display and exit codes. Only cli/ prints. */
#ifndef DQ_CLI_H
#define DQ_CLI_H

#include <stdbool.h>

#include "embed/embed.h"
#include "index/index.h"
#include "retrieve/retrieve.h"

/* Exit codes, documented in README.md and `docqa --help`. */
enum {
    EXIT_OK = 0,
    EXIT_ERROR = 1,   /* the command could not do its work */
    EXIT_USAGE = 2,   /* bad command line */
    EXIT_PARTIAL = 3, /* ingest/reindex finished, but some files failed (eval: some requests) */
    EXIT_LLM = 4,     /* the LLM refused or failed mid-answer (ask); doctor: any LLM fault;
                       * eval: unreachable */
    EXIT_LOCKED = 5,  /* --no-wait: another ingest or reindex holds the store */
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
int cmd_serve(int argc, char **argv, cli_globals *g);
int cmd_reindex(int argc, char **argv, cli_globals *g);
int cmd_eval(int argc, char **argv, cli_globals *g);
int cmd_index(int argc, char **argv, cli_globals *g);

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
    bert_device embed_device; /* [embed] device = auto|cpu|cuda */
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
    char *ocr_mode;     /* [ocr] mode = auto|always|never */
    char *ocr_lang;     /* [ocr] lang = chi_sim+eng */
    char *retrieve_mode;   /* [retrieve] mode = auto|bm25|dense|hybrid */
    double min_score;      /* [retrieve] min_score = X; NAN: none */
    long long ann_threshold; /* [retrieve] ann_threshold = N; -1: the default */
    int nprobe;            /* [retrieve] nprobe = N; 0: the default */
    bool exact;            /* [retrieve] exact = true */
    char *rerank_model;    /* [retrieve] rerank_model = DIR (a cross-encoder folder) */
} cli_config;

/* Reads the config files (store_dir may be NULL). -1 after printing the
 * file and line of a malformed entry, with cfg freed (cli_config_free on it
 * again is harmless). */
int cli_config_load(cli_config *cfg, const char *store_dir);
void cli_config_free(cli_config *cfg);
/* ~/.config/docqa/config (or under $XDG_CONFIG_HOME); NULL when neither
 * variable is set. Caller frees. */
char *cli_user_config_path(void);
/* Sets one key in one section of the config file at path, keeping every
 * other line (comments included) as it was; adds the section when missing.
 * -1 with the error set (values with '#' or line breaks cannot be kept). */
int cli_config_set(const char *path, const char *section, const char *key, const char *value);
/* The embedder the config names, or NULL when none is configured (*err false)
 * or it failed to load (*err true, message printed). */
embedder *cli_open_embedder(const cli_config *cfg, bool *err);
/* The same for the config a store sees (the user's, then the store's own
 * config): *err true after a message when the config or the model fails. */
embedder *cli_open_store_embedder(store *st, bool *err);

/* ---- the LLM (cli/llm.c) ------------------------------------------------ */

struct llm_client;
/* The chat client the config names, or NULL when none is configured (*err
 * false) or the settings are bad (*err true, message printed). */
struct llm_client *cli_open_llm(const cli_config *cfg, bool *err);
/* ---- retrieval (cli/retrieval.c), shared by search and ask ------------- */

/* The retrieval flags a command offers, as parsed (NULL/false: not given). */
typedef struct {
    const char *mode;      /* --mode auto|bm25|dense|hybrid */
    const char *min_score; /* --min-score X */
    bool exact;            /* --exact */
    const char *rerank;    /* --rerank DIR */
    bool no_rerank;        /* --no-rerank */
    const char *doc;       /* --doc GLOB */
    bool no_scope;         /* --no-scope */
} cli_retrieval_flags;

#define CLI_RETRIEVAL_OPTIONS(f)                                                              \
    OPT_STR(0, "mode", &(f)->mode, "mode",                                                    \
            "auto (hybrid when the store has vectors), bm25, dense or hybrid"),               \
        OPT_STR(0, "min-score", &(f)->min_score, "x",                                         \
                "relevance threshold on the score shown (see README)"),                       \
        OPT_BOOLEAN(0, "exact", &(f)->exact, "exact vector search even on a large store"),     \
        OPT_STR(0, "rerank", &(f)->rerank, "dir", "rerank with this cross-encoder model"),   \
        OPT_BOOLEAN(0, "no-rerank", &(f)->no_rerank, "skip the configured reranker"),        \
        OPT_STR(0, "doc", &(f)->doc, "glob",                                                  \
                "only documents whose path or file name matches (e.g. '*2018*.pdf')"),        \
        OPT_BOOLEAN(0, "no-scope", &(f)->no_scope,                                            \
                    "search all documents even when the question names some")

/* Fills rp from the config files then the flags, and opens the embedding
 * model when the mode may use it (*emb NULL when none is configured) and
 * the reranker when one is asked for (rp->reranker: the caller frees it with
 * reranker_free).
 * Returns EXIT_OK, or EXIT_USAGE / EXIT_ERROR after printing why, with
 * nothing left open. */
int cli_retrieval_setup(store *st, const cli_retrieval_flags *f, retrieve_params *rp,
                        embedder **emb);

/* Brings the FAISS file in step with the store's vectors of model (after
 * ingest), with [retrieve] ann_threshold from the config; says what it did
 * unless quiet. -1 after printing why. */
int cli_vindex_sync(store *st, const char *model, bool quiet);

/* Embeds every chunk that has no vector from e yet (re-embedding all when the
 * store's model changed); progress on a terminal. -1 after printing why. */
int cli_embed_missing(store *st, embedder *e, bool quiet);
/* The same without the closing "embedded N chunks" line: *n_embedded says
 * how many chunks got a vector (for a caller's own summary). */
int cli_embed_missing_count(store *st, embedder *e, bool quiet, size_t *n_embedded);

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
    bool bytes;           /* a download: units are bytes, shown in MB with MB/s */
    long long base_units; /* bytes there before this run (a resumed download) */
    double updated;       /* when progress_update last ran */
    long long ocr_pages;              /* scanned pages OCR'd so far in the run */
    int ocr_file_done, ocr_file_total; /* of the file in flight; total 0 when none */
} progress;

void progress_start(progress *p, const char *what, const char *unit, bool quiet,
                    int items_total, long long total_units);
/* A byte bar for a download of total_bytes, done_bytes of them already there. */
void progress_start_bytes(progress *p, const char *what, bool quiet, long long total_bytes,
                          long long done_bytes);
void progress_update(progress *p, int items_done, long long done_units, long long pages);
void progress_message(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* OCR'd pages are about 100x slower than text pages, so the bar counts them
 * apart: ocr_pages in the run, file_done of file_total in the file in flight. */
void progress_ocr(progress *p, long long ocr_pages, int file_done, int file_total);
void progress_finish(progress *p);

/* True when the user pressed Ctrl-C (SIGINT/SIGTERM); long loops check it
 * between files so the store is left with whole documents only. */
bool cli_interrupted(void);
void cli_catch_signals(void);
/* Forgets a Ctrl-C that has been dealt with (chat: one stops an answer, not
 * the session). */
void cli_clear_interrupt(void);

#endif
