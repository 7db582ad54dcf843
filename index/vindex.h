/* vindex.h - a vector index over FAISS, from C: create, add with ids, search,
 * remove ids, write, read. The only C++ in docqa sits behind this header
 * (index/faiss_shim.cpp), because Debian's libfaiss ships the C API headers
 * but not their symbols.
 *
 * The exact and IVF searches walk FAISS's own arrays (centres, lists, 8-bit
 * codes) with docqa's SIMD kernels (index/vscan.c): Debian builds FAISS for
 * the baseline ISA, where its scans run one float at a time.
 *
 * Scores are inner products; docqa stores L2-normalised vectors, so they are
 * cosine similarities in [-1, 1]. Ids are the store's chunk ids.
 *
 * Files carry a magic, a version, the dimension, a caller's tag (the model
 * identity), a caller's generation number and a 64-bit hash of the FAISS
 * payload, so a truncated, flipped or foreign file is refused instead of
 * being parsed by FAISS.
 */
#ifndef DQ_VINDEX_H
#define DQ_VINDEX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    VINDEX_FLAT = 0, /* exact: IndexIDMap2 over IndexFlatIP */
    VINDEX_IVF = 1,  /* approximate: IndexIVFFlat (inner product), needs vindex_train */
    VINDEX_HNSW = 2, /* approximate: IndexIDMap over IndexHNSWFlat; cannot remove ids,
                      * kept for bench/query's comparison */
    VINDEX_IVF_SQ8 = 3, /* approximate: IndexIVFScalarQuantizer, 8 bits a dimension of the
                         * residual to the list's centre (a quarter of IVFFlat's memory;
                         * scores approximate: re-score the best from the float vectors),
                         * needs vindex_train */
} vindex_kind;

typedef struct vindex vindex;

/* A new empty index. nlist: IVF lists (ignored by the others); m: HNSW
 * neighbours per node (ignored by the others). NULL with the error set. */
vindex *vindex_new(int dim, vindex_kind kind, int nlist, int hnsw_m);
void vindex_free(vindex *v);

int vindex_dim(const vindex *v);
vindex_kind vindex_get_kind(const vindex *v);
/* Vectors held. */
size_t vindex_size(const vindex *v);
/* True for the IVF kinds. */
int vindex_kind_is_ivf(vindex_kind kind);
/* False for an IVF index that has not been trained yet. */
int vindex_is_trained(const vindex *v);

/* Trains an IVF index's coarse quantizer (and SQ8's per-dimension ranges)
 * on x (n, dim); a no-op for the others. */
int vindex_train(vindex *v, const float *x, size_t n);
/* Adds x (n, dim) under ids (n). An id already present is not replaced:
 * remove it first. */
int vindex_add(vindex *v, const int64_t *ids, const float *x, size_t n);
/* Removes ids (n) that are present; returns how many were removed, or -1. */
long vindex_remove(vindex *v, const int64_t *ids, size_t n);
/* The k nearest by inner product for each query q (nq, dim): scores (nq, k)
 * best first and ids (nq, k), -1 where fewer than k exist. */
int vindex_search(const vindex *v, const float *q, size_t nq, int k, float *scores,
                  int64_t *ids);
/* The same search done by FAISS's own code (built for baseline x86-64,
 * scalar) instead of vindex_search's SIMD scans of FAISS's lists: for the
 * tests that compare the two. */
int vindex_search_faiss(const vindex *v, const float *q, size_t nq, int k, float *scores,
                        int64_t *ids);
/* IVF lists probed per query (default 1 in FAISS; docqa sets it; capped at
 * the number of lists, where the search is exhaustive); HNSW efSearch. */
void vindex_set_probe(vindex *v, int nprobe);
/* An IVF index's number of lists; 0 for the others. */
int vindex_lists(const vindex *v);
/* Every id held, in no particular order; *ids malloc'd (n). */
int vindex_ids(const vindex *v, int64_t **ids, size_t *n);

/* Writes v to path via a temporary file, fsynced and renamed, with tag (a
 * string up to 1023 bytes) and generation recorded in the header. */
int vindex_write(const vindex *v, const char *path, const char *tag, uint64_t generation);
/* Reads a file vindex_write made. *tag is malloc'd. Errors say what is wrong
 * ("no such file", "not a docqa vector index", "checksum mismatch"). */
vindex *vindex_read(const char *path, char **tag, uint64_t *generation);

#ifdef __cplusplus
}
#endif

#endif
