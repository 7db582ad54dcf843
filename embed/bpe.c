/* bpe.c - byte-level BPE: vocabulary, merges, encoding and decoding.
 *
 * Every byte of a word is first its own token (the GPT-2 byte alphabet maps
 * the 256 byte values onto printable code points, so the vocabulary is
 * text); then the adjacent pair whose merge has the lowest rank is merged,
 * leftmost first among equals, until no pair has a merge. A min-heap of
 * (rank, position) keeps that O(n log n) for long words; entries that a
 * neighbouring merge made stale are recognised when popped. Each token's
 * decoded bytes are kept at load, so decoding is a copy.
 */
#include "embed/bpe_impl.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define BPE_MAX_TOKENS (1 << 24)

typedef struct {
    int32_t id;    /* -1 = empty */
    uint32_t hash; /* of the spelling, so most misses skip the compare */
} spell_slot;

typedef struct {
    uint64_t key; /* left << 32 | right; UINT64_MAX = empty */
    int32_t rank;
    int32_t result;
} merge_slot;

struct bpe_tokenizer {
    const bpe_pre *pre;
    size_t n_tokens;
    char *spelling;          /* all token spellings, back to back */
    size_t *spell_off;       /* (n_tokens + 1) offsets into spelling */
    uint8_t *types;          /* (n_tokens) bpe_token_type */
    char *bytes;             /* decoded bytes of every token, back to back */
    size_t *bytes_off;       /* (n_tokens + 1) offsets into bytes */
    spell_slot *slots;       /* (n_slots) spelling hash */
    size_t n_slots;          /* power of two */
    merge_slot *merges;      /* (n_merge_slots) pair hash */
    size_t n_merge_slots;    /* power of two */
    int32_t byte_token[256]; /* id of each byte's one-character token */
    char byte_char[256][2];  /* each byte in the byte alphabet, UTF-8 (1 or 2 bytes) */
    uint8_t byte_char_len[256];
    int32_t *specials;       /* (n_specials) control and user-defined ids */
    size_t n_specials;
    int32_t bos, eos, eot, pad;
    bool add_bos;
};

/* ---- ids ------------------------------------------------------------------ */

void bpe_ids_push(bpe_ids *ids, int32_t id)
{
    DQ_GROW(ids->v, ids->cap, ids->n + 1);
    ids->v[ids->n++] = id;
}

void bpe_ids_free(bpe_ids *ids)
{
    if (!ids)
        return;
    free(ids->v);
    *ids = (bpe_ids)BPE_IDS_INIT;
}

/* ---- the GPT-2 byte alphabet ---------------------------------------------- */

/* Printable Latin-1 bytes stand for themselves; the other 68 byte values are
 * numbered from U+0100 in byte order. */
static uint32_t byte_to_cp(unsigned b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)
        return b;
    unsigned k = 0;
    for (unsigned x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174))
            k++;
    return 256 + k;
}

/* ---- hashes --------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t hash_pair(uint64_t key)
{
    key ^= key >> 33; /* MurmurHash3's fmix64 */
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53ull;
    key ^= key >> 33;
    return key;
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n)
        p *= 2;
    return p;
}

static const char *spelling_of(const bpe_tokenizer *t, int32_t id, size_t *len)
{
    *len = t->spell_off[id + 1] - t->spell_off[id];
    return t->spelling + t->spell_off[id];
}

static spell_slot *find_slot(const bpe_tokenizer *t, const char *s, size_t n)
{
    size_t mask = t->n_slots - 1;
    uint64_t h = hash_bytes(s, n);
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        spell_slot *slot = &t->slots[i];
        if (slot->id < 0)
            return slot;
        if (slot->hash != (uint32_t)(h >> 32))
            continue;
        size_t len;
        const char *sp = spelling_of(t, slot->id, &len);
        if (len == n && memcmp(sp, s, n) == 0)
            return slot;
    }
}

int32_t bpe_token_id(const bpe_tokenizer *t, const char *s, size_t len)
{
    return find_slot(t, s, len)->id;
}

/* A token that text may produce: not a control or user-defined one. */
static int32_t text_token_id(const bpe_tokenizer *t, const char *s, size_t len)
{
    int32_t id = find_slot(t, s, len)->id;
    if (id >= 0 && (t->types[id] == BPE_TOKEN_CONTROL || t->types[id] == BPE_TOKEN_USER_DEFINED))
        return -1;
    return id;
}

