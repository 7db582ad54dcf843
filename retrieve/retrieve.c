/* retrieve.c - BM25 retrieval over the store's FTS5 index, with snippets.
 *
 * The store ranks by BM25 over the OR of the question's terms. Chunks with
 * equal BM25 scores (the same terms at the same density, e.g. repeated
 * boilerplate) are ordered by coverage, the number of distinct question
 * terms they hold, so the fuller match wins the tie; a few more candidates
 * than asked for are fetched so a tie at the cut-off is decided the same way.
 * Coverage is only a tie-break: scaling BM25 by it measured slightly worse
 * on the CMRC and SQuAD dev slices (BM25 already rewards each extra term).
 */
#include "retrieve/retrieve.h"
#include "retrieve/query.h"

#include <stdlib.h>
#include <string.h>

/* Extra candidates fetched so ties at the cut-off can be re-ordered. */
#define EXTRA_CANDIDATES 5

retrieve_params retrieve_default_params(void)
{
    return (retrieve_params){.top_k = 5, .snippet_chars = 120};
}

typedef struct {
    const qterms *q;
    unsigned char *seen; /* (q->n) */
    int distinct;
} cover_ctx;

static int cover_cb(void *ctx, const dq_term *t)
{
    cover_ctx *c = ctx;
    int i = qterms_find(c->q, t->text, t->len);
    if (i >= 0 && !c->seen[i]) {
        c->seen[i] = 1;
        c->distinct++;
    }
    return 0;
}

typedef struct {
    size_t index; /* into the store's hits */
    double score; /* BM25 */
    int coverage; /* distinct question terms in the chunk */
} ranked;

static int ranked_cmp(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->coverage != y->coverage)
        return x->coverage > y->coverage ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int retrieve_bm25(store *st, const char *question, const retrieve_params *params,
                  retrieve_result *out)
{
    memset(out, 0, sizeof *out);
    retrieve_params p = params ? *params : retrieve_default_params();
    if (p.top_k <= 0)
        p.top_k = retrieve_default_params().top_k;
    char *match = retrieve_build_match(question);
    if (!match)
        return -1;

    store_hits hits = {0};
    if (store_search_fts(st, match, p.top_k + EXTRA_CANDIDATES, &hits) < 0) {
        free(match);
        return -1;
    }

    qterms q = {0};
    qterms_build(question, TERMS_BIGRAMS, &q);
    ranked *order = dq_calloc(hits.n ? hits.n : 1, sizeof *order);
    unsigned char *seen = dq_calloc(q.n ? q.n : 1, 1);
    for (size_t i = 0; i < hits.n; i++) {
        memset(seen, 0, q.n);
        cover_ctx cc = {&q, seen, 0};
        const char *t = hits.items[i].text ? hits.items[i].text : "";
        text_terms(t, strlen(t), TERMS_UNIGRAMS | TERMS_BIGRAMS, cover_cb, &cc);
        order[i] = (ranked){i, hits.items[i].score, cc.distinct};
    }
    qsort(order, hits.n, sizeof *order, ranked_cmp);

    size_t n = hits.n < (size_t)p.top_k ? hits.n : (size_t)p.top_k;
    out->items = dq_calloc(n ? n : 1, sizeof *out->items);
    for (size_t i = 0; i < n; i++) {
        retrieve_hit *h = &out->items[i];
        /* Move the hit out of the store's array; its slot is zeroed so
         * store_hits_free() below frees only what was not taken. */
        h->chunk = hits.items[order[i].index];
        memset(&hits.items[order[i].index], 0, sizeof(store_hit));
        h->snippet = retrieve_snippet(h->chunk.text, question, p.snippet_chars);
    }
    out->n = n;
    out->match = match;
    free(seen);
    free(order);
    qterms_free(&q);
    store_hits_free(&hits);
    return 0;
}

void retrieve_result_free(retrieve_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        store_hit *c = &r->items[i].chunk;
        free(c->path);
        free(c->title);
        free(c->section);
        free(c->text);
        free(r->items[i].snippet);
    }
    free(r->items);
    free(r->match);
    memset(r, 0, sizeof *r);
}

int retrieve_search(store *st, struct embedder *emb, const char *question,
                    const retrieve_params *params, retrieve_result *out)
{
    (void)emb; /* dense and hybrid retrieval: issue 5 */
    return retrieve_bm25(st, question, params, out);
}
