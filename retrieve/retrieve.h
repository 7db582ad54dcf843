/* retrieve.h - from a question to the chunks most likely to answer it.
 *
 * BM25 over the store's FTS5 index: the question is cut into the same terms
 * the index holds (common/terms.c; CJK bigrams, Latin words), stop-words and
 * punctuation dropped, and OR-ed so a chunk need not contain every term.
 * Dense: the question's embedding against the chunks' vectors (the FAISS
 * index beside the store, index.h). Hybrid fuses the two lists with
 * reciprocal rank fusion; then near-duplicates are dropped, an optional
 * cross-encoder reorders the best candidates, a relevance threshold cuts,
 * and MMR picks a diverse top k (retrieve/rank.h has the pure steps).
 * Each hit carries a snippet with the matched terms marked and every score
 * that ranked it.
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

struct reranker;

typedef struct {
    int top_k;         /* hits to return, default 5 */
    int snippet_chars; /* approximate snippet length in characters, default 120 */
    retrieve_mode mode;
    int candidates;    /* per retriever before fusion, default 50 */
    int rrf_k;         /* reciprocal rank fusion constant, default 60 */
    double dup_threshold; /* shingle Jaccard at which two chunks are one, default 0.85;
                           * above 1 keeps duplicates */
    double mmr_lambda; /* relevance vs novelty, default 0.7; 1 = relevance only */
    double min_score;  /* relevance threshold on the hit's `score` (see retrieve_hit);
                        * NAN (default): none */
    store_vindex_params vindex; /* ANN threshold, nprobe, exact */
    struct reranker *reranker; /* cross-encoder (embed.h), not owned; NULL: no rerank */
    int rerank_top;    /* best candidates the reranker reads, default 20 (at least top_k) */
    const char *doc;   /* a GLOB over file paths and names: search only those documents;
                        * NULL (default): the documents the question names, else all */
    bool no_scope;     /* never scope by what the question names */
} retrieve_params;

retrieve_params retrieve_default_params(void);

/* Which documents a search ran over (retrieve/scope.c). */
typedef enum {
    RETRIEVE_SCOPE_NONE = 0, /* all */
    RETRIEVE_SCOPE_NAMED,    /* those the question names by words rare among the documents */
    RETRIEVE_SCOPE_CHOSEN,   /* those matching retrieve_params.doc */
} retrieve_scope_kind;

typedef struct {
    retrieve_scope_kind kind;
    int64_t *docs;  /* (n_docs) document ids */
    char **paths;   /* (n_docs) a file path of each */
    size_t n_docs;  /* 0 with kind CHOSEN: the pattern matched no document */
    char *why;      /* "the question names 'amazon', '2017'"; NULL with kind NONE */
    char **names;   /* (n_names) with kind NAMED: the question's terms that named them */
    size_t n_names;
    bool widened;   /* named, but nothing in them matched: searched all instead */
    char *absent;   /* the question names a document that is not in the store, in its
                     * own words ("Acme 2019"; rules in scope.c); else NULL */
} retrieve_scope;

void retrieve_scope_free(retrieve_scope *s);
/* "none", "named" or "doc". */
const char *retrieve_scope_kind_name(retrieve_scope_kind k);
/* The scope of a question: doc_glob's documents when given, else those the
 * question names (kind NONE when it names none). -1 on a store error. */
int retrieve_scope_find(store *st, const char *question, const char *doc_glob,
                        retrieve_scope *out);

/* Scores: NAN where a retriever did not see the chunk. chunk.score holds
 * `score` too, for callers that only want one number. */
typedef struct {
    store_hit chunk; /* owned */
    char *snippet;   /* excerpt around the best match, matches wrapped in
                      * hl_open/hl_close markers below (caller renders them) */
    double score;    /* what ranked it and what min_score is compared with:
                      * rerank when reranked, else dense when vectors were used,
                      * else bm25 */
    double bm25;     /* FTS5 BM25, negated so higher is better; unbounded, only
                      * comparable within one query; NAN when no word matched */
    double dense;    /* cosine similarity of question and chunk vectors, -1..1 */
    double fused;    /* reciprocal rank fusion, sum of 1/(rrf_k + rank) (hybrid) */
    double rerank;   /* cross-encoder logit, higher is more relevant */
    int bm25_rank, dense_rank; /* 1-based place in each retriever's list, 0: absent */
    /* A whole page (inside long documents): the ids of the page's chunks it
     * holds, in reading order, this chunk among them; chunk.text is theirs
     * joined. NULL (0) for a chunk alone. */
    int64_t *page_chunks;
    size_t n_page_chunks;
} retrieve_hit;

typedef struct {
    retrieve_hit *items; /* (n), best first */
    size_t n;
    char *match; /* the FTS5 expression that was run (for --json and debugging) */
    retrieve_mode mode; /* what ran (AUTO resolved) */
    bool reranked;
    size_t below_threshold; /* candidates dropped by min_score */
    double best_dropped;    /* the best score among them (NAN when none) */
    retrieve_scope scope;   /* the documents searched */
} retrieve_result;

const char *retrieve_mode_name(retrieve_mode m);
/* "bm25", "dense", "hybrid" or "auto"; -1 for anything else. */
int retrieve_parse_mode(const char *s, retrieve_mode *out);

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
 * hybrid) with emb embedding the question (NULL: BM25 only). AUTO is hybrid
 * when the store holds vectors of emb's model; asking for dense or hybrid
 * without them is an error that says what to do. An empty result is 0 with
 * out->n == 0 (below_threshold tells "nothing relevant" from "no match"). */
int retrieve_search(store *st, struct embedder *emb, const char *question,
                    const retrieve_params *params, retrieve_result *out);

/* Snippet of text around the densest run of the question's terms. */
char *retrieve_snippet(const char *text, const char *question, int max_chars);
/* Adds a snippet to a JSON object the way the search and serve outputs show
 * it: "snippet" with the highlight markers taken out, and "highlights", the
 * [start, end) byte ranges into it that they held. NULL is an empty snippet. */
struct cJSON;
void retrieve_snippet_json(struct cJSON *obj, const char *snippet);
/* Adds "scope": {"kind", "why", "widened", "absent" (when set), "documents":
 * [paths]} to obj. */
void retrieve_scope_json(struct cJSON *obj, const retrieve_scope *scope);

#endif
