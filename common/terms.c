/* terms.c - cuts mixed Chinese/English text into search terms.
 *
 * One definition serves the FTS5 tokenizer, the query builder and answer
 * scoring, so a term the index stores is exactly a term a query can ask for.
 * CJK text gets unigrams and bigrams (two-character words like 合同 are the
 * common case in Chinese and need no dictionary as bigrams); Latin text gets
 * lower-cased words, numbers kept whole.
 */
#include "common.h"

#include <string.h>

static bool is_word_char(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
    /* Latin-1 letters, Latin Extended, Greek, Cyrillic count as letters. */
    return (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) ||
           (cp >= 0x370 && cp <= 0x52F);
}

static bool is_digit(uint32_t cp)
{
    return cp >= '0' && cp <= '9';
}

typedef struct {
    uint32_t cp; /* after full-width folding; U+FFFD for a bad byte */
    int start, end;
} decoded;

/* ASCII, most of the text an index holds, is decoded and checked inline:
 * decoding, full-width folding and the CJK test out of line for every byte
 * were most of the tokenizer's time, and the tokenizer a sixth of ingest's
 * writer. */
static inline decoded next_char(const char *s, size_t n, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80)
        return (decoded){c, (int)i, (int)i + 1};
    decoded d = {0xFFFD, (int)i, (int)i + 1};
    uint32_t cp;
    int k = utf8_decode(s + i, n - i, &cp);
    if (k > 0) {
        d.cp = uc_fold_fullwidth(cp);
        d.end = (int)i + k;
    }
    return d;
}

static uint32_t fold_case(uint32_t cp)
{
    if ((cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) ||
        (cp >= 0x410 && cp <= 0x42F))
        return cp + 32;
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2)
        return cp + 32;
    return cp;
}

/* The lowest code point uc_is_cjk() accepts (Hangul Jamo). */
enum { CJK_MIN = 0x1100 };

static inline bool is_cjk(uint32_t cp)
{
    return cp >= CJK_MIN && uc_is_cjk(cp);
}

static int emit_word(const char *s, int start, int end, dq_buf *scratch, dq_term_cb cb,
                     void *ctx)
{
    dq_buf_clear(scratch);
    /* Each byte of the word gives at most 3 (a bad byte becomes U+FFFD). */
    dq_buf_reserve(scratch, 3 * (size_t)(end - start));
    char *out = scratch->data;
    size_t i = (size_t)start;
    while (i < (size_t)end) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            *out++ = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            i++;
            continue;
        }
        decoded d = next_char(s, (size_t)end, i);
        out += utf8_encode(fold_case(d.cp), out);
        i = (size_t)d.end;
    }
    scratch->len = (size_t)(out - scratch->data);
    scratch->data[scratch->len] = '\0';
    dq_term t = {scratch->data, (int)scratch->len, start, end, false, false};
    return cb(ctx, &t);
}

int text_terms(const char *s, size_t n, int flags, dq_term_cb cb, void *ctx)
{
    dq_buf scratch = DQ_BUF_INIT;
    int rc = 0;
    size_t i = 0;
    int word_start = -1;
    size_t word_end = 0;
    uint32_t word_last = 0;
    bool prev_was_cjk = false;

    while (i < n && rc == 0) {
        decoded d = next_char(s, n, i);
        bool word = is_word_char(d.cp);
        if (!word && word_start >= 0 && (d.cp == '.' || d.cp == ',') && (size_t)d.end < n) {
            /* The word's last code point, not its last byte: a full-width
             * digit ("１,000") is three bytes. */
            decoded after = next_char(s, n, (size_t)d.end);
            word = is_digit(word_last) && is_digit(after.cp);
        }
        if (word) {
            if (word_start < 0)
                word_start = d.start;
            word_end = (size_t)d.end;
            word_last = d.cp;
        } else if (word_start >= 0) {
            rc = emit_word(s, word_start, (int)word_end, &scratch, cb, ctx);
            word_start = -1;
            if (rc)
                break;
        }

        bool cjk = is_cjk(d.cp);
        if (cjk) {
            bool have_next = false;
            decoded nx = {0, 0, 0};
            if ((size_t)d.end < n) {
                nx = next_char(s, n, (size_t)d.end);
                have_next = is_cjk(nx.cp);
            }
            /* Without TERMS_UNIGRAMS a lone CJK character still needs a term,
             * or a one-character query would match nothing. */
            bool unigram = (flags & TERMS_UNIGRAMS) || !(flags & TERMS_BIGRAMS) ||
                           (!have_next && !prev_was_cjk);
            if (unigram) {
                dq_term t = {s + d.start, d.end - d.start, d.start, d.end, false, true};
                rc = cb(ctx, &t);
            }
            if (rc == 0 && (flags & TERMS_BIGRAMS) && have_next) {
                dq_term t = {s + d.start, nx.end - d.start, d.start, nx.end, unigram, true};
                rc = cb(ctx, &t);
            }
        }
        prev_was_cjk = cjk;
        i = (size_t)d.end;
    }
    if (rc == 0 && word_start >= 0)
        rc = emit_word(s, word_start, (int)word_end, &scratch, cb, ctx);
    dq_buf_free(&scratch);
    return rc;
}

/* ---- years glued to labels -------------------------------------------- */

static bool is_ascii_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

void text_split_glued_years(const char *s, size_t n, dq_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        dq_buf_putc(out, s[i]);
        if (i + 1 >= n)
            break;
        /* a letter then a year (FY2018), or a year then a letter (2022Q4) */
        bool year_next = i + 4 < n && is_digit((unsigned char)s[i + 1]) && is_digit((unsigned char)s[i + 2]) &&
                         is_digit((unsigned char)s[i + 3]) && is_digit((unsigned char)s[i + 4]) &&
                         (s[i + 1] == '1' || s[i + 1] == '2') &&
                         (i + 5 >= n || !is_digit((unsigned char)s[i + 5]));
        bool year_here = i >= 3 && is_digit((unsigned char)s[i]) && is_digit((unsigned char)s[i - 1]) && is_digit((unsigned char)s[i - 2]) &&
                         is_digit((unsigned char)s[i - 3]) && (s[i - 3] == '1' || s[i - 3] == '2') &&
                         (i < 4 || !is_digit((unsigned char)s[i - 4]));
        if ((is_ascii_letter(s[i]) && year_next) || (year_here && is_ascii_letter(s[i + 1])))
            dq_buf_putc(out, ' ');
    }
}

