/* store_impl.h - what the index/ files share behind index.h: the store struct,
 * the prepared-statement cache and the schema/tokenizer entry points.
 *
 * Statements are prepared once per connection (SQLITE_PREPARE_PERSISTENT) and
 * kept in st->stmts by slot, so a hot insert path costs a reset and a few
 * binds. Functions that call back into user code while stepping (store_each_*)
 * prepare their own statement instead, so a callback may use the store.
 * Tests include this header to reach the raw connection.
 */
#ifndef DQ_STORE_IMPL_H
#define DQ_STORE_IMPL_H

#include "common/common.h"
#include "index/index.h"

#include <sqlite3.h>

/* The schema this build writes; store_open migrates older stores up to it. */
#define STORE_SCHEMA_VERSION 12
/* PRAGMA application_id of a docqa store: "dqa1". */
#define STORE_APP_ID 0x64716131

enum store_slot {
    SLOT_META_GET,
    SLOT_META_SET,
    SLOT_FILE_GET,
    SLOT_FILE_UPSERT,
    SLOT_FILE_DELETE,
    SLOT_DOC_FIND,
    SLOT_DOC_INSERT,
    SLOT_DOC_DELETE_ORPHAN,
    SLOT_PAGE_INSERT,
    SLOT_PAGE_OCR,
    SLOT_PAGE_DROP,
    SLOT_CHUNK_OCR,
    SLOT_PAGE_UNREADABLE,
    SLOT_CHUNK_INSERT,
    SLOT_CHUNK_LAST,
    SLOT_STATS,
    SLOT_SEARCH,
    SLOT_CHUNK_GET,
    SLOT_CHUNK_COUNT,
    SLOT_TERM_DF,
    SLOT_VEC_PUT,
    SLOT_VEC_GET,
    SLOT_VEC_PRUNE,
    SLOT_BOX_INSERT,
    SLOT_BOX_GET,
    SLOT_DOC_GET,
    SLOT_DOC_CLEAR,
    SLOT_PAGE_CLEAR,
    SLOT_DOC_UPDATE,
    SLOT_FILE_FAILED_AGAIN,
    SLOT_ROOT_ADD,
    SLOT_ANSWER_GET,
    SLOT_ANSWER_PUT,
    SLOT_DOC_ABOUT,
    SLOT_DOC_SEARCH,
    SLOT_DOC_COUNT,
    SLOT_DOC_TERM_DF,
    SLOT_SEARCH_IN,
    SLOT_DOC_CHUNKS,
    SLOT_CHUNKS_PER_DOC,
    SLOT_TERM_VARIANT,
    SLOT_TERM_PREFIX,
    SLOT_DATA_VERSION,
    SLOT_BM25_PHRASE,
    SLOT_COUNT
};

struct store {
    sqlite3 *db;
    char *dir;     /* absolute path of the .docqa directory */
    char *root;    /* dir's parent */
    char *db_path; /* dir + "/" STORE_DBNAME */
    bool readonly;
    int lock_fd;   /* the writer lock file while held (store_lock), else -1 */
    sqlite3_stmt *stmts[SLOT_COUNT]; /* lazily prepared, finalized by store_close */
    struct store_vx *vx; /* the loaded FAISS index (vector_index.c), or NULL */
    struct store_bm25 *bm25; /* the BM25 file's state (bm25_search.c), or NULL */
    struct fts_memo *memo; /* the tokenizer's cuts since the last BM25 update; NULL read-only */
};

/* vector_index.c: frees st->vx (store_close). */
void store_vx_free(store *st);
/* bm25_search.c: frees st->bm25 (store_close). */
void store_bm25_free(store *st);
/* bm25_search.c: the best k rows for match from the BM25 file beside the
 * store: 1 with out filled, 0 when it cannot answer for FTS5 (no current
 * file, an expression it does not score, a damaged file). */
int store_bm25_search(store *st, const char *match, int k, const int64_t *docs, size_t n_docs,
                      store_hits *out);
/* vectors.c: a stored vector BLOB (little-endian float32) into out (dim). */
void store_vec_decode(const void *blob, int dim, float *out);

/* The cached statement for slot (prepared from sql on first use), reset and
 * with its bindings cleared; NULL with the error set when sql fails to
 * prepare. */
