/* model.c - loads a Hugging Face BERT folder (config.json, vocab.txt,
 * tokenizer_config.json, model.safetensors, sentence-transformers metadata):
 * binds the weights, prepares them (packing or int8) and owns it all; the
 * folder's description is read by model_config.c, texts encoded by encode.c.
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
#include "embed/model_impl.h"

bert_params bert_default_params(void)
{
    return (bert_params){.n_threads = 0, .int8 = false, .max_batch = 32, .max_len = 0,
                         .pool = NULL};
}

/* ---- small helpers -------------------------------------------------------- */

static void shape_str(const int64_t *shape, int n_dims, char *out, size_t n)
{
    size_t len = (size_t)snprintf(out, n, "[");
    for (int i = 0; i < n_dims && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%lld", i ? ", " : "",
                                (long long)shape[i]);
    if (len < n)
        snprintf(out + len, n - len, "]");
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
        snprintf(buf, sizeof buf, "%s%.240s", m->cfg.roberta ? "roberta." : "bert.", name);
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
    if (!t && model_ends_with(name, "LayerNorm.weight")) {
        char alt[256];
        snprintf(alt, sizeof alt, "%.*sgamma", (int)(strlen(name) - 6), name);
        t = find_tensor(m, alt);
    } else if (!t && model_ends_with(name, "LayerNorm.bias")) {
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

const st_tensor *model_find_tensor(const bert_model *m, const char *name)
{
    return find_tensor(m, name);
}

const float *model_tensor(bert_model *m, const char *spath, const char *name, int n_dims,
                          int64_t d0, int64_t d1)
{
    return get_tensor(m, spath, name, n_dims, d0, d1);
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

int bert_parse_device(const char *s, bert_device *out)
{
    static const char *const names[] = {"auto", "cpu", "cuda"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i])) {
            *out = (bert_device)i;
            return 0;
        }
    return -1;
}

const char *bert_device_name(const bert_model *m)
{
    return m->gpu ? "cuda" : "cpu";
}

/* Puts the forward pass on the GPU when params.device allows and one can
 * take it; AUTO falls back to the CPU and notes why, CUDA fails instead. */
static int choose_device(bert_model *m)
{
    bert_device want = m->params.device;
    char name[256], why[256];
    if (want == BERT_DEVICE_CPU) {
        snprintf(m->device_note, sizeof m->device_note, "cpu (as asked)");
        return 0;
    }
    if (m->params.int8) {
        if (want == BERT_DEVICE_CUDA) {
            dq_set_error("'%s': int8 runs on the CPU only; use FP16 on the GPU (int8 = false) "
                         "or --device cpu",
                         m->dir);
            return -1;
        }
        snprintf(m->device_note, sizeof m->device_note, "cpu (int8 runs on the CPU only)");
        return 0;
    }
    if (!bert_gpu_probe(name, sizeof name, why, sizeof why)) {
        if (want == BERT_DEVICE_CUDA) {
            dq_set_error("cannot run '%s' on the GPU: %s", m->dir, why);
            return -1;
        }
        snprintf(m->device_note, sizeof m->device_note, "cpu (%s)", why);
        return 0;
    }
    int mb = m->params.max_batch;
    m->gpu = bert_gpu_new(&m->cfg, &m->w, &mb, m->max_len);
    if (!m->gpu) {
        if (want == BERT_DEVICE_CUDA) {
            snprintf(why, sizeof why, "%s", dq_last_error());
            dq_set_error("'%s': %s", m->dir, why);
            return -1;
        }
        snprintf(m->device_note, sizeof m->device_note, "cpu (%s: %s)", name, dq_last_error());
        return 0;
    }
    m->params.max_batch = mb;
    snprintf(m->device_note, sizeof m->device_note,
             "cuda (%s, FP16 weights, %.1f MB on the GPU, batch up to %d)", name,
             (double)bert_gpu_bytes(m->gpu) / 1e6, mb);
    return 0;
}

bert_model *bert_load(const char *dir, const bert_params *params)
{
    bert_model *m = dq_calloc(1, sizeof *m);
    m->dir = dq_strdup(dir);
    m->params = params ? *params : bert_default_params();
    if (m->params.max_batch <= 0)
        m->params.max_batch = 32;
    if (m->params.max_len < 0 || m->params.max_len == 1) {
        dq_set_error("'%s': max_len %d is too small (need at least 2 for [CLS] and [SEP])",
                     dir, m->params.max_len);
        free(m->dir);
        free(m);
        return NULL;
    }
    dq_buf config_raw = DQ_BUF_INIT;
    cJSON *cj = NULL;
    char *spath = model_path_join(dir, "model.safetensors");
    struct stat dst;
    if (stat(dir, &dst) < 0) {
        dq_set_error("cannot open model folder '%s': %s", dir, strerror(errno));
        goto fail;
    }
    if (!S_ISDIR(dst.st_mode)) {
        dq_set_error("'%s': not a model folder (expected a directory)", dir);
        goto fail;
    }
    if (model_read_config(dir, &m->cfg, &cj, &config_raw) < 0 ||
        model_read_pooling(dir, &m->cfg, &m->normalize_declared) < 0)
        goto fail;
    m->cfg.normalize = true; /* always: see the top of this file */

    m->max_len = m->cfg.max_pos - m->cfg.pos_offset;
    if (m->params.max_len > 0 && m->params.max_len < m->max_len)
        m->max_len = m->params.max_len;
    if (m->cfg.roberta) {
        if (!(m->spm = model_read_spm(dir, &m->max_len)))
            goto fail;
        if (spm_vocab_size(m->spm) > m->cfg.vocab_size) {
            dq_set_error("'%s/sentencepiece.bpe.model': %d pieces but config.json says "
                         "vocab_size %d",
                         dir, spm_vocab_size(m->spm), m->cfg.vocab_size);
            goto fail;
        }
        m->pad_id = SPM_PAD;
        m->cls_id = SPM_CLS;
        m->sep_id = SPM_SEP;
    } else {
        if (!(m->tok = model_read_tokenizer(dir, &m->max_len)))
            goto fail;
        if (wp_vocab_size(m->tok) > m->cfg.vocab_size) {
            dq_set_error("'%s/vocab.txt': %d tokens but config.json says vocab_size %d", dir,
                         wp_vocab_size(m->tok), m->cfg.vocab_size);
            goto fail;
        }
        m->pad_id = wp_token_id(m->tok, "[PAD]");
        if (m->pad_id < 0)
            m->pad_id = 0;
        m->cls_id = wp_token_id(m->tok, "[CLS]");
        m->sep_id = wp_token_id(m->tok, "[SEP]");
    }
    m->params.max_len = m->max_len;

    if (!model_file_exists(spath)) {
        char *bin = model_path_join(dir, "pytorch_model.bin");
        if (model_file_exists(bin))
            dq_set_error("'%s': only pytorch_model.bin found; docqa reads model.safetensors. "
                         "convert it once with: /usr/bin/python3 -c \"import torch; from "
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
    if (choose_device(m) < 0)
        goto fail;
    if (m->gpu) {
        /* the weights now live on the GPU; the CPU needs no scratch */
    } else if (m->params.int8) {
        if (bert_quantize(&m->cfg, &m->w) < 0)
            goto fail;
        m->quantized = true;
    } else {
        m->packed_bytes = bert_pack_weights(&m->cfg, &m->w);
    }
    if (!m->gpu && !(m->run = bert_run_new(&m->cfg, m->params.max_batch, m->max_len,
                                           m->params.n_threads, m->params.pool))) {
        char why[256]; /* dq_set_error must not read the buffer it writes */
        snprintf(why, sizeof why, "%s", dq_last_error());
        dq_set_error("'%s': %s", dir, why);
        goto fail;
    }
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
    bert_gpu_free(m->gpu);
    free(m->w.layers);
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    st_close(&m->st);
    wp_free(m->tok);
    spm_free(m->spm);
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
    dq_buf_printf(&b, "architecture: %s (%s), activation %s\n", c->arch,
                  c->roberta ? "xlm-roberta" : "bert", c->act);
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
    dq_buf_printf(&b, "device: %s\n", m->device_note);
    dq_buf_printf(&b, "identity: %s\n", m->identity);
    return dq_buf_take(&b);
}
