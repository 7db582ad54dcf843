/* storegen.h - small stores for tests that need documents without
 * ingesting files: each text one page and one chunk. */
#ifndef DQ_TEST_STOREGEN_H
#define DQ_TEST_STOREGEN_H

#include <stdbool.h>
#include <stddef.h>

#include "index/index.h"

/* Stores a document at path whose page i and chunk i are texts[i] (n at
 * most 16), keyed by the hash of the texts, in the caller's transaction.
 * 0, or -1 with the error set. */
int storegen_put_texts(store *st, const char *path, const char *const *texts, size_t n);
/* The same with a section path per chunk (sections may be NULL), and with
 * rebuild replacing a stored document's chunks (store_rebuild_document). */
int storegen_put_sections(store *st, const char *path, const char *const *texts,
                          const char *const *sections, size_t n, bool rebuild);

#endif
