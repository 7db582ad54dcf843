/* csv.c - question sets from CSV: C-Eval, CMMLU and MMLU layouts.
 *
 * The reader is RFC 4180: fields in double quotes may hold commas, CR, LF
 * and doubled quotes; records end at CRLF or LF outside quotes (C-Eval's dev
 * files have multi-line explanations, so reading line by line would be
 * wrong). Each record remembers the line it started on, so a malformed row
 * is reported where an editor would show it, and is skipped, not fatal: one
 * bad row in a 13,000-question run should cost one question.
 */
#include "eval/eval.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"

typedef struct {
    char **fields; /* (n) */
    size_t n, cap;
    int line;      /* where the record starts */
} csv_record;

static void record_clear(csv_record *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->fields[i]);
    r->n = 0;
}

static void record_push(csv_record *r, dq_buf *field)
{
    DQ_GROW(r->fields, r->cap, r->n + 1);
    r->fields[r->n++] = dq_buf_take(field);
}

static void warn(eval_set *set, const char *name, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void warn(eval_set *set, const char *name, int line, const char *fmt, ...)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "%s:%d: ", name, line);
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    dq_buf_puts(&b, tmp);
    DQ_GROW(set->warnings, set->cap_warnings, set->n_warnings + 1);
    set->warnings[set->n_warnings++] = dq_buf_take(&b);
}

/* Reads the record starting at *pos. Returns 1 with r filled, 0 at the end,
 * -1 for a quoted field that never closes (r->line says where it opened). */
static int csv_next(const char *s, size_t n, size_t *pos, int *line, csv_record *r)
{
    record_clear(r);
    size_t i = *pos;
    if (i >= n)
        return 0;
    r->line = *line;
    dq_buf field = DQ_BUF_INIT;
    dq_buf_reserve(&field, 1);
    bool quoted = false, was_quoted = false;
    for (;;) {
        if (i >= n) {
            if (quoted) {
                dq_buf_free(&field);
                *pos = n;
                return -1;
            }
            record_push(r, &field);
            break;
        }
        char c = s[i];
        if (quoted) {
            if (c == '"') {
                if (i + 1 < n && s[i + 1] == '"') {
                    dq_buf_putc(&field, '"');
                    i += 2;
                    continue;
                }
                quoted = false;
                i++;
                continue;
            }
            if (c == '\n')
                (*line)++;
            dq_buf_putc(&field, c);
            i++;
            continue;
        }
        if (c == '"' && field.len == 0 && !was_quoted) {
            quoted = was_quoted = true;
            i++;
            continue;
        }
        if (c == ',') {
            record_push(r, &field);
            dq_buf_reserve(&field, 1);
            was_quoted = false;
            i++;
            continue;
        }
        if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
            i++;
        if (s[i] == '\n') {
            (*line)++;
            i++;
            record_push(r, &field);
            break;
        }
        dq_buf_putc(&field, c); /* a stray quote inside an unquoted field is kept */
        i++;
    }
    *pos = i;
    return 1;
}

/* Column positions of a layout; -1 when absent. */
typedef struct {
    int id, question, choice[4], answer, explanation;
    int min_fields;
} layout;

static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r')
            return false;
    return true;
}

/* A header names A, B, C, D in four adjacent columns. */
static bool header_layout(const csv_record *r, layout *L)
{
    for (size_t a = 0; a + 3 < r->n; a++) {
        if (strcmp(r->fields[a], "A") || strcmp(r->fields[a + 1], "B") ||
            strcmp(r->fields[a + 2], "C") || strcmp(r->fields[a + 3], "D"))
            continue;
        *L = (layout){.id = -1, .question = -1, .answer = -1, .explanation = -1};
        for (int k = 0; k < 4; k++)
            L->choice[k] = (int)a + k;
        for (size_t i = 0; i < r->n; i++) {
            const char *f = r->fields[i];
            if (!strcasecmp(f, "id") || (i == 0 && *f == '\0'))
                L->id = (int)i;
            else if (!strcasecmp(f, "question"))
                L->question = (int)i;
            else if (!strcasecmp(f, "answer"))
                L->answer = (int)i;
            else if (!strcasecmp(f, "explanation"))
                L->explanation = (int)i;
        }
        if (L->question < 0 && a > 0)
            L->question = (int)a - 1;
        L->min_fields = L->choice[3] + 1;
        if (L->answer + 1 > L->min_fields)
            L->min_fields = L->answer + 1;
        /* a "question" column after D must be there too (found by fuzz_ceval_csv) */
        if (L->question + 1 > L->min_fields)
            L->min_fields = L->question + 1;
        return L->question >= 0;
    }
    return false;
}

static char answer_letter(const char *f)
{
    while (*f == ' ' || *f == '\t')
        f++;
    char c = *f;
    if (c >= 'a' && c <= 'd')
        c = (char)(c - 'a' + 'A');
    if (c < 'A' || c > 'D')
        return 0;
    f++;
    while (*f == ' ' || *f == '\t' || *f == '\r')
        f++;
    return *f ? 0 : c;
}

