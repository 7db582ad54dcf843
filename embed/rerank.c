/* rerank.c - the cross-encoder reranker: a BERT sequence classifier scoring
 * (query, passage) pairs read together.
 *
 * Hugging Face's BertForSequenceClassification is the BERT encoder, then a
 * pooler (dense + tanh on the [CLS] hidden state, bert.pooler.dense.*), then
 * a classifier (classifier.weight [num_labels, hidden], classifier.bias).
 * The encoder is embed/'s own: bert_load reads the folder (config,
 * tokenizer, weights with or without the "bert." prefix, int8 or packed
 * FP32), and the forward pass runs with token types 0 for "[CLS] query
 * [SEP]" and 1 for "passage [SEP]"; this file adds the two small head layers
 * on the [CLS] row, in double sums (they are a few thousand multiply-adds a
 * pair, nothing next to the encoder).
 *
 * Truncation: the passage is cut first; the query is cut only when it would
 * leave the passage fewer than half of the free tokens (or all of the
 * passage, when it is shorter than that). Pairs are sorted by length into
 * batches, as bert_encode does, so padding costs little.
 *
 * Scores are raw logits (higher is more relevant): with one label, that
 * logit; with two (irrelevant, relevant), logit[1] - logit[0], which is the
 * logit of softmax's probability for "relevant", so sigmoid(score) is that
 * probability in both cases. More labels are refused: which one means
 * "relevant" is not something docqa can know.
 *
 * XLM-RoBERTa rerankers (BAAI/bge-reranker-base/-large, maidalun1020's
 * bce-reranker-base_v1) ship a SentencePiece tokenizer (tokenizer.json,
 * sentencepiece.bpe.model) our WordPiece tokenizer cannot read, and a
 * different embedding layout; they are refused with that reason.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/model_impl.h"

struct reranker {
    bert_model *m;      /* owned: encoder, tokenizer, run state, batch scratch */
    bert_config cfg;    /* m's config with CLS pooling and no normalising, so
                         * the forward pass's "pooled" output is the [CLS] row */
    const float *pool_w, *pool_b; /* (hidden, hidden), (hidden); into m */
    const float *cls_w, *cls_b;   /* (num_labels, hidden), (num_labels); into m */
    int num_labels;     /* 1 or 2 */
    int cls_id, sep_id;
    int32_t *types;     /* (max_batch, max_len) token types for one batch, owned */
    double *head;       /* (hidden) pooler output scratch, owned */
};

/* ---- what kind of folder -------------------------------------------------- */

/* config.json of dir, or NULL (no error set: callers decide what is wrong). */
static cJSON *read_config(const char *dir)
{
    char *path = model_path_join(dir, "config.json");
    dq_buf b = DQ_BUF_INIT;
    cJSON *j = NULL;
    if (model_file_exists(path) && dq_read_file(path, &b) == 0)
        j = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
    dq_buf_free(&b);
    free(path);
    if (j && !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        j = NULL;
    }
    return j;
}

static const char *config_arch(const cJSON *j)
{
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(j, "architectures");
    const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    return cJSON_IsString(a0) ? a0->valuestring : NULL;
}

static const char *config_type(const cJSON *j)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "model_type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

bool reranker_folder(const char *dir)
{
    cJSON *j = read_config(dir);
    const char *arch = j ? config_arch(j) : NULL;
    bool yes = arch && model_ends_with(arch, "ForSequenceClassification");
    cJSON_Delete(j);
    return yes;
}

/* Refuses what bert_load would misread or report confusingly for a
 * reranker: SentencePiece (XLM-RoBERTa) models, and embedding models that
 * have no classification head. */
static int check_folder(const char *dir)
{
    cJSON *j = read_config(dir);
    if (!j)
        return 0; /* bert_load names the missing or broken config.json */
    const char *type = config_type(j), *arch = config_arch(j);
    int rc = 0;
    char *tj = model_path_join(dir, "tokenizer.json"), *vt = model_path_join(dir, "vocab.txt");
    bool roberta = (type && (strcmp(type, "xlm-roberta") == 0 || strcmp(type, "roberta") == 0)) ||
                   (arch && (strncmp(arch, "XLMRoberta", 10) == 0 || strncmp(arch, "Roberta", 7) == 0));
    if (roberta) {
        dq_set_error("'%s': %s reranker is not supported yet: its SentencePiece tokenizer "
                     "(tokenizer.json) is not WordPiece, and docqa runs BERT cross-encoders "
                     "with a vocab.txt",
                     dir, type ? type : arch);
        rc = -1;
    } else if (!model_file_exists(vt) && model_file_exists(tj)) {
        dq_set_error("'%s': only tokenizer.json, no vocab.txt: docqa runs BERT cross-encoders "
                     "with a WordPiece vocab.txt",
                     dir);
        rc = -1;
    } else if (arch && !model_ends_with(arch, "ForSequenceClassification")) {
        dq_set_error("'%s': '%.40s' is not a cross-encoder (expected "
                     "BertForSequenceClassification); an embedding model goes in [embed] model",
                     dir, arch);
        rc = -1;
    }
    free(tj);
    free(vt);
    cJSON_Delete(j);
    return rc;
}

