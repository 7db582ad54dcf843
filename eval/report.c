/* report.c - C-Eval results as a table, JSON, CSV and a submission file.
 *
 * Percentages are printed with one decimal, as C-Eval's leaderboard does;
 * JSON and CSV carry the raw fractions and counts so nothing is lost to
 * rounding.
 */
#include "eval/eval.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

/* Display width of a UTF-8 string: CJK characters take two columns. */
static int width(const char *s)
{
    size_t n = strlen(s);
    int w = 0;
    for (size_t i = 0; i < n;) {
        int len;
        uint32_t cp = utf8_at(s, n, i, &len);
        w += uc_is_cjk(cp) || uc_is_cjk_punct(cp) ? 2 : 1;
        i += (size_t)len;
    }
    return w;
}

static void pad(dq_buf *b, const char *s, int cols)
{
    dq_buf_puts(b, s);
    for (int w = width(s); w < cols; w++)
        dq_buf_putc(b, ' ');
}

char *eval_report_table(const eval_scores *s)
{
    dq_buf b = DQ_BUF_INIT;
    int kw = 8, nw = 4;
    for (size_t i = 0; i < s->n_subjects; i++) {
        if (width(s->subjects[i].subject) > kw)
            kw = width(s->subjects[i].subject);
        if (width(s->subjects[i].name) > nw)
            nw = width(s->subjects[i].name);
    }
    pad(&b, "subject", kw + 2);
    pad(&b, "name", nw + 2);
    dq_buf_puts(&b, "category        questions  correct  unparsed  accuracy\n");
    for (size_t i = 0; i < s->n_subjects; i++) {
        const eval_subject_score *e = &s->subjects[i];
        pad(&b, e->subject, kw + 2);
        pad(&b, e->name, nw + 2);
        pad(&b, e->category >= 0 ? eval_categories[e->category] : "-", 16);
        dq_buf_printf(&b, "%9d  %7d  %8d  ", e->questions, e->correct, e->unparsed);
        if (e->graded)
            dq_buf_printf(&b, "%7.1f%%\n", 100 * e->accuracy);
        else
            dq_buf_puts(&b, "      -\n");
    }
    dq_buf_putc(&b, '\n');
    for (int c = 0; c < EVAL_N_CATEGORIES; c++) {
        const eval_category_score *cs = &s->categories[c];
        if (!cs->subjects)
            continue;
        dq_buf_printf(&b, "%-16s %5.1f%%  (%d subject%s, %d/%d)\n", eval_categories[c],
                      100 * cs->accuracy, cs->subjects, cs->subjects == 1 ? "" : "s",
                      cs->correct, cs->graded);
    }
    if (s->graded) {
        dq_buf_printf(&b, "%-16s %5.1f%%  (mean of subjects)\n", "Average", 100 * s->average);
        dq_buf_printf(&b, "%-16s %5.1f%%  (%d/%d questions)\n", "Overall", 100 * s->overall,
                      s->correct, s->graded);
    } else {
        dq_buf_printf(&b, "no gold answers (a test split): %d questions answered\n",
                      s->questions - s->failed);
    }
    dq_buf_printf(&b, "unparseable answers: %d", s->unparsed);
    if (s->failed)
        dq_buf_printf(&b, ", failed requests: %d", s->failed);
    dq_buf_putc(&b, '\n');
    return dq_buf_take(&b);
}

static char letter_str(char c, char out[2])
{
    out[0] = c;
    out[1] = '\0';
    return c;
}

