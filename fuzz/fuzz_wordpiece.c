/* fuzz_wordpiece.c - libFuzzer harness: WordPiece tokenization of arbitrary bytes.
 *
 * The vocabulary is the test fixture's (tests/fixtures/tokenizer/vocab.txt,
 * found through DQ_SOURCE_DIR), loaded once per option set. The first byte
 * picks lower-casing, accent stripping and CJK splitting and a small id
 * budget; every id returned must be inside the vocabulary, and a truncated
 * encode must still end in [SEP].
 */
#include "common/common.h"
#include "embed/embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static wp_tokenizer *toks[8];

static wp_tokenizer *tokenizer(int variant)
{
    if (!toks[variant]) {
        wp_options opt = wp_default_options();
        opt.lower_case = variant & 1;
        opt.strip_accents = variant & 2;
        opt.split_cjk = !(variant & 4);
        toks[variant] = wp_load(DQ_SOURCE_DIR "/tests/fixtures/tokenizer/vocab.txt", &opt);
        if (!toks[variant]) {
            fprintf(stderr, "fuzz_wordpiece: %s\n", dq_last_error());
            abort();
        }
    }
    return toks[variant];
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    const wp_tokenizer *tok = tokenizer(data[0] & 7);
    int max_len = 2 + (data[0] >> 3);
    char *text = dq_strndup((const char *)data + 1, size - 1);
    int32_t ids[64];
    int n = wp_encode(tok, text, ids, max_len);
    int vocab = wp_vocab_size(tok);
    if (n < 2 || n > max_len || ids[n - 1] != wp_token_id(tok, "[SEP]"))
        abort();
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            abort();
    int32_t *all = dq_malloc((size + 1) * 4 * sizeof *all);
    int total = wp_tokenize(tok, text, all, (int)(size + 1) * 4);
    for (int i = 0; i < total && i < (int)(size + 1) * 4; i++)
        if (all[i] < 0 || all[i] >= vocab)
            abort();
    free(all);
    free(text);
    return 0;
}
