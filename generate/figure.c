/* figure.c - whether a sentence or table row states a figure, and one of the
 * period a question asks for. The rules are in figure.h.
 */
#include "generate/figure.h"

#include "common/common.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_letter(char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* A run of four digits that reads as a year, with no digit either side. */
static bool year_at(const char *s, size_t n, size_t i)
{
    if (i + 4 > n || (i > 0 && is_digit(s[i - 1])) || (i + 4 < n && is_digit(s[i + 4])))
        return false;
    for (size_t k = 0; k < 4; k++)
        if (!is_digit(s[i + k]))
            return false;
    return (s[i] == '1' && s[i + 1] == '9') || (s[i] == '2' && s[i + 1] == '0');
}

/* Whether the 几 at p in s is part of a word that asks no quantity:
 * 几乎 (almost), 几何 (geometry), 茶几 (a tea table). */
static bool not_how_many(const char *s, const char *p)
{
    static const char tea[] = "茶";
    size_t t = sizeof tea - 1, j = strlen("几");
    return !strncmp(p + j, "乎", strlen("乎")) || !strncmp(p + j, "何", strlen("何")) ||
           (p - s >= (ptrdiff_t)t && !strncmp(p - t, tea, t));
}

void figure_question_read(const char *question, figure_question *out)
{
    memset(out, 0, sizeof *out);
    dq_buf split = DQ_BUF_INIT;
    text_split_glued_years(question, strlen(question), &split); /* "FY2018" -> "FY 2018" */
    const char *s = split.data ? split.data : "";
    size_t n = split.len;
    for (size_t i = 0; i < n && out->n_years < FIGURE_MAX_YEARS; i++) {
        if (!year_at(s, n, i) || (i > 0 && is_letter(s[i - 1])) ||
            (i + 4 < n && is_letter(s[i + 4])))
            continue;
        bool dup = false;
        for (int k = 0; k < out->n_years && !dup; k++)
            dup = !memcmp(out->years[k], s + i, 4);
        if (!dup) {
            memcpy(out->years[out->n_years], s + i, 4);
            out->years[out->n_years++][4] = '\0';
        }
        i += 3;
    }
    /* Interrogatives that ask for a quantity, in both languages. */
    static const char *const how_much[] = {"how much", "how many", "多少", "几"};
    out->asks = out->n_years > 0;
    for (size_t k = 0; k < sizeof how_much / sizeof *how_much && !out->asks; k++)
        for (const char *p = s; *p && !out->asks; p++)
            out->asks = !strncasecmp(p, how_much[k], strlen(how_much[k])) &&
                        !(k == 3 && not_how_many(s, p));
    dq_buf_free(&split);
}

/* Whether s[0..n) holds a figure: digits not glued to a word, not a bare
 * year. */
static bool has_figure(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if (!is_digit(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && (is_digit(s[j]) || ((s[j] == ',' || s[j] == '.') && j + 1 < n &&
                                            is_digit(s[j + 1]))))
            j++;
        bool glued = (i > 0 && (is_letter(s[i - 1]) || s[i - 1] == '-')) ||
                     (j < n && is_letter(s[j])) ||
                     (j + 1 < n && s[j] == '-' && is_letter(s[j + 1])); /* "10-K" */
        bool year = j - i == 4 && year_at(s, n, i);
        if (!glued && !year)
            return true;
        i = j;
    }
    return false;
}

static bool has_word(const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        run = is_letter(s[i]) ? run + 1 : 0;
        if (run >= 3)
            return true;
    }
    return false;
}

static bool names_year(const char *s, size_t n, const figure_question *q)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (year_at(s, n, i))
            for (int k = 0; k < q->n_years; k++)
                if (!memcmp(s + i, q->years[k], 4))
                    return true;
    return false;
}

static const char *find_in(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    return n >= m ? memmem(s, n, needle, m) : NULL;
}

bool figure_is_row(const char *s, size_t n)
{
    return find_in(s, n, " | ") != NULL;
}

figure_kind figure_in_line(const char *s, size_t n, const figure_question *q)
{
    if (!figure_is_row(s, n))
        return FIGURE_NONE;
    figure_kind best = FIGURE_NONE;
    const char *end = s + n;
    const char *cell = s;
    bool label = true; /* the first cell is the row's label */
    while (cell < end && best != FIGURE_ASKED) {
        const char *bar = find_in(cell, (size_t)(end - cell), " | ");
        const char *cell_end = bar ? bar : end;
        if (!label) {
            const char *colon = find_in(cell, (size_t)(cell_end - cell), ": ");
            const char *value = colon ? colon + 2 : cell;
            size_t vn = (size_t)(cell_end - value);
            if (has_figure(value, vn) && !has_word(value, vn)) {
                bool asked = colon && names_year(cell, (size_t)(colon - cell), q);
                best = asked ? FIGURE_ASKED : FIGURE_SOME;
            }
        }
        label = false;
        cell = bar ? bar + 3 : end;
    }
    return best;
}
