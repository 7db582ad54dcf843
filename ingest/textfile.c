/* textfile.c - .txt and .md files to pages, paragraphs and lines, in UTF-8 whatever they came in.
 *
 * Decoding: a UTF-8 BOM is dropped, a UTF-16 BOM selects UTF-16, valid UTF-8
 * is taken as is, and anything else must convert cleanly from GB18030 (a
 * superset of GBK and GB2312, which is what Chinese Windows saves as "ANSI").
 * Then CR/CRLF become LF, controls go, pages split at form feeds and blank
 * lines separate blocks. Markdown is read lightly: headings become their own
 * block with a level, inline markup and link targets are dropped, code keeps
 * its lines; it is not a renderer.
 */
#include "ingest/raw.h"

#include "common/common.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

/* Converts in[0..n) from charset from to UTF-8, appended to out. Fails on any
 * invalid or truncated input sequence instead of guessing. */
static int convert_to_utf8(const char *from, const char *in, size_t n, dq_buf *out)
{
    iconv_t cd = iconv_open("UTF-8", from);
    if (cd == (iconv_t)-1)
        return -1;
    char *ip = (char *)in;
    size_t il = n;
    dq_buf_reserve(out, n + n / 2 + 16);
    int rc = 0;
    while (il > 0) {
        char *op = out->data + out->len;
        size_t ol = out->cap - out->len - 1;
        size_t r = iconv(cd, &ip, &il, &op, &ol);
        out->len = (size_t)(op - out->data);
        if (r == (size_t)-1) {
            if (errno == E2BIG) {
                dq_buf_reserve(out, il * 2 + 64);
                continue;
            }
            rc = -1;
            break;
        }
    }
    out->data[out->len] = '\0';
    iconv_close(cd);
    if (rc == 0 && !utf8_valid(out->data, out->len))
        rc = -1;
    return rc;
}

/* Decodes raw bytes into out as UTF-8. */
static int decode(const char *s, size_t n, dq_buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
        if (!utf8_valid(s + 3, n - 3)) {
            dq_set_error("invalid UTF-8 text after a UTF-8 byte order mark");
            return -1;
        }
        dq_buf_append(out, s + 3, n - 3);
        return 0;
    }
    if (n >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
        if (convert_to_utf8(u[0] == 0xFF ? "UTF-16LE" : "UTF-16BE", s + 2, n - 2, out) < 0) {
            dq_set_error("invalid UTF-16 text");
            return -1;
        }
        return 0;
    }
    if (utf8_valid(s, n)) {
        dq_buf_append(out, s, n);
        return 0;
    }
    if (convert_to_utf8("GB18030", s, n, out) < 0) {
        dq_set_error("unknown text encoding (not UTF-8, UTF-16 or GB18030)");
        return -1;
    }
    return 0;
}

/* Rewrites the decoded text in place: CRLF and CR become LF, tabs become
 * spaces, other controls (C0, DEL, C1) and stray BOMs are dropped; '\n' and
 * '\f' stay as the line and page separators. Fails on NUL bytes or a text
 * where controls are more than 1 byte in 100: that is binary data which
 * happened to decode. */
static int normalise(dq_buf *b)
{
    char *s = b->data;
    size_t n = b->len, w = 0, controls = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r') {
            s[w++] = '\n';
            i += (i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
            continue;
        }
        if (c == '\n' || c == '\f') {
            s[w++] = (char)c;
            i++;
            continue;
        }
        if (c == '\t') {
            s[w++] = ' ';
            i++;
            continue;
        }
        if (c == 0) {
            dq_set_error("not a text file (binary data)");
            return -1;
        }
        if (c < 0x20 || c == 0x7F) {
            controls++;
            i++;
            continue;
        }
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9F) { /* C1 control */
            controls++;
            i += 2;
            continue;
        }
        if (c == 0xEF && i + 2 < n && (unsigned char)s[i + 1] == 0xBB &&
            (unsigned char)s[i + 2] == 0xBF) { /* U+FEFF inside the text */
            i += 3;
            continue;
        }
        s[w++] = (char)c;
        i++;
    }
    if (controls * 100 > n) {
        dq_set_error("not a text file (binary data)");
        return -1;
    }
    b->len = w;
    s[w] = '\0';
    return 0;
}

