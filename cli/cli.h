/* cli.h - what the docqa subcommands share: the command table's signature
 * and what the dispatcher provides (store, config, writer lock), progress
 * display and exit codes. Only cli/ prints. */
#ifndef DQ_CLI_H
#define DQ_CLI_H

#include <stdbool.h>

#include "embed/embed.h"
#include "index/index.h"
#include "pipeline/pipeline.h"
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

/* What a command needs before its work, stated by its line in the command
 * table (cli/main.c) and provided once by cli_setup (git's RUN_SETUP). */
enum {
    CLI_NEEDS_STORE = 1 << 0,   /* g->st: the store, which must exist */
    CLI_CREATES_STORE = 1 << 1, /* g->st: the store, created when missing */
    CLI_WRITES_STORE = 1 << 2,  /* the writer lock on g->st (waits unless g->no_wait) */
    CLI_NEEDS_CONFIG = 1 << 3,  /* g->cfg: the user's config, then the store's (when there
                                 * is one), then the environment */
};

/* Options every subcommand understands, parsed before the subcommand too
 * (`docqa --store DIR ask ...`), and what cli_setup provides. The
 * dispatcher frees st and cfg after the command returns. */
typedef struct {
    const char *store_dir; /* --store, else $DOCQA_STORE, else found upward */
    unsigned needs;        /* the command's CLI_NEEDS_* flags, from the table */
    bool no_wait, quiet;   /* for the writer lock: set by the command before cli_setup */
    store *st;             /* provided: CLI_NEEDS_STORE, CLI_CREATES_STORE */
    bool locked;           /* provided: CLI_WRITES_STORE */
    dq_config cfg;         /* provided: CLI_NEEDS_CONFIG (all zero until then) */
    bool have_cfg;
} cli_globals;

typedef int (*cli_command_fn)(int argc, char **argv, cli_globals *g);

int cmd_ingest(int argc, char **argv, cli_globals *g);
int cmd_search(int argc, char **argv, cli_globals *g);
int cmd_ask(int argc, char **argv, cli_globals *g);
int cmd_status(int argc, char **argv, cli_globals *g);
int cmd_embed(int argc, char **argv, cli_globals *g);
int cmd_generate(int argc, char **argv, cli_globals *g);
int cmd_model(int argc, char **argv, cli_globals *g);
int cmd_chat(int argc, char **argv, cli_globals *g);
int cmd_doctor(int argc, char **argv, cli_globals *g);
int cmd_serve(int argc, char **argv, cli_globals *g);
int cmd_reindex(int argc, char **argv, cli_globals *g);
int cmd_eval(int argc, char **argv, cli_globals *g);
int cmd_index(int argc, char **argv, cli_globals *g);

/* Prints "docqa: <message>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* text (malloc'd, taken and freed) made safe to print: file names may hold
 * escape sequences and bytes that are not UTF-8 (utf8_for_terminal). */
char *cli_shown(char *text);

/* Provides what g->needs asks for and is not there yet: opens (or creates)
 * the store --store, $DOCQA_STORE or the ".docqa" found upward names, takes
 * its writer lock, loads the config. A command calls it once it has read its
 * command line, so that -h and usage errors need no store; eval adds a need
 * when it knows it has one. EXIT_OK, or the exit status after printing why. */
int cli_setup(cli_globals *g);

/* ---- ingest and reindex (cli/ingest_opts.c) ------------------------------ */

/* The options both ingest and reindex take, as cli_option table entries
 * (cli/options.h): the writer lock, embedding, and the --chunk-* values
 * (int, INGEST_SPLIT_UNSET when not given). */
#define CLI_INGEST_OPTIONS(no_wait, no_embed, jobs, cjk, words, overlap_pct)                    \
    OPT_BOOLEAN(0, "no-wait", (no_wait), "exit with status 5 if another ingest or reindex runs"), \
    OPT_BOOLEAN(0, "no-embed", (no_embed), "skip computing vectors even if a model is set"),     \
    OPT_NUMBER('j', "jobs", (jobs), "n", "files read at once (0: one per core, the default)"),   \
    OPT_SECTION("chunking (default: the store's settings; reindex may change them):"),            \
    OPT_NUMBER(0, "chunk-cjk", (cjk), "n", "CJK characters per chunk (350)"),                    \
    OPT_NUMBER(0, "chunk-words", (words), "n", "English words per chunk (250)"),                 \
    OPT_NUMBER(0, "overlap", (overlap_pct), "pct", "percent of a chunk repeated in the next (15)")

