/* reindex.c - `docqa reindex`: bring the store in line with the source
 * folders and files that `docqa ingest` was given, cheaply enough for a
 * nightly cron job.
 *
 * Unchanged files are skipped by size and mtime (or, with --verify, by content
 * hash); changed ones are extracted again, new ones added, gone ones removed,
 * and a file renamed or moved (same hash) is linked to the document it had,
 * so nothing is re-embedded. The run is pipeline/'s, shared with ingest. A source folder that is missing altogether (an unmounted disk) is
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

/* A sorted array of paths, for membership tests while walking. */
typedef struct {
    char **items; /* (n) owned, sorted by strcmp after paths_sort */
    size_t n, cap;
} path_set;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void paths_add(path_set *s, const char *p)
{
    DQ_GROW(s->items, s->cap, s->n + 1);
    s->items[s->n++] = dq_strdup(p);
}

static void paths_sort(path_set *s)
{
    if (s->n)
        qsort(s->items, s->n, sizeof *s->items, cmp_str);
}

static bool paths_has(const path_set *s, const char *p)
{
    return s->n && bsearch(&p, s->items, s->n, sizeof *s->items, cmp_str) != NULL;
}

static void paths_free(path_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i]);
    free(s->items);
    memset(s, 0, sizeof *s);
}

static int add_path_cb(void *ctx, const char *path)
{
    paths_add(ctx, path);
    return 0;
}

/* The sources, walked: files under source folders and source files, plus
 * stored files outside every source that still exist (stores from before
 * sources were recorded, files named by a path that is now a folder). */
typedef struct {
    store *st;
    file_list files;
    path_set missing_dirs; /* absolute source folders that are gone */
    path_set gone_roots;   /* sources that are gone (their root rows go too) */
    path_set walked_dirs;  /* absolute source folders walked, to skip sources inside them */
    bool drop_missing;     /* --drop-missing: a missing folder is a deleted one */
    int n_roots;           /* sources recorded */
    int n_bad;             /* sources that could not be read */
} walk_state;

static int collect_root(void *ctx, const char *path, bool is_dir)
{
    walk_state *w = ctx;
    w->n_roots++;
    char *abs = store_abs_path(store_root(w->st), path);
    /* Sources come sorted by path, so a folder comes before what is inside
     * it, and its walk covers those already. */
    for (size_t i = 0; i < w->walked_dirs.n; i++) {
        if (path_is_under(abs, w->walked_dirs.items[i])) {
            free(abs);
            return 0;
        }
    }
    struct stat sb;
    if (stat(abs, &sb) < 0 && errno == ENOENT) {
        if (is_dir && !w->drop_missing) {
            cli_error("source folder '%s' is missing; its files are kept until it is back "
                      "(--drop-missing removes them)",
                      abs);
            paths_add(&w->missing_dirs, abs);
            w->n_bad++;
        } else {
            paths_add(&w->gone_roots, path);
        }
    } else if (files_collect(&w->files, abs, store_root(w->st)) < 0) {
        cli_error("%s", dq_last_error());
        w->n_bad++;
        if (is_dir) /* unreadable: keep its files rather than drop them */
            paths_add(&w->missing_dirs, abs);
    } else if (is_dir) {
        paths_add(&w->walked_dirs, abs);
    }
    free(abs);
    return 0;
}

typedef struct {
    walk_state *w;
    path_set *walked;
} extra_scan;

static int collect_extra(void *ctx, const store_file *f)
{
    extra_scan *x = ctx;
    if (paths_has(x->walked, f->path))
        return 0;
    char *abs = store_abs_path(store_root(x->w->st), f->path);
    struct stat sb;
    if (stat(abs, &sb) == 0 && S_ISREG(sb.st_mode) &&
        files_collect(&x->w->files, abs, store_root(x->w->st)) < 0)
        x->w->n_bad++;
    free(abs);
    return 0;
}

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

