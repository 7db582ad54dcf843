/* extract_bench.c - times docqa's extraction (and what a reader does after it) over a set of files.
 *
 * bench/ingest runs it under GNU time next to mutool and pdftotext. It reads
 * every file with ingest_extract() and counts pages and non-space characters;
 * with --split it also runs what a reader child does after extraction,
 * ingest_prepare() (cleanup, splitting and the chunks' boxes), and times that
 * separately, in CPU seconds. One summary line goes to stdout as key=value
 * pairs so the script can parse it; failures go to stderr and are counted.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <time.h>

#include "common/common.h"
#include "ingest/ingest.h"

typedef struct {
    long files, failed, pages, chunks;
    long long chars;      /* code points other than ASCII white space */
    double extract_s;     /* inside ingest_extract(), CPU seconds */
    double clean_split_s; /* inside ingest_prepare(): cleanup, splitting, boxes; CPU seconds */
} bench_totals;

/* This process's CPU seconds: on a shared machine the phases' wall times
 * say more about the load than about the code. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long long count_chars(const ingest_raw_doc *doc)
{
    long long n = 0;
    for (size_t p = 0; p < doc->n_pages; p++)
        for (size_t b = 0; b < doc->pages[p].n_blocks; b++) {
            const ingest_block *blk = &doc->pages[p].blocks[b];
            for (size_t l = 0; l < blk->n_lines; l++)
                for (const unsigned char *s = (const unsigned char *)blk->lines[l].text; *s; s++)
                    /* count lead bytes only: one per code point, as `wc -m` would */
                    if ((*s & 0xc0) != 0x80 && !strchr(" \t\r\n\f\v", *s))
                        n++;
        }
    return n;
}

static void bench_file(const char *path, bool split, bench_totals *t)
{
    ingest_raw_doc raw = {0};
    double t0 = cpu_now();
    int rc = ingest_extract(path, NULL, &raw);
    t->extract_s += cpu_now() - t0;
    t->files++;
    if (rc < 0) {
        fprintf(stderr, "extract_bench: '%s': %s\n", path, dq_last_error());
        t->failed++;
        return;
    }
    t->pages += (long)raw.n_pages;
    t->chars += count_chars(&raw);

    if (split) {
        /* What a reader child does after extraction: cleanup, splitting
         * and the chunks' boxes (ingest_prepare()). */
        ingest_prepared prep = {.raw = raw};
        raw = (ingest_raw_doc){0};
        split_params params = split_default_params();
        t0 = cpu_now();
        if (ingest_prepare(&params, &prep) < 0) {
            fprintf(stderr, "extract_bench: '%s': %s\n", path, dq_last_error());
            t->failed++;
        } else {
            t->chunks += (long)prep.chunks.n;
        }
        t->clean_split_s += cpu_now() - t0;
        ingest_prepared_free(&prep);
    }
    ingest_raw_doc_free(&raw);
}

int main(int argc, char **argv)
{
    bool split = false;
    int first = 1;
    if (argc > 1 && !strcmp(argv[1], "--split")) {
        split = true;
        first = 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: extract_bench [--split] FILE...\n");
        return 2;
    }

    bench_totals t = {0};
    for (int i = first; i < argc; i++)
        bench_file(argv[i], split, &t);

    printf("files=%ld failed=%ld pages=%ld chars=%lld chunks=%ld extract_s=%.3f clean_split_s=%.3f\n",
           t.files, t.failed, t.pages, t.chars, t.chunks, t.extract_s, t.clean_split_s);
    return t.failed == t.files ? 1 : 0;
}
