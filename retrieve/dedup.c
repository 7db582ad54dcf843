/* dedup.c - near-duplicate chunks: the same paragraph from a duplicated page,
 * a repeated notice, two copies of one file under different names.
 *
 * Texts are compared by the Jaccard similarity of their 4-code-point
 * shingles after dropping spaces and punctuation and folding case, which
 * works the same for Chinese (no spaces to split on) and English, and
 * shrugs off a page number or a re-wrapped line.
 */
#include "retrieve/rank.h"

#include "common/common.h"

#include <stdlib.h>
#include <string.h>

enum { SHINGLE = 4 };

static bool is_skipped(uint32_t cp)
{
    if (cp < 0x80)
        return !((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'));
    /* General and CJK punctuation, full-width forms' punctuation, spaces. */
    return cp == 0xA0 || (cp >= 0x2000 && cp <= 0x206F) || uc_is_cjk_punct(cp) ||
           cp == 0x3000;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void rank_shingles_build(const char *text, rank_shingles *out)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(text);
    uint32_t *cps = dq_malloc((len + 1) * sizeof *cps);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int l = utf8_decode(text + i, len - i, &cp);
        if (l <= 0) {
            i++;
            continue;
        }
        i += (size_t)l;
        cp = uc_fold_fullwidth(cp);
        if (cp >= 'A' && cp <= 'Z')
            cp += 'a' - 'A';
        if (!is_skipped(cp))
            cps[n++] = cp;
    }
    size_t count = n >= SHINGLE ? n - SHINGLE + 1 : n ? 1 : 0;
    out->h = dq_malloc((count ? count : 1) * sizeof *out->h);
    for (size_t i = 0; i < count; i++) {
        uint64_t h = 1469598103934665603ull; /* FNV-1a over the code points */
        size_t w = n >= SHINGLE ? SHINGLE : n;
        for (size_t j = 0; j < w; j++) {
            h ^= cps[i + j];
            h *= 1099511628211ull;
        }
        out->h[i] = h;
    }
    free(cps);
    qsort(out->h, count, sizeof *out->h, u64_cmp);
    size_t u = 0;
    for (size_t i = 0; i < count; i++)
        if (!u || out->h[u - 1] != out->h[i])
            out->h[u++] = out->h[i];
    out->n = u;
}

void rank_shingles_free(rank_shingles *s)
{
    if (!s)
        return;
    free(s->h);
    memset(s, 0, sizeof *s);
}

double rank_jaccard(const rank_shingles *a, const rank_shingles *b)
{
    if (!a->n && !b->n)
        return 1.0;
    /* Without branches: which list moves is data, not a jump the CPU
     * mispredicts half the time (this merge was an eighth of a BM25 query's
     * CPU, MMR comparing every candidate with the picked ones). */
    size_t i = 0, j = 0, both = 0;
    while (i < a->n && j < b->n) {
        uint64_t x = a->h[i], y = b->h[j];
        both += x == y;
        i += x <= y;
        j += y <= x;
    }
    return (double)both / (double)(a->n + b->n - both);
}

size_t rank_mark_duplicates(const char *const *texts, size_t n, double threshold,
                            size_t max_kept, bool *dup)
{
    rank_shingles *sh = dq_calloc(n ? n : 1, sizeof *sh);
    size_t *kept = dq_calloc(n ? n : 1, sizeof *kept);
    size_t n_kept = 0;
    for (size_t i = 0; i < n; i++) {
        dup[i] = true;
        if (n_kept >= max_kept)
            continue;
        rank_shingles_build(texts[i], &sh[i]);
        bool copy = false;
        for (size_t j = 0; j < n_kept && !copy; j++) {
            const rank_shingles *a = &sh[i], *b = &sh[kept[j]];
            /* Jaccard <= min/max of the set sizes: most pairs need no merge. */
            size_t lo = a->n < b->n ? a->n : b->n, hi = a->n < b->n ? b->n : a->n;
            if (hi && (double)lo < threshold * (double)hi)
                continue;
            copy = rank_jaccard(a, b) >= threshold;
        }
        if (!copy) {
            dup[i] = false;
            kept[n_kept++] = i;
        }
    }
    for (size_t i = 0; i < n; i++)
        rank_shingles_free(&sh[i]);
    free(sh);
    free(kept);
    return n_kept;
}
