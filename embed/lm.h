/* lm.h - a decoder-only LLM engine in C for GGUF files (llama.cpp's format).
 *
 * Architectures qwen2 (Qwen2, Qwen2.5), qwen3 (Q/K RMSNorm) and llama (Llama
 * 3.x and other llama-architecture files), weights in F32, F16, BF16, Q8_0,
 * Q4_0, Q4_K, Q5_K or Q6_K, as the file's metadata says: there are no
 * per-model switches. Weights stay in the read-only mapping of the file; a
 * context owns the KV cache (F16 by default, as llama.cpp's) and the buffers
 * of one conversation. Prefill multiplies int8-quantized activations with
 * the quantized blocks (AVX-512 VNNI or AVX2, chosen at run time; scalar
 * reference kept); decode is a matrix-vector product bound by memory
 * bandwidth.
 *
 * The tokenizer is not here: it is built from lm_model_gguf()'s metadata.
 */
#ifndef DQ_EMBED_LM_H
#define DQ_EMBED_LM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "embed/embed.h"
#include "embed/gguf.h"

typedef struct lm_model lm_model;
typedef struct lm_ctx lm_ctx;

/* Errors a caller acts on (the message names the file and says more). */
enum {
    LM_ERR = -1,          /* anything else: bad file, out of memory, ... */
    LM_ERR_STOPPED = -2,  /* the should-stop callback said so; the cache is as before the call */
    LM_ERR_OVERFLOW = -3, /* the tokens do not fit in the context */
    LM_ERR_TOKEN = -4,    /* a token id outside the vocabulary */
};

/* The shape of a model, as its metadata says. */
typedef struct {
    char arch[16];   /* "qwen2", "qwen3", "llama" */
    char name[64];   /* general.name, or "" */
    int n_vocab;
    int n_embd;
    int n_layer;
    int n_head, n_head_kv;
    int head_dim;    /* attention.key_length, default n_embd / n_head */
    int n_ff;
    int n_ctx_train; /* context_length */
    float rms_eps;
    float rope_base;
    bool rope_neox;  /* rotate halves (qwen) rather than adjacent pairs (llama) */
    bool rope_freq_factors; /* Llama 3 frequency scaling (rope_freqs.weight or keys) */
    bool qk_norm;    /* qwen3 */
    bool tied_output; /* no output.weight: the embedding is the output head */
    uint64_t n_params;
} lm_hparams;

typedef bool (*lm_stop_fn)(void *user);

typedef struct {
    int n_threads;      /* default 2 */
    bool check_memory;  /* refuse a model larger than the machine's memory (default true) */
} lm_load_params;

lm_load_params lm_default_load_params(void);

/* Maps and validates path: architecture, every tensor's presence, shape and
 * type. NULL with one line naming the file and the reason. */
lm_model *lm_load(const char *path, const lm_load_params *p);
void lm_free(lm_model *m); /* NULL-safe */

const lm_hparams *lm_model_hparams(const lm_model *m);
/* The file, for the tokenizer and `model info`; owned by the model. */
const gguf_file *lm_model_gguf(const lm_model *m);
/* Bytes of the weights in the file, of a KV cache of n_ctx tokens (K and V
 * in 16 bits), and of both plus a context's buffers (the memory `model info`
 * reports). */
uint64_t lm_weight_bytes(const lm_model *m);
uint64_t lm_kv_bytes(const lm_model *m, int n_ctx);
uint64_t lm_memory_estimate(const lm_model *m, int n_ctx);
/* "Q4_K x 169, Q6_K x 29, F32 x 121" (counts of tensors by type). */
void lm_model_types(const lm_model *m, char *out, size_t n);

/* ---- contexts -------------------------------------------------------------- */

typedef struct {
    int n_ctx;          /* KV cache size in tokens; 0: min(n_ctx_train, 4096) */
    int n_threads;      /* 0: the model's; ignored with a pool */
    /* borrowed (embed.h), outlives the context: the session's pool, shared
     * with its encoders; NULL: the context's own of n_threads */
    bert_pool *pool;
    lm_stop_fn should_stop; /* polled once per layer; NULL: never */
    void *stop_user;
    /* The KV cache's type (as llama.cpp's --cache-type-k/-v): F16 (the
     * default); F32, twice the memory and no rounding (the tests that pin
     * the float arithmetic use it); or BF16, whose attention multiplies in
     * BF16 where the CPU has AVX512_BF16 (vdpbf16ps, twice the FMA's rate;
     * lm_attn.c): 36-40% less attention time, a 2,000-token prefill 6-13%
     * faster. Not the default: its keys and values keep 8 mantissa bits to
     * F16's 11, which takes a quantized test model's logits below the 0.999
     * cosine goal (bench/README.md). */
    gguf_type kv_type;
} lm_ctx_params;

lm_ctx_params lm_default_ctx_params(void);

lm_ctx *lm_ctx_new(lm_model *m, const lm_ctx_params *p);
void lm_ctx_free(lm_ctx *c); /* NULL-safe */

int lm_ctx_n_ctx(const lm_ctx *c);
gguf_type lm_ctx_kv_type(const lm_ctx *c); /* lm_ctx_params.kv_type */
/* The KV cache type named "f16", "bf16" or "f32" (llama.cpp's
 * --cache-type names): 0, or -1 for any other name. */
int lm_kv_type_parse(const char *name, gguf_type *out);
/* Tokens in the cache. */
int lm_ctx_pos(const lm_ctx *c);
/* Keeps the first n_keep tokens of the cache (a chat's shared prefix); 0
 * empties it. -1 when n_keep > lm_ctx_pos. */
int lm_ctx_truncate(lm_ctx *c, int n_keep);

/* Runs n tokens at positions lm_ctx_pos().. and appends them to the cache.
 * all_logits: keep the logits of every token, else only of the last. 0, or
 * an LM_ERR_* code with the message set (nothing is appended then). */
int lm_eval(lm_ctx *c, const int32_t *tokens, int n, bool all_logits);
/* The n_vocab logits of token i of the last lm_eval batch (-1: its last). */
const float *lm_logits(const lm_ctx *c, int i);

/* ---- sampling ----------------------------------------------------------------- */

typedef struct {
    float temperature;    /* <= 0: greedy (default 0.8) */
    int top_k;            /* 0: off (default 40) */
    float top_p;          /* 1: off (default 0.95) */
    float min_p;          /* 0: off (default 0.05) */
    float repeat_penalty; /* 1: off (default 1.0) */
    int repeat_last_n;    /* tokens of history it applies to (default 64) */
    uint64_t seed;
} lm_sampler_params;

lm_sampler_params lm_default_sampler_params(void);

typedef struct lm_sampler lm_sampler;

lm_sampler *lm_sampler_new(const lm_sampler_params *p);
void lm_sampler_free(lm_sampler *s); /* NULL-safe */
/* Adds a token to the history the repetition penalty looks at (prompt and
 * generated tokens alike). */
void lm_sampler_accept(lm_sampler *s, int32_t token);
void lm_sampler_reset(lm_sampler *s);
/* Picks the next token from n_vocab logits (not modified). */
int32_t lm_sample(lm_sampler *s, const float *logits, int n_vocab);

/* log softmax of logits[token]. */
float lm_logprob(const float *logits, int n_vocab, int32_t token);

#endif
