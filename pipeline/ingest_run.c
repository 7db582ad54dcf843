/* ingest_run.c - the ingest run `docqa ingest` and `docqa reindex` share:
 * skip, link, extract, clean, split and store each file; remove gone files,
 * telling renames apart; re-chunk documents made with other settings.
 *
 * Incremental like make: a file whose size and mtime match the store is not
 * read (unless verifying); one whose content hash is already stored (a copy,
 * a touch, a rename) is linked without extraction. The others are read by up
 * to run->jobs reader children at once (ingest/isolate.c: extraction,
 * cleanup and splitting), ahead of this process, the one writer, which
 * stores each result in input order. Each file's document is written in its
 * own transaction, so Ctrl-C or kill -9 loses at most the files in flight,
 * and a broken file is recorded as failed without stopping the batch. Gone
 * files are removed only after every present file was handled: a renamed
 * file's new path is linked first, so its document (and its vectors) never
 * becomes an orphan. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* OCR's page callback, in a reader: the run's count on the bar, and Ctrl-C
 * stops it. */
static int on_ocr_page(void *user, int done, int total)
{
    ingest_run *run = user;
    if (run->reader_bar.pending && run->events.files_done)
        run->events.files_done(run->events.user, run->reader_bar.files, run->reader_bar.bytes,
                               run->pages);
    run->reader_bar.pending = false;
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

/* What an extracted document adds to its rows; all NULL when a path is
 * linked to stored content. */
typedef struct {
    const ingest_raw_doc *raw; /* the pages' marks */
    const ingest_boxes *boxes; /* (n chunks) */
    const int *page_ocr;       /* (n_pages) as store_put_page_ocr() takes it, or NULL */
    const float *page_conf;
} doc_extras;

/* The document's rows (its chunks with their boxes) and its pages' OCR and
 * unreadable marks, in the caller's transaction. */
static int write_document(ingest_run *run, const input_file *f, const store_doc_info *info,
                          const char *const *page_texts, const store_chunk_in *in,
                          const chunk_list *chunks, bool rebuild, const doc_extras *x)
{
    size_t n = chunks ? chunks->n : 0;
    int rc = rebuild ? store_rebuild_document(run->st, f->rel, f->size, f->mtime, info,
                                              page_texts, in, n)
                     : store_put_document(run->st, f->rel, f->size, f->mtime, info, page_texts,
                                          in, n);
    if (rc == 0 && x->page_ocr)
        rc = store_put_page_ocr(run->st, info->sha256, x->page_ocr, x->page_conf,
                                info->n_pages);
    if (rc == 0 && x->raw)
        rc = put_unreadable(run->st, info->sha256, x->raw);
    return rc;
}

static int put_document(ingest_run *run, const input_file *f, const store_doc_info *info,
                        const char *const *page_texts, const chunk_list *chunks, bool rebuild,
                        const doc_extras *x)
{
    size_t n = chunks ? chunks->n : 0, n_boxes = 0;
    for (size_t i = 0; x->boxes && i < n; i++)
        n_boxes += x->boxes[i].n;
    store_chunk_in *in = dq_calloc(n ? n : 1, sizeof *in);
    store_box *boxes = dq_malloc((n_boxes ? n_boxes : 1) * sizeof *boxes);
    store_box *next = boxes;
    for (size_t i = 0; i < n; i++) {
        const chunk *c = &chunks->items[i];
        in[i] = (store_chunk_in){.text = c->text,
                                 .section = c->section,
                                 .page_start = c->page_start,
                                 .page_end = c->page_end,
                                 .ordinal = c->ordinal,
                                 .label = c->label,
                                 .table = c->table,
                                 .boxes = next};
        for (size_t k = 0; x->boxes && k < x->boxes[i].n; k++) {
            const ingest_box *b = &x->boxes[i].items[k];
            *next++ = (store_box){b->page, b->x0, b->y0, b->x1, b->y1};
        }
        in[i].n_boxes = (size_t)(next - in[i].boxes);
    }
    int rc = IN_TRANSACTION(run->st,
                            write_document(run, f, info, page_texts, in, chunks, rebuild, x));
    free(boxes);
    free(in);
    return rc;
}

/* What a reader child handed back for one file. */
typedef struct {
    int rc;               /* 0, INGEST_READ_FAILED, INGEST_PREP_FAILED or READ_STOPPED */
    ingest_prepared prep; /* when rc is 0 */
    char *err;            /* the reason when rc is not 0; owned */
    size_t bytes;         /* what the child sent: about what prep holds */
} read_result;

/* Ctrl-C ended the read: the file is not broken, and the next run reads it. */
enum { READ_STOPPED = -100 };

static void read_result_free(read_result *r)
{
    ingest_prepared_free(&r->prep);
    free(r->err);
    r->err = NULL;
    r->bytes = 0;
}

/* How long a waiting run sleeps between looks at events.stop. */
enum { STOP_POLL_MS = 100 };

static unsigned online_cores(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (unsigned)cores : 1;
}

static unsigned run_jobs(const ingest_run *run)
{
    return run->jobs > 0 ? (unsigned)run->jobs : online_cores();
}

/* What a spawned reader's copy of the run takes from the run as it is
 * when the reader starts: the counts OCR's progress shows. */
typedef struct {
    long long ocr_pages, ocr_empty, pages, bytes;
    int files;
} reader_state;

/* ingest_spawn_setup's fn, in the reader. */
static void set_reader_state(void *user, const void *state, size_t n)
{
    ingest_run *run = user;
    reader_state rs;
    if (n != sizeof rs)
        return;
    memcpy(&rs, state, sizeof rs);
    run->ocr_pages = rs.ocr_pages;
    run->ocr_empty = rs.ocr_empty;
    run->pages = rs.pages;
    run->reader_bar.files = rs.files;
    run->reader_bar.bytes = rs.bytes;
    run->reader_bar.pending = rs.files > 0;
}

/* Starts a reader child for f with the run's limits, password, OCR and
 * chunking, its PDF pages read by up to parts processes (of the run's
 * jobs), forked by spawner unless NULL; files and bytes: what the bar
 * shows now. NULL with the error set. */
static ingest_reader *start_reader(ingest_run *run, ingest_spawner *spawner,
                                   const input_file *f, unsigned parts, int files,
                                   long long bytes)
{
    ingest_params ip = run->limits;
    ip.password = run->password;
    ip.page_parts = (int)parts;
    /* OCR starts a worker per core in each child: with several children the
     * cores are shared out instead of taken several times over. */
    ocr_params ocr = run->ocr;
    unsigned jobs = run_jobs(run);
    if (ocr.threads == 0 && jobs > 1)
        ocr.threads = online_cores() * parts > jobs ? (int)(online_cores() * parts / jobs) : 1;
    ip.ocr = &ocr;
    reader_state rs = {run->ocr_pages, run->ocr_empty, run->pages, bytes, files};
    ingest_spawn_setup setup = {set_reader_state, run, &rs, sizeof rs};
    return ingest_reader_spawn(spawner, f->abs, &ip, &run->split, &setup);
}

static void take_result(ingest_reader *r, read_result *out)
{
    out->bytes = ingest_reader_bytes(r);
    out->rc = ingest_reader_finish(r, &out->prep);
    out->err = out->rc < 0 ? dq_strdup(dq_last_error()) : NULL;
}

/* Reads f now, in one child (the pool's readers may still run beside it),
 * polling events.stop while it runs. */
static void read_now(ingest_run *run, const input_file *f, read_result *out)
{
    memset(out, 0, sizeof *out);
    ingest_reader *r = start_reader(run, NULL, f, 1, 0, 0);
    if (!r) {
        out->rc = INGEST_READ_FAILED;
        out->err = dq_strdup(dq_last_error());
        return;
    }
    while (ingest_reader_pump(r) == 0) {
        if (stopped(run)) {
            ingest_reader_cancel(r);
            out->rc = READ_STOPPED;
            return;
        }
        struct pollfd pfd = {ingest_reader_fd(r), POLLIN, 0};
        poll(&pfd, 1, STOP_POLL_MS);
    }
    take_result(r, out);
}

/* Stores one file's read result (with rebuild, replacing the chunks of a
 * stored document with the same content). Returns -1 only for a store
 * failure; a bad file is recorded and returns 0. *stored tells whether a
 * document was written. */
static int ingest_new_content(ingest_run *run, const input_file *f, const char *sha,
                              bool rebuild, read_result *res, bool *stored)
{
    *stored = false;
    /* Ctrl-C while the reader ran (or stopped its OCR): nothing of this file
     * is recorded, and the next run reads it. */
    if (res->rc == READ_STOPPED || stopped(run))
        return 0;
    if (res->rc == INGEST_READ_FAILED && rebuild && store_has_document(run->st, sha) == 1) {
        /* Re-chunking or --force on content the store holds: a file that
         * cannot be read again this time (no password given, a lower
         * limit) keeps the chunks it has rather than losing them. */
        dq_buf b = DQ_BUF_INIT;
        dq_buf_printf(&b, "%s; its stored chunks are kept", res->err);
        note_failure(run, f->rel, b.data);
        dq_buf_free(&b);
        return 0;
    }
    if (res->rc < 0)
        return record_failure(run, f, res->err);
    const ingest_prepared *p = &res->prep;
    if (p->chunks.n == 0) {
        /* The splitter indexes headings only as the section path of the text
         * under them, so a file of headings alone has text but no chunk. */
        return record_failure(run, f,
                              p->body_text ? "only headings, no body text to index"
                                           : "no text found after cleanup");
    }
    for (size_t i = 0; i < p->n_pages; i++) {
        if (strlen(p->page_texts[i]) > MAX_PAGE_BYTES) {
            char reason[128];
            snprintf(reason, sizeof reason,
                     "page %zu holds more than %d MB of text (split the file, or add form "
                     "feeds between its pages)",
                     i + 1, MAX_PAGE_BYTES >> 20);
            return record_failure(run, f, reason);
        }
    }
    store_doc_info info = {sha, p->raw.format, p->title, (int)p->n_pages};
    int *page_ocr = NULL;
    float *page_conf = NULL;
    ocr_pages(run, f->rel, &p->raw, &page_ocr, &page_conf);
    doc_extras x = {&p->raw, p->boxes, page_ocr, page_conf};
    int rc = put_document(run, f, &info, (const char *const *)p->page_texts, &p->chunks,
                          rebuild, &x);
    free(page_ocr);
    free(page_conf);
    *stored = rc == 0;
    if (*stored) {
        run->pages += (long long)p->n_pages;
        run->chunks += (long long)p->chunks.n;
    }
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

/* ---- what to do with a file ------------------------------------------------- */

typedef enum {
    ACT_UNCHANGED,     /* nothing to do */
    ACT_FAILED_BEFORE, /* unchanged and failed before: told again */
    ACT_FAIL,          /* fails without reading (reason) */
    ACT_LINK,          /* its content is stored: link the path to it */
    ACT_READ,          /* extract, clean, split and store */
} file_act;

typedef struct {
    file_act act;
    bool have, same_stat, same_content, rebuild;
    long stale;   /* stale_index of sha */
    bool hashed;  /* sha is the file's content hash */
    char sha[65];
    char *reason; /* ACT_FAIL, ACT_FAILED_BEFORE; owned */
} file_plan;

/* Decides what f needs from the store's rows without writing any, hashing
 * it unless known_sha (its hash from an earlier look) is given. The same
 * decision is made ahead, to start readers early, and again when the file's
 * turn comes, since the files before it may have stored its content. -1 on
 * a store failure. */
static int plan_file(ingest_run *run, const input_file *f, const char *known_sha,
                     file_plan *p)
{
    memset(p, 0, sizeof *p);
    p->stale = -1;
    store_file prev = {0};
    int have = store_get_file(run->st, f->rel, &prev);
    if (have < 0)
        return -1;
    p->have = have;
    p->same_stat = have && prev.size == f->size && prev.mtime == f->mtime;
    bool was_ok = have && prev.status && !strcmp(prev.status, "ok");
    bool rebuild = run->force || (was_ok && stale_index(run, prev.sha256) >= 0);
    /* A failed file is tried again only when it changed or a password may
     * now open it; --verify re-hashes only files that were ok. */
    long long max_bytes = run->limits.max_file_bytes;
    if (p->same_stat && !rebuild &&
        (was_ok ? !run->verify : !(run->password || run->retry_failed))) {
        p->act = was_ok ? ACT_UNCHANGED : ACT_FAILED_BEFORE;
        if (!was_ok)
            p->reason = dq_strdup(prev.error ? prev.error : "failed before");
    } else if (f->size == 0) {
        p->act = ACT_FAIL;
        p->reason = dq_strdup("empty file");
    } else if (max_bytes > 0 && f->size > max_bytes) {
        /* Refused from its size alone: hashing would read all of it first. */
        dq_buf b = DQ_BUF_INIT;
        dq_buf_printf(&b, "%.1f MB, over the limit of %.1f MB per file (--max-file-size)",
                      (double)f->size / (1 << 20), (double)max_bytes / (1 << 20));
        p->act = ACT_FAIL;
        p->reason = dq_buf_take(&b);
    } else if (known_sha) {
        memcpy(p->sha, known_sha, sizeof p->sha);
        p->hashed = true;
    } else if (dq_sha256_file(f->abs, p->sha) < 0) {
        p->act = ACT_FAIL;
        p->reason = dq_strdup(dq_last_error());
    } else {
        p->hashed = true;
    }
    int rc = 0;
    if (p->hashed) {
        p->same_content = was_ok && prev.sha256 && !strcmp(prev.sha256, p->sha);
        p->stale = stale_index(run, p->sha);
        p->rebuild = run->force || p->stale >= 0;
        int known = 0;
        if (p->same_content && p->same_stat && !p->rebuild)
            p->act = ACT_UNCHANGED; /* --verify found the bytes the store has */
        else if ((known = store_has_document(run->st, p->sha)) < 0)
            rc = -1;
        else
            p->act = known && !p->rebuild ? ACT_LINK : ACT_READ;
    }
    store_file_free(&prev);
    return rc;
}

/* Carries out plan for f; res is what a reader started ahead made of it, or
 * NULL when none did. -1 on a store failure. */
static int apply_plan(ingest_run *run, const input_file *f, const file_plan *p,
                      read_result *res)
{
    switch (p->act) {
    case ACT_UNCHANGED:
        run->n_unchanged++;
        return 0;
    case ACT_FAILED_BEFORE:
        note_failure(run, f->rel, p->reason);
        return IN_TRANSACTION(run->st, store_note_failed_again(run->st, f->rel));
    case ACT_FAIL:
        return record_failure(run, f, p->reason);
    case ACT_LINK: {
        /* A touched file, a copy or a renamed file: link, don't extract. */
        store_doc_info info = {p->sha, NULL, NULL, 0};
        if (put_document(run, f, &info, NULL, NULL, false, &(doc_extras){0}) < 0)
            return -1;
        if (p->same_content) {
            run->n_unchanged++;
        } else {
            remember_link(run, p->sha, !p->have);
            if (p->have)
                run->n_changed++;
            else
                run->n_linked++;
        }
        return 0;
    }
    case ACT_READ:
        break;
    }
    read_result now = {0};
    if (!res) {
        read_now(run, f, &now);
        res = &now;
    }
    bool stored;
    int rc = ingest_new_content(run, f, p->sha, p->rebuild, res, &stored);
    read_result_free(&now);
    if (rc < 0)
        return -1;
    if (stored && p->stale >= 0)
        run->stale_done[p->stale] = true; /* other paths of it just link now */
    if (stored) {
        if (!p->have)
            run->n_added++;
        else if (p->same_content)
            run->n_rechunked++;
        else
            run->n_changed++;
    }
    return 0;
}

static int run_file(ingest_run *run, const input_file *f, const char *known_sha,
                    read_result *res)
{
    file_plan plan;
    int rc = plan_file(run, f, known_sha, &plan);
    if (rc == 0)
        rc = apply_plan(run, f, &plan, res);
    free(plan.reason);
    return rc;
}

int ingest_run_file(ingest_run *run, const input_file *f)
{
    return run_file(run, f, NULL, NULL);
}

/* ---- several readers at once --------------------------------------------- */

/* A file looked at ahead of its turn. */
typedef struct {
    bool hashed;           /* sha is its content hash */
    char sha[65];
    ingest_reader *reader; /* its child, while running */
    unsigned parts;        /* the jobs it holds: its PDF's pages read by as many */
    bool done;             /* res holds what the child made */
    read_result res;
} ahead_file;

/* Documents read ahead wait in memory for their turn; past this many bytes
 * no further reader starts until the writer has caught up. */
#define HELD_BYTES_MAX ((size_t)256 << 20)

/* Up to jobs reader children for the files after the one being stored,
 * whose results wait (at most window of them, HELD_BYTES_MAX in all) to be
 * stored in input order by the one writer, this thread. */
typedef struct {
    ingest_run *run;
    const file_list *files;
    ahead_file *ahead; /* (window) file i in ahead[i % window] */
    size_t window;
    size_t next;       /* the first file not looked at yet */
    unsigned jobs, running;
    size_t held_bytes; /* of the results waiting */
    ingest_spawner *spawner; /* forks the readers; NULL: this process does */
    bool spawner_tried;      /* spawner is made for the first reader, once */
    long long bytes_done;    /* of the files stored so far, for the bar */
} reader_pool;

static ahead_file *slot_of(reader_pool *p, size_t i)
{
    return &p->ahead[i % p->window];
}

/* True when a file from cursor up to j is read for sha already: a copy
 * waits and is linked to it, not read twice. */
static bool sha_in_flight(reader_pool *p, size_t cursor, size_t j, const char *sha)
{
    for (size_t i = cursor; i < j; i++) {
        const ahead_file *a = slot_of(p, i);
        if (a->hashed && (a->reader || a->done) && !strcmp(a->sha, sha))
            return true;
    }
    return false;
}

/* Looks at the files after cursor, starting readers for those that need
 * reading while fewer than jobs run. -1 on a store failure. */
static int pool_plan(reader_pool *p, size_t cursor)
{
    while (p->running < p->jobs && p->next < p->files->n && p->next < cursor + p->window &&
           (p->next == cursor || p->held_bytes < HELD_BYTES_MAX)) {
        size_t j = p->next++;
        ahead_file *a = slot_of(p, j);
        memset(a, 0, sizeof *a);
        const input_file *f = &p->files->items[j];
        file_plan plan;
        if (plan_file(p->run, f, NULL, &plan) < 0)
            return -1;
        a->hashed = plan.hashed;
        memcpy(a->sha, plan.sha, sizeof a->sha);
        if (plan.act == ACT_READ && !sha_in_flight(p, cursor, j, plan.sha)) {
            /* The last file gets the jobs no other file will: a large PDF
             * read alone (or last) has its pages split among them. */
            a->parts = p->next == p->files->n ? p->jobs - p->running : 1;
            if (!p->spawner_tried)
                p->spawner = ingest_spawner_new();
            p->spawner_tried = true;
            a->reader = start_reader(p->run, p->spawner, f, a->parts, (int)cursor,
                                     p->bytes_done);
            if (a->reader) {
                p->running += a->parts;
            } else {
                a->done = true;
                a->res = (read_result){.rc = INGEST_READ_FAILED, .err = dq_strdup(dq_last_error())};
            }
        }
        free(plan.reason);
    }
    return 0;
}

/* Takes what the running children wrote, waiting up to timeout_ms for any. */
static void pool_pump(reader_pool *p, size_t cursor, int timeout_ms)
{
    struct pollfd *fds = dq_calloc(p->jobs, sizeof *fds);
    size_t *which = dq_calloc(p->jobs, sizeof *which);
    nfds_t n = 0;
    for (size_t i = cursor; i < p->next && n < p->jobs; i++) {
        if (slot_of(p, i)->reader) {
            fds[n] = (struct pollfd){ingest_reader_fd(slot_of(p, i)->reader), POLLIN, 0};
            which[n++] = i;
        }
    }
    if (n && poll(fds, n, timeout_ms) > 0) {
        for (nfds_t k = 0; k < n; k++) {
            ahead_file *a = slot_of(p, which[k]);
            if (fds[k].revents && ingest_reader_pump(a->reader) == 1) {
                take_result(a->reader, &a->res);
                a->reader = NULL;
                a->done = true;
                p->running -= a->parts;
                p->held_bytes += a->res.bytes;
            }
        }
    }
    free(fds);
    free(which);
}

static void pool_free(reader_pool *p)
{
    for (size_t i = 0; i < p->window; i++) {
        ingest_reader_cancel(p->ahead[i].reader);
        read_result_free(&p->ahead[i].res);
    }
    free(p->ahead);
    ingest_spawner_free(p->spawner);
}

int ingest_run_files(ingest_run *run, const file_list *files)
{
    unsigned jobs = run_jobs(run);
    /* The window and HELD_BYTES_MAX bound the documents held in memory. */
    reader_pool p = {run, files, NULL, 4 * (size_t)jobs, 0, jobs, 0, 0, NULL, false, 0};
    p.ahead = dq_calloc(p.window, sizeof *p.ahead);
    int rc = 0;
    /* A feed that fails is left to the pass after the run, which meets the
     * same error and reports it. */
    vectorize_feed feed = {0};
    bool model_ok = run->embed && vectorize_feed_init(&feed, run->st, run->embed,
                                                      &run->events) == 0;
    for (size_t i = 0; i < files->n && !stopped(run) && rc == 0; i++) {
        ahead_file *a = slot_of(&p, i);
        if ((rc = pool_plan(&p, i)) < 0)
            break;
        bool more = model_ok; /* stored chunks may wait for a vector */
        while (a->reader && !stopped(run) && rc == 0) {
            /* Instead of waiting for the reader, the chunks stored so far
             * are embedded. */
            int fed = more ? vectorize_feed_step(&feed) : 0;
            model_ok &= fed >= 0;
            more = fed > 0;
            pool_pump(&p, i, more ? 0 : STOP_POLL_MS);
            rc = pool_plan(&p, i);
        }
        if (rc < 0 || stopped(run))
            break;
        rc = run_file(run, &files->items[i], a->hashed ? a->sha : NULL, a->done ? &a->res : NULL);
        p.held_bytes -= a->res.bytes;
        read_result_free(&a->res); /* bytes 0 again */
        a->done = false;
        if (rc < 0)
            break;
        p.bytes_done += files->items[i].size;
        if (run->events.files_done)
            run->events.files_done(run->events.user, (int)i + 1, p.bytes_done, run->pages);
        pool_pump(&p, i + 1, 0); /* the children's pipes keep flowing */
    }
    run->n_embedded += feed.n_embedded;
    pool_free(&p);
    return rc;
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
    size_t n_remove = scan.n_gone;
    store_stats stats;
    if (rc == 0 && scan.n_gone && run->max_remove_pct > 0 &&
        (rc = store_get_stats(run->st, &stats)) == 0 &&
        (long long)scan.n_gone * 100 > (long long)run->max_remove_pct * stats.files) {
        /* Half a collection gone at once is a disk not mounted or a folder
         * moved, far more often than a deliberate delete. */
        run->n_kept = (int)scan.n_gone;
        if (run->events.warning) {
            dq_buf b = DQ_BUF_INIT;
            dq_buf_printf(&b, "%zu of %lld stored files are gone from disk, more than %d%%: "
                              "they are kept (an unmounted disk?); --drop-missing removes them",
                          scan.n_gone, (long long)stats.files, run->max_remove_pct);
            run->events.warning(run->events.user, b.data);
            dq_buf_free(&b);
        }
        n_remove = 0;
    }
    for (size_t i = 0; rc == 0 && i < n_remove && !stopped(run); i++) {
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