static merge_slot *find_merge(const bpe_tokenizer *t, int32_t left, int32_t right)
{
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    size_t mask = t->n_merge_slots - 1;
    for (size_t i = hash_pair(key) & mask;; i = (i + 1) & mask)
        if (t->merges[i].key == key || t->merges[i].key == UINT64_MAX)
            return &t->merges[i];
}

/* ---- building ------------------------------------------------------------- */

static void add_merges(bpe_tokenizer *t, const bpe_str *merges, size_t n)
{
    t->n_merge_slots = pow2_at_least(n * 2);
    t->merges = dq_malloc(t->n_merge_slots * sizeof *t->merges);
    for (size_t i = 0; i < t->n_merge_slots; i++)
        t->merges[i] = (merge_slot){UINT64_MAX, 0, 0};
    char *joined = NULL;
    size_t cap = 0;
    for (size_t r = 0; r < n && r < INT32_MAX; r++) {
        const char *m = merges[r].s;
        size_t len = merges[r].len;
        /* "left right": the byte alphabet has no space, so the first one
         * past the first byte separates the halves. */
        const char *sp = len > 1 ? memchr(m + 1, ' ', len - 1) : NULL;
        if (!sp)
            continue;
        size_t ln = (size_t)(sp - m), rn = len - ln - 1;
        int32_t left = text_token_id(t, m, ln), right = text_token_id(t, sp + 1, rn);
        DQ_GROW(joined, cap, ln + rn);
        memcpy(joined, m, ln);
        memcpy(joined + ln, sp + 1, rn);
        int32_t result = text_token_id(t, joined, ln + rn);
        if (left < 0 || right < 0 || result < 0)
            continue; /* a merge into nothing the vocabulary has: unusable */
        merge_slot *slot = find_merge(t, left, right);
        if (slot->key != UINT64_MAX)
            continue; /* a repeated pair keeps its first (lowest) rank */
        *slot = (merge_slot){(uint64_t)(uint32_t)left << 32 | (uint32_t)right, (int32_t)r, result};
    }
    free(joined);
}

/* Decoded bytes of one token: the byte alphabet read back for normal
 * tokens, the spelling itself for control and user-defined ones. */
static void decode_spelling(const bpe_tokenizer *t, int32_t id, const int16_t *cp_byte, dq_buf *out)
{
    size_t n;
    const char *s = spelling_of(t, id, &n);
    if (t->types[id] == BPE_TOKEN_CONTROL || t->types[id] == BPE_TOKEN_USER_DEFINED) {
        dq_buf_append(out, s, n);
        return;
    }
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        if (k < 0) {
            dq_buf_putc(out, s[i++]);
            continue;
        }
        if (cp < 512 && cp_byte[cp] >= 0)
            dq_buf_putc(out, (char)cp_byte[cp]);
        else
            dq_buf_append(out, s + i, (size_t)k);
        i += (size_t)k;
    }
}

static int check_id(const char *what, int32_t id, size_t n_tokens)
{
    if (id < -1 || (id >= 0 && (size_t)id >= n_tokens)) {
        dq_set_error("tokenizer %s id %d is outside the vocabulary of %zu tokens", what, (int)id,
                     n_tokens);
        return -1;
    }
    return 0;
}

static int check_vocab(const bpe_vocab *v, const bpe_pre **pre)
{
    if (!v->model || strcmp(v->model, "gpt2") != 0) {
        dq_set_error("tokenizer model '%s' is not supported (byte-level BPE 'gpt2' only)",
                     v->model ? v->model : "(none)");
        return -1;
    }
    *pre = bpe_pre_find(v->pre ? v->pre : "");
    if (!*pre) {
        dq_set_error("tokenizer pre-tokenizer '%s' is not supported (qwen2, llama-bpe)",
                     v->pre ? v->pre : "(none)");
        return -1;
    }
    if (v->n_tokens < 256 || v->n_tokens > BPE_MAX_TOKENS) {
        dq_set_error("tokenizer has %zu tokens (256 to %d supported)", v->n_tokens, BPE_MAX_TOKENS);
        return -1;
    }
    if (check_id("bos", v->bos_id, v->n_tokens) < 0 || check_id("eos", v->eos_id, v->n_tokens) < 0 ||
        check_id("eot", v->eot_id, v->n_tokens) < 0 || check_id("padding", v->pad_id, v->n_tokens) < 0)
        return -1;
    return 0;
}