/* ---- building pages ------------------------------------------------------ */

typedef struct {
    ingest_raw_doc *doc;
    size_t page;     /* index of the current page in doc->pages */
    bool open;       /* the page's last block takes more lines */
    size_t n_lines;  /* lines emitted in the whole document */
    dq_buf tmp;      /* scratch for one line's inline markup removal */
} builder;

static ingest_raw_page *cur_page(builder *b)
{
    return &b->doc->pages[b->page];
}

static void close_block(builder *b)
{
    b->open = false;
}

/* Adds s[0..n) (trimmed of spaces) as a line of the open paragraph. */
static ingest_line *add_line(builder *b, const char *s, size_t n, int heading)
{
    while (n > 0 && *s == ' ')
        s++, n--;
    while (n > 0 && s[n - 1] == ' ')
        n--;
    if (n == 0)
        return NULL;
    ingest_raw_page *p = cur_page(b);
    if (!b->open || heading)
        raw_add_block(p);
    b->open = !heading;
    b->n_lines++;
    ingest_line *l = raw_add_line(&p->blocks[p->n_blocks - 1], dq_strndup(s, n));
    l->heading = heading;
    return l;
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ')
            return false;
    return true;
}

/* ---- Markdown ------------------------------------------------------------ */

typedef struct {
    bool in_fence;
    char fence_char;
    size_t fence_len;
    bool in_comment; /* inside a multi-line <!-- --> */
} md_state;

static bool is_space_at(const char *s, size_t n, size_t i)
{
    return i >= n || s[i] == ' ';
}

