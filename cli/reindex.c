/* reindex.c - `docqa reindex`: bring the store in line with the source
 * folders and files that `docqa ingest` was given, cheaply enough for a
 * nightly cron job.
 *
 * Unchanged files are skipped by size and mtime (or, with --verify, by content
 * hash); changed ones are extracted again, new ones added, gone ones removed,
 * and a file renamed or moved (same hash) is linked to the document it had,
 * so nothing is re-embedded. The walk of the sources and the run are
 * pipeline/'s, shared with ingest. A source folder that is missing altogether (an unmounted disk) is
 * reported and its files kept rather than dropped. The run holds the writer
 * lock; readers (ask, search) go on reading the WAL snapshot and see each
 * document before or after its transaction. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "common/common.h"

static const char *const reindex_usage[] = {
    "docqa reindex [<options>]   (re-walks the sources given to 'docqa ingest')",
    NULL,
};

/* The last run, for `docqa status`. */
static int record_run(store *st, const char *summary, double seconds, int status)
{
    char num[32], secs[32];
    snprintf(num, sizeof num, "%lld", (long long)time(NULL));
    snprintf(secs, sizeof secs, "%.3f", seconds);
    const char *how = status == EXIT_OK           ? "ok"
                      : status == EXIT_PARTIAL     ? "some files failed"
                      : status == EXIT_INTERRUPTED ? "interrupted"
                                                   : "error";
    if (store_begin(st) < 0 || store_set_meta(st, "reindex.finished_at", num) < 0 ||
        store_set_meta(st, "reindex.summary", summary) < 0 ||
        store_set_meta(st, "reindex.seconds", secs) < 0 ||
        store_set_meta(st, "reindex.status", how) < 0 || store_commit(st) < 0) {
        store_rollback(st);
        return -1;
    }
    return 0;
}

/* The summary line: recorded in the store, printed unless quiet and all
 * went well, appended to the log. Returns the exit status, which a failure
 * to record it turns into an error. */
static int report(store *st, const ingest_run *run, int n_failed, size_t n_embedded,
                  double secs, int status, bool quiet, FILE *log)
{
    dq_buf line = DQ_BUF_INIT;
    dq_buf_printf(&line, "%d added, %d changed, %d removed, %d renamed, %d failed",
                  run->n_added + run->n_linked, run->n_changed, run->n_removed, run->n_renamed,
                  n_failed);
    dq_buf_printf(&line, " (%d unchanged", run->n_unchanged);
    if (run->n_rechunked)
        dq_buf_printf(&line, ", %d re-chunked", run->n_rechunked);
    if (n_embedded)
        dq_buf_printf(&line, ", %zu chunks embedded", n_embedded);
    dq_buf_printf(&line, ") in %.2f s", secs);
    if (record_run(st, line.data, secs, status) < 0 && status == EXIT_OK) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        status = EXIT_ERROR;
    }
    const char *verb = status == EXIT_INTERRUPTED ? "reindex interrupted" : "reindex";
    if (!quiet || status != EXIT_OK)
        printf("%s: %s\n", verb, line.data);
    if (log) {
        char when[32];
        time_t now = time(NULL);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        fprintf(log, "%s %s: %s\n", when, verb, line.data);
    }
    dq_buf_free(&line);
    return status;
}

