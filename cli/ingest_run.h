/* ingest_run.h - the per-file work `docqa ingest` and `docqa reindex` share:
 * look at one file, skip it, link it to stored content or extract it, and
 * record the outcome; remove files that are gone, telling renames apart. */
#ifndef DQ_CLI_INGEST_RUN_H
#define DQ_CLI_INGEST_RUN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "cli/cli.h"
#include "cli/files.h"
#include "cli/ocr.h"
#include "common/common.h"
#include "ingest/ingest.h"

/* One run over many files. The caller sets the settings (and cli_ocr_init's
 * ocr); the counters and failures fill in as files are handled. Owns
 * failures, links and ocr. */
typedef struct {
    store *st;
    const char *password; /* for encrypted PDFs; NULL when none */
    ingest_params limits; /* resource limits (ingest_default_params() unless set) */
    bool force;           /* re-extract even when unchanged or stored */
    bool verify;          /* hash files whose size and mtime match too */
    bool retry_failed;    /* --ocr or --ocr-lang given: a file that failed may read now */
    cli_ocr ocr;          /* OCR settings and counts (cli_ocr_init) */
    split_params split;
    char split_tag[96];   /* split as recorded in the store (cli_split_tag) */
    progress prog;

    int n_added;     /* paths new to the store, content extracted */
    int n_changed;   /* known paths with new content (extracted or linked) */
    int n_linked;    /* paths new to the store, linked to stored content */
    int n_rechunked; /* unchanged files re-chunked (settings changed) */
    int n_unchanged, n_failed, n_removed, n_renamed;
    long long pages, chunks; /* extracted by this run */
    dq_buf failures;         /* "  path: reason\n" lines for the summary */

    /* Content hashes of stored documents to re-chunk (made with other
     * settings), sorted; the caller owns them. Per document, not per path,
     * so a renamed file whose old path is gone is re-chunked too. */
    char *const *stale;  /* (n_stale) */
    bool *stale_done;    /* (n_stale) re-chunked by this run; owned */
    size_t n_stale;

    /* Content hashes this run linked a path to, so that removing a gone path
     * with one of them counts as a rename, not an add and a remove. */
    struct ingest_link {
        char sha[65];
        bool was_new; /* counted in n_linked (else n_changed) */
        bool used;    /* matched to a removed path already */
    } *links;         /* (n_links) */
    size_t n_links, links_cap;
} cli_ingest_run;

void cli_ingest_run_free(cli_ingest_run *run);

/* "chunk_cjk=350 chunk_words=250 overlap=0.15": how the store records sp. */
void cli_split_tag(const split_params *sp, char *out, size_t n);

/* A --chunk-* value given for "not given" (reindex keeps the store's). */
#define CLI_SPLIT_UNSET INT_MIN

/* The options both ingest and reindex take, as cli_option table entries
 * (cli/options.h): the writer lock, embedding, and the --chunk-* values
 * (int, CLI_SPLIT_UNSET when not given). */
#define CLI_INGEST_OPTIONS(no_wait, no_embed, cjk, words, overlap_pct)                          \
    OPT_BOOLEAN(0, "no-wait", (no_wait), "exit with status 5 if another ingest or reindex runs"), \
    OPT_BOOLEAN(0, "no-embed", (no_embed), "skip computing vectors even if a model is set"),     \
    OPT_SECTION("chunking (default: the store's settings; reindex may change them):"),            \
    OPT_NUMBER(0, "chunk-cjk", (cjk), "n", "CJK characters per chunk (350)"),                    \
    OPT_NUMBER(0, "chunk-words", (words), "n", "English words per chunk (250)"),                 \
    OPT_NUMBER(0, "overlap", (overlap_pct), "pct", "percent of a chunk repeated in the next (15)")

/* False after printing why when a --chunk-* value is out of range;
 * CLI_SPLIT_UNSET values are not checked. */
bool cli_split_flags_ok(int chunk_cjk, int chunk_words, int overlap_pct);

/* Sets run->split and run->split_tag for a run: the store's settings
 * (the defaults for a new store) with the --chunk-* values given
 * (CLI_SPLIT_UNSET: not given) applied. A change is recorded when may_change
 * (reindex: the documents made the old way become stale, and a message says
 * so unless quiet) and refused otherwise (ingest). -1 with the error set. */
int cli_split_settings(cli_ingest_run *run, int chunk_cjk, int chunk_words, int overlap_pct,
                       bool may_change, bool quiet);

/* Brings one file's row in line with the disk; a file whose document is in
 * run->stale is extracted again even when unchanged. Returns -1 only for a
 * store failure, which ends the run; a bad file is recorded as failed and
 * returns 0. */
int cli_ingest_file(cli_ingest_run *run, const input_file *f);

/* Removes stored files that are gone from disk (ENOENT): with inside, only
 * those under one of dirs (absolute folders that were walked); without, all
 * except those under one of dirs (source folders that are missing, maybe
 * unmounted: their files are kept). Call after every present file was
 * handled, so a renamed file is linked before its old path goes and nothing
 * is re-embedded. */
int cli_ingest_prune(cli_ingest_run *run, char *const *dirs, size_t n_dirs, bool inside);

/* True when path is dir or inside it (absolute paths). */
bool cli_path_under(const char *path, const char *dir);

/* Records the files and folders list was collected from as sources. */
int cli_ingest_remember_roots(store *st, const file_list *list);

/* Takes the store's writer lock, saying so when it has to wait. Returns
 * EXIT_OK, EXIT_LOCKED (held elsewhere and !wait) or EXIT_ERROR, after
 * printing why. */
int cli_lock_store(store *st, bool wait, bool quiet);

#endif