static bool is_alnum_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_ascii_punct(unsigned char c)
{
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

/* The index of the ']' closing the '[' at s[i], or n. */
static size_t match_bracket(const char *s, size_t n, size_t i)
{
    int depth = 0;
    for (size_t j = i; j < n; j++) {
        if (s[j] == '\\') {
            j++;
            continue;
        }
        if (s[j] == '[')
            depth++;
        else if (s[j] == ']' && --depth == 0)
            return j;
    }
    return n;
}

/* Where the brackets and parentheses of one line close, found in one pass.
 * Scanning forward from every '[' (match_bracket) is quadratic on a line of
 * unclosed brackets: a 200 KB line of "[" took seconds, a 5 MB one hours. A
 * stack pass pairs them all in linear time with the same answers, so a
 * substring (link text handed to md_inline again) can use the line's table. */
#define MD_UNKNOWN SIZE_MAX

typedef struct {
    const char *line;
    size_t n;
    size_t *close; /* (n) for a '[' or '(' at i: its closing index, n when
                      unclosed, MD_UNKNOWN for a '[' the pass saw escaped;
                      NULL until a link is first looked for */
    size_t gt_from, next_gt; /* no '>' in [gt_from, next_gt): next_gt is
                                the next one, or n; MD_UNKNOWN before the
                                first lookup */
} md_line_ctx;

static void md_pair(md_line_ctx *c)
{
    size_t n = c->n;
    c->close = dq_malloc((n ? n : 1) * sizeof *c->close);
    size_t *stack = dq_malloc((n ? n : 1) * sizeof *stack), depth = 0;
    for (size_t j = 0; j < n; j++) {
        c->close[j] = MD_UNKNOWN;
        if (c->line[j] == '\\' && j + 1 < n) {
            c->close[++j] = MD_UNKNOWN; /* escaped, like match_bracket */
        } else if (c->line[j] == '[') {
            stack[depth++] = j;
            c->close[j] = n;
        } else if (c->line[j] == ']' && depth > 0) {
            c->close[stack[--depth]] = j;
        }
    }
    depth = 0; /* match_paren knows no escapes */
    for (size_t j = 0; j < n; j++) {
        if (c->line[j] == '(') {
            stack[depth++] = j;
            c->close[j] = n;
        } else if (c->line[j] == ')' && depth > 0) {
            c->close[stack[--depth]] = j;
        }
    }
    free(stack);
}

/* The index in s[0..n) (s inside c's line) of what closes the '[' or '('
 * at s[i], or n: what a forward scan of s alone would find. */
static size_t md_close(md_line_ctx *c, const char *s, size_t n, size_t i)
{
    if (!c->close)
        md_pair(c);
    size_t base = (size_t)(s - c->line);
    size_t j = c->close[base + i];
    if (j == MD_UNKNOWN)
        return match_bracket(s, n, i);
    return j < base + n ? j - base : n;
}

/* Appends s[0..n) to out without inline Markdown: emphasis and code
 * delimiters, link targets, images, autolink brackets and HTML tags go;
 * backslash escapes resolve. Delimiters with spaces on both sides ("2 * 3",
 * a "* item" bullet) and '_' inside words (snake_case) are text. s lies
 * inside c's line. */
static void md_inline_in(md_line_ctx *c, const char *s, size_t n, dq_buf *out)
{
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\\' && i + 1 < n && is_ascii_punct((unsigned char)s[i + 1])) {
            dq_buf_putc(out, s[i + 1]);
            i += 2;
            continue;
        }
        if (ch == '`') {
            while (i < n && s[i] == '`')
                i++;
            continue;
        }
        if (ch == '*' || ch == '_') {
            size_t j = i;
            while (j < n && s[j] == (char)ch)
                j++;
            bool before = i == 0 || s[i - 1] == ' ';
            bool after = is_space_at(s, n, j);
            bool intraword = i > 0 && j < n && is_alnum_byte((unsigned char)s[i - 1]) &&
                             is_alnum_byte((unsigned char)s[j]);
            if ((before && after) || (ch == '_' && intraword))
                dq_buf_append(out, s + i, j - i);
            i = j;
            continue;
        }
        if ((ch == '!' && i + 1 < n && s[i + 1] == '[') || ch == '[') {
            size_t open = ch == '!' ? i + 1 : i;
            size_t close = md_close(c, s, n, open);
            if (close < n && close + 1 < n && (s[close + 1] == '(' || s[close + 1] == '[')) {
                size_t end = md_close(c, s, n, close + 1);
                if (end < n) {
                    if (ch == '[')
                        md_inline_in(c, s + open + 1, close - open - 1, out);
                    i = end + 1;
                    continue;
                }
            }
            dq_buf_putc(out, (char)ch);
            i++;
            continue;
        }
        if (ch == '<') {
            size_t abs = (size_t)(s - c->line) + i;
            if (c->next_gt == MD_UNKNOWN || abs < c->gt_from || abs > c->next_gt) {
                const char *gt = memchr(c->line + abs, '>', c->n - abs);
                c->gt_from = abs;
                c->next_gt = gt ? (size_t)(gt - c->line) : c->n;
            }
            size_t end = c->next_gt - (size_t)(s - c->line);
            if (end > n)
                end = n;
            if (end < n) {
                const char *in = s + i + 1;
                size_t len = end - i - 1;
                if ((len > 7 && strncmp(in, "http://", 7) == 0) ||
                    (len > 8 && strncmp(in, "https://", 8) == 0) ||
                    (len > 7 && strncmp(in, "mailto:", 7) == 0)) {
                    dq_buf_append(out, in, len);
                    i = end + 1;
                    continue;
                }
                size_t k = in[0] == '/' ? 1 : 0;
                bool tag = k < len && ((in[k] >= 'a' && in[k] <= 'z') ||
                                       (in[k] >= 'A' && in[k] <= 'Z'));
                while (tag && k < len && (is_alnum_byte((unsigned char)in[k]) || in[k] == '-'))
                    k++;
                if (tag && (k == len || in[k] == ' ' || in[k] == '/') && !memchr(in, '<', len)) {
                    i = end + 1;
                    continue;
                }
            }
        }
        dq_buf_putc(out, (char)ch);
        i++;
    }
}

static void md_inline(const char *s, size_t n, dq_buf *out)
{
    md_line_ctx c = {s, n, NULL, MD_UNKNOWN, MD_UNKNOWN};
    md_inline_in(&c, s, n, out);
    free(c.close);
}

/* Removes <!-- --> comments from line[0..*n) in place, carrying an unclosed
 * one to the next lines through st->in_comment. */
