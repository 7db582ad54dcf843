/* model_config.c - reads a model folder's description: config.json,
 * tokenizer_config.json + vocab.txt, and sentence-transformers' modules.json
 * with its Pooling module, into bert_config and a tokenizer. Every error names
 * the file and the field. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "embed/model_impl.h"

char *model_path_join(const char *dir, const char *name)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_puts(&b, dir);
    if (b.len && b.data[b.len - 1] != '/')
        dq_buf_putc(&b, '/');
    dq_buf_puts(&b, name);
    return dq_buf_take(&b);
}

bool model_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Reads and parses a JSON file; NULL with the error set. */
static cJSON *read_json(const char *path)
{
    dq_buf b = DQ_BUF_INIT;
    if (dq_read_file(path, &b) < 0) {
        dq_buf_free(&b);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
    dq_buf_free(&b);
    if (!j)
        dq_set_error("'%s': not valid JSON", path);
    return j;
}

static bool json_bool(const cJSON *obj, const char *key, bool dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    return dflt;
}

/* A required positive integer field of config.json. */
static int cfg_int(const char *path, const cJSON *cfg, const char *key, int dflt, int max,
                   int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v && dflt > 0) {
        *out = dflt;
        return 0;
    }
    if (!v) {
        dq_set_error("'%s': missing '%s'", path, key);
        return -1;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > max ||
        floor(v->valuedouble) != v->valuedouble) {
        dq_set_error("'%s': '%s' must be an integer from 1 to %d", path, key, max);
        return -1;
    }
    *out = (int)v->valuedouble;
    return 0;
}

/* ---- config.json ---------------------------------------------------------- */

int model_read_config(const char *dir, bert_config *c, cJSON **json_out, dq_buf *raw)
{
    char *path = model_path_join(dir, "config.json");
    int rc = -1;
    cJSON *j = NULL;
    if (!model_file_exists(path)) {
        dq_set_error("'%s': no config.json (not a Hugging Face model folder?)", dir);
        goto out;
    }
    if (dq_read_file(path, raw) < 0)
        goto out;
    j = cJSON_ParseWithLength(raw->data ? raw->data : "", raw->len);
    if (!cJSON_IsObject(j)) {
        dq_set_error("'%s': not a JSON object", path);
        goto out;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(j, "architectures");
    const cJSON *arch0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    const char *arch = cJSON_IsString(arch0) ? arch0->valuestring : NULL;
    if (cJSON_IsString(mt)) {
        c->roberta = strcmp(mt->valuestring, "xlm-roberta") == 0;
        if (strcmp(mt->valuestring, "bert") != 0 && !c->roberta) {
            dq_set_error("'%s': model type '%.40s' is not supported yet (only BERT: m3e, "
                         "text2vec, bge-*-zh/en; and XLM-RoBERTa)",
                         path, mt->valuestring);
            goto out;
        }
    } else if (!arch || strncmp(arch, "Bert", 4) != 0) {
        dq_set_error("'%s': model type '%.40s' is not supported yet (only BERT: m3e, "
                     "text2vec, bge-*-zh/en)",
                     path, arch ? arch : "unknown");
        goto out;
    }
    snprintf(c->arch, sizeof c->arch, "%s", arch ? arch : "BertModel");
    c->pos_offset = 0;
    if (c->roberta) {
        /* RoBERTa numbers positions from padding_idx + 1 (fairseq's habit) */
        const cJSON *pad = cJSON_GetObjectItemCaseSensitive(j, "pad_token_id");
        int pad_id = cJSON_IsNumber(pad) ? (int)pad->valuedouble : 1;
        if (pad_id < 0 || pad_id > 1000) {
            dq_set_error("'%s': 'pad_token_id' %d is out of range", path, pad_id);
            goto out;
        }
        c->pos_offset = pad_id + 1;
    }

    if (cfg_int(path, j, "hidden_size", 0, 65536, &c->hidden) < 0 ||
        cfg_int(path, j, "num_hidden_layers", 0, 1024, &c->n_layers) < 0 ||
        cfg_int(path, j, "num_attention_heads", 0, 1024, &c->n_heads) < 0 ||
        cfg_int(path, j, "intermediate_size", 0, 1 << 20, &c->intermediate) < 0 ||
        cfg_int(path, j, "max_position_embeddings", 0, 1 << 20, &c->max_pos) < 0 ||
        cfg_int(path, j, "vocab_size", 0, 1 << 24, &c->vocab_size) < 0 ||
        cfg_int(path, j, "type_vocab_size", 2, 1024, &c->type_vocab) < 0)
        goto out;
    if (c->max_pos - c->pos_offset < 2) {
        dq_set_error("'%s': 'max_position_embeddings' must be at least 2 (for [CLS] and "
                     "[SEP])",
                     path);
        goto out;
    }
    if (c->hidden % c->n_heads) {
        dq_set_error("'%s': hidden_size %d is not a multiple of num_attention_heads %d", path,
                     c->hidden, c->n_heads);
        goto out;
    }
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(j, "layer_norm_eps");
    c->ln_eps = 1e-12f;
    if (eps) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || eps->valuedouble > 1) {
            dq_set_error("'%s': 'layer_norm_eps' must be a small positive number", path);
            goto out;
        }
        c->ln_eps = (float)eps->valuedouble;
    }
    /* Only erf GELU: "gelu_new" (tanh) and "relu" would give silently
     * different vectors, so they are refused rather than approximated. */
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "hidden_act");
    const char *a = cJSON_IsString(act) ? act->valuestring : "gelu";
    if (strcmp(a, "gelu") != 0) {
        dq_set_error("'%s': hidden_act '%.32s' is not supported (only 'gelu')", path, a);
        goto out;
    }
    snprintf(c->act, sizeof c->act, "gelu");
    const cJSON *pet = cJSON_GetObjectItemCaseSensitive(j, "position_embedding_type");
    if (cJSON_IsString(pet) && strcmp(pet->valuestring, "absolute") != 0) {
        dq_set_error("'%s': position_embedding_type '%.32s' is not supported (only "
                     "'absolute')",
                     path, pet->valuestring);
        goto out;
    }
    rc = 0;
