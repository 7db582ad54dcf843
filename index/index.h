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
/* The writer lock file in the store directory (see store_lock). */
#define STORE_LOCKNAME "docqa.lock"
/* Every file docqa writes in a store (database, WAL, lock, vectors.faiss,
 * uploads) is readable by its owner only: documents and questions are private. */
#define STORE_FILE_MODE 0600

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
/* The one rule for the paths a store records: abs relative to root when
 * inside it, else abs itself. Caller frees. */
char *store_rel_path(const char *root, const char *abs);
/* The inverse: a recorded path made absolute again. Caller frees. */
char *store_abs_path(const char *root, const char *path);

/* One writer at a time: takes an exclusive flock on STORE_LOCKNAME, held
 * until store_close (the kernel drops it when the process dies, so kill -9
 * never leaves a stale lock). With wait, blocks until the holder finishes.
 * Returns 0 when held, 1 when another process holds it and !wait, -1 on
 * error. Readers take no lock: WAL lets them read during a write. */
int store_lock(store *st, bool wait);

int store_begin(store *st);
int store_commit(store *st);
int store_rollback(store *st);

/* Small key/value settings kept with the store: the parameters that made it
 * ("split.chunk_cjk", "embed.model", ...), so a mismatch is noticed.
 * store_get_meta: 1 found (*value malloc'd), 0 missing, -1 error. */
int store_get_meta(store *st, const char *key, char **value);
int store_set_meta(store *st, const char *key, const char *value);
/* A number that changes whenever another connection (any process) has
 * committed a change to the store since this one last asked: what a cache
 * of results keys on. Meaningful only compared with itself on st. */
int store_data_version(store *st, int64_t *out);

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
    int64_t fail_count; /* runs in a row that found this file failing */
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

/* A rectangle of a page where a chunk's text lies, in points. */
typedef struct {
    int page;
    float x0, y0, x1, y1;
} store_box;

typedef struct {
    const char *text;
    const char *section; /* "" when none */
    int page_start, page_end;
    int ordinal;
    const char *label; /* chunk.label; NULL or "" for paged documents */
    bool table;        /* the chunk holds table rows (chunks.is_table) */
    const store_box *boxes; /* (n_boxes) where its text lies, in reading order; may be NULL */
    size_t n_boxes;
} store_chunk_in;

/* 1 when a document with this content hash is already stored, 0 when not,
 * -1 on error. */
int store_has_document(store *st, const char *sha256);

/* Records path -> document. When no document with info->sha256 exists it is
 * created with its pages (page_texts[i] is page i+1) and chunks, tagged with
 * the store's "split" setting of the moment (the settings that made them). A previous
 * document of this path that no other path uses is deleted with everything it
 * owns. Run inside store_begin/commit; the caller decides the transaction so a
 * crash never leaves half a document. */
int store_put_document(store *st, const char *path, int64_t size, int64_t mtime,
                       const store_doc_info *info, const char *const *page_texts,
                       const store_chunk_in *chunks, size_t n_chunks);

/* Like store_put_document, but when the document exists already its pages
 * and chunks (with their vectors and FTS rows) are replaced by these, for
 * every path that shares it: re-chunking with new settings, --force. */
int store_rebuild_document(store *st, const char *path, int64_t size, int64_t mtime,
                           const store_doc_info *info, const char *const *page_texts,
                           const store_chunk_in *chunks, size_t n_chunks);

/* The content hashes of the documents chunked with settings other than
 * split (or unknown ones), ordered by hash. */
typedef int (*store_sha_cb)(void *ctx, const char *sha256);
int store_each_document_split_differs(store *st, const char *split, store_sha_cb cb, void *ctx);