static void md_strip_comments(md_state *st, char *line, size_t *n)
{
    size_t w = 0, i = 0, len = *n;
    while (i < len) {
        if (st->in_comment) {
            const char *end = memmem(line + i, len - i, "-->", 3);
            if (!end) {
                i = len;
                break;
            }
            i = (size_t)(end - line) + 3;
            st->in_comment = false;
            continue;
        }
        if (i + 4 <= len && memcmp(line + i, "<!--", 4) == 0) {
            st->in_comment = true;
            i += 4;
            continue;
        }
        line[w++] = line[i++];
    }
    *n = w;
}

/* Level of an ATX heading ("## Title") and where its text starts, or 0. */
static int md_atx(const char *s, size_t n, size_t *text)
{
    size_t i = 0;
    while (i < n && i < 3 && s[i] == ' ')
        i++;
    int level = 0;
    while (i < n && s[i] == '#' && level < 7)
        i++, level++;
    if (level == 0 || level > 6 || (i < n && s[i] != ' '))
        return 0;
    *text = i;
    return level;
}

/* True when s is one character c repeated at least min times, with trailing
 * spaces, or with spaces anywhere when spaced is set (a thematic break). */
static bool md_rule(const char *s, size_t n, char c, size_t min, bool spaced)
{
    while (n > 0 && s[n - 1] == ' ')
        n--;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == c)
            count++;
        else if (!spaced || s[i] != ' ')
            return false;
    }
    return count >= min;
}

/* Squeezes the space runs that removed markup leaves ("a ![x](y) b"). */
static void squeeze_spaces(dq_buf *b)
{
    size_t w = 0;
    for (size_t i = 0; i < b->len; i++)
        if (b->data[i] != ' ' || w == 0 || b->data[w - 1] != ' ')
            b->data[w++] = b->data[i];
    b->len = w;
    if (b->data)
        b->data[w] = '\0';
}

static void md_line(builder *b, md_state *st, char *line, size_t n)
{
    size_t indent = 0;
    while (indent < n && indent < 3 && line[indent] == ' ')
        indent++;
    const char *t = line + indent;
    size_t tn = n - indent;

    if (st->in_fence) {
        size_t k = 0;
        while (k < tn && t[k] == st->fence_char)
            k++;
        if (k >= st->fence_len && is_blank(t + k, tn - k)) {
            st->in_fence = false;
            close_block(b);
        } else if (is_blank(line, n)) {
            close_block(b);
        } else {
            add_line(b, line, n, 0);
        }
        return;
    }

    bool was_blank = is_blank(line, n);
    md_strip_comments(st, line, &n);
    if (!was_blank && is_blank(line, n))
        return; /* a comment-only line is not a paragraph break */
    indent = 0;
    while (indent < n && indent < 3 && line[indent] == ' ')
        indent++;
    t = line + indent;
    tn = n - indent;

    if (tn >= 3 && (t[0] == '`' || t[0] == '~') && t[1] == t[0] && t[2] == t[0]) {
        size_t k = 0;
        while (k < tn && t[k] == t[0])
            k++;
        st->in_fence = true;
        st->fence_char = t[0];
        st->fence_len = k;
        close_block(b);
        return;
    }
    if (is_blank(line, n)) {
        close_block(b);
        return;
    }

    size_t text;
    int level = md_atx(line, n, &text);
    if (level) {
        size_t end = n;
        while (end > text && line[end - 1] == ' ')
            end--;
        size_t hashes = end;
        while (hashes > text && line[hashes - 1] == '#')
            hashes--;
        if (hashes == text || line[hashes - 1] == ' ')
            end = hashes;
        dq_buf_clear(&b->tmp);
        md_inline(line + text, end - text, &b->tmp);
        squeeze_spaces(&b->tmp);
        close_block(b);
        if (b->tmp.len)
            add_line(b, b->tmp.data, b->tmp.len, level);
        return;
    }

    /* A setext underline turns the paragraph above it into a heading. */
    ingest_raw_page *p = cur_page(b);
    bool eq = md_rule(t, tn, '=', 1, false), dash = md_rule(t, tn, '-', 2, false);
    if ((eq || dash) && b->open && p->n_blocks > 0) {
        ingest_block *blk = &p->blocks[p->n_blocks - 1];
        dq_buf_clear(&b->tmp);
        for (size_t i = 0; i < blk->n_lines; i++) {
            if (i)
                dq_buf_putc(&b->tmp, ' ');
            dq_buf_puts(&b->tmp, blk->lines[i].text);
            free(blk->lines[i].text);
        }
        blk->lines[0].text = dq_buf_take(&b->tmp);
        blk->lines[0].heading = eq ? 1 : 2;
        b->n_lines -= blk->n_lines - 1;
        blk->n_lines = 1;
        close_block(b);
        return;
    }
    if (md_rule(t, tn, '-', 3, true) || md_rule(t, tn, '*', 3, true) ||
        md_rule(t, tn, '_', 3, true)) {
        close_block(b);
        return;
    }
    /* Reference definitions ("[1]: https://...") are link targets, not text. */
    if (tn > 0 && t[0] == '[') {
        size_t close = match_bracket(t, tn, 0);
        if (close + 1 < tn && t[close + 1] == ':')
            return;
    }
    while (tn > 0 && t[0] == '>') {
        t++, tn--;
        if (tn > 0 && t[0] == ' ')
            t++, tn--;
    }
    if (is_blank(t, tn)) {
        close_block(b);
        return;
    }
    dq_buf_clear(&b->tmp);
    md_inline(t, tn, &b->tmp);
    squeeze_spaces(&b->tmp);
    if (b->tmp.len)
        add_line(b, b->tmp.data, b->tmp.len, 0);
}

