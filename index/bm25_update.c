/* bm25_update.c - brings the BM25 file up to date from the chunks that changed.
 *
 * Triggers (schema.c, migration 12) log the id of every chunk inserted,
 * deleted or changed in its text or section to fts_log, in the transaction
 * that changes FTS5; the file's header records the last seq it has seen. An
 * update reads, in one read transaction, the chunks logged since then, cuts
 * each one still stored with the tokenizer's own xTokenize exactly as FTS5's
 * insert does (the same token truncation and position counting), checks
 * each row's column lengths against FTS5's docsize record, and merges those
 * postings with the old file's, dropping every logged row: the changed rows
 * plus one sequential pass over the old file, never a scan of FTS5. The
 * block maxima depend on each row's length over the average length, which
 * any change moves, so every posting is decoded and written again, by the
 * writer a full build uses; the row and token totals are checked against
 * FTS5's averages record, and the bytes are the full build's
 * (tests/test_bm25.c compares them after ingests, re-ingests and removals).
 * Cutting was most of an update's time: a row whose text the writer's
 * tokenizer cut for FTS5 in this process is not cut again, its recorded
 * tokens are replayed (index/fts_memo.c, looked up by the text's bytes);
 * the others are cut. An ingest's update runs after its readers have
 * exited, with a core idle, so many changed rows are cut in two halves on
 * two threads (the rows are read, and their text copied, first: only this
 * thread touches SQLite).
 */
#include "index/bm25.h"
#include "index/store_impl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* FTS5 cuts longer tokens to this many bytes (FTS5_MAX_TOKEN_SIZE). */
#define FTS5_TOKEN_MAX 32768
/* An update tokenizes the changed rows and holds their postings in memory;
 * beyond this many rows or a quarter of the old file's, whichever is more,
 * the full build from FTS5 (which streams) is the better way. */
#define UPDATE_MIN_ROWS 65536
/* Nor beyond this much changed text, whatever the rows: the postings of
 * CJK text (a unigram and a bigram per character) take about ten times
 * its bytes, so this bounds an update near 300 MB. */
#define UPDATE_MAX_TEXT_BYTES (32u << 20)
/* From this many changed rows the second half is cut on a second thread:
 * a writer's tail runs alone, with the other core idle. */
#define CUT_SPLIT_ROWS 2048

typedef struct {
    uint32_t row;   /* the changed row's ordinal (in chunk id order) */
    uint32_t tf[2]; /* instances in the text and section columns */
} delta_post;

typedef struct {
    uint64_t hash;
    uint32_t str_off; /* into delta.strings */
    uint32_t str_len;
    delta_post *posts; /* (n), rows ascending; the last row's is in last */
    uint32_t n, cap;
    delta_post last;   /* the posting of the row being cut (n > 0) */
} delta_term;

/* The changed rows' postings, term by term, as they are cut. */
typedef struct {
    dq_buf strings;
    delta_term *terms; /* (n_terms) */
    size_t n_terms, cap;
    /* The hash's high 32 bits, then term index + 1 (0: empty): a probe
     * reads a term only when its hash matches. (n_slots), a power of 2. */
    uint64_t *slots;
    size_t n_slots;
    uint32_t row, col; /* where the tokens go */
    uint32_t sz_col;   /* FTS5's position counter for the column */
    /* Replayed tokens: the memo, and each of its term ids' index + 1 in
     * terms (0: not met yet), so a term is hashed once, not per token.
     * (fts_memo_terms(memo)) */
    const fts_memo *memo;
    uint32_t *memo_terms;
} delta;

static uint64_t slot_of(uint64_t hash, size_t index)
{
    return (hash & 0xffffffff00000000ull) | (index + 1);
}

static void delta_grow(delta *d)
{
    free(d->slots);
    d->n_slots = d->n_slots ? d->n_slots * 2 : 4096;
    d->slots = dq_calloc(d->n_slots, sizeof *d->slots);
    for (size_t i = 0; i < d->n_terms; i++) {
        size_t j = d->terms[i].hash & (d->n_slots - 1);
        while (d->slots[j])
            j = (j + 1) & (d->n_slots - 1);
        d->slots[j] = slot_of(d->terms[i].hash, i);
    }
}

