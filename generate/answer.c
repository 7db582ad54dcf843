/* answer.c - extractive answers: the retrieved sentences that best cover the question.
 *
 * Every sentence of every hit is scored by weighted coverage of the
 * question's terms (retrieve/query.h): a word or CJK bigram weighs 1, a CJK
 * character 0.1, so a sentence holding 违约金 beats one that merely shares
 * the characters 约 and 金 in other words. Sentences are ranked by coverage
 * plus a small bonus for the retrieval rank. The best few that pass
 * min_score form the answer; a strong answer is not padded with weak ones, so
 * a sentence after the first also needs half the best one's coverage and two
 * of the question's words (in a contract every sentence says 合同; one that
 * shares only that word does not answer "合同的违约金是多少"). Overlapping
 * chunks repeat sentences, so a sentence equal to or inside one already chosen
 * is skipped (and a whole sentence replaces a chosen fragment of it). Sources
 * are numbered in order of first citation.
 *
 * Long reports answer in tables: a row (one line, "label | 2018: (1,577) |
 * 2017: (1,373)") also counts, at half weight, the terms of its section path
 * and of the caption line its table hangs under, and when the question asks
 * for an amount (figure.h), rows that state one come first among the lines
 * that cover at least half of what the best one covers, the asked year's
 * column first.
 */
#include "generate/generate.h"
#include "generate/figure.h"
#include "retrieve/query.h"

#include <stdlib.h>
#include <string.h>

#define UNIGRAM_WEIGHT 0.1
#define RANK_BONUS 0.02       /* added for the top hit, less further down */
#define RELATIVE_CUT 0.5      /* share of the best sentence's coverage needed */
#define MIN_SENTENCE_CHARS 4  /* shorter pieces are headings or debris */
#define CONTEXT_WEIGHT 0.5    /* a term only the line's heading or section holds */
#define FIGURE_BONUS 0.1      /* a figure, when the question asks for one */
#define ASKED_BONUS 0.1       /* more when it is of the period asked for */
#define NAME_WEIGHT 0.2       /* a term that named the documents searched */

answer_params answer_default_params(void)
{
    return (answer_params){.max_sentences = 3, .min_score = 0.2};
}

typedef struct {
    size_t hit;        /* rank of the hit the sentence comes from */
    size_t start, end; /* bytes of the hit's chunk text, trimmed */
    double coverage;   /* 0..1 */
    double key;        /* coverage plus the rank bonus */
    int words;         /* distinct words and bigrams of the question held */
    figure_kind figure; /* what it states, when the question asks for a figure and
                         * the line is about the question */
} candidate;

typedef struct {
    qterms terms;   /* words, bigrams and (weighted low) CJK characters */
    double *weight; /* (terms.n) */
    double total;
    size_t n_main;  /* terms[0..n_main) are words and bigrams, the rest characters */
    unsigned char *seen; /* (terms.n) scratch */
    unsigned char *naming; /* (terms.n) 1 for a year asked for or a term that named the
                            * scope: they say which column or document, not what about */
    figure_question fq;
} question_terms;

/* Terms that named the scope ("Acme", "2018") are in every hit's document:
 * they say which document, not which line, so they weigh NAME_WEIGHT and do
 * not make a line about the question. */
static void question_terms_build(const char *question, const retrieve_scope *scope,
                                 question_terms *qt)
{
    memset(qt, 0, sizeof *qt);
    qterms_build(question, TERMS_BIGRAMS, &qt->terms);
    size_t n_main = qt->terms.n;
    qt->n_main = n_main;
    qterms uni = {0};
    qterms_build(question, TERMS_UNIGRAMS, &uni);
    for (size_t i = 0; i < uni.n; i++) {
        qterm *u = &uni.items[i];
        if (!u->cjk || qterms_find(&qt->terms, u->text, u->len) >= 0)
            continue;
        DQ_GROW(qt->terms.items, qt->terms.cap, qt->terms.n + 1);
        qt->terms.items[qt->terms.n++] = *u;
        u->text = NULL; /* moved */
    }
    qterms_free(&uni);
    qt->weight = dq_calloc(qt->terms.n ? qt->terms.n : 1, sizeof *qt->weight);
    qt->seen = dq_calloc(qt->terms.n ? qt->terms.n : 1, 1);
    qt->naming = dq_calloc(qt->terms.n ? qt->terms.n : 1, 1);
    figure_question_read(question, &qt->fq);
    for (size_t i = 0; i < qt->terms.n; i++) {
        qt->weight[i] = i < n_main ? 1.0 : UNIGRAM_WEIGHT;
        for (int k = 0; k < qt->fq.n_years; k++)
            if (!strcmp(qt->terms.items[i].text, qt->fq.years[k]))
                qt->naming[i] = 1;
        for (size_t k = 0; scope && k < scope->n_names; k++)
            if (!strcmp(qt->terms.items[i].text, scope->names[k])) {
                qt->weight[i] = NAME_WEIGHT;
                qt->naming[i] = 1;
            }
        qt->total += qt->weight[i];
    }
}

