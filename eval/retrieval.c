/* retrieval.c - how well retrieval finds the gold document and page, and how
 * close the extractive answer comes to the gold answer.
 *
 * A question is a document hit at k when one of its top k chunks comes from
 * the gold document (file name), and a page hit when, in addition, the
 * chunk's page span covers one of the gold pages (questions that give
 * pages only); MRR@10 uses the first such chunk's rank. Long documents are
 * where the two differ: the right filing is easy, its right page is not. EM and F1 follow the SQuAD and CMRC 2018
 * scripts: lower-case, drop punctuation and English articles, compare words
 * of Latin text and single characters of Chinese (common/terms.c cuts both,
 * as the index does), max over the gold answers. Latency is wall time of
 * retrieve + answer per question.
 */
#include "eval/eval.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"
#include "generate/generate.h"

const int eval_hit_ks[EVAL_N_HITS] = {1, 3, 5, 10};

const char *eval_mode_name(retrieve_mode mode)
{
    switch (mode) {
    case RETRIEVE_BM25: return "bm25";
    case RETRIEVE_DENSE: return "dense";
    case RETRIEVE_HYBRID: return "hybrid";
    default: return "auto";
    }
}

/* ---- questions.jsonl ---------------------------------------------------- */

static void rwarn(eval_rset *set, const char *path, int line, const char *why)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "%s:%d: %s", path, line, why);
    DQ_GROW(set->warnings, set->cap_warnings, set->n_warnings + 1);
    set->warnings[set->n_warnings++] = dq_buf_take(&b);
}

static int add_question(eval_rset *set, const cJSON *o, int line)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "question");
    const cJSON *doc = cJSON_GetObjectItemCaseSensitive(o, "doc");
    const cJSON *ans = cJSON_GetObjectItemCaseSensitive(o, "answers");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *page = cJSON_GetObjectItemCaseSensitive(o, "page");
    const cJSON *pages = cJSON_GetObjectItemCaseSensitive(o, "pages");
    if (!cJSON_IsString(q) || !*q->valuestring || !cJSON_IsString(doc) || !*doc->valuestring)
        return -1;
    if (ans && !cJSON_IsArray(ans))
        return -1;
    if (pages && !cJSON_IsArray(pages))
        return -1;
    const cJSON *pg;
    cJSON_ArrayForEach(pg, pages)
    {
        if (!cJSON_IsNumber(pg) || pg->valuedouble < 1 || pg->valuedouble > 1e9)
            return -1;
    }
    if (page && (!cJSON_IsNumber(page) || page->valuedouble > 1e9))
        return -1;
    DQ_GROW(set->items, set->cap, set->n + 1);
    eval_rquestion *e = &set->items[set->n++];
    memset(e, 0, sizeof *e);
    e->question = dq_strdup(q->valuestring);
    e->doc = dq_strdup(doc->valuestring);
    char tmp[32];
    if (cJSON_IsString(id)) {
        e->id = dq_strdup(id->valuestring);
    } else {
        if (cJSON_IsNumber(id))
            snprintf(tmp, sizeof tmp, "%.0f", id->valuedouble);
        else
            snprintf(tmp, sizeof tmp, "line %d", line);
        e->id = dq_strdup(tmp);
    }
    if (cJSON_GetArraySize(pages) > 0) {
        e->pages = dq_calloc((size_t)cJSON_GetArraySize(pages), sizeof *e->pages);
        cJSON_ArrayForEach(pg, pages)
        {
            e->pages[e->n_pages++] = (int)pg->valuedouble;
        }
    } else if (page && page->valuedouble >= 1) {
        e->pages = dq_calloc(1, sizeof *e->pages);
        e->pages[e->n_pages++] = (int)page->valuedouble;
    }
    e->line = line;
    int n = ans ? cJSON_GetArraySize(ans) : 0;
    e->answers = dq_calloc((size_t)n + 1, sizeof *e->answers);
    const cJSON *a;
    cJSON_ArrayForEach(a, ans)
    {
        if (cJSON_IsString(a))
            e->answers[e->n_answers++] = dq_strdup(a->valuestring);
    }
    return 0;
}

int eval_read_questions(const char *path, eval_rset *set)
{
    dq_buf b = DQ_BUF_INIT;
    if (dq_read_file(path, &b) < 0) {
        dq_buf_free(&b);
        return -1;
    }
    char *s = b.data ? b.data : "";
    int line = 0;
    for (char *p = s; *p;) {
        char *nl = strchr(p, '\n');
        char *end = nl ? nl : p + strlen(p);
        line++;
        char saved = *end;
        *end = '\0';
        char *t = p;
        while (*t == ' ' || *t == '\t' || *t == '\r')
            t++;
        if (*t) {
            cJSON *o = cJSON_Parse(t);
            if (!o || !cJSON_IsObject(o))
                rwarn(set, path, line, "not a JSON object");
            else if (add_question(set, o, line) < 0)
                rwarn(set, path, line, "needs \"question\" and \"doc\" strings, an "
                                       "\"answers\" array, and pages as numbers from 1");
            cJSON_Delete(o);
        }
        *end = saved;
        p = nl ? nl + 1 : end;
    }
    dq_buf_free(&b);
    return 0;
}

