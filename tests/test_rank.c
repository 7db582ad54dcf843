/* test_rank.c - fusion, near-duplicates and MMR on hand-made rankings with
 * exact expected orders. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retrieve/rank.h"

Test(rank, rrf_sums_reciprocal_ranks)
{
    /* bm25: 1 2 3 ; dense: 3 4 1 */
    rank_item a[] = {{1, 9.0}, {2, 8.0}, {3, 7.0}};
    rank_item b[] = {{3, 0.9}, {4, 0.8}, {1, 0.7}};
    const rank_item *lists[] = {a, b};
    size_t n[] = {3, 3}, nf;
    rank_item *f = rank_fuse_rrf(lists, n, 2, 60, &nf);
    cr_assert_eq(nf, 4);
    /* 1: 1/61 + 1/63; 3: 1/63 + 1/61 (tie, best single rank 1 both -> smaller id);
     * 2: 1/62; 4: 1/62 (tie, rank 2 both -> smaller id) */
    cr_expect_eq(f[0].id, 1);
    cr_expect_eq(f[1].id, 3);
    cr_expect_eq(f[2].id, 2);
    cr_expect_eq(f[3].id, 4);
    cr_expect_float_eq(f[0].score, 1.0 / 61 + 1.0 / 63, 1e-12);
    cr_expect_float_eq(f[2].score, 1.0 / 62, 1e-12);
    free(f);
}

Test(rank, rrf_agreement_beats_one_list_winner)
{
    /* id 7 is second in both lists; 5 and 6 each top one list only */
    rank_item a[] = {{5, 1}, {7, 1}, {8, 1}};
    rank_item b[] = {{6, 1}, {7, 1}, {9, 1}};
    const rank_item *lists[] = {a, b};
    size_t n[] = {3, 3}, nf;
    rank_item *f = rank_fuse_rrf(lists, n, 2, 60, &nf);
    cr_assert_eq(nf, 5);
    int64_t want[] = {7, 5, 6, 8, 9};
    for (int i = 0; i < 5; i++)
        cr_expect_eq(f[i].id, want[i], "rank %d: %lld", i, (long long)f[i].id);
    free(f);
}

Test(rank, rrf_of_one_list_keeps_its_order_and_empty_is_empty)
{
    rank_item a[] = {{30, 0}, {10, 0}, {20, 0}};
    const rank_item *lists[] = {a, NULL};
    size_t n[] = {3, 0}, nf;
    rank_item *f = rank_fuse_rrf(lists, n, 2, 60, &nf);
    cr_assert_eq(nf, 3);
    cr_expect_eq(f[0].id, 30);
    cr_expect_eq(f[1].id, 10);
    cr_expect_eq(f[2].id, 20);
    free(f);
    n[0] = 0;
    f = rank_fuse_rrf(lists, n, 2, 60, &nf);
    cr_expect_eq(nf, 0);
    free(f);
}

Test(rank, jaccard_ignores_space_punctuation_and_case)
{
    rank_shingles a, b, c, e;
    rank_shingles_build("The rent is due on the 1st.", &a);
    rank_shingles_build("the  rent is due\non the 1st", &b);
    rank_shingles_build("Something else entirely here", &c);
    rank_shingles_build("", &e);
    cr_expect_float_eq(rank_jaccard(&a, &b), 1.0, 1e-12);
    cr_expect_lt(rank_jaccard(&a, &c), 0.1);
    cr_expect_float_eq(rank_jaccard(&e, &e), 1.0, 1e-12);
    cr_expect_float_eq(rank_jaccard(&a, &e), 0.0, 1e-12);
    /* "abcde" -> {abcd, bcde}; "abcdf" -> {abcd, bcdf}: 1 of 3 */
    rank_shingles x, y;
    rank_shingles_build("abcde", &x);
    rank_shingles_build("ABCDF", &y);
    cr_expect_float_eq(rank_jaccard(&x, &y), 1.0 / 3.0, 1e-12);
    rank_shingles_free(&a);
    rank_shingles_free(&b);
    rank_shingles_free(&c);
    rank_shingles_free(&e);
    rank_shingles_free(&x);
    rank_shingles_free(&y);
}

