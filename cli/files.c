/* files.c - turns the paths on a command line into the list of files to
 * ingest: folders walked recursively in name order, hidden entries skipped,
 * each file's store path made relative to the store's root when inside it. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/files.h"
#include "common/common.h"
#include "ingest/ingest.h"

static void add_file(file_list *list, const char *abs, const struct stat *st, bool named,
                     const char *root)
{
    DQ_GROW(list->items, list->cap, list->n + 1);
    input_file *f = &list->items[list->n++];
    memset(f, 0, sizeof *f);
    f->abs = dq_strdup(abs);
    f->rel = files_store_path(abs, root);
    f->size = st->st_size;
    f->mtime = st->st_mtime;
    f->named = named;
    list->total_bytes += st->st_size;
}

char *files_store_path(const char *abs, const char *root)
{
    size_t n = strlen(root);
    if (n > 1 && !strncmp(abs, root, n) && abs[n] == '/')
        return dq_strdup(abs + n + 1);
    return dq_strdup(abs);
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

static int walk(file_list *list, const char *dir, const char *root)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        dq_set_error("cannot read folder '%s': %s", dir, strerror(errno));
        return -1;
    }
    dq_buf path = DQ_BUF_INIT;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (name[0] == '.') /* ., .., .git, .docqa and other hidden entries */
            continue;
        dq_buf_clear(&path);
        dq_buf_printf(&path, "%s/%s", strcmp(dir, "/") ? dir : "", name);
        struct stat st;
        if (stat(path.data, &st) < 0)
            continue; /* a dangling link or a file removed while we walk */
        if (S_ISDIR(st.st_mode) && !seen_before(list, &st))
            walk(list, path.data, root); /* an unreadable subfolder is skipped */
        else if (S_ISREG(st.st_mode) && ingest_supported(name))
            add_file(list, path.data, &st, false, root);
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
            rc = walk(list, abs, root);
    } else if (!S_ISREG(st.st_mode)) {
        dq_set_error("'%s': not a regular file", arg);
        rc = -1;
    } else if (!ingest_supported(abs)) {
        dq_set_error("'%s': unsupported file type (docqa reads PDF, EPUB, XPS, CBZ, FB2, "
                     "HTML, Markdown and text files)",
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
    memset(list, 0, sizeof *list);
}
