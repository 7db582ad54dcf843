/* split.c - cuts a cleaned document into encoder-sized chunks with section paths and page spans.
 *
 * Sizes are counted in integer units so the split is exact and deterministic:
 * a CJK character costs chunk_words units and a Latin word chunk_cjk units,
 * and a chunk holds chunk_cjk * chunk_words units. Text goes in as whole
 * paragraphs when they fit; a paragraph that would overflow starts a new
 * chunk, and only one too large for any chunk is cut into sentences, then
 * clauses, then (last resort) at whitespace or a character boundary. A chunk
 * that ends mid-section hands its last whole sentences (up to the overlap
 * budget) to the next one, trimmed further if the next text needs the room.
 * Documents without pages get a label where their chunk starts (see
 * ingest_cite): a sheet's or slide's chunks never cross into the next unit,
 * and section numbers (§3.2) count the headings of each level as they come.
 * Table rows (ingest_para.table) are never cut while they fit a chunk, and a
 * table that goes on in the next chunk repeats its header line there.
 */
#include "ingest/ingest.h"

#include "common/common.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 16, LEVEL_PARA = 0, LEVEL_SENTENCE = 1, LEVEL_CLAUSE = 2 };
/* Word characters in a row that cost one word: a 50 MB "word" with no break
 * is no word, and costing it as one would make it one chunk. */
enum { LONG_WORD = 32 };

typedef struct {
    size_t off; /* text from this byte on comes from page */
    int page;
} page_mark;

typedef struct {
    int64_t per_cjk, per_word, full, overlap_max;
    chunk_list *out;
    size_t out_cap;

    /* The chunk being filled. */
    dq_buf text;
    int64_t cost;
    bool has_body; /* holds text beyond the overlap it started with */
    bool has_table; /* holds a table row */
    int table;      /* the table the last text appended belongs to, 0 for text */
    page_mark *marks;
    size_t n_marks, marks_cap;
    size_t last_para; /* paragraph the last appended text came from */

    /* The overlap waiting for the next chunk: ov.data[starts[i]..] is the
     * suffix made of the last n_starts - i sentences, costing costs[i]. */
    dq_buf ov;
    size_t *ov_starts;
    int64_t *ov_costs;
    size_t n_ov, ov_cap;
    page_mark *ov_marks;
    size_t n_ov_marks, ov_marks_cap;

    /* The section path. */
    int levels[MAX_DEPTH];
    char *titles[MAX_DEPTH];
    int depth;
    dq_buf section;

    /* The citation label (doc->cite). */
    ingest_cite cite;
    bool paged;         /* CITE_SECTIONS with pages where the file recorded them */
    int sec[10];        /* headings seen per level 1..9 under the current ones */
    int sec_level;      /* level of the current heading, 0 before the first */
    int para_in_sec;    /* body paragraphs since it */
    const char *unit;   /* the label of the page being read */
    int cur_loc;        /* the paragraph being read's loc */
    dq_buf label;       /* the chunk's label where its own text starts */
    int loc_lo, loc_hi; /* the span of locs in the chunk, 0 when none */
} splitter;

split_params split_default_params(void)
{
    split_params p = {350, 250, 0.15f};
    return p;
}

static inline bool is_word_char(uint32_t cp)
{
    return (cp < 0x80 && (((cp | 32) >= 'a' && (cp | 32) <= 'z') || (cp >= '0' && cp <= '9'))) ||
           (cp >= 0xC0 && cp < 0x2000 && cp != 0xD7 && cp != 0xF7);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* What one code point adds to a chunk. A word costs per_word at its first
 * character, a CJK character per_cjk. A lone punctuation mark is free, but
 * each further symbol in a run (a wall of '<', dot leaders, an emoji log)
 * costs like a CJK character, so text without words still makes chunks of
 * sensible size. */
typedef enum { CH_SPACE, CH_WORD, CH_CJK, CH_SYMBOL } char_kind;

static inline char_kind kind_of(uint32_t cp)
{
    if (cp >= 0x80 && uc_is_cjk(cp)) /* no call for ASCII, most characters */
        return CH_CJK;
    if (is_word_char(cp))
        return CH_WORD;
    if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0x3000)
        return CH_SPACE;
    return CH_SYMBOL;
}

/* The cost of a character of kind k after one of kind prev; *run counts the
 * word characters in a row so far. */
