/* query.c - from a question to its search terms and the FTS5 MATCH expression.
 *
 * Chinese has no spaces, so the question is cut into overlapping bigrams like
 * the index (合同的违约金 -> 合同 同的 的违 违约 约金). Many of those straddle a
 * word boundary or only ask, so: question phrases (请问, 什么时候, 是多少) are
 * blanked out before cutting, leaving no bigram that reaches into the next
 * word (请问租赁 -> 问租); then a bigram is dropped when it is a listed
 * stop-word, holds a boundary character (question characters and the
 * particles 的 是 了), or is made of two function characters (所以, 是在).
 * English words go by a small stop list. The survivors are OR-ed: BM25 ranks
 * chunks with more and rarer terms first, and a chunk need not hold them all.
 */
#include "retrieve/query.h"
#include "retrieve/retrieve.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const english_stop[] = {
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any",
    "are", "as", "at", "be", "because", "been", "before", "being", "below", "between",
    "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during",
    "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her",
    "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its",
    "just", "many", "me", "much", "my", "no", "nor", "not", "of", "off", "on", "once",
    "only", "or", "other", "our", "out", "over", "own", "same", "she", "should", "so",
    "some", "such", "than", "that", "the", "their", "them", "then", "there", "these",
    "they", "this", "those", "through", "to", "too", "under", "until", "up", "very",
    "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
    "whose", "why", "will", "with", "would", "you", "your",
};

/* Chinese question phrases, longest first (a longer one may hold a shorter). */
static const char *const question_phrases[] = {
    "什么时候", "为什么", "是什么", "是多少", "怎么样", "请问", "什么", "多少", "哪些",
    "哪个", "哪里", "哪儿", "如何", "怎么", "怎样", "是否", "为何", "几个", "何时",
};

/* Whole Chinese terms (bigrams, or a lone character) that only ask. */
static const char *const chinese_stop[] = {
    "多少", "如何", "是否", "为何", "请问", "几个", "何时", "何地", "何种", "何处",
    "多久", "多长", "多大", "可以", "能否", "哪些", "什么", "怎么", "怎样", "哪个",
    "为什", "的", "了", "是", "在", "和", "与", "及", "或", "吗", "呢", "吧", "啊",
};

/* Characters that only form question words (什 哪 怎 吗 呢 谁 么) or are
 * particles that almost never start or end a content word (的 是 了): a
 * bigram holding one straddles a word boundary (同的, 金是) or asks. The
 * few content words they do form are kept by keep_bigrams. Dropping them
 * sharpens answer scoring (合同的违约金 -> 合同 违约 约金) and cost nothing
 * in recall on the CMRC dev slice. */
static const char boundary_chars[] = "什哪怎吗呢谁么的是了";
static const char *const keep_bigrams[] = {"目的", "了解", "的确"};

/* Function characters: a bigram made of two of them (是在, 的了, 所以) is
 * grammar, not content. */
static const char function_chars[] =
    "的了是在和与及或吗呢么什哪怎请问谁也都就而被把从对这那个之其所由为于以有着过将向到给等";

static bool char_in(const char *set, const char *s, int len)
{
    for (const char *p = set; *p;) {
        uint32_t cp;
        int k = utf8_decode(p, strlen(p), &cp);
        if (k <= 0)
            return false;
        if (k == len && memcmp(p, s, (size_t)len) == 0)
            return true;
        p += k;
    }
    return false;
}

static bool in_list(const char *const *list, size_t n, const char *s, int len)
{
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(list[i]) == len && memcmp(list[i], s, (size_t)len) == 0)
            return true;
    return false;
}

