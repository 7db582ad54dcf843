/* ingest.c - `docqa ingest PATH...`: extract, clean, chunk, (embed) and store.
 *
 * Incremental like make: a file whose size and mtime match the store is not
 * read; one whose content hash is already stored (a copy, a touch) is linked
 * without extraction. Each file's document is written in its own transaction,
 * so Ctrl-C or kill -9 loses at most the file in flight, and a broken file is
 * recorded as failed without stopping the batch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/files.h"
#include "cli/options.h"
#include "common/common.h"
#include "ingest/ingest.h"

/* SQLite refuses values over 1e9 bytes; a page past this is a text file with
 * no page breaks, failed on its own rather than ending the run. */
enum { MAX_PAGE_BYTES = 256 << 20 };

typedef struct {
    store *st;
    const char *password;
    ingest_params limits; /* password and resource limits for ingest_extract_params() */
    bool force;
    split_params split;
    progress prog;
    int n_added, n_linked, n_unchanged, n_failed, n_removed;
    long long pages, chunks;
    dq_buf failures; /* "  path: reason\n" lines for the summary */
} ingest_run;

static void note_failure(ingest_run *run, const char *path, const char *reason)
{
    run->n_failed++;
    progress_message(&run->prog, "docqa: '%s': %s", path, reason);
    dq_buf_printf(&run->failures, "  %s: %s\n", path, reason);
}

/* Records a failed file in the store; -1 only when the store itself failed. */
static int record_failure(ingest_run *run, const input_file *f, const char *reason)
{
    note_failure(run, f->rel, reason);
    if (store_begin(run->st) < 0 ||
        store_put_failure(run->st, f->rel, f->size, f->mtime, reason) < 0 ||
        store_commit(run->st) < 0) {
        store_rollback(run->st);
        return -1;
    }
    return 0;
}

static int put_document(ingest_run *run, const input_file *f, const store_doc_info *info,
                        const char *const *page_texts, const chunk_list *chunks)
{
    store_chunk_in *in = dq_calloc(chunks ? chunks->n : 1, sizeof *in);
    size_t n = chunks ? chunks->n : 0;
    for (size_t i = 0; i < n; i++) {
        const chunk *c = &chunks->items[i];
        in[i] = (store_chunk_in){c->text, c->section, c->page_start, c->page_end, c->ordinal};
    }
    int rc = 0;
    if (store_begin(run->st) < 0 ||
        store_put_document(run->st, f->rel, f->size, f->mtime, info, page_texts, in, n) < 0 ||
        store_commit(run->st) < 0) {
        store_rollback(run->st);
        rc = -1;
    }
    free(in);
    return rc;
}

/* Extracts, cleans and splits one file and stores it. Returns -1 only for a
 * store failure (which ends the run); a bad file is recorded and returns 0. */