/* ---- open / free ------------------------------------------------------------ */

reranker *reranker_open(const char *model_dir, const bert_params *params)
{
    if (check_folder(model_dir) < 0)
        return NULL;
    bert_model *m = bert_load(model_dir, params);
    if (!m)
        return NULL;
    reranker *r = dq_calloc(1, sizeof *r);
    r->m = m;
    r->cfg = m->cfg;
    r->cfg.pooling = BERT_POOL_CLS;
    r->cfg.normalize = false;
    int H = m->cfg.hidden;
    char *spath = model_path_join(model_dir, "model.safetensors");
    if (m->max_len < 3) {
        dq_set_error("'%s': %d tokens per text cannot hold [CLS] q [SEP] p [SEP]", model_dir,
                     m->max_len);
        goto fail;
    }
    const st_tensor *ct = model_find_tensor(m, "classifier.weight");
    if (!ct) {
        dq_set_error("'%s': missing tensor 'classifier.weight' (not a sequence-classification "
                     "model)",
                     spath);
        goto fail;
    }
    r->num_labels = ct->n_dims == 2 ? (int)ct->shape[0] : 0;
    if (ct->n_dims == 2 && ct->shape[1] == H && (r->num_labels < 1 || r->num_labels > 2)) {
        dq_set_error("'%s': classifier has %d labels; docqa reads 1 (a relevance score) or 2 "
                     "(irrelevant, relevant)",
                     spath, r->num_labels);
        goto fail;
    }
    if (r->num_labels < 1)
        r->num_labels = 1; /* model_tensor reports the shape mismatch */
    if (!(r->pool_w = model_tensor(m, spath, "pooler.dense.weight", 2, H, H)) ||
        !(r->pool_b = model_tensor(m, spath, "pooler.dense.bias", 1, H, 0)) ||
        !(r->cls_w = model_tensor(m, spath, "classifier.weight", 2, r->num_labels, H)) ||
        !(r->cls_b = model_tensor(m, spath, "classifier.bias", 1, r->num_labels, 0)))
        goto fail;
    r->cls_id = wp_token_id(m->tok, "[CLS]");
    r->sep_id = wp_token_id(m->tok, "[SEP]");
    r->types = dq_malloc((size_t)m->params.max_batch * m->max_len * sizeof *r->types);
    r->head = dq_malloc((size_t)H * sizeof *r->head);
    free(spath);
    return r;
fail:
    free(spath);
    reranker_free(r);
    return NULL;
}

void reranker_free(reranker *r)
{
    if (!r)
        return;
    bert_free(r->m);
    free(r->types);
    free(r->head);
    free(r);
}

char *reranker_describe(const reranker *r)
{
    const bert_model *m = r->m;
    const bert_config *c = &m->cfg;
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "model: %s\n", m->dir);
    dq_buf_printf(&b, "kind: reranker (cross-encoder: scores [CLS] query [SEP] passage [SEP])\n");
    dq_buf_printf(&b, "architecture: %s (bert), activation %s\n", c->arch, c->act);
    dq_buf_printf(&b, "size: hidden %d, layers %d, heads %d, intermediate %d\n", c->hidden,
                  c->n_layers, c->n_heads, c->intermediate);
    dq_buf_printf(&b, "positions: %d (pairs capped at %d tokens, passage cut first)\n",
                  c->max_pos, m->max_len);
    dq_buf_printf(&b, "vocabulary: %d tokens\n", c->vocab_size);
    dq_buf_printf(&b, "head: pooler (dense + tanh on [CLS]) + classifier, %d label%s (%s)\n",
                  r->num_labels, r->num_labels == 1 ? "" : "s",
                  r->num_labels == 1 ? "score = the logit" : "score = logit[1] - logit[0]");
    dq_buf_printf(&b, "dtype: %s\n", m->dtypes);
    dq_buf_printf(&b, "parameters: %lld\n", (long long)m->n_params);
    dq_buf_printf(&b, "weights memory: %.1f MB (%.1f MB mapped, %.1f MB owned)\n",
                  (double)(m->mapped_bytes + m->owned_bytes) / 1e6,
                  (double)m->mapped_bytes / 1e6, (double)m->owned_bytes / 1e6);
    dq_buf_printf(&b, "int8: %s\n", m->quantized ? "yes (encoder; the head stays FP32)" : "no");
    return dq_buf_take(&b);
}

