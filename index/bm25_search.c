/* bm25_search.c - answers store_search_fts from the BM25 file when it can.
 *
 * FTS5 ranks an OR of many terms by scoring every row that holds any of
 * them; a question of common words touches a large share of the store. Over
 * the BM25 file (bm25.h) the same scores come from max-score evaluation
 * (Turtle and Flood): the terms are ordered by the most they can add to a
 * row, and once the k-th best score so far exceeds what the rarest terms can
 * add together, rows holding only common terms are never scored, and the
 * common terms' postings are only looked up (block by block) for rows a rare
 * term brought in.
 *
 * Used only when it gives FTS5's answer: the file's stamp equals the
 * store's, inside the same read transaction as the rows fetched, and the
 * MATCH expression is one this file can score: quoted phrases OR-ed, the
 * last ones optionally in "section : (...)", as retrieve/query.c writes
 * them. A single-term phrase is read from the file; a phrase of several
 * terms (a word pair) from FTS5, which matches it alone (phrase_from_fts).
 * Anything else, and any damage found in the file, returns "not served"
 * and the caller runs FTS5: slow but right.
 */
#include "index/bm25.h"
#include "index/store_impl.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a failed load saw, so that a search does not map the same useless
 * file again and again, yet sees a writer's new one at once. */
typedef struct {
    uint8_t stamp[32]; /* the store's */
    struct stat file;  /* the file's (st_ino 0: there was none) */
} load_attempt;

struct store_bm25 {
    bm25_file *f;       /* NULL when none is loaded */
    struct stat f_file; /* the file f was mapped from */
    load_attempt tried; /* the last failed load */
    bool have_tried;
    bool off;           /* store_use_bm25_file(st, false) */
};

static struct store_bm25 *bm_of(store *st)
{
    if (!st->bm25)
        st->bm25 = dq_calloc(1, sizeof *st->bm25);
    return st->bm25;
}

void store_bm25_free(store *st)
{
    if (!st->bm25)
        return;
    bm25_file_free(st->bm25->f);
    free(st->bm25);
    st->bm25 = NULL;
}

void store_use_bm25_file(store *st, bool on)
{
    bm_of(st)->off = !on;
}