static int ingest_new_content(ingest_run *run, const input_file *f, const char *sha)
{
    ingest_raw_doc raw = {0};
    if (ingest_extract_params(f->abs, &run->limits, &raw) < 0) {
        char *reason = dq_strdup(dq_last_error());
        int rc = record_failure(run, f, reason);
        free(reason);
        ingest_raw_doc_free(&raw);
        return rc;
    }
    ingest_doc doc = {0};
    chunk_list chunks = {0};
    int rc = 0;
    if (ingest_clean(&raw, &doc) < 0 || split_document(&doc, &run->split, &chunks) < 0) {
        char *reason = dq_strdup(dq_last_error());
        rc = record_failure(run, f, reason);
        free(reason);
    } else if (chunks.n == 0) {
        /* The splitter indexes headings only as the section path of the text
         * under them, so a file of headings alone has text but no chunk. */
        bool any = false;
        for (size_t i = 0; i < doc.n_pages && !any; i++)
            for (size_t k = 0; k < doc.pages[i].n_paras && !any; k++)
                any = doc.pages[i].paras[k].text && doc.pages[i].paras[k].text[0];
        rc = record_failure(run, f,
                            any ? "only headings, no body text to index"
                                : "no text found after cleanup");
    } else {
        char **pages = dq_calloc(doc.n_pages ? doc.n_pages : 1, sizeof *pages);
        size_t too_big = 0;
        for (size_t i = 0; i < doc.n_pages; i++) {
            pages[i] = ingest_page_text(&doc.pages[i]);
            if (!too_big && strlen(pages[i]) > MAX_PAGE_BYTES)
                too_big = i + 1;
        }
        store_doc_info info = {sha, raw.format, doc.title, (int)doc.n_pages};
        if (too_big) {
            char reason[128];
            snprintf(reason, sizeof reason,
                     "page %zu holds more than %d MB of text (split the file, or add form "
                     "feeds between its pages)",
                     too_big, MAX_PAGE_BYTES >> 20);
            rc = record_failure(run, f, reason);
        } else {
            rc = put_document(run, f, &info, (const char *const *)pages, &chunks);
        }
        if (rc == 0 && !too_big) {
            run->n_added++;
            run->pages += (long long)doc.n_pages;
            run->chunks += (long long)chunks.n;
        }
        for (size_t i = 0; i < doc.n_pages; i++)
            free(pages[i]);
        free(pages);
    }
    chunk_list_free(&chunks);
    ingest_doc_free(&doc);
    ingest_raw_doc_free(&raw);
    return rc;
}

static int ingest_file(ingest_run *run, const input_file *f)
{
    store_file prev = {0};
    int have = store_get_file(run->st, f->rel, &prev);
    if (have < 0)
        return -1;
    bool same_stat = have && prev.size == f->size && prev.mtime == f->mtime;
    bool was_ok = have && prev.status && !strcmp(prev.status, "ok");
    if (same_stat && !run->force && (was_ok || !run->password)) {
        if (was_ok)
            run->n_unchanged++;
        else
            note_failure(run, f->rel, prev.error ? prev.error : "failed before");
        store_file_free(&prev);
        return 0;
    }
    char sha[65];
    if (f->size == 0) {
        store_file_free(&prev);
        return record_failure(run, f, "empty file");
    }
    if (dq_sha256_file(f->abs, sha) < 0) {
        /* Copied: the store calls below may set the error buffer again. */
        char *reason = dq_strdup(dq_last_error());
        store_file_free(&prev);
        int rc = record_failure(run, f, reason);
        free(reason);
        return rc;
    }
    bool same_content = was_ok && prev.sha256 && !strcmp(prev.sha256, sha);
    store_file_free(&prev);

    int known = store_has_document(run->st, sha);
    if (known < 0)
        return -1;
    if (known && !run->force) {
        /* A touched file or a copy of a stored one: link, don't extract. */
        store_doc_info info = {sha, NULL, NULL, 0};
        if (put_document(run, f, &info, NULL, NULL) < 0)
            return -1;
        if (same_content)
            run->n_unchanged++;
        else
            run->n_linked++;
        return 0;
    }
    if (known && run->force) {
        /* --force rebuilds the document: drop this path's link first so the
         * content is stored afresh when no other path shares it. */
        if (store_begin(run->st) < 0 || store_remove_file(run->st, f->rel) < 0 ||
            store_commit(run->st) < 0) {
            store_rollback(run->st);
            return -1;
        }
    }
    return ingest_new_content(run, f, sha);
}

/* Files the store knows under a walked folder that are gone from disk. */
typedef struct {
    const file_list *files;
    const char *root;
    char **gone; /* (n_gone) store paths */
    size_t n_gone, cap;
} prune_scan;