Test(rank, duplicates_keep_the_best_ranked_copy)
{
    const char *texts[] = {
        "租金每月五千元，于每月五日前支付至出租人指定账户。逾期支付的，每逾期一日，承租人应按"
        "月租金的百分之一支付违约金；逾期超过三十日的，出租人有权解除合同。第3页",
        "The warranty period is two years from delivery.",
        /* the same page printed twice: only the page number differs */
        "租金每月五千元，于每月五日前支付至出租人指定账户。逾期支付的，每逾期一日，承租人应按"
        "月租金的百分之一支付违约金；逾期超过三十日的，出租人有权解除合同。第7页",
        "The warranty period is two years from delivery",
        "Completely different paragraph about returns.",
    };
    bool dup[5];
    size_t kept = rank_mark_duplicates(texts, 5, 0.85, 10, dup);
    cr_expect_eq(kept, 3);
    cr_expect(!dup[0]);
    cr_expect(!dup[1]);
    cr_expect(dup[2]);
    cr_expect(dup[3]);
    cr_expect(!dup[4]);
    /* a threshold above 1 keeps everything */
    cr_expect_eq(rank_mark_duplicates(texts, 5, 1.01, 10, dup), 5);
    /* max_kept 2: the first two distinct, the rest not wanted */
    cr_expect_eq(rank_mark_duplicates(texts, 5, 0.85, 2, dup), 2);
    cr_expect(!dup[0] && !dup[1] && dup[2] && dup[3] && dup[4]);
}

Test(rank, mmr_skips_a_near_copy_for_something_new)
{
    /* 0 and 1 are near copies (0.95); 2 is different and slightly less relevant */
    double rel[] = {1.0, 0.9, 0.8};
    double sim[] = {
        1.0, 0.95, 0.1,
        0.95, 1.0, 0.1,
        0.1, 0.1, 1.0,
    };
    size_t order[3];
    cr_assert_eq(rank_mmr(rel, sim, 3, 0.7, 3, order), 3);
    /* step 2: 1 -> .63 - .3*.95 = .345; 2 -> .56 - .03 = .53 */
    cr_expect_eq(order[0], 0);
    cr_expect_eq(order[1], 2);
    cr_expect_eq(order[2], 1);
    /* lambda 1: relevance only */
    cr_assert_eq(rank_mmr(rel, sim, 3, 1.0, 2, order), 2);
    cr_expect_eq(order[0], 0);
    cr_expect_eq(order[1], 1);
}

Test(rank, mmr_ties_go_to_the_smaller_index_and_k_is_capped)
{
    double rel[] = {0.5, 0.5};
    double sim[] = {1, 0, 0, 1};
    size_t order[2];
    cr_assert_eq(rank_mmr(rel, sim, 2, 0.7, 5, order), 2);
    cr_expect_eq(order[0], 0);
    cr_expect_eq(order[1], 1);
    cr_expect_eq(rank_mmr(rel, sim, 0, 0.7, 5, order), 0);
}

typedef struct {
    const double *sim;
    size_t n, asked;
} counted_sim;

static double counted_sim_fn(void *ctx, size_t i, size_t j)
{
    counted_sim *c = ctx;
    c->asked++;
    return c->sim[i * c->n + j];
}

