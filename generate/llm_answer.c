/* llm_answer.c - one cited answer from retrieved passages and an LLM: the
 * prompt (with any earlier turns), the streamed chat request, the citations
 * read back: the LLM step of the answer turn (pipeline/answer.c). */
#include "generate/prompt.h"

#include <stdlib.h>
#include <string.h>

#include "common/common.h"

int llm_answer_generate(llm_client *llm, const char *question, const retrieve_result *hits,
                        const llm_message *history, size_t n_history, const prompt_params *params,
                        const llm_request *hooks, llm_token_cb cb, void *ctx, llm_answer *out)
{
    memset(out, 0, sizeof *out);
    out->reply.prompt_tokens = out->reply.completion_tokens = -1;
    prompt_params pp = *params;
    /* earlier turns share the window with the passages */
    for (size_t i = 0; i < n_history; i++)
        pp.answer_tokens += prompt_estimate_tokens(history[i].content) + 4;
    if (prompt_build(question, hits, &pp, &out->pr) < 0)
        return -1;
    if (out->pr.n_sources == 0 && hits && hits->n > 0) {
        dq_set_error("[llm] context (%d tokens) leaves no room for passages after the answer's %d; "
                     "raise context or lower max_tokens",
                     pp.context_tokens, pp.answer_tokens);
        return -1;
    }
    if (out->pr.n_sources == 0) {
        /* nothing retrieved: the honest answer needs no model, and a model
         * asked anyway might answer from what it knows */
        const char *nf = prompt_not_found(out->pr.lang);
        out->reply.text = dq_strdup(nf);
        out->reply.finish_reason = dq_strdup("no_passages");
        out->status = LLM_OK;
        if (cb)
            cb(ctx, nf, strlen(nf));
        return 0;
    }
    size_t n = n_history + 2;
    llm_message *msgs = dq_calloc(n, sizeof *msgs);
    msgs[0] = out->pr.msgs[0];
    for (size_t i = 0; i < n_history; i++)
        msgs[1 + i] = history[i];
    msgs[n - 1] = out->pr.msgs[1];
    llm_request req = {.stream = true};
    if (hooks) {
        req.should_stop = hooks->should_stop;
        req.on_queued = hooks->on_queued;
        req.queue_ctx = hooks->queue_ctx;
    }
    out->status = llm_chat(llm, msgs, n, &req, cb, ctx, &out->reply);
    if (out->status != LLM_OK)
        out->error = dq_strdup(dq_last_error());
    free(msgs);
    prompt_parse_citations(out->reply.text ? out->reply.text : "", out->pr.n_sources, &out->cites);
    return 0;
}

void llm_answer_free(llm_answer *a)
{
    if (!a)
        return;
    prompt_free(&a->pr);
    llm_reply_free(&a->reply);
    prompt_citations_free(&a->cites);
    free(a->error);
    a->error = NULL;
}
