/* bpe_gguf.c - a byte-level BPE tokenizer from a GGUF file's tokenizer.ggml.* keys.
 *
 * Arrays are read in place from the mapping (bpe_new copies what it keeps);
 * a key of the wrong type or length is an error naming the key.
 */
#include "embed/bpe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_str_array(const gguf_file *f, const char *key, bpe_str **out, size_t *n)
{
    gguf_arr a;
    if (gguf_get_arr(f, key, &a) < 0)
        return -1;
    if (a.type != GGUF_VAL_STRING) {
        dq_set_error("'%s': %s is an array of %s, not of strings", gguf_path(f), key,
                     gguf_val_type_name(a.type));
        return -1;
    }
    *out = dq_malloc((a.n ? a.n : 1) * sizeof **out);
    for (uint64_t i = 0; i < a.n; i++)
        (*out)[i].s = gguf_arr_str(&a, i, &(*out)[i].len);
    *n = (size_t)a.n;
    return 0;
}

static int read_types(const gguf_file *f, size_t n_tokens, int32_t **out)
{
    *out = NULL;
    if (!gguf_has_key(f, "tokenizer.ggml.token_type"))
        return 0;
    gguf_arr a;
    if (gguf_get_arr(f, "tokenizer.ggml.token_type", &a) < 0)
        return -1;
    if (a.n != n_tokens || a.type == GGUF_VAL_STRING || a.type == GGUF_VAL_F32 || a.type == GGUF_VAL_F64 ||
        a.type == GGUF_VAL_BOOL) {
        dq_set_error("'%s': tokenizer.ggml.token_type must hold one integer per token (%zu)", gguf_path(f),
                     n_tokens);
        return -1;
    }
    *out = dq_malloc((n_tokens ? n_tokens : 1) * sizeof **out);
    for (size_t i = 0; i < n_tokens; i++) {
        int64_t v = gguf_arr_int(&a, i);
        (*out)[i] = v >= INT32_MIN && v <= INT32_MAX ? (int32_t)v : 0;
    }
    return 0;
}

/* An optional id: -1 when the key is absent. */
static int read_id(const gguf_file *f, const char *key, int32_t *id)
{
    *id = -1;
    if (!gguf_has_key(f, key))
        return 0;
    uint32_t v;
    if (gguf_get_u32(f, key, &v) < 0)
        return -1;
    *id = v > INT32_MAX ? INT32_MAX : (int32_t)v; /* bpe_new reports it out of range */
    return 0;
}

bpe_tokenizer *bpe_from_gguf(const gguf_file *f)
{
    bpe_vocab v = {0};
    bpe_str *tokens = NULL, *merges = NULL;
    int32_t *types = NULL;
    bpe_tokenizer *t = NULL;
    v.model = gguf_get_str(f, "tokenizer.ggml.model", NULL);
    if (!v.model)
        goto done;
    v.pre = gguf_has_key(f, "tokenizer.ggml.pre") ? gguf_get_str(f, "tokenizer.ggml.pre", NULL) : "default";
    if (!v.pre)
        goto done;
    if (read_str_array(f, "tokenizer.ggml.tokens", &tokens, &v.n_tokens) < 0 ||
        read_str_array(f, "tokenizer.ggml.merges", &merges, &v.n_merges) < 0 ||
        read_types(f, v.n_tokens, &types) < 0 || read_id(f, "tokenizer.ggml.bos_token_id", &v.bos_id) < 0 ||
        read_id(f, "tokenizer.ggml.eos_token_id", &v.eos_id) < 0 ||
        read_id(f, "tokenizer.ggml.eot_token_id", &v.eot_id) < 0 ||
        read_id(f, "tokenizer.ggml.padding_token_id", &v.pad_id) < 0)
        goto done;
    /* Without the key, Llama 3 files start with BOS and Qwen's do not
     * (what their Hugging Face tokenizers do). */
    v.add_bos = strcmp(v.pre, "llama-bpe") == 0;
    if (gguf_has_key(f, "tokenizer.ggml.add_bos_token") &&
        gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &v.add_bos) < 0)
        goto done;
    v.tokens = tokens;
    v.merges = merges;
    v.token_types = types;
    t = bpe_new(&v);
    if (!t) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", dq_last_error());
        dq_set_error("'%s': %s", gguf_path(f), msg);
    }
done:
    free(tokens);
    free(merges);
    free(types);
    return t;
}
