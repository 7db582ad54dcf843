/* snippet.c - an excerpt of a chunk around the question's terms, terms marked.
 *
 * Windows of max_chars characters are tried from every sentence and clause
 * start and from a little before every term occurrence; the one holding the
 * most distinct question terms wins, then one that starts a sentence, then a
 * clause, then the one with more occurrences, then the latest (of windows holding the same terms, the one
 * that starts nearest the first of them). With no term found the snippet is
 * the beginning of the text. Positions are counted in characters and
 * cuts fall only between whole characters, so the excerpt is valid UTF-8.
 * retrieve_snippet_json gives the JSON form both `search --json` and the
 * server use, so the two cannot drift apart.
 */
#include "retrieve/query.h"
#include "retrieve/retrieve.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>

#define ELLIPSIS "\xe2\x80\xa6" /* … */

typedef struct {
    int start, end; /* character indices [start, end) */
    int term;       /* index into the question's qterms */
} occurrence;

typedef struct {
    const qterms *q;
    const int *char_of; /* (n + 1) byte offset -> character index */
    occurrence *occ;
    size_t n_occ, cap_occ;
} occ_ctx;

static int occ_cb(void *ctx, const dq_term *t)
{
    occ_ctx *c = ctx;
    int idx = qterms_find(c->q, t->text, t->len);
    if (idx < 0)
        return 0;
    DQ_GROW(c->occ, c->cap_occ, c->n_occ + 1);
    c->occ[c->n_occ++] = (occurrence){c->char_of[t->start], c->char_of[t->end], idx};
    return 0;
}

typedef struct {
    const int *char_of;
    int *starts; /* (n_starts) character indices of piece starts */
    size_t n_starts, cap_starts;
} clause_ctx;

static int clause_cb(void *ctx, size_t start, size_t end)
{
    (void)end;
    clause_ctx *c = ctx;
    DQ_GROW(c->starts, c->cap_starts, c->n_starts + 1);
    c->starts[c->n_starts++] = c->char_of[start];
    return 0;
}

static bool is_blank(uint32_t cp)
{
    return cp < 0x20 || cp == ' ' || cp == 0x7F || cp == 0x3000 || cp == 0xA0;
}

static bool is_latin_word(uint32_t cp)
{
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
           (cp >= 0xC0 && cp <= 0x24F);
}

/* How well a window starts: at a sentence, at a clause, anywhere. */
enum { AT_ANY, AT_CLAUSE, AT_SENTENCE };

typedef struct {
    int distinct, at, count, start;
} window_rank;

static bool rank_better(window_rank a, window_rank b)
{
    if (a.distinct != b.distinct)
        return a.distinct > b.distinct;
    if (a.at != b.at)
        return a.at > b.at;
    if (a.count != b.count)
        return a.count > b.count;
    return a.start > b.start;
}

static window_rank rank_window(const occurrence *occ, size_t n_occ, int start, int end,
                               int at, unsigned char *seen, size_t n_terms)
{
    window_rank r = {0, at, 0, start};
    memset(seen, 0, n_terms);
    for (size_t i = 0; i < n_occ; i++) {
        if (occ[i].start < start || occ[i].end > end)
            continue;
        r.count++;
        if (!seen[occ[i].term]) {
            seen[occ[i].term] = 1;
            r.distinct++;
        }
    }
    return r;
}

