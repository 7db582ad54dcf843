/* files.c - turns the paths on a command line into the list of files to
 * ingest: folders walked recursively in name order, hidden entries skipped,
 * each file's store path made relative to the store's root when inside it;
 * symbolic links followed only while they stay inside the folder named. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "ingest/ingest.h"
#include "pipeline/pipeline.h"

static void add_file(file_list *list, const char *abs, const struct stat *st, bool named,
                     const char *root)
{
    DQ_GROW(list->items, list->cap, list->n + 1);
    input_file *f = &list->items[list->n++];
    memset(f, 0, sizeof *f);
    f->abs = dq_strdup(abs);
    f->rel = store_rel_path(root, abs);
    f->size = st->st_size;
    f->mtime = st->st_mtime;
    f->named = named;
    list->total_bytes += st->st_size;
}

/* True when folder st was walked already in this run (a symlink back to an
 * ancestor, or two links to one folder); otherwise remembers it. Without this
 * a link such as `loop -> ..` makes the walk repeat until ELOOP, storing
 * every file dozens of times under ever longer paths. */
static bool seen_before(file_list *list, const struct stat *st)
{
    for (size_t i = 0; i < list->n_seen; i++)
        if (list->seen[i].dev == (uint64_t)st->st_dev && list->seen[i].ino == (uint64_t)st->st_ino)
            return true;
    DQ_GROW(list->seen, list->seen_cap, list->n_seen + 1);
    list->seen[list->n_seen].dev = (uint64_t)st->st_dev;
    list->seen[list->n_seen].ino = (uint64_t)st->st_ino;
    list->n_seen++;
    return false;
}

/* failed: the entry is something docqa should have read (an unreadable
 * folder, a FIFO with a document's name), not a link passed over by rule. */
static void note_skip(file_list *list, bool failed, const char *path, const char *root,
                      const char *fmt, const char *arg)
{
    char *rel = store_rel_path(root, path);
    dq_buf_printf(&list->skipped, "'%s': ", rel);
    dq_buf_printf(&list->skipped, fmt, arg);
    dq_buf_putc(&list->skipped, '\n');
    list->n_skipped++;
    list->n_unreadable += failed;
    free(rel);
}

bool path_is_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return true;
    return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

/* A symbolic link inside a walked folder: true when it may be followed. A
 * link out of the folder (to /etc, to a user's home) would index files the
 * user never named, so it needs --follow-symlinks. */
static bool link_allowed(file_list *list, const char *path, const struct stat *target,
                         const char *name, const char *top, const char *root)
{
    if (list->follow_symlinks)
        return true;
    char *real = realpath(path, NULL);
    bool ok = real && path_is_under(real, top);
    /* Links to files docqa would not read anyway are passed over quietly. */
    if (!ok && (S_ISDIR(target->st_mode) || ingest_supported(name)))
        note_skip(list, false, path, root, "symbolic link to '%s', outside the folder, not followed "
                  "(use --follow-symlinks)", real ? real : "?");
    free(real);
    return ok;
}

static int walk(file_list *list, const char *dir, const char *top, const char *root)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        dq_set_error("cannot read folder: %s", strerror(errno));
        return -1;
    }
    dq_buf path = DQ_BUF_INIT;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (name[0] == '.') /* ., .., .git, .docqa and other hidden entries */
            continue;
        dq_buf_clear(&path);
        dq_buf_printf(&path, "%s/%s", strcmp(dir, "/") ? dir : "", name);
        struct stat lst, st;
        if (lstat(path.data, &lst) < 0)
            continue; /* removed while we walk */
        if (stat(path.data, &st) < 0) {
            if (S_ISLNK(lst.st_mode))
                note_skip(list, false, path.data, root, "broken symbolic link (%s)", strerror(errno));
            continue;
        }
        if (S_ISLNK(lst.st_mode) && !link_allowed(list, path.data, &st, name, top, root))
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (!seen_before(list, &st) && walk(list, path.data, top, root) < 0)
                note_skip(list, true, path.data, root, "%s", dq_last_error());
        } else if (ingest_supported(name)) {
            if (S_ISREG(st.st_mode))
                add_file(list, path.data, &st, false, root);
            else /* a FIFO would block the read forever, a device never ends */
                note_skip(list, true, path.data, root, "%s", "not a regular file");
        }
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    dq_buf_free(&path);
    return 0;
}

int files_collect(file_list *list, const char *arg, const char *root)
{
    char *abs = realpath(arg, NULL);
    if (!abs) {
        dq_set_error("'%s': %s", arg, strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = 0;
    if (stat(abs, &st) < 0) {
        dq_set_error("'%s': %s", arg, strerror(errno));
        rc = -1;
    } else if (S_ISDIR(st.st_mode)) {
        DQ_GROW(list->dirs, list->dirs_cap, list->n_dirs + 1);
        list->dirs[list->n_dirs++] = dq_strdup(abs);
        if (!seen_before(list, &st))
            rc = walk(list, abs, abs, root);
        if (rc < 0) {
            char *why = dq_strdup(dq_last_error()); /* the message may not format itself */
            dq_set_error("'%s': %s", arg, why);
            free(why);
        }
    } else if (!S_ISREG(st.st_mode)) {
        dq_set_error("'%s': not a regular file", arg);
        rc = -1;
    } else if (!ingest_supported(abs)) {
        dq_set_error("'%s': unsupported file type (docqa reads PDF, EPUB, XPS, CBZ, FB2, "
                     "HTML, Markdown, text, DOCX, XLSX, PPTX, ODT, ODS and ODP files)",
                     arg);
        rc = -1;
    } else {
        add_file(list, abs, &st, true, root);
    }
    free(abs);
    return rc;
}

void file_list_free(file_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->items[i].abs);
        free(list->items[i].rel);
    }
    for (size_t i = 0; i < list->n_dirs; i++)
        free(list->dirs[i]);
    free(list->items);
    free(list->dirs);
    free(list->seen);
    dq_buf_free(&list->skipped);
    memset(list, 0, sizeof *list);
}
