/* retrieve.c - BM25, dense and hybrid retrieval, with snippets.
 *
 * retrieve_search() chains: BM25 candidates and dense candidates (each
 * params.candidates long), reciprocal rank fusion (hybrid), near-duplicate
 * removal, the relevance threshold, then MMR for the top k. Every candidate
 * of a run that uses vectors gets its cosine similarity, so a BM25-only hit
 * has a dense score too and MMR can compare any two by their vectors; a BM25
 * run compares them by text shingles instead.
 *
 * In a hybrid search the dense retriever's first half (the question's
 * embedding and the vector index search, no SQLite) runs on a thread of its
 * own while BM25 runs on the caller's, so the two overlap on a second core.
 *
 * The store ranks by BM25 over the OR of the question's terms. Chunks with
 * equal BM25 scores (the same terms at the same density, e.g. repeated
 * boilerplate) are ordered by coverage, the number of distinct question
 * terms they hold, so the fuller match wins the tie; a few more candidates
 * than asked for are fetched so a tie at the cut-off is decided the same way.
 * Over short passages coverage is only a tie-break: scaling BM25 by it
 * measured slightly worse on the CMRC and SQuAD dev slices (BM25 already
 * rewards each extra term). Inside long documents (LONG_DOCUMENT_CHUNKS) the
 * score is BM25 x (1 + the share of the question's terms the chunk holds):
 * on the FinanceBench dev split page hit@1 0.171 -> 0.268, MRR 0.312 ->
 * 0.362, hit@5 unchanged. A question word that no chunk holds in any form
 * is searched through the indexed words that begin with its stem
 * (put_unseen_stand_ins).
 */
#include "retrieve/retrieve.h"
#include "retrieve/query.h"

#include "retrieve/rank.h"
#include "embed/embed.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Mean chunks per searched document from which documents count as long. */
#define LONG_DOCUMENT_CHUNKS 20

/* Extra candidates fetched so ties at the cut-off can be re-ordered. */
#define EXTRA_CANDIDATES 5

retrieve_params retrieve_default_params(void)
{
    return (retrieve_params){
        .top_k = 5,
        .snippet_chars = 120,
        .mode = RETRIEVE_AUTO,
        .candidates = 50,
        .rrf_k = 60,
        .dup_threshold = 0.85,
        .mmr_lambda = 0.7,
        .min_score = NAN,
        .rerank_top = 20,
        .vindex = store_vindex_default_params(),
    };
}

const char *retrieve_mode_name(retrieve_mode m)
{
    switch (m) {
    case RETRIEVE_BM25:
        return "bm25";
    case RETRIEVE_DENSE:
        return "dense";
    case RETRIEVE_HYBRID:
        return "hybrid";
    default:
        return "auto";
    }
}