Test(rank, mmr_fn_asks_only_the_picked_columns_and_agrees_with_the_matrix)
{
    enum { N = 12, K = 5 };
    double rel[N], sim[N * N];
    uint64_t x = 12345;
    for (size_t i = 0; i < N; i++)
        rel[i] = 1.0 - (double)i / (N - 1);
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j <= i; j++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            double s = i == j ? 1.0 : (double)(x >> 11) / 9007199254740992.0;
            sim[i * N + j] = sim[j * N + i] = s;
        }
    size_t a[K], b[K];
    cr_assert_eq(rank_mmr(rel, sim, N, 0.6, K, a), K);
    counted_sim c = {sim, N, 0};
    cr_assert_eq(rank_mmr_fn(rel, N, 0.6, K, counted_sim_fn, &c, b), K);
    for (size_t i = 0; i < K; i++)
        cr_expect_eq(a[i], b[i]);
    /* at most one look-up per candidate not picked after each pick but the
     * last; the first pick's column whole */
    size_t want = 0;
    for (size_t g = 1; g < K; g++)
        want += N - g;
    cr_expect_leq(c.asked, want);
    cr_expect_geq(c.asked, N - 1);
}

/* The textbook MMR loop: every column of every pick, no laziness. */
static size_t mmr_reference(const double *rel, const double *sim, size_t n, double lambda,
                            size_t k, size_t *order)
{
    bool picked[64] = {false};
    double max_sim[64] = {0};
    size_t got = 0;
    for (; got < k && got < n; got++) {
        size_t best = n;
        double best_v = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            if (picked[i])
                continue;
            double v = lambda * rel[i] - (got ? (1.0 - lambda) * max_sim[i] : 0.0);
            if (v > best_v)
                best_v = v, best = i;
        }
        picked[best] = true;
        order[got] = best;
        for (size_t i = 0; i < n; i++)
            if (!picked[i] && (got == 0 || sim[i * n + best] > max_sim[i]))
                max_sim[i] = sim[i * n + best];
    }
    return got;
}

Test(rank, mmr_picks_what_the_textbook_loop_picks)
{
    /* random pools, similarities coarse enough to tie and some negative,
     * lambdas inside and outside 0..1 */
    const double lambdas[] = {0.0, 0.3, 0.5, 0.7, 0.9, 1.0, 1.5, -0.2};
    uint64_t x = 99;
    for (int round = 0; round < 400; round++) {
        size_t n = 1 + (size_t)(round % 40), k = 1 + (size_t)(round % 13);
        double rel[64], sim[64 * 64];
        for (size_t i = 0; i < n; i++)
            rel[i] = n > 1 ? 1.0 - (double)i / (double)(n - 1) : 1.0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j <= i; j++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                double s = (double)(x >> 60) / 10.0 - (round % 3 == 0 ? 0.3 : 0.0);
                sim[i * n + j] = sim[j * n + i] = i == j ? 1.0 : s;
            }
        double lambda = lambdas[round % 8];
        size_t a[64], b[64];
        size_t na = mmr_reference(rel, sim, n, lambda, k, a);
        cr_assert_eq(rank_mmr(rel, sim, n, lambda, k, b), na);
        for (size_t i = 0; i < na; i++)
            cr_assert_eq(a[i], b[i], "round %d: pick %zu: %zu, want %zu", round, i, b[i], a[i]);
    }
}

/* Shingles of lower-case ASCII the slow way: every 4-letter run hashed,
 * duplicates dropped by comparing with all before, nothing sorted. */
static size_t shingles_reference(const char *t, uint64_t *h)
{
    size_t len = strlen(t), count = len >= 4 ? len - 3 : len ? 1 : 0, u = 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t v = 1469598103934665603ull;
        for (size_t j = 0; j < (len >= 4 ? 4 : len); j++) {
            v ^= (unsigned char)t[i + j];
            v *= 1099511628211ull;
        }
        bool seen = false;
        for (size_t j = 0; j < u && !seen; j++)
            seen = h[j] == v;
        if (!seen)
            h[u++] = v;
    }
    return u;
}

