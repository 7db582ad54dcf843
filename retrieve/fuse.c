/* fuse.c - reciprocal rank fusion of several rankings into one.
 *
 * RRF uses ranks only, so BM25 scores (unbounded, corpus-dependent) and
 * cosine similarities (-1..1, model-dependent) need no calibration against
 * each other; k = 60 (the paper's) keeps one list's top hit from swamping
 * an id that both lists rank well.
 */
#include "retrieve/rank.h"

#include "common/common.h"

#include <stdlib.h>

typedef struct {
    int64_t id;
    double score;
    size_t best_rank;
} fused;

static int fused_cmp(const void *a, const void *b)
{
    const fused *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->best_rank != y->best_rank)
        return x->best_rank < y->best_rank ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int id_cmp(const void *a, const void *b)
{
    const fused *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

rank_item *rank_fuse_rrf(const rank_item *const *lists, const size_t *n, size_t n_lists, int k,
                         size_t *n_out)
{
    size_t total = 0;
    for (size_t l = 0; l < n_lists; l++)
        total += n[l];
    fused *all = dq_calloc(total ? total : 1, sizeof *all);
    size_t m = 0;
    for (size_t l = 0; l < n_lists; l++)
        for (size_t r = 0; r < n[l]; r++)
            all[m++] = (fused){lists[l][r].id, 1.0 / (double)(k + (int)r + 1), r + 1};
    /* Merge each id's entries: sort by id, sum the runs. */
    qsort(all, m, sizeof *all, id_cmp);
    size_t u = 0;
    for (size_t i = 0; i < m; i++) {
        if (u && all[u - 1].id == all[i].id) {
            all[u - 1].score += all[i].score;
            if (all[i].best_rank < all[u - 1].best_rank)
                all[u - 1].best_rank = all[i].best_rank;
        } else {
            all[u++] = all[i];
        }
    }
    qsort(all, u, sizeof *all, fused_cmp);
    rank_item *out = dq_calloc(u ? u : 1, sizeof *out);
    for (size_t i = 0; i < u; i++)
        out[i] = (rank_item){all[i].id, all[i].score};
    free(all);
    *n_out = u;
    return out;
}
