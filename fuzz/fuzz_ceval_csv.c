/* fuzz_ceval_csv.c - libFuzzer harness: the C-Eval/CMMLU/MMLU question CSV reader.
 *
 * The first byte picks the file name the text is read under (it decides the
 * subject and split); the rest goes through eval_read_csv_text(). Every row
 * kept must have a question and four choices as valid UTF-8, an answer that
 * is 0 or A-D, and a line number inside the text; skipped rows carry a
 * warning.
 */
#include "common/common.h"
#include "eval/eval.h"

#include <stdlib.h>
#include <string.h>

static bool text_ok(const char *s)
{
    return s && utf8_valid(s, strlen(s));
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const names[] = {"computer_network_val.csv", "law_dev.csv",
                                        "high_school_physics_test.csv", "mmlu.csv"};
    eval_set set;
    memset(&set, 0, sizeof set);
    size_t lines = 1;
    for (size_t i = 1; i < size; i++)
        lines += data[i] == '\n' || data[i] == '\r';
    if (eval_read_csv_text(names[data[0] & 3], (const char *)data + 1, size - 1, &set) == 0) {
        for (size_t i = 0; i < set.n; i++) {
            const eval_question *q = &set.items[i];
            if (!text_ok(q->question) || !text_ok(q->subject) || !text_ok(q->id))
                abort();
            for (int c = 0; c < 4; c++)
                if (!text_ok(q->choices[c]))
                    abort();
            if (q->answer && (q->answer < 'A' || q->answer > 'D'))
                abort();
            if (q->line < 1 || (size_t)q->line > lines)
                abort();
        }
        for (size_t i = 0; i < set.n_warnings; i++)
            if (!set.warnings[i] || !set.warnings[i][0])
                abort();
    }
    eval_set_free(&set);
    return 0;
}