/* Where the text starts once a YAML front matter block (a first line "---"
 * up to a line "---" or "...") is skipped. */
static size_t md_front_matter(const char *s, size_t n)
{
    if (n < 4 || memcmp(s, "---\n", 4) != 0)
        return 0;
    for (size_t i = 4; i < n;) {
        const char *nl = memchr(s + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - s) : n;
        size_t len = end - i;
        while (len > 0 && s[i + len - 1] == ' ')
            len--;
        if (len == 3 && (memcmp(s + i, "---", 3) == 0 || memcmp(s + i, "...", 3) == 0))
            return nl ? end + 1 : n;
        i = end + 1;
    }
    return 0;
}

int textfile_extract(const char *path, bool markdown, ingest_raw_doc *out)
{
    dq_buf raw = DQ_BUF_INIT;
    if (dq_read_file(path, &raw) < 0)
        return -1;
    int rc = textfile_parse(raw.data, raw.len, markdown, out);
    dq_buf_free(&raw);
    return rc;
}

int textfile_parse(const char *data, size_t len, bool markdown, ingest_raw_doc *out)
{
    dq_buf text = DQ_BUF_INIT;
    int rc = -1;
    if (len == 0) {
        dq_set_error("empty file");
        goto done;
    }
    if (decode(data, len, &text) < 0 || (text.data && normalise(&text) < 0))
        goto done;

    builder b = {out, 0, false, 0, DQ_BUF_INIT};
    md_state st = {false, 0, 0, false};
    raw_add_page(out, 1);
    const char *s = text.data ? text.data : "";
    size_t n = text.len;
    size_t i = markdown ? md_front_matter(s, n) : 0;
    while (i < n) {
        size_t end = i;
        while (end < n && s[end] != '\n' && s[end] != '\f')
            end++;
        if (markdown)
            md_line(&b, &st, text.data + i, end - i);
        else if (is_blank(s + i, end - i))
            close_block(&b);
        else
            add_line(&b, s + i, end - i, 0);
        if (end < n && s[end] == '\f') {
            b.page = out->n_pages;
            raw_add_page(out, (int)out->n_pages + 1);
            b.open = false;
        }
        i = end + 1;
    }
    dq_buf_free(&b.tmp);
    /* A form feed at the very end starts no real page. */
    while (out->n_pages > 1 && out->pages[out->n_pages - 1].n_blocks == 0) {
        out->n_pages--;
        free(out->pages[out->n_pages].blocks);
    }
    if (b.n_lines == 0) {
        dq_set_error("empty file");
        goto done;
    }
    rc = 0;
done:
    dq_buf_free(&text);
    return rc;
}
