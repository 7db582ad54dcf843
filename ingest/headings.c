/* headings.c - finds headings among cleaned paragraphs: declared, numbered, larger or bold.
 *
 * Only short paragraphs that do not end like a sentence can be headings. The
 * source's own declaration (Markdown '#') wins; then Chinese and decimal
 * numbering (第三章, 一、, （一）, 3.2), which says the level outright; then
 * a font clearly larger than the body, ranked by size; then bold lines at
 * body size (the document's, or their page's where statements or notes are
 * set smaller), one level below the size-ranked ones, and one more when a
 * centred bold title stands above them on their page (typesetters centre
 * the higher of two headings in one font: a statement's title over its
 * "ASSETS", "PART II" over its items).
 */
#include "ingest/headings.h"

#include "common/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_LEVEL = 6, MAX_SIZES = 16 };

static bool is_cn_numeral(uint32_t cp)
{
    static const char *const digits = "零〇一二三四五六七八九十百千两壹贰叁肆伍陆柒捌玖拾";
    char enc[4];
    int k = utf8_encode(cp, enc);
    if (k != 3)
        return false;
    for (const char *p = digits; *p; p += 3)
        if (memcmp(p, enc, 3) == 0)
            return true;
    return false;
}

static bool is_digit(uint32_t cp)
{
    return cp >= '0' && cp <= '9';
}

static bool starts_with(const char *s, size_t n, size_t i, const char *lit)
{
    size_t k = strlen(lit);
    return i + k <= n && memcmp(s + i, lit, k) == 0;
}

/* After a number: the heading's text must follow (a space, or CJK directly). */
static bool text_follows(const char *s, size_t n, size_t i, bool allow_cjk)
{
    int len;
    size_t j = i;
    bool spaced = false;
    while (j < n && s[j] == ' ')
        j++, spaced = true;
    if (j >= n)
        return false;
    uint32_t cp = utf8_at(s, n, j, &len);
    if (!spaced && !(allow_cjk && uc_is_cjk(cp)))
        return false;
    return !is_digit(cp) && cp != '%' && cp != '.';
}

int headings_numbering(const char *s, size_t n, int *kind)
{
    int len;
    *kind = NUM_NONE;
    if (n == 0)
        return 0;
    size_t i = 0;
    uint32_t cp = utf8_at(s, n, 0, &len);

    if (starts_with(s, n, 0, "第")) {
        i = 3;
        size_t digits = 0;
        while (i < n) {
            uint32_t c = utf8_at(s, n, i, &len);
            if (!is_cn_numeral(c) && !is_digit(c) && c != ' ')
                break;
            digits += c != ' ';
            i += (size_t)len;
        }
        if (digits == 0 || digits > 6)
            return 0;
        static const struct {
            const char *mark;
            int level;
        } marks[] = {{"章", 1}, {"部分", 1}, {"编", 1}, {"篇", 1}, {"节", 2}, {"条", 3}};
        for (size_t m = 0; m < sizeof marks / sizeof marks[0]; m++) {
            if (!starts_with(s, n, i, marks[m].mark))
                continue;
            size_t j = i + strlen(marks[m].mark);
            /* "第三章" alone is a heading too; "第三条规定..." is checked for
             * length by the caller. */
            if (j < n && s[j] != ' ') {
                uint32_t c = utf8_at(s, n, j, &len);
                if (!uc_is_cjk(c) && !is_cn_numeral(c) && c < 0x80)
                    return 0;
            }
            *kind = marks[m].level == 1 ? NUM_CHAPTER : NUM_FIXED;
            return marks[m].level;
        }
        return 0;
    }

    if (is_cn_numeral(cp)) {
        while (i < n && is_cn_numeral(utf8_at(s, n, i, &len)))
            i += (size_t)len;
        if (i <= 12 && (starts_with(s, n, i, "、") || starts_with(s, n, i, "．")) &&
            (i + 3 >= n || text_follows(s, n, i + 3, true))) {
            *kind = NUM_FIXED;
            return 2;
        }
        return 0;
    }

    if (starts_with(s, n, 0, "（") || cp == '(') {
        i = cp == '(' ? 1 : 3;
        size_t first = i;
        while (i < n && is_cn_numeral(utf8_at(s, n, i, &len)))
            i += (size_t)len;
        if (i == first || i - first > 9)
            return 0;
        if (starts_with(s, n, i, "）"))
            i += 3;
        else if (i < n && s[i] == ')')
            i += 1;
        else
            return 0;
        if (i < n && !text_follows(s, n, i, true))
            return 0;
        *kind = NUM_FIXED;
        return 3;
    }

    if (is_digit(cp)) {
        int depth = 0;
        bool trailing_dot = false;
        while (i < n) {
            size_t d = i;
            while (i < n && is_digit((unsigned char)s[i]))
                i++;
            if (i == d || i - d > 3)
                return 0;
            depth++;
            trailing_dot = false;
            if (i < n && s[i] == '.') {
                i++;
                trailing_dot = true;
                if (i < n && is_digit((unsigned char)s[i]))
                    continue;
            }
            break;
        }
        if (depth > MAX_LEVEL || !text_follows(s, n, i, true))
            return 0;
        /* "1 Introduction" is too easily a quantity ("12 V adapter") to
         * count without help from the font. */
        *kind = depth == 1 && !trailing_dot ? NUM_BARE : NUM_DOTTED;
        return depth;
    }
    return 0;
}

