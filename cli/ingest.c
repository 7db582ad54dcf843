/* ingest.c - `docqa ingest PATH...`: extract, clean, chunk, (embed) and store.
 *
 * The run (incremental, one transaction per file) is pipeline/'s, shared
 * with `docqa reindex`; this file adds the command line, the writer lock and
 * the summary. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "common/common.h"
#include "ingest/ingest.h"

static const char *const ingest_usage[] = {
    "docqa ingest [<options>] <path>...",
    NULL,
};

/* True, after saying why for each, when every path named is missing: such a
 * command line creates no store. */
static bool all_missing(int n, char **paths)
{
    for (int i = 0; i < n; i++) {
        struct stat sb;
        if (stat(paths[i], &sb) == 0)
            return false;
    }
    for (int i = 0; i < n; i++) {
        struct stat sb;
        if (stat(paths[i], &sb) < 0)
            cli_error("'%s': %s", paths[i], strerror(errno));
    }
    return true;
}

/* The closing summary, on stderr unless quiet and nothing failed. ingest
 * has no rename column: a rename is a link plus a removal here. */
static void print_summary(const ingest_run *run, int bad_args, int n_skipped, bool quiet)
{
    if (quiet && !run->n_failed && !bad_args)
        return;
    int n_ingested = run->n_added + run->n_changed + run->n_rechunked;
    char skipped_note[48] = "";
    if (n_skipped)
        snprintf(skipped_note, sizeof skipped_note, ", %d skipped", n_skipped);
    fprintf(stderr,
            "%s %d file%s (%lld pages, %lld chunks), %d unchanged, %d linked to identical "
            "content, %d removed, %d failed%s\n",
            cli_interrupted() ? "interrupted after" : "ingested", n_ingested,
            n_ingested == 1 ? "" : "s", run->pages, run->chunks, run->n_unchanged,
            run->n_linked + run->n_renamed, run->n_removed + run->n_renamed,
            run->n_failed + bad_args, skipped_note);
    cli_ocr_summary(run);
    if (run->n_failed) {
        char *shown = utf8_for_terminal(run->failures.data);
        fprintf(stderr, "failed files:\n%s", shown);
        free(shown);
    }
}

