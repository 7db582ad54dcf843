/* clean.c - raw extracted lines to clean paragraphs: spacing, folding, joins, page furniture.
 *
 * Three passes over the document, each linear: (1) every line is cleaned once
 * into one arena (full-width letters and digits folded, MuPDF's spaces between
 * CJK characters removed, whitespace collapsed); (2) page numbers and running
 * headers/footers are found among the first and last two lines of each page,
 * headers by hashing their digit-masked text once per page and counting the
 * pages each hash appears on, and boilerplate inside the page (text lines
 * outside tables) the same way, so that form text on most pages does not
 * decide which page a search ranks first; (3) the surviving lines of each block are joined
 * into paragraphs, using the line boxes to see paragraph breaks inside a
 * block. Heading levels are then assigned by headings.c.
 */
#include "ingest/headings.h"
#include "ingest/ingest.h"

#include "common/common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SIZE_KEY = 1000 }; /* font sizes are histogrammed in half points up to 500pt */
/* A paragraph is centred when its middle lies this share of the page width
 * from the page's middle and it spans less than CENTRED_MAX_WIDTH of it. */
#define CENTRED_SLACK 0.04f
#define CENTRED_MAX_WIDTH 0.7f

typedef struct {
    const ingest_line *src;
    size_t off, len; /* cleaned text in the arena */
    size_t block;    /* index of the block on its page */
    bool drop;       /* page number, running header/footer or boilerplate */
    uint64_t hash;   /* digit-masked text, for furniture candidates; 0 for none */
} line_ref;

typedef struct {
    uint64_t hash;
    size_t page;
    bool margin; /* in the top or bottom tenth of the page */
} candidate;