static delta_term *delta_term_of(delta *d, const char *s, size_t n)
{
    if (2 * (d->n_terms + 1) > d->n_slots)
        delta_grow(d);
    uint64_t h = bm25_checksum(s, n);
    size_t j = h & (d->n_slots - 1);
    for (; d->slots[j]; j = (j + 1) & (d->n_slots - 1)) {
        if ((d->slots[j] ^ h) >> 32)
            continue;
        delta_term *t = &d->terms[(uint32_t)d->slots[j] - 1];
        if (t->str_len == n && !memcmp(d->strings.data + t->str_off, s, n))
            return t;
    }
    DQ_GROW(d->terms, d->cap, d->n_terms + 1);
    delta_term *t = &d->terms[d->n_terms];
    *t = (delta_term){.hash = h, .str_off = (uint32_t)d->strings.len, .str_len = (uint32_t)n};
    dq_buf_append(&d->strings, s, n);
    d->slots[j] = slot_of(h, d->n_terms++);
    return t;
}

/* A token of term t at the current row and column, as FTS5's insert
 * callback (fts5StorageInsertCallback) counts it: a colocated token takes
 * the position of the one before. */
static void add_token(delta *d, int tflags, delta_term *t)
{
    if (!(tflags & FTS5_TOKEN_COLOCATED) || d->sz_col == 0)
        d->sz_col++;
    /* The posting in the term's entry until the next row: the common
     * repeat of a term in a row touches no other memory. */
    if (t->n && t->last.row == d->row) {
        t->last.tf[d->col]++;
        return;
    }
    if (t->n) {
        DQ_GROW(t->posts, t->cap, t->n);
        t->posts[t->n - 1] = t->last;
    }
    t->n++;
    t->last = (delta_post){d->row, {d->col == 0, d->col == 1}};
}

/* FTS5's insert callback, recording instead of indexing. */
static int on_token(void *ctx, int tflags, const char *token, int n, int start, int end)
{
    (void)start;
    (void)end;
    delta *d = ctx;
    if (n < 0)
        n = 0;
    if (n > FTS5_TOKEN_MAX)
        n = FTS5_TOKEN_MAX;
    add_token(d, tflags, delta_term_of(d, token ? token : "", (size_t)n));
    return SQLITE_OK;
}

/* The same for a token the memo replays as its term's id. */
static int on_memo_token(void *ctx, int tflags, uint32_t id)
{
    delta *d = ctx;
    uint32_t k = d->memo_terms[id];
    if (!k) {
        size_t n;
        const char *s = fts_memo_term(d->memo, id, &n);
        /* terms may move as the term is added: read it after */
        const delta_term *t = delta_term_of(d, s, n > FTS5_TOKEN_MAX ? FTS5_TOKEN_MAX : n);
        k = (uint32_t)(t - d->terms) + 1;
        d->memo_terms[id] = k;
    }
    add_token(d, tflags, &d->terms[k - 1]);
    return SQLITE_OK;
}

/* Every term's last posting into its array. */
static void delta_close(delta *d)
{
    for (size_t i = 0; i < d->n_terms; i++) {
        delta_term *t = &d->terms[i];
        DQ_GROW(t->posts, t->cap, t->n);
        t->posts[t->n - 1] = t->last;
    }
}

static void delta_free(delta *d)
{
    for (size_t i = 0; i < d->n_terms; i++)
        free(d->terms[i].posts);
    free(d->terms);
    free(d->slots);
    free(d->memo_terms);
    dq_buf_free(&d->strings);
}

/* Where a changed row's columns lie: the tokens the memo recorded for
 * the column's text (toks non-NULL), else the text in update.texts; and
 * their lengths in tokens as FTS5 counted them. */
typedef struct {
    size_t off[2];
    uint32_t len[2]; /* bytes of text, or of toks */
    const uint8_t *toks[2];
    uint32_t sz[2];
} row_text;

/* Everything an update holds. */
typedef struct {
    const bm25_file *old;  /* NULL: the empty file */
    const fts_memo *memo;  /* cuts FTS5's tokenizer recorded, or NULL */
    int64_t *logged;       /* (n_logged) every logged id, ascending */
    size_t n_logged, cap_logged;
    bm25_rows changed;     /* the logged rows FTS5 holds now */
    dq_buf texts;          /* their text and section columns the memo does not hold */
    size_t text_bytes;     /* of all their columns, held here or in the memo */
    row_text *rt;          /* (changed.n) */
    size_t cap_rt;
    /* Their postings (row = index in changed), cut in up to two parts:
     * every row of d[0] comes before every row of d[1]. */
    delta d[2];
    size_t n_parts;
    bm25_rows rows;        /* the new file's */
    uint32_t *old_to_new;  /* (old n_rows) the old row's new row, or UINT32_MAX */
    uint32_t *changed_to_new; /* (changed.n) */
} update;