bpe_tokenizer *bpe_new(const bpe_vocab *v)
{
    const bpe_pre *pre;
    if (check_vocab(v, &pre) < 0)
        return NULL;
    bpe_tokenizer *t = dq_calloc(1, sizeof *t);
    t->pre = pre;
    t->n_tokens = v->n_tokens;
    t->bos = v->bos_id, t->eos = v->eos_id, t->eot = v->eot_id, t->pad = v->pad_id;
    t->add_bos = v->add_bos;

    size_t total = 0;
    for (size_t i = 0; i < v->n_tokens; i++)
        total += v->tokens[i].len;
    t->spelling = dq_malloc(total + 1);
    t->spell_off = dq_malloc((v->n_tokens + 1) * sizeof *t->spell_off);
    t->types = dq_malloc(v->n_tokens);
    size_t at = 0;
    for (size_t i = 0; i < v->n_tokens; i++) {
        t->spell_off[i] = at;
        if (v->tokens[i].len)
            memcpy(t->spelling + at, v->tokens[i].s, v->tokens[i].len);
        at += v->tokens[i].len;
        int type = v->token_types ? v->token_types[i] : BPE_TOKEN_NORMAL;
        t->types[i] = (uint8_t)(type >= BPE_TOKEN_NORMAL && type <= BPE_TOKEN_BYTE ? type : BPE_TOKEN_NORMAL);
        if (t->types[i] == BPE_TOKEN_CONTROL || t->types[i] == BPE_TOKEN_USER_DEFINED)
            t->n_specials++;
    }
    t->spell_off[v->n_tokens] = at;

    t->n_slots = pow2_at_least(v->n_tokens * 2);
    t->slots = dq_malloc(t->n_slots * sizeof *t->slots);
    for (size_t i = 0; i < t->n_slots; i++)
        t->slots[i] = (spell_slot){-1, 0};
    t->specials = dq_malloc((t->n_specials + 1) * sizeof *t->specials);
    t->n_specials = 0;
    for (size_t i = 0; i < v->n_tokens; i++) {
        size_t len;
        const char *s = spelling_of(t, (int32_t)i, &len);
        spell_slot *slot = find_slot(t, s, len);
        if (slot->id < 0) /* a repeated spelling keeps its first id */
            *slot = (spell_slot){(int32_t)i, (uint32_t)(hash_bytes(s, len) >> 32)};
        if (t->types[i] == BPE_TOKEN_CONTROL || t->types[i] == BPE_TOKEN_USER_DEFINED)
            t->specials[t->n_specials++] = (int32_t)i;
    }

    int16_t cp_byte[512];
    memset(cp_byte, 0xFF, sizeof cp_byte);
    for (unsigned b = 0; b < 256; b++) {
        char u[4];
        uint32_t cp = byte_to_cp(b);
        int k = utf8_encode(cp, u);
        cp_byte[cp] = (int16_t)b;
        memcpy(t->byte_char[b], u, 2);
        t->byte_char_len[b] = (uint8_t)k;
        t->byte_token[b] = text_token_id(t, u, (size_t)k);
        if (t->byte_token[b] < 0) {
            dq_set_error("tokenizer has no token for byte 0x%02X", b);
            bpe_free(t);
            return NULL;
        }
    }
    add_merges(t, v->merges, v->n_merges);

    dq_buf bytes = DQ_BUF_INIT;
    dq_buf_reserve(&bytes, total + 1);
    t->bytes_off = dq_malloc((v->n_tokens + 1) * sizeof *t->bytes_off);
    for (size_t i = 0; i < v->n_tokens; i++) {
        t->bytes_off[i] = bytes.len;
        decode_spelling(t, (int32_t)i, cp_byte, &bytes);
    }
    t->bytes_off[v->n_tokens] = bytes.len;
    t->bytes = dq_buf_take(&bytes);
    return t;
}

void bpe_free(bpe_tokenizer *t)
{
    if (!t)
        return;
    free(t->spelling);
    free(t->spell_off);
    free(t->types);
    free(t->bytes);
    free(t->bytes_off);
    free(t->slots);
    free(t->merges);
    free(t->specials);
    free(t);
}

