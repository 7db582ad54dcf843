/* json.c - the one JSON shape of a search hit, a search and an answer, for
 * `search --json`, `ask --json` and the server's API alike (docs/json.md).
 *
 * A source of an answer is its hit (when retrieval returned it) plus its
 * citation number and a one-line label, so a client reads the same fields
 * wherever a passage appears.
 */
#include "pipeline/pipeline.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

/* A score: null where the retriever did not see the chunk. */
static void add_score(cJSON *o, const char *name, double v)
{
    if (isnan(v))
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddNumberToObject(o, name, v);
}

static cJSON *scores_json(const retrieve_hit *h)
{
    cJSON *o = cJSON_CreateObject();
    add_score(o, "bm25", h->bm25);
    cJSON_AddNumberToObject(o, "bm25_rank", h->bm25_rank);
    add_score(o, "cosine", h->dense);
    cJSON_AddNumberToObject(o, "dense_rank", h->dense_rank);
    add_score(o, "rrf", h->fused);
    add_score(o, "rerank", h->rerank);
    return o;
}

cJSON *rag_hit_json(const retrieve_hit *h, int rank, bool with_text)
{
    const store_hit *c = &h->chunk;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rank", rank);
    cJSON_AddNumberToObject(o, "chunk_id", (double)c->chunk_id);
    cJSON_AddNumberToObject(o, "doc_id", (double)c->doc_id);
    cJSON_AddStringToObject(o, "path", c->path ? c->path : "");
    if (c->title)
        cJSON_AddStringToObject(o, "title", c->title);
    else
        cJSON_AddNullToObject(o, "title");
    cJSON_AddStringToObject(o, "section", c->section ? c->section : "");
    cJSON_AddNumberToObject(o, "page_start", c->page_start);
    cJSON_AddNumberToObject(o, "page_end", c->page_end);
    cJSON_AddStringToObject(o, "place", c->label ? c->label : "");
    cJSON_AddBoolToObject(o, "ocr", c->ocr);
    cJSON_AddBoolToObject(o, "table", c->table);
    if (h->n_page_chunks) {
        cJSON *ids = cJSON_AddArrayToObject(o, "page_chunks");
        for (size_t i = 0; i < h->n_page_chunks; i++)
            cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)h->page_chunks[i]));
    }
    add_score(o, "score", h->score);
    cJSON_AddItemToObject(o, "scores", scores_json(h));
    retrieve_snippet_json(o, h->snippet);
    if (with_text)
        cJSON_AddStringToObject(o, "text", c->text ? c->text : "");
    return o;
}

cJSON *rag_search_json(const char *query, const retrieve_params *rp, const retrieve_result *res)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "query", query);
    cJSON_AddStringToObject(root, "match", res->match ? res->match : "");
    cJSON_AddStringToObject(root, "mode", retrieve_mode_name(res->mode));
    add_score(root, "min_score", rp->min_score);
    cJSON_AddNumberToObject(root, "below_threshold", (double)res->below_threshold);
    retrieve_scope_json(root, &res->scope);
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    for (size_t i = 0; i < res->n; i++)
        cJSON_AddItemToArray(arr, rag_hit_json(&res->items[i], (int)i + 1, true));
    return root;
}

/* A source: its hit when retrieval returned it, with number and label. */
static cJSON *source_json(const answer_source *s, const retrieve_result *hits)
{
    cJSON *o = NULL;
    for (size_t k = 0; k < hits->n && !o; k++)
        if (hits->items[k].chunk.chunk_id == s->chunk_id)
            o = rag_hit_json(&hits->items[k], (int)k + 1, false);
    if (!o) {
        o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "chunk_id", (double)s->chunk_id);
        cJSON_AddStringToObject(o, "path", s->path ? s->path : "");
        cJSON_AddStringToObject(o, "section", s->section ? s->section : "");
        cJSON_AddNumberToObject(o, "page_start", s->page_start);
        cJSON_AddNumberToObject(o, "page_end", s->page_end);
        cJSON_AddStringToObject(o, "place", s->label ? s->label : "");
        cJSON_AddBoolToObject(o, "ocr", s->ocr);
        cJSON_AddNumberToObject(o, "score", s->score);
    }
    cJSON_AddNumberToObject(o, "number", s->number);
    char *label = answer_format_source(s);
    cJSON_AddStringToObject(o, "label", label);
    free(label);
    return o;
}

