/* pieces.c - sentence and clause boundaries for mixed Chinese/English text.
 *
 * One left-to-right pass: a piece ends after a terminator, the closing quotes
 * and brackets that belong to it, and the whitespace that follows, so every
 * piece after the first starts at a visible character and the pieces cover
 * the input exactly. Cuts only ever fall after a whole decoded character.
 */
#include "common.h"

#include <string.h>

static bool is_space(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v' ||
           cp == 0x3000 || cp == 0xA0;
}

static bool is_closer(uint32_t cp)
{
    return cp == 0x201D || cp == 0x2019 || cp == 0x300D || cp == 0x300F || cp == 0xFF09 ||
           cp == ')' || cp == ']' || cp == '"' || cp == '\'' || cp == 0x300B || cp == 0x3011;
}

/* Terminators that always end a sentence. */
static bool is_strong_end(uint32_t cp)
{
    return cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF1B || cp == '!' || cp == '?' ||
           cp == 0x2026 || cp == 0xFF61;
}

/* Clause marks that cut wherever they appear (full-width forms). */
static bool is_cjk_clause(uint32_t cp)
{
    return cp == 0xFF0C || cp == 0x3001 || cp == 0xFF1A;
}

static bool is_ascii_alpha(uint32_t cp)
{
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
}

static bool starts_sentence(uint32_t cp)
{
    return (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || uc_is_cjk(cp) ||
           uc_is_cjk_punct(cp) || cp == '"' || cp == '(' || cp == '[';
}

/* Abbreviations whose '.' does not end a sentence (lower-cased, no final dot). */
static const char *const abbrevs[] = {"mr",  "mrs",  "ms", "dr",     "prof", "st",  "vs",
                                      "fig", "figs", "jr", "sr",     "inc",  "ltd", "co",
                                      "cf",  "al",   "eq", "approx", "dept", "no",  "nos",
                                      "vol", "pp",   "ch", "sec",    "art",  "mt",  "gen"};

/* Decides whether the '.' at s[dot] ends a sentence; next is the first
 * non-space code point after it (0 at the end of the input). */
static bool period_ends(const char *s, size_t dot, uint32_t next)
{
    /* The word before the dot: ASCII letters and inner dots ("e.g", "U.S"). */
    size_t b = dot;
    while (b > 0 && (is_ascii_alpha((unsigned char)s[b - 1]) || s[b - 1] == '.'))
        b--;
    size_t wlen = dot - b;
    if (wlen == 0)
        return true;
    if (b > 0 && (unsigned char)s[b - 1] >= '0' && (unsigned char)s[b - 1] <= '9')
        return true; /* "v2.0b." or "3rd." are not abbreviations */
    char word[16];
    if (wlen >= sizeof word)
        return true;
    bool inner_dot = false, single_letters = true;
    for (size_t i = 0; i < wlen; i++) {
        char c = s[b + i];
        if (c == '.') {
            inner_dot = true;
        } else {
            if ((i > 0 && s[b + i - 1] != '.') || (i + 1 < wlen && s[b + i + 1] != '.'))
                single_letters = false;
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
        }
        word[i] = c;
    }
    word[wlen] = '\0';
    if (word[0] == '.')
        return true; /* an ellipsis "..." */
    /* "e.g.", "i.e.", "U.S.", "a.m.": single letters joined by dots. */
    if (inner_dot && single_letters)
        return false;
    /* "J. Smith": a lone capital initial. */
    if (wlen == 1 && s[b] >= 'A' && s[b] <= 'Z')
        return false;
    if (strcmp(word, "etc") == 0)
        return next == 0 || (starts_sentence(next) && !(next >= '0' && next <= '9'));
    for (size_t i = 0; i < sizeof abbrevs / sizeof abbrevs[0]; i++) {
        if (strcmp(word, abbrevs[i]) != 0)
            continue;
        /* "No. 5" is an abbreviation, "said no. Then" is not. */
        if (strcmp(word, "no") == 0 || strcmp(word, "nos") == 0)
            return !(next >= '0' && next <= '9');
        return false;
    }
    return true;
}

int text_pieces(const char *s, size_t n, int kind, dq_piece_cb cb, void *ctx)
{
    bool clauses = kind == BOUNDARY_CLAUSE;
    size_t start = 0, i = 0;
    while (i < n) {
        int len;
        uint32_t cp = utf8_at(s, n, i, &len);
        size_t after = i + (size_t)len;
        bool cut = false;

        if (cp == '\n') {
            cut = true;
        } else if (is_strong_end(cp) || (clauses && is_cjk_clause(cp))) {
            /* Runs like "?!", "……" and "。”" stay with their sentence. */
            while (after < n) {
                uint32_t c = utf8_at(s, n, after, &len);
                if (!is_strong_end(c) && !is_closer(c) && !(clauses && is_cjk_clause(c)))
                    break;
                after += (size_t)len;
            }
            cut = true;
        } else if (cp == '.' || (clauses && (cp == ',' || cp == ';' || cp == ':'))) {
            size_t j = after;
            while (j < n) {
                uint32_t c = utf8_at(s, n, j, &len);
                if (!is_closer(c) && !(cp == '.' && c == '.'))
                    break;
                j += (size_t)len;
            }
            /* A mark glued to the next character ("3.5", "1,000", "http://")
             * is not a boundary. */
            uint32_t follow = 0;
            if (j < n)
                follow = utf8_at(s, n, j, &len);
            if (j >= n || is_space(follow) || (cp != '.' && follow >= 0x80)) {
                uint32_t next = 0;
                size_t k = j;
                while (k < n) {
                    uint32_t c = utf8_at(s, n, k, &len);
                    if (!is_space(c)) {
                        next = c;
                        break;
                    }
                    k += (size_t)len;
                }
                cut = cp != '.' || period_ends(s, i, next);
                after = j;
            } else {
                /* Every mark of the run meets the same follower, so none of
                 * them ends a piece: skip it whole. Stepping one mark at a
                 * time rescanned the run from each, quadratic on a line of
                 * dot leaders (300,000 dots took minutes). */
                after = j;
            }
        }

        if (cut) {
            /* Trailing whitespace belongs to the piece it follows; a newline
             * closes the piece. */
            bool newline = cp == '\n';
            while (!newline && after < n) {
                uint32_t c = utf8_at(s, n, after, &len);
                if (!is_space(c))
                    break;
                after += (size_t)len;
                newline = c == '\n';
            }
            int rc = cb(ctx, start, after);
            if (rc)
                return rc;
            start = after;
        }
        i = after;
    }
    if (start < n)
        return cb(ctx, start, n);
    return 0;
}