int cmd_reindex(int argc, char **argv, cli_globals *g)
{
    bool quiet = false, verify = false, no_wait = false, no_embed = false, drop_missing = false;
    const char *log_path = NULL;
    int cjk = INGEST_SPLIT_UNSET, words = INGEST_SPLIT_UNSET, overlap_pct = INGEST_SPLIT_UNSET;
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_BOOLEAN('q', "quiet", &quiet, "print nothing on success (for cron)"),
        OPT_BOOLEAN(0, "verify", &verify, "compare content hashes, not just size and mtime"),
        OPT_STR(0, "log", &log_path, "file", "append the summary line and errors to this file"),
        OPT_BOOLEAN(0, "drop-missing", &drop_missing, "a missing source folder was deleted: drop it"),
        CLI_INGEST_OPTIONS(&no_wait, &no_embed, &cjk, &words, &overlap_pct),
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
    if (!cli_split_flags_ok(cjk, words, overlap_pct))
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

    store *st = cli_open_store(g, false);
    if (!st) {
        if (log)
            fclose(log);
        return EXIT_ERROR;
    }
    int status = cli_lock_store(st, !no_wait, quiet);
    if (status != EXIT_OK) {
        store_close(st);
        if (log)
            fclose(log);
        return status;
    }

    dq_config cfg;
    if (cli_load_config(&cfg, store_dir(st)) < 0) {
        store_close(st);
        if (log)
            fclose(log);
        return EXIT_ERROR;
    }
    cli_run_view view = {.quiet = quiet};
    ingest_run run = {.st = st,
                      .limits = ingest_default_params(),
                      .verify = verify,
                      .events = cli_run_events(&view)};
    walk_state w = {.st = st, .drop_missing = drop_missing};
    path_set walked = {0}, rechunk = {0};
    embedder *emb = NULL;
    int rc = ingest_run_set_split(&run, cjk, words, overlap_pct, true);
    if (rc == 0)
        rc = store_each_root(st, collect_root, &w);
    store_stats stats;
    if (rc == 0 && w.n_roots == 0 && (rc = store_get_stats(st, &stats)) == 0) {
        /* A store from before sources were recorded: its files can still be
         * checked, but new files in their folders cannot be found. */
        if (stats.files == 0) {
            dq_set_error("no sources recorded: run 'docqa ingest <folder>' once, then reindex");
            rc = -1;
        } else {
            cli_error("no source folders recorded (a store from an older docqa): checking the "
                      "%lld stored files only; run 'docqa ingest <folder>' once so that new files "
                      "are found",
                      (long long)stats.files);
        }
    }
    if (rc < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        status = EXIT_ERROR;
        goto out;
    }
    if (!no_embed) {
        bool err;
        emb = cli_open_embedder(&cfg, &err);
        if (err) {
            status = EXIT_ERROR;
            goto out;
        }
    }
    /* scanned pages are read as the config's [ocr] says, as ingest does */
    if (ingest_run_set_ocr(&run, NULL, NULL, &cfg) < 0) {
        cli_error("%s", dq_last_error());
        status = EXIT_ERROR;
        goto out;
    }

    for (size_t i = 0; i < w.files.n; i++)
        paths_add(&walked, w.files.items[i].rel);
    paths_sort(&walked);
    extra_scan x = {&w, &walked};
    size_t n_walked = w.files.n;
    if (store_each_file(st, collect_extra, &x) < 0 ||
        store_each_document_split_differs(st, run.split_tag, add_path_cb, &rechunk) < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        status = EXIT_ERROR;
        goto out;
    }
    for (size_t i = n_walked; i < w.files.n; i++)
        paths_add(&walked, w.files.items[i].rel);
    paths_sort(&walked);
    paths_sort(&rechunk);
    run.stale = rechunk.items;
    run.n_stale = rechunk.n;
    if (rechunk.n && !quiet)
        fprintf(stderr, "re-chunking %zu document%s made with other chunking settings\n",
                rechunk.n, rechunk.n == 1 ? "" : "s");

    /* Entries the walk passed over, as ingest reports them; unreadable ones
     * count as failed. */
    cli_report_skipped(&w.files);
    w.n_bad += w.files.n_unreadable;

    cli_catch_signals();
    progress_start(&view.bar, "reindex", "files", quiet, (int)w.files.n, w.files.total_bytes);
    rc = ingest_run_files(&run, &w.files);
    progress_finish(&view.bar);
    if (rc == 0 && !cli_interrupted())
        rc = ingest_run_prune(&run, w.missing_dirs.items, w.missing_dirs.n, false);
    for (size_t i = 0; rc == 0 && i < w.gone_roots.n; i++)
        rc = store_remove_root(st, w.gone_roots.items[i]);
    if (rc < 0) {
        cli_error("store '%s': %s", store_dir(st), dq_last_error());
        status = EXIT_ERROR;
    }
    size_t n_embedded = 0;
    if (status == EXIT_OK && !cli_interrupted() && emb &&
        cli_vectorize(st, emb, &cfg, quiet, &n_embedded) < 0)
        status = EXIT_ERROR;

    int n_failed = run.n_failed + w.n_bad;
    if (status == EXIT_OK && cli_interrupted())
        status = EXIT_INTERRUPTED;
    else if (status == EXIT_OK && n_failed)
        status = EXIT_PARTIAL;
    double secs = dq_now() - t0;
    dq_buf line = DQ_BUF_INIT;
    dq_buf_printf(&line, "%d added, %d changed, %d removed, %d renamed, %d failed", 
                  run.n_added + run.n_linked, run.n_changed, run.n_removed, run.n_renamed,
                  n_failed);
    dq_buf_printf(&line, " (%d unchanged", run.n_unchanged);
    if (run.n_rechunked)
        dq_buf_printf(&line, ", %d re-chunked", run.n_rechunked);
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

out:
    embedder_free(emb);
    paths_free(&walked);
    paths_free(&rechunk);
    paths_free(&w.missing_dirs);
    paths_free(&w.gone_roots);
    paths_free(&w.walked_dirs);
    file_list_free(&w.files);
    ingest_run_free(&run);
    dq_config_free(&cfg);
    store_close(st);
    if (log)
        fclose(log);
    return status;
}