static char *file_path(store *st)
{
    dq_buf p = DQ_BUF_INIT;
    dq_buf_printf(&p, "%s/%s", st->dir, BM25_FILE);
    return dq_buf_take(&p);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The file for the store's stamp now, loading it again when the one held
 * is stale (a writer may have rebuilt it); NULL when there is none. */
static const bm25_file *current_file(store *st, const uint8_t stamp[32])
{
    struct store_bm25 *b = bm_of(st);
    char *path = file_path(st);
    load_attempt now;
    memcpy(now.stamp, stamp, 32);
    if (stat(path, &now.file) < 0)
        memset(&now.file, 0, sizeof now.file);
    /* A writer that finds the file damaged replaces it under the same
     * stamp: the one mapped here is kept only while it is still the file. */
    if (b->f && same_file(&b->f_file, &now.file) && memcmp(b->f->h->stamp, stamp, 32) == 0) {
        free(path);
        return b->f;
    }
    bool same = b->have_tried && !memcmp(b->tried.stamp, stamp, 32) &&
                same_file(&b->tried.file, &now.file);
    if (!same) {
        bm25_file_free(b->f);
        b->f = now.file.st_ino ? bm25_file_open(path) : NULL;
        b->f_file = now.file;
    }
    free(path);
    if (b->f && memcmp(b->f->h->stamp, stamp, 32) == 0)
        return b->f;
    b->tried = now;
    b->have_tried = true;
    return NULL;
}

/* ---- the MATCH expression ----------------------------------------------- */

typedef struct {
    char *text;        /* the phrase, unquoted */
    bool section_only; /* inside "section : (...)" */
} match_phrase;

typedef struct {
    match_phrase *items; /* (n), in FTS5's phrase order */
    size_t n, cap;
} match_phrases;

static void phrases_free(match_phrases *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->items[i].text);
    free(m->items);
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

/* A quoted phrase at p (with "" for a quote) into m; the end, or NULL. */
static const char *parse_quoted(const char *p, bool section, match_phrases *m)
{
    if (*p != '"')
        return NULL;
    dq_buf b = DQ_BUF_INIT;
    for (p++;; p++) {
        if (!*p) {
            dq_buf_free(&b);
            return NULL;
        }
        if (*p == '"') {
            if (p[1] != '"')
                break;
            p++;
        }
        dq_buf_putc(&b, *p);
    }
    DQ_GROW(m->items, m->cap, m->n + 1);
    m->items[m->n++] = (match_phrase){b.data ? dq_buf_take(&b) : dq_strdup(""), section};
    return p + 1;
}

/* `"a" OR "b" ... [OR section : ("c" OR ...)]`: true with m filled. */
static bool parse_match(const char *p, match_phrases *m)
{
    bool section = false, want_phrase = true;
    for (p = skip_spaces(p); *p; p = skip_spaces(p)) {
        if (want_phrase) {
            if (!section && !strncmp(p, "section", 7)) {
                p = skip_spaces(p + 7);
                if (*p != ':')
                    return false;
                p = skip_spaces(p + 1);
                if (*p != '(')
                    return false;
                p++;
                section = true;
                continue;
            }
            p = parse_quoted(p, section, m);
            if (!p)
                return false;
            want_phrase = false;
        } else if (!strncmp(p, "OR", 2) && p[2] == ' ') {
            p += 2;
            want_phrase = true;
        } else if (section && *p == ')') {
            p++;
            section = false;
            if (*skip_spaces(p))
                return false; /* the column group comes last */
        } else {
            return false;
        }
    }
    return !want_phrase && !section && m->n > 0;
}

typedef struct {
    dq_buf text; /* a copy: text_terms reuses its term buffer */
    int count;
    bool colocated;
} one_term;

static int count_term(void *ctx, const dq_term *t)
{
    one_term *o = ctx;
    if (o->count++ == 0) {
        dq_buf_append(&o->text, t->text, (size_t)t->len);
        o->colocated = t->colocated;
    }
    return o->count > 1; /* a second term: not a single-term phrase */
}

/* ---- max-score ---------------------------------------------------------- */

/* A phrase's postings read from FTS5 (a phrase of several terms). */
typedef struct {
    uint32_t row, tf_text, tf_section;
} mem_posting;

typedef struct {
    const bm25_term *t; /* from the file; NULL: no row holds it, or mem */
    mem_posting *mem;   /* (n_mem) from FTS5, or NULL */
    size_t n_mem, at;
    bool section_only;
    double idf;
    double ub;          /* the most it adds to a row's score, a little over */
    bm25_cursor c;      /* row, tf_* and done are valid for mem phrases too */
} qphrase;

static void mem_load(qphrase *q)
{
    q->c.done = q->at >= q->n_mem;
    if (!q->c.done) {
        q->c.row = q->mem[q->at].row;
        q->c.tf_text = q->mem[q->at].tf_text;
        q->c.tf_section = q->mem[q->at].tf_section;
    }
}

static void phrase_next(qphrase *q)
{
    if (!q->mem) {
        bm25_cursor_next(&q->c);
        return;
    }
    q->at++;
    mem_load(q);
}

static void phrase_seek(qphrase *q, uint32_t row)
{
    if (!q->mem) {
        bm25_cursor_seek(&q->c, row);
        return;
    }
    size_t lo = q->at, hi = q->n_mem; /* the first at or after row */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (q->mem[mid].row < row)
            lo = mid + 1;
        else
            hi = mid;
    }
    q->at = lo;
    mem_load(q);
}

typedef struct {
    double score;
    uint32_t row;
} top_entry;

