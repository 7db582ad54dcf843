/* tokenizer.c - WordPiece tokenization as Hugging Face's BertTokenizer does it.
 *
 * One streaming pass over the UTF-8 text, no allocation: each code point is
 * cleaned (NUL, U+FFFD and category C* dropped, whitespace cut words), CJK
 * ideographs become words of their own, the rest is lower-cased and, when
 * stripping accents, decomposed (NFD) with the Mn marks dropped; punctuation
 * cuts the word into pieces, and each piece (at most 100 code points, else
 * [UNK]) goes through greedy longest-match WordPiece against a hash table of
 * the vocabulary. Lower-casing is per code point, as the Rust "fast"
 * tokenizer that sentence-transformers loads does it (no final-sigma rule).
 */
#include "embed/embed.h"

#include "common/common.h"
#include "embed/unicode_data.h"

#include <stdlib.h>
#include <string.h>

#define WP_MAX_WORD_CHARS 100 /* max_input_chars_per_word */
#define WP_MAX_RUN 32         /* combining marks kept for canonical reordering */
#define WP_MAX_TOKENS (1 << 24) /* config.json's vocab_size limit; keeps the hash sizes small */

struct wp_tokenizer {
    wp_options opt;
    char *strings;       /* the vocab file, each line NUL-terminated in place */
    const char **tokens; /* (n_tokens) into strings; line N = id N */
    uint32_t *lens;      /* (n_tokens) byte lengths */
    int n_tokens;
    int32_t *slots;      /* (n_slots) open addressing: id or -1 */
    uint32_t n_slots;    /* power of two */
    int max_bytes;       /* longest token in bytes, "##" not counted */
    int unk, cls, sep;
};

wp_options wp_default_options(void)
{
    return (wp_options){.lower_case = true, .strip_accents = true, .split_cjk = true};
}

/* ---- vocabulary ---------------------------------------------------------- */

/* A token is hashed as (continuation?, bytes after "##"), so WordPiece can
 * look up a continuation straight from the word's bytes without copying. */
static uint32_t key_hash(bool cont, const char *s, size_t n)
{
    uint32_t h = cont ? 0x811C9DC5u ^ 0x5Bu : 0x811C9DC5u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x01000193u;
    }
    return h;
}

static bool is_cont(const char *s, size_t n)
{
    return n >= 2 && s[0] == '#' && s[1] == '#';
}

static bool key_equal(const wp_tokenizer *tok, int id, bool cont, const char *s, size_t n)
{
    const char *t = tok->tokens[id];
    size_t tn = tok->lens[id];
    if (is_cont(t, tn) != cont)
        return false;
    if (cont)
        t += 2, tn -= 2;
    return tn == n && memcmp(t, s, n) == 0;
}

static int32_t *find_slot(const wp_tokenizer *tok, bool cont, const char *s, size_t n)
{
    uint32_t mask = tok->n_slots - 1;
    for (uint32_t i = key_hash(cont, s, n) & mask;; i = (i + 1) & mask) {
        int32_t id = tok->slots[i];
        if (id < 0 || key_equal(tok, id, cont, s, n))
            return &tok->slots[i];
    }
}

static int lookup(const wp_tokenizer *tok, bool cont, const char *s, size_t n)
{
    return *find_slot(tok, cont, s, n);
}

