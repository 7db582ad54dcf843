/* scope.c - which documents a question is about: the ones it names, or the
 * ones a user picked with --doc.
 *
 * Many stored documents look alike (one company's reports of several years,
 * several companies' reports of one year), and their pages share most of
 * their words, so chunk BM25 alone mixes them. A question that names its
 * document ("Amazon's FY2017", "东南大学 2022 年报") names it with words that
 * are rare among the documents' `about` texts (index/about.c: title, file
 * name, cover). Each question term found in at most half of the documents'
 * about texts weighs its IDF there; a document's weight is the sum over the
 * terms its about holds, and the scope is every document within SCOPE_NEAR
 * of the best, so "Amazon" alone keeps all of Amazon's reports, while
 * "Amazon 2017" keeps the 2017 one. A term common to most documents (form
 * names, "annual", "report") names none of them and is ignored.
 */
#include "retrieve/retrieve.h"
#include "retrieve/query.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Documents within this share of the best weight stay in the scope. */
#define SCOPE_NEAR 0.8
/* Documents whose about texts are read for one question. */
#define SCOPE_CANDIDATES 200

void retrieve_scope_free(retrieve_scope *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_docs; i++)
        free(s->paths[i]);
    free(s->paths);
    for (size_t i = 0; i < s->n_names; i++)
        free(s->names[i]);
    free(s->names);
    free(s->docs);
    free(s->why);
    free(s->absent);
    memset(s, 0, sizeof *s);
}

const char *retrieve_scope_kind_name(retrieve_scope_kind k)
{
    switch (k) {
    case RETRIEVE_SCOPE_NAMED: return "named";
    case RETRIEVE_SCOPE_CHOSEN: return "doc";
    default: return "none";
    }
}

typedef struct {
    const qterms *q;
    const double *idf; /* (q->n) 0 for terms that name nothing */
    unsigned char *seen; /* (q->n) */
    double weight;
} about_ctx;

static int about_cb(void *ctx, const dq_term *t)
{
    about_ctx *a = ctx;
    int i = qterms_find(a->q, t->text, t->len);
    if (i >= 0 && a->idf[i] > 0 && !a->seen[i]) {
        a->seen[i] = 1;
        a->weight += a->idf[i];
    }
    return 0;
}

typedef struct {
    const char *text; /* the question, glued years split */
    const qterms *q;
    unsigned char *name; /* (q->n) */
    int *at, *len;       /* (q->n) where each name is first written in text */
    bool sentence;       /* the question has sentence punctuation, not keywords only */
} name_ctx;

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

/* Whether a word is written as a name: "Amazon" inside a sentence, "JPM",
 * "JnJ", "3M", "Q2", a year; every Chinese term (Chinese has no capitals).
 * A capital at a sentence's start is only grammar. */
static int name_cb(void *ctx, const dq_term *t)
{
    name_ctx *c = ctx;
    int i = qterms_find(c->q, t->text, t->len);
    if (i < 0)
        return 0;
    const char *w = c->text + t->start;
    int len = t->end - t->start;
    bool digit = false, letter = false, inner_cap = false;
    for (int k = 0; k < len; k++) {
        digit = digit || (w[k] >= '0' && w[k] <= '9');
        letter = letter || !(w[k] >= '0' && w[k] <= '9');
        inner_cap = inner_cap || (k > 0 && is_upper(w[k]));
    }
    bool year = len == 4 && !letter && (w[0] == '1' || w[0] == '2');
    bool mixed = digit && letter; /* Q2, 10-K's "10k", 3M */
    const char *p = w;
    while (p > c->text && (p[-1] == ' ' || p[-1] == '\t' || p[-1] == '"' || p[-1] == '('))
        p--;
    bool starts = p == c->text || p[-1] == '.' || p[-1] == '?' || p[-1] == '!' || p[-1] == '\n';
    /* At a sentence's start a capital still names in "Amazon's ..." and in
     * keyword queries ("Amazon 2017 revenue"), which are no sentences. */
    const char *after = w + len;
    bool possessive = (after[0] == '\'' && (after[1] == 's' || after[1] == ' ')) ||
                      !strncmp(after, "\xE2\x80\x99", 3);
    if (starts && (possessive || !c->sentence))
        starts = false;
    /* Chinese has no capitals: a capital on a Latin word inside it names. */
    if (starts && (unsigned char)after[0] >= 0x80)
        starts = false;
    if ((t->cjk || year || mixed || inner_cap || (is_upper(w[0]) && !starts)) && !c->name[i]) {
        c->name[i] = 1 + (year && !t->cjk);
        c->at[i] = t->start;
        c->len[i] = len;
    }
    return 0;
}