/* ---- scoring ------------------------------------------------------------------ */

typedef struct {
    size_t start; /* into the pair token array */
    int len, q_len; /* whole pair; [CLS] q [SEP] (type 0) */
    size_t index;
} pair_item;

static int cmp_pair(const void *a, const void *b)
{
    const pair_item *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* pooler + classifier on one [CLS] hidden state */
static float head_score(reranker *r, const float *x)
{
    int H = r->cfg.hidden;
    for (int i = 0; i < H; i++) {
        const float *w = r->pool_w + (size_t)i * H;
        double s = r->pool_b[i];
        for (int k = 0; k < H; k++)
            s += (double)w[k] * x[k];
        r->head[i] = tanh(s);
    }
    double logit[2] = {0, 0};
    for (int l = 0; l < r->num_labels; l++) {
        const float *w = r->cls_w + (size_t)l * H;
        double s = r->cls_b[l];
        for (int k = 0; k < H; k++)
            s += w[k] * r->head[k];
        logit[l] = s;
    }
    return (float)(r->num_labels == 1 ? logit[0] : logit[1] - logit[0]);
}

int reranker_score(reranker *r, const char *query, const char *const *passages, size_t n,
                   float *scores)
{
    if (n == 0)
        return 0;
    bert_model *m = r->m;
    int L = m->max_len, mb = m->params.max_batch, H = r->cfg.hidden;
    int room = L - 3; /* [CLS] [SEP] [SEP] */
    int32_t *q = dq_malloc((size_t)L * sizeof *q), *p = dq_malloc((size_t)L * sizeof *p);
    int q_full = wp_tokenize(m->tok, query ? query : "", q, room);
    pair_item *items = dq_malloc(n * sizeof *items);
    int32_t *toks = NULL;
    size_t n_toks = 0, cap_toks = 0;
    for (size_t i = 0; i < n; i++) {
        int p_full = wp_tokenize(m->tok, passages[i] ? passages[i] : "", p, room);
        int qk = q_full, pk = p_full;
        if (qk + pk > room) {
            int half = room / 2;
            pk = room - qk; /* the passage is cut first ... */
            if (pk < (p_full < half ? p_full : half))
                pk = p_full < half ? p_full : half; /* ... unless the query crowds it out */
            qk = room - pk;
        }
        DQ_GROW(toks, cap_toks, n_toks + (size_t)L);
        int32_t *t = toks + n_toks;
        int k = 0;
        t[k++] = r->cls_id;
        memcpy(t + k, q, (size_t)qk * sizeof *t);
        k += qk;
        t[k++] = r->sep_id;
        memcpy(t + k, p, (size_t)pk * sizeof *t);
        k += pk;
        t[k++] = r->sep_id;
        items[i] = (pair_item){n_toks, k, qk + 2, i};
        n_toks += (size_t)k;
    }
    qsort(items, n, sizeof *items, cmp_pair);
    bool ref = model_reference_requested();
    int rc = 0;
    for (size_t i0 = 0; i0 < n && rc == 0; i0 += (size_t)mb) {
        int nb = n - i0 < (size_t)mb ? (int)(n - i0) : mb;
        int seq = items[i0 + (size_t)nb - 1].len;
        for (int b = 0; b < nb; b++) {
            const pair_item *it = &items[i0 + (size_t)b];
            int32_t *row = m->batch_ids + (size_t)b * seq, *ty = r->types + (size_t)b * seq;
            memcpy(row, toks + it->start, (size_t)it->len * sizeof *row);
            for (int t = 0; t < seq; t++) {
                if (t >= it->len)
                    row[t] = m->pad_id;
                ty[t] = t >= it->q_len && t < it->len;
            }
            m->batch_lens[b] = it->len;
        }
        rc = bert_forward_typed(&r->cfg, &m->w, m->run, m->batch_ids, r->types, m->batch_lens,
                                nb, seq, NULL, m->batch_pooled, ref);
        for (int b = 0; rc == 0 && b < nb; b++)
            scores[items[i0 + (size_t)b].index] =
                head_score(r, m->batch_pooled + (size_t)b * H);
    }
    free(q);
    free(p);
    free(items);
    free(toks);
    return rc;
}
