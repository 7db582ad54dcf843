/* encode.c - texts to vectors with a loaded model: tokenize, sort by
 * length into batches (so padding costs little), run the forward pass, pool,
 * normalise, and put the vectors back in input order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/model_impl.h"

/* ---- encoding ------------------------------------------------------------- */

static void l2_normalize(float *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    if (s > 0) {
        float inv = (float)(1.0 / sqrt(s));
        for (int i = 0; i < n; i++)
            v[i] *= inv;
    }
}

/* DQ_BERT_REFERENCE=1 sends bert_forward_ids through the plain scalar path
 * (tests compare it with the fast one); bert_encode always runs the fast
 * path. An environment variable rather than a bert_params field keeps the
 * test-only switch out of the public API. */
bool model_reference_requested(void)
{
    const char *e = getenv("DQ_BERT_REFERENCE");
    return e && *e && strcmp(e, "0") != 0;
}

int bert_forward_ids(bert_model *m, const int32_t *ids, const int *lens, int batch, int seq,
                     float *hidden, float *pooled)
{
    int H = m->cfg.hidden;
    if (batch < 0 || seq < 1 || seq > m->max_len) {
        dq_set_error("bert_forward_ids: batch %d x seq %d outside 0.. x 1..%d", batch, seq,
                     m->max_len);
        return -1;
    }
    /* The kernels index embeddings by id: out-of-range ids must stop here. */
    for (int b = 0; b < batch; b++) {
        if (lens[b] < 1 || lens[b] > seq) {
            dq_set_error("bert_forward_ids: sequence %d has length %d (need 1..%d)", b, lens[b],
                         seq);
            return -1;
        }
        for (int t = 0; t < lens[b]; t++) {
            int32_t id = ids[(size_t)b * seq + t];
            if (id < 0 || id >= m->cfg.vocab_size) {
                dq_set_error("bert_forward_ids: token id %d outside the vocabulary (%d)", id,
                             m->cfg.vocab_size);
                return -1;
            }
        }
    }
    bool ref = model_reference_requested();
    for (int b0 = 0; b0 < batch; b0 += m->params.max_batch) {
        int nb = batch - b0 < m->params.max_batch ? batch - b0 : m->params.max_batch;
        /* padding positions may hold anything; the kernels get [PAD] there */
        for (int b = 0; b < nb; b++)
            for (int t = 0; t < seq; t++)
                m->batch_ids[(size_t)b * seq + t] =
                    t < lens[b0 + b] ? ids[(size_t)(b0 + b) * seq + t] : m->pad_id;
        float *hid = hidden ? hidden + (size_t)b0 * seq * H : NULL;
        float *pool = pooled ? pooled + (size_t)b0 * H : NULL;
        if (bert_forward(&m->cfg, &m->w, m->run, m->batch_ids, lens + b0, nb, seq, hid, pool,
                         ref) < 0)
            return -1;
        for (int b = 0; pool && b < nb; b++)
            l2_normalize(pool + (size_t)b * H, H);
    }
    return 0;
}

typedef struct {
    size_t start; /* into the token array */
    int len;
    size_t index; /* input position */
} enc_item;

static int cmp_item(const void *a, const void *b)
{
    const enc_item *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int bert_encode(bert_model *m, const char *const *texts, size_t n, float *out)
{
    if (n == 0)
        return 0;
    int H = m->cfg.hidden, L = m->max_len, mb = m->params.max_batch;
    enc_item *items = dq_malloc(n * sizeof *items);
    int32_t *toks = NULL;
    size_t n_toks = 0, cap_toks = 0;
    for (size_t i = 0; i < n; i++) {
        DQ_GROW(toks, cap_toks, n_toks + (size_t)L);
        int k = wp_encode(m->tok, texts[i] ? texts[i] : "", toks + n_toks, L);
        if (k < 2 || k > L) {
            char why[256]; /* dq_set_error must not read the buffer it writes */
            snprintf(why, sizeof why, "%s", dq_last_error());
            dq_set_error("cannot tokenize text %zu: %s", i, why);
            free(items);
            free(toks);
            return -1;
        }
        items[i] = (enc_item){n_toks, k, i};
        n_toks += (size_t)k;
    }
    /* Sorting by length makes each batch's padding small. */
    qsort(items, n, sizeof *items, cmp_item);
    int rc = 0;
    for (size_t i0 = 0; i0 < n && rc == 0; i0 += (size_t)mb) {
        int nb = n - i0 < (size_t)mb ? (int)(n - i0) : mb;
        int seq = items[i0 + (size_t)nb - 1].len;
        for (int b = 0; b < nb; b++) {
            const enc_item *it = &items[i0 + (size_t)b];
            int32_t *row = m->batch_ids + (size_t)b * seq;
            memcpy(row, toks + it->start, (size_t)it->len * sizeof *row);
            for (int t = it->len; t < seq; t++)
                row[t] = m->pad_id;
            m->batch_lens[b] = it->len;
        }
        rc = bert_forward(&m->cfg, &m->w, m->run, m->batch_ids, m->batch_lens, nb, seq, NULL,
                          m->batch_pooled, false);
        for (int b = 0; rc == 0 && b < nb; b++) {
            float *dst = out + items[i0 + (size_t)b].index * (size_t)H;
            memcpy(dst, m->batch_pooled + (size_t)b * H, (size_t)H * sizeof *dst);
            l2_normalize(dst, H);
        }
    }
    free(items);
    free(toks);
    return rc;
}
