/* prompt.c - C-Eval's chat prompt, retrieved passages, and the cache key.
 *
 * The layout follows the official C-Eval evaluator for chat models
 * (code/evaluator_series/evaluators/chatgpt.py): a system turn naming the
 * subject, each dev example as a user turn ending "答案：" and an assistant
 * turn with its letter (or, with chain-of-thought, its explanation and
 * "所以答案是X。"), the subject line repeated at the head of the first user
 * turn. Keeping it byte-for-byte lets numbers be compared with published ones.
 */
#include "eval/eval.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"

static void push(eval_prompt *p, size_t *cap, const char *role, char *content)
{
    DQ_GROW(p->msgs, *cap, p->n + 1);
    p->msgs[p->n++] = (llm_message){.role = role, .content = content};
}

static void put_question(dq_buf *b, const eval_question *q)
{
    dq_buf_puts(b, q->question);
    for (int k = 0; k < 4; k++)
        dq_buf_printf(b, "\n%c. %s", 'A' + k, q->choices[k]);
    dq_buf_puts(b, "\n答案：");
}

void eval_build_prompt(const eval_question *q, const char *subject_name,
                       const eval_question *const *shots, size_t n_shots, bool cot,
                       const char *passages, eval_prompt *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "你是一个中文人工智能助手，以下是中国关于%s考试的单项选择题，请选出其中的正确答案。",
                  subject_name);
    push(out, &cap, "system", dq_buf_take(&b));
    for (size_t i = 0; i <= n_shots; i++) {
        const eval_question *e = i < n_shots ? shots[i] : q;
        if (i == 0)
            dq_buf_printf(&b, "以下是中国关于%s考试的单项选择题，请选出其中的正确答案。\n\n",
                          subject_name);
        if (i == n_shots && passages)
            dq_buf_puts(&b, passages);
        put_question(&b, e);
        push(out, &cap, "user", dq_buf_take(&b));
        if (i == n_shots)
            break;
        if (cot)
            dq_buf_printf(&b, "让我们一步一步思考，\n%s\n所以答案是%c。",
                          e->explanation ? e->explanation : "", e->answer);
        else
            dq_buf_putc(&b, e->answer);
        push(out, &cap, "assistant", dq_buf_take(&b));
    }
}

void eval_prompt_free(eval_prompt *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free((char *)p->msgs[i].content);
    free(p->msgs);
    memset(p, 0, sizeof *p);
}

char *eval_format_passages(const retrieve_result *res, int max_chars)
{
    if (!res || res->n == 0)
        return NULL;
    dq_buf b = DQ_BUF_INIT;
    dq_buf_puts(&b, "以下资料可能与题目有关：\n");
    for (size_t i = 0; i < res->n; i++) {
        const char *t = res->items[i].chunk.text;
        size_t n = strlen(t), end = 0;
        int chars = 0;
        while (end < n && chars < max_chars) {
            int len;
            utf8_at(t, n, end, &len);
            end += (size_t)len;
            chars++;
        }
        dq_buf_printf(&b, "[%zu] ", i + 1);
        /* newlines inside a chunk would read as new list items */
        for (size_t k = 0; k < end; k++)
            dq_buf_putc(&b, t[k] == '\n' || t[k] == '\r' ? ' ' : t[k]);
        if (end < n)
            dq_buf_puts(&b, "…");
        dq_buf_putc(&b, '\n');
    }
    dq_buf_putc(&b, '\n');
    return dq_buf_take(&b);
}

void eval_prompt_key(const eval_prompt *p, const char *model, const char *settings,
                     char out[65])
{
    dq_sha256 h;
    dq_sha256_init(&h);
    /* Each part with its length, so no two different prompts hash alike by
     * moving text across a boundary. */
    const char *parts[2] = {model ? model : "", settings ? settings : ""};
    for (int i = 0; i < 2; i++) {
        uint64_t n = strlen(parts[i]);
        dq_sha256_update(&h, &n, sizeof n);
        dq_sha256_update(&h, parts[i], (size_t)n);
    }
    for (size_t i = 0; i < p->n; i++) {
        const char *s[2] = {p->msgs[i].role, p->msgs[i].content};
        for (int k = 0; k < 2; k++) {
            uint64_t n = strlen(s[k]);
            dq_sha256_update(&h, &n, sizeof n);
            dq_sha256_update(&h, s[k], (size_t)n);
        }
    }
    uint8_t d[32];
    dq_sha256_final(&h, d);
    dq_hex(d, 32, out);
}