char *eval_report_json(const eval_set *set, const eval_answer *answers, const eval_scores *s,
                       const char *model, const eval_run_params *params)
{
    cJSON *root = cJSON_CreateObject();
    if (model)
        cJSON_AddStringToObject(root, "model", model);
    if (params) {
        cJSON *p = cJSON_AddObjectToObject(root, "settings");
        cJSON_AddNumberToObject(p, "shots", params->shots);
        cJSON_AddBoolToObject(p, "cot", params->cot);
        cJSON_AddBoolToObject(p, "rag", params->rag);
    }
    cJSON_AddNumberToObject(root, "questions", s->questions);
    cJSON_AddNumberToObject(root, "graded", s->graded);
    cJSON_AddNumberToObject(root, "correct", s->correct);
    cJSON_AddNumberToObject(root, "unparsed", s->unparsed);
    cJSON_AddNumberToObject(root, "failed", s->failed);
    cJSON_AddNumberToObject(root, "average", s->average);
    cJSON_AddNumberToObject(root, "overall", s->overall);
    cJSON *cats = cJSON_AddObjectToObject(root, "categories");
    for (int c = 0; c < EVAL_N_CATEGORIES; c++) {
        const eval_category_score *cs = &s->categories[c];
        if (!cs->subjects)
            continue;
        cJSON *o = cJSON_AddObjectToObject(cats, eval_categories[c]);
        cJSON_AddNumberToObject(o, "accuracy", cs->accuracy);
        cJSON_AddNumberToObject(o, "subjects", cs->subjects);
        cJSON_AddNumberToObject(o, "graded", cs->graded);
        cJSON_AddNumberToObject(o, "correct", cs->correct);
    }
    cJSON *subs = cJSON_AddArrayToObject(root, "subjects");
    for (size_t i = 0; i < s->n_subjects; i++) {
        const eval_subject_score *e = &s->subjects[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "subject", e->subject);
        cJSON_AddStringToObject(o, "name", e->name);
        if (e->category >= 0)
            cJSON_AddStringToObject(o, "category", eval_categories[e->category]);
        else
            cJSON_AddNullToObject(o, "category");
        cJSON_AddNumberToObject(o, "questions", e->questions);
        cJSON_AddNumberToObject(o, "graded", e->graded);
        cJSON_AddNumberToObject(o, "correct", e->correct);
        cJSON_AddNumberToObject(o, "unparsed", e->unparsed);
        cJSON_AddNumberToObject(o, "failed", e->failed);
        cJSON_AddNumberToObject(o, "accuracy", e->accuracy);
        cJSON_AddItemToArray(subs, o);
    }
    cJSON *arr = cJSON_AddArrayToObject(root, "answers");
    for (size_t i = 0; i < set->n; i++) {
        const eval_question *q = &set->items[i];
        const eval_answer *a = &answers[i];
        cJSON *o = cJSON_CreateObject();
        char l[2];
        cJSON_AddStringToObject(o, "subject", q->subject);
        cJSON_AddStringToObject(o, "id", q->id);
        if (letter_str(q->answer, l))
            cJSON_AddStringToObject(o, "gold", l);
        if (letter_str(a->choice, l))
            cJSON_AddStringToObject(o, "choice", l);
        else
            cJSON_AddNullToObject(o, "choice");
        cJSON_AddStringToObject(o, "method", eval_method_name(a->method));
        cJSON_AddBoolToObject(o, "failed", a->failed);
        cJSON_AddBoolToObject(o, "cached", a->cached);
        if (a->text)
            cJSON_AddStringToObject(o, "text", a->text);
        cJSON_AddItemToArray(arr, o);
    }
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    char *copy = dq_strdup(out);
    cJSON_free(out);
    return copy;
}

static void csv_field(dq_buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        dq_buf_puts(b, s);
        return;
    }
    dq_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            dq_buf_putc(b, '"');
        dq_buf_putc(b, *s);
    }
    dq_buf_putc(b, '"');
}

char *eval_report_csv(const eval_scores *s)
{
    dq_buf b = DQ_BUF_INIT;
    dq_buf_puts(&b, "kind,subject,name,category,questions,graded,correct,unparsed,failed,accuracy\n");
    for (size_t i = 0; i < s->n_subjects; i++) {
        const eval_subject_score *e = &s->subjects[i];
        dq_buf_puts(&b, "subject,");
        csv_field(&b, e->subject);
        dq_buf_putc(&b, ',');
        csv_field(&b, e->name);
        dq_buf_printf(&b, ",%s,%d,%d,%d,%d,%d,%.4f\n",
                      e->category >= 0 ? eval_categories[e->category] : "", e->questions,
                      e->graded, e->correct, e->unparsed, e->failed, e->accuracy);
    }
    for (int c = 0; c < EVAL_N_CATEGORIES; c++) {
        const eval_category_score *cs = &s->categories[c];
        if (cs->subjects)
            dq_buf_printf(&b, "category,,,%s,,%d,%d,,,%.4f\n", eval_categories[c], cs->graded,
                          cs->correct, cs->accuracy);
    }
    dq_buf_printf(&b, "average,,,,%d,%d,%d,%d,%d,%.4f\n", s->questions, s->graded, s->correct,
                  s->unparsed, s->failed, s->average);
    dq_buf_printf(&b, "overall,,,,%d,%d,%d,%d,%d,%.4f\n", s->questions, s->graded, s->correct,
                  s->unparsed, s->failed, s->overall);
    return dq_buf_take(&b);
}

char *eval_report_submission(const eval_set *set, const eval_answer *answers)
{
    cJSON *root = cJSON_CreateObject();
    for (size_t i = 0; i < set->n; i++) {
        char l[2];
        if (!letter_str(answers[i].choice, l))
            continue;
        const eval_question *q = &set->items[i];
        cJSON *sub = cJSON_GetObjectItemCaseSensitive(root, q->subject);
        if (!sub)
            sub = cJSON_AddObjectToObject(root, q->subject);
        cJSON_DeleteItemFromObjectCaseSensitive(sub, q->id);
        cJSON_AddStringToObject(sub, q->id, l);
    }
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    char *copy = dq_strdup(out);
    cJSON_free(out);
    return copy;
}