int retrieve_parse_mode(const char *s, retrieve_mode *out)
{
    static const retrieve_mode all[] = {RETRIEVE_AUTO, RETRIEVE_BM25, RETRIEVE_DENSE,
                                        RETRIEVE_HYBRID};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (!strcmp(s, retrieve_mode_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    return -1;
}

typedef struct {
    const qterms *q;
    const qterms *alias; /* stand-ins for unseen words (put_unseen_stand_ins) */
    const int *alias_of; /* (alias->n) the index in q each stands in for */
    unsigned char *seen; /* (q->n) */
    int distinct;
} cover_ctx;

static int cover_cb(void *ctx, const dq_term *t)
{
    cover_ctx *c = ctx;
    int i = qterms_find(c->q, t->text, t->len);
    if (i < 0 && c->alias->n) {
        int a = qterms_find(c->alias, t->text, t->len);
        i = a >= 0 ? c->alias_of[a] : -1;
    }
    if (i >= 0 && !c->seen[i]) {
        c->seen[i] = 1;
        c->distinct++;
    }
    return 0;
}

/* The distinct question terms a text holds, a stand-in (alias, NULL: none)
 * counting as the word it stands for. */
static int coverage_of(const qterms *q, const qterms *alias, const int *alias_of,
                       const char *text)
{
    if (!q->n)
        return 0;
    qterms none = {0};
    unsigned char *seen = dq_calloc(q->n, 1);
    cover_ctx cc = {q, alias ? alias : &none, alias_of, seen, 0};
    text_terms(text, strlen(text), TERMS_UNIGRAMS | TERMS_BIGRAMS, cover_cb, &cc);
    free(seen);
    return cc.distinct;
}

typedef struct {
    size_t index; /* into the store's hits */
    double score; /* BM25, scaled by coverage in long documents */
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

/* Suffixes cut from a word no chunk holds to find the indexed words of its
 * family, longest first ("cyclicality" -> "cyclic": "cyclical"). */
static const char *const unseen_suffixes[] = {
    "ization", "ations", "ality", "ities", "ation", "ments", "ness", "ment", "ings",
    "ity", "ies", "ing", "ive", "ous", "ful", "ed", "al", "ic", "ly", "es", "s", "y",
};

/* Words of the question (q) that no chunk holds in any form ("cyclicality"
 * where a page says "cyclical") match nothing; the most widespread indexed
 * words that begin with their stem are searched beside them, and a chunk
 * holding one counts as holding the word: alias receives them and alias_of
 * (malloc'd, alias->n) the index in q of the word each stands in for.
 * (Stems are not indexed: a stemmed index would merge "operating" and
 * "operations" everywhere, where this only reaches for a missing word.) */
static int put_unseen_stand_ins(store *st, const qterms *q, dq_buf *match, qterms *alias,
                                int **alias_of)
{
    enum { STEM_MIN = 5, STAND_INS = 2 };
    size_t cap = 0;
    *alias_of = NULL;
    int rc = 0;
    for (size_t i = 0; i < q->n && rc == 0; i++) {
        const qterm *t = &q->items[i];
        bool word = !t->cjk && t->len >= STEM_MIN + 2;
        for (int j = 0; j < t->len && word; j++)
            word = t->text[j] >= 'a' && t->text[j] <= 'z';
        int seen = word ? store_term_variant(st, t->text) : 1;
        if (seen != 0) {
            rc = seen < 0 ? -1 : 0;
            continue;
        }
        size_t n = (size_t)t->len;
        for (size_t k = 0; k < sizeof unseen_suffixes / sizeof *unseen_suffixes; k++) {
            size_t sl = strlen(unseen_suffixes[k]);
            if (n >= STEM_MIN + sl && !memcmp(t->text + n - sl, unseen_suffixes[k], sl)) {
                n -= sl;
                break;
            }
        }
        char *stem = dq_strndup(t->text, n), *found[STAND_INS];
        int got = store_terms_beginning(st, stem, STAND_INS, found);
        rc = got < 0 ? -1 : 0;
        for (int k = 0; k < got; k++) {
            qterm stand_in = {found[k], (int)strlen(found[k]), false};
            dq_buf_puts(match, " OR ");
            query_put_quoted(match, &stand_in);
            DQ_GROW(alias->items, alias->cap, alias->n + 1);
            DQ_GROW(*alias_of, cap, alias->n + 1);
            (*alias_of)[alias->n] = (int)i;
            alias->items[alias->n++] = stand_in;
        }
        free(stem);
    }
    return rc < 0 ? -1 : 0;
}

/* Whether the documents searched (scope's, or all) are long ones. */
static int long_documents(store *st, const retrieve_scope *scope, bool *out)
{
    size_t n_docs = scope ? scope->n_docs : 0;
    double per_doc = 0;
    if (store_chunks_per_document(st, n_docs ? scope->docs : NULL, n_docs, &per_doc) < 0)
        return -1;
    *out = per_doc >= LONG_DOCUMENT_CHUNKS;
    return 0;
}

/* The best k BM25 hits, ties ordered by coverage: hits->items re-ordered
 * in place (best first) and cut to k. *match is the FTS5 expression. */

static int bm25_ranked(store *st, const char *question, int k, const retrieve_scope *scope,
                       bool long_docs, store_hits *hits, char **match)
{
    memset(hits, 0, sizeof *hits);
    size_t n_docs = scope ? scope->n_docs : 0;
    /* Word pairs sharpen the search inside long documents, where each word
     * of a question is on many chunks; over short passages they only tilt
     * the ranking toward phrasing (SQuAD dev hit@5 0.912 -> 0.905). */
    *match = query_build_match(question, long_docs);
    if (!*match)
        return -1;
    qterms q = {0}, alias = {0};
    int *alias_of = NULL;
    qterms_build(question, TERMS_BIGRAMS, &q);
    dq_buf m = DQ_BUF_INIT;
    dq_buf_puts(&m, *match);
    free(*match);
    int rc = put_unseen_stand_ins(st, &q, &m, &alias, &alias_of);
    *match = dq_buf_take(&m);
    if (rc == 0)
        rc = store_search_fts_in(st, *match, k + EXTRA_CANDIDATES, n_docs ? scope->docs : NULL,
                                 n_docs, hits);
    if (rc < 0) {
        free(*match);
        *match = NULL;
        qterms_free(&q);
        qterms_free(&alias);
        free(alias_of);
        return -1;
    }

    ranked *order = dq_calloc(hits->n ? hits->n : 1, sizeof *order);
    for (size_t i = 0; i < hits->n; i++) {
        const char *t = hits->items[i].text ? hits->items[i].text : "";
        int distinct = coverage_of(&q, &alias, alias_of, t);
        order[i] = (ranked){i, hits->items[i].score, distinct};
        if (long_docs && q.n) {
            /* In a long document a rare word repeated on one page (a
             * schedule's label) outscores the page that holds the rest of
             * the question; what share of the question a chunk holds
             * scales its score there. */
            order[i].score *= 1.0 + (double)distinct / (double)q.n;
            hits->items[i].score = order[i].score;
        }
    }
    qsort(order, hits->n, sizeof *order, ranked_cmp);

    store_hit *sorted = dq_calloc(hits->n ? hits->n : 1, sizeof *sorted);
    for (size_t i = 0; i < hits->n; i++)
        sorted[i] = hits->items[order[i].index];
    free(hits->items);
    hits->items = sorted;
    free(order);
    qterms_free(&q);
    qterms_free(&alias);
    free(alias_of);
    size_t n = hits->n < (size_t)k ? hits->n : (size_t)k;
    for (size_t i = n; i < hits->n; i++)
        store_hit_free(&hits->items[i]);
    hits->n = n;
    return 0;
}

static void hit_scores_clear(retrieve_hit *h)
{
    h->score = h->bm25 = h->dense = h->fused = h->rerank = NAN;
    h->bm25_rank = h->dense_rank = 0;
}

int retrieve_bm25(store *st, const char *question, const retrieve_params *params,
                  retrieve_result *out)
{
    memset(out, 0, sizeof *out);
    out->best_dropped = NAN;
    retrieve_params p = params ? *params : retrieve_default_params();
    if (p.top_k <= 0)
        p.top_k = retrieve_default_params().top_k;
    store_hits hits;
    char *match;
    bool long_docs;
    if (long_documents(st, NULL, &long_docs) < 0 ||
        bm25_ranked(st, question, p.top_k, NULL, long_docs, &hits, &match) < 0)
        return -1;
    out->items = dq_calloc(hits.n ? hits.n : 1, sizeof *out->items);
    for (size_t i = 0; i < hits.n; i++) {
        retrieve_hit *h = &out->items[i];
        hit_scores_clear(h);
        h->chunk = hits.items[i];
        h->score = h->bm25 = h->chunk.score;
        h->bm25_rank = (int)i + 1;
        h->snippet = retrieve_snippet(h->chunk.text, question, p.snippet_chars);
    }
    out->n = hits.n;
    out->match = match;
    out->mode = RETRIEVE_BM25;
    free(hits.items);
    return 0;
}

void retrieve_result_free(retrieve_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        store_hit_free(&r->items[i].chunk);
        free(r->items[i].snippet);
        free(r->items[i].page_chunks);
    }
    free(r->items);
    free(r->match);
    retrieve_scope_free(&r->scope);
    memset(r, 0, sizeof *r);
}


/* ---- retrieve_search: bm25 | dense | hybrid ------------------------------ */

typedef struct {
    store_hit chunk;
    bool have_chunk;
    double bm25, dense, fused, rerank, score;
    int bm25_rank, dense_rank;
    float *vec; /* (dim) unit length, or NULL */
    rank_shingles sh; /* built by the duplicate check for MMR to reuse; h NULL: not yet */
} cand;

typedef struct {
    cand *c; /* (n) */
    size_t n, cap;
    bool long_docs; /* the documents searched are long: a page is a place (same_place) */
} pool;

static cand *pool_find(pool *p, int64_t id, bool add)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->c[i].chunk.chunk_id == id)
            return &p->c[i];
    if (!add)
        return NULL;
    DQ_GROW(p->c, p->cap, p->n + 1);
    cand *c = &p->c[p->n++];
    memset(c, 0, sizeof *c);
    c->chunk.chunk_id = id;
    c->bm25 = c->dense = c->fused = c->rerank = c->score = NAN;
    return c;
}