wp_tokenizer *wp_load(const char *vocab_path, const wp_options *opt)
{
    dq_buf file = DQ_BUF_INIT;
    if (dq_read_file(vocab_path, &file) < 0)
        return NULL;
    wp_tokenizer *tok = dq_calloc(1, sizeof *tok);
    tok->opt = opt ? *opt : wp_default_options();
    size_t file_len = file.len;
    tok->strings = dq_buf_take(&file);

    /* Lines are cut by the file's length, not at a NUL byte: a stray NUL
     * must not end the vocabulary early (every later id would be lost) nor
     * cut its line short. Line lengths are kept for the same reason. */
    size_t cap = 0, cap_lens = 0;
    char *p = tok->strings, *file_end = tok->strings ? tok->strings + file_len : NULL;
    while (p < file_end) {
        if (tok->n_tokens == WP_MAX_TOKENS) {
            dq_set_error("vocab '%s' has more than %d lines", vocab_path, WP_MAX_TOKENS);
            wp_free(tok);
            return NULL;
        }
        char *nl = memchr(p, '\n', (size_t)(file_end - p));
        char *end = nl ? nl : file_end;
        char *next = nl ? nl + 1 : end;
        if (end > p && end[-1] == '\r')
            end--;
        *end = '\0';
        DQ_GROW(tok->tokens, cap, (size_t)tok->n_tokens + 1);
        DQ_GROW(tok->lens, cap_lens, (size_t)tok->n_tokens + 1);
        size_t len = (size_t)(end - p);
        tok->lens[tok->n_tokens] = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
        tok->tokens[tok->n_tokens++] = p;
        p = next;
    }
    if (tok->n_tokens == 0) {
        dq_set_error("vocab '%s' is empty", vocab_path);
        wp_free(tok);
        return NULL;
    }
    tok->n_slots = 16;
    while (tok->n_slots < (uint32_t)tok->n_tokens * 2)
        tok->n_slots *= 2;
    tok->slots = dq_malloc(tok->n_slots * sizeof *tok->slots);
    memset(tok->slots, 0xFF, tok->n_slots * sizeof *tok->slots);
    for (int id = 0; id < tok->n_tokens; id++) {
        const char *t = tok->tokens[id];
        size_t n = tok->lens[id];
        bool cont = is_cont(t, n);
        if (cont)
            t += 2, n -= 2;
        if (n > (size_t)tok->max_bytes)
            tok->max_bytes = n > INT32_MAX ? INT32_MAX : (int)n;
        /* A repeated token keeps its last id, as HF's vocab dict does. */
        *find_slot(tok, cont, t, n) = id;
    }
    tok->unk = wp_token_id(tok, "[UNK]");
    tok->cls = wp_token_id(tok, "[CLS]");
    tok->sep = wp_token_id(tok, "[SEP]");
    const char *missing = tok->unk < 0 ? "[UNK]" : tok->cls < 0 ? "[CLS]" : tok->sep < 0 ? "[SEP]" : NULL;
    if (missing) {
        dq_set_error("vocab '%s' has no %s token", vocab_path, missing);
        wp_free(tok);
        return NULL;
    }
    return tok;
}

void wp_free(wp_tokenizer *tok)
{
    if (!tok)
        return;
    free(tok->strings);
    free(tok->tokens);
    free(tok->lens);
    free(tok->slots);
    free(tok);
}

int wp_vocab_size(const wp_tokenizer *tok)
{
    return tok->n_tokens;
}

int wp_token_id(const wp_tokenizer *tok, const char *token)
{
    size_t n = strlen(token);
    bool cont = is_cont(token, n);
    return lookup(tok, cont, token + (cont ? 2 : 0), n - (cont ? 2 : 0));
}

const char *wp_token_text(const wp_tokenizer *tok, int id)
{
    return id >= 0 && id < tok->n_tokens ? tok->tokens[id] : NULL;
}

/* ---- tokenization -------------------------------------------------------- */

typedef struct {
    const wp_tokenizer *tok;
    int32_t *ids; /* (max_ids) */
    int max_ids;
    int count; /* ids produced, including those past max_ids */
    /* the current piece: what WordPiece sees */
    char piece[WP_MAX_WORD_CHARS * 4];
    uint16_t offs[WP_MAX_WORD_CHARS + 1]; /* byte offset of each code point */
    int n_chars;
    bool overlong;
    /* combining marks awaiting canonical reordering (accent stripping only) */
    uint32_t run[WP_MAX_RUN];
    uint8_t run_ccc[WP_MAX_RUN];
    int n_run;
} wp_state;

static void push_id(wp_state *st, int id)
{
    if (st->count < st->max_ids)
        st->ids[st->count] = id;
    st->count++;
}

static void wordpiece(wp_state *st)
{
    const wp_tokenizer *tok = st->tok;
    int n = st->n_chars;
    int start_count = st->count;
    int start = 0;
    while (start < n) {
        int found = -1, end = n;
        for (; end > start; end--) {
            int len = st->offs[end] - st->offs[start];
            if (len > tok->max_bytes)
                continue;
            found = lookup(tok, start > 0, st->piece + st->offs[start], (size_t)len);
            if (found >= 0)
                break;
        }
        if (found < 0) {
            /* No prefix matches: the whole word is unknown, even the
             * sub-words already found. */
            st->count = start_count;
            push_id(st, tok->unk);
            return;
        }
        push_id(st, found);
        start = end;
    }
}

static void end_piece(wp_state *st)
{
    if (st->overlong)
        push_id(st, st->tok->unk);
    else if (st->n_chars > 0)
        wordpiece(st);
    st->n_chars = 0;
    st->overlong = false;
}

static void piece_add(wp_state *st, uint32_t cp)
{
    if (st->n_chars >= WP_MAX_WORD_CHARS) {
        st->overlong = true;
        return;
    }
    int at = st->offs[st->n_chars];
    at += utf8_encode(cp, st->piece + at);
    st->offs[++st->n_chars] = (uint16_t)at;
}

static bool is_punct(uint32_t cp)
{
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126))
        return true;
    return cp >= 128 && (ucd_props(cp) & UCD_CLASS_MASK) == UCD_PUNCT;
}

