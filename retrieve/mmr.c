/* mmr.c - maximal marginal relevance: a relevant set that is not five
 * paraphrases of one paragraph.
 *
 * Greedy, as in the paper, with the best similarity to the picked set kept
 * per candidate: at most k * n similarity look-ups (k = 10 of n = 100 is a
 * thousand), and far fewer as the look-ups are made only for candidates
 * that could be the next pick.
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
    /* Lazily (lambda in 0..1): a candidate's max_sim only grows as picks are
     * added, so its value only falls, and a value computed against the first
     * `seen` picks bounds the true one from above. Each step takes the best
     * value; while that one is out of date it is brought up to date and the
     * step looks again. The pick is the eager loop's, ties included, and
     * candidates far down the list are never compared with most picks. */
    bool lazy = lambda >= 0.0 && lambda <= 1.0;
    size_t *seen = dq_calloc(n ? n : 1, sizeof *seen); /* picks max_sim[i] covers */
    size_t got = 0;
    while (got < k) {
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
        if (seen[best] < got) { /* out of date: compare with the picks it missed */
            for (size_t t = seen[best]; t < got; t++) {
                double s = sim(ctx, best, order[t]);
                if (t == 0 || s > max_sim[best])
                    max_sim[best] = s;
            }
            seen[best] = got;
            continue;
        }
        picked[best] = true;
        order[got++] = best;
        if (got == k)
            break; /* the last pick: no one is compared with it */
        /* The first pick's column is read whole: before it every value is
         * relevance alone, which bounds nothing when similarities may be
         * negative. Eager mode reads every column. */
        if (got == 1 || !lazy)
            for (size_t i = 0; i < n; i++) {
                if (picked[i])
                    continue;
                double s = sim(ctx, i, best);
                if (got == 1 || s > max_sim[i])
                    max_sim[i] = s;
                seen[i] = got;
            }
    }
    free(picked);
    free(max_sim);
    free(seen);
    return got;
}
