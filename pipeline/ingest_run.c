/* ingest_run.c - the ingest run `docqa ingest` and `docqa reindex` share:
 * skip, link, extract, clean, split and store each file; remove gone files,
 * telling renames apart; re-chunk documents made with other settings.
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

#include "pipeline/pipeline.h"

/* SQLite refuses values over 1e9 bytes; a page past this is a text file with
 * no page breaks, failed on its own rather than ending the run. */
enum { MAX_PAGE_BYTES = 256 << 20 };

void ingest_run_free(ingest_run *run)
{
    dq_buf_free(&run->failures);
    free(run->stale_done);
    run->stale_done = NULL;
    free(run->links);
    run->links = NULL;
    run->n_links = run->links_cap = 0;
    free(run->ocr_langs);
    run->ocr_langs = NULL;
    run->ocr.langs = NULL;
}

static bool stopped(const ingest_run *run)
{
    return run->events.stop && run->events.stop(run->events.user);
}

void ingest_split_tag(const split_params *sp, char *out, size_t n)
{
    snprintf(out, n, "chunk_cjk=%d chunk_words=%d overlap=%.2f", sp->chunk_cjk,
             sp->chunk_words, (double)sp->overlap);
}

int ingest_run_set_split(ingest_run *run, int chunk_cjk, int chunk_words, int overlap_pct,
                         bool may_change)
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
    if (chunk_cjk != INGEST_SPLIT_UNSET)
        sp->chunk_cjk = chunk_cjk;
    if (chunk_words != INGEST_SPLIT_UNSET)
        sp->chunk_words = chunk_words;
    if (overlap_pct != INGEST_SPLIT_UNSET)
        sp->overlap = (float)overlap_pct / 100.0f;
    ingest_split_tag(sp, run->split_tag, sizeof run->split_tag);
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
        if (found && run->events.notice) {
            dq_buf b = DQ_BUF_INIT;
            dq_buf_printf(&b, "chunking settings changed (%s -> %s): re-chunking the documents "
                              "made the old way",
                          have, run->split_tag);
            run->events.notice(run->events.user, b.data);
            dq_buf_free(&b);
        }
        rc = store_set_meta(run->st, "split", run->split_tag);
    }
    free(have);
    return rc;
}

static void tell_file(const ingest_run *run, const char *path, const char *text)
{
    if (run->events.file_note)
        run->events.file_note(run->events.user, path, text);
}

static void note_failure(ingest_run *run, const char *path, const char *reason)
{
    run->n_failed++;
    tell_file(run, path, reason);
    dq_buf_printf(&run->failures, "  %s: %s\n", path, reason);
}

/* ---- OCR ------------------------------------------------------------------ */

static int parse_ocr_mode(const char *s, ocr_mode *out)
{
    if (!strcmp(s, "auto"))
        *out = OCR_AUTO;
    else if (!strcmp(s, "always"))
        *out = OCR_ALWAYS;
    else if (!strcmp(s, "never"))
        *out = OCR_NEVER;
    else
        return -1;
    return 0;
}

/* OCR's page callback: the run's count on the bar, and Ctrl-C stops it. */
static int on_ocr_page(void *user, int done, int total)
{
    ingest_run *run = user;
    if (run->events.ocr_progress)
        run->events.ocr_progress(run->events.user, run->ocr_pages + run->ocr_empty + done, done,
                                 total);
    return stopped(run);
}

int ingest_run_set_ocr(ingest_run *run, const char *mode, const char *langs,
                       const dq_config *cfg)
{
    free(run->ocr_langs);
    run->ocr = ocr_default_params();
    const char *m = mode ? mode : cfg ? cfg->ocr_mode : NULL;
    if (m && parse_ocr_mode(m, &run->ocr.mode) < 0) {
        dq_set_error("OCR mode must be auto, always or never (not '%s')", m);
        run->ocr_langs = NULL;
        return -1;
    }
    const char *l = langs ? langs : cfg ? cfg->ocr_lang : NULL;
    run->ocr_langs = dq_strdup(l ? l : run->ocr.langs);
    run->ocr.langs = run->ocr_langs;
    run->ocr.progress = on_ocr_page;
    run->ocr.user = run;
    return 0;
}

/* Counts the pages whose text layer was unreadable and the unmapped glyphs
 * dropped, and tells each such page that OCR did not replace. */
static void text_layers(ingest_run *run, const char *path, const ingest_raw_doc *raw)
{
    for (size_t i = 0; i < raw->n_pages; i++) {
        const ingest_raw_page *p = &raw->pages[i];
        run->dropped += p->dropped;
        if (!p->unreadable)
            continue;
        if (p->ocr > 0) {
            run->unreadable_ocr++;
        } else if (p->ocr == 0) {
            run->unreadable_failed++;
            char text[160];
            snprintf(text, sizeof text,
                     "page %d: text layer unreadable (%s); run with --ocr auto", p->number,
                     p->unreadable);
            tell_file(run, path, text);
        }
    }
}

/* For a file about to be stored: counts its OCR'd pages, tells the scanned
 * pages where OCR found nothing (not stored: an empty page row would look
 * like a blank page that was read), and returns the per-page arrays
 * store_put_page_ocr() takes ((n_pages) each, caller frees), or NULLs when
 * no page was OCR'd. */