/* Last code point of s[0..n) (0 when empty). */
static uint32_t last_char(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    size_t i = n - 1;
    while (i > 0 && n - i < 4 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    int len;
    return utf8_at(s, n, i, &len);
}

static bool is_cjkish(uint32_t cp)
{
    return uc_is_cjk(cp) || uc_is_cjk_punct(cp);
}

/* Full-width punctuation carries its own spacing; a space beside it is noise. */
static bool is_fullwidth_punct(uint32_t cp)
{
    return (cp >= 0x3001 && cp <= 0x303F) || (cp >= 0xFF00 && cp <= 0xFFEF);
}

static inline bool space_between(uint32_t a, uint32_t b)
{
    if (a < 0x80 && b < 0x80) /* most pairs: neither is CJK or full-width */
        return true;
    if (is_cjkish(a) && is_cjkish(b))
        return false;
    return !is_fullwidth_punct(a) && !is_fullwidth_punct(b);
}

/* Is s[0..n) exactly a numbering prefix like 第三章 or 第12条? The space
 * after one separates the number from the heading's title and stays. */
static bool numbering_prefix(const char *s, size_t n)
{
    static const char *const marks[] = {"章", "节", "条", "编", "篇", "部分", "款"};
    if (n < 9 || n > 40 || memcmp(s, "第", 3) != 0)
        return false;
    for (size_t m = 0; m < sizeof marks / sizeof marks[0]; m++) {
        size_t k = strlen(marks[m]);
        if (n < 3 + k + 1 || memcmp(s + n - k, marks[m], k) != 0)
            continue;
        for (size_t i = 3; i < n - k;) {
            int len;
            uint32_t cp = utf8_at(s, n - k, i, &len);
            /* digits, 零〇一二三四五六七八九十百千两 */
            bool numeral = (cp >= '0' && cp <= '9') || cp == 0x96F6 || cp == 0x3007 ||
                           cp == 0x4E00 || cp == 0x4E8C || cp == 0x4E09 || cp == 0x56DB ||
                           cp == 0x4E94 || cp == 0x516D || cp == 0x4E03 || cp == 0x516B ||
                           cp == 0x4E5D || cp == 0x5341 || cp == 0x767E || cp == 0x5343 ||
                           cp == 0x4E24;
            if (!numeral)
                return false;
            i += (size_t)len;
        }
        return true;
    }
    return false;
}

/* Are two CJK ideographs of s[0..n) set side by side anywhere? MuPDF puts
 * its spurious spaces between every pair of glyphs of a spaced-out line
 * ("合 同 双 方"); in a line whose other characters touch, a space between
 * CJK characters is the author's ("2月20日 签订地点"). */
static bool cjk_touching(const char *s, size_t n)
{
    uint32_t prev = 0;
    for (size_t i = 0; i < n;) {
        int len;
        uint32_t cp = utf8_at(s, n, i, &len);
        if (uc_is_cjk(cp) && uc_is_cjk(prev))
            return true;
        prev = cp;
        i += (size_t)len;
    }
    return false;
}

/* Appends the cleaned form of s[0..n) to out. keep_cjk_spaces keeps single
 * spaces between CJK characters (text files, lines whose CJK touches). */
static void clean_line(const char *s, size_t n, bool keep_cjk_spaces, dq_buf *out)
{
    dq_buf_reserve(out, n); /* about what comes out; see below */
    size_t begin = out->len;
    uint32_t prev = 0;
    bool pending_space = false, pending_hard = false;
    size_t i = 0;
    while (i < n) {
        int len;
        uint32_t cp = utf8_at(s, n, i, &len);
        i += (size_t)len;
        /* Printable ASCII, most characters, is none of what follows (a
         * folded full-width form is a letter or digit). */
        if (cp <= 0x20 || cp >= 0x7F) {
            if ((cp >= 0xFF10 && cp <= 0xFF19) || (cp >= 0xFF21 && cp <= 0xFF3A) ||
                (cp >= 0xFF41 && cp <= 0xFF5A))
                cp = uc_fold_fullwidth(cp);
            if (cp == 0x200B || cp == 0x200C || cp == 0x200D || cp == 0xFEFF || cp == 0x00AD)
                continue;
            if (cp == ' ' || cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) ||
                cp == 0xA0 || cp == 0x3000 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F ||
                cp == 0x205F) {
                pending_space = out->len > begin;
                /* An ideographic space inside a line was typed by the
                 * author ("日期：…　地点：…"), unlike the spaces MuPDF puts
                 * between CJK glyphs, so it survives between CJK
                 * characters. */
                pending_hard |= pending_space && cp == 0x3000;
                continue;
            }
        }
        /* Written in place, with room for a space and a character. */
        if (out->len + 5 >= out->cap)
            dq_buf_reserve(out, 5);
        if (pending_space &&
            (space_between(prev, cp) ||
             ((pending_hard || keep_cjk_spaces) && uc_is_cjk(prev) && uc_is_cjk(cp)) ||
             numbering_prefix(out->data + begin, out->len - begin)))
            out->data[out->len++] = ' ';
        pending_space = pending_hard = false;
        if (cp < 0x80) /* most characters: no call */
            out->data[out->len++] = (char)cp;
        else
            out->len += (size_t)utf8_encode(cp, out->data + out->len);
        prev = cp;
    }
    out->data[out->len] = '\0';
}

static bool has_box(const ingest_line *l)
{
    return l->x0 != 0 || l->y0 != 0 || l->x1 != 0 || l->y1 != 0;
}

/* ---- page numbers ------------------------------------------------------- */

static bool is_roman(const char *s, size_t n)
{
    if (n == 0 || n > 7)
        return false;
    bool lower = s[0] >= 'a';
    for (size_t i = 0; i < n; i++) {
        char c = lower ? s[i] : (char)(s[i] + 32);
        if (lower != (s[i] >= 'a') || !strchr("ivxlcdm", c))
            return false;
    }
    return true;
}

/* Matches s against pat, where '#' stands for one or more digits. */
static bool match_digits(const char *s, const char *pat)
{
    while (*pat) {
        if (*pat == '#') {
            if (!(*s >= '0' && *s <= '9'))
                return false;
            while (*s >= '0' && *s <= '9')
                s++;
            pat++;
        } else if (*s++ != *pat++) {
            return false;
        }
    }
    return *s == '\0';
}

