/* bpe_pre.c - the BPE pre-tokenizers (tokenizer.ggml.pre) and NFC.
 *
 * Qwen2 and Llama 3 cut text into words with one regular expression each,
 * the same but for digits:
 *
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3} (Qwen2: \p{N})
 *   | ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 *
 * Rather than carry a regex engine, match_word() tries the alternatives in
 * order at each position, as the regex does, with \p{L} and \p{N} from
 * unicode_data.c and \s as Unicode's White_Space (what the Rust regex behind
 * Hugging Face's tokenizers uses).
 */
#include "embed/bpe_impl.h"

#include "embed/unicode_data.h"

#include <stdlib.h>
#include <string.h>

static const bpe_pre pre_kinds[] = {
    {"qwen2", 1, true, false},
    {"llama-bpe", 3, false, true},
};

const bpe_pre *bpe_pre_find(const char *name)
{
    for (size_t i = 0; i < sizeof pre_kinds / sizeof *pre_kinds; i++)
        if (name && strcmp(pre_kinds[i].name, name) == 0)
            return &pre_kinds[i];
    return NULL;
}

/* ---- character classes --------------------------------------------------- */

enum { CH_OTHER, CH_LETTER, CH_NUMBER, CH_SPACE };

#define CP_INVALID 0xFFFFFFFFu /* a byte that is not valid UTF-8 */

bool bpe_is_white_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

static int char_class(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return CH_LETTER;
        if (cp >= '0' && cp <= '9')
            return CH_NUMBER;
        return bpe_is_white_space(cp) ? CH_SPACE : CH_OTHER;
    }
    if (cp == CP_INVALID)
        return CH_OTHER;
    if (bpe_is_white_space(cp))
        return CH_SPACE;
    int c = ucd_props(cp) & UCD_CLASS_MASK;
    return c == UCD_LETTER ? CH_LETTER : c == UCD_NUMBER ? CH_NUMBER : CH_OTHER;
}

/* The code point at s[i] and its byte length; an invalid byte is CP_INVALID
 * of length 1. */
static uint32_t cp_at(const char *s, size_t n, size_t i, size_t *len)
{
    unsigned char b = (unsigned char)s[i];
    if (b < 0x80) {
        *len = 1;
        return b;
    }
    uint32_t cp;
    int k = utf8_decode(s + i, n - i, &cp);
    if (k < 0) {
        *len = 1;
        return CP_INVALID;
    }
    *len = (size_t)k;
    return cp;
}

static int class_at(const char *s, size_t n, size_t i, size_t *len)
{
    return char_class(cp_at(s, n, i, len));
}

static bool is_crlf(uint32_t cp)
{
    return cp == '\r' || cp == '\n';
}

/* End of the run of class cls that starts at i. */
static size_t run_end(const char *s, size_t n, size_t i, int cls)
{
    size_t len;
    while (i < n && class_at(s, n, i, &len) == cls)
        i += len;
    return i;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d): the length matched at s[i] (a quote), or 0.
 * ASCII letters only, as the reference tokenizers do. */
static size_t match_contraction(const char *s, size_t n, size_t i)
{
    if (i + 1 >= n)
        return 0;
    char a = (char)(s[i + 1] | 0x20);
    if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return 2;
    if (i + 2 >= n)
        return 0;
    char b = (char)(s[i + 2] | 0x20);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return 3;
    return 0;
}

/* The end of the word that starts at i (< n). */
static size_t match_word(const bpe_pre *pre, const char *s, size_t n, size_t i)
{
    size_t l0;
    uint32_t cp0 = cp_at(s, n, i, &l0);
    int c0 = char_class(cp0);

    if (cp0 == '\'') {
        size_t k = match_contraction(s, n, i);
        if (k)
            return i + k;
    }
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (c0 == CH_LETTER)
        return run_end(s, n, i + l0, CH_LETTER);
    if (c0 != CH_NUMBER && !is_crlf(cp0) && i + l0 < n) {
        size_t l1;
        if (class_at(s, n, i + l0, &l1) == CH_LETTER)
            return run_end(s, n, i + l0 + l1, CH_LETTER);
    }
    /* \p{N}{1,max_digits} */
    if (c0 == CH_NUMBER) {
        size_t j = i + l0, len;
        for (int d = 1; d < pre->max_digits && j < n && class_at(s, n, j, &len) == CH_NUMBER; d++)
            j += len;
        return j;
    }
    /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
    size_t j = cp0 == ' ' ? i + 1 : i, len;
    if (j < n && class_at(s, n, j, &len) == CH_OTHER) {
        j = run_end(s, n, j, CH_OTHER);
        while (j < n && (s[j] == '\r' || s[j] == '\n'))
            j++;
        return j;
    }
    /* Only white space is left: \s*[\r\n]+ ends after the run's last line
     * break; \s+(?!\S) leaves the last space of a run followed by a word to
     * that word; \s+ takes a lone one. */
    size_t end = i, last_start = i, after_nl = 0;
    int count = 0;
    while (end < n) {
        uint32_t cp = cp_at(s, n, end, &len);
        if (char_class(cp) != CH_SPACE)
            break;
        last_start = end;
        end += len;
        count++;
        if (is_crlf(cp))
            after_nl = end;
    }
    if (after_nl)
        return after_nl;
    if (end == n || count == 1)
        return end;
    return last_start;
}

