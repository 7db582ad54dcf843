/* lm_model.c - loads a GGUF decoder model: architecture, hyperparameters and
 * every tensor's shape and type checked against the metadata before use.
 *
 * Keys and tensor names are llama.cpp's: <arch>.block_count,
 * .embedding_length, .feed_forward_length, .attention.head_count(_kv),
 * .attention.key_length, .attention.layer_norm_rms_epsilon, .rope.freq_base,
 * .context_length; token_embd.weight, blk.N.attn_{norm,q,k,v,output}.weight,
 * blk.N.attn_{q,k}_norm.weight (qwen3), blk.N.attn_{q,k,v}.bias (qwen2),
 * blk.N.ffn_{norm,gate,up,down}.weight, output_norm.weight, output.weight
 * (absent when tied) and rope_freqs.weight (Llama 3.1+ frequency factors).
 * The rotation style follows the architecture, as in llama.cpp: llama rotates
 * adjacent pairs, qwen2 and qwen3 rotate halves (NeoX).
 */
#include "embed/lm_impl.h"

#include "common/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    bool neox, qk_norm;
} archs[] = {
    {"llama", false, false},
    {"qwen2", true, false},
    {"qwen3", true, true},
};

lm_load_params lm_default_load_params(void)
{
    return (lm_load_params){.n_threads = 2, .check_memory = true};
}

static int get_dim(const gguf_file *f, const char *arch, const char *suffix, int *out,
                   bool optional)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v;
    int rc = gguf_get_u32(f, key, &v);
    if (rc == GGUF_ERR_MISSING && optional)
        return 0;
    if (rc < 0)
        return -1;
    if (v == 0 || v > (1u << 24)) {
        dq_set_error("'%s': %s = %u is out of range", gguf_path(f), key, v);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int get_float(const gguf_file *f, const char *arch, const char *suffix, float *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = gguf_get_f32(f, key, out);
    if (rc == GGUF_ERR_MISSING)
        return 0;
    if (rc < 0)
        return -1;
    if (!isfinite(*out) || *out <= 0) {
        dq_set_error("'%s': %s = %g is out of range", gguf_path(f), key, (double)*out);
        return -1;
    }
    return 0;
}

/* The tensor name (printf-style with the layer), checked for shape {ne0, ne1}
 * (ne1 = 0: a vector) and a type the engine computes with. */
static const gguf_tensor *need(const gguf_file *f, bool optional, int64_t ne0, int64_t ne1,
                               const char *fmt, int layer)
{
    char name[96];
    snprintf(name, sizeof name, fmt, layer);
    const gguf_tensor *t = gguf_find_tensor(f, name);
    if (!t) {
        if (!optional)
            dq_set_error("'%s': tensor '%s' is missing", gguf_path(f), name);
        return NULL;
    }
    bool ok = t->ne[0] == ne0 && t->ne[1] == (ne1 ? ne1 : 1) && t->ne[2] == 1 && t->ne[3] == 1;
    if (!ok) {
        char want[48];
        if (ne1)
            snprintf(want, sizeof want, "[%lld, %lld]", (long long)ne0, (long long)ne1);
        else
            snprintf(want, sizeof want, "[%lld]", (long long)ne0);
        dq_set_error("'%s': tensor '%s' has shape [%lld, %lld, %lld, %lld], expected %s",
                     gguf_path(f), name, (long long)t->ne[0], (long long)t->ne[1],
                     (long long)t->ne[2], (long long)t->ne[3], want);
        return (const gguf_tensor *)-1;
    }
    if (!lm_type_supported(t->type)) {
        dq_set_error("'%s': tensor '%s' has type %s, which docqa does not support (F32, F16, "
                     "BF16, Q8_0, Q4_0, Q4_K, Q5_K and Q6_K are)",
                     gguf_path(f), name, gguf_type_name(t->type));
        return (const gguf_tensor *)-1;
    }
    return t;
}

#define BAD(t) ((t) == (const gguf_tensor *)-1)

static int load_mat(const gguf_file *f, lm_mat *m, int64_t K, int64_t N, const char *fmt,
                    int layer)
{
    const gguf_tensor *t = need(f, false, K, N, fmt, layer);
    if (!t || BAD(t))
        return -1;
    if (lm_type_quantized(t->type) && K % 32) {
        dq_set_error("'%s': tensor '%s' rows of %lld values are not whole blocks of 32",
                     gguf_path(f), t->name, (long long)K);
        return -1;
    }
    *m = (lm_mat){t->type, (int)K, (int)N, gguf_row_bytes(t->type, K), t->data};
    return 0;
}

/* A vector widened to owned floats; *out stays NULL when optional and absent. */
static int load_vec(const gguf_file *f, float **out, int64_t n, bool optional, const char *fmt,
                    int layer)
{
    const gguf_tensor *t = need(f, optional, n, 0, fmt, layer);
    if (!t)
        return optional ? 0 : -1;
    if (BAD(t))
        return -1;
    *out = dq_malloc((size_t)n * sizeof **out);
    lm_dequant_row(t->type, t->data, *out, n);
    return 0;
}

uint64_t lm_memory_limit(const char **what)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    uint64_t lim = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : UINT64_MAX;
    *what = "this machine has";
    /* a mapping past the address-space limit fails, and one past the
     * cgroup's limit gets the process killed while it pages in: both are
     * smaller than the machine in a container or under ulimit -v */
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < lim) {
        lim = rl.rlim_cur;
        *what = "the address-space limit (ulimit -v) allows";
    }
    FILE *fp = fopen("/sys/fs/cgroup/memory.max", "r");
    unsigned long long cg;
    if (fp && fscanf(fp, "%llu", &cg) == 1 && cg < lim) {
        lim = cg;
        *what = "the cgroup's memory.max allows";
    }
    if (fp)
        fclose(fp);
    return lim == UINT64_MAX ? 0 : lim;
}