static int64_t char_cost(const splitter *sp, char_kind k, char_kind prev, size_t *run)
{
    switch (k) {
    case CH_CJK:
        return sp->per_cjk;
    case CH_WORD:
        *run = prev == CH_WORD ? *run + 1 : 0;
        return *run % LONG_WORD == 0 ? sp->per_word : 0;
    case CH_SYMBOL:
        return prev == CH_SYMBOL ? sp->per_cjk : 0;
    default:
        return 0;
    }
}

static int64_t text_cost(const splitter *sp, const char *s, size_t n)
{
    int64_t cost = 0;
    char_kind prev = CH_SPACE;
    size_t run = 0;
    for (size_t i = 0; i < n;) {
        int len;
        uint32_t cp = (unsigned char)s[i] < 0x80 ? (len = 1, (unsigned char)s[i])
                                                 : utf8_at(s, n, i, &len);
        char_kind k = kind_of(cp);
        cost += char_cost(sp, k, prev, &run);
        prev = k;
        i += (size_t)len;
    }
    return cost;
}

static void add_mark(page_mark **marks, size_t *n, size_t *cap, size_t off, int page)
{
    if (*n && (*marks)[*n - 1].page == page)
        return;
    if (*n && (*marks)[*n - 1].off == off) {
        (*marks)[*n - 1].page = page;
        return;
    }
    DQ_GROW(*marks, *cap, *n + 1);
    (*marks)[(*n)++] = (page_mark){off, page};
}

/* The page the byte at off came from. */
static int page_at(const page_mark *marks, size_t n, size_t off)
{
    int page = n ? marks[0].page : 0;
    for (size_t i = 0; i < n && marks[i].off <= off; i++)
        page = marks[i].page;
    return page;
}

static void section_rebuild(splitter *sp)
{
    dq_buf_clear(&sp->section);
    for (int i = 0; i < sp->depth; i++) {
        if (i)
            dq_buf_puts(&sp->section, " > ");
        dq_buf_puts(&sp->section, sp->titles[i]);
    }
}

/* ---- the overlap -------------------------------------------------------- */

typedef struct {
    size_t *starts;
    size_t n, cap;
} piece_starts;

static int collect_start(void *ctx, size_t start, size_t end)
{
    (void)end;
    piece_starts *ps = ctx;
    DQ_GROW(ps->starts, ps->cap, ps->n + 1);
    ps->starts[ps->n++] = start;
    return 0;
}

/* Keeps the last whole sentences of the chunk text[0..len) that fit the
 * overlap budget for the next chunk. */
static void overlap_capture(splitter *sp, size_t len)
{
    sp->n_ov = 0;
    sp->n_ov_marks = 0;
    dq_buf_clear(&sp->ov);
    if (sp->overlap_max <= 0 || len == 0)
        return;
    piece_starts ps = {sp->ov_starts, 0, sp->ov_cap};
    text_pieces(sp->text.data, len, BOUNDARY_SENTENCE, collect_start, &ps);
    sp->ov_starts = ps.starts;
    sp->ov_cap = ps.cap;
    sp->ov_costs = dq_realloc(sp->ov_costs, (ps.cap ? ps.cap : 1) * sizeof *sp->ov_costs);

    /* Walk back over whole sentences while they fit. */
    size_t first = ps.n;
    int64_t total = 0;
    while (first > 0) {
        size_t s = ps.starts[first - 1], e = first < ps.n ? ps.starts[first] : len;
        int64_t c = text_cost(sp, sp->text.data + s, e - s);
        if (total + c > sp->overlap_max)
            break;
        total += c;
        sp->ov_costs[first - 1] = total;
        first--;
    }
    /* A sentence that is the whole chunk is no overlap, it is a repeat. */
    if (first == ps.n || first == 0)
        return;
    size_t base = ps.starts[first];
    dq_buf_append(&sp->ov, sp->text.data + base, len - base);
    sp->n_ov = ps.n - first;
    for (size_t i = 0; i < sp->n_ov; i++) {
        sp->ov_starts[i] = ps.starts[first + i] - base;
        sp->ov_costs[i] = sp->ov_costs[first + i];
    }
    add_mark(&sp->ov_marks, &sp->n_ov_marks, &sp->ov_marks_cap, 0,
             page_at(sp->marks, sp->n_marks, base));
    for (size_t i = 0; i < sp->n_marks; i++)
        if (sp->marks[i].off > base && sp->marks[i].off < len)
            add_mark(&sp->ov_marks, &sp->n_ov_marks, &sp->ov_marks_cap, sp->marks[i].off - base,
                     sp->marks[i].page);
}

/* Starts the empty chunk with the longest overlap suffix that leaves room
 * for need more units. */