/* A normalised code point: punctuation is a piece of its own. */
static void emit(wp_state *st, uint32_t cp)
{
    if (is_punct(cp)) {
        end_piece(st);
        piece_add(st, cp);
        end_piece(st);
    } else {
        piece_add(st, cp);
    }
}

static void flush_run(wp_state *st)
{
    for (int i = 0; i < st->n_run; i++)
        emit(st, st->run[i]);
    st->n_run = 0;
}

/* NFD output with accent stripping: Mn marks are dropped, the other
 * combining marks are kept in canonical order. An Mn mark of class 0 still
 * ends a combining run, so reordering the survivors alone stays exact. */
static void strip_stage(wp_state *st, uint32_t cp)
{
    uint8_t props = ucd_props(cp);
    int ccc = (props & UCD_HAS_CCC) ? ucd_ccc(cp) : 0;
    if ((props & UCD_CLASS_MASK) == UCD_MN) {
        if (ccc == 0)
            flush_run(st);
        return;
    }
    if (ccc == 0) {
        flush_run(st);
        emit(st, cp);
        return;
    }
    if (st->n_run == WP_MAX_RUN)
        flush_run(st); /* absurdly long runs are ordered in chunks */
    int i = st->n_run++;
    while (i > 0 && st->run_ccc[i - 1] > ccc) {
        st->run[i] = st->run[i - 1];
        st->run_ccc[i] = st->run_ccc[i - 1];
        i--;
    }
    st->run[i] = cp;
    st->run_ccc[i] = (uint8_t)ccc;
}

static void normalize(wp_state *st, uint32_t cp)
{
    const wp_options *opt = &st->tok->opt;
    uint32_t low[UCD_MAX_LOWER];
    int n_low = 1;
    low[0] = cp;
    if (opt->lower_case)
        n_low = ucd_lower(cp, low);
    for (int i = 0; i < n_low; i++) {
        if (!opt->strip_accents) {
            emit(st, low[i]);
            continue;
        }
        uint32_t dec[UCD_MAX_DECOMP];
        int n_dec = ucd_decompose(low[i], dec);
        for (int j = 0; j < n_dec; j++)
            strip_stage(st, dec[j]);
    }
}

static void end_word(wp_state *st)
{
    flush_run(st);
    end_piece(st);
}

/* HF's _is_chinese_char: the CJK Unified Ideographs blocks only, not kana
 * or hangul. */
static bool is_cjk_ideograph(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/* Tokenizes into ids[0..max_ids); returns the full count, or stops early
 * once max_ids are out when the caller only wants a prefix. */
static int tokenize(const wp_tokenizer *tok, const char *text, int32_t *ids, int max_ids,
                    bool stop_when_full)
{
    wp_state st;
    st.tok = tok;
    st.ids = ids;
    st.max_ids = max_ids > 0 ? max_ids : 0;
    st.count = 0;
    st.offs[0] = 0;
    st.n_chars = 0;
    st.overlong = false;
    st.n_run = 0;

    size_t n = strlen(text);
    size_t i = 0;
    while (i < n) {
        if (stop_when_full && st.count >= st.max_ids)
            return st.count;
        uint32_t cp;
        int k = utf8_decode(text + i, n - i, &cp);
        if (k < 0) {
            i++; /* an invalid byte reads as U+FFFD, which cleaning drops */
            continue;
        }
        i += (size_t)k;
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x2028 || cp == 0x2029) {
            end_word(&st);
            continue;
        }
        if (cp == 0xFFFD)
            continue;
        int cls = ucd_props(cp) & UCD_CLASS_MASK;
        if (cls == UCD_CONTROL)
            continue;
        if (cls == UCD_SPACE) {
            end_word(&st);
        } else if (tok->opt.split_cjk && is_cjk_ideograph(cp)) {
            end_word(&st);
            normalize(&st, cp);
            end_word(&st);
        } else {
            normalize(&st, cp);
        }
    }
    end_word(&st);
    return st.count;
}

int wp_tokenize(const wp_tokenizer *tok, const char *text, int32_t *ids, int max_ids)
{
    return tokenize(tok, text, ids, max_ids, false);
}

int wp_encode(const wp_tokenizer *tok, const char *text, int32_t *ids, int max_len)
{
    if (max_len < 2) {
        dq_set_error("cannot encode into %d ids: [CLS] and [SEP] need 2", max_len);
        return -1;
    }
    int room = max_len - 2;
    int n = tokenize(tok, text, ids + 1, room, true);
    if (n > room)
        n = room;
    ids[0] = tok->cls;
    ids[n + 1] = tok->sep;
    return n + 2;
}