/* "12", "- 12 -", "Page 12 of 30", "第 12 页", "第12页 共30页", "12 / 30", "iv". */
static bool is_page_number(const char *s, size_t n)
{
    if (n == 0 || n > 60)
        return false;
    char norm[64];
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        int len;
        uint32_t cp = utf8_at(s, n, i, &len);
        bool deco = cp == ' ' || cp == '-' || cp == 0x2013 || cp == 0x2014 || cp == '|' ||
                    cp == '[' || cp == ']' || cp == '(' || cp == ')' || cp == 0x00B7 ||
                    cp == 0x2022 || cp == '*' || cp == 0xFF08 || cp == 0xFF09 || cp == 0x2015;
        if (!deco) {
            memcpy(norm + k, s + i, (size_t)len);
            k += (size_t)len;
        }
        i += (size_t)len;
    }
    norm[k] = '\0';
    if (k == 0)
        return false;
    if (is_roman(norm, k))
        return true;
    char lower[64];
    for (size_t i = 0; i <= k; i++)
        lower[i] = (norm[i] >= 'A' && norm[i] <= 'Z') ? (char)(norm[i] + 32) : norm[i];
    static const char *const pats[] = {
        "#",           "page#",      "page#of#",    "#of#",       "#/#",         "p.#",
        "pg.#",        "第#页",      "第#頁",       "第#页共#页", "第#页,共#页", "第#页，共#页",
        "第#页/共#页", "共#页第#页", "共#页,第#页", "#/#页",      "page#/#"};
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++)
        if (match_digits(lower, pats[i]))
            return strlen(lower) <= 30;
    return false;
}

/* FNV-1a of the text with each run of digits replaced by '#'. */
static uint64_t masked_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    bool in_digits = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool digit = c >= '0' && c <= '9';
        if (digit && in_digits)
            continue;
        in_digits = digit;
        h ^= digit ? '#' : c;
        h *= 1099511628211ull;
    }
    return h;
}

static int cmp_candidate(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->page < y->page ? -1 : x->page > y->page;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Indices of the first two and last two undropped, non-empty lines of a page
 * (fewer on short pages); returns how many. */
static size_t edge_lines(const line_ref *lines, size_t n, size_t out[4])
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < 2; i++)
        if (!lines[i].drop && lines[i].len)
            out[k++] = i;
    size_t top = k, last = k ? out[k - 1] : (size_t)-1;
    size_t tail[2], t = 0;
    for (size_t i = n; i-- > 0 && t < 2;) {
        if (top && i <= last)
            break;
        if (!lines[i].drop && lines[i].len)
            tail[t++] = i;
    }
    while (t)
        out[k++] = tail[--t];
    return k;
}

/* True when text lies both above and below line i on its page: first or
 * last in MuPDF's order is not always at the edge of the page's text (a
 * superscript "2/3" inside a table's row label can come last). */
static bool between_lines(const line_ref *lines, size_t n, size_t i)
{
    const ingest_line *l = lines[i].src;
    if (!has_box(l))
        return false;
    bool above = false, below = false;
    for (size_t k = 0; k < n && !(above && below); k++) {
        const ingest_line *o = lines[k].src;
        if (k == i || !lines[k].len || !has_box(o))
            continue;
        above |= o->y1 <= l->y0;
        below |= o->y0 >= l->y1;
    }
    return above && below;
}

/* A line inside a page that may be boilerplate when it repeats ("See
 * accompanying notes", a form's running title printed mid-page): a line of
 * text with eight letters or more, not a table row (a table's header or
 * label rows recur on every page of a long table and are its context). */
static bool boilerplate_shaped(const ingest_raw_doc *raw, size_t p, const line_ref *lr,
                               const char *text)
{
    if (raw->pages[p].blocks[lr->block].table)
        return false;
    size_t letters = 0;
    for (size_t i = 0; i < lr->len && letters < 8; i++) {
        char c = (char)(text[lr->off + i] | 0x20);
        letters += c >= 'a' && c <= 'z';
        letters += ((unsigned char)text[lr->off + i] & 0xC0) == 0xC0; /* a non-ASCII letter */
    }
    return letters >= 8;
}