static void overlap_apply(splitter *sp, int64_t need)
{
    size_t i = 0;
    while (i < sp->n_ov && sp->ov_costs[i] + need > sp->full)
        i++;
    if (i < sp->n_ov) {
        size_t off = sp->ov_starts[i];
        dq_buf_append(&sp->text, sp->ov.data + off, sp->ov.len - off);
        sp->cost = sp->ov_costs[i];
        add_mark(&sp->marks, &sp->n_marks, &sp->marks_cap, 0,
                 page_at(sp->ov_marks, sp->n_ov_marks, off));
        for (size_t m = 0; m < sp->n_ov_marks; m++)
            if (sp->ov_marks[m].off > off)
                add_mark(&sp->marks, &sp->n_marks, &sp->marks_cap, sp->ov_marks[m].off - off,
                         sp->ov_marks[m].page);
    }
    sp->n_ov = 0;
}

/* ---- chunks ------------------------------------------------------------- */

static void flush(splitter *sp, bool keep_overlap)
{
    if (!sp->has_body) {
        dq_buf_clear(&sp->text);
        sp->cost = 0;
        sp->n_marks = 0;
        if (!keep_overlap)
            sp->n_ov = 0;
        return;
    }
    size_t start = 0, end = sp->text.len;
    while (start < end && is_space(sp->text.data[start]))
        start++;
    while (end > start && is_space(sp->text.data[end - 1]))
        end--;
    DQ_GROW(sp->out->items, sp->out_cap, sp->out->n + 1);
    chunk *c = &sp->out->items[sp->out->n];
    c->text = dq_strndup(sp->text.data + start, end - start);
    c->section = dq_strdup(sp->section.data ? sp->section.data : "");
    c->page_start = page_at(sp->marks, sp->n_marks, start);
    c->page_end = page_at(sp->marks, sp->n_marks, end ? end - 1 : 0);
    if (sp->loc_lo > 0 && sp->loc_hi > sp->loc_lo)
        dq_buf_printf(&sp->label, ", rows %d–%d", sp->loc_lo, sp->loc_hi);
    else if (sp->loc_lo > 0)
        dq_buf_printf(&sp->label, ", row %d", sp->loc_lo);
    c->label = dq_strdup(sp->label.data ? sp->label.data : "");
    dq_buf_clear(&sp->label);
    sp->loc_lo = sp->loc_hi = 0;
    c->ordinal = (int)sp->out->n;
    c->table = sp->has_table;
    sp->out->n++;
    sp->has_table = false;

    if (keep_overlap)
        overlap_capture(sp, sp->text.len);
    else
        sp->n_ov = 0;
    dq_buf_clear(&sp->text);
    sp->cost = 0;
    sp->n_marks = 0;
    sp->has_body = false;
}

/* Fixes the label of the chunk whose own text begins now, on page. */
static void label_start(splitter *sp, int page)
{
    dq_buf_clear(&sp->label);
    if (sp->cite == CITE_UNITS && sp->unit) {
        dq_buf_puts(&sp->label, sp->unit);
    } else if (sp->cite == CITE_SECTIONS) {
        if (sp->paged)
            dq_buf_printf(&sp->label, "p. %d, ", page);
        if (sp->sec_level > 0) {
            dq_buf_puts(&sp->label, "§");
            for (int l = 1; l <= sp->sec_level; l++)
                dq_buf_printf(&sp->label, l > 1 ? ".%d" : "%d", sp->sec[l]);
            dq_buf_putc(&sp->label, ' ');
        }
        dq_buf_printf(&sp->label, "¶%d", sp->para_in_sec);
    }
}

/* Appends s[0..n) (costing cost units) from paragraph para on page. */
static void append(splitter *sp, const char *s, size_t n, int64_t cost, size_t para, int page)
{
    if (sp->text.len == 0 && sp->n_ov)
        overlap_apply(sp, cost);
    if (sp->text.len == 0) {
        while (n && is_space(*s))
            s++, n--;
    } else if (para != sp->last_para) {
        while (sp->text.len && is_space(sp->text.data[sp->text.len - 1]))
            sp->text.len--;
        sp->text.data[sp->text.len] = '\0';
        while (sp->n_marks > 1 && sp->marks[sp->n_marks - 1].off >= sp->text.len)
            sp->n_marks--;
        dq_buf_putc(&sp->text, '\n');
    }
    if (n == 0)
        return;
    add_mark(&sp->marks, &sp->n_marks, &sp->marks_cap, sp->text.len, page);
    dq_buf_append(&sp->text, s, n);
    sp->cost += cost;
    if (!sp->has_body)
        label_start(sp, page);
    if (sp->cur_loc > 0) {
        if (sp->loc_lo == 0 || sp->cur_loc < sp->loc_lo)
            sp->loc_lo = sp->cur_loc;
        if (sp->cur_loc > sp->loc_hi)
            sp->loc_hi = sp->cur_loc;
    }
    sp->has_body = true;
    sp->last_para = para;
}