out:
    free(path);
    if (rc < 0) {
        cJSON_Delete(j);
        j = NULL;
    }
    *json_out = j;
    return rc;
}

/* ---- sentence-transformers modules --------------------------------------- */

bool model_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int model_read_pooling(const char *dir, bert_config *c, bool *normalize_declared)
{
    c->pooling = BERT_POOL_MEAN;
    *normalize_declared = false;
    char *mpath = model_path_join(dir, "modules.json");
    if (!model_file_exists(mpath)) {
        free(mpath);
        return 0;
    }
    int rc = -1;
    char *ppath = NULL;
    cJSON *pj = NULL;
    cJSON *mj = read_json(mpath);
    if (!mj)
        goto out;
    if (!cJSON_IsArray(mj)) {
        dq_set_error("'%s': not a JSON array of modules", mpath);
        goto out;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, mj)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(m, "type");
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(m, "path");
        if (!cJSON_IsString(type)) {
            dq_set_error("'%s': a module has no 'type'", mpath);
            goto out;
        }
        const char *t = type->valuestring;
        if (model_ends_with(t, "models.Transformer"))
            continue;
        if (model_ends_with(t, "models.Normalize")) {
            *normalize_declared = true;
            continue;
        }
        if (!model_ends_with(t, "models.Pooling")) {
            /* Dense and friends change the vectors; ignoring them would give
             * an embedding the model's authors never meant. */
            dq_set_error("'%s': module '%.80s' is not supported (only Transformer, Pooling "
                         "and Normalize)",
                         mpath, t);
            goto out;
        }
        if (!cJSON_IsString(sub)) {
            dq_set_error("'%s': the Pooling module has no 'path'", mpath);
            goto out;
        }
        char *pdir = model_path_join(dir, sub->valuestring);
        free(ppath);
        ppath = model_path_join(pdir, "config.json");
        free(pdir);
        cJSON_Delete(pj);
        pj = read_json(ppath);
        if (!pj)
            goto out;
        bool cls = json_bool(pj, "pooling_mode_cls_token", false);
        bool mean = json_bool(pj, "pooling_mode_mean_tokens", false);
        static const char *const unsupported[] = {
            "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
            "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"};
        for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
            if (json_bool(pj, unsupported[i], false)) {
                dq_set_error("'%s': %s is not supported (only cls or mean pooling)", ppath,
                             unsupported[i]);
                goto out;
            }
        }
        if (cls == mean) {
            dq_set_error("'%s': %s (need exactly one of pooling_mode_cls_token and "
                         "pooling_mode_mean_tokens)",
                         ppath, cls ? "both cls and mean pooling set" : "no pooling mode set");
            goto out;
        }
        c->pooling = cls ? BERT_POOL_CLS : BERT_POOL_MEAN;
    }
    rc = 0;
