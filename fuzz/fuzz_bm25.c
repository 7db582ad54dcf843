/* fuzz_bm25.c - libFuzzer harness: the BM25 file reader on arbitrary bytes.
 *
 * bm25_file_from_memory() runs the checks bm25_file_open() runs on a mapped
 * file. Whatever it accepts is then walked as a search walks it: every term
 * entry found by its own bytes, every posting list read to its end and
 * sought into block by block; rows stay below n_rows and ascending, and
 * nothing reads outside the file (the sanitizers watch).
 */
#include "common/common.h"
#include "index/bm25.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_TERMS = 256 };

static void walk(const bm25_file *f, const bm25_term *t)
{
    bm25_cursor c, d;
    if (!bm25_cursor_init(&c, f, t))
        return;
    bm25_cursor_init(&d, f, t);
    int64_t prev = -1;
    while (!c.done) {
        if ((int64_t)c.row <= prev || c.row >= f->h->n_rows)
            abort();
        prev = c.row;
        bm25_cursor_seek(&d, c.row); /* skipping lands where walking does */
        if (!d.done && !d.corrupt && d.row < c.row)
            abort();
        bm25_cursor_next(&c);
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    /* The file is mapped page-aligned; fuzz input need not be. */
    void *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    bm25_file *f = bm25_file_from_memory(copy, size);
    if (f) {
        if (!(f->avgdl > 0))
            abort();
        uint64_t n = f->h->n_terms < MAX_TERMS ? f->h->n_terms : MAX_TERMS;
        uint64_t strings = f->h->size - f->h->off_strings;
        for (uint64_t i = 0; i < n; i++) {
            const bm25_term *t = &f->terms[i];
            if (t->str_off <= strings && t->str_len <= strings - t->str_off) {
                const char *s = (const char *)f->data + f->h->off_strings + t->str_off;
                bm25_file_find(f, s, t->str_len);
            }
            walk(f, t);
        }
        bm25_file_find(f, "the", 3);
        bm25_file_free(f);
    }
    free(copy);
    return 0;
}