/* Last resort: fills chunks from s at word (Latin) or character boundaries. */
static void add_hard(splitter *sp, const char *s, size_t n, size_t para, int page)
{
    if (sp->text.len == 0 && sp->n_ov)
        overlap_apply(sp, 0);
    size_t pos = 0;
    while (pos < n) {
        int64_t room = sp->full - sp->cost, acc = 0;
        size_t i = pos, last_ws = pos;
        bool in_word = false;
        char_kind prev = CH_SPACE;
        size_t run = 0;
        uint32_t stop_cp = 0;
        while (i < n) {
            int len;
            uint32_t cp = utf8_at(s, n, i, &len);
            char_kind k = kind_of(cp);
            int64_t add = char_cost(sp, k, prev, &run);
            if (acc + add > room) {
                stop_cp = cp;
                break;
            }
            acc += add;
            in_word = k == CH_WORD;
            prev = k;
            i += (size_t)len;
            if (cp == ' ' || cp == '\t' || cp == '\n')
                last_ws = i;
        }
        size_t cut = i;
        /* Inside a Latin word, go back to the last space if there is one. */
        if (i < n && is_word_char(stop_cp) && !uc_is_cjk(stop_cp) && in_word && last_ws > pos)
            cut = last_ws;
        if (cut == pos) {
            if (sp->has_body) {
                flush(sp, false);
                continue;
            }
            int len;
            utf8_at(s, n, pos, &len);
            cut = pos + (size_t)len;
        }
        append(sp, s + pos, cut - pos, text_cost(sp, s + pos, cut - pos), para, page);
        pos = cut;
        if (pos < n)
            flush(sp, false);
    }
}

typedef struct {
    splitter *sp;
    const char *s;
    int level;
    size_t para;
    int page;
} span_ctx;

static void add_span(splitter *sp, const char *s, size_t n, int level, size_t para, int page);

static int add_piece(void *ctx, size_t start, size_t end)
{
    span_ctx *c = ctx;
    add_span(c->sp, c->s + start, end - start, c->level, c->para, c->page);
    return 0;
}

static void add_span(splitter *sp, const char *s, size_t n, int level, size_t para, int page)
{
    int64_t cost = text_cost(sp, s, n);
    bool empty = !sp->has_body;
    if ((empty && cost <= sp->full) || (!empty && sp->cost + cost <= sp->full)) {
        append(sp, s, n, cost, para, page);
        return;
    }
    if (!empty && cost <= sp->full) {
        flush(sp, true);
        append(sp, s, n, cost, para, page);
        return;
    }
    if (level < LEVEL_CLAUSE) {
        span_ctx c = {sp, s, level + 1, para, page};
        int kind = level == LEVEL_PARA ? BOUNDARY_SENTENCE : BOUNDARY_CLAUSE;
        /* One piece means no boundary at this level: go one finer. */
        size_t count = 0;
        piece_starts probe = {NULL, 0, 0};
        text_pieces(s, n, kind, collect_start, &probe);
        count = probe.n;
        free(probe.starts);
        if (count > 1) {
            text_pieces(s, n, kind, add_piece, &c);
            return;
        }
        add_span(sp, s, n, level + 1, para, page);
        return;
    }
    /* Before cutting inside a clause, give it a chunk of its own. */
    if (!empty)
        flush(sp, true);
    add_hard(sp, s, n, para, page);
}

/* What the rows of table, from paragraph i of page pg on, cost together. */
static int64_t table_cost(const splitter *sp, const ingest_doc *doc, size_t pg, size_t i,
                          int table)
{
    int64_t cost = 0;
    for (; pg < doc->n_pages; pg++, i = 0)
        for (; i < doc->pages[pg].n_paras; i++) {
            const ingest_para *para = &doc->pages[pg].paras[i];
            if (para->table != table)
                return cost;
            cost += text_cost(sp, para->text, strlen(para->text));
        }
    return cost;
}

/* A table row goes whole into a chunk: the cut falls between rows, before a
 * table that would not fit the chunk's second half, and a chunk that goes on
 * with a table starts with its header line instead of an overlap. */