static int find_gone(void *ctx, const store_file *f)
{
    prune_scan *scan = ctx;
    dq_buf abs = DQ_BUF_INIT;
    if (f->path[0] == '/')
        dq_buf_puts(&abs, f->path);
    else
        dq_buf_printf(&abs, "%s/%s", scan->root, f->path);
    for (size_t i = 0; i < scan->files->n_dirs; i++) {
        const char *dir = scan->files->dirs[i];
        size_t n = strlen(dir);
        struct stat st;
        if (!strncmp(abs.data, dir, n) && abs.data[n] == '/' && stat(abs.data, &st) < 0 &&
            errno == ENOENT) {
            DQ_GROW(scan->gone, scan->cap, scan->n_gone + 1);
            scan->gone[scan->n_gone++] = dq_strdup(f->path);
            break;
        }
    }
    dq_buf_free(&abs);
    return 0;
}

static int prune_deleted(ingest_run *run, const file_list *files)
{
    if (files->n_dirs == 0)
        return 0;
    prune_scan scan = {files, store_root(run->st), NULL, 0, 0};
    int rc = store_each_file(run->st, find_gone, &scan);
    for (size_t i = 0; rc == 0 && i < scan.n_gone; i++) {
        if (store_begin(run->st) < 0 || store_remove_file(run->st, scan.gone[i]) < 0 ||
            store_commit(run->st) < 0) {
            store_rollback(run->st);
            rc = -1;
        } else {
            run->n_removed++;
        }
    }
    for (size_t i = 0; i < scan.n_gone; i++)
        free(scan.gone[i]);
    free(scan.gone);
    return rc;
}

/* The splitter settings are part of the store: chunks made with different
 * settings are not mixed in one index. */
static int check_split_settings(store *st, const split_params *sp)
{
    char want[96];
    snprintf(want, sizeof want, "chunk_cjk=%d chunk_words=%d overlap=%.2f", sp->chunk_cjk,
             sp->chunk_words, (double)sp->overlap);
    char *have = NULL;
    int found = store_get_meta(st, "split", &have);
    if (found < 0)
        return -1;
    int rc = 0;
    if (!found) {
        rc = store_set_meta(st, "split", want);
    } else if (strcmp(have, want) != 0) {
        dq_set_error("this store was chunked with %s; ingest with the same settings or into "
                     "another --store (asked for %s)",
                     have, want);
        rc = -1;
    }
    free(have);
    return rc;
}

static const char *const ingest_usage[] = {
    "docqa ingest [<options>] <path>...",
    NULL,
};

