/* chart.c - a horizontal bar chart as standalone SVG.
 *
 * SVG rather than HTML with a script: it opens in any browser or image
 * viewer, offline, and diffs as text. One row per label, one bar per series
 * in the row, a percentage at each bar's end, a legend on top.
 */
#include "eval/eval.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"

static const char *const colours[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
                                      "#76b7b2", "#edc948"};

static void put_xml(dq_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': dq_buf_puts(b, "&lt;"); break;
        case '>': dq_buf_puts(b, "&gt;"); break;
        case '&': dq_buf_puts(b, "&amp;"); break;
        case '"': dq_buf_puts(b, "&quot;"); break;
        default: dq_buf_putc(b, *s);
        }
    }
}

/* Approximate width in pixels of a label at 12px: CJK characters are
 * square, Latin ones a little over half as wide. */
static int text_px(const char *s)
{
    return utf8_width(s, 7, 12);
}

char *eval_chart_svg(const eval_chart *c)
{
    const int bar_w = 500, bar_h = 14, gap = 8, top = 60;
    int label_w = 80;
    for (size_t i = 0; i < c->n_labels; i++)
        if (text_px(c->labels[i]) + 16 > label_w)
            label_w = text_px(c->labels[i]) + 16;
    size_t ns = c->n_series ? c->n_series : 1;
    int row_h = (int)ns * bar_h + gap;
    int height = top + (int)c->n_labels * row_h + 30;
    int width_px = label_w + bar_w + 80;
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                  "font-family=\"'Noto Sans CJK SC', 'PingFang SC', 'Microsoft YaHei', sans-serif\" "
                  "font-size=\"12\">\n"
                  "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                  width_px, height);
    dq_buf_puts(&b, "<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">");
    put_xml(&b, c->title ? c->title : "");
    dq_buf_puts(&b, "</text>\n");
    for (size_t s = 0; s < c->n_series; s++) {
        int x = 10 + (int)s * 150;
        dq_buf_printf(&b, "<rect x=\"%d\" y=\"34\" width=\"12\" height=\"12\" fill=\"%s\"/>", x,
                      colours[s % 6]);
        dq_buf_printf(&b, "<text x=\"%d\" y=\"45\">", x + 16);
        put_xml(&b, c->series[s]);
        dq_buf_puts(&b, "</text>\n");
    }
    for (int g = 0; g <= 4; g++) { /* grid at 0, 25, 50, 75, 100% */
        int x = label_w + g * bar_w / 4;
        dq_buf_printf(&b,
                      "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>"
                      "<text x=\"%d\" y=\"%d\" fill=\"#888\" text-anchor=\"middle\">%d%%</text>\n",
                      x, top - 4, x, height - 24, x, height - 10, g * 25);
    }
    for (size_t i = 0; i < c->n_labels; i++) {
        int y = top + (int)i * row_h;
        dq_buf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", label_w - 8,
                      y + (int)ns * bar_h / 2 + 4);
        put_xml(&b, c->labels[i]);
        dq_buf_puts(&b, "</text>\n");
        for (size_t s = 0; s < ns; s++) {
            double v = c->values[i * ns + s];
            if (!(v >= 0))
                v = 0;
            if (v > 1)
                v = 1;
            int w = (int)(v * bar_w + 0.5);
            int by = y + (int)s * bar_h;
            dq_buf_printf(&b,
                          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>"
                          "<text x=\"%d\" y=\"%d\" font-size=\"10\">%.1f%%</text>\n",
                          label_w, by, w, bar_h - 2, colours[s % 6], label_w + w + 4,
                          by + bar_h - 4, 100 * v);
        }
    }
    dq_buf_puts(&b, "</svg>\n");
    return dq_buf_take(&b);
}

char *eval_ceval_chart_svg(const eval_scores *s, const char *model, const eval_run_params *p)
{
    size_t n_labels = s->n_subjects + EVAL_N_CATEGORIES + 1;
    const char **labels = dq_calloc(n_labels, sizeof *labels);
    char **owned = dq_calloc(n_labels, sizeof *owned);
    double *values = dq_calloc(n_labels, sizeof *values);
    size_t nl = 0;
    for (size_t i = 0; i < s->n_subjects; i++) {
        if (!s->subjects[i].graded)
            continue;
        dq_buf b = DQ_BUF_INIT;
        if (strcmp(s->subjects[i].name, s->subjects[i].subject))
            dq_buf_printf(&b, "%s %s", s->subjects[i].name, s->subjects[i].subject);
        else
            dq_buf_puts(&b, s->subjects[i].subject);
        owned[nl] = dq_buf_take(&b);
        labels[nl] = owned[nl];
        values[nl++] = s->subjects[i].accuracy;
    }
    for (int c = 0; c < EVAL_N_CATEGORIES; c++)
        if (s->categories[c].subjects) {
            labels[nl] = eval_categories[c];
            values[nl++] = s->categories[c].accuracy;
        }
    if (s->graded) {
        labels[nl] = "Average";
        values[nl++] = s->average;
    }
    const char *series[] = {"accuracy"};
    dq_buf title = DQ_BUF_INIT;
    dq_buf_printf(&title, "C-Eval accuracy: %s, %d-shot%s%s", model, p->shots,
                  p->cot ? ", chain-of-thought" : "", p->rag ? ", with passages" : "");
    eval_chart chart = {.title = title.data, .labels = labels, .n_labels = nl,
                        .series = series, .n_series = 1, .values = values};
    char *svg = eval_chart_svg(&chart);
    dq_buf_free(&title);
    for (size_t i = 0; i < n_labels; i++)
        free(owned[i]);
    free(owned);
    free(labels);
    free(values);
    return svg;
}

char *eval_retrieval_chart_svg(const eval_rmetrics *m, size_t n, const char *questions_path,
                               size_t n_questions)
{
    static const char *const rows[] = {"hit@1",  "hit@3",  "hit@5",  "hit@10",
                                       "MRR@10", "F1",     "page@1", "page@3",
                                       "page@5", "page@10", "page MRR"};
    const char *series[3];
    double values[11 * 3];
    if (n > 3)
        n = 3; /* bm25, dense, hybrid */
    /* page rows only when the questions name gold pages */
    size_t n_rows = n && m[0].page_questions ? 11 : 6;
    for (size_t k = 0; k < n; k++) {
        series[k] = eval_mode_name(m[k].mode);
        for (int h = 0; h < EVAL_N_HITS; h++) {
            values[h * n + k] = m[k].hit[h];
            values[(6 + h) * n + k] = m[k].page_hit[h];
        }
        values[4 * n + k] = m[k].mrr;
        values[5 * n + k] = m[k].f1;
        values[10 * n + k] = m[k].page_mrr;
    }
    dq_buf title = DQ_BUF_INIT;
    dq_buf_printf(&title, "Retrieval: %s (%zu questions)", questions_path, n_questions);
    eval_chart chart = {.title = title.data, .labels = rows, .n_labels = n_rows,
                        .series = series, .n_series = n, .values = values};
    char *svg = eval_chart_svg(&chart);
    dq_buf_free(&title);
    return svg;
}
