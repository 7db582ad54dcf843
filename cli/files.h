/* files.h - the files an ingest run will look at. */
#ifndef DQ_CLI_FILES_H
#define DQ_CLI_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
} file_list;

/* Adds arg (a file or a folder, walked recursively) to list. -1 with the
 * error set for a missing path, an unsupported named file, or an unreadable
 * folder. */
int files_collect(file_list *list, const char *arg, const char *root);
void file_list_free(file_list *list);
/* abs relative to root when inside it, else abs itself (caller frees). */
char *files_store_path(const char *abs, const char *root);

#endif