/* Counts one more run that found path still failing (its fail_count). */
int store_note_failed_again(store *st, const char *path);
/* Marks the pages of the document with content hash sha256 that were read
 * by OCR: page_ocr (n_pages) holds 1 for a page whose text came from OCR,
 * with page_conf[i] its mean confidence (0-100), -1 for a scanned page where
 * OCR found nothing (its pages row is dropped: it was not read, not blank),
 * 0 for a text-layer page. Chunks whose page span holds an OCR'd page are
 * marked too. Call right after store_put_document(), in its transaction. */
int store_put_page_ocr(store *st, const char *sha256, const int *page_ocr,
                       const float *page_conf, int n_pages);

/* Marks the pages of the document with content hash sha256 whose text
 * layer was unreadable: reasons (n_pages) holds why for such a page, NULL
 * for the others. Call after store_put_page_ocr(), in its transaction. */
int store_put_page_unreadable(store *st, const char *sha256, const char *const *reasons,
                              int n_pages);

/* Records that path failed with reason (keeping any document it had before
 * out of the index: a file that is now broken no longer answers questions). */
int store_put_failure(store *st, const char *path, int64_t size, int64_t mtime,
                      const char *reason);

/* Deletes path's row and its document when no other path uses it. */
int store_remove_file(store *st, const char *path);

/* Calls cb for every file row, ordered by path; a non-zero return stops. */
typedef int (*store_file_cb)(void *ctx, const store_file *f);
int store_each_file(store *st, store_file_cb cb, void *ctx);

/* ---- source roots ------------------------------------------------------ */

/* The files and folders given to ingest, which reindex walks again. path is
 * relative to store_root() when inside it, like file paths. */
int store_add_root(store *st, const char *path, bool is_dir);
int store_remove_root(store *st, const char *path);
typedef int (*store_root_cb)(void *ctx, const char *path, bool is_dir);
int store_each_root(store *st, store_root_cb cb, void *ctx);

typedef struct {
    int64_t files, failed, documents, pages, chunks, vectors;
    int64_t db_bytes; /* size of the SQLite file plus its WAL */
    int64_t ocr_pages;    /* scanned pages whose text came from OCR */
    int64_t unreadable_ocr;    /* pages with an unreadable text layer, OCR'd instead */
    int64_t unreadable_failed; /* pages with an unreadable text layer and no text */
    int64_t ocr_empty;    /* scanned pages where OCR found no text (no pages row) */
    double ocr_mean_conf; /* mean OCR confidence of ocr_pages, 0-100; 0 when none */
} store_stats;

int store_get_stats(store *st, store_stats *out);

typedef struct {
    int64_t id;
    char *format;
    char *title;   /* may be NULL */
    int n_pages;
    char *path;    /* the first file path (by path) holding it with status ok; NULL if none */
} store_document;

void store_document_free(store_document *d);
/* Looks up a document by id: 1 found, 0 not, -1 error. */
int store_get_document(store *st, int64_t doc_id, store_document *out);

/* The boxes of chunk_id on page (0: every page), in reading order; *out is
 * malloc'd. 0 (possibly none), or -1 on error. */
int store_get_chunk_boxes(store *st, int64_t chunk_id, int page, store_box **out, size_t *n);

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
    bool ocr;      /* some of its text was read by OCR from a scanned page */
    char *label;   /* where it is when pages do not say ("slide 7"); "" when none */
    bool table;    /* it holds rows of a table */
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

/* Like store_search_fts, but only over the chunks of the n_docs documents
 * in docs (ids); n_docs == 0 searches everything. */
int store_search_fts_in(store *st, const char *match, int k, const int64_t *docs, size_t n_docs,
                        store_hits *out);

/* The BM25 file beside the store (index/bm25.h) answers store_search_fts
 * with FTS5's own scores and order, much faster on questions of common
 * words, whenever it is current; the writer brings it in step after each
 * change. A store without a current file is searched by FTS5 itself. */
typedef enum {
    STORE_BM25_CURRENT, /* the file was current */
    STORE_BM25_UPDATED, /* written anew from the one before and the changed rows */
    STORE_BM25_BUILT,   /* written anew from FTS5 */
    STORE_BM25_NONE,    /* the store's FTS5 index is empty or not one the file mirrors */
} store_bm25_action;

