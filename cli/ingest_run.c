/* ingest_run.c - the per-file work `docqa ingest` and `docqa reindex` share.
 *
 * Incremental like make: a file whose size and mtime match the store is not
 * read (unless verifying); one whose content hash is already stored (a copy,
 * a touch, a rename) is linked without extraction. Each file's document is
 * written in its own transaction, so Ctrl-C or kill -9 loses at most the
 * file in flight, and a broken file is recorded as failed without stopping
 * the batch. Gone files are removed only after every present file was
 * handled: a renamed file's new path is linked first, so its document (and
 * its vectors) never becomes an orphan. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/ingest_run.h"

/* SQLite refuses values over 1e9 bytes; a page past this is a text file with
 * no page breaks, failed on its own rather than ending the run. */
enum { MAX_PAGE_BYTES = 256 << 20 };

void cli_ingest_run_free(cli_ingest_run *run)
{
    dq_buf_free(&run->failures);
    free(run->stale_done);
    run->stale_done = NULL;
    free(run->links);
    run->links = NULL;
    run->n_links = run->links_cap = 0;
    cli_ocr_free(&run->ocr);
}

void cli_split_tag(const split_params *sp, char *out, size_t n)
{
    snprintf(out, n, "chunk_cjk=%d chunk_words=%d overlap=%.2f", sp->chunk_cjk,
             sp->chunk_words, (double)sp->overlap);
}

bool cli_split_flags_ok(int chunk_cjk, int chunk_words, int overlap_pct)
{
    bool ok = (chunk_cjk == CLI_SPLIT_UNSET || chunk_cjk >= 20) &&
              (chunk_words == CLI_SPLIT_UNSET || chunk_words >= 15) &&
              (overlap_pct == CLI_SPLIT_UNSET || (overlap_pct >= 0 && overlap_pct <= 50));
    if (!ok)
        cli_error("chunk sizes must be at least 20 characters / 15 words and overlap 0-50%%");
    return ok;
}

int cli_split_settings(cli_ingest_run *run, int chunk_cjk, int chunk_words, int overlap_pct,
                       bool may_change, bool quiet)
{
    char *have = NULL;
    int found = store_get_meta(run->st, "split", &have);
    if (found < 0)
        return -1;
    split_params *sp = &run->split;
    *sp = split_default_params();
    float overlap = sp->overlap;
    if (found && sscanf(have, "chunk_cjk=%d chunk_words=%d overlap=%f", &sp->chunk_cjk,
                        &sp->chunk_words, &overlap) != 3) {
        dq_set_error("unreadable chunking settings '%s' in the store", have);
        free(have);
        return -1;
    }
    sp->overlap = overlap;
    if (chunk_cjk != CLI_SPLIT_UNSET)
        sp->chunk_cjk = chunk_cjk;
    if (chunk_words != CLI_SPLIT_UNSET)
        sp->chunk_words = chunk_words;
    if (overlap_pct != CLI_SPLIT_UNSET)
        sp->overlap = (float)overlap_pct / 100.0f;
    cli_split_tag(sp, run->split_tag, sizeof run->split_tag);
    int rc = 0;
    if (found && strcmp(have, run->split_tag) != 0 && !may_change) {
        dq_set_error("this store was chunked with %s; ingest with the same settings, change them "
                     "for every document with 'docqa reindex --chunk-...', or use another "
                     "--store (asked for %s)",
                     have, run->split_tag);
        rc = -1;
    } else if (!found || strcmp(have, run->split_tag) != 0) {
        /* Recorded before any document is written: documents.split then
         * tells which documents a killed run left to re-chunk. */
        if (found && !quiet)
            fprintf(stderr, "chunking settings changed (%s -> %s): re-chunking the documents "
                            "made the old way\n",
                    have, run->split_tag);
        rc = store_set_meta(run->st, "split", run->split_tag);
    }
    free(have);
    return rc;
}

static void note_failure(cli_ingest_run *run, const char *path, const char *reason)
{
    run->n_failed++;
    progress_message(&run->prog, "docqa: '%s': %s", path, reason);
    dq_buf_printf(&run->failures, "  %s: %s\n", path, reason);
}

/* Runs one store write as its own transaction. */
#define IN_TRANSACTION(st, call)                                                              \
    ((store_begin(st) < 0 || (call) < 0 || store_commit(st) < 0) ? (store_rollback(st), -1) : 0)