bool query_term_is_stop(const char *s, int len, bool cjk)
{
    if (!cjk) {
        /* A lone letter is a possessive's "s" or an initial, never worth a
         * search; a lone digit is kept ("chapter 3"). */
        if (len == 1 && !(s[0] >= '0' && s[0] <= '9'))
            return true;
        return in_list(english_stop, sizeof english_stop / sizeof *english_stop, s, len);
    }
    if (in_list(chinese_stop, sizeof chinese_stop / sizeof *chinese_stop, s, len))
        return true;
    if (in_list(keep_bigrams, sizeof keep_bigrams / sizeof *keep_bigrams, s, len))
        return false;
    uint32_t c1;
    int k = utf8_decode(s, (size_t)len, &c1);
    if (k <= 0 || k == len)
        return k > 0 && char_in(function_chars, s, len);
    bool f1 = char_in(function_chars, s, k), f2 = char_in(function_chars, s + k, len - k);
    if (f1 && f2)
        return true;
    return char_in(boundary_chars, s, k) || char_in(boundary_chars, s + k, len - k);
}

/* Clauses that say how to answer rather than what to find ("Round your
 * answer to two decimal places", "Answer in USD billions", "Based on the
 * details shown in ...", "According to the balance sheet", "We need to
 * calculate a metric by ...", "then state that and explain why", "请用中文
 * 回答") open with one of these words, or with "by" and a verb's -ing form
 * ("By drawing conclusions from ..."); their words would otherwise pull in
 * pages about rounding and answering. ("If" and "when" are left out: they
 * as often open the clause that holds the question.) */
static const char *const instruction_leads[] = {
    "answer", "round", "respond", "reply",  "express", "address", "base",
    "based",  "basing", "give",   "please", "provide", "format",
    "according", "taking", "then", "here",
};
/* Leads that open an instruction only after the question was asked
 * ("What is the FY2019 capex? Calculate what was asked by ..."): a question
 * that opens with them is an imperative one ("Calculate the gross margin of
 * Acme in 2022, using ..."), and blanking it left only its last clause. */
static const char *const instruction_leads_after[] = {"calculate", "compute"};
/* "We" opens an instruction before these ("We need to calculate a metric
 * ..."); "We sold 300 units in 2021, how many in 2022?" asks. */
static const char *const we_instruction[] = {"need", "want", "would", "wish", "must"};
static const char *const instruction_leads_zh[] = {
    "请用", "请以", "请简要", "请简单", "请回答", "请给出", "回答", "用中文", "用英文",
};

typedef struct {
    char *s;    /* the question, its instruction clauses blanked in place */
    bool asked; /* a clause before this one kept its words */
} blank_ctx;

static bool word_in(const char *w, size_t len, const char *const *words, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (strlen(words[k]) == len && !strncasecmp(w, words[k], len))
            return true;
    return false;
}

/* The end of the ASCII word at s[i] (i itself when there is none). */
static size_t word_end(const char *s, size_t i, size_t end)
{
    while (i < end && ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z'))
        i++;
    return i;
}

/* Whether the English word s[i..w), then the next word up to end, open an
 * instruction; asked: a clause before kept its words. */
static bool english_lead(const char *s, size_t i, size_t w, size_t end, bool asked)
{
    if (word_in(s + i, w - i, instruction_leads,
                sizeof instruction_leads / sizeof *instruction_leads) ||
        (asked && word_in(s + i, w - i, instruction_leads_after,
                          sizeof instruction_leads_after / sizeof *instruction_leads_after)))
        return true;
    size_t v = w;
    while (v < end && s[v] == ' ')
        v++;
    size_t e = word_end(s, v, end);
    if (w - i == 2 && !strncasecmp(s + i, "we", 2))
        return word_in(s + v, e - v, we_instruction, sizeof we_instruction / sizeof *we_instruction);
    /* "By drawing conclusions from ...", "By using ...": the means of working
     * it out; "By how much did ..." asks, and a name that ends like a verb
     * ("By Beijing time, ...") is what is asked about. */
    return w - i == 2 && !strncasecmp(s + i, "by", 2) && e - v > 4 && s[v] >= 'a' &&
           s[v] <= 'z' && !strncasecmp(s + e - 3, "ing", 3);
}

static int any_term(void *ctx, const dq_term *t);

static int blank_instruction(void *ctx, size_t start, size_t end)
{
    blank_ctx *b = ctx;
    char *s = b->s;
    size_t i = start;
    while (i < end && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '"' || s[i] == '('))
        i++;
    bool lead = false;
    for (size_t k = 0; k < sizeof instruction_leads_zh / sizeof *instruction_leads_zh && !lead;
         k++)
        lead = !strncmp(s + i, instruction_leads_zh[k], strlen(instruction_leads_zh[k]));
    lead = lead || english_lead(s, i, word_end(s, i, end), end, b->asked);
    if (lead)
        memset(s + start, ' ', end - start);
    else
        b->asked = b->asked || text_terms(s + start, end - start, 0, any_term, NULL);
    return 0;
}