int cmd_ingest(int argc, char **argv, cli_globals *g)
{
    bool quiet = false, force = false, no_embed = false, follow_symlinks = false;
    const char *password = NULL;
    split_params sp = split_default_params();
    ingest_params lim = ingest_default_params();
    int max_file_mb = (int)(lim.max_file_bytes >> 20), max_pages = lim.max_pages;
    int max_page_chars = (int)lim.max_page_chars, time_limit = (int)lim.max_seconds;
    int overlap_pct = (int)(sp.overlap * 100 + 0.5);
    const cli_option opts[] = {
        OPT_STR(0, "store", &g->store_dir, "dir", "the store directory"),
        OPT_STR(0, "password", &password, "pw", "password for encrypted PDFs"),
        OPT_BOOLEAN('q', "quiet", &quiet, "no progress bar and no summary unless files failed"),
        OPT_BOOLEAN('f', "force", &force, "re-read files even when unchanged"),
        OPT_BOOLEAN(0, "no-embed", &no_embed, "skip computing vectors even if a model is set"),
        OPT_BOOLEAN(0, "follow-symlinks", &follow_symlinks,
                    "follow links that lead out of the folders named"),
        OPT_SECTION("chunking (fixed per store):"),
        OPT_NUMBER(0, "chunk-cjk", &sp.chunk_cjk, "n", "CJK characters per chunk (350)"),
        OPT_NUMBER(0, "chunk-words", &sp.chunk_words, "n", "English words per chunk (250)"),
        OPT_NUMBER(0, "overlap", &overlap_pct, "pct", "percent of a chunk repeated in the next (15)"),
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
    if (sp.chunk_cjk < 20 || sp.chunk_words < 15 || overlap_pct < 0 || overlap_pct > 50) {
        cli_error("chunk sizes must be at least 20 characters / 15 words and overlap 0-50%%");
        return EXIT_USAGE;
    }
    sp.overlap = (float)overlap_pct / 100.0f;
    if (max_file_mb < 0 || max_pages < 0 || max_page_chars < 0 || time_limit < 0) {
        cli_error("limits must be 0 (none) or positive");
        return EXIT_USAGE;
    }
    lim.password = password;
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
    if (check_split_settings(st, &sp) < 0) {
        cli_error("%s", dq_last_error());
        store_close(st);
        return EXIT_ERROR;
    }

    /* The embedding model loads before any file is read, so a bad config
     * fails fast instead of after a long ingest. */
    embedder *emb = NULL;
    if (!no_embed) {
        cli_config cfg;
        bool err = cli_config_load(&cfg, store_dir(st)) < 0;
        if (!err)
            emb = cli_open_embedder(&cfg, &err);
        cli_config_free(&cfg);
        if (err) {
            store_close(st);
            return EXIT_ERROR;
        }
    }

    ingest_run run = {.st = st, .password = password, .limits = lim, .force = force, .split = sp};
    file_list files = {0};
    files.follow_symlinks = follow_symlinks;
    int bad_args = 0;
    for (int i = 0; i < n_args; i++) {
        if (files_collect(&files, argv[i], store_root(st)) < 0) {
            cli_error("%s", dq_last_error());
            bad_args++;
        }
    }

    /* Entries the walk passed over, one line each; unreadable ones count as failed. */
    for (const char *s = files.skipped.data, *nl; s && *s; s = nl + 1) {
        nl = strchr(s, '\n');
        cli_error("%.*s", (int)(nl - s), s);
    }
    bad_args += files.n_unreadable;

    cli_catch_signals();
    progress_start(&run.prog, "ingest", "files", quiet, (int)files.n, files.total_bytes);
    long long bytes_done = 0;
    int rc = 0;
    size_t i = 0;
    for (; i < files.n && !cli_interrupted(); i++) {
        if (ingest_file(&run, &files.items[i]) < 0) {
            rc = -1;
            break;
        }
        bytes_done += files.items[i].size;
        progress_update(&run.prog, (int)i + 1, bytes_done, run.pages);
    }
    progress_finish(&run.prog);
    if (rc == 0 && !cli_interrupted())
        rc = prune_deleted(&run, &files);
    if (rc < 0)
        cli_error("store '%s': %s", store_dir(st), dq_last_error());

    int status = EXIT_OK;
    if (rc == 0 && !cli_interrupted() && emb && cli_embed_missing(st, emb, quiet) < 0)
        status = EXIT_ERROR;
    embedder_free(emb);

    char skipped_note[48] = "";
    if (files.n_skipped > files.n_unreadable)
        snprintf(skipped_note, sizeof skipped_note, ", %d skipped",
                 files.n_skipped - files.n_unreadable);
    if (!quiet || run.n_failed || bad_args) {
        fprintf(stderr,
                "%s %d file%s (%lld pages, %lld chunks), %d unchanged, %d linked to identical "
                "content, %d removed, %d failed%s\n",
                cli_interrupted() ? "interrupted after" : "ingested", run.n_added,
                run.n_added == 1 ? "" : "s", run.pages, run.chunks, run.n_unchanged,
                run.n_linked, run.n_removed, run.n_failed + bad_args, skipped_note);
        if (run.n_failed)
            fprintf(stderr, "failed files:\n%s", run.failures.data);
    }
    if (rc < 0)
        status = EXIT_ERROR;
    else if (cli_interrupted())
        status = EXIT_INTERRUPTED;
    else if (status == EXIT_OK && (run.n_failed || bad_args))
        status = EXIT_PARTIAL;

    dq_buf_free(&run.failures);
    file_list_free(&files);
    store_close(st);
    return status;
}