/* Records a failed file in the store; -1 only when the store itself failed. */
static int record_failure(cli_ingest_run *run, const input_file *f, const char *reason)
{
    note_failure(run, f->rel, reason);
    return IN_TRANSACTION(run->st, store_put_failure(run->st, f->rel, f->size, f->mtime, reason));
}

/* Where each chunk's text lies on its pages, for highlighted citations. */
static int put_boxes(store *st, const char *sha, const ingest_raw_doc *raw,
                     const chunk_list *chunks)
{
    int rc = 0;
    for (size_t i = 0; i < chunks->n && rc == 0; i++) {
        ingest_box *boxes = NULL;
        size_t nb = 0;
        ingest_chunk_boxes(raw, &chunks->items[i], &boxes, &nb);
        store_box *sb = dq_calloc(nb ? nb : 1, sizeof *sb);
        for (size_t k = 0; k < nb; k++)
            sb[k] = (store_box){boxes[k].page, boxes[k].x0, boxes[k].y0, boxes[k].x1,
                                boxes[k].y1};
        if (nb)
            rc = store_put_chunk_boxes(st, sha, chunks->items[i].ordinal, sb, nb);
        free(sb);
        free(boxes);
    }
    return rc;
}

/* Marks the pages of raw whose text layer was unreadable. */
static int put_unreadable(store *st, const char *sha, const ingest_raw_doc *raw)
{
    const char **why = dq_calloc(raw->n_pages ? raw->n_pages : 1, sizeof *why);
    bool any = false;
    for (size_t i = 0; i < raw->n_pages; i++)
        any |= (why[i] = raw->pages[i].unreadable) != NULL;
    int rc = any ? store_put_page_unreadable(st, sha, why, (int)raw->n_pages) : 0;
    free(why);
    return rc;
}

/* Marks the chunks that hold table rows. */
static int put_tables(store *st, const char *sha, const chunk_list *chunks)
{
    int *ordinals = dq_calloc(chunks->n ? chunks->n : 1, sizeof *ordinals);
    size_t n = 0;
    for (size_t i = 0; i < chunks->n; i++)
        if (chunks->items[i].table)
            ordinals[n++] = chunks->items[i].ordinal;
    int rc = store_put_chunk_tables(st, sha, ordinals, n);
    free(ordinals);
    return rc;
}

/* What an extracted document adds to its rows; all NULL when a path is
 * linked to stored content. */
typedef struct {
    const ingest_raw_doc *raw; /* for the chunks' boxes */
    const int *page_ocr;       /* (n_pages) as store_put_page_ocr() takes it, or NULL */
    const float *page_conf;
} doc_extras;

/* The document's rows, its chunks' boxes and its OCR marks, in the caller's
 * transaction. */
static int write_document(cli_ingest_run *run, const input_file *f, const store_doc_info *info,
                          const char *const *page_texts, const store_chunk_in *in,
                          const chunk_list *chunks, bool rebuild, const doc_extras *x)
{
    size_t n = chunks ? chunks->n : 0;
    int rc = rebuild ? store_rebuild_document(run->st, f->rel, f->size, f->mtime, info,
                                              page_texts, in, n)
                     : store_put_document(run->st, f->rel, f->size, f->mtime, info, page_texts,
                                          in, n);
    if (rc == 0 && x->raw && chunks)
        rc = put_boxes(run->st, info->sha256, x->raw, chunks);
    if (rc == 0 && x->page_ocr)
        rc = store_put_page_ocr(run->st, info->sha256, x->page_ocr, x->page_conf,
                                info->n_pages);
    if (rc == 0 && x->raw)
        rc = put_unreadable(run->st, info->sha256, x->raw);
    if (rc == 0 && chunks)
        rc = put_tables(run->st, info->sha256, chunks);
    return rc;
}

static int put_document(cli_ingest_run *run, const input_file *f, const store_doc_info *info,
                        const char *const *page_texts, const chunk_list *chunks, bool rebuild,
                        const doc_extras *x)
{
    size_t n = chunks ? chunks->n : 0;
    store_chunk_in *in = dq_calloc(n ? n : 1, sizeof *in);
    for (size_t i = 0; i < n; i++) {
        const chunk *c = &chunks->items[i];
        in[i] = (store_chunk_in){c->text, c->section, c->page_start, c->page_end, c->ordinal};
    }
    int rc = IN_TRANSACTION(run->st,
                            write_document(run, f, info, page_texts, in, chunks, rebuild, x));
    free(in);
    return rc;
}

