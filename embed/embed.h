/* embed.h - sentence embeddings: a BERT encoder in C, or an OpenAI-compatible
 * /v1/embeddings endpoint, behind one "embedder" interface.
 *
 * Local models are Hugging Face folders (config.json, vocab.txt or for
 * XLM-RoBERTa sentencepiece.bpe.model, tokenizer_config.json,
 * model.safetensors, and sentence-transformers' modules.json /
 * 1_Pooling/config.json when present) as published for moka-ai/m3e-base,
 * shibing624/text2vec-base-chinese, BAAI/bge-small-zh-v1.5, and the
 * BAAI/bge-reranker-* cross-encoders.
 * Weights are mmapped read-only; F16/BF16 tensors are widened to F32 once at
 * load, and int8 mode quantises the linear layers per output channel.
 */
#ifndef DQ_EMBED_H
#define DQ_EMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- WordPiece tokenizer (Hugging Face BertTokenizer) -------------------- */

typedef struct {
    bool lower_case;     /* do_lower_case, default true */
    bool strip_accents;  /* default: same as lower_case (HF's rule when unset) */
    bool split_cjk;      /* tokenize_chinese_chars, default true */
} wp_options;

wp_options wp_default_options(void);

typedef struct wp_tokenizer wp_tokenizer;

/* Loads vocab.txt (one token per line, line N = id N). */
wp_tokenizer *wp_load(const char *vocab_path, const wp_options *opt);
void wp_free(wp_tokenizer *tok);
int wp_vocab_size(const wp_tokenizer *tok);
/* Id of a token string, or -1. */
int wp_token_id(const wp_tokenizer *tok, const char *token);
const char *wp_token_text(const wp_tokenizer *tok, int id);
/* Tokenizes text without special tokens. Writes at most max_ids ids and
 * returns how many the full text has (so a larger count means truncated). */
int wp_tokenize(const wp_tokenizer *tok, const char *text, int32_t *ids, int max_ids);
/* [CLS] tokens [SEP], truncated so the whole fits in max_len (>= 2). Returns
 * the number of ids written. */
int wp_encode(const wp_tokenizer *tok, const char *text, int32_t *ids, int max_len);

/* ---- safetensors -------------------------------------------------------- */

typedef enum { ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32, ST_OTHER } st_dtype;

typedef struct {
    char *name;
    st_dtype dtype;
    char dtype_name[8]; /* as written in the header, "F32" */
    int n_dims;
    int64_t shape[4];
    const void *data; /* into the read-only mapping */
    size_t n_bytes;
} st_tensor;

typedef struct {
    void *map; /* the whole file, mmapped read-only */
    size_t map_size;
    st_tensor *tensors; /* (n_tensors) */
    size_t n_tensors;
} st_file;

/* Maps and validates a .safetensors file: header length, JSON, dtypes,
 * shapes matching byte sizes, offsets inside the file, no overlaps. */
int st_open(const char *path, st_file *out);
/* The same on n bytes in memory (copied); name stands for the file in messages. */
int st_open_memory(const void *data, size_t n, const char *name, st_file *out);
void st_close(st_file *f);
const st_tensor *st_find(const st_file *f, const char *name);

/* ---- the thread pool ------------------------------------------------------ */

/* The worker threads of the forward passes. A session makes one and lends it
 * to its encoders (bert_params.pool) and its LLM (lm_ctx_params.pool), so N
 * threads serve both rather than N each; callers on several threads take
 * turns, one job (a layer's product, its attention) at a time. n_threads - 1
 * workers: the caller of a job is thread 0. NULL with the error set when a
 * thread cannot be started. */
typedef struct bert_pool bert_pool;
bert_pool *bert_pool_new(int n_threads);
/* NULL-safe; whatever borrowed the pool must be freed first. */
void bert_pool_free(bert_pool *p);
int bert_pool_size(const bert_pool *p);

/* ---- BERT model --------------------------------------------------------- */

typedef enum { BERT_POOL_CLS, BERT_POOL_MEAN } bert_pooling;

typedef struct {
    int vocab_size, hidden, n_layers, n_heads, intermediate, max_pos, type_vocab;
    float ln_eps;
    int pos_offset;     /* first position id: 0 for BERT, padding_idx + 1 for XLM-RoBERTa */
    bert_pooling pooling;
    bool normalize;     /* L2-normalise pooled vectors */
    char act[16];       /* "gelu" (erf) */
    char arch[48];      /* "BertModel", "XLMRobertaForSequenceClassification" */
    bool roberta;       /* XLM-RoBERTa: SentencePiece ids, <s> A </s></s> B </s>, one token type */
} bert_config;

/* Where the forward pass runs. AUTO takes a CUDA GPU when this build has
 * CUDA and the machine has one, else the CPU; CUDA insists (an error when
 * none can be used). */
typedef enum { BERT_DEVICE_AUTO = 0, BERT_DEVICE_CPU, BERT_DEVICE_CUDA } bert_device;

typedef struct {
    int n_threads;  /* 0: all cores */
    bert_device device;
    bool int8;      /* quantise linear layers to int8 at load */
    int max_batch;  /* sequences per forward pass, default 32 */
    int max_len;    /* cap on tokens per text; 0: the model's max positions */
    bert_pool *pool; /* borrowed, outlives the model; NULL: its own of n_threads */
} bert_params;