int cmd_ingest(int argc, char **argv, cli_globals *g)
{
    bool quiet = false, force = false, no_embed = false, no_wait = false, follow_symlinks = false;
    ingest_params lim = ingest_default_params();
    int max_file_mb = (int)(lim.max_file_bytes >> 20), max_pages = lim.max_pages;
    int max_page_chars = (int)lim.max_page_chars, time_limit = (int)lim.max_seconds;
    int max_doc_mb = (int)(lim.max_doc_bytes >> 20);
    const char *password = NULL, *ocr_mode = NULL, *ocr_lang = NULL;
    /* Not given: the store's settings (the defaults for a new store). */
    int jobs = 0;
    int cjk = INGEST_SPLIT_UNSET, words = INGEST_SPLIT_UNSET, overlap_pct = INGEST_SPLIT_UNSET;
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_STR(0, "password", &password, "pw", "password for encrypted PDFs"),
        OPT_BOOLEAN('q', "quiet", &quiet, "no progress bar and no summary unless files failed"),
        OPT_BOOLEAN('f', "force", &force, "re-read files even when unchanged"),
        OPT_STR(0, "ocr", &ocr_mode, "when",
                "OCR scanned pages: auto (pages without readable text), always, never"),
        OPT_STR(0, "ocr-lang", &ocr_lang, "langs", "Tesseract languages (chi_sim+eng)"),
        OPT_BOOLEAN(0, "follow-symlinks", &follow_symlinks,
                    "follow links that lead out of the folders named"),
        CLI_INGEST_OPTIONS(&no_wait, &no_embed, &jobs, &cjk, &words, &overlap_pct),
        OPT_SECTION("limits per file (0 = none):"),
        OPT_NUMBER(0, "max-file-size", &max_file_mb, "mb", "skip larger files (512)"),
        OPT_NUMBER(0, "max-pages", &max_pages, "n", "skip documents with more pages (10000)"),
        OPT_NUMBER(0, "max-page-chars", &max_page_chars, "n",
                   "skip documents with a page of more characters (200000)"),
        OPT_NUMBER(0, "time-limit", &time_limit, "sec", "seconds to extract one document (120)"),
        OPT_NUMBER(0, "max-doc-memory", &max_doc_mb, "mb",
                   "memory and expanded size of one document, any format (512)"),
        OPT_FINISH,
    };
    int n_args;
    int p = parse_options(argc, argv, opts, ingest_usage, &n_args);
    if (p != PARSE_OK)
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (n_args == 0) {
        cli_error("nothing to ingest: name files or folders");
        print_usage(stderr, ingest_usage, opts);
        return EXIT_USAGE;
    }
    if (!cli_split_flags_ok(cjk, words, overlap_pct) || !cli_jobs_ok(jobs))
        return EXIT_USAGE;
    if (ocr_mode && !cli_ocr_mode_ok(ocr_mode))
        return EXIT_USAGE;
    if (max_file_mb < 0 || max_pages < 0 || max_page_chars < 0 || time_limit < 0 ||
        max_doc_mb < 0) {
        cli_error("limits must be 0 (none) or positive");
        return EXIT_USAGE;
    }
    lim.max_file_bytes = (long long)max_file_mb << 20;
    lim.max_pages = max_pages;
    lim.max_page_chars = max_page_chars;
    lim.max_seconds = time_limit;
    lim.max_doc_bytes = (long long)max_doc_mb << 20;

    if (all_missing(n_args, argv))
        return EXIT_ERROR;

    g->no_wait = no_wait;
    g->quiet = quiet;
    int status = cli_setup(g); /* the store, created when missing; its lock; the config */
    if (status != EXIT_OK)
        return status;
    store *st = g->st;
    cli_run_view view = {.quiet = quiet};
    ingest_run run = {.st = st,
                      .jobs = jobs,
                      .password = password,
                      .limits = lim,
                      .force = force,
                      .retry_failed = ocr_mode || ocr_lang,
                      .events = cli_run_events(&view)};
    embedder *emb = NULL;
    file_list files = {.follow_symlinks = follow_symlinks};
    status = EXIT_ERROR;
    if (ingest_run_set_split(&run, cjk, words, overlap_pct, false) < 0 ||
        ingest_run_set_ocr(&run, ocr_mode, ocr_lang, &g->cfg) < 0) {
        cli_error("%s", dq_last_error());
        goto out;
    }
    /* The embedding model loads before any file is read, so a bad config
     * fails fast instead of after a long ingest. */
    if (!no_embed) {
        bool err;
        emb = cli_open_embedder(&g->cfg, &err);
        if (err)
            goto out;
        run.embed = emb; /* chunks get vectors while files are still read */
    }

    int bad_args = 0;
    for (int i = 0; i < n_args; i++) {
        if (files_collect(&files, argv[i], store_root(st)) < 0) {
            cli_error("%s", dq_last_error());
            bad_args++;
        }
    }
    if (ingest_remember_roots(st, &files) < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        goto out;
    }
    /* Entries the walk passed over; unreadable ones count as failed. */
    cli_report_skipped(&files);
    bad_args += files.n_unreadable;

    cli_catch_signals();
    progress_start(&view.bar, "ingest", "files", quiet, (int)files.n, files.total_bytes);
    int rc = ingest_run_files(&run, &files);
    progress_finish(&view.bar);
    if (rc == 0 && !cli_interrupted())
        rc = ingest_run_prune(&run, files.dirs, files.n_dirs, true);
    if (rc < 0)
        cli_error("store '%s': %s", store_dir(st), dq_last_error());

    status = EXIT_OK;
    size_t n_embedded = 0;
    if (rc == 0 && !cli_interrupted() && emb) {
        if (cli_vectorize(st, emb, &g->cfg, quiet, &n_embedded) < 0)
            status = EXIT_ERROR;
        else if (n_embedded + run.n_embedded && !quiet)
            fprintf(stderr, "embedded %zu chunks with %s\n", n_embedded + run.n_embedded,
                    embedder_identity(emb));
    }

    if (rc == 0 && !cli_interrupted())
        cli_bm25_sync(st, quiet);
    print_summary(&run, bad_args, files.n_skipped - files.n_unreadable, quiet);
    if (rc < 0)
        status = EXIT_ERROR;
    else if (cli_interrupted())
        status = EXIT_INTERRUPTED;
    else if (status == EXIT_OK && (run.n_failed || bad_args))
        status = EXIT_PARTIAL;

out:
    embedder_free(emb);
    ingest_run_free(&run);
    file_list_free(&files);
    return status;
}