static void ocr_pages(ingest_run *run, const char *path, const ingest_raw_doc *raw,
                      int **page_ocr, float **page_conf)
{
    *page_ocr = NULL;
    *page_conf = NULL;
    text_layers(run, path, raw);
    bool any = false;
    for (size_t i = 0; i < raw->n_pages && !any; i++)
        any = raw->pages[i].ocr != 0;
    if (!any)
        return;
    int *po = dq_calloc(raw->n_pages, sizeof *po);
    float *pc = dq_calloc(raw->n_pages, sizeof *pc);
    dq_buf empty = DQ_BUF_INIT;
    int n_empty = 0;
    for (size_t i = 0; i < raw->n_pages; i++) {
        const ingest_raw_page *p = &raw->pages[i];
        po[i] = p->ocr;
        pc[i] = p->ocr_conf;
        if (p->ocr > 0) {
            run->ocr_pages++;
            run->ocr_conf_sum += p->ocr_conf;
        } else if (p->ocr < 0) {
            run->ocr_empty++;
            dq_buf_printf(&empty, "%s%d", n_empty++ ? ", " : "", p->number);
        }
    }
    if (n_empty) {
        dq_buf text = DQ_BUF_INIT;
        dq_buf_printf(&text, "OCR found no text on scanned page%s %s (not stored)",
                      n_empty == 1 ? "" : "s", empty.data);
        tell_file(run, path, text.data);
        dq_buf_free(&text);
    }
    dq_buf_free(&empty);
    *page_ocr = po;
    *page_conf = pc;
}

/* Runs one store write as its own transaction. */
#define IN_TRANSACTION(st, call)                                                              \
    ((store_begin(st) < 0 || (call) < 0 || store_commit(st) < 0) ? (store_rollback(st), -1) : 0)

/* Records a failed file in the store; -1 only when the store itself failed. */
static int record_failure(ingest_run *run, const input_file *f, const char *reason)
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
static int write_document(ingest_run *run, const input_file *f, const store_doc_info *info,
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

static int put_document(ingest_run *run, const input_file *f, const store_doc_info *info,
                        const char *const *page_texts, const chunk_list *chunks, bool rebuild,
                        const doc_extras *x)
{
    size_t n = chunks ? chunks->n : 0;
    store_chunk_in *in = dq_calloc(n ? n : 1, sizeof *in);
    for (size_t i = 0; i < n; i++) {
        const chunk *c = &chunks->items[i];
        in[i] = (store_chunk_in){c->text,    c->section, c->page_start,
                                 c->page_end, c->ordinal, c->label};
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
static int ingest_new_content(ingest_run *run, const input_file *f, const char *sha,
                              bool rebuild, bool *stored)
{
    *stored = false;
    ingest_raw_doc raw = {0};
    ingest_params ip = run->limits;
    ip.password = run->password;
    ip.ocr = &run->ocr;
    if (ingest_extract_params(f->abs, &ip, &raw) < 0) {
        /* Ctrl-C stopped OCR: the file is not broken, and the next run reads it. */
        if (stopped(run)) {
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
            ocr_pages(run, f->rel, &raw, &page_ocr, &page_conf);
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

static void remember_link(ingest_run *run, const char *sha, bool was_new)
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
static long stale_index(ingest_run *run, const char *sha)
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

int ingest_run_file(ingest_run *run, const input_file *f)
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

int ingest_run_files(ingest_run *run, const file_list *files)
{
    long long bytes = 0;
    for (size_t i = 0; i < files->n && !stopped(run); i++) {
        if (ingest_run_file(run, &files->items[i]) < 0)
            return -1;
        bytes += files->items[i].size;
        if (run->events.files_done)
            run->events.files_done(run->events.user, (int)i + 1, bytes, run->pages);
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

static int find_gone(void *ctx, const store_file *f)
{
    prune_scan *scan = ctx;
    char *abs = store_abs_path(scan->root, f->path);
    bool listed = false;
    for (size_t i = 0; i < scan->n_dirs && !listed; i++)
        listed = path_is_under(abs, scan->dirs[i]);
    struct stat sb;
    if (listed == scan->inside && stat(abs, &sb) < 0 && errno == ENOENT) {
        DQ_GROW(scan->gone, scan->cap, scan->n_gone + 1);
        store_file *g = &scan->gone[scan->n_gone++];
        memset(g, 0, sizeof *g);
        g->path = dq_strdup(f->path);
        g->sha256 = f->sha256 ? dq_strdup(f->sha256) : NULL;
    }
    free(abs);
    return 0;
}

/* True (and the link marked used) when this run linked a new path to sha:
 * the gone path was renamed or moved there. */
static bool take_rename(ingest_run *run, const char *sha)
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

int ingest_run_prune(ingest_run *run, char *const *dirs, size_t n_dirs, bool inside)
{
    if (inside && n_dirs == 0)
        return 0;
    prune_scan scan = {dirs, n_dirs, inside, store_root(run->st), NULL, 0, 0};
    int rc = store_each_file(run->st, find_gone, &scan);
    for (size_t i = 0; rc == 0 && i < scan.n_gone && !stopped(run); i++) {
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

int ingest_remember_roots(store *st, const file_list *list)
{
    if (store_begin(st) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < list->n_dirs; i++) {
        char *rel = store_rel_path(store_root(st), list->dirs[i]);
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