static void update_free(update *u)
{
    free(u->logged);
    bm25_rows_free(&u->changed);
    dq_buf_free(&u->texts);
    free(u->rt);
    delta_free(&u->d[0]);
    delta_free(&u->d[1]);
    bm25_rows_free(&u->rows);
    free(u->old_to_new);
    free(u->changed_to_new);
}

/* Whether the fts table is the one the schema made: text cut by the docqa
 * tokenizer from the chunks table, which is what is tokenized here. */
static int fts_is_ours(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_schema WHERE name = 'fts'", -1, &s,
                           NULL) != SQLITE_OK) {
        dq_set_error("cannot read the store's schema: %s", sqlite3_errmsg(db));
        return -1;
    }
    int ours = 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
        const char *sql = (const char *)sqlite3_column_text(s, 0);
        static const char tail[] = "tokenize='docqa')";
        size_t n = sql ? strlen(sql) : 0;
        ours = n >= sizeof tail - 1 && !strcmp(sql + n - (sizeof tail - 1), tail) &&
               strstr(sql, "content='chunks'") && strstr(sql, "content_rowid='id'");
    }
    sqlite3_finalize(s);
    return ours;
}

/* The oldest seq the log still holds, or head + 1 when it is empty. */
static int log_floor(sqlite3 *db, uint64_t head, uint64_t *floor)
{
    /* seqs start at 1 (AUTOINCREMENT): 0 is an empty log */
    if (store_query_u64(db, "SELECT coalesce(min(seq), 0) FROM fts_log",
                        "cannot read the FTS change log", floor) < 0)
        return -1;
    if (*floor == 0)
        *floor = head + 1;
    return 0;
}

/* Column i of s's row: its recorded tokens when the memo has its text
 * (the text is not copied then: the memo holds it), else a copy of it in
 * u->texts. */
static void copy_column(update *u, row_text *t, int col, sqlite3_stmt *s, int i)
{
    const char *text = (const char *)sqlite3_column_text(s, i);
    size_t n = (size_t)sqlite3_column_bytes(s, i), n_toks;
    u->text_bytes += n;
    if (text && fts_memo_find(u->memo, text, n, &t->toks[col], &n_toks) &&
        n_toks <= UINT32_MAX) {
        t->off[col] = 0;
        t->len[col] = (uint32_t)n_toks;
        return;
    }
    t->toks[col] = NULL;
    t->off[col] = u->texts.len;
    t->len[col] = (uint32_t)n;
    if (text && n)
        dq_buf_append(&u->texts, text, n);
}

typedef struct {
    update *u;
    delta *d;
    size_t first, end; /* the rows of changed it cuts */
    bool ok;           /* every row's lengths were FTS5's */
} cut_job;

static void *cut_rows(void *arg)
{
    cut_job *j = arg;
    const update *u = j->u;
    j->ok = true;
    size_t n_memo = fts_memo_terms(u->memo);
    j->d->memo = u->memo;
    j->d->memo_terms = n_memo ? dq_calloc(n_memo, sizeof *j->d->memo_terms) : NULL;
    for (size_t r = j->first; r < j->end && j->ok; r++) {
        const row_text *t = &u->rt[r];
        j->d->row = (uint32_t)r;
        for (uint32_t col = 0; col < 2 && j->ok; col++) {
            j->d->col = col;
            j->d->sz_col = 0;
            int rc;
            if (t->toks[col]) {
                rc = fts_memo_replay_ids(t->toks[col], t->len[col], j->d, on_memo_token);
            } else {
                const char *text = t->len[col] ? u->texts.data + t->off[col] : NULL;
                rc = store_fts_tokenize(j->d, FTS5_TOKENIZE_DOCUMENT, text, (int)t->len[col],
                                        on_token);
            }
            j->ok = rc == SQLITE_OK && j->d->sz_col == t->sz[col];
        }
    }
    if (j->ok && j->d->n_terms)
        delta_close(j->d);
    return NULL;
}

/* Cuts the changed rows, the second half on a second thread when there
 * are many: false when a row's lengths are not FTS5's. */