void eval_rquestion_free(eval_rquestion *e)
{
    if (!e)
        return;
    free(e->id);
    free(e->question);
    for (size_t k = 0; k < e->n_answers; k++)
        free(e->answers[k]);
    free(e->answers);
    free(e->doc);
    free(e->pages);
    memset(e, 0, sizeof *e);
}

void eval_rset_free(eval_rset *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        eval_rquestion_free(&set->items[i]);
    free(set->items);
    for (size_t i = 0; i < set->n_warnings; i++)
        free(set->warnings[i]);
    free(set->warnings);
    memset(set, 0, sizeof *set);
}

/* ---- EM and F1 ---------------------------------------------------------- */

typedef struct {
    char **toks; /* (n) */
    size_t n, cap;
} toklist;

static int tok_cb(void *ctx, const dq_term *t)
{
    toklist *l = ctx;
    char *s = dq_strndup(t->text, (size_t)t->len);
    if (!strcmp(s, "a") || !strcmp(s, "an") || !strcmp(s, "the")) {
        free(s);
        return 0;
    }
    DQ_GROW(l->toks, l->cap, l->n + 1);
    l->toks[l->n++] = s;
    return 0;
}

static void tokens(const char *s, toklist *out)
{
    memset(out, 0, sizeof *out);
    text_terms(s, strlen(s), TERMS_UNIGRAMS, tok_cb, out);
}

static void toklist_free(toklist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->toks[i]);
    free(l->toks);
}

static bool same_tokens(const toklist *a, const toklist *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->toks[i], b->toks[i]))
            return false;
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Size of the multiset intersection (both lists sorted). */
static size_t common_tokens(toklist *a, toklist *b)
{
    qsort(a->toks, a->n, sizeof *a->toks, cmp_str);
    qsort(b->toks, b->n, sizeof *b->toks, cmp_str);
    size_t i = 0, j = 0, n = 0;
    while (i < a->n && j < b->n) {
        int c = strcmp(a->toks[i], b->toks[j]);
        if (c == 0) {
            n++;
            i++;
            j++;
        } else if (c < 0) {
            i++;
        } else {
            j++;
        }
    }
    return n;
}

double eval_exact_match(const char *pred, const char *const *golds, size_t n)
{
    toklist p;
    tokens(pred, &p);
    double best = 0;
    for (size_t i = 0; i < n && best < 1; i++) {
        toklist g;
        tokens(golds[i], &g);
        if (same_tokens(&p, &g))
            best = 1;
        toklist_free(&g);
    }
    toklist_free(&p);
    return best;
}

double eval_f1(const char *pred, const char *const *golds, size_t n)
{
    double best = 0;
    for (size_t i = 0; i < n; i++) {
        toklist p, g;
        tokens(pred, &p);
        tokens(golds[i], &g);
        size_t c = p.n && g.n ? common_tokens(&p, &g) : 0;
        if (c > 0) {
            double prec = (double)c / p.n, rec = (double)c / g.n;
            double f = 2 * prec * rec / (prec + rec);
            if (f > best)
                best = f;
        }
        toklist_free(&p);
        toklist_free(&g);
    }
    return best;
}

double eval_contains(const char *pred, const char *const *golds, size_t n)
{
    toklist p;
    tokens(pred, &p);
    double found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        toklist g;
        tokens(golds[i], &g);
        for (size_t at = 0; g.n > 0 && at + g.n <= p.n && !found; at++) {
            size_t k = 0;
            while (k < g.n && !strcmp(p.toks[at + k], g.toks[k]))
                k++;
            if (k == g.n)
                found = 1;
        }
        toklist_free(&g);
    }
    toklist_free(&p);
    return found;
}

/* ---- running ----------------------------------------------------------- */

bool eval_hit_matches(const store_hit *h, const char *doc, const int *pages, size_t n_pages)
{
    if (!h->path)
        return false;
    const char *base = strrchr(h->path, '/');
    base = base ? base + 1 : h->path;
    if (strcmp(base, doc) != 0)
        return false;
    for (size_t i = 0; i < n_pages; i++)
        if (h->page_start <= pages[i] && pages[i] <= h->page_end)
            return true;
    return n_pages == 0;
}

