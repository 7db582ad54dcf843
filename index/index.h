/* index.h - the .docqa store: SQLite (WAL) with documents, pages, chunks,
 * vectors and an FTS5 index over chunks that understands Chinese.
 *
 * Layout: files (one row per path on disk, including failed ones) point at
 * documents (one row per distinct content, keyed by SHA-256), which own pages
 * and chunks. Two paths with the same bytes share one document; a changed file
 * gets its document replaced in one transaction. FTS5 uses our own tokenizer
 * "docqa" (CJK unigrams + bigrams, Latin words lower-cased; common/terms.c), so
 * two-character Chinese words like 合同 match.
 *
 * Every write that must be atomic is one transaction: kill -9 at any moment
 * leaves either the old state or the new one.
 */
#ifndef DQ_INDEX_H
#define DQ_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store store;

#define STORE_DIRNAME ".docqa"
#define STORE_DBNAME "docqa.sqlite"

/* Finds the store directory like git finds .git: $DOCQA_STORE if set, else
 * the first "<dir>/.docqa" from start (the current directory when NULL)
 * upward. Returns a malloc'd path, or NULL with the error set when none. */
char *store_find(const char *start);

enum { STORE_CREATE = 1, STORE_READONLY = 2 };

/* Opens (with STORE_CREATE: creates) the store in dir, migrating an older
 * schema. Refuses a schema newer than this build knows. */
store *store_open(const char *dir, int flags);
void store_close(store *st);
const char *store_dir(const store *st);
/* The directory the store's relative paths are relative to (dir's parent). */
const char *store_root(const store *st);

int store_begin(store *st);
int store_commit(store *st);
int store_rollback(store *st);

/* Small key/value settings kept with the store: the parameters that made it
 * ("split.chunk_cjk", "embed.model", ...), so a mismatch is noticed.
 * store_get_meta: 1 found (*value malloc'd), 0 missing, -1 error. */
int store_get_meta(store *st, const char *key, char **value);
int store_set_meta(store *st, const char *key, const char *value);

/* ---- files and documents ------------------------------------------------ */

typedef struct {
    int64_t id;
    char *path;    /* as given to store_put_*: relative to store_root() when inside it */
    char *sha256;  /* content hash, 64 hex; NULL when the file could not be read */
    int64_t size;  /* bytes */
    int64_t mtime; /* seconds since the epoch */
    char *status;  /* "ok" or "failed" */
    char *error;   /* failure reason, or NULL */
    int64_t doc_id; /* 0 when failed */
} store_file;

void store_file_free(store_file *f);

/* Looks up a file by path: 1 found (out filled), 0 not found, -1 error. */
int store_get_file(store *st, const char *path, store_file *out);

typedef struct {
    const char *sha256;
    const char *format;
    const char *title; /* may be NULL */
    int n_pages;
} store_doc_info;

typedef struct {
    const char *text;
    const char *section; /* "" when none */
    int page_start, page_end;
    int ordinal;
} store_chunk_in;

/* 1 when a document with this content hash is already stored, 0 when not,
 * -1 on error. */
int store_has_document(store *st, const char *sha256);

/* Records path -> document. When no document with info->sha256 exists it is
 * created with its pages (page_texts[i] is page i+1) and chunks. A previous
 * document of this path that no other path uses is deleted with everything it
 * owns. Run inside store_begin/commit; the caller decides the transaction so a
 * crash never leaves half a document. */
int store_put_document(store *st, const char *path, int64_t size, int64_t mtime,
                       const store_doc_info *info, const char *const *page_texts,
                       const store_chunk_in *chunks, size_t n_chunks);

/* Records that path failed with reason (keeping any document it had before
 * out of the index: a file that is now broken no longer answers questions). */
int store_put_failure(store *st, const char *path, int64_t size, int64_t mtime,
                      const char *reason);

/* Deletes path's row and its document when no other path uses it. */
int store_remove_file(store *st, const char *path);

/* Calls cb for every file row, ordered by path; a non-zero return stops. */
typedef int (*store_file_cb)(void *ctx, const store_file *f);
int store_each_file(store *st, store_file_cb cb, void *ctx);

typedef struct {
    int64_t files, failed, documents, pages, chunks, vectors;
    int64_t db_bytes; /* size of the SQLite file plus its WAL */
} store_stats;

int store_get_stats(store *st, store_stats *out);

/* ---- search ------------------------------------------------------------- */

typedef struct {
    int64_t chunk_id;
    int64_t doc_id;
    double score;  /* higher is better (FTS5's bm25() negated) */
    char *path;    /* a file path of the document (the first by path) */
    char *title;   /* may be NULL */
    char *section; /* "" when none */
    char *text;
    int page_start, page_end;
    int ordinal;
} store_hit;

typedef struct {
    store_hit *items; /* (n), best first */
    size_t n;
} store_hits;

void store_hits_free(store_hits *h);
/* Frees one hit's strings (as filled by store_get_chunk) and zeroes it. */
void store_hit_free(store_hit *h);

/* Runs an FTS5 MATCH expression over chunks, best k by BM25. A malformed
 * expression is an error (-1), not an empty result. */
int store_search_fts(store *st, const char *match, int k, store_hits *out);

/* Fetches one chunk by id into out (1 found, 0 not, -1 error). */
int store_get_chunk(store *st, int64_t chunk_id, store_hit *out);

/* Corpus statistics for scoring: number of chunks and how many contain term
 * (a single docqa-tokenizer term). */
int store_term_doc_freq(store *st, const char *term, int64_t *n_chunks, int64_t *df);

/* ---- vectors ------------------------------------------------------------ */

/* A model identity string ("bert:<config hash>:<weights hash>:<pooling>:<dim>"
 * or "http:<url>:<model>") names the vectors it made; vectors of another
 * identity are never mixed in. */
int store_put_vector(store *st, int64_t chunk_id, const char *model_identity,
                     const float *vec, int dim);
/* Chunks that have no vector for model_identity yet, ordered by id. */
typedef int (*store_chunk_cb)(void *ctx, int64_t chunk_id, const char *text);
int store_each_chunk_missing_vector(store *st, const char *model_identity, store_chunk_cb cb,
                                    void *ctx);
/* Drops vectors made by any other model (after a model change). */
int store_prune_vectors(store *st, const char *model_identity);
/* 1 found (vec filled, *dim set; vec may be NULL to ask the dim), 0 not, -1 error. */
int store_get_vector(store *st, int64_t chunk_id, const char *model_identity, float *vec,
                     int *dim);

/* ---- answer cache ------------------------------------------------------- */

/* An LLM answer kept under a key (a hash of model and prompt), so a run that
 * asks the same again is answered from the store. Strings owned. */
typedef struct {
    char *model;  /* the model identity that answered */
    char *choice; /* what was taken from it ("B", or "" for none) */
    char *method; /* how ("logprob", "text", "none") */
    char *text;   /* the reply as the model wrote it */
} store_cached_answer;

void store_cached_answer_free(store_cached_answer *a);
/* 1 found (out filled), 0 not cached, -1 error. */
int store_get_cached_answer(store *st, const char *key, store_cached_answer *out);
/* Inserts or replaces the answer under key. */
int store_put_cached_answer(store *st, const char *key, const store_cached_answer *a);

#endif
