/* model.c - loads a Hugging Face BERT folder (config.json, vocab.txt,
 * tokenizer_config.json, model.safetensors, sentence-transformers metadata)
 * and encodes texts with it.
 *
 * F32 tensors are used in place from the read-only mapping (copied only when
 * misaligned); F16/BF16 tensors are widened once into buffers the model owns.
 * Pooling comes from modules.json -> the Pooling module's config.json; a
 * folder without modules.json (text2vec-base-chinese, m3e-base) gets mean
 * pooling, which is what sentence-transformers itself adds for a plain
 * transformers checkpoint and what those models were trained with.
 *
 * Output vectors are always L2-normalised: docqa ranks by cosine, and a unit
 * vector makes that a dot product. So bert_config.normalize is always true
 * after loading; whether the model itself declared a Normalize module is kept
 * separately (normalize_declared) and shown by bert_describe.
 *
 * bert_encode and bert_forward_ids use scratch owned by the model, so one
 * model serves one call at a time (the forward pass threads internally).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

bert_params bert_default_params(void)
{
    return (bert_params){.n_threads = 0, .int8 = false, .max_batch = 32, .max_len = 0};
}

/* ---- small helpers -------------------------------------------------------- */

static char *path_join(const char *dir, const char *name)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_puts(&b, dir);
    if (b.len && b.data[b.len - 1] != '/')
        dq_buf_putc(&b, '/');
    dq_buf_puts(&b, name);
    return dq_buf_take(&b);
}

static bool file_exists(const char *path)
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

static void shape_str(const int64_t *shape, int n_dims, char *out, size_t n)
{
    size_t len = (size_t)snprintf(out, n, "[");
    for (int i = 0; i < n_dims && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%lld", i ? ", " : "",
                                (long long)shape[i]);
    if (len < n)
        snprintf(out + len, n - len, "]");
}

/* ---- config.json ---------------------------------------------------------- */