typedef struct {
    qterms *out;
    qterms all; /* every term, stop-words included, for the fallback */
} build_ctx;

static void qterms_add(qterms *q, const dq_term *t)
{
    if (qterms_find(q, t->text, t->len) >= 0)
        return;
    DQ_GROW(q->items, q->cap, q->n + 1);
    qterm *e = &q->items[q->n++];
    e->text = dq_strndup(t->text, (size_t)t->len);
    e->len = t->len;
    e->cjk = t->cjk;
}

static int build_cb(void *ctx, const dq_term *t)
{
    build_ctx *b = ctx;
    qterms_add(&b->all, t);
    if (!query_term_is_stop(t->text, t->len, t->cjk))
        qterms_add(b->out, t);
    return 0;
}

static int any_term(void *ctx, const dq_term *t)
{
    (void)ctx;
    (void)t;
    return 1;
}

static size_t terms_of(const char *question, int flags, bool keep_instructions, qterms *out);

size_t qterms_build(const char *question, int flags, qterms *out)
{
    return terms_of(question, flags, false, out);
}

/* The question with glued years cut ("FY2018" and "2022Q4" to their year as
 * documents state it) and, unless keep_instructions, its instruction
 * clauses blanked; malloc'd. */
static char *question_text(const char *question, bool keep_instructions)
{
    dq_buf split = DQ_BUF_INIT;
    text_split_glued_years(question, strlen(question), &split);
    char *blanked = split.data ? dq_buf_take(&split) : dq_strdup("");
    if (keep_instructions)
        return blanked;
    char *asked = dq_strdup(blanked);
    blank_ctx b = {blanked, false};
    text_pieces(blanked, strlen(blanked), BOUNDARY_CLAUSE, blank_instruction, &b);
    if (!text_terms(blanked, strlen(blanked), 0, any_term, NULL)) {
        free(blanked); /* all instructions: "Answer in English" searches itself */
        return asked;
    }
    free(asked);
    return blanked;
}

static size_t terms_of(const char *question, int flags, bool keep_instructions, qterms *out)
{
    build_ctx b = {out, {NULL, 0, 0}};
    /* UTF-8 is self-synchronising: a byte match of a whole phrase starts and
     * ends on character boundaries. */
    char *blanked = question_text(question, keep_instructions);
    for (size_t i = 0; i < sizeof question_phrases / sizeof *question_phrases; i++) {
        const char *phrase = question_phrases[i];
        size_t len = strlen(phrase);
        for (char *p = strstr(blanked, phrase); p; p = strstr(p + len, phrase))
            memset(p, ' ', len);
    }
    text_terms(blanked, strlen(blanked), flags, build_cb, &b);
    free(blanked);
    if (out->n == 0) {
        qterms_free(&b.all);
        text_terms(question, strlen(question), flags, build_cb, &b);
        qterms_free(out);
        *out = b.all;
    } else {
        qterms_free(&b.all);
    }
    return out->n;
}

int qterms_find(const qterms *q, const char *s, int len)
{
    for (size_t i = 0; i < q->n; i++)
        if (q->items[i].len == len && memcmp(q->items[i].text, s, (size_t)len) == 0)
            return (int)i;
    return -1;
}

void qterms_free(qterms *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++)
        free(q->items[i].text);
    free(q->items);
    q->items = NULL;
    q->n = q->cap = 0;
}

/* Adjacent pairs of content words ("accounts payable", "balance sheet"):
 * in a long document every single word of a question is on many pages, the
 * pair on few. Words count as adjacent when only spaces or hyphens lie
 * between them. */
typedef struct {
    const char *text;
    qterms *pairs;
    const dq_term *prev; /* the previous Latin content word, NULL after anything else */
    dq_term prev_copy;
} pair_ctx;

