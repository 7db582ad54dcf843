/* rank.h - the pure ranking steps retrieve_search() chains: reciprocal rank
 * fusion, near-duplicate removal and MMR diversity. No store, no model: they
 * work on ids, scores, texts and similarities, so tests can give them
 * hand-made rankings and expect exact orders. */
#ifndef DQ_RETRIEVE_RANK_H
#define DQ_RETRIEVE_RANK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t id;
    double score;
} rank_item;

/* Reciprocal rank fusion (Cormack et al. 2009): each id scores the sum over
 * the lists holding it of 1 / (k + rank), rank counted from 1. lists[i] has
 * n[i] items best first, an id at most once per list. Returns the union,
 * best first (ties: the better best single rank, then the smaller id), in a
 * malloc'd array of *n_out items. */
rank_item *rank_fuse_rrf(const rank_item *const *lists, const size_t *n, size_t n_lists, int k,
                         size_t *n_out);

/* A text's shingles: hashes of every run of 4 code points after dropping
 * spaces and punctuation and folding ASCII case and full-width forms, sorted
 * and unique, so page numbers and reflowed lines barely move it. */
typedef struct {
    uint64_t *h; /* (n) sorted, unique */
    size_t n;
} rank_shingles;

void rank_shingles_build(const char *text, rank_shingles *out);
void rank_shingles_free(rank_shingles *s);
/* Jaccard similarity of two shingle sets, 0..1 (two empty sets: 1). */
double rank_jaccard(const rank_shingles *a, const rank_shingles *b);

/* Near-duplicate removal over texts (n) in rank order: dup[i] is set when
 * text i's Jaccard similarity to an earlier kept text is >= threshold, so
 * the best-ranked copy stays. Once max_kept texts are kept the rest are
 * marked too without being read (the caller wants no more). Returns the
 * number kept. */
size_t rank_mark_duplicates(const char *const *texts, size_t n, double threshold,
                            size_t max_kept, bool *dup);
/* The same, handing over the shingle sets it built: sh (n) receives text i's
 * set for every i it read (h != NULL) and zeroes for the rest, for the
 * caller to reuse (MMR compares the same texts) and to free. */
size_t rank_mark_duplicates_sets(const char *const *texts, size_t n, double threshold,
                                 size_t max_kept, bool *dup, rank_shingles *sh);

/* Maximal marginal relevance (Carbonell & Goldstein 1998): picks up to k of
 * n candidates, each time the one maximising
 *     lambda * rel[i] - (1 - lambda) * max over picked j of sim[i * n + j],
 * ties to the smaller index. rel should be on the same 0..1 scale as sim.
 * order (k) receives candidate indexes; returns how many were picked. */
size_t rank_mmr(const double *rel, const double *sim, size_t n, double lambda, size_t k,
                size_t *order);
/* The same with similarities computed on demand: sim(ctx, i, j) (i a
 * candidate, j a pick) is asked only of the columns of the candidates picked,
 * at most k * n look-ups rather than the n * n matrix, which is most of MMR's
 * cost when a look-up is a text comparison. With lambda in 0..1 a candidate
 * is compared with the picks after the first only when it could be the next
 * pick, which is usually a few per step; the picks are the same. */
typedef double (*rank_sim_fn)(void *ctx, size_t i, size_t j);
size_t rank_mmr_fn(const double *rel, size_t n, double lambda, size_t k, rank_sim_fn sim,
                   void *ctx, size_t *order);

#endif
