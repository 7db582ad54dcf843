/* retrieve.h - from a question to the chunks most likely to answer it.
 *
 * BM25 over the store's FTS5 index: the question is cut into the same terms
 * the index holds (common/terms.c; CJK bigrams, Latin words), stop-words and
 * punctuation dropped, and OR-ed so a chunk need not contain every term.
 * Each hit carries a snippet with the matched terms marked.
 */
#ifndef DQ_RETRIEVE_H
#define DQ_RETRIEVE_H

#include "index/index.h"

struct embedder;

/* Which retrievers run: AUTO is hybrid when the store has vectors from the
 * given embedder, else BM25. */
typedef enum {
    RETRIEVE_AUTO = 0,
    RETRIEVE_BM25,
    RETRIEVE_DENSE,
    RETRIEVE_HYBRID,
} retrieve_mode;

typedef struct {
    int top_k;         /* hits to return, default 5 */
    int snippet_chars; /* approximate snippet length in characters, default 120 */
    retrieve_mode mode;
} retrieve_params;

retrieve_params retrieve_default_params(void);

typedef struct {
    store_hit chunk; /* owned */
    char *snippet;   /* excerpt around the best match, matches wrapped in
                      * hl_open/hl_close markers below (caller renders them) */
} retrieve_hit;

typedef struct {
    retrieve_hit *items; /* (n), best first */
    size_t n;
    char *match; /* the FTS5 expression that was run (for --json and debugging) */
} retrieve_result;

/* Markers around highlighted terms in snippets: bytes that never occur in
 * UTF-8 text, so the CLI can turn them into ANSI colour, brackets or nothing. */
#define RETRIEVE_HL_OPEN "\x01"
#define RETRIEVE_HL_CLOSE "\x02"

/* Builds the FTS5 MATCH expression for a question; NULL with the error set
 * when it has no searchable term ("the question has no searchable words"). */
char *retrieve_build_match(const char *question);

/* Runs BM25 retrieval. An empty result (nothing matched) returns 0 with
 * out->n == 0; an error returns -1. */
int retrieve_bm25(store *st, const char *question, const retrieve_params *params,
                  retrieve_result *out);
void retrieve_result_free(retrieve_result *r);

/* The one entry point the commands use: runs params->mode (BM25, dense,
 * hybrid) with emb embedding the question (NULL: BM25 only). */
int retrieve_search(store *st, struct embedder *emb, const char *question,
                    const retrieve_params *params, retrieve_result *out);

/* Snippet of text around the densest run of the question's terms. */
char *retrieve_snippet(const char *text, const char *question, int max_chars);

#endif
