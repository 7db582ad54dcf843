/* bertgen.c - random-weight BERT models built in memory, for tests. */
#include "support/bertgen.h"

#include <math.h>
#include <stdlib.h>

#include "common/common.h"

/* Tests run one at a time per process (Criterion forks), so one stream. */
static uint64_t rng_state;

static float frand(float lo, float hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((rng_state >> 40) / (double)(1ull << 24));
}

float *bertgen_rand_array(size_t n, float lo, float hi)
{
    float *a = dq_malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++)
        a[i] = frand(lo, hi);
    return a;
}

static void rand_linear(bert_linear *l, int n_out, int n_in)
{
    float r = 1.0f / sqrtf((float)n_in);
    l->w = bertgen_rand_array((size_t)n_out * n_in, -r, r);
    l->b = bertgen_rand_array((size_t)n_out, -0.1f, 0.1f);
    l->n_out = n_out;
    l->n_in = n_in;
}

static void rand_norm(bert_norm *n, int h)
{
    n->gamma = bertgen_rand_array((size_t)h, 0.8f, 1.2f);
    n->beta = bertgen_rand_array((size_t)h, -0.1f, 0.1f);
}

void bertgen_seed(uint64_t seed)
{
    rng_state = seed;
}

bertgen_model *bertgen_new(int vocab, int max_pos, int hidden, int layers, int heads, int inter,
                           bert_pooling pool, uint64_t seed)
{
    rng_state = seed;
    bertgen_model *m = dq_calloc(1, sizeof *m);
    m->cfg = (bert_config){.vocab_size = vocab, .hidden = hidden, .n_layers = layers,
                           .n_heads = heads, .intermediate = inter, .max_pos = max_pos,
                           .type_vocab = 2, .ln_eps = 1e-12f, .pooling = pool,
                           .normalize = pool == BERT_POOL_CLS};
    m->w.word_emb = bertgen_rand_array((size_t)vocab * hidden, -1, 1);
    m->w.pos_emb = bertgen_rand_array((size_t)max_pos * hidden, -0.5f, 0.5f);
    m->w.type_emb = bertgen_rand_array((size_t)2 * hidden, -0.5f, 0.5f);
    rand_norm(&m->w.ln_emb, hidden);
    m->w.layers = dq_calloc((size_t)layers, sizeof *m->w.layers);
    for (int i = 0; i < layers; i++) {
        bert_layer *ly = &m->w.layers[i];
        rand_linear(&ly->q, hidden, hidden);
        rand_linear(&ly->k, hidden, hidden);
        rand_linear(&ly->v, hidden, hidden);
        rand_linear(&ly->o, hidden, hidden);
        rand_linear(&ly->ff_in, inter, hidden);
        rand_linear(&ly->ff_out, hidden, inter);
        rand_norm(&ly->ln_attn, hidden);
        rand_norm(&ly->ln_ff, hidden);
    }
    return m;
}

static void free_linear(bert_linear *l)
{
    free((void *)l->w);
    free((void *)l->b);
}

static void free_norm(bert_norm *n)
{
    free((void *)n->gamma);
    free((void *)n->beta);
}

void bertgen_free(bertgen_model *m)
{
    if (!m)
        return;
    bert_weights_free_quant(&m->cfg, &m->w);
    free((void *)m->w.word_emb);
    free((void *)m->w.pos_emb);
    free((void *)m->w.type_emb);
    free_norm(&m->w.ln_emb);
    for (int i = 0; i < m->cfg.n_layers; i++) {
        bert_layer *ly = &m->w.layers[i];
        free_linear(&ly->q);
        free_linear(&ly->k);
        free_linear(&ly->v);
        free_linear(&ly->o);
        free_linear(&ly->ff_in);
        free_linear(&ly->ff_out);
        free_norm(&ly->ln_attn);
        free_norm(&ly->ln_ff);
    }
    free(m->w.layers);
    free(m);
}