/* ---- paragraphs --------------------------------------------------------- */

static bool ends_sentence(uint32_t cp)
{
    return cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F || cp == 0xFF1B || cp == '.' || cp == '!' ||
           cp == '?' || cp == 0x201D || cp == 0x2026 || cp == ':' || cp == 0xFF1A || cp == '"' ||
           cp == 0x300D;
}

typedef struct {
    float x0, x1;  /* horizontal extent of the block's boxed lines */
    float min_gap; /* smallest vertical gap between consecutive boxed lines */
} block_extent;

/* Does a new paragraph start at line c, following line p of the same block? */
static bool breaks_between(const ingest_line *p, const char *ptext, size_t plen,
                           const ingest_line *c, block_extent ext)
{
    if (p->heading || c->heading)
        return true;
    if (p->size > 0 && c->size > 0 && fmaxf(p->size, c->size) >= 1.15f * fminf(p->size, c->size))
        return true;
    if (!has_box(p) || !has_box(c))
        return false;
    float h = fmaxf(p->y1 - p->y0, c->y1 - c->y0);
    float em = c->size > 0 ? c->size : h;
    /* Measured against the block's tightest gap, so that double-spaced
     * text does not fall apart into one paragraph per line. */
    float base = ext.min_gap < INFINITY ? fmaxf(ext.min_gap, 0.0f) : 0.0f;
    if (h > 0 && c->y0 - p->y1 > base + 0.6f * h)
        return true;
    if (!ends_sentence(last_char(ptext, plen)))
        return false;
    /* A sentence that ends on an indented next line or a short last line. */
    return c->x0 - ext.x0 > 0.9f * em || p->x1 < ext.x1 - 2.0f * em;
}

/* Appends line text t to a paragraph: hyphenated words rejoined, no space
 * between CJK characters, one space otherwise. */
static void join_line(dq_buf *para, const char *t, size_t n)
{
    if (para->len == 0) {
        dq_buf_append(para, t, n);
        return;
    }
    char a = para->data[para->len - 1];
    if (a == '-' && para->len >= 2 && n > 0 && t[0] >= 'a' && t[0] <= 'z') {
        char b = para->data[para->len - 2];
        if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')) {
            para->len--;
            dq_buf_append(para, t, n);
            return;
        }
    }
    int len;
    uint32_t first = utf8_at(t, n, 0, &len);
    if (space_between(last_char(para->data, para->len), first))
        dq_buf_putc(para, ' ');
    dq_buf_append(para, t, n);
}

typedef struct {
    dq_buf text;
    para_hint hint;
    size_t best_chars; /* chars of the longest line so far, which sets hint.size */
    bool all_bold;
    int loc; /* the first line's */
    float x0, x1;  /* the lines' horizontal extent */
    float page_w;  /* the page's width, 0 when unknown */
} para_builder;

static void para_add_line(para_builder *pb, const ingest_line *l, const char *t, size_t n)
{
    size_t chars = utf8_length(t, n);
    if (pb->hint.n_lines == 0)
        pb->loc = l->loc;
    if (pb->hint.n_lines == 0 || chars > pb->best_chars) {
        pb->hint.size = l->size;
        pb->best_chars = chars;
    }
    pb->all_bold = (pb->hint.n_lines == 0 || pb->all_bold) && l->bold;
    if (l->x1 > l->x0) {
        pb->x0 = pb->hint.n_lines == 0 ? l->x0 : fminf(pb->x0, l->x0);
        pb->x1 = pb->hint.n_lines == 0 ? l->x1 : fmaxf(pb->x1, l->x1);
    }
    if (l->heading)
        pb->hint.md = l->heading;
    pb->hint.n_lines++;
    join_line(&pb->text, t, n);
}

