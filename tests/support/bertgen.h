/* bertgen.h - random-weight BERT models built in memory, for tests of the
 * forward pass (CPU fast path against the reference, GPU against CPU). */
#ifndef DQ_TEST_BERTGEN_H
#define DQ_TEST_BERTGEN_H

#include <stddef.h>
#include <stdint.h>

#include "embed/bert_impl.h"

/* cfg and w, with every weight array owned here. */
typedef struct {
    bert_config cfg;
    bert_weights w;
} bertgen_model;

/* Uniform random weights from a fixed xorshift stream seeded by seed, so a
 * shape and seed always give the same model. */
bertgen_model *bertgen_new(int vocab, int max_pos, int hidden, int layers, int heads, int inter,
                           bert_pooling pool, uint64_t seed);
void bertgen_free(bertgen_model *m);

/* n values uniform in [lo, hi) from the same stream (malloc'd). */
float *bertgen_rand_array(size_t n, float lo, float hi);
/* Restarts the stream. */
void bertgen_seed(uint64_t seed);

#endif
