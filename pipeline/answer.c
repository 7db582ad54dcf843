/* answer.c - the one answer turn of ask, chat and serve: follow-up made
 * standalone, retrieval, the LLM's answer or the extractive one, citations.
 *
 * Follow-ups: with an LLM, the model rewrites the question from the last few
 * turns ("那押金呢？" after a question about 违约金 becomes "合同中押金是多
 * 少？"); without one, or when the rewrite fails, a question that reads as a
 * follow-up (short, or leaning on "it", "that", 这, 那, 呢) is searched
 * together with the previous query. The LLM then answers the question as
 * asked, with the earlier turns in its context. An LLM that cannot be
 * reached before its first word leaves the answer to the extractive
 * answerer, which quotes the documents and never invents text.
 */
#include "pipeline/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

#define HISTORY_TURNS 3     /* turns the model sees */
#define HISTORY_ANSWER 1200 /* bytes of each earlier answer it sees */

const char *rag_not_found(const char *question)
{
    return prompt_not_found(prompt_detect_lang(question));
}

/* The last turns of history for the model: user and assistant messages only
 * (a chat client's own system message would fight docqa's instructions), at
 * most HISTORY_TURNS turns, long answers cut at a character boundary into
 * cut[]. Strings point into history and cut. */
static size_t recent_history(const rag_turn *t, llm_message *msgs, dq_buf *cut)
{
    size_t n = 0, first = t->n_history;
    while (first > 0 && n < 2 * HISTORY_TURNS) {
        const char *role = t->history[first - 1].role;
        if (!strcmp(role, "user") || !strcmp(role, "assistant"))
            n++;
        first--;
    }
    n = 0;
    for (size_t i = first; i < t->n_history; i++) {
        llm_message m = t->history[i];
        if (strcmp(m.role, "user") && strcmp(m.role, "assistant"))
            continue;
        if (!strcmp(m.role, "assistant") && strlen(m.content) > HISTORY_ANSWER) {
            size_t k = HISTORY_ANSWER;
            while (k > 0 && ((unsigned char)m.content[k] & 0xC0) == 0x80)
                k--;
            dq_buf_clear(&cut[n]);
            dq_buf_append(&cut[n], m.content, k);
            m.content = cut[n].data;
        }
        msgs[n++] = m;
    }
    return n;
}

/* A question that leans on what came before. */
static bool is_followup(const char *q)
{
    static const char *const words[] = {"it", "its", "that", "this", "these", "those", "they",
                                        "them", "their", "he", "she", "there", "what about",
                                        "how about", "and", "also", NULL};
    static const char *const zh[] = {"它", "这", "那", "其", "该", "他", "她", "呢", "上述", NULL};
    for (int i = 0; zh[i]; i++)
        if (strstr(q, zh[i]))
            return true;
    size_t n = strlen(q);
    int latin_words = 0, cjk = 0;
    bool in_word = false;
    dq_buf lower = DQ_BUF_INIT;
    dq_buf_putc(&lower, ' ');
    for (size_t i = 0; i < n;) {
        int len;
        uint32_t cp = utf8_at(q, n, i, &len);
        bool letter = cp < 128 && ((cp | 32) >= 'a' && (cp | 32) <= 'z');
        if (letter && !in_word)
            latin_words++;
        in_word = letter;
        if (uc_is_cjk(cp))
            cjk++;
        dq_buf_putc(&lower, letter ? (char)(cp | 32) : ' ');
        i += (size_t)len;
    }
    dq_buf_putc(&lower, ' ');
    bool hit = false;
    for (int i = 0; words[i] && !hit; i++) {
        char pat[32];
        snprintf(pat, sizeof pat, " %s ", words[i]);
        hit = strstr(lower.data, pat) != NULL;
    }
    dq_buf_free(&lower);
    return hit || (latin_words + cjk / 2 < 3);
}

static const char rewrite_instructions[] =
    "Rewrite the user's last message as a standalone question that can be understood without "
    "the conversation, in the same language as that message. Keep names, numbers and terms. "
    "Reply with the question only.";

/* The model's standalone version of the question, one line with no quotes
 * around it and no control characters (faces show it); NULL when it gave
 * none. *stopped when should_stop ended the request. */