/* The message for a model that cannot fit: the file, what it needs, and
 * which limit stops it. */
static bool too_large(const char *path, uint64_t need, const char *what_needs)
{
    const char *what;
    uint64_t lim = lm_memory_limit(&what);
    if (!lim || need <= lim)
        return false;
    dq_set_error("'%s': %s %.1f GB but %s %.1f GB of memory", path, what_needs,
                 (double)need / 1e9, what, (double)lim / 1e9);
    return true;
}

static int read_hparams(lm_model *m)
{
    const gguf_file *f = m->f;
    lm_hparams *hp = &m->hp;
    const char *arch = gguf_get_str(f, "general.architecture", NULL);
    if (!arch)
        return -1;
    int a = -1;
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(arch, archs[i].name) == 0)
            a = (int)i;
    if (a < 0) {
        dq_set_error("'%s': architecture '%.40s' is not supported (qwen2, qwen3 and llama are)",
                     gguf_path(f), arch);
        return -1;
    }
    snprintf(hp->arch, sizeof hp->arch, "%s", arch);
    const char *name = gguf_has_key(f, "general.name") ? gguf_get_str(f, "general.name", NULL)
                                                       : NULL;
    snprintf(hp->name, sizeof hp->name, "%s", name ? name : "");
    hp->rope_neox = archs[a].neox;
    hp->qk_norm = archs[a].qk_norm;
    hp->rms_eps = 1e-5f;
    hp->rope_base = 10000.0f;
    hp->n_ctx_train = 4096;
    if (get_dim(f, arch, "block_count", &hp->n_layer, false) < 0 ||
        get_dim(f, arch, "embedding_length", &hp->n_embd, false) < 0 ||
        get_dim(f, arch, "feed_forward_length", &hp->n_ff, false) < 0 ||
        get_dim(f, arch, "attention.head_count", &hp->n_head, false) < 0)
        return -1;
    hp->n_head_kv = hp->n_head;
    hp->head_dim = hp->n_embd / hp->n_head;
    if (get_dim(f, arch, "attention.head_count_kv", &hp->n_head_kv, true) < 0 ||
        get_dim(f, arch, "attention.key_length", &hp->head_dim, true) < 0 ||
        get_dim(f, arch, "context_length", &hp->n_ctx_train, true) < 0 ||
        get_float(f, arch, "attention.layer_norm_rms_epsilon", &hp->rms_eps) < 0 ||
        get_float(f, arch, "rope.freq_base", &hp->rope_base) < 0)
        return -1;
    int v_dim = hp->head_dim;
    if (get_dim(f, arch, "attention.value_length", &v_dim, true) < 0)
        return -1;
    if (hp->n_head % hp->n_head_kv || hp->head_dim % 2 || v_dim != hp->head_dim ||
        hp->n_layer > 1024) {
        dq_set_error("'%s': attention shape not supported: %d heads, %d key/value heads, key "
                     "length %d, value length %d, %d layers",
                     gguf_path(f), hp->n_head, hp->n_head_kv, hp->head_dim, v_dim, hp->n_layer);
        return -1;
    }
    m->q_dim = hp->n_head * hp->head_dim;
    m->kv_dim = hp->n_head_kv * hp->head_dim;
    return 0;
}