/* 1-based rank of the first of the top 10 that matches, 0 when none does. */
static int first_match(const retrieve_result *res, const eval_rquestion *q, bool by_page)
{
    for (size_t k = 0; k < res->n && k < 10; k++)
        if (eval_hit_matches(&res->items[k].chunk, q->doc, q->pages, by_page ? q->n_pages : 0))
            return (int)k + 1;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v. */
static double percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t r = (size_t)ceil(p * (double)n);
    if (r < 1)
        r = 1;
    return v[r - 1];
}

int eval_run_retrieval(store *st, struct embedder *emb, const eval_rset *set,
                       retrieve_mode mode, const retrieve_params *base, const eval_hooks *hooks,
                       eval_rmetrics *out)
{
    memset(out, 0, sizeof *out);
    out->mode = mode;
    double *lat = dq_calloc(set->n ? set->n : 1, sizeof *lat);
    size_t n_lat = 0;
    int hits[EVAL_N_HITS] = {0}, page_hits[EVAL_N_HITS] = {0};
    double mrr = 0, page_mrr = 0, em = 0, f1 = 0, contains = 0;
    answer_params ap = answer_default_params();
    int rc = 0;
    for (size_t i = 0; i < set->n; i++) {
        if (hooks && hooks->stop && hooks->stop(hooks->ctx))
            break;
        const eval_rquestion *q = &set->items[i];
        retrieve_params rp = base ? *base : retrieve_default_params();
        rp.top_k = 10;
        rp.mode = mode;
        retrieve_result res = {0};
        double t0 = dq_now();
        if (retrieve_search(st, emb, q->question, &rp, &res) < 0) {
            retrieve_result_free(&res);
            if (out->questions == 0 && out->failed == 0) {
                rc = -1; /* the first search failing means the store or mode is broken */
                break;
            }
            out->failed++;
            out->questions++;
            continue;
        }
        /* The answer reads the top 5, as `docqa ask` does by default. */
        size_t all = res.n;
        if (res.n > 5)
            res.n = 5;
        answer a = {0};
        dq_buf text = DQ_BUF_INIT;
        if (answer_extractive(q->question, &res, &ap, &a) == 0)
            for (size_t s = 0; s < a.n_sentences; s++)
                dq_buf_printf(&text, "%s%s", s ? " " : "", a.sentences[s].text);
        res.n = all;
        lat[n_lat++] = (dq_now() - t0) * 1000;
        int rank = first_match(&res, q, false);
        for (int h = 0; h < EVAL_N_HITS; h++)
            if (rank && rank <= eval_hit_ks[h])
                hits[h]++;
        if (rank)
            mrr += 1.0 / rank;
        if (q->n_pages) {
            int prank = first_match(&res, q, true);
            for (int h = 0; h < EVAL_N_HITS; h++)
                if (prank && prank <= eval_hit_ks[h])
                    page_hits[h]++;
            if (prank)
                page_mrr += 1.0 / prank;
            out->page_questions++;
        }
        const char *const *golds = (const char *const *)q->answers;
        em += eval_exact_match(text.data ? text.data : "", golds, q->n_answers);
        f1 += eval_f1(text.data ? text.data : "", golds, q->n_answers);
        contains += eval_contains(text.data ? text.data : "", golds, q->n_answers);
        dq_buf_free(&text);
        answer_free(&a);
        retrieve_result_free(&res);
        out->questions++;
        if (hooks && hooks->progress)
            hooks->progress(hooks->ctx, i + 1, set->n);
    }
    if (out->questions > 0) {
        double n = out->questions;
        for (int h = 0; h < EVAL_N_HITS; h++)
            out->hit[h] = hits[h] / n;
        out->mrr = mrr / n;
        out->em = em / n;
        out->f1 = f1 / n;
        out->contains = contains / n;
    }
    if (out->page_questions > 0) {
        for (int h = 0; h < EVAL_N_HITS; h++)
            out->page_hit[h] = page_hits[h] / (double)out->page_questions;
        out->page_mrr = page_mrr / out->page_questions;
    }
    qsort(lat, n_lat, sizeof *lat, cmp_double);
    out->p50_ms = percentile(lat, n_lat, 0.50);
    out->p95_ms = percentile(lat, n_lat, 0.95);
    free(lat);
    return rc;
}

/* ---- reports ----------------------------------------------------------- */