typedef struct {
    store_bm25_action action;
    int64_t rows, terms; /* in the file */
    double seconds;
} store_bm25_report;

/* Brings the file up to date when it is missing, stale or damaged (rep may
 * be NULL): from the old file and the chunks changed since, or from FTS5.
 * For a writer holding the store's lock. */
int store_bm25_sync(store *st, store_bm25_report *rep);
/* Whether searches may use the file (default on); off runs FTS5 alone. */
void store_use_bm25_file(store *st, bool on);

/* Mean number of chunks of the n_docs documents in docs; n_docs == 0: an
 * estimate over the whole store (from the id sequences). 0 when none. */
int store_chunks_per_document(store *st, const int64_t *docs, size_t n_docs, double *out);

/* A document as a question's scope sees it (index/about.c: title, file
 * name, the opening of the first page). */
typedef struct {
    int64_t doc_id;
    double score; /* BM25 of the match against `about`, negated: higher is better */
    char *path;   /* the first ok file path, NULL if none */
    char *about;
} store_doc_hit;

typedef struct {
    store_doc_hit *items; /* (n), best first */
    size_t n;
} store_doc_hits;

void store_doc_hits_free(store_doc_hits *h);
/* Runs an FTS5 MATCH expression over what the documents are about, best k. */
int store_search_documents(store *st, const char *match, int k, store_doc_hits *out);
/* Documents in the store and how many have term in their `about`. */
int store_about_term_freq(store *st, const char *term, int64_t *n_docs, int64_t *df);
/* The documents with a file whose path, or whose file name, matches the
 * SQLite GLOB pattern (case-sensitive, '*' '?' '[...]'), best path order;
 * *ids malloc'd (n may be 0). */
int store_documents_glob(store *st, const char *glob, int64_t **ids, size_t *n);

/* Fetches one chunk by id into out (1 found, 0 not, -1 error). */
int store_get_chunk(store *st, int64_t chunk_id, store_hit *out);

/* Corpus statistics for scoring: number of chunks and how many contain term
 * (a single docqa-tokenizer term). */
int store_term_doc_freq(store *st, const char *term, int64_t *n_chunks, int64_t *df);
/* Whether some chunk holds a word that begins with term ("bronco": "broncos")
 * or that term is, less one or two final letters ("panthers": "panther"):
 * 1 yes, 0 no, -1 on a store error. term is one lower-case ASCII term. */
int store_term_variant(store *st, const char *term);
/* Up to max indexed words that begin with prefix (one lower-case ASCII
 * term), those in the most chunks first, each malloc'd into out (max);
 * returns how many, or -1 on a store error. */
int store_terms_beginning(store *st, const char *prefix, int max, char **out);

/* ---- vectors ------------------------------------------------------------ */

/* A model identity string ("bert:<config hash>:<weights hash>:<pooling>:<dim>"
 * or "http:<url>:<model>") names the vectors it made; vectors of another
 * identity are never mixed in. */
int store_put_vector(store *st, int64_t chunk_id, const char *model_identity,
                     const float *vec, int dim);
/* Chunks with an id over after that have no vector for model_identity yet,
 * ordered by id, at most limit of them (0: all). */
typedef int (*store_chunk_cb)(void *ctx, int64_t chunk_id, const char *text);
int store_each_chunk_missing_vector(store *st, const char *model_identity, int64_t after,
                                    size_t limit, store_chunk_cb cb, void *ctx);
/* The highest chunk id (0 when there is no chunk). */
int store_last_chunk_id(store *st, int64_t *id);
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

/* ---- the vector index beside the store ---------------------------------- */

/* The FAISS file in the store directory. SQLite stays the source of truth:
 * every change to the vectors table is logged (by triggers) with a sequence
 * number, and the file records the last one it holds, so a stale file is
 * caught up incrementally and a missing, corrupt or foreign one is rebuilt
 * from the table. Below ann_threshold vectors the index is exact (inner
 * product over normalised vectors = cosine); from it on, IVF (see
 * docs/architecture.md for why IVF and not HNSW). */
