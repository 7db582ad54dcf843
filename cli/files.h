/* files.h - the files an ingest run will look at. */
#ifndef DQ_CLI_FILES_H
#define DQ_CLI_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

typedef struct {
    char *abs;  /* absolute path on disk */
    char *rel;  /* path as the store records it: relative to the store root when inside */
    int64_t size, mtime;
    bool named; /* given on the command line rather than found in a folder */
} input_file;

typedef struct {
    input_file *items; /* (n) in walk order */
    size_t n, cap;
    char **dirs;       /* (n_dirs) absolute folders that were walked */
    size_t n_dirs, dirs_cap;
    struct { uint64_t dev, ino; } *seen; /* (n_seen) folders walked, so a
                                            symlink loop is entered once */
    size_t n_seen, seen_cap;
    int64_t total_bytes;
    bool follow_symlinks; /* set by the caller: walk links that lead out of the folder */
    dq_buf skipped;       /* "'path': reason\n" for each entry a walk passed over
                           * (broken link, FIFO, link out of the folder, unreadable folder) */
    int n_skipped;
    int n_unreadable; /* of n_skipped: entries that should have been read (exit 3) */
} file_list;

/* Adds arg (a file or a folder, walked recursively) to list. -1 with the
 * error set for a missing path, an unsupported named file, or an unreadable
 * folder. Inside a folder, symbolic links are followed only while they stay
 * inside it (unless list->follow_symlinks); entries passed over are noted in
 * list->skipped. A file named in arg is read even when it is a link. */
int files_collect(file_list *list, const char *arg, const char *root);
void file_list_free(file_list *list);
/* abs relative to root when inside it, else abs itself (caller frees). */
char *files_store_path(const char *abs, const char *root);

#endif