/* Whether s (a term) is written in Latin letters and digits only. */
static bool is_latin(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* A name long enough to stand for a company or product: Latin letters and
 * digits, three or more of them, or a digit and a letter ("3M"); "FY" and
 * "Q2" are the labels of a period. */
static bool name_sized(const char *s)
{
    size_t n = strlen(s);
    return is_latin(s) && (n >= 3 || (n == 2 && s[0] >= '0' && s[0] <= '9'));
}

/* Whether the question names a document that is not in the store, as
 * "What was Acme's revenue in FY2019?" does in a store of other companies'
 * reports. Said only when all of these hold, since a wrong "not in the
 * store" hides an answer that is there:
 * - a name of the question (a Latin word written as a name, not a year or
 *   a period's label; Chinese words are left out, as every bigram of them
 *   reads as a name) is in no document's about text and in no chunk, and no
 *   indexed word begins with it or is it less one or two final letters
 *   (plurals, possessives and typos: "Bronco" for "Broncos", "Lev's" for
 *   "Levi's");
 * - the question also names something the stored documents' about texts
 *   hold (a year, a form), so it asks about a document like those stored;
 * - every such name is a year or common to most documents: none names a
 *   stored document in particular (that one then answers).
 * out->absent gets the missing names and the question's years, in its own
 * words and order ("Acme 2019"). about_df is (q->n), -1 for non-names. */
static int scope_absent(store *st, const name_ctx *nc, const int64_t *about_df,
                        int64_t n_docs, retrieve_scope *out)
{
    bool known = false;
    for (size_t i = 0; i < nc->q->n; i++) {
        if (about_df[i] <= 0)
            continue;
        if (nc->name[i] != 2 && 2 * about_df[i] <= n_docs)
            return 0; /* names a stored document */
        known = true;
    }
    if (!known)
        return 0;
    unsigned char *show = dq_calloc(nc->q->n ? nc->q->n : 1, 1);
    bool fire = false;
    int rc = 0;
    for (size_t i = 0; i < nc->q->n && rc == 0; i++) {
        show[i] = nc->name[i] == 2;
        if (about_df[i] != 0 || nc->name[i] != 1 || !name_sized(nc->q->items[i].text))
            continue;
        int64_t n_chunks, df;
        rc = store_term_doc_freq(st, nc->q->items[i].text, &n_chunks, &df);
        int variant = rc == 0 && df == 0 ? store_term_variant(st, nc->q->items[i].text) : 1;
        if (variant < 0)
            rc = -1;
        show[i] = variant == 0;
        fire = fire || show[i];
    }
    if (rc == 0 && fire) {
        dq_buf b = DQ_BUF_INIT;
        for (;;) { /* in question order */
            size_t pick = nc->q->n;
            for (size_t i = 0; i < nc->q->n; i++)
                if (show[i] && (pick == nc->q->n || nc->at[i] < nc->at[pick]))
                    pick = i;
            if (pick == nc->q->n)
                break;
            dq_buf_printf(&b, "%s%.*s", b.len ? " " : "", nc->len[pick], nc->text + nc->at[pick]);
            show[pick] = 0;
        }
        out->absent = dq_buf_take(&b);
    }
    free(show);
    return rc;
}

/* A question names a document by who it is about (a company, a party, a
 * product: any name but a year) and by when (a year). The year is a weak
 * name: one report of 2020 among other companies' reports of 2021 holds
 * the "2020" of "Nike's FY2021 inventory turnover (average of FY2020 and
 * FY2021)" and nothing else the question names, and a rare year can weigh
 * as much as the company. So when some document holds a named "who", only
 * documents within SCOPE_NEAR of the best "who" weight stay candidates, and
 * when one of those holds a named year, the ones holding none drop out
 * (Acme's 2023 report for a question on Acme's 2022). Dropped documents
 * get weight 0 in w (docs). */
static void scope_by_who_then_when(double *w, const double *who, const bool *when, size_t docs,
                                   double best_who)
{
    if (best_who <= 0)
        return; /* named by years alone: weigh them as they are */
    bool any_when = false;
    for (size_t d = 0; d < docs; d++) {
        if (who[d] < SCOPE_NEAR * best_who)
            w[d] = 0;
        any_when = any_when || (w[d] > 0 && when[d]);
    }
    for (size_t d = 0; d < docs && any_when; d++)
        if (!when[d])
            w[d] = 0;
}

static int scope_named(store *st, const char *question, retrieve_scope *out)
{
    qterms q = {0};
    qterms_build(question, TERMS_BIGRAMS, &q);
    double *idf = dq_calloc(q.n ? q.n : 1, sizeof *idf);
    dq_buf split = DQ_BUF_INIT;
    text_split_glued_years(question, strlen(question), &split);
    size_t nq = q.n ? q.n : 1;
    name_ctx nc = {split.data ? split.data : "", &q, dq_calloc(nq, 1),
                   dq_calloc(nq, sizeof(int)), dq_calloc(nq, sizeof(int)),
                   strpbrk(question, ".?!") != NULL || strstr(question, "？") ||
                       strstr(question, "。")};
    int64_t *about_df = dq_calloc(nq, sizeof *about_df), n_docs = 0;
    text_terms(nc.text, strlen(nc.text), TERMS_BIGRAMS, name_cb, &nc);
    dq_buf match = DQ_BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < q.n && rc == 0; i++) {
        int64_t df;
        about_df[i] = -1;
        if (!nc.name[i])
            continue;
        rc = store_about_term_freq(st, q.items[i].text, &n_docs, &df);
        about_df[i] = df;
        if (rc < 0 || n_docs < 2 || df == 0 || 2 * df > n_docs)
            continue;
        idf[i] = log((double)n_docs / (double)df);
        if (match.len)
            dq_buf_puts(&match, " OR ");
        query_put_quoted(&match, &q.items[i]);
    }
    store_doc_hits docs = {0};
    if (rc == 0 && match.len)
        rc = store_search_documents(st, match.data, SCOPE_CANDIDATES, &docs);
    if (rc == 0 && docs.n) {
        double *w = dq_calloc(docs.n, sizeof *w), *who = dq_calloc(docs.n, sizeof *who);
        bool *when = dq_calloc(docs.n, sizeof *when);
        unsigned char *seen = dq_calloc(q.n ? q.n : 1, 1);
        unsigned char *best_seen = dq_calloc(q.n ? q.n : 1, 1);
        double best = 0, best_who = 0;
        for (size_t d = 0; d < docs.n; d++) {
            memset(seen, 0, q.n);
            about_ctx a = {&q, idf, seen, 0};
            const char *t = docs.items[d].about;
            text_terms(t, strlen(t), TERMS_BIGRAMS, about_cb, &a);
            w[d] = a.weight;
            for (size_t i = 0; i < q.n; i++)
                if (seen[i] && nc.name[i] == 2)
                    when[d] = true;
                else if (seen[i])
                    who[d] += idf[i];
            if (who[d] > best_who)
                best_who = who[d];
        }
        scope_by_who_then_when(w, who, when, docs.n, best_who);
        for (size_t d = 0; d < docs.n; d++) {
            if (w[d] <= best)
                continue;
            best = w[d];
            memset(seen, 0, q.n);
            about_ctx a = {&q, idf, seen, 0};
            text_terms(docs.items[d].about, strlen(docs.items[d].about), TERMS_BIGRAMS, about_cb,
                       &a);
            memcpy(best_seen, seen, q.n);
        }
        out->docs = dq_calloc(docs.n, sizeof *out->docs);
        out->paths = dq_calloc(docs.n, sizeof *out->paths);
        for (size_t d = 0; d < docs.n && best > 0; d++)
            if (w[d] >= SCOPE_NEAR * best) {
                out->docs[out->n_docs] = docs.items[d].doc_id;
                out->paths[out->n_docs++] = dq_strdup(docs.items[d].path ? docs.items[d].path : "");
            }
        if (out->n_docs) {
            out->kind = RETRIEVE_SCOPE_NAMED;
            dq_buf why = DQ_BUF_INIT;
            dq_buf_puts(&why, "the question names");
            out->names = dq_calloc(q.n, sizeof *out->names);
            for (size_t i = 0; i < q.n; i++)
                if (best_seen[i]) {
                    dq_buf_printf(&why, "%s '%s'", out->n_names ? "," : "", q.items[i].text);
                    out->names[out->n_names++] = dq_strdup(q.items[i].text);
                }
            out->why = dq_buf_take(&why);
        }
        free(w);
        free(who);
        free(when);
        free(seen);
        free(best_seen);
    }
    store_doc_hits_free(&docs);
    if (rc == 0 && n_docs > 0)
        rc = scope_absent(st, &nc, about_df, n_docs, out);
    dq_buf_free(&match);
    dq_buf_free(&split);
    free(about_df);
    free(nc.at);
    free(nc.len);
    free(nc.name);
    free(idf);
    qterms_free(&q);
    return rc;
}

