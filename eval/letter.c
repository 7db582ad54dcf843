/* letter.c - which of A-D a model chose, from its text or its first token's
 * log-probabilities.
 *
 * The text is first folded (full-width Ａ-Ｄ and brackets to ASCII), then read
 * in three passes, most explicit first: the last answer phrase ("答案是 B",
 * "选B", "the answer is B"; the last, because a chain of thought weighs the
 * options before its "所以答案是C。"), then a letter opening the reply ("B.",
 * "(B)", "**B**"), then a single distinct stand-alone letter anywhere ("我认为
 * B 正确"). Anything else is unparseable rather than a guess: "A 或 B" has two.
 */
#include "eval/eval.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"

const char *eval_method_name(eval_method m)
{
    switch (m) {
    case EVAL_BY_LOGPROB: return "logprob";
    case EVAL_BY_TEXT: return "text";
    default: return "none";
    }
}

eval_method eval_method_parse(const char *name)
{
    if (name && !strcmp(name, "logprob"))
        return EVAL_BY_LOGPROB;
    if (name && !strcmp(name, "text"))
        return EVAL_BY_TEXT;
    return EVAL_BY_NONE;
}

/* Full-width forms folded to ASCII; invalid bytes become '?'. */
static char *fold(const char *s)
{
    size_t n = strlen(s);
    dq_buf b = DQ_BUF_INIT;
    dq_buf_reserve(&b, n + 1);
    for (size_t i = 0; i < n;) {
        int len;
        uint32_t cp = uc_fold_fullwidth(utf8_at(s, n, i, &len));
        char enc[4];
        dq_buf_append(&b, enc, (size_t)utf8_encode(cp, enc));
        i += (size_t)len;
    }
    return dq_buf_take(&b);
}

static bool is_letter(char c)
{
    return c >= 'A' && c <= 'D';
}

static bool is_word(char c)
{
    return isalnum((unsigned char)c);
}

/* Fillers between an answer phrase and its letter. */
static const char *const fillers[] = {
    " ", "\t", "\n", ":", "：", "是", "为", "應", "应", "该", "選", "选", "项", "择", "(", "[",
    "【", "「", "*", "\"", "“", "'", "‘", "is", "应当", "可能", "就", "正确", "的", "option", "choice",
};

static const char *skip_fillers(const char *p)
{
    for (bool moved = true; moved;) {
        moved = false;
        for (size_t i = 0; i < sizeof fillers / sizeof *fillers; i++) {
            size_t k = strlen(fillers[i]);
            if (strncasecmp(p, fillers[i], k) != 0)
                continue;
            if (isalpha((unsigned char)fillers[i][0]) && is_word(p[k]))
                continue; /* "is", "option" must end a word */
            p += k;
            moved = true;
            break;
        }
    }
    return p;
}

/* A letter at p that stands alone: not followed by another Latin letter or
 * digit (so "Because" or "A1" are not answers). */
static bool letter_ends(const char *p)
{
    return is_letter(p[0]) && !is_word(p[1]);
}

static char by_phrase(const char *s)
{
    static const char *const phrases[] = {"答案", "选", "選", "answer"};
    char found = 0;
    for (const char *p = s; *p; p++) {
        for (size_t i = 0; i < sizeof phrases / sizeof *phrases; i++) {
            size_t k = strlen(phrases[i]);
            if (strncasecmp(p, phrases[i], k) != 0)
                continue;
            if (i == 3 && p > s && is_word(p[-1]))
                continue;
            const char *q = skip_fillers(p + k);
            if (letter_ends(q))
                found = *q;
        }
    }
    return found;
}

static char by_opening(const char *s)
{
    const char *p = s;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '*' || *p == '(' ||
           *p == '[' || *p == '"')
        p++;
    if (!strncmp(p, "【", 3) || !strncmp(p, "“", 3))
        p += 3;
    if (!is_letter(*p))
        return 0;
    char c = p[1];
    if (c == ' ' || c == '\t') { /* "A lot of" is English, "B \n" an answer */
        const char *q = p + 1;
        while (*q == ' ' || *q == '\t')
            q++;
        return *q == '\0' || *q == '\n' || *q == '\r' ? *p : 0;
    }
    if (c == '\0' || c == '.' || c == ')' || c == ']' || c == ':' || c == ',' || c == '*' ||
        c == '"' || c == '\n' || c == '\r' || c == ';')
        return *p;
    if ((unsigned char)c >= 0x80) { /* 、。，） or a CJK character */
        int len;
        uint32_t cp = utf8_at(p + 1, strlen(p + 1), 0, &len);
        if (uc_is_cjk(cp) || uc_is_cjk_punct(cp))
            return *p;
    }
    return 0;
}

static char by_single(const char *s)
{
    char seen = 0;
    for (const char *p = s; *p; p++) {
        if (!is_letter(*p) || (p > s && is_word(p[-1])) || is_word(p[1]))
            continue;
        /* "A cat" is an article, not a choice */
        if (*p == 'A' && p[1] == ' ' && islower((unsigned char)p[2]))
            continue;
        if (seen && seen != *p)
            return 0;
        seen = *p;
    }
    return seen;
}

char eval_parse_letter(const char *text)
{
    if (!text || !*text)
        return 0;
    char *s = fold(text);
    char c = by_phrase(s);
    if (!c)
        c = by_opening(s);
    if (!c)
        c = by_single(s);
    free(s);
    return c;
}

static char token_letter(const char *tok)
{
    if (!tok)
        return 0;
    char *s = fold(tok);
    const char *p = s;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '(' || *p == '[')
        p++;
    char c = is_letter(*p) ? *p : 0;
    if (c) {
        p++;
        while (*p == ' ' || *p == ')' || *p == ']' || *p == '.' || *p == '\n')
            p++;
        if (*p)
            c = 0;
    }
    free(s);
    return c;
}

char eval_logprob_letter(const llm_logprob *top, size_t n)
{
    char best = 0;
    double best_lp = 0;
    for (size_t i = 0; i < n; i++) {
        char c = token_letter(top[i].token);
        if (c && (!best || top[i].logprob > best_lp)) {
            best = c;
            best_lp = top[i].logprob;
        }
    }
    return best;
}

char eval_choose(const llm_reply *r, eval_method *how)
{
    char lp = r->n_top ? eval_logprob_letter(r->top, r->n_top) : 0;
    bool first_is_letter = r->n_top && token_letter(r->top[0].token);
    char tx = eval_parse_letter(r->text);
    /* When the model opens with a letter its distribution over A-D is the
     * answer (as C-Eval scores open models); when it opens with words
     * ("答案是B"), the few letters in its alternatives are noise, and the
     * text says more. An in-process model scored every letter exactly, so
     * its first-token distribution over A-D is the answer whatever it wrote. */
    if (lp && (r->scored || first_is_letter || !tx)) {
        *how = EVAL_BY_LOGPROB;
        return lp;
    }
    if (tx) {
        *how = EVAL_BY_TEXT;
        return tx;
    }
    *how = EVAL_BY_NONE;
    return 0;
}