Test(rank, shingles_and_jaccard_agree_with_a_plain_count)
{
    /* small alphabets so texts share many shingles and repeat them; lengths
     * on both sides of the sort's insertion/radix switch */
    static char text[2][1200];
    static uint64_t ref[2][1200];
    uint64_t x = 7;
    for (int round = 0; round < 300; round++) {
        size_t nref[2];
        rank_shingles s[2];
        for (int t = 0; t < 2; t++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            size_t len = (size_t)(x >> 33) % (round % 2 ? 1100 : 90);
            int alpha = 2 + round % 5;
            for (size_t i = 0; i < len; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                text[t][i] = (char)('a' + (int)((x >> 33) % (uint64_t)alpha));
            }
            text[t][len] = 0;
            nref[t] = shingles_reference(text[t], ref[t]);
            rank_shingles_build(text[t], &s[t]);
            cr_assert_eq(s[t].n, nref[t], "round %d", round);
            for (size_t i = 1; i < s[t].n; i++)
                cr_assert_lt(s[t].h[i - 1], s[t].h[i], "round %d: not sorted", round);
            for (size_t i = 0; i < nref[t]; i++) {
                bool found = false;
                for (size_t j = 0; j < s[t].n && !found; j++)
                    found = s[t].h[j] == ref[t][i];
                cr_assert(found, "round %d: a shingle is missing", round);
            }
        }
        size_t both = 0;
        for (size_t i = 0; i < nref[0]; i++)
            for (size_t j = 0; j < nref[1]; j++)
                both += ref[0][i] == ref[1][j];
        size_t any = nref[0] + nref[1] - both;
        double want = any ? (double)both / (double)any : 1.0;
        cr_expect_eq(rank_jaccard(&s[0], &s[1]), want, "round %d", round);
        rank_shingles_free(&s[0]);
        rank_shingles_free(&s[1]);
    }
}

Test(rank, duplicates_agree_with_plain_jaccard_near_the_threshold)
{
    /* texts edited from a few bases, so pairs fall on both sides of the
     * threshold, against the rule spelled out with rank_jaccard */
    enum { N = 40 };
    static char buf[N][700];
    const char *texts[N];
    uint64_t x = 3;
    size_t dups = 0, near = 0; /* the test's own check that it tests both sides */
    for (int round = 0; round < 30; round++) {
        for (size_t i = 0; i < N; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t base = 1 + (x >> 33) % 4, y = base;
            size_t len = 200 + (size_t)(base * 97 % 400);
            for (size_t c = 0; c < len; c++) {
                y = y * 6364136223846793005ull + 1442695040888963407ull;
                buf[i][c] = (char)('a' + (int)((y >> 33) % 20));
            }
            /* a few edits, more for higher i */
            for (size_t e = 0; e < i % 9; e++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                buf[i][(x >> 33) % len] = 'z';
            }
            buf[i][len - (size_t)(x >> 60) % 8] = 0;
            texts[i] = buf[i];
        }
        double threshold = 0.6 + 0.05 * (round % 8);
        rank_shingles sh[N];
        for (size_t i = 0; i < N; i++)
            rank_shingles_build(texts[i], &sh[i]);
        bool want[N], got[N];
        size_t kept[N], n_kept = 0;
        for (size_t i = 0; i < N; i++) {
            want[i] = false;
            for (size_t j = 0; j < n_kept && !want[i]; j++) {
                double s = rank_jaccard(&sh[i], &sh[kept[j]]);
                want[i] = s >= threshold;
                near += !want[i] && s >= threshold - 0.1;
            }
            if (!want[i])
                kept[n_kept++] = i;
        }
        dups += N - n_kept;
        cr_assert_eq(rank_mark_duplicates(texts, N, threshold, N, got), n_kept);
        for (size_t i = 0; i < N; i++)
            cr_assert_eq(got[i], want[i], "round %d: text %zu", round, i);
        for (size_t i = 0; i < N; i++)
            rank_shingles_free(&sh[i]);
    }
    cr_expect_gt(dups, 100, "%zu duplicates", dups);
    cr_expect_gt(near, 100, "%zu pairs just under the threshold", near);
}