static char *rewrite_with_llm(llm_client *llm, const rag_turn *t, const llm_message *hist,
                              size_t n_hist, bool *stopped)
{
    llm_message *msgs = dq_calloc(n_hist + 2, sizeof *msgs);
    msgs[0] = (llm_message){"system", rewrite_instructions};
    memcpy(msgs + 1, hist, n_hist * sizeof *msgs);
    msgs[n_hist + 1] = (llm_message){"user", t->question};
    llm_request req = {.stream = false, .max_tokens = 96, .should_stop = t->should_stop};
    llm_reply r;
    llm_status st = llm_chat(llm, msgs, n_hist + 2, &req, NULL, NULL, &r);
    free(msgs);
    *stopped = st == LLM_ERR_CANCELLED;
    char *out = NULL;
    if (st == LLM_OK && r.text) {
        char *q = r.text;
        while (*q == ' ' || *q == '\n' || *q == '"')
            q++;
        size_t len = strcspn(q, "\n");
        while (len > 0 && (q[len - 1] == ' ' || q[len - 1] == '"'))
            len--;
        if (len > 0) {
            out = dq_strndup(q, len);
            for (char *c = out; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                    *c = ' ';
        }
    }
    llm_reply_free(&r);
    return out;
}

static const char *previous_query(const rag_turn *t)
{
    if (t->prev_query)
        return t->prev_query;
    for (size_t i = t->n_history; i-- > 0;)
        if (!strcmp(t->history[i].role, "user"))
            return t->history[i].content;
    return NULL;
}

/* The query to retrieve with, or NULL when should_stop ended the rewrite. */
static char *standalone_query(llm_client *llm, const rag_turn *t, const llm_message *hist,
                              size_t n_hist)
{
    const char *prev = previous_query(t);
    if (!prev)
        return dq_strdup(t->question);
    /* An in-process model would prefill the whole history again for the
     * rewrite (another system prompt) and lose the chat's KV cache: the
     * follow-up heuristic below stands in for it there. */
    if (llm && n_hist > 0 && !llm_is_local(llm)) {
        bool stopped;
        char *q = rewrite_with_llm(llm, t, hist, n_hist, &stopped);
        if (q || stopped)
            return q;
    }
    if (!is_followup(t->question))
        return dq_strdup(t->question);
    dq_buf b = DQ_BUF_INIT;
    dq_buf_printf(&b, "%s %s", prev, t->question);
    return dq_buf_take(&b);
}

typedef struct {
    const rag_turn *t;
    bool sent;    /* some text went to on_piece */
    bool stopped; /* on_piece asked to stop */
} relay;

static int relay_piece(void *ctx, const char *piece, size_t len)
{
    relay *r = ctx;
    r->sent = true;
    if (r->t->on_piece && r->t->on_piece(r->t->ctx, piece, len))
        r->stopped = true;
    return r->stopped;
}

static int count_tokens(void *ctx, const char *text)
{
    return llm_count_tokens(ctx, text);
}

/* The LLM's answer: 0 when it answered, or when it could not be reached
 * before any text (out->llm_error then says why, and the passages answer
 * instead); a RAG_ERR_* code when it failed otherwise. */
static int answer_with_llm(rag_session *s, llm_client *llm, const rag_turn *t,
                           const llm_message *hist, size_t n_hist, rag_reply *out)
{
    prompt_params pp = s->prompt;
    pp.count = count_tokens;
    pp.count_ctx = llm;
    relay r = {t, false, false};
    llm_request hooks = {.should_stop = t->should_stop, .on_queued = t->on_queued,
                         .queue_ctx = t->ctx};
    if (llm_answer_generate(llm, t->question, &out->hits, hist, n_hist, &pp, &hooks, relay_piece,
                            &r, &out->llm) < 0)
        return RAG_ERR;
    llm_answer *la = &out->llm;
    if (la->status == LLM_OK) {
        out->mode = RAG_LLM;
        out->text = dq_strdup(la->reply.text ? la->reply.text : "");
        out->found = la->cites.n_cited > 0;
        out->sources = la->pr.sources;
        out->n_sources = la->pr.n_sources;
        return 0;
    }
    if (r.stopped || la->status == LLM_ERR_CANCELLED) {
        dq_set_error("interrupted");
        return RAG_ERR_STOPPED;
    }
    if (!r.sent && llm_unreachable(la->status, &la->reply)) {
        out->llm_error = dq_strdup(la->error ? la->error : "the LLM is unreachable");
        return 0;
    }
    dq_set_error("%s", la->error ? la->error : "the LLM failed");
    return RAG_ERR_LLM;
}

static int answer_extractively(rag_session *s, const rag_turn *t, rag_reply *out)
{
    if (answer_extractive(out->query, &out->hits, &s->answer, &out->extractive) < 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", dq_last_error());
        dq_set_error("cannot answer: %s", why);
        return RAG_ERR;
    }
    const answer *a = &out->extractive;
    out->mode = RAG_EXTRACTIVE;
    out->found = a->found;
    out->sources = a->sources;
    out->n_sources = a->n_sources;
    dq_buf text = DQ_BUF_INIT;
    if (!a->found)
        dq_buf_puts(&text, rag_not_found(t->question));
    for (size_t i = 0; i < a->n_sentences; i++)
        dq_buf_printf(&text, "%s%s [%d]", i ? " " : "", a->sentences[i].text,
                      a->sentences[i].source);
    out->text = dq_buf_take(&text);
    if (t->extractive_pieces && t->on_piece && t->on_piece(t->ctx, out->text, strlen(out->text))) {
        dq_set_error("interrupted");
        return RAG_ERR_STOPPED;
    }
    return 0;
}

/* What to say instead of an answer when the documents asked about are not
 * in the store: --doc matched none, or the question names something no
 * document is about or mentions (retrieve_scope.absent); NULL otherwise.
 * In the question's language, as the other replies. */
static char *no_document_text(const char *question, const retrieve_scope *scope,
                              const char *doc_glob)
{
    bool zh = prompt_detect_lang(question) == PROMPT_ZH;
    dq_buf text = DQ_BUF_INIT;
    if (scope->kind == RETRIEVE_SCOPE_CHOSEN && scope->n_docs == 0)
        dq_buf_printf(&text, zh ? "库中没有与“%s”匹配的文档。" : "No document in the store matches '%s'.",
                      doc_glob ? doc_glob : "");
    else if (scope->absent)
        dq_buf_printf(&text, zh ? "库中没有关于“%s”的文档。" : "No document about '%s' is in the store.",
                      scope->absent);
    return text.len ? dq_buf_take(&text) : NULL;
}

int rag_answer_turn(rag_session *s, const rag_turn *t, rag_reply *out)
{
    memset(out, 0, sizeof *out);
    store *st = t->st ? t->st : t->borrow_store ? NULL : s->st;
    llm_client *llm = t->no_llm ? NULL : t->llm ? t->llm : s->llm;
    llm_message hist[2 * HISTORY_TURNS];
    dq_buf cut[2 * HISTORY_TURNS];
    memset(cut, 0, sizeof cut);
    size_t n_hist = recent_history(t, hist, cut);
    int rc = 0;
    out->query = standalone_query(llm, t, hist, n_hist);
    if (!out->query) {
        dq_set_error("interrupted");
        rc = RAG_ERR_STOPPED;
        goto done;
    }
    char *match = retrieve_build_match(out->query);
    if (!match) {
        rc = RAG_ERR_NO_QUERY; /* the error says the question has no searchable words */
        goto done;
    }
    free(match);
    if (t->on_query)
        t->on_query(t, out->query);
    double t0 = dq_now();
    store *lent = st ? NULL : t->borrow_store(t->store_ctx);
    if (!st && !lent) {
        rc = RAG_ERR_STORE;
        goto done;
    }
    rc = rag_session_retrieve(s, st ? st : lent, out->query, t->top_k, t->doc, &out->hits);
    if (lent)
        t->return_store(t->store_ctx, lent);
    if (rc < 0)
        goto done;
    out->retrieve_s = dq_now() - t0;
    char *none = no_document_text(t->question, &out->hits.scope, t->doc && *t->doc ? t->doc : s->retrieve.doc);
    if (none) {
        /* Said, not answered from other documents or left to the LLM. */
        out->mode = RAG_EXTRACTIVE;
        out->no_document = true;
        out->text = none;
        if (t->extractive_pieces && t->on_piece &&
            t->on_piece(t->ctx, out->text, strlen(out->text))) {
            dq_set_error("interrupted");
            rc = RAG_ERR_STOPPED;
        }
        goto done;
    }
    if (llm) {
        rc = answer_with_llm(s, llm, t, hist, n_hist, out);
        if (rc < 0 || !out->llm_error)
            goto done;
        llm_answer_free(&out->llm); /* unreachable: the passages answer instead */
    } else if (!t->no_llm && !t->llm && s->llm_error) {
        out->llm_error = dq_strdup(s->llm_error); /* the model file did not load */
    }
    rc = answer_extractively(s, t, out);
done:
    for (size_t i = 0; i < 2 * HISTORY_TURNS; i++)
        dq_buf_free(&cut[i]);
    return rc;
}

void rag_reply_free(rag_reply *r)
{
    if (!r)
        return;
    free(r->query);
    retrieve_result_free(&r->hits);
    free(r->text);
    llm_answer_free(&r->llm);
    answer_free(&r->extractive);
    free(r->llm_error);
    memset(r, 0, sizeof *r);
}