/* Llama 3's frequency factors from <arch>.rope.scaling.* when the file has no
 * rope_freqs.weight: wavelengths shorter than the original context over
 * high_freq_factor keep their frequency, those longer than it over
 * low_freq_factor are divided by factor, and the band between is
 * interpolated (Meta's reference code for Llama 3.1). */
static int rope_factors_from_keys(lm_model *m)
{
    const gguf_file *f = m->f;
    const lm_hparams *hp = &m->hp;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", hp->arch);
    if (!gguf_has_key(f, key))
        return 0;
    const char *type = gguf_get_str(f, key, NULL);
    if (!type)
        return -1;
    if (strcmp(type, "none") == 0)
        return 0;
    if (strcmp(type, "llama3") != 0) {
        dq_set_error("'%s': rope scaling '%.40s' is not supported (llama3 is)", gguf_path(f),
                     type);
        return -1;
    }
    float factor = 8, lo = 1, hi = 4, orig = 8192;
    int n_orig = 8192;
    if (get_float(f, hp->arch, "rope.scaling.factor", &factor) < 0 ||
        get_float(f, hp->arch, "rope.scaling.low_freq_factor", &lo) < 0 ||
        get_float(f, hp->arch, "rope.scaling.high_freq_factor", &hi) < 0 ||
        get_dim(f, hp->arch, "rope.scaling.original_context_length", &n_orig, true) < 0)
        return -1;
    if (hi <= lo) {
        dq_set_error("'%s': rope scaling high_freq_factor must exceed low_freq_factor",
                     gguf_path(f));
        return -1;
    }
    orig = (float)n_orig;
    int n = hp->head_dim / 2;
    m->rope_factors = dq_malloc((size_t)n * sizeof *m->rope_factors);
    double lo_wave = orig / lo, hi_wave = orig / hi;
    for (int i = 0; i < n; i++) {
        double freq = pow(hp->rope_base, -2.0 * i / hp->head_dim);
        double wave = 2 * M_PI / freq;
        double fac = 1;
        if (wave > lo_wave) {
            fac = factor;
        } else if (wave >= hi_wave) {
            double smooth = (orig / wave - lo) / (hi - lo);
            fac = 1 / ((1 - smooth) / factor + smooth);
        }
        m->rope_factors[i] = (float)fac;
    }
    return 0;
}

static int load_tensors(lm_model *m)
{
    const gguf_file *f = m->f;
    lm_hparams *hp = &m->hp;
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb) {
        dq_set_error("'%s': tensor 'token_embd.weight' is missing", gguf_path(f));
        return -1;
    }
    if (emb->ne[1] < 1 || emb->ne[1] > (1 << 24)) {
        dq_set_error("'%s': token_embd.weight has an absurd vocabulary of %lld", gguf_path(f),
                     (long long)emb->ne[1]);
        return -1;
    }
    hp->n_vocab = (int)emb->ne[1];
    int E = hp->n_embd, V = hp->n_vocab;
    if (load_mat(f, &m->tok_embd, E, V, "token_embd.weight", 0) < 0 ||
        load_vec(f, &m->output_norm, E, false, "output_norm.weight", 0) < 0)
        return -1;
    const gguf_tensor *out = need(f, true, E, V, "output.weight", 0);
    if (BAD(out))
        return -1;
    hp->tied_output = out == NULL;
    if (out && load_mat(f, &m->output, E, V, "output.weight", 0) < 0)
        return -1;
    if (!out)
        m->output = m->tok_embd;
    if (load_vec(f, &m->rope_factors, hp->head_dim / 2, true, "rope_freqs.weight", 0) < 0)
        return -1;
    if (!m->rope_factors && rope_factors_from_keys(m) < 0)
        return -1;
    hp->rope_freq_factors = m->rope_factors != NULL;
    m->layers = dq_calloc((size_t)hp->n_layer, sizeof *m->layers);
    for (int l = 0; l < hp->n_layer; l++) {
        lm_layer *ly = &m->layers[l];
        if (load_vec(f, &ly->attn_norm, E, false, "blk.%d.attn_norm.weight", l) < 0 ||
            load_vec(f, &ly->ffn_norm, E, false, "blk.%d.ffn_norm.weight", l) < 0 ||
            load_mat(f, &ly->wq, E, m->q_dim, "blk.%d.attn_q.weight", l) < 0 ||
            load_mat(f, &ly->wk, E, m->kv_dim, "blk.%d.attn_k.weight", l) < 0 ||
            load_mat(f, &ly->wv, E, m->kv_dim, "blk.%d.attn_v.weight", l) < 0 ||
            load_mat(f, &ly->wo, m->q_dim, E, "blk.%d.attn_output.weight", l) < 0 ||
            load_mat(f, &ly->w_gate, E, hp->n_ff, "blk.%d.ffn_gate.weight", l) < 0 ||
            load_mat(f, &ly->w_up, E, hp->n_ff, "blk.%d.ffn_up.weight", l) < 0 ||
            load_mat(f, &ly->w_down, hp->n_ff, E, "blk.%d.ffn_down.weight", l) < 0 ||
            load_vec(f, &ly->bq, m->q_dim, true, "blk.%d.attn_q.bias", l) < 0 ||
            load_vec(f, &ly->bk, m->kv_dim, true, "blk.%d.attn_k.bias", l) < 0 ||
            load_vec(f, &ly->bv, m->kv_dim, true, "blk.%d.attn_v.bias", l) < 0 ||
            load_vec(f, &ly->q_norm, hp->head_dim, !hp->qk_norm, "blk.%d.attn_q_norm.weight",
                     l) < 0 ||
            load_vec(f, &ly->k_norm, hp->head_dim, !hp->qk_norm, "blk.%d.attn_k_norm.weight",
                     l) < 0)
            return -1;
    }
    for (size_t i = 0; i < gguf_n_tensors(f); i++)
        hp->n_params += gguf_tensor_at(f, i)->n_elems;
    return 0;
}