enum { SHAPE_NO, SHAPE_YES, SHAPE_QUESTION };

/* Opens with '(' or '（' and closes with ')' or '）', nothing outside. */
static bool enclosed(const char *s, size_t n)
{
    while (n && s[n - 1] == ' ')
        n--;
    bool opens = starts_with(s, n, 0, "(") || starts_with(s, n, 0, "（");
    bool closes = (n >= 1 && s[n - 1] == ')') || (n >= 3 && !memcmp(s + n - 3, "）", 3));
    return opens && closes;
}

/* A heading is short, has a word in it (two letters or more, or a CJK
 * character: a lone "o" or "x" is a check box on a form's cover) and does
 * not end like a sentence.
 * SHAPE_QUESTION: it would be, but ends in '?', which only a larger font
 * makes a heading ("How do I book a room?" in an FAQ). */
static int heading_shaped(const char *s, size_t n)
{
    size_t cjk = 0, words = 0, i = 0, letters = 0;
    bool in_word = false, letter = false;
    uint32_t last = 0;
    while (i < n) {
        int len;
        uint32_t cp = utf8_at(s, n, i, &len);
        bool alnum = (cp < 0x80 && ((cp | 32) >= 'a' && (cp | 32) <= 'z')) || is_digit(cp) ||
                     (cp >= 0xC0 && cp < 0x2000);
        if (uc_is_cjk(cp)) {
            cjk++;
            letter = true;
        } else if (alnum && !in_word) {
            words++;
        }
        letters = alnum && !is_digit(cp) ? letters + 1 : 0;
        if (letters >= 2)
            letter = true;
        in_word = alnum;
        if (cp != ' ')
            last = cp;
        i += (size_t)len;
        /* cjk/40 + words/15 > 1: too long, and no need to read on. */
        if (cjk * 15 + words * 40 > 600)
            return SHAPE_NO;
    }
    if (!letter)
        return SHAPE_NO;
    /* A table-of-contents entry ("第一章 总则 ........ 1") names a heading
     * but is not one. */
    if (strstr(s, "....") || strstr(s, "……") || strstr(s, "···") || strstr(s, ". . ."))
        return SHAPE_NO;
    /* A line wholly in brackets qualifies what is above it ("(in millions,
     * except per share data)", "（单位：元）" under a statement's title): it
     * must not replace the title in the section path ("（一）总则" does not
     * close with a bracket). */
    if (enclosed(s, n))
        return SHAPE_NO;
    if (last == '?' || last == 0xFF1F)
        return SHAPE_QUESTION;
    static const uint32_t enders[] = {0x3002, 0xFF01, 0xFF1B, 0xFF0C, 0xFF1A, 0x3001,
                                      '!',    ';',    ',',    ':',    '.',    0x2026};
    for (size_t k = 0; k < sizeof enders / sizeof enders[0]; k++)
        if (last == enders[k])
            return SHAPE_NO;
    return SHAPE_YES;
}

static int size_key(float size)
{
    return (int)lroundf(size * 2.0f);
}

/* "合同编号：ZL-2026-0318" in bold is a label and its value, not a heading. */
static bool label_value(const char *s)
{
    const char *c = strstr(s, "：");
    if (c && c[3] != '\0')
        return true;
    c = strstr(s, ": ");
    return c != NULL;
}

typedef struct {
    int sizes[MAX_SIZES]; /* size keys of larger-font headings, largest first */
    int n_sizes;
    int body_key;
    float body_size;
    bool bold_body; /* most text is bold: weight tells nothing */
    bool centred_bold; /* a body-size bold heading is centred above, on this page */
} size_ranks;

/* A bold heading at body size, the document's or its page's (statements and
 * notes are often set smaller than the text around them): short, not a
 * label and its value. */
static bool bold_heading(const size_ranks *r, const para_hint *h, int key, const char *text)
{
    bool body = abs(key - r->body_key) <= 1 ||
                (h->page_body > 0 && abs(key - size_key(h->page_body)) <= 1);
    return h->bold && !r->bold_body && h->n_lines <= 2 && body && !label_value(text);
}

/* The level font size and weight give a heading-shaped paragraph, or 0. */
static int level_by_font(const size_ranks *r, const para_hint *h, const char *text)
{
    if (r->body_size <= 0 || h->size <= 0)
        return 0;
    int key = size_key(h->size);
    if (h->size >= r->body_size * 1.15f) {
        int rank = 0;
        while (rank < r->n_sizes && r->sizes[rank] > key)
            rank++;
        return rank + 1 > MAX_LEVEL ? MAX_LEVEL : rank + 1;
    }
    if (bold_heading(r, h, key, text)) {
        /* Below a centred one on its page, a flush-left one ranks a
         * level down (a statement's title over its "ASSETS"). */
        int level = r->n_sizes + 1 + (r->centred_bold && !h->centred);
        return level > MAX_LEVEL ? MAX_LEVEL : level;
    }
    return 0;
}

