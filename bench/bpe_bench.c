/* bpe_bench.c - encoding speed of the byte-level BPE tokenizer (bench/bpe runs it).
 *
 * Usage: bpe_bench VOCAB.gguf[.gz] RUNS TEXT_FILE
 * Loads the vocabulary, encodes the whole text RUNS times (one bpe_encode
 * call each, as a prompt is encoded) and prints key value lines: the load
 * time, bytes, tokens, and the fastest run's seconds, tokens/s and MB/s; then
 * decodes the ids once and checks the text comes back.
 */
#include "common/common.h"
#include "embed/bpe.h"
#include "embed/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int read_gz(const char *path, dq_buf *out)
{
    gzFile gz = gzopen(path, "rb"); /* reads plain files too */
    if (!gz)
        return -1;
    char chunk[1 << 16];
    int n;
    while ((n = gzread(gz, chunk, sizeof chunk)) > 0)
        dq_buf_append(out, chunk, (size_t)n);
    gzclose(gz);
    return n < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bpe_bench VOCAB.gguf[.gz] RUNS TEXT_FILE\n");
        return 2;
    }
    int runs = atoi(argv[2]);
    dq_buf vocab = DQ_BUF_INIT, text = DQ_BUF_INIT;
    if (read_gz(argv[1], &vocab) < 0 || dq_read_file(argv[3], &text) < 0) {
        fprintf(stderr, "bpe_bench: cannot read %s or %s\n", argv[1], argv[3]);
        return 1;
    }
    double t0 = dq_now();
    gguf_file *f = gguf_open_memory(vocab.data, vocab.len, argv[1]);
    bpe_tokenizer *tok = f ? bpe_from_gguf(f) : NULL;
    if (!tok) {
        fprintf(stderr, "bpe_bench: %s\n", dq_last_error());
        return 1;
    }
    double load = dq_now() - t0, best = 1e30;
    bpe_ids ids = BPE_IDS_INIT;
    for (int r = 0; r < (runs > 0 ? runs : 1); r++) {
        ids.n = 0;
        double s = dq_now();
        bpe_encode(tok, text.data, text.len, &ids);
        double e = dq_now() - s;
        if (e < best)
            best = e;
    }
    dq_buf back = DQ_BUF_INIT;
    bpe_decode(tok, ids.v, ids.n, false, &back);
    printf("load_s %.3f\n", load);
    printf("bytes %zu\n", text.len);
    printf("tokens %zu\n", ids.n);
    printf("encode_s %.4f\n", best);
    printf("tokens_per_s %.0f\n", (double)ids.n / best);
    printf("mb_per_s %.2f\n", (double)text.len / best / 1e6);
    printf("round_trip %s\n", back.len == text.len && memcmp(back.data, text.data, text.len) == 0 ? "ok" : "differs");
    dq_buf_free(&back);
    bpe_ids_free(&ids);
    bpe_free(tok);
    gguf_close(f);
    dq_buf_free(&vocab);
    dq_buf_free(&text);
    return 0;
}