static void add_row(eval_set *set, const char *name, const char *subject, const char *split,
                    const csv_record *r, const layout *L, size_t row)
{
    if (r->n == 1 && is_blank(r->fields[0]))
        return; /* an empty line, such as a trailing one */
    if ((int)r->n < L->min_fields) {
        warn(set, name, r->line, "expected %d fields, found %zu", L->min_fields, r->n);
        return;
    }
    for (size_t i = 0; i < r->n; i++)
        if (!utf8_valid(r->fields[i], strlen(r->fields[i]))) {
            warn(set, name, r->line, "field %zu is not valid UTF-8", i + 1);
            return;
        }
    const char *q = r->fields[L->question];
    if (is_blank(q)) {
        warn(set, name, r->line, "empty question");
        return;
    }
    char ans = 0;
    if (L->answer >= 0 && (int)r->n > L->answer) {
        const char *f = r->fields[L->answer];
        if (!is_blank(f)) {
            ans = answer_letter(f);
            if (!ans) {
                warn(set, name, r->line, "answer '%.20s' is not one of A, B, C, D", f);
                return;
            }
        }
    }
    DQ_GROW(set->items, set->cap, set->n + 1);
    eval_question *e = &set->items[set->n++];
    memset(e, 0, sizeof *e);
    e->subject = dq_strdup(subject);
    e->split = dq_strdup(split);
    /* An id column past the row's end: fields beyond r->n are the previous
     * record's, already freed (found by fuzz_ceval_csv). */
    if (L->id >= 0 && (int)r->n > L->id && !is_blank(r->fields[L->id])) {
        e->id = dq_strdup(r->fields[L->id]);
    } else {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%zu", row);
        e->id = dq_strdup(tmp);
    }
    e->question = dq_strdup(q);
    for (int k = 0; k < 4; k++)
        e->choices[k] = dq_strdup(r->fields[L->choice[k]]);
    e->answer = ans;
    if (L->explanation >= 0 && (int)r->n > L->explanation && !is_blank(r->fields[L->explanation]))
        e->explanation = dq_strdup(r->fields[L->explanation]);
    e->file = dq_strdup(name);
    e->line = r->line;
}

void eval_subject_of(const char *path, char **subject, char **split)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 4 && !strcasecmp(base + n - 4, ".csv"))
        n -= 4;
    static const char *const splits[] = {"val", "dev", "test"};
    for (size_t i = 0; i < 3; i++) {
        size_t k = strlen(splits[i]);
        if (n > k + 1 && base[n - k - 1] == '_' && !strncmp(base + n - k, splits[i], k)) {
            *subject = dq_strndup(base, n - k - 1);
            *split = dq_strdup(splits[i]);
            return;
        }
    }
    *subject = dq_strndup(base, n);
    *split = dq_strdup("");
}

int eval_read_csv_text(const char *name, const char *text, size_t n, eval_set *set)
{
    if (n >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) {
        text += 3;
        n -= 3;
    }
    if (memchr(text, '\0', n)) {
        dq_set_error("cannot read '%s': not a text file", name);
        return -1;
    }
    char *subject, *split;
    eval_subject_of(name, &subject, &split);
    csv_record r = {0};
    size_t pos = 0, row = 0;
    int line = 1, rc;
    layout L;
    bool have_layout = false;
    while ((rc = csv_next(text, n, &pos, &line, &r)) != 0) {
        if (rc < 0) {
            warn(set, name, r.line, "quoted field never closes; rest of file skipped");
            break;
        }
        if (!have_layout) {
            have_layout = true;
            if (header_layout(&r, &L))
                continue;
            /* MMLU: question, A, B, C, D, answer and no header */
            L = (layout){.id = -1, .question = 0, .choice = {1, 2, 3, 4}, .answer = 5,
                         .explanation = -1, .min_fields = 6};
        }
        add_row(set, name, subject, split, &r, &L, row);
        if (!(r.n == 1 && is_blank(r.fields[0])))
            row++;
    }
    record_clear(&r);
    free(r.fields);
    free(subject);
    free(split);
    return 0;
}

int eval_read_csv(const char *path, eval_set *set)
{
    dq_buf b = DQ_BUF_INIT;
    if (dq_read_file(path, &b) < 0) {
        dq_buf_free(&b);
        return -1;
    }
    int rc = eval_read_csv_text(path, b.data ? b.data : "", b.len, set);
    dq_buf_free(&b);
    return rc;
}

void eval_question_free(eval_question *e)
{
    if (!e)
        return;
    free(e->subject);
    free(e->split);
    free(e->id);
    free(e->question);
    for (int k = 0; k < 4; k++)
        free(e->choices[k]);
    free(e->explanation);
    free(e->file);
    memset(e, 0, sizeof *e);
}

void eval_set_free(eval_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n; i++)
        eval_question_free(&set->items[i]);
    free(set->items);
    for (size_t i = 0; i < set->n_warnings; i++)
        free(set->warnings[i]);
    free(set->warnings);
    memset(set, 0, sizeof *set);
}
