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
    size_t n = strlen(s);
    int px = 0;
    for (size_t i = 0; i < n;) {
        int len;
        uint32_t cp = utf8_at(s, n, i, &len);
        px += uc_is_cjk(cp) || uc_is_cjk_punct(cp) ? 12 : 7;
        i += (size_t)len;
    }
    return px;
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