cJSON *rag_sources_json(const rag_reply *r)
{
    cJSON *arr = cJSON_CreateArray();
    if (r->mode == RAG_LLM) {
        for (size_t i = 0; i < r->llm.cites.n_cited; i++)
            cJSON_AddItemToArray(arr,
                                 source_json(&r->sources[r->llm.cites.cited[i] - 1], &r->hits));
    } else {
        for (size_t i = 0; i < r->n_sources; i++)
            cJSON_AddItemToArray(arr, source_json(&r->sources[i], &r->hits));
    }
    return arr;
}

static void add_numbers(cJSON *obj, const char *name, const int *v, size_t n)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, name);
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(v[i]));
}

static void add_llm_details(cJSON *root, const rag_reply *r)
{
    const llm_answer *a = &r->llm;
    if (a->reply.finish_reason)
        cJSON_AddStringToObject(root, "finish_reason", a->reply.finish_reason);
    else
        cJSON_AddNullToObject(root, "finish_reason");
    add_numbers(root, "citations", a->cites.cited, a->cites.n_cited);
    add_numbers(root, "unknown_citations", a->cites.unknown, a->cites.n_unknown);
    cJSON_AddNumberToObject(root, "passages_dropped", (double)a->pr.n_dropped);
    cJSON *t = cJSON_AddObjectToObject(root, "timings");
    cJSON_AddNumberToObject(t, "retrieve_s", r->retrieve_s);
    cJSON_AddNumberToObject(t, "first_token_s", a->reply.first_token_s);
    cJSON_AddNumberToObject(t, "total_s", a->reply.total_s);
    cJSON *k = cJSON_AddObjectToObject(root, "tokens");
    cJSON_AddNumberToObject(k, "prompt_estimate", a->pr.tokens);
    cJSON_AddBoolToObject(k, "prompt_estimate_counted", a->pr.counted);
    if (a->reply.prompt_tokens >= 0)
        cJSON_AddNumberToObject(k, "prompt", a->reply.prompt_tokens);
    else
        cJSON_AddNullToObject(k, "prompt");
    if (a->reply.completion_tokens >= 0)
        cJSON_AddNumberToObject(k, "completion", a->reply.completion_tokens);
    else
        cJSON_AddNullToObject(k, "completion");
}

static void add_extractive_details(cJSON *root, const rag_reply *r)
{
    cJSON *sents = cJSON_AddArrayToObject(root, "sentences");
    for (size_t i = 0; i < r->extractive.n_sentences; i++) {
        const answer_sentence *s = &r->extractive.sentences[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", s->text);
        cJSON_AddNumberToObject(o, "source", s->source);
        cJSON_AddNumberToObject(o, "score", s->score);
        cJSON_AddItemToArray(sents, o);
    }
    cJSON *t = cJSON_AddObjectToObject(root, "timings");
    cJSON_AddNumberToObject(t, "retrieve_s", r->retrieve_s);
}

cJSON *rag_reply_json(const char *question, const rag_reply *r, const char *model)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "question", question);
    cJSON_AddStringToObject(root, "mode", r->mode == RAG_LLM ? "llm" : "extractive");
    if (r->mode == RAG_LLM && model)
        cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "lang", prompt_lang_name(prompt_detect_lang(question)));
    if (r->llm_error)
        cJSON_AddStringToObject(root, "llm_error", r->llm_error);
    cJSON_AddBoolToObject(root, "found", r->found);
    if (r->no_document)
        cJSON_AddBoolToObject(root, "no_document", true);
    cJSON_AddStringToObject(root, "answer", r->text ? r->text : "");
    cJSON_AddStringToObject(root, "search_query", r->query ? r->query : question);
    cJSON_AddItemToObject(root, "sources", rag_sources_json(r));
    retrieve_scope_json(root, &r->hits.scope);
    if (r->mode == RAG_LLM)
        add_llm_details(root, r);
    else
        add_extractive_details(root, r);
    cJSON *hits = cJSON_AddArrayToObject(root, "retrieved");
    for (size_t i = 0; i < r->hits.n; i++)
        cJSON_AddItemToArray(hits, rag_hit_json(&r->hits.items[i], (int)i + 1, false));
    return root;
}

char *rag_json_print(const cJSON *root, bool pretty)
{
    char *text = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
    size_t n = strlen(text);
    if (utf8_valid(text, n))
        return text;
    /* cJSON copies bytes >= 0x80 as they are; every JSON delimiter is ASCII,
     * so replacing the invalid ones cannot change the structure. */
    char *clean = utf8_sanitize(text, n);
    free(text);
    return clean;
}
