/* mmr.c - maximal marginal relevance: a relevant set that is not five
 * paraphrases of one paragraph.
 *
 * Greedy, as in the paper: O(k * n) similarity look-ups with the best
 * similarity to the picked set kept per candidate, so k = 10 of n = 100 is
 * a thousand steps.
 */
#include "retrieve/rank.h"

#include "common/common.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    const double *sim;
    size_t n;
} matrix;

static double matrix_sim(void *ctx, size_t i, size_t j)
{
    const matrix *m = ctx;
    return m->sim[i * m->n + j];
}

size_t rank_mmr(const double *rel, const double *sim, size_t n, double lambda, size_t k,
                size_t *order)
{
    matrix m = {sim, n};
    return rank_mmr_fn(rel, n, lambda, k, matrix_sim, &m, order);
}

size_t rank_mmr_fn(const double *rel, size_t n, double lambda, size_t k, rank_sim_fn sim,
                   void *ctx, size_t *order)
{
    if (k > n)
        k = n;
    bool *picked = dq_calloc(n ? n : 1, sizeof *picked);
    double *max_sim = dq_calloc(n ? n : 1, sizeof *max_sim);
    size_t got = 0;
    for (; got < k; got++) {
        size_t best = n;
        double best_v = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            if (picked[i])
                continue;
            double v = lambda * rel[i] - (got ? (1.0 - lambda) * max_sim[i] : 0.0);
            if (v > best_v) {
                best_v = v;
                best = i;
            }
        }
        if (best == n)
            break;
        picked[best] = true;
        order[got] = best;
        if (got + 1 == k)
            continue; /* the last pick: no one is compared with it */
        for (size_t i = 0; i < n; i++) {
            if (picked[i])
                continue;
            double s = sim(ctx, i, best);
            if (got == 0 || s > max_sim[i])
                max_sim[i] = s;
        }
    }
    free(picked);
    free(max_sim);
    return got;
}
