/* spawn.h - running the docqa binary from tests the way a user would: in a
 * working folder, HOME pointing there, no DOCQA_STORE from the environment. */
#ifndef DQ_TEST_SPAWN_H
#define DQ_TEST_SPAWN_H

#include <sys/types.h>

/* Starts bin with args (NULL-terminated, argv[0] "docqa" added) in workdir,
 * stdout to out_path and stderr to err_path (truncated). -1 when fork
 * fails. */
pid_t spawn_docqa(const char *bin, const char *workdir, const char *out_path,
                  const char *err_path, const char *const *args);

/* Waits for pid: its exit code, or 128 + the signal that ended it. */
int spawn_wait(pid_t pid);

#endif
