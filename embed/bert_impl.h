/* bert_impl.h - private to embed/: the BERT weights as the forward pass sees
 * them, shared by the loader (model.c) and the kernels (bert.c, gemm*.c).
 *
 * Following llama2.c, three plain structs: configuration (bert_config, in
 * embed.h), weights (bert_weights, below; pointers into the safetensors
 * mapping for F32 files, or into widened/quantised buffers the loader owns),
 * and run state (bert_run, scratch sized once for max_batch x max_len so the
 * hot loop never allocates).
 */
#ifndef DQ_BERT_IMPL_H
#define DQ_BERT_IMPL_H

#include "embed/embed.h"

typedef struct {
    const float *w; /* (n_out, n_in) row-major, as PyTorch's nn.Linear stores it */
    const float *b; /* (n_out) */
    int n_out, n_in;
    /* int8 mode: per-output-channel symmetric quantisation of w */
    int8_t *q;      /* (n_out, n_in), owned by bert_weights' owner; NULL in FP32 mode */
    float *q_scale; /* (n_out) w ~= q * q_scale */
    int32_t *q_colsum; /* (n_out) sum of q over n_in, for unsigned-activation VNNI */
    int8_t *q_pack; /* q regrouped for VNNI (see quant.c); owned like q, NULL in FP32 mode */
    /* FP32 mode with AVX-512: w copied once into the SGEMM's panel layout
     * (gemm_pack_f32) by bert_pack_weights, owned like q; NULL otherwise */
    float *w_pack;
} bert_linear;

typedef struct {
    const float *gamma, *beta; /* (hidden) */
} bert_norm;

typedef struct {
    bert_linear q, k, v, o; /* (hidden, hidden) each */
    bert_norm ln_attn;      /* after attention + residual */
    bert_linear ff_in;      /* (intermediate, hidden) */
    bert_linear ff_out;     /* (hidden, intermediate) */
    bert_norm ln_ff;        /* after feed-forward + residual */
} bert_layer;

typedef struct {
    const float *word_emb; /* (vocab_size, hidden) */
    const float *pos_emb;  /* (max_pos, hidden) */
    const float *type_emb; /* (type_vocab, hidden) */
    bert_norm ln_emb;
    bert_layer *layers;    /* (n_layers), owned */
} bert_weights;

typedef struct bert_run bert_run; /* scratch for the forward pass, kernels' own */

/* Forward pass over token ids (batch, seq), lens[b] real tokens per row,
 * token type 0 everywhere. hidden (batch, seq, hidden) and pooled
 * (batch, hidden) may each be NULL. reference selects the plain scalar path
 * kept for tests; otherwise the fast path (blocked SGEMM, threads, int8 when
 * the weights carry q). Returns 0 or -1 with the error set. */
int bert_forward(const bert_config *cfg, const bert_weights *w, bert_run *run,
                 const int32_t *ids, const int *lens, int batch, int seq, float *hidden,
                 float *pooled, bool reference);

/* The same with token type ids (batch, seq) for sentence pairs (0 for the
 * first segment, 1 for the second, as a cross-encoder reads them); NULL
 * types means 0 everywhere. */
int bert_forward_typed(const bert_config *cfg, const bert_weights *w, bert_run *run,
                       const int32_t *ids, const int32_t *types, const int *lens, int batch,
                       int seq, float *hidden, float *pooled, bool reference);

/* Scratch for up to max_batch sequences of max_len tokens. */
/* pool: borrowed (n_threads is then its size); NULL: its own of n_threads. */
bert_run *bert_run_new(const bert_config *cfg, int max_batch, int max_len, int n_threads,
                       bert_pool *pool);
void bert_run_free(bert_run *run);

/* Quantises every linear layer of w to int8 (allocating q, q_scale,
 * q_colsum); bert_weights_free_quant releases them. */
int bert_quantize(const bert_config *cfg, bert_weights *w);
void bert_weights_free_quant(const bert_config *cfg, bert_weights *w);

/* Packs every FP32 linear layer's w into w_pack, so the forward pass
 * multiplies without repacking W each time; does nothing without AVX-512
 * or for quantised layers. Returns the bytes allocated;
 * bert_weights_free_pack releases them. */
size_t bert_pack_weights(const bert_config *cfg, bert_weights *w);
void bert_weights_free_pack(const bert_config *cfg, bert_weights *w);

/* Exact widening of one IEEE half / bfloat16 value (subnormals, infinities
 * and NaN payloads kept), as the loader (model.c) applies to F16/BF16 files. */
float bert_f16_to_f32(uint16_t h);
float bert_bf16_to_f32(uint16_t h);

#endif
