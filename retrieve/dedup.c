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

/* Sorts h (n) ascending: least-significant-digit radix sort of the high
 * 32 bits, a byte a pass, with tmp (n) as the other buffer, then insertion
 * sort, which only moves keys whose high halves are equal: for a chunk's few
 * hundred uniform hashes that is almost never, so four passes sort all 64
 * bits (the eight of a full radix sort were a twentieth of a search's CPU;
 * qsort with a comparator four times that). */
static void u64_sort(uint64_t *h, uint64_t *tmp, size_t n)
{
    if (n >= 64) { /* below, the passes' fixed cost would dominate */
        size_t count[4][256] = {{0}};
        for (size_t i = 0; i < n; i++)
            for (int b = 0; b < 4; b++)
                count[b][(h[i] >> (32 + 8 * b)) & 0xff]++;
        uint64_t *src = h, *dst = tmp;
        for (int b = 0; b < 4; b++) {
            size_t sum = 0;
            for (int d = 0; d < 256; d++) {
                size_t c = count[b][d];
                count[b][d] = sum;
                sum += c;
            }
            for (size_t i = 0; i < n; i++)
                dst[count[b][(src[i] >> (32 + 8 * b)) & 0xff]++] = src[i];
            uint64_t *t = src;
            src = dst;
            dst = t;
        }
        /* four passes: the keys are back in h */
    }
    for (size_t i = 1; i < n; i++) {
        uint64_t x = h[i];
        size_t j = i;
        for (; j > 0 && h[j - 1] > x; j--)
            h[j] = h[j - 1];
        h[j] = x;
    }
}

void rank_shingles_build(const char *text, rank_shingles *out)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(text);
    uint32_t *cps = dq_malloc((len + 1) * sizeof *cps);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp = (unsigned char)text[i];
        if (cp < 0x80) {
            i++; /* ASCII, most of an English chunk: no decoding, nothing to fold */
        } else {
            int l = utf8_decode(text + i, len - i, &cp);
            if (l <= 0) {
                i++;
                continue;
            }
            i += (size_t)l;
            cp = uc_fold_fullwidth(cp);
        }
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
    uint64_t *tmp = dq_malloc((count ? count : 1) * sizeof *tmp);
    u64_sort(out->h, tmp, count);
    free(tmp);
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

/* Whether rank_jaccard(a, b) >= threshold, the merge given up as soon as
 * the shingles left cannot lift the intersection far enough: unrelated
 * texts are told apart within the first few misses instead of a whole pass.
 * Exact: the bound is the Jaccard formula at the largest intersection still
 * possible, and the formula only grows with the intersection. */
static bool jaccard_at_least(const rank_shingles *a, const rank_shingles *b, double threshold)
{
    if (!a->n && !b->n)
        return 1.0 >= threshold;
    size_t i = 0, j = 0, both = 0, u = a->n + b->n;
    while (i < a->n && j < b->n) {
        /* a block of branch-free merge steps, then the bound */
        for (int s = 0; s < 32 && i < a->n && j < b->n; s++) {
            uint64_t x = a->h[i], y = b->h[j];
            both += x == y;
            i += x <= y;
            j += y <= x;
        }
        size_t ra = a->n - i, rb = b->n - j, most = both + (ra < rb ? ra : rb);
        if ((double)most / (double)(u - most) < threshold)
            return false;
    }
    return (double)both / (double)(u - both) >= threshold;
}

size_t rank_mark_duplicates(const char *const *texts, size_t n, double threshold,
                            size_t max_kept, bool *dup)
{
    rank_shingles *sh = dq_calloc(n ? n : 1, sizeof *sh);
    size_t n_kept = rank_mark_duplicates_sets(texts, n, threshold, max_kept, dup, sh);
    for (size_t i = 0; i < n; i++)
        rank_shingles_free(&sh[i]);
    free(sh);
    return n_kept;
}

size_t rank_mark_duplicates_sets(const char *const *texts, size_t n, double threshold,
                                 size_t max_kept, bool *dup, rank_shingles *sh)
{
    memset(sh, 0, n * sizeof *sh);
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
            copy = jaccard_at_least(a, b, threshold);
        }
        if (!copy) {
            dup[i] = false;
            kept[n_kept++] = i;
        }
    }
    free(kept);
    return n_kept;
}
