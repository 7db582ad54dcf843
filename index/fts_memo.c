/* fts_memo.c - the tokens the docqa tokenizer cut for FTS5, kept by exact
 * text so the BM25 update does not cut the same chunks again.
 *
 * FTS5 cuts every chunk an ingest inserts, and the BM25 update after the
 * ingest (bm25_update.c) cut each of them again and hashed every token
 * into its terms, most of its time, in the serial tail after the last
 * reader. A writable store's tokenizer records each document-mode cut
 * here: the text's bytes and its tokens in order, each as the id of its
 * interned string with its colocated flag. Cutting is a pure function of
 * the text, so a recorded cut is the cut of any equal text, whichever FTS5
 * call (an insert, a delete, one rolled back later) made it: the update
 * looks a row's column up by its bytes, compared in full, and replays the
 * ids (mapping each id to its own term once), or cuts the text itself when
 * it is not here. The memo is bounded (what is past its limit is cut
 * again) and emptied by every update.
 */
#include "index/bm25.h"
#include "index/store_impl.h"

#include "common/common.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t hash;
    size_t text_off, text_len; /* into memo.texts */
    size_t tok_off, tok_len;   /* into memo.toks */
} memo_entry;

typedef struct {
    uint64_t hash;
    size_t off;   /* into memo.strings */
    uint32_t len;
} memo_term;

/* An open-addressed table of indexes + 1 (0: empty), a power of 2 long. */
typedef struct {
    uint32_t *slots; /* (n) */
    size_t n;
} slot_table;

struct fts_memo {
    size_t max_bytes; /* everything together */
    dq_buf texts;
    /* Per token: a varint of its term's id times 2, plus 1 when it is
     * colocated (FTS5_TOKEN_COLOCATED). */
    dq_buf toks;
    memo_entry *entries; /* (n) */
    size_t n, cap;
    slot_table by_text;
    /* The distinct tokens, interned: an update maps each id to its own
     * term once, instead of hashing every token it replays. */
    dq_buf strings;
    memo_term *terms; /* (n_terms) */
    size_t n_terms, cap_terms;
    slot_table by_term;
};

fts_memo *fts_memo_new(size_t max_bytes)
{
    fts_memo *m = dq_calloc(1, sizeof *m);
    m->max_bytes = max_bytes;
    return m;
}

void fts_memo_clear(fts_memo *m)
{
    if (!m)
        return;
    dq_buf_free(&m->texts);
    dq_buf_free(&m->toks);
    dq_buf_free(&m->strings);
    free(m->entries);
    free(m->terms);
    free(m->by_text.slots);
    free(m->by_term.slots);
    size_t max_bytes = m->max_bytes;
    memset(m, 0, sizeof *m);
    m->max_bytes = max_bytes;
}

void fts_memo_free(fts_memo *m)
{
    fts_memo_clear(m);
    free(m);
}

/* What m holds: the bytes written (a buffer's doubled capacity is not
 * resident until written). */
static size_t memo_bytes(const fts_memo *m)
{
    return m->texts.len + m->toks.len + m->strings.len + m->cap * sizeof *m->entries +
           m->cap_terms * sizeof *m->terms + (m->by_text.n + m->by_term.n) * sizeof(uint32_t);
}

/* Puts index (with its hash) into t, which has room. */
static void slot_put(slot_table *t, uint64_t hash, size_t index)
{
    size_t j = hash & (t->n - 1);
    while (t->slots[j])
        j = (j + 1) & (t->n - 1);
    t->slots[j] = (uint32_t)index + 1;
}

static const memo_entry *find(const fts_memo *m, uint64_t hash, const char *text, size_t n)
{
    const slot_table *t = &m->by_text;
    if (!t->n)
        return NULL;
    for (size_t j = hash & (t->n - 1); t->slots[j]; j = (j + 1) & (t->n - 1)) {
        const memo_entry *e = &m->entries[t->slots[j] - 1];
        if (e->hash == hash && e->text_len == n && !memcmp(m->texts.data + e->text_off, text, n))
            return e;
    }
    return NULL;
}

bool fts_memo_find(const fts_memo *m, const char *text, size_t n, const uint8_t **toks,
                   size_t *len)
{
    if (!m || !m->n || !n)
        return false;
    const memo_entry *e = find(m, bm25_checksum(text, n), text, n);
    if (!e)
        return false;
    *toks = (const uint8_t *)m->toks.data + e->tok_off;
    *len = e->tok_len;
    return true;
}

size_t fts_memo_terms(const fts_memo *m)
{
    return m ? m->n_terms : 0;
}

const char *fts_memo_term(const fts_memo *m, uint32_t id, size_t *len)
{
    *len = m->terms[id].len;
    return m->strings.data + m->terms[id].off;
}