/* A min-heap of the best k: the root is the worst, the lower score or, at
 * equal scores, the later row (FTS5 keeps the earlier row of a tie). */
typedef struct {
    top_entry *items; /* (k) */
    size_t n, k;
} top_heap;

static bool worse(const top_entry *a, const top_entry *b)
{
    return a->score < b->score || (a->score == b->score && a->row > b->row);
}

static void heap_push(top_heap *h, top_entry e)
{
    size_t i;
    if (h->n < h->k) {
        i = h->n++;
        while (i > 0 && worse(&e, &h->items[(i - 1) / 2])) {
            h->items[i] = h->items[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h->items[i] = e;
        return;
    }
    if (!worse(&h->items[0], &e))
        return;
    i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const top_entry *pick = &e;
        if (l < h->n && worse(&h->items[l], pick)) {
            m = l;
            pick = &h->items[l];
        }
        if (r < h->n && worse(&h->items[r], pick))
            m = r;
        if (m == i)
            break;
        h->items[i] = h->items[m];
        i = m;
    }
    h->items[i] = e;
}

/* The weighted frequency FTS5's bm25() adds up: a weight per instance, the
 * text's instances first (xInst orders them by column). */
static double phrase_freq(const bm25_file *f, const qphrase *q)
{
    double freq = 0;
    if (!q->section_only)
        for (uint32_t i = 0; i < q->c.tf_text; i++)
            freq += f->h->weight[0];
    for (uint32_t i = 0; i < q->c.tf_section; i++)
        freq += f->h->weight[1];
    return freq;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const bm25_file *f;
    qphrase *ph;     /* (n) in the expression's order */
    size_t n;
    size_t *order;   /* (n) phrase indices by ub, ascending */
    double *cum;     /* (n) cum[j]: sum of ub over order[0..j] */
    double *part;    /* (n) this row's score per phrase */
    const int64_t *docs; /* sorted scope, or NULL */
    size_t n_docs;
} search_ctx;

static int cmp_ub(const void *a, const void *b, void *ctx)
{
    const qphrase *ph = ctx;
    double x = ph[*(const size_t *)a].ub, y = ph[*(const size_t *)b].ub;
    return (x > y) - (x < y);
}

/* The current row's contribution of phrase i (its cursor on the row). */
static bool add_phrase(search_ctx *s, size_t i, double *partial)
{
    qphrase *q = &s->ph[i];
    double freq = phrase_freq(s->f, q);
    bool matched = q->section_only ? q->c.tf_section > 0 : true;
    double d = (double)s->f->lengths[q->c.row];
    s->part[i] = q->idf * bm25_tf_part(freq, d, s->f->avgdl);
    *partial += s->part[i];
    return matched;
}

static void run_max_score(search_ctx *s, top_heap *top)
{
    size_t n = s->n, ne = 0; /* order[0..ne) are non-essential */
    double theta = -INFINITY;
    for (;;) {
        uint32_t row = UINT32_MAX;
        for (size_t j = ne; j < n; j++) {
            const bm25_cursor *c = &s->ph[s->order[j]].c;
            if (!c->done && c->row < row)
                row = c->row;
        }
        if (row == UINT32_MAX)
            break;
        bool want = !s->docs || bm25_find_id(s->docs, s->n_docs, s->f->doc_ids[row]) >= 0;
        double partial = 0;
        bool matched = false;
        for (size_t i = 0; i < n; i++)
            s->part[i] = 0;
        for (size_t j = ne; j < n; j++) {
            size_t i = s->order[j];
            const bm25_cursor *c = &s->ph[i].c;
            if (!c->done && c->row == row) {
                if (want)
                    matched |= add_phrase(s, i, &partial);
                phrase_next(&s->ph[i]);
            }
        }
        if (!want)
            continue;
        bool pruned = false;
        for (size_t j = ne; j-- > 0;) {
            if (partial * (1 + 1e-12) + s->cum[j] < theta) {
                pruned = true;
                break;
            }
            size_t i = s->order[j];
            phrase_seek(&s->ph[i], row);
            if (!s->ph[i].c.done && s->ph[i].c.row == row)
                matched |= add_phrase(s, i, &partial);
        }
        if (pruned || !matched)
            continue;
        double score = 0.0; /* in the expression's order, as bm25() adds */
        for (size_t i = 0; i < n; i++)
            score += s->part[i];
        heap_push(top, (top_entry){score, row});
        if (top->n == top->k) {
            theta = top->items[0].score;
            while (ne < n && s->cum[ne] < theta)
                ne++;
        }
    }
}

/* The phrase's idf (FTS5's formula, hits being the rows it matches) and
 * the most it can add to a row's score. */
static void set_bounds(const bm25_file *f, qphrase *q, int64_t hits)
{
    int64_t n_rows = (int64_t)f->h->n_rows;
    double idf = log((n_rows - hits + 0.5) / (hits + 0.5));
    if (idf <= 0.0)
        idf = 1e-6;
    q->idf = idf;
    double gmax = 0;
    if (q->t) {
        gmax = q->t->gmax;
    } else {
        for (size_t i = 0; i < q->n_mem; i++) {
            q->at = i;
            mem_load(q);
            double g = bm25_tf_part(phrase_freq(f, q), (double)f->lengths[q->c.row], f->avgdl);
            gmax = g > gmax ? g : gmax;
        }
        q->at = 0;
        mem_load(q);
    }
    q->ub = idf * gmax * (1 + 1e-9);
}

static int cmp_best(const void *a, const void *b)
{
    const top_entry *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

void bm25_phrase_tf(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
                    int n_args, sqlite3_value **args)
{
    (void)n_args;
    (void)args;
    int n = 0, rc = api->xInstCount(fts, &n);
    int64_t tf[2] = {0, 0};
    for (int i = 0; i < n && rc == SQLITE_OK; i++) {
        int phrase, col, off;
        rc = api->xInst(fts, i, &phrase, &col, &off);
        if (rc == SQLITE_OK && phrase == 0 && col >= 0 && col < 2)
            tf[col]++;
    }
    if (rc != SQLITE_OK)
        sqlite3_result_error_code(ctx, rc);
    else
        sqlite3_result_int64(ctx, tf[0] | tf[1] << 32);
}

/* A phrase of several terms (a word pair) has no postings in the file: FTS5
 * finds its rows and counts its instances per column (docqa_phrase_tf),
 * which costs what matching the phrase costs, not what scoring an OR does.
 * 1 with q->mem filled, 0 when FTS5 says what the file does not hold. */
static int phrase_from_fts(store *st, const bm25_file *f, const char *text, qphrase *q)
{
    sqlite3_stmt *s = store_stmt(st, SLOT_BM25_PHRASE,
                                 "SELECT rowid, docqa_phrase_tf(fts) FROM fts WHERE fts MATCH ?1");
    if (!s)
        return 0;
    dq_buf m = DQ_BUF_INIT;
    dq_buf_putc(&m, '"');
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            dq_buf_putc(&m, '"');
        dq_buf_putc(&m, *p);
    }
    dq_buf_putc(&m, '"');
    sqlite3_bind_text(s, 1, m.data, (int)m.len, SQLITE_TRANSIENT);
    dq_buf_free(&m);
    size_t cap = 0;
    int ok = 1, rc;
    while (ok && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t row = bm25_find_id(f->chunk_ids, f->h->n_rows, sqlite3_column_int64(s, 0));
        int64_t tf = sqlite3_column_int64(s, 1);
        mem_posting e = {(uint32_t)row, (uint32_t)(tf & 0xffffffff), (uint32_t)(tf >> 32)};
        if (row < 0 || (q->n_mem && q->mem[q->n_mem - 1].row >= e.row) ||
            e.tf_text + (uint64_t)e.tf_section == 0)
            ok = 0;
        else if (!q->section_only || e.tf_section) {
            DQ_GROW(q->mem, cap, q->n_mem + 1);
            q->mem[q->n_mem++] = e;
        }
    }
    if (ok && rc != SQLITE_DONE)
        ok = 0;
    sqlite3_reset(s);
    return ok;
}

/* The best k rows for the phrases over f (top->items sorted best first):
 * 1, or 0 when the expression is not one f can score or f is damaged. */
static int search_file(store *st, const bm25_file *f, const match_phrases *m,
                       const int64_t *docs, size_t n_docs, top_heap *top)
{
    search_ctx s = {.f = f, .n = 0};
    s.ph = dq_calloc(m->n, sizeof *s.ph);
    s.order = dq_calloc(m->n, sizeof *s.order);
    s.cum = dq_calloc(m->n, sizeof *s.cum);
    s.part = dq_calloc(m->n, sizeof *s.part);
    int64_t *scope = NULL;
    int ok = 1;
    for (size_t i = 0; i < m->n && ok; i++) {
        one_term o = {DQ_BUF_INIT, 0, false};
        const char *text = m->items[i].text;
        text_terms(text, strlen(text), TERMS_BIGRAMS, count_term, &o);
        const bm25_term *t = o.count == 1 ? bm25_file_find(f, o.text.data, o.text.len) : NULL;
        bool single = o.count == 1 && !o.colocated && o.text.len <= 32768;
        dq_buf_free(&o.text);
        qphrase *q = &s.ph[s.n++];
        q->section_only = m->items[i].section_only;
        if (!single) {
            if (o.count < 2 || !phrase_from_fts(st, f, text, q)) {
                ok = 0;
                break;
            }
            mem_load(q);
            if (q->n_mem)
                set_bounds(f, q, (int64_t)q->n_mem);
            continue;
        }
        q->t = t;
        if (!q->t) {
            q->c.done = true;
            continue;
        }
        int64_t hits = q->section_only ? q->t->df_section : q->t->n_post;
        set_bounds(f, q, hits);
        if (!bm25_cursor_init(&q->c, f, q->t))
            ok = 0;
    }
    if (ok) {
        for (size_t i = 0; i < s.n; i++)
            s.order[i] = i;
        qsort_r(s.order, s.n, sizeof *s.order, cmp_ub, s.ph);
        double sum = 0;
        for (size_t j = 0; j < s.n; j++)
            s.cum[j] = sum += s.ph[s.order[j]].ub;
        if (n_docs) {
            scope = dq_malloc(n_docs * sizeof *scope);
            memcpy(scope, docs, n_docs * sizeof *scope);
            qsort(scope, n_docs, sizeof *scope, cmp_i64);
            s.docs = scope;
            s.n_docs = n_docs;
        }
        run_max_score(&s, top);
        for (size_t i = 0; i < s.n; i++)
            if (s.ph[i].c.corrupt)
                ok = 0;
        qsort(top->items, top->n, sizeof *top->items, cmp_best);
    }
    free(scope);
    for (size_t i = 0; i < s.n; i++)
        free(s.ph[i].mem);
    free(s.ph);
    free(s.order);
    free(s.cum);
    free(s.part);
    return ok;
}

/* The rows of top as hits, inside the caller's read transaction: 1, or 0
 * when one is missing (the file does not match the store after all). */
static int fetch_hits(store *st, const bm25_file *f, const top_heap *top, store_hits *out)
{
    out->items = dq_calloc(top->n ? top->n : 1, sizeof *out->items);
    out->n = 0;
    for (size_t i = 0; i < top->n; i++) {
        int rc = store_get_chunk(st, f->chunk_ids[top->items[i].row], &out->items[out->n]);
        if (rc != 1) {
            store_hits_free(out);
            return 0;
        }
        out->items[out->n++].score = top->items[i].score;
    }
    return 1;
}

int store_bm25_search(store *st, const char *match, int k, const int64_t *docs, size_t n_docs,
                      store_hits *out)
{
    if (k <= 0 || !match || (st->bm25 && st->bm25->off))
        return 0;
    match_phrases m = {0};
    if (!parse_match(match, &m)) {
        phrases_free(&m);
        return 0;
    }
    bool own = sqlite3_get_autocommit(st->db);
    if (own && sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        phrases_free(&m);
        return 0;
    }
    uint8_t stamp[32];
    int served = 0;
    const bm25_file *f = bm25_stamp(st->db, stamp) == 0 ? current_file(st, stamp) : NULL;
    if (f) {
        top_heap top = {dq_calloc((size_t)k, sizeof(top_entry)), 0, (size_t)k};
        served = search_file(st, f, &m, docs, n_docs, &top) && fetch_hits(st, f, &top, out);
        free(top.items);
    }
    if (own)
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    phrases_free(&m);
    return served;
}

/* ---- the writer's side -------------------------------------------------- */

/* A writer killed while writing the file leaves its temporary copy (as
 * large as the file); the next writer, holding the store's lock, finds
 * none of them in use and removes them. */
static void remove_stale_copies(store *st)
{
    DIR *d = opendir(st->dir);
    if (!d)
        return;
    const char *prefix = BM25_FILE ".tmp.";
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix)))
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

