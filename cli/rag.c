/* rag.c - the terminal side of an answer turn, for `ask` and `chat`.
 *
 * The answer is always streamed from the server, even for --json, so the
 * time to the first token is a real measurement and Ctrl-C stops a long
 * answer at once.
 */
#include "cli/rag.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"

rag_session *cli_rag_session(cli_globals *g, const rag_session_params *params, int *status)
{
    *status = cli_setup(g); /* the store and its config, as the command table says */
    if (*status != EXIT_OK)
        return NULL;
    rag_session_params p = *params;
    p.st = g->st;
    p.config = &g->cfg;
    rag_session *s;
    int rc = rag_session_build(&p, &s);
    if (rc < 0) {
        cli_error("%s", dq_last_error());
        *status = rc == RAG_ERR_SETTING ? EXIT_USAGE : EXIT_ERROR;
        return NULL;
    }
    *status = EXIT_OK;
    return s;
}

llm_client *cli_open_llm(const dq_config *cfg, bool *err)
{
    *err = false;
    llm_params p = rag_llm_params(cfg);
    if (!llm_params_configured(&p))
        return NULL;
    llm_client *c = llm_new(&p);
    if (!c) {
        cli_error("%s", dq_last_error());
        *err = true;
    }
    return c;
}

static bool stop_requested(void)
{
    return cli_interrupted();
}

/* Writes a piece of the answer. Control characters other than newline and
 * tab are dropped: a document can steer what a model writes, and an escape
 * sequence in the answer must not reach the user's terminal. */
int cli_print_piece(void *ctx, const char *piece, size_t len)
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

static int on_piece(void *ctx, const char *piece, size_t len)
{
    cli_answer_out *o = ctx;
    if (!o->out)
        return cli_interrupted() ? 1 : 0;
    o->printed = true;
    return cli_print_piece(o->out, piece, len);
}

rag_turn cli_rag_turn(const char *question, cli_answer_out *o)
{
    return (rag_turn){
        .question = question,
        .on_piece = on_piece,
        .ctx = o,
        .should_stop = stop_requested,
    };
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

void rag_print_sources(FILE *out, const rag_reply *r)
{
    const prompt_citations *c = &r->llm.cites;
    if (c->n_cited == 0 && c->n_unknown == 0)
        return;
    int *nums = dq_malloc((c->n_cited + 1) * sizeof *nums);
    memcpy(nums, c->cited, c->n_cited * sizeof *nums);
    qsort(nums, c->n_cited, sizeof *nums, cmp_int);
    fputs("\nSources:\n", out);
    for (size_t i = 0; i < c->n_cited; i++) {
        const answer_source *s = &r->llm.pr.sources[nums[i] - 1];
        char *line = answer_format_source(s);
        fprintf(out, "[%d] %s\n", s->number, line);
        free(line);
    }
    for (size_t i = 0; i < c->n_unknown; i++)
        fprintf(out, "[%d] (no such passage: the model cited a number it was not given)\n",
                c->unknown[i]);
    free(nums);
}

void rag_print_extractive(FILE *out, const char *question, const answer *a)
{
    if (!a->found) {
        fprintf(out, "%s\n", rag_not_found(question));
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