static void para_flush(para_builder *pb, ingest_page *page, size_t *cap, para_hint **hints)
{
    if (pb->text.len > 0) {
        size_t old_cap = *cap;
        DQ_GROW(page->paras, *cap, page->n_paras + 1);
        if (*cap != old_cap)
            *hints = dq_realloc(*hints, *cap * sizeof **hints);
        page->paras[page->n_paras].text = dq_strndup(pb->text.data, pb->text.len);
        page->paras[page->n_paras].heading = 0;
        page->paras[page->n_paras].loc = pb->loc;
        page->paras[page->n_paras].table = 0;
        page->paras[page->n_paras].header = NULL;
        pb->hint.bold = pb->all_bold;
        float mid = (pb->x0 + pb->x1) / 2, w = pb->page_w;
        pb->hint.centred = w > 0 && pb->x1 > pb->x0 && pb->x1 - pb->x0 < CENTRED_MAX_WIDTH * w &&
                           fabsf(mid - w / 2) < CENTRED_SLACK * w;
        (*hints)[page->n_paras] = pb->hint;
        page->n_paras++;
    }
    dq_buf_clear(&pb->text);
    memset(&pb->hint, 0, sizeof pb->hint);
    pb->best_chars = 0;
    pb->all_bold = false;
    pb->x0 = pb->x1 = 0;
}

/* Counts the characters of t[0..n) under font size (0: unknown, not counted). */
static void size_hist_add(size_t *hist, float size, const char *t, size_t n)
{
    int key = size > 0 ? (int)lroundf(size * 2.0f) : 0;
    if (key > 0 && key <= MAX_SIZE_KEY)
        hist[key] += utf8_length(t, n);
}

/* The size most characters of hist are set in, 0 when none is known. */
static float size_hist_mode(const size_t *hist)
{
    size_t best = 0;
    float size = 0;
    for (int key = 1; key <= MAX_SIZE_KEY; key++) {
        if (hist[key] > best) {
            best = hist[key];
            size = (float)key / 2.0f;
        }
    }
    return size;
}

/* ---- the pipeline ------------------------------------------------------- */

