/* lm_sample.c - picks the next token from logits: repetition penalty, then
 * top-k, top-p, min-p, temperature and a seeded draw (llama.cpp's default
 * order), or the arg max when the temperature is 0.
 *
 * The penalty is CTRL's (Keskar et al. 2019) as llama.cpp applies it: a
 * positive logit of a recent token is divided by the penalty, a negative one
 * multiplied. The generator is splitmix64, so a seed gives the same tokens on
 * every machine.
 */
#include "embed/lm.h"

#include "common/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t id;
    float logit;
    float p;
} cand;

struct lm_sampler {
    lm_sampler_params p;
    uint64_t rng;
    int32_t *hist; /* (repeat_last_n) ring of recent tokens */
    int n_hist, hist_next;
    cand *cands;   /* (cap) */
    int cap;
};

lm_sampler_params lm_default_sampler_params(void)
{
    return (lm_sampler_params){.temperature = 0.8f,
                               .top_k = 40,
                               .top_p = 0.95f,
                               .min_p = 0.05f,
                               .repeat_penalty = 1.0f,
                               .repeat_last_n = 64,
                               .seed = 0};
}

lm_sampler *lm_sampler_new(const lm_sampler_params *p)
{
    lm_sampler *s = dq_calloc(1, sizeof *s);
    s->p = p ? *p : lm_default_sampler_params();
    if (s->p.repeat_last_n < 0)
        s->p.repeat_last_n = 0;
    s->hist = dq_calloc((size_t)s->p.repeat_last_n + 1, sizeof *s->hist);
    lm_sampler_reset(s);
    return s;
}

void lm_sampler_free(lm_sampler *s)
{
    if (!s)
        return;
    free(s->hist);
    free(s->cands);
    free(s);
}

void lm_sampler_reset(lm_sampler *s)
{
    s->n_hist = s->hist_next = 0;
    s->rng = s->p.seed;
}

void lm_sampler_accept(lm_sampler *s, int32_t token)
{
    if (s->p.repeat_last_n == 0)
        return;
    s->hist[s->hist_next] = token;
    s->hist_next = (s->hist_next + 1) % s->p.repeat_last_n;
    if (s->n_hist < s->p.repeat_last_n)
        s->n_hist++;
}

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int by_logit_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Moves the k largest of c[0..n) to the front, sorted (a min-heap of k). */
static void top_k(cand *c, int n, int k)
{
    for (int i = 1; i < k; i++) { /* heapify c[0..k) as a min-heap */
        for (int j = i; j > 0;) {
            int parent = (j - 1) / 2;
            if (by_logit_desc(&c[j], &c[parent]) <= 0)
                break;
            cand t = c[j];
            c[j] = c[parent];
            c[parent] = t;
            j = parent;
        }
    }
    for (int i = k; i < n; i++) {
        if (by_logit_desc(&c[i], &c[0]) >= 0)
            continue;
        c[0] = c[i];
        for (int j = 0;;) { /* sift down */
            int l = 2 * j + 1, r = l + 1, m = j;
            if (l < k && by_logit_desc(&c[l], &c[m]) > 0)
                m = l;
            if (r < k && by_logit_desc(&c[r], &c[m]) > 0)
                m = r;
            if (m == j)
                break;
            cand t = c[j];
            c[j] = c[m];
            c[m] = t;
            j = m;
        }
    }
    qsort(c, (size_t)k, sizeof *c, by_logit_desc);
}

/* p of the sorted candidates at temperature 1 (for top-p and min-p). */
static void softmax(cand *c, int n, float temp)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        c[i].p = expf((c[i].logit - c[0].logit) / temp);
        sum += c[i].p;
    }
    for (int i = 0; i < n; i++)
        c[i].p = (float)(c[i].p / sum);
}

int32_t lm_sample(lm_sampler *s, const float *logits, int n_vocab)
{
    bool penalize = s->p.repeat_penalty != 1.0f && s->p.repeat_penalty > 0 && s->n_hist > 0;
    if (s->p.temperature <= 0 && !penalize) {
        /* greedy on the logits as they are: no copy of the vocabulary (a
         * decode step's 2% at 151,936 entries) */
        int best = 0;
        for (int i = 1; i < n_vocab; i++)
            if (logits[i] > logits[best])
                best = i;
        return best;
    }
    if (n_vocab > s->cap) {
        free(s->cands);
        s->cands = dq_malloc((size_t)n_vocab * sizeof *s->cands);
        s->cap = n_vocab;
    }
    cand *c = s->cands;
    for (int i = 0; i < n_vocab; i++)
        c[i] = (cand){i, logits[i], 0};
    if (penalize) {
        for (int i = 0; i < s->n_hist; i++) {
            int32_t t = s->hist[i];
            bool seen = false; /* once per token, however often it repeats */
            for (int j = 0; j < i; j++)
                seen |= s->hist[j] == t;
            if (seen || t < 0 || t >= n_vocab)
                continue;
            c[t].logit = c[t].logit > 0 ? c[t].logit / s->p.repeat_penalty
                                        : c[t].logit * s->p.repeat_penalty;
        }
    }
    if (s->p.temperature <= 0) {
        int best = 0;
        for (int i = 1; i < n_vocab; i++)
            if (c[i].logit > c[best].logit)
                best = i;
        return c[best].id;
    }
    int n = n_vocab;
    if (s->p.top_k > 0 && s->p.top_k < n) {
        top_k(c, n, s->p.top_k);
        n = s->p.top_k;
    } else {
        qsort(c, (size_t)n, sizeof *c, by_logit_desc);
    }
    softmax(c, n, 1.0f);
    if (s->p.top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += c[i].p;
            if (cum >= s->p.top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (s->p.min_p > 0) {
        float floor = c[0].p * s->p.min_p;
        int keep = 1;
        while (keep < n && c[keep].p >= floor)
            keep++;
        n = keep;
    }
    softmax(c, n, s->p.temperature);
    double u = (double)(splitmix64(&s->rng) >> 11) / 9007199254740992.0;
    double cum = 0;
    for (int i = 0; i < n; i++) {
        cum += c[i].p;
        if (u < cum)
            return c[i].id;
    }
    return c[n - 1].id;
}

float lm_logprob(const float *logits, int n_vocab, int32_t token)
{
    float mx = logits[0];
    for (int i = 1; i < n_vocab; i++)
        mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int i = 0; i < n_vocab; i++)
        sum += exp((double)(logits[i] - mx));
    return (float)((double)(logits[token] - mx) - log(sum));
}
