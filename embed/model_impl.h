/* model_impl.h - private to embed/: the loaded model as model.c,
 * model_config.c and encode.c share it. */
#ifndef DQ_MODEL_IMPL_H
#define DQ_MODEL_IMPL_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "common/common.h"
#include "embed/bert_impl.h"
#include "embed/embed.h"

struct bert_model {
    bert_config cfg;
    bert_weights w;     /* pointers into st's mapping or into owned[] */
    st_file st;         /* model.safetensors, mapped for the model's lifetime */
    wp_tokenizer *tok;
    bert_run *run;      /* scratch for max_batch x max_len */
    bert_params params; /* as loaded; max_batch/max_len resolved */
    int max_len;        /* tokens per text incl. [CLS]/[SEP] */
    int pad_id;
    bool normalize_declared; /* the folder has a Normalize module */
    bool quantized;
    float **owned;      /* (n_owned) widened or realigned tensors */
    size_t n_owned, cap_owned;
    size_t mapped_bytes, owned_bytes;
    size_t packed_bytes; /* FP32 W copied into the SGEMM's layout (bert_pack_weights) */
    int64_t n_params;
    char dtypes[48];    /* distinct dtypes in the file, "F16+I64" */
    char identity[96];
    char *dir;
    /* bert_encode/bert_forward_ids scratch, sized max_batch x max_len */
    int32_t *batch_ids; /* (max_batch, max_len) */
    int *batch_lens;    /* (max_batch) */
    float *batch_pooled; /* (max_batch, hidden) */
};

/* model_config.c: the folder's files other than the weights. */
char *model_path_join(const char *dir, const char *name);
bool model_file_exists(const char *path);
bool model_ends_with(const char *s, const char *suffix);
/* config.json -> c; *json_out and raw (its bytes, for the identity) are the caller's. */
int model_read_config(const char *dir, bert_config *c, cJSON **json_out, dq_buf *raw);
/* modules.json and the Pooling module's config -> c->pooling. */
int model_read_pooling(const char *dir, bert_config *c, bool *normalize_declared);
/* vocab.txt with tokenizer_config.json's options; caps *max_len by model_max_length. */
wp_tokenizer *model_read_tokenizer(const char *dir, int *max_len);

/* model.c: a tensor by name, with or without the "bert." prefix (heads such
 * as pooler.dense and classifier sit beside the encoder's weights) */
const st_tensor *model_find_tensor(const bert_model *m, const char *name);
/* ... as F32 of the expected shape (d1 ignored when n_dims is 1), widened or
 * realigned into memory the model owns when needed; NULL with the error
 * naming the tensor and both shapes. spath names the file in errors. */
const float *model_tensor(bert_model *m, const char *spath, const char *name, int n_dims,
                          int64_t d0, int64_t d1);
/* encode.c: DQ_BERT_REFERENCE=1 asks for the scalar reference path (tests) */
bool model_reference_requested(void);

#endif
