/* tmpdir.h - removing a test's temporary directory tree. */
#ifndef DQ_TEST_TMPDIR_H
#define DQ_TEST_TMPDIR_H

/* Removes dir and everything below it (links are removed, not followed).
 * Returns 0, or -1 when something could not be removed. */
int tmpdir_remove(const char *dir);

#endif
