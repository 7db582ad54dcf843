/* bm25.h - the BM25 file beside the store: its format, reader and builder
 * (private to index/; bm25_search.c puts it behind store_search_fts).
 *
 * The file is derived, like the FAISS file: SQLite's FTS5 index stays the
 * source of truth, and the file is used only while the stamp in its header
 * equals the one the store has now (a hash of FTS5's structure and averages
 * records, which every committed change to the index rewrites, and of the
 * rank's configuration). A writer builds it from FTS5 (bm25_build.c) or
 * brings the one before up to date from the log of changed chunks
 * (bm25_update.c); both write the same bytes. It holds,
 * for every term FTS5 holds, the rows that contain it with their counts per
 * column, so a query's scores are
 * FTS5's bm25() to the bit, and per-block maxima of bm25's term-frequency
 * part, so a search can skip the blocks of common terms that cannot reach
 * the top k (max-score).
 *
 * Layout (native byte order, checked by a byte-order mark; every section
 * 8-byte aligned):
 *   header       bm25_header
 *   rows         int64 chunk_id[n_rows] (ascending), int64 doc_id[n_rows],
 *                uint32 length[n_rows] (tokens in all columns, as FTS5's)
 *   postings     per term (4-byte aligned): bm25_block[ceil(n_post /
 *                BM25_BLOCK)], then the entries: varint (row - previous row
 *                - 1, the previous row of a block's first entry being the
 *                last row of the block before, or -1), varint (tf_text << 1 |
 *                has_section), varint tf_section when has_section
 *   terms        bm25_term[n_terms], sorted by their bytes
 *   strings      the terms' bytes
 */
#ifndef DQ_BM25_H
#define DQ_BM25_H

#include "common/common.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BM25_FILE "bm25.idx"

/* The file's varints (and fts_memo's records): little-endian, 7 bits a
 * byte, the high bit set on all but the last; at most 5 bytes. Inline: the
 * search decodes one for every posting it reads. */
static inline uint8_t *bm25_varint_put(uint8_t *p, uint32_t v)
{
    for (; v >= 0x80; v >>= 7)
        *p++ = (uint8_t)(v | 0x80);
    *p++ = (uint8_t)v;
    return p;
}

/* The varint at *p (moved past it) into out; false when it runs past end
 * or over 32 bits. */
static inline bool bm25_varint_get(const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 35 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (v > UINT32_MAX)
                return false;
            *out = (uint32_t)v;
            return true;
        }
    }
    return false;
}
#define BM25_MAGIC "DQBM25\r\n"
#define BM25_VERSION 2
/* Version 1 (before the change log) differs only by the header's log_seq
 * and schema: it is searched as it is, and the next sync rebuilds it. */
#define BM25_V1_HEADER_BYTES 136
#define BM25_BOM 0x01020304u
#define BM25_BLOCK 128
/* FTS5's bm25() constants (fts5_aux.c). */
#define BM25_K1 1.2
#define BM25_B 0.75

typedef struct {
    char magic[8];
    uint32_t version;
    uint32_t bom;
    uint8_t stamp[32];   /* bm25_stamp of the store the file was built from */
    uint64_t n_rows;     /* FTS5's row count */
    uint64_t n_tokens;   /* FTS5's total of tokens over all columns */
    double weight[2];    /* the rank's column weights: text, section */
    uint64_t n_terms;
    uint64_t off_rows, off_terms, off_strings, off_postings, size;
    uint64_t log_seq;  /* the last fts_log entry the file has seen (bm25_update.c) */
    uint64_t schema;   /* the store's schema version */
    uint64_t checksum; /* bm25_checksum of every byte after the header */
} bm25_header;

typedef struct {
    uint64_t str_off;   /* into strings */
    uint64_t post_off;  /* into postings: the block table, then the entries */
    uint64_t post_len;  /* bytes */
    uint32_t str_len;
    uint32_t n_post;    /* rows holding the term */
    uint32_t df_section; /* of them, rows holding it in the section column */
    float gmax;         /* max of bm25_tf_part over the postings (rounded up) */
} bm25_term;

typedef struct {
    uint32_t last_row;
    uint32_t offset; /* of the block's first entry, from the end of the block table */
    float gmax;      /* max of bm25_tf_part over the block (rounded up) */
} bm25_block;

/* A loaded file (mmapped, or borrowed memory for the fuzzer). Every offset
 * in it has been checked against the sizes; entries are checked as they
 * are read. */
typedef struct {
    const uint8_t *data;
    size_t size;
    bool mapped;
    const bm25_header *h;     /* into data, or &v1 */
    size_t header_bytes;      /* the header's size in data; the checksum covers the rest */
    bm25_header v1;           /* a version 1 file's header as version 2's (no log position) */
    const int64_t *chunk_ids; /* (n_rows) */
    const int64_t *doc_ids;   /* (n_rows) */
    const uint32_t *lengths;  /* (n_rows) */
    const bm25_term *terms;   /* (n_terms) */
    double avgdl;             /* n_tokens / n_rows, as FTS5 computes it */
} bm25_file;

/* bm25's term-frequency part for a weighted frequency f in a row of length
 * d: the factor its phrase's idf multiplies, written as FTS5 writes it so
 * the result is the same double. */
static inline double bm25_tf_part(double f, double d, double avgdl)
{
    return (f * (BM25_K1 + 1.0)) / (f + BM25_K1 * (1 - BM25_B + BM25_B * d / avgdl));
}

/* A 64-bit hash of n bytes, to tell a damaged file (the writer checks it
 * before it calls a file current; a reader does not read the whole file). */