size_t bpe_n_tokens(const bpe_tokenizer *t) { return t->n_tokens; }
const char *bpe_pre_name(const bpe_tokenizer *t) { return t->pre->name; }
int32_t bpe_bos(const bpe_tokenizer *t) { return t->bos; }
int32_t bpe_eos(const bpe_tokenizer *t) { return t->eos; }
int32_t bpe_eot(const bpe_tokenizer *t) { return t->eot; }
bool bpe_add_bos(const bpe_tokenizer *t) { return t->add_bos; }

bpe_token_type bpe_token_kind(const bpe_tokenizer *t, int32_t id)
{
    if (id < 0 || (size_t)id >= t->n_tokens)
        return BPE_TOKEN_UNKNOWN;
    return (bpe_token_type)t->types[id];
}

int32_t bpe_match_special(const bpe_tokenizer *t, const char *s, size_t n, size_t *len)
{
    int32_t best = -1;
    *len = 0;
    for (size_t i = 0; i < t->n_specials; i++) {
        size_t sl;
        const char *sp = spelling_of(t, t->specials[i], &sl);
        if (sl > *len && sl <= n && memcmp(sp, s, sl) == 0) {
            best = t->specials[i];
            *len = sl;
        }
    }
    return best;
}

/* ---- encoding ------------------------------------------------------------- */

typedef struct {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    bool gone;          /* merged into its left neighbour */
} bpe_sym;

/* Scratch for one bpe_encode call. */
typedef struct {
    const bpe_tokenizer *t;
    const char *text;
    bpe_ids *out;
    bpe_sym *syms;
    size_t syms_cap;
    uint64_t *heap; /* rank << 32 | position, a min-heap */
    size_t heap_n, heap_cap;
    dq_buf word;    /* a word in the byte alphabet (ignore_merges) */
} bpe_run;

static void heap_push(bpe_run *r, uint64_t v)
{
    DQ_GROW(r->heap, r->heap_cap, r->heap_n + 1);
    size_t i = r->heap_n++;
    while (i > 0 && r->heap[(i - 1) / 2] > v) {
        r->heap[i] = r->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    r->heap[i] = v;
}

static uint64_t heap_pop(bpe_run *r)
{
    uint64_t top = r->heap[0], last = r->heap[--r->heap_n];
    size_t i = 0, n = r->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && r->heap[c + 1] < r->heap[c])
            c++;
        if (r->heap[c] >= last)
            break;
        r->heap[i] = r->heap[c];
        i = c;
    }
    if (n)
        r->heap[i] = last;
    return top;
}

static void push_pair(bpe_run *r, int32_t pos)
{
    int32_t next = r->syms[pos].next;
    if (next < 0)
        return;
    const merge_slot *m = find_merge(r->t, r->syms[pos].id, r->syms[next].id);
    if (m->key != UINT64_MAX)
        heap_push(r, (uint64_t)(uint32_t)m->rank << 32 | (uint32_t)pos);
}

static bool whole_word_token(bpe_run *r, const unsigned char *w, size_t n)
{
    dq_buf_clear(&r->word);
    for (size_t i = 0; i < n; i++)
        dq_buf_append(&r->word, r->t->byte_char[w[i]], r->t->byte_char_len[w[i]]);
    int32_t id = text_token_id(r->t, r->word.data, r->word.len);
    if (id < 0)
        return false;
    bpe_ids_push(r->out, id);
    return true;
}

static void encode_word(void *ctx, size_t start, size_t end)
{
    bpe_run *r = ctx;
    const bpe_tokenizer *t = r->t;
    const unsigned char *w = (const unsigned char *)r->text + start;
    size_t n = end - start;
    if (n == 1) {
        bpe_ids_push(r->out, t->byte_token[w[0]]);
        return;
    }
    if (t->pre->ignore_merges && whole_word_token(r, w, n))
        return;
    DQ_GROW(r->syms, r->syms_cap, n);
    for (size_t i = 0; i < n; i++)
        r->syms[i] = (bpe_sym){t->byte_token[w[i]], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, false};
    r->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        push_pair(r, (int32_t)i);
    while (r->heap_n) {
        uint64_t top = heap_pop(r);
        int32_t pos = (int32_t)(uint32_t)top, rank = (int32_t)(top >> 32);
        bpe_sym *s = &r->syms[pos];
        if (s->gone || s->next < 0)
            continue;
        const merge_slot *m = find_merge(t, s->id, r->syms[s->next].id);
        if (m->key == UINT64_MAX || m->rank != rank)
            continue; /* a neighbour's merge changed this pair since */
        bpe_sym *right = &r->syms[s->next];
        s->id = m->result;
        right->gone = true;
        s->next = right->next;
        if (s->next >= 0)
            r->syms[s->next].prev = pos;
        if (s->prev >= 0)
            push_pair(r, s->prev);
        push_pair(r, pos);
    }
    for (int32_t i = 0; i >= 0; i = r->syms[i].next)
        bpe_ids_push(r->out, r->syms[i].id);
}