static int load_config(const char *dir, bert_config *c, cJSON **json_out, dq_buf *raw)
{
    char *path = path_join(dir, "config.json");
    int rc = -1;
    cJSON *j = NULL;
    if (!file_exists(path)) {
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
        if (strcmp(mt->valuestring, "bert") != 0) {
            dq_set_error("'%s': model type '%.40s' is not supported yet (only BERT: m3e, "
                         "text2vec, bge-*-zh/en)",
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

    if (cfg_int(path, j, "hidden_size", 0, 65536, &c->hidden) < 0 ||
        cfg_int(path, j, "num_hidden_layers", 0, 1024, &c->n_layers) < 0 ||
        cfg_int(path, j, "num_attention_heads", 0, 1024, &c->n_heads) < 0 ||
        cfg_int(path, j, "intermediate_size", 0, 1 << 20, &c->intermediate) < 0 ||
        cfg_int(path, j, "max_position_embeddings", 0, 1 << 20, &c->max_pos) < 0 ||
        cfg_int(path, j, "vocab_size", 0, 1 << 24, &c->vocab_size) < 0 ||
        cfg_int(path, j, "type_vocab_size", 2, 1024, &c->type_vocab) < 0)
        goto out;
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

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int load_pooling(const char *dir, bert_config *c, bool *normalize_declared)
{
    c->pooling = BERT_POOL_MEAN;
    *normalize_declared = false;
    char *mpath = path_join(dir, "modules.json");
    if (!file_exists(mpath)) {
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
        if (ends_with(t, "models.Transformer"))
            continue;
        if (ends_with(t, "models.Normalize")) {
            *normalize_declared = true;
            continue;
        }
        if (!ends_with(t, "models.Pooling")) {
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
        char *pdir = path_join(dir, sub->valuestring);
        free(ppath);
        ppath = path_join(pdir, "config.json");
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

/* vocab.txt with tokenizer_config.json's options; caps *max_len by
 * model_max_length. */
static wp_tokenizer *load_tokenizer(const char *dir, int *max_len)
{
    wp_options opt = wp_default_options();
    char *tpath = path_join(dir, "tokenizer_config.json");
    if (file_exists(tpath)) {
        cJSON *tj = read_json(tpath);
        if (!tj) {
            free(tpath);
            return NULL;
        }
        opt.lower_case = json_bool(tj, "do_lower_case", true);
        /* HF: strip_accents unset (or null) follows do_lower_case */
        opt.strip_accents = json_bool(tj, "strip_accents", opt.lower_case);
        opt.split_cjk = json_bool(tj, "tokenize_chinese_chars", true);
        const cJSON *mml = cJSON_GetObjectItemCaseSensitive(tj, "model_max_length");
        /* some configs write 1e30 for "no limit" */
        if (cJSON_IsNumber(mml) && mml->valuedouble >= 2 && mml->valuedouble < *max_len)
            *max_len = (int)mml->valuedouble;
        cJSON_Delete(tj);
    }
    free(tpath);
    char *vpath = path_join(dir, "vocab.txt");
    wp_tokenizer *tok = NULL;
    if (!file_exists(vpath))
        dq_set_error("'%s': no vocab.txt (only WordPiece BERT tokenizers are supported)", dir);
    else
        tok = wp_load(vpath, &opt);
    free(vpath);
    return tok;
}

/* ---- weights ------------------------------------------------------------- */

float bert_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (mant << 13); /* inf, or nan keeping its payload */
    else
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float bert_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float *own(bert_model *m, size_t n_floats)
{
    float *p = dq_malloc(n_floats ? n_floats * sizeof(float) : 1);
    DQ_GROW(m->owned, m->cap_owned, m->n_owned + 1);
    m->owned[m->n_owned++] = p;
    m->owned_bytes += n_floats * sizeof(float);
    return p;
}

static const st_tensor *find_tensor(const bert_model *m, const char *name)
{
    const st_tensor *t = st_find(&m->st, name);
    if (!t) {
        char buf[256];
        snprintf(buf, sizeof buf, "bert.%.250s", name);
        t = st_find(&m->st, buf);
    }
    return t;
}

/* The tensor `name` (with or without "bert.", and for LayerNorm with the
 * old gamma/beta names) as F32 of the expected shape, or NULL with the
 * error naming the tensor. */
static const float *get_tensor(bert_model *m, const char *spath, const char *name, int n_dims,
                               int64_t d0, int64_t d1)
{
    const st_tensor *t = find_tensor(m, name);
    if (!t && ends_with(name, "LayerNorm.weight")) {
        char alt[256];
        snprintf(alt, sizeof alt, "%.*sgamma", (int)(strlen(name) - 6), name);
        t = find_tensor(m, alt);
    } else if (!t && ends_with(name, "LayerNorm.bias")) {
        char alt[256];
        snprintf(alt, sizeof alt, "%.*sbeta", (int)(strlen(name) - 4), name);
        t = find_tensor(m, alt);
    }
    if (!t) {
        dq_set_error("'%s': missing tensor '%s'", spath, name);
        return NULL;
    }
    int64_t want[2] = {d0, d1};
    bool ok = t->n_dims == n_dims;
    for (int i = 0; ok && i < n_dims; i++)
        ok = t->shape[i] == want[i];
    if (!ok) {
        char a[64], b[64];
        shape_str(want, n_dims, a, sizeof a);
        shape_str(t->shape, t->n_dims, b, sizeof b);
        dq_set_error("'%s': tensor '%s': %s expected, found %s", spath, t->name, a, b);
        return NULL;
    }
    size_t n = (size_t)d0 * (size_t)(n_dims == 2 ? d1 : 1);
    m->n_params += (int64_t)n;
    switch (t->dtype) {
    case ST_F32:
        if ((uintptr_t)t->data % _Alignof(float) == 0) {
            m->mapped_bytes += t->n_bytes;
            return t->data;
        } else {
            float *p = own(m, n);
            memcpy(p, t->data, n * sizeof(float));
            return p;
        }
    case ST_F16:
    case ST_BF16: {
        float *p = own(m, n);
        const unsigned char *src = t->data;
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            p[i] = t->dtype == ST_F16 ? bert_f16_to_f32(h) : bert_bf16_to_f32(h);
        }
        return p;
    }
    default:
        dq_set_error("'%s': tensor '%s' has dtype %s (expected F32, F16 or BF16)", spath,
                     t->name, t->dtype_name);
        return NULL;
    }
}

static int load_linear(bert_model *m, const char *spath, const char *name, int n_out, int n_in,
                       bert_linear *l)
{
    char buf[200];
    snprintf(buf, sizeof buf, "%s.weight", name);
    l->w = get_tensor(m, spath, buf, 2, n_out, n_in);
    snprintf(buf, sizeof buf, "%s.bias", name);
    l->b = l->w ? get_tensor(m, spath, buf, 1, n_out, 0) : NULL;
    l->n_out = n_out;
    l->n_in = n_in;
    return l->w && l->b ? 0 : -1;
}

static int load_norm(bert_model *m, const char *spath, const char *name, bert_norm *n)
{
    char buf[200];
    int h = m->cfg.hidden;
    snprintf(buf, sizeof buf, "%s.weight", name);
    n->gamma = get_tensor(m, spath, buf, 1, h, 0);
    snprintf(buf, sizeof buf, "%s.bias", name);
    n->beta = n->gamma ? get_tensor(m, spath, buf, 1, h, 0) : NULL;
    return n->gamma && n->beta ? 0 : -1;
}

static int load_weights(bert_model *m, const char *spath)
{
    const bert_config *c = &m->cfg;
    bert_weights *w = &m->w;
    int h = c->hidden;
    if (!(w->word_emb = get_tensor(m, spath, "embeddings.word_embeddings.weight", 2,
                                   c->vocab_size, h)) ||
        !(w->pos_emb = get_tensor(m, spath, "embeddings.position_embeddings.weight", 2,
                                  c->max_pos, h)) ||
        !(w->type_emb = get_tensor(m, spath, "embeddings.token_type_embeddings.weight", 2,
                                   c->type_vocab, h)) ||
        load_norm(m, spath, "embeddings.LayerNorm", &w->ln_emb) < 0)
        return -1;
    w->layers = dq_calloc((size_t)c->n_layers, sizeof *w->layers);
    for (int i = 0; i < c->n_layers; i++) {
        bert_layer *L = &w->layers[i];
        char p[64], n[160];
        snprintf(p, sizeof p, "encoder.layer.%d.", i);
#define NAME(s) (snprintf(n, sizeof n, "%s%s", p, s), n)
        if (load_linear(m, spath, NAME("attention.self.query"), h, h, &L->q) < 0 ||
            load_linear(m, spath, NAME("attention.self.key"), h, h, &L->k) < 0 ||
            load_linear(m, spath, NAME("attention.self.value"), h, h, &L->v) < 0 ||
            load_linear(m, spath, NAME("attention.output.dense"), h, h, &L->o) < 0 ||
            load_norm(m, spath, NAME("attention.output.LayerNorm"), &L->ln_attn) < 0 ||
            load_linear(m, spath, NAME("intermediate.dense"), c->intermediate, h, &L->ff_in) <
                0 ||
            load_linear(m, spath, NAME("output.dense"), h, c->intermediate, &L->ff_out) < 0 ||
            load_norm(m, spath, NAME("output.LayerNorm"), &L->ln_ff) < 0)
            return -1;
#undef NAME
    }
    /* dtypes present in the file, for bert_describe */
    for (size_t i = 0; i < m->st.n_tensors; i++) {
        const char *d = m->st.tensors[i].dtype_name;
        char key[12];
        snprintf(key, sizeof key, "+%s+", d);
        char have[sizeof m->dtypes + 2];
        snprintf(have, sizeof have, "+%s+", m->dtypes);
        if (strstr(have, key))
            continue;
        size_t len = strlen(m->dtypes);
        snprintf(m->dtypes + len, sizeof m->dtypes - len, "%s%s", len ? "+" : "", d);
    }
    return 0;
}

/* ---- load / free ------------------------------------------------------------ */

static void make_identity(bert_model *m, const dq_buf *config_raw)
{
    dq_sha256 s;
    uint8_t digest[32];
    char hex[65];
    const unsigned char *p = m->st.map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | p[i];
    dq_sha256_init(&s);
    dq_sha256_update(&s, config_raw->data ? config_raw->data : "", config_raw->len);
    dq_sha256_update(&s, p + 8, (size_t)hlen);
    dq_sha256_final(&s, digest);
    dq_hex(digest, 8, hex);
    snprintf(m->identity, sizeof m->identity, "bert:%s:%s:%d%s", hex,
             m->cfg.pooling == BERT_POOL_CLS ? "cls" : "mean", m->cfg.hidden,
             m->quantized ? ":int8" : "");
}

bert_model *bert_load(const char *dir, const bert_params *params)
{
    bert_model *m = dq_calloc(1, sizeof *m);
    m->dir = dq_strdup(dir);
    m->params = params ? *params : bert_default_params();
    if (m->params.max_batch <= 0)
        m->params.max_batch = 32;
    if (m->params.max_len < 0 || m->params.max_len == 1) {
        dq_set_error("max_len %d is too small (need at least 2 for [CLS] and [SEP])",
                     m->params.max_len);
        free(m->dir);
        free(m);
        return NULL;
    }
    dq_buf config_raw = DQ_BUF_INIT;
    cJSON *cj = NULL;
    char *spath = path_join(dir, "model.safetensors");
    struct stat dst;
    if (stat(dir, &dst) < 0) {
        dq_set_error("cannot open model folder '%s': %s", dir, strerror(errno));
        goto fail;
    }
    if (!S_ISDIR(dst.st_mode)) {
        dq_set_error("'%s': not a model folder (expected a directory)", dir);
        goto fail;
    }
    if (load_config(dir, &m->cfg, &cj, &config_raw) < 0 ||
        load_pooling(dir, &m->cfg, &m->normalize_declared) < 0)
        goto fail;
    m->cfg.normalize = true; /* always: see the top of this file */

    m->max_len = m->cfg.max_pos;
    if (m->params.max_len > 0 && m->params.max_len < m->max_len)
        m->max_len = m->params.max_len;
    if (!(m->tok = load_tokenizer(dir, &m->max_len)))
        goto fail;
    m->params.max_len = m->max_len;
    if (wp_vocab_size(m->tok) > m->cfg.vocab_size) {
        dq_set_error("'%s/vocab.txt': %d tokens but config.json says vocab_size %d", dir,
                     wp_vocab_size(m->tok), m->cfg.vocab_size);
        goto fail;
    }
    m->pad_id = wp_token_id(m->tok, "[PAD]");
    if (m->pad_id < 0)
        m->pad_id = 0;

    if (!file_exists(spath)) {
        char *bin = path_join(dir, "pytorch_model.bin");
        if (file_exists(bin))
            dq_set_error("'%s': only pytorch_model.bin found; docqa reads model.safetensors. "
                         "Convert it once with: /usr/bin/python3 -c \"import torch; from "
                         "safetensors.torch import save_file; sd = torch.load('%s', "
                         "map_location='cpu'); save_file({k: v.detach().clone().contiguous() "
                         "for k, v in sd.items()}, '%s', metadata={'format': 'pt'})\"",
                         dir, bin, spath);
        else
            dq_set_error("'%s': no model.safetensors", dir);
        free(bin);
        goto fail;
    }
    if (st_open(spath, &m->st) < 0 || load_weights(m, spath) < 0)
        goto fail;
    if (m->params.int8) {
        if (bert_quantize(&m->cfg, &m->w) < 0)
            goto fail;
        m->quantized = true;
    } else {
        m->packed_bytes = bert_pack_weights(&m->cfg, &m->w);
    }
    if (!(m->run = bert_run_new(&m->cfg, m->params.max_batch, m->max_len,
                                m->params.n_threads)))
        goto fail;
    size_t mb = (size_t)m->params.max_batch;
    m->batch_ids = dq_malloc(mb * (size_t)m->max_len * sizeof *m->batch_ids);
    m->batch_lens = dq_malloc(mb * sizeof *m->batch_lens);
    m->batch_pooled = dq_malloc(mb * (size_t)m->cfg.hidden * sizeof *m->batch_pooled);
    make_identity(m, &config_raw);
    cJSON_Delete(cj);
    dq_buf_free(&config_raw);
    free(spath);
    return m;
fail:
    cJSON_Delete(cj);
    dq_buf_free(&config_raw);
    free(spath);
    bert_free(m);
    return NULL;
}

void bert_free(bert_model *m)
{
    if (!m)
        return;
    if (m->quantized)
        bert_weights_free_quant(&m->cfg, &m->w);
    bert_weights_free_pack(&m->cfg, &m->w);
    bert_run_free(m->run);
    free(m->w.layers);
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    st_close(&m->st);
    wp_free(m->tok);
    free(m->batch_ids);
    free(m->batch_lens);
    free(m->batch_pooled);
    free(m->dir);
    free(m);
}

const bert_config *bert_get_config(const bert_model *m)
{
    return &m->cfg;
}

const wp_tokenizer *bert_get_tokenizer(const bert_model *m)
{
    return m->tok;
}

int bert_dim(const bert_model *m)
{
    return m->cfg.hidden;
}

const char *bert_identity(const bert_model *m)
{
    return m->identity;
}

char *bert_describe(const bert_model *m)
{
    const bert_config *c = &m->cfg;
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "model: %s\n", m->dir);
    dq_buf_printf(&b, "architecture: %s (bert), activation %s\n", c->arch, c->act);
    dq_buf_printf(&b, "size: hidden %d, layers %d, heads %d, intermediate %d\n", c->hidden,
                  c->n_layers, c->n_heads, c->intermediate);
    dq_buf_printf(&b, "positions: %d (texts capped at %d tokens)\n", c->max_pos, m->max_len);
    dq_buf_printf(&b, "vocabulary: %d tokens\n", c->vocab_size);
    dq_buf_printf(&b, "pooling: %s\n", c->pooling == BERT_POOL_CLS ? "cls" : "mean");
    dq_buf_printf(&b, "normalize: yes (%s)\n",
                  m->normalize_declared ? "declared by the model"
                                        : "docqa always normalises; the model declares none");
    dq_buf_printf(&b, "dtype: %s\n", m->dtypes);
    dq_buf_printf(&b, "parameters: %lld\n", (long long)m->n_params);
    dq_buf_printf(&b, "weights memory: %.1f MB (%.1f MB mapped, %.1f MB owned)\n",
                  (double)(m->mapped_bytes + m->owned_bytes) / 1e6,
                  (double)m->mapped_bytes / 1e6, (double)m->owned_bytes / 1e6);
    if (m->packed_bytes)
        dq_buf_printf(&b, "packed FP32 weights: %.1f MB (the SGEMM's layout, made at load)\n",
                      (double)m->packed_bytes / 1e6);
    dq_buf_printf(&b, "int8: %s\n", m->quantized ? "yes" : "no");
    dq_buf_printf(&b, "identity: %s\n", m->identity);
    return dq_buf_take(&b);
}

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
static bool reference_requested(void)
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
    bool ref = reference_requested();
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