int fts_memo_replay_ids(const uint8_t *toks, size_t len, void *ctx, fts_term_fn emit)
{
    for (const uint8_t *p = toks, *end = toks + len; p < end;) {
        uint32_t v;
        if (!bm25_varint_get(&p, end, &v)) /* the memo writes whole varints */
            return SQLITE_CORRUPT;
        int rc = emit(ctx, v & 1 ? FTS5_TOKEN_COLOCATED : 0, v >> 1);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

typedef struct {
    const fts_memo *m;
    void *ctx;
    fts_token_fn emit;
} as_text;

static int emit_text(void *arg, int tflags, uint32_t id)
{
    const as_text *a = arg;
    size_t n;
    const char *s = fts_memo_term(a->m, id, &n);
    return a->emit(a->ctx, tflags, s, (int)n, 0, 0);
}

int fts_memo_replay(const fts_memo *m, const uint8_t *toks, size_t len, void *ctx,
                    fts_token_fn emit)
{
    as_text a = {m, ctx, emit};
    return fts_memo_replay_ids(toks, len, &a, emit_text);
}

/* ---- recording ------------------------------------------------------------ */

/* Empties t at twice its size; the caller puts its entries back. */
static void slots_double(slot_table *t)
{
    free(t->slots);
    t->n = t->n ? 2 * t->n : 1024;
    t->slots = dq_calloc(t->n, sizeof *t->slots);
}

/* The id of token, interned. */
static uint32_t term_id(fts_memo *m, const char *token, uint32_t len)
{
    uint64_t hash = bm25_checksum(token, len);
    slot_table *t = &m->by_term;
    if (t->n) {
        for (size_t j = hash & (t->n - 1); t->slots[j]; j = (j + 1) & (t->n - 1)) {
            const memo_term *e = &m->terms[t->slots[j] - 1];
            if (e->hash == hash && e->len == len && !memcmp(m->strings.data + e->off, token, len))
                return t->slots[j] - 1;
        }
    }
    if (2 * (m->n_terms + 1) > t->n) {
        slots_double(t);
        for (size_t i = 0; i < m->n_terms; i++)
            slot_put(t, m->terms[i].hash, i);
    }
    DQ_GROW(m->terms, m->cap_terms, m->n_terms + 1);
    m->terms[m->n_terms] = (memo_term){hash, m->strings.len, len};
    dq_buf_append(&m->strings, token, len);
    slot_put(t, hash, m->n_terms);
    return (uint32_t)m->n_terms++;
}

typedef struct {
    fts_memo *m;
    void *ctx; /* FTS5's */
    fts_token_fn emit;
} tee;

static int on_tee_token(void *arg, int tflags, const char *token, int n, int start, int end)
{
    tee *t = arg;
    uint32_t v = term_id(t->m, token, n > 0 ? (uint32_t)n : 0) << 1 |
                 ((tflags & FTS5_TOKEN_COLOCATED) != 0);
    dq_buf *b = &t->m->toks;
    dq_buf_reserve(b, 5);
    uint8_t *p = bm25_varint_put((uint8_t *)b->data + b->len, v);
    b->len = (size_t)((char *)p - b->data);
    b->data[b->len] = '\0';
    return t->emit(t->ctx, tflags, token, n, start, end);
}

int fts_memo_tokenize(fts_memo *m, void *ctx, int flags, const char *text, int n,
                      fts_token_fn emit)
{
    /* Term ids are 31 bits in a record; a text's tokens are fewer than
     * its bytes. */
    if (!m || flags != FTS5_TOKENIZE_DOCUMENT || !text || n <= 0 || m->n >= UINT32_MAX / 2 ||
        m->n_terms + (size_t)n >= INT32_MAX || memo_bytes(m) + (size_t)n > m->max_bytes)
        return store_fts_tokenize(ctx, flags, text, n, emit);
    uint64_t hash = bm25_checksum(text, (size_t)n);
    if (find(m, hash, text, (size_t)n))
        return store_fts_tokenize(ctx, flags, text, n, emit);
    size_t tok_off = m->toks.len;
    tee t = {m, ctx, emit};
    int rc = store_fts_tokenize(&t, flags, text, n, on_tee_token);
    /* The text is kept too: over the limit with it, the cut is dropped
     * (its new terms stay: harmless). */
    if (rc != SQLITE_OK || memo_bytes(m) + (size_t)n > m->max_bytes) {
        m->toks.len = tok_off; /* a cut FTS5 stopped is not the text's */
        if (m->toks.data)
            m->toks.data[tok_off] = '\0';
        return rc;
    }
    if (2 * (m->n + 1) > m->by_text.n) {
        slots_double(&m->by_text);
        for (size_t i = 0; i < m->n; i++)
            slot_put(&m->by_text, m->entries[i].hash, i);
    }
    DQ_GROW(m->entries, m->cap, m->n + 1);
    m->entries[m->n] = (memo_entry){hash, m->texts.len, (size_t)n, tok_off, m->toks.len - tok_off};
    dq_buf_append(&m->texts, text, (size_t)n);
    slot_put(&m->by_text, hash, m->n++);
    return rc;
}