void bpe_encode(const bpe_tokenizer *t, const char *text, size_t len, bpe_ids *out)
{
    dq_buf nfc = DQ_BUF_INIT;
    if (t->pre->nfc && bpe_nfc(text, len, &nfc)) {
        text = nfc.data;
        len = nfc.len;
    }
    bpe_run r = {.t = t, .text = text, .out = out};
    bpe_pre_split(t->pre, text, len, encode_word, &r);
    free(r.syms);
    free(r.heap);
    dq_buf_free(&r.word);
    dq_buf_free(&nfc);
}

/* ---- decoding ------------------------------------------------------------- */

const char *bpe_token_bytes(const bpe_tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || (size_t)id >= t->n_tokens) {
        *len = 0;
        return NULL;
    }
    *len = t->bytes_off[id + 1] - t->bytes_off[id];
    return t->bytes + t->bytes_off[id];
}

void bpe_decode(const bpe_tokenizer *t, const int32_t *ids, size_t n, bool with_control, dq_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        if (!with_control && bpe_token_kind(t, ids[i]) == BPE_TOKEN_CONTROL)
            continue;
        size_t len;
        const char *b = bpe_token_bytes(t, ids[i], &len);
        if (len)
            dq_buf_append(out, b, len);
    }
}

static void put_replacement(dq_buf *out)
{
    dq_buf_append(out, "\xEF\xBF\xBD", 3);
}

/* Length a UTF-8 lead byte announces, or 0 for a byte that cannot lead. */
static int utf8_lead_len(unsigned char b)
{
    return b < 0x80 ? 1 : b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
}

/* True when p[0..n) (n <= the length its lead byte announces) is a valid
 * UTF-8 character or the start of one. */
static bool utf8_valid_prefix(const unsigned char *p, int n)
{
    if (n >= 2) {
        unsigned char lo = 0x80, hi = 0xBF;
        if (p[0] == 0xE0)
            lo = 0xA0; /* overlong */
        else if (p[0] == 0xED)
            hi = 0x9F; /* surrogates */
        else if (p[0] == 0xF0)
            lo = 0x90; /* overlong */
        else if (p[0] == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
        if (p[1] < lo || p[1] > hi)
            return false;
    }
    for (int k = 2; k < n; k++)
        if ((p[k] & 0xC0) != 0x80)
            return false;
    return true;
}

/* Emits what of pending[] is complete; keeps a valid incomplete start. */
static void stream_drain(bpe_stream *s, dq_buf *out)
{
    int i = 0;
    while (i < s->n_pending) {
        int need = utf8_lead_len(s->pending[i]), avail = s->n_pending - i;
        if (need > 0 && avail < need && utf8_valid_prefix(s->pending + i, avail))
            break;
        if (need > 0 && avail >= need && utf8_valid_prefix(s->pending + i, need)) {
            dq_buf_append(out, (const char *)s->pending + i, (size_t)need);
            i += need;
        } else {
            put_replacement(out);
            i++;
        }
    }
    memmove(s->pending, s->pending + i, (size_t)(s->n_pending - i));
    s->n_pending -= i;
}

void bpe_stream_token(const bpe_tokenizer *t, bpe_stream *s, int32_t id, dq_buf *out)
{
    if (bpe_token_kind(t, id) == BPE_TOKEN_CONTROL)
        return;
    size_t len;
    const unsigned char *b = (const unsigned char *)bpe_token_bytes(t, id, &len);
    for (size_t i = 0; i < len; i++) {
        if (s->n_pending == 0 && b[i] < 0x80) {
            dq_buf_putc(out, (char)b[i]);
            continue;
        }
        s->pending[s->n_pending++] = b[i];
        stream_drain(s, out);
    }
}

void bpe_stream_finish(bpe_stream *s, dq_buf *out)
{
    for (int i = 0; i < s->n_pending; i++)
        put_replacement(out);
    s->n_pending = 0;
}