static void add_row(splitter *sp, const ingest_doc *doc, size_t pg, size_t i, size_t para_id)
{
    const ingest_para *para = &doc->pages[pg].paras[i];
    int page = doc->pages[pg].number;
    size_t n = strlen(para->text);
    int64_t cost = text_cost(sp, para->text, n);
    bool opens = para->table != sp->table;
    if (opens && sp->has_body && 2 * sp->cost >= sp->full &&
        sp->cost + table_cost(sp, doc, pg, i, para->table) > sp->full)
        flush(sp, false);
    if (sp->has_body && sp->cost + cost > sp->full)
        flush(sp, false);
    if (!sp->has_body && para->header) {
        size_t hn = strlen(para->header);
        int64_t hc = text_cost(sp, para->header, hn);
        if (hc + cost <= sp->full) {
            sp->n_ov = 0;
            append(sp, para->header, hn, hc, (size_t)-2, page);
        }
    }
    add_span(sp, para->text, n, LEVEL_PARA, para_id, page);
    sp->has_table = true;
    sp->table = para->table;
}

int split_document(const ingest_doc *doc, const split_params *params, chunk_list *out)
{
    memset(out, 0, sizeof *out);
    split_params p = params ? *params : split_default_params();
    if (p.chunk_cjk <= 0 || p.chunk_words <= 0 || p.overlap < 0 || p.overlap >= 1) {
        dq_set_error("bad splitter settings: chunk_cjk %d, chunk_words %d, overlap %g", p.chunk_cjk,
                     p.chunk_words, (double)p.overlap);
        return -1;
    }
    splitter sp;
    memset(&sp, 0, sizeof sp);
    sp.per_cjk = p.chunk_words;
    sp.per_word = p.chunk_cjk;
    sp.full = (int64_t)p.chunk_cjk * p.chunk_words;
    sp.overlap_max = (int64_t)((double)p.overlap * (double)sp.full);
    sp.out = out;
    sp.last_para = (size_t)-1;
    sp.cite = doc->cite;
    sp.paged = doc->cite == CITE_SECTIONS && doc->n_pages > 1;

    size_t para_id = 0;
    for (size_t pg = 0; pg < doc->n_pages; pg++) {
        const ingest_page *page = &doc->pages[pg];
        if (sp.cite == CITE_UNITS) {
            /* a sheet or slide is its own unit: nothing carries over */
            flush(&sp, false);
            while (sp.depth > 0)
                free(sp.titles[--sp.depth]);
            section_rebuild(&sp);
        }
        sp.unit = page->label;
        for (size_t i = 0; i < page->n_paras; i++, para_id++) {
            const ingest_para *para = &page->paras[i];
            size_t n = strlen(para->text);
            sp.cur_loc = para->loc;
            if (para->heading > 0) {
                int lv = para->heading > 9 ? 9 : para->heading;
                sp.sec[lv]++;
                for (int l = lv + 1; l <= 9; l++)
                    sp.sec[l] = 0;
                sp.sec_level = lv;
                sp.para_in_sec = 0;
                flush(&sp, false);
                while (sp.depth > 0 && sp.levels[sp.depth - 1] >= para->heading)
                    free(sp.titles[--sp.depth]);
                if (sp.depth == MAX_DEPTH)
                    free(sp.titles[--sp.depth]);
                sp.levels[sp.depth] = para->heading;
                sp.titles[sp.depth++] = dq_strdup(para->text);
                section_rebuild(&sp);
                sp.table = 0;
                continue;
            }
            if (n && para->table) {
                sp.para_in_sec++;
                add_row(&sp, doc, pg, i, para_id);
                continue;
            }
            /* Text after a table starts no chunk with its rows as overlap. */
            if (n && sp.table && sp.has_body && sp.cost + text_cost(&sp, para->text, n) > sp.full)
                flush(&sp, false);
            sp.table = 0;
            if (n) {
                sp.para_in_sec++;
                add_span(&sp, para->text, n, LEVEL_PARA, para_id, page->number);
            }
        }
    }
    flush(&sp, false);

    for (int i = 0; i < sp.depth; i++)
        free(sp.titles[i]);
    dq_buf_free(&sp.section);
    dq_buf_free(&sp.label);
    dq_buf_free(&sp.text);
    dq_buf_free(&sp.ov);
    free(sp.marks);
    free(sp.ov_marks);
    free(sp.ov_starts);
    free(sp.ov_costs);
    return 0;
}

void chunk_list_free(chunk_list *chunks)
{
    if (!chunks)
        return;
    for (size_t i = 0; i < chunks->n; i++) {
        free(chunks->items[i].text);
        free(chunks->items[i].section);
        free(chunks->items[i].label);
    }
    free(chunks->items);
    memset(chunks, 0, sizeof *chunks);
}
