/* sources.c - what `docqa reindex` looks at: the files and folders given to
 * ingest (the store's sources) walked again, the stored files outside every
 * source that still exist, and the documents made with other chunking
 * settings.
 *
 * A source folder that is missing altogether (an unmounted disk), empty
 * while the store holds files from it (the disk's mount point), or cannot
 * be read is kept in missing_dirs, so the prune keeps its files rather than
 * dropping a whole collection because a mount point was empty one night. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "pipeline/pipeline.h"

typedef struct {
    store *st;
    ingest_sources *out;
    bool drop_missing;
    const pipeline_events *ev;
    dq_strs walked_dirs; /* absolute source folders walked, to skip sources inside them */
} root_scan;

static void warn(const pipeline_events *ev, const char *text)
{
    if (ev->warning)
        ev->warning(ev->user, text);
}

typedef struct {
    const char *root, *dir;
    long long n;
} under_count;

static int count_under(void *ctx, const store_file *f)
{
    under_count *c = ctx;
    char *abs = store_abs_path(c->root, f->path);
    c->n += path_is_under(abs, c->dir);
    free(abs);
    return 0;
}

/* An existing source folder where the walk found nothing while the store
 * holds files from it: the mount point of a disk that is not mounted. Its
 * files are kept as a missing folder's are. */
static void keep_if_emptied(root_scan *w, const char *abs)
{
    under_count c = {store_root(w->st), abs, 0};
    if (store_each_file(w->st, count_under, &c) < 0 || c.n == 0)
        return;
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "source folder '%s' is empty but %lld stored file%s came from it (an "
                      "unmounted disk?); they are kept (--drop-missing removes them)",
                  abs, c.n, c.n == 1 ? "" : "s");
    warn(w->ev, b.data);
    dq_buf_free(&b);
    dq_strs_add(&w->out->missing_dirs, abs);
    w->out->n_bad++;
}

static int collect_root(void *ctx, const char *path, bool is_dir)
{
    root_scan *w = ctx;
    ingest_sources *out = w->out;
    out->n_roots++;
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
    size_t n_before = out->files.n;
    if (stat(abs, &sb) < 0 && errno == ENOENT) {
        if (is_dir && !w->drop_missing) {
            dq_buf b = DQ_BUF_INIT;
            dq_buf_printf(&b, "source folder '%s' is missing; its files are kept until it is "
                              "back (--drop-missing removes them)",
                          abs);
            warn(w->ev, b.data);
            dq_buf_free(&b);
            dq_strs_add(&out->missing_dirs, abs);
            out->n_bad++;
        } else {
            dq_strs_add(&out->gone_roots, path);
        }
    } else if (files_collect(&out->files, abs, store_root(w->st)) < 0) {
        warn(w->ev, dq_last_error());
        out->n_bad++;
        if (is_dir) /* unreadable: keep its files rather than drop them */
            dq_strs_add(&out->missing_dirs, abs);
    } else if (is_dir) {
        dq_strs_add(&w->walked_dirs, abs);
        if (out->files.n == n_before && !w->drop_missing)
            keep_if_emptied(w, abs);
    }
    free(abs);
    return 0;
}

typedef struct {
    store *st;
    ingest_sources *out;
    dq_strs walked; /* store paths of the files the sources gave, sorted */
} extra_scan;

/* A stored file no source covers (a store from before sources were
 * recorded, a file named by a path that is now a folder) that still exists. */
static int collect_extra(void *ctx, const store_file *f)
{
    extra_scan *x = ctx;
    if (dq_strs_has(&x->walked, f->path))
        return 0;
    char *abs = store_abs_path(store_root(x->st), f->path);
    struct stat sb;
    if (stat(abs, &sb) == 0 && S_ISREG(sb.st_mode) &&
        files_collect(&x->out->files, abs, store_root(x->st)) < 0)
        x->out->n_bad++;
    free(abs);
    return 0;
}

static int add_stale(void *ctx, const char *sha)
{
    dq_strs_add(ctx, sha);
    return 0;
}

/* A store from before sources were recorded: its files can still be
 * checked, but new files in their folders cannot be found. */
static int no_sources(store *st, const pipeline_events *ev)
{
    store_stats stats;
    if (store_get_stats(st, &stats) < 0)
        return -1;
    if (stats.files == 0) {
        dq_set_error("no sources recorded: run 'docqa ingest <folder>' once, then reindex");
        return -1;
    }
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "no source folders recorded (a store from an older docqa): checking the "
                      "%lld stored files only; run 'docqa ingest <folder>' once so that new "
                      "files are found",
                  (long long)stats.files);
    warn(ev, b.data);
    dq_buf_free(&b);
    return 0;
}

int ingest_sources_collect(store *st, const char *split_tag, bool drop_missing,
                           const pipeline_events *ev, ingest_sources *out)
{
    static const pipeline_events none = {0};
    memset(out, 0, sizeof *out);
    root_scan w = {st, out, drop_missing, ev ? ev : &none, {0}};
    int rc = store_each_root(st, collect_root, &w);
    dq_strs_free(&w.walked_dirs);
    if (rc == 0 && out->n_roots == 0)
        rc = no_sources(st, w.ev);
    if (rc < 0)
        return -1;
    extra_scan x = {st, out, {0}};
    for (size_t i = 0; i < out->files.n; i++)
        dq_strs_add(&x.walked, out->files.items[i].rel);
    dq_strs_sort(&x.walked);
    rc = store_each_file(st, collect_extra, &x);
    dq_strs_free(&x.walked);
    if (rc == 0)
        rc = store_each_document_split_differs(st, split_tag, add_stale, &out->stale);
    dq_strs_sort(&out->stale);
    return rc;
}

int ingest_sources_forget_gone(store *st, const ingest_sources *s)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->gone_roots.n; i++)
        rc = store_remove_root(st, s->gone_roots.items[i]);
    return rc;
}

void ingest_sources_free(ingest_sources *s)
{
    file_list_free(&s->files);
    dq_strs_free(&s->missing_dirs);
    dq_strs_free(&s->gone_roots);
    dq_strs_free(&s->stale);
}