static int pair_cb(void *ctx, const dq_term *t)
{
    pair_ctx *p = ctx;
    if (t->cjk || query_term_is_stop(t->text, t->len, false)) {
        p->prev = NULL;
        return 0;
    }
    if (p->prev) {
        bool adjacent = true;
        for (int i = p->prev->end; i < t->start && adjacent; i++)
            adjacent = p->text[i] == ' ' || p->text[i] == '-';
        if (adjacent) {
            dq_buf b = DQ_BUF_INIT;
            dq_buf_append(&b, p->prev->text, (size_t)p->prev->len);
            dq_buf_putc(&b, ' ');
            dq_buf_append(&b, t->text, (size_t)t->len);
            dq_term pair = {b.data, (int)b.len, p->prev->start, t->end, false, false};
            if (qterms_find(p->pairs, pair.text, pair.len) < 0) {
                DQ_GROW(p->pairs->items, p->pairs->cap, p->pairs->n + 1);
                p->pairs->items[p->pairs->n++] = (qterm){dq_buf_take(&b), pair.len, false};
            } else {
                dq_buf_free(&b);
            }
        }
    }
    /* text_terms reuses its term buffer: keep a copy of the word. */
    free((char *)p->prev_copy.text);
    p->prev_copy = *t;
    p->prev_copy.text = dq_strndup(t->text, (size_t)t->len);
    p->prev = &p->prev_copy;
    return 0;
}

static size_t pairs_of(const char *question, bool keep_instructions, qterms *out)
{
    char *text = question_text(question, keep_instructions);
    pair_ctx p = {text, out, NULL, {0}};
    text_terms(text, strlen(text), TERMS_BIGRAMS, pair_cb, &p);
    free((char *)p.prev_copy.text);
    free(text);
    return out->n;
}

size_t qterms_pairs(const char *question, qterms *out)
{
    return pairs_of(question, false, out);
}

void query_put_quoted(dq_buf *m, const qterm *t)
{
    dq_buf_putc(m, '"');
    for (int j = 0; j < t->len; j++) {
        if (t->text[j] == '"')
            dq_buf_putc(m, '"');
        dq_buf_putc(m, t->text[j]);
    }
    dq_buf_putc(m, '"');
}

static void put_phrase(dq_buf *m, const qterm *t)
{
    if (m->len)
        dq_buf_puts(m, " OR ");
    query_put_quoted(m, t);
}

