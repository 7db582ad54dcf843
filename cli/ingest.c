/* ingest.c - `docqa ingest PATH...`: extract, clean, chunk, (embed) and store.
 *
 * The per-file work (incremental, one transaction per file) is in
 * ingest_run.c, shared with `docqa reindex`; this file adds the command line,
 * the writer lock and the sources the store remembers for reindex. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/ingest_run.h"
#include "cli/options.h"
#include "common/common.h"
#include "ingest/ingest.h"

static const char *const ingest_usage[] = {
    "docqa ingest [<options>] <path>...",
    NULL,
};

int cmd_ingest(int argc, char **argv, cli_globals *g)
{
    bool quiet = false, force = false, no_embed = false, no_wait = false, follow_symlinks = false;
    ingest_params lim = ingest_default_params();
    int max_file_mb = (int)(lim.max_file_bytes >> 20), max_pages = lim.max_pages;
    int max_page_chars = (int)lim.max_page_chars, time_limit = (int)lim.max_seconds;
    const char *password = NULL, *ocr_mode = NULL, *ocr_lang = NULL;
    /* Not given: the store's settings (the defaults for a new store). */
    int cjk = CLI_SPLIT_UNSET, words = CLI_SPLIT_UNSET, overlap_pct = CLI_SPLIT_UNSET;
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
        CLI_INGEST_OPTIONS(&no_wait, &no_embed, &cjk, &words, &overlap_pct),
        OPT_SECTION("limits per file (0 = none):"),
        OPT_NUMBER(0, "max-file-size", &max_file_mb, "mb", "skip larger files (512)"),
        OPT_NUMBER(0, "max-pages", &max_pages, "n", "skip documents with more pages (10000)"),
        OPT_NUMBER(0, "max-page-chars", &max_page_chars, "n",
                   "skip documents with a page of more characters (200000)"),
        OPT_NUMBER(0, "time-limit", &time_limit, "sec", "seconds to extract one document (120)"),
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
    if (!cli_split_flags_ok(cjk, words, overlap_pct))
        return EXIT_USAGE;
    if (ocr_mode && !cli_ocr_mode_ok(ocr_mode))
        return EXIT_USAGE;
    if (max_file_mb < 0 || max_pages < 0 || max_page_chars < 0 || time_limit < 0) {
        cli_error("limits must be 0 (none) or positive");
        return EXIT_USAGE;
    }
    lim.max_file_bytes = (long long)max_file_mb << 20;
    lim.max_pages = max_pages;
    lim.max_page_chars = max_page_chars;
    lim.max_seconds = time_limit;

    /* A command line naming only missing paths creates no store. */
    int n_missing = 0;
    for (int i = 0; i < n_args; i++) {
        struct stat sb;
        n_missing += stat(argv[i], &sb) < 0;
    }
    if (n_missing == n_args) {
        for (int i = 0; i < n_args; i++) {
            struct stat sb;
            if (stat(argv[i], &sb) < 0)
                cli_error("'%s': %s", argv[i], strerror(errno));
        }
        return EXIT_ERROR;
    }

    store *st = cli_open_store(g, true);
    if (!st)
        return EXIT_ERROR;
    int locked = cli_lock_store(st, !no_wait, quiet);
    if (locked != EXIT_OK) {
        store_close(st);
        return locked;
    }
    cli_ingest_run run = {.st = st,
                          .password = password,
                          .limits = lim,
                          .force = force,
                          .retry_failed = ocr_mode || ocr_lang};
    if (cli_split_settings(&run, cjk, words, overlap_pct, false, quiet) < 0) {
        cli_error("%s", dq_last_error());
        store_close(st);
        return EXIT_ERROR;
    }
    if (cli_ocr_init(&run.ocr, ocr_mode, ocr_lang, store_dir(st), &run.prog) < 0) {
        cli_ingest_run_free(&run);
        store_close(st);
        return EXIT_ERROR;
    }

    /* The embedding model loads before any file is read, so a bad config
     * fails fast instead of after a long ingest. */
    embedder *emb = NULL;
    if (!no_embed) {
        bool err;
        emb = cli_open_store_embedder(st, &err);
        if (err) {
            cli_ingest_run_free(&run);
            store_close(st);
            return EXIT_ERROR;
        }
    }

    file_list files = {0};
    files.follow_symlinks = follow_symlinks;
    int bad_args = 0;
    for (int i = 0; i < n_args; i++) {
        if (files_collect(&files, argv[i], store_root(st)) < 0) {
            cli_error("%s", dq_last_error());
            bad_args++;
        }
    }
    if (cli_ingest_remember_roots(st, &files) < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        cli_ingest_run_free(&run);
        file_list_free(&files);
        embedder_free(emb);
        store_close(st);
        return EXIT_ERROR;
    }

    /* Entries the walk passed over, one line each; unreadable ones count as failed. */
    for (const char *s = files.skipped.data, *nl; s && *s; s = nl + 1) {
        nl = strchr(s, '\n');
        cli_error("%.*s", (int)(nl - s), s);
    }
    bad_args += files.n_unreadable;
    char skipped_note[48] = "";
    if (files.n_skipped > files.n_unreadable)
        snprintf(skipped_note, sizeof skipped_note, ", %d skipped",
                 files.n_skipped - files.n_unreadable);

    cli_catch_signals();
    progress_start(&run.prog, "ingest", "files", quiet, (int)files.n, files.total_bytes);
    long long bytes_done = 0;
    int rc = 0;
    size_t i = 0;
    for (; i < files.n && !cli_interrupted(); i++) {
        if (cli_ingest_file(&run, &files.items[i]) < 0) {
            rc = -1;
            break;
        }
        bytes_done += files.items[i].size;
        progress_update(&run.prog, (int)i + 1, bytes_done, run.pages);
    }
    progress_finish(&run.prog);
    if (rc == 0 && !cli_interrupted())
        rc = cli_ingest_prune(&run, files.dirs, files.n_dirs, true);
    if (rc < 0)
        cli_error("store '%s': %s", store_dir(st), dq_last_error());

    int status = EXIT_OK;
    if (rc == 0 && !cli_interrupted() && emb && cli_embed_missing(st, emb, quiet) < 0)
        status = EXIT_ERROR;
    embedder_free(emb);

    /* ingest has no rename column: a rename is a link plus a removal here. */
    int n_ingested = run.n_added + run.n_changed + run.n_rechunked;
    run.n_removed += run.n_renamed;
    if (!quiet || run.n_failed || bad_args) {
        fprintf(stderr,
                "%s %d file%s (%lld pages, %lld chunks), %d unchanged, %d linked to identical "
                "content, %d removed, %d failed%s\n",
                cli_interrupted() ? "interrupted after" : "ingested", n_ingested,
                n_ingested == 1 ? "" : "s", run.pages, run.chunks, run.n_unchanged,
                run.n_linked + run.n_renamed, run.n_removed, run.n_failed + bad_args,
                skipped_note);
        cli_ocr_summary(&run.ocr);
        if (run.n_failed)
            fprintf(stderr, "failed files:\n%s", run.failures.data);
    }
    if (rc < 0)
        status = EXIT_ERROR;
    else if (cli_interrupted())
        status = EXIT_INTERRUPTED;
    else if (status == EXIT_OK && (run.n_failed || bad_args))
        status = EXIT_PARTIAL;

    cli_ingest_run_free(&run);
    file_list_free(&files);
    store_close(st);
    return status;
}
