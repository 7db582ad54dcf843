/* fuzz_terms.c - libFuzzer harness: search terms and sentence pieces of arbitrary bytes.
 *
 * text_terms() feeds the FTS5 tokenizer, the query builder and the answer
 * scorer; text_pieces() feeds the splitter and the answerer. Checked here:
 * every term lies inside the input, is non-empty and in order; pieces cover
 * the input exactly, whatever the bytes (invalid UTF-8 included).
 */
#include "common/common.h"

#include <stdlib.h>

typedef struct {
    size_t n;
    int last_start;
} term_check;

static int on_term(void *ctx, const dq_term *t)
{
    term_check *c = ctx;
    if (t->len <= 0 || t->start < 0 || t->end < t->start || (size_t)t->end > c->n ||
        t->start < c->last_start || !t->text)
        abort();
    c->last_start = t->start;
    return 0;
}

typedef struct {
    size_t next;
} piece_check;

static int on_piece(void *ctx, size_t start, size_t end)
{
    piece_check *c = ctx;
    if (start != c->next || end < start)
        abort();
    c->next = end;
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *s = (const char *)data;
    static const int modes[] = {0, TERMS_UNIGRAMS, TERMS_BIGRAMS, TERMS_UNIGRAMS | TERMS_BIGRAMS};
    for (int m = 0; m < 4; m++) {
        term_check c = {size, 0};
        text_terms(s, size, modes[m], on_term, &c);
    }
    for (int kind = BOUNDARY_SENTENCE; kind <= BOUNDARY_CLAUSE; kind++) {
        piece_check c = {0};
        text_pieces(s, size, kind, on_piece, &c);
        if (c.next != size)
            abort();
    }
    char *clean = utf8_sanitize(s, size);
    size_t n = 0;
    while (clean[n])
        n++;
    if (!utf8_valid(clean, n))
        abort();
    free(clean);
    return 0;
}