sqlite3_stmt *store_stmt(store *st, enum store_slot slot, const char *sql);
/* Sets the error to "<what>: <sqlite message>" and returns -1. */
int store_fail(store *st, const char *what);
/* The integer the statement sql returns in out (0 when no row): 0, or -1
 * with the error "<what>: <sqlite message>". */
int store_query_u64(sqlite3 *db, const char *sql, const char *what, uint64_t *out);
/* Binds a NUL-terminated string, or NULL when s is NULL. */
int store_bind_text(sqlite3_stmt *s, int i, const char *text);
/* A malloc'd copy of a text column, or NULL when the column is NULL. */
char *store_column_dup(sqlite3_stmt *s, int i);
/* Steps s once (an INSERT/UPDATE/DELETE), then resets it; 0, or -1 with the
 * error "<what>: <sqlite message>". */
int store_run(store *st, sqlite3_stmt *s, const char *what);
/* Runs SQL text (one or more statements) that returns no rows. */
int store_exec(store *st, const char *sql, const char *what);

/* schema.c: brings a freshly opened connection's schema to
 * STORE_SCHEMA_VERSION, or refuses a foreign or newer database. */
int store_migrate(store *st);

/* fts_tokenizer.c: the tokenizer's own xTokenize (flags: FTS5_TOKENIZE_*),
 * for a reader that must cut text exactly as FTS5 had it cut. */
typedef int (*fts_token_fn)(void *ctx, int tflags, const char *token, int n, int start, int end);
int store_fts_tokenize(void *ctx, int flags, const char *text, int n, fts_token_fn emit);
/* fts_memo.c: the cuts a writable connection's tokenizer made for FTS5,
 * by exact text, for the BM25 update to replay (at most max_bytes held). */
typedef struct fts_memo fts_memo;
fts_memo *fts_memo_new(size_t max_bytes);
void fts_memo_free(fts_memo *m);
/* Forgets every cut (keeps the limit); m may be NULL. */
void fts_memo_clear(fts_memo *m);
/* store_fts_tokenize, recording a document-mode cut of text in m (NULL:
 * none) while there is room and it holds no equal text. */
int fts_memo_tokenize(fts_memo *m, void *ctx, int flags, const char *text, int n,
                      fts_token_fn emit);
/* The recorded tokens of a text equal to text[0..n) byte for byte: true
 * with *toks and *len set (for fts_memo_replay), false when none (m may be
 * NULL). Safe from several threads while nothing records. */
bool fts_memo_find(const fts_memo *m, const char *text, size_t n, const uint8_t **toks,
                   size_t *len);
/* Calls emit for each recorded token, in order, as the cut did (offsets
 * 0): SQLITE_OK, or the first code emit returned. */
int fts_memo_replay(const fts_memo *m, const uint8_t *toks, size_t len, void *ctx,
                    fts_token_fn emit);
/* The same with each token as its term's id (below fts_memo_terms(m)). */
typedef int (*fts_term_fn)(void *ctx, int tflags, uint32_t id);
int fts_memo_replay_ids(const uint8_t *toks, size_t len, void *ctx, fts_term_fn emit);
/* How many distinct tokens m holds (0 for NULL), and the one with id. */
size_t fts_memo_terms(const fts_memo *m);
const char *fts_memo_term(const fts_memo *m, uint32_t id, size_t *len);
/* fts_tokenizer.c: registers the "docqa" FTS5 tokenizer on db, recording
 * its document cuts in memo (NULL: a connection that records none). */
int store_register_tokenizer(sqlite3 *db, fts_memo *memo);
/* boxes.c: a chunk's boxes as the BLOB chunk_boxes stores (out cleared
 * first), and the docqa_pack_boxes() aggregate schema 11's migration uses. */
void store_boxes_encode(const store_box *boxes, size_t n, dq_buf *out);
int store_register_boxes(sqlite3 *db);
/* staged.c: a document's chunks as docqa_staged_chunks(?) reads them, bound
 * with sqlite3_bind_pointer(s, i, &staged, STAGED_POINTER_TYPE, NULL). */
typedef struct {
    const store_chunk_in *items; /* (n) */
    size_t n;
} staged_chunks;
#define STAGED_POINTER_TYPE "docqa_staged_chunks"
int store_register_staged(sqlite3 *db);
/* about.c: registers docqa_about(title, path, first_page, total_bytes) on db. */
int store_register_about(sqlite3 *db);

/* Direct access for tests and tools. */
sqlite3 *store_db(store *st);

#endif
