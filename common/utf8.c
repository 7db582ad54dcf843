/* utf8.c - strict UTF-8 decoding and the code-point classes docqa cares about. */
#include "common.h"

#include <stdint.h>
#include <string.h>

int utf8_decode(const char *str, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0)
        return -1;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    if ((size_t)len > n)
        return -1;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return -1;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return -1;
    *cp = v;
    return len;
}

int utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

bool utf8_valid(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        if (k < 0)
            return false;
        i += (size_t)k;
    }
    return true;
}

char *utf8_sanitize(const char *s, size_t n)
{
    dq_buf out = DQ_BUF_INIT;
    dq_buf_reserve(&out, n);
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        if (k < 0) {
            dq_buf_append(&out, "\xEF\xBF\xBD", 3);
            i++;
            continue;
        }
        dq_buf_append(&out, s + i, (size_t)k);
        i += (size_t)k;
    }
    return dq_buf_take(&out);
}

char *utf8_for_terminal(const char *s)
{
    size_t n = strlen(s);
    dq_buf out = DQ_BUF_INIT;
    dq_buf_reserve(&out, n);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode(s + i, n - i, &cp);
        if (k < 0) {
            dq_buf_append(&out, "\xEF\xBF\xBD", 3);
            i++;
        } else if (cp != '\n' && (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))) {
            dq_buf_putc(&out, '?'); /* ESC, CSI, BEL...: never reach the terminal */
            i += (size_t)k;
        } else {
            dq_buf_append(&out, s + i, (size_t)k);
            i += (size_t)k;
        }
    }
    return dq_buf_take(&out);
}

/* Bytes of s[0..n) that start no code point: 10xxxxxx. */
static size_t utf8_continuations(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xC0) == 0x80;
    return count;
}

size_t utf8_length(const char *s, size_t n)
{
    /* Eight bytes at a time: a continuation byte has bit 7 set and bit 6
     * clear, and shifting the word left by one puts each byte's bit 6 under
     * its bit 7. The marks, moved down to bit 0 of their bytes, are summed
     * into the top byte by one multiplication (a baseline x86-64 build has
     * no popcount instruction). Cleanup counts every line's characters. */
    const uint64_t high = 0x8080808080808080u, ones = 0x0101010101010101u;
    size_t cont = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, sizeof w);
        cont += (size_t)((((w & ~(w << 1) & high) >> 7) * ones) >> 56);
    }
    cont += utf8_continuations(s + i, n - i);
    return n - cont;
}

bool uc_is_cjk(uint32_t cp)
{
    if (cp < 0x1100) /* most text: Latin, Greek, Cyrillic */
        return false;
    return (cp >= 0x4E00 && cp <= 0x9FFF)      /* CJK Unified Ideographs */
           || (cp >= 0x3400 && cp <= 0x4DBF)   /* Extension A */
           || (cp >= 0x20000 && cp <= 0x2FA1F) /* Extensions B-F, compatibility supplement */
           || (cp >= 0xF900 && cp <= 0xFAFF)   /* Compatibility Ideographs */
           || (cp >= 0x3040 && cp <= 0x30FF)   /* Hiragana, Katakana */
           || (cp >= 0x31F0 && cp <= 0x31FF)   /* Katakana extensions */
           || (cp >= 0x3100 && cp <= 0x312F)   /* Bopomofo */
           || (cp >= 0xAC00 && cp <= 0xD7AF)   /* Hangul syllables */
           || (cp >= 0x1100 && cp <= 0x11FF)   /* Hangul Jamo */
           || cp == 0x3007;                    /* 〇 */
}

bool uc_is_cjk_punct(uint32_t cp)
{
    return (cp >= 0x3000 && cp <= 0x303F && cp != 0x3007) /* CJK symbols and punctuation */
           || (cp >= 0xFF01 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
           (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65) ||
           (cp >= 0xFE30 && cp <= 0xFE4F) /* CJK compatibility forms */
           || (cp >= 0xFE10 && cp <= 0xFE1F) /* vertical forms */
           || cp == 0x2014 || cp == 0x2026 || cp == 0x201C || cp == 0x201D || cp == 0x2018 ||
           cp == 0x2019 || cp == 0x00B7;
}

uint32_t uc_fold_fullwidth(uint32_t cp)
{
    if (cp >= 0xFF01 && cp <= 0xFF5E)
        return cp - 0xFEE0;
    if (cp == 0x3000)
        return ' ';
    return cp;
}

int utf8_width(const char *s, int narrow, int wide)
{
    size_t n = strlen(s);
    int w = 0;
    for (size_t i = 0; i < n;) {
        int len;
        uint32_t cp = utf8_at(s, n, i, &len);
        w += uc_is_cjk(cp) || uc_is_cjk_punct(cp) ? wide : narrow;
        i += (size_t)len;
    }
    return w;
}