lm_model *lm_load(const char *path, const lm_load_params *p)
{
    lm_load_params def = lm_default_load_params();
    if (!p)
        p = &def;
    /* before mapping it: a file past the address-space limit would fail
     * to map with a bare ENOMEM */
    struct stat st;
    if (p->check_memory && stat(path, &st) == 0 &&
        too_large(path, (uint64_t)st.st_size, "the model file takes"))
        return NULL;
    gguf_file *f = gguf_open_split(path);
    if (!f)
        return NULL;
    lm_model *m = dq_calloc(1, sizeof *m);
    m->f = f;
    m->n_threads = p->n_threads > 0 ? p->n_threads : 1;
    if (read_hparams(m) < 0)
        goto fail;
    /* before the tensors: a file too large for the machine is the message
     * that helps, whatever else is wrong with it */
    if (p->check_memory && too_large(path, lm_weight_bytes(m), "the model's weights take"))
        goto fail;
    if (load_tensors(m) < 0)
        goto fail;
    return m;
fail:
    lm_free(m);
    return NULL;
}

void lm_free(lm_model *m)
{
    if (!m)
        return;
    for (int l = 0; m->layers && l < m->hp.n_layer; l++) {
        lm_layer *ly = &m->layers[l];
        free(ly->attn_norm);
        free(ly->ffn_norm);
        free(ly->q_norm);
        free(ly->k_norm);
        free(ly->bq);
        free(ly->bk);
        free(ly->bv);
    }
    free(m->layers);
    free(m->output_norm);
    free(m->rope_factors);
    gguf_close(m->f);
    free(m);
}

const lm_hparams *lm_model_hparams(const lm_model *m) { return &m->hp; }
const gguf_file *lm_model_gguf(const lm_model *m) { return m->f; }

uint64_t lm_weight_bytes(const lm_model *m)
{
    uint64_t n = 0;
    for (size_t i = 0; i < gguf_n_tensors(m->f); i++)
        n += gguf_tensor_at(m->f, i)->n_bytes;
    return n;
}

uint64_t lm_kv_bytes(const lm_model *m, int n_ctx)
{
    return 2ull * (uint64_t)m->hp.n_layer * (uint64_t)n_ctx * (uint64_t)m->kv_dim *
           sizeof(uint16_t); /* F16 or BF16 */
}

void lm_model_types(const lm_model *m, char *out, size_t n)
{
    int counts[64] = {0};
    for (size_t i = 0; i < gguf_n_tensors(m->f); i++) {
        int t = gguf_tensor_at(m->f, i)->type;
        if (t >= 0 && t < 64)
            counts[t]++;
    }
    size_t len = 0;
    out[0] = '\0';
    for (int t = 0; t < 64 && len < n; t++)
        if (counts[t])
            len += (size_t)snprintf(out + len, n - len, "%s%s x %d", len ? ", " : "",
                                    gguf_type_name(t), counts[t]);
}
