/* tmpdir.h - a test's temporary directory tree: writing files, removing it. */
#ifndef DQ_TEST_TMPDIR_H
#define DQ_TEST_TMPDIR_H

/* Removes dir and everything below it (links are removed, not followed).
 * Returns 0, or -1 when something could not be removed. */
int tmpdir_remove(const char *dir);

/* Writes text to dir/name, making the folders on the way. 0, or -1 when it
 * cannot. */
int tmpdir_write_file(const char *dir, const char *name, const char *text);

/* dir/name in one of 8 rotating buffers owned here (so a few paths can be
 * held at once, e.g. a copy's source and destination). */
char *tmpdir_path(const char *dir, const char *name);

#endif