/* Extracts, cleans and splits one file and stores it (with rebuild, replacing
 * the chunks of a stored document with the same content). Returns -1 only for
 * a store failure; a bad file is recorded and returns 0. *stored tells
 * whether a document was written. */
static int ingest_new_content(cli_ingest_run *run, const input_file *f, const char *sha,
                              bool rebuild, bool *stored)
{
    *stored = false;
    ingest_raw_doc raw = {0};
    ingest_params ip = run->limits;
    ip.password = run->password;
    ip.ocr = &run->ocr.params;
    if (ingest_extract_params(f->abs, &ip, &raw) < 0) {
        /* Ctrl-C stopped OCR: the file is not broken, and the next run reads it. */
        if (cli_interrupted()) {
            ingest_raw_doc_free(&raw);
            return 0;
        }
        char *reason = dq_strdup(dq_last_error());
        int rc = 0;
        if (rebuild && store_has_document(run->st, sha) == 1) {
            /* Re-chunking or --force on content the store holds: a file that
             * cannot be read again this time (no password given, a lower
             * limit) keeps the chunks it has rather than losing them. */
            dq_buf b = DQ_BUF_INIT;
            dq_buf_printf(&b, "%s; its stored chunks are kept", reason);
            note_failure(run, f->rel, b.data);
            dq_buf_free(&b);
        } else {
            rc = record_failure(run, f, reason);
        }
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
            int *page_ocr = NULL;
            float *page_conf = NULL;
            cli_ocr_pages(&run->ocr, f->rel, &raw, &page_ocr, &page_conf);
            doc_extras x = {&raw, page_ocr, page_conf};
            rc = put_document(run, f, &info, (const char *const *)pages, &chunks, rebuild, &x);
            *stored = rc == 0;
            free(page_ocr);
            free(page_conf);
        }
        if (*stored) {
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

static void remember_link(cli_ingest_run *run, const char *sha, bool was_new)
{
    DQ_GROW(run->links, run->links_cap, run->n_links + 1);
    struct ingest_link *l = &run->links[run->n_links++];
    memcpy(l->sha, sha, sizeof l->sha);
    l->was_new = was_new;
    l->used = false;
}

static int cmp_sha(const void *key, const void *item)
{
    return strcmp(key, *(char *const *)item);
}

/* The index of sha in run->stale when its document still waits to be
 * re-chunked, else -1. */
static long stale_index(cli_ingest_run *run, const char *sha)
{
    if (!sha || !run->n_stale)
        return -1;
    char *const *hit = bsearch(sha, run->stale, run->n_stale, sizeof *run->stale, cmp_sha);
    if (!hit)
        return -1;
    if (!run->stale_done)
        run->stale_done = dq_calloc(run->n_stale, sizeof *run->stale_done);
    long i = (long)(hit - run->stale);
    return run->stale_done[i] ? -1 : i;
}

int cli_ingest_file(cli_ingest_run *run, const input_file *f)
{
    store_file prev = {0};
    int have = store_get_file(run->st, f->rel, &prev);
    if (have < 0)
        return -1;
    bool same_stat = have && prev.size == f->size && prev.mtime == f->mtime;
    bool was_ok = have && prev.status && !strcmp(prev.status, "ok");
    bool rebuild = run->force || (was_ok && stale_index(run, prev.sha256) >= 0);
    /* A failed file is tried again only when it changed or a password may
     * now open it; --verify re-hashes only files that were ok. */
    if (same_stat && !rebuild && (was_ok ? !run->verify : !(run->password || run->retry_failed))) {
        int rc = 0;
        if (was_ok) {
            run->n_unchanged++;
        } else {
            note_failure(run, f->rel, prev.error ? prev.error : "failed before");
            rc = IN_TRANSACTION(run->st, store_note_failed_again(run->st, f->rel));
        }
        store_file_free(&prev);
        return rc;
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
    long stale = stale_index(run, sha);
    rebuild = run->force || stale >= 0;
    if (same_content && same_stat && !rebuild) {
        run->n_unchanged++; /* --verify found the bytes the store has */
        return 0;
    }

    int known = store_has_document(run->st, sha);
    if (known < 0)
        return -1;
    if (known && !rebuild) {
        /* A touched file, a copy or a renamed file: link, don't extract. */
        store_doc_info info = {sha, NULL, NULL, 0};
        if (put_document(run, f, &info, NULL, NULL, false, &(doc_extras){0}) < 0)
            return -1;
        if (same_content) {
            run->n_unchanged++;
        } else {
            remember_link(run, sha, !have);
            if (have)
                run->n_changed++;
            else
                run->n_linked++;
        }
        return 0;
    }
    bool stored;
    if (ingest_new_content(run, f, sha, rebuild, &stored) < 0)
        return -1;
    if (stored && stale >= 0)
        run->stale_done[stale] = true; /* other paths of it just link now */
    if (stored) {
        if (!have)
            run->n_added++;
        else if (same_content)
            run->n_rechunked++;
        else
            run->n_changed++;
    }
    return 0;
}

/* Stored files that are gone from disk. */
typedef struct {
    char *const *dirs;
    size_t n_dirs;
    bool inside;
    const char *root;
    store_file *gone; /* (n_gone) */
    size_t n_gone, cap;
} prune_scan;

bool cli_path_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0' || (n == 1 && dir[0] == '/'));
}

static int find_gone(void *ctx, const store_file *f)
{
    prune_scan *scan = ctx;
    dq_buf abs = DQ_BUF_INIT;
    if (f->path[0] == '/')
        dq_buf_puts(&abs, f->path);
    else
        dq_buf_printf(&abs, "%s/%s", scan->root, f->path);
    bool listed = false;
    for (size_t i = 0; i < scan->n_dirs && !listed; i++)
        listed = cli_path_under(abs.data, scan->dirs[i]);
    struct stat sb;
    if (listed == scan->inside && stat(abs.data, &sb) < 0 && errno == ENOENT) {
        DQ_GROW(scan->gone, scan->cap, scan->n_gone + 1);
        store_file *g = &scan->gone[scan->n_gone++];
        memset(g, 0, sizeof *g);
        g->path = dq_strdup(f->path);
        g->sha256 = f->sha256 ? dq_strdup(f->sha256) : NULL;
    }
    dq_buf_free(&abs);
    return 0;
}

/* True (and the link marked used) when this run linked a new path to sha:
 * the gone path was renamed or moved there. */
static bool take_rename(cli_ingest_run *run, const char *sha)
{
    for (size_t i = 0; sha && i < run->n_links; i++) {
        struct ingest_link *l = &run->links[i];
        if (!l->used && !strcmp(l->sha, sha)) {
            l->used = true;
            if (l->was_new)
                run->n_linked--;
            else
                run->n_changed--;
            return true;
        }
    }
    return false;
}

int cli_ingest_prune(cli_ingest_run *run, char *const *dirs, size_t n_dirs, bool inside)
{
    if (inside && n_dirs == 0)
        return 0;
    prune_scan scan = {dirs, n_dirs, inside, store_root(run->st), NULL, 0, 0};
    int rc = store_each_file(run->st, find_gone, &scan);
    for (size_t i = 0; rc == 0 && i < scan.n_gone && !cli_interrupted(); i++) {
        rc = IN_TRANSACTION(run->st, store_remove_file(run->st, scan.gone[i].path));
        if (rc == 0 && take_rename(run, scan.gone[i].sha256))
            run->n_renamed++;
        else if (rc == 0)
            run->n_removed++;
    }
    for (size_t i = 0; i < scan.n_gone; i++)
        store_file_free(&scan.gone[i]);
    free(scan.gone);
    return rc;
}

int cli_ingest_remember_roots(store *st, const file_list *list)
{
    if (store_begin(st) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < list->n_dirs; i++) {
        char *rel = files_store_path(list->dirs[i], store_root(st));
        rc = store_add_root(st, rel, true);
        free(rel);
    }
    for (size_t i = 0; rc == 0 && i < list->n; i++)
        if (list->items[i].named)
            rc = store_add_root(st, list->items[i].rel, false);
    if (rc == 0)
        rc = store_commit(st);
    if (rc < 0)
        store_rollback(st);
    return rc;
}

int cli_lock_store(store *st, bool wait, bool quiet)
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