void bpe_pre_split(const bpe_pre *pre, const char *s, size_t n, bpe_piece_cb piece, void *ctx)
{
    size_t i = 0;
    while (i < n) {
        size_t end = match_word(pre, s, n, i);
        piece(ctx, i, end);
        i = end;
    }
}

/* ---- NFC ------------------------------------------------------------------ */

#define CP_BYTE_FLAG 0x80000000u /* an invalid byte carried through */

static int ccc_of(uint32_t cp)
{
    return (cp & CP_BYTE_FLAG) ? 0 : ucd_ccc(cp);
}

/* Canonical ordering: sort each run of non-starters by combining class
 * (stable: insertion sort; runs are short). */
static void canonical_order(uint32_t *cps, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint32_t c = cps[i];
        int cc = ccc_of(c);
        if (cc == 0)
            continue;
        size_t j = i;
        while (j > 0 && ccc_of(cps[j - 1]) > cc) {
            cps[j] = cps[j - 1];
            j--;
        }
        cps[j] = c;
    }
}

/* Canonical composition in place; returns the new length. */
static size_t compose(uint32_t *cps, size_t n)
{
    size_t out = 0;
    long starter = -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cps[i];
        int cc = ccc_of(c);
        /* Only a character NFC's quick check calls Maybe can be the second
         * of a pair; asking only for those keeps ASCII and CJK cheap. */
        if (starter >= 0 && c >= 0x300 && !(c & CP_BYTE_FLAG) && (ucd_props(c) & UCD_NFC_QC)) {
            bool adjacent = (long)out - 1 == starter;
            if (adjacent || ccc_of(cps[out - 1]) < cc) {
                uint32_t comp = ucd_compose(cps[starter], c);
                if (comp) {
                    cps[starter] = comp;
                    continue;
                }
            }
        }
        if (cc == 0)
            starter = (c & CP_BYTE_FLAG) ? -1 : (long)out;
        cps[out++] = c;
    }
    return out;
}

static bool needs_nfc(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0xCC) { /* below U+0300 nothing changes */
            i++;
            continue;
        }
        size_t len;
        uint32_t cp = cp_at(s, n, i, &len);
        if (cp != CP_INVALID && (ucd_props(cp) & (UCD_NFC_QC | UCD_HAS_CCC)))
            return true;
        i += len;
    }
    return false;
}

bool bpe_nfc(const char *s, size_t n, dq_buf *out)
{
    if (!needs_nfc(s, n))
        return false;
    /* Each code point decomposes into at most UCD_MAX_DECOMP. */
    uint32_t *cps = dq_malloc((n * UCD_MAX_DECOMP + 1) * sizeof *cps);
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        size_t len;
        uint32_t cp = cp_at(s, n, i, &len);
        if (cp == CP_INVALID)
            cps[m++] = CP_BYTE_FLAG | (unsigned char)s[i];
        else
            m += (size_t)ucd_decompose(cp, cps + m);
        i += len;
    }
    canonical_order(cps, m);
    m = compose(cps, m);
    dq_buf_clear(out);
    dq_buf_reserve(out, n + 4);
    for (size_t i = 0; i < m; i++) {
        if (cps[i] & CP_BYTE_FLAG) {
            dq_buf_putc(out, (char)(cps[i] & 0xFF));
        } else {
            char u[4];
            dq_buf_append(out, u, (size_t)utf8_encode(cps[i], u));
        }
    }
    free(cps);
    return true;
}