uint64_t bm25_checksum(const void *data, size_t n);

/* The index of id in ids (n, ascending), or -1. */
int64_t bm25_find_id(const int64_t *ids, size_t n, int64_t id);

/* Maps path read-only and checks it: NULL with the error set when it is
 * missing, short, of another version or its sections do not fit. */
bm25_file *bm25_file_open(const char *path);
/* The same over memory the caller keeps alive (the fuzzer). */
bm25_file *bm25_file_from_memory(const void *data, size_t size);
void bm25_file_free(bm25_file *f);

/* The term's entry, or NULL when the file has no such term (or its entry
 * does not fit the file). */
const bm25_term *bm25_file_find(const bm25_file *f, const char *term, size_t len);

/* A walk over one term's postings. */
typedef struct {
    const bm25_file *f;
    const bm25_block *blocks; /* (n_blocks) */
    size_t n_blocks;
    const uint8_t *entries; /* the entry bytes */
    size_t n_bytes;
    uint32_t n_post;
    size_t block;     /* the block p is in */
    uint32_t left;    /* entries left in that block */
    const uint8_t *p, *end; /* next entry, end of the block's bytes */
    int64_t prev;     /* row before p */
    uint32_t row, tf_text, tf_section; /* current entry */
    bool done;
    bool corrupt;     /* an entry did not decode or broke the order */
} bm25_cursor;

/* Starts c on term's first posting; false (c->corrupt) when the entry's
 * postings do not fit the file. */
bool bm25_cursor_init(bm25_cursor *c, const bm25_file *f, const bm25_term *t);
/* Moves to the next posting (c->done at the end). */
void bm25_cursor_next(bm25_cursor *c);
/* Moves to the first posting at or after row, skipping whole blocks. */
void bm25_cursor_seek(bm25_cursor *c, uint32_t row);
/* The block maximum of bm25_tf_part for the block c is in. */
static inline float bm25_cursor_block_gmax(const bm25_cursor *c)
{
    return c->blocks[c->block].gmax;
}

/* The term's bytes (t->str_len of them), or NULL when its entry points
 * outside the strings. */
const char *bm25_term_text(const bm25_file *f, const bm25_term *t);

/* The store's stamp: 0, or -1 with the error set (no FTS5 records). */
int bm25_stamp(sqlite3 *db, uint8_t out[32]);

/* Builds the file's bytes from the store's chunks inside one read
 * transaction: 1 with *out filled, 0 when the store's FTS5 index is not one
 * this format mirrors (other columns, another rank, counts that differ
 * from FTS5's) or is empty, -1 on error. */
int bm25_build(sqlite3 *db, dq_buf *out);

struct fts_memo; /* index/fts_memo.c */

/* Brings old (NULL: an empty file before the first logged change) up to
 * the store's state from the chunks fts_log names, inside one read
 * transaction, to the bytes bm25_build writes: 1 with *out filled, 0 when
 * it cannot (the log no longer reaches back to old, another schema, more
 * changed rows than it is worth, counts that differ from FTS5's: the caller
 * builds from FTS5), -1 on error. A row whose text memo (may be NULL)
 * holds is not cut again: its recorded tokens are replayed. */
int bm25_update(sqlite3 *db, const bm25_file *old, const struct fts_memo *memo, dq_buf *out);

/* ---- what both writers share (bm25_build.c) ------------------------------ */

/* The rows of a file being written, in chunk id order. */
typedef struct {
    int64_t *chunk_ids; /* (n) */
    int64_t *doc_ids;   /* (n) */
    uint32_t *lengths;  /* (n) */
    size_t n, cap;
    uint64_t tokens;    /* the sum of lengths */
} bm25_rows;

void bm25_rows_push(bm25_rows *r, int64_t chunk_id, int64_t doc_id, uint32_t length);
void bm25_rows_free(bm25_rows *r);

/* FTS5's docsize record of a row: its tokens in the text and section
 * columns. False when it is not two varints. */
bool bm25_parse_docsize(const void *rec, size_t n, uint32_t sz[2]);

/* The header's fields that describe the store (magic to weights, FTS5's
 * totals, log_seq, schema), read inside the caller's read transaction: 1,
 * 0 when the FTS5 index is not one this format mirrors or is empty, -1 on
 * error. */
int bm25_read_state(sqlite3 *db, bm25_header *h);

/* Writes a file: the rows, then each term (in byte order) with its
 * postings (in row order), then bm25_writer_finish. */
typedef struct bm25_writer bm25_writer;
/* h: from bm25_read_state; r: rows whose count and tokens equal h's. */
bm25_writer *bm25_writer_new(const bm25_header *h, const bm25_rows *r, dq_buf *out);
void bm25_writer_add(bm25_writer *w, uint32_t row, uint32_t tf_text, uint32_t tf_section);
/* Ends the term whose postings were added (none: the term is left out). */
void bm25_writer_end_term(bm25_writer *w, const char *term, size_t len);
/* Writes the term table, the strings and the header into out. */
void bm25_writer_finish(bm25_writer *w);
void bm25_writer_free(bm25_writer *w);

/* The order of terms in the file (FTS5's): bytes, then the shorter first. */
int bm25_term_order(const char *a, size_t na, const char *b, size_t nb);

/* docqa_phrase_tf(fts): the first phrase's instances in the current row,
 * text column in the low 32 bits, section in the high (an FTS5 auxiliary
 * function, registered with the tokenizer). */
void bm25_phrase_tf(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx,
                    int n_args, sqlite3_value **args);

#endif