static bool is_vowel(char c)
{
    return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

static bool ends_with(const char *s, size_t n, const char *tail)
{
    size_t k = strlen(tail);
    return n >= k && !memcmp(s + n - k, tail, k);
}

/* The other grammatical number of an English word, by the regular rules
 * ("liability" <-> "liabilities", "sheet" <-> "sheets", "box" <-> "boxes"):
 * the index keeps words as written, and a question says "balance sheet"
 * where the page is headed "BALANCE SHEETS". Empty when the word is not a
 * plain lower-case word of four letters or more, looks like a verb form
 * ("-ed", "-ing") or its number is unclear ("ss", "us", "is" endings). */
static void number_twin(const char *w, size_t n, dq_buf *out)
{
    dq_buf_clear(out);
    if (n < 4)
        return;
    for (size_t i = 0; i < n; i++)
        if (w[i] < 'a' || w[i] > 'z')
            return;
    if (ends_with(w, n, "ed") || ends_with(w, n, "ing")) /* verb forms have no number */
        return;
    if (ends_with(w, n, "ies") && n > 4) {
        dq_buf_append(out, w, n - 3);
        dq_buf_putc(out, 'y');
    } else if (ends_with(w, n, "sses") || ends_with(w, n, "shes") || ends_with(w, n, "ches") ||
               ends_with(w, n, "xes")) {
        dq_buf_append(out, w, n - 2);
    } else if (w[n - 1] == 's') {
        if (ends_with(w, n, "ss") || ends_with(w, n, "us") || ends_with(w, n, "is"))
            return;
        dq_buf_append(out, w, n - 1);
    } else if (w[n - 1] == 'y' && !is_vowel(w[n - 2])) {
        dq_buf_append(out, w, n - 1);
        dq_buf_puts(out, "ies");
    } else if (w[n - 1] == 'x' || w[n - 1] == 'z' || ends_with(w, n, "ch") ||
               ends_with(w, n, "sh")) {
        dq_buf_append(out, w, n);
        dq_buf_puts(out, "es");
    } else {
        dq_buf_append(out, w, n);
        dq_buf_putc(out, 's');
    }
}

/* Each Latin term's (and pair's last word's) other number, OR-ed in as a
 * term of its own. */
static void put_twins(dq_buf *m, const qterms *q)
{
    dq_buf twin = DQ_BUF_INIT, phrase = DQ_BUF_INIT;
    for (size_t i = 0; i < q->n; i++) {
        const qterm *t = &q->items[i];
        if (t->cjk)
            continue;
        const char *space = memchr(t->text, ' ', (size_t)t->len);
        size_t head = space ? (size_t)(space - t->text) + 1 : 0;
        number_twin(t->text + head, (size_t)t->len - head, &twin);
        if (!twin.len)
            continue;
        dq_buf_clear(&phrase);
        dq_buf_append(&phrase, t->text, head);
        dq_buf_append(&phrase, twin.data, twin.len);
        if (qterms_find(q, phrase.data, (int)phrase.len) >= 0)
            continue;
        put_phrase(m, &(qterm){phrase.data, (int)phrase.len, false});
    }
    dq_buf_free(&twin);
    dq_buf_free(&phrase);
}

/* The words of the question's instructions, searched in the section path
 * only: "using the line items in the balance sheet" says where to look, not
 * what to find. (The question's own words match the section path too, which
 * the store's rank weighs 3 to the text's 1; see schema.c.) */
static void put_section_terms(dq_buf *m, const char *question, const qterms *q)
{
    qterms all = {0}, w = {0}, asked_pairs = {0};
    terms_of(question, TERMS_BIGRAMS, true, &all);
    /* and the instructions' word pairs ("balance sheet") */
    pairs_of(question, false, &asked_pairs);
    pairs_of(question, true, &all);
    for (size_t i = 0; i < asked_pairs.n; i++) {
        int k = qterms_find(&all, asked_pairs.items[i].text, asked_pairs.items[i].len);
        if (k >= 0)
            all.items[k].len = 0; /* asked, searched in the text already */
    }
    qterms_free(&asked_pairs);
    for (size_t i = 0; i < all.n; i++)
        if (all.items[i].len && qterms_find(q, all.items[i].text, all.items[i].len) < 0) {
            DQ_GROW(w.items, w.cap, w.n + 1);
            w.items[w.n++] = all.items[i];
            all.items[i].text = NULL; /* moved */
        }
    dq_buf sm = DQ_BUF_INIT;
    for (size_t i = 0; i < w.n; i++)
        put_phrase(&sm, &w.items[i]);
    put_twins(&sm, &w);
    if (sm.len)
        dq_buf_printf(m, " OR section : (%s)", sm.data);
    dq_buf_free(&sm);
    qterms_free(&w);
    qterms_free(&all);
}

char *query_build_match(const char *question, bool long_docs)
{
    qterms q = {0};
    if (qterms_build(question ? question : "", TERMS_BIGRAMS, &q) == 0) {
        qterms_free(&q);
        dq_set_error("the question has no searchable words");
        return NULL;
    }
    dq_buf m = DQ_BUF_INIT;
    for (size_t i = 0; i < q.n; i++)
        put_phrase(&m, &q.items[i]);
    if (long_docs) {
        qterms pq = {0};
        qterms_pairs(question, &pq);
        for (size_t i = 0; i < pq.n; i++)
            put_phrase(&m, &pq.items[i]);
        /* Over short passages the other number only adds near-misses
         * (SQuAD dev hit@5 0.912 -> 0.900). */
        put_twins(&m, &q);
        put_twins(&m, &pq);
        qterms_free(&pq);
        put_section_terms(&m, question, &q);
    }
    qterms_free(&q);
    return dq_buf_take(&m);
}

char *retrieve_build_match(const char *question)
{
    return query_build_match(question, false);
}
