/* storegen.c - small stores for tests: documents from plain texts. */
#include "support/storegen.h"

#include <stdint.h>
#include <string.h>

#include "common/common.h"

int storegen_put_sections(store *st, const char *path, const char *const *texts,
                          const char *const *sections, size_t n, bool rebuild)
{
    if (n > 16) {
        dq_set_error("storegen: %zu texts (at most 16)", n);
        return -1;
    }
    dq_sha256 h;
    dq_sha256_init(&h);
    for (size_t i = 0; i < n; i++)
        dq_sha256_update(&h, texts[i], strlen(texts[i]));
    uint8_t d[32];
    char hex[65];
    dq_sha256_final(&h, d);
    dq_hex(d, 32, hex);
    store_chunk_in chunks[16];
    const char *pages[16];
    for (size_t i = 0; i < n; i++) {
        chunks[i] = (store_chunk_in){.text = texts[i],
                                     .section = sections ? sections[i] : "",
                                     .page_start = (int)i + 1,
                                     .page_end = (int)i + 1,
                                     .ordinal = (int)i,
                                     .label = NULL};
        pages[i] = texts[i];
    }
    store_doc_info info = {hex, "txt", NULL, (int)n};
    return rebuild ? store_rebuild_document(st, path, 100, 1000, &info, pages, chunks, n)
                   : store_put_document(st, path, 100, 1000, &info, pages, chunks, n);
}

int storegen_put_texts(store *st, const char *path, const char *const *texts, size_t n)
{
    return storegen_put_sections(st, path, texts, NULL, n, false);
}
