/* cuda_abi.h - the table of functions libdocqa_cuda.so hands to embed/gpu.c.
 *
 * The CUDA backend is a shared library opened at run time, not linked: the
 * docqa binary must start (in milliseconds) on machines without the CUDA
 * libraries, and must not pay for mapping cuBLAS on every `docqa search`.
 * The library uses no docqa symbols: errors come back in the caller's buffer.
 * A change to this table bumps DQ_CUDA_ABI, and a mismatched library is
 * refused rather than called.
 */
#ifndef DQ_CUDA_ABI_H
#define DQ_CUDA_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "embed/bert_impl.h"

#define DQ_CUDA_ABI 1
#define DQ_CUDA_ENTRY "dq_cuda_entry"

typedef struct {
    int abi; /* DQ_CUDA_ABI */
    /* 1 with name filled when device 0 can run a model, else 0 with why */
    int (*probe)(char *name, size_t name_cap, char *why, size_t why_cap);
    /* NULL with err filled on failure; *max_batch may be lowered to fit */
    void *(*create)(const bert_config *cfg, const bert_weights *w, int *max_batch, int max_len,
                    char *err, size_t err_cap);
    void (*destroy)(void *g);
    size_t (*bytes)(const void *g);
    int (*forward)(void *g, const int32_t *ids, const int *lens, int batch, int seq,
                   float *hidden, float *pooled, char *err, size_t err_cap);
} dq_cuda_api;

typedef const dq_cuda_api *(*dq_cuda_api_fn)(void);

#endif