int retrieve_scope_find(store *st, const char *question, const char *doc_glob,
                        retrieve_scope *out)
{
    memset(out, 0, sizeof *out);
    if (doc_glob && *doc_glob) {
        int64_t *ids;
        size_t n;
        if (store_documents_glob(st, doc_glob, &ids, &n) < 0)
            return -1;
        out->kind = RETRIEVE_SCOPE_CHOSEN;
        out->docs = ids;
        out->n_docs = n;
        out->paths = dq_calloc(n ? n : 1, sizeof *out->paths);
        for (size_t i = 0; i < n; i++) {
            store_document d;
            int found = store_get_document(st, ids[i], &d);
            if (found < 0) {
                retrieve_scope_free(out);
                return -1;
            }
            out->paths[i] = dq_strdup(found && d.path ? d.path : "");
            if (found)
                store_document_free(&d);
        }
        dq_buf why = DQ_BUF_INIT;
        dq_buf_printf(&why, "documents matching '%s'", doc_glob);
        out->why = dq_buf_take(&why);
        return 0;
    }
    return scope_named(st, question, out);
}

void retrieve_scope_json(cJSON *obj, const retrieve_scope *scope)
{
    cJSON *o = cJSON_AddObjectToObject(obj, "scope");
    cJSON_AddStringToObject(o, "kind", retrieve_scope_kind_name(scope->kind));
    if (scope->why)
        cJSON_AddStringToObject(o, "why", scope->why);
    cJSON_AddBoolToObject(o, "widened", scope->widened);
    if (scope->absent)
        cJSON_AddStringToObject(o, "absent", scope->absent);
    cJSON *docs = cJSON_AddArrayToObject(o, "documents");
    for (size_t i = 0; i < scope->n_docs; i++)
        cJSON_AddItemToArray(docs, cJSON_CreateString(scope->paths[i]));
}