bert_params bert_default_params(void);

typedef struct bert_model bert_model;

/* Loads a model folder. Errors name the file and the reason: a missing or
 * misshapen tensor names the tensor and both shapes; pytorch_model.bin-only
 * folders and non-BERT architectures are refused with what to do instead. */
bert_model *bert_load(const char *dir, const bert_params *params);
void bert_free(bert_model *m);
const bert_config *bert_get_config(const bert_model *m);
const wp_tokenizer *bert_get_tokenizer(const bert_model *m);
int bert_dim(const bert_model *m);
/* "bert:<sha256 of config.json + weights header, 16 hex>:<pool>:<dim>[:int8]" */
const char *bert_identity(const bert_model *m);
/* A few lines for `docqa model info`: architecture, sizes, pooling, vocab,
 * dtype, memory, device. Caller frees. */
char *bert_describe(const bert_model *m);
/* "cpu", or "cuda" when the forward pass runs on the GPU. */
const char *bert_device_name(const bert_model *m);
/* Parses "auto", "cpu" or "cuda"; -1 for anything else. */
int bert_parse_device(const char *s, bert_device *out);
/* A model folder checked before its weights are there (the model
 * downloader asks before fetching them): config.json as bert_load reads it,
 * -1 with the error set when docqa cannot run the architecture; *reranker
 * for a cross-encoder, *xlmr for XLM-RoBERTa (a SentencePiece tokenizer). */
int bert_check_config(const char *dir, bool *reranker, bool *xlmr);
/* ... then its pooling and tokenizer files; -1 with the error set. */
int bert_check_folder(const char *dir, bool xlmr);

/* Encodes n texts into out (n, dim). Texts are tokenized, sorted by length
 * into batches, run, pooled and normalised as the model's config says. */
int bert_encode(bert_model *m, const char *const *texts, size_t n, float *out);
/* Lower level, for tests: runs token ids (batch, seq) with lens[b] real tokens
 * each (rest padding); writes last hidden states (batch, seq, hidden) when
 * hidden is non-NULL and pooled vectors (batch, hidden) when pooled is. */
int bert_forward_ids(bert_model *m, const int32_t *ids, const int *lens, int batch, int seq,
                     float *hidden, float *pooled);

/* ---- OpenAI-compatible embeddings endpoint ------------------------------ */

typedef struct {
    const char *url;     /* base ("http://127.0.0.1:8080/v1") or full .../embeddings */
    const char *model;   /* "model" field of the request; may be NULL */
    const char *api_key; /* Bearer token; may be NULL */
    int timeout_s;       /* per request, default 60 */
    int batch;           /* texts per request, default 32 */
} embed_http_params;

typedef struct embed_http embed_http;

embed_http *embed_http_new(const embed_http_params *params);
void embed_http_free(embed_http *c);
/* Encodes n texts; *dim is learned from the first response and checked on
 * every later one. out must hold n * max_dim floats; returns -1 with a clear
 * error (connection refused, HTTP status with the server's message, timeout,
 * malformed JSON, wrong count or dimension). */
int embed_http_encode(embed_http *c, const char *const *texts, size_t n, float *out,
                      int max_dim, int *dim);
const char *embed_http_identity(const embed_http *c);

/* ---- the embedder docqa uses -------------------------------------------- */

typedef struct {
    const char *model_dir; /* local BERT folder, or NULL */
    const char *url;       /* embeddings endpoint, or NULL */
    const char *remote_model;
    const char *api_key;
    bert_params bert;
} embedder_config;

typedef struct embedder embedder;

/* NULL with the error set when the config names nothing or loading fails. */
embedder *embedder_open(const embedder_config *cfg);
void embedder_free(embedder *e);
int embedder_dim(embedder *e); /* may query the endpoint once */
const char *embedder_identity(const embedder *e);
/* out (n, embedder_dim()) */
int embedder_encode(embedder *e, const char *const *texts, size_t n, float *out);

/* ---- cross-encoder reranker --------------------------------------------- */

/* A BERT or XLM-RoBERTa with a sequence-classification head (one or two
 * logits): scores how well a passage answers a query, reading both together
 * ([CLS] q [SEP] p [SEP], or <s> q </s></s> p </s>). */
typedef struct reranker reranker;

/* Loads a reranker folder (config.json, vocab.txt or sentencepiece.bpe.model,
 * model.safetensors with classifier weights). NULL with the error set when
 * it is not one. */
reranker *reranker_open(const char *model_dir, const bert_params *params);
void reranker_free(reranker *r);
/* scores (n): raw logits, higher is more relevant (one label: the logit;
 * two: logit[1] - logit[0], so sigmoid(score) is P(relevant) either way).
 * The passage is truncated first to fit the model's max length. */
int reranker_score(reranker *r, const char *query, const char *const *passages, size_t n,
                   float *scores);
/* A few lines for `docqa model info`. Caller frees. */
char *reranker_describe(const reranker *r);
/* Whether dir's config.json declares a *ForSequenceClassification
 * architecture (a cross-encoder, loadable or not); false when unreadable. */
bool reranker_folder(const char *dir);

#endif