#define STORE_VINDEX_NAME "vectors.faiss"

typedef struct {
    int64_t ann_threshold; /* vectors from which an IVF index is built; 0: always exact.
                            * Default 100000 (bench/README.md) */
    int nprobe;            /* IVF lists searched per query; 0: the default for the
                            * index's size (see vector_index.c) */
    bool exact;            /* search every IVF list: exact results from an IVF index */
} store_vindex_params;

store_vindex_params store_vindex_default_params(void);
/* Applies to later syncs and searches on st. */
void store_set_vindex_params(store *st, const store_vindex_params *p);

typedef enum {
    STORE_VX_CURRENT = 0, /* nothing to do */
    STORE_VX_UPDATED,     /* caught up from the change log */
    STORE_VX_REBUILT,     /* rebuilt from the vectors table */
} store_vx_action;

typedef struct {
    store_vx_action action;
    char reason[256];  /* why it was rebuilt: "no vectors.faiss yet", "corrupt: ..." */
    int64_t changes;   /* chunk ids applied from the log (UPDATED) */
    int64_t vectors;   /* held now */
    bool approximate;  /* IVF rather than exact */
    bool quantized;    /* 8-bit codes (IVF-SQ8): its scores and order are approximate, so
                        * callers re-score the best from store_get_vector() */
    bool saved;        /* the file is up to date on disk (written, or nothing to write:
                        * with no vectors of the model no file is written, and one
                        * made for another model is left alone) */
    char save_error[256]; /* why it could not be written ("" when saved or unchanged) */
} store_vx_report;

/* Brings the in-memory index for model_identity (loading the file the first
 * time) in step with the vectors table and writes the file when it changed.
 * A file that cannot be written (read-only directory) is not an error: the
 * report says so and the next run repairs it again. rep may be NULL. */
int store_vindex_sync(store *st, const char *model_identity, store_vx_report *rep);
/* Discards the file and builds it again from the vectors table. */
int store_vindex_rebuild(store *st, const char *model_identity, store_vx_report *rep);

typedef struct {
    bool file_ok;          /* the file exists and reads (magic, checksum, FAISS) */
    char file_error[256];  /* why not */
    char *file_model;      /* the model the file was made for (owned) */
    uint64_t file_seq, store_seq; /* change-log position of the file and of the store */
    int64_t file_vectors, store_vectors;
    int64_t missing; /* vectors in the store the file lacks */
    int64_t extra;   /* ids in the file the store does not hold (deleted chunks) */
    bool approximate;
} store_vx_check;

/* Compares the file on disk with the vectors table without changing either.
 * In agreement when file_ok, the model matches, and missing == extra == 0. */
int store_vindex_check(store *st, const char *model_identity, store_vx_check *out);
void store_vx_check_free(store_vx_check *c);

/* Scales v (dim) to unit length in place; a zero vector stays zero. The
 * vector index holds unit vectors so its inner products are cosines: a
 * query, or a vector read back to score against one, is normalised alike. */
void store_vec_normalise(float *v, int dim);
/* The k chunks whose model_identity vectors have the largest inner product
 * with q (dim), after a sync. ids/scores (k); *n set to how many were found
 * (fewer when the store holds fewer). */
int store_search_vectors(store *st, const char *model_identity, const float *q, int dim, int k,
                         int64_t *ids, float *scores, int *n);
/* The same search with no sync and no SQLite: for a caller that ran
 * store_vindex_sync() itself and searches from a second thread while the
 * first uses the store's connection (retrieve's dense search beside BM25).
 * Nothing may sync or close the store until it returns. */
int store_search_vectors_synced(store *st, const float *q, int dim, int k, int64_t *ids,
                                float *scores, int *n);

#endif