static void question_terms_free(question_terms *qt)
{
    qterms_free(&qt->terms);
    free(qt->weight);
    free(qt->seen);
    free(qt->naming);
}

typedef struct {
    question_terms *qt;
    double covered;
    int words;   /* words and bigrams of the question held */
    int content; /* of them, those that are not naming[] */
} score_ctx;

static int score_cb(void *ctx, const dq_term *t)
{
    score_ctx *c = ctx;
    int i = qterms_find(&c->qt->terms, t->text, t->len);
    if (i >= 0 && !c->qt->seen[i]) {
        c->qt->seen[i] = 1;
        c->covered += c->qt->weight[i];
        c->words += (size_t)i < c->qt->n_main;
        c->content += (size_t)i < c->qt->n_main && !c->qt->naming[i];
    }
    return 0;
}

/* Adds the question terms s[0..n) holds and c has not seen yet. */
static void cover(score_ctx *c, const char *s, size_t n)
{
    text_terms(s, n, TERMS_UNIGRAMS | TERMS_BIGRAMS, score_cb, c);
}

/* The line a table row's table hangs under: the nearest line above start
 * that is not a row itself (a caption or heading such as "Capital
 * expenditures"), as [*from, return); 0 when there is none. */
static size_t row_caption(const char *text, size_t start, size_t *from)
{
    size_t end = start;
    while (end > 0) {
        size_t line_end = end - 1; /* the '\n' before the current line */
        if (text[line_end] != '\n')
            return 0;
        size_t b = line_end;
        while (b > 0 && text[b - 1] != '\n')
            b--;
        if (line_end > b && !figure_is_row(text + b, line_end - b)) {
            *from = b;
            return line_end;
        }
        end = b;
    }
    return 0;
}

static bool is_space_at(const char *s, size_t n, size_t i, int *len)
{
    uint32_t cp;
    int k = utf8_decode(s + i, n - i, &cp);
    *len = k > 0 ? k : 1;
    return k > 0 && (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' ||
                     cp == '\v' || cp == 0x3000 || cp == 0xA0);
}

typedef struct {
    const char *text;
    size_t n;
    const char *section; /* the hit's section path, "" when none */
    size_t hit, n_hits;
    question_terms *qt;
    candidate *cands;
    size_t n_cands, cap_cands;
} split_ctx;