/* Frees what a candidate owns (not the candidate: it lives in a pool). */
static void cand_free(cand *c)
{
    store_hit_free(&c->chunk);
    free(c->vec);
    rank_shingles_free(&c->sh);
}

static void pool_free(pool *p)
{
    for (size_t i = 0; i < p->n; i++)
        cand_free(&p->c[i]);
    free(p->c);
}

static double dot(const float *a, const float *b, int dim)
{
    double s = 0;
    for (int i = 0; i < dim; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* Resolves AUTO and checks that dense retrieval can run; *n_vectors is how
 * many vectors of emb's model the store holds (after syncing FAISS). */
static int resolve_mode(store *st, struct embedder *emb, retrieve_mode *mode)
{
    if (*mode == RETRIEVE_BM25 || (*mode == RETRIEVE_AUTO && !emb)) {
        *mode = RETRIEVE_BM25;
        return 0;
    }
    if (!emb) {
        dq_set_error("%s retrieval needs an embedding model: set [embed] model or url in the "
                     "config",
                     retrieve_mode_name(*mode));
        return -1;
    }
    store_vx_report rep;
    if (store_vindex_sync(st, embedder_identity(emb), &rep) < 0)
        return -1;
    if (rep.vectors == 0) {
        if (*mode == RETRIEVE_AUTO) {
            *mode = RETRIEVE_BM25;
            return 0;
        }
        dq_set_error("the store has no vectors from model '%s': run 'docqa ingest' with it "
                     "configured",
                     embedder_identity(emb));
        return -1;
    }
    if (*mode == RETRIEVE_AUTO)
        *mode = RETRIEVE_HYBRID;
    return 0;
}

static int cand_cmp_score(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->chunk.chunk_id < y->chunk.chunk_id ? -1 : x->chunk.chunk_id > y->chunk.chunk_id;
}

/* Orders the pool by the run's ranking: fused (hybrid), dense, or BM25. */
static void rank_pool(pool *pl, retrieve_mode mode, int rrf_k)
{
    if (mode == RETRIEVE_HYBRID) {
        rank_item *lists[2];
        size_t n[2] = {0, 0};
        lists[0] = dq_calloc(pl->n ? pl->n : 1, sizeof(rank_item));
        lists[1] = dq_calloc(pl->n ? pl->n : 1, sizeof(rank_item));
        for (size_t i = 0; i < pl->n; i++) {
            const cand *c = &pl->c[i];
            if (c->bm25_rank)
                lists[0][c->bm25_rank - 1] = (rank_item){c->chunk.chunk_id, c->bm25}, n[0]++;
            if (c->dense_rank)
                lists[1][c->dense_rank - 1] = (rank_item){c->chunk.chunk_id, c->dense}, n[1]++;
        }
        size_t nf;
        rank_item *f = rank_fuse_rrf((const rank_item *const *)lists, n, 2, rrf_k, &nf);
        cand *sorted = dq_calloc(pl->n ? pl->n : 1, sizeof *sorted);
        for (size_t i = 0; i < nf; i++) {
            sorted[i] = *pool_find(pl, f[i].id, false);
            sorted[i].fused = f[i].score;
            sorted[i].score = sorted[i].dense;
        }
        free(pl->c);
        pl->c = sorted;
        pl->cap = pl->n;
        free(f);
        free(lists[0]);
        free(lists[1]);
        return;
    }
    for (size_t i = 0; i < pl->n; i++)
        pl->c[i].score = mode == RETRIEVE_DENSE ? pl->c[i].dense : pl->c[i].bm25;
    if (mode == RETRIEVE_DENSE)
        qsort(pl->c, pl->n, sizeof *pl->c, cand_cmp_score);
    /* BM25: already in bm25_ranked's order (coverage breaks ties). */
}

/* Drops near-duplicates (keeping the better-ranked copy) in place, and
 * everything after the first max_kept distinct candidates. */
static void drop_duplicates(pool *pl, double threshold, size_t max_kept)
{
    if (threshold > 1.0 || pl->n < 2) {
        threshold = 2.0; /* nothing is a copy; still cut at max_kept */
        if (pl->n < 2)
            return;
    }
    const char **texts = dq_calloc(pl->n, sizeof *texts);
    bool *dup = dq_calloc(pl->n, sizeof *dup);
    for (size_t i = 0; i < pl->n; i++)
        texts[i] = pl->c[i].chunk.text ? pl->c[i].chunk.text : "";
    rank_shingles *sh = dq_calloc(pl->n, sizeof *sh);
    rank_mark_duplicates_sets(texts, pl->n, threshold, max_kept, dup, sh);
    size_t u = 0;
    for (size_t i = 0; i < pl->n; i++) {
        rank_shingles_free(&pl->c[i].sh);
        pl->c[i].sh = sh[i]; /* moved: MMR compares the same texts */
        if (dup[i])
            cand_free(&pl->c[i]);
        else
            pl->c[u++] = pl->c[i];
    }
    pl->n = u;
    free(sh);
    free(texts);
    free(dup);
}

static int cand_cmp_rerank(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->rerank != y->rerank)
        return x->rerank > y->rerank ? -1 : 1;
    return 0;
}

/* The cross-encoder reads the best `top` candidates with the question and
 * reorders them by its logit; the rest are dropped, being worse by the
 * ranking that chose which to read. */
static int rerank_pool(pool *pl, struct reranker *rr, const char *question, size_t top)
{
    if (pl->n > top) {
        for (size_t i = top; i < pl->n; i++)
            cand_free(&pl->c[i]);
        pl->n = top;
    }
    if (!pl->n)
        return 0;
    const char **texts = dq_calloc(pl->n, sizeof *texts);
    float *logits = dq_calloc(pl->n, sizeof *logits);
    for (size_t i = 0; i < pl->n; i++)
        texts[i] = pl->c[i].chunk.text ? pl->c[i].chunk.text : "";
    int rc = reranker_score(rr, question, texts, pl->n, logits);
    if (rc == 0) {
        for (size_t i = 0; i < pl->n; i++)
            pl->c[i].score = pl->c[i].rerank = logits[i];
        /* Stable for equal logits: qsort is not, so ties keep rank order via
         * a pass of insertion sort instead. */
        for (size_t i = 1; i < pl->n; i++) {
            cand c = pl->c[i];
            size_t j = i;
            while (j > 0 && cand_cmp_rerank(&pl->c[j - 1], &c) > 0) {
                pl->c[j] = pl->c[j - 1];
                j--;
            }
            pl->c[j] = c;
        }
    }
    free(texts);
    free(logits);
    return rc;
}

/* MMR over the pool (in rank order); returns the chosen indexes (k).
 * Similarities are computed as MMR asks for them (rank_mmr_fn). */
typedef struct {
    const pool *pl;
    int dim;
    bool shingles; /* false: compare by vectors */
} mmr_ctx;

/* Inside long documents two chunks of one document with the same page span
 * are one place to a reader who is cited pages: MMR counts them as alike as
 * two copies, so a second chunk of a page comes after the best chunks of
 * other pages (FinanceBench dev page hit@5 0.512 -> 0.537, long Chinese
 * manuals unchanged). Chunks that only share one page of their spans stay
 * apart: a chunk running across a page break and the next one hold
 * different text, and counting them alike pushed the chunk that holds the
 * answer out of the top 5 of the long Chinese manuals (strictly 0.967 ->
 * 0.908). Short documents are left alone: there a page is the whole
 * passage, and the CMRC dev answers found in the top 5 fell 0.821 -> 0.793. */
static bool same_place(const store_hit *a, const store_hit *b)
{
    return a->doc_id == b->doc_id && a->page_start > 0 && a->page_start == b->page_start &&
           a->page_end == b->page_end;
}

typedef struct {
    const store_hit *chunk;
    size_t index; /* into the pool */
} page_part;

static int by_ordinal(const void *a, const void *b)
{
    const page_part *x = a, *y = b;
    return (x->chunk->ordinal > y->chunk->ordinal) - (x->chunk->ordinal < y->chunk->ordinal);
}

/* Page as a unit: a chosen chunk of a long document takes in the pool's
 * other chunks of its page (none chosen themselves) when together they hold
 * more of the question's terms than it does alone, so a page whose answer
 * is spread over chunks reaches the reader (and the prompt) whole. Which
 * pages rank is unchanged: MMR already counts a page's chunks as one place.
 * taken[] marks the pool's chunks already chosen or taken in. */
static void take_in_page(pool *pl, size_t self, bool *taken, const qterms *q, retrieve_hit *h)
{
    page_part *part = dq_calloc(pl->n, sizeof *part);
    size_t n = 0;
    part[n++] = (page_part){&pl->c[self].chunk, self};
    for (size_t j = 0; j < pl->n; j++)
        if (!taken[j] && pl->c[j].chunk.text && same_place(&pl->c[self].chunk, &pl->c[j].chunk))
            part[n++] = (page_part){&pl->c[j].chunk, j};
    const char *own = pl->c[self].chunk.text ? pl->c[self].chunk.text : "";
    dq_buf text = DQ_BUF_INIT;
    if (n > 1) {
        qsort(part, n, sizeof *part, by_ordinal);
        for (size_t i = 0; i < n; i++) {
            if (i)
                dq_buf_putc(&text, '\n');
            dq_buf_puts(&text, part[i].chunk->text ? part[i].chunk->text : "");
        }
    }
    if (n > 1 && coverage_of(q, NULL, NULL, text.data) > coverage_of(q, NULL, NULL, own)) {
        h->page_chunks = dq_calloc(n, sizeof *h->page_chunks);
        for (size_t i = 0; i < n; i++) {
            h->page_chunks[i] = part[i].chunk->chunk_id;
            taken[part[i].index] = true;
        }
        h->n_page_chunks = n;
        free(pl->c[self].chunk.text);
        pl->c[self].chunk.text = dq_buf_take(&text);
    }
    dq_buf_free(&text);
    free(part);
}

static double mmr_sim(void *ctx, size_t i, size_t j)
{
    const mmr_ctx *m = ctx;
    if (m->pl->long_docs && same_place(&m->pl->c[i].chunk, &m->pl->c[j].chunk))
        return 1.0;
    double s = m->shingles ? rank_jaccard(&m->pl->c[i].sh, &m->pl->c[j].sh)
                     : dot(m->pl->c[i].vec, m->pl->c[j].vec, m->dim);
    return s < 0 ? 0 : s;
}

static size_t diversify(pool *pl, int dim, double lambda, size_t k, size_t *order)
{
    size_t n = pl->n;
    if (!n)
        return 0;
    double *rel = dq_calloc(n, sizeof *rel);
    /* Relevance on 0..1 like the similarities: rank position, so BM25's
     * unbounded scores and cosines are treated alike and the ranking's
     * order is what MMR trades against novelty. */
    for (size_t i = 0; i < n; i++)
        rel[i] = n > 1 ? 1.0 - (double)i / (double)(n - 1) : 1.0;
    bool vectors = dim > 0;
    for (size_t i = 0; i < n && vectors; i++)
        vectors = pl->c[i].vec != NULL;
    bool shingles = !vectors && k > 1; /* one pick compares nothing */
    for (size_t i = 0; i < n && shingles; i++)
        if (!pl->c[i].sh.h) /* the duplicate check did not read it */
            rank_shingles_build(pl->c[i].chunk.text ? pl->c[i].chunk.text : "", &pl->c[i].sh);
    mmr_ctx m = {pl, dim, shingles};
    size_t got = rank_mmr_fn(rel, n, lambda, k, mmr_sim, &m, order);
    free(rel);
    return got;
}

static int rank_item_cmp(const void *a, const void *b)
{
    const rank_item *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool in_scope(const retrieve_scope *scope, int64_t doc_id)
{
    if (!scope->n_docs)
        return true;
    for (size_t i = 0; i < scope->n_docs; i++)
        if (scope->docs[i] == doc_id)
            return true;
    return false;
}

/* The dense retriever's first half, the question's embedding and the
 * vector index search, which touch no SQLite: in a hybrid search it runs on
 * a thread of its own while BM25 runs on the caller's. */
typedef struct {
    store *st;
    struct embedder *emb;
    const char *question;
    float *q;
    int dim, k;
    int64_t *ids;
    float *scores;
    int n, rc;
    char err[512];
} dense_job;

static void *dense_main(void *arg)
{
    dense_job *j = arg;
    j->rc = -1;
    if (embedder_encode(j->emb, &j->question, 1, j->q) < 0)
        goto fail;
    store_vec_normalise(j->q, j->dim);
    if (store_search_vectors_synced(j->st, j->q, j->dim, j->k, j->ids, j->scores, &j->n) < 0)
        goto fail;
    j->rc = 0;
    return NULL;
fail:
    snprintf(j->err, sizeof j->err, "%s", dq_last_error()); /* the error is per thread */
    return NULL;
}

/* An 8-bit index (store_vx_report.quantized) is asked for this many times
 * the candidates, and they are re-scored from the float vectors: its own
 * scores are off by about 1e-3, enough to reorder near neighbours. */
#define QUANTIZED_OVERFETCH 2

/* Float vectors read from the store during one search, unit length, so a
 * candidate the re-scoring read is not read again for MMR. */
typedef struct {
    int64_t *ids; /* (n) */
    float *vecs;  /* (n, dim) */
    size_t n;
    int dim;
} vec_cache;

static const float *vec_cache_find(const vec_cache *vc, int64_t id)
{
    for (size_t i = 0; i < vc->n; i++)
        if (vc->ids[i] == id)
            return vc->vecs + i * (size_t)vc->dim;
    return NULL;
}

static void vec_cache_free(vec_cache *vc)
{
    free(vc->ids);
    free(vc->vecs);
}

/* Exact scores for dl (n) from the store's float vectors, sorted best first
 * (ties by id); an id whose vector is gone keeps the index's score (its chunk
 * is skipped later as removed). The vectors read are kept in vc. */
static int rescore_dense(store *st, const char *model, const float *q, int dim, rank_item *dl,
                         int n, vec_cache *vc)
{
    vc->dim = dim;
    vc->ids = dq_malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    vc->vecs = dq_malloc(sizeof(float) * (size_t)(n ? n : 1) * (size_t)dim);
    for (int i = 0; i < n; i++) {
        float *v = vc->vecs + vc->n * (size_t)dim;
        int d = dim;
        int got = store_get_vector(st, dl[i].id, model, v, &d);
        if (got < 0)
            return -1;
        if (got && d == dim) {
            store_vec_normalise(v, dim);
            dl[i].score = dot(q, v, dim);
            vc->ids[vc->n++] = dl[i].id;
        }
    }
    qsort(dl, (size_t)n, sizeof *dl, rank_item_cmp);
    return 0;
}

static int gather(store *st, struct embedder *emb, const char *question,
                  const retrieve_params *p, retrieve_mode mode, const retrieve_scope *scope,
                  pool *pl, char **match, int *dim_out)
{
    *dim_out = 0;
    if (long_documents(st, scope, &pl->long_docs) < 0)
        return -1;
    char *words = mode == RETRIEVE_HYBRID ? retrieve_build_match(question) : NULL;
    /* A question of stop-words only has no BM25 list; hybrid runs dense alone. */
    bool bm25 = mode == RETRIEVE_BM25 || words;
    free(words);
    bool dense = mode != RETRIEVE_BM25;
    dense_job job = {.st = st, .emb = emb, .question = question, .k = p->candidates};
    pthread_t thread;
    bool threaded = false;
    store_vx_report vx = {0};
    vec_cache vc = {0};
    if (dense) {
        job.dim = embedder_dim(emb);
        if (job.dim <= 0)
            return -1;
        /* Synced here, so the thread reads a current index and no SQLite. */
        if (store_vindex_sync(st, embedder_identity(emb), &vx) < 0)
            return -1;
        if (vx.quantized)
            job.k *= QUANTIZED_OVERFETCH;
        job.q = dq_malloc(sizeof(float) * (size_t)job.dim);
        job.ids = dq_malloc(sizeof(int64_t) * (size_t)job.k);
        job.scores = dq_malloc(sizeof(float) * (size_t)job.k);
        threaded = bm25 && pthread_create(&thread, NULL, dense_main, &job) == 0;
    }
    int rc = -1;
    if (bm25) {
        store_hits hits;
        if (bm25_ranked(st, question, p->candidates, scope, pl->long_docs, &hits, match) < 0)
            goto done;
        for (size_t i = 0; i < hits.n; i++) {
            cand *c = pool_find(pl, hits.items[i].chunk_id, true);
            c->chunk = hits.items[i];
            c->have_chunk = true;
            c->bm25 = c->chunk.score;
            c->bm25_rank = (int)i + 1;
        }
        free(hits.items);
    }
    if (!dense) {
        rc = 0;
        goto done;
    }
    if (threaded) {
        pthread_join(thread, NULL);
        threaded = false;
    } else {
        dense_main(&job);
    }
    if (job.rc < 0) {
        dq_set_error("%s", job.err);
        goto done;
    }
    const char *model = embedder_identity(emb);
    int dim = job.dim, n = job.n;
    const float *q = job.q;
    const int64_t *ids = job.ids;
    const float *scores = job.scores;
    /* FAISS leaves equal scores in no set order; ids break ties, so a
     * ranking (and RRF over it) is the same on every run. */
    rank_item *dl = dq_calloc(n ? (size_t)n : 1, sizeof *dl);
    for (int i = 0; i < n; i++)
        dl[i] = (rank_item){ids[i], scores[i]};
    qsort(dl, (size_t)n, sizeof *dl, rank_item_cmp);
    if (vx.quantized) {
        if (rescore_dense(st, model, q, dim, dl, n, &vc) < 0) {
            free(dl);
            goto done;
        }
        if (n > p->candidates)
            n = p->candidates;
    }
    int rank = 0;
    for (int i = 0; i < n; i++) {
        cand *c = pool_find(pl, dl[i].id, false);
        if (!c) {
            store_hit h;
            int found = store_get_chunk(st, dl[i].id, &h);
            if (found < 0) {
                free(dl);
                goto done;
            }
            /* The index was synced in an earlier read than this one: a
             * writer may have removed the chunk since, and the store is the
             * truth. The vector index knows no documents: out-of-scope hits
             * go here too. */
            if (!found)
                continue;
            if (scope->n_docs && !in_scope(scope, h.doc_id)) {
                store_hit_free(&h);
                continue;
            }
            c = pool_find(pl, dl[i].id, true);
            c->chunk = h;
            c->have_chunk = true;
        }
        c->dense = dl[i].score;
        c->dense_rank = ++rank;
    }
    free(dl);
    for (size_t i = 0; i < pl->n; i++) {
        cand *c = &pl->c[i];
        int d = dim;
        c->vec = dq_malloc(sizeof(float) * (size_t)dim);
        const float *read = vec_cache_find(&vc, c->chunk.chunk_id);
        if (read) {
            memcpy(c->vec, read, sizeof(float) * (size_t)dim);
            c->dense = dot(q, c->vec, dim);
            continue;
        }
        int got = store_get_vector(st, c->chunk.chunk_id, model, c->vec, &d);
        if (got < 0)
            goto done;
        if (!got || d != dim) {
            free(c->vec);
            c->vec = NULL;
            continue;
        }
        store_vec_normalise(c->vec, dim);
        c->dense = dot(q, c->vec, dim);
    }
    *dim_out = dim;
    rc = 0;
done:
    if (threaded)
        pthread_join(thread, NULL); /* BM25 failed: the thread still reads the index */
    free(job.q);
    free(job.ids);
    free(job.scores);
    vec_cache_free(&vc);
    return rc;
}

int retrieve_search(store *st, struct embedder *emb, const char *question,
                    const retrieve_params *params, retrieve_result *out)
{
    memset(out, 0, sizeof *out);
    out->best_dropped = NAN;
    retrieve_params d = retrieve_default_params();
    retrieve_params p = params ? *params : d;
    if (p.top_k <= 0)
        p.top_k = d.top_k;
    if (p.candidates < p.top_k)
        p.candidates = p.top_k > d.candidates ? p.top_k : d.candidates;
    if (p.rrf_k <= 0)
        p.rrf_k = d.rrf_k;
    store_set_vindex_params(st, &p.vindex);
    retrieve_mode mode = p.mode;
    if (resolve_mode(st, emb, &mode) < 0)
        return -1;

    pool pl = {0};
    char *match = NULL;
    int dim;
    if ((p.doc || !p.no_scope) && retrieve_scope_find(st, question, p.doc, &out->scope) < 0)
        return -1;
    if (out->scope.kind == RETRIEVE_SCOPE_CHOSEN && out->scope.n_docs == 0) {
        out->mode = mode; /* no document matches: an empty result, said by the scope */
        return 0;
    }
    int rc = gather(st, emb, question, &p, mode, &out->scope, &pl, &match, &dim);
    if (rc == 0 && pl.n == 0 && out->scope.kind == RETRIEVE_SCOPE_NAMED) {
        /* The named documents hold none of the question's words: a wrong
         * guess at the scope must not cost the answer, so search them all. */
        free(match);
        match = NULL;
        out->scope.widened = true;
        retrieve_scope all = {0};
        rc = gather(st, emb, question, &p, mode, &all, &pl, &match, &dim);
    }
    if (rc < 0) {
        pool_free(&pl);
        free(match);
        retrieve_result_free(out);
        return -1;
    }
    rank_pool(&pl, mode, p.rrf_k);
    /* Later stages read at most the reranker's share or MMR's 4k. */
    size_t k = (size_t)p.top_k;
    size_t need = p.reranker && (size_t)p.rerank_top > 4 * k ? (size_t)p.rerank_top : 4 * k;
    drop_duplicates(&pl, p.dup_threshold, need);
    if (p.reranker) {
        size_t top = (size_t)(p.rerank_top > p.top_k ? p.rerank_top : p.top_k);
        if (rerank_pool(&pl, p.reranker, question, top) < 0) {
            pool_free(&pl);
            free(match);
            return -1;
        }
        out->reranked = true;
    }
    if (!isnan(p.min_score)) {
        size_t u = 0;
        for (size_t i = 0; i < pl.n; i++) {
            cand *c = &pl.c[i];
            if (isnan(c->score) || c->score < p.min_score) {
                if (isnan(out->best_dropped) || c->score > out->best_dropped)
                    out->best_dropped = c->score;
                out->below_threshold++;
                cand_free(c);
            } else {
                pl.c[u++] = *c;
            }
        }
        pl.n = u;
    }
    /* MMR reads the best 4k only: diversity should promote a passage from
     * near the top, not dig one out of the tail, and the pairwise
     * similarities it needs grow as the square of the pool. */
    if (pl.n > 4 * k) {
        for (size_t i = 4 * k; i < pl.n; i++)
            cand_free(&pl.c[i]);
        pl.n = 4 * k;
    }
    size_t *order = dq_calloc(k, sizeof *order);
    size_t n = diversify(&pl, dim, p.mmr_lambda, k, order);
    out->items = dq_calloc(n ? n : 1, sizeof *out->items);
    bool *taken = dq_calloc(pl.n ? pl.n : 1, sizeof *taken);
    for (size_t i = 0; i < n; i++)
        taken[order[i]] = true;
    qterms q = {0};
    if (pl.long_docs)
        qterms_build(question, TERMS_BIGRAMS, &q);
    for (size_t i = 0; i < n; i++) {
        cand *c = &pl.c[order[i]];
        retrieve_hit *h = &out->items[i];
        if (pl.long_docs)
            take_in_page(&pl, order[i], taken, &q, h);
        h->chunk = c->chunk;
        memset(&c->chunk, 0, sizeof c->chunk); /* moved */
        h->score = c->score;
        h->chunk.score = c->score;
        h->bm25 = c->bm25;
        h->dense = c->dense;
        h->fused = c->fused;
        h->rerank = c->rerank;
        h->bm25_rank = c->bm25_rank;
        h->dense_rank = c->dense_rank;
        h->snippet = retrieve_snippet(h->chunk.text, question, p.snippet_chars);
    }
    out->n = n;
    out->match = match;
    out->mode = mode;
    qterms_free(&q);
    free(taken);
    free(order);
    pool_free(&pl);
    return 0;
}