void headings_detect(ingest_doc *doc, para_hint *const *hints, float body_size,
                     bool declared_only)
{
    if (declared_only) {
        for (size_t p = 0; p < doc->n_pages; p++)
            for (size_t k = 0; k < doc->pages[p].n_paras; k++)
                doc->pages[p].paras[k].heading = hints[p][k].md;
        return;
    }
    /* Pass 1: is there a 第X章 chapter, and which larger sizes carry headings. */
    bool has_chapter = false;
    size_ranks r = {{0}, 0, size_key(body_size), body_size, false, false};
    size_t bold_bytes = 0, all_bytes = 0;
    /* Each paragraph's shape, read once for the three passes: SHAPE_NO for
     * one that cannot be a guessed heading (declared, or over 3 lines). */
    size_t n_paras = 0;
    for (size_t p = 0; p < doc->n_pages; p++)
        n_paras += doc->pages[p].n_paras;
    signed char *shapes = dq_malloc(n_paras ? n_paras : 1);
    size_t at = 0;
    for (size_t p = 0; p < doc->n_pages; p++) {
        for (size_t k = 0; k < doc->pages[p].n_paras; k++) {
            const char *t = doc->pages[p].paras[k].text;
            size_t n = strlen(t);
            const para_hint *h = &hints[p][k];
            all_bytes += n;
            bold_bytes += h->bold ? n : 0;
            int shape = h->md || h->n_lines > 3 ? SHAPE_NO : heading_shaped(t, n);
            shapes[at++] = (signed char)shape;
            if (shape == SHAPE_NO || doc->pages[p].paras[k].table)
                continue;
            int kind;
            headings_numbering(t, n, &kind);
            has_chapter |= kind == NUM_CHAPTER && shape == SHAPE_YES;
            if (body_size > 0 && h->size >= body_size * 1.15f) {
                int key = size_key(h->size);
                int at = 0;
                while (at < r.n_sizes && r.sizes[at] > key)
                    at++;
                if (at < r.n_sizes && r.sizes[at] == key)
                    continue;
                if (r.n_sizes == MAX_SIZES) {
                    if (at == r.n_sizes)
                        continue;
                    r.n_sizes--;
                }
                memmove(&r.sizes[at + 1], &r.sizes[at],
                        (size_t)(r.n_sizes - at) * sizeof r.sizes[0]);
                r.sizes[at] = key;
                r.n_sizes++;
            }
        }
    }

    r.bold_body = 2 * bold_bytes > all_bytes;

    /* Pass 2: where decimal numbering starts. When "1 Safety" is a level-2
     * heading by its font, "4.1" below it is level 3; under 第X章 chapters
     * the chapter stands for the first number ("3.2" is level 2). */
    int base = 0;
    at = 0;
    for (size_t p = 0; p < doc->n_pages; p++) {
        for (size_t k = 0; k < doc->pages[p].n_paras; k++) {
            if (shapes[at++] != SHAPE_YES)
                continue;
            const char *t = doc->pages[p].paras[k].text;
            size_t n = strlen(t);
            const para_hint *h = &hints[p][k];
            int kind;
            int depth = headings_numbering(t, n, &kind);
            if ((kind != NUM_DOTTED && kind != NUM_BARE) || depth != 1)
                continue;
            int level = level_by_font(&r, h, t);
            if (level && (base == 0 || level < base))
                base = level;
        }
    }
    if (base == 0 || (has_chapter && base < 2))
        base = 1;
    int floor = has_chapter ? 2 : 1;

    /* Pass 3: assign levels. */
    at = 0;
    for (size_t p = 0; p < doc->n_pages; p++) {
        r.centred_bold = false;
        for (size_t k = 0; k < doc->pages[p].n_paras; k++) {
            ingest_para *para = &doc->pages[p].paras[k];
            const para_hint *h = &hints[p][k];
            int shape = shapes[at++];
            para->heading = 0;
            if (h->md) {
                para->heading = h->md;
                continue;
            }
            if (shape == SHAPE_NO)
                continue;
            size_t n = strlen(para->text);
            int kind;
            int level = headings_numbering(para->text, n, &kind);
            int by_font = level_by_font(&r, h, para->text);
            if (shape == SHAPE_YES && h->centred &&
                bold_heading(&r, h, size_key(h->size), para->text))
                r.centred_bold = true;
            if (shape == SHAPE_QUESTION) {
                /* only a larger font makes a question a heading */
                if (r.body_size > 0 && h->size >= r.body_size * 1.15f)
                    para->heading = by_font;
                continue;
            }
            if (kind == NUM_CHAPTER || kind == NUM_FIXED) {
                para->heading = level;
            } else if (kind == NUM_DOTTED || (kind == NUM_BARE && by_font)) {
                level = base + level - 1;
                if (level < floor)
                    level = floor;
                para->heading = level > MAX_LEVEL ? MAX_LEVEL : level;
            } else {
                para->heading = by_font;
            }
        }
    }
    free(shapes);
}
