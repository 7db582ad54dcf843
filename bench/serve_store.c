/* serve_store.c - writes a synthetic store of N chunks for bench/serve.
 *
 * Usage: serve_store STORE_DIR N_CHUNKS
 * Documents of 100 chunks each; a chunk is about 120 words drawn with a
 * Zipf-like skew from 20,000 made-up words (so BM25 sees realistic document
 * frequencies), and one chunk in five is Chinese (characters drawn the same
 * way from 3,000 common Han characters). Deterministic: the same N gives the
 * same store. Goes through the store API, one transaction per document, like
 * ingest does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "index/index.h"

enum { VOCAB = 20000, HAN = 3000, PER_DOC = 100, WORDS = 120 };

static uint64_t rng = 88172645463325252ULL;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Skewed toward small indexes: the square of a uniform draw. */
static unsigned zipfish(unsigned n)
{
    double u = (next() & 0xffffff) / (double)0x1000000;
    return (unsigned)(u * u * u * n);
}

static void word(unsigned i, char *out)
{
    static const char *syl[] = {"ka", "lo", "mi", "ren", "tu", "sha", "vel", "dor", "pi", "qua",
                                "ne", "zor", "bel", "fin", "gra", "hol", "jus", "wex"};
    unsigned n = sizeof syl / sizeof syl[0];
    out[0] = '\0';
    do {
        strcat(out, syl[i % n]);
        i /= n;
    } while (i);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: serve_store STORE_DIR N_CHUNKS\n");
        return 2;
    }
    long total = atol(argv[2]);
    store *st = store_open(argv[1], STORE_CREATE);
    if (!st) {
        fprintf(stderr, "serve_store: %s\n", dq_last_error());
        return 1;
    }
    dq_buf texts[PER_DOC];
    memset(texts, 0, sizeof texts);
    store_chunk_in chunks[PER_DOC];
    long made = 0;
    for (long d = 0; made < total; d++) {
        int n = total - made < PER_DOC ? (int)(total - made) : PER_DOC;
        for (int c = 0; c < n; c++) {
            dq_buf_clear(&texts[c]);
            bool zh = next() % 5 == 0;
            for (int w = 0; w < WORDS; w++) {
                if (zh) {
                    char enc[4];
                    int k = utf8_encode(0x4E00 + zipfish(HAN) * 7 % 20000, enc);
                    dq_buf_append(&texts[c], enc, (size_t)k);
                    if (w % 15 == 14)
                        dq_buf_puts(&texts[c], "。");
                } else {
                    char wbuf[64];
                    word(zipfish(VOCAB), wbuf);
                    dq_buf_printf(&texts[c], "%s%s", w ? " " : "", wbuf);
                    if (w % 12 == 11)
                        dq_buf_puts(&texts[c], ".");
                }
            }
            chunks[c] = (store_chunk_in){.text = texts[c].data,
                                         .section = "",
                                         .page_start = c / 10 + 1,
                                         .page_end = c / 10 + 1,
                                         .ordinal = c,
                                         .label = NULL};
        }
        char path[64], sha[65];
        snprintf(path, sizeof path, "synthetic/doc%06ld.txt", d);
        uint8_t h[32];
        dq_sha256 s;
        dq_sha256_init(&s);
        dq_sha256_update(&s, path, strlen(path));
        dq_sha256_final(&s, h);
        dq_hex(h, 32, sha);
        const char *pages[PER_DOC / 10 + 1];
        for (int p = 0; p <= PER_DOC / 10; p++)
            pages[p] = "";
        store_doc_info info = {sha, "txt", NULL, (n + 9) / 10};
        if (store_begin(st) < 0 ||
            store_put_document(st, path, 1000, 0, &info, pages, chunks, (size_t)n) < 0 ||
            store_commit(st) < 0) {
            fprintf(stderr, "serve_store: %s\n", dq_last_error());
            store_close(st);
            return 1;
        }
        made += n;
    }
    for (int c = 0; c < PER_DOC; c++)
        dq_buf_free(&texts[c]);
    /* The BM25 file, as `docqa ingest` leaves it. */
    if (store_bm25_sync(st, NULL) < 0) {
        fprintf(stderr, "serve_store: %s\n", dq_last_error());
        store_close(st);
        return 1;
    }
    store_close(st);
    printf("%ld chunks in %s\n", made, argv[1]);
    return 0;
}