static bool cut_changed(update *u)
{
    size_t n = u->changed.n;
    u->n_parts = n >= CUT_SPLIT_ROWS ? 2 : 1;
    cut_job jobs[2] = {{u, &u->d[0], 0, n / u->n_parts, false},
                       {u, &u->d[1], n / u->n_parts, n, false}};
    pthread_t thread;
    bool threaded = u->n_parts == 2 && pthread_create(&thread, NULL, cut_rows, &jobs[1]) == 0;
    cut_rows(&jobs[0]);
    if (threaded)
        pthread_join(thread, NULL);
    else if (u->n_parts == 2)
        cut_rows(&jobs[1]);
    return jobs[0].ok && (u->n_parts == 1 || jobs[1].ok);
}

/* The logged ids in (from, head], ascending, each with whether FTS5 and
 * chunks hold it; the texts are read apart (ROWS_SQL), since sorting the
 * joined rows by id sorted their texts too, through a temporary file (a
 * third of the read). */
static const char LOGGED_SQL[] =
    "SELECT l.id, z.id IS NOT NULL, c.id IS NOT NULL FROM"
    " (SELECT DISTINCT chunk_id AS id FROM fts_log WHERE seq > ?1 AND seq <= ?2) l"
    " LEFT JOIN fts_docsize z ON z.id = l.id"
    " LEFT JOIN chunks c ON c.id = l.id ORDER BY l.id";
/* The logged rows both hold, in id order with no sort: the IN list is a
 * sorted index, and each id is a seek. */
static const char ROWS_SQL[] =
    "SELECT c.id, z.sz, c.doc_id, c.text, c.section FROM chunks c"
    " JOIN fts_docsize z ON z.id = c.id"
    " WHERE c.id IN (SELECT chunk_id FROM fts_log WHERE seq > ?1 AND seq <= ?2) ORDER BY c.id";

/* Prepares sql with (from, head] bound; NULL with the error set. */
static sqlite3_stmt *prepare_range(sqlite3 *db, const char *sql, uint64_t from, uint64_t head)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        dq_set_error("cannot read the FTS change log: %s", sqlite3_errmsg(db));
        sqlite3_finalize(s);
        return NULL;
    }
    sqlite3_bind_int64(s, 1, (int64_t)from);
    sqlite3_bind_int64(s, 2, (int64_t)head);
    return s;
}

/* Takes the text row of id from rows (the next one it returns) into u: 1,
 * 0 when it is not id's, its lengths are unreadable or the update grows
 * too large, -1 on error. */
static int take_row(sqlite3 *db, sqlite3_stmt *rows, int64_t id, size_t limit, update *u)
{
    int rc = sqlite3_step(rows);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        dq_set_error("cannot read the FTS change log: %s", sqlite3_errmsg(db));
        return -1;
    }
    uint32_t sz[2];
    if (rc == SQLITE_DONE || sqlite3_column_int64(rows, 0) != id || u->changed.n >= limit ||
        !bm25_parse_docsize(sqlite3_column_blob(rows, 1), (size_t)sqlite3_column_bytes(rows, 1),
                            sz) ||
        (uint64_t)sz[0] + sz[1] > UINT32_MAX)
        return 0;
    DQ_GROW(u->rt, u->cap_rt, u->changed.n + 1);
    row_text *t = &u->rt[u->changed.n];
    t->sz[0] = sz[0];
    t->sz[1] = sz[1];
    copy_column(u, t, 0, rows, 3);
    copy_column(u, t, 1, rows, 4);
    if (u->text_bytes > UPDATE_MAX_TEXT_BYTES)
        return 0;
    bm25_rows_push(&u->changed, id, sqlite3_column_int64(rows, 2), sz[0] + sz[1]);
    return 1;
}

/* Reads and cuts the rows logged in (from, head]: 1, 0 when they do not
 * match FTS5 or are too many, -1 on error. */
