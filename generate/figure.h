/* figure.h - whether a table row states a figure, and one of the period a
 * question asks for (private to generate/).
 *
 * A question that asks for an amount ("What was Acme's FY2018 capital
 * expenditure?", "2019年营业收入是多少") is best answered by the table row
 * that states it (ingest/table.h writes one row a line, "label | 2018:
 * (1,577) | 2017: (1,373)"). A figure is a run of digits that is not part of
 * a word ("10-K", "Q2", "3M") and not a bare year; a cell is a figure when
 * it holds one and no word of three letters or more (a header cell such as
 * "Year ended May 31, 2019" is no figure). A row states the asked period
 * when a figure cell's column header holds one of the years the question
 * names. Sentences are left out: a number in prose is as often a date, a
 * count or a yard line as the amount asked for, and a number written as a
 * word ("seven times") is none at all, so on SQuAD favouring sentences with
 * digits lost more answers than it found.
 */
#ifndef DQ_GENERATE_FIGURE_H
#define DQ_GENERATE_FIGURE_H

#include <stdbool.h>
#include <stddef.h>

enum { FIGURE_MAX_YEARS = 8 };

typedef struct {
    char years[FIGURE_MAX_YEARS][5]; /* the years the question names, "2018" */
    int n_years;
    bool asks; /* the question asks for a figure: it names a period, or how much/many */
} figure_question;

void figure_question_read(const char *question, figure_question *out);

typedef enum {
    FIGURE_NONE = 0, /* no figure */
    FIGURE_SOME,     /* a figure, of no period or another one */
    FIGURE_ASKED,    /* a figure of a period the question names */
} figure_kind;

/* What the line s[0..n) states for question q: FIGURE_NONE unless it is a
 * table row (it holds " | "). */
figure_kind figure_in_line(const char *s, size_t n, const figure_question *q);

/* Whether s[0..n) is a table row line. */
bool figure_is_row(const char *s, size_t n);

#endif