char *eval_retrieval_table(const eval_rmetrics *m, size_t n)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "%-10s", "");
    for (size_t i = 0; i < n; i++)
        dq_buf_printf(&b, "%10s", eval_mode_name(m[i].mode));
    dq_buf_putc(&b, '\n');
    for (int h = 0; h < EVAL_N_HITS; h++) {
        char name[16];
        snprintf(name, sizeof name, "hit@%d", eval_hit_ks[h]);
        dq_buf_printf(&b, "%-10s", name);
        for (size_t i = 0; i < n; i++)
            dq_buf_printf(&b, "%10.3f", m[i].hit[h]);
        dq_buf_putc(&b, '\n');
    }
    bool pages = false;
    for (size_t i = 0; i < n; i++)
        pages = pages || m[i].page_questions > 0;
    dq_buf_printf(&b, "%-10s", "MRR@10");
    for (size_t i = 0; i < n; i++)
        dq_buf_printf(&b, "%10.3f", m[i].mrr);
    dq_buf_putc(&b, '\n');
    for (int h = 0; pages && h <= EVAL_N_HITS; h++) {
        char name[24];
        if (h < EVAL_N_HITS)
            snprintf(name, sizeof name, "page@%d", eval_hit_ks[h]);
        else
            snprintf(name, sizeof name, "page MRR");
        dq_buf_printf(&b, "%-10s", name);
        for (size_t i = 0; i < n; i++)
            dq_buf_printf(&b, "%10.3f", h < EVAL_N_HITS ? m[i].page_hit[h] : m[i].page_mrr);
        dq_buf_putc(&b, '\n');
    }
    static const char *const rows[] = {"EM", "F1", "contains", "p50 ms", "p95 ms", "questions",
                                       "failed"};
    for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
        dq_buf_printf(&b, "%-10s", rows[r]);
        for (size_t i = 0; i < n; i++) {
            const eval_rmetrics *x = &m[i];
            switch (r) {
            case 0: dq_buf_printf(&b, "%10.3f", x->em); break;
            case 1: dq_buf_printf(&b, "%10.3f", x->f1); break;
            case 2: dq_buf_printf(&b, "%10.3f", x->contains); break;
            case 3: dq_buf_printf(&b, "%10.1f", x->p50_ms); break;
            case 4: dq_buf_printf(&b, "%10.1f", x->p95_ms); break;
            case 5: dq_buf_printf(&b, "%10d", x->questions); break;
            default: dq_buf_printf(&b, "%10d", x->failed); break;
            }
        }
        dq_buf_putc(&b, '\n');
    }
    return dq_buf_take(&b);
}

char *eval_retrieval_json(const eval_rmetrics *m, size_t n, const char *questions_path)
{
    cJSON *root = cJSON_CreateObject();
    if (questions_path)
        cJSON_AddStringToObject(root, "questions", questions_path);
    cJSON *modes = cJSON_AddArrayToObject(root, "modes");
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "mode", eval_mode_name(m[i].mode));
        cJSON_AddNumberToObject(o, "questions", m[i].questions);
        cJSON_AddNumberToObject(o, "failed", m[i].failed);
        for (int h = 0; h < EVAL_N_HITS; h++) {
            char name[16];
            snprintf(name, sizeof name, "hit@%d", eval_hit_ks[h]);
            cJSON_AddNumberToObject(o, name, m[i].hit[h]);
        }
        cJSON_AddNumberToObject(o, "mrr@10", m[i].mrr);
        cJSON_AddNumberToObject(o, "page_questions", m[i].page_questions);
        for (int h = 0; h < EVAL_N_HITS && m[i].page_questions; h++) {
            char name[24];
            snprintf(name, sizeof name, "page_hit@%d", eval_hit_ks[h]);
            cJSON_AddNumberToObject(o, name, m[i].page_hit[h]);
        }
        if (m[i].page_questions)
            cJSON_AddNumberToObject(o, "page_mrr@10", m[i].page_mrr);
        cJSON_AddNumberToObject(o, "em", m[i].em);
        cJSON_AddNumberToObject(o, "f1", m[i].f1);
        cJSON_AddNumberToObject(o, "contains", m[i].contains);
        cJSON_AddNumberToObject(o, "p50_ms", m[i].p50_ms);
        cJSON_AddNumberToObject(o, "p95_ms", m[i].p95_ms);
        cJSON_AddItemToArray(modes, o);
    }
    return eval_json_text(root);
}

char *eval_retrieval_csv(const eval_rmetrics *m, size_t n)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_puts(&b, "mode,questions,failed,hit@1,hit@3,hit@5,hit@10,mrr@10,em,f1,contains,p50_ms,"
                    "p95_ms,page_questions,page_hit@1,page_hit@3,page_hit@5,page_hit@10,"
                    "page_mrr@10\n");
    for (size_t i = 0; i < n; i++)
        dq_buf_printf(&b,
                      "%s,%d,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.2f,%.2f,%d,%.4f,%.4f,"
                      "%.4f,%.4f,%.4f\n",
                      eval_mode_name(m[i].mode), m[i].questions, m[i].failed, m[i].hit[0],
                      m[i].hit[1], m[i].hit[2], m[i].hit[3], m[i].mrr, m[i].em, m[i].f1,
                      m[i].contains, m[i].p50_ms, m[i].p95_ms, m[i].page_questions,
                      m[i].page_hit[0], m[i].page_hit[1], m[i].page_hit[2], m[i].page_hit[3],
                      m[i].page_mrr);
    return dq_buf_take(&b);
}