int cmd_reindex(int argc, char **argv, cli_globals *g)
{
    bool quiet = false, verify = false, no_wait = false, no_embed = false, drop_missing = false;
    const char *log_path = NULL;
    int jobs = 0;
    int cjk = INGEST_SPLIT_UNSET, words = INGEST_SPLIT_UNSET, overlap_pct = INGEST_SPLIT_UNSET;
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_BOOLEAN('q', "quiet", &quiet, "print nothing on success (for cron)"),
        OPT_BOOLEAN(0, "verify", &verify, "compare content hashes, not just size and mtime"),
        OPT_STR(0, "log", &log_path, "file", "append the summary line and errors to this file"),
        OPT_BOOLEAN(0, "drop-missing", &drop_missing,
                    "files gone with their folder, or over half the store, were deleted: drop them"),
        CLI_INGEST_OPTIONS(&no_wait, &no_embed, &jobs, &cjk, &words, &overlap_pct),
        OPT_FINISH,
    };
    int n_args;
    int p = parse_options(argc, argv, opts, reindex_usage, &n_args);
    if (p != PARSE_OK)
        return p == PARSE_HELP ? EXIT_OK : EXIT_USAGE;
    if (n_args) {
        cli_error("reindex takes no paths: it walks the sources given to 'docqa ingest'");
        return EXIT_USAGE;
    }
    if (!cli_split_flags_ok(cjk, words, overlap_pct) || !cli_jobs_ok(jobs))
        return EXIT_USAGE;
    FILE *log = NULL;
    if (log_path) {
        log = fopen(log_path, "a");
        if (!log) {
            cli_error("cannot open log '%s': %s", log_path, strerror(errno));
            return EXIT_ERROR;
        }
        /* Errors go to the log from here on, each line as it happens. */
        fflush(stderr);
        dup2(fileno(log), STDERR_FILENO);
        setvbuf(log, NULL, _IOLBF, 0);
    }
    double t0 = dq_now();

    g->no_wait = no_wait;
    g->quiet = quiet;
    int status = cli_setup(g); /* the store, its writer lock, the config */
    if (status != EXIT_OK) {
        if (log)
            fclose(log);
        return status;
    }
    store *st = g->st;
    cli_run_view view = {.quiet = quiet};
    ingest_run run = {.st = st,
                      .jobs = jobs,
                      .limits = ingest_default_params(),
                      .verify = verify,
                      .max_remove_pct = drop_missing ? 0 : 50,
                      .events = cli_run_events(&view)};
    ingest_sources src = {0};
    embedder *emb = NULL;
    int rc = ingest_run_set_split(&run, cjk, words, overlap_pct, true);
    if (rc == 0)
        rc = ingest_sources_collect(st, run.split_tag, drop_missing, &run.events, &src);
    if (rc < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        status = EXIT_ERROR;
        goto out;
    }
    if (!no_embed) {
        bool err;
        emb = cli_open_embedder(&g->cfg, &err);
        if (err) {
            status = EXIT_ERROR;
            goto out;
        }
        run.embed = emb; /* chunks get vectors while files are still read */
    }
    /* scanned pages are read as the config's [ocr] says, as ingest does */
    if (ingest_run_set_ocr(&run, NULL, NULL, &g->cfg) < 0) {
        cli_error("%s", dq_last_error());
        status = EXIT_ERROR;
        goto out;
    }
    run.stale = src.stale.items;
    run.n_stale = src.stale.n;
    if (src.stale.n && !quiet)
        fprintf(stderr, "re-chunking %zu document%s made with other chunking settings\n",
                src.stale.n, src.stale.n == 1 ? "" : "s");
    /* Entries the walk passed over, as ingest reports them; unreadable ones
     * count as failed. */
    cli_report_skipped(&src.files);
    src.n_bad += src.files.n_unreadable;

    cli_catch_signals();
    progress_start(&view.bar, "reindex", "files", quiet, (int)src.files.n,
                   src.files.total_bytes);
    rc = ingest_run_files(&run, &src.files);
    progress_finish(&view.bar);
    if (rc == 0 && !cli_interrupted())
        rc = ingest_run_prune(&run, src.missing_dirs.items, src.missing_dirs.n, false);
    if (rc == 0)
        rc = ingest_sources_forget_gone(st, &src);
    if (rc < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        status = EXIT_ERROR;
    }
    size_t n_embedded = 0;
    if (status == EXIT_OK && !cli_interrupted() && emb &&
        cli_vectorize(st, emb, &g->cfg, quiet, &n_embedded) < 0)
        status = EXIT_ERROR;
    n_embedded += run.n_embedded;

    if (rc == 0 && !cli_interrupted())
        cli_bm25_sync(st, quiet);
    int n_failed = run.n_failed + src.n_bad + (run.n_kept > 0);
    if (status == EXIT_OK && cli_interrupted())
        status = EXIT_INTERRUPTED;
    else if (status == EXIT_OK && n_failed)
        status = EXIT_PARTIAL;
    status = report(st, &run, n_failed, n_embedded, dq_now() - t0, status, quiet, log);

out:
    embedder_free(emb);
    ingest_sources_free(&src);
    ingest_run_free(&run);
    if (log)
        fclose(log);
    return status;
}
