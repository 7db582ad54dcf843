/* score.c - accuracy per subject, per C-Eval category and on average.
 *
 * C-Eval reports a category as the mean of its subjects' accuracies and the
 * average as the mean over subjects, so a subject with 300 questions weighs
 * no more than one with 50; the question-weighted figure is kept too
 * ("overall") because it is what a user's own sets usually want. Only rows
 * with a gold answer are graded (a test split has none).
 */
#include "eval/eval.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"

void eval_answer_free(eval_answer *a)
{
    if (!a)
        return;
    free(a->text);
    memset(a, 0, sizeof *a);
}

static eval_subject_score *subject_slot(eval_scores *s, size_t *cap, const char *key)
{
    for (size_t i = 0; i < s->n_subjects; i++)
        if (!strcmp(s->subjects[i].subject, key))
            return &s->subjects[i];
    DQ_GROW(s->subjects, *cap, s->n_subjects + 1);
    eval_subject_score *e = &s->subjects[s->n_subjects++];
    memset(e, 0, sizeof *e);
    e->subject = dq_strdup(key);
    const eval_subject_info *info = eval_subject_find(key);
    e->name = info ? info->name : e->subject;
    e->category = info ? info->category : -1;
    return e;
}

void eval_score(const eval_set *set, const eval_answer *answers, eval_scores *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    for (size_t i = 0; i < set->n; i++) {
        const eval_question *q = &set->items[i];
        const eval_answer *a = &answers[i];
        eval_subject_score *e = subject_slot(out, &cap, q->subject);
        e->questions++;
        if (a->failed)
            e->failed++;
        else if (!a->choice)
            e->unparsed++;
        if (q->answer) {
            e->graded++;
            if (a->choice == q->answer)
                e->correct++;
        }
    }
    int graded_subjects = 0;
    double sum = 0;
    for (size_t i = 0; i < out->n_subjects; i++) {
        eval_subject_score *e = &out->subjects[i];
        out->questions += e->questions;
        out->graded += e->graded;
        out->correct += e->correct;
        out->unparsed += e->unparsed;
        out->failed += e->failed;
        if (e->graded == 0)
            continue;
        e->accuracy = (double)e->correct / e->graded;
        graded_subjects++;
        sum += e->accuracy;
        if (e->category >= 0) {
            eval_category_score *c = &out->categories[e->category];
            c->subjects++;
            c->graded += e->graded;
            c->correct += e->correct;
            c->accuracy += e->accuracy;
        }
    }
    for (int c = 0; c < EVAL_N_CATEGORIES; c++)
        if (out->categories[c].subjects)
            out->categories[c].accuracy /= out->categories[c].subjects;
    out->average = graded_subjects ? sum / graded_subjects : 0;
    out->overall = out->graded ? (double)out->correct / out->graded : 0;
}

void eval_scores_free(eval_scores *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_subjects; i++)
        free(s->subjects[i].subject);
    free(s->subjects);
    memset(s, 0, sizeof *s);
}