static int piece_cb(void *ctx, size_t start, size_t end)
{
    split_ctx *c = ctx;
    int len;
    while (start < end && is_space_at(c->text, end, start, &len))
        start += (size_t)len;
    /* Trailing blanks: step back over ASCII ones and U+3000/U+00A0. */
    for (;;) {
        if (end > start && c->text[end - 1] && strchr(" \t\r\n\f\v", c->text[end - 1]))
            end--;
        else if (end >= start + 3 && memcmp(c->text + end - 3, "\xe3\x80\x80", 3) == 0)
            end -= 3;
        else if (end >= start + 2 && memcmp(c->text + end - 2, "\xc2\xa0", 2) == 0)
            end -= 2;
        else
            break;
    }
    if (end <= start || utf8_length(c->text + start, end - start) < MIN_SENTENCE_CHARS)
        return 0;
    /* The piece's own terms, then at CONTEXT_WEIGHT those only its
     * section path or its table's caption hold: a row "Purchases of
     * property, plant and equipment | 2018: (1,577)" under "Capital
     * expenditures" is about capital expenditures. */
    question_terms *qt = c->qt;
    if (qt->total <= 0)
        return 0;
    memset(qt->seen, 0, qt->terms.n);
    score_ctx sc = {qt, 0, 0, 0};
    cover(&sc, c->text + start, end - start);
    double own = sc.covered;
    int words = sc.words;
    if (own <= 0)
        return 0;
    cover(&sc, c->section, strlen(c->section));
    size_t from = 0, to = 0;
    if (figure_is_row(c->text + start, end - start))
        to = row_caption(c->text, start, &from);
    if (to > from)
        cover(&sc, c->text + from, to - from);
    double cov = (own + CONTEXT_WEIGHT * (sc.covered - own)) / qt->total;
    /* A question that asks for an amount is answered by the line that
     * states one, best of the period asked, when the line is about what the
     * question names (a word besides the year). */
    figure_kind f = FIGURE_NONE;
    if (qt->fq.asks && sc.content > 0) {
        f = figure_in_line(c->text + start, end - start, &qt->fq);
        cov += f == FIGURE_ASKED ? FIGURE_BONUS + ASKED_BONUS : f == FIGURE_SOME ? FIGURE_BONUS : 0;
    }
    if (cov > 1)
        cov = 1;
    DQ_GROW(c->cands, c->cap_cands, c->n_cands + 1);
    double bonus = RANK_BONUS * (double)(c->n_hits - c->hit) / (double)c->n_hits;
    c->cands[c->n_cands++] = (candidate){c->hit, start, end, cov, cov + bonus, words, f};
    return 0;
}

static int candidate_cmp(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->figure != y->figure)
        return x->figure > y->figure ? -1 : 1;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    if (x->hit != y->hit)
        return x->hit < y->hit ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static bool contains(const char *hay, size_t hn, const char *needle, size_t nn)
{
    return nn <= hn && memmem(hay, hn, needle, nn) != NULL;
}