char *retrieve_snippet(const char *text, const char *question, int max_chars)
{
    if (max_chars <= 0)
        max_chars = 120;
    if (!text)
        text = "";
    char *clean = NULL;
    size_t n = strlen(text);
    if (!utf8_valid(text, n)) {
        clean = utf8_sanitize(text, n);
        text = clean;
        n = strlen(text);
    }

    /* Character index of every byte offset, and each character's code point. */
    int *char_of = dq_malloc((n + 1) * sizeof *char_of);
    size_t *byte_of = dq_malloc((n + 1) * sizeof *byte_of);
    uint32_t *cps = dq_malloc((n + 1) * sizeof *cps);
    int n_chars = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode(text + i, n - i, &cp);
        if (k <= 0)
            k = 1, cp = 0xFFFD;
        for (int j = 0; j < k; j++)
            char_of[i + (size_t)j] = n_chars;
        byte_of[n_chars] = i;
        cps[n_chars++] = cp;
        i += (size_t)k;
    }
    char_of[n] = n_chars;
    byte_of[n_chars] = n;

    qterms q = {0};
    qterms_build(question ? question : "", TERMS_BIGRAMS, &q);
    occ_ctx oc = {&q, char_of, NULL, 0, 0};
    if (q.n)
        text_terms(text, n, TERMS_UNIGRAMS | TERMS_BIGRAMS, occ_cb, &oc);

    int win_start = 0, win_end = n_chars;
    if (n_chars > max_chars) {
        clause_ctx sentences = {char_of, NULL, 0, 0}, clauses = {char_of, NULL, 0, 0};
        text_pieces(text, n, BOUNDARY_SENTENCE, clause_cb, &sentences);
        text_pieces(text, n, BOUNDARY_CLAUSE, clause_cb, &clauses);
        unsigned char *seen = dq_calloc(q.n ? q.n : 1, 1);
        int last = n_chars - max_chars;
        window_rank best = rank_window(oc.occ, oc.n_occ, 0, max_chars, AT_SENTENCE, seen, q.n);
        const clause_ctx *kinds[2] = {&sentences, &clauses};
        for (int k = 0; k < 2; k++) {
            for (size_t i = 0; i < kinds[k]->n_starts; i++) {
                int start = kinds[k]->starts[i];
                int s = start < last ? start : last;
                int at = s != start ? AT_ANY : k == 0 ? AT_SENTENCE : AT_CLAUSE;
                window_rank r = rank_window(oc.occ, oc.n_occ, s, s + max_chars, at, seen, q.n);
                if (rank_better(r, best))
                    best = r;
            }
        }
        free(sentences.starts);
        free(clauses.starts);
        /* A little context before a term reads better than starting on it. */
        int lead = max_chars / 5;
        for (size_t i = 0; i < oc.n_occ; i++) {
            int s = oc.occ[i].start - lead;
            s = s < 0 ? 0 : s > last ? last : s;
            window_rank r = rank_window(oc.occ, oc.n_occ, s, s + max_chars, AT_ANY, seen, q.n);
            if (rank_better(r, best))
                best = r;
        }
        free(seen);
        win_start = best.distinct ? best.start : 0;
        win_end = win_start + max_chars;

        /* Don't cut an English word in half when a space is near. */
        int first_occ = win_end, last_occ = win_start;
        for (size_t i = 0; i < oc.n_occ; i++) {
            if (oc.occ[i].start >= win_start && oc.occ[i].end <= win_end) {
                first_occ = oc.occ[i].start < first_occ ? oc.occ[i].start : first_occ;
                last_occ = oc.occ[i].end > last_occ ? oc.occ[i].end : last_occ;
            }
        }
        if (win_start > 0 && is_latin_word(cps[win_start]) && is_latin_word(cps[win_start - 1])) {
            for (int i = win_start; i < win_start + 15 && i < first_occ; i++) {
                if (!is_latin_word(cps[i])) {
                    win_start = i;
                    break;
                }
            }
        }
        if (win_end < n_chars && is_latin_word(cps[win_end]) && is_latin_word(cps[win_end - 1])) {
            for (int i = win_end - 1; i > win_end - 15 && i >= last_occ; i--) {
                if (!is_latin_word(cps[i])) {
                    win_end = i;
                    break;
                }
            }
        }
    }
    while (win_start < win_end && is_blank(cps[win_start]))
        win_start++;
    while (win_end > win_start && is_blank(cps[win_end - 1]))
        win_end--;

    /* Characters inside a matched term (only terms wholly in the window). */
    unsigned char *mark = dq_calloc((size_t)n_chars + 1, 1);
    for (size_t i = 0; i < oc.n_occ; i++)
        if (oc.occ[i].start >= win_start && oc.occ[i].end <= win_end)
            for (int c = oc.occ[i].start; c < oc.occ[i].end; c++)
                mark[c] = 1;

    /* An ellipsis only where visible text was left out. */
    bool cut_before = false, cut_after = false;
    for (int c = 0; c < win_start && !cut_before; c++)
        cut_before = !is_blank(cps[c]);
    for (int c = win_end; c < n_chars && !cut_after; c++)
        cut_after = !is_blank(cps[c]);

    dq_buf out = DQ_BUF_INIT;
    if (cut_before)
        dq_buf_puts(&out, ELLIPSIS);
    bool open = false, space = false;
    for (int c = win_start; c < win_end; c++) {
        if (mark[c] && !open) {
            dq_buf_puts(&out, RETRIEVE_HL_OPEN);
            open = true;
        } else if (!mark[c] && open) {
            dq_buf_puts(&out, RETRIEVE_HL_CLOSE);
            open = false;
        }
        if (is_blank(cps[c])) {
            /* Newlines and runs of blanks read as one space. */
            if (!space)
                dq_buf_putc(&out, ' ');
            space = true;
            continue;
        }
        space = false;
        dq_buf_append(&out, text + byte_of[c], byte_of[c + 1] - byte_of[c]);
    }
    if (open)
        dq_buf_puts(&out, RETRIEVE_HL_CLOSE);
    if (cut_after)
        dq_buf_puts(&out, ELLIPSIS);

    free(mark);
    free(oc.occ);
    qterms_free(&q);
    free(cps);
    free(byte_of);
    free(char_of);
    free(clean);
    return dq_buf_take(&out);
}

void retrieve_snippet_json(cJSON *obj, const char *snippet)
{
    dq_buf plain = DQ_BUF_INIT;
    cJSON *ranges = cJSON_CreateArray();
    size_t start = 0;
    for (const char *p = snippet ? snippet : ""; *p; p++) {
        if (*p == RETRIEVE_HL_OPEN[0]) {
            start = plain.len;
        } else if (*p == RETRIEVE_HL_CLOSE[0]) {
            cJSON *r = cJSON_CreateArray();
            cJSON_AddItemToArray(r, cJSON_CreateNumber((double)start));
            cJSON_AddItemToArray(r, cJSON_CreateNumber((double)plain.len));
            cJSON_AddItemToArray(ranges, r);
        } else {
            dq_buf_putc(&plain, *p);
        }
    }
    cJSON_AddStringToObject(obj, "snippet", plain.data ? plain.data : "");
    cJSON_AddItemToObject(obj, "highlights", ranges);
    dq_buf_free(&plain);
}