int ingest_clean(const ingest_raw_doc *raw, ingest_doc *out)
{
    memset(out, 0, sizeof *out);
    size_t n_pages = raw->n_pages;

    /* Pass 1: clean every line once. */
    size_t total = 0;
    for (size_t p = 0; p < n_pages; p++)
        for (size_t b = 0; b < raw->pages[p].n_blocks; b++)
            total += raw->pages[p].blocks[b].n_lines;
    line_ref *lines = dq_calloc(total ? total : 1, sizeof *lines);
    size_t *page_first = dq_malloc((n_pages + 1) * sizeof *page_first);
    dq_buf arena = DQ_BUF_INIT;
    size_t k = 0;
    for (size_t p = 0; p < n_pages; p++) {
        page_first[p] = k;
        const ingest_raw_page *page = &raw->pages[p];
        for (size_t b = 0; b < page->n_blocks; b++) {
            for (size_t l = 0; l < page->blocks[b].n_lines; l++, k++) {
                const ingest_line *src = &page->blocks[b].lines[l];
                lines[k].src = src;
                lines[k].block = b;
                lines[k].off = arena.len;
                if (src->text) {
                    size_t len = strlen(src->text);
                    bool keep = page->width <= 0 || cjk_touching(src->text, len);
                    clean_line(src->text, len, keep, &arena);
                }
                lines[k].len = arena.len - lines[k].off;
            }
        }
    }
    page_first[n_pages] = k;
    const char *text = arena.data ? arena.data : "";

    /* Pass 2: page numbers, then running headers, footers and boilerplate.
     * Text files have no page furniture (width 0), so their lines are left
     * alone. */
    candidate *cands = dq_malloc((total + 1) * sizeof *cands);
    size_t n_cands = 0, n_boxed = 0;
    for (size_t p = 0; p < n_pages; p++) {
        if (raw->pages[p].width <= 0)
            continue;
        n_boxed++;
        line_ref *pl = lines + page_first[p];
        size_t n = page_first[p + 1] - page_first[p];
        size_t edge[4];
        size_t ne = edge_lines(pl, n, edge);
        float h = raw->pages[p].height;
        for (size_t e = 0; e < ne; e++)
            if (!between_lines(pl, n, edge[e]) &&
                is_page_number(text + pl[edge[e]].off, pl[edge[e]].len))
                pl[edge[e]].drop = true;
        ne = edge_lines(pl, n, edge);
        for (size_t e = 0; e < ne; e++) {
            line_ref *lr = &pl[edge[e]];
            lr->hash = masked_hash(text + lr->off, lr->len);
            bool margin =
                h > 0 && has_box(lr->src) && (lr->src->y1 <= 0.1f * h || lr->src->y0 >= 0.9f * h);
            cands[n_cands++] = (candidate){lr->hash, p, margin};
        }
        for (size_t i = 0; i < n; i++) {
            line_ref *lr = &pl[i];
            if (lr->hash || lr->drop || !boilerplate_shaped(raw, p, lr, text))
                continue;
            lr->hash = masked_hash(text + lr->off, lr->len);
            cands[n_cands++] = (candidate){lr->hash, p, false};
        }
    }
    qsort(cands, n_cands, sizeof *cands, cmp_candidate);
    uint64_t *repeated = dq_malloc((n_cands + 1) * sizeof *repeated);
    size_t n_repeated = 0;
    for (size_t i = 0; i < n_cands;) {
        size_t j = i, pages = 0;
        bool margin = true;
        for (; j < n_cands && cands[j].hash == cands[i].hash; j++) {
            pages += j == i || cands[j].page != cands[j - 1].page;
            margin &= cands[j].margin;
        }
        /* Three pages make a pattern; a two-page document's header can only
         * be told from text by sitting in the page margin on both pages. */
        if ((pages >= 3 && 2 * pages >= n_boxed) || (pages == 2 && n_boxed == 2 && margin))
            repeated[n_repeated++] = cands[i].hash;
        i = j;
    }
    if (n_repeated) {
        for (size_t p = 0; p < n_pages; p++) {
            if (raw->pages[p].width <= 0)
                continue;
            line_ref *pl = lines + page_first[p];
            for (size_t i = 0; i < page_first[p + 1] - page_first[p]; i++)
                if (pl[i].hash &&
                    bsearch(&pl[i].hash, repeated, n_repeated, sizeof *repeated, cmp_u64))
                    pl[i].drop = true;
        }
    }
    free(repeated);
    free(cands);

    /* Pass 3: paragraphs, and the body font size (char-weighted mode). */
    size_t *size_hist = dq_calloc(MAX_SIZE_KEY + 1, sizeof *size_hist);
    size_t *page_hist = dq_calloc(MAX_SIZE_KEY + 1, sizeof *page_hist);
    out->n_pages = n_pages;
    out->pages = dq_calloc(n_pages ? n_pages : 1, sizeof *out->pages);
    para_hint **hints = dq_calloc(n_pages ? n_pages : 1, sizeof *hints);
    para_builder pb;
    memset(&pb, 0, sizeof pb);
    for (size_t p = 0; p < n_pages; p++) {
        ingest_page *page = &out->pages[p];
        page->number = raw->pages[p].number;
        page->label = raw->pages[p].label ? dq_strdup(raw->pages[p].label) : NULL;
        pb.page_w = raw->pages[p].width;
        memset(page_hist, 0, (MAX_SIZE_KEY + 1) * sizeof *page_hist);
        size_t cap = 0;
        const line_ref *pl = lines + page_first[p];
        size_t n = page_first[p + 1] - page_first[p];
        for (size_t i = 0; i < n;) {
            /* One block: lines i..j. */
            size_t j = i;
            block_extent ext = {INFINITY, -INFINITY, INFINITY};
            const ingest_line *above = NULL;
            for (; j < n && pl[j].block == pl[i].block; j++) {
                const ingest_line *src = pl[j].src;
                if (pl[j].drop || !pl[j].len || !has_box(src))
                    continue;
                ext.x0 = fminf(ext.x0, src->x0);
                ext.x1 = fmaxf(ext.x1, src->x1);
                if (above)
                    ext.min_gap = fminf(ext.min_gap, src->y0 - above->y1);
                above = src;
            }
            const ingest_block *blk = &raw->pages[p].blocks[pl[i].block];
            if (blk->table) {
                /* A table: one paragraph per row, never joined, never page
                 * furniture (a header repeated atop each page is the table's). */
                for (size_t l = i; l < j; l++) {
                    if (pl[l].len == 0)
                        continue;
                    para_add_line(&pb, pl[l].src, text + pl[l].off, pl[l].len);
                    size_hist_add(page_hist, pl[l].src->size, text + pl[l].off, pl[l].len);
                    size_t before = page->n_paras;
                    para_flush(&pb, page, &cap, &hints[p]);
                    if (page->n_paras == before)
                        continue;
                    ingest_para *row = &page->paras[before];
                    row->table = blk->table;
                    bool is_header = blk->header && !strcmp(pl[l].src->text, blk->header);
                    row->header = blk->header && !is_header ? dq_strdup(blk->header) : NULL;
                }
                i = j;
                continue;
            }
            const line_ref *prev = NULL;
            for (size_t l = i; l < j; l++) {
                const line_ref *lr = &pl[l];
                if (lr->drop || lr->len == 0)
                    continue;
                const char *t = text + lr->off;
                if (prev && breaks_between(prev->src, text + prev->off, prev->len, lr->src, ext))
                    para_flush(&pb, page, &cap, &hints[p]);
                para_add_line(&pb, lr->src, t, lr->len);
                size_hist_add(size_hist, lr->src->size, t, lr->len);
                size_hist_add(page_hist, lr->src->size, t, lr->len);
                prev = lr;
            }
            para_flush(&pb, page, &cap, &hints[p]);
            i = j;
        }
        float page_body = size_hist_mode(page_hist);
        for (size_t k = 0; k < page->n_paras; k++)
            hints[p][k].page_body = page_body;
    }
    dq_buf_free(&pb.text);
    float body = size_hist_mode(size_hist);
    free(size_hist);
    free(page_hist);

    out->cite = raw->cite;
    headings_detect(out, hints, body, raw->styled);
    /* A bold header row is no section title. */
    for (size_t p = 0; p < n_pages; p++)
        for (size_t i = 0; i < out->pages[p].n_paras; i++)
            if (out->pages[p].paras[i].table)
                out->pages[p].paras[i].heading = 0;

    if (raw->title) {
        dq_buf t = DQ_BUF_INIT;
        clean_line(raw->title, strlen(raw->title), false, &t);
        if (t.len)
            out->title = dq_buf_take(&t);
        dq_buf_free(&t);
    }
    for (size_t p = 0; p < n_pages && !out->title; p++)
        for (size_t i = 0; i < out->pages[p].n_paras && !out->title; i++)
            if (out->pages[p].paras[i].heading == 1)
                out->title = dq_strdup(out->pages[p].paras[i].text);

    for (size_t p = 0; p < n_pages; p++)
        free(hints[p]);
    free(hints);
    free(lines);
    free(page_first);
    dq_buf_free(&arena);
    return 0;
}

void ingest_doc_free(ingest_doc *doc)
{
    if (!doc)
        return;
    for (size_t p = 0; p < doc->n_pages; p++) {
        for (size_t i = 0; i < doc->pages[p].n_paras; i++) {
            free(doc->pages[p].paras[i].text);
            free(doc->pages[p].paras[i].header);
        }
        free(doc->pages[p].paras);
        free(doc->pages[p].label);
    }
    free(doc->pages);
    free(doc->title);
    memset(doc, 0, sizeof *doc);
}

char *ingest_page_text(const ingest_page *page)
{
    dq_buf b = DQ_BUF_INIT;
    for (size_t i = 0; i < page->n_paras; i++) {
        if (i)
            dq_buf_append(&b, "\n\n", 2);
        dq_buf_puts(&b, page->paras[i].text);
    }
    return dq_buf_take(&b);
}
