/* fts_memo.c - the tokens the docqa tokenizer cut for FTS5, kept by exact
 * text so the BM25 update does not cut the same chunks again.
 *
 * FTS5 cuts every chunk an ingest inserts, and the BM25 update after the
 * ingest (bm25_update.c) cut each of them again, two thirds of its time,
 * in the serial tail after the last reader. A writable store's tokenizer
 * records each document-mode cut here: the text's bytes and its tokens
 * with their colocated flags, in order. Cutting is a pure function of the
 * text, so a recorded cut is the cut of any equal text, whichever FTS5 call
 * (an insert, a delete, one rolled back later) made it: the update looks
 * a row's column up by its bytes, compared in full, and replays the tokens
 * into the same callback it would have cut into, or cuts the text itself
 * when it is not here. The memo is bounded (what it holds past its limit
 * is cut again) and emptied by every update.
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

struct fts_memo {
    size_t max_bytes; /* texts, tokens and entries together */
    dq_buf texts;
    /* Per token: a varint of its length times 2, plus 1 when it is
     * colocated (FTS5_TOKEN_COLOCATED); its bytes. */
    dq_buf toks;
    memo_entry *entries; /* (n) */
    size_t n, cap;
    uint32_t *slots;     /* entry index + 1, 0 empty; (n_slots), a power of 2 */
    size_t n_slots;
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
    free(m->entries);
    free(m->slots);
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
    return m->texts.len + m->toks.len + m->cap * sizeof *m->entries +
           m->n_slots * sizeof *m->slots;
}

static const memo_entry *find(const fts_memo *m, uint64_t hash, const char *text, size_t n)
{
    if (!m->n_slots)
        return NULL;
    for (size_t j = hash & (m->n_slots - 1); m->slots[j]; j = (j + 1) & (m->n_slots - 1)) {
        const memo_entry *e = &m->entries[m->slots[j] - 1];
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

int fts_memo_replay(const uint8_t *toks, size_t len, void *ctx, fts_token_fn emit)
{
    size_t i = 0;
    while (i < len) {
        uint32_t v = 0;
        for (int shift = 0; i < len; shift += 7) {
            uint8_t b = toks[i++];
            v |= (uint32_t)(b & 0x7f) << shift;
            if (!(b & 0x80))
                break;
        }
        uint32_t n = v >> 1;
        int rc = emit(ctx, v & 1 ? FTS5_TOKEN_COLOCATED : 0, (const char *)toks + i, (int)n, 0, 0);
        if (rc != SQLITE_OK)
            return rc;
        i += n;
    }
    return SQLITE_OK;
}

/* ---- recording ------------------------------------------------------------ */

typedef struct {
    fts_memo *m;
    void *ctx; /* FTS5's */
    fts_token_fn emit;
} tee;

static int on_tee_token(void *arg, int tflags, const char *token, int n, int start, int end)
{
    tee *t = arg;
    dq_buf *b = &t->m->toks;
    uint32_t len = n > 0 ? (uint32_t)n : 0;
    dq_buf_reserve(b, 5 + (size_t)len);
    uint8_t *p = (uint8_t *)b->data + b->len;
    uint32_t v = len << 1 | ((tflags & FTS5_TOKEN_COLOCATED) != 0);
    for (; v >= 0x80; v >>= 7)
        *p++ = (uint8_t)(v | 0x80);
    *p++ = (uint8_t)v;
    if (len)
        memcpy(p, token, len);
    b->len = (size_t)((char *)p + len - b->data);
    b->data[b->len] = '\0';
    return t->emit(t->ctx, tflags, token, n, start, end);
}

static void add_slot(fts_memo *m, size_t index)
{
    size_t j = m->entries[index].hash & (m->n_slots - 1);
    while (m->slots[j])
        j = (j + 1) & (m->n_slots - 1);
    m->slots[j] = (uint32_t)index + 1;
}

static void grow_slots(fts_memo *m)
{
    free(m->slots);
    m->n_slots = m->n_slots ? 2 * m->n_slots : 1024;
    m->slots = dq_calloc(m->n_slots, sizeof *m->slots);
    for (size_t i = 0; i < m->n; i++)
        add_slot(m, i);
}

int fts_memo_tokenize(fts_memo *m, void *ctx, int flags, const char *text, int n,
                      fts_token_fn emit)
{
    if (!m || flags != FTS5_TOKENIZE_DOCUMENT || !text || n <= 0 || m->n >= UINT32_MAX - 1 ||
        memo_bytes(m) + (size_t)n > m->max_bytes)
        return store_fts_tokenize(ctx, flags, text, n, emit);
    uint64_t hash = bm25_checksum(text, (size_t)n);
    if (find(m, hash, text, (size_t)n))
        return store_fts_tokenize(ctx, flags, text, n, emit);
    size_t tok_off = m->toks.len;
    tee t = {m, ctx, emit};
    int rc = store_fts_tokenize(&t, flags, text, n, on_tee_token);
    /* The text is kept too: over the limit with it, the cut is dropped. */
    if (rc != SQLITE_OK || memo_bytes(m) + (size_t)n > m->max_bytes) {
        m->toks.len = tok_off; /* a cut FTS5 stopped is not the text's */
        if (m->toks.data)
            m->toks.data[tok_off] = '\0';
        return rc;
    }
    if (2 * (m->n + 1) > m->n_slots)
        grow_slots(m);
    DQ_GROW(m->entries, m->cap, m->n + 1);
    m->entries[m->n] = (memo_entry){hash, m->texts.len, (size_t)n, tok_off, m->toks.len - tok_off};
    dq_buf_append(&m->texts, text, (size_t)n);
    add_slot(m, m->n++);
    return rc;
}