/* False after printing why when a --chunk-* value is out of range;
 * INGEST_SPLIT_UNSET values are not checked. */
bool cli_split_flags_ok(int chunk_cjk, int chunk_words, int overlap_pct);
/* False after printing why when --jobs is out of range (0 to CLI_MAX_JOBS). */
#define CLI_MAX_JOBS 64
bool cli_jobs_ok(int jobs);
/* False after printing a usage error when mode is not auto, always or never. */
bool cli_ocr_mode_ok(const char *mode);
/* One summary line on stderr when the run OCR'd anything. */
void cli_ocr_summary(const ingest_run *run);
/* The entries a walk passed over, one "docqa: 'path': reason" line each. */
void cli_report_skipped(const file_list *files);

/* ---- configuration (pipeline/config.c) ---------------------------------- */

/* dq_config_load that prints the error: -1 with cfg freed. For `model`,
 * which reads only the --store given; commands state CLI_NEEDS_CONFIG. */
int cli_load_config(dq_config *cfg, const char *store_dir);
/* The embedder the config names, or NULL when none is configured (*err
 * false) or it failed to load (*err true, message printed). */
embedder *cli_open_embedder(const dq_config *cfg, bool *err);

/* ---- the LLM (cli/rag.c) ------------------------------------------------ */

struct llm_client;
/* The chat client the config names, or NULL when none is configured (*err
 * false) or the settings are bad (*err true, message printed). */
struct llm_client *cli_open_llm(const dq_config *cfg, bool *err);
/* ---- retrieval (cli/retrieval.c), for search ---------------------------- */

/* The retrieval flags a command offers, as parsed (NULL/false: not given). */
typedef rag_flags cli_retrieval_flags;

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
int cli_retrieval_setup(const dq_config *cfg, const cli_retrieval_flags *f, retrieve_params *rp,
                        embedder **emb);

/* Renders a retrieve snippet for a terminal (bold colour), or with **marks**
 * when stdout is not one. Caller frees. */
char *cli_render_snippet(const char *snippet, bool tty);

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

/* A pipeline run shown on a terminal: its bar, and whether the user asked
 * for quiet. */
typedef struct {
    progress bar;
    bool quiet;
} cli_run_view;

/* The pipeline's events drawn on v: a file's failure or lost pages as a
 * "docqa: 'path': reason" line above the bar, warnings as "docqa: ..."
 * lines, notices unless quiet, files,
 * OCR pages and embedded chunks on the bar (the caller starts the files bar;
 * the chunks bar starts itself), Ctrl-C as stop. */
pipeline_events cli_run_events(cli_run_view *v);

/* The vectorize pass for a command: embeds what the store lacks with e, on a
 * bar, and says when it rebuilt the FAISS file unless quiet; *n_embedded
 * tells how many chunks got a vector. -1 after printing why. */
int cli_vectorize(store *st, embedder *e, const dq_config *cfg, bool quiet, size_t *n_embedded);

/* Brings the BM25 file beside the store in step after a write. A failure
 * is a warning, not an error: searches then run on FTS5 alone. */
void cli_bm25_sync(store *st, bool quiet);

/* True when the user pressed Ctrl-C (SIGINT/SIGTERM); long loops check it
 * between files so the store is left with whole documents only. */
bool cli_interrupted(void);
/* Writes a piece of model output to ctx (a FILE *), control characters other
 * than newline and tab dropped; 1 (stop) once Ctrl-C was pressed. */
int cli_print_piece(void *ctx, const char *piece, size_t len);
void cli_catch_signals(void);
/* Forgets a Ctrl-C that has been dealt with (chat: one stops an answer, not
 * the session). */
void cli_clear_interrupt(void);

#endif
