/* rag.c - an answer from retrieved passages and the configured LLM, for
 * `ask` and `chat`.
 *
 * The client is built from [llm] settings with defaults for a local
 * llama-server. The prompt's budget asks the server to count tokens when it
 * can (llama-server's /tokenize) and estimates otherwise. The answer is
 * always streamed from the server, even for --json, so the time to the first
 * token is a real measurement and Ctrl-C stops a long answer at once.
 */
#include "cli/rag.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"

llm_params cli_llm_params(const dq_config *cfg)
{
    llm_params p = llm_default_params();
    p.base_url = cfg->llm_url;
    p.model = cfg->llm_model;
    p.api_key = cfg->llm_key;
    if (cfg->llm_temperature >= 0)
        p.temperature = cfg->llm_temperature;
    if (cfg->llm_max_tokens > 0)
        p.max_tokens = cfg->llm_max_tokens;
    if (cfg->llm_timeout > 0)
        p.timeout_s = cfg->llm_timeout;
    if (cfg->llm_connect_timeout > 0)
        p.connect_timeout_s = cfg->llm_connect_timeout;
    return p;
}

llm_client *cli_open_llm(const dq_config *cfg, bool *err)
{
    *err = false;
    if (!cfg->llm_url || !*cfg->llm_url)
        return NULL;
    llm_params p = cli_llm_params(cfg);
    llm_client *c = llm_new(&p);
    if (!c) {
        cli_error("%s", dq_last_error());
        *err = true;
    }
    return c;
}

char *rag_prompt_dir(const dq_config *cfg)
{
    dq_buf b = DQ_BUF_INIT;
    const char *home = getenv("HOME");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (cfg->llm_prompts) {
        if (cfg->llm_prompts[0] == '~' && (cfg->llm_prompts[1] == '/' || !cfg->llm_prompts[1]) && home)
            dq_buf_printf(&b, "%s%s", home, cfg->llm_prompts + 1);
        else
            dq_buf_puts(&b, cfg->llm_prompts);
    } else if (xdg && *xdg) {
        dq_buf_printf(&b, "%s/docqa/prompts", xdg);
    } else if (home && *home) {
        dq_buf_printf(&b, "%s/.config/docqa/prompts", home);
    }
    return b.len ? dq_buf_take(&b) : NULL;
}

static int count_with_server(void *ctx, const char *text)
{
    return llm_count_tokens(ctx, text);
}

static bool stop_requested(void)
{
    return cli_interrupted();
}

/* Writes a piece of the answer. Control characters other than newline and
 * tab are dropped: a document can steer what a model writes, and an escape
 * sequence in the answer must not reach the user's terminal. */
static int print_piece(void *ctx, const char *piece, size_t len)
{
    FILE *out = ctx;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)piece[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
            fwrite(piece + start, 1, i - start, out);
            start = i + 1;
        }
    }
    fwrite(piece + start, 1, len - start, out);
    fflush(out);
    return cli_interrupted() ? 1 : 0;
}

typedef struct {
    FILE *out;
    bool *printed;
} printer;

static int on_piece(void *ctx, const char *piece, size_t len)
{
    printer *p = ctx;
    if (!p->out)
        return cli_interrupted() ? 1 : 0;
    *p->printed = true;
    return print_piece(p->out, piece, len);
}

int rag_generate(llm_client *llm, const dq_config *cfg, const char *question,
                 const retrieve_result *hits, const llm_message *history, size_t n_history,
                 FILE *out, rag_answer *ans)
{
    memset(ans, 0, sizeof *ans);
    prompt_params pp = prompt_default_params();
    if (cfg->llm_context > 0)
        pp.context_tokens = cfg->llm_context;
    pp.answer_tokens = cfg->llm_max_tokens > 0 ? cfg->llm_max_tokens : llm_default_params().max_tokens;
    char *dir = rag_prompt_dir(cfg);
    pp.template_dir = dir;
    pp.count = count_with_server;
    pp.count_ctx = llm;
    printer pr = {.out = out, .printed = &ans->printed};
    llm_answer la;
    int rc = llm_answer_generate(llm, question, hits, history, n_history, &pp, stop_requested,
                                 on_piece, &pr, &la);
    free(dir);
    ans->pr = la.pr;
    ans->reply = la.reply;
    ans->status = la.status;
    ans->cites = la.cites;
    ans->error = la.error;
    if (rc < 0) {
        cli_error("%s", dq_last_error());
        return -1;
    }
    return 0;
}

void rag_answer_free(rag_answer *ans)
{
    if (!ans)
        return;
    prompt_free(&ans->pr);
    llm_reply_free(&ans->reply);
    prompt_citations_free(&ans->cites);
    free(ans->error);
    ans->error = NULL;
}

bool rag_unreachable(const rag_answer *ans)
{
    return !ans->printed && llm_unreachable(ans->status, &ans->reply);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

void rag_print_sources(FILE *out, const rag_answer *ans)
{
    if (ans->cites.n_cited == 0 && ans->cites.n_unknown == 0)
        return;
    int *nums = dq_malloc((ans->cites.n_cited + 1) * sizeof *nums);
    memcpy(nums, ans->cites.cited, ans->cites.n_cited * sizeof *nums);
    qsort(nums, ans->cites.n_cited, sizeof *nums, cmp_int);
    fputs("\nSources:\n", out);
    for (size_t i = 0; i < ans->cites.n_cited; i++) {
        const answer_source *s = &ans->pr.sources[nums[i] - 1];
        char *line = answer_format_source(s);
        fprintf(out, "[%d] %s\n", s->number, line);
        free(line);
    }
    for (size_t i = 0; i < ans->cites.n_unknown; i++)
        fprintf(out, "[%d] (no such passage: the model cited a number it was not given)\n",
                ans->cites.unknown[i]);
    free(nums);
}

void rag_print_extractive(FILE *out, const answer *a)
{
    if (!a->found) {
        fputs("No passage in the documents answers this question.\n", out);
        return;
    }
    for (size_t i = 0; i < a->n_sentences; i++)
        fprintf(out, "%s [%d]\n", a->sentences[i].text, a->sentences[i].source);
    fputs("\nSources:\n", out);
    for (size_t i = 0; i < a->n_sources; i++) {
        char *line = answer_format_source(&a->sources[i]);
        fprintf(out, "[%d] %s\n", a->sources[i].number, line);
        free(line);
    }
}