int answer_extractive(const char *question, const retrieve_result *hits,
                      const answer_params *params, answer *out)
{
    memset(out, 0, sizeof *out);
    answer_params p = params ? *params : answer_default_params();
    if (!hits || hits->n == 0 || p.max_sentences <= 0)
        return 0;

    question_terms qt;
    question_terms_build(question ? question : "", &hits->scope, &qt);
    split_ctx sc = {0};
    sc.qt = &qt;
    sc.n_hits = hits->n;
    for (size_t h = 0; h < hits->n; h++) {
        sc.text = hits->items[h].chunk.text ? hits->items[h].chunk.text : "";
        sc.n = strlen(sc.text);
        sc.section = hits->items[h].chunk.section ? hits->items[h].chunk.section : "";
        sc.hit = h;
        text_pieces(sc.text, sc.n, BOUNDARY_SENTENCE, piece_cb, &sc);
    }
    /* Among the lines that cover at least RELATIVE_CUT of what the best one
     * covers, those that state the figure asked for come first: the answer
     * to "what were the FY2018 capital expenditures" is the row with the
     * amount, and the sentence that merely talks about them follows it. */
    double best = 0;
    for (size_t i = 0; i < sc.n_cands; i++)
        if (sc.cands[i].coverage > best)
            best = sc.cands[i].coverage;
    for (size_t i = 0; i < sc.n_cands; i++)
        if (sc.cands[i].coverage < RELATIVE_CUT * best || sc.cands[i].coverage < p.min_score)
            sc.cands[i].figure = FIGURE_NONE;
    if (sc.n_cands)
        qsort(sc.cands, sc.n_cands, sizeof *sc.cands, candidate_cmp);

    int min_words = qt.n_main < 2 ? (int)qt.n_main : 2;
    const candidate **chosen = dq_calloc((size_t)p.max_sentences, sizeof *chosen);
    size_t n_chosen = 0;
    for (size_t i = 0; i < sc.n_cands && n_chosen < (size_t)p.max_sentences; i++) {
        const candidate *c = &sc.cands[i];
        if (c->coverage < p.min_score || c->coverage < RELATIVE_CUT * best)
            continue;
        if (n_chosen > 0 && c->words < min_words)
            continue;
        const char *s = hits->items[c->hit].chunk.text + c->start;
        size_t len = c->end - c->start;
        bool dup = false, placed = false;
        for (size_t j = 0; j < n_chosen && !dup;) {
            const candidate *o = chosen[j];
            const char *t = hits->items[o->hit].chunk.text + o->start;
            size_t tl = o->end - o->start;
            if (contains(t, tl, s, len)) {
                dup = true;
            } else if (contains(s, len, t, tl)) {
                /* A chunk that starts or ends mid-sentence holds a fragment;
                 * the whole sentence from the next chunk takes its place. */
                if (!placed) {
                    chosen[j++] = c;
                    placed = true;
                } else {
                    memmove(&chosen[j], &chosen[j + 1], (n_chosen - j - 1) * sizeof *chosen);
                    n_chosen--;
                }
            } else {
                j++;
            }
        }
        if (!dup && !placed)
            chosen[n_chosen++] = c;
    }

    size_t cap_src = 0;
    out->sentences = dq_calloc(n_chosen ? n_chosen : 1, sizeof *out->sentences);
    for (size_t i = 0; i < n_chosen; i++) {
        const candidate *c = chosen[i];
        const store_hit *ch = &hits->items[c->hit].chunk;
        int number = 0;
        for (size_t j = 0; j < out->n_sources && !number; j++)
            if (out->sources[j].chunk_id == ch->chunk_id)
                number = out->sources[j].number;
        if (number == 0) {
            DQ_GROW(out->sources, cap_src, out->n_sources + 1);
            answer_source *src = &out->sources[out->n_sources++];
            number = (int)out->n_sources;
            *src = (answer_source){
                .number = number,
                .path = dq_strdup(ch->path ? ch->path : ""),
                .section = dq_strdup(ch->section ? ch->section : ""),
                .page_start = ch->page_start,
                .page_end = ch->page_end,
                .chunk_id = ch->chunk_id,
                .score = ch->score,
                .ocr = ch->ocr,
                .label = dq_strdup(ch->label ? ch->label : ""),
            };
        }
        answer_sentence *as = &out->sentences[out->n_sentences++];
        as->text = dq_strndup(ch->text + c->start, c->end - c->start);
        as->source = number;
        as->score = c->coverage;
    }
    free(chosen);
    free(sc.cands);
    question_terms_free(&qt);
    out->found = out->n_sentences > 0;
    return 0;
}

void answer_free(answer *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n_sentences; i++)
        free(a->sentences[i].text);
    free(a->sentences);
    for (size_t i = 0; i < a->n_sources; i++)
        answer_source_clear(&a->sources[i]);
    free(a->sources);
    memset(a, 0, sizeof *a);
}

void answer_source_copy(answer_source *dst, const answer_source *src)
{
    *dst = *src;
    dst->path = dq_strdup(src->path ? src->path : "");
    dst->section = dq_strdup(src->section ? src->section : "");
    dst->label = dq_strdup(src->label ? src->label : "");
}

void answer_source_clear(answer_source *s)
{
    if (!s)
        return;
    free(s->path);
    free(s->section);
    free(s->label);
    memset(s, 0, sizeof *s);
}

char *answer_format_source(const answer_source *src)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_puts(&b, src->path ? src->path : "");
    if (src->label && src->label[0]) {
        /* a sheet or slide reads as its own clause; "§3.2 ¶4" and "p. 3"
         * follow the file name as a page would */
        bool unit = !strncmp(src->label, "sheet ", 6) || !strncmp(src->label, "slide ", 6);
        dq_buf_printf(&b, "%s%s", unit ? ", " : " ", src->label);
        if (src->section && src->section[0] && !strstr(src->label, src->section))
            dq_buf_printf(&b, ", %s", src->section);
        return dq_buf_take(&b);
    }
    if (src->page_start > 0) {
        if (src->page_end > src->page_start)
            dq_buf_printf(&b, " pp. %d-%d", src->page_start, src->page_end);
        else
            dq_buf_printf(&b, " p. %d", src->page_start);
        if (src->ocr)
            dq_buf_puts(&b, " (OCR)");
    }
    if (src->section && src->section[0])
        dq_buf_printf(&b, ", %s", src->section);
    return dq_buf_take(&b);
}