out:
    cJSON_Delete(pj);
    cJSON_Delete(mj);
    free(ppath);
    free(mpath);
    return rc;
}

/* ---- tokenizer ----------------------------------------------------------- */

/* dir's tokenizer_config.json, having capped *max_len by its
 * model_max_length; NULL when there is none (*failed false) or it cannot be
 * read (*failed true, error set). Caller deletes. */
static cJSON *read_tokenizer_config(const char *dir, int *max_len, bool *failed)
{
    *failed = false;
    char *tpath = model_path_join(dir, "tokenizer_config.json");
    cJSON *tj = NULL;
    if (model_file_exists(tpath)) {
        tj = read_json(tpath);
        *failed = !tj;
    }
    free(tpath);
    if (tj) {
        const cJSON *mml = cJSON_GetObjectItemCaseSensitive(tj, "model_max_length");
        /* some configs write 1e30 for "no limit" */
        if (cJSON_IsNumber(mml) && mml->valuedouble >= 2 && mml->valuedouble < *max_len)
            *max_len = (int)mml->valuedouble;
    }
    return tj;
}

spm_tokenizer *model_read_spm(const char *dir, int *max_len)
{
    bool failed;
    cJSON_Delete(read_tokenizer_config(dir, max_len, &failed));
    if (failed)
        return NULL;
    char *spath = model_path_join(dir, "sentencepiece.bpe.model");
    spm_tokenizer *t = NULL;
    if (!model_file_exists(spath))
        dq_set_error("'%s': no sentencepiece.bpe.model (an XLM-RoBERTa model needs it; "
                     "tokenizer.json alone is not read)",
                     dir);
    else
        t = spm_load(spath);
    free(spath);
    return t;
}

/* vocab.txt with tokenizer_config.json's options; caps *max_len by
 * model_max_length. */
wp_tokenizer *model_read_tokenizer(const char *dir, int *max_len)
{
    wp_options opt = wp_default_options();
    bool failed;
    cJSON *tj = read_tokenizer_config(dir, max_len, &failed);
    if (failed)
        return NULL;
    if (tj) {
        opt.lower_case = json_bool(tj, "do_lower_case", true);
        /* HF: strip_accents unset (or null) follows do_lower_case */
        opt.strip_accents = json_bool(tj, "strip_accents", opt.lower_case);
        opt.split_cjk = json_bool(tj, "tokenize_chinese_chars", true);
        cJSON_Delete(tj);
    }
    char *vpath = model_path_join(dir, "vocab.txt");
    wp_tokenizer *tok = NULL;
    if (!model_file_exists(vpath))
        dq_set_error("'%s': no vocab.txt (only WordPiece BERT tokenizers are supported)", dir);
    else
        tok = wp_load(vpath, &opt);
    free(vpath);
    return tok;
}

int bert_check_config(const char *dir, bool *reranker, bool *xlmr)
{
    bert_config c;
    memset(&c, 0, sizeof c);
    cJSON *j = NULL;
    dq_buf raw = DQ_BUF_INIT;
    int rc = model_read_config(dir, &c, &j, &raw);
    cJSON_Delete(j);
    dq_buf_free(&raw);
    if (rc < 0)
        return -1;
    *reranker = strstr(c.arch, "ForSequenceClassification") != NULL;
    *xlmr = c.roberta;
    return 0;
}

int bert_check_folder(const char *dir, bool xlmr)
{
    bert_config c;
    memset(&c, 0, sizeof c);
    bool norm;
    int max_len = 1 << 20;
    wp_tokenizer *tok = NULL;
    spm_tokenizer *spm = NULL;
    if (model_read_pooling(dir, &c, &norm) < 0 ||
        (xlmr ? !(spm = model_read_spm(dir, &max_len))
              : !(tok = model_read_tokenizer(dir, &max_len))))
        return -1;
    wp_free(tok);
    spm_free(spm);
    return 0;
}