/* Drops the log entries the file at seq has seen. Housekeeping: a busy
 * store keeps them a while longer, and replaying one is harmless. */
static void trim_log(store *st, uint64_t seq)
{
    if (st->readonly || !sqlite3_get_autocommit(st->db))
        return;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "DELETE FROM fts_log WHERE seq <= ?1", -1, &s, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(s, 1, (int64_t)seq);
        sqlite3_step(s);
    }
    sqlite3_finalize(s);
}

int store_bm25_sync(store *st, store_bm25_report *rep)
{
    store_bm25_report r = {STORE_BM25_CURRENT, 0, 0, 0};
    double t0 = dq_now();
    uint8_t stamp[32];
    if (bm25_stamp(st->db, stamp) < 0)
        return -1;
    char *path = file_path(st);
    bm25_file *have = bm25_file_open(path);
    bool intact = have && have->h->checksum == bm25_checksum(have->data + have->header_bytes,
                                                             have->size - have->header_bytes);
    int rc = 0;
    if (intact && memcmp(have->h->stamp, stamp, 32) == 0) {
        r.rows = (int64_t)have->h->n_rows;
        r.terms = (int64_t)have->h->n_terms;
        trim_log(st, have->h->log_seq);
    } else {
        remove_stale_copies(st);
        dq_buf bytes = DQ_BUF_INIT;
        /* From the changed rows when the log reaches back to the file (or
         * to the store's start), else from FTS5. */
        int made = bm25_update(st->db, intact ? have : NULL, st->memo, &bytes);
        r.action = STORE_BM25_UPDATED;
        if (made == 0) {
            made = bm25_build(st->db, &bytes);
            r.action = STORE_BM25_BUILT;
        }
        if (made < 0) {
            rc = -1;
        } else if (made == 0) {
            /* A store this format does not mirror: searches run on FTS5,
             * and no file that could be mistaken for current is left. */
            r.action = STORE_BM25_NONE;
            unlink(path);
        } else {
            const bm25_header *h = (const bm25_header *)bytes.data;
            r.rows = (int64_t)h->n_rows;
            r.terms = (int64_t)h->n_terms;
            uint64_t seq = h->log_seq;
            if (dq_write_file_private(path, bytes.data, bytes.len) < 0)
                rc = -1;
            else
                trim_log(st, seq);
        }
        dq_buf_free(&bytes);
    }
    fts_memo_clear(st->memo); /* the file has seen every row it held */
    bm25_file_free(have);
    free(path);
    r.seconds = dq_now() - t0;
    if (rep)
        *rep = r;
    return rc;
}