static int read_changed(sqlite3 *db, uint64_t from, uint64_t head, update *u)
{
    sqlite3_stmt *logged = prepare_range(db, LOGGED_SQL, from, head);
    sqlite3_stmt *rows = logged ? prepare_range(db, ROWS_SQL, from, head) : NULL;
    if (!rows) {
        sqlite3_finalize(logged);
        return -1;
    }
    size_t n_old = u->old ? (size_t)u->old->h->n_rows : 0;
    size_t limit = n_old / 4 > UPDATE_MIN_ROWS ? n_old / 4 : UPDATE_MIN_ROWS;
    int ok = 1, rc;
    while (ok == 1 && (rc = sqlite3_step(logged)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(logged, 0);
        DQ_GROW(u->logged, u->cap_logged, u->n_logged + 1);
        u->logged[u->n_logged++] = id;
        bool in_fts = sqlite3_column_int(logged, 1), stored = sqlite3_column_int(logged, 2);
        if (in_fts != stored)
            ok = 0;
        else if (stored)
            ok = take_row(db, rows, id, limit, u);
        /* else removed */
    }
    if (ok == 1 && rc != SQLITE_DONE) {
        dq_set_error("cannot read the FTS change log: %s", sqlite3_errmsg(db));
        ok = -1;
    }
    sqlite3_finalize(logged);
    sqlite3_finalize(rows);
    /* The terms' offsets are 32-bit; a row's terms (bigrams overlap) are
     * at most three times its bytes. */
    if (ok == 1 && u->text_bytes > UINT32_MAX / 3)
        ok = 0;
    if (ok == 1 && !cut_changed(u))
        ok = 0;
    return ok;
}

/* The new rows: the old file's that were not logged, and the changed ones,
 * in chunk id order. */
static void merge_rows(update *u)
{
    const bm25_file *f = u->old;
    size_t n_old = f ? (size_t)f->h->n_rows : 0;
    const bm25_rows *c = &u->changed;
    u->old_to_new = dq_malloc((n_old ? n_old : 1) * sizeof *u->old_to_new);
    u->changed_to_new = dq_malloc((c->n ? c->n : 1) * sizeof *u->changed_to_new);
    size_t i = 0, k = 0, l = 0;
    while (i < n_old || k < c->n) {
        if (k == c->n || (i < n_old && f->chunk_ids[i] < c->chunk_ids[k])) {
            int64_t id = f->chunk_ids[i];
            while (l < u->n_logged && u->logged[l] < id)
                l++;
            if (l < u->n_logged && u->logged[l] == id) {
                u->old_to_new[i++] = UINT32_MAX;
                continue;
            }
            u->old_to_new[i] = (uint32_t)u->rows.n;
            bm25_rows_push(&u->rows, id, f->doc_ids[i], f->lengths[i]);
            i++;
        } else {
            /* A changed row replaces the old one of its id. */
            if (i < n_old && f->chunk_ids[i] == c->chunk_ids[k])
                u->old_to_new[i++] = UINT32_MAX;
            u->changed_to_new[k] = (uint32_t)u->rows.n;
            bm25_rows_push(&u->rows, c->chunk_ids[k], c->doc_ids[k], c->lengths[k]);
            k++;
        }
    }
}

typedef struct {
    const char *s;
    size_t len;
    const delta_term *t;
} sorted_term;

static int cmp_sorted(const void *a, const void *b)
{
    const sorted_term *x = a, *y = b;
    return bm25_term_order(x->s, x->len, y->s, y->len);
}

/* One term's postings into w: the old file's (t, may be NULL) that are
 * kept, merged in row order with the changed rows' (dt[0] then dt[1],
 * either may be NULL). False when the old postings are damaged. */
static bool merge_postings(const update *u, const bm25_term *t, const delta_term *const dt[2],
                           bm25_writer *w)
{
    bm25_cursor c = {.done = true};
    if (t && !bm25_cursor_init(&c, u->old, t))
        return false;
    size_t part = 0, j = 0;
    for (;;) {
        uint32_t old_row = UINT32_MAX;
        while (!c.done && (old_row = u->old_to_new[c.row]) == UINT32_MAX)
            bm25_cursor_next(&c);
        if (c.done)
            old_row = UINT32_MAX;
        while (part < 2 && (!dt[part] || j == dt[part]->n)) {
            part++;
            j = 0;
        }
        const delta_post *p = part < 2 ? &dt[part]->posts[j] : NULL;
        uint32_t new_row = p ? u->changed_to_new[p->row] : UINT32_MAX;
        if (old_row == UINT32_MAX && new_row == UINT32_MAX)
            break;
        if (old_row < new_row) {
            bm25_writer_add(w, old_row, c.tf_text, c.tf_section);
            bm25_cursor_next(&c);
        } else {
            bm25_writer_add(w, new_row, p->tf[0], p->tf[1]);
            j++;
        }
    }
    return !c.corrupt;
}

/* A part's terms in byte order (*n of them). */
static sorted_term *sort_terms(const delta *d, size_t *n)
{
    *n = d->n_terms;
    sorted_term *st = dq_malloc((*n ? *n : 1) * sizeof *st);
    for (size_t i = 0; i < *n; i++) {
        const delta_term *t = &d->terms[i];
        st[i] = (sorted_term){d->strings.data + t->str_off, t->str_len, t};
    }
    qsort(st, *n, sizeof *st, cmp_sorted);
    return st;
}

/* Every term of the old file and of the changed rows, in byte order: 1, or
 * 0 when the old file is damaged. */
static int merge_terms(update *u, bm25_writer *w)
{
    sorted_term *st[2];
    size_t n[2], k[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        st[i] = sort_terms(&u->d[i], &n[i]);
    size_t n_old = u->old ? (size_t)u->old->h->n_terms : 0, i = 0;
    const char *prev = NULL;
    size_t prev_len = 0;
    int ok = 1;
    while (ok && (i < n_old || k[0] < n[0] || k[1] < n[1])) {
        const bm25_term *t = i < n_old ? &u->old->terms[i] : NULL;
        const char *s = t ? bm25_term_text(u->old, t) : NULL;
        if (t && (!s || (prev && bm25_term_order(prev, prev_len, s, t->str_len) >= 0))) {
            ok = 0;
            break;
        }
        /* The smallest of the three heads. */
        const char *m = s;
        size_t m_len = t ? t->str_len : 0;
        for (int p = 0; p < 2; p++)
            if (k[p] < n[p] &&
                (!m || bm25_term_order(st[p][k[p]].s, st[p][k[p]].len, m, m_len) < 0)) {
                m = st[p][k[p]].s;
                m_len = st[p][k[p]].len;
            }
        const delta_term *dt[2] = {NULL, NULL};
        for (int p = 0; p < 2; p++)
            if (k[p] < n[p] && !bm25_term_order(st[p][k[p]].s, st[p][k[p]].len, m, m_len))
                dt[p] = st[p][k[p]++].t;
        bool from_old = t && !bm25_term_order(s, t->str_len, m, m_len);
        if (!merge_postings(u, from_old ? t : NULL, dt, w)) {
            ok = 0;
            break;
        }
        bm25_writer_end_term(w, m, m_len);
        if (from_old) {
            prev = s;
            prev_len = t->str_len;
            i++;
        }
    }
    free(st[0]);
    free(st[1]);
    return ok;
}

static int update_locked(sqlite3 *db, const bm25_file *old, const fts_memo *memo, dq_buf *out)
{
    bm25_header h;
    int rc = bm25_read_state(db, &h);
    if (rc <= 0)
        return rc;
    rc = fts_is_ours(db);
    if (rc <= 0)
        return rc;
    /* The log must reach back to the old file: nothing trimmed that it has
     * not seen, and the empty file only while the log goes back to the
     * store's first row. */
    uint64_t floor, from = old ? old->h->log_seq : 0;
    if (log_floor(db, h.log_seq, &floor) < 0)
        return -1;
    if (from > h.log_seq || floor > from + 1 || (old && old->h->schema != h.schema))
        return 0;
    update u = {.old = old, .memo = memo};
    rc = read_changed(db, from, h.log_seq, &u);
    if (rc == 1) {
        merge_rows(&u);
        if (u.rows.n != h.n_rows || u.rows.tokens != h.n_tokens)
            rc = 0;
    }
    if (rc == 1) {
        bm25_writer *w = bm25_writer_new(&h, &u.rows, out);
        rc = merge_terms(&u, w);
        if (rc == 1)
            bm25_writer_finish(w);
        bm25_writer_free(w);
    }
    if (rc != 1)
        dq_buf_clear(out);
    update_free(&u);
    return rc;
}

int bm25_update(sqlite3 *db, const bm25_file *old, const fts_memo *memo, dq_buf *out)
{
    bool own = sqlite3_get_autocommit(db);
    if (own && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        dq_set_error("cannot read the store: %s", sqlite3_errmsg(db));
        return -1;
    }
    int rc = update_locked(db, old, memo, out);
    if (own)
        sqlite3_exec(db, rc < 0 ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
    return rc;
}
